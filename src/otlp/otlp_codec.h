// OTLP trace data to and from the span model: protobuf (via the generated classes) and the OTLP
// JSON mapping (lowercase hex ids, integer enums, lowerCamelCase names, 64-bit ints as strings).
// An ExportTraceServiceRequest and a TracesData have the same wire format; both decode here.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/span_batch.h"

namespace opentelemetry::proto::collector::trace::v1 {
class ExportTraceServiceRequest;
}

namespace hodos::otlp {

using ExportRequest = opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest;

// Each decoder appends to `batch` and returns nullopt, or returns a message saying what was wrong
// (for a 400 / INVALID_ARGUMENT), leaving `batch` without any span of the bad request.
std::optional<std::string> decode_proto(std::string_view bytes, core::SpanBatch& batch);
std::optional<std::string> decode_json(std::string_view json, core::SpanBatch& batch);
std::optional<std::string> from_proto(const ExportRequest& request, core::SpanBatch& batch);

void to_proto(const core::SpanBatch& batch, ExportRequest* out);
std::string encode_proto(const core::SpanBatch& batch);
// One JSON object (no newline), the body of an OTLP/HTTP JSON request or one line of a file.
std::string encode_json(const core::SpanBatch& batch);

}  // namespace hodos::otlp
