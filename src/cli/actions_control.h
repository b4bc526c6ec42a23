// The control API's actions and sampling routes wired to hodos up's run-time actions and
// sampling rules, and to its store for previews (the most recent stored spans, read back).
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>

#include "api/actions_api.h"
#include "core/span_batch.h"
#include "processors/actions.h"
#include "processors/sampling_rules.h"
#include "store/trace_store.h"

namespace hodos::cli {

class UpActionsControl final : public api::ActionsControl {
 public:
  UpActionsControl(std::shared_ptr<processors::RuntimeActions> actions,
                   std::shared_ptr<processors::SamplingRules> sampling,
                   std::shared_ptr<const store::TraceStore> store)
      : actions_(std::move(actions)), sampling_(std::move(sampling)), store_(std::move(store)) {}

  api::ControlAnswer list_actions() override;
  api::ControlAnswer action_types() override;
  api::ControlAnswer add_action(const nlohmann::json& body) override;
  api::ControlAnswer replace_action(const std::string& name, const nlohmann::json& body) override;
  api::ControlAnswer remove_action(const std::string& name) override;
  api::ControlAnswer enable_action(const std::string& name, bool enabled) override;
  api::ControlAnswer preview_action(const nlohmann::json& body) override;

  api::ControlAnswer sampling() override;
  api::ControlAnswer set_sampling_settings(const nlohmann::json& body) override;
  api::ControlAnswer add_rule(const nlohmann::json& body) override;
  api::ControlAnswer replace_rule(const std::string& name, const nlohmann::json& body) override;
  api::ControlAnswer remove_rule(const std::string& name) override;
  api::ControlAnswer enable_rule(const std::string& name, bool enabled) override;

 private:
  std::shared_ptr<processors::RuntimeActions> actions_;
  std::shared_ptr<processors::SamplingRules> sampling_;
  std::shared_ptr<const store::TraceStore> store_;
};

// The `limit` most recent spans of the store that started after `since_ns`, newest first, read
// back trace by trace (every service's newest traces).
core::SpanBatch recent_spans(const store::TraceStore& store, size_t limit, uint64_t since_ns);

nlohmann::json action_state_json(const processors::ActionState& state);
nlohmann::json rule_types_json(const std::vector<processors::RuleType>& types);

}  // namespace hodos::cli
