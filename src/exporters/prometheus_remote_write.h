// The `prometheusremotewrite` exporter of metrics pipelines: each snapshot of a connector's metrics
// POSTed as a snappy-compressed remote-write 1.0 WriteRequest to Prometheus
// (--web.enable-remote-write-receiver), Mimir, Thanos, Cortex or VictoriaMetrics. Requests wait in
// a bounded queue and are sent in order by one thread (receivers refuse out-of-order samples),
// retried with backoff while the receiver is down; a full queue drops its oldest request, counted
// and logged (a later snapshot carries the same cumulative counts).
#pragma once

#include <memory>

#include "pipeline/factory.h"

namespace hodos::exporters {

std::unique_ptr<pipeline::MetricsExporterFactory> make_prometheus_remote_write_exporter_factory();

}  // namespace hodos::exporters
