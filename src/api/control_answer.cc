#include "api/control_answer.h"

#include <fmt/format.h>

#include <string>

#include "api/jaeger_json.h"

namespace hodos::api {

net::HttpResponse control_error(int status, std::string_view message) {
  nlohmann::json body = error_response(status, message);
  body["error"] = message;
  return net::HttpResponse::json(status, dump_json(body));
}

net::HttpResponse control_response(const ControlAnswer& a) {
  if (a.status >= 200 && a.status < 300) {
    return net::HttpResponse::json(a.status, dump_json(a.body));
  }
  return control_error(a.status, a.body.is_object() ? a.body.value("message", "") : "");
}

net::HttpResponse method_not_allowed(const net::HttpRequest& request, std::string_view allowed) {
  net::HttpResponse r =
      control_error(405, fmt::format("{} {}: use {}", request.method, request.path, allowed));
  r.headers.emplace_back("Allow", std::string(allowed));
  return r;
}

std::optional<nlohmann::json> object_body(const net::HttpRequest& request) {
  nlohmann::json body = nlohmann::json::parse(request.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded() || !body.is_object()) return std::nullopt;
  return body;
}

}  // namespace hodos::api
