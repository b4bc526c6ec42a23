// The `otlphttp` exporter: OTLP/HTTP (protobuf or JSON, gzip) to endpoint + "/v1/traces".
#pragma once

#include <memory>

#include "pipeline/factory.h"

namespace hodos::exporters {

std::unique_ptr<pipeline::ExporterFactory> make_otlphttp_exporter_factory();

}  // namespace hodos::exporters
