// What the control API's routes (/api/v1/sources, /api/v1/destinations, /api/v1/actions,
// /api/v1/sampling) have in common: the answer a control interface gives, and how it becomes an
// HTTP response in the query API's shape (success: the JSON body; error: errors[0].msg, and the
// message again as "error" for clients that read only that).
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>

#include "net/http_server.h"

namespace hodos::api {

struct ControlAnswer {
  int status = 200;
  nlohmann::json body;  // the answer on 2xx; {"message": "..."} otherwise
};

net::HttpResponse control_error(int status, std::string_view message);
net::HttpResponse control_response(const ControlAnswer& answer);
// 405 naming the methods the path takes, with an Allow header.
net::HttpResponse method_not_allowed(const net::HttpRequest& request, std::string_view allowed);
// The request's body as a JSON object; nullopt when it is not one (the caller answers 400).
std::optional<nlohmann::json> object_body(const net::HttpRequest& request);

}  // namespace hodos::api
