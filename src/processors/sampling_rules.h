// Sampling rules: the tail sampling `hodos up` applies at run time (`hodos sampling add`, the
// control API, the UI), kept in sampling.json in the data directory. A rule is one policy of the
// tail_sampling processor (its type and its body, as docs/configuration.md documents them); the
// enabled rules, with the settings (decision_wait, num_traces), become one tail_sampling processor
// built by the registry's factory. A trace is kept when any enabled rule keeps it; with no
// enabled rule the `sampling` processor hands every batch straight on (no copy, no hold).
//
// Tail sampling holds each trace's spans for decision_wait before they go on to the store and
// the destinations: an OTLP "accepted" then no longer means "on disk". A change builds a new
// processor and swaps it in; the old one decides every trace it holds at once and sends the kept
// ones on, so nothing it held is lost (a trace whose spans straddle the change may be decided
// twice, once by each).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/span_batch.h"
#include "pipeline/factory.h"
#include "pipeline/registry.h"
#include "processors/runtime_rules.h"

namespace hodos::processors {

// always_sample, latency, status_code, string_attribute, numeric_attribute, probabilistic,
// rate_limiting and and, with an example body each.
const std::vector<RuleType>& sampling_rule_types();

struct SamplingSettings {
  std::string decision_wait = "10s";
  int64_t num_traces = 50000;

  bool operator==(const SamplingSettings&) const = default;
};

struct SamplingState {
  SamplingSettings settings;
  std::vector<ProcessingRule> rules;
  uint64_t traces_sampled = 0;  // since hodos up started, over every rule set it ran
  uint64_t traces_not_sampled = 0;
};

// The run-time sampling rules. Thread-safe: the pipeline calls consume() from many threads at
// once while the API changes the rules.
class SamplingRules {
 public:
  // Loads `path` (sampling.json) when it exists and checks the rules and settings with the
  // tail_sampling factory; an empty path keeps them in memory only. `registry` must outlive this
  // object. Throws RuleError naming the file.
  SamplingRules(const pipeline::Registry& registry, std::string path);
  ~SamplingRules();
  SamplingRules(const SamplingRules&) = delete;
  SamplingRules& operator=(const SamplingRules&) = delete;

  const std::string& path() const { return path_; }

  // Given by the pipeline (the sampling processor's create()). Nothing runs until then.
  void attach(pipeline::TracesConsumer& next, pipeline::Metrics& metrics);
  void start();
  // Decides every held trace and sends the kept ones on.
  void shutdown();

  pipeline::Status consume(core::SpanBatch batch);

  SamplingState state() const;
  // Each validates (the tail_sampling factory reads the policy), saves the file, then applies.
  // Throw RuleError, or std::runtime_error when the file cannot be written (nothing changed).
  ProcessingRule add(const ProcessingRule& rule);
  ProcessingRule replace(const std::string& name, const ProcessingRule& rule);
  void remove(const std::string& name);
  ProcessingRule set_enabled(const std::string& name, bool enabled);
  // From {"decision_wait": "10s", "num_traces": 50000}; a key left out keeps its value.
  SamplingSettings set_settings(const nlohmann::json& body);

 private:
  struct Generation;

  // The tail_sampling config of these rules and settings (enabled rules only, unless `all`).
  static YAML::Node tail_sampling_config(const std::vector<ProcessingRule>& rules,
                                         const SamplingSettings& settings, bool all);
  // Has the factory read one rule (or the settings, with `rule` null); throws RuleError.
  void check(const ProcessingRule* rule, const SamplingSettings& settings) const;
  // Builds and starts the processor for `rules`; null when none is enabled. mu_ held.
  std::shared_ptr<Generation> build(const std::vector<ProcessingRule>& rules,
                                    const SamplingSettings& settings);
  // Saves, applies, and retires the old processor. mu_ held.
  void update(std::vector<ProcessingRule> rules, SamplingSettings settings);
  void retire(std::shared_ptr<Generation> old);    // mu_ held
  size_t index_of(const std::string& name) const;  // mu_ held; throws kNotFound

  const pipeline::Registry& registry_;
  std::string path_;
  mutable std::mutex mu_;
  std::vector<ProcessingRule> rules_;
  SamplingSettings settings_;
  pipeline::TracesConsumer* next_ = nullptr;
  pipeline::Metrics* metrics_ = nullptr;
  bool running_ = false;
  uint64_t generations_ = 0;
  uint64_t retired_sampled_ = 0;  // counts of the processors already replaced
  uint64_t retired_not_sampled_ = 0;
  std::atomic<bool> active_{false};
  std::atomic<std::shared_ptr<Generation>> current_;
};

// The `sampling` processor of hodos up's pipeline, running `rules`. It takes no settings, and may
// be used in one pipeline only.
std::unique_ptr<pipeline::ProcessorFactory> make_sampling_processor_factory(
    std::shared_ptr<SamplingRules> rules);

}  // namespace hodos::processors
