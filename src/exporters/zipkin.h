// The `zipkin` exporter: Zipkin v2 JSON spans POSTed to a Zipkin endpoint (/api/v2/spans).
#pragma once

#include <memory>

#include "pipeline/factory.h"

namespace hodos::exporters {

std::unique_ptr<pipeline::ExporterFactory> make_zipkin_exporter_factory();

}  // namespace hodos::exporters
