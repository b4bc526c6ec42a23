// The control API's actions and sampling routes, on the same server (and behind the same token)
// as the query API (docs/api.md, "Actions and sampling rules"):
//   GET    /api/v1/actions                   every action, with its span counts
//   GET    /api/v1/actions/types             the types an action may have, with an example each
//   POST   /api/v1/actions                   add one (201)
//   POST   /api/v1/actions/preview           what an unsaved action would do to stored spans
//   PUT    /api/v1/actions/{name}            replace it, keeping its place
//   DELETE /api/v1/actions/{name}            remove it
//   POST   /api/v1/actions/{name}/enable     (and /disable)
//   GET    /api/v1/sampling                  settings, rules and trace counts
//   PUT    /api/v1/sampling/settings         decision_wait, num_traces
//   POST   /api/v1/sampling                  add a rule (201)
//   PUT    /api/v1/sampling/{name}           replace it;  DELETE removes it
//   POST   /api/v1/sampling/{name}/enable    (and /disable)
// Errors carry the query API's shape (errors[0].msg) and the same text as "error": 400 names the
// field, 404 an unknown name, 405 the methods a path takes, 409 a name in use. The API knows no
// processor: whoever wires it (hodos up) implements ActionsControl.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "api/control_answer.h"
#include "api/query_api.h"

namespace hodos::api {

class ActionsControl {
 public:
  virtual ~ActionsControl() = default;
  virtual ControlAnswer list_actions() = 0;
  virtual ControlAnswer action_types() = 0;
  // `body` is the request's JSON object.
  virtual ControlAnswer add_action(const nlohmann::json& body) = 0;
  virtual ControlAnswer replace_action(const std::string& name, const nlohmann::json& body) = 0;
  virtual ControlAnswer remove_action(const std::string& name) = 0;
  virtual ControlAnswer enable_action(const std::string& name, bool enabled) = 0;
  virtual ControlAnswer preview_action(const nlohmann::json& body) = 0;

  virtual ControlAnswer sampling() = 0;
  virtual ControlAnswer set_sampling_settings(const nlohmann::json& body) = 0;
  virtual ControlAnswer add_rule(const nlohmann::json& body) = 0;
  virtual ControlAnswer replace_rule(const std::string& name, const nlohmann::json& body) = 0;
  virtual ControlAnswer remove_rule(const std::string& name) = 0;
  virtual ControlAnswer enable_rule(const std::string& name, bool enabled) = 0;
};

void add_actions_routes(QueryApi& api, std::shared_ptr<ActionsControl> control);

}  // namespace hodos::api
