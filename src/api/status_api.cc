#include "api/status_api.h"

#include <fmt/format.h>

#include "api/jaeger_json.h"

namespace hodos::api {

void add_status_route(QueryApi& api, std::function<nlohmann::json()> snapshot) {
  api.add_route("", "/api/v1/status", [snapshot](net::HttpRequest& request) {
    if (request.method != "GET") {
      net::HttpResponse r = net::HttpResponse::json(
          405, dump_json(error_response(
                   405, fmt::format("{} {}: use GET", request.method, request.path))));
      r.headers.emplace_back("Allow", "GET");
      return r;
    }
    return net::HttpResponse::json(200, dump_json(snapshot()));
  });
}

}  // namespace hodos::api
