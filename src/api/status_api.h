// GET /api/v1/status: what `hodos up` runs and how it is doing (receivers and their ports, the
// agent, the store, the destinations' health, key counters), on the query API's server and
// behind its token. Whoever wires hodos up gives the snapshot; the API only serves it.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>

#include "api/query_api.h"

namespace hodos::api {

void add_status_route(QueryApi& api, std::function<nlohmann::json()> snapshot);

}  // namespace hodos::api
