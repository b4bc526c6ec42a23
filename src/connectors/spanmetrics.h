// The `spanmetrics` connector, as in the OpenTelemetry Collector: RED metrics (calls, errors as
// the calls with status ERROR, and a duration histogram) by service, span name, kind and status,
// plus any dimensions the config names, made from the spans of the traces pipelines that export
// to it and handed every `metrics_flush_interval` to the metrics pipelines that receive from it.
#pragma once

#include <memory>

#include "pipeline/factory.h"

namespace hodos::connectors {

std::unique_ptr<pipeline::ConnectorFactory> make_spanmetrics_connector_factory();

}  // namespace hodos::connectors
