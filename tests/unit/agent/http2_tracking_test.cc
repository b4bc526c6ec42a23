// HTTP/2 and gRPC through the agent's tracker and span builder: real conversations (captured
// from grpc-js and Node http2: tests/unit/protocols/http2/fixtures.h) replayed as the socket
// events of a traced server or client. The preface decides the protocol; a server that writes
// its SETTINGS before the client's first bytes loses nothing; spans follow the RPC conventions
// (or HTTP's for plain HTTP/2), with the error rules of each kind; an incoming traceparent is
// continued; a connection first seen mid-stream is never guessed at.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "../protocols/http2/fixtures.h"
#include "agent/connection_tracker.h"
#include "agent/span_builder.h"
#include "core/clock.h"
#include "socket_events.h"
#include "span_attributes.h"

namespace hodos::agent {
namespace {

using protocols::http2::testing::fixture;
using protocols::http2::testing::kClient;
using protocols::http2::testing::Segment;
using testing::EventSource;
using testing::ipv4;

class Http2TrackingTest : public ::testing::Test {
 protected:
  Http2TrackingTest()
      : tracker_([this](const TrackedExchange& t) {
          builder_.add(batch_, t, core::empty_resource(), core::empty_scope());
          parents_.push_back(t.parent_id);
        }) {}

  // The conversation as the traced server sees it: the client's segments are its reads. With
  // `meanwhile`, that is run (on the same thread) right after the first request is read.
  void replay_as_server(const std::vector<Segment>& segments,
                        const std::function<void()>& meanwhile = {}) {
    tracker_.on_event(app_.accept(1, 5, server_, caller_));
    bool done = !meanwhile;
    for (const Segment& s : segments) {
      if (!done && s.sender != kClient && s.bytes.size() > 9) {
        meanwhile();  // before the first server segment that is more than a SETTINGS frame
        done = true;
      }
      tracker_.on_event(s.sender == kClient ? app_.read(7, 5, server_, caller_, s.bytes)
                                            : app_.write(7, 5, server_, caller_, s.bytes));
    }
    tracker_.on_event(app_.close(7, 5, server_, caller_));
  }
  // An HTTP/1.x call thread 7 makes.
  void http1_call() {
    tracker_.on_event(app_.connect(7, 9, local_, upstream_));
    tracker_.on_event(app_.write(7, 9, local_, upstream_, "GET /stock/1 HTTP/1.1\r\nHost: s\r\n\r\n"));
    tracker_.on_event(app_.read(7, 9, local_, upstream_, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
  }
  const core::Span& span_named(std::string_view name) {
    for (const core::Span& s : batch_.spans()) {
      if (s.name == name) return s;
    }
    ADD_FAILURE() << "no span " << name;
    return batch_.spans().at(0);
  }
  // ... as the traced client sees it: its own segments are its writes. With `meanwhile`, that is
  // run right after its first write (the preface).
  void replay_as_client(const std::vector<Segment>& segments,
                        const std::function<void()>& meanwhile = {}) {
    tracker_.on_event(app_.connect(7, 9, local_, upstream_));
    bool done = !meanwhile;
    for (const Segment& s : segments) {
      tracker_.on_event(s.sender == kClient ? app_.write(7, 9, local_, upstream_, s.bytes)
                                            : app_.read(7, 9, local_, upstream_, s.bytes));
      if (!done && s.sender == kClient) {
        meanwhile();
        done = true;
      }
    }
    tracker_.on_event(app_.close(7, 9, local_, upstream_));
  }
  const core::Span& only_span() {
    EXPECT_EQ(batch_.size(), 1u);
    return batch_.spans().at(0);
  }
  static std::string str(const core::Span& s, std::string_view key) {
    return testing::attr_text(s, key);
  }
  static int64_t integer(const core::Span& s, std::string_view key) {
    return testing::attr_int(s, key);
  }

  EventSource app_{100};
  const SocketEndpoint server_ = ipv4("10.0.0.1", 50051);
  const SocketEndpoint caller_ = ipv4("10.0.0.9", 40000);
  const SocketEndpoint local_ = ipv4("10.0.0.1", 41000);
  const SocketEndpoint upstream_ = ipv4("10.0.0.2", 50051);
  core::SpanBatch batch_;
  SpanBuilder builder_;
  std::vector<core::SpanId> parents_;
  ConnectionTracker tracker_;
};

// Ids as the kernel's grpc-go probes make them.
KernelSpanIds kernel_ids(KernelIdsKind kind, uint8_t seed) {
  KernelSpanIds ids;
  ids.kind = kind;
  ids.flags = 1;
  ids.trace_id.bytes.fill(seed);
  ids.span_id.bytes.fill(seed + 1);
  ids.parent_span_id.bytes.fill(seed + 2);
  return ids;
}

TEST_F(Http2TrackingTest, AGrpcServerCallFollowsTheRpcConventionsAndContinuesTheTraceparent) {
  replay_as_server(fixture("grpc_unary_ok").segments);
  const core::Span& span = only_span();
  EXPECT_EQ(span.kind, core::SpanKind::kServer);
  EXPECT_EQ(span.name, "hodos.test.Inventory/GetItem");
  EXPECT_EQ(str(span, "rpc.system"), "grpc");
  EXPECT_EQ(str(span, "rpc.service"), "hodos.test.Inventory");
  EXPECT_EQ(str(span, "rpc.method"), "GetItem");
  EXPECT_EQ(integer(span, "rpc.grpc.status_code"), 0);
  EXPECT_EQ(str(span, "network.protocol.name"), "http");
  EXPECT_EQ(str(span, "network.protocol.version"), "2");
  EXPECT_EQ(str(span, "client.address"), "10.0.0.9");
  EXPECT_EQ(integer(span, "network.local.port"), 50051);
  EXPECT_EQ(span.status.code, core::StatusCode::kUnset);
  // The call carried a traceparent: the SERVER span continues it.
  ASSERT_EQ(parents_.size(), 1u);
  EXPECT_TRUE(parents_[0].valid());
  EXPECT_EQ(tracker_.counters().adopted_traceparent, 1u);
  EXPECT_EQ(tracker_.counters().h2_exchanges, 1u);
}

TEST_F(Http2TrackingTest, ACallMadeWhileServingOneGrpcRequestIsItsChild) {
  replay_as_server(fixture("grpc_unary_ok").segments, [this] { http1_call(); });
  ASSERT_EQ(batch_.size(), 2u);
  const core::Span& server = span_named("hodos.test.Inventory/GetItem");
  const core::Span& call = span_named("GET /stock/{id}");
  EXPECT_EQ(call.kind, core::SpanKind::kClient);
  EXPECT_EQ(call.parent_span_id, server.span_id);
  EXPECT_EQ(call.trace_id, server.trace_id);
  EXPECT_EQ(tracker_.active_thread_count(), 0u) << "the answer ended the serving";
}

TEST_F(Http2TrackingTest, ACallMadeAfterTheAnswerStartedIsNotItsChild) {
  replay_as_server(fixture("grpc_unary_ok").segments);
  http1_call();
  const core::Span& call = span_named("GET /stock/{id}");
  EXPECT_FALSE(call.parent_span_id.valid());
}

TEST_F(Http2TrackingTest, AGrpcClientCallNamesItsServerAndANonOkStatusIsAnError) {
  replay_as_client(fixture("grpc_not_found").segments);
  const core::Span& span = only_span();
  EXPECT_EQ(span.kind, core::SpanKind::kClient);
  EXPECT_EQ(span.name, "hodos.test.Inventory/GetItem");
  EXPECT_EQ(integer(span, "rpc.grpc.status_code"), 5);
  EXPECT_EQ(span.status.code, core::StatusCode::kError);
  EXPECT_EQ(str(span, "error.type"), "NOT_FOUND");
  EXPECT_EQ(integer(span, "network.peer.port"), 50051);
  EXPECT_EQ(str(span, "network.peer.address"), "10.0.0.2");
  // Nothing of the grpc-message (it quotes user data) reaches the span.
  for (const core::KeyValue& kv : span.attributes) {
    EXPECT_EQ(kv.value.to_string().find("missing"), std::string::npos) << kv.key;
  }
}

TEST_F(Http2TrackingTest, NotFoundIsNotAnErrorOfTheServer) {
  replay_as_server(fixture("grpc_not_found").segments);
  const core::Span& span = only_span();
  EXPECT_EQ(integer(span, "rpc.grpc.status_code"), 5);
  EXPECT_EQ(span.status.code, core::StatusCode::kUnset);
}

TEST_F(Http2TrackingTest, AServerThatWritesItsSettingsFirstLosesNothing) {
  // Go's gRPC server sends its SETTINGS as soon as it accepts, before it reads the preface.
  std::vector<Segment> segments = fixture("grpc_unary_ok").segments;
  ASSERT_EQ(segments[1].sender, protocols::http2::testing::kServer);
  std::swap(segments[0], segments[1]);
  replay_as_server(segments);
  const core::Span& span = only_span();
  EXPECT_EQ(span.name, "hodos.test.Inventory/GetItem");
  EXPECT_EQ(integer(span, "rpc.grpc.status_code"), 0);
  EXPECT_EQ(tracker_.counters().h2_gave_up, 0u);
}

TEST_F(Http2TrackingTest, PlainHttp2GetsTheHttpConventionsWithoutCredentials) {
  replay_as_server(fixture("h2c_get").segments);
  const core::Span& span = only_span();
  EXPECT_EQ(span.name, "GET /hello");
  EXPECT_EQ(str(span, "http.request.method"), "GET");
  EXPECT_EQ(str(span, "url.path"), "/hello");
  EXPECT_EQ(integer(span, "http.response.status_code"), 200);
  EXPECT_EQ(str(span, "network.protocol.version"), "2");
  EXPECT_EQ(str(span, "rpc.system"), "<absent>");
  for (const core::KeyValue& kv : span.attributes) {
    const std::string text = std::string(kv.key) + "=" + kv.value.to_string();
    EXPECT_EQ(text.find("x=1"), std::string::npos) << "the query string leaked: " << text;
    EXPECT_EQ(text.find("traceparent"), std::string::npos) << text;
  }
}

TEST_F(Http2TrackingTest, EveryStreamOfAConcurrentConnectionIsASpan) {
  replay_as_client(fixture("h2c_concurrent").segments);
  EXPECT_GE(batch_.size(), 2u);
  for (const core::Span& span : batch_.spans()) {
    EXPECT_EQ(span.kind, core::SpanKind::kClient);
    EXPECT_EQ(str(span, "network.protocol.version"), "2");
  }
  EXPECT_EQ(tracker_.counters().h2_exchanges, batch_.size());
  EXPECT_EQ(tracker_.counters().h2_connections, 1u);
}

TEST_F(Http2TrackingTest, AConnectionFirstSeenMidStreamIsNeverGuessedAt) {
  // No accept or connect: the agent started while it was open. Its HPACK state is unknown.
  for (const Segment& s : fixture("grpc_unary_ok").segments) {
    if (s.bytes.starts_with("PRI")) continue;
    tracker_.on_event(s.sender == kClient ? app_.read(7, 5, server_, caller_, s.bytes)
                                          : app_.write(7, 5, server_, caller_, s.bytes));
  }
  tracker_.on_event(app_.close(7, 5, server_, caller_));
  EXPECT_EQ(batch_.size(), 0u);
  EXPECT_EQ(tracker_.counters().h2_exchanges, 0u);
}

TEST_F(Http2TrackingTest, AGoServerStreamTakesTheIdsTheKernelGaveItsGoroutines) {
  // grpc-go's operateHeaders runs after the read that brought the call's headers: the open
  // stream takes the kernel's ids, which the goroutines serving it carry into their calls.
  const KernelSpanIds ids = kernel_ids(KernelIdsKind::kServer, 0x10);
  replay_as_server(fixture("grpc_unary_ok").segments,
                   [&] { tracker_.on_event(app_.stream(8, 5, 1, ids)); });
  const core::Span& span = only_span();
  EXPECT_EQ(span.trace_id, ids.trace_id);
  EXPECT_EQ(span.span_id, ids.span_id);
  EXPECT_EQ(span.parent_span_id, ids.parent_span_id);
  EXPECT_EQ(tracker_.counters().h2_kernel_stream_ids, 1u);
  EXPECT_EQ(tracker_.counters().kernel_ids, 1u);
  EXPECT_EQ(tracker_.counters().h2_kernel_stream_ids_unmatched, 0u);
}

TEST_F(Http2TrackingTest, AGoClientStreamTakesTheIdsOfTheGoroutineThatMadeTheCall) {
  const KernelSpanIds ids = kernel_ids(KernelIdsKind::kClient, 0x20);
  replay_as_client(fixture("grpc_not_found").segments,
                   [&] { tracker_.on_event(app_.stream(8, 9, 1, ids)); });
  const core::Span& span = only_span();
  EXPECT_EQ(span.kind, core::SpanKind::kClient);
  EXPECT_EQ(span.trace_id, ids.trace_id);
  EXPECT_EQ(span.span_id, ids.span_id);
  EXPECT_EQ(span.parent_span_id, ids.parent_span_id);
  EXPECT_EQ(tracker_.counters().h2_kernel_stream_ids, 1u);
}

TEST_F(Http2TrackingTest, IdsForAStreamOpenedWithThePrefaceWaitForItsBytes) {
  // The kernel names a stream opened in the write that carries the preface before that write's
  // bytes arrive: the connection is not HTTP/2 yet, and the ids wait.
  const KernelSpanIds ids = kernel_ids(KernelIdsKind::kClient, 0x60);
  tracker_.on_event(app_.connect(7, 9, local_, upstream_));
  tracker_.on_event(app_.stream(7, 9, 1, ids));
  for (const Segment& s : fixture("grpc_not_found").segments) {
    tracker_.on_event(s.sender == kClient ? app_.write(7, 9, local_, upstream_, s.bytes)
                                          : app_.read(7, 9, local_, upstream_, s.bytes));
  }
  const core::Span& span = only_span();
  EXPECT_EQ(span.span_id, ids.span_id);
  EXPECT_EQ(span.parent_span_id, ids.parent_span_id);
  EXPECT_EQ(tracker_.counters().h2_kernel_stream_ids_unmatched, 0u);
}

TEST_F(Http2TrackingTest, TheFirstIdsAStreamGotStay) {
  // A later HEADERS frame of the same stream (trailers) makes the probe name it again: the
  // goroutines serving it carry the first ids.
  const KernelSpanIds first = kernel_ids(KernelIdsKind::kServer, 0x70);
  replay_as_server(fixture("grpc_unary_ok").segments, [&] {
    tracker_.on_event(app_.stream(8, 5, 1, first));
    tracker_.on_event(app_.stream(8, 5, 1, kernel_ids(KernelIdsKind::kServer, 0x80)));
  });
  EXPECT_EQ(only_span().span_id, first.span_id);
}

TEST_F(Http2TrackingTest, KernelIdsForAStreamNeverSeenAreCountedNotUsed) {
  // Another stream of the connection, the wrong side, and a socket that is not HTTP/2 here.
  replay_as_client(fixture("grpc_not_found").segments, [&] {
    tracker_.on_event(app_.stream(8, 9, 99, kernel_ids(KernelIdsKind::kClient, 0x30)));
    tracker_.on_event(app_.stream(8, 9, 1, kernel_ids(KernelIdsKind::kServer, 0x40)));
    tracker_.on_event(app_.stream(8, 12, 1, kernel_ids(KernelIdsKind::kClient, 0x50)));
  });
  const core::Span& span = only_span();
  for (uint8_t seed : {0x30, 0x40, 0x50}) {
    EXPECT_NE(span.trace_id, kernel_ids(KernelIdsKind::kClient, seed).trace_id);
  }
  EXPECT_EQ(tracker_.counters().h2_kernel_stream_ids, 0u);
  // Stream 99's ids are left when the connection closes; the other two never found a stream.
  EXPECT_EQ(tracker_.counters().h2_kernel_stream_ids_unmatched, 3u);
}

}  // namespace
}  // namespace hodos::agent
