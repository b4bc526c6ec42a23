// W3C traceparent: the value's grammar (versions, lowercase, zero ids) and finding the header in
// the raw bytes of a captured request head.
#include "core/trace_context.h"

#include <gtest/gtest.h>

#include <string>

namespace hodos::core {
namespace {

constexpr std::string_view kValid = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

TEST(TraceContext, ParsesAVersion00Value) {
  auto tp = parse_traceparent(kValid);
  ASSERT_TRUE(tp.has_value());
  EXPECT_EQ(tp->trace_id.hex(), "0af7651916cd43dd8448eb211c80319c");
  EXPECT_EQ(tp->span_id.hex(), "b7ad6b7169203331");
  EXPECT_EQ(tp->flags, 0x01);
}

TEST(TraceContext, RejectsInvalidValues) {
  const std::string valid(kValid);
  const char* invalid[] = {
      "",
      "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0",       // short
      "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-",     // 00 is exact
      "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01x",     // 00 is exact
      "00-00000000000000000000000000000000-b7ad6b7169203331-01",      // zero trace id
      "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",      // zero span id
      "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",      // version ff
      "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",      // uppercase trace id
      "00-0af7651916cd43dd8448eb211c80319c-B7AD6B7169203331-01",      // uppercase span id
      "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0A",      // uppercase flags
      "0A-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",      // uppercase version
      "00_0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",      // separator
      "00-0af7651916cd43dd8448eb211c80319c_b7ad6b7169203331-01",      // separator
      "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331_01",      // separator
      "00-0af7651916cd43dd8448eb211c8031zz-b7ad6b7169203331-01",      // not hex
      " 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",     // whitespace is the caller's
      "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01.abc",  // no '-' after the flags
  };
  for (const char* value : invalid) {
    EXPECT_FALSE(parse_traceparent(value).has_value()) << value;
  }
  EXPECT_TRUE(parse_traceparent(valid).has_value()) << "the cases above differ from a valid one";
}

TEST(TraceContext, LaterVersionsMayCarryMoreFields) {
  auto exact = parse_traceparent("cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
  ASSERT_TRUE(exact.has_value());
  EXPECT_EQ(exact->span_id.hex(), "b7ad6b7169203331");
  auto longer = parse_traceparent("01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00-what");
  ASSERT_TRUE(longer.has_value());
  EXPECT_EQ(longer->trace_id.hex(), "0af7651916cd43dd8448eb211c80319c");
  EXPECT_EQ(longer->flags, 0);
}

TEST(TraceContext, FindsTheHeaderInARequestHeadWhateverItsCaseAndWhitespace) {
  const std::string head = "GET /items/42 HTTP/1.1\r\nHost: shop\r\nTraceParent: \t" +
                           std::string(kValid) + " \r\nAccept: */*\r\n\r\n";
  auto tp = find_traceparent_in_head(head);
  ASSERT_TRUE(tp.has_value());
  EXPECT_EQ(tp->span_id.hex(), "b7ad6b7169203331");
  // Bare LF line ends, the header first, and no space after the colon.
  auto bare =
      find_traceparent_in_head("GET / HTTP/1.1\nTRACEPARENT:" + std::string(kValid) + "\n\n");
  ASSERT_TRUE(bare.has_value());
  EXPECT_EQ(bare->trace_id, tp->trace_id);
}

TEST(TraceContext, FindsNothingOutsideTheHeadOrInACutLine) {
  const std::string line = "traceparent: " + std::string(kValid);
  EXPECT_FALSE(find_traceparent_in_head("GET / HTTP/1.1\r\nHost: a\r\n\r\n").has_value());
  // In the body, after the blank line.
  EXPECT_FALSE(
      find_traceparent_in_head("POST / HTTP/1.1\r\nContent-Length: 70\r\n\r\n" + line + "\r\n")
          .has_value());
  // The capture ended inside the header line: the value may be cut.
  EXPECT_FALSE(find_traceparent_in_head("GET / HTTP/1.1\r\n" + line).has_value());
  // The line is complete even if the rest of the head is not.
  EXPECT_TRUE(find_traceparent_in_head("GET / HTTP/1.1\r\n" + line + "\r\nHo").has_value());
  // A name that only starts like it, whitespace before the colon, a header in the request line.
  EXPECT_FALSE(find_traceparent_in_head("GET / HTTP/1.1\r\ntraceparent-x: " + std::string(kValid) +
                                        "\r\ntraceparent : " + std::string(kValid) + "\r\n\r\n")
                   .has_value());
  EXPECT_FALSE(find_traceparent_in_head(line + "\r\n\r\n").has_value());
}

TEST(TraceContext, AnInvalidOrRepeatedHeaderIsNoContext) {
  EXPECT_FALSE(
      find_traceparent_in_head("GET / HTTP/1.1\r\ntraceparent: "
                               "00-00000000000000000000000000000000-b7ad6b7169203331-01\r\n\r\n")
          .has_value());
  const std::string line = "traceparent: " + std::string(kValid) + "\r\n";
  EXPECT_FALSE(find_traceparent_in_head("GET / HTTP/1.1\r\n" + line + line + "\r\n").has_value());
}

TEST(TraceContext, FindsTheTracestateInAHead) {
  EXPECT_EQ(find_tracestate_in_head("GET / HTTP/1.1\r\nTraceState:  a=1,b=2 \r\n\r\n"), "a=1,b=2");
  EXPECT_EQ(find_tracestate_in_head("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), "");
  EXPECT_EQ(find_tracestate_in_head("GET / HTTP/1.1\r\ntracestate: a=1\r\ntracestate: b=2\r\n\r\n"),
            "")
      << "repeated: not read";
  EXPECT_EQ(find_tracestate_in_head("GET / HTTP/1.1\r\ntracestate: " + std::string(513, 'x') +
                                    "\r\n\r\n"),
            "")
      << "longer than the W3C limit";
  EXPECT_EQ(find_tracestate_in_head("GET / HTTP/1.1\r\ntracestate: a=1"), "") << "cut short";
}

}  // namespace
}  // namespace hodos::core
