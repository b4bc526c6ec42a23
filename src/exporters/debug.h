// The `debug` exporter: logs what passes through, as the Collector's does (verbosity basic: one
// line per batch; normal: one line per span; detailed: every field), with log sampling.
#pragma once

#include <memory>

#include "pipeline/factory.h"

namespace hodos::exporters {

std::unique_ptr<pipeline::ExporterFactory> make_debug_exporter_factory();

}  // namespace hodos::exporters
