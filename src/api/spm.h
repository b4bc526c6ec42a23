// Jaeger's service performance monitoring (SPM) responses computed from the store's per-minute
// aggregates: call rates, error rates and latency quantiles as Jaeger's MetricFamily JSON
// {name, type: GAUGE, help, metrics[{labels[{name, value}], metricPoints[{gaugeValue, timestamp}]}]}.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "api/params.h"
#include "store/trace_store.h"

namespace hodos::api {

enum class SpmMetric { kCalls, kErrors, kLatencies };

// One output point per `step` ending at `end`, each over the `ratePer` window before it (rounded up
// to whole minutes), as Prometheus' rate(...[ratePer]) would give: calls/s, errors/calls (a
// fraction), or the quantile of durations in milliseconds. Error and latency points of windows
// without calls are left out (Prometheus gives NaN there); series without any call are dropped.
nlohmann::json spm_metric_family(const store::TraceStore& store, const MetricsParams& params,
                                 SpmMetric metric);

// Windows the store's per-minute series into the points described above. Exposed for tests.
struct SpmPoint {
  uint64_t time_ns = 0;
  double value = 0;
};
std::vector<SpmPoint> spm_points(const store::MetricsSeries& minutes, const MetricsParams& params,
                                 SpmMetric metric);

// Protobuf JSON's Timestamp form: RFC 3339 in UTC, with 0, 3, 6 or 9 fractional digits.
std::string rfc3339(uint64_t unix_ns);

}  // namespace hodos::api
