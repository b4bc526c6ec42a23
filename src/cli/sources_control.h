// The control API's sources routes wired to a running agent and the source registry (hodos up):
// listing what the agent's last scan found, and applying `enable`, `disable` and `rename` by
// saving the choice first, then having the agent rescan with it before answering.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "agent/agent.h"
#include "agent/source_registry.h"
#include "api/sources_api.h"

namespace hodos::cli {

class AgentSourcesControl final : public api::SourcesControl {
 public:
  // Until set_agent(), the agent is "starting".
  explicit AgentSourcesControl(std::shared_ptr<agent::SourceRegistry> registry);

  // `agent` may be null (not running: `off_reason` says why); it must outlive the API's use.
  void set_agent(agent::Agent* agent, std::string off_reason);

  api::ControlAnswer list() override;
  api::ControlAnswer set_enabled(const std::string& name, bool enabled) override;
  api::ControlAnswer rename(const std::string& name, const std::string& new_name) override;

 private:
  template <typename Apply>
  api::ControlAnswer change(const std::string& name, const Apply& apply);

  struct AgentState {
    agent::Agent* agent = nullptr;
    std::string off_reason;
  };
  AgentState state() const;

  mutable std::mutex mu_;
  AgentState state_{nullptr, "the agent is starting"};
  std::shared_ptr<agent::SourceRegistry> registry_;
};

}  // namespace hodos::cli
