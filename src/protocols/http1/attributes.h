// Pure helpers the span builder needs to turn an HTTP/1.x exchange into span attributes
// without leaking credentials or exploding operation cardinality.
#pragma once

#include <string>
#include <string_view>

namespace hodos::protocols::http1 {

// An operation name for a path: the query string and fragment are dropped, and segments that
// look like identifiers (all digits, UUIDs, hex ids of 16+ digits) become "{id}", so that
// /items/42 and /items/43?x=1 are one route: /items/{id}.
std::string route_template(std::string_view path);

// Whether a header's value must never leave the agent: Authorization, Proxy-Authorization,
// Cookie, Set-Cookie, X-Api-Key, X-Auth-Token, and any name containing token, secret, password
// or api-key / api_key / apikey (case-insensitive).
bool is_credential_header(std::string_view name);

}  // namespace hodos::protocols::http1
