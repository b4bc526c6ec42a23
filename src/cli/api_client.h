// The CLI's side of hodos up's HTTP API (`hodos sources`, `hodos traces`): where the API is
// (--api, else $HODOS_API, else 127.0.0.1:16686), the bearer token (--token, else
// $HODOS_API_TOKEN), one request, and the error messages a user can act on.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
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

// Percent-encodes everything but unreserved characters (a path segment or a query value).
std::string url_encode(std::string_view text);

}  // namespace hodos::cli
