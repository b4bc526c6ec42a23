#include "protocols/http2/match.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "expected.h"
#include "protocols/http1/attributes.h"
#include "replay.h"
#include "wire.h"

namespace hodos::protocols::http2 {
namespace {

using testing::captured_fixtures;
using testing::expect_clean;
using testing::expected_exchanges;
using testing::fixture;
using testing::Fixture;
using testing::kClient;
using testing::kServer;
using testing::Piece;
using testing::replay;
using testing::Replayed;
using testing::Segment;
using testing::sent_by;
using testing::summaries;
using testing::Wire;

TEST(Http2Match, EveryFixtureFromEitherSide) {
  ASSERT_EQ(captured_fixtures().size(), expected_exchanges().size());
  for (const Fixture& f : captured_fixtures()) {
    auto expected = expected_exchanges().find(f.name);
    ASSERT_NE(expected, expected_exchanges().end()) << f.name;
    for (Role role : {Role::kServer, Role::kClient, Role::kUnknown}) {
      Replayed run = replay(f, role);
      EXPECT_EQ(summaries(run.exchanges), expected->second) << f.name;
      expect_clean(run, f.name);
      EXPECT_FALSE(run.active);
    }
  }
}

TEST(Http2Match, ExchangesEndWhenTheirLastFrameArrivesNotAtClose) {
  for (const Fixture& f : captured_fixtures()) {
    Replayed run = replay(f, Role::kServer, /*close=*/false);
    EXPECT_EQ(run.exchanges.size(), expected_exchanges().at(f.name).size()) << f.name;
    EXPECT_TRUE(run.active) << f.name;
    for (const Exchange& e : run.exchanges) {
      EXPECT_NE(e.end, StreamEnd::kIncomplete) << f.name;
      EXPECT_LE(e.start_ns, e.end_ns) << f.name;
    }
  }
}

TEST(Http2Match, ServerResponseToAResetStreamIsUnmatched) {
  // The client gave up on GetItem at its deadline (RST_STREAM) before the server's own
  // DEADLINE_EXCEEDED arrived: the exchange ended with the reset.
  Replayed run = replay(fixture("grpc_deadline"), Role::kServer);
  EXPECT_EQ(run.counters.unmatched_responses, 1u);
  EXPECT_EQ(run.counters.resets, 1u);
}

TEST(Http2Match, RequestHeadersAreKeptButNoCredentials) {
  Replayed run = replay(fixture("h2c_get"), Role::kServer);
  ASSERT_EQ(run.exchanges.size(), 1u);
  const Exchange& e = run.exchanges[0];
  EXPECT_EQ(e.request.method, "GET");
  EXPECT_EQ(e.request.scheme, "http");
  EXPECT_TRUE(e.request.authority.starts_with("127.0.0.1:")) << e.request.authority;
  EXPECT_EQ(e.request.path, "/hello?x=1");
  EXPECT_EQ(e.request.user_agent, "hodos-fixture/1.0");
  EXPECT_EQ(e.request.traceparent, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  EXPECT_EQ(e.request.tracestate, "vendor=opaque");
  EXPECT_EQ(e.response.status, 200);
  EXPECT_EQ(e.response.content_type, "text/plain");
  EXPECT_TRUE(e.request.body.complete);
  EXPECT_TRUE(e.response.body.complete);
  // The request carried "authorization: Bearer secret-token-123" and "cookie: session=...".
  for (const std::string* field :
       {&e.request.method, &e.request.scheme, &e.request.authority, &e.request.path,
        &e.request.content_type, &e.request.user_agent, &e.request.te, &e.request.grpc_timeout,
        &e.request.traceparent, &e.request.tracestate, &e.response.content_type}) {
    EXPECT_EQ(field->find("secret"), std::string::npos) << *field;
  }
  // The request did carry them (decoded here straight from its header block).
  std::vector<std::string> names;
  std::string client = sent_by(fixture("h2c_get"), kClient);
  std::string_view rest = std::string_view(client).substr(kClientPreface.size());
  HeaderDecoder decoder;
  Frame frame;
  while (parse_frame(&rest, &frame) == ParseState::kSuccess) {
    if (!frame.header.is(FrameType::kHeaders)) continue;
    ASSERT_TRUE(decoder.feed(frame.content, true, [&](std::string_view name, std::string_view) {
      names.emplace_back(name);
    }));
  }
  EXPECT_NE(std::find(names.begin(), names.end(), "authorization"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "cookie"), names.end());
}

TEST(Http2Match, NoKeptHeaderIsACredentialHeader) {
  for (std::string_view name :
       {":method", ":path", ":scheme", ":authority", ":status", "content-type", "user-agent", "te",
        "grpc-timeout", "traceparent", "tracestate", "grpc-status", "grpc-message"}) {
    EXPECT_FALSE(http1::is_credential_header(name)) << name;
  }
}

TEST(Http2Match, GrpcRequestHeaders) {
  Replayed run = replay(fixture("grpc_unary_ok"), Role::kClient);
  ASSERT_EQ(run.exchanges.size(), 1u);
  const Exchange& e = run.exchanges[0];
  EXPECT_EQ(e.request.content_type, "application/grpc");
  EXPECT_EQ(e.request.te, "trailers");
  EXPECT_TRUE(e.request.user_agent.starts_with("grpc-node-js/")) << e.request.user_agent;
  EXPECT_FALSE(e.request.grpc_timeout.empty());
  EXPECT_EQ(e.request.traceparent, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  EXPECT_EQ(e.response.content_type, "application/grpc+proto");
  EXPECT_TRUE(e.response.has_trailers);
  EXPECT_TRUE(e.request.body.messages_exact && e.response.body.messages_exact);

  Replayed not_found = replay(fixture("grpc_not_found"), Role::kServer);
  ASSERT_EQ(not_found.exchanges.size(), 1u);
  EXPECT_TRUE(not_found.exchanges[0].response.has_grpc_message);
  EXPECT_EQ(not_found.exchanges[0].response.grpc_status, 5);

  Replayed go = replay(fixture("grpc_go_client"), Role::kServer);
  ASSERT_EQ(go.exchanges.size(), 2u);
  EXPECT_EQ(go.exchanges[0].request.content_type, "application/grpc");
  EXPECT_TRUE(go.exchanges[0].request.user_agent.starts_with("hodos-go-peer grpc-go/"))
      << go.exchanges[0].request.user_agent;
}

TEST(Http2Match, TimestampsComeFromTheChunksHoldingTheFrames) {
  // Stream 1 of h2c_get: the request HEADERS is in the client's second chunk or first; the
  // response's END_STREAM in the server's last chunk.
  const Fixture& f = fixture("h2c_get");
  Replayed run = replay(f, Role::kServer);
  ASSERT_EQ(run.exchanges.size(), 1u);
  // replay() stamps chunk i (from 0) with 1000 * (i + 1).
  size_t headers_chunk = 0, end_chunk = 0;
  std::string client_bytes;
  for (size_t i = 0; i < f.segments.size(); ++i) {
    const Segment& s = f.segments[i];
    if (s.sender == kClient) {
      size_t before = client_bytes.size();
      client_bytes += s.bytes;
      // The request HEADERS is the client's first frame after the preface and its SETTINGS.
      size_t at = kClientPreface.size() + kFrameHeaderSize;
      if (before <= at && at < client_bytes.size() && headers_chunk == 0) headers_chunk = i;
    } else {
      end_chunk = i;  // the server's last bytes: DATA with END_STREAM
    }
  }
  EXPECT_EQ(run.exchanges[0].start_ns, 1000 * (headers_chunk + 1));
  EXPECT_EQ(run.exchanges[0].end_ns, 1000 * (end_chunk + 1));
}

TEST(Http2Match, RoleIsDecidedFromThePreface) {
  for (const Fixture& f : captured_fixtures()) {
    // Whichever side's bytes come first (the grpc-js server wrote its SETTINGS before the
    // grpc-go client's preface reached it).
    const Segment& first = f.segments.front();
    for (Role traced : {Role::kServer, Role::kClient}) {
      ConnectionMatcher m(Role::kUnknown, [](Exchange&&) {});
      m.feed(testing::direction_of(first.sender, traced), {first.bytes, 0, 1});
      EXPECT_EQ(m.role(), traced) << f.name;
      EXPECT_TRUE(m.active()) << f.name;
    }
  }
  // The server's SETTINGS may come first: its direction is then the server's.
  for (Direction server_dir : {Direction::kEgress, Direction::kIngress}) {
    Direction client_dir =
        server_dir == Direction::kEgress ? Direction::kIngress : Direction::kEgress;
    Wire client(true), server(false);
    std::string settings = server.take();
    client.headers(1, testing::get_request("/x"), true);
    server.settings_ack().headers(1, testing::status("204"), true);
    std::vector<Exchange> out;
    ConnectionMatcher m(Role::kUnknown, [&](Exchange&& e) { out.push_back(std::move(e)); });
    m.feed(server_dir, {settings, 0, 1});
    EXPECT_EQ(m.role(), server_dir == Direction::kEgress ? Role::kServer : Role::kClient);
    m.feed(client_dir, {client.take(), 0, 2});
    m.feed(server_dir, {server.take(), 0, 3});
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].response.status, 204);
  }
}

TEST(Http2Match, StartsWithClientPreface) {
  EXPECT_TRUE(starts_with_client_preface(kClientPreface));
  EXPECT_TRUE(starts_with_client_preface("PRI * HT"));
  EXPECT_TRUE(starts_with_client_preface(std::string(kClientPreface) + "\x00\x00"));
  EXPECT_FALSE(starts_with_client_preface(""));
  EXPECT_FALSE(starts_with_client_preface("GET / HTTP/1.1\r\n"));
  EXPECT_FALSE(starts_with_client_preface("PRI * HTTP/1.1"));
}

}  // namespace
}  // namespace hodos::protocols::http2
