// Loads bpf/sockets.bpf.c and runs connection-context mode (bpf/event_loops.bpf.h) in this
// process, as an event loop would: two requests read on one thread before either is answered,
// then upstream calls made inside `ngx_http_upstream_init(r)` (a function of this test binary with
// nginx's name and the head of nginx's request and connection structs, which EventLoopProbe
// attaches to exactly as it does to nginx) and outside it. Each call's write must carry CLIENT ids
// naming the request it was made for, never another's. The real nginx runs in
// tests/e2e/context.test.mjs. Needs root (or CAP_BPF + CAP_PERFMON): skipped otherwise.
#include "agent/event_loop_probe.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "agent/features.h"
#include "agent/socket_probe.h"
#include "agent/unique_fd.h"
#include "captured_events.h"
#include "loopback_sockets.h"

// The head of nginx's ngx_connection_t and ngx_http_request_t (what the probe reads).
struct FakeNgxConnection {
  void* data;
  void* read;
  void* write;
  int fd;
};
struct FakeNgxRequest {
  uint32_t signature;
  FakeNgxConnection* connection;
};
constexpr uint32_t kNgxHttpSignature = 0x50545448;  // "HTTP"

// What the stand-in does while "proxying": the test's upstream work.
static std::function<void()> upstream_work;

// nginx's name, C linkage and not inlined, so that the probe finds it in this executable's
// symbol table and every call really enters it.
extern "C" __attribute__((noinline, used)) void ngx_http_upstream_init(FakeNgxRequest* request) {
  asm volatile("" : : "r"(request) : "memory");
  if (upstream_work) upstream_work();
}

namespace hodos::agent {
namespace {

constexpr char kAnswer[] = "HTTP/1.1 204 No Content\r\n\r\n";

class EventLoopProbeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FeatureProbe privileges = probe_privileges();
    if (!privileges.available) GTEST_SKIP() << "BPF unavailable: " << privileges.detail;
    std::string error;
    probe_ = open_capturing_probe(&events_, &error);
    ASSERT_TRUE(probe_) << error;
    self_ = static_cast<uint32_t>(getpid());
    loops_ = std::make_unique<EventLoopProbe>(*probe_);
    nginx_.runtime = Runtime::kNginx;
    nginx_.version = "1.22.1";
    front_ = listen_on_loopback();
    backend_ = listen_on_loopback();
  }

  void TearDown() override { upstream_work = nullptr; }

  std::vector<CapturedEvent> drain() {
    events_.clear();
    probe_->consume();
    std::vector<CapturedEvent> mine;
    for (CapturedEvent& e : events_) {
      if (e.event.pid == self_) mine.push_back(std::move(e));
    }
    return mine;
  }

  // A client connection to the "nginx" listener: (client end, server end).
  std::pair<UniqueFd, UniqueFd> client_connection() {
    UniqueFd client = connect_to(local_port(front_.get()));
    UniqueFd server(accept4(front_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    EXPECT_TRUE(server.valid());
    return {std::move(client), std::move(server)};
  }

  // Calls the stand-in for the request read on `fd`, doing `work` inside it.
  static void proxy(int fd, std::function<void()> work, uint32_t signature = kNgxHttpSignature) {
    FakeNgxConnection connection{nullptr, nullptr, nullptr, fd};
    FakeNgxRequest request{signature, &connection};
    upstream_work = std::move(work);
    ngx_http_upstream_init(&request);
    upstream_work = nullptr;
  }

  // The upstream end of a new connection to the backend, the backend's end accepted.
  UniqueFd connect_upstream() {
    UniqueFd upstream = connect_to(local_port(backend_.get()));
    accepted_.emplace_back(accept4(backend_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    return upstream;
  }

  std::unique_ptr<SocketProbe> probe_;
  std::unique_ptr<EventLoopProbe> loops_;
  std::vector<CapturedEvent> events_;
  uint32_t self_ = 0;
  RuntimeInfo nginx_;
  UniqueFd front_, backend_;
  std::vector<UniqueFd> accepted_;
};

TEST_F(EventLoopProbeTest, UpstreamCallsNameTheRequestTheyWereMadeFor) {
  const EventLoopAttachResult attached = loops_->attach(self_, nginx_);
  ASSERT_TRUE(attached.attached) << attached.reason;
  EXPECT_EQ(attached.target, "nginx 1.22.1 (ngx_http_upstream_init)");
  EXPECT_TRUE(probe_->has_connection_context(self_));
  EXPECT_TRUE(loops_->is_attached(self_));
  EXPECT_EQ(loops_->processes(), 1u);

  // Two requests read on this one thread before either is answered: an event loop.
  auto [client1, server1] = client_connection();
  auto [client2, server2] = client_connection();
  const std::string incoming =
      "GET /one HTTP/1.1\r\nHost: x\r\ntraceparent: 00-0af7651916cd43dd8448eb211c80319c-"
      "b7ad6b7169203331-01\r\n\r\n";
  const std::string plain = "GET /two HTTP/1.1\r\nHost: x\r\n\r\n";
  write_all(client1.get(), incoming);
  write_all(client2.get(), plain);
  read_exactly(server1.get(), incoming.size());
  read_exactly(server2.get(), plain.size());
  std::vector<CapturedEvent> events = drain();
  const CapturedEvent* read1 = last_read_on(events, server1.get());
  const CapturedEvent* read2 = last_read_on(events, server2.get());
  ASSERT_NE(read1, nullptr);
  ASSERT_NE(read2, nullptr);
  const KernelSpanIds request1 = read1->event.ids, request2 = read2->event.ids;
  ASSERT_EQ(request1.kind, KernelIdsKind::kServer);
  ASSERT_EQ(request2.kind, KernelIdsKind::kServer) << "connection contexts: no thread-mode give-up";
  EXPECT_EQ(request1.trace_id.hex(), "0af7651916cd43dd8448eb211c80319c");
  EXPECT_NE(request2.trace_id, request1.trace_id);

  // Request 2 goes upstream over a connection made and written inside the call (as a kept-alive
  // upstream connection is); request 1's connection is made inside, written later by the loop.
  const std::string up2 = "GET /two HTTP/1.1\r\nHost: backend\r\n\r\n";
  const std::string up1 = "GET /one HTTP/1.1\r\nHost: backend\r\n\r\n";
  UniqueFd upstream1, upstream2;
  proxy(server2.get(), [&] {
    upstream2 = connect_upstream();
    write_all(upstream2.get(), up2);
  });
  proxy(server1.get(), [&] { upstream1 = connect_upstream(); });
  write_all(upstream1.get(), up1);
  events = drain();
  const CapturedEvent* call2 = last_data_on(events, upstream2.get(), Direction::kEgress);
  const CapturedEvent* call1 = last_data_on(events, upstream1.get(), Direction::kEgress);
  ASSERT_NE(call2, nullptr);
  ASSERT_NE(call1, nullptr);
  EXPECT_EQ(call2->event.ids.kind, KernelIdsKind::kClient);
  EXPECT_EQ(call2->event.ids.trace_id, request2.trace_id);
  EXPECT_EQ(call2->event.ids.parent_span_id, request2.span_id);
  EXPECT_EQ(call1->event.ids.kind, KernelIdsKind::kClient);
  EXPECT_EQ(call1->event.ids.trace_id, request1.trace_id);
  EXPECT_EQ(call1->event.ids.parent_span_id, request1.span_id);
  EXPECT_TRUE(call1->event.ids.span_id.valid());
  EXPECT_NE(call1->event.ids.span_id, call2->event.ids.span_id);
  EXPECT_EQ(probe_->counters().loop_calls_followed, 2u);

  // A write that starts no request (a body) names nothing.
  write_all(upstream1.get(), "a body, not a request");
  events = drain();
  const CapturedEvent* body = last_data_on(events, upstream1.get(), Direction::kEgress);
  ASSERT_NE(body, nullptr);
  EXPECT_EQ(body->event.ids.kind, KernelIdsKind::kNone);

  // A binding names one request head: request 1's connection, written again from the loop (as
  // a pooled connection reused by a retry would be), names nobody.
  write_all(upstream1.get(), up1);
  events = drain();
  const CapturedEvent* second = last_data_on(events, upstream1.get(), Direction::kEgress);
  ASSERT_NE(second, nullptr);
  EXPECT_EQ(second->event.ids.kind, KernelIdsKind::kNone);

  // An interim answer (100 Continue) does not end request 2: a connection opened for it and
  // written from the loop afterwards still names it.
  UniqueFd upstream3;
  proxy(server2.get(), [&] { upstream3 = connect_upstream(); });
  write_all(server2.get(), "HTTP/1.1 100 Continue\r\n\r\n");
  write_all(upstream3.get(), up2);
  events = drain();
  const CapturedEvent* after_interim = last_data_on(events, upstream3.get(), Direction::kEgress);
  ASSERT_NE(after_interim, nullptr);
  EXPECT_EQ(after_interim->event.ids.kind, KernelIdsKind::kClient);
  EXPECT_EQ(after_interim->event.ids.parent_span_id, request2.span_id);

  // Request 2's answer ends its context: a connection bound to it and not yet written names
  // nobody afterwards; proxying it again finds no context, and a new connection names nothing.
  UniqueFd upstream4;
  proxy(server2.get(), [&] { upstream4 = connect_upstream(); });
  write_all(server2.get(), kAnswer);
  write_all(upstream4.get(), up2);
  UniqueFd late;
  proxy(server2.get(), [&] { late = connect_upstream(); });
  write_all(late.get(), up2);
  events = drain();
  const CapturedEvent* answered = last_data_on(events, upstream4.get(), Direction::kEgress);
  ASSERT_NE(answered, nullptr);
  EXPECT_EQ(answered->event.ids.kind, KernelIdsKind::kNone) << "a done request's binding";
  const CapturedEvent* late_call = last_data_on(events, late.get(), Direction::kEgress);
  ASSERT_NE(late_call, nullptr);
  EXPECT_EQ(late_call->event.ids.kind, KernelIdsKind::kNone);
  EXPECT_EQ(probe_->counters().loop_no_context, 1u);

  // A request without a context that reuses a connection bound to request 1 (not yet answered)
  // unbinds it: neither its write nor a later one names request 1.
  UniqueFd upstream5;
  proxy(server1.get(), [&] { upstream5 = connect_upstream(); });
  proxy(server2.get(), [&] { write_all(upstream5.get(), up2); });
  write_all(upstream5.get(), up1);
  events = drain();
  int upstream5_writes = 0;
  for (const CapturedEvent& e : events) {
    if (e.event.fd == upstream5.get() && e.event.kind == SocketEventKind::kData) {
      ++upstream5_writes;
      EXPECT_EQ(e.event.ids.kind, KernelIdsKind::kNone) << e.data;
    }
  }
  EXPECT_EQ(upstream5_writes, 2);
  EXPECT_EQ(probe_->counters().loop_no_context, 2u);
  EXPECT_EQ(probe_->counters().loop_calls_followed, 5u);

  // Something that is not nginx's request is never read as one.
  UniqueFd odd;
  proxy(server1.get(), [&] { odd = connect_upstream(); }, /*signature=*/0x12345678);
  write_all(odd.get(), up1);
  events = drain();
  const CapturedEvent* odd_call = last_data_on(events, odd.get(), Direction::kEgress);
  ASSERT_NE(odd_call, nullptr);
  EXPECT_EQ(odd_call->event.ids.kind, KernelIdsKind::kNone);
  EXPECT_EQ(probe_->counters().loop_unreadable, 1u);
  EXPECT_EQ(probe_->counters().loop_calls_followed, 5u);
}

TEST_F(EventLoopProbeTest, ADetachedProcessGetsNoUpstreamContext) {
  ASSERT_TRUE(loops_->attach(self_, nginx_).attached);
  loops_->detach(self_);
  EXPECT_FALSE(probe_->has_connection_context(self_));
  EXPECT_TRUE(probe_->is_traced(self_));
  auto [client, server] = client_connection();
  const std::string request = "GET /x HTTP/1.1\r\nHost: x\r\n\r\n";
  write_all(client.get(), request);
  read_exactly(server.get(), request.size());
  UniqueFd upstream;
  proxy(server.get(), [&] {
    upstream = connect_upstream();
    write_all(upstream.get(), request);
  });
  std::vector<CapturedEvent> events = drain();
  const CapturedEvent* read = last_read_on(events, server.get());
  const CapturedEvent* call = last_data_on(events, upstream.get(), Direction::kEgress);
  ASSERT_NE(read, nullptr);
  ASSERT_NE(call, nullptr);
  EXPECT_EQ(read->event.ids.kind, KernelIdsKind::kNone);
  EXPECT_EQ(call->event.ids.kind, KernelIdsKind::kNone);
  const SocketProbeCounters counters = probe_->counters();
  EXPECT_EQ(counters.loop_calls_followed + counters.loop_no_context, 0u);
}

TEST_F(EventLoopProbeTest, OtherRuntimesAreNotProbed) {
  RuntimeInfo node;
  node.runtime = Runtime::kNode;
  const EventLoopAttachResult result = loops_->attach(self_, node);
  EXPECT_FALSE(result.attached);
  EXPECT_TRUE(result.target.empty()) << "nothing to say of a runtime it does not follow";
  EXPECT_FALSE(probe_->has_connection_context(self_));
  EXPECT_EQ(loops_->processes(), 0u);
}

}  // namespace
}  // namespace hodos::agent
