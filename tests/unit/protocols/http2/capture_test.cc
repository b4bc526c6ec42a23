// The HTTP/2 matcher fed the fixtures the way a lossy capture delivers them: cut at every byte,
// split at every position, shortened inside payloads and header blocks, or picked up mid-stream.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "expected.h"
#include "protocols/http2/match.h"
#include "replay.h"

namespace hodos::protocols::http2 {
namespace {

using testing::captured_fixtures;
using testing::expect_clean;
using testing::expected_exchanges;
using testing::find_frame;
using testing::fixture;
using testing::Fixture;
using testing::FrameAt;
using testing::gave_up;
using testing::kClient;
using testing::kServer;
using testing::Piece;
using testing::pieces_of;
using testing::replay;
using testing::Replayed;
using testing::Segment;
using testing::sent_by;
using testing::summaries;
using testing::with_gap;

// Positions worth cutting at in a segment: all of them in small ones; in large ones (DATA
// payloads, a 17 KB header block) the first and last 300 bytes and every 97th in between.
std::vector<size_t> cut_positions(size_t size) {
  std::vector<size_t> out;
  for (size_t i = 0; i <= size; ++i) {
    if (size <= 2048 || i < 300 || size - i < 300 || i % 97 == 0) out.push_back(i);
  }
  return out;
}

TEST(Http2Capture, SplitAtEveryPositionOfEveryChunk) {
  for (const Fixture& f : captured_fixtures()) {
    const std::vector<std::string>& expected = expected_exchanges().at(f.name);
    std::vector<Piece> whole = pieces_of(f);
    for (size_t k = 0; k < whole.size(); ++k) {
      for (size_t at : cut_positions(whole[k].captured.size())) {
        std::vector<Piece> pieces = whole;
        std::string_view bytes = whole[k].captured;
        pieces[k].captured = bytes.substr(0, at);
        pieces.insert(pieces.begin() + static_cast<ptrdiff_t>(k) + 1,
                      {whole[k].sender, bytes.substr(at)});
        for (Role role : {Role::kServer, Role::kClient}) {
          Replayed run = replay(pieces, role);
          ASSERT_EQ(summaries(run.exchanges), expected)
              << f.name << " chunk " << k << " split at " << at;
          ASSERT_EQ(gave_up(run.counters) + run.counters.skipped_bytes, 0u) << f.name;
        }
      }
    }
  }
}

TEST(Http2Capture, OneByteChunks) {
  for (const Fixture& f : captured_fixtures()) {
    std::vector<Piece> pieces;
    for (const Segment& s : f.segments) {
      for (size_t i = 0; i < s.bytes.size(); ++i)
        pieces.push_back({s.sender, s.bytes.substr(i, 1)});
    }
    Replayed run = replay(pieces, Role::kServer);
    EXPECT_EQ(summaries(run.exchanges), expected_exchanges().at(f.name)) << f.name;
    expect_clean(run, f.name);
  }
}

TEST(Http2Capture, EveryTruncatedPrefix) {
  // The connection stops being seen after n bytes: what was complete is handed out exactly as in
  // the whole run, nothing is lost or invalid, and close() adds only incomplete exchanges.
  for (const Fixture& f : captured_fixtures()) {
    const std::vector<std::string>& expected = expected_exchanges().at(f.name);
    std::vector<Piece> whole = pieces_of(f);
    for (size_t k = 0; k < whole.size(); ++k) {
      for (size_t at : cut_positions(whole[k].captured.size())) {
        std::vector<Piece> pieces(whole.begin(), whole.begin() + static_cast<ptrdiff_t>(k) + 1);
        pieces.back().captured = pieces.back().captured.substr(0, at);
        Replayed open = replay(pieces, Role::kServer, /*close=*/false);
        ASSERT_LE(open.exchanges.size(), expected.size()) << f.name;
        std::vector<std::string> got = summaries(open.exchanges);
        ASSERT_TRUE(std::equal(got.begin(), got.end(), expected.begin()))
            << f.name << " cut in chunk " << k << " at " << at;
        ASSERT_EQ(gave_up(open.counters) + open.counters.skipped_bytes, 0u)
            << f.name << " cut in chunk " << k << " at " << at;
        ASSERT_EQ(open.counters.exchanges, open.exchanges.size());
        ASSERT_LE(open.counters.responses, open.counters.requests) << f.name;

        Replayed closed = replay(pieces, Role::kServer, /*close=*/true);
        ASSERT_GE(closed.exchanges.size(), open.exchanges.size());
        for (size_t i = open.exchanges.size(); i < closed.exchanges.size(); ++i) {
          ASSERT_EQ(closed.exchanges[i].end, StreamEnd::kIncomplete) << f.name;
          ASSERT_NE(closed.exchanges[i].response.status, 0) << f.name;  // response headers seen
        }
        ASSERT_EQ(closed.counters.exchanges + closed.counters.unmatched_requests,
                  closed.counters.requests)
            << f.name << " cut in chunk " << k << " at " << at;
      }
    }
  }
}

TEST(Http2Capture, EachDirectionInOneChunk) {
  // The client's bytes all first, then the server's: the per-direction state (HPACK tables,
  // SETTINGS and their ACKs) does not depend on how the directions interleave. Not the resets:
  // a reset before the response's DATA drops that DATA.
  for (const Fixture& f : captured_fixtures()) {
    if (f.name == "h2c_rst_stream") continue;
    std::string client = sent_by(f, kClient), server = sent_by(f, kServer);
    Replayed run = replay({{kClient, client}, {kServer, server}}, Role::kServer);
    std::vector<std::string> got = summaries(run.exchanges);
    std::vector<std::string> expected = expected_exchanges().at(f.name);
    std::sort(got.begin(), got.end());
    std::sort(expected.begin(), expected.end());
    EXPECT_EQ(got, expected) << f.name;
    EXPECT_EQ(gave_up(run.counters), 0u) << f.name;
  }
}

// --- bytes the capture missed ---------------------------------------------------------------

TEST(Http2Capture, LossInsideADataPayloadIsSkippedByLength) {
  const Fixture& f = fixture("h2c_post");
  FrameAt data = find_frame(f, kClient, FrameType::kData, 1, 1);  // the second DATA frame
  std::vector<Piece> pieces = with_gap(f, kClient, data.content_offset() + 100, 10000);
  for (Role role : {Role::kServer, Role::kClient}) {
    Replayed run = replay(pieces, role);
    ASSERT_EQ(run.exchanges.size(), 1u);
    const Exchange& e = run.exchanges[0];
    EXPECT_EQ(testing::summary(e), "#1 POST /items -> 201 req=39999 resp=18");
    EXPECT_EQ(e.request.body.uncaptured, 10000u);
    EXPECT_TRUE(e.request.body.complete);
    EXPECT_EQ(run.counters.truncated, 1u);
    EXPECT_EQ(run.counters.skipped_bytes, 10000u);
    EXPECT_EQ(gave_up(run.counters), 0u);
  }
}

TEST(Http2Capture, LossEndingAFrameExactlyKeepsTheFraming) {
  // The gap covers the rest of a DATA frame and nothing more: the next frame header is where
  // the next chunk starts.
  const Fixture& f = fixture("h2c_post");
  FrameAt data = find_frame(f, kClient, FrameType::kData, 1, 0);
  std::vector<Piece> pieces =
      with_gap(f, kClient, data.content_offset() + 10, data.end() - data.content_offset() - 10);
  Replayed run = replay(pieces, Role::kServer);
  ASSERT_EQ(run.exchanges.size(), 1u);
  EXPECT_EQ(run.exchanges[0].request.body.bytes, 39999u);
  EXPECT_EQ(gave_up(run.counters), 0u);
}

TEST(Http2Capture, SendfileBytesAreBodyButNoLoss) {
  const Fixture& f = fixture("h2c_post");
  FrameAt data = find_frame(f, kClient, FrameType::kData, 1, 0);
  Replayed run = replay(with_gap(f, kClient, data.content_offset(), 16384, /*length_only=*/true),
                        Role::kServer);
  ASSERT_EQ(run.exchanges.size(), 1u);
  EXPECT_EQ(run.exchanges[0].request.body.bytes, 39999u);
  EXPECT_EQ(run.exchanges[0].request.body.uncaptured, 0u);
  EXPECT_EQ(run.counters.truncated, 0u);
}

TEST(Http2Capture, LossInsideAGrpcMessageKeepsTheCountExact) {
  const Fixture& f = fixture("grpc_server_streaming");
  // Response DATA frames hold one message each: 5-byte prefix and 10 bytes.
  FrameAt first = find_frame(f, kServer, FrameType::kData, 1, 0);
  ASSERT_EQ(first.layout.content_size, 15u);
  Replayed inside = replay(with_gap(f, kServer, first.content_offset() + 7, 8), Role::kServer);
  ASSERT_EQ(inside.exchanges.size(), 1u);
  EXPECT_EQ(inside.exchanges[0].response.body.messages, 3u);
  EXPECT_TRUE(inside.exchanges[0].response.body.messages_exact);
  EXPECT_EQ(inside.exchanges[0].response.body.bytes, 45u);

  FrameAt second = find_frame(f, kServer, FrameType::kData, 1, 1);
  Replayed prefix = replay(with_gap(f, kServer, second.content_offset(), 3), Role::kServer);
  ASSERT_EQ(prefix.exchanges.size(), 1u);
  EXPECT_EQ(prefix.exchanges[0].response.body.messages, 1u);  // only the one before the loss
  EXPECT_FALSE(prefix.exchanges[0].response.body.messages_exact);
  EXPECT_EQ(prefix.exchanges[0].response.body.bytes, 45u);
  EXPECT_EQ(prefix.exchanges[0].response.grpc_status, 0);
}

TEST(Http2Capture, LossInsideAHeaderBlockGivesUp) {
  // The second request's block refers to the table the first one built: nothing after a lost
  // block can be decoded, so the matcher stops rather than guess.
  const Fixture& f = fixture("h2c_dynamic_table");
  FrameAt headers = find_frame(f, kClient, FrameType::kHeaders, 3);
  Replayed run = replay(with_gap(f, kClient, headers.content_offset() + 2, 3), Role::kServer);
  EXPECT_EQ(summaries(run.exchanges),
            std::vector<std::string>{"#1 GET /items/1 -> 200 req=0 resp=14"});
  EXPECT_EQ(run.counters.headers_lost, 1u);
  EXPECT_EQ(gave_up(run.counters), 1u);
  EXPECT_FALSE(run.active);

  // In a CONTINUATION of the server's response.
  const Fixture& big = fixture("h2c_continuation");
  FrameAt continuation = find_frame(big, kServer, FrameType::kContinuation);
  Replayed cut =
      replay(with_gap(big, kServer, continuation.content_offset() + 100, 10), Role::kClient);
  EXPECT_TRUE(cut.exchanges.empty());
  EXPECT_EQ(cut.counters.headers_lost, 1u);
  EXPECT_EQ(cut.counters.unmatched_requests, 1u);
}

TEST(Http2Capture, LossOfAFrameHeaderGivesUp) {
  const Fixture& f = fixture("h2c_dynamic_table");
  FrameAt headers = find_frame(f, kClient, FrameType::kHeaders, 3);
  for (size_t into : {0, 4}) {
    Replayed run = replay(with_gap(f, kClient, headers.offset + into, 2), Role::kServer);
    EXPECT_EQ(run.counters.framing_lost, 1u) << into;
    EXPECT_EQ(gave_up(run.counters), 1u) << into;
    EXPECT_EQ(run.exchanges.size(), 1u) << into;
  }
}

TEST(Http2Capture, LossInTheHeaderBlocksPaddingIsHarmless) {
  const Fixture& f = fixture("h2c_padded_priority_ping");
  FrameAt headers = find_frame(f, kServer, FrameType::kHeaders, 1);
  ASSERT_GT(headers.layout.padding, 10u);
  Replayed run = replay(with_gap(f, kServer, headers.padding_offset() + 2, 5), Role::kServer);
  EXPECT_EQ(summaries(run.exchanges), expected_exchanges().at(f.name));
  EXPECT_EQ(gave_up(run.counters), 0u);
  // But a lost pad length leaves the block's end unknown.
  Replayed lost = replay(with_gap(f, kServer, headers.offset + kFrameHeaderSize, 2), Role::kServer);
  EXPECT_EQ(lost.counters.headers_lost, 1u);
}

TEST(Http2Capture, LossInAControlFrameIsHarmless) {
  const Fixture& f = fixture("h2c_padded_priority_ping");
  FrameAt ping = find_frame(f, kClient, FrameType::kPing);
  Replayed run = replay(with_gap(f, kClient, ping.content_offset() + 1, 6), Role::kServer);
  EXPECT_EQ(summaries(run.exchanges), expected_exchanges().at(f.name));
  EXPECT_EQ(gave_up(run.counters), 0u);
}

TEST(Http2Capture, LostResetLeavesTheStreamOpenUntilClose) {
  const Fixture& f = fixture("h2c_rst_stream");
  FrameAt rst = find_frame(f, kServer, FrameType::kRstStream, 1);
  Replayed run = replay(with_gap(f, kServer, rst.content_offset(), 4), Role::kServer);
  ASSERT_EQ(run.exchanges.size(), 2u);
  EXPECT_EQ(run.counters.unmatched_requests, 1u);  // /refused: no response, no reset seen
  EXPECT_EQ(gave_up(run.counters), 0u);
}

// --- connections first seen mid-stream ------------------------------------------------------

// The fixture as seen from byte `client_from` of the client's bytes and `server_from` of the
// server's on.
std::vector<Piece> from_the_middle(const Fixture& f, size_t client_from, size_t server_from) {
  std::vector<Piece> out;
  size_t skip[2] = {server_from, client_from};
  for (const Segment& s : f.segments) {
    size_t& n = skip[s.sender == kClient ? 1 : 0];
    size_t drop = std::min(n, s.bytes.size());
    n -= drop;
    if (drop < s.bytes.size()) out.push_back({s.sender, s.bytes.substr(drop)});
  }
  return out;
}

TEST(Http2Capture, PickedUpMidStreamIsUndecodable) {
  const Fixture& f = fixture("h2c_dynamic_table");
  FrameAt second = find_frame(f, kClient, FrameType::kHeaders, 3);
  FrameAt response = find_frame(f, kServer, FrameType::kHeaders, 3);
  for (Role role : {Role::kServer, Role::kClient, Role::kUnknown}) {
    Replayed run = replay(from_the_middle(f, second.offset, response.offset), role);
    EXPECT_TRUE(run.exchanges.empty());
    EXPECT_EQ(run.counters.undecodable, 1u);
    EXPECT_EQ(gave_up(run.counters), 1u);
    EXPECT_EQ(run.counters.requests, 0u);
  }
  // From any byte of the client's side but the first, whatever the server's side does.
  std::string client = sent_by(f, kClient);
  for (size_t at = 1; at < client.size(); ++at) {
    Replayed run = replay(from_the_middle(f, at, 0), Role::kServer);
    EXPECT_TRUE(run.exchanges.empty()) << at;
    EXPECT_EQ(run.counters.undecodable, 1u) << at;
  }
}

TEST(Http2Capture, AMidConnectionSettingsFrameIsNoStart) {
  // The client's second SETTINGS (a table size change) could pass for a server's first frame
  // when the role is unknown; the other direction, without a preface, still gives it away.
  const Fixture& f = fixture("h2c_table_size");
  FrameAt settings = find_frame(f, kClient, FrameType::kSettings, 0, 2);
  ASSERT_FALSE(settings.header.has(flags::kAck));
  FrameAt response = find_frame(f, kServer, FrameType::kHeaders, 3);
  for (Role role : {Role::kServer, Role::kUnknown}) {
    Replayed run = replay(from_the_middle(f, settings.offset, response.offset), role);
    EXPECT_TRUE(run.exchanges.empty());
    EXPECT_EQ(run.counters.undecodable, 1u);
  }
}

TEST(Http2Capture, FirstChunkUncapturedWithUnknownRoleIsUndecodable) {
  const Fixture& f = fixture("h2c_get");
  std::vector<Piece> pieces = pieces_of(f);
  pieces[0] = {pieces[0].sender, {}, pieces[0].captured.size()};
  Replayed run = replay(pieces, Role::kUnknown);
  EXPECT_EQ(run.counters.undecodable, 1u);
  EXPECT_TRUE(run.exchanges.empty());
}

TEST(Http2Capture, UncapturedPrefaceIsSkippedByItsFixedSize) {
  // A known role: the preface has a fixed size, so the frames after it are still found.
  const Fixture& f = fixture("h2c_get");
  Replayed run = replay(with_gap(f, kClient, 0, kClientPreface.size()), Role::kServer);
  EXPECT_EQ(summaries(run.exchanges), expected_exchanges().at(f.name));
}

TEST(Http2Capture, Http1IsUndecodable) {
  for (Role role : {Role::kServer, Role::kUnknown}) {
    Replayed run = replay({{kClient, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"},
                           {kServer, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"}},
                          role);
    EXPECT_EQ(run.counters.undecodable, 1u);
    EXPECT_TRUE(run.exchanges.empty());
  }
}

}  // namespace
}  // namespace hodos::protocols::http2
