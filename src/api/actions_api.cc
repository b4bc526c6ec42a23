#include "api/actions_api.h"

#include <fmt/format.h>

#include <optional>
#include <string_view>

#include "api/jaeger_json.h"

namespace hodos::api {

namespace {

using nlohmann::json;

constexpr std::string_view kActions = "/api/v1/actions";
constexpr std::string_view kSampling = "/api/v1/sampling";

// The query API's error shape plus "error": the message, for clients that read only that.
net::HttpResponse error(int status, std::string_view message) {
  json body = error_response(status, message);
  body["error"] = message;
  return net::HttpResponse::json(status, dump_json(body));
}

net::HttpResponse respond(const ControlAnswer& a) {
  if (a.status >= 200 && a.status < 300)
    return net::HttpResponse::json(a.status, dump_json(a.body));
  return error(a.status, a.body.is_object() ? a.body.value("message", "") : "");
}

net::HttpResponse wrong_method(const net::HttpRequest& request, std::string_view allowed) {
  net::HttpResponse r =
      error(405, fmt::format("{} {}: use {}", request.method, request.path, allowed));
  r.headers.emplace_back("Allow", std::string(allowed));
  return r;
}

// The body as a JSON object, or the 400 that says so.
std::optional<json> object_body(const net::HttpRequest& request) {
  json body = json::parse(request.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded() || !body.is_object()) return std::nullopt;
  return body;
}

constexpr std::string_view kActionShape =
    "the body must be a JSON object: {\"name\": \"mask-pii\", \"type\": \"redaction\", "
    "\"config\": {...}}";
constexpr std::string_view kRuleShape =
    "the body must be a JSON object: {\"name\": \"errors\", \"type\": \"status_code\", "
    "\"config\": {\"status_codes\": [\"ERROR\"]}}";
constexpr std::string_view kPreviewShape =
    "the body must be a JSON object: {\"action\": {\"type\": \"redaction\", \"config\": {...}}, "
    "\"limit\": 200, \"lookback\": \"1h\"}";
constexpr std::string_view kSettingsShape =
    "the body must be a JSON object: {\"decision_wait\": \"10s\", \"num_traces\": 50000}";

// The part of a path after `base` + "/": "{name}" or "{name}/enable".
struct NamePath {
  std::string name;
  std::string verb;  // "", "enable", "disable", or something unknown
};

NamePath split_name(std::string_view rest) {
  const size_t slash = rest.find('/');
  if (slash == std::string_view::npos) return {std::string(rest), ""};
  return {std::string(rest.substr(0, slash)), std::string(rest.substr(slash + 1))};
}

// {name} (PUT, DELETE) and {name}/enable|disable (POST), for both route families.
template <typename Replace, typename Remove, typename Enable>
net::HttpResponse named(net::HttpRequest& request, std::string_view base, std::string_view rest,
                        std::string_view shape, Replace replace, Remove remove, Enable enable) {
  NamePath p = split_name(rest);
  if (p.name.empty() || (!p.verb.empty() && p.verb != "enable" && p.verb != "disable")) {
    return error(404, fmt::format("no such route: {} (use {}/{{name}}, {}/{{name}}/enable or "
                                  "{}/{{name}}/disable)",
                                  request.path, base, base, base));
  }
  if (!p.verb.empty()) {
    if (request.method != "POST") return wrong_method(request, "POST");
    return respond(enable(p.name, p.verb == "enable"));
  }
  if (request.method == "DELETE") return respond(remove(p.name));
  if (request.method != "PUT") return wrong_method(request, "PUT, DELETE");
  auto body = object_body(request);
  if (!body) return error(400, shape);
  return respond(replace(p.name, *body));
}

net::HttpResponse actions_sub_route(ActionsControl& c, net::HttpRequest& request) {
  const std::string_view rest = std::string_view(request.path).substr(kActions.size() + 1);
  if (rest == "types") {
    if (request.method != "GET") return wrong_method(request, "GET");
    return respond(c.action_types());
  }
  if (rest == "preview") {
    if (request.method != "POST") return wrong_method(request, "POST");
    auto body = object_body(request);
    if (!body) return error(400, kPreviewShape);
    return respond(c.preview_action(*body));
  }
  return named(
      request, kActions, rest, kActionShape,
      [&](const std::string& n, const json& b) { return c.replace_action(n, b); },
      [&](const std::string& n) { return c.remove_action(n); },
      [&](const std::string& n, bool on) { return c.enable_action(n, on); });
}

net::HttpResponse sampling_sub_route(ActionsControl& c, net::HttpRequest& request) {
  const std::string_view rest = std::string_view(request.path).substr(kSampling.size() + 1);
  if (rest == "settings") {
    if (request.method != "PUT") return wrong_method(request, "PUT");
    auto body = object_body(request);
    if (!body) return error(400, kSettingsShape);
    return respond(c.set_sampling_settings(*body));
  }
  return named(
      request, kSampling, rest, kRuleShape,
      [&](const std::string& n, const json& b) { return c.replace_rule(n, b); },
      [&](const std::string& n) { return c.remove_rule(n); },
      [&](const std::string& n, bool on) { return c.enable_rule(n, on); });
}

}  // namespace

void add_actions_routes(QueryApi& api, std::shared_ptr<ActionsControl> control) {
  // Any method, so that a wrong one gets a 405 naming the right ones rather than a 404.
  api.add_route("", std::string(kActions), [control](net::HttpRequest& request) {
    if (request.method == "GET") return respond(control->list_actions());
    if (request.method != "POST") return wrong_method(request, "GET, POST");
    auto body = object_body(request);
    if (!body) return error(400, kActionShape);
    return respond(control->add_action(*body));
  });
  api.add_route("", std::string(kActions) + "/*", [control](net::HttpRequest& request) {
    return actions_sub_route(*control, request);
  });
  api.add_route("", std::string(kSampling), [control](net::HttpRequest& request) {
    if (request.method == "GET") return respond(control->sampling());
    if (request.method != "POST") return wrong_method(request, "GET, POST");
    auto body = object_body(request);
    if (!body) return error(400, kRuleShape);
    return respond(control->add_rule(*body));
  });
  api.add_route("", std::string(kSampling) + "/*", [control](net::HttpRequest& request) {
    return sampling_sub_route(*control, request);
  });
}

}  // namespace hodos::api
