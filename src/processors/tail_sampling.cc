#include "processors/tail_sampling.h"

#include <fmt/format.h>
#include <re2/re2.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/span_batch.h"
#include "pipeline/metrics.h"

namespace hodos::processors {
namespace {

using Clock = TailSamplingControl::Clock;
using pipeline::ConfigNode;
using pipeline::Status;

// A trace's first spans rarely need more; the arena doubles from there. The 16 KiB default of a
// SpanBatch arena would cost 800 MB at the default num_traces before a single span is held.
constexpr size_t kTraceArenaBytes = 1024;

// What one policy answers for a trace. The Invert* answers come from invert_match and are
// combined as the Collector does it (see combine()).
enum class Decision { kSampled, kNotSampled, kInvertSampled, kInvertNotSampled };

// A pending trace as the policies see it.
struct TraceView {
  const core::TraceId& id;
  const std::vector<core::Span>& spans;
  const std::vector<const core::Resource*>& resources;
  Clock::time_point now;
};

class Policy {
 public:
  virtual ~Policy() = default;
  // Called under the processor's lock, so stateful policies (rate_limiting) need no lock.
  virtual Decision evaluate(const TraceView& trace) = 0;
};

Decision sampled_if(bool yes) { return yes ? Decision::kSampled : Decision::kNotSampled; }

class AlwaysSample : public Policy {
 public:
  Decision evaluate(const TraceView&) override { return Decision::kSampled; }
};

// Trace duration = latest end - earliest start, in whole milliseconds (truncated, as Go's
// Duration.Milliseconds()).
class Latency : public Policy {
 public:
  Latency(int64_t threshold_ms, int64_t upper_ms)
      : threshold_ms_(threshold_ms), upper_ms_(upper_ms) {}
  Decision evaluate(const TraceView& trace) override {
    uint64_t min_start = UINT64_MAX, max_end = 0;
    for (const core::Span& s : trace.spans) {
      min_start = std::min(min_start, s.start_time_unix_nano);
      max_end = std::max(max_end, s.end_time_unix_nano);
    }
    if (max_end < min_start) return Decision::kNotSampled;
    const auto ms = static_cast<int64_t>((max_end - min_start) / 1'000'000);
    if (upper_ms_ == 0) return sampled_if(ms >= threshold_ms_);
    return sampled_if(threshold_ms_ < ms && ms <= upper_ms_);
  }

 private:
  int64_t threshold_ms_, upper_ms_;
};

class StatusCodePolicy : public Policy {
 public:
  explicit StatusCodePolicy(std::array<bool, 3> wanted) : wanted_(wanted) {}
  Decision evaluate(const TraceView& trace) override {
    for (const core::Span& s : trace.spans) {
      if (wanted_[static_cast<size_t>(s.status.code)]) return Decision::kSampled;
    }
    return Decision::kNotSampled;
  }

 private:
  std::array<bool, 3> wanted_;  // indexed by StatusCode
};

// Shared shape of string_attribute and numeric_attribute: the key is looked up on every resource
// and every span of the trace; invert_match turns "some value matches" into InvertNotSampled.
class AttributePolicy : public Policy {
 public:
  AttributePolicy(std::string key, bool invert) : key_(std::move(key)), invert_(invert) {}
  Decision evaluate(const TraceView& trace) override {
    bool found = false;
    for (const core::Resource* r : trace.resources) found = found || matches(r->attributes);
    for (size_t i = 0; !found && i < trace.spans.size(); ++i) {
      found = matches(trace.spans[i].attributes);
    }
    if (invert_) return found ? Decision::kInvertNotSampled : Decision::kInvertSampled;
    return sampled_if(found);
  }

 private:
  bool matches(const core::AttrList& attrs) const {
    const core::AnyValue* v = core::find_attribute(attrs, key_);
    return v != nullptr && value_matches(*v);
  }
  virtual bool value_matches(const core::AnyValue& v) const = 0;

  std::string key_;
  bool invert_;
};

class StringAttribute : public AttributePolicy {
 public:
  StringAttribute(std::string key, bool invert, std::vector<std::string> values,
                  std::vector<std::unique_ptr<re2::RE2>> patterns)
      : AttributePolicy(std::move(key), invert),
        values_(values.begin(), values.end()),
        patterns_(std::move(patterns)) {}

 private:
  bool value_matches(const core::AnyValue& v) const override {
    if (v.type != core::ValueType::kString) return false;
    if (patterns_.empty()) return values_.contains(v.str);
    for (const auto& re : patterns_) {
      // Unanchored, as Go's regexp.MatchString.
      if (re2::RE2::PartialMatch(re2::StringPiece(v.str.data(), v.str.size()), *re)) return true;
    }
    return false;
  }

  std::set<std::string, std::less<>> values_;
  std::vector<std::unique_ptr<re2::RE2>> patterns_;
};

// Only integer values are compared, as in the Collector.
class NumericAttribute : public AttributePolicy {
 public:
  NumericAttribute(std::string key, bool invert, std::optional<int64_t> min,
                   std::optional<int64_t> max)
      : AttributePolicy(std::move(key), invert), min_(min), max_(max) {}

 private:
  bool value_matches(const core::AnyValue& v) const override {
    if (v.type != core::ValueType::kInt) return false;
    return (!min_ || v.int_value >= *min_) && (!max_ || v.int_value <= *max_);
  }

  std::optional<int64_t> min_, max_;
};

// FNV-1a 64 over the salt then the 16 trace id bytes, sampled when at or below
// percentage/100 * 2^64-1: the Collector's hash, so both keep the same traces for one salt.
class Probabilistic : public Policy {
 public:
  Probabilistic(std::string salt, double percentage)
      : salt_(std::move(salt)),
        threshold_(percentage >= 100
                       ? UINT64_MAX
                       : static_cast<uint64_t>(static_cast<long double>(percentage) / 100.0L *
                                               static_cast<long double>(UINT64_MAX))) {}
  Decision evaluate(const TraceView& trace) override {
    uint64_t h = 14695981039346656037ULL;
    auto mix = [&h](uint8_t byte) {
      h ^= byte;
      h *= 1099511628211ULL;
    };
    for (char c : salt_) mix(static_cast<uint8_t>(c));
    for (uint8_t b : trace.id.bytes) mix(b);
    return sampled_if(h <= threshold_);
  }

 private:
  std::string salt_;
  uint64_t threshold_;
};

// Admits whole traces while the spans admitted in the current second of the clock stay within
// spans_per_second.
class RateLimiting : public Policy {
 public:
  explicit RateLimiting(int64_t spans_per_second)
      : spans_per_second_(static_cast<uint64_t>(spans_per_second)) {}
  Decision evaluate(const TraceView& trace) override {
    const int64_t second =
        std::chrono::duration_cast<std::chrono::seconds>(trace.now.time_since_epoch()).count();
    if (second != current_second_) {
      current_second_ = second;
      spans_this_second_ = 0;
    }
    if (spans_this_second_ + trace.spans.size() > spans_per_second_) return Decision::kNotSampled;
    spans_this_second_ += trace.spans.size();
    return Decision::kSampled;
  }

 private:
  uint64_t spans_per_second_;
  int64_t current_second_ = INT64_MIN;
  uint64_t spans_this_second_ = 0;
};

// Sampled only when no sub-policy says not sampled (inverted or not); stops at the first no, so
// a rate_limiting sub-policy placed last only spends its budget on traces the others accept.
class AndPolicy : public Policy {
 public:
  explicit AndPolicy(std::vector<std::unique_ptr<Policy>> subs) : subs_(std::move(subs)) {}
  Decision evaluate(const TraceView& trace) override {
    for (const auto& p : subs_) {
      const Decision d = p->evaluate(trace);
      if (d == Decision::kNotSampled || d == Decision::kInvertNotSampled) {
        return Decision::kNotSampled;
      }
    }
    return Decision::kSampled;
  }

 private:
  std::vector<std::unique_ptr<Policy>> subs_;
};

// ---------------------------------------------------------------------------------------------
// Config

constexpr std::string_view kSupportedTypes =
    "always_sample, latency, status_code, string_attribute, numeric_attribute, probabilistic, "
    "rate_limiting, and";

bool is_collector_only_type(std::string_view type) {
  for (std::string_view t :
       {"composite", "drop", "not", "span_count", "trace_state", "boolean_attribute",
        "ottl_condition", "bytes_limiting", "trace_flags"}) {
    if (t == type) return true;
  }
  return false;
}

std::unique_ptr<Policy> parse_policy(ConfigNode& item, bool nested);

std::unique_ptr<Policy> parse_policy_settings(ConfigNode& item, const std::string& type,
                                              bool nested) {
  if (type == "always_sample") return std::make_unique<AlwaysSample>();
  if (type == "latency") {
    ConfigNode c = item.child("latency");
    if (!c.has("threshold_ms")) c.fail("threshold_ms", "required (e.g. threshold_ms: 500)");
    const int64_t threshold = c.get_int("threshold_ms", 0, 0);
    const int64_t upper = c.get_int("upper_threshold_ms", 0, 0);
    c.reject_unknown_keys();
    if (upper != 0 && upper <= threshold) {
      c.fail("upper_threshold_ms",
             fmt::format("{} must be more than threshold_ms ({}), or 0 for no upper bound", upper,
                         threshold));
    }
    return std::make_unique<Latency>(threshold, upper);
  }
  if (type == "status_code") {
    ConfigNode c = item.child("status_code");
    std::array<bool, 3> wanted{};
    const std::vector<std::string> codes = c.get_string_list("status_codes");
    c.reject_unknown_keys();
    if (codes.empty()) c.fail("status_codes", "list at least one of ERROR, OK, UNSET");
    for (const std::string& code : codes) {
      if (code == "UNSET") {
        wanted[static_cast<size_t>(core::StatusCode::kUnset)] = true;
      } else if (code == "OK") {
        wanted[static_cast<size_t>(core::StatusCode::kOk)] = true;
      } else if (code == "ERROR") {
        wanted[static_cast<size_t>(core::StatusCode::kError)] = true;
      } else {
        c.fail("status_codes",
               fmt::format("unknown status code '{}'; use ERROR, OK or UNSET", code));
      }
    }
    return std::make_unique<StatusCodePolicy>(wanted);
  }
  if (type == "string_attribute") {
    ConfigNode c = item.child("string_attribute");
    std::string key = c.require_string("key");
    std::vector<std::string> values = c.get_string_list("values");
    const bool regex = c.get_bool("enabled_regex_matching", false);
    c.get_int("cache_max_size", 0, 0);  // the Collector's regex result cache; nothing to size
    const bool invert = c.get_bool("invert_match", false);
    c.reject_unknown_keys();
    if (key.empty()) c.fail("key", "must not be empty");
    if (values.empty()) c.fail("values", "list at least one value to match");
    std::vector<std::unique_ptr<re2::RE2>> patterns;
    if (regex) {
      re2::RE2::Options options;
      options.set_log_errors(false);
      for (const std::string& v : values) {
        auto re = std::make_unique<re2::RE2>(v, options);
        if (!re->ok()) {
          c.fail("values", fmt::format("invalid regular expression '{}': {}", v, re->error()));
        }
        patterns.push_back(std::move(re));
      }
    }
    return std::make_unique<StringAttribute>(std::move(key), invert, std::move(values),
                                             std::move(patterns));
  }
  if (type == "numeric_attribute") {
    ConfigNode c = item.child("numeric_attribute");
    std::string key = c.require_string("key");
    std::optional<int64_t> min, max;
    if (c.has("min_value")) min = c.get_int("min_value", 0);
    if (c.has("max_value")) max = c.get_int("max_value", 0);
    const bool invert = c.get_bool("invert_match", false);
    c.reject_unknown_keys();
    if (key.empty()) c.fail("key", "must not be empty");
    if (!min && !max) c.fail("min_value", "set min_value, max_value or both");
    if (min && max && *min > *max) {
      c.fail("max_value", fmt::format("{} is less than min_value ({})", *max, *min));
    }
    return std::make_unique<NumericAttribute>(std::move(key), invert, min, max);
  }
  if (type == "probabilistic") {
    ConfigNode c = item.child("probabilistic");
    if (!c.has("sampling_percentage")) {
      c.fail("sampling_percentage", "required (0 to 100, e.g. sampling_percentage: 10)");
    }
    const double percentage = c.get_double("sampling_percentage", 0);
    std::string salt = c.get_string("hash_salt", "");
    c.reject_unknown_keys();
    if (!(percentage >= 0 && percentage <= 100)) {
      c.fail("sampling_percentage", fmt::format("{} is not between 0 and 100", percentage));
    }
    return std::make_unique<Probabilistic>(salt.empty() ? "default-hash-seed" : salt, percentage);
  }
  if (type == "rate_limiting") {
    ConfigNode c = item.child("rate_limiting");
    if (!c.has("spans_per_second")) c.fail("spans_per_second", "required (e.g. 1000)");
    const int64_t rate = c.get_int("spans_per_second", 0, 1);
    c.reject_unknown_keys();
    return std::make_unique<RateLimiting>(rate);
  }
  if (type == "and") {
    if (nested) item.fail("type", "an and policy cannot hold another and policy");
    ConfigNode c = item.child("and");
    std::vector<ConfigNode> items = c.child_list("and_sub_policy");
    c.reject_unknown_keys();
    if (items.empty()) c.fail("and_sub_policy", "list at least one sub-policy");
    std::vector<std::unique_ptr<Policy>> subs;
    for (ConfigNode& sub : items) subs.push_back(parse_policy(sub, /*nested=*/true));
    return std::make_unique<AndPolicy>(std::move(subs));
  }
  if (is_collector_only_type(type)) {
    item.fail("type", fmt::format("policy type '{}' is not supported by hodos; supported types "
                                  "are: {}",
                                  type, kSupportedTypes));
  }
  item.fail("type", fmt::format("unknown policy type '{}'; supported types are: {}", type,
                                kSupportedTypes));
}

std::unique_ptr<Policy> parse_policy(ConfigNode& item, bool nested) {
  if (!item.yaml().IsMap()) {
    throw pipeline::ConfigError(item.path(), "expected a mapping {name, type, <type>: {...}}");
  }
  item.require_string("name");
  const std::string type = item.require_string("type");
  std::unique_ptr<Policy> policy = parse_policy_settings(item, type, nested);
  item.reject_unknown_keys();  // e.g. a `latency:` block under `type: status_code`
  return policy;
}

struct Options {
  std::chrono::milliseconds decision_wait{30'000};
  size_t num_traces = 50'000;
  size_t expected_new_traces_per_sec = 0;
  size_t sampled_cache_size = 0;
  size_t non_sampled_cache_size = 0;
  std::vector<std::unique_ptr<Policy>> policies;
};

Options parse_options(ConfigNode& config) {
  Options o;
  o.decision_wait = config.get_duration("decision_wait", o.decision_wait);
  o.num_traces = static_cast<size_t>(
      config.get_int("num_traces", static_cast<int64_t>(o.num_traces), 1, 100'000'000));
  o.expected_new_traces_per_sec =
      static_cast<size_t>(config.get_int("expected_new_traces_per_sec", 0, 0, 100'000'000));
  ConfigNode cache = config.child("decision_cache");
  o.sampled_cache_size = static_cast<size_t>(
      cache.get_int("sampled_cache_size", static_cast<int64_t>(o.num_traces), 0, 100'000'000));
  o.non_sampled_cache_size = static_cast<size_t>(
      cache.get_int("non_sampled_cache_size", static_cast<int64_t>(o.num_traces), 0, 100'000'000));
  cache.reject_unknown_keys();
  std::vector<ConfigNode> items = config.child_list("policies");
  config.reject_unknown_keys();
  if (o.decision_wait.count() <= 0) {
    config.fail("decision_wait",
                "must be more than 0 (e.g. 10s): spans of a trace need time "
                "to arrive");
  }
  if (items.empty()) {
    config.fail("policies",
                "list at least one policy, e.g. [{name: errors, type: status_code, "
                "status_code: {status_codes: [ERROR]}}]");
  }
  std::set<std::string> names;
  for (ConfigNode& item : items) {
    o.policies.push_back(parse_policy(item, /*nested=*/false));
    const std::string name = item.yaml()["name"].Scalar();
    if (!names.insert(name).second) {
      item.fail("name", fmt::format("duplicate policy name '{}'", name));
    }
  }
  return o;
}

// ---------------------------------------------------------------------------------------------
// Processor

// The spans of one pending trace, copied out of the batches they came in so that holding them
// does not hold those whole batches.
struct PendingTrace {
  PendingTrace(const core::TraceId& trace_id, Clock::time_point arrived)
      : id(trace_id), first_arrival(arrived), arena(kTraceArenaBytes) {}

  core::TraceId id;
  Clock::time_point first_arrival;
  core::Arena arena;
  std::vector<core::Span> spans;
  // Distinct copies: a trace spans a few services, each with its resource and scopes.
  std::vector<const core::Resource*> resources;
  std::vector<const core::Scope*> scopes;
  // Within one consume() the spans of a trace mostly share one source resource and scope.
  uint64_t memo_epoch = 0;
  const core::Resource* memo_resource_src = nullptr;
  const core::Resource* memo_resource = nullptr;
  const core::Scope* memo_scope_src = nullptr;
  const core::Scope* memo_scope = nullptr;
  size_t bytes = 0;

  size_t measure() const {
    return sizeof(PendingTrace) + arena.bytes_allocated() + spans.capacity() * sizeof(core::Span) +
           (resources.capacity() + scopes.capacity()) * sizeof(void*);
  }
};

bool same_attributes(const core::AttrList& a, const core::AttrList& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}

bool same_resource(const core::Resource& a, const core::Resource& b) {
  return a.schema_url == b.schema_url && a.dropped_attributes_count == b.dropped_attributes_count &&
         same_attributes(a.attributes, b.attributes);
}

bool same_scope(const core::Scope& a, const core::Scope& b) {
  return a.name == b.name && a.version == b.version && a.schema_url == b.schema_url &&
         a.dropped_attributes_count == b.dropped_attributes_count &&
         same_attributes(a.attributes, b.attributes);
}

const core::Resource* copy_resource(core::Arena& arena, const core::Resource& src) {
  core::Resource* r = arena.make<core::Resource>();
  r->attributes = core::copy_attributes(arena, src.attributes);
  r->dropped_attributes_count = src.dropped_attributes_count;
  r->schema_url = arena.copy(src.schema_url);
  return r;
}

const core::Scope* copy_scope(core::Arena& arena, const core::Scope& src) {
  core::Scope* s = arena.make<core::Scope>();
  s->name = arena.copy(src.name);
  s->version = arena.copy(src.version);
  s->attributes = core::copy_attributes(arena, src.attributes);
  s->dropped_attributes_count = src.dropped_attributes_count;
  s->schema_url = arena.copy(src.schema_url);
  return s;
}

// Remembers the last `capacity` trace ids given a decision, oldest forgotten first.
class DecisionCache {
 public:
  explicit DecisionCache(size_t capacity) : capacity_(capacity) {}
  bool contains(const core::TraceId& id) const { return ids_.contains(id); }
  void insert(const core::TraceId& id) {
    if (capacity_ == 0 || !ids_.insert(id).second) return;
    order_.push_back(id);
    if (order_.size() > capacity_) {
      ids_.erase(order_.front());
      order_.pop_front();
    }
  }

 private:
  size_t capacity_;
  std::unordered_set<core::TraceId> ids_;
  std::deque<core::TraceId> order_;
};

class TailSamplingProcessor : public pipeline::Processor, public TailSamplingControl {
 public:
  TailSamplingProcessor(const pipeline::CreateContext& ctx, Options options,
                        pipeline::TracesConsumer& next)
      : next_(next),
        id_(ctx.id.str()),
        logger_(ctx.logger ? ctx.logger : spdlog::default_logger()),
        metrics_(ctx.metrics),
        options_(std::move(options)),
        sampled_cache_(options_.sampled_cache_size),
        not_sampled_cache_(options_.non_sampled_cache_size),
        tick_interval_(std::clamp<Clock::duration>(
            options_.decision_wait / 10, std::chrono::milliseconds(10), std::chrono::seconds(1))),
        sampled_(metrics_.counter(kPrefix + "traces_total", "Traces given a sampling decision.",
                                  {{"processor", id_}, {"decision", "sampled"}})),
        not_sampled_(metrics_.counter(kPrefix + "traces_total", "Traces given a sampling decision.",
                                      {{"processor", id_}, {"decision", "not_sampled"}})),
        spans_dropped_(
            counter("spans_dropped", "Spans dropped because their trace was not sampled.")),
        evicted_(counter("traces_evicted",
                         "Traces decided before decision_wait because num_traces were held.")),
        late_spans_(counter("late_spans",
                            "Spans that arrived after their trace was decided; they follow "
                            "the decision.")),
        send_failed_(counter("send_failed_spans",
                             "Sampled spans the next consumer refused after tail_sampling had "
                             "held them.")) {
    const size_t expected =
        options_.expected_new_traces_per_sec *
        static_cast<size_t>(std::max<int64_t>(
            1, std::chrono::duration_cast<std::chrono::seconds>(options_.decision_wait).count()));
    pending_.reserve(std::min(expected, options_.num_traces));
    metrics_.gauge_fn(kPrefix + "held_traces", "Traces waiting for a decision.",
                      {{"processor", id_}}, [this] { return static_cast<double>(held_traces()); });
    metrics_.gauge_fn(kPrefix + "held_bytes", "Bytes of span data waiting for a decision.",
                      {{"processor", id_}}, [this] { return static_cast<double>(held_bytes()); });
  }

  ~TailSamplingProcessor() override {
    stop_timer();
    metrics_.remove_gauge_fns({{"processor", id_}});
  }

  Status start() override {
    timer_ = std::thread([this] { run_timer(); });
    return Status::ok();
  }

  void shutdown(pipeline::Deadline /*deadline*/) override {
    stop_timer();
    core::SpanBatch out;
    {
      std::lock_guard lock(mu_);
      stopped_ = true;
      const Clock::time_point now = now_();
      while (!order_.empty()) decide_oldest(now, out);
    }
    send(std::move(out));
  }

  Status consume(core::SpanBatch batch) override {
    if (batch.empty()) return Status::ok();
    core::SpanBatch evicted;
    size_t passing = 0;
    {
      std::lock_guard lock(mu_);
      // Nothing would decide held spans after shutdown; let them through.
      passing = stopped_ ? batch.size() : sort_spans(batch, evicted);
    }
    send(std::move(evicted));
    if (passing == 0) return Status::ok();
    return next_.consume(std::move(batch));
  }

  // TailSamplingControl
  void set_clock(std::function<Clock::time_point()> now) override {
    std::lock_guard lock(mu_);
    now_ = std::move(now);
  }
  void tick() override {
    core::SpanBatch out;
    {
      std::lock_guard lock(mu_);
      decide_due(out);
    }
    send(std::move(out));
  }
  size_t held_traces() const override {
    std::lock_guard lock(mu_);
    return pending_.size();
  }
  size_t held_bytes() const override {
    std::lock_guard lock(mu_);
    return held_bytes_;
  }

 private:
  enum class Fate : uint8_t { kPass, kHold, kDrop };

  inline static const std::string kPrefix = "hodos_processor_tail_sampling_";

  pipeline::Counter& counter(const std::string& name, const std::string& help) {
    return metrics_.counter(kPrefix + name + "_total", help, {{"processor", id_}});
  }

  // Holds spans of pending traces, passes late spans of sampled ones and drops late spans of
  // dropped ones; leaves only the passing spans in `batch` and returns how many there are.
  // Traces decided early to make room go to `evicted`.
  size_t sort_spans(core::SpanBatch& batch, core::SpanBatch& evicted) {
    const Clock::time_point now = now_();
    ++epoch_;
    std::vector<core::Span>& spans = batch.spans();
    fates_.assign(spans.size(), Fate::kHold);
    PendingTrace* last = nullptr;  // spans of one trace tend to come together
    size_t passing = 0, dropped = 0, late = 0;
    for (size_t i = 0; i < spans.size(); ++i) {
      const core::Span& s = spans[i];
      if (last == nullptr || last->id != s.trace_id) {
        auto it = pending_.find(s.trace_id);
        if (it != pending_.end()) {
          last = it->second.get();
        } else if (sampled_cache_.contains(s.trace_id)) {
          fates_[i] = Fate::kPass;
          ++passing;
          ++late;
          continue;
        } else if (not_sampled_cache_.contains(s.trace_id)) {
          fates_[i] = Fate::kDrop;
          ++dropped;
          ++late;
          continue;
        } else {
          last = add_trace(s.trace_id, now, evicted);
        }
      }
      hold(*last, s);
    }
    spans_dropped_.add(dropped);
    late_spans_.add(late);
    if (passing > 0 && passing < spans.size()) {
      size_t out = 0;
      for (size_t i = 0; i < spans.size(); ++i) {
        if (fates_[i] == Fate::kPass) spans[out++] = spans[i];
      }
      spans.resize(out);
    }
    return passing;
  }

  PendingTrace* add_trace(const core::TraceId& id, Clock::time_point now,
                          core::SpanBatch& evicted) {
    if (pending_.size() >= options_.num_traces) {
      evicted_.add();
      decide_oldest(now, evicted);
    }
    auto trace = std::make_unique<PendingTrace>(id, now);
    PendingTrace* p = trace.get();
    pending_.emplace(id, std::move(trace));
    order_.push_back(id);
    p->bytes = p->measure();
    held_bytes_ += p->bytes;
    return p;
  }

  void hold(PendingTrace& t, const core::Span& s) {
    if (t.memo_epoch != epoch_) {
      t.memo_epoch = epoch_;
      t.memo_resource_src = nullptr;
      t.memo_scope_src = nullptr;
    }
    if (s.resource != t.memo_resource_src) {
      t.memo_resource_src = s.resource;
      t.memo_resource = find_or_copy(t, s.resource);
    }
    if (s.scope != t.memo_scope_src) {
      t.memo_scope_src = s.scope;
      t.memo_scope = find_or_copy(t, s.scope);
    }
    t.spans.push_back(core::copy_span(t.arena, s, t.memo_resource, t.memo_scope));
    const size_t bytes = t.measure();
    held_bytes_ += bytes - t.bytes;
    t.bytes = bytes;
  }

  static const core::Resource* find_or_copy(PendingTrace& t, const core::Resource* src) {
    if (src == core::empty_resource()) return src;
    for (const core::Resource* r : t.resources) {
      if (same_resource(*r, *src)) return r;
    }
    t.resources.push_back(copy_resource(t.arena, *src));
    return t.resources.back();
  }

  static const core::Scope* find_or_copy(PendingTrace& t, const core::Scope* src) {
    if (src == core::empty_scope()) return src;
    for (const core::Scope* s : t.scopes) {
      if (same_scope(*s, *src)) return s;
    }
    t.scopes.push_back(copy_scope(t.arena, *src));
    return t.scopes.back();
  }

  void decide_due(core::SpanBatch& out) {
    const Clock::time_point now = now_();
    while (!order_.empty()) {
      const PendingTrace& oldest = *pending_.at(order_.front());
      if (oldest.first_arrival + options_.decision_wait > now) break;
      decide_oldest(now, out);
    }
  }

  // Decides the trace that arrived first; a sampled one's spans are copied into `out`.
  void decide_oldest(Clock::time_point now, core::SpanBatch& out) {
    auto it = pending_.find(order_.front());
    order_.pop_front();
    std::unique_ptr<PendingTrace> trace = std::move(it->second);
    pending_.erase(it);
    held_bytes_ -= trace->bytes;

    const TraceView view{trace->id, trace->spans, trace->resources, now};
    bool any[4] = {};
    for (const auto& policy : options_.policies) {
      any[static_cast<size_t>(policy->evaluate(view))] = true;
    }
    if (!combine(any)) {
      not_sampled_.add();
      spans_dropped_.add(trace->spans.size());
      not_sampled_cache_.insert(trace->id);
      return;
    }
    sampled_.add();
    sampled_cache_.insert(trace->id);
    append_copy(*trace, out);
  }

  // The Collector's rule: an inverted "not sampled" vetoes; otherwise any "sampled" wins, and an
  // inverted "sampled" wins when no plain policy said "not sampled".
  static bool combine(const bool any[4]) {
    auto said = [&](Decision d) { return any[static_cast<size_t>(d)]; };
    if (said(Decision::kInvertNotSampled)) return false;
    if (said(Decision::kSampled)) return true;
    return said(Decision::kInvertSampled) && !said(Decision::kNotSampled);
  }

  // The trace's arena is freed with it, so sampled spans move into the outgoing batch's arena.
  static void append_copy(const PendingTrace& t, core::SpanBatch& out) {
    core::Arena& arena = out.arena();
    std::vector<std::pair<const void*, const void*>> moved;  // held copy -> outgoing copy
    moved.reserve(t.resources.size() + t.scopes.size());
    auto lookup = [&moved](const void* held) -> const void* {
      for (const auto& [from, to] : moved) {
        if (from == held) return to;
      }
      return nullptr;
    };
    out.spans().reserve(out.spans().size() + t.spans.size());
    for (const core::Span& s : t.spans) {
      auto* r = static_cast<const core::Resource*>(lookup(s.resource));
      if (r == nullptr) {
        r = s.resource == core::empty_resource() ? s.resource : copy_resource(arena, *s.resource);
        moved.emplace_back(s.resource, r);
      }
      auto* sc = static_cast<const core::Scope*>(lookup(s.scope));
      if (sc == nullptr) {
        sc = s.scope == core::empty_scope() ? s.scope : copy_scope(arena, *s.scope);
        moved.emplace_back(s.scope, sc);
      }
      out.spans().push_back(core::copy_span(arena, s, r, sc));
    }
  }

  void send(core::SpanBatch batch) {
    if (batch.empty()) return;
    const size_t n = batch.size();
    Status st = next_.consume(std::move(batch));
    if (st.is_ok()) return;
    send_failed_.add(n);
    logger_->warn("{}: next consumer refused {} sampled spans: {}", id_, n, st.message());
  }

  void run_timer() {
    std::unique_lock lock(mu_);
    while (!timer_stop_) {
      timer_cv_.wait_for(lock, tick_interval_);
      if (timer_stop_) break;
      core::SpanBatch out;
      decide_due(out);
      if (out.empty()) continue;
      lock.unlock();
      send(std::move(out));
      lock.lock();
    }
  }

  void stop_timer() {
    {
      std::lock_guard lock(mu_);
      timer_stop_ = true;
    }
    timer_cv_.notify_all();
    if (timer_.joinable()) timer_.join();
  }

  pipeline::TracesConsumer& next_;
  const std::string id_;
  std::shared_ptr<spdlog::logger> logger_;
  pipeline::Metrics& metrics_;
  Options options_;

  mutable std::mutex mu_;
  std::function<Clock::time_point()> now_ = [] { return Clock::now(); };
  std::unordered_map<core::TraceId, std::unique_ptr<PendingTrace>> pending_;
  std::deque<core::TraceId> order_;  // pending trace ids by first arrival
  DecisionCache sampled_cache_;
  DecisionCache not_sampled_cache_;
  size_t held_bytes_ = 0;
  uint64_t epoch_ = 0;       // counts consume() calls, for PendingTrace's memo
  std::vector<Fate> fates_;  // reused per batch

  const Clock::duration tick_interval_;
  pipeline::Counter& sampled_;
  pipeline::Counter& not_sampled_;
  pipeline::Counter& spans_dropped_;
  pipeline::Counter& evicted_;
  pipeline::Counter& late_spans_;
  pipeline::Counter& send_failed_;
  std::condition_variable timer_cv_;
  bool stopped_ = false;
  bool timer_stop_ = false;
  std::thread timer_;
};

class TailSamplingProcessorFactory : public pipeline::ProcessorFactory {
 public:
  std::string_view type() const override { return "tail_sampling"; }

  std::unique_ptr<pipeline::Processor> create(const pipeline::CreateContext& ctx,
                                              ConfigNode& config,
                                              pipeline::TracesConsumer& next) const override {
    return std::make_unique<TailSamplingProcessor>(ctx, parse_options(config), next);
  }
};

}  // namespace

std::unique_ptr<pipeline::ProcessorFactory> make_tail_sampling_processor_factory() {
  return std::make_unique<TailSamplingProcessorFactory>();
}

}  // namespace hodos::processors
