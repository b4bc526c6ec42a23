// OTLP protobuf straight between wire bytes and the span model, without
// building generated message objects (internal to src/otlp; callers use
// otlp::decode_proto / encode_proto). Behaviour is that of the generated code:
// decode_wire accepts exactly what ExportTraceServiceRequest::ParseFromArray +
// from_proto accept, with the same error messages; encode_wire writes exactly
// the bytes that to_proto + SerializeAsString write.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/span_batch.h"

namespace hodos::otlp {

inline constexpr std::string_view kMalformedProtobuf =
    "malformed protobuf: not an ExportTraceServiceRequest (truncated, wrong "
    "field types or "
    "invalid UTF-8 in a string)";

// Appends the spans of an ExportTraceServiceRequest (or TracesData) to `batch`,
// or returns what was wrong and leaves `batch` as it was.
std::optional<std::string> decode_wire(std::string_view bytes, core::SpanBatch& batch);

std::string encode_wire(const core::SpanBatch& batch);

// Proto3 enums are open: a value we do not know decodes to the default rather
// than failing.
inline core::SpanKind span_kind_from_int(int64_t v) {
  return v >= 0 && v <= 5 ? static_cast<core::SpanKind>(v) : core::SpanKind::kUnspecified;
}
inline core::StatusCode status_code_from_int(int64_t v) {
  return v >= 0 && v <= 2 ? static_cast<core::StatusCode>(v) : core::StatusCode::kUnset;
}

}  // namespace hodos::otlp
