// The stitch processor: a root SERVER span and the CLIENT span on the other end of its connection
// become parent and child in one trace; nothing is joined on a guess.
#include "processors/stitch.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>

#include "processor_test_util.h"
#include "processors/stitcher.h"

namespace hodos::processors {
namespace {

using namespace std::chrono_literals;
using testing::Harness;
using testing::RecordingSink;
using Clock = Stitcher::Clock;

constexpr uint64_t kMs = 1'000'000;

struct SpanSpec {
  uint8_t trace;   // trace id byte
  uint8_t id;      // span id byte
  uint8_t parent;  // 0: root
  core::SpanKind kind;
  uint64_t start_ms, end_ms;
  // "ip:port" of this side and of the other side; empty: no connection attributes.
  std::string local, peer;
  uint32_t stream = 0;  // HTTP/2 stream (core::Span::stream_id)
};

void add_endpoint(core::Arena& a, core::AttrList& attrs, std::string_view prefix,
                  const std::string& endpoint) {
  const size_t colon = endpoint.rfind(':');
  core::upsert_attribute(a, attrs, std::string(prefix) + ".address",
                         core::AnyValue::string(a.copy(endpoint.substr(0, colon))));
  core::upsert_attribute(a, attrs, std::string(prefix) + ".port",
                         core::AnyValue::integer(std::stoll(endpoint.substr(colon + 1))));
}

core::SpanBatch batch_of(const std::vector<SpanSpec>& specs) {
  core::SpanBatch b;
  core::Arena& a = b.arena();
  core::Resource* r = b.new_resource();
  for (const SpanSpec& spec : specs) {
    core::Span s;
    s.trace_id.bytes[15] = spec.trace;
    s.span_id.bytes[7] = spec.id;
    s.parent_span_id.bytes[7] = spec.parent;
    s.kind = spec.kind;
    s.start_time_unix_nano = 1'000'000'000'000 + spec.start_ms * kMs;
    s.end_time_unix_nano = 1'000'000'000'000 + spec.end_ms * kMs;
    s.name = "op";
    s.resource = r;
    s.stream_id = spec.stream;
    if (!spec.local.empty()) {
      add_endpoint(a, s.attributes, "network.local", spec.local);
      add_endpoint(a, s.attributes, "network.peer", spec.peer);
    }
    b.spans().push_back(s);
  }
  return b;
}

struct Seen {
  uint8_t trace, parent;
};

// Every released span by its id byte.
std::map<uint8_t, Seen> released(std::vector<core::SpanBatch> batches) {
  std::map<uint8_t, Seen> out;
  for (core::SpanBatch& b : batches) {
    for (const core::Span& s : b.spans()) {
      EXPECT_FALSE(out.contains(s.span_id.bytes[7])) << "released twice";
      out[s.span_id.bytes[7]] = {s.trace_id.bytes[15], s.parent_span_id.bytes[7]};
    }
  }
  return out;
}

constexpr auto kServer = core::SpanKind::kServer;
constexpr auto kClient = core::SpanKind::kClient;
constexpr auto kInternal = core::SpanKind::kInternal;

const std::string kCaller = "10.0.0.1:40000", kCallee = "10.0.0.2:8080";

TEST(Stitcher, JoinsTheServerSpanAndItsTraceToTheCallingClientSpan) {
  Stitcher st({});
  Clock::time_point t0{};
  // The callee's spans end (and arrive) first: its server span and a call it made meanwhile.
  st.add(batch_of({{2, 20, 0, kServer, 12, 18, kCallee, kCaller},
                   {2, 21, 20, kClient, 13, 15, "10.0.0.2:50000", "10.0.0.3:9000"}}),
         t0);
  st.add(batch_of({{1, 10, 0, kServer, 0, 30, "10.0.0.1:80", "10.0.0.9:1234"},
                   {1, 11, 10, kClient, 10, 20, kCaller, kCallee}}),
         t0 + 100ms);
  EXPECT_TRUE(st.release(t0 + 1s).empty()) << "held for the wait";
  auto spans = released(st.release(t0 + 3s));
  ASSERT_EQ(spans.size(), 4u);
  EXPECT_EQ(spans[20].trace, 1);
  EXPECT_EQ(spans[20].parent, 11);
  EXPECT_EQ(spans[21].trace, 1) << "the callee's own children follow it";
  EXPECT_EQ(spans[21].parent, 20);
  EXPECT_EQ(spans[10].trace, 1);
  EXPECT_EQ(spans[10].parent, 0) << "the caller's root is not touched";
  EXPECT_EQ(st.stats().stitched, 1u);
  EXPECT_EQ(st.stats().spans_rewritten, 2u);
  // The caller's own server span came from 10.0.0.9, which was never seen calling.
  EXPECT_EQ(st.stats().unmatched, 1u);
}

TEST(Stitcher, MultiplexedHttp2StreamsArePairedByStreamNotByTime) {
  Stitcher st({});
  Clock::time_point t0{};
  // Two calls at once on one connection: each server span lies inside both client spans, which
  // time alone cannot tell apart; the stream does.
  st.add(batch_of({{3, 30, 0, kServer, 2, 8, kCallee, kCaller, 3},
                   {4, 40, 0, kServer, 3, 9, kCallee, kCaller, 1}}),
         t0);
  st.add(batch_of({{1, 10, 0, kClient, 0, 10, kCaller, kCallee, 1},
                   {2, 20, 0, kClient, 1, 11, kCaller, kCallee, 3}}),
         t0 + 100ms);
  auto spans = released(st.release(t0 + 3s));
  ASSERT_EQ(spans.size(), 4u);
  EXPECT_EQ(spans[40].parent, 10);
  EXPECT_EQ(spans[40].trace, 1);
  EXPECT_EQ(spans[30].parent, 20);
  EXPECT_EQ(spans[30].trace, 2);
  EXPECT_EQ(st.stats().stitched, 2u);
  EXPECT_EQ(st.stats().ambiguous, 0u);
}

// Calls over Unix sockets have no addresses: the agent gives both ends the client socket's inode
// (core::Span::unix_connection), and two connections at once are told apart by it alone.
TEST(Stitcher, UnixSocketCallsArePairedByTheirConnection) {
  Stitcher st({});
  Clock::time_point t0{};
  auto over = [](core::SpanBatch b, std::map<uint8_t, uint64_t> connections) {
    for (core::Span& s : b.spans()) s.unix_connection = connections[s.span_id.bytes[7]];
    return b;
  };
  // Two requests served at once over two connections to one path: time alone cannot pair them.
  st.add(over(batch_of({{3, 30, 0, kServer, 2, 8, "", ""}, {4, 40, 0, kServer, 3, 9, "", ""}}),
              {{30, 7002}, {40, 7001}}),
         t0);
  st.add(over(batch_of({{1, 10, 0, kClient, 0, 10, "", ""}, {2, 20, 0, kClient, 1, 11, "", ""}}),
              {{10, 7001}, {20, 7002}}),
         t0 + 100ms);
  auto spans = released(st.release(t0 + 3s));
  ASSERT_EQ(spans.size(), 4u);
  EXPECT_EQ(spans[40].parent, 10);
  EXPECT_EQ(spans[40].trace, 1);
  EXPECT_EQ(spans[30].parent, 20);
  EXPECT_EQ(spans[30].trace, 2);
  EXPECT_EQ(st.stats().stitched, 2u);
  EXPECT_EQ(st.stats().ambiguous, 0u);
}

TEST(Stitcher, ChainsOfThreeEndInTheFirstTrace) {
  Stitcher st({});
  Clock::time_point t0{};
  const std::string b_out = "10.0.0.2:41000", c = "10.0.0.3:9000";
  // Innermost first, as they complete: C's server, B's call to C, B's server, A's call to B.
  st.add(batch_of({{3, 30, 0, kServer, 14, 16, c, b_out}}), t0);
  st.add(batch_of({{2, 21, 20, kClient, 13, 17, b_out, c}}), t0 + 10ms);
  st.add(batch_of({{2, 20, 0, kServer, 12, 18, kCallee, kCaller}}), t0 + 20ms);
  st.add(batch_of({{1, 11, 0, kClient, 10, 20, kCaller, kCallee}}), t0 + 30ms);
  auto spans = released(st.release(t0, /*everything=*/true));
  for (uint8_t id : {30, 21, 20, 11}) EXPECT_EQ(spans[id].trace, 1) << int(id);
  EXPECT_EQ(spans[30].parent, 21);
  EXPECT_EQ(spans[20].parent, 11);
  EXPECT_EQ(st.stats().stitched, 2u);
}

TEST(Stitcher, LeavesServerSpansWithAParentAndSpansWithoutConnectionsAlone) {
  Stitcher st({});
  Clock::time_point t0{};
  st.add(batch_of({{2, 20, 11, kServer, 12, 18, kCallee, kCaller},  // context came with the call
                   {2, 22, 20, kInternal, 13, 14, "", ""},
                   {3, 30, 0, kServer, 12, 18, "", ""}}),
         t0);
  st.add(batch_of({{1, 11, 0, kClient, 10, 20, kCaller, kCallee}}), t0);
  auto spans = released(st.release(t0, true));
  EXPECT_EQ(spans[20].trace, 2);
  EXPECT_EQ(spans[20].parent, 11);
  EXPECT_EQ(spans[30].trace, 3);
  EXPECT_EQ(st.stats().stitched, 0u);
  EXPECT_EQ(st.stats().unmatched, 0u) << "only root server spans with a connection count";
}

TEST(Stitcher, AServerSpanOutsideTheClientSpanIsNotJoined) {
  Stitcher st({.clock_skew = 1ms});
  Clock::time_point t0{};
  // The same ports used again later by another connection: the times do not overlap.
  st.add(batch_of({{2, 20, 0, kServer, 100, 110, kCallee, kCaller}}), t0);
  st.add(batch_of({{1, 11, 0, kClient, 10, 20, kCaller, kCallee}}), t0);
  auto spans = released(st.release(t0, true));
  EXPECT_EQ(spans[20].trace, 2);
  EXPECT_EQ(spans[20].parent, 0);
  EXPECT_EQ(st.stats().unmatched, 1u);
}

TEST(Stitcher, ClockSkewBetweenHostsIsAllowedOnlyWhenOneCallerFits) {
  {
    // The callee's clock is 5 ms behind: its span seems to start before the call.
    Stitcher st({.clock_skew = 50ms});
    st.add(batch_of({{2, 20, 0, kServer, 5, 15, kCallee, kCaller}}), Clock::time_point{});
    st.add(batch_of({{1, 11, 0, kClient, 10, 22, kCaller, kCallee}}), Clock::time_point{});
    auto spans = released(st.release(Clock::time_point{}, true));
    EXPECT_EQ(spans[20].trace, 1);
    EXPECT_EQ(spans[20].parent, 11);
  }
  {
    Stitcher st({.clock_skew = 1ms});
    st.add(batch_of({{2, 20, 0, kServer, 5, 15, kCallee, kCaller}}), Clock::time_point{});
    st.add(batch_of({{1, 11, 0, kClient, 10, 22, kCaller, kCallee}}), Clock::time_point{});
    auto spans = released(st.release(Clock::time_point{}, true));
    EXPECT_EQ(spans[20].trace, 2) << "5 ms is more than the 1 ms allowed";
  }
  {
    // Two calls on one keep-alive connection both come within the skew: no guess.
    Stitcher st({.clock_skew = 50ms});
    st.add(batch_of({{2, 20, 0, kServer, 19, 21, kCallee, kCaller}}), Clock::time_point{});
    st.add(batch_of({{1, 11, 0, kClient, 10, 20, kCaller, kCallee},
                     {1, 12, 0, kClient, 20, 30, kCaller, kCallee}}),
           Clock::time_point{});
    auto spans = released(st.release(Clock::time_point{}, true));
    EXPECT_EQ(spans[20].trace, 2);
    EXPECT_EQ(st.stats().ambiguous, 1u);
  }
}

TEST(Stitcher, KeepAliveCallsPairUpOneToOne) {
  Stitcher st({});
  Clock::time_point t0{};
  std::vector<SpanSpec> servers, clients;
  for (uint8_t i = 0; i < 5; ++i) {
    const uint64_t at = 100 + 10 * i;
    servers.push_back({static_cast<uint8_t>(20 + i), static_cast<uint8_t>(20 + i), 0, kServer,
                       at + 2, at + 5, kCallee, kCaller});
    clients.push_back({1, static_cast<uint8_t>(10 + i), 0, kClient, at, at + 7, kCaller, kCallee});
  }
  st.add(batch_of(servers), t0);
  st.add(batch_of(clients), t0);
  auto spans = released(st.release(t0, true));
  for (uint8_t i = 0; i < 5; ++i) {
    EXPECT_EQ(spans[20 + i].trace, 1);
    EXPECT_EQ(spans[20 + i].parent, 10 + i);
  }
  EXPECT_EQ(st.stats().stitched, 5u);
}

TEST(Stitcher, PipelinedCallsAreNeverCrossed) {
  Stitcher st({.clock_skew = 0ms});
  Clock::time_point t0{};
  // Two requests written back to back before the first answer: both client spans hold both
  // server spans, so nothing tells them apart.
  st.add(batch_of({{2, 20, 0, kServer, 11, 14, kCallee, kCaller},
                   {3, 30, 0, kServer, 12, 15, kCallee, kCaller}}),
         t0);
  st.add(batch_of({{1, 10, 0, kClient, 10, 16, kCaller, kCallee},
                   {1, 11, 0, kClient, 10, 17, kCaller, kCallee}}),
         t0);
  auto spans = released(st.release(t0, true));
  EXPECT_EQ(spans[20].trace, 2);
  EXPECT_EQ(spans[30].trace, 3);
  EXPECT_EQ(st.stats().stitched, 0u);
  EXPECT_EQ(st.stats().ambiguous, 2u);
}

TEST(Stitcher, LateSpansOfAJoinedTraceFollowIt) {
  Stitcher st({.wait = 1s, .remember = 60s});
  Clock::time_point t0{};
  st.add(batch_of({{2, 20, 0, kServer, 12, 18, kCallee, kCaller}}), t0);
  st.add(batch_of({{1, 11, 0, kClient, 10, 20, kCaller, kCallee}}), t0);
  auto first = released(st.release(t0 + 2s));
  EXPECT_EQ(first[20].trace, 1);
  // A span of the callee's trace that arrives after the join was sent on.
  st.add(batch_of({{2, 23, 20, kInternal, 13, 14, "", ""}}), t0 + 3s);
  auto late = released(st.release(t0 + 5s));
  EXPECT_EQ(late[23].trace, 1);
  // ...until the join is forgotten.
  st.add(batch_of({{2, 24, 20, kInternal, 13, 14, "", ""}}), t0 + 100s);
  auto forgotten = released(st.release(t0 + 102s));
  EXPECT_EQ(forgotten[24].trace, 2);
}

TEST(Stitcher, MaxSpansReleasesTheOldestEarly) {
  Stitcher st({.wait = 10s, .max_spans = 3});
  Clock::time_point t0{};
  st.add(batch_of({{1, 1, 0, kInternal, 0, 1, "", ""}, {1, 2, 0, kInternal, 0, 1, "", ""}}), t0);
  EXPECT_TRUE(st.release(t0).empty());
  st.add(batch_of({{1, 3, 0, kInternal, 0, 1, "", ""}, {1, 4, 0, kInternal, 0, 1, "", ""}}), t0);
  auto spans = released(st.release(t0));
  EXPECT_EQ(spans.size(), 2u);
  EXPECT_TRUE(spans.contains(1));
  EXPECT_EQ(st.held_spans(), 2u);
  EXPECT_EQ(st.stats().released_early, 2u);
}

// --- release_settled: spans leave as soon as nothing can change them ---

// Sets the agent's hint on the span with id byte `id` (2: no traced caller here, 1: one is).
core::SpanBatch hinted(core::SpanBatch b, uint8_t id, uint8_t local_caller) {
  for (core::Span& s : b.spans()) {
    if (s.span_id.bytes[7] == id) s.local_caller = local_caller;
  }
  return b;
}

StitchOptions settling() { return {.wait = 1s, .release_settled = true}; }

TEST(StitcherReleaseSettled, ARootServerNoLocalProcessCalledGoesAtOnceWithItsChildren) {
  Stitcher st(settling());
  Clock::time_point t0{};
  // Children end first: they wait for their root.
  st.add(batch_of({{5, 51, 50, kClient, 12, 15, "10.0.0.1:45000", "10.0.0.5:5432"},
                   {5, 52, 50, kInternal, 16, 17, "", ""}}),
         t0);
  EXPECT_TRUE(st.release(t0).empty()) << "their root may still be a server span that gets joined";
  st.add(hinted(batch_of({{5, 50, 0, kServer, 10, 20, "10.0.0.1:80", "10.0.0.9:1234"}}), 50, 2),
         t0 + 10ms);
  auto spans = released(st.release(t0 + 10ms));
  ASSERT_EQ(spans.size(), 3u);
  for (uint8_t id : {50, 51, 52}) EXPECT_EQ(spans[id].trace, 5) << int(id);
  EXPECT_EQ(spans[51].parent, 50);
  EXPECT_EQ(st.held_spans(), 0u);
  EXPECT_EQ(st.stats().released_settled, 3u);
  EXPECT_EQ(st.stats().unmatched, 0u) << "never a candidate, so not counted";
  EXPECT_TRUE(st.release(t0 + 5s).empty()) << "released once";
}

TEST(StitcherReleaseSettled, ATwoHopChainGoesWhenTheFrontendRootArrives) {
  Stitcher st(settling());
  Clock::time_point t0{};
  // external -> frontend server 10 [no local caller] -> frontend client 11 -> backend server 20
  // [a traced local caller] -> its child 21. Innermost first; 70 belongs to a trace whose root
  // is still to come and stays behind.
  st.add(hinted(batch_of({{2, 21, 20, kInternal, 13, 14, "", ""},
                          {7, 70, 71, kInternal, 13, 14, "", ""},
                          {2, 20, 0, kServer, 12, 18, kCallee, kCaller}}),
                20, 1),
         t0);
  EXPECT_TRUE(st.release(t0).empty());
  st.add(batch_of({{1, 11, 10, kClient, 10, 20, kCaller, kCallee}}), t0 + 5ms);
  EXPECT_TRUE(st.release(t0 + 5ms).empty()) << "joined, but into a trace whose root is unseen";
  EXPECT_EQ(st.stats().stitched, 1u);
  st.add(hinted(batch_of({{1, 10, 0, kServer, 0, 30, "10.0.0.1:80", "10.0.0.9:1234"}}), 10, 2),
         t0 + 10ms);
  auto spans = released(st.release(t0 + 10ms));
  ASSERT_EQ(spans.size(), 4u);
  for (uint8_t id : {10, 11, 20, 21}) EXPECT_EQ(spans[id].trace, 1) << int(id);
  EXPECT_EQ(spans[20].parent, 11);
  EXPECT_EQ(spans[21].parent, 20);
  EXPECT_EQ(spans[11].parent, 10);
  EXPECT_EQ(spans[10].parent, 0);
  EXPECT_EQ(st.stats().spans_rewritten, 2u);
  EXPECT_EQ(st.held_spans(), 1u);
  // The one left behind goes at the wait, untouched.
  EXPECT_TRUE(st.release(t0 + 999ms).empty());
  auto rest = released(st.release(t0 + 1s));
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[70].trace, 7);
  EXPECT_EQ(st.held_spans(), 0u);
  EXPECT_EQ(st.stats().released_settled, 4u);
}

TEST(StitcherReleaseSettled, SpansWhoseRootNeverArrivesGoAtTheWait) {
  Stitcher st(settling());
  Clock::time_point t0{};
  st.add(batch_of({{8, 81, 80, kInternal, 1, 2, "", ""},
                   {9, 90, 0, kInternal, 0, 3, "", ""},
                   {8, 82, 80, kClient, 1, 2, kCaller, kCallee}}),
         t0);
  auto first = released(st.release(t0));
  ASSERT_EQ(first.size(), 1u) << "a root INTERNAL span settles its trace";
  EXPECT_TRUE(first.contains(90));
  EXPECT_TRUE(st.release(t0 + 500ms).empty());
  auto rest = released(st.release(t0 + 1s));
  ASSERT_EQ(rest.size(), 2u);
  EXPECT_EQ(rest[81].trace, 8);
  EXPECT_EQ(rest[82].trace, 8);
  EXPECT_EQ(st.stats().released_settled, 1u);
}

TEST(StitcherReleaseSettled, ARootServerWithALocalCallerOrNoHintWaitsForIt) {
  {
    Stitcher st(settling());
    Clock::time_point t0{};
    st.add(hinted(batch_of({{2, 20, 0, kServer, 12, 18, kCallee, kCaller}}), 20, 1), t0);
    EXPECT_TRUE(st.release(t0 + 500ms).empty());
    // Its caller: a root CLIENT span, so the joined trace is settled at once.
    st.add(batch_of({{1, 11, 0, kClient, 10, 20, kCaller, kCallee}}), t0 + 600ms);
    auto spans = released(st.release(t0 + 600ms));
    ASSERT_EQ(spans.size(), 2u);
    EXPECT_EQ(spans[20].trace, 1);
    EXPECT_EQ(spans[20].parent, 11);
    EXPECT_EQ(st.stats().stitched, 1u);
  }
  for (uint8_t hint : {0, 1}) {
    Stitcher st(settling());
    Clock::time_point t0{};
    st.add(hinted(batch_of({{2, 20, 0, kServer, 12, 18, kCallee, kCaller}}), 20, hint), t0);
    EXPECT_TRUE(st.release(t0 + 999ms).empty()) << int(hint);
    auto spans = released(st.release(t0 + 1s));
    EXPECT_EQ(spans[20].trace, 2);
    EXPECT_EQ(st.stats().unmatched, 1u);
    EXPECT_EQ(st.stats().released_settled, 0u);
  }
}

// The same arrivals, with and without release_settled, end in the same traces: random call trees
// whose spans come in random batches, released at random times.
TEST(StitcherReleaseSettled, GivesTheSameResultsAsHoldingEverything) {
  std::mt19937 rng(7);
  for (int round = 0; round < 200; ++round) {
    std::vector<SpanSpec> all;
    uint8_t next_id = 1;
    // Up to 4 requests, each a chain of up to 3 services: server root, client call to the next.
    const int requests = 1 + static_cast<int>(rng() % 4);
    for (int r = 0; r < requests; ++r) {
      const int hops = 1 + static_cast<int>(rng() % 3);
      const uint64_t base = 100 * static_cast<uint64_t>(r);
      std::string peer = "10.0.9." + std::to_string(r) + ":1000";  // outside, untraced
      for (int h = 0; h < hops; ++h) {
        const uint8_t trace = static_cast<uint8_t>(10 * r + h + 1);
        const std::string me = "10.0.0." + std::to_string(h + 1) + ":80";
        const uint8_t server_id = next_id++;
        all.push_back({trace, server_id, 0, kServer, base + 10 * h, base + 90 - 10 * h, me, peer});
        all.push_back({trace, next_id++, server_id, kInternal, base + 10 * h + 1,
                       base + 10 * h + 2, "", ""});
        if (h + 1 < hops) {
          const std::string out = "10.0.0." + std::to_string(h + 1) + ":" +
                                  std::to_string(40000 + r);
          const std::string callee = "10.0.0." + std::to_string(h + 2) + ":80";
          all.push_back({trace, next_id++, server_id, kClient, base + 10 * h + 5,
                         base + 85 - 10 * h, out, callee});
          peer = out;
        }
      }
    }
    std::shuffle(all.begin(), all.end(), rng);
    std::vector<std::vector<SpanSpec>> batches;
    for (size_t i = 0; i < all.size();) {
      const size_t n = std::min(all.size() - i, size_t{1} + rng() % 4);
      batches.emplace_back(all.begin() + static_cast<std::ptrdiff_t>(i),
                           all.begin() + static_cast<std::ptrdiff_t>(i + n));
      i += n;
    }
    std::vector<int> gaps_ms;
    for (size_t i = 0; i < batches.size(); ++i) gaps_ms.push_back(static_cast<int>(rng() % 400));
    auto run = [&](bool settle) {
      Stitcher st({.wait = 1s, .release_settled = settle});
      Clock::time_point now{};
      std::vector<core::SpanBatch> out;
      for (size_t i = 0; i < batches.size(); ++i) {
        core::SpanBatch b = batch_of(batches[i]);
        // The hint the agent gives: the first hop's caller is outside, the others are traced.
        for (core::Span& s : b.spans()) {
          if (s.kind == kServer) s.local_caller = s.trace_id.bytes[15] % 10 == 1 ? 2 : 1;
        }
        st.add(std::move(b), now);
        for (core::SpanBatch& r : st.release(now)) out.push_back(std::move(r));
        now += std::chrono::milliseconds(gaps_ms[i]);
      }
      for (core::SpanBatch& r : st.release(now + 10s)) out.push_back(std::move(r));
      EXPECT_EQ(st.held_spans(), 0u);
      return released(std::move(out));
    };
    auto held = run(false), settled = run(true);
    ASSERT_EQ(held.size(), all.size());
    ASSERT_EQ(settled.size(), all.size());
    for (const auto& [id, seen] : held) {
      EXPECT_EQ(settled[id].trace, seen.trace) << "round " << round << " span " << int(id);
      EXPECT_EQ(settled[id].parent, seen.parent) << "round " << round << " span " << int(id);
    }
  }
}

TEST(StitchProcessor, ReleaseSettledSendsSettledSpansWithoutWaiting) {
  Harness h;
  RecordingSink sink;
  auto factory = make_stitch_processor_factory();
  auto p = h.create(*factory, "wait: 1h\nremember: 2h\nrelease_settled: true\n", sink);
  ASSERT_TRUE(p->start().is_ok());
  ASSERT_TRUE(p->consume(batch_of({{1, 1, 0, kInternal, 0, 1, "", ""}})).is_ok());
  EXPECT_EQ(sink.span_count(), 1u) << "sent from consume, long before the wait";
  EXPECT_EQ(h.metrics.value("hodos_processor_stitch_released_settled_spans_total",
                            {{"processor", "stitch"}}),
            1);
  p->shutdown(std::chrono::steady_clock::now() + 5s);
}

TEST(StitchProcessor, SendsJoinedSpansAfterTheWaitAndCounts) {
  Harness h;
  RecordingSink sink;
  auto factory = make_stitch_processor_factory();
  auto p = h.create(*factory, "wait: 50ms\n", sink);
  ASSERT_TRUE(p->start().is_ok());
  ASSERT_TRUE(p->consume(batch_of({{2, 20, 0, kServer, 12, 18, kCallee, kCaller}})).is_ok());
  ASSERT_TRUE(p->consume(batch_of({{1, 11, 0, kClient, 10, 20, kCaller, kCallee}})).is_ok());
  ASSERT_TRUE(sink.wait_for_spans(2));
  p->shutdown(std::chrono::steady_clock::now() + 5s);
  auto spans = released(std::move(sink.batches()));
  EXPECT_EQ(spans[20].trace, 1);
  EXPECT_EQ(spans[20].parent, 11);
  EXPECT_EQ(h.metrics.value("hodos_processor_stitch_stitched_total", {{"processor", "stitch"}}),
            1);
}

TEST(StitchProcessor, ShutdownSendsWhatIsHeld) {
  Harness h;
  RecordingSink sink;
  auto factory = make_stitch_processor_factory();
  auto p = h.create(*factory, "wait: 1h\nremember: 2h\n", sink);
  ASSERT_TRUE(p->start().is_ok());
  ASSERT_TRUE(p->consume(batch_of({{1, 1, 0, kInternal, 0, 1, "", ""}})).is_ok());
  EXPECT_EQ(sink.span_count(), 0u);
  p->shutdown(std::chrono::steady_clock::now() + 5s);
  EXPECT_EQ(sink.span_count(), 1u);
}

TEST(StitchProcessor, ConfigErrorsNameTheKey) {
  Harness h;
  auto factory = make_stitch_processor_factory();
  EXPECT_NE(h.config_error(*factory, "wait: 0s\n").find("processors.stitch.wait"),
            std::string::npos);
  EXPECT_NE(h.config_error(*factory, "wait: 10s\nremember: 1s\n").find("remember"),
            std::string::npos);
  EXPECT_NE(h.config_error(*factory, "wiat: 1s\n").find("wiat"), std::string::npos);
  EXPECT_EQ(h.config_error(*factory, ""), "");
}

}  // namespace
}  // namespace hodos::processors
