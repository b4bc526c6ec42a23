// OTLP protobuf straight between wire bytes and the span model, without
// building generated message objects (callers use otlp::decode_proto /
// encode_proto; the trace store uses the piecewise encoders below). Behaviour
// is that of the generated code: decode_wire accepts exactly what ExportTraceServiceRequest::ParseFromArray +
// from_proto accept, with the same error messages; encode_wire writes exactly
// the bytes that to_proto + SerializeAsString write.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

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

// The pieces the trace store keeps (src/store): a ResourceSpans holding only its resource and
// schema_url, a ScopeSpans holding only its scope and schema_url, and a Span message without
// trace_id, span_id and the start/end times (the store's key and value prefix hold those). The
// bytes are those the generated code writes for the same messages. `sizes` is scratch space the
// caller reuses across spans; with `length_prefixed` the span's size goes first, as a varint.
std::string encode_resource_spans_header(const core::Resource& resource);
std::string encode_scope_spans_header(const core::Scope& scope);
void append_span_without_ids_and_times(const core::Span& span, std::string& out,
                                       std::vector<uint32_t>& sizes,
                                       bool length_prefixed = false);

// Proto3 enums are open: a value we do not know decodes to the default rather
// than failing.
inline core::SpanKind span_kind_from_int(int64_t v) {
  return v >= 0 && v <= 5 ? static_cast<core::SpanKind>(v) : core::SpanKind::kUnspecified;
}
inline core::StatusCode status_code_from_int(int64_t v) {
  return v >= 0 && v <= 2 ? static_cast<core::StatusCode>(v) : core::StatusCode::kUnset;
}

}  // namespace hodos::otlp
