// Loads bpf/sockets.bpf.c into the running kernel and drives the syscalls it watches on real
// loopback TCP sockets. Needs root (or CAP_BPF + CAP_PERFMON): skipped with the reason otherwise.
#include "agent/socket_probe.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "agent/features.h"
#include "agent/unique_fd.h"

namespace hodos::agent {
namespace {

// A SocketEvent that outlives the callback.
struct CapturedEvent {
  SocketEvent event;
  std::string data;
};

class SocketProbeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FeatureProbe privileges = probe_privileges();
    if (!privileges.available) GTEST_SKIP() << "BPF unavailable: " << privileges.detail;
    open_probe(SocketProbeOptions{});
  }

  void open_probe(const SocketProbeOptions& options) {
    probe_.reset();
    try {
      probe_ = SocketProbe::open(options, [this](const SocketEvent& e) {
        events_.push_back({e, std::string(e.data)});
      });
    } catch (const BpfError& e) {
      FAIL() << e.what();  // the verifier log, when the kernel rejected the program
    }
    probe_->trace_process(static_cast<uint32_t>(getpid()));
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

sockaddr_in loopback(uint16_t port) {
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  return addr;
}

uint16_t local_port(int fd) {
  sockaddr_in addr = {};
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  return ntohs(addr.sin_port);
}

UniqueFd listen_on_loopback() {
  UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr = loopback(0);
  EXPECT_EQ(bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0) << strerror(errno);
  EXPECT_EQ(listen(fd.get(), 16), 0) << strerror(errno);
  return fd;
}

UniqueFd connect_to(uint16_t port) {
  UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr = loopback(port);
  EXPECT_EQ(connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0)
      << strerror(errno);
  return fd;
}

std::string read_exactly(int fd, size_t n) {
  std::string out(n, '\0');
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, out.data() + got, n - got);
    if (r <= 0) break;
    got += static_cast<size_t>(r);
  }
  out.resize(got);
  return out;
}

void write_all(int fd, const std::string& bytes) {
  size_t sent = 0;
  while (sent < bytes.size()) {
    ssize_t w = write(fd, bytes.data() + sent, bytes.size() - sent);
    ASSERT_GT(w, 0) << strerror(errno);
    sent += static_cast<size_t>(w);
  }
}

TEST_F(SocketProbeTest, FollowsOneConnectionThroughEverySyscall) {
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

TEST_F(SocketProbeTest, IgnoresFilesPipesAndUdp) {
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

TEST_F(SocketProbeTest, ProcessOutsideTheFilterProducesNoEvents) {
  UniqueFd listener = listen_on_loopback();
  uint16_t port = local_port(listener.get());
  const std::string message = "from the untraced child";

  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // Only syscalls here: the child of a test process must not run gtest code.
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr = loopback(port);
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) _exit(2);
    if (write(fd, message.data(), message.size()) != static_cast<ssize_t>(message.size())) _exit(3);
    close(fd);
    _exit(0);
  }
  UniqueFd server(accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_TRUE(server.valid());
  EXPECT_EQ(read_exactly(server.get(), message.size()), message);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child status " << status;

  std::vector<CapturedEvent> events = drain();
  EXPECT_TRUE(of_pid(events, child).empty()) << "the child is not in the pid filter";
  // The traced side of the same connection was captured while the child ran.
  std::vector<CapturedEvent> ours = of_pid(events, getpid());
  ASSERT_EQ(ours.size(), 2u);
  EXPECT_EQ(ours[0].event.kind, SocketEventKind::kAccept);
  EXPECT_EQ(ours[1].event.kind, SocketEventKind::kData);
  EXPECT_EQ(ours[1].data, message);
}

TEST_F(SocketProbeTest, UntracedProcessStopsProducingEvents) {
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

TEST_F(SocketProbeTest, WriteLargerThanTheCaptureIsTruncatedAndCounted) {
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

TEST_F(SocketProbeTest, CaptureSizeIsConfigurable) {
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

}  // namespace
}  // namespace hodos::agent
