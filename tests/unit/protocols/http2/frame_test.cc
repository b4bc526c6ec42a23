#include "protocols/http2/frame.h"

#include <gtest/gtest.h>

#include <string>

#include "replay.h"
#include "wire.h"

namespace hodos::protocols::http2 {
namespace {

using testing::captured_fixtures;
using testing::Fixture;
using testing::kClient;
using testing::kServer;
using testing::Wire;

TEST(Http2Frame, EveryCapturedFrameAndEveryTruncatedPrefix) {
  size_t frames = 0;
  for (const Fixture& f : captured_fixtures()) {
    for (testing::Sender sender : {kClient, kServer}) {
      std::string bytes = testing::sent_by(f, sender);
      std::string_view rest = bytes;
      if (sender == kClient) rest.remove_prefix(kClientPreface.size());
      while (!rest.empty()) {
        std::string_view before = rest;
        Frame frame;
        ASSERT_EQ(parse_frame(&rest, &frame), ParseState::kSuccess) << f.name;
        size_t size = before.size() - rest.size();
        ASSERT_EQ(size, kFrameHeaderSize + frame.header.length);
        ++frames;
        for (size_t n = 0; n < size; ++n) {
          std::string_view prefix = before.substr(0, n);
          Frame unused;
          ASSERT_EQ(parse_frame(&prefix, &unused), ParseState::kNeedsMoreData)
              << f.name << " frame " << frames << " cut at " << n;
          ASSERT_EQ(prefix.size(), n);  // nothing consumed
        }
      }
    }
  }
  EXPECT_GT(frames, 250u);
}

TEST(Http2Frame, HeaderFields) {
  std::string bytes("\x00\x01\x02\x01\x25\x80\x00\x00\x07", 9);
  FrameHeader h = decode_frame_header(bytes);
  EXPECT_EQ(h.length, 0x102u);
  EXPECT_TRUE(h.is(FrameType::kHeaders));
  EXPECT_TRUE(h.has(flags::kEndStream));
  EXPECT_TRUE(h.has(flags::kEndHeaders));
  EXPECT_TRUE(h.has(flags::kPriority));
  EXPECT_FALSE(h.has(flags::kPadded));
  EXPECT_EQ(h.stream_id, 7u);  // the reserved bit is dropped
}

TEST(Http2Frame, PaddingAndPriorityFromTheCapture) {
  // Node's PADDING_STRATEGY_MAX and a request with weight 42.
  const Fixture& f = testing::fixture("h2c_padded_priority_ping");
  testing::FrameAt request = testing::find_frame(f, kClient, FrameType::kHeaders, 1);
  EXPECT_TRUE(request.layout.has_priority);
  EXPECT_EQ(request.layout.priority.weight, 42);
  EXPECT_FALSE(request.layout.priority.exclusive);
  EXPECT_EQ(request.layout.prefix_size, 6u);
  EXPECT_GT(request.layout.padding, 0u);
  EXPECT_EQ(request.layout.prefix_size + request.layout.content_size + request.layout.padding,
            request.header.length);
  testing::FrameAt data = testing::find_frame(f, kServer, FrameType::kData, 1);
  EXPECT_TRUE(data.header.has(flags::kPadded));
  EXPECT_EQ(data.layout.prefix_size, 1u);

  const Fixture& push = testing::fixture("h2c_push_promise");
  testing::FrameAt promise = testing::find_frame(push, kServer, FrameType::kPushPromise, 1);
  EXPECT_EQ(promise.layout.promised_stream_id, 2u);
  EXPECT_EQ(promise.layout.prefix_size, 4u);
}

TEST(Http2Frame, ContentIsThePayloadWithoutPrefixAndPadding) {
  Wire w(false);
  w.take();
  std::string bytes = w.data(3, "hello", true, /*padding=*/4).take();
  std::string_view view = bytes;
  Frame frame;
  ASSERT_EQ(parse_frame(&view, &frame), ParseState::kSuccess);
  EXPECT_TRUE(view.empty());
  EXPECT_EQ(frame.content, "hello");
  EXPECT_EQ(frame.payload.size(), 1u + 5 + 4);
  EXPECT_EQ(frame.layout.padding, 4u);
  EXPECT_EQ(frame.header.stream_id, 3u);
}

TEST(Http2Frame, InvalidLayouts) {
  Wire w(false);
  w.take();
  auto parse = [](const std::string& bytes) {
    std::string_view view = bytes;
    Frame frame;
    return parse_frame(&view, &frame);
  };
  // Padding equal to what follows the pad length is allowed (empty data); one more is not.
  EXPECT_EQ(parse(w.frame(FrameType::kData, flags::kPadded, 1, std::string("\x02xx", 3)).take()),
            ParseState::kSuccess);
  EXPECT_EQ(parse(w.frame(FrameType::kData, flags::kPadded, 1, std::string("\x03xx", 3)).take()),
            ParseState::kInvalid);
  // A padded frame with no room for its pad length.
  EXPECT_EQ(parse(w.frame(FrameType::kData, flags::kPadded, 1, "").take()), ParseState::kInvalid);
  // HEADERS with PRIORITY needs 5 bytes before its block.
  EXPECT_EQ(parse(w.frame(FrameType::kHeaders, flags::kPriority, 1, "1234").take()),
            ParseState::kInvalid);
  EXPECT_EQ(parse(w.frame(FrameType::kRstStream, 0, 1, "123").take()), ParseState::kInvalid);
  EXPECT_EQ(parse(w.frame(FrameType::kRstStream, 0, 0, "1234").take()), ParseState::kInvalid);
  EXPECT_EQ(parse(w.frame(FrameType::kWindowUpdate, 0, 0, "1234").take()), ParseState::kSuccess);
  EXPECT_EQ(parse(w.frame(FrameType::kGoaway, 0, 0, "1234567").take()), ParseState::kInvalid);
  EXPECT_EQ(parse(w.frame(FrameType::kSettings, flags::kAck, 0, "123456").take()),
            ParseState::kInvalid);
  EXPECT_EQ(parse(w.frame(FrameType::kPriority, 0, 1, "12345").take()), ParseState::kSuccess);
  EXPECT_EQ(parse(w.frame(FrameType::kPing, 0, 1, "12345678").take()), ParseState::kInvalid);
  // An extension frame is any shape.
  EXPECT_EQ(parse(w.raw_frame(0xfa, 0xff, 0, "x").take()), ParseState::kSuccess);
  // A bad layout is found as soon as the prefix is there, not when the whole frame is.
  std::string declared = w.raw_frame(0, flags::kPadded, 1, "\xff", 200).take();
  EXPECT_EQ(parse(declared), ParseState::kInvalid);
}

TEST(Http2Frame, ControlFields) {
  std::string goaway = Wire::u32(0x80000005) + Wire::u32(11);
  EXPECT_EQ(goaway_last_stream_id(goaway), 5u);
  EXPECT_EQ(goaway_error_code(goaway), 11u);
  EXPECT_EQ(rst_stream_error_code(Wire::u32(8)), 8u);
  EXPECT_EQ(window_update_increment(Wire::u32(0x80010000)), 0x10000u);
  Setting s = decode_setting(std::string("\x00\x01\x00\x00\x10\x00", 6));
  EXPECT_EQ(s.id, static_cast<uint16_t>(SettingId::kHeaderTableSize));
  EXPECT_EQ(s.value, 4096u);
  EXPECT_EQ(error_code_name(8), "CANCEL");
  EXPECT_EQ(error_code_name(7), "REFUSED_STREAM");
  EXPECT_EQ(error_code_name(13), "HTTP_1_1_REQUIRED");
  EXPECT_EQ(error_code_name(14), "");
}

}  // namespace
}  // namespace hodos::protocols::http2
