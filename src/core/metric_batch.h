// The metric model of the metrics pipelines: what a connector such as spanmetrics produces and the
// Prometheus exporters encode. Deliberately small: cumulative sums and explicit-bucket histograms,
// the two kinds RED metrics need, with attributes already rendered as strings.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace hodos::core {

// OpenTelemetry attribute names and values ("service.name" -> "checkout"), in a fixed order.
using MetricAttributes = std::vector<std::pair<std::string, std::string>>;

enum class MetricType : uint8_t {
  kSum,        // monotonic, cumulative (a Prometheus counter)
  kHistogram,  // explicit buckets, cumulative
};

struct MetricPoint {
  MetricAttributes attributes;
  uint64_t start_time_unix_nano = 0;  // when this series started counting
  uint64_t time_unix_nano = 0;        // when the values were read
  double value = 0;                   // kSum
  // kHistogram: bucket_counts has one more entry than bounds (the +Inf bucket); counts are per
  // bucket, not cumulative, as in OTLP.
  std::vector<uint64_t> bucket_counts;
  uint64_t count = 0;
  double sum = 0;
};

struct Metric {
  std::string name;  // OpenTelemetry name, e.g. "traces.span.metrics.calls"
  std::string unit;  // UCUM, e.g. "ms", "s", "1"
  std::string description;
  MetricType type = MetricType::kSum;
  std::vector<double> bounds;  // kHistogram: upper bounds, ascending
  std::vector<MetricPoint> points;
};

struct MetricBatch {
  std::vector<Metric> metrics;

  size_t point_count() const {
    size_t n = 0;
    for (const auto& m : metrics) n += m.points.size();
    return n;
  }
};

}  // namespace hodos::core
