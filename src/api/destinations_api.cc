#include "api/destinations_api.h"

#include <fmt/format.h>

#include <string_view>


namespace hodos::api {

namespace {

using nlohmann::json;

constexpr std::string_view kDestinations = "/api/v1/destinations";

constexpr std::string_view kShape =
    "the body must be JSON: {\"name\": \"...\", \"kind\": \"honeycomb\", \"fields\": "
    "{\"api_key\": \"...\"}}";

// /api/v1/destinations/{rest}: kinds, test, {name} or {name}/test.
net::HttpResponse sub_route(DestinationsControl& control, net::HttpRequest& request) {
  const std::string rest = request.path.substr(kDestinations.size() + 1);
  if (rest == "kinds") {
    if (request.method != "GET") return method_not_allowed(request, "GET");
    return control_response(control.kinds());
  }
  if (rest == "test") {
    if (request.method != "POST") return method_not_allowed(request, "POST");
    auto body = object_body(request);
    if (!body) return control_error(400, kShape);
    return control_response(control.test_unsaved(*body));
  }
  const size_t slash = rest.find('/');
  if (slash == std::string::npos) {
    if (request.method != "DELETE") return method_not_allowed(request, "DELETE");
    return control_response(control.remove(rest));
  }
  if (rest.substr(slash + 1) != "test" || slash == 0) {
    return control_error(404, fmt::format("no such route: {} (use {}/{{name}} or {}/{{name}}/test)",
                                  request.path, kDestinations, kDestinations));
  }
  if (request.method != "POST") return method_not_allowed(request, "POST");
  return control_response(control.test_saved(rest.substr(0, slash)));
}

}  // namespace

void add_destinations_routes(QueryApi& api, std::shared_ptr<DestinationsControl> control) {
  // Any method, so that a wrong one gets a 405 naming the right ones rather than a 404.
  api.add_route("", std::string(kDestinations), [control](net::HttpRequest& request) {
    if (request.method == "GET") return control_response(control->list());
    if (request.method != "POST") return method_not_allowed(request, "GET, POST");
    auto body = object_body(request);
    if (!body) return control_error(400, kShape);
    return control_response(control->add(*body));
  });
  api.add_route("", std::string(kDestinations) + "/*",
                [control](net::HttpRequest& request) { return sub_route(*control, request); });
}

}  // namespace hodos::api
