#include "connectors/spanmetrics.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <unordered_map>

#include "core/clock.h"

namespace hodos::connectors {

namespace {

using pipeline::ConfigError;
using pipeline::ConfigNode;
using pipeline::Status;

// The Collector's default buckets (in ms), so dashboards built for it line up.
const std::vector<double> kDefaultBucketsMs = {2,   4,   6,    8,    10,   50,   100,  200,
                                               400, 800, 1000, 1400, 2000, 5000, 10000, 15000};

// A bucket bound written as a Go duration ("100us", "1.5ms", "2s", "1m"), in milliseconds;
// finer than the config's other durations, which are whole milliseconds.
std::optional<double> parse_bound_ms(std::string_view text) {
  static const std::pair<std::string_view, double> kUnits[] = {
      {"ns", 1e-6}, {"us", 1e-3}, {"\xc2\xb5s", 1e-3}, {"ms", 1}, {"s", 1e3}, {"m", 60e3}, {"h", 3600e3}};
  for (const auto& [unit, ms] : kUnits) {
    if (!text.ends_with(unit)) continue;
    const std::string number(text.substr(0, text.size() - unit.size()));
    if (number.empty() || number.find_first_not_of("0123456789.") != std::string::npos) {
      return std::nullopt;
    }
    try {
      size_t used = 0;
      const double v = std::stod(number, &used);
      if (used != number.size() || v <= 0) return std::nullopt;
      return v * ms;
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }
  return std::nullopt;
}

// Dimensions every series has, named as the Collector names them.
const char* const kServiceName = "service.name";
const char* const kSpanName = "span.name";
const char* const kSpanKind = "span.kind";
const char* const kStatusCode = "status.code";

struct Dimension {
  std::string name;
  std::optional<std::string> fallback;  // `default:`; without one a missing value omits the label
};

struct Settings {
  std::vector<double> bounds;  // in `unit`
  std::string unit = "ms";
  bool histogram_enabled = true;
  std::vector<std::string> builtin;  // the four above minus exclude_dimensions
  std::vector<Dimension> dimensions;
  std::string metric_namespace = "traces.span.metrics";
  std::chrono::milliseconds flush_interval{15'000};
  std::chrono::milliseconds expiration{0};  // zero: series never expire
  size_t cardinality_limit = 10'000;
};

Settings read_settings(ConfigNode& config) {
  Settings s;
  ConfigNode histogram = config.child("histogram");
  s.histogram_enabled = !histogram.get_bool("disable", false);
  s.unit = histogram.get_string("unit", "ms");
  if (s.unit != "ms" && s.unit != "s") histogram.fail("unit", "use ms or s");
  bool has_exponential = false;
  histogram.child("exponential", &has_exponential);
  if (has_exponential) {
    histogram.fail("exponential", "not supported; use explicit buckets (Prometheus reads those)");
  }
  ConfigNode explicit_cfg = histogram.child("explicit");
  std::vector<double> buckets = kDefaultBucketsMs;
  if (explicit_cfg.has("buckets")) {
    buckets.clear();
    for (const auto& text : explicit_cfg.get_string_list("buckets")) {
      auto d = parse_bound_ms(text);
      if (!d) {
        explicit_cfg.fail("buckets", fmt::format("'{}' is not a duration like 100us, 5ms or 1s", text));
      }
      buckets.push_back(*d);
    }
    if (buckets.empty()) explicit_cfg.fail("buckets", "list at least one bucket, e.g. [10ms, 100ms, 1s]");
    if (!std::is_sorted(buckets.begin(), buckets.end()) ||
        std::adjacent_find(buckets.begin(), buckets.end()) != buckets.end()) {
      explicit_cfg.fail("buckets", "list the bounds in increasing order, each once");
    }
  }
  explicit_cfg.reject_unknown_keys();
  histogram.reject_unknown_keys();
  for (double b : buckets) s.bounds.push_back(s.unit == "ms" ? b : b / 1000.0);

  std::set<std::string> exclude;
  for (auto& name : config.get_string_list("exclude_dimensions")) exclude.insert(name);
  for (const char* name : {kServiceName, kSpanName, kSpanKind, kStatusCode}) {
    if (!exclude.count(name)) s.builtin.push_back(name);
  }
  std::set<std::string> seen(s.builtin.begin(), s.builtin.end());
  auto dims = config.child_list("dimensions");
  for (auto& d : dims) {
    Dimension dim;
    dim.name = d.require_string("name");
    if (d.has("default")) dim.fallback = d.get_string("default", "");
    d.reject_unknown_keys();
    if (!seen.insert(dim.name).second) {
      d.fail("name", fmt::format("'{}' is already a dimension", dim.name));
    }
    s.dimensions.push_back(std::move(dim));
  }
  s.metric_namespace = config.get_string("namespace", s.metric_namespace);
  s.flush_interval = config.get_duration("metrics_flush_interval", s.flush_interval);
  if (s.flush_interval.count() <= 0) config.fail("metrics_flush_interval", "must be positive, e.g. 15s");
  s.expiration = config.get_duration("metrics_expiration", s.expiration);
  s.cardinality_limit = static_cast<size_t>(
      config.get_int("aggregation_cardinality_limit", static_cast<int64_t>(s.cardinality_limit), 0));
  if (s.cardinality_limit == 0) s.cardinality_limit = SIZE_MAX;
  std::string temporality =
      config.get_string("aggregation_temporality", "AGGREGATION_TEMPORALITY_CUMULATIVE");
  if (temporality != "AGGREGATION_TEMPORALITY_CUMULATIVE") {
    config.fail("aggregation_temporality",
                "only AGGREGATION_TEMPORALITY_CUMULATIVE is supported (what Prometheus reads)");
  }
  ConfigNode exemplars = config.child("exemplars");
  if (exemplars.get_bool("enabled", false)) {
    exemplars.fail("enabled", "exemplars are not supported yet; set it to false");
  }
  exemplars.reject_unknown_keys();
  // The Collector's cache of dimension sets; Hodos keeps every set up to the cardinality limit.
  config.get_int("dimensions_cache_size", 1000, 1);
  return s;
}

std::string_view kind_label(core::SpanKind kind) {
  switch (kind) {
    case core::SpanKind::kInternal: return "SPAN_KIND_INTERNAL";
    case core::SpanKind::kServer: return "SPAN_KIND_SERVER";
    case core::SpanKind::kClient: return "SPAN_KIND_CLIENT";
    case core::SpanKind::kProducer: return "SPAN_KIND_PRODUCER";
    case core::SpanKind::kConsumer: return "SPAN_KIND_CONSUMER";
    case core::SpanKind::kUnspecified: break;
  }
  return "SPAN_KIND_UNSPECIFIED";
}

std::string_view status_label(core::StatusCode code) {
  switch (code) {
    case core::StatusCode::kOk: return "STATUS_CODE_OK";
    case core::StatusCode::kError: return "STATUS_CODE_ERROR";
    case core::StatusCode::kUnset: break;
  }
  return "STATUS_CODE_UNSET";
}

class SpanMetricsConnector : public pipeline::Connector {
 public:
  SpanMetricsConnector(const pipeline::CreateContext& ctx, Settings settings,
                       pipeline::MetricsConsumer& next)
      : s_(std::move(settings)),
        next_(next),
        logger_(ctx.logger),
        id_(ctx.id.str()),
        spans_(ctx.metrics.counter("hodos_connector_spans_total",
                                   "Spans a connector turned into metrics.", {{"connector", id_}})),
        overflow_(ctx.metrics.counter(
            "hodos_spanmetrics_overflow_spans_total",
            "Spans counted in the otel.metric.overflow series because the cardinality limit was "
            "reached.",
            {{"connector", id_}})) {
    ctx.metrics.gauge_fn("hodos_spanmetrics_series", "Series a spanmetrics connector keeps.",
                         {{"connector", id_}}, [this] {
                           std::lock_guard lock(mu_);
                           return static_cast<double>(series_.size());
                         });
    metrics_ = &ctx.metrics;
  }

  ~SpanMetricsConnector() override {
    stop_thread();
    metrics_->remove_gauge_fns({{"connector", id_}});
  }

  Status start() override {
    flusher_ = std::thread([this] { flush_loop(); });
    return Status::ok();
  }

  // The last flush, so nothing counted since the previous one is lost at a clean stop.
  void shutdown(pipeline::Deadline) override {
    if (stop_thread()) flush();
  }

  Status consume(core::SpanBatch batch) override {
    std::lock_guard lock(mu_);
    // Read under the lock, so that no series is ever stamped later than a snapshot's clock.
    const uint64_t now = core::now_unix_nano();
    std::string& key = key_;  // reused: no allocation per span once it has grown
    for (const core::Span& span : batch.spans()) {
      key.clear();
      key_of(span, key);
      auto it = series_.find(key);
      if (it == series_.end()) {
        if (series_.size() >= s_.cardinality_limit) {
          overflow_.add();
          if (!overflow_logged_) {
            overflow_logged_ = true;
            logger_->warn("connectors.{}: {} series reached aggregation_cardinality_limit; new "
                          "label sets count in the otel.metric.overflow=\"true\" series",
                          id_, series_.size());
          }
          key.assign("otel.metric.overflow\0true\0", 26);
          it = series_.find(key);
        }
        if (it == series_.end()) {
          Series fresh;
          fresh.attributes = attributes_of(key);
          fresh.start_ns = now;
          fresh.bucket_counts.assign(s_.bounds.size() + 1, 0);
          it = series_.emplace(key, std::move(fresh)).first;
        }
      }
      Series& series = it->second;
      series.calls++;
      series.last_seen_ns = now;
      const double d = static_cast<double>(span.duration_ns()) / (s_.unit == "ms" ? 1e6 : 1e9);
      series.sum += d;
      const size_t bucket = std::lower_bound(s_.bounds.begin(), s_.bounds.end(), d) - s_.bounds.begin();
      series.bucket_counts[bucket]++;
    }
    spans_.add(batch.size());
    return Status::ok();
  }

 private:
  struct Series {
    core::MetricAttributes attributes;
    uint64_t start_ns = 0;
    uint64_t last_seen_ns = 0;
    uint64_t calls = 0;
    double sum = 0;
    std::vector<uint64_t> bucket_counts;
  };

  // NUL separates the key's fields: a value's own NULs become spaces (nothing real has them).
  static void append_text(std::string& out, std::string_view text) {
    if (text.find('\0') == std::string_view::npos) {
      out.append(text);
      return;
    }
    for (char c : text) out.push_back(c == '\0' ? ' ' : c);
  }

  // Appends the span's value of a dimension to `out` (its own attribute, else its resource's);
  // false when it has none. Strings are appended as they are, without a copy of their own.
  static bool append_value(const core::Span& span, std::string_view name, std::string& out) {
    const core::AnyValue* v = core::find_attribute(span.attributes, name);
    if (v == nullptr) v = core::find_attribute(span.resource->attributes, name);
    if (v == nullptr) return false;
    if (v->type == core::ValueType::kString) {
      append_text(out, v->str);
    } else {
      append_text(out, v->to_string());
    }
    return true;
  }

  // The span's label set as `name\0value\0` pairs, in a fixed order: the series' key.
  void key_of(const core::Span& span, std::string& key) const {
    auto pair = [&key](std::string_view name, std::string_view value) {
      key.append(name).push_back('\0');
      append_text(key, value);
      key.push_back('\0');
    };
    for (const std::string& name : s_.builtin) {
      if (name == kServiceName) {
        key.append(name).push_back('\0');
        if (!append_value(span, kServiceName, key)) key.append("unknown_service");
        key.push_back('\0');
      } else if (name == kSpanName) {
        pair(name, span.name);
      } else if (name == kSpanKind) {
        pair(name, kind_label(span.kind));
      } else {
        pair(name, status_label(span.status.code));
      }
    }
    for (const Dimension& dim : s_.dimensions) {
      const size_t at = key.size();
      key.append(dim.name).push_back('\0');
      if (append_value(span, dim.name, key)) {
        key.push_back('\0');
      } else if (dim.fallback) {
        append_text(key, *dim.fallback);
        key.push_back('\0');
      } else {
        key.resize(at);  // no value, no default: no such label
      }
    }
  }

  // The attributes a key holds (only for a new series).
  static core::MetricAttributes attributes_of(std::string_view key) {
    core::MetricAttributes out;
    while (!key.empty()) {
      const size_t a = key.find('\0');
      const size_t b = a == std::string_view::npos ? a : key.find('\0', a + 1);
      if (b == std::string_view::npos) break;  // not a key key_of() made
      out.emplace_back(std::string(key.substr(0, a)), std::string(key.substr(a + 1, b - a - 1)));
      key.remove_prefix(b + 1);
    }
    return out;
  }

  std::string metric_name(std::string_view base) const {
    return s_.metric_namespace.empty() ? std::string(base)
                                       : fmt::format("{}.{}", s_.metric_namespace, base);
  }

  core::MetricBatch snapshot() {
    core::MetricBatch batch;
    core::Metric calls;
    calls.name = metric_name("calls");
    calls.description = "Spans counted, by service, span name, kind and status.";
    calls.type = core::MetricType::kSum;
    core::Metric duration;
    duration.name = metric_name("duration");
    duration.unit = s_.unit;
    duration.description = "Span durations, by service, span name, kind and status.";
    duration.type = core::MetricType::kHistogram;
    duration.bounds = s_.bounds;
    std::lock_guard lock(mu_);
    const uint64_t now = core::now_unix_nano();
    const uint64_t expire_ns = static_cast<uint64_t>(s_.expiration.count()) * 1'000'000;
    for (auto it = series_.begin(); it != series_.end();) {
      const Series& series = it->second;
      // Never `now - last_seen`: a wall clock stepped back would wrap it and expire everything.
      if (expire_ns && series.last_seen_ns + expire_ns < now) {
        it = series_.erase(it);
        continue;
      }
      core::MetricPoint point;
      point.attributes = series.attributes;
      point.start_time_unix_nano = series.start_ns;
      point.time_unix_nano = now;
      point.value = static_cast<double>(series.calls);
      calls.points.push_back(point);
      if (s_.histogram_enabled) {
        point.value = 0;
        point.bucket_counts = series.bucket_counts;
        point.count = series.calls;
        point.sum = series.sum;
        duration.points.push_back(std::move(point));
      }
      ++it;
    }
    batch.metrics.push_back(std::move(calls));
    if (s_.histogram_enabled) batch.metrics.push_back(std::move(duration));
    return batch;
  }

  void flush() {
    core::MetricBatch batch = snapshot();
    if (batch.point_count() == 0) return;
    Status st = next_.consume_metrics(batch);
    if (!st.is_ok()) logger_->warn("connectors.{}: {}", id_, st.message());
  }

  void flush_loop() {
    std::unique_lock lock(stop_mu_);
    while (!stopping_) {
      if (stop_cv_.wait_for(lock, s_.flush_interval, [this] { return stopping_; })) break;
      lock.unlock();
      flush();
      lock.lock();
    }
  }

  // True when the thread was running (and is now stopped).
  bool stop_thread() {
    {
      std::lock_guard lock(stop_mu_);
      stopping_ = true;
    }
    stop_cv_.notify_all();
    if (!flusher_.joinable()) return false;
    flusher_.join();
    return true;
  }

  Settings s_;
  pipeline::MetricsConsumer& next_;
  std::shared_ptr<spdlog::logger> logger_;
  std::string id_;
  pipeline::Metrics* metrics_ = nullptr;
  pipeline::Counter& spans_;
  pipeline::Counter& overflow_;

  std::mutex mu_;
  std::unordered_map<std::string, Series> series_;
  std::string key_;  // consume()'s scratch, under mu_
  bool overflow_logged_ = false;

  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::thread flusher_;
};

class SpanMetricsFactory : public pipeline::ConnectorFactory {
 public:
  std::string_view type() const override { return "spanmetrics"; }
  std::unique_ptr<pipeline::Connector> create(const pipeline::CreateContext& ctx, ConfigNode& config,
                                              pipeline::MetricsConsumer& next) const override {
    Settings settings = read_settings(config);
    config.reject_unknown_keys();
    return std::make_unique<SpanMetricsConnector>(ctx, std::move(settings), next);
  }
};

}  // namespace

std::unique_ptr<pipeline::ConnectorFactory> make_spanmetrics_connector_factory() {
  return std::make_unique<SpanMetricsFactory>();
}

}  // namespace hodos::connectors
