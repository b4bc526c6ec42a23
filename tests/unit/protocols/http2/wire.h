// Writes one side of an HTTP/2 connection for tests that need a case no fixture has (a header
// table larger than the default, a stream limit, malformed frames). Header blocks are encoded by
// nghttp2's HPACK deflater, as a real peer's would be.
#pragma once

#include <nghttp2/nghttp2.h>

#include <cstdint>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "protocols/http2/frame.h"

namespace hodos::protocols::http2::testing {

using Headers = std::vector<std::pair<std::string, std::string>>;

class Wire {
 public:
  // A client's side starts with the preface; both sides then send their SETTINGS.
  explicit Wire(bool client, std::initializer_list<std::pair<uint16_t, uint32_t>> settings = {}) {
    // The encoder may grow its table up to what encoder_table_size() grants; it starts at 4096.
    if (nghttp2_hd_deflate_new(&deflater_, 1 << 20) != 0) throw std::runtime_error("deflater");
    if (client) bytes_ += kClientPreface;
    this->settings(settings);
  }
  ~Wire() { nghttp2_hd_deflate_del(deflater_); }
  Wire(const Wire&) = delete;
  Wire& operator=(const Wire&) = delete;

  Wire& frame(FrameType type, uint8_t flags, uint32_t stream, std::string_view payload) {
    return raw_frame(static_cast<uint8_t>(type), flags, stream, payload);
  }
  Wire& raw_frame(uint8_t type, uint8_t flags, uint32_t stream, std::string_view payload,
                  int64_t length = -1) {
    uint32_t n = length < 0 ? static_cast<uint32_t>(payload.size()) : static_cast<uint32_t>(length);
    bytes_ += static_cast<char>(n >> 16);
    bytes_ += static_cast<char>(n >> 8);
    bytes_ += static_cast<char>(n);
    bytes_ += static_cast<char>(type);
    bytes_ += static_cast<char>(flags);
    bytes_ += u32(stream);
    bytes_ += payload;
    return *this;
  }
  Wire& settings(std::initializer_list<std::pair<uint16_t, uint32_t>> entries) {
    std::string payload;
    for (auto [id, value] : entries) {
      payload += static_cast<char>(id >> 8);
      payload += static_cast<char>(id);
      payload += u32(value);
    }
    return frame(FrameType::kSettings, 0, 0, payload);
  }
  Wire& settings_ack() { return frame(FrameType::kSettings, flags::kAck, 0, {}); }
  // The encoder learned that the peer's table is `size` (its SETTINGS, acknowledged): the next
  // block starts with a size update.
  Wire& encoder_table_size(size_t size) {
    nghttp2_hd_deflate_change_table_size(deflater_, size);
    return *this;
  }
  // A header block, cut into HEADERS and CONTINUATION frames of at most `max_fragment` bytes.
  Wire& headers(uint32_t stream, const Headers& headers, bool end_stream,
                size_t max_fragment = 16384, uint8_t padding = 0) {
    std::string block = encode(headers);
    std::string_view rest = block;
    bool first = true;
    do {
      std::string_view fragment = rest.substr(0, max_fragment);
      rest.remove_prefix(fragment.size());
      uint8_t f = rest.empty() ? flags::kEndHeaders : 0;
      if (first) {
        if (end_stream) f |= flags::kEndStream;
        std::string payload;
        if (padding > 0) {
          f |= flags::kPadded;
          payload += static_cast<char>(padding);
        }
        payload += fragment;
        payload.append(padding, '\0');
        frame(FrameType::kHeaders, f, stream, payload);
      } else {
        frame(FrameType::kContinuation, f, stream, fragment);
      }
      first = false;
    } while (!rest.empty());
    return *this;
  }
  Wire& push_promise(uint32_t stream, uint32_t promised, const Headers& headers) {
    std::string payload = u32(promised) + encode(headers);
    return frame(FrameType::kPushPromise, flags::kEndHeaders, stream, payload);
  }
  Wire& data(uint32_t stream, std::string_view payload, bool end_stream, uint8_t padding = 0) {
    uint8_t f = end_stream ? flags::kEndStream : 0;
    if (padding == 0) return frame(FrameType::kData, f, stream, payload);
    std::string padded(1, static_cast<char>(padding));
    padded += payload;
    padded.append(padding, '\0');
    return frame(FrameType::kData, f | flags::kPadded, stream, padded);
  }
  Wire& rst_stream(uint32_t stream, uint32_t code) {
    return frame(FrameType::kRstStream, 0, stream, u32(code));
  }
  Wire& ping(bool ack) { return frame(FrameType::kPing, ack ? flags::kAck : 0, 0, "12345678"); }
  Wire& goaway(uint32_t last_stream, uint32_t code) {
    return frame(FrameType::kGoaway, 0, 0, u32(last_stream) + u32(code));
  }
  Wire& bytes(std::string_view raw) {
    bytes_ += raw;
    return *this;
  }

  // What was written since the last take().
  std::string take() { return std::exchange(bytes_, {}); }

  // A gRPC length-prefixed message of `size` bytes.
  static std::string grpc_message(size_t size) {
    return std::string(1, '\0') + u32(static_cast<uint32_t>(size)) + std::string(size, 'm');
  }
  static std::string u32(uint32_t v) {
    return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
            static_cast<char>(v)};
  }

  // The header block of `headers` (the encoder's table moves on), for a frame made by hand.
  std::string encode(const Headers& headers) {
    std::vector<nghttp2_nv> nva;
    for (const auto& [name, value] : headers) {
      nva.push_back({reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
                     reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(),
                     value.size(), NGHTTP2_NV_FLAG_NONE});
    }
    std::string out(nghttp2_hd_deflate_bound(deflater_, nva.data(), nva.size()), '\0');
    ssize_t n = nghttp2_hd_deflate_hd(deflater_, reinterpret_cast<uint8_t*>(out.data()), out.size(),
                                      nva.data(), nva.size());
    if (n < 0) throw std::runtime_error("deflate");
    out.resize(static_cast<size_t>(n));
    return out;
  }

 private:
  nghttp2_hd_deflater* deflater_ = nullptr;
  std::string bytes_;
};

inline Headers get_request(std::string path, std::string user_agent = "wire-test/1") {
  return {{":method", "GET"},
          {":scheme", "http"},
          {":authority", "example.test"},
          {":path", std::move(path)},
          {"user-agent", std::move(user_agent)}};
}
inline Headers grpc_request(std::string path) {
  return {{":method", "POST"},
          {":scheme", "http"},
          {":authority", "example.test"},
          {":path", std::move(path)},
          {"content-type", "application/grpc"},
          {"te", "trailers"}};
}
inline Headers status(std::string code) { return {{":status", std::move(code)}}; }

}  // namespace hodos::protocols::http2::testing
