// What the two Prometheus exporters share: OpenTelemetry metrics in Prometheus's terms, named as
// the Collector's translator names them (`traces.span.metrics.duration` in ms ->
// `traces_span_metrics_duration_milliseconds`, a monotonic sum gets `_total`, `service.name` ->
// `service_name` plus `job`), histograms as cumulative `_bucket{le}`, `_sum` and `_count`.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/metric_batch.h"
#include "pipeline/config_node.h"

namespace hodos::exporters {

struct PrometheusNaming {
  std::string metric_namespace;  // the exporter's `namespace`: a prefix with an underscore
  bool add_metric_suffixes = true;
  // const_labels (pull) or external_labels (remote write): added to every series unless the
  // series already has the label.
  std::vector<std::pair<std::string, std::string>> extra_labels;

  // Reads `namespace`, `add_metric_suffixes` and the map under `labels_key`.
  static PrometheusNaming read(pipeline::ConfigNode& config, std::string_view labels_key);
};

using PrometheusLabels = std::vector<std::pair<std::string, std::string>>;

struct PrometheusSample {
  std::string name;         // series name: family, or family + _bucket/_sum/_count
  PrometheusLabels labels;  // sanitized, sorted by name, without __name__
  double value = 0;
  int64_t timestamp_ms = 0;
  // The first sample of an OpenTelemetry data point (a histogram point is many samples), so
  // exporters count points as the Collector does.
  bool starts_point = true;
};

struct PrometheusFamily {
  std::string name;  // e.g. traces_span_metrics_calls_total
  std::string type;  // counter, histogram
  std::string help;
  std::vector<PrometheusSample> samples;
};

// "http.method" -> "http_method"; a leading digit gets "key_" in front.
std::string prometheus_label_name(std::string_view name);
// The metric's family name after the translator's rules and the namespace.
std::string prometheus_family_name(const core::Metric& metric, const PrometheusNaming& naming);
// A bucket bound as Prometheus writes `le` ("0.5", "2", "+Inf").
std::string prometheus_le(double bound);

std::vector<PrometheusFamily> to_prometheus(const core::MetricBatch& batch,
                                            const PrometheusNaming& naming);
// The text exposition format 0.0.4, without timestamps (the scraper stamps them).
std::string render_prometheus_text(const std::vector<PrometheusFamily>& families);

}  // namespace hodos::exporters
