// gRPC's framing inside HTTP/2 DATA (PROTOCOL-HTTP2.md "Length-Prefixed-Message"): each message
// is a compressed flag byte, a 4-byte big-endian length and the message. Counting the prefixes as
// the DATA bytes go by tells a unary call from a streaming one without keeping any payload.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace hodos::protocols::grpc {

// Whether a content-type is gRPC's: "application/grpc", maybe followed by "+proto", "+json"
// (any "+codec") or parameters. gRPC-Web ("application/grpc-web") frames its trailers into the
// body and is not this.
bool is_grpc_content_type(std::string_view content_type);

class MessageCounter {
 public:
  static constexpr size_t kPrefixSize = 5;

  // The next bytes of one direction's DATA payloads of a stream.
  void feed(std::string_view data);
  // `n` bytes that went by uncaptured. Inside a message they change nothing; when they cover a
  // prefix the count stops: later messages are not counted and exact() turns false.
  void skip(uint64_t n);

  uint32_t messages() const { return messages_; }  // whose prefix was read
  bool exact() const { return !lost_; }
  // Between messages: the bytes so far were whole messages.
  bool at_boundary() const { return !lost_ && prefix_have_ == 0 && payload_left_ == 0; }

 private:
  std::array<uint8_t, kPrefixSize> prefix_{};
  uint8_t prefix_have_ = 0;
  uint64_t payload_left_ = 0;
  uint32_t messages_ = 0;
  bool lost_ = false;
};

}  // namespace hodos::protocols::grpc
