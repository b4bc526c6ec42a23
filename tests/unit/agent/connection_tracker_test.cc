// ConnectionTracker from synthetic socket events: roles from accept/connect (and inferred for
// connections older than the trace), reset on close and fd reuse, bounded memory, the
// thread-based parenting of client calls made while a server request is being served (never when
// the thread serves several), ids chosen by the kernel, and incoming traceparents continued.
#include "agent/connection_tracker.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <iterator>
#include <string>
#include <vector>

#include "socket_events.h"

namespace hodos::agent {
namespace {

using protocols::http1::Role;
using testing::EventSource;
using testing::ipv4;
using testing::ipv4_mapped;

struct Seen {
  Role role;
  std::string method;
  std::string target;
  uint16_t status;
  int32_t fd;
  SpanContext context;
  core::SpanId parent;
  uint64_t start_ns;
  uint64_t end_ns;
  bool local_caller;
  std::string trace_state;
  bool tls;
};

constexpr std::string_view kGetItems = "GET /items/42?token=abc HTTP/1.1\r\nHost: shop\r\n\r\n";
constexpr std::string_view kGetStock = "GET /stock/42 HTTP/1.1\r\nHost: stock:9000\r\n\r\n";
constexpr std::string_view kOk = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
constexpr std::string_view kNotFound = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";

core::TraceId trace_id(std::string_view hex) { return core::TraceId::from_hex(hex).value(); }
core::SpanId span_id(std::string_view hex) { return core::SpanId::from_hex(hex).value(); }

// What the kernel program puts on a DATA event of a process in thread-context mode.
SocketEvent with_kernel_ids(SocketEvent e, KernelIdsKind kind, core::TraceId trace,
                            core::SpanId span, core::SpanId parent = {}) {
  e.ids.kind = kind;
  e.ids.flags = 1;
  e.ids.trace_id = trace;
  e.ids.span_id = span;
  e.ids.parent_span_id = parent;
  return e;
}

class ConnectionTrackerTest : public ::testing::Test {
 protected:
  ConnectionTrackerTest() { make_tracker({}); }

  void make_tracker(ConnectionTrackerLimits limits) {
    tracker_ = std::make_unique<ConnectionTracker>(
        [this](const TrackedExchange& t) {
          seen_.push_back({t.role, std::string(t.exchange->request.method),
                           std::string(t.exchange->request.target), t.exchange->response.status,
                           t.fd, t.context, t.parent_id, t.exchange->start_ns, t.exchange->end_ns,
                           t.local_caller, std::string(t.trace_state), t.tls});
        },
        limits);
  }
  void feed(const SocketEvent& e) { tracker_->on_event(e); }

  EventSource app_{100};
  const SocketEndpoint server_ = ipv4("10.0.0.1", 8080);
  const SocketEndpoint browser_ = ipv4("10.0.0.9", 50000);
  const SocketEndpoint local_ = ipv4("10.0.0.1", 40000);
  const SocketEndpoint stock_ = ipv4("10.0.0.2", 9000);
  std::unique_ptr<ConnectionTracker> tracker_;
  std::vector<Seen> seen_;
};

// The stitch stage lets a server span go at once when no traced process on the host called it.
TEST_F(ConnectionTrackerTest, ServerExchangeSaysWhetherATracedClientIsItsCaller) {
  EventSource caller{200};
  const SocketEndpoint caller_end = ipv4("10.0.0.1", 41000);
  // A traced process connects to this server (the non-blocking connect learns its local port
  // with its first write), and another one, on another host, does not show up at all.
  feed(caller.connect(2, 7, ipv4("10.0.0.1", 0), server_, -EINPROGRESS));
  feed(caller.write(2, 7, caller_end, server_, kGetItems));
  feed(app_.accept(1, 5, server_, caller_end));
  feed(app_.read(7, 5, server_, caller_end, kGetItems));
  feed(app_.write(7, 5, server_, caller_end, kOk));
  feed(app_.accept(1, 6, server_, browser_));
  feed(app_.read(7, 6, server_, browser_, kGetItems));
  feed(app_.write(7, 6, server_, browser_, kOk));
  ASSERT_EQ(seen_.size(), 2u);
  EXPECT_TRUE(seen_[0].local_caller) << "the caller's connection is tracked";
  EXPECT_FALSE(seen_[1].local_caller) << "nothing traced holds 10.0.0.9:50000";
  // Once the caller's connection is closed it names no caller any more.
  feed(caller.read(2, 7, caller_end, server_, kOk));
  feed(caller.close(2, 7, caller_end, server_));
  feed(app_.read(7, 5, server_, caller_end, kGetItems));
  feed(app_.write(7, 5, server_, caller_end, kOk));
  ASSERT_EQ(seen_.size(), 4u);
  EXPECT_EQ(seen_[2].role, Role::kClient);
  EXPECT_FALSE(seen_[3].local_caller);
}

// Java's sockets are dual-stack: a Java server sees its IPv4 caller as ::ffff:a.b.c.d, and a Java
// client's own end is ::ffff:a.b.c.d while its plain-IPv4 server sees a.b.c.d. Both are one end.
TEST_F(ConnectionTrackerTest, AnIpv4MappedEndIsTheSameEndAsItsIpv4Address) {
  EventSource caller{200};
  const SocketEndpoint caller_end = ipv4("10.0.0.1", 41000);
  feed(caller.connect(2, 7, caller_end, server_, 0));
  feed(caller.write(2, 7, caller_end, server_, kGetItems));
  const SocketEndpoint java_server = ipv4_mapped("10.0.0.1", 8080);
  feed(app_.accept(1, 5, java_server, ipv4_mapped("10.0.0.1", 41000)));
  feed(app_.read(7, 5, java_server, ipv4_mapped("10.0.0.1", 41000), kGetItems));
  feed(app_.write(7, 5, java_server, ipv4_mapped("10.0.0.1", 41000), kOk));
  ASSERT_EQ(seen_.size(), 1u);
  EXPECT_TRUE(seen_[0].local_caller) << "the Python-style IPv4 caller is the Java server's peer";

  // The reverse: a Java client (mapped ends) calling a plain IPv4 server.
  EventSource java_client{300};
  const SocketEndpoint java_end = ipv4_mapped("10.0.0.1", 42000);
  feed(java_client.connect(2, 9, java_end, ipv4_mapped("10.0.0.1", 8080), 0));
  feed(java_client.write(2, 9, java_end, ipv4_mapped("10.0.0.1", 8080), kGetItems));
  feed(app_.accept(1, 6, server_, ipv4("10.0.0.1", 42000)));
  feed(app_.read(7, 6, server_, ipv4("10.0.0.1", 42000), kGetItems));
  feed(app_.write(7, 6, server_, ipv4("10.0.0.1", 42000), kOk));
  ASSERT_EQ(seen_.size(), 2u);
  EXPECT_TRUE(seen_[1].local_caller) << "the Java client is the IPv4 server's peer";
}

TEST_F(ConnectionTrackerTest, AcceptedConnectionGivesAServerExchangeWithFreshIds) {
  feed(app_.accept(1, 5, server_, browser_));
  const SocketEvent request = app_.read(7, 5, server_, browser_, kGetItems);
  feed(request);
  const SocketEvent response = app_.write(7, 5, server_, browser_, kOk);
  feed(response);
  ASSERT_EQ(seen_.size(), 1u);
  EXPECT_EQ(seen_[0].role, Role::kServer);
  EXPECT_EQ(seen_[0].method, "GET");
  EXPECT_EQ(seen_[0].status, 200);
  EXPECT_TRUE(seen_[0].context.valid());
  EXPECT_FALSE(seen_[0].parent.valid());
  // From the moment the request's bytes were read to the moment the answer was written.
  EXPECT_EQ(seen_[0].start_ns, request.exit_ns);
  EXPECT_EQ(seen_[0].end_ns, response.enter_ns);
  EXPECT_EQ(tracker_->active_thread_count(), 0u);
}

TEST_F(ConnectionTrackerTest, ConnectedConnectionGivesAClientExchange) {
  feed(app_.connect(3, 9, local_, stock_, -EINPROGRESS));
  feed(app_.write(3, 9, local_, stock_, kGetStock));
  feed(app_.read(3, 9, local_, stock_, kNotFound));
  ASSERT_EQ(seen_.size(), 1u);
  EXPECT_EQ(seen_[0].role, Role::kClient);
  EXPECT_EQ(seen_[0].status, 404);
  EXPECT_FALSE(seen_[0].parent.valid());
}

TEST_F(ConnectionTrackerTest, FailedConnectIsNoConnection) {
  feed(app_.connect(3, 9, local_, stock_, -ECONNREFUSED));
  EXPECT_EQ(tracker_->connection_count(), 0u);
}

TEST_F(ConnectionTrackerTest, ClientCallOnTheServingThreadIsAChildOfTheServerRequest) {
  feed(app_.accept(1, 5, server_, browser_));
  feed(app_.read(7, 5, server_, browser_, kGetItems));
  // Thread 7, while serving, calls the stock service.
  feed(app_.connect(7, 9, local_, stock_));
  feed(app_.write(7, 9, local_, stock_, kGetStock));
  feed(app_.read(7, 9, local_, stock_, kOk));
  feed(app_.close(7, 9, local_, stock_));
  feed(app_.write(7, 5, server_, browser_, kOk));
  ASSERT_EQ(seen_.size(), 2u);
  const Seen& client = seen_[0];
  const Seen& server = seen_[1];
  ASSERT_EQ(client.role, Role::kClient);
  ASSERT_EQ(server.role, Role::kServer);
  EXPECT_EQ(client.parent, server.context.span_id);
  EXPECT_EQ(client.context.trace_id, server.context.trace_id);
  EXPECT_NE(client.context.span_id, server.context.span_id);
  EXPECT_FALSE(server.parent.valid());
  EXPECT_EQ(tracker_->counters().children, 1u);
}

TEST_F(ConnectionTrackerTest, ClientCallOnAnotherThreadIsARoot) {
  feed(app_.accept(1, 5, server_, browser_));
  feed(app_.read(7, 5, server_, browser_, kGetItems));
  feed(app_.connect(8, 9, local_, stock_));
  feed(app_.write(8, 9, local_, stock_, kGetStock));
  feed(app_.read(8, 9, local_, stock_, kOk));
  feed(app_.write(7, 5, server_, browser_, kOk));
  ASSERT_EQ(seen_.size(), 2u);
  EXPECT_FALSE(seen_[0].parent.valid());
  EXPECT_NE(seen_[0].context.trace_id, seen_[1].context.trace_id);
}

TEST_F(ConnectionTrackerTest, ClientCallAfterTheResponseWasWrittenIsARoot) {
  feed(app_.accept(1, 5, server_, browser_));
  feed(app_.read(7, 5, server_, browser_, kGetItems));
  feed(app_.write(7, 5, server_, browser_, kOk));
  feed(app_.connect(7, 9, local_, stock_));
  feed(app_.write(7, 9, local_, stock_, kGetStock));
  feed(app_.read(7, 9, local_, stock_, kOk));
  ASSERT_EQ(seen_.size(), 2u);
  EXPECT_EQ(seen_[1].role, Role::kClient);
  EXPECT_FALSE(seen_[1].parent.valid());
}

TEST_F(ConnectionTrackerTest, KeepAliveRequestsGetTheirOwnIdsAndChildren) {
  feed(app_.accept(1, 5, server_, browser_));
  feed(app_.connect(7, 9, local_, stock_));
  for (int i = 0; i < 2; ++i) {
    feed(app_.read(7, 5, server_, browser_, kGetItems));
    feed(app_.write(7, 9, local_, stock_, kGetStock));
    feed(app_.read(7, 9, local_, stock_, kOk));
    feed(app_.write(7, 5, server_, browser_, kOk));
  }
  ASSERT_EQ(seen_.size(), 4u);
  EXPECT_EQ(seen_[0].parent, seen_[1].context.span_id);
  EXPECT_EQ(seen_[2].parent, seen_[3].context.span_id);
  EXPECT_NE(seen_[1].context.trace_id, seen_[3].context.trace_id);
  EXPECT_NE(seen_[1].context.span_id, seen_[3].context.span_id);
}

TEST_F(ConnectionTrackerTest, ConnectionOpenedBeforeTracingHasItsRoleInferred) {
  // No accept seen: the first bytes read are a request, so this side is the server.
  feed(app_.read(7, 5, server_, browser_, kGetItems));
  feed(app_.connect(7, 9, local_, stock_));
  feed(app_.write(7, 9, local_, stock_, kGetStock));
  feed(app_.read(7, 9, local_, stock_, kOk));
  feed(app_.write(7, 5, server_, browser_, kOk));
  ASSERT_EQ(seen_.size(), 2u);
  EXPECT_EQ(seen_[1].role, Role::kServer);
  EXPECT_EQ(seen_[0].parent, seen_[1].context.span_id);

  // And a client connection that predates the trace: the first bytes written are a request.
  seen_.clear();
  feed(app_.write(3, 11, local_, stock_, kGetStock));
  feed(app_.read(3, 11, local_, stock_, kOk));
  ASSERT_EQ(seen_.size(), 1u);
  EXPECT_EQ(seen_[0].role, Role::kClient);
}

TEST_F(ConnectionTrackerTest, CloseEndsTheConnectionAndAResponseDelimitedByIt) {
  feed(app_.accept(1, 5, server_, browser_));
  feed(app_.read(7, 5, server_, browser_, "GET / HTTP/1.0\r\n\r\n"));
  feed(app_.write(7, 5, server_, browser_, "HTTP/1.0 200 OK\r\n\r\nbody until close"));
  EXPECT_TRUE(seen_.empty());
  feed(app_.close(7, 5, server_, browser_));
  ASSERT_EQ(seen_.size(), 1u);
  EXPECT_EQ(seen_[0].status, 200);
  EXPECT_EQ(tracker_->connection_count(), 0u);
  EXPECT_EQ(tracker_->counters().connections_closed, 1u);

  // The fd comes back for a new connection: an answer without its request matches nothing.
  feed(app_.accept(1, 5, server_, browser_));
  feed(app_.write(7, 5, server_, browser_, kOk));
  EXPECT_EQ(seen_.size(), 1u);
}

TEST_F(ConnectionTrackerTest, FdReusedWithoutASeenCloseStartsANewConnection) {
  feed(app_.accept(1, 5, server_, browser_));
  feed(app_.read(7, 5, server_, browser_, kGetItems));
  // The close was lost; fd 5 now talks to someone else.
  const SocketEndpoint other = ipv4("10.0.0.10", 51000);
  feed(app_.read(7, 5, server_, other, kGetItems));
  feed(app_.write(7, 5, server_, other, kOk));
  ASSERT_EQ(seen_.size(), 1u);
  EXPECT_EQ(tracker_->counters().fd_reused, 1u);
  EXPECT_EQ(tracker_->connection_count(), 1u);
  // The first connection's request was left unanswered.
  EXPECT_EQ(tracker_->counters().unmatched_requests, 1u);
}

// close() frees the fd before its exit event: thread 8 connects on the same number, writes its
// request, and only then does thread 7's close event arrive. It must not end thread 8's call.
TEST_F(ConnectionTrackerTest, ACloseSeenAfterItsFdWasReusedEndsNothing) {
  const SocketEndpoint first_end = ipv4("10.0.0.1", 40001);
  const SocketEndpoint second_end = ipv4("10.0.0.1", 40002);
  feed(app_.connect(7, 9, first_end, stock_, 0));
  feed(app_.write(7, 9, first_end, stock_, kGetStock));
  feed(app_.read(7, 9, first_end, stock_, kOk));
  feed(app_.connect(8, 9, second_end, stock_, 0));
  feed(app_.write(8, 9, second_end, stock_, kGetStock));
  feed(app_.close(7, 9, first_end, stock_));  // late: the first connection's
  feed(app_.read(8, 9, second_end, stock_, kOk));
  feed(app_.close(8, 9, second_end, stock_));
  ASSERT_EQ(seen_.size(), 2u) << "both calls are spans";
  EXPECT_EQ(tracker_->counters().late_closes, 1u);
  EXPECT_EQ(tracker_->counters().unmatched_responses, 0u);
  EXPECT_EQ(tracker_->connection_count(), 0u);
}

TEST_F(ConnectionTrackerTest, SameFdInAnotherProcessIsAnotherConnection) {
  EventSource other_app(200);
  feed(app_.accept(1, 5, server_, browser_));
  feed(other_app.accept(1, 5, server_, browser_));
  EXPECT_EQ(tracker_->connection_count(), 2u);
}

TEST_F(ConnectionTrackerTest, CapacityEvictsTheLeastRecentlyUsedConnection) {
  ConnectionTrackerLimits limits;
  limits.max_connections = 2;
  make_tracker(limits);
  const SocketEndpoint b = ipv4("10.0.0.9", 50001);
  const SocketEndpoint c = ipv4("10.0.0.9", 50002);
  feed(app_.accept(1, 5, server_, browser_));
  feed(app_.accept(1, 6, server_, b));
  feed(app_.read(7, 5, server_, browser_, kGetItems));  // 5 is now the most recently used
  feed(app_.accept(1, 7, server_, c));                  // evicts 6
  EXPECT_EQ(tracker_->connection_count(), 2u);
  EXPECT_EQ(tracker_->counters().evicted_capacity, 1u);
  feed(app_.write(7, 5, server_, browser_, kOk));
  ASSERT_EQ(seen_.size(), 1u);
  EXPECT_EQ(seen_[0].fd, 5);
}

TEST_F(ConnectionTrackerTest, IdleConnectionsAreEvicted) {
  ConnectionTrackerLimits limits;
  limits.idle_timeout_ns = 1'000'000;  // 1 ms
  make_tracker(limits);
  feed(app_.accept(1, 5, server_, browser_));
  feed(app_.read(7, 5, server_, browser_, kGetItems));
  tracker_->evict_idle(app_.now() + 500'000);
  EXPECT_EQ(tracker_->connection_count(), 1u);
  tracker_->evict_idle(app_.now() + 2'000'000);
  EXPECT_EQ(tracker_->connection_count(), 0u);
  EXPECT_EQ(tracker_->counters().evicted_idle, 1u);
  // A thread no longer counts as serving a request of a forgotten connection.
  EXPECT_EQ(tracker_->active_thread_count(), 0u);
}

// urllib's HTTPError keeps the socket open with the error body unread: the client span is not
// lost when the idle connection is evicted, it comes out then.
TEST_F(ConnectionTrackerTest, AnEvictedConnectionHandsOnAResponseWhoseBodyWasNotRead) {
  ConnectionTrackerLimits limits;
  limits.idle_timeout_ns = 1'000'000;  // 1 ms
  make_tracker(limits);
  feed(app_.connect(3, 9, local_, stock_, 0));
  feed(app_.write(3, 9, local_, stock_, kGetStock));
  // Only the head of a 404 whose 20-byte body never gets read.
  feed(app_.read(3, 9, local_, stock_, "HTTP/1.1 404 Not Found\r\nContent-Length: 20\r\n\r\n"));
  EXPECT_TRUE(seen_.empty());
  tracker_->evict_idle(app_.now() + 2'000'000);
  ASSERT_EQ(seen_.size(), 1u);
  EXPECT_EQ(seen_[0].role, Role::kClient);
  EXPECT_EQ(seen_[0].status, 404);
}

TEST_F(ConnectionTrackerTest, ForgottenProcessLosesOnlyItsConnections) {
  EventSource other_app(200);
  feed(app_.accept(1, 5, server_, browser_));
  feed(other_app.accept(1, 5, server_, browser_));
  tracker_->forget_process(100);
  EXPECT_EQ(tracker_->connection_count(), 1u);
}

TEST_F(ConnectionTrackerTest, SendfileBodyIsCountedAndTheNextRequestStillMatches) {
  // nginx: the head by writev, the file by sendfile, then keep-alive.
  feed(app_.accept(1, 5, server_, browser_));
  feed(app_.read(1, 5, server_, browser_, kGetItems));
  feed(app_.write(1, 5, server_, browser_,
                  "HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: 70000\r\n\r\n"));
  feed(app_.sendfile(1, 5, server_, browser_, 65536));
  const SocketEvent last = app_.sendfile(1, 5, server_, browser_, 70000 - 65536);
  feed(last);
  feed(app_.read(1, 5, server_, browser_, kGetStock));
  feed(app_.write(1, 5, server_, browser_, kNotFound));
  ASSERT_EQ(seen_.size(), 2u);
  EXPECT_EQ(seen_[0].status, 200);
  EXPECT_EQ(seen_[0].end_ns, last.enter_ns);
  EXPECT_EQ(seen_[1].target, "/stock/42");
  EXPECT_EQ(seen_[1].status, 404);
  EXPECT_EQ(tracker_->counters().http_truncated, 0u);
}

// An IPv4 endpoint as the kernel program sends it from a buffer that last held an IPv6 event:
// bytes 4..15 of the address are that event's (here ::ffff:127.0.0.1), not zeros.
SocketEndpoint with_stale_bytes(SocketEndpoint e) {
  static constexpr uint8_t kStale[12] = {0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1};
  std::copy(std::begin(kStale), std::end(kStale), e.address.begin() + 4);
  return e;
}

// Hodos issue 5, the event sequence the agent got from nginx (one thread) in the flaky e2e run:
// its events came through the kernel program's per-CPU buffer, so the unused bytes of their IPv4
// addresses differed between CPUs. When nginx moved to another CPU between reading a proxied
// request and answering it, both of its connections looked like new ones (an fd reused) and
// neither exchange was matched.
TEST_F(ConnectionTrackerTest, UnusedIpv4AddressBytesDoNotSplitAConnection) {
  const SocketEndpoint nginx = ipv4("127.0.0.1", 46641);
  const SocketEndpoint curl = ipv4("127.0.0.1", 46964);
  const SocketEndpoint upstream_local = ipv4("127.0.0.1", 48792);
  const SocketEndpoint backend = ipv4("127.0.0.1", 39469);
  // CPU A's buffer last held an IPv6 event; CPU B's only ever held IPv4 ones.
  const auto a = with_stale_bytes;
  const auto b = [](SocketEndpoint e) { return e; };

  feed(app_.accept(1, 6, nginx, curl));
  feed(app_.read(1, 6, a(nginx), a(curl),
                 "GET /files/data.bin HTTP/1.1\r\nHost: 127.0.0.1:46641\r\n\r\n"));
  feed(app_.write(1, 6, a(nginx), a(curl),
                  "HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: 3145735\r\n\r\n"));
  feed(app_.sendfile(1, 6, a(nginx), a(curl), 2097152));
  feed(app_.sendfile(1, 6, a(nginx), a(curl), 1048583));
  feed(app_.read(1, 6, a(nginx), a(curl),
                 "GET /files/nothing.bin HTTP/1.1\r\nHost: 127.0.0.1:46641\r\n\r\n"));
  feed(app_.write(1, 6, a(nginx), a(curl), kNotFound));
  feed(app_.read(1, 6, a(nginx), a(curl),
                 "GET /api/items/9 HTTP/1.1\r\nHost: 127.0.0.1:46641\r\n\r\n"));
  feed(app_.connect(1, 7, upstream_local, backend, -EINPROGRESS));
  feed(app_.write(1, 7, a(upstream_local), a(backend),
                  "GET /items/9 HTTP/1.1\r\nHost: 127.0.0.1:39469\r\n\r\n"));
  // nginx waits in epoll and wakes up on CPU B.
  feed(app_.read(1, 7, b(upstream_local), b(backend),
                 "HTTP/1.1 200 OK\r\nServer: SimpleHTTP/0.6\r\nContent-Length: 9\r\n\r\n"
                 "{\"id\":9}\n"));
  feed(app_.close(1, 7, upstream_local, backend));
  feed(app_.write(1, 6, b(nginx), b(curl),
                  "HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: 9\r\n\r\n{\"id\":9}\n"));
  feed(app_.close(1, 6, nginx, curl));

  ASSERT_EQ(seen_.size(), 4u);
  EXPECT_EQ(seen_[0].target, "/files/data.bin");
  EXPECT_EQ(seen_[1].status, 404);
  EXPECT_EQ(seen_[2].role, Role::kClient);
  EXPECT_EQ(seen_[2].target, "/items/9");
  EXPECT_EQ(seen_[3].role, Role::kServer);
  EXPECT_EQ(seen_[3].target, "/api/items/9");
  EXPECT_EQ(seen_[3].status, 200);
  const ConnectionTrackerCounters counters = tracker_->counters();
  EXPECT_EQ(counters.fd_reused, 0u);
  EXPECT_EQ(counters.connections_opened, 2u);
  EXPECT_EQ(counters.unmatched_requests, 0u);
  EXPECT_EQ(counters.unmatched_responses, 0u);

  // A real change of peer address is still a reused fd.
  feed(app_.accept(1, 6, nginx, curl));
  feed(app_.read(1, 6, nginx, ipv4("127.0.0.2", 46964), kGetItems));
  EXPECT_EQ(tracker_->counters().fd_reused, 1u);
}

TEST_F(ConnectionTrackerTest, ExitOfAProcessEndsItsConnections) {
  EventSource other_app(200);
  feed(app_.accept(1, 5, server_, browser_));
  feed(other_app.accept(1, 5, server_, browser_));
  feed(app_.process(SocketSyscall::kListen));  // the agent's business: nothing changes
  EXPECT_EQ(tracker_->connection_count(), 2u);
  feed(app_.process(SocketSyscall::kExit));
  EXPECT_EQ(tracker_->connection_count(), 1u);
}

TEST_F(ConnectionTrackerTest, NonHttpConnectionIsCountedAndIgnored) {
  feed(app_.accept(1, 5, server_, browser_));
  // TLS both ways: the matcher gives up once both directions failed to parse.
  for (int i = 0; i < 4; ++i) {
    feed(app_.read(7, 5, server_, browser_, "\x16\x03\x01\x02\x01hello"));
    feed(app_.write(7, 5, server_, browser_, "\x16\x03\x03\x00\x7aworld"));
  }
  EXPECT_TRUE(seen_.empty());
  EXPECT_EQ(tracker_->counters().not_http, 1u);
}

// ---- TLS: plaintext from the library's uprobes, ciphertext from the socket ----

// What the uprobes on SSL_read/SSL_write send: the plaintext, on the session's socket.
SocketEvent plaintext(SocketEvent e) {
  e.tls = true;
  e.syscall = e.direction == Direction::kIngress ? SocketSyscall::kSslRead : SocketSyscall::kSslWrite;
  return e;
}

constexpr std::string_view kClientHello = "\x16\x03\x01\x02\x01hello";
constexpr std::string_view kServerHello = "\x16\x03\x03\x00\x7aworld";

TEST_F(ConnectionTrackerTest, TlsPlaintextIsParsedAndTheCiphertextIgnored) {
  feed(app_.accept(1, 5, server_, browser_));
  // The handshake (ciphertext: the socket's own reads and writes), enough for the matcher to give
  // up on it as not HTTP.
  for (int i = 0; i < 4; ++i) {
    feed(app_.read(7, 5, server_, browser_, kClientHello));
    feed(app_.write(7, 5, server_, browser_, kServerHello));
  }
  EXPECT_TRUE(seen_.empty());
  const SocketEvent request = plaintext(app_.read(7, 5, server_, browser_, kGetItems));
  feed(request);
  // A library doing its own socket I/O (Node) writes the record after SSL_write returned.
  const SocketEvent response = plaintext(app_.write(7, 5, server_, browser_, kOk));
  feed(response);
  feed(app_.write(7, 5, server_, browser_, kServerHello));
  ASSERT_EQ(seen_.size(), 1u);
  EXPECT_EQ(seen_[0].role, Role::kServer);
  EXPECT_EQ(seen_[0].target, "/items/42?token=abc");
  EXPECT_EQ(seen_[0].status, 200);
  EXPECT_TRUE(seen_[0].tls);
  EXPECT_EQ(seen_[0].start_ns, request.exit_ns);
  EXPECT_EQ(seen_[0].end_ns, response.enter_ns);
  const ConnectionTrackerCounters c = tracker_->counters();
  EXPECT_EQ(c.tls_connections, 1u);
  EXPECT_EQ(c.tls_ciphertext_ignored, 1u);
  // The handshake was not HTTP, but it was not a connection given up on either.
  EXPECT_EQ(c.not_http, 0u);
  // A second request on the session, plaintext only (a library that reads the socket inside the
  // call sends no ciphertext at all).
  feed(plaintext(app_.read(7, 5, server_, browser_, kGetStock)));
  feed(plaintext(app_.write(7, 5, server_, browser_, kNotFound)));
  ASSERT_EQ(seen_.size(), 2u);
  EXPECT_EQ(seen_[1].status, 404);
  EXPECT_TRUE(seen_[1].tls);
}

TEST_F(ConnectionTrackerTest, ATlsCallIsAChildOfTheRequestItsThreadServes) {
  feed(app_.accept(1, 5, server_, browser_));
  feed(plaintext(app_.read(7, 5, server_, browser_, kGetItems)));
  feed(app_.connect(7, 9, local_, stock_));
  feed(app_.write(7, 9, local_, stock_, kClientHello));
  feed(app_.read(7, 9, local_, stock_, kServerHello));
  feed(plaintext(app_.write(7, 9, local_, stock_, kGetStock)));
  feed(plaintext(app_.read(7, 9, local_, stock_, kOk)));
  feed(plaintext(app_.write(7, 5, server_, browser_, kOk)));
  ASSERT_EQ(seen_.size(), 2u);
  const Seen& client = seen_[0];
  const Seen& server = seen_[1];
  EXPECT_EQ(client.role, Role::kClient);
  EXPECT_EQ(client.target, "/stock/42");
  EXPECT_TRUE(client.tls);
  EXPECT_TRUE(server.tls);
  EXPECT_EQ(client.parent, server.context.span_id);
  EXPECT_EQ(client.context.trace_id, server.context.trace_id);
}

TEST_F(ConnectionTrackerTest, PlaintextConnectionsAreNotTls) {
  feed(app_.accept(1, 5, server_, browser_));
  feed(app_.read(7, 5, server_, browser_, kGetItems));
  feed(app_.write(7, 5, server_, browser_, kOk));
  ASSERT_EQ(seen_.size(), 1u);
  EXPECT_FALSE(seen_[0].tls);
  EXPECT_EQ(tracker_->counters().tls_connections, 0u);
}

// ---- Ids chosen by the kernel (thread-context mode) ----

TEST_F(ConnectionTrackerTest, KernelServerIdsAreTheServerSpansIds) {
  const core::TraceId trace = trace_id("4bf92f3577b34da6a3ce929d0e0e4736");
  const core::SpanId span = span_id("00f067aa0ba902b7");
  const core::SpanId caller = span_id("b7ad6b7169203331");
  feed(app_.accept(1, 5, server_, browser_));
  feed(with_kernel_ids(app_.read(7, 5, server_, browser_, kGetItems), KernelIdsKind::kServer, trace,
                       span, caller));
  feed(app_.write(7, 5, server_, browser_, kOk));
  // A request that brought no traceparent: the kernel started a trace, the span is its root.
  const core::SpanId second = span_id("1111111111111111");
  feed(with_kernel_ids(app_.read(7, 5, server_, browser_, kGetItems), KernelIdsKind::kServer, trace,
                       second));
  feed(app_.write(7, 5, server_, browser_, kOk));
  ASSERT_EQ(seen_.size(), 2u);
  EXPECT_EQ(seen_[0].context.trace_id, trace);
  EXPECT_EQ(seen_[0].context.span_id, span);
  EXPECT_EQ(seen_[0].parent, caller);
  EXPECT_EQ(seen_[1].context.span_id, second);
  EXPECT_FALSE(seen_[1].parent.valid());
  const ConnectionTrackerCounters counters = tracker_->counters();
  EXPECT_EQ(counters.kernel_ids, 2u);
  EXPECT_EQ(counters.adopted_traceparent, 1u);
}

TEST_F(ConnectionTrackerTest, KernelIdsMadeAtTheSecondReadOfARequestAreItsIds) {
  // Go's server reads a kept-alive connection's next byte from a background goroutine: the
  // request's first letter comes alone, the kernel makes its ids at the read of the rest (and
  // names them in the traceparent of the calls it serves), so the span must carry those.
  const core::TraceId trace = trace_id("4bf92f3577b34da6a3ce929d0e0e4736");
  const core::SpanId span = span_id("00f067aa0ba902b7");
  feed(app_.accept(1, 5, server_, browser_));
  feed(app_.read(7, 5, server_, browser_, kGetItems.substr(0, 1)));
  feed(with_kernel_ids(app_.read(8, 5, server_, browser_, kGetItems.substr(1)),
                       KernelIdsKind::kServer, trace, span));
  feed(app_.write(8, 5, server_, browser_, kOk));
  ASSERT_EQ(seen_.size(), 1u);
  EXPECT_EQ(seen_[0].target, "/items/42?token=abc");
  EXPECT_EQ(seen_[0].context.trace_id, trace);
  EXPECT_EQ(seen_[0].context.span_id, span);
  EXPECT_EQ(tracker_->counters().kernel_ids, 1u);
}

TEST_F(ConnectionTrackerTest, KernelIdsWinOverTheTraceparentInTheBytes) {
  // The kernel parsed the head too (or saw beyond what was captured); its ids are in the
  // traceparents it inserts into this thread's calls, so they are the ones to keep.
  constexpr std::string_view request =
      "GET / HTTP/1.1\r\ntraceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n"
      "\r\n";
  const core::TraceId trace = trace_id("4bf92f3577b34da6a3ce929d0e0e4736");
  feed(app_.accept(1, 5, server_, browser_));
  feed(with_kernel_ids(app_.read(7, 5, server_, browser_, request), KernelIdsKind::kServer, trace,
                       span_id("00f067aa0ba902b7")));
  feed(app_.write(7, 5, server_, browser_, kOk));
  ASSERT_EQ(seen_.size(), 1u);
  EXPECT_EQ(seen_[0].context.trace_id, trace);
  EXPECT_FALSE(seen_[0].parent.valid());
}

TEST_F(ConnectionTrackerTest, KernelClientIdsAreTheClientSpansIds) {
  const core::TraceId trace = trace_id("4bf92f3577b34da6a3ce929d0e0e4736");
  const core::SpanId server_span = span_id("00f067aa0ba902b7");
  const core::SpanId client_span = span_id("2222222222222222");
  feed(app_.accept(1, 5, server_, browser_));
  feed(with_kernel_ids(app_.read(7, 5, server_, browser_, kGetItems), KernelIdsKind::kServer, trace,
                       server_span));
  feed(app_.connect(7, 9, local_, stock_));
  feed(with_kernel_ids(app_.write(7, 9, local_, stock_, kGetStock), KernelIdsKind::kClient, trace,
                       client_span, server_span));
  feed(app_.read(7, 9, local_, stock_, kOk));
  feed(app_.write(7, 5, server_, browser_, kOk));
  ASSERT_EQ(seen_.size(), 2u);
  ASSERT_EQ(seen_[0].role, Role::kClient);
  EXPECT_EQ(seen_[0].context.trace_id, trace);
  EXPECT_EQ(seen_[0].context.span_id, client_span);
  EXPECT_EQ(seen_[0].parent, server_span);
  EXPECT_EQ(seen_[1].context.span_id, server_span);
  const ConnectionTrackerCounters counters = tracker_->counters();
  EXPECT_EQ(counters.kernel_ids, 2u);
  EXPECT_EQ(counters.children, 1u);
  EXPECT_EQ(counters.ambiguous_parents, 0u);
}

TEST_F(ConnectionTrackerTest, KernelClientIdsHoldWhateverTheThreadServes) {
  // The kernel's word is exact even where the thread-based guess would refuse (two requests open)
  // or name another request (the one the thread read last).
  const core::TraceId trace = trace_id("4bf92f3577b34da6a3ce929d0e0e4736");
  const SocketEndpoint other = ipv4("10.0.0.9", 50001);
  feed(app_.accept(1, 5, server_, browser_));
  feed(app_.accept(1, 6, server_, other));
  feed(app_.read(7, 5, server_, browser_, kGetItems));
  feed(app_.read(7, 6, server_, other, kGetItems));
  feed(app_.connect(7, 9, local_, stock_));
  feed(with_kernel_ids(app_.write(7, 9, local_, stock_, kGetStock), KernelIdsKind::kClient, trace,
                       span_id("2222222222222222"), span_id("3333333333333333")));
  feed(app_.read(7, 9, local_, stock_, kOk));
  ASSERT_EQ(seen_.size(), 1u);
  EXPECT_EQ(seen_[0].context.trace_id, trace);
  EXPECT_EQ(seen_[0].parent, span_id("3333333333333333"));
  EXPECT_EQ(tracker_->counters().ambiguous_parents, 0u);
}

TEST_F(ConnectionTrackerTest, PipelinedRequestsKeepTheirOwnIdsInOrder) {
  const core::TraceId first = trace_id("11111111111111111111111111111111");
  const core::TraceId second = trace_id("22222222222222222222222222222222");
  feed(app_.accept(1, 5, server_, browser_));
  feed(with_kernel_ids(app_.read(7, 5, server_, browser_, kGetItems), KernelIdsKind::kServer, first,
                       span_id("1111111111111111")));
  feed(with_kernel_ids(app_.read(7, 5, server_, browser_, kGetStock), KernelIdsKind::kServer,
                       second, span_id("2222222222222222")));
  feed(app_.write(7, 5, server_, browser_, kOk));
  feed(app_.write(7, 5, server_, browser_, kNotFound));
  // The same with traceparents the requests brought, and no kernel.
  constexpr std::string_view with_first =
      "GET /a HTTP/1.1\r\ntraceparent: 00-11111111111111111111111111111111-1111111111111111-01\r\n"
      "\r\n";
  constexpr std::string_view with_second =
      "GET /b HTTP/1.1\r\ntraceparent: 00-22222222222222222222222222222222-2222222222222222-01\r\n"
      "\r\n";
  feed(app_.read(7, 5, server_, browser_, with_first));
  feed(app_.read(7, 5, server_, browser_, with_second));
  feed(app_.write(7, 5, server_, browser_, kOk));
  feed(app_.write(7, 5, server_, browser_, kNotFound));
  ASSERT_EQ(seen_.size(), 4u);
  EXPECT_EQ(seen_[0].target, "/items/42?token=abc");
  EXPECT_EQ(seen_[0].context.trace_id, first);
  EXPECT_EQ(seen_[1].target, "/stock/42");
  EXPECT_EQ(seen_[1].context.trace_id, second);
  EXPECT_EQ(seen_[1].context.span_id, span_id("2222222222222222"));
  EXPECT_EQ(seen_[2].target, "/a");
  EXPECT_EQ(seen_[2].context.trace_id, first);
  EXPECT_EQ(seen_[2].parent, span_id("1111111111111111"));
  EXPECT_EQ(seen_[3].target, "/b");
  EXPECT_EQ(seen_[3].context.trace_id, second);
  EXPECT_EQ(seen_[3].parent, span_id("2222222222222222"));
}

// ---- Incoming traceparent, without the kernel ----

TEST_F(ConnectionTrackerTest, AnIncomingTraceparentIsContinued) {
  constexpr std::string_view request =
      "GET /items/42 HTTP/1.1\r\nHost: shop\r\nTraceParent: \t"
      "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01 \r\nAccept: */*\r\n\r\n";
  feed(app_.accept(1, 5, server_, browser_));
  feed(app_.read(7, 5, server_, browser_, request));
  feed(app_.connect(7, 9, local_, stock_));
  feed(app_.write(7, 9, local_, stock_, kGetStock));
  feed(app_.read(7, 9, local_, stock_, kOk));
  feed(app_.write(7, 5, server_, browser_, kOk));
  ASSERT_EQ(seen_.size(), 2u);
  const Seen& client = seen_[0];
  const Seen& server = seen_[1];
  EXPECT_EQ(server.context.trace_id, trace_id("0af7651916cd43dd8448eb211c80319c"));
  EXPECT_EQ(server.parent, span_id("b7ad6b7169203331"));
  EXPECT_TRUE(server.context.span_id.valid());
  EXPECT_NE(server.context.span_id, server.parent) << "a span of its own, not the caller's";
  // The call it makes continues the same trace under it.
  EXPECT_EQ(client.context.trace_id, server.context.trace_id);
  EXPECT_EQ(client.parent, server.context.span_id);
  const ConnectionTrackerCounters counters = tracker_->counters();
  EXPECT_EQ(counters.adopted_traceparent, 1u);
  EXPECT_EQ(counters.kernel_ids, 0u);
}

// The tracestate that came with a continued trace stays with it: on the SERVER span, and on the
// calls made while serving it (the kernel carries it in their headers, after the traceparent).
TEST_F(ConnectionTrackerTest, TheTracestateOfAContinuedTraceIsKept) {
  constexpr std::string_view request =
      "GET /items/42 HTTP/1.1\r\nHost: shop\r\ntraceparent: "
      "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\ntracestate: congo=t61rcWkgMzE\r\n\r\n";
  feed(app_.accept(1, 5, server_, browser_));
  feed(app_.read(7, 5, server_, browser_, request));
  feed(app_.connect(7, 9, local_, stock_));
  feed(app_.write(7, 9, local_, stock_, kGetStock));
  feed(app_.read(7, 9, local_, stock_, kOk));
  feed(app_.write(7, 5, server_, browser_, kOk));
  ASSERT_EQ(seen_.size(), 2u);
  EXPECT_EQ(seen_[1].trace_state, "congo=t61rcWkgMzE") << "the server span";
  EXPECT_EQ(seen_[0].trace_state, "congo=t61rcWkgMzE") << "its call";

  // A kernel-injected call carries its request's tracestate too; a new trace has none.
  const SocketEvent kernel_read = with_kernel_ids(
      app_.read(8, 6, server_, browser_, request), KernelIdsKind::kServer,
      trace_id("0af7651916cd43dd8448eb211c80319c"), span_id("00f067aa0ba902b7"),
      span_id("b7ad6b7169203331"));
  feed(app_.accept(1, 6, server_, browser_));
  feed(kernel_read);
  feed(app_.connect(8, 10, local_, stock_));
  feed(with_kernel_ids(app_.write(8, 10, local_, stock_, kGetStock), KernelIdsKind::kClient,
                       trace_id("0af7651916cd43dd8448eb211c80319c"), span_id("1111111111111111"),
                       span_id("00f067aa0ba902b7")));
  feed(app_.read(8, 10, local_, stock_, kOk));
  feed(app_.write(8, 6, server_, browser_, kOk));
  feed(app_.accept(1, 7, server_, browser_));
  feed(app_.read(9, 7, server_, browser_, kGetItems));
  feed(app_.write(9, 7, server_, browser_, kOk));
  ASSERT_EQ(seen_.size(), 5u);
  EXPECT_EQ(seen_[2].trace_state, "congo=t61rcWkgMzE") << "the kernel-injected call";
  EXPECT_EQ(seen_[3].trace_state, "congo=t61rcWkgMzE") << "the kernel's server span";
  EXPECT_EQ(seen_[4].trace_state, "") << "a new trace";
}

TEST_F(ConnectionTrackerTest, AnInvalidTraceparentStartsANewTrace) {
  const std::string ids = "0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  const std::string values[] = {
      "00-00000000000000000000000000000000-b7ad6b7169203331-01",  // zero trace id
      "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",  // zero span id
      "00-" + ids + "0",                                          // too long for version 00
      "00-" + ids.substr(1),                                      // too short
      "ff-" + ids,                                                // version ff
      "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",  // uppercase
  };
  feed(app_.accept(1, 5, server_, browser_));
  std::vector<std::string> requests;  // the events' bytes must outlive the feed
  for (const std::string& value : values) {
    requests.push_back("GET / HTTP/1.1\r\ntraceparent: " + value + "\r\n\r\n");
  }
  for (const std::string& request : requests) {
    feed(app_.read(7, 5, server_, browser_, request));
    feed(app_.write(7, 5, server_, browser_, kOk));
  }
  ASSERT_EQ(seen_.size(), std::size(values));
  for (size_t i = 0; i < seen_.size(); ++i) {
    EXPECT_FALSE(seen_[i].parent.valid()) << values[i];
    EXPECT_NE(seen_[i].context.trace_id, trace_id("0af7651916cd43dd8448eb211c80319c")) << values[i];
    EXPECT_TRUE(seen_[i].context.valid()) << values[i];
  }
  EXPECT_EQ(tracker_->counters().adopted_traceparent, 0u);
}

// ---- One thread, several requests (event loops) ----

TEST_F(ConnectionTrackerTest, ACallWhileTheThreadServesTwoRequestsIsARoot) {
  const SocketEndpoint other = ipv4("10.0.0.9", 50001);
  feed(app_.accept(1, 5, server_, browser_));
  feed(app_.accept(1, 6, server_, other));
  // A Node-like loop on thread 1 reads both requests, then makes a call for one of them.
  feed(app_.read(1, 5, server_, browser_, kGetItems));
  feed(app_.read(1, 6, server_, other, kGetItems));
  feed(app_.connect(1, 9, local_, stock_));
  feed(app_.write(1, 9, local_, stock_, kGetStock));
  feed(app_.read(1, 9, local_, stock_, kOk));
  ASSERT_EQ(seen_.size(), 1u);
  EXPECT_EQ(seen_[0].role, Role::kClient);
  EXPECT_FALSE(seen_[0].parent.valid());
  EXPECT_EQ(tracker_->counters().ambiguous_parents, 1u);
  EXPECT_EQ(tracker_->counters().children, 0u);

  // Once fd 5 is answered only fd 6's request is open: the next call is its child.
  feed(app_.write(1, 5, server_, browser_, kOk));
  feed(app_.write(1, 9, local_, stock_, kGetStock));
  feed(app_.read(1, 9, local_, stock_, kOk));
  feed(app_.write(1, 6, server_, other, kOk));
  ASSERT_EQ(seen_.size(), 4u);
  const Seen& call = seen_[2];
  const Seen& served = seen_[3];
  ASSERT_EQ(call.role, Role::kClient);
  ASSERT_EQ(served.fd, 6);
  EXPECT_EQ(call.parent, served.context.span_id);
  EXPECT_EQ(call.context.trace_id, served.context.trace_id);
  EXPECT_EQ(tracker_->counters().ambiguous_parents, 1u);
  EXPECT_EQ(tracker_->active_thread_count(), 0u);
}

TEST_F(ConnectionTrackerTest, SequentialRequestsOnOneThreadStillLink) {
  const SocketEndpoint other = ipv4("10.0.0.9", 50001);
  feed(app_.accept(1, 5, server_, browser_));
  feed(app_.accept(1, 6, server_, other));
  feed(app_.connect(1, 9, local_, stock_));
  for (const auto& [fd, peer] : {std::pair{5, browser_}, std::pair{6, other}}) {
    feed(app_.read(1, fd, server_, peer, kGetItems));
    feed(app_.write(1, 9, local_, stock_, kGetStock));
    feed(app_.read(1, 9, local_, stock_, kOk));
    feed(app_.write(1, fd, server_, peer, kOk));
  }
  ASSERT_EQ(seen_.size(), 4u);
  EXPECT_EQ(seen_[0].parent, seen_[1].context.span_id);
  EXPECT_EQ(seen_[2].parent, seen_[3].context.span_id);
  EXPECT_EQ(seen_[3].fd, 6);
  EXPECT_EQ(tracker_->counters().children, 2u);
  EXPECT_EQ(tracker_->counters().ambiguous_parents, 0u);
}

// Go: the goroutine that serves a request and the one that writes its call may run on any thread,
// so even one open request on the writing thread says nothing: the kernel marks Go's events.
TEST_F(ConnectionTrackerTest, AGoProcessNeverParentsACallByItsThread) {
  feed(app_.accept(1, 5, server_, browser_));
  feed(app_.connect(1, 9, local_, stock_));
  feed(app_.read(1, 5, server_, browser_, kGetItems));
  SocketEvent call = app_.write(1, 9, local_, stock_, kGetStock);
  call.no_thread_parent = true;
  feed(call);
  feed(app_.read(1, 9, local_, stock_, kOk));
  feed(app_.write(1, 5, server_, browser_, kOk));
  ASSERT_EQ(seen_.size(), 2u);
  EXPECT_EQ(seen_[0].role, Role::kClient);
  EXPECT_FALSE(seen_[0].parent.valid()) << "a Go call is a root";
  EXPECT_NE(seen_[0].context.trace_id, seen_[1].context.trace_id);
  EXPECT_EQ(tracker_->counters().children, 0u);
}

TEST_F(ConnectionTrackerTest, ClosedAndEvictedRequestsNoLongerCountOnTheirThread) {
  ConnectionTrackerLimits limits;
  limits.idle_timeout_ns = 1'000'000;  // 1 ms
  make_tracker(limits);
  const SocketEndpoint other = ipv4("10.0.0.9", 50001);
  feed(app_.accept(1, 5, server_, browser_));
  feed(app_.accept(1, 6, server_, other));
  feed(app_.read(1, 5, server_, browser_, kGetItems));
  feed(app_.read(1, 6, server_, other, kGetItems));
  // fd 5's client goes away unanswered: thread 1 serves fd 6's request alone.
  feed(app_.close(1, 5, server_, browser_));
  feed(app_.connect(1, 9, local_, stock_));
  feed(app_.write(1, 9, local_, stock_, kGetStock));
  feed(app_.read(1, 9, local_, stock_, kOk));
  ASSERT_EQ(seen_.size(), 1u);
  EXPECT_TRUE(seen_[0].parent.valid());
  EXPECT_EQ(tracker_->active_thread_count(), 1u);
  // fd 6 is then evicted while its request is open: nothing is left on the thread.
  tracker_->evict_idle(app_.now() + 2'000'000);
  EXPECT_EQ(tracker_->active_thread_count(), 0u);
  EXPECT_EQ(tracker_->connection_count(), 0u);
}

TEST_F(ConnectionTrackerTest, ThreadsBeyondTheLimitAreNotTrackedNorMiscounted) {
  ConnectionTrackerLimits limits;
  limits.max_threads = 1;
  make_tracker(limits);
  const SocketEndpoint other = ipv4("10.0.0.9", 50001);
  feed(app_.accept(1, 5, server_, browser_));
  feed(app_.accept(1, 6, server_, other));
  feed(app_.read(7, 5, server_, browser_, kGetItems));
  feed(app_.read(8, 6, server_, other, kGetItems));  // no room for thread 8
  EXPECT_EQ(tracker_->active_thread_count(), 1u);
  feed(app_.connect(8, 9, local_, stock_));
  feed(app_.write(8, 9, local_, stock_, kGetStock));
  feed(app_.read(8, 9, local_, stock_, kOk));
  feed(app_.write(8, 6, server_, other, kOk));
  EXPECT_EQ(tracker_->active_thread_count(), 1u) << "thread 7 still serves fd 5";
  feed(app_.write(7, 5, server_, browser_, kOk));
  EXPECT_EQ(tracker_->active_thread_count(), 0u);
  ASSERT_EQ(seen_.size(), 3u);
  EXPECT_FALSE(seen_[0].parent.valid());
}

}  // namespace
}  // namespace hodos::agent
