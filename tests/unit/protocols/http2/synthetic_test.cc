// HTTP/2 matcher cases no captured fixture has, written with wire.h: header table sizes beyond
// the default, limits, malformed frames, interim responses, closing with streams open.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "expected.h"
#include "protocols/http2/match.h"
#include "replay.h"
#include "wire.h"

namespace hodos::protocols::http2 {
namespace {

using testing::fixture;
using testing::gave_up;
using testing::get_request;
using testing::grpc_request;
using testing::Headers;
using testing::kClient;
using testing::kServer;
using testing::Piece;
using testing::replay;
using testing::Replayed;
using testing::status;
using testing::summaries;
using testing::Wire;

// A conversation written piece by piece: each take() of a Wire becomes the next chunk.
struct Conversation {
  Wire client{true};
  Wire server{false};
  std::vector<std::string> chunks;
  std::vector<Piece> pieces;

  void client_sends() { push(kClient, client.take()); }
  void server_sends() { push(kServer, server.take()); }
  void push(testing::Sender sender, std::string bytes) {
    chunks.push_back(std::move(bytes));
    sender_.push_back(sender);
  }
  std::vector<Piece> all() const {
    std::vector<Piece> out;
    for (size_t i = 0; i < chunks.size(); ++i) out.push_back({sender_[i], chunks[i]});
    return out;
  }
  Replayed run(Role role = Role::kServer, MatchLimits limits = {}, bool close = true) const {
    return replay(all(), role, close, limits);
  }

 private:
  std::vector<testing::Sender> sender_;
};

Headers with(Headers h, std::string name, std::string value) {
  h.emplace_back(std::move(name), std::move(value));
  return h;
}

// --- header table sizes -----------------------------------------------------------------------

// The client grants the server's encoder a table of `granted` bytes; the server's encoder
// uses `used` of it and fills it with large headers the next responses refer to.
// With `ack_late`, the server's encoder uses the table before its ACK goes out.
Replayed run_larger_table(uint32_t granted, uint32_t used, MatchLimits limits = {},
                          bool ack_late = false) {
  Conversation c;
  c.client.settings({{static_cast<uint16_t>(SettingId::kHeaderTableSize), granted}});
  c.client.headers(1, get_request("/one"), true);
  c.client_sends();
  // One ACK for each of the client's SETTINGS (the empty first one, then the table size).
  if (!ack_late) c.server.settings_ack().settings_ack();
  c.server.encoder_table_size(used);
  Headers big = with(status("200"), "x-big", std::string(3000, 'b'));
  big.emplace_back("x-big-2", std::string(3000, 'c'));
  c.server.headers(1, big, true);
  if (ack_late) c.server.settings_ack().settings_ack();
  c.server_sends();
  c.client.settings_ack().headers(3, get_request("/two"), true);
  c.client_sends();
  c.server.headers(3, big, true);  // both from the table: needs more than 4096 bytes
  c.server_sends();
  return c.run(Role::kServer, limits);
}

TEST(Http2Synthetic, LargerTableGrantedBySettings) {
  Replayed run = run_larger_table(8192, 8192);
  EXPECT_EQ(summaries(run.exchanges),
            (std::vector<std::string>{"#1 GET /one -> 200 req=0 resp=0",
                                      "#3 GET /two -> 200 req=0 resp=0"}));
  EXPECT_EQ(gave_up(run.counters), 0u);
}

TEST(Http2Synthetic, LargerTableMayBeUsedBeforeTheAck) {
  Replayed run = run_larger_table(8192, 8192, {}, /*ack_late=*/true);
  EXPECT_EQ(run.exchanges.size(), 2u);
  EXPECT_EQ(gave_up(run.counters), 0u);
}

TEST(Http2Synthetic, TableLargerThanTheLimitFailsToDecode) {
  MatchLimits limits;
  limits.max_header_table_size = 4096;
  Replayed run = run_larger_table(8192, 8192, limits);
  EXPECT_EQ(run.counters.hpack_errors, 1u);
  EXPECT_TRUE(run.exchanges.empty());
}

TEST(Http2Synthetic, EncoderBeyondTheGrantFailsToDecode) {
  Replayed run = run_larger_table(4096, 8192);
  EXPECT_EQ(run.counters.hpack_errors, 1u);
}

TEST(Http2Synthetic, SmallerTableAppliesFromTheAck) {
  // The client shrinks its table to 0 mid-connection. The server's blocks written before its
  // ACK still use the old table; the first one after must start with a size update.
  for (bool encoder_obeys : {true, false}) {
    Conversation c;
    c.client.headers(1, get_request("/a"), true);
    c.client_sends();
    c.server.settings_ack().headers(1, with(status("200"), "x-served-by", "edge-1"), true);
    c.server_sends();
    c.client.settings({{static_cast<uint16_t>(SettingId::kHeaderTableSize), 0}});
    c.client.settings_ack().headers(3, get_request("/b"), true);
    c.client_sends();
    // Written before the server read the SETTINGS: may refer to the old table.
    c.server.headers(3, with(status("200"), "x-served-by", "edge-1"), true);
    c.server_sends();
    c.server.settings_ack();
    if (encoder_obeys) c.server.encoder_table_size(0);
    c.client.headers(5, get_request("/c"), true);
    c.client_sends();
    c.server.headers(5, with(status("200"), "x-served-by", "edge-1"), true);
    c.server_sends();
    Replayed run = c.run();
    if (encoder_obeys) {
      EXPECT_EQ(run.exchanges.size(), 3u);
      EXPECT_EQ(gave_up(run.counters), 0u);
    } else {
      // RFC 7541 4.2: the size update is required. A decoder that applied the SETTINGS at once
      // would fail on stream 3 instead, one that ignored it would not fail at all.
      EXPECT_EQ(run.exchanges.size(), 2u);
      EXPECT_EQ(run.counters.hpack_errors, 1u);
    }
  }
}

TEST(Http2Synthetic, DynamicTableEntriesCarryOverBetweenRequests) {
  const testing::Fixture& f = fixture("h2c_dynamic_table");
  Replayed run = replay(f, Role::kServer);
  ASSERT_EQ(run.exchanges.size(), 3u);
  for (const Exchange& e : run.exchanges) EXPECT_EQ(e.request.user_agent, "hodos-fixture/1.0");
  // The later blocks are too short to spell the user-agent out: they index the table.
  for (uint32_t stream : {3u, 5u}) {
    testing::FrameAt headers = testing::find_frame(f, kClient, FrameType::kHeaders, stream);
    EXPECT_LT(headers.layout.content_size, std::string_view("hodos-fixture/1.0").size());
  }
  // Without the first block (as if never sent), the second refers to entries that do not exist.
  testing::FrameAt first = testing::find_frame(f, kClient, FrameType::kHeaders, 1);
  std::string client = testing::sent_by(f, kClient);
  client.erase(first.offset, first.end() - first.offset);
  Replayed broken =
      replay({{kClient, client}, {kServer, testing::sent_by(f, kServer)}}, Role::kServer);
  EXPECT_EQ(broken.counters.hpack_errors, 1u);
  EXPECT_TRUE(broken.exchanges.empty());
}

// --- limits -----------------------------------------------------------------------------------

TEST(Http2Synthetic, StreamLimitDropsTheOldest) {
  MatchLimits limits;
  limits.max_streams = 2;
  Replayed run = replay(fixture("h2c_concurrent"), Role::kServer, true, limits);
  EXPECT_EQ(summaries(run.exchanges),
            (std::vector<std::string>{"#7 GET /slow/4 -> 200 req=0 resp=4000",
                                      "#5 GET /slow/3 -> 200 req=0 resp=3000"}));
  EXPECT_EQ(run.counters.evicted_streams, 2u);
  EXPECT_EQ(run.counters.unmatched_requests, 2u);
  EXPECT_EQ(run.counters.unmatched_responses, 2u);
}

TEST(Http2Synthetic, HeaderListLimitStopsReadingButKeepsDecoding) {
  Conversation c;
  Headers request = {{":method", "GET"},
                     {":path", "/limited"},
                     {"x-filler", std::string(200, 'f')},
                     {"user-agent", "late-agent"}};
  c.client.headers(1, request, true);
  c.client_sends();
  c.server.settings_ack().headers(1, status("200"), true);
  c.server_sends();
  c.client.headers(3, request, true);  // from the table, headers after the limit included
  c.client_sends();
  c.server.headers(3, status("204"), true);
  c.server_sends();
  MatchLimits limits;
  limits.max_header_list_bytes = 150;
  Replayed run = c.run(Role::kServer, limits);
  ASSERT_EQ(run.exchanges.size(), 2u);
  for (const Exchange& e : run.exchanges) {
    EXPECT_EQ(e.request.path, "/limited");
    EXPECT_EQ(e.request.user_agent, "");
    EXPECT_TRUE(e.request.headers_truncated);
  }
  EXPECT_EQ(run.exchanges[1].response.status, 204);
  EXPECT_EQ(run.counters.truncated, 2u);

  Replayed unlimited = c.run();
  ASSERT_EQ(unlimited.exchanges.size(), 2u);
  EXPECT_EQ(unlimited.exchanges[1].request.user_agent, "late-agent");
  EXPECT_FALSE(unlimited.exchanges[1].request.headers_truncated);
}

TEST(Http2Synthetic, LongValuesAreCutOnACharacterBoundary) {
  Conversation c;
  std::string path = "/" + std::string(9, 'a') + "\xc3\xa9\xc3\xa9";  // 10 bytes, then é é
  c.client.headers(1, get_request(path, std::string(50, 'u')), true);
  c.client_sends();
  c.server.settings_ack().headers(1, status("200"), true);
  c.server_sends();
  MatchLimits limits;
  limits.max_value_bytes = 11;  // inside the first é
  Replayed run = c.run(Role::kServer, limits);
  ASSERT_EQ(run.exchanges.size(), 1u);
  EXPECT_EQ(run.exchanges[0].request.path, "/aaaaaaaaa");
  EXPECT_EQ(run.exchanges[0].request.user_agent, std::string(11, 'u'));
}

// --- stream life ------------------------------------------------------------------------------

TEST(Http2Synthetic, InterimResponseThenFinal) {
  Conversation c;
  c.client.headers(1, with(get_request("/upload"), "expect", "100-continue"), false);
  c.client_sends();
  c.server.settings_ack().headers(1, status("100"), false);
  c.server_sends();
  c.client.data(1, "payload", true);
  c.client_sends();
  c.server.headers(1, status("201"), false).data(1, "ok", true);
  c.server_sends();
  Replayed run = c.run();
  EXPECT_EQ(summaries(run.exchanges),
            std::vector<std::string>{"#1 GET /upload -> 201 req=7 resp=2 interim=100"});
  EXPECT_EQ(run.counters.interim_responses, 1u);
  EXPECT_EQ(run.counters.responses, 1u);
}

TEST(Http2Synthetic, CloseHandsOnStreamsWithAResponseAsIncomplete) {
  Conversation c;
  c.client.headers(1, get_request("/download"), true).headers(3, get_request("/waiting"), true);
  c.client_sends();
  c.server.settings_ack().headers(1, status("200"), false).data(1, "part", false);
  c.server_sends();
  Replayed open = c.run(Role::kServer, {}, /*close=*/false);
  EXPECT_TRUE(open.exchanges.empty());
  Replayed closed = c.run();
  EXPECT_EQ(summaries(closed.exchanges),
            std::vector<std::string>{"#1 GET /download -> 200 req=0 resp=4 incomplete"});
  EXPECT_FALSE(closed.exchanges[0].response.body.complete);
  EXPECT_EQ(closed.exchanges[0].end_ns, 2000u);  // the last chunk seen
  EXPECT_EQ(closed.counters.unmatched_requests, 1u);
}

TEST(Http2Synthetic, ResponseBeforeTheRequestEndsStillCompletes) {
  // A server may answer (an error, say) before the request body ended.
  Conversation c;
  c.client.headers(1, with(get_request("/big"), "content-type", "text/plain"), false)
      .data(1, "first part", false);
  c.client_sends();
  c.server.settings_ack().headers(1, status("413"), true);
  c.server_sends();
  c.client.data(1, "late", true);  // a stream the exchange no longer tracks
  c.client_sends();
  Replayed run = c.run();
  EXPECT_EQ(summaries(run.exchanges),
            std::vector<std::string>{"#1 GET /big -> 413 req=10 resp=0 request-open"});
  EXPECT_EQ(gave_up(run.counters), 0u);
  EXPECT_EQ(run.counters.unmatched_requests, 0u);
}

TEST(Http2Synthetic, RequestTrailersAndResetsOfUnknownStreams) {
  Conversation c;
  c.client.headers(1, grpc_request("/pkg.Svc/Up"), false)
      .data(1, Wire::grpc_message(3), false)
      .headers(1, {{"x-request-trailer", "1"}}, true)
      .rst_stream(9, 8);  // never opened: ignored
  c.client_sends();
  c.server.settings_ack()
      .headers(1, with(status("200"), "content-type", "application/grpc"), false)
      .headers(1, {{"grpc-status", "0"}}, true)
      .headers(11, status("200"), true);  // never requested
  c.server_sends();
  Replayed run = c.run();
  ASSERT_EQ(run.exchanges.size(), 1u);
  EXPECT_TRUE(run.exchanges[0].request.body.complete);
  EXPECT_EQ(run.exchanges[0].request.body.messages, 1u);
  EXPECT_EQ(run.exchanges[0].response.grpc_status, 0);
  EXPECT_EQ(run.counters.resets, 0u);
  EXPECT_EQ(run.counters.unmatched_responses, 1u);
}

TEST(Http2Synthetic, PaddedDataAndHeadersAndExtensionFrames) {
  Conversation c;
  c.client.headers(1, get_request("/p"), false, 16384, /*padding=*/40)
      .raw_frame(0x42, 0, 0, "an extension frame is skipped")
      .data(1, "abc", true, /*padding=*/9);
  c.client_sends();
  c.server.settings_ack().headers(1, status("200"), false, 3, 5).data(1, "", false, 255);
  c.server.data(1, "xyz", true);
  c.server_sends();
  Replayed run = c.run();
  EXPECT_EQ(summaries(run.exchanges), std::vector<std::string>{"#1 GET /p -> 200 req=3 resp=3"});
  EXPECT_EQ(gave_up(run.counters), 0u);
}

TEST(Http2Synthetic, PushPromiseOpensAPushedStream) {
  Conversation c;
  c.client.headers(1, get_request("/index.html"), true);
  c.client_sends();
  c.server.settings_ack()
      .push_promise(1, 2, get_request("/app.js"))
      .headers(1, status("200"), false)
      .headers(2, status("200"), false)
      .data(2, "js", true)
      .data(1, "html", true);
  c.server_sends();
  Replayed run = c.run();
  EXPECT_EQ(summaries(run.exchanges),
            (std::vector<std::string>{"#2 GET /app.js -> 200 req=0 resp=2 pushed",
                                      "#1 GET /index.html -> 200 req=0 resp=4"}));
}

// --- frames a peer may not send ---------------------------------------------------------------

Replayed run_with_client_frames(const std::string& frames) {
  Conversation c;
  c.client.headers(1, get_request("/ok"), true);
  c.client_sends();
  c.server.settings_ack().headers(1, status("200"), true);
  c.server_sends();
  c.client.bytes(frames);
  c.client_sends();
  return c.run();
}

TEST(Http2Synthetic, MalformedFramesGiveUp) {
  Wire w(false);
  w.take();
  std::vector<std::pair<std::string, std::string>> cases;
  cases.emplace_back("PING of 7 bytes", w.frame(FrameType::kPing, 0, 0, "1234567").take());
  cases.emplace_back("DATA on stream 0", w.frame(FrameType::kData, 0, 0, "x").take());
  cases.emplace_back("SETTINGS not a multiple of 6",
                     w.frame(FrameType::kSettings, 0, 0, "12345").take());
  cases.emplace_back("CONTINUATION without HEADERS",
                     w.frame(FrameType::kContinuation, flags::kEndHeaders, 3, "").take());
  cases.emplace_back("padding longer than the payload", w.frame(FrameType::kData, flags::kPadded, 1,
                                                                "\x09"
                                                                "abc")
                                                            .take());
  cases.emplace_back(
      "a PUSH_PROMISE from the client",
      w.frame(FrameType::kPushPromise, flags::kEndHeaders, 1, std::string("\0\0\0\2", 4)).take());
  {
    Wire h(true);
    h.take();
    std::string headers_then_data =
        h.headers(3, get_request("/x"), false, 4).take();  // HEADERS + CONTINUATIONs
    size_t first_end = kFrameHeaderSize + 4;
    cases.emplace_back(
        "a block interrupted by DATA",
        headers_then_data.substr(0, first_end) + w.frame(FrameType::kData, 0, 3, "x").take());
  }
  for (const auto& [what, frames] : cases) {
    Replayed run = run_with_client_frames(frames);
    EXPECT_EQ(run.counters.invalid_frames, 1u) << what;
    EXPECT_EQ(gave_up(run.counters), 1u) << what;
    EXPECT_EQ(run.exchanges.size(), 1u) << what;  // what came before stays
  }
}

TEST(Http2Synthetic, GarbageHeaderBlockIsAnHpackError) {
  Wire w(false);
  w.take();
  // 0xff..: an indexed field with an index far beyond both tables.
  Replayed run =
      run_with_client_frames(w.frame(FrameType::kHeaders, flags::kEndHeaders | flags::kEndStream, 3,
                                     "\xff\xff\xff\xff\x0f")
                                 .take());
  EXPECT_EQ(run.counters.hpack_errors, 1u);
}

TEST(Http2Synthetic, FirstFrameMustBeSettings) {
  Wire client(true), server(false);
  server.take();
  client.headers(1, get_request("/"), true);
  std::string bad_start =
      std::string(kClientPreface) + client.take().substr(kClientPreface.size() + kFrameHeaderSize);
  Replayed run = replay({{kClient, bad_start}}, Role::kServer);
  EXPECT_EQ(run.counters.undecodable, 1u);
  Replayed ack_first = replay({{kServer, server.settings_ack().take()}}, Role::kServer);
  EXPECT_EQ(ack_first.counters.undecodable, 1u);
}

}  // namespace
}  // namespace hodos::protocols::http2
