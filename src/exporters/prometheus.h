// The `prometheus` exporter of metrics pipelines: the latest metrics (from a connector such as
// spanmetrics) served in the Prometheus text format at http://<endpoint>/metrics for a Prometheus
// server to scrape. Loopback unless the endpoint says otherwise.
#pragma once

#include <memory>

#include "pipeline/factory.h"

namespace hodos::exporters {

std::unique_ptr<pipeline::MetricsExporterFactory> make_prometheus_exporter_factory();

}  // namespace hodos::exporters
