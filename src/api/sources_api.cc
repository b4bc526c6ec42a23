#include "api/sources_api.h"

#include <fmt/format.h>

#include <string_view>


namespace hodos::api {

namespace {

using nlohmann::json;

constexpr std::string_view kSources = "/api/v1/sources";

// POST /api/v1/sources/{name}/{action}; the path arrives percent-decoded, so a name may hold '/'
// (the action is the last segment).
net::HttpResponse change(SourcesControl& control, net::HttpRequest& request) {
  std::string_view rest = std::string_view(request.path).substr(kSources.size());
  const size_t slash = rest.rfind('/');
  if (!rest.starts_with('/') || slash == 0 || slash == std::string_view::npos) {
    return control_error(
        404, fmt::format("no such route: {} (use {}/{{name}}/enable, disable or rename)",
                         request.path, kSources));
  }
  const std::string name(rest.substr(1, slash - 1));
  const std::string_view action = rest.substr(slash + 1);
  if (action != "enable" && action != "disable" && action != "rename") {
    return control_error(
        404, fmt::format("no such action '{}' (use enable, disable or rename)", action));
  }
  if (request.method != "POST") return method_not_allowed(request, "POST");
  if (action != "rename") return control_response(control.set_enabled(name, action == "enable"));

  const json body = json::parse(request.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded() || !body.is_object()) {
    return control_error(400, "the body must be JSON: {\"name\": \"the new service name\"}");
  }
  if (!body.contains("name") || !body["name"].is_string()) {
    return control_error(
        400, "the body needs \"name\", a string: {\"name\": \"the new service name\"}");
  }
  for (const auto& item : body.items()) {
    if (item.key() != "name") {
      return control_error(
          400, fmt::format("unknown field \"{}\" (the body is {{\"name\": \"...\"}})", item.key()));
    }
  }
  return control_response(control.rename(name, body["name"].get<std::string>()));
}

}  // namespace

void add_sources_routes(QueryApi& api, std::shared_ptr<SourcesControl> control) {
  // Any method, so that a wrong one gets a 405 naming the right one rather than a 404.
  api.add_route("", std::string(kSources), [control](net::HttpRequest& request) {
    if (request.method != "GET") return method_not_allowed(request, "GET");
    return control_response(control->list());
  });
  api.add_route("", std::string(kSources) + "/*",
                [control](net::HttpRequest& request) { return change(*control, request); });
}

}  // namespace hodos::api
