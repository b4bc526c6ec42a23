// The control API's sources routes, on the same server (and behind the same token) as the query
// API:
//   GET  /api/v1/sources                   every source: traced or not, and why
//   POST /api/v1/sources/{name}/enable     trace it (even if excluded or it has its own SDK)
//   POST /api/v1/sources/{name}/disable    stop tracing it, now and after restarts
//   POST /api/v1/sources/{name}/rename     body {"name": "new"}: the service.name of its spans
// The API knows neither the agent nor the registry: whoever wires them (hodos up) implements
// SourcesControl. Bodies are JSON; errors use the query API's shape (errors[0].msg).
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "api/control_answer.h"
#include "api/query_api.h"

namespace hodos::api {

class SourcesControl {
 public:
  virtual ~SourcesControl() = default;
  // {"agent": {"running": bool, "reason": "..."}, "sources": [...], "saved": {...}}
  virtual ControlAnswer list() = 0;
  virtual ControlAnswer set_enabled(const std::string& name, bool enabled) = 0;
  virtual ControlAnswer rename(const std::string& name, const std::string& new_name) = 0;
};

void add_sources_routes(QueryApi& api, std::shared_ptr<SourcesControl> control);

}  // namespace hodos::api
