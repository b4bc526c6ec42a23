// The `file` exporter: OTLP JSON lines (one ExportTraceServiceRequest per line) or length-prefixed
// OTLP protobuf, written whole and flushed per batch, rotated by size (path -> path.1 -> ...).
//
// Format `proto`: each batch is a 4-byte big-endian length followed by that many bytes of an
// ExportTraceServiceRequest, as the Collector's file exporter writes it.
// By default the sending queue and retries are off, so a batch is in the file when consume()
// returns and a write error reaches the caller at once; both can be turned on in the config.
#pragma once

#include <memory>

#include "pipeline/factory.h"

namespace hodos::exporters {

std::unique_ptr<pipeline::ExporterFactory> make_file_exporter_factory();

}  // namespace hodos::exporters
