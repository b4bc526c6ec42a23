// gRPC calls read from HTTP/2 exchanges (http2/match.h): what the OpenTelemetry RPC conventions
// need of a span, namely rpc.system "grpc", rpc.service and rpc.method from the :path
// "/package.Service/Method", rpc.grpc.status_code, and whether the span is an error, which
// depends on its kind.
//
// The status comes from where the call ended (gRPC's PROTOCOL-HTTP2.md): the trailers, the
// response headers of a Trailers-Only response, else what gRPC makes of an RST_STREAM or of an
// HTTP status that is not 200 (doc/http-grpc-status-mapping.md).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "protocols/http2/types.h"

namespace hodos::protocols::grpc {

enum class StatusCode : int32_t {
  kOk = 0,
  kCancelled = 1,
  kUnknown = 2,
  kInvalidArgument = 3,
  kDeadlineExceeded = 4,
  kNotFound = 5,
  kAlreadyExists = 6,
  kPermissionDenied = 7,
  kResourceExhausted = 8,
  kFailedPrecondition = 9,
  kAborted = 10,
  kOutOfRange = 11,
  kUnimplemented = 12,
  kInternal = 13,
  kUnavailable = 14,
  kDataLoss = 15,
  kUnauthenticated = 16,
};

// "NOT_FOUND" for 5; an empty view for codes gRPC does not define.
std::string_view status_name(int32_t code);

enum class StatusSource : uint8_t {
  kNone,          // the call ended without a status (cut off, or not seen to the end)
  kTrailers,      // grpc-status in the trailers
  kTrailersOnly,  // grpc-status in the only header block of the response
  kReset,         // mapped from the RST_STREAM error code; a client's CANCEL when its
                  // grpc-timeout ran out is DEADLINE_EXCEEDED, as the client reports it
  kHttpStatus,    // mapped from a :status other than 200
};

struct Call {
  static constexpr std::string_view kSystem = "grpc";  // rpc.system

  std::string_view service;  // rpc.service: "package.Service"; views into the exchange's path
  std::string_view method;   // rpc.method: "Method"
  int32_t status_code = -1;  // rpc.grpc.status_code; -1 when StatusSource::kNone
  StatusSource status_source = StatusSource::kNone;
  bool has_message = false;  // the server sent a grpc-message (never kept: it quotes user data)
  std::string_view timeout;  // grpc-timeout as sent ("100m"), or empty
  // Messages each way (5-byte prefixes seen in DATA), exact unless the capture missed one.
  uint32_t request_messages = 0;
  uint32_t response_messages = 0;
  bool messages_exact = true;

  bool client_streaming() const { return request_messages > 1; }
  bool server_streaming() const { return response_messages > 1; }
  // The span name the conventions ask for: "package.Service/Method".
  std::string span_name() const;
};

// Whether an exchange carries gRPC: a content-type of application/grpc, "+codec" or not.
bool is_grpc(const http2::Exchange& exchange);

// The call an exchange carries, or nullopt when it is not gRPC. The views point into
// `exchange`, which must outlive the call.
std::optional<Call> to_call(const http2::Exchange& exchange);
std::optional<Call> to_call(const http2::Exchange&& exchange) = delete;  // would dangle

// Splits a gRPC :path into service and method; false when it is not "/Service/Method" (both
// non-empty, nothing after the method).
bool split_path(std::string_view path, std::string_view* service, std::string_view* method);

// A grpc-timeout value (1 to 8 digits and a unit: H, M, S, m, u, n) in nanoseconds.
std::optional<uint64_t> parse_timeout_ns(std::string_view value);

// The status gRPC reports for a stream reset with this HTTP/2 error code (CANCEL is CANCELLED,
// REFUSED_STREAM UNAVAILABLE, ENHANCE_YOUR_CALM RESOURCE_EXHAUSTED, INADEQUATE_SECURITY
// PERMISSION_DENIED, any other INTERNAL).
StatusCode status_for_reset(uint32_t http2_error_code);
// The status gRPC reports for an HTTP status without grpc-status (400 INTERNAL,
// 401 UNAUTHENTICATED, 403 PERMISSION_DENIED, 404 UNIMPLEMENTED, 429/502/503/504 UNAVAILABLE,
// others UNKNOWN).
StatusCode status_for_http(uint16_t http_status);

enum class SpanKind : uint8_t { kServer, kClient };

// The OpenTelemetry rule for the span status: a client span is an error for every status but OK;
// a server span only for the statuses that mean the server failed (UNKNOWN, DEADLINE_EXCEEDED,
// UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS), not for what the caller got wrong. No status
// (-1) is no error.
bool is_error(int32_t status_code, SpanKind kind);
inline bool is_error(const Call& call, SpanKind kind) { return is_error(call.status_code, kind); }

}  // namespace hodos::protocols::grpc
