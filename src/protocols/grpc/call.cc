#include "protocols/grpc/call.h"

#include <array>
#include <cstdint>

#include "protocols/grpc/message.h"

namespace hodos::protocols::grpc {

std::string_view status_name(int32_t code) {
  static constexpr std::array<std::string_view, 17> kNames = {"OK",
                                                              "CANCELLED",
                                                              "UNKNOWN",
                                                              "INVALID_ARGUMENT",
                                                              "DEADLINE_EXCEEDED",
                                                              "NOT_FOUND",
                                                              "ALREADY_EXISTS",
                                                              "PERMISSION_DENIED",
                                                              "RESOURCE_EXHAUSTED",
                                                              "FAILED_PRECONDITION",
                                                              "ABORTED",
                                                              "OUT_OF_RANGE",
                                                              "UNIMPLEMENTED",
                                                              "INTERNAL",
                                                              "UNAVAILABLE",
                                                              "DATA_LOSS",
                                                              "UNAUTHENTICATED"};
  return code >= 0 && static_cast<size_t>(code) < kNames.size() ? kNames[code] : std::string_view();
}

std::string Call::span_name() const {
  std::string name;
  name.reserve(service.size() + 1 + method.size());
  name.append(service).append("/").append(method);
  return name;
}

bool is_grpc(const http2::Exchange& exchange) {
  return is_grpc_content_type(exchange.request.content_type);
}

bool split_path(std::string_view path, std::string_view* service, std::string_view* method) {
  if (path.size() < 4 || path.front() != '/') return false;
  path.remove_prefix(1);
  size_t slash = path.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == path.size()) return false;
  std::string_view m = path.substr(slash + 1);
  if (m.find_first_of("/?#") != std::string_view::npos) return false;
  *service = path.substr(0, slash);
  *method = m;
  return true;
}

StatusCode status_for_reset(uint32_t code) {
  switch (code) {
    case 0x8:  // CANCEL
      return StatusCode::kCancelled;
    case 0x7:  // REFUSED_STREAM
      return StatusCode::kUnavailable;
    case 0xb:  // ENHANCE_YOUR_CALM
      return StatusCode::kResourceExhausted;
    case 0xc:  // INADEQUATE_SECURITY
      return StatusCode::kPermissionDenied;
    default:
      return StatusCode::kInternal;
  }
}

StatusCode status_for_http(uint16_t http_status) {
  switch (http_status) {
    case 400:
      return StatusCode::kInternal;
    case 401:
      return StatusCode::kUnauthenticated;
    case 403:
      return StatusCode::kPermissionDenied;
    case 404:
      return StatusCode::kUnimplemented;
    case 429:
    case 502:
    case 503:
    case 504:
      return StatusCode::kUnavailable;
    default:
      return StatusCode::kUnknown;
  }
}

std::optional<uint64_t> parse_timeout_ns(std::string_view value) {
  if (value.size() < 2 || value.size() > 9) return std::nullopt;
  uint64_t amount = 0;
  for (char c : value.substr(0, value.size() - 1)) {
    if (c < '0' || c > '9') return std::nullopt;
    amount = amount * 10 + static_cast<uint64_t>(c - '0');
  }
  uint64_t unit = 0;
  switch (value.back()) {
    case 'H':
      unit = 3600'000'000'000ULL;
      break;
    case 'M':
      unit = 60'000'000'000ULL;
      break;
    case 'S':
      unit = 1'000'000'000ULL;
      break;
    case 'm':
      unit = 1'000'000ULL;
      break;
    case 'u':
      unit = 1'000ULL;
      break;
    case 'n':
      unit = 1;
      break;
    default:
      return std::nullopt;
  }
  // 8 digits of hours exceed 64 bits of nanoseconds: such a deadline is as good as none.
  if (amount > UINT64_MAX / unit) return UINT64_MAX;
  return amount * unit;
}

namespace {

// A client cancels a call when its deadline passes; it sent the deadline as grpc-timeout, just
// before the request headers, so the reset comes about that long after them (a tenth of slack
// for the time between the two).
bool cancelled_at_deadline(const http2::Exchange& exchange) {
  if (!exchange.reset_by_client || exchange.reset_error_code != 0x8) return false;
  std::optional<uint64_t> timeout = parse_timeout_ns(exchange.request.grpc_timeout);
  if (!timeout || exchange.end_ns < exchange.start_ns) return false;
  return exchange.end_ns - exchange.start_ns >= *timeout - *timeout / 10;
}

}  // namespace

std::optional<Call> to_call(const http2::Exchange& exchange) {
  if (!is_grpc(exchange)) return std::nullopt;
  const http2::Request& request = exchange.request;
  const http2::Response& response = exchange.response;
  Call call;
  if (!split_path(request.path, &call.service, &call.method)) {
    call.service = {};
    call.method = {};
  }
  call.timeout = request.grpc_timeout;
  call.has_message = response.has_grpc_message;
  call.request_messages = request.body.messages;
  call.response_messages = response.body.messages;
  call.messages_exact = request.body.messages_exact && response.body.messages_exact;

  if (response.grpc_status >= 0) {
    call.status_code = response.grpc_status;
    call.status_source =
        response.has_trailers ? StatusSource::kTrailers : StatusSource::kTrailersOnly;
  } else if (exchange.end == http2::StreamEnd::kReset) {
    call.status_code = cancelled_at_deadline(exchange)
                           ? static_cast<int32_t>(StatusCode::kDeadlineExceeded)
                           : static_cast<int32_t>(status_for_reset(exchange.reset_error_code));
    call.status_source = StatusSource::kReset;
  } else if (response.status != 0 && response.status != 200) {
    call.status_code = static_cast<int32_t>(status_for_http(response.status));
    call.status_source = StatusSource::kHttpStatus;
  }
  return call;
}

bool is_error(int32_t status_code, SpanKind kind) {
  if (status_code <= 0) return false;
  if (kind == SpanKind::kClient) return true;
  switch (static_cast<StatusCode>(status_code)) {
    case StatusCode::kUnknown:
    case StatusCode::kDeadlineExceeded:
    case StatusCode::kUnimplemented:
    case StatusCode::kInternal:
    case StatusCode::kUnavailable:
    case StatusCode::kDataLoss:
      return true;
    default:
      return false;
  }
}

}  // namespace hodos::protocols::grpc
