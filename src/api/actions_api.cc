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
    return control_error(404, fmt::format("no such route: {} (use {}/{{name}}, {}/{{name}}/enable or "
                                  "{}/{{name}}/disable)",
                                  request.path, base, base, base));
  }
  if (!p.verb.empty()) {
    if (request.method != "POST") return method_not_allowed(request, "POST");
    return control_response(enable(p.name, p.verb == "enable"));
  }
  if (request.method == "DELETE") return control_response(remove(p.name));
  if (request.method != "PUT") return method_not_allowed(request, "PUT, DELETE");
  auto body = object_body(request);
  if (!body) return control_error(400, shape);
  return control_response(replace(p.name, *body));
}

net::HttpResponse actions_sub_route(ActionsControl& c, net::HttpRequest& request) {
  const std::string_view rest = std::string_view(request.path).substr(kActions.size() + 1);
  if (rest == "types") {
    if (request.method != "GET") return method_not_allowed(request, "GET");
    return control_response(c.action_types());
  }
  if (rest == "preview") {
    if (request.method != "POST") return method_not_allowed(request, "POST");
    auto body = object_body(request);
    if (!body) return control_error(400, kPreviewShape);
    return control_response(c.preview_action(*body));
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
    if (request.method != "PUT") return method_not_allowed(request, "PUT");
    auto body = object_body(request);
    if (!body) return control_error(400, kSettingsShape);
    return control_response(c.set_sampling_settings(*body));
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
    if (request.method == "GET") return control_response(control->list_actions());
    if (request.method != "POST") return method_not_allowed(request, "GET, POST");
    auto body = object_body(request);
    if (!body) return control_error(400, kActionShape);
    return control_response(control->add_action(*body));
  });
  api.add_route("", std::string(kActions) + "/*", [control](net::HttpRequest& request) {
    return actions_sub_route(*control, request);
  });
  api.add_route("", std::string(kSampling), [control](net::HttpRequest& request) {
    if (request.method == "GET") return control_response(control->sampling());
    if (request.method != "POST") return method_not_allowed(request, "GET, POST");
    auto body = object_body(request);
    if (!body) return control_error(400, kRuleShape);
    return control_response(control->add_rule(*body));
  });
  api.add_route("", std::string(kSampling) + "/*", [control](net::HttpRequest& request) {
    return sampling_sub_route(*control, request);
  });
}

}  // namespace hodos::api
