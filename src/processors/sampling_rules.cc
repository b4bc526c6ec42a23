#include "processors/sampling_rules.h"

#include <fmt/format.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <chrono>

#include "core/atomic_file.h"

namespace hodos::processors {

namespace {

using nlohmann::json;

constexpr std::string_view kListKey = "rules";
constexpr std::string_view kPath = "sampling";  // the ConfigNode path of the built config
const std::vector<std::string_view> kReserved = {"settings"};
const std::string kTracesMetric = "hodos_processor_tail_sampling_traces_total";

class DiscardSink final : public pipeline::TracesConsumer {
 public:
  pipeline::Status consume(core::SpanBatch) override { return pipeline::Status::ok(); }
};

pipeline::Labels decision_labels(const std::string& id, const char* decision) {
  return {{"processor", id}, {"decision", decision}};
}

json settings_json(const SamplingSettings& s) {
  return {{"decision_wait", s.decision_wait}, {"num_traces", s.num_traces}};
}

// Reads settings keys over `settings`; throws RuleError naming the key.
void read_settings(const json& body, SamplingSettings& settings) {
  if (!body.is_object()) {
    throw RuleError("",
                    "the settings must be a JSON object: {\"decision_wait\": \"10s\", "
                    "\"num_traces\": 50000}");
  }
  for (const auto& [key, value] : body.items()) {
    if (key == "decision_wait") {
      if (!value.is_string()) throw RuleError(key, "must be a duration such as \"10s\"");
      settings.decision_wait = value.get<std::string>();
    } else if (key == "num_traces") {
      if (!value.is_number_integer()) throw RuleError(key, "must be a whole number, e.g. 50000");
      settings.num_traces = value.get<int64_t>();
    } else {
      throw RuleError(key, "unknown setting; the settings are decision_wait and num_traces");
    }
  }
}

}  // namespace

const std::vector<RuleType>& sampling_rule_types() {
  static const std::vector<RuleType> kTypes = {
      {"always_sample", "Keep every trace", "Keeps every trace (takes no settings).",
       json::object()},
      {"latency", "Keep slow traces",
       "Keeps a trace whose duration (latest end - earliest start) is at least threshold_ms; "
       "with upper_threshold_ms, only up to that.",
       json{{"threshold_ms", 1000}}},
      {"status_code", "Keep traces by status",
       "Keeps a trace when any span has one of the status codes (ERROR, OK, UNSET).",
       json{{"status_codes", json::array({"ERROR"})}}},
      {"string_attribute", "Keep traces by a string attribute",
       "Keeps a trace when any span or resource has the key with one of the values (regexes with "
       "enabled_regex_matching; invert_match drops matching traces instead).",
       json{{"key", "http.request.method"}, {"values", json::array({"POST", "PUT", "DELETE"})}}},
      {"numeric_attribute", "Keep traces by a numeric attribute",
       "Keeps a trace when any span or resource has the key with an integer value in "
       "[min_value, max_value].",
       json{{"key", "http.response.status_code"}, {"min_value", 500}, {"max_value", 599}}},
      {"probabilistic", "Keep a share of traces",
       "Keeps sampling_percentage percent of traces, by a hash of the trace id (the Collector's, "
       "so both keep the same traces with the same hash_salt).",
       json{{"sampling_percentage", 10}}},
      {"rate_limiting", "Keep at most N spans a second",
       "Keeps whole traces while the spans kept in the current second stay within "
       "spans_per_second.",
       json{{"spans_per_second", 100}}},
      {"and", "Keep traces all sub-policies keep",
       "Keeps a trace when every sub-policy keeps it; each sub-policy is {name, type, <type>: "
       "{...}} as in the tail_sampling processor.",
       json{{"and_sub_policy",
             json::array({json{{"name", "writes"},
                               {"type", "string_attribute"},
                               {"string_attribute",
                                {{"key", "http.request.method"},
                                 {"values", json::array({"POST", "PUT", "DELETE"})}}}},
                          json{{"name", "some"},
                               {"type", "probabilistic"},
                               {"probabilistic", {{"sampling_percentage", 10}}}}})}}},
  };
  return kTypes;
}

// One tail_sampling processor for one set of rules. Its metrics carry its own id
// ("sampling/3"), so that one built later never shares (or loses) its gauges.
struct SamplingRules::Generation {
  std::string id;
  std::unique_ptr<pipeline::Processor> sampler;
};

SamplingRules::SamplingRules(const pipeline::Registry& registry, std::string path)
    : registry_(registry), path_(std::move(path)) {
  const std::string text = read_rules_file(path_);
  if (text.empty()) return;
  try {
    json doc;
    rules_ = decode_rules(text, kListKey, sampling_rule_types(), "rule", &doc);
    if (doc.contains("settings")) {
      try {
        read_settings(doc["settings"], settings_);
        check(nullptr, settings_);
      } catch (const RuleError& e) {
        throw nest_rule_error(e, "settings");
      }
    }
    for (size_t i = 0; i < rules_.size(); ++i) {
      try {
        validate_rule_name(rules_[i].name, "rule", kReserved);
        check(&rules_[i], settings_);
      } catch (const RuleError& e) {
        throw nest_rule_error(e, fmt::format("rules[{}] ({})", i, rules_[i].name));
      }
    }
  } catch (const RuleError& e) {
    throw RuleError(path_, std::string(e.what()) + "; fix it or remove the file");
  }
  ::chmod(path_.c_str(), 0600);
}

SamplingRules::~SamplingRules() = default;

YAML::Node SamplingRules::tail_sampling_config(const std::vector<ProcessingRule>& rules,
                                               const SamplingSettings& settings, bool all) {
  YAML::Node config(YAML::NodeType::Map);
  config["decision_wait"] = settings.decision_wait;
  config["num_traces"] = settings.num_traces;
  YAML::Node policies(YAML::NodeType::Sequence);
  for (const ProcessingRule& r : rules) {
    if (!r.enabled && !all) continue;
    YAML::Node policy(YAML::NodeType::Map);
    policy["name"] = r.name;
    policy["type"] = r.type;
    // always_sample has no body; any other key beside name and type would be refused.
    if (r.type != "always_sample") policy[r.type] = json_to_yaml(r.config);
    policies.push_back(policy);
  }
  config["policies"] = policies;
  return config;
}

void SamplingRules::check(const ProcessingRule* rule, const SamplingSettings& settings) const {
  ProcessingRule probe{"settings", "always_sample", true, "", json::object()};
  if (rule != nullptr) {
    probe = *rule;
    probe.enabled = true;
    if (probe.type == "always_sample" && !probe.config.empty()) {
      throw RuleError("config", "always_sample takes no settings; use {}");
    }
  }
  const pipeline::ProcessorFactory* factory = registry_.processor("tail_sampling");
  if (factory == nullptr) throw RuleError("type", "this hodos has no tail_sampling processor");
  pipeline::Metrics scratch;
  DiscardSink sink;
  auto quiet = std::make_shared<spdlog::logger>("sampling-check",
                                                std::make_shared<spdlog::sinks::null_sink_mt>());
  try {
    pipeline::ConfigNode node(tail_sampling_config({probe}, settings, false), std::string(kPath));
    (void)factory->create({{"sampling", "check"}, scratch, quiet}, node, sink);  // no thread yet
  } catch (const pipeline::ConfigError& e) {
    // sampling.policies[0].<type>.x → config.x; sampling.decision_wait → decision_wait.
    const std::string policy = std::string(kPath) + ".policies[0]";
    if (e.path().starts_with(policy + "." + probe.type)) {
      throw config_field_error(e, policy + "." + probe.type, "config");
    }
    if (e.path().starts_with(policy)) throw config_field_error(e, policy, "config");
    throw config_field_error(e, kPath, "");
  }
}

void SamplingRules::attach(pipeline::TracesConsumer& next, pipeline::Metrics& metrics) {
  std::lock_guard lock(mu_);
  if (next_ != nullptr) {
    throw pipeline::ConfigError("processors.sampling",
                                "hodos up's sampling runs in one pipeline only; remove the "
                                "second");
  }
  next_ = &next;
  metrics_ = &metrics;
}

std::shared_ptr<SamplingRules::Generation> SamplingRules::build(
    const std::vector<ProcessingRule>& rules, const SamplingSettings& settings) {
  bool any = false;
  for (const ProcessingRule& r : rules) any = any || r.enabled;
  if (!running_ || !any) return nullptr;
  auto g = std::make_shared<Generation>();
  const pipeline::ComponentId id{"sampling", std::to_string(++generations_)};
  g->id = id.str();
  try {
    pipeline::ConfigNode node(tail_sampling_config(rules, settings, false), std::string(kPath));
    g->sampler = registry_.processor("tail_sampling")
                     ->create({id, *metrics_, spdlog::default_logger()}, node, *next_);
  } catch (const pipeline::ConfigError& e) {
    throw config_field_error(e, kPath, "rules");  // each rule was checked alone: rare
  }
  if (pipeline::Status st = g->sampler->start(); !st.is_ok()) {
    throw RuleError("rules", "the tail_sampling processor did not start: " + st.message());
  }
  return g;
}

void SamplingRules::retire(std::shared_ptr<Generation> old) {
  if (!old) return;
  // Decides every trace it holds and sends the kept ones on; a batch still on its way into it
  // passes through undecided.
  old->sampler->shutdown(std::chrono::steady_clock::now());
  retired_sampled_ +=
      static_cast<uint64_t>(metrics_->value(kTracesMetric, decision_labels(old->id, "sampled")));
  retired_not_sampled_ += static_cast<uint64_t>(
      metrics_->value(kTracesMetric, decision_labels(old->id, "not_sampled")));
}

void SamplingRules::start() {
  std::lock_guard lock(mu_);
  if (running_ || next_ == nullptr) return;
  running_ = true;
  std::shared_ptr<Generation> g = build(rules_, settings_);
  active_.store(g != nullptr, std::memory_order_release);
  current_.store(std::move(g), std::memory_order_release);
}

void SamplingRules::shutdown() {
  std::lock_guard lock(mu_);
  running_ = false;
  active_.store(false, std::memory_order_release);
  retire(current_.exchange(nullptr, std::memory_order_acq_rel));
}

pipeline::Status SamplingRules::consume(core::SpanBatch batch) {
  if (active_.load(std::memory_order_acquire)) {
    std::shared_ptr<Generation> g = current_.load(std::memory_order_acquire);
    if (g) return g->sampler->consume(std::move(batch));
  }
  return next_->consume(std::move(batch));
}

void SamplingRules::update(std::vector<ProcessingRule> rules, SamplingSettings settings) {
  std::shared_ptr<Generation> g = build(rules, settings);  // may throw: nothing changed yet
  const json extra = {{"settings", settings_json(settings)}};
  if (!path_.empty()) {
    core::write_private_file_atomically(path_, encode_rules(kListKey, rules, extra));
  }
  rules_ = std::move(rules);
  settings_ = std::move(settings);
  active_.store(g != nullptr, std::memory_order_release);
  retire(current_.exchange(std::move(g), std::memory_order_acq_rel));
}

size_t SamplingRules::index_of(const std::string& name) const {
  for (size_t i = 0; i < rules_.size(); ++i) {
    if (rules_[i].name == name) return i;
  }
  throw RuleError(RuleError::Kind::kNotFound, "", fmt::format("no sampling rule named '{}'", name));
}

SamplingState SamplingRules::state() const {
  std::lock_guard lock(mu_);
  SamplingState s{settings_, rules_, retired_sampled_, retired_not_sampled_};
  std::shared_ptr<Generation> g = current_.load(std::memory_order_acquire);
  if (g && metrics_ != nullptr) {
    s.traces_sampled +=
        static_cast<uint64_t>(metrics_->value(kTracesMetric, decision_labels(g->id, "sampled")));
    s.traces_not_sampled += static_cast<uint64_t>(
        metrics_->value(kTracesMetric, decision_labels(g->id, "not_sampled")));
  }
  return s;
}

ProcessingRule SamplingRules::add(const ProcessingRule& rule) {
  validate_rule_name(rule.name, "rule", kReserved);
  std::lock_guard lock(mu_);
  check(&rule, settings_);
  for (const ProcessingRule& r : rules_) {
    if (r.name == rule.name) {
      throw RuleError(RuleError::Kind::kConflict, "name",
                      fmt::format("a sampling rule named '{}' exists; edit it, or choose another "
                                  "name",
                                  rule.name));
    }
  }
  std::vector<ProcessingRule> next = rules_;
  next.push_back(rule);
  update(std::move(next), settings_);
  return rule;
}

ProcessingRule SamplingRules::replace(const std::string& name, const ProcessingRule& rule) {
  ProcessingRule updated = rule;
  if (updated.name.empty()) updated.name = name;
  validate_rule_name(updated.name, "rule", kReserved);
  std::lock_guard lock(mu_);
  const size_t i = index_of(name);
  check(&updated, settings_);
  if (updated.name != name) {
    for (const ProcessingRule& r : rules_) {
      if (r.name == updated.name) {
        throw RuleError(RuleError::Kind::kConflict, "name",
                        fmt::format("a sampling rule named '{}' exists", updated.name));
      }
    }
  }
  std::vector<ProcessingRule> next = rules_;
  next[i] = updated;
  update(std::move(next), settings_);
  return updated;
}

void SamplingRules::remove(const std::string& name) {
  std::lock_guard lock(mu_);
  const size_t i = index_of(name);
  std::vector<ProcessingRule> next = rules_;
  next.erase(next.begin() + static_cast<std::ptrdiff_t>(i));
  update(std::move(next), settings_);
}

ProcessingRule SamplingRules::set_enabled(const std::string& name, bool enabled) {
  std::lock_guard lock(mu_);
  const size_t i = index_of(name);
  std::vector<ProcessingRule> next = rules_;
  next[i].enabled = enabled;
  update(std::move(next), settings_);
  return rules_[i];
}

SamplingSettings SamplingRules::set_settings(const json& body) {
  std::lock_guard lock(mu_);
  SamplingSettings next = settings_;
  read_settings(body, next);
  check(nullptr, next);
  update(rules_, next);
  return settings_;
}

// ---- the pipeline component -------------------------------------------------------------------

namespace {

class SamplingProcessor final : public pipeline::Processor {
 public:
  explicit SamplingProcessor(std::shared_ptr<SamplingRules> rules) : rules_(std::move(rules)) {}
  pipeline::Status start() override {
    rules_->start();
    return pipeline::Status::ok();
  }
  void shutdown(pipeline::Deadline /*deadline*/) override { rules_->shutdown(); }
  pipeline::Status consume(core::SpanBatch batch) override {
    return rules_->consume(std::move(batch));
  }

 private:
  std::shared_ptr<SamplingRules> rules_;
};

class SamplingProcessorFactory final : public pipeline::ProcessorFactory {
 public:
  explicit SamplingProcessorFactory(std::shared_ptr<SamplingRules> rules)
      : rules_(std::move(rules)) {}
  std::string_view type() const override { return "sampling"; }
  std::unique_ptr<pipeline::Processor> create(const pipeline::CreateContext& ctx,
                                              pipeline::ConfigNode& config,
                                              pipeline::TracesConsumer& next) const override {
    config.reject_unknown_keys();  // everything is in sampling.json
    rules_->attach(next, ctx.metrics);
    return std::make_unique<SamplingProcessor>(rules_);
  }

 private:
  std::shared_ptr<SamplingRules> rules_;
};

}  // namespace

std::unique_ptr<pipeline::ProcessorFactory> make_sampling_processor_factory(
    std::shared_ptr<SamplingRules> rules) {
  return std::make_unique<SamplingProcessorFactory>(std::move(rules));
}

}  // namespace hodos::processors
