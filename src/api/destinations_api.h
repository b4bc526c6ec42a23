// The control API's destinations routes, on the same server (and behind the same token) as the
// query API:
//   GET    /api/v1/destinations               every destination: kind, endpoint, health, counts
//   POST   /api/v1/destinations               add one: {"name", "kind", "fields": {...}}
//   GET    /api/v1/destinations/kinds         the kinds and the fields each takes
//   POST   /api/v1/destinations/test          test a destination that is not saved (same body)
//   DELETE /api/v1/destinations/{name}        remove it (no more spans go there)
//   POST   /api/v1/destinations/{name}/test   export one span to it and say what happened
// Secrets are never answered in full. The API knows no exporter: whoever wires it (hodos up)
// implements DestinationsControl.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "api/query_api.h"
#include "api/sources_api.h"

namespace hodos::api {

class DestinationsControl {
 public:
  virtual ~DestinationsControl() = default;
  virtual ControlAnswer kinds() = 0;
  // {"destinations": [...]}
  virtual ControlAnswer list() = 0;
  // `body` is the request's JSON object; 400 names the bad field.
  virtual ControlAnswer add(const nlohmann::json& body) = 0;
  virtual ControlAnswer remove(const std::string& name) = 0;
  virtual ControlAnswer test_saved(const std::string& name) = 0;
  virtual ControlAnswer test_unsaved(const nlohmann::json& body) = 0;
};

void add_destinations_routes(QueryApi& api, std::shared_ptr<DestinationsControl> control);

}  // namespace hodos::api
