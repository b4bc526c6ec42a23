// Actions: the span processing `hodos up` applies at run time (`hodos actions add`, the control
// API, the UI), kept in actions.json in the data directory. An action is one of the processors
// redaction, filter, span_template, attributes or resource with its config in the Collector's
// shape; each enabled one is built by the registry's own factory (so a config the processor
// refuses is refused here, with its message) and they are chained in list order. The `actions`
// processor of hodos up's pipeline runs every span through the chain, which a change replaces
// at once without stopping the pipeline.
//
// With no enabled action the processor hands each batch straight on: no copy, no queue, and the
// store still writes on the receiver's thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/span_batch.h"
#include "pipeline/factory.h"
#include "pipeline/registry.h"
#include "processors/runtime_rules.h"

namespace hodos::processors {

// redaction, filter, span_template, attributes and resource, with a title, a line of help and an
// example config each.
const std::vector<RuleType>& action_types();

struct ActionCounts {
  uint64_t spans_in = 0;
  uint64_t spans_out = 0;
  uint64_t spans_dropped = 0;
};

struct ActionState {
  ProcessingRule action;
  ActionCounts counts;  // since hodos up started (or the action was added)
};

// What an action would do to spans already stored (`POST /api/v1/actions/preview`).
struct ActionPreview {
  size_t examined = 0;
  size_t changed = 0;
  size_t dropped = 0;
  // Up to `max_examples` changed or dropped spans: {trace_id, span_id, service, before:
  // {name, attributes}, after: {...} | null, changes: ["attributes.k: masked", ...]}.
  nlohmann::json examples = nlohmann::json::array();
};

// The run-time list of actions. Thread-safe: the pipeline calls consume() from many threads at
// once while the API adds, edits and removes.
class RuntimeActions {
 public:
  // Loads `path` (actions.json) when it exists and checks every action with its factory; an empty
  // path keeps them in memory only. `registry` must outlive this object. Throws RuleError naming
  // the file when it is not an actions file or holds an action the processors refuse.
  RuntimeActions(const pipeline::Registry& registry, std::string path);
  ~RuntimeActions();
  RuntimeActions(const RuntimeActions&) = delete;
  RuntimeActions& operator=(const RuntimeActions&) = delete;

  const std::string& path() const { return path_; }

  // Given by the pipeline (the actions processor's create()): where spans go after the actions,
  // and where the processors' metrics go. Nothing runs until then.
  void attach(pipeline::TracesConsumer& next, pipeline::Metrics& metrics);
  void start();
  void shutdown();

  pipeline::Status consume(core::SpanBatch batch);
  // True when a running action edits spans in place (a fan-out then gives it its own copy).
  bool mutates_data() const;

  std::vector<ActionState> list() const;
  // Each validates (the processor's factory reads the config), saves the file, then applies the
  // new list to the next batch. Throw RuleError, or std::runtime_error when the file cannot be
  // written (then nothing changed).
  ActionState add(const ProcessingRule& action);
  ActionState replace(const std::string& name, const ProcessingRule& action);  // same position
  void remove(const std::string& name);
  ActionState set_enabled(const std::string& name, bool enabled);

  // Runs `action` (not saved; enabled or not) over a copy of `spans`; `spans` is not changed.
  ActionPreview preview(const ProcessingRule& action, const core::SpanBatch& spans,
                        size_t max_examples = 20) const;

 private:
  struct Counters;
  struct Chain;

  // Has the factory read the config; throws RuleError naming "config..." on a refusal.
  void check(const ProcessingRule& action) const;
  // The chain of the enabled actions of `actions`, built and started; null when nothing is to
  // run. Throws RuleError. mu_ held.
  std::shared_ptr<const Chain> build_chain(const std::vector<ProcessingRule>& actions);
  // The chain the next batch goes through.
  void install(std::shared_ptr<const Chain> chain);
  // Builds `next`'s chain, saves `next`, then applies it; nothing changes on a failure. mu_ held.
  void update(std::vector<ProcessingRule> next);
  void save(const std::vector<ProcessingRule>& actions);     // mu_ held
  ActionState state_of(const ProcessingRule& action) const;  // mu_ held
  size_t index_of(const std::string& name) const;            // mu_ held; throws kNotFound

  const pipeline::Registry& registry_;
  std::string path_;
  mutable std::mutex mu_;
  std::vector<ProcessingRule> actions_;
  // Counts by action name; kept across rebuilds, so edits do not reset them.
  std::map<std::string, std::shared_ptr<Counters>> counters_;
  pipeline::TracesConsumer* next_ = nullptr;
  pipeline::Metrics* metrics_ = nullptr;
  bool running_ = false;
  // The chain the next batch goes through; null with no enabled action. `active_` lets the
  // common case (no actions) skip loading it.
  std::atomic<bool> active_{false};
  std::atomic<std::shared_ptr<const Chain>> chain_;
};

// The `actions` processor of hodos up's pipeline, running `actions`. It takes no settings, and may
// be used in one pipeline only.
std::unique_ptr<pipeline::ProcessorFactory> make_actions_processor_factory(
    std::shared_ptr<RuntimeActions> actions);

}  // namespace hodos::processors
