#include "protocols/http2/frame.h"

#include <array>

namespace hodos::protocols::http2 {
namespace {

uint8_t byte_at(std::string_view bytes, size_t i) { return static_cast<uint8_t>(bytes[i]); }

}  // namespace

uint32_t read_u32(std::string_view bytes) {
  return static_cast<uint32_t>(byte_at(bytes, 0)) << 24 |
         static_cast<uint32_t>(byte_at(bytes, 1)) << 16 |
         static_cast<uint32_t>(byte_at(bytes, 2)) << 8 | byte_at(bytes, 3);
}

FrameHeader decode_frame_header(std::string_view bytes) {
  FrameHeader h;
  h.length = static_cast<uint32_t>(byte_at(bytes, 0)) << 16 |
             static_cast<uint32_t>(byte_at(bytes, 1)) << 8 | byte_at(bytes, 2);
  h.type = byte_at(bytes, 3);
  h.flags = byte_at(bytes, 4);
  h.stream_id = read_u32(bytes.substr(5)) & 0x7fffffffu;
  return h;
}

ParseState parse_frame_header(std::string_view* buf, FrameHeader* out) {
  if (buf->size() < kFrameHeaderSize) return ParseState::kNeedsMoreData;
  *out = decode_frame_header(*buf);
  buf->remove_prefix(kFrameHeaderSize);
  return ParseState::kSuccess;
}

bool valid_frame_header(const FrameHeader& h) {
  const bool on_stream = h.stream_id != 0;
  switch (h.frame_type()) {
    case FrameType::kData:
    case FrameType::kHeaders:
    case FrameType::kPushPromise:
    case FrameType::kContinuation:
      return on_stream;
    case FrameType::kPriority:
      return on_stream && h.length == 5;
    case FrameType::kRstStream:
      return on_stream && h.length == 4;
    case FrameType::kSettings:
      return !on_stream && h.length % kSettingSize == 0 && (!h.has(flags::kAck) || h.length == 0);
    case FrameType::kPing:
      return !on_stream && h.length == 8;
    case FrameType::kGoaway:
      return !on_stream && h.length >= 8;
    case FrameType::kWindowUpdate:
      return h.length == 4;
  }
  return true;  // an extension frame
}

uint32_t payload_prefix_size(const FrameHeader& h) {
  uint32_t size = 0;
  bool paddable =
      h.is(FrameType::kData) || h.is(FrameType::kHeaders) || h.is(FrameType::kPushPromise);
  if (paddable && h.has(flags::kPadded)) size += 1;
  if (h.is(FrameType::kHeaders) && h.has(flags::kPriority)) size += 5;
  if (h.is(FrameType::kPushPromise)) size += 4;
  return size;
}

ParseState parse_payload_layout(const FrameHeader& h, std::string_view prefix, PayloadLayout* out) {
  *out = {};
  out->prefix_size = payload_prefix_size(h);
  if (prefix.size() < out->prefix_size || h.length < out->prefix_size) {
    return ParseState::kInvalid;
  }
  size_t at = 0;
  bool paddable =
      h.is(FrameType::kData) || h.is(FrameType::kHeaders) || h.is(FrameType::kPushPromise);
  if (paddable && h.has(flags::kPadded)) out->padding = byte_at(prefix, at++);
  if (h.is(FrameType::kHeaders) && h.has(flags::kPriority)) {
    uint32_t dependency = read_u32(prefix.substr(at));
    out->has_priority = true;
    out->priority.exclusive = (dependency & 0x80000000u) != 0;
    out->priority.dependency = dependency & 0x7fffffffu;
    out->priority.weight = static_cast<uint16_t>(byte_at(prefix, at + 4) + 1);
    at += 5;
  }
  if (h.is(FrameType::kPushPromise)) {
    out->promised_stream_id = read_u32(prefix.substr(at)) & 0x7fffffffu;
  }
  // The padding must leave room for the prefix (RFC 9113 6.1: a pad length covering the whole
  // payload is a protocol error); the content may be empty.
  uint32_t after_prefix = h.length - out->prefix_size;
  if (out->padding > after_prefix) return ParseState::kInvalid;
  out->content_size = after_prefix - out->padding;
  return ParseState::kSuccess;
}

ParseState parse_frame(std::string_view* buf, Frame* out) {
  std::string_view view = *buf;
  FrameHeader h;
  if (parse_frame_header(&view, &h) != ParseState::kSuccess) return ParseState::kNeedsMoreData;
  if (!valid_frame_header(h)) return ParseState::kInvalid;
  uint32_t prefix_size = payload_prefix_size(h);
  if (h.length < prefix_size) return ParseState::kInvalid;
  // The layout is checked as soon as the prefix is there, so that a bad one is found early.
  if (view.size() < prefix_size) return ParseState::kNeedsMoreData;
  PayloadLayout layout;
  if (parse_payload_layout(h, view.substr(0, prefix_size), &layout) != ParseState::kSuccess) {
    return ParseState::kInvalid;
  }
  if (view.size() < h.length) return ParseState::kNeedsMoreData;
  out->header = h;
  out->layout = layout;
  out->payload = view.substr(0, h.length);
  out->content = out->payload.substr(layout.prefix_size, layout.content_size);
  buf->remove_prefix(kFrameHeaderSize + h.length);
  return ParseState::kSuccess;
}

Setting decode_setting(std::string_view six_bytes) {
  Setting s;
  s.id = static_cast<uint16_t>(byte_at(six_bytes, 0) << 8 | byte_at(six_bytes, 1));
  s.value = read_u32(six_bytes.substr(2));
  return s;
}

std::string_view error_code_name(uint32_t code) {
  static constexpr std::array<std::string_view, 14> kNames = {"NO_ERROR",
                                                              "PROTOCOL_ERROR",
                                                              "INTERNAL_ERROR",
                                                              "FLOW_CONTROL_ERROR",
                                                              "SETTINGS_TIMEOUT",
                                                              "STREAM_CLOSED",
                                                              "FRAME_SIZE_ERROR",
                                                              "REFUSED_STREAM",
                                                              "CANCEL",
                                                              "COMPRESSION_ERROR",
                                                              "CONNECT_ERROR",
                                                              "ENHANCE_YOUR_CALM",
                                                              "INADEQUATE_SECURITY",
                                                              "HTTP_1_1_REQUIRED"};
  return code < kNames.size() ? kNames[code] : std::string_view();
}

}  // namespace hodos::protocols::http2
