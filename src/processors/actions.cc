#include "processors/actions.h"

#include <fmt/format.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <unordered_map>

#include "core/atomic_file.h"

namespace hodos::processors {

namespace {

using nlohmann::json;

constexpr std::string_view kListKey = "actions";
// Words of the routes (/api/v1/actions/types, /api/v1/actions/preview).
const std::vector<std::string_view> kReserved = {"types", "preview"};

pipeline::ComponentId action_id(const std::string& name) { return {"action", name}; }

std::shared_ptr<spdlog::logger> quiet_logger() {
  return std::make_shared<spdlog::logger>("action-check",
                                          std::make_shared<spdlog::sinks::null_sink_mt>());
}

// Creates the action's processor in front of `next`; a config it refuses is a RuleError on
// "config...".
std::unique_ptr<pipeline::Processor> create_processor(const pipeline::Registry& registry,
                                                      const ProcessingRule& action,
                                                      const pipeline::CreateContext& ctx,
                                                      pipeline::TracesConsumer& next) {
  const pipeline::ProcessorFactory* factory = registry.processor(action.type);
  if (factory == nullptr) {
    throw RuleError("type", fmt::format("this hodos has no {} processor", action.type));
  }
  try {
    pipeline::ConfigNode node(json_to_yaml(action.config), "config");
    std::unique_ptr<pipeline::Processor> p = factory->create(ctx, node, next);
    node.reject_unknown_keys();
    return p;
  } catch (const pipeline::ConfigError& e) {
    throw config_field_error(e, "config", "config");
  }
}

// Counts the spans passing between two processors of the chain: those that left the one before
// and those that enter the one after.
class CountingStage final : public pipeline::TracesConsumer {
 public:
  CountingStage(std::atomic<uint64_t>* out_of_previous, std::atomic<uint64_t>* in_of_next,
                pipeline::TracesConsumer& next)
      : out_of_previous_(out_of_previous), in_of_next_(in_of_next), next_(next) {}

  pipeline::Status consume(core::SpanBatch batch) override {
    const uint64_t n = batch.size();
    if (out_of_previous_ != nullptr) out_of_previous_->fetch_add(n, std::memory_order_relaxed);
    if (in_of_next_ != nullptr) in_of_next_->fetch_add(n, std::memory_order_relaxed);
    return next_.consume(std::move(batch));
  }
  bool mutates_data() const override { return next_.mutates_data(); }

 private:
  std::atomic<uint64_t>* out_of_previous_;
  std::atomic<uint64_t>* in_of_next_;
  pipeline::TracesConsumer& next_;
};

// Keeps every batch a preview's processor sends on.
class CollectingSink final : public pipeline::TracesConsumer {
 public:
  pipeline::Status consume(core::SpanBatch batch) override {
    batches.push_back(std::move(batch));
    return pipeline::Status::ok();
  }
  std::vector<core::SpanBatch> batches;
};

std::string id_key(const core::Span& s) {
  std::string key(reinterpret_cast<const char*>(s.trace_id.bytes.data()), s.trace_id.bytes.size());
  key.append(reinterpret_cast<const char*>(s.span_id.bytes.data()), s.span_id.bytes.size());
  return key;
}

json value_json(const core::AnyValue& v) {
  switch (v.type) {
    case core::ValueType::kString:
      return std::string(v.str);
    case core::ValueType::kBool:
      return v.bool_value;
    case core::ValueType::kInt:
      return v.int_value;
    case core::ValueType::kDouble:
      return v.double_value;
    case core::ValueType::kEmpty:
      return nullptr;
    default:
      return v.to_string();
  }
}

// {"name", "attributes"}: the span's attributes, and its resource's as "resource.<key>".
json span_view(const core::Span& s) {
  json attrs = json::object();
  for (const core::KeyValue& kv : s.attributes) attrs[std::string(kv.key)] = value_json(kv.value);
  for (const core::KeyValue& kv : s.resource->attributes) {
    attrs["resource." + std::string(kv.key)] = value_json(kv.value);
  }
  return json{{"name", std::string(s.name)}, {"attributes", std::move(attrs)}};
}

bool looks_masked(const json& v) {
  return v.is_string() && v.get_ref<const std::string&>().find("****") != std::string::npos;
}

// "name: renamed", "attributes.k: masked|changed|removed|added", "resource.k: ...".
std::vector<std::string> changes_between(const json& before, const json& after) {
  std::vector<std::string> out;
  if (before["name"] != after["name"]) out.push_back("name: renamed");
  auto label = [](const std::string& key) {
    return key.starts_with("resource.") ? key : "attributes." + key;
  };
  const json& b = before["attributes"];
  const json& a = after["attributes"];
  for (const auto& [key, value] : b.items()) {
    auto it = a.find(key);
    if (it == a.end()) {
      out.push_back(label(key) + ": removed");
    } else if (*it != value) {
      out.push_back(label(key) +
                    (looks_masked(*it) && !looks_masked(value) ? ": masked" : ": changed"));
    }
  }
  for (const auto& [key, value] : a.items()) {
    if (!b.contains(key)) out.push_back(label(key) + ": added");
  }
  return out;
}

std::string service_of(const core::Span& s) {
  const core::AnyValue* v = core::find_attribute(s.resource->attributes, "service.name");
  return v != nullptr && v->type == core::ValueType::kString ? std::string(v->str) : "";
}

}  // namespace

const std::vector<RuleType>& action_types() {
  static const std::vector<RuleType> kTypes = {
      {"redaction", "Redact attributes",
       "Masks values that look sensitive (card numbers, emails, tokens, your own patterns) and "
       "removes keys that are not allowed; the Collector's redaction processor. Note: without "
       "allow_all_keys: true, every key not in allowed_keys is removed.",
       json{{"allow_all_keys", true},
            {"blocked_key_patterns", json::array({"(?i)password", "(?i)^authorization$"})},
            {"builtin_patterns", json::array({"email", "credit_card", "bearer_token"})}}},
      {"filter", "Drop spans",
       "Drops spans (or span events) matching any OTTL condition, e.g. health checks; the "
       "Collector's filter processor.",
       json{{"error_mode", "ignore"},
            {"traces",
             {{"span", json::array({"attributes[\"url.path\"] == \"/health\"",
                                    "attributes[\"url.path\"] == \"/ready\""})}}}}},
      {"span_template", "Template URLs and rename spans",
       "Groups spans under your route templates (/users/{id}), renames by regex and collapses "
       "placeholder lists in queries.",
       json{{"rules", json::array({json{{"url_templates", json::array({"/users/{id}"})}}})}}},
      {"attributes", "Edit span attributes",
       "Inserts, updates, deletes, hashes, extracts or converts span attributes, optionally only "
       "on matching spans; the Collector's attributes processor.",
       json{{"actions",
             json::array({json{{"key", "enduser.id"}, {"action", "hash"}},
                          json{{"key", "team"}, {"value", "payments"}, {"action", "insert"}}})}}},
      {"resource", "Edit resource attributes",
       "The same actions on resource attributes (service.name, deployment.environment.name, ...); "
       "the Collector's resource processor.",
       json{{"attributes", json::array({json{{"key", "deployment.environment.name"},
                                             {"value", "production"},
                                             {"action", "upsert"}}})}}},
  };
  return kTypes;
}

struct RuntimeActions::Counters {
  std::atomic<uint64_t> in{0};
  std::atomic<uint64_t> out{0};
};

// The processors of the enabled actions, in order, with a counting stage before each and one
// after the last. Built whole and swapped in; it goes when the last batch using it is through.
struct RuntimeActions::Chain {
  std::vector<std::shared_ptr<Counters>> counters;
  std::vector<std::unique_ptr<CountingStage>> stages;
  // Declared after the stages they send to, so destroyed before them.
  std::vector<std::unique_ptr<pipeline::Processor>> processors;
  pipeline::TracesConsumer* entry = nullptr;
  bool mutates = false;

  ~Chain() {
    for (auto& p : processors) p->shutdown(std::chrono::steady_clock::now());
  }
};

RuntimeActions::RuntimeActions(const pipeline::Registry& registry, std::string path)
    : registry_(registry), path_(std::move(path)) {
  const std::string text = read_rules_file(path_);
  if (text.empty()) return;
  try {
    actions_ = decode_rules(text, kListKey, action_types(), "action");
    for (size_t i = 0; i < actions_.size(); ++i) {
      try {
        validate_rule_name(actions_[i].name, "action", kReserved);
        check(actions_[i]);
      } catch (const RuleError& e) {
        throw nest_rule_error(e, fmt::format("actions[{}] ({})", i, actions_[i].name));
      }
    }
  } catch (const RuleError& e) {
    throw RuleError(path_, std::string(e.what()) + "; fix it or remove the file");
  }
  ::chmod(path_.c_str(), 0600);
}

RuntimeActions::~RuntimeActions() = default;

void RuntimeActions::attach(pipeline::TracesConsumer& next, pipeline::Metrics& metrics) {
  std::lock_guard lock(mu_);
  if (next_ != nullptr) {
    throw pipeline::ConfigError("processors.actions",
                                "hodos up's actions run in one pipeline only; remove the second");
  }
  next_ = &next;
  metrics_ = &metrics;
}

void RuntimeActions::start() {
  std::lock_guard lock(mu_);
  if (running_ || next_ == nullptr) return;
  running_ = true;
  install(build_chain(actions_));
}

void RuntimeActions::shutdown() {
  std::lock_guard lock(mu_);
  running_ = false;
  install(nullptr);
}

pipeline::Status RuntimeActions::consume(core::SpanBatch batch) {
  if (active_.load(std::memory_order_acquire)) {
    // A batch goes through one chain whole: the one current when it arrived.
    std::shared_ptr<const Chain> chain = chain_.load(std::memory_order_acquire);
    if (chain) return chain->entry->consume(std::move(batch));
  }
  return next_->consume(std::move(batch));
}

bool RuntimeActions::mutates_data() const {
  if (!active_.load(std::memory_order_acquire)) return false;
  std::shared_ptr<const Chain> chain = chain_.load(std::memory_order_acquire);
  return chain && chain->mutates;
}

void RuntimeActions::check(const ProcessingRule& action) const {
  pipeline::Metrics scratch;
  CollectingSink sink;
  (void)create_processor(registry_, action, {action_id(action.name), scratch, quiet_logger()},
                         sink);
}

std::shared_ptr<const RuntimeActions::Chain> RuntimeActions::build_chain(
    const std::vector<ProcessingRule>& actions) {
  std::vector<const ProcessingRule*> enabled;
  for (const ProcessingRule& a : actions) {
    if (a.enabled) enabled.push_back(&a);
  }
  if (!running_ || enabled.empty()) return nullptr;
  auto chain = std::make_shared<Chain>();
  for (const ProcessingRule* a : enabled) {
    std::shared_ptr<Counters>& c = counters_[a->name];
    if (!c) c = std::make_shared<Counters>();
    chain->counters.push_back(c);
  }
  const size_t n = enabled.size();
  chain->stages.resize(n + 1);
  chain->processors.resize(n);
  chain->stages[n] = std::make_unique<CountingStage>(&chain->counters[n - 1]->out, nullptr, *next_);
  for (size_t i = n; i-- > 0;) {
    const pipeline::CreateContext ctx{action_id(enabled[i]->name), *metrics_,
                                      spdlog::default_logger()};
    chain->processors[i] = create_processor(registry_, *enabled[i], ctx, *chain->stages[i + 1]);
    chain->mutates = chain->mutates || chain->processors[i]->mutates_data();
    chain->stages[i] =
        std::make_unique<CountingStage>(i > 0 ? &chain->counters[i - 1]->out : nullptr,
                                        &chain->counters[i]->in, *chain->processors[i]);
  }
  chain->entry = chain->stages[0].get();
  for (auto& p : chain->processors) {
    if (pipeline::Status st = p->start(); !st.is_ok()) {
      throw RuleError("config", "the processor did not start: " + st.message());
    }
  }
  return chain;
}

void RuntimeActions::install(std::shared_ptr<const Chain> chain) {
  // The old chain goes when the batches already in it are through (their shared_ptr copies).
  const bool active = chain != nullptr;
  chain_.store(std::move(chain), std::memory_order_release);
  active_.store(active, std::memory_order_release);
}

void RuntimeActions::update(std::vector<ProcessingRule> next) {
  std::shared_ptr<const Chain> chain = build_chain(next);  // may throw: nothing changed yet
  save(next);
  actions_ = std::move(next);
  install(std::move(chain));
}

void RuntimeActions::save(const std::vector<ProcessingRule>& actions) {
  if (!path_.empty()) core::write_private_file_atomically(path_, encode_rules(kListKey, actions));
}

ActionState RuntimeActions::state_of(const ProcessingRule& action) const {
  ActionState s{action, {}};
  auto it = counters_.find(action.name);
  if (it != counters_.end()) {
    s.counts.spans_in = it->second->in.load(std::memory_order_relaxed);
    s.counts.spans_out = it->second->out.load(std::memory_order_relaxed);
    // A batch being processed right now is counted in before it is counted out.
    s.counts.spans_dropped =
        s.counts.spans_in > s.counts.spans_out ? s.counts.spans_in - s.counts.spans_out : 0;
  }
  return s;
}

size_t RuntimeActions::index_of(const std::string& name) const {
  for (size_t i = 0; i < actions_.size(); ++i) {
    if (actions_[i].name == name) return i;
  }
  throw RuleError(RuleError::Kind::kNotFound, "", fmt::format("no action named '{}'", name));
}

std::vector<ActionState> RuntimeActions::list() const {
  std::lock_guard lock(mu_);
  std::vector<ActionState> out;
  for (const ProcessingRule& a : actions_) out.push_back(state_of(a));
  return out;
}

ActionState RuntimeActions::add(const ProcessingRule& action) {
  validate_rule_name(action.name, "action", kReserved);
  check(action);
  std::lock_guard lock(mu_);
  for (const ProcessingRule& a : actions_) {
    if (a.name == action.name) {
      throw RuleError(
          RuleError::Kind::kConflict, "name",
          fmt::format("an action named '{}' exists; edit it, or choose another name", action.name));
    }
  }
  counters_.erase(action.name);  // a new action starts from zero
  std::vector<ProcessingRule> next = actions_;
  next.push_back(action);
  update(std::move(next));
  return state_of(action);
}

ActionState RuntimeActions::replace(const std::string& name, const ProcessingRule& action) {
  ProcessingRule updated = action;
  if (updated.name.empty()) updated.name = name;
  validate_rule_name(updated.name, "action", kReserved);
  check(updated);
  std::lock_guard lock(mu_);
  const size_t i = index_of(name);
  if (updated.name != name) {
    for (const ProcessingRule& a : actions_) {
      if (a.name == updated.name) {
        throw RuleError(RuleError::Kind::kConflict, "name",
                        fmt::format("an action named '{}' exists", updated.name));
      }
    }
  }
  std::vector<ProcessingRule> next = actions_;
  next[i] = updated;
  update(std::move(next));
  if (updated.name != name) counters_.erase(name);
  return state_of(updated);
}

void RuntimeActions::remove(const std::string& name) {
  std::lock_guard lock(mu_);
  const size_t i = index_of(name);
  std::vector<ProcessingRule> next = actions_;
  next.erase(next.begin() + static_cast<std::ptrdiff_t>(i));
  update(std::move(next));
  counters_.erase(name);
}

ActionState RuntimeActions::set_enabled(const std::string& name, bool enabled) {
  std::lock_guard lock(mu_);
  const size_t i = index_of(name);
  std::vector<ProcessingRule> next = actions_;
  next[i].enabled = enabled;
  update(std::move(next));
  return state_of(actions_[i]);
}

ActionPreview RuntimeActions::preview(const ProcessingRule& action, const core::SpanBatch& spans,
                                      size_t max_examples) const {
  ProcessingRule a = action;
  if (a.name.empty()) a.name = "preview";
  pipeline::Metrics scratch;
  CollectingSink sink;
  std::unique_ptr<pipeline::Processor> processor =
      create_processor(registry_, a, {action_id(a.name), scratch, quiet_logger()}, sink);
  ActionPreview result;
  result.examined = spans.size();
  if (pipeline::Status st = processor->start(); st.is_ok()) {
    (void)processor->consume(spans.deep_copy());  // a refused batch: every span dropped
  }
  processor->shutdown(std::chrono::steady_clock::now());

  std::unordered_map<std::string, const core::Span*> after;
  for (const core::SpanBatch& b : sink.batches) {
    for (const core::Span& s : b.spans()) after.emplace(id_key(s), &s);
  }
  for (const core::Span& s : spans.spans()) {
    auto it = after.find(id_key(s));
    json example;
    if (it == after.end()) {
      ++result.dropped;
      example = {{"before", span_view(s)}, {"after", nullptr}, {"changes", {"dropped"}}};
    } else {
      json before = span_view(s);
      json now = span_view(*it->second);
      std::vector<std::string> changes = changes_between(before, now);
      if (changes.empty()) continue;
      ++result.changed;
      example = {{"before", std::move(before)}, {"after", std::move(now)}, {"changes", changes}};
    }
    if (result.examples.size() >= max_examples) continue;
    example["trace_id"] = s.trace_id.hex();
    example["span_id"] = s.span_id.hex();
    example["service"] = service_of(s);
    result.examples.push_back(std::move(example));
  }
  return result;
}

// ---- the pipeline component -------------------------------------------------------------------

namespace {

class ActionsProcessor final : public pipeline::Processor {
 public:
  explicit ActionsProcessor(std::shared_ptr<RuntimeActions> actions)
      : actions_(std::move(actions)) {}
  pipeline::Status start() override {
    actions_->start();
    return pipeline::Status::ok();
  }
  void shutdown(pipeline::Deadline /*deadline*/) override { actions_->shutdown(); }
  pipeline::Status consume(core::SpanBatch batch) override {
    return actions_->consume(std::move(batch));
  }
  bool mutates_data() const override { return actions_->mutates_data(); }

 private:
  std::shared_ptr<RuntimeActions> actions_;
};

class ActionsProcessorFactory final : public pipeline::ProcessorFactory {
 public:
  explicit ActionsProcessorFactory(std::shared_ptr<RuntimeActions> actions)
      : actions_(std::move(actions)) {}
  std::string_view type() const override { return "actions"; }
  std::unique_ptr<pipeline::Processor> create(const pipeline::CreateContext& ctx,
                                              pipeline::ConfigNode& config,
                                              pipeline::TracesConsumer& next) const override {
    config.reject_unknown_keys();  // everything is in actions.json
    actions_->attach(next, ctx.metrics);
    return std::make_unique<ActionsProcessor>(actions_);
  }

 private:
  std::shared_ptr<RuntimeActions> actions_;
};

}  // namespace

std::unique_ptr<pipeline::ProcessorFactory> make_actions_processor_factory(
    std::shared_ptr<RuntimeActions> actions) {
  return std::make_unique<ActionsProcessorFactory>(std::move(actions));
}

}  // namespace hodos::processors
