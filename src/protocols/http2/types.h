// HTTP/2 exchanges as the connection matcher (match.h) hands them on: one per stream, with the
// few request and response headers a span needs, body sizes, how the stream ended, and when.
//
// Privacy: only the headers named below are ever kept. Credentials (authorization, cookie,
// http1::is_credential_header) never are, grpc-message is reduced to whether it was present (it
// quotes user data), and traceparent/tracestate are kept only to continue the caller's trace:
// they must never become span attributes.
#pragma once

#include <cstdint>
#include <string>

namespace hodos::protocols::http2 {

struct Body {
  uint64_t bytes = 0;       // DATA payload without padding, captured or not
  uint64_t uncaptured = 0;  // of `bytes`, those the capture missed (skipped by length)
  // gRPC streams only (grpc::is_grpc_content_type): length-prefixed messages that began in it,
  // and whether that count is exact (false once the capture missed a message prefix).
  uint32_t messages = 0;
  bool messages_exact = true;
  bool complete = false;  // END_STREAM seen
};

struct Request {
  std::string method;     // :method
  std::string scheme;     // :scheme
  std::string authority;  // :authority
  std::string path;       // :path, query string included
  std::string content_type;
  std::string user_agent;
  std::string te;
  std::string grpc_timeout;  // "100m": the caller's deadline
  // W3C trace context of the caller: for continuing its trace only, never an attribute.
  std::string traceparent;
  std::string tracestate;
  bool pushed = false;             // promised by the server (PUSH_PROMISE), not sent by the client
  bool headers_truncated = false;  // the header list was longer than the limit: not all read
  Body body;
};

struct Response {
  uint16_t status = 0;          // :status of the final response; 0 when none came
  uint16_t interim_status = 0;  // the last 1xx before it
  std::string content_type;
  bool has_trailers = false;      // a header block after the response headers ended the stream
  int32_t grpc_status = -1;       // grpc-status from the trailers, or from the response headers
                                  // of a Trailers-Only response; -1 when absent or not a number
  bool has_grpc_message = false;  // grpc-message was sent (its text is never kept)
  bool headers_truncated = false;
  Body body;
};

// How the stream ended.
enum class StreamEnd : uint8_t {
  kComplete,    // the server's END_STREAM
  kReset,       // RST_STREAM, from either side: reset_error_code says why
  kIncomplete,  // the connection closed or stopped being tracked first
};

struct Exchange {
  uint32_t stream_id = 0;
  Request request;
  Response response;
  StreamEnd end = StreamEnd::kComplete;
  bool reset_by_client = false;   // kReset: which side sent RST_STREAM
  uint32_t reset_error_code = 0;  // kReset: http2::error_code_name() names it
  uint64_t start_ns = 0;  // timestamp of the chunk holding the first byte of the request headers
  uint64_t end_ns = 0;    // timestamp of the chunk holding the end of the stream (END_STREAM
                          // frame, RST_STREAM), or of the last chunk seen when incomplete
};

}  // namespace hodos::protocols::http2
