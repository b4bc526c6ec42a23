// The `otlp` exporter: OTLP over gRPC (TraceService/Export), with TLS, headers as metadata and
// gzip. The only file that includes gRPC client code.
#pragma once

#include <memory>

#include "pipeline/factory.h"

namespace hodos::exporters {

std::unique_ptr<pipeline::ExporterFactory> make_otlp_exporter_factory();

}  // namespace hodos::exporters
