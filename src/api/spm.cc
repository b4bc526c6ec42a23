#include "api/spm.h"

#include <fmt/format.h>

#include <ctime>

namespace hodos::api {

namespace {

using nlohmann::json;

// The rate window in whole minutes (the aggregates' resolution), at least one.
uint64_t window_ns(const MetricsParams& p) {
  const uint64_t minute = store::kNanosPerMinute;
  return std::max<uint64_t>(1, (p.rate_per_ns + minute - 1) / minute) * minute;
}

size_t point_count(const MetricsParams& p) {
  return static_cast<size_t>(std::max<uint64_t>(1, (p.lookback_ns + p.step_ns - 1) / p.step_ns));
}

}  // namespace

std::string rfc3339(uint64_t unix_ns) {
  const std::time_t secs = static_cast<std::time_t>(unix_ns / store::kNanosPerSecond);
  const uint64_t nanos = unix_ns % store::kNanosPerSecond;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  std::string out = fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", tm.tm_year + 1900,
                                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  if (nanos == 0) {
  } else if (nanos % 1'000'000 == 0) {
    out += fmt::format(".{:03}", nanos / 1'000'000);
  } else if (nanos % 1'000 == 0) {
    out += fmt::format(".{:06}", nanos / 1'000);
  } else {
    out += fmt::format(".{:09}", nanos);
  }
  out.push_back('Z');
  return out;
}

std::vector<SpmPoint> spm_points(const store::MetricsSeries& minutes, const MetricsParams& params,
                                 SpmMetric metric) {
  const uint64_t window = window_ns(params);
  const size_t n = point_count(params);
  std::vector<SpmPoint> out;
  out.reserve(n);
  size_t first = 0;  // first minute point not yet left behind by the sliding window
  for (size_t k = 0; k < n; ++k) {
    const uint64_t back = (n - 1 - k) * params.step_ns;
    if (back > params.end_ns) continue;
    const uint64_t t = params.end_ns - back;
    const uint64_t from = t > window ? t - window : 0;
    while (first < minutes.points.size() && minutes.points[first].time_ns <= from) ++first;
    store::Aggregate sum;
    for (size_t i = first; i < minutes.points.size() && minutes.points[i].time_ns <= t; ++i) {
      sum.merge(minutes.points[i].value);
    }
    SpmPoint p{t, 0};
    switch (metric) {
      case SpmMetric::kCalls:
        p.value = static_cast<double>(sum.calls) /
                  (static_cast<double>(window) / static_cast<double>(store::kNanosPerSecond));
        break;
      case SpmMetric::kErrors:
        if (sum.calls == 0) continue;  // NaN in Prometheus: no point
        p.value = static_cast<double>(sum.errors) / static_cast<double>(sum.calls);
        break;
      case SpmMetric::kLatencies:
        if (sum.calls == 0) continue;
        p.value = sum.latency.quantile_ns(params.quantile) / 1e6;  // milliseconds, as Jaeger's
        break;
    }
    out.push_back(p);
  }
  return out;
}

json spm_metric_family(const store::TraceStore& store, const MetricsParams& params,
                       SpmMetric metric) {
  const std::string grouping =
      params.group_by_operation ? "grouped by service & operation" : "grouped by service";
  const std::string prefix = params.group_by_operation ? "service_operation_" : "service_";
  json family;
  switch (metric) {
    case SpmMetric::kCalls:
      family["name"] = prefix + "call_rate";
      family["help"] = "calls/sec, " + grouping;
      break;
    case SpmMetric::kErrors:
      family["name"] = prefix + "error_rate";
      family["help"] = "error rate, computed as a fraction of errors/sec over calls/sec, " + grouping;
      break;
    case SpmMetric::kLatencies:
      family["name"] = prefix + "latencies";
      family["help"] = fmt::format("{:.2f}th quantile latency, {}", params.quantile, grouping);
      break;
  }
  family["type"] = "GAUGE";

  json metrics = json::array();
  for (const std::string& service : params.services) {
    store::MetricsQuery q;
    q.service = service;
    q.span_kinds = params.span_kinds;
    q.group_by_operation = params.group_by_operation;
    q.end_ns = params.end_ns;
    // The first point's window reaches this far back.
    q.lookback_ns = (point_count(params) - 1) * params.step_ns + window_ns(params);
    q.step_ns = store::kNanosPerMinute;
    for (const store::MetricsSeries& series : store.metrics(q)) {
      uint64_t calls = 0;
      for (const store::MetricsPoint& p : series.points) calls += p.value.calls;
      if (calls == 0) continue;
      json labels = json::array({json{{"name", "service_name"}, {"value", service}}});
      if (params.group_by_operation) {
        labels.push_back(json{{"name", "operation"}, {"value", series.operation}});
      }
      json points = json::array();
      for (const SpmPoint& p : spm_points(series, params, metric)) {
        points.push_back(json{{"gaugeValue", json{{"doubleValue", p.value}}},
                              {"timestamp", rfc3339(p.time_ns)}});
      }
      metrics.push_back(json{{"labels", std::move(labels)}, {"metricPoints", std::move(points)}});
    }
  }
  family["metrics"] = std::move(metrics);
  return family;
}

}  // namespace hodos::api
