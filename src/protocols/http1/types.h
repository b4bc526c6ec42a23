// HTTP/1.x messages as the parser reads them and the matcher pairs them: start line, headers,
// how the body is delimited and how much of it went by, and when it was seen.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

namespace hodos::protocols::http1 {

enum class ParseState : uint8_t { kSuccess, kNeedsMoreData, kInvalid };

struct Header {
  std::string_view name;
  std::string_view value;
};

// How the end of a body is found (RFC 9112 section 6.3).
enum class BodyFraming : uint8_t {
  kNone,           // no body: request without length, HEAD answer, 1xx, 204, 304
  kContentLength,  // exactly BodyInfo::declared bytes
  kChunked,        // chunked transfer coding, ends with the last chunk and trailers
  kUntilClose,     // response without length: ends when the server closes the connection
  kTunnel,         // 101 Switching Protocols or 2xx to CONNECT: the connection leaves HTTP
};

struct BodyInfo {
  BodyFraming framing = BodyFraming::kNone;
  uint64_t declared = 0;  // Content-Length, when framing is kContentLength
  uint64_t seen = 0;      // payload bytes that went by (decoded data for chunked), captured or not
  uint64_t skipped = 0;   // of `seen`, bytes the capture did not hold and were skipped by length
  uint64_t length_only = 0;  // of `seen`, bytes sent by sendfile/splice: never in user memory, so
                             // not captured by design (not counted in `skipped`)
  bool complete = false;  // the end of the body was found
};

// What requests and responses share. The views point into the buffer the head was parsed from
// until own_bytes() (parse.h) copies the head into `storage`; copies of an owned message share it.
struct MessageHead {
  static constexpr size_t kMaxStoredHeaders = 64;  // later ones are read for framing, not kept

  uint8_t minor_version = 1;    // HTTP/1.<minor_version>
  std::string_view raw;         // the whole head, start line to the blank line
  std::vector<Header> headers;  // in order of appearance, at most kMaxStoredHeaders
  uint32_t header_count = 0;    // all header lines, kept or not
  bool has_content_length = false;
  uint64_t content_length = 0;
  bool has_transfer_encoding = false;
  bool chunked = false;           // the last transfer coding is chunked
  bool connection_close = false;  // "Connection: close"
  bool connection_keep_alive = false;
  bool head_truncated = false;  // the capture cut the head: headers after the cut are missing
  BodyInfo body;
  uint64_t start_ns = 0;  // timestamp of the chunk holding the first byte
  uint64_t end_ns = 0;    // timestamp of the chunk holding the last byte seen
  std::shared_ptr<char[]> storage;

  // First header called `name` (case-insensitive), or an empty view.
  std::string_view header(std::string_view name) const;
  bool has_header(std::string_view name) const;
  // Whether the connection stays open after this message (HTTP/1.1 default, 1.0 opt-in).
  bool keep_alive() const { return minor_version >= 1 ? !connection_close : connection_keep_alive; }
};

struct Request : MessageHead {
  std::string_view method;
  std::string_view target;       // as sent: origin form, absolute form, authority form or "*"
  bool expect_continue = false;  // "Expect: 100-continue"

  // The target's path without query string or fragment: "/" for an absolute form without
  // one, "*" for the asterisk form, empty for CONNECT's authority form.
  std::string_view path() const;
  // The query string without the '?', or empty.
  std::string_view query() const;
};

struct Response : MessageHead {
  uint16_t status = 0;
  std::string_view reason;
  uint16_t interim_status = 0;  // last 1xx (100 Continue, 103 Early Hints) before this one
};

// A request and the response that answered it. The span runs from the request's first byte to
// the response's last byte.
struct Exchange {
  Request request;
  Response response;
  uint64_t start_ns = 0;
  uint64_t end_ns = 0;
  // A client's request the connection closed on without an answer (the server reset or closed
  // it, the client timed out): `response` is empty and the span ends at the close.
  bool no_response = false;
};

}  // namespace hodos::protocols::http1
