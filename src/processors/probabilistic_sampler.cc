#include "processors/probabilistic_sampler.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <optional>

#include "core/span_batch.h"
#include "pipeline/metrics.h"

namespace hodos::processors {

namespace probabilistic_sampling {

uint32_t fnv1a32(std::string_view data, uint32_t hash) {
  for (char c : data) {
    hash ^= static_cast<uint8_t>(c);
    hash *= 16777619u;
  }
  return hash;
}

uint32_t trace_id_hash(const core::TraceId& id, uint32_t seed) {
  const char seed_bytes[4] = {static_cast<char>(seed), static_cast<char>(seed >> 8),
                              static_cast<char>(seed >> 16), static_cast<char>(seed >> 24)};
  return fnv1a32(id.as_view(), fnv1a32({seed_bytes, 4}));
}

uint32_t kept_buckets(float percentage) {
  if (!(percentage > 0)) return 0;
  // The Collector multiplies two float32s (the constant 16384/100 rounded to float32) and
  // truncates; doing the same keeps our decisions bucket for bucket identical to its.
  const float scaled = std::min(percentage, 100.0f) * static_cast<float>(0x4000 / 100.0);
  return static_cast<uint32_t>(scaled);
}

namespace {

bool is_ows(char c) { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

// W3C tracestate key: simple-key or tenant@system, lower-case letters, digits, _ - * /.
bool valid_key(std::string_view key) {
  if (key.empty() || key.size() > 256) return false;
  const size_t at = key.find('@');
  auto valid_part = [](std::string_view part, bool first_must_be_alpha) {
    if (part.empty()) return false;
    if (first_must_be_alpha && !(part[0] >= 'a' && part[0] <= 'z')) return false;
    for (char c : part) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
                      c == '*' || c == '/';
      if (!ok) return false;
    }
    return true;
  };
  if (at == std::string_view::npos) return valid_part(key, true);
  const std::string_view tenant = key.substr(0, at), system = key.substr(at + 1);
  return tenant.size() <= 241 && system.size() <= 14 &&
         valid_part(tenant, !(tenant[0] >= '0' && tenant[0] <= '9')) && valid_part(system, true);
}

bool valid_value(std::string_view value) {
  if (value.empty() || value.size() > 256 || value.back() == ' ') return false;
  for (char c : value) {
    if (c < 0x20 || c > 0x7e || c == ',' || c == '=') return false;
  }
  return true;
}

// The OpenTelemetry entry: `k:v` pairs separated by `;`. False when malformed or when it holds
// a randomness (rv) or threshold (th) value.
bool ot_value_usable(std::string_view value) {
  while (!value.empty()) {
    const size_t semi = value.find(';');
    const std::string_view field = value.substr(0, semi);
    const size_t colon = field.find(':');
    if (colon == 0 || colon == std::string_view::npos) return false;
    const std::string_view key = field.substr(0, colon);
    if (key == "rv" || key == "th") return false;
    if (semi == std::string_view::npos) break;
    value.remove_prefix(semi + 1);
  }
  return true;
}

}  // namespace

bool trace_state_usable(std::string_view trace_state) {
  size_t members = 0;
  while (true) {
    const size_t comma = trace_state.find(',');
    const std::string_view member = trim(trace_state.substr(0, comma));
    if (!member.empty()) {
      if (++members > 32) return false;
      const size_t eq = member.find('=');
      if (eq == std::string_view::npos) return false;
      const std::string_view key = member.substr(0, eq), value = member.substr(eq + 1);
      if (!valid_key(key) || !valid_value(value)) return false;
      if (key == "ot" && !ot_value_usable(value)) return false;
    }
    if (comma == std::string_view::npos) return true;
    trace_state.remove_prefix(comma + 1);
  }
}

}  // namespace probabilistic_sampling

namespace {

using namespace probabilistic_sampling;
using core::AnyValue;
using core::ValueType;
using pipeline::ConfigNode;

enum class Priority { kDefer, kKeep, kDrop };

Priority priority_of(double v) {
  if (v == 0) return Priority::kDrop;
  return v > 0 ? Priority::kKeep : Priority::kDefer;
}

// The OpenTracing `sampling.priority` tag, read as the Collector reads it: ints, doubles and
// strings that parse as a number; anything else (or a negative value) leaves the hash to decide.
Priority sampling_priority(const core::Span& span) {
  const AnyValue* v = core::find_attribute(span.attributes, "sampling.priority");
  if (!v) return Priority::kDefer;
  switch (v->type) {
    case ValueType::kInt:
      return priority_of(static_cast<double>(v->int_value));
    case ValueType::kDouble:
      return priority_of(v->double_value);
    case ValueType::kString: {
      std::string_view s = v->str;
      if (!s.empty() && s.front() == '+') s.remove_prefix(1);
      double d = 0;
      auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
      if (s.empty() || ec != std::errc() || end != s.data() + s.size()) return Priority::kDefer;
      return priority_of(d);
    }
    default:
      return Priority::kDefer;
  }
}

class ProbabilisticSamplerProcessor : public pipeline::Processor {
 public:
  ProbabilisticSamplerProcessor(const pipeline::CreateContext& ctx, uint32_t seed, uint32_t buckets,
                                bool fail_closed, pipeline::TracesConsumer& next)
      : next_(next),
        seed_(seed),
        buckets_(buckets),
        fail_closed_(fail_closed),
        sampled_(counter(ctx, "sampled")),
        not_sampled_(counter(ctx, "not_sampled")) {}

  pipeline::Status consume(core::SpanBatch batch) override {
    if (batch.empty()) return next_.consume(std::move(batch));
    std::vector<core::Span>& spans = batch.spans();
    const size_t before = spans.size();
    // Spans of one trace are usually adjacent: hash each trace id once per run.
    core::TraceId last_id;
    bool have_last = false, last_keep = false;
    auto kept_by_hash = [&](const core::Span& s) {
      if (!have_last || last_id != s.trace_id) {
        last_id = s.trace_id;
        have_last = true;
        last_keep = keeps(trace_id_hash(s.trace_id, seed_), buckets_);
      }
      return last_keep;
    };
    auto decide = [&](const core::Span& s) {
      const Priority priority = sampling_priority(s);
      if (priority != Priority::kDefer) return priority == Priority::kKeep;
      // A tracestate that another consistent sampler has marked is an error in this mode.
      if (!s.trace_state.empty() && !trace_state_usable(s.trace_state)) return !fail_closed_;
      return kept_by_hash(s);
    };
    const size_t out = static_cast<size_t>(
        std::stable_partition(spans.begin(), spans.end(), decide) - spans.begin());
    spans.resize(out);
    sampled_.add(out);
    not_sampled_.add(before - out);
    // As in the Collector, nothing is sent on when nothing was kept.
    if (spans.empty()) return pipeline::Status::ok();
    return next_.consume(std::move(batch));
  }

 private:
  static pipeline::Counter& counter(const pipeline::CreateContext& ctx, const char* decision) {
    return ctx.metrics.counter("hodos_processor_probabilistic_sampler_spans_total",
                               "Spans the probabilistic sampler kept (sampled) or dropped.",
                               {{"processor", ctx.id.str()}, {"decision", decision}});
  }

  pipeline::TracesConsumer& next_;
  const uint32_t seed_;
  const uint32_t buckets_;
  const bool fail_closed_;
  pipeline::Counter& sampled_;
  pipeline::Counter& not_sampled_;
};

class ProbabilisticSamplerFactory : public pipeline::ProcessorFactory {
 public:
  std::string_view type() const override { return "probabilistic_sampler"; }

  std::unique_ptr<pipeline::Processor> create(const pipeline::CreateContext& ctx,
                                              ConfigNode& config,
                                              pipeline::TracesConsumer& next) const override {
    for (std::string_view logs_only : {"attribute_source", "from_attribute", "sampling_priority"}) {
      if (config.has(logs_only)) {
        config.fail(logs_only, "applies to logs only; Hodos pipelines carry traces; remove it");
      }
    }
    if (!config.has("sampling_percentage")) {
      config.fail("sampling_percentage",
                  "required: the percentage of traces to keep, 0 to 100 (e.g. 10)");
    }
    const double percentage = config.get_double("sampling_percentage", 0);
    const int64_t seed = config.get_int("hash_seed", 0, 0, UINT32_MAX);
    const std::string mode = config.get_string("mode", "hash_seed");
    const bool fail_closed = config.get_bool("fail_closed", true);
    config.get_int("sampling_precision", 4, 1, 14);
    config.reject_unknown_keys();

    if (mode == "proportional" || mode == "equalizing") {
      config.fail("mode", fmt::format("'{}' is not supported by Hodos yet; use mode: hash_seed "
                                      "(the same seed on every agent keeps the same traces)",
                                      mode));
    }
    if (mode != "hash_seed") {
      config.fail("mode", fmt::format("unknown mode '{}'; use hash_seed", mode));
    }
    if (!std::isfinite(percentage) || percentage < 0 || percentage > 100) {
      config.fail("sampling_percentage",
                  fmt::format("{} is out of range; use a percentage from 0 to 100", percentage));
    }
    const uint32_t buckets = kept_buckets(static_cast<float>(percentage));
    if (percentage > 0 && buckets == 0) {
      // The Collector silently samples nothing here; a typo like 0.001 deserves a message.
      config.fail("sampling_percentage",
                  fmt::format("{} rounds to 0 with hash_seed's 14-bit precision; use 0 to drop "
                              "everything or at least 0.0062",
                              percentage));
    }
    return std::make_unique<ProbabilisticSamplerProcessor>(ctx, static_cast<uint32_t>(seed),
                                                           buckets, fail_closed, next);
  }
};

}  // namespace

std::unique_ptr<pipeline::ProcessorFactory> make_probabilistic_sampler_processor_factory() {
  return std::make_unique<ProbabilisticSamplerFactory>();
}

}  // namespace hodos::processors
