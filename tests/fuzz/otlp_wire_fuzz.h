// The differential property between the wire codec (src/otlp/otlp_wire.cc) and
// the generated protobuf classes, shared by the otlp_wire_fuzz target and the
// unit tests: on any bytes, both decoders accept or reject alike (with the same
// message), yield the same spans, and both encoders write the same bytes for
// what was decoded.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/span_batch.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "otlp/otlp_codec.h"
#include "otlp/otlp_wire.h"

namespace hodos::fuzz {

// The generated path: ExportTraceServiceRequest::ParseFromArray, then
// from_proto.
inline std::optional<std::string> generated_decode(std::string_view bytes, core::SpanBatch& batch) {
  otlp::ExportRequest request;
  if (!request.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return std::string(otlp::kMalformedProtobuf);
  }
  return otlp::from_proto(request, batch);
}

inline std::string generated_encode(const core::SpanBatch& batch) {
  otlp::ExportRequest request;
  otlp::to_proto(batch, &request);
  return request.SerializeAsString();
}

inline std::string printable(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    static const char kHex[] = "0123456789abcdef";
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

// Empty when the codecs agree on `input`, else what differs.
inline std::string check_wire_matches_generated(std::string_view input) {
  core::SpanBatch wire, generated;
  std::optional<std::string> wire_err = otlp::decode_wire(input, wire);
  std::optional<std::string> generated_err = generated_decode(input, generated);
  if (wire_err != generated_err) {
    return "decoders disagree: wire says '" + wire_err.value_or("ok") + "', generated says '" +
           generated_err.value_or("ok") + "'";
  }
  if (wire_err) return wire.empty() ? "" : "a failed wire decode left spans in the batch";
  if (wire.size() != generated.size()) return "decoders yield different span counts";
  // The generated encoding is canonical: equal bytes mean equal spans,
  // resources and scopes.
  std::string from_wire = generated_encode(wire);
  std::string from_generated = generated_encode(generated);
  if (from_wire != from_generated) {
    return "decoders yield different spans: " + printable(from_wire) + " vs " +
           printable(from_generated);
  }
  std::string encoded = otlp::encode_wire(wire);
  if (encoded != from_wire) {
    return "encoders differ: wire " + printable(encoded) + " vs generated " + printable(from_wire);
  }
  return "";
}

}  // namespace hodos::fuzz
