// Loads bpf/sockets.bpf.c into the running kernel and drives the syscalls it watches on real
// loopback TCP sockets. Needs root (or CAP_BPF + CAP_PERFMON): skipped with the reason otherwise.
#include "agent/socket_probe.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "agent/features.h"
#include "agent/unique_fd.h"
#include "captured_events.h"
#include "loopback_sockets.h"

namespace hodos::agent {
namespace {


// Every test runs with both pairs of syscall programs: typed reads (where the kernel allows them)
// and bpf_probe_read_kernel (any kernel).
class SocketProbeTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    FeatureProbe privileges = probe_privileges();
    if (!privileges.available) GTEST_SKIP() << "BPF unavailable: " << privileges.detail;
    open_probe(SocketProbeOptions{});
  }

  void open_probe(SocketProbeOptions options) {
    probe_.reset();
    options.typed_reads = GetParam();
    std::string error;
    probe_ = open_capturing_probe(&events_, &error, options);
    ASSERT_TRUE(probe_) << error;  // the verifier log, when the kernel rejected the program
  }

  // Every event ready now. The programs emit before the syscall returns, so once a syscall has
  // returned its event is in the ring buffer: no waiting needed.
  std::vector<CapturedEvent> drain() {
    events_.clear();
    probe_->consume();
    return std::move(events_);
  }

  static std::vector<CapturedEvent> of_pid(const std::vector<CapturedEvent>& events, pid_t pid) {
    std::vector<CapturedEvent> out;
    for (const CapturedEvent& e : events) {
      if (e.event.pid == static_cast<uint32_t>(pid)) out.push_back(e);
    }
    return out;
  }

  std::unique_ptr<SocketProbe> probe_;
  std::vector<CapturedEvent> events_;
};

INSTANTIATE_TEST_SUITE_P(Reads, SocketProbeTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return std::string(info.param ? "Typed" : "ProbeRead");
                         });

// The typed programs are the ones loaded where the kernel has bpf_rdonly_cast (6.2+), as here.
TEST_P(SocketProbeTest, LoadsTheTypedProgramsWhenTheKernelAllows) {
  if (!GetParam()) {
    EXPECT_FALSE(probe_->typed_reads());
    return;
  }
  utsname u{};
  ASSERT_EQ(uname(&u), 0);
  int major = 0, minor = 0;
  ASSERT_EQ(std::sscanf(u.release, "%d.%d", &major, &minor), 2);
  if (major > 6 || (major == 6 && minor >= 2)) {
    EXPECT_TRUE(probe_->typed_reads()) << u.release;
  }
}

TEST_P(SocketProbeTest, FollowsOneConnectionThroughEverySyscall) {
  UniqueFd listener = listen_on_loopback();
  uint16_t server_port = local_port(listener.get());
  drain();  // socket(), bind() and listen() are not followed; nothing should be there anyway

  UniqueFd client = connect_to(server_port);
  uint16_t client_port = local_port(client.get());
  int server = accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC);
  ASSERT_GE(server, 0) << strerror(errno);

  const std::string request = "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n";
  const std::string response = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
  ASSERT_EQ(write(client.get(), request.data(), request.size()),
            static_cast<ssize_t>(request.size()));
  ASSERT_EQ(read_exactly(server, request.size()), request);
  ASSERT_EQ(sendto(server, response.data(), response.size(), 0, nullptr, 0),
            static_cast<ssize_t>(response.size()));
  std::string received(response.size(), '\0');
  ASSERT_EQ(recvfrom(client.get(), received.data(), received.size(), MSG_WAITALL, nullptr, nullptr),
            static_cast<ssize_t>(response.size()));
  int client_fd = client.get();
  client.reset();
  ASSERT_EQ(close(server), 0);

  std::vector<CapturedEvent> events = of_pid(drain(), getpid());
  ASSERT_EQ(events.size(), 8u);
  struct Expected {
    SocketEventKind kind;
    SocketSyscall syscall;
    Direction direction;
    int fd;
    int64_t result;
    uint16_t local_port;
    uint16_t remote_port;
    std::string data;
  };
  const int64_t request_size = static_cast<int64_t>(request.size());
  const int64_t response_size = static_cast<int64_t>(response.size());
  const std::vector<Expected> expected = {
      {SocketEventKind::kConnect, SocketSyscall::kConnect, Direction::kNone, client_fd, 0,
       client_port, server_port, ""},
      {SocketEventKind::kAccept, SocketSyscall::kAccept4, Direction::kNone, server, server,
       server_port, client_port, ""},
      {SocketEventKind::kData, SocketSyscall::kWrite, Direction::kEgress, client_fd, request_size,
       client_port, server_port, request},
      {SocketEventKind::kData, SocketSyscall::kRead, Direction::kIngress, server, request_size,
       server_port, client_port, request},
      {SocketEventKind::kData, SocketSyscall::kSendto, Direction::kEgress, server, response_size,
       server_port, client_port, response},
      {SocketEventKind::kData, SocketSyscall::kRecvfrom, Direction::kIngress, client_fd,
       response_size, client_port, server_port, response},
      {SocketEventKind::kClose, SocketSyscall::kClose, Direction::kNone, client_fd, 0, client_port,
       server_port, ""},
      {SocketEventKind::kClose, SocketSyscall::kClose, Direction::kNone, server, 0, server_port,
       client_port, ""},
  };
  for (size_t i = 0; i < expected.size(); ++i) {
    SCOPED_TRACE("event " + std::to_string(i));
    const SocketEvent& e = events[i].event;
    EXPECT_EQ(e.kind, expected[i].kind);
    EXPECT_EQ(e.syscall, expected[i].syscall);
    EXPECT_EQ(e.direction, expected[i].direction);
    EXPECT_EQ(e.fd, expected[i].fd);
    EXPECT_EQ(e.result, expected[i].result);
    EXPECT_EQ(e.tid, static_cast<uint32_t>(gettid()));
    EXPECT_EQ(e.local.family, HODOS_AF_INET);
    EXPECT_EQ(e.local.address_string(), "127.0.0.1");
    EXPECT_EQ(e.remote.address_string(), "127.0.0.1");
    EXPECT_EQ(e.local.port, expected[i].local_port);
    EXPECT_EQ(e.remote.port, expected[i].remote_port);
    EXPECT_EQ(events[i].data, expected[i].data);
    EXPECT_FALSE(e.truncated);
    EXPECT_FALSE(e.capture_failed);
    EXPECT_LE(e.enter_ns, e.exit_ns);
    // One thread made these calls one after another.
    if (i > 0) {
      EXPECT_LE(events[i - 1].event.exit_ns, e.enter_ns);
    }
  }

  SocketProbeCounters counters = probe_->counters();
  EXPECT_EQ(counters.ringbuf_drops, 0u);
  EXPECT_EQ(counters.truncations, 0u);
  EXPECT_EQ(counters.decode_errors, 0u);
  EXPECT_GE(counters.events, events.size());
}

TEST_P(SocketProbeTest, IgnoresFilesPipesAndUdp) {
  int pipe_fds[2];
  ASSERT_EQ(pipe2(pipe_fds, O_CLOEXEC), 0);
  UniqueFd pipe_read(pipe_fds[0]), pipe_write(pipe_fds[1]);
  ASSERT_EQ(write(pipe_write.get(), "abc", 3), 3);
  char buf[16];
  ASSERT_EQ(read(pipe_read.get(), buf, sizeof(buf)), 3);

  UniqueFd udp(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr = loopback(0);
  ASSERT_EQ(bind(udp.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  sockaddr_in to = loopback(local_port(udp.get()));
  ASSERT_EQ(sendto(udp.get(), "udp", 3, 0, reinterpret_cast<sockaddr*>(&to), sizeof(to)), 3);
  ASSERT_EQ(recvfrom(udp.get(), buf, sizeof(buf), 0, nullptr, nullptr), 3);
  pipe_read.reset();
  pipe_write.reset();
  udp.reset();

  EXPECT_TRUE(of_pid(drain(), getpid()).empty());
}

TEST_P(SocketProbeTest, ProcessOutsideTheFilterProducesNoEvents) {
  UniqueFd listener = listen_on_loopback();
  uint16_t port = local_port(listener.get());
  const std::string message = "from the untraced child";
  int gate[2];
  ASSERT_EQ(pipe2(gate, O_CLOEXEC), 0);

  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // Only syscalls here: the child of a test process must not run gtest code. It waits until
    // the parent took it out of the filter (a child of a traced process starts traced).
    char go;
    if (read(gate[0], &go, 1) != 1) _exit(4);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr = loopback(port);
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) _exit(2);
    if (write(fd, message.data(), message.size()) != static_cast<ssize_t>(message.size())) _exit(3);
    close(fd);
    _exit(0);
  }
  EXPECT_TRUE(probe_->is_traced(static_cast<uint32_t>(child)));
  probe_->untrace_process(static_cast<uint32_t>(child));
  ASSERT_EQ(write(gate[1], "g", 1), 1);
  close(gate[0]);
  close(gate[1]);
  UniqueFd server(accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_TRUE(server.valid());
  EXPECT_EQ(read_exactly(server.get(), message.size()), message);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child status " << status;

  std::vector<CapturedEvent> events = drain();
  for (const CapturedEvent& e : of_pid(events, child)) {
    EXPECT_EQ(e.event.kind, SocketEventKind::kProcess) << "the child is not in the pid filter";
  }
  // The traced side of the same connection was captured while the child ran.
  std::vector<CapturedEvent> ours = of_pid(events, getpid());
  ASSERT_EQ(ours.size(), 2u);
  EXPECT_EQ(ours[0].event.kind, SocketEventKind::kAccept);
  EXPECT_EQ(ours[1].event.kind, SocketEventKind::kData);
  EXPECT_EQ(ours[1].data, message);
}

TEST_P(SocketProbeTest, UntracedProcessStopsProducingEvents) {
  UniqueFd listener = listen_on_loopback();
  probe_->untrace_process(static_cast<uint32_t>(getpid()));
  UniqueFd client = connect_to(local_port(listener.get()));
  UniqueFd server(accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  write_all(client.get(), "ping");
  EXPECT_EQ(read_exactly(server.get(), 4), "ping");
  EXPECT_TRUE(of_pid(drain(), getpid()).empty());

  probe_->trace_process(static_cast<uint32_t>(getpid()));
  write_all(client.get(), "pong");
  EXPECT_EQ(read_exactly(server.get(), 4), "pong");
  EXPECT_EQ(of_pid(drain(), getpid()).size(), 2u);
}

TEST_P(SocketProbeTest, WriteLargerThanTheCaptureIsTruncatedAndCounted) {
  UniqueFd listener = listen_on_loopback();
  UniqueFd client = connect_to(local_port(listener.get()));
  UniqueFd server(accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  drain();

  std::string payload(10'000, '\0');
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>('a' + i % 26);
  ASSERT_EQ(write(client.get(), payload.data(), payload.size()),
            static_cast<ssize_t>(payload.size()));
  EXPECT_EQ(read_exactly(server.get(), payload.size()), payload);

  std::vector<CapturedEvent> events = of_pid(drain(), getpid());
  ASSERT_FALSE(events.empty());
  const CapturedEvent& written = events.front();
  EXPECT_EQ(written.event.syscall, SocketSyscall::kWrite);
  EXPECT_EQ(written.event.result, static_cast<int64_t>(payload.size()));
  EXPECT_TRUE(written.event.truncated);
  EXPECT_EQ(written.data, payload.substr(0, HODOS_DEFAULT_CAPTURE_BYTES));

  // Reads may return the bytes in several pieces; each piece over the capture is truncated too.
  uint64_t truncated = 0, read_total = 0;
  for (const CapturedEvent& e : events) {
    truncated += e.event.truncated ? 1 : 0;
    if (e.event.syscall == SocketSyscall::kRead) {
      EXPECT_EQ(e.data, payload.substr(read_total, std::min<size_t>(e.event.result,
                                                                    HODOS_DEFAULT_CAPTURE_BYTES)));
      read_total += static_cast<uint64_t>(e.event.result);
    }
  }
  EXPECT_EQ(read_total, payload.size());
  EXPECT_EQ(probe_->counters().truncations, truncated);
}

TEST_P(SocketProbeTest, CaptureSizeIsConfigurable) {
  ASSERT_NO_FATAL_FAILURE(open_probe({.capture_bytes = 16, .ring_buffer_bytes = 1u << 16}));
  UniqueFd listener = listen_on_loopback();
  UniqueFd client = connect_to(local_port(listener.get()));
  UniqueFd server(accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  drain();
  write_all(client.get(), "0123456789abcdefXYZ");
  std::vector<CapturedEvent> events = of_pid(drain(), getpid());
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].data, "0123456789abcdef");
  EXPECT_EQ(events[0].event.result, 19);
  EXPECT_TRUE(events[0].event.truncated);
}

// ---- vectored and length-only data syscalls -----------------------------------------------------

class ConnectedPairTest : public SocketProbeTest {
 protected:
  void SetUp() override {
    SocketProbeTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    connect_pair();
  }
  void connect_pair() {
    listener_ = listen_on_loopback();
    client_ = connect_to(local_port(listener_.get()));
    server_ = UniqueFd(accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    ASSERT_TRUE(server_.valid());
    drain();
  }
  static iovec vec(const char* text) {
    return iovec{const_cast<char*>(text), std::strlen(text)};
  }
  UniqueFd listener_, client_, server_;
};

INSTANTIATE_TEST_SUITE_P(Reads, ConnectedPairTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return std::string(info.param ? "Typed" : "ProbeRead");
                         });

TEST_P(ConnectedPairTest, WritevAndReadvCaptureAcrossIovecs) {
  iovec out[] = {vec("GET /v HTTP/1.1\r\n"), vec(""), vec("Host: x\r\n"), vec("\r\n")};
  const std::string whole = "GET /v HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(writev(client_.get(), out, 4), static_cast<ssize_t>(whole.size()));
  std::string first(10, '\0'), rest(64, '\0');
  iovec in[] = {{first.data(), first.size()}, {rest.data(), rest.size()}};
  ASSERT_EQ(readv(server_.get(), in, 2), static_cast<ssize_t>(whole.size()));

  std::vector<CapturedEvent> events = of_pid(drain(), getpid());
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].event.syscall, SocketSyscall::kWritev);
  EXPECT_EQ(events[0].event.direction, Direction::kEgress);
  EXPECT_EQ(events[0].data, whole);
  EXPECT_EQ(events[1].event.syscall, SocketSyscall::kReadv);
  EXPECT_EQ(events[1].event.direction, Direction::kIngress);
  // Only the bytes the read returned, though the iovecs had room for more.
  EXPECT_EQ(events[1].data, whole);
  for (const CapturedEvent& e : events) {
    EXPECT_FALSE(e.event.truncated);
    EXPECT_FALSE(e.event.length_only);
    EXPECT_EQ(e.event.fd, e.event.direction == Direction::kEgress ? client_.get() : server_.get());
  }
}

TEST_P(ConnectedPairTest, SendmsgAndRecvmsgCaptureAcrossIovecs) {
  iovec out[] = {vec("HTTP/1.1 200 OK\r\n"), vec("Content-Length: 0\r\n\r\n")};
  msghdr send_msg = {};
  send_msg.msg_iov = out;
  send_msg.msg_iovlen = 2;
  const std::string whole = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
  ASSERT_EQ(sendmsg(server_.get(), &send_msg, 0), static_cast<ssize_t>(whole.size()));
  std::string a(5, '\0'), b(whole.size() - 5, '\0');  // MSG_WAITALL fills both
  iovec in[] = {{a.data(), a.size()}, {b.data(), b.size()}};
  msghdr recv_msg = {};
  recv_msg.msg_iov = in;
  recv_msg.msg_iovlen = 2;
  ASSERT_EQ(recvmsg(client_.get(), &recv_msg, MSG_WAITALL), static_cast<ssize_t>(whole.size()));

  std::vector<CapturedEvent> events = of_pid(drain(), getpid());
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].event.syscall, SocketSyscall::kSendmsg);
  EXPECT_EQ(events[0].event.direction, Direction::kEgress);
  EXPECT_EQ(events[0].data, whole);
  EXPECT_EQ(events[1].event.syscall, SocketSyscall::kRecvmsg);
  EXPECT_EQ(events[1].event.direction, Direction::kIngress);
  EXPECT_EQ(events[1].data, whole);
}

TEST_P(ConnectedPairTest, VectoredCaptureStopsAtTheCaptureSizeAndTheIovecLimit) {
  ASSERT_NO_FATAL_FAILURE(open_probe({.capture_bytes = 64, .ring_buffer_bytes = 1u << 16}));
  const std::string first(40, 'x'), second = std::string(30, 'y') + "0123456789";
  iovec two[] = {vec(first.c_str()), vec(second.c_str())};
  ASSERT_EQ(writev(client_.get(), two, 2), 80);
  // More iovecs than the program walks: the bytes of the later ones are counted, not captured.
  std::vector<std::string> letters;
  std::vector<iovec> many;
  std::string walked;
  for (int i = 0; i < HODOS_MAX_CAPTURED_IOVECS + 2; ++i) {
    letters.push_back(std::string(1, static_cast<char>('0' + i)));
    if (i < HODOS_MAX_CAPTURED_IOVECS) walked += letters.back();
  }
  static_assert(HODOS_MAX_CAPTURED_IOVECS + 2 < 64, "the capture size must not cut first");
  for (std::string& l : letters) many.push_back({l.data(), 1});
  ASSERT_EQ(writev(client_.get(), many.data(), static_cast<int>(many.size())),
            HODOS_MAX_CAPTURED_IOVECS + 2);

  std::vector<CapturedEvent> events = of_pid(drain(), getpid());
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].data, first + second.substr(0, 24));
  EXPECT_EQ(events[0].event.result, 80);
  EXPECT_TRUE(events[0].event.truncated);
  EXPECT_EQ(events[1].data, walked);
  EXPECT_EQ(events[1].event.result, HODOS_MAX_CAPTURED_IOVECS + 2);
  EXPECT_TRUE(events[1].event.truncated);
}

// HTTP/2: a header block the capture misses breaks HPACK for good, so once the client preface
// went through a socket, its reads and writes are captured whole (up to the maximum), whatever the
// configured size; other sockets keep it.
TEST_P(ConnectedPairTest, Http2ConnectionsAreCapturedWhole) {
  ASSERT_NO_FATAL_FAILURE(open_probe({.capture_bytes = 64, .ring_buffer_bytes = 1u << 18}));
  const std::string preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + std::string(200, 'h');
  const std::string later(300, 'f');
  ASSERT_EQ(write(client_.get(), preface.data(), preface.size()),
            static_cast<ssize_t>(preface.size()));
  std::string got(preface.size(), '\0');
  ASSERT_EQ(recv(server_.get(), got.data(), got.size(), MSG_WAITALL),
            static_cast<ssize_t>(got.size()));
  ASSERT_EQ(write(client_.get(), later.data(), later.size()), static_cast<ssize_t>(later.size()));
  std::vector<CapturedEvent> events = of_pid(drain(), getpid());
  std::vector<std::string> writes;
  for (const CapturedEvent& e : events) {
    if (e.event.kind == SocketEventKind::kData && e.event.direction == Direction::kEgress) {
      writes.push_back(e.data);
      EXPECT_FALSE(e.event.truncated);
    }
  }
  ASSERT_EQ(writes.size(), 2u);
  EXPECT_EQ(writes[0], preface) << "the preface's own write is peeked at before it is cut";
  EXPECT_EQ(writes[1], later) << "the socket stays marked";
  const CapturedEvent* read = last_read_on(events, server_.get());
  ASSERT_NE(read, nullptr);
  EXPECT_EQ(read->data, preface) << "the other end's read too";
}

// Thread-context mode: the kernel decides each request's trace context at the read that brings
// it in, continuing a valid incoming traceparent, else a new trace; the answer ends it.
TEST_P(ConnectedPairTest, ThreadContextRequestsGetTheirServerSpanIdsFromTheKernel) {
  const uint32_t self = static_cast<uint32_t>(getpid());
  probe_->trace_process(self, TraceMode::kThreadContext);
  ASSERT_TRUE(probe_->has_thread_context(self));
  const std::string incoming =
      "GET /a HTTP/1.1\r\nHost: x\r\nTraceParent:  00-0af7651916cd43dd8448eb211c80319c-"
      "b7ad6b7169203331-01\r\n\r\n";
  const std::string plain = "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n";
  const std::string invalid =  // uppercase hex: not W3C, a new trace
      "GET /c HTTP/1.1\r\ntraceparent: 00-0AF7651916CD43DD8448EB211C80319C-B7AD6B7169203331-01\r\n\r\n";
  std::vector<KernelSpanIds> ids;
  for (const std::string& request : {incoming, plain, invalid}) {
    write_all(client_.get(), request);
    EXPECT_EQ(read_exactly(server_.get(), request.size()), request);
    write_all(server_.get(), "HTTP/1.1 204 No Content\r\n\r\n");  // the answer ends the context
    read_exactly(client_.get(), 27);
    std::vector<CapturedEvent> events = of_pid(drain(), getpid());
    const CapturedEvent* read = last_read_on(events, server_.get());
    ASSERT_NE(read, nullptr);
    EXPECT_EQ(read->event.ids.kind, KernelIdsKind::kServer) << request;
    ids.push_back(read->event.ids);
    const CapturedEvent* response = last_read_on(events, client_.get());
    ASSERT_NE(response, nullptr);
    EXPECT_EQ(response->event.ids.kind, KernelIdsKind::kNone) << "a response starts no context";
  }
  EXPECT_EQ(ids[0].trace_id.hex(), "0af7651916cd43dd8448eb211c80319c");
  EXPECT_EQ(ids[0].parent_span_id.hex(), "b7ad6b7169203331");
  EXPECT_EQ(ids[0].flags, 1);
  EXPECT_TRUE(ids[0].span_id.valid());
  EXPECT_NE(ids[0].span_id, ids[0].parent_span_id);
  for (size_t i : {1u, 2u}) {
    EXPECT_TRUE(ids[i].trace_id.valid());
    EXPECT_NE(ids[i].trace_id, ids[0].trace_id);
    EXPECT_FALSE(ids[i].parent_span_id.valid()) << "a new trace has no parent";
  }
  EXPECT_NE(ids[1].trace_id, ids[2].trace_id);
  SocketProbeCounters counters = probe_->counters();
  EXPECT_EQ(counters.contexts_adopted, 1u);
  EXPECT_EQ(counters.contexts_new, 2u);
  EXPECT_EQ(counters.contexts_not_per_thread, 0u);
}

// A thread that reads a second request before answering the first is an event loop: the process
// leaves thread-context mode, and the second request gets no kernel ids.
TEST_P(ConnectedPairTest, ASecondOpenRequestOnAThreadEndsThreadContextMode) {
  const uint32_t self = static_cast<uint32_t>(getpid());
  probe_->trace_process(self, TraceMode::kThreadContext);
  UniqueFd client2 = connect_to(local_port(listener_.get()));
  UniqueFd server2(accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_TRUE(server2.valid());
  const std::string request = "GET /loop HTTP/1.1\r\nHost: x\r\n\r\n";
  write_all(client_.get(), request);
  write_all(client2.get(), request);
  read_exactly(server_.get(), request.size());
  read_exactly(server2.get(), request.size());
  std::vector<CapturedEvent> events = of_pid(drain(), getpid());
  const CapturedEvent* first = last_read_on(events, server_.get());
  const CapturedEvent* second = last_read_on(events, server2.get());
  ASSERT_NE(first, nullptr);
  ASSERT_NE(second, nullptr);
  EXPECT_EQ(first->event.ids.kind, KernelIdsKind::kServer);
  EXPECT_EQ(second->event.ids.kind, KernelIdsKind::kNone);
  EXPECT_FALSE(probe_->has_thread_context(self));
  EXPECT_TRUE(probe_->is_traced(self));
  EXPECT_EQ(probe_->counters().contexts_not_per_thread, 1u);
}

TEST_P(ConnectedPairTest, OnlyThreadContextModeGetsKernelIdsAndGoEventsAreMarked) {
  const uint32_t self = static_cast<uint32_t>(getpid());
  const std::string request = "GET /go HTTP/1.1\r\nHost: x\r\n\r\n";
  for (TraceMode mode : {TraceMode::kDefault, TraceMode::kGoroutines}) {
    probe_->trace_process(self, mode);
    write_all(client_.get(), request);
    read_exactly(server_.get(), request.size());
    write_all(server_.get(), "HTTP/1.1 204 No Content\r\n\r\n");
    read_exactly(client_.get(), 27);
    std::vector<CapturedEvent> events = of_pid(drain(), getpid());
    ASSERT_GE(events.size(), 4u);
    for (const CapturedEvent& e : events) {
      EXPECT_EQ(e.event.ids.kind, KernelIdsKind::kNone);
      EXPECT_EQ(e.event.no_thread_parent, mode == TraceMode::kGoroutines);
    }
  }
  EXPECT_EQ(probe_->counters().contexts_new, 0u);
}

TEST_P(ConnectedPairTest, SendfileAndSpliceAreLengthOnly) {
  char path[] = "/tmp/hodos-sendfile-XXXXXX";
  UniqueFd file(mkstemp(path));
  ASSERT_TRUE(file.valid());
  unlink(path);
  const std::string body(3000, 'b');
  ASSERT_EQ(write(file.get(), body.data(), body.size()), static_cast<ssize_t>(body.size()));
  off_t offset = 0;
  ASSERT_EQ(sendfile(server_.get(), file.get(), &offset, body.size()),
            static_cast<ssize_t>(body.size()));
  // splice socket -> pipe (the process receives), then pipe -> socket (it sends).
  int pipe_fds[2];
  ASSERT_EQ(pipe2(pipe_fds, O_CLOEXEC), 0);
  UniqueFd pipe_read(pipe_fds[0]), pipe_write(pipe_fds[1]);
  ssize_t moved = 0;
  while (moved < static_cast<ssize_t>(body.size())) {
    ssize_t n = splice(client_.get(), nullptr, pipe_write.get(), nullptr, body.size() - moved, 0);
    ASSERT_GT(n, 0) << strerror(errno);
    moved += n;
  }
  ASSERT_EQ(splice(pipe_read.get(), nullptr, client_.get(), nullptr, body.size(), 0),
            static_cast<ssize_t>(body.size()));
  EXPECT_EQ(read_exactly(server_.get(), body.size()), body);

  std::vector<CapturedEvent> events = of_pid(drain(), getpid());
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events[0].event.syscall, SocketSyscall::kSendfile);
  EXPECT_EQ(events[0].event.direction, Direction::kEgress);
  EXPECT_EQ(events[0].event.fd, server_.get());
  EXPECT_EQ(events[0].event.result, static_cast<int64_t>(body.size()));
  int64_t spliced_in = 0, spliced_out = 0;
  for (const CapturedEvent& e : events) {
    SCOPED_TRACE(static_cast<int>(e.event.syscall));
    if (e.event.syscall == SocketSyscall::kRead) continue;  // read_exactly's reads
    EXPECT_TRUE(e.event.length_only);
    EXPECT_TRUE(e.data.empty());
    EXPECT_FALSE(e.event.truncated);
    EXPECT_FALSE(e.event.capture_failed);
    if (e.event.syscall != SocketSyscall::kSplice) continue;
    EXPECT_EQ(e.event.fd, client_.get());
    (e.event.direction == Direction::kIngress ? spliced_in : spliced_out) += e.event.result;
  }
  EXPECT_EQ(spliced_in, static_cast<int64_t>(body.size()));
  EXPECT_EQ(spliced_out, static_cast<int64_t>(body.size()));
  EXPECT_EQ(probe_->counters().truncations, 0u);
}

// ---- which processes are traced: decided in the kernel ----------------------------------------

// A child that runs only syscalls (no gtest code after fork) and reports through a pipe.
class ChildProcess {
 public:
  template <class Body>
  explicit ChildProcess(Body body) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      close(fds[0]);
      _exit(body(fds[1]));
    }
    close(fds[1]);
    report_ = UniqueFd(fds[0]);
  }
  ~ChildProcess() {
    if (!reaped_) wait();
  }
  pid_t pid() const { return pid_; }
  // The next 2-byte value the child wrote (a port), or 0 when it wrote nothing.
  uint16_t read_port() {
    uint16_t v = 0;
    return read(report_.get(), &v, sizeof(v)) == sizeof(v) ? v : 0;
  }
  int wait() {
    int status = 0;
    if (pid_ > 0 && !reaped_ && waitpid(pid_, &status, 0) == pid_) reaped_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  UniqueFd report_;
};

// Listens, reports its port, answers one connection by echoing "pong" after reading 4 bytes.
int serve_one(int report) {
  int listener = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr = loopback(0);
  if (bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) return 2;
  if (listen(listener, 4) != 0) return 3;
  socklen_t len = sizeof(addr);
  getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
  uint16_t port = ntohs(addr.sin_port);
  if (write(report, &port, sizeof(port)) != sizeof(port)) return 4;
  int conn = accept(listener, nullptr, nullptr);
  char buf[4];
  if (conn < 0 || read(conn, buf, 4) != 4) return 5;
  if (write(conn, "pong", 4) != 4) return 6;
  close(conn);
  return 0;
}

void ping(uint16_t port) {
  UniqueFd c = connect_to(port);
  write_all(c.get(), "ping");
  EXPECT_EQ(read_exactly(c.get(), 4), "pong");
}

std::vector<CapturedEvent> process_events(const std::vector<CapturedEvent>& events) {
  std::vector<CapturedEvent> out;
  for (const CapturedEvent& e : events) {
    if (e.event.kind == SocketEventKind::kProcess) out.push_back(e);
  }
  return out;
}

TEST_P(SocketProbeTest, ChildOfATracedProcessIsTracedUntilItExits) {
  const uint32_t self = static_cast<uint32_t>(getpid());
  ChildProcess child(serve_one);
  uint16_t port = child.read_port();
  ASSERT_NE(port, 0);
  ping(port);
  ASSERT_EQ(child.wait(), 0);

  std::vector<CapturedEvent> events = of_pid(drain(), child.pid());
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.front().event.kind, SocketEventKind::kProcess);
  EXPECT_EQ(events.front().event.syscall, SocketSyscall::kFork);
  EXPECT_EQ(events.front().event.result, self);
  EXPECT_FALSE(events.front().event.comm.empty());
  // Its accept and data were captured like its parent's.
  auto has = [&](SocketEventKind kind) {
    return std::any_of(events.begin(), events.end(),
                       [&](const CapturedEvent& e) { return e.event.kind == kind; });
  };
  EXPECT_TRUE(has(SocketEventKind::kAccept));
  EXPECT_TRUE(has(SocketEventKind::kData));
  EXPECT_EQ(events.back().event.kind, SocketEventKind::kProcess);
  EXPECT_EQ(events.back().event.syscall, SocketSyscall::kExit);
  EXPECT_FALSE(probe_->is_traced(static_cast<uint32_t>(child.pid())));
  EXPECT_TRUE(probe_->is_traced(self)) << "a child's exit leaves its parent traced";
}

TEST_P(SocketProbeTest, NewListenerIsTracedFromItsListen) {
  const uint32_t self = static_cast<uint32_t>(getpid());
  probe_->untrace_process(self);
  probe_->set_trace_listeners(true);
  ChildProcess child(serve_one);
  uint16_t port = child.read_port();
  ASSERT_NE(port, 0);
  ping(port);
  ASSERT_EQ(child.wait(), 0);

  std::vector<CapturedEvent> all = drain();
  EXPECT_TRUE(of_pid(all, getpid()).empty()) << "the parent (untraced, no listener) is not traced";
  std::vector<CapturedEvent> events = of_pid(all, child.pid());
  ASSERT_GE(events.size(), 4u);
  EXPECT_EQ(events[0].event.kind, SocketEventKind::kProcess);
  EXPECT_EQ(events[0].event.syscall, SocketSyscall::kListen);
  EXPECT_EQ(events[0].event.local.port, port);
  EXPECT_EQ(events[1].event.kind, SocketEventKind::kAccept);
  EXPECT_EQ(events[2].event.kind, SocketEventKind::kData);
  EXPECT_EQ(events[2].data, "ping");
  EXPECT_EQ(process_events(events).back().event.syscall, SocketSyscall::kExit);
}

TEST_P(SocketProbeTest, AcceptOnAnInheritedListenerStartsTracing) {
  probe_->untrace_process(static_cast<uint32_t>(getpid()));
  UniqueFd listener = listen_on_loopback();  // listens while the rule is off: not traced
  uint16_t port = local_port(listener.get());
  probe_->set_trace_listeners(true);
  const int listener_fd = listener.get();
  ChildProcess child([listener_fd](int) {
    int conn = accept(listener_fd, nullptr, nullptr);
    char buf[4];
    if (conn < 0 || read(conn, buf, 4) != 4) return 5;
    return write(conn, "pong", 4) == 4 ? 0 : 6;
  });
  ping(port);
  ASSERT_EQ(child.wait(), 0);

  std::vector<CapturedEvent> all = drain();
  EXPECT_TRUE(of_pid(all, getpid()).empty());
  std::vector<CapturedEvent> events = of_pid(all, child.pid());
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events[0].event.kind, SocketEventKind::kProcess);
  EXPECT_EQ(events[0].event.syscall, SocketSyscall::kAccept);
  EXPECT_EQ(events[1].event.kind, SocketEventKind::kAccept);
  EXPECT_EQ(events[2].data, "ping");
}

TEST_P(SocketProbeTest, NeverTracedProcessesAndTheirChildrenAreNotTraced) {
  const uint32_t self = static_cast<uint32_t>(getpid());
  probe_->untrace_process(self);
  probe_->never_trace(self);
  probe_->set_trace_listeners(true);
  ChildProcess child(serve_one);
  uint16_t port = child.read_port();
  ASSERT_NE(port, 0);
  EXPECT_TRUE(probe_->is_never_traced(static_cast<uint32_t>(child.pid())));
  ping(port);
  ASSERT_EQ(child.wait(), 0);
  EXPECT_TRUE(of_pid(drain(), child.pid()).empty());
  EXPECT_FALSE(probe_->is_never_traced(static_cast<uint32_t>(child.pid()))) << "gone at exit";
}

TEST_P(SocketProbeTest, ListenersAreNotTracedWhileTheRuleIsOff) {
  probe_->untrace_process(static_cast<uint32_t>(getpid()));
  ChildProcess child(serve_one);
  uint16_t port = child.read_port();
  ASSERT_NE(port, 0);
  ping(port);
  ASSERT_EQ(child.wait(), 0);
  EXPECT_TRUE(of_pid(drain(), child.pid()).empty());
}

TEST_P(SocketProbeTest, ExecOfATracedProcessIsReported) {
  ChildProcess child([](int) {
    execl("/bin/true", "true", static_cast<char*>(nullptr));
    return 127;
  });
  ASSERT_EQ(child.wait(), 0);
  std::vector<CapturedEvent> events = process_events(of_pid(drain(), child.pid()));
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].event.syscall, SocketSyscall::kFork);
  EXPECT_EQ(events[1].event.syscall, SocketSyscall::kExec);
  EXPECT_EQ(events[1].event.comm, "true");
  EXPECT_EQ(events[2].event.syscall, SocketSyscall::kExit);
}

TEST(SocketProbeOptionsTest, RejectsBadOptionsBeforeTouchingTheKernel) {
  auto ignore = [](const SocketEvent&) {};
  EXPECT_THROW(SocketProbe::open({.capture_bytes = 0}, ignore), std::invalid_argument);
  EXPECT_THROW(SocketProbe::open({.capture_bytes = HODOS_MAX_CAPTURE_BYTES + 1}, ignore),
               std::invalid_argument);
  EXPECT_THROW(SocketProbe::open({.ring_buffer_bytes = 3u << 20}, ignore), std::invalid_argument);
}

// ---- decoding records (no kernel needed) -------------------------------------------------------

std::vector<char> data_record(const std::string& payload) {
  hodos_data_event event = {};
  event.header.kind = HODOS_EVENT_DATA;
  event.header.syscall = HODOS_SYSCALL_WRITE;
  event.header.direction = HODOS_DIRECTION_EGRESS;
  event.header.ret = static_cast<int64_t>(payload.size());
  event.header.tuple.family = HODOS_AF_INET;
  event.captured = static_cast<uint32_t>(payload.size());
  std::memcpy(event.data, payload.data(), payload.size());
  size_t size = offsetof(hodos_data_event, data) + payload.size();
  const char* bytes = reinterpret_cast<const char*>(&event);
  return std::vector<char>(bytes, bytes + size);
}

TEST(DecodeSocketEventTest, DecodesADataRecord) {
  std::vector<char> record = data_record("hello");
  std::optional<SocketEvent> event = decode_socket_event(record.data(), record.size());
  ASSERT_TRUE(event.has_value());
  EXPECT_EQ(event->kind, SocketEventKind::kData);
  EXPECT_EQ(event->direction, Direction::kEgress);
  EXPECT_EQ(event->data, "hello");
}

TEST(DecodeSocketEventTest, RejectsEveryTruncatedPrefix) {
  std::vector<char> record = data_record("hello");
  for (size_t size = 0; size < record.size(); ++size) {
    EXPECT_FALSE(decode_socket_event(record.data(), size).has_value()) << "prefix of " << size;
  }
}

TEST(DecodeSocketEventTest, RejectsUnknownKindsAndOverlongLengths) {
  std::vector<char> record = data_record("hello");
  hodos_event_header* header = reinterpret_cast<hodos_event_header*>(record.data());
  header->kind = 9;
  EXPECT_FALSE(decode_socket_event(record.data(), record.size()).has_value());
  header->kind = HODOS_EVENT_DATA;
  header->syscall = 0;
  EXPECT_FALSE(decode_socket_event(record.data(), record.size()).has_value());
  header->syscall = HODOS_SYSCALL_WRITE;
  uint32_t too_long = 6;
  std::memcpy(record.data() + offsetof(hodos_data_event, captured), &too_long, sizeof(too_long));
  EXPECT_FALSE(decode_socket_event(record.data(), record.size()).has_value());
}

// A Unix connect event carries the address the process passed: a path stops at its zero byte, an
// abstract name keeps all its bytes after the leading zero.
TEST(DecodeSocketEventTest, DecodesAUnixConnectRecord) {
  hodos_unix_connection_event event = {};
  event.header.kind = HODOS_EVENT_CONNECT;
  event.header.syscall = HODOS_SYSCALL_CONNECT;
  event.header.tuple.family = HODOS_AF_UNIX;
  const std::string path = "/run/postgresql/.s.PGSQL.5432";
  std::memcpy(event.path, path.data(), path.size());
  event.path_length = HODOS_UNIX_PATH_MAX;  // sizeof(sockaddr_un) passed: zeros after the path
  event.connection = 424242;
  std::optional<SocketEvent> decoded = decode_socket_event(&event, sizeof(event));
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(decoded->kind, SocketEventKind::kConnect);
  EXPECT_TRUE(decoded->remote.is_unix());
  EXPECT_EQ(decoded->remote.path, path);
  EXPECT_EQ(decoded->remote.address_string(), path);
  EXPECT_EQ(decoded->local.path, "");
  EXPECT_EQ(decoded->unix_connection, 424242u);
  EXPECT_FALSE(decoded->unix_peer_followed);

  std::memcpy(event.path, "\0db\0x", 5);
  event.path_length = 5;
  decoded = decode_socket_event(&event, sizeof(event));
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(decoded->remote.path, std::string("@db\0x", 5));

  event.path_length = 0;  // the kernel could not read the caller's address
  decoded = decode_socket_event(&event, sizeof(event));
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(decoded->remote.path, "");

  event.path_length = HODOS_UNIX_PATH_MAX + 1;
  EXPECT_FALSE(decode_socket_event(&event, sizeof(event)).has_value());
  event.path_length = 5;
  EXPECT_FALSE(decode_socket_event(&event, sizeof(event) - 1).has_value());
}

// A Unix accept event names the listener's path as the server's (local) end, the client socket's
// inode, and whether a traced process holds the client's end.
TEST(DecodeSocketEventTest, DecodesAUnixAcceptRecord) {
  hodos_unix_connection_event event = {};
  event.header.kind = HODOS_EVENT_ACCEPT;
  event.header.syscall = HODOS_SYSCALL_ACCEPT4;
  event.header.fd = 9;
  event.header.ret = 9;
  event.header.tuple.family = HODOS_AF_UNIX;
  const std::string path = "/run/app.sock";
  std::memcpy(event.path, path.data(), path.size() + 1);
  event.path_length = static_cast<uint32_t>(path.size() + 1);
  event.connection = 77;
  event.peer_followed = 1;
  std::optional<SocketEvent> decoded = decode_socket_event(&event, sizeof(event));
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(decoded->kind, SocketEventKind::kAccept);
  EXPECT_TRUE(decoded->local.is_unix());
  EXPECT_EQ(decoded->local.path, path);
  EXPECT_EQ(decoded->remote.path, "");
  EXPECT_EQ(decoded->unix_connection, 77u);
  EXPECT_TRUE(decoded->unix_peer_followed);
  event.path_length = HODOS_UNIX_PATH_MAX + 1;
  EXPECT_FALSE(decode_socket_event(&event, sizeof(event)).has_value());
  event.path_length = 5;
  EXPECT_FALSE(decode_socket_event(&event, sizeof(event) - 1).has_value());
  // A TCP accept is a header alone.
  event.header.tuple.family = HODOS_AF_INET;
  decoded = decode_socket_event(&event, sizeof(event.header));
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(decoded->unix_connection, 0u);
}

// A Unix stream listener on a path in the temporary directory, removed when it goes. `fd` is
// invalid, and `error` says why, when it could not listen.
struct UnixPathListener {
  explicit UnixPathListener(const std::string& name)
      : path((std::filesystem::temp_directory_path() /
              (name + "-" + std::to_string(getpid()) + ".sock"))
                 .string()) {
    ::unlink(path.c_str());
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, path.data(), path.size());
    length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
    UniqueFd listener(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (bind(listener.get(), reinterpret_cast<sockaddr*>(&address), length) != 0 ||
        listen(listener.get(), 4) != 0) {
      error = strerror(errno);
      return;
    }
    fd = std::move(listener);
  }
  ~UnixPathListener() { ::unlink(path.c_str()); }

  std::string path;
  sockaddr_un address = {};
  socklen_t length = 0;
  UniqueFd fd;
  std::string error;
};

// A Unix stream socket the process connects is followed from its connect(), which names the
// path, and one it accepts from its accept(), which names the listener's path and the client
// socket's inode; the other Unix sockets a process holds are not: socket pairs, datagram sockets,
// and a connect() that failed.
TEST_P(SocketProbeTest, FollowsTheUnixStreamSocketsItConnectsAndAccepts) {
  UnixPathListener unix_listener("hodos-probe");
  ASSERT_TRUE(unix_listener.fd.valid()) << unix_listener.error;
  const std::string& path = unix_listener.path;
  sockaddr_un address = unix_listener.address;
  const socklen_t length = unix_listener.length;
  const UniqueFd& listener = unix_listener.fd;
  // An abstract name, too: no file, a leading zero byte.
  const std::string abstract = "hodos-abstract-" + std::to_string(getpid());
  sockaddr_un abstract_address = {};
  abstract_address.sun_family = AF_UNIX;
  std::memcpy(abstract_address.sun_path + 1, abstract.data(), abstract.size());
  const auto abstract_length =
      static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + abstract.size());
  UniqueFd abstract_listener(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_EQ(bind(abstract_listener.get(), reinterpret_cast<sockaddr*>(&abstract_address),
                 abstract_length),
            0);
  ASSERT_EQ(listen(abstract_listener.get(), 4), 0);
  drain();

  UniqueFd client(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_EQ(connect(client.get(), reinterpret_cast<sockaddr*>(&address), length), 0);
  UniqueFd server(accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_GE(server.get(), 0);
  write_all(client.get(), "PING\r\n");
  ASSERT_EQ(read_exactly(server.get(), 6), "PING\r\n");
  write_all(server.get(), "+PONG\r\n");
  ASSERT_EQ(read_exactly(client.get(), 7), "+PONG\r\n");
  UniqueFd second(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_EQ(connect(second.get(), reinterpret_cast<sockaddr*>(&abstract_address), abstract_length),
            0);
  write_all(second.get(), "hello");

  int pair[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
  UniqueFd pair_a(pair[0]), pair_b(pair[1]);
  write_all(pair_a.get(), "pair");
  ASSERT_EQ(read_exactly(pair_b.get(), 4), "pair");
  int datagrams[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, datagrams), 0);
  UniqueFd dgram_a(datagrams[0]), dgram_b(datagrams[1]);
  ASSERT_EQ(write(dgram_a.get(), "dgram", 5), 5);
  char buf[8];
  ASSERT_EQ(read(dgram_b.get(), buf, sizeof(buf)), 5);
  UniqueFd refused(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un missing = address;
  missing.sun_path[path.size() - 1] = 'X';
  ASSERT_NE(connect(refused.get(), reinterpret_cast<sockaddr*>(&missing), length), 0);

  const int client_fd = client.get();
  const int second_fd = second.get();
  const int server_fd = server.get();
  struct stat client_stat = {};
  ASSERT_EQ(fstat(client_fd, &client_stat), 0);
  const uint64_t client_inode = client_stat.st_ino;
  client.reset();
  second.reset();
  server.reset();
  ::unlink(path.c_str());

  std::vector<CapturedEvent> events = of_pid(drain(), getpid());
  ASSERT_EQ(events.size(), 11u);
  const SocketEvent& connected = events[0].event;
  EXPECT_EQ(connected.kind, SocketEventKind::kConnect);
  EXPECT_EQ(connected.fd, client_fd);
  EXPECT_EQ(connected.result, 0);
  EXPECT_TRUE(connected.remote.is_unix());
  EXPECT_EQ(connected.remote.path, path);
  EXPECT_EQ(connected.unix_connection, client_inode);
  const SocketEvent& accepted = events[1].event;
  EXPECT_EQ(accepted.kind, SocketEventKind::kAccept);
  EXPECT_EQ(accepted.fd, server_fd);
  EXPECT_TRUE(accepted.local.is_unix());
  EXPECT_EQ(accepted.local.path, path);
  EXPECT_EQ(accepted.remote.path, "");
  EXPECT_EQ(accepted.unix_connection, client_inode) << "both ends name the client's socket";
  EXPECT_TRUE(accepted.unix_peer_followed);
  const CapturedEvent* sent = last_data_on(events, client_fd, Direction::kEgress);
  ASSERT_NE(sent, nullptr);
  EXPECT_EQ(sent->data, "PING\r\n");
  EXPECT_EQ(sent->event.syscall, SocketSyscall::kWrite);
  EXPECT_TRUE(sent->event.remote.is_unix());
  EXPECT_EQ(sent->event.remote.port, 0);
  const CapturedEvent* answer = last_read_on(events, client_fd);
  ASSERT_NE(answer, nullptr);
  EXPECT_EQ(answer->data, "+PONG\r\n");
  const CapturedEvent* request = last_read_on(events, server_fd);
  ASSERT_NE(request, nullptr);
  EXPECT_EQ(request->data, "PING\r\n");
  const CapturedEvent* reply = last_data_on(events, server_fd, Direction::kEgress);
  ASSERT_NE(reply, nullptr);
  EXPECT_EQ(reply->data, "+PONG\r\n");
  EXPECT_EQ(events[6].event.kind, SocketEventKind::kConnect);
  EXPECT_EQ(events[6].event.remote.path, "@" + abstract);
  EXPECT_EQ(events[7].event.fd, second_fd);
  EXPECT_EQ(events[7].data, "hello");
  EXPECT_EQ(events[8].event.kind, SocketEventKind::kClose);
  EXPECT_EQ(events[8].event.fd, client_fd);
  EXPECT_EQ(events[9].event.kind, SocketEventKind::kClose);
  EXPECT_EQ(events[9].event.fd, second_fd);
  EXPECT_EQ(events[10].event.kind, SocketEventKind::kClose);
  EXPECT_EQ(events[10].event.fd, server_fd);

  // Closed: a new socket of the same number is not followed until it is connected.
  UniqueFd again(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  int again_pair[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, again_pair), 0);
  UniqueFd again_a(again_pair[0]), again_b(again_pair[1]);
  write_all(again_a.get(), "later");
  ASSERT_EQ(read_exactly(again_b.get(), 5), "later");
  EXPECT_TRUE(of_pid(drain(), getpid()).empty());
}

// An untraced process that accepts a Unix connection is traced from that accept when a traced
// process made the connection (the server of its calls over a path), with the listener rule on;
// a connection from an untraced client leaves it alone.
TEST_P(SocketProbeTest, AcceptOfATracedProcessesUnixConnectionStartsTracing) {
  const uint32_t self = static_cast<uint32_t>(getpid());
  probe_->untrace_process(self);
  probe_->set_trace_listeners(true);
  UnixPathListener unix_listener("hodos-serve");
  ASSERT_TRUE(unix_listener.fd.valid()) << unix_listener.error;
  const std::string& path = unix_listener.path;
  sockaddr_un address = unix_listener.address;
  const socklen_t length = unix_listener.length;
  const UniqueFd& listener = unix_listener.fd;
  const int listener_fd = listener.get();
  // Answers two connections, each "ping" with "pong".
  ChildProcess child([listener_fd](int) {
    for (int i = 0; i < 2; ++i) {
      int conn = accept4(listener_fd, nullptr, nullptr, SOCK_CLOEXEC);
      char buf[4];
      if (conn < 0 || read(conn, buf, 4) != 4) return 5;
      if (write(conn, "pong", 4) != 4) return 6;
      close(conn);
    }
    return 0;
  });
  auto ping_over_unix = [&](uint64_t* inode) {
    UniqueFd c(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    ASSERT_EQ(connect(c.get(), reinterpret_cast<sockaddr*>(&address), length), 0);
    struct stat st = {};
    ASSERT_EQ(fstat(c.get(), &st), 0);
    *inode = st.st_ino;
    write_all(c.get(), "ping");
    EXPECT_EQ(read_exactly(c.get(), 4), "pong");  // the child accepted it
  };
  uint64_t untraced_inode = 0;
  ping_over_unix(&untraced_inode);
  EXPECT_FALSE(probe_->is_traced(static_cast<uint32_t>(child.pid())));
  probe_->trace_process(self, TraceMode::kDefault);
  uint64_t traced_inode = 0;
  ping_over_unix(&traced_inode);
  // The child exits right after its answer (and leaves the filter then): that it was traced from
  // its accept shows in its events, the first being the PROCESS event of that accept.
  ASSERT_EQ(child.wait(), 0);
  ::unlink(path.c_str());

  std::vector<CapturedEvent> events = of_pid(drain(), child.pid());
  ASSERT_GE(events.size(), 4u);
  EXPECT_EQ(events[0].event.kind, SocketEventKind::kProcess);
  EXPECT_EQ(events[0].event.syscall, SocketSyscall::kAccept4);
  EXPECT_TRUE(events[0].event.local.is_unix());
  const SocketEvent& accepted = events[1].event;
  EXPECT_EQ(accepted.kind, SocketEventKind::kAccept);
  EXPECT_EQ(accepted.local.path, path);
  EXPECT_EQ(accepted.unix_connection, traced_inode);
  EXPECT_NE(accepted.unix_connection, untraced_inode);
  EXPECT_TRUE(accepted.unix_peer_followed);
  EXPECT_EQ(events[2].event.kind, SocketEventKind::kData);
  EXPECT_EQ(events[2].data, "ping");
  EXPECT_EQ(events[3].event.kind, SocketEventKind::kData);
  EXPECT_EQ(events[3].data, "pong");
}

// An IPv4 event fills 4 of the 16 address bytes: the other 12 are zero, also right after an IPv6
// event built in the same per-CPU buffer (the agent compares the 16 bytes of two events).
TEST_P(SocketProbeTest, Ipv4AddressesAreZeroPaddedAfterAnIpv6Event) {
  cpu_set_t one_cpu;
  CPU_ZERO(&one_cpu);
  CPU_SET(sched_getcpu(), &one_cpu);
  cpu_set_t before;
  ASSERT_EQ(sched_getaffinity(0, sizeof(before), &before), 0);
  ASSERT_EQ(sched_setaffinity(0, sizeof(one_cpu), &one_cpu), 0);

  UniqueFd listener6(socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in6 addr6 = {};
  addr6.sin6_family = AF_INET6;
  addr6.sin6_addr = in6addr_loopback;
  socklen_t len6 = sizeof(addr6);
  ASSERT_EQ(bind(listener6.get(), reinterpret_cast<sockaddr*>(&addr6), len6), 0);
  ASSERT_EQ(listen(listener6.get(), 1), 0);
  ASSERT_EQ(getsockname(listener6.get(), reinterpret_cast<sockaddr*>(&addr6), &len6), 0);
  UniqueFd client6(socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_EQ(connect(client6.get(), reinterpret_cast<sockaddr*>(&addr6), len6), 0);
  UniqueFd listener = listen_on_loopback();
  UniqueFd client = connect_to(local_port(listener.get()));
  drain();
  write_all(client6.get(), "over IPv6");
  write_all(client.get(), "over IPv4");
  ASSERT_EQ(sched_setaffinity(0, sizeof(before), &before), 0);

  std::vector<CapturedEvent> events = of_pid(drain(), getpid());
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].event.local.family, HODOS_AF_INET6);
  EXPECT_EQ(events[0].event.remote.address_string(), "::1");
  const SocketEvent& v4 = events[1].event;
  EXPECT_EQ(v4.local.family, HODOS_AF_INET);
  for (size_t i = 4; i < 16; ++i) {
    EXPECT_EQ(v4.local.address[i], 0) << "local byte " << i;
    EXPECT_EQ(v4.remote.address[i], 0) << "remote byte " << i;
  }
}

// Formatted by hand for IPv4 (every span formats two): the same text inet_ntop would give.
TEST(SocketEndpointText, Ipv4Ipv4MappedAndIpv6) {
  SocketEndpoint v4;
  v4.family = HODOS_AF_INET;
  v4.address = {0, 10, 255, 1};
  EXPECT_EQ(v4.address_string(), "0.10.255.1");
  v4.address = {255, 255, 255, 255};
  EXPECT_EQ(v4.address_string(), "255.255.255.255");

  SocketEndpoint mapped;
  mapped.family = HODOS_AF_INET6;
  mapped.address = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 168, 0, 7};
  EXPECT_EQ(mapped.address_string(), "192.168.0.7");

  SocketEndpoint v6;
  v6.family = HODOS_AF_INET6;
  v6.address = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  EXPECT_EQ(v6.address_string(), "2001:db8::1");
  v6.address = {};
  v6.address[15] = 1;
  EXPECT_EQ(v6.address_string(), "::1");
}

}  // namespace
}  // namespace hodos::agent
