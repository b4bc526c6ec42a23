// Parameters of the Jaeger query API, parsed the way jaeger-query parses them (Go durations,
// microsecond trace-search times, millisecond dependency/metrics times, `tag=k:v` and `tags={json}`)
// with each failure a ParamError naming the parameter, answered as HTTP 400.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/ids.h"
#include "core/span.h"
#include "net/http_server.h"
#include "store/trace_store.h"

namespace hodos::api {

// A bad query parameter; what() is the message the client sees in Jaeger's `errors` array.
class ParamError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

inline constexpr uint64_t kNanosPerMicro = 1'000;
inline constexpr uint64_t kNanosPerMilli = 1'000'000;
inline constexpr uint64_t kNanosPerHour = 3600 * store::kNanosPerSecond;

// Jaeger's defaults (cmd/query/app/default_params.go and query_parser.go).
inline constexpr size_t kDefaultSearchLimit = 100;
inline constexpr size_t kMaxSearchLimit = 10'000;
inline constexpr uint64_t kDefaultSearchLookbackNs = 48 * kNanosPerHour;
inline constexpr uint64_t kDefaultDependencyLookbackNs = 24 * kNanosPerHour;
inline constexpr uint64_t kDefaultMetricsLookbackNs = kNanosPerHour;
inline constexpr uint64_t kDefaultMetricsRatePerNs = 10 * store::kNanosPerMinute;
// The aggregates have one-minute resolution, so no metrics step is shorter (also /minstep).
inline constexpr uint64_t kMinMetricsStepNs = store::kNanosPerMinute;
inline constexpr size_t kMaxMetricsPoints = 10'000;

// Go's time.ParseDuration: "300ms", "-1.5h", "2h45m", "1.2s", "100us", "100µs"; "0" alone.
// Nanoseconds; nullopt when malformed or beyond int64.
std::optional<int64_t> parse_go_duration(std::string_view text);
// A Go duration, or a whole or decimal number of days or weeks ("2d", "1.5d", "1w"), as the
// Jaeger UI's lookback values are written. Non-negative nanoseconds; nullopt when malformed.
std::optional<uint64_t> parse_lookback(std::string_view text);
// A trace id of 1 to 32 hex digits (shorter ids are left-padded with zeros, as Jaeger does).
std::optional<core::TraceId> parse_trace_id(std::string_view text);
// "server" or Jaeger's metrics spelling "SPAN_KIND_SERVER" (any case); "unspecified" too.
std::optional<core::SpanKind> parse_span_kind(std::string_view text);

using TagFilters = std::vector<std::pair<std::string, std::string>>;
// Jaeger's rule: each `tag` is key:value (split at the first ':'); each `tags` is a JSON object
// of key → value. A key given twice keeps its last value, JSON winning over `tag`.
TagFilters parse_tags(const std::vector<std::string>& tag_params,
                      const std::vector<std::string>& tags_json_params);

struct TraceSearchParams {
  store::TraceQuery query;
  // `traceID=` parameters: these traces are loaded instead of searching (service not needed).
  std::vector<core::TraceId> trace_ids;
};
// GET /api/traces. `now_ns` is the default end; the default start is end - lookback (2 days when
// no `lookback`).
TraceSearchParams parse_trace_search(const net::HttpRequest& request, uint64_t now_ns);

struct DependenciesParams {
  uint64_t end_ns = 0;
  uint64_t lookback_ns = kDefaultDependencyLookbackNs;
  std::string service;  // optional filter: edges with this parent or child
};
// GET /api/dependencies: endTs in Unix ms (default now), lookback in ms (default 24h).
DependenciesParams parse_dependencies(const net::HttpRequest& request, uint64_t now_ns);

struct MetricsParams {
  std::vector<std::string> services;
  std::vector<core::SpanKind> span_kinds;  // default: server
  bool group_by_operation = false;
  uint64_t end_ns = 0;
  uint64_t lookback_ns = kDefaultMetricsLookbackNs;
  uint64_t step_ns = kMinMetricsStepNs;
  uint64_t rate_per_ns = kDefaultMetricsRatePerNs;
  double quantile = 0;  // latencies only
};
// GET /api/metrics/{calls,errors,latencies}: endTs in Unix ms, lookback/step/ratePer in ms.
MetricsParams parse_metrics(const net::HttpRequest& request, uint64_t now_ns, bool needs_quantile);

}  // namespace hodos::api
