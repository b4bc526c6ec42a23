// The CLI's side of hodos up's HTTP API (`hodos sources`, `hodos traces`): where the API is
// (--api, else $HODOS_API, else 127.0.0.1:16686), the bearer token (--token, else
// $HODOS_API_TOKEN), one request, and the error messages a user can act on.
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>
#include <string_view>

namespace hodos::cli {

inline constexpr const char* kDefaultApi = "http://127.0.0.1:16686";

struct ApiClientOptions {
  std::string command;  // "hodos sources", for messages
  std::string api;      // empty: $HODOS_API, else kDefaultApi; "host:port" gets http://
  std::string token;    // empty: $HODOS_API_TOKEN
};

struct ApiAnswer {
  int status = 0;
  nlohmann::json body;  // discarded when the answer is not JSON
  std::string text;
};

// One request. Ends the command (ExitCode 1, with a message naming the address and what to do)
// when the API cannot be reached or refuses the token; other statuses are the caller's.
ApiAnswer api_request(const ApiClientOptions& options, const std::string& method,
                      const std::string& path, const std::string& body = "");

// The message of an error answer: errors[0].msg of the API's error shape, else the raw text.
std::string api_error_message(const ApiAnswer& answer);

// Ends the command unless `answer` is a 2xx JSON answer: exit 2 for a 400 (the user's input), 1
// otherwise, with the API's message; `routes` names the route family ("sources") for an API
// that does not have it. `what` says what was being done ("listing sources").
void expect_json_answer(const ApiClientOptions& options, const ApiAnswer& answer,
                        const std::string& what, std::string_view routes);

// --api and --token, the same on every command that talks to hodos up.
void add_api_client_options(CLI::App* cmd, std::string& api, std::string& token);

// A string member of a JSON object, or "" when absent or not a string.
std::string json_string(const nlohmann::json& object, const char* key);

// Percent-encodes everything but unreserved characters (a path segment or a query value).
std::string url_encode(std::string_view text);

// What the commands print: a JSON body (--json), and rows as aligned columns (two spaces apart,
// no padding after the last cell of a row).
void print_json(const nlohmann::json& j);
void print_table(const std::vector<std::vector<std::string>>& rows);

}  // namespace hodos::cli
