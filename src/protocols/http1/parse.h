// HTTP/1.x parsing of untrusted captured bytes. Every function takes the bytes as a
// `std::string_view*`, reads nothing outside it, consumes what it understood only on kSuccess and
// returns kNeedsMoreData for any prefix of a valid message, kInvalid as soon as the bytes cannot
// start one. Parsed messages hold views into the input; nothing allocates per byte.
#pragma once

#include <cstdint>
#include <string_view>

#include "protocols/http1/types.h"

namespace hodos::protocols::http1 {

// Request line and header fields up to the blank line. Sets the body framing (Content-Length,
// chunked, or none). A request whose transfer coding does not end in chunked is kInvalid (a
// server answers it with 400 and cannot find its end either).
ParseState parse_request_head(std::string_view* buf, Request* out);

// Status line and header fields. The framing of a response body depends on the request it
// answers: pass its method (empty when unknown; then no HEAD or CONNECT semantics apply).
ParseState parse_response_head(std::string_view* buf, std::string_view request_method,
                               Response* out);

// For heads the capture cut short (`bytes` is all there is): parses the start line and every
// complete header line, marks head_truncated and leaves the framing at kNone. A request line cut
// inside its query string (a URL longer than the capture) still gives the method and the path
// (the query, not known whole, is left out). False when not even that is complete and valid.
bool salvage_request_head(std::string_view bytes, Request* out);
bool salvage_response_head(std::string_view bytes, std::string_view request_method, Response* out);

// Incremental decoder for a chunked body (chunk extensions and trailers included), fed the bytes
// after the head in as many pieces as they arrive.
class ChunkedDecoder {
 public:
  static constexpr uint32_t kMaxLineBytes = 4096;      // one chunk-size line with extensions
  static constexpr uint32_t kMaxTrailerBytes = 16384;  // all trailer fields

  // Consumes body bytes from *buf: on kSuccess up to the end of the body (the rest is the next
  // message), on kNeedsMoreData all of them. kInvalid leaves *buf where the error is.
  ParseState feed(std::string_view* buf);
  // Accounts for `n` body bytes that went by uncaptured. True when they fit the chunk being read
  // (its CRLF may be among them); false when the framing is lost.
  bool skip(uint64_t n);
  // Decoded payload bytes so far, captured or skipped.
  uint64_t data_bytes() const { return data_bytes_; }
  bool done() const { return state_ == State::kDone; }
  void reset() { *this = ChunkedDecoder(); }

 private:
  enum class State : uint8_t {
    kSize,
    kSizeTail,
    kSizeLf,
    kData,
    kDataCr,
    kDataLf,
    kTrailerStart,
    kTrailerLine,
    kTrailerLf,
    kFinalLf,
    kDone,
  };
  State state_ = State::kSize;
  uint8_t size_digits_ = 0;
  uint32_t line_bytes_ = 0;
  uint32_t trailer_bytes_ = 0;
  uint64_t chunk_size_ = 0;
  uint64_t remaining_ = 0;
  uint64_t data_bytes_ = 0;
};

// Whole messages, head and body, from one buffer: kSuccess only once the body's end is in it.
// A response delimited by close is complete only when `at_close` says the buffer ends there.
ParseState parse_request(std::string_view* buf, Request* out);
ParseState parse_response(std::string_view* buf, std::string_view request_method, Response* out,
                          bool at_close = false);

// Copies the head into the message's own storage and points its views there, so the message
// outlives the buffer it was parsed from.
void own_bytes(Request* msg);
void own_bytes(Response* msg);

}  // namespace hodos::protocols::http1
