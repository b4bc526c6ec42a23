#include "cli/api_client.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>

#include "cli/commands.h"
#include "net/http_client.h"

namespace hodos::cli {

namespace {

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::string(v) : fallback;
}

}  // namespace

std::string url_encode(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

void expect_json_answer(const ApiClientOptions& o, const ApiAnswer& a, const std::string& what,
                        std::string_view routes) {
  const bool success = a.status >= 200 && a.status < 300;
  if (success && !a.body.is_discarded()) return;
  auto fail = [&](int code, const std::string& message) {
    std::fprintf(stderr, "%s: %s\n", o.command.c_str(), message.c_str());
    throw ExitCode{code};
  };
  if (success) fail(1, what + ": the API did not answer JSON; is it hodos up's?");
  if (a.status == 404 && a.text.find("no such route") != std::string::npos) {
    fail(1, fmt::format("{}: this API has no {} routes (an older hodos up, or not Hodos)", what,
                        routes));
  }
  fail(a.status == 400 ? 2 : 1, api_error_message(a));
}

void add_api_client_options(CLI::App* cmd, std::string& api, std::string& token) {
  cmd->add_option("--api", api,
                  fmt::format("API of hodos up (its --http; default $HODOS_API or {})",
                              kDefaultApi));
  cmd->add_option("--token", token,
                  "Bearer token, when the API is not on loopback (or set HODOS_API_TOKEN)");
}

std::string json_string(const nlohmann::json& j, const char* key) {
  return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : std::string();
}

std::string api_error_message(const ApiAnswer& answer) {
  const nlohmann::json& b = answer.body;
  if (b.is_object() && b.contains("errors") && b["errors"].is_array() && !b["errors"].empty() &&
      b["errors"][0].is_object()) {
    return b["errors"][0].value("msg", answer.text);
  }
  std::string text = answer.text;
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
  return text;
}

ApiAnswer api_request(const ApiClientOptions& o, const std::string& method, const std::string& path,
                      const std::string& body) {
  auto fail = [&](const std::string& message) {
    std::fprintf(stderr, "%s: %s\n", o.command.c_str(), message.c_str());
    throw ExitCode{1};
  };
  std::string base = o.api.empty() ? env_or("HODOS_API", kDefaultApi) : o.api;
  if (base.find("://") == std::string::npos) base = "http://" + base;
  while (!base.empty() && base.back() == '/') base.pop_back();
  const std::string token = o.token.empty() ? env_or("HODOS_API_TOKEN", "") : o.token;

  net::HttpClient client;
  net::HttpClientRequest request;
  request.method = method;
  request.url = base + path;
  request.body = body;
  // A change waits for the agent's rescan (seconds at most); listing is immediate.
  request.timeout = std::chrono::milliseconds(30'000);
  if (!body.empty()) request.headers.emplace_back("Content-Type", "application/json");
  if (!token.empty()) request.headers.emplace_back("Authorization", "Bearer " + token);
  net::HttpClientResponse response = client.send(request);
  if (response.status == 0) {
    fail(
        fmt::format("cannot reach the API at {}: {} (is `hodos up` running? point --api or "
                    "HODOS_API at its --http address)",
                    base, response.error));
  }
  ApiAnswer answer{response.status, nlohmann::json::parse(response.body, nullptr, false),
                   response.body};
  if (response.status == 401) {
    fail(
        fmt::format("the API at {} needs a token: pass --token (or set HODOS_API_TOKEN) with "
                    "the one given to `hodos up --auth-token`, or the one it generated and "
                    "printed{}",
                    base,
                    token.empty() ? " (kept in its data directory, file api-token)"
                                  : "; the one sent was refused"));
  }
  return answer;
}

void print_json(const nlohmann::json& j) {
  std::printf("%s\n", j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
}

void print_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& row : rows) {
    width.resize(std::max(width.size(), row.size()));
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += i + 1 == row.size() ? row[i] : fmt::format("{:<{}}  ", row[i], width[i]);
    }
    // Empty cells at the end leave no padding behind.
    line.erase(line.find_last_not_of(' ') + 1);
    std::printf("%s\n", line.c_str());
  }
}

}  // namespace hodos::cli
