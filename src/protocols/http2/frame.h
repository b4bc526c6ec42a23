// HTTP/2 frames (RFC 9113 sections 4 and 6) read from untrusted captured bytes: the 9-byte
// header, the fields some types put before their content (pad length, priority, promised stream),
// and the fixed-size payloads of the control frames. parse_frame() reads one whole frame from a
// buffer; the connection matcher (match.h) reads frames that span chunks with the same pieces,
// the header and then the payload prefix, without copying a DATA payload or a header block.
#pragma once

#include <cstdint>
#include <string_view>

namespace hodos::protocols::http2 {

enum class ParseState : uint8_t { kSuccess, kNeedsMoreData, kInvalid };

enum class FrameType : uint8_t {
  kData = 0x0,
  kHeaders = 0x1,
  kPriority = 0x2,
  kRstStream = 0x3,
  kSettings = 0x4,
  kPushPromise = 0x5,
  kPing = 0x6,
  kGoaway = 0x7,
  kWindowUpdate = 0x8,
  kContinuation = 0x9,
  // Other values are extension frames, which a peer that does not know them ignores.
};

// Frame flags; the same bit means different things for different types.
namespace flags {
inline constexpr uint8_t kEndStream = 0x01;   // DATA, HEADERS
inline constexpr uint8_t kAck = 0x01;         // SETTINGS, PING
inline constexpr uint8_t kEndHeaders = 0x04;  // HEADERS, PUSH_PROMISE, CONTINUATION
inline constexpr uint8_t kPadded = 0x08;      // DATA, HEADERS, PUSH_PROMISE
inline constexpr uint8_t kPriority = 0x20;    // HEADERS
}  // namespace flags

// SETTINGS parameters this code reads.
enum class SettingId : uint16_t {
  kHeaderTableSize = 0x1,
  kEnablePush = 0x2,
  kMaxConcurrentStreams = 0x3,
  kInitialWindowSize = 0x4,
  kMaxFrameSize = 0x5,
  kMaxHeaderListSize = 0x6,
};

inline constexpr size_t kFrameHeaderSize = 9;
inline constexpr size_t kSettingSize = 6;
inline constexpr uint32_t kDefaultHeaderTableSize = 4096;
// What a client sends first on every HTTP/2 connection, before its SETTINGS frame.
inline constexpr std::string_view kClientPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

struct FrameHeader {
  uint32_t length = 0;  // of the payload, 24 bits
  uint8_t type = 0;     // a FrameType, or an extension's type
  uint8_t flags = 0;
  uint32_t stream_id = 0;  // the reserved bit cleared

  FrameType frame_type() const { return static_cast<FrameType>(type); }
  bool is(FrameType t) const { return type == static_cast<uint8_t>(t); }
  bool has(uint8_t flag) const { return (flags & flag) != 0; }
};

// The 9 bytes at the start of `bytes`, which must hold them.
FrameHeader decode_frame_header(std::string_view bytes);

// Consumes a frame header from *buf on kSuccess; kNeedsMoreData for fewer than 9 bytes. Never
// kInvalid: every 9 bytes are a header; whether it makes sense is valid_frame_header's call.
ParseState parse_frame_header(std::string_view* buf, FrameHeader* out);

// Whether the header obeys the rules that need no connection state: stream 0 for SETTINGS,
// PING and GOAWAY and not for stream-level frames, the fixed sizes (PRIORITY 5, RST_STREAM 4,
// PING 8, WINDOW_UPDATE 4, GOAWAY at least 8, SETTINGS a multiple of 6 and empty when an ACK).
// A peer that breaks them would have the connection torn down.
bool valid_frame_header(const FrameHeader& header);

struct Priority {
  uint32_t dependency = 0;  // stream this one depends on
  bool exclusive = false;
  uint16_t weight = 16;  // 1 to 256
};

// Where a frame's content sits in its payload. The content is a DATA frame's data or a header
// block fragment (HEADERS, PUSH_PROMISE, CONTINUATION); for the other types the whole payload.
struct PayloadLayout {
  uint32_t prefix_size = 0;   // bytes before the content
  uint32_t content_size = 0;  // bytes of content
  uint32_t padding = 0;       // bytes after it
  bool has_priority = false;  // HEADERS with the PRIORITY flag
  Priority priority;
  uint32_t promised_stream_id = 0;  // PUSH_PROMISE
};

// Bytes before the content (0 to 6), known from the header alone: the pad length byte when
// PADDED (DATA, HEADERS, PUSH_PROMISE), 5 priority bytes for HEADERS with PRIORITY, the promised
// stream for PUSH_PROMISE.
uint32_t payload_prefix_size(const FrameHeader& header);

// Reads the prefix (exactly payload_prefix_size(header) bytes) and lays out the payload.
// kInvalid when the payload is shorter than its prefix or the padding does not fit.
ParseState parse_payload_layout(const FrameHeader& header, std::string_view prefix,
                                PayloadLayout* out);

struct Frame {
  FrameHeader header;
  PayloadLayout layout;
  std::string_view payload;  // all of it
  std::string_view content;  // see PayloadLayout
};

// Consumes one whole frame from *buf on kSuccess. kNeedsMoreData for any prefix of a valid frame,
// kInvalid when the header breaks valid_frame_header or the layout does not fit. Views point
// into *buf.
ParseState parse_frame(std::string_view* buf, Frame* out);

// Big-endian fields of the control frames, read from a payload valid_frame_header accepted.
uint32_t read_u32(std::string_view bytes);  // first 4 bytes, reserved bit included
inline uint32_t rst_stream_error_code(std::string_view payload) { return read_u32(payload); }
inline uint32_t goaway_last_stream_id(std::string_view payload) {
  return read_u32(payload) & 0x7fffffffu;
}
inline uint32_t goaway_error_code(std::string_view payload) { return read_u32(payload.substr(4)); }
inline uint32_t window_update_increment(std::string_view payload) {
  return read_u32(payload) & 0x7fffffffu;
}

struct Setting {
  uint16_t id = 0;
  uint32_t value = 0;
};
// One 6-byte entry of a SETTINGS payload.
Setting decode_setting(std::string_view six_bytes);

// The name of an error code of RST_STREAM or GOAWAY ("CANCEL"), or an empty view for one
// RFC 9113 does not define.
std::string_view error_code_name(uint32_t code);

}  // namespace hodos::protocols::http2
