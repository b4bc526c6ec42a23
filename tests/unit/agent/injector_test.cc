// Loads bpf/inject.bpf.c into the running kernel and sends real HTTP/1.x requests over loopback
// TCP from this process (put in the test's own pid filter) to a server thread that records the
// bytes it receives. Needs root: skipped with the reason otherwise.
#include "agent/injector.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "agent/features.h"
#include "agent/unique_fd.h"
#include "bpf/sockets.h"
#include "discovery_test_support.h"
#include "protocols/http2/hpack.h"
#include "../protocols/http2/wire.h"

namespace hodos::agent {
namespace {

using namespace std::chrono_literals;

bool wait_for(const std::function<bool()>& condition, std::chrono::milliseconds timeout = 5s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

UniqueFd traced_processes_map() {
  return UniqueFd(bpf_map_create(BPF_MAP_TYPE_HASH, "test_traced", sizeof(uint32_t),
                                 sizeof(uint8_t), HODOS_MAX_TRACED_PROCESSES, nullptr));
}

// Traced in thread-context mode (the only processes whose connections are enrolled), or not.
void trace(int map, uint32_t pid, uint8_t mode = HODOS_TRACED | HODOS_TRACED_THREAD_CONTEXT) {
  ASSERT_EQ(bpf_map_update_elem(map, &pid, &mode, BPF_ANY), 0);
}

class Listener {
 public:
  Listener() : fd_(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in addr = {};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(addr);
    if (bind(fd_.get(), reinterpret_cast<sockaddr*>(&addr), length) != 0 ||
        listen(fd_.get(), 16) != 0 ||
        getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&addr), &length) != 0) {
      ADD_FAILURE() << "listener: " << std::strerror(errno);
    }
    port_ = ntohs(addr.sin_port);
  }
  uint16_t port() const { return port_; }
  UniqueFd accept_one() const {
    return UniqueFd(accept4(fd_.get(), nullptr, nullptr, SOCK_CLOEXEC));
  }

 private:
  UniqueFd fd_;
  uint16_t port_ = 0;
};

UniqueFd connect_loopback(uint16_t port) {
  UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ADD_FAILURE() << "connect: " << std::strerror(errno);
  }
  return fd;
}

// Java-style: an AF_INET6 socket reaching an IPv4 peer through ::ffff:127.0.0.1.
UniqueFd connect_v4_mapped(uint16_t port) {
  UniqueFd fd(socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in6 addr = {};
  addr.sin6_family = AF_INET6;
  inet_pton(AF_INET6, "::ffff:127.0.0.1", &addr.sin6_addr);
  addr.sin6_port = htons(port);
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ADD_FAILURE() << "connect: " << std::strerror(errno);
  }
  return fd;
}

void write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = write(fd, data.data(), data.size());
    ASSERT_GT(n, 0) << std::strerror(errno);
    data.remove_prefix(static_cast<size_t>(n));
  }
}

// Reads exactly `size` bytes, waiting at most `timeout` for each chunk; fewer when it times out
// or the peer closes.
std::string read_exactly(int fd, size_t size, std::chrono::milliseconds timeout = 5s) {
  std::string out;
  char buffer[65536];
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (out.size() < size) {
    pollfd readable = {fd, POLLIN, 0};
    if (poll(&readable, 1, static_cast<int>(timeout.count())) <= 0) break;
    // Never block in read(): a socket whose data went missing can poll readable and then hang.
    ssize_t n = recv(fd, buffer, std::min(sizeof(buffer), size - out.size()), MSG_DONTWAIT);
    if (n < 0 && errno == EAGAIN) {
      if (std::chrono::steady_clock::now() > deadline) break;
      std::this_thread::sleep_for(1ms);
      continue;
    }
    if (n <= 0) break;
    out.append(buffer, static_cast<size_t>(n));
  }
  return out;
}

// One HTTP/1.x request: its head, then Content-Length bytes of body.
std::string read_request(int fd) {
  std::string out;
  char buffer[65536];
  size_t head_end = std::string::npos;
  size_t total = std::string::npos;
  while (total == std::string::npos || out.size() < total) {
    pollfd readable = {fd, POLLIN, 0};
    if (poll(&readable, 1, 5000) <= 0) break;
    ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n <= 0) break;
    out.append(buffer, static_cast<size_t>(n));
    if (head_end == std::string::npos && (head_end = out.find("\r\n\r\n")) != std::string::npos) {
      size_t length = 0;
      if (size_t at = out.find("Content-Length: "); at != std::string::npos && at < head_end)
        length = std::stoul(out.substr(at + 16));
      total = head_end + 4 + length;
    }
  }
  return out;
}

std::string hex(const uint8_t* bytes, size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < size; ++i) {
    out += kDigits[bytes[i] >> 4];
    out += kDigits[bytes[i] & 15];
  }
  return out;
}

InjectionContext test_context() {
  InjectionContext context;
  for (size_t i = 0; i < 16; ++i) context.trace_id[i] = static_cast<uint8_t>(0xa0 + i);
  for (size_t i = 0; i < 8; ++i) context.parent_span_id[i] = static_cast<uint8_t>(0x10 + i);
  context.flags = 1;
  return context;
}

uint64_t cookie_of(int fd) {
  uint64_t cookie = 0;
  socklen_t length = sizeof(cookie);
  getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &length);
  return cookie;
}

uint32_t this_thread_id() { return static_cast<uint32_t>(gettid()); }

// A CPython http.server on `port` (0: any) that answers each GET with the traceparent it received
// ("-" if none), "|", the received header names, and `padding` bytes of 'x'.
std::string python_echo_server(uint16_t port, size_t padding = 0) {
  return "import http.server\n"
         "class Handler(http.server.BaseHTTPRequestHandler):\n"
         "    def log_message(self, *args): pass\n"
         "    def do_GET(self):\n"
         "        body = (self.headers.get('traceparent', '-') + '|' +\n"
         "                ','.join(self.headers.keys()) + '|' + 'x' * " +
         std::to_string(padding) +
         ").encode()\n"
         "        self.send_response(200)\n"
         "        self.send_header('Content-Length', str(len(body)))\n"
         "        self.end_headers()\n"
         "        self.wfile.write(body)\n"
         "http.server.ThreadingHTTPServer(('127.0.0.1', " +
         std::to_string(port) + "), Handler).serve_forever()\n";
}

uint16_t free_port() {
  Listener probe;
  return probe.port();
}

constexpr std::string_view kResponse = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

// A BPF filesystem of the test's own for the pinned sockhash (where the kernel needs the verdict).
std::string& pin_dir() {
  static std::string dir;
  return dir;
}

class InjectorTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::string dir = "/tmp/hodos-injector-test-" + std::to_string(getpid());
    if (mkdir(dir.c_str(), 0700) == 0 && mount("bpf", dir.c_str(), "bpf", 0, "mode=0700") == 0) {
      pin_dir() = dir;
    }
  }
  static void TearDownTestSuite() {
    if (pin_dir().empty()) return;
    umount2(pin_dir().c_str(), MNT_DETACH);
    rmdir(pin_dir().c_str());
    pin_dir().clear();
  }

  void SetUp() override {
    FeatureProbe privileges = probe_privileges();
    if (!privileges.available) GTEST_SKIP() << "BPF unavailable: " << privileges.detail;
    // The injector is host-wide (it stands down when another one runs): CTest runs tests in
    // parallel processes, so injector tests take turns through a lock file.
    host_lock_ =
        UniqueFd(::open("/tmp/hodos-injector-test.lock", O_CREAT | O_RDWR | O_CLOEXEC, 0600));
    ASSERT_TRUE(host_lock_.valid()) << std::strerror(errno);
    ASSERT_EQ(::flock(host_lock_.get(), LOCK_EX), 0) << std::strerror(errno);
    if (pin_dir().empty()) GTEST_SKIP() << "cannot mount a BPF filesystem for the test";
    traced_ = traced_processes_map();
    ASSERT_TRUE(traced_.valid()) << std::strerror(errno);
    trace(traced_.get(), static_cast<uint32_t>(getpid()));
  }

  void start(InjectorOptions options = {}) {
    options.traced_processes_fd = traced_.get();
    options.pin_dir = pin_dir();
    // Other tests on the host may load sockops programs; the stand-down has its own test.
    options.ignore_other_sockmap_users = true;
    try {
      InjectorStart started =
          Injector::start(options, [this](const InjectionRecord& r) { records_.push_back(r); });
      ASSERT_TRUE(started.injector) << started.reason;
      injector_ = std::move(started.injector);
      started_ = std::move(started);
    } catch (const BpfError& e) {
      FAIL() << e.what();
    }
  }

  // Sends `request` from this thread (with `context` staged when given) to a server thread, and
  // returns the bytes the server received.
  std::string exchange(std::string_view request, const InjectionContext* context,
                       bool expect_enrolled = true) {
    Listener listener;
    std::string received;
    std::thread server([&] {
      UniqueFd peer = listener.accept_one();
      received = read_request(peer.get());
      write_all(peer.get(), kResponse);
    });
    UniqueFd client = connect_loopback(listener.port());
    EXPECT_EQ(injector_->is_enrolled(client.get()), expect_enrolled);
    client_cookie_ = cookie_of(client.get());
    if (context) injector_->stage_context(this_thread_id(), *context);
    write_all(client.get(), request);
    EXPECT_EQ(read_exactly(client.get(), kResponse.size()), kResponse);
    server.join();
    injector_->consume();
    return received;
  }

  std::string send_writes(const std::vector<std::pair<std::string, bool>>& writes,
                          size_t expected_size);
  // Writes each of `writes` with its own write() on one enrolled connection, calling `before`
  // with the connection's cookie and the write's index first; returns what the server received,
  // read until `expected_size` bytes (or for 5 s).
  std::string send_each(const std::vector<std::string>& writes, size_t expected_size,
                        const std::function<void(uint64_t cookie, size_t i)>& before);
  // Opens a connection while this process is traced without a context (sockops leaves it alone),
  // writes `before` on it, then gives the process its context and enrols the connection as the
  // agent does (checking it is enrolled once, and the accepted end never); then calls
  // `before_write` with the connection's cookie and each write's index before each of `writes`.
  // Returns what the server received, read until `expected_size` bytes.
  std::string send_enrolled_late(
      const std::string& before, const std::vector<std::string>& writes, size_t expected_size,
      const std::function<void(uint64_t cookie, size_t i)>& before_write);
  // `request` as the server receives it with record `record`'s traceparent after its first line.
  std::string with_traceparent(std::string_view request, size_t record) const;

  // First, so it is released last: after the injector below is unloaded.
  UniqueFd host_lock_;
  UniqueFd traced_;
  std::unique_ptr<Injector> injector_;
  InjectorStart started_;
  std::vector<InjectionRecord> records_;
  uint64_t client_cookie_ = 0;
};

constexpr std::string_view kGet =
    "GET /orders/42?x=1 HTTP/1.1\r\nHost: localhost\r\nUser-Agent: injector-test\r\n"
    "Accept: */*\r\n\r\n";

TEST_F(InjectorTest, InsertsTraceparentAfterTheRequestLine) {
  start();
  InjectionContext context = test_context();
  std::string received = exchange(kGet, &context);

  ASSERT_EQ(records_.size(), 1u);
  const InjectionRecord& record = records_[0];
  std::string span = hex(record.span_id.data(), 8);
  std::string expected =
      "GET /orders/42?x=1 HTTP/1.1\r\ntraceparent: 00-" + hex(context.trace_id.data(), 16) + "-" +
      span + "-01\r\nHost: localhost\r\nUser-Agent: injector-test\r\nAccept: */*\r\n\r\n";
  EXPECT_EQ(received, expected);
  EXPECT_EQ(record.trace_id, context.trace_id);
  EXPECT_EQ(record.parent_span_id, context.parent_span_id);
  EXPECT_NE(span, "0000000000000000");
  EXPECT_NE(record.span_id, context.parent_span_id);
  EXPECT_EQ(record.flags, 1);
  EXPECT_EQ(record.pid, static_cast<uint32_t>(getpid()));
  EXPECT_EQ(record.tid, this_thread_id());
  EXPECT_EQ(record.socket_cookie, client_cookie_);
  InjectorCounters counters = injector_->counters();
  EXPECT_EQ(counters[HODOS_INJECT_INJECTED], 1u);
  EXPECT_EQ(counters[HODOS_INJECT_ENROLLED], 1u);
  // One write only: the context was consumed.
  EXPECT_FALSE(injector_->has_staged_context(this_thread_id()));
}

TEST_F(InjectorTest, EachRequestGetsANewSpanIdAndOnlyWhenStaged) {
  start();
  InjectionContext context = test_context();
  Listener listener;
  std::vector<std::string> received;
  std::thread server([&] {
    UniqueFd peer = listener.accept_one();
    for (int i = 0; i < 3; ++i) {
      received.push_back(read_request(peer.get()));
      write_all(peer.get(), kResponse);
    }
  });
  UniqueFd client = connect_loopback(listener.port());
  for (int i = 0; i < 3; ++i) {
    if (i != 1) injector_->stage_context(this_thread_id(), context);  // the 2nd: no context
    write_all(client.get(), kGet);
    EXPECT_EQ(read_exactly(client.get(), kResponse.size()), kResponse);
  }
  server.join();
  injector_->consume();
  ASSERT_EQ(records_.size(), 2u);
  ASSERT_EQ(received.size(), 3u);
  EXPECT_NE(received[0].find(hex(records_[0].span_id.data(), 8)), std::string::npos);
  EXPECT_EQ(received[1], kGet);
  EXPECT_NE(received[2].find(hex(records_[1].span_id.data(), 8)), std::string::npos);
  EXPECT_NE(records_[0].span_id, records_[1].span_id);
  EXPECT_EQ(injector_->counters()[HODOS_INJECT_NO_CONTEXT], 1u);
}

TEST_F(InjectorTest, WithoutAContextNothingChanges) {
  start();
  EXPECT_EQ(exchange(kGet, nullptr), kGet);
  EXPECT_TRUE(records_.empty());
  EXPECT_EQ(injector_->counters()[HODOS_INJECT_NO_CONTEXT], 1u);
}

// The tracestate a request came with goes on, right after the traceparent, in the same room
// (one push: the head stays in one segment).
TEST_F(InjectorTest, TheIncomingTracestateGoesOnAfterTheTraceparent) {
  start();
  InjectionContext context = test_context();
  context.tracestate = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7";
  std::string received = exchange(kGet, &context);
  ASSERT_EQ(records_.size(), 1u);
  EXPECT_EQ(received, with_traceparent(kGet, 0).insert(
                          std::string(kGet).find("\r\n") + 2 + HODOS_TRACEPARENT_LINE_LEN,
                          "tracestate: congo=t61rcWkgMzE,rojo=00f067aa0ba902b7\r\n"));
  EXPECT_EQ(injector_->counters()[HODOS_INJECT_MERGE_FAILED], 0u);

  // The longest carried (256 bytes), and a head with a tracestate of its own keeps only its own.
  context.tracestate = std::string(256, 'v');
  received = exchange(kGet, &context);
  ASSERT_EQ(records_.size(), 2u);
  EXPECT_NE(received.find("\r\ntracestate: " + std::string(256, 'v') + "\r\nHost:"),
            std::string::npos)
      << received;
  const std::string own = "GET /own HTTP/1.1\r\ntracestate: mine=1\r\nHost: a\r\n\r\n";
  context.tracestate = "theirs=2";
  received = exchange(own, &context);
  ASSERT_EQ(records_.size(), 3u);
  EXPECT_EQ(received, with_traceparent(own, 2));
}

TEST_F(InjectorTest, ARequestWithTraceparentIsLeftAlone) {
  start();
  InjectionContext context = test_context();
  std::string request =
      "POST /x HTTP/1.1\r\nHost: a\r\nTraceParent: 00-0af7651916cd43dd8448eb211c80319c-"
      "b7ad6b7169203331-01\r\nContent-Length: 5\r\n\r\nhello";
  EXPECT_EQ(exchange(request, &context), request);
  EXPECT_TRUE(records_.empty());
  EXPECT_EQ(injector_->counters()[HODOS_INJECT_HAS_TRACEPARENT], 1u);
}

// A proxy passes its client's headers on: the very traceparent the request being served came with
// gets its parent-id set to the call's span id, in place (same length); any other is left alone.
TEST_F(InjectorTest, AForwardedTraceparentGetsTheCallAsItsParent) {
  start();
  InjectionContext context = test_context();
  for (size_t i = 0; i < 8; ++i) context.incoming_span_id[i] = static_cast<uint8_t>(0xc0 + i);
  const std::string trace = hex(context.trace_id.data(), 16);
  const std::string incoming = "00-" + trace + "-" + hex(context.incoming_span_id.data(), 8) + "-01";
  const std::string forwarded = "POST /x HTTP/1.1\r\nHost: a\r\ntraceparent:  " + incoming +
                                "\r\nContent-Length: 5\r\n\r\nhello";
  const std::string received = exchange(forwarded, &context);
  ASSERT_EQ(records_.size(), 1u);
  const std::string updated = "00-" + trace + "-" + hex(records_[0].span_id.data(), 8) + "-01";
  std::string expected = forwarded;
  expected.replace(expected.find(incoming), incoming.size(), updated);
  EXPECT_EQ(received, expected);
  EXPECT_EQ(records_[0].parent_span_id, context.parent_span_id) << "the span being served";
  EXPECT_EQ(injector_->counters()[HODOS_INJECT_FORWARDED_UPDATED], 1u);

  // A chunked upload whose first chunk shares the head's write: updated too.
  const std::string chunked = "POST /c HTTP/1.1\r\ntraceparent: " + incoming +
                              "\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n";
  const std::string received_chunked = exchange(chunked, &context);
  ASSERT_EQ(records_.size(), 2u);
  EXPECT_NE(received_chunked.find("traceparent: 00-" + trace + "-" + hex(records_[1].span_id.data(), 8) +
                                  "-01\r\nTransfer-Encoding"),
            std::string::npos)
      << received_chunked;
  records_.erase(records_.begin() + 1);

  // Another trace, another parent, other flags, or two headers: the request's own, left alone.
  const std::string others[] = {
      "00-" + std::string(32, 'b') + "-" + hex(context.incoming_span_id.data(), 8) + "-01",
      "00-" + trace + "-" + std::string(16, 'c') + "-01",
      "00-" + trace + "-" + hex(context.incoming_span_id.data(), 8) + "-00",
  };
  for (const std::string& value : others) {
    const std::string own = "GET /own HTTP/1.1\r\ntraceparent: " + value + "\r\nHost: a\r\n\r\n";
    EXPECT_EQ(exchange(own, &context), own);
  }
  const std::string twice = "GET /2 HTTP/1.1\r\ntraceparent: " + incoming + "\r\ntraceparent: " +
                            incoming + "\r\n\r\n";
  EXPECT_EQ(exchange(twice, &context), twice);
  EXPECT_EQ(records_.size(), 1u);
  EXPECT_EQ(injector_->counters()[HODOS_INJECT_FORWARDED_UPDATED], 2u);
  EXPECT_EQ(injector_->counters()[HODOS_INJECT_HAS_TRACEPARENT], 4u);
}

TEST_F(InjectorTest, NonHttpPayloadIsUntouched) {
  start();
  InjectionContext context = test_context();
  // Looks close to a request line, but is not one (lower-case token, no HTTP version).
  std::string payload = "get /x ftp/1.1\r\nContent-Length: 0\r\n\r\n";
  EXPECT_EQ(exchange(payload, &context), payload);
  static constexpr char kTlsIsh[] =
      "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 random tls-ish\r\n\r\n";
  std::string binary(kTlsIsh, sizeof kTlsIsh - 1);  // with its NUL bytes
  EXPECT_EQ(exchange(binary, &context), binary);
  EXPECT_TRUE(records_.empty());
  EXPECT_EQ(injector_->counters()[HODOS_INJECT_NOT_HTTP], 2u);
}

TEST_F(InjectorTest, AHeadSplitOverTwoWritesIsUntouched) {
  start();
  InjectionContext context = test_context();
  Listener listener;
  std::string received;
  std::thread server([&] {
    UniqueFd peer = listener.accept_one();
    received = read_request(peer.get());
    write_all(peer.get(), kResponse);
  });
  UniqueFd client = connect_loopback(listener.port());
  injector_->stage_context(this_thread_id(), context);
  write_all(client.get(), "GET /split HTTP/1.1\r\nHost: a\r\n");
  injector_->stage_context(this_thread_id(), context);  // as if staged again for the 2nd write
  write_all(client.get(), "Accept: */*\r\n\r\n");
  EXPECT_EQ(read_exactly(client.get(), kResponse.size()), kResponse);
  server.join();
  EXPECT_EQ(received, "GET /split HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\n");
  EXPECT_EQ(injector_->counters()[HODOS_INJECT_HEAD_NOT_IN_MESSAGE], 1u);
  // Where the head ends, and so where its body does, is not known: the connection is given up.
  EXPECT_EQ(injector_->counters()[HODOS_INJECT_GAVE_UP], 1u);
  EXPECT_EQ(injector_->counters()[HODOS_INJECT_STREAM_UNKNOWN], 1u);
}

// Writes each of `writes` with its own send() (staging a context first where asked) on one
// enrolled connection; returns what the server received, read until `expected_size` bytes.
std::string InjectorTest::send_writes(const std::vector<std::pair<std::string, bool>>& writes,
                                      size_t expected_size) {
  std::vector<std::string> bytes;
  for (const auto& write : writes) bytes.push_back(write.first);
  return send_each(bytes, expected_size, [&](uint64_t, size_t i) {
    if (writes[i].second) injector_->stage_context(this_thread_id(), test_context());
  });
}

std::string InjectorTest::send_each(const std::vector<std::string>& writes, size_t expected_size,
                                    const std::function<void(uint64_t cookie, size_t i)>& before) {
  Listener listener;
  std::string received;
  std::thread server([&] {
    UniqueFd peer = listener.accept_one();
    received = read_exactly(peer.get(), expected_size);
  });
  UniqueFd client = connect_loopback(listener.port());
  EXPECT_TRUE(injector_->is_enrolled(client.get()));
  client_cookie_ = cookie_of(client.get());
  for (size_t i = 0; i < writes.size(); ++i) {
    before(client_cookie_, i);
    write_all(client.get(), writes[i]);
  }
  server.join();
  injector_->consume();
  return received;
}

std::string InjectorTest::send_enrolled_late(
    const std::string& before, const std::vector<std::string>& writes, size_t expected_size,
    const std::function<void(uint64_t cookie, size_t i)>& before_write) {
  Listener listener;
  std::string received;
  UniqueFd peer;
  std::thread server([&] {
    peer = listener.accept_one();
    received = read_exactly(peer.get(), expected_size);
  });
  UniqueFd client = connect_loopback(listener.port());
  EXPECT_FALSE(injector_->is_enrolled(client.get()));
  write_all(client.get(), before);
  trace(traced_.get(), static_cast<uint32_t>(getpid()));  // now with a context, as the agent does
  EXPECT_EQ(injector_->enrol_existing_connections(static_cast<uint32_t>(getpid())), 1);
  EXPECT_TRUE(injector_->is_enrolled(client.get()));
  EXPECT_EQ(injector_->enrol_existing_connections(static_cast<uint32_t>(getpid())), 0)
      << "a connection is enrolled once";
  client_cookie_ = cookie_of(client.get());
  for (size_t i = 0; i < writes.size(); ++i) {
    before_write(client_cookie_, i);
    write_all(client.get(), writes[i]);
  }
  server.join();
  EXPECT_FALSE(injector_->is_enrolled(peer.get())) << "the accepted end is a server's";
  injector_->consume();
  return received;
}

std::string InjectorTest::with_traceparent(std::string_view request, size_t record) const {
  const size_t line_end = request.find("\r\n") + 2;
  if (record >= records_.size()) return "(no injection record " + std::to_string(record) + ")";
  const InjectionRecord& r = records_[record];
  return std::string(request.substr(0, line_end)) + "traceparent: 00-" +
         hex(r.trace_id.data(), 16) + "-" + hex(r.span_id.data(), 8) + "-01\r\n" +
         std::string(request.substr(line_end));
}

// An HTTP message sent as a request body (a proxy, a test tool, an archive of requests) looks
// like a request when it is written on its own: it must pass untouched, and the request after
// the body must get its header again.
TEST_F(InjectorTest, ABodyThatLooksLikeARequestIsUntouched) {
  start();
  const std::string inner = "GET /inner HTTP/1.1\r\nHost: b\r\n\r\n";
  const std::string outer = "POST /outer HTTP/1.1\r\nHost: a\r\nContent-Length: " +
                            std::to_string(inner.size()) + "\r\n\r\n";
  const std::string next(kGet);
  // A context is staged before the body too: the body must not use it up.
  std::string received =
      send_writes({{outer, true}, {inner, true}, {next, false}},
                  outer.size() + inner.size() + next.size() + 2 * HODOS_TRACEPARENT_LINE_LEN);
  ASSERT_EQ(records_.size(), 2u);
  EXPECT_EQ(received, with_traceparent(outer, 0) + inner + with_traceparent(next, 1));
  EXPECT_EQ(injector_->counters()[HODOS_INJECT_BODY], 1u);
  EXPECT_EQ(injector_->counters()[HODOS_INJECT_INJECTED], 2u);
}

// A keep-alive connection opened before the process was traced with a context (a pool from before
// the agent started): sockops left it alone. The loader enrols it later; where its requests start
// is found at the first write that starts a request head, nothing is touched before (the rest of
// a body begun earlier), and from there its requests and bodies are followed as on any other.
TEST_F(InjectorTest, AConnectionOpenedBeforeTracingIsEnrolledLater) {
  trace(traced_.get(), static_cast<uint32_t>(getpid()), HODOS_TRACED);  // no context yet
  start();
  const std::string body(300, 'b');
  const std::string early = "POST /early HTTP/1.1\r\nHost: a\r\nContent-Length: " +
                            std::to_string(body.size()) + "\r\n\r\n";
  const std::string inner = "GET /inner HTTP/1.1\r\nHost: b\r\n\r\n";
  const std::string post = "POST /later HTTP/1.1\r\nHost: a\r\nContent-Length: " +
                           std::to_string(inner.size()) + "\r\n\r\n";
  const std::string get(kGet);
  const std::string before = early + body.substr(0, 100);  // written before the enrolment
  const std::vector<std::string> writes = {
      body.substr(100),  // the rest of a body: not where a request starts, waited past
      get,               // a head: found, injected
      post,              // injected; its body is followed
      inner,             // a body that looks like a request: untouched
      get,               // injected
  };
  const size_t expected_size =
      before.size() + body.size() - 100 + 2 * get.size() + post.size() + inner.size() +
      3 * HODOS_TRACEPARENT_LINE_LEN;
  // Every write could use a context.
  const std::string received =
      send_enrolled_late(before, writes, expected_size, [&](uint64_t, size_t) {
        injector_->stage_context(this_thread_id(), test_context());
      });

  ASSERT_EQ(records_.size(), 3u);
  EXPECT_EQ(received, before + writes[0] + with_traceparent(get, 0) + with_traceparent(post, 1) +
                          inner + with_traceparent(get, 2));
  InjectorCounters counters = injector_->counters();
  EXPECT_EQ(counters[HODOS_INJECT_RESYNC_WAIT], 1u);
  EXPECT_EQ(counters[HODOS_INJECT_H1_RESYNCED], 1u);
  EXPECT_EQ(counters[HODOS_INJECT_H2_RESYNCED], 0u);
  EXPECT_EQ(counters[HODOS_INJECT_BODY], 1u);
  EXPECT_EQ(counters[HODOS_INJECT_INJECTED], 3u);
}

TEST_F(InjectorTest, AChunkedBodyIsFollowedToItsLastChunk) {
  start();
  const std::string head = "POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
  const std::string data = "GET /inner HTTP/1.1\r\nHost: b\r\n\r\n";
  char size_line[16];
  std::snprintf(size_line, sizeof size_line, "%zx\r\n", data.size());
  const std::string next(kGet);
  const std::vector<std::pair<std::string, bool>> writes = {
      {head, true}, {size_line, false}, {data, true}, {"\r\n0\r\n\r\n", false}, {next, false}};
  size_t total = 2 * HODOS_TRACEPARENT_LINE_LEN;
  for (const auto& w : writes) total += w.first.size();
  std::string received = send_writes(writes, total);
  ASSERT_EQ(records_.size(), 2u);
  EXPECT_EQ(received, with_traceparent(head, 0) + size_line + data + "\r\n0\r\n\r\n" +
                          with_traceparent(next, 1));
  EXPECT_EQ(injector_->counters()[HODOS_INJECT_BODY], 3u);
}

TEST_F(InjectorTest, AfterAPipelinedWriteTheConnectionIsGivenUp) {
  start();
  const std::string two = std::string(kGet) + std::string(kGet);
  const std::string next(kGet);
  std::string received =
      send_writes({{two, true}, {next, true}},
                  two.size() + next.size() + HODOS_TRACEPARENT_LINE_LEN);
  ASSERT_EQ(records_.size(), 1u);
  EXPECT_EQ(received, with_traceparent(two, 0) + next);
  EXPECT_EQ(injector_->counters()[HODOS_INJECT_GAVE_UP], 1u);
  EXPECT_EQ(injector_->counters()[HODOS_INJECT_STREAM_UNKNOWN], 1u);
}

TEST_F(InjectorTest, AStaleContextIsNotUsed) {
  start();
  InjectionContext context = test_context();
  Listener listener;
  std::string received;
  std::thread server([&] {
    UniqueFd peer = listener.accept_one();
    received = read_request(peer.get());
    write_all(peer.get(), kResponse);
  });
  UniqueFd client = connect_loopback(listener.port());
  injector_->stage_context(this_thread_id(), context, std::chrono::nanoseconds(1));
  write_all(client.get(), kGet);
  EXPECT_EQ(read_exactly(client.get(), kResponse.size()), kResponse);
  server.join();
  EXPECT_EQ(received, kGet);
  EXPECT_EQ(injector_->counters()[HODOS_INJECT_STALE_CONTEXT], 1u);
}

TEST_F(InjectorTest, JavaStyleV4MappedSocketsAreEnrolled) {
  start();
  Listener listener;
  std::thread server([&] { UniqueFd peer = listener.accept_one(); });
  UniqueFd client = connect_v4_mapped(listener.port());
  EXPECT_TRUE(injector_->is_enrolled(client.get()));
  server.join();
}

// TCP_CONNECT runs in the task that calls connect(): a traced process's threads enrol their
// connections, an untraced child's connection to the same server is not enrolled.
TEST_F(InjectorTest, TheConnectingTaskDecides) {
  start();
  Listener listener;
  uint64_t thread_cookie = 0;
  std::thread other_thread([&] {
    UniqueFd client = connect_loopback(listener.port());
    thread_cookie = cookie_of(client.get());
    EXPECT_TRUE(injector_->is_enrolled(client.get())) << "a thread of the traced process";
  });
  UniqueFd from_thread = listener.accept_one();
  other_thread.join();
  EXPECT_NE(thread_cookie, 0u);

  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  UniqueFd read_end(pipe_fds[0]), write_end(pipe_fds[1]);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {  // untraced: its tgid is not in the filter
    UniqueFd client = connect_loopback(listener.port());
    uint64_t cookie = cookie_of(client.get());
    if (write(write_end.get(), &cookie, sizeof(cookie)) != sizeof(cookie)) _exit(1);
    pause();  // keeps the socket until the parent has looked and kills it
    _exit(0);
  }
  write_end.reset();
  uint64_t child_cookie = 0;
  ASSERT_EQ(read(read_end.get(), &child_cookie, sizeof(child_cookie)),
            static_cast<ssize_t>(sizeof(child_cookie)));
  UniqueFd from_child = listener.accept_one();
  EXPECT_FALSE(injector_->is_enrolled_cookie(child_cookie)) << "an untraced child";
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
}

TEST_F(InjectorTest, DestinationOutsideThePolicyIsNotEnrolled) {
  InjectorOptions options;
  options.loopback = false;  // 127.0.0.1 now stands for a destination on the internet
  options.allow = {"192.0.2.0/24", "2001:db8::/32"};
  start(options);
  InjectionContext context = test_context();
  EXPECT_EQ(exchange(kGet, &context, /*expect_enrolled=*/false), kGet);
  EXPECT_TRUE(records_.empty());
  InjectorCounters counters = injector_->counters();
  EXPECT_EQ(counters[HODOS_INJECT_NOT_ALLOWED], 1u);
  EXPECT_EQ(counters[HODOS_INJECT_ENROLLED], 0u);
  // The sk_msg program never ran: the context is still there.
  EXPECT_TRUE(injector_->has_staged_context(this_thread_id()));
}

TEST_F(InjectorTest, AllowlistedDestinationIsEnrolled) {
  InjectorOptions options;
  options.loopback = false;
  options.allow = {"127.0.0.1/32"};
  start(options);
  Listener listener;
  std::thread server([&] { UniqueFd peer = listener.accept_one(); });
  UniqueFd client = connect_loopback(listener.port());
  EXPECT_TRUE(injector_->is_enrolled(client.get()));
  server.join();
}

TEST_F(InjectorTest, UntracedProcessIsNotEnrolled) {
  start();
  uint32_t pid = static_cast<uint32_t>(getpid());
  ASSERT_EQ(bpf_map_delete_elem(traced_.get(), &pid), 0);
  InjectionContext context = test_context();
  EXPECT_EQ(exchange(kGet, &context, /*expect_enrolled=*/false), kGet);
  EXPECT_EQ(injector_->counters()[HODOS_INJECT_MARKED], 0u);
}

// A traced process outside thread-context mode (an event loop, Go, an unknown program) never has
// a context to inject, so its connections are left out of the sockhash entirely: the verdict's
// receive path would hide received bytes from splice() on them (KERNEL-NOTES.md), which proxies
// and Go's io.Copy between sockets use.
TEST_F(InjectorTest, ProcessOutsideThreadContextModeIsNotEnrolledAndSpliceReadsWork) {
  start();
  trace(traced_.get(), static_cast<uint32_t>(getpid()), HODOS_TRACED);
  Listener listener;
  UniqueFd client = connect_loopback(listener.port());
  UniqueFd server = listener.accept_one();
  EXPECT_FALSE(injector_->is_enrolled(client.get()));
  EXPECT_EQ(injector_->counters()[HODOS_INJECT_MARKED], 0u);
  const std::string data(3000, 's');
  write_all(server.get(), data);
  ASSERT_EQ(fcntl(client.get(), F_SETFL, fcntl(client.get(), F_GETFL) | O_NONBLOCK), 0);
  int pipe_fds[2];
  ASSERT_EQ(pipe2(pipe_fds, O_CLOEXEC | O_NONBLOCK), 0);
  UniqueFd pipe_read(pipe_fds[0]), pipe_write(pipe_fds[1]);
  ssize_t moved = 0;
  // Non-blocking (the socket, and the pipe): a socket whose bytes went where splice() does not
  // look fails the wait, not the whole test run.
  EXPECT_TRUE(wait_for([&] {
    ssize_t n = splice(client.get(), nullptr, pipe_write.get(), nullptr, data.size() - moved,
                       SPLICE_F_NONBLOCK);
    if (n > 0) moved += n;
    return moved == static_cast<ssize_t>(data.size());
  })) << "spliced " << moved << " of " << data.size();
}

TEST_F(InjectorTest, FionreadIsRightOnEnrolledSockets) {
  start();
  Listener listener;
  UniqueFd client = connect_loopback(listener.port());
  UniqueFd server = listener.accept_one();
  ASSERT_TRUE(injector_->is_enrolled(client.get()));
  std::string data(1000, 'x');
  write_all(server.get(), data);
  int available = 0;
  EXPECT_TRUE(wait_for([&] {
    ioctl(client.get(), FIONREAD, &available);
    return available == 1000;
  })) << "FIONREAD = "
      << available;
  EXPECT_EQ(read_exactly(client.get(), data.size()), data);
  ioctl(client.get(), FIONREAD, &available);
  EXPECT_EQ(available, 0);
}

TEST_F(InjectorTest, LargeBodiesPassByteForByte) {
  start();
  std::mt19937 random(42);
  std::string body(1 << 20, '\0');
  for (char& c : body) c = static_cast<char>(random());
  std::string head =
      "POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: " + std::to_string(body.size()) +
      "\r\n\r\n";
  InjectionContext context = test_context();

  Listener listener;
  std::string received;
  std::string echoed;
  std::thread server([&] {
    UniqueFd peer = listener.accept_one();
    received = read_request(peer.get());
    // 1 MiB back through the enrolled client's sk_skb verdict.
    write_all(peer.get(), body);
  });
  UniqueFd client = connect_loopback(listener.port());
  ASSERT_TRUE(injector_->is_enrolled(client.get()));
  injector_->stage_context(this_thread_id(), context);
  std::thread writer([&] { write_all(client.get(), head + body); });
  echoed = read_exactly(client.get(), body.size());
  writer.join();
  server.join();
  injector_->consume();

  ASSERT_EQ(records_.size(), 0u) << "the context was staged for the main thread, not the writer";
  EXPECT_EQ(received, head + body);
  EXPECT_TRUE(echoed == body);

  // Again from this thread: the head is injected, the body is intact.
  records_.clear();
  std::string received2;
  std::thread server2([&] {
    UniqueFd peer = listener.accept_one();
    received2 = read_request(peer.get());
    write_all(peer.get(), kResponse);
  });
  UniqueFd client2 = connect_loopback(listener.port());
  injector_->stage_context(this_thread_id(), context);
  // A single 1 MiB write: the kernel runs sk_msg on several chunks; only the first has the head.
  write_all(client2.get(), head + body);
  EXPECT_EQ(read_exactly(client2.get(), kResponse.size()), kResponse);
  server2.join();
  injector_->consume();
  ASSERT_EQ(records_.size(), 1u);
  std::string line = "traceparent: 00-" + hex(context.trace_id.data(), 16) + "-" +
                     hex(records_[0].span_id.data(), 8) + "-01\r\n";
  std::string expected = "POST /upload HTTP/1.1\r\n" + line + head.substr(23) + body;
  EXPECT_EQ(received2.size(), expected.size());
  EXPECT_TRUE(received2 == expected);
}

TEST_F(InjectorTest, StandsDownWhileAnotherHodosInjects) {
  start();
  UniqueFd other_traced = traced_processes_map();
  InjectorOptions options;
  options.traced_processes_fd = other_traced.get();
  options.pin_dir = pin_dir();
  InjectorStart second = Injector::start(options, nullptr);
  EXPECT_FALSE(second.injector);
  EXPECT_NE(second.reason.find("another Hodos agent"), std::string::npos) << second.reason;
  // The first one is unaffected.
  InjectionContext context = test_context();
  EXPECT_NE(exchange(kGet, &context).find("traceparent: 00-"), std::string::npos);
}

TEST_F(InjectorTest, StandsDownWhenAnotherProgramUsesSkMsg) {
  // Stands for Cilium or another tracer: an sk_msg program returning SK_PASS.
  bpf_insn pass[2] = {};
  pass[0].code = BPF_ALU64 | BPF_MOV | BPF_K;
  pass[0].dst_reg = BPF_REG_0;
  pass[0].imm = 1;
  pass[1].code = BPF_JMP | BPF_EXIT;
  UniqueFd foreign(bpf_prog_load(BPF_PROG_TYPE_SK_MSG, "other_tracer", "GPL", pass, 2, nullptr));
  ASSERT_TRUE(foreign.valid()) << std::strerror(errno);
  InjectorOptions options;
  options.traced_processes_fd = traced_.get();
  options.pin_dir = pin_dir();
  InjectorStart started = Injector::start(options, nullptr);
  EXPECT_FALSE(started.injector);
  EXPECT_NE(started.reason.find("other_tracer"), std::string::npos) << started.reason;
  EXPECT_NE(started.reason.find("stands down"), std::string::npos) << started.reason;
}

// A real HTTP server (CPython's http.server) parses the injected header like any other.
TEST_F(InjectorTest, APythonServerReceivesTheTraceparent) {
  if (testing::find_program("python3").empty()) GTEST_SKIP() << "python3 is not installed";
  start();
  testing::TempDir dir;
  dir.write("server.py", python_echo_server(0));
  testing::ChildProcess server({"python3", "server.py"}, dir.path());
  std::optional<ProcessInfo> process = server.wait_until_listening();
  ASSERT_TRUE(process) << "the python server did not listen";
  uint16_t port = process->listening.front().port;

  InjectionContext context = test_context();
  UniqueFd client = connect_loopback(port);
  ASSERT_TRUE(injector_->is_enrolled(client.get()));
  injector_->stage_context(this_thread_id(), context);
  write_all(client.get(), "GET /hi HTTP/1.1\r\nHost: python\r\nConnection: close\r\n\r\n");
  std::string response = read_exactly(client.get(), 1 << 16);  // until the server closes
  injector_->consume();
  ASSERT_EQ(records_.size(), 1u);
  std::string traceparent =
      "00-" + hex(context.trace_id.data(), 16) + "-" + hex(records_[0].span_id.data(), 8) + "-01";
  EXPECT_NE(response.find("\r\n\r\n" + traceparent + "|traceparent,Host,Connection|"),
            std::string::npos)
      << response;
}

// nginx as a reverse proxy, traced: its upstream connection is enrolled. nginx asks FIONREAD on
// upstream sockets; with FIONREAD wrong, these requests stall (KERNEL-NOTES.md). With a context
// staged for nginx's thread, the upstream receives the traceparent.
TEST_F(InjectorTest, NginxProxyThroughEnrolledUpstreams) {
  std::string nginx = testing::find_program("nginx", {"/usr/sbin"});
  if (nginx.empty()) GTEST_SKIP() << "nginx is not installed";
  if (testing::find_program("python3").empty()) GTEST_SKIP() << "python3 is not installed";
  start();
  testing::TempDir dir;
  constexpr size_t kPadding = 20000;  // several segments through the sk_skb verdict
  dir.write("upstream.py", python_echo_server(0, kPadding));
  testing::ChildProcess upstream({"python3", "upstream.py"}, dir.path());
  std::optional<ProcessInfo> upstream_process = upstream.wait_until_listening();
  ASSERT_TRUE(upstream_process) << "the python upstream did not listen";
  std::string upstream_port = std::to_string(upstream_process->listening.front().port);
  std::string port = std::to_string(free_port());
  std::string d = dir.path();
  dir.write("nginx.conf",
            "master_process off;\nworker_processes 1;\npid " + d + "/nginx.pid;\nerror_log " + d +
                "/error.log;\nevents {}\nhttp {\n" + "  access_log off;\n  client_body_temp_path " +
                d + ";\n  proxy_temp_path " + d + ";\n  fastcgi_temp_path " + d +
                ";\n  uwsgi_temp_path " + d + ";\n  scgi_temp_path " + d +
                ";\n  server { listen 127.0.0.1:" + port +
                "; location / { proxy_pass http://127.0.0.1:" + upstream_port + "; } }\n}\n");
  testing::ChildProcess proxy({nginx, "-p", d, "-c", d + "/nginx.conf", "-g", "daemon off;"}, d, {},
                              d + "/stderr.log");
  // master_process off: one process, one thread, started traced from its first connect().
  trace(traced_.get(), static_cast<uint32_t>(proxy.pid()));
  std::optional<ProcessInfo> proxy_process = proxy.wait_until_listening();
  ASSERT_TRUE(proxy_process) << "nginx did not listen: "
                             << testing::read_whole_file(d + "/stderr.log")
                             << testing::read_whole_file(d + "/error.log");

  InjectionContext context = test_context();
  constexpr int kRequests = 20;
  for (int i = 0; i < kRequests; ++i) {
    bool staged = i % 2 == 0;
    if (staged) injector_->stage_context(static_cast<uint32_t>(proxy.pid()), context);
    UniqueFd client = connect_loopback(static_cast<uint16_t>(std::stoi(port)));
    write_all(client.get(), "GET /r" + std::to_string(i) +
                                " HTTP/1.1\r\nHost: nginx\r\nConnection: close\r\n\r\n");
    std::string response = read_exactly(client.get(), 1 << 20, 3s);  // until nginx closes
    size_t body = response.find("\r\n\r\n");
    ASSERT_NE(body, std::string::npos) << "request " << i << " stalled or failed: " << response;
    std::string text = response.substr(body + 4);
    EXPECT_TRUE(response.starts_with("HTTP/1.1 200")) << response.substr(0, body);
    ASSERT_GE(text.size(), kPadding);
    EXPECT_EQ(text.substr(text.size() - kPadding), std::string(kPadding, 'x'));
    injector_->consume();
    if (staged) {
      ASSERT_FALSE(records_.empty());
      const InjectionRecord& r = records_.back();
      EXPECT_EQ(r.pid, static_cast<uint32_t>(proxy.pid()));
      EXPECT_TRUE(text.starts_with("00-" + hex(context.trace_id.data(), 16) + "-" +
                                   hex(r.span_id.data(), 8) + "-01|"))
          << text.substr(0, 120);
    } else {
      EXPECT_TRUE(text.starts_with("-|")) << text.substr(0, 120);
    }
  }
  EXPECT_EQ(records_.size(), static_cast<size_t>(kRequests / 2));
  // nginx's upstream connections, and this test's own connections to nginx.
  EXPECT_EQ(injector_->counters()[HODOS_INJECT_ENROLLED], static_cast<uint64_t>(2 * kRequests));
}

// Records what each program costs, with BPF stats on; checks only that injected requests do not
// stall (not a benchmark: CI machines are shared).
TEST_F(InjectorTest, RunTimeWithBpfStats) {
  UniqueFd stats(bpf_enable_stats(BPF_STATS_RUN_TIME));
  if (!stats.valid()) GTEST_SKIP() << "BPF stats unavailable: " << std::strerror(errno);
  start();
  constexpr int kRequests = 1000;
  Listener listener;
  std::thread server([&] {
    UniqueFd peer = listener.accept_one();
    for (int i = 0; i < kRequests; ++i) {
      if (read_request(peer.get()).empty()) return;
      write_all(peer.get(), kResponse);
    }
  });
  UniqueFd client = connect_loopback(listener.port());
  InjectionContext context = test_context();
  InjectorProgramStats before_injecting{};
  auto began = std::chrono::steady_clock::now();
  auto halfway = began;
  for (int i = 0; i < kRequests; ++i) {
    if (i == kRequests / 2) {
      before_injecting = injector_->sk_msg_stats();
      halfway = std::chrono::steady_clock::now();
    }
    if (i >= kRequests / 2) injector_->stage_context(this_thread_id(), context);
    write_all(client.get(), kGet);
    ASSERT_EQ(read_exactly(client.get(), kResponse.size()), kResponse);
  }
  auto ended = std::chrono::steady_clock::now();
  server.join();
  auto micros = [](auto d) {
    return static_cast<long long>(std::chrono::duration_cast<std::chrono::microseconds>(d).count());
  };
  long long passing_us = micros(halfway - began) / (kRequests / 2);
  long long injecting_us = micros(ended - halfway) / (kRequests / 2);
  std::printf("round trip: %lld us passing, %lld us injecting\n", passing_us, injecting_us);
  // A header sent as a separate small segment waits for a delayed ACK: 40 ms per request.
  EXPECT_LT(injecting_us, 10'000) << "injected requests stall";
  EXPECT_EQ(injector_->counters()[HODOS_INJECT_MERGE_FAILED], 0u);
  InjectorProgramStats sk_msg = injector_->sk_msg_stats();
  InjectorProgramStats sk_skb = injector_->sk_skb_stats();
  InjectorProgramStats sockops = injector_->sockops_stats();
  ASSERT_GE(sk_msg.runs, static_cast<uint64_t>(kRequests));
  EXPECT_EQ(injector_->counters()[HODOS_INJECT_INJECTED], static_cast<uint64_t>(kRequests / 2));
  auto per_run = [](uint64_t ns, uint64_t runs) { return runs ? ns / runs : 0; };
  uint64_t injecting_runs = sk_msg.runs - before_injecting.runs;
  std::printf(
      "sk_msg: %llu ns/run passing (no context), %llu ns/run injecting; sk_skb verdict: %llu "
      "ns/run over %llu runs; sockops: %llu runs, %llu ns/run\n",
      static_cast<unsigned long long>(per_run(before_injecting.run_time_ns, before_injecting.runs)),
      static_cast<unsigned long long>(
          per_run(sk_msg.run_time_ns - before_injecting.run_time_ns, injecting_runs)),
      static_cast<unsigned long long>(per_run(sk_skb.run_time_ns, sk_skb.runs)),
      static_cast<unsigned long long>(sk_skb.runs), static_cast<unsigned long long>(sockops.runs),
      static_cast<unsigned long long>(per_run(sockops.run_time_ns, sockops.runs)));
}

// The agent stops (clean shutdown) while an enrolled connection holds unread data.
TEST_F(InjectorTest, StoppingWithUnreadDataLosesNothing) {
  start();
  Listener listener;
  UniqueFd client = connect_loopback(listener.port());
  UniqueFd server = listener.accept_one();
  ASSERT_TRUE(injector_->is_enrolled(client.get()));
  std::string unread(64 << 10, 'u');
  write_all(server.get(), unread);
  int available = 0;
  ASSERT_TRUE(wait_for([&] {
    ioctl(client.get(), FIONREAD, &available);
    return available == static_cast<int>(unread.size());
  })) << "FIONREAD = "
      << available;
  std::string pin = started_.pin_path;
  injector_.reset();
  if (started_.fionread == "sk_skb verdict") {
    // The unread bytes live in the psock: the sockhash stays pinned while the socket is open.
    EXPECT_TRUE(std::filesystem::exists(pin)) << pin;
    EXPECT_EQ(release_drained_sockhashes(pin_dir()), 0);
  }
  std::string after = read_exactly(client.get(), unread.size(), 2s);
  EXPECT_TRUE(after == unread) << "unread data was lost: read " << after.size() << " of "
                               << unread.size() << " bytes";
  write_all(server.get(), "more");
  EXPECT_EQ(read_exactly(client.get(), 4), "more");
  client.reset();
  server.reset();
  if (started_.fionread == "sk_skb verdict") {
    // Closed sockets leave the sockhash at once: it can go.
    EXPECT_EQ(release_drained_sockhashes(pin_dir()), 1);
    EXPECT_FALSE(std::filesystem::exists(pin)) << pin;
  }
}

// The agent dies (kill -9) while an enrolled connection holds unread data: the data must still be
// read, in order, and the connection must keep working.
TEST_F(InjectorTest, KillNineOfTheLoaderLosesNothing) {
  int control[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, control), 0);
  UniqueFd parent_end(control[0]), child_end(control[1]);
  uint32_t parent_pid = static_cast<uint32_t>(getpid());
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // The "agent": traces the parent; answers "is this cookie enrolled?" until killed.
    parent_end.reset();
    int map =
        bpf_map_create(BPF_MAP_TYPE_HASH, "kill_traced", 4, 1, HODOS_MAX_TRACED_PROCESSES, nullptr);
    uint8_t mode = HODOS_TRACED | HODOS_TRACED_THREAD_CONTEXT;
    bpf_map_update_elem(map, &parent_pid, &mode, BPF_ANY);
    InjectorOptions options;
    options.traced_processes_fd = map;
    options.ignore_other_sockmap_users = true;
    options.pin_dir = pin_dir();
    InjectorStart started = Injector::start(options, nullptr);
    char ready = started.injector ? 'R' : 'F';
    if (write(child_end.get(), &ready, 1) != 1) _exit(1);
    uint64_t cookie = 0;
    while (read(child_end.get(), &cookie, sizeof(cookie)) == sizeof(cookie)) {
      char answer = started.injector && started.injector->is_enrolled_cookie(cookie) ? 1 : 0;
      if (write(child_end.get(), &answer, 1) != 1) _exit(1);
    }
    _exit(0);
  }
  child_end.reset();
  char ready = 0;
  ASSERT_EQ(read(parent_end.get(), &ready, 1), 1);
  ASSERT_EQ(ready, 'R') << "the child could not start the injector";

  Listener listener;
  UniqueFd client = connect_loopback(listener.port());
  UniqueFd server = listener.accept_one();
  uint64_t cookie = cookie_of(client.get());
  ASSERT_EQ(write(parent_end.get(), &cookie, sizeof(cookie)), static_cast<ssize_t>(sizeof(cookie)));
  char enrolled = 0;
  ASSERT_EQ(read(parent_end.get(), &enrolled, 1), 1);
  ASSERT_EQ(enrolled, 1) << "the connection was not enrolled by the child's injector";

  std::mt19937 random(7);
  std::string unread(64 << 10, '\0');
  for (char& c : unread) c = static_cast<char>(random());
  write_all(server.get(), unread);
  int available = 0;
  ASSERT_TRUE(wait_for([&] {
    ioctl(client.get(), FIONREAD, &available);
    return available == static_cast<int>(unread.size());
  })) << "FIONREAD = "
      << available;

  ASSERT_EQ(kill(child, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  // Nothing new is enrolled once the loader is gone: its sockops link went with it.
  EXPECT_TRUE(wait_for([] {
    for (const std::string& p : sockmap_programs_on_host()) {
      if (p.find("enrol_client_so") != std::string::npos) return false;
    }
    return true;
  })) << "the dead loader's sockops program is still attached";

  ioctl(client.get(), FIONREAD, &available);
  std::string after_kill = read_exactly(client.get(), unread.size(), 2s);
  EXPECT_TRUE(after_kill == unread)
      << "unread data was lost: read " << after_kill.size() << " of " << unread.size()
      << " bytes; FIONREAD after the kill was " << available;
  write_all(client.get(), "after");
  EXPECT_EQ(read_exactly(server.get(), 5), "after");
  write_all(server.get(), "back!");
  EXPECT_TRUE(wait_for([&] {
    ioctl(client.get(), FIONREAD, &available);
    return available == 5;
  })) << "FIONREAD = "
      << available;
  EXPECT_EQ(read_exactly(client.get(), 5), "back!");

  // A new agent starts although the dead one's programs still serve that connection, and unpins
  // the dead one's sockhash once the connection has closed.
  InjectorOptions options;
  options.traced_processes_fd = traced_.get();
  options.pin_dir = pin_dir();
  InjectorStart restarted = Injector::start(options, nullptr);
  EXPECT_TRUE(restarted.injector) << restarted.reason;
  EXPECT_EQ(restarted.released_sockhashes, 0);
  EXPECT_EQ(restarted.kept_connections, 1) << "the connection the dead loader enrolled";
  client.reset();
  server.reset();
  restarted.injector.reset();
  EXPECT_EQ(release_drained_sockhashes(pin_dir()), 1) << "the dead loader's sockhash";
  std::string left;
  for (const auto& entry : std::filesystem::directory_iterator(pin_dir())) {
    // bpffs shows maps.debug and progs.debug at its root.
    std::string name = entry.path().filename().string();
    if (name.starts_with("sockets-")) left += name + " ";
  }
  EXPECT_TRUE(left.empty()) << "drained sockhashes stayed pinned: " << left;
}

}  // namespace
}  // namespace hodos::agent

// An enrolled connection sends a 1 MiB request while its peer answers as much and closes at once
// (an HTTP/1.0 upstream): the kernel queues what the sk_skb verdict cannot place yet for later,
// and the peer's FIN must not end the reader's stream before that queue drained (a short read is
// a truncated answer for the application). 8 connections at a time, 400 in all; once, in CI, the
// single exchange of LargeBodiesPassByteForByte came back short, never reproduced here since
// (2,400 runs under load).
namespace hodos::agent {
namespace {
TEST_F(InjectorTest, AnswersFollowedByThePeersCloseArriveWhole) {
  start();
  std::atomic<int> short_reads = 0, not_enrolled = 0;
  auto worker = [&](int w) {
    for (int i = 0; i < 50; ++i) {
      Listener listener;
      const size_t size = (1u << 20) + static_cast<size_t>(i + w) * 4096;
      const std::string request = "POST /u HTTP/1.1\r\nContent-Length: " + std::to_string(size) + "\r\n\r\n" + std::string(size, 'q');
      std::thread server([&] {
        UniqueFd peer = listener.accept_one();
        read_request(peer.get());
        write_all(peer.get(), std::string(size, static_cast<char>('a' + w)));
      });
      UniqueFd client = connect_loopback(listener.port());
      if (!injector_->is_enrolled(client.get())) ++not_enrolled;
      std::thread writer([&] { write_all(client.get(), request); });
      const std::string got = read_exactly(client.get(), size);
      writer.join();
      server.join();
      if (got != std::string(size, static_cast<char>('a' + w))) ++short_reads;
    }
  };
  std::vector<std::thread> workers;
  for (int w = 0; w < 8; ++w) workers.emplace_back(worker, w);
  for (std::thread& t : workers) t.join();
  EXPECT_EQ(not_enrolled.load(), 0);
  EXPECT_EQ(short_reads.load(), 0) << "answers cut short or changed, of 400";
}
}  // namespace
}  // namespace hodos::agent

// HTTP/2 (grpc-go clients): the frames of a connection that starts with the client preface are
// followed, and the HEADERS frame of a stream whose CLIENT ids are staged (by socket cookie and
// stream id, as grpc-go's NewStream probe stages them) gets a traceparent field at the end of its
// header block. The header blocks are made by nghttp2's encoder (Huffman strings, the dynamic
// table), as a real client makes them; what arrives is compared byte for byte with what should,
// and decoded by nghttp2's decoder (src/protocols/http2/hpack.h) to show the block is still valid.
namespace hodos::agent {
namespace {

using Fields = std::vector<std::pair<std::string, std::string>>;

constexpr std::string_view kH2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
constexpr uint8_t kData = 0, kHeaders = 1, kSettings = 4, kContinuation = 9;
constexpr uint8_t kEndStream = 0x1, kEndHeaders = 0x4, kPriority = 0x20;

// HPACK blocks from nghttp2's encoder, as a real client writes them.
using HpackEncoder = protocols::http2::testing::Wire;

std::string h2_frame(uint8_t type, uint8_t flags, uint32_t stream, std::string_view payload) {
  const size_t length = payload.size();
  std::string out = {static_cast<char>(length >> 16), static_cast<char>(length >> 8),
                     static_cast<char>(length), static_cast<char>(type), static_cast<char>(flags),
                     static_cast<char>(stream >> 24), static_cast<char>(stream >> 16),
                     static_cast<char>(stream >> 8), static_cast<char>(stream)};
  return out + std::string(payload);
}

// A gRPC call's request headers as grpc-go writes them.
Fields grpc_request_fields() {
  return {{":method", "POST"},           {":scheme", "http"},
          {":path", "/hodos.test.Chain/Get"}, {":authority", "127.0.0.1:50051"},
          {"content-type", "application/grpc"}, {"user-agent", "grpc-go/1.33.0"},
          {"te", "trailers"},             {"grpc-timeout", "9998m"}};
}

// A length-prefixed gRPC message of `size` bytes.
std::string grpc_message(size_t size, char fill) {
  return std::string{0, 0, 0, static_cast<char>(size >> 8), static_cast<char>(size)} +
         std::string(size, fill);
}

H2StreamContext h2_context(uint8_t seed) {
  H2StreamContext context;
  for (size_t i = 0; i < 16; ++i) context.trace_id[i] = static_cast<uint8_t>(seed + i);
  for (size_t i = 0; i < 8; ++i) context.span_id[i] = static_cast<uint8_t>(0x80 + seed + i);
  return context;
}

std::string traceparent_of(const H2StreamContext& context) {
  return "00-" + hex(context.trace_id.data(), 16) + "-" + hex(context.span_id.data(), 8) + "-01";
}

// The HEADERS frame `frame` as it should arrive with `context`'s traceparent: the field at the
// end of its block, 69 more bytes in its length.
std::string with_h2_traceparent(std::string_view frame, const H2StreamContext& context) {
  const std::string value = traceparent_of(context);
  const std::string field = std::string{0x00, 0x0b} + "traceparent" +
                            static_cast<char>(value.size()) + value;
  EXPECT_EQ(field.size(), 69u);
  std::string payload = std::string(frame.substr(9)) + field;
  const uint32_t stream = (static_cast<uint8_t>(frame[5]) << 24) |
                          (static_cast<uint8_t>(frame[6]) << 16) |
                          (static_cast<uint8_t>(frame[7]) << 8) | static_cast<uint8_t>(frame[8]);
  return h2_frame(static_cast<uint8_t>(frame[3]), static_cast<uint8_t>(frame[4]), stream, payload);
}

// What a server decodes of a connection's bytes (after the preface): each stream's header fields
// and data, or what did not decode.
struct H2Decoded {
  std::map<uint32_t, Fields> headers;
  std::map<uint32_t, std::string> data;
  std::string error;
};

H2Decoded decode_h2(std::string_view bytes) {
  H2Decoded out;
  if (!bytes.starts_with(kH2Preface)) {
    out.error = "no preface";
    return out;
  }
  bytes.remove_prefix(kH2Preface.size());
  protocols::http2::HeaderDecoder decoder;
  while (!bytes.empty()) {
    if (bytes.size() < 9) {
      out.error = "a truncated frame header";
      return out;
    }
    const size_t length = (static_cast<uint8_t>(bytes[0]) << 16) |
                          (static_cast<uint8_t>(bytes[1]) << 8) | static_cast<uint8_t>(bytes[2]);
    const uint8_t type = static_cast<uint8_t>(bytes[3]);
    const uint8_t frame_flags = static_cast<uint8_t>(bytes[4]);
    const uint32_t stream = (static_cast<uint8_t>(bytes[5]) << 24) |
                            (static_cast<uint8_t>(bytes[6]) << 16) |
                            (static_cast<uint8_t>(bytes[7]) << 8) | static_cast<uint8_t>(bytes[8]);
    if (bytes.size() < 9 + length) {
      out.error = "a truncated frame";
      return out;
    }
    std::string_view payload = bytes.substr(9, length);
    const bool end_headers = frame_flags & kEndHeaders;
    if (type == kHeaders || type == kContinuation) {
      if (type == kHeaders && (frame_flags & kPriority)) payload.remove_prefix(5);
      bool ok = decoder.feed(payload, end_headers, [&](std::string_view name, std::string_view value) {
        out.headers[stream].emplace_back(name, value);
      });
      if (!ok) {
        out.error = "a header block of stream " + std::to_string(stream) + " does not decode";
        return out;
      }
    } else if (type == kData) {
      out.data[stream] += payload;
    }
    bytes.remove_prefix(9 + length);
  }
  return out;
}

Fields plus_traceparent(Fields fields, const H2StreamContext& context) {
  fields.emplace_back("traceparent", traceparent_of(context));
  return fields;
}

class InjectorHttp2Test : public InjectorTest {
 protected:
  // send_each, with `stage` staging contexts for the connection before its first write.
  std::string send_h2(const std::vector<std::string>& writes, size_t expected_size,
                      const std::function<void(uint64_t cookie)>& stage) {
    return send_each(writes, expected_size, [&](uint64_t cookie, size_t i) {
      if (i == 0) stage(cookie);
    });
  }
  static size_t total(const std::vector<std::string>& writes) {
    size_t n = 0;
    for (const std::string& w : writes) n += w.size();
    return n;
  }
};

TEST_F(InjectorHttp2Test, HeadersOfStagedStreamsGetATraceparent) {
  start();
  HpackEncoder encoder(true);
  const std::string hello = std::string(kH2Preface) + h2_frame(kSettings, 0, 0, "");
  // One write with three calls, as grpc-go's loopy writer batches them; then a fourth call, whose
  // headers the encoder now names from its dynamic table.
  std::string frames[4], data[4];
  for (uint32_t i = 0; i < 4; ++i) {
    // Stream 5's with a priority (5 bytes before the block).
    const std::string priority = i == 2 ? std::string("\x00\x00\x00\x00\x0f", 5) : "";
    frames[i] = h2_frame(kHeaders, kEndHeaders | (i == 2 ? kPriority : 0), 1 + 2 * i,
                         priority + encoder.encode(grpc_request_fields()));
    data[i] = h2_frame(kData, kEndStream, 1 + 2 * i, grpc_message(20 + i, static_cast<char>('a' + i)));
  }
  const std::string batch = frames[0] + data[0] + frames[1] + data[1] + frames[2] + data[2];
  // Stream 7's HEADERS end their write (the field goes at the very end of the message).
  const std::string later = frames[3];
  // Staged too, but no request of grpc-go's: HEADERS of an old stream again (trailers), and of a
  // new one that does not open with `:method: POST`.
  const std::string trailers = h2_frame(kHeaders, kEndHeaders | kEndStream, 3,
                                        encoder.encode({{"grpc-status", "0"}}));
  const std::string get = h2_frame(kHeaders, kEndHeaders | kEndStream, 9,
                                   encoder.encode(protocols::http2::testing::get_request("/x")));
  const H2StreamContext contexts[4] = {h2_context(0), h2_context(0x10), h2_context(0x20),
                                       h2_context(0x30)};
  // Streams 3, 5 and 7 have a context; stream 1 (a call without one) has none.
  const std::vector<std::string> writes = {hello, batch, later, data[3], trailers, get};
  const std::string received =
      send_each(writes, total(writes) + 3 * 69, [&](uint64_t cookie, size_t i) {
        if (i == 0) {
          for (uint32_t k = 1; k < 4; ++k) injector_->stage_h2_stream(cookie, 1 + 2 * k, contexts[k]);
        } else if (i == 4) {  // before the trailers and the GET
          injector_->stage_h2_stream(cookie, 3, contexts[1]);
          injector_->stage_h2_stream(cookie, 9, contexts[0]);
        }
      });

  const std::string expected = hello + frames[0] + data[0] +
                               with_h2_traceparent(frames[1], contexts[1]) + data[1] +
                               with_h2_traceparent(frames[2], contexts[2]) + data[2] +
                               with_h2_traceparent(frames[3], contexts[3]) + data[3] + trailers +
                               get;
  EXPECT_EQ(hex(reinterpret_cast<const uint8_t*>(received.data()), received.size()),
            hex(reinterpret_cast<const uint8_t*>(expected.data()), expected.size()));
  const H2Decoded decoded = decode_h2(received);
  ASSERT_EQ(decoded.error, "");
  EXPECT_EQ(decoded.headers.at(1), grpc_request_fields());
  for (uint32_t i = 1; i < 4; ++i) {
    Fields expected_fields = plus_traceparent(grpc_request_fields(), contexts[i]);
    if (i == 1) expected_fields.emplace_back("grpc-status", "0");  // stream 3's trailers, as sent
    EXPECT_EQ(decoded.headers.at(1 + 2 * i), expected_fields);
  }
  EXPECT_EQ(decoded.headers.at(9), protocols::http2::testing::get_request("/x"));
  for (uint32_t i = 0; i < 4; ++i) {
    EXPECT_EQ(decoded.data.at(1 + 2 * i), grpc_message(20 + i, static_cast<char>('a' + i)));
  }
  for (uint32_t stream : {5, 7}) EXPECT_FALSE(injector_->has_staged_h2_stream(client_cookie_, stream));
  EXPECT_TRUE(injector_->has_staged_h2_stream(client_cookie_, 3)) << "trailers are not a request";
  EXPECT_TRUE(injector_->has_staged_h2_stream(client_cookie_, 9)) << "not a request of grpc-go's";
  InjectorCounters counters = injector_->counters();
  EXPECT_EQ(counters[HODOS_INJECT_H2_CONNECTION], 1u);
  EXPECT_EQ(counters[HODOS_INJECT_H2_INJECTED], 3u);
  EXPECT_EQ(counters[HODOS_INJECT_NO_CONTEXT], 1u);
  EXPECT_EQ(counters[HODOS_INJECT_GAVE_UP], 0u);
  EXPECT_EQ(counters[HODOS_INJECT_NOT_HTTP], 0u);
  EXPECT_TRUE(records_.empty()) << "HTTP/2 ids reach the agent from the probe, not as records";
}

// grpc-go's writer flushes a full buffer wherever it ends: inside a DATA frame's payload, or
// inside a frame header. The frames after it are still found.
TEST_F(InjectorHttp2Test, FramesAreFollowedAcrossWrites) {
  start();
  HpackEncoder encoder(true);
  const std::string hello = std::string(kH2Preface) + h2_frame(kSettings, 0, 0, "");
  const std::string headers1 = h2_frame(kHeaders, kEndHeaders, 1, encoder.encode(grpc_request_fields()));
  const std::string data1 = h2_frame(kData, 0, 1, grpc_message(300, 'x'));
  const std::string data2 = h2_frame(kData, kEndStream, 1, grpc_message(40, 'y'));
  const std::string headers3 = h2_frame(kHeaders, kEndHeaders, 3, encoder.encode(grpc_request_fields()));
  const std::string data3 = h2_frame(kData, kEndStream, 3, grpc_message(10, 'z'));
  const std::vector<std::string> writes = {
      hello,
      headers1 + data1.substr(0, 40),                    // ends in data1's payload
      data1.substr(40) + data2.substr(0, 4),             // ends in data2's frame header
      data2.substr(4, 4),                                // still in it: 8 of its 9 bytes
      data2.substr(8) + headers3 + data3.substr(0, 5),   // headers3 whole, then data3's header
      data3.substr(5),
  };
  const H2StreamContext one = h2_context(0x40), three = h2_context(0x50);
  const std::string received = send_h2(writes, total(writes) + 2 * 69, [&](uint64_t cookie) {
    injector_->stage_h2_stream(cookie, 1, one);
    injector_->stage_h2_stream(cookie, 3, three);
  });
  EXPECT_EQ(received, hello + with_h2_traceparent(headers1, one) + data1 + data2 +
                          with_h2_traceparent(headers3, three) + data3);
  const H2Decoded decoded = decode_h2(received);
  ASSERT_EQ(decoded.error, "");
  EXPECT_EQ(decoded.headers.at(3), plus_traceparent(grpc_request_fields(), three));
  EXPECT_EQ(injector_->counters()[HODOS_INJECT_H2_INJECTED], 2u);
  EXPECT_EQ(injector_->counters()[HODOS_INJECT_GAVE_UP], 0u);
}

// A header block split over two writes, or over a HEADERS and a CONTINUATION frame, is not read
// whole: it could have put a traceparent name in the encoder's dynamic table, which a later block
// would name by index only. Nothing more is written on such a connection.
TEST_F(InjectorHttp2Test, AHeaderBlockNotReadWholeEndsInjectionOnItsConnection) {
  start();
  const std::string hello = std::string(kH2Preface) + h2_frame(kSettings, 0, 0, "");
  for (bool continuation : {false, true}) {
    SCOPED_TRACE(continuation ? "HEADERS + CONTINUATION" : "HEADERS split over writes");
    HpackEncoder encoder(true);
    const std::string block = encoder.encode(grpc_request_fields());
    std::vector<std::string> writes = {hello};
    if (continuation) {
      writes.push_back(h2_frame(kHeaders, 0, 1, block.substr(0, 10)) +
                       h2_frame(kContinuation, kEndHeaders, 1, block.substr(10)));
    } else {
      const std::string frame = h2_frame(kHeaders, kEndHeaders, 1, block);
      writes.push_back(frame.substr(0, 15));
      writes.push_back(frame.substr(15));
    }
    writes.push_back(h2_frame(kHeaders, kEndHeaders, 3, encoder.encode(grpc_request_fields())));
    std::string sent;
    for (const std::string& w : writes) sent += w;
    // An injection would change these bytes (a field inserted before their end).
    const std::string received = send_h2(writes, sent.size(), [&](uint64_t cookie) {
      injector_->stage_h2_stream(cookie, 1, h2_context(1));
      injector_->stage_h2_stream(cookie, 3, h2_context(3));
    });
    EXPECT_EQ(received, sent);
  }
  EXPECT_EQ(injector_->counters()[HODOS_INJECT_H2_UNREAD_BLOCK], 2u);
  EXPECT_EQ(injector_->counters()[HODOS_INJECT_H2_INJECTED], 0u);
  EXPECT_GE(injector_->counters()[HODOS_INJECT_STREAM_UNKNOWN], 2u);
}

// A process that sends a traceparent of its own (an instrumented client) is left alone: the name
// Huffman-coded (as nghttp2's and Go's encoders write it, being shorter) or raw.
TEST_F(InjectorHttp2Test, AClientSendingItsOwnTraceparentIsLeftAlone) {
  start();
  const std::string hello = std::string(kH2Preface) + h2_frame(kSettings, 0, 0, "");
  const std::string own = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  for (bool huffman : {true, false}) {
    SCOPED_TRACE(huffman ? "Huffman-coded name" : "raw name");
    HpackEncoder encoder(true);
    std::string block;
    if (huffman) {
      block = encoder.encode(plus_traceparent(grpc_request_fields(), h2_context(7)));
      EXPECT_NE(block.find("\x88\x4d\x83\x21\x6b\x1d\x85\xa9\x3f"), std::string::npos)
          << "nghttp2 Huffman-codes the name";
    } else {
      block = encoder.encode(grpc_request_fields()) + std::string{0x00, 0x0b} + "traceparent" +
              static_cast<char>(own.size()) + own;
    }
    // The second call's block names traceparent through the dynamic table only (Huffman case).
    Fields second = grpc_request_fields();
    second.emplace_back("traceparent", own);
    const std::vector<std::string> writes = {
        hello, h2_frame(kHeaders, kEndHeaders, 1, block),
        h2_frame(kHeaders, kEndHeaders, 3, encoder.encode(second))};
    const std::string received = send_h2(writes, total(writes), [&](uint64_t cookie) {
      injector_->stage_h2_stream(cookie, 1, h2_context(1));
      injector_->stage_h2_stream(cookie, 3, h2_context(3));
    });
    EXPECT_EQ(received, writes[0] + writes[1] + writes[2]);
    EXPECT_EQ(decode_h2(received).error, "");
  }
  EXPECT_EQ(injector_->counters()[HODOS_INJECT_HAS_TRACEPARENT], 2u);
  EXPECT_EQ(injector_->counters()[HODOS_INJECT_H2_INJECTED], 0u);
}

// grpc-go dials at start, before the agent traced the process with a context: sockops left the
// connection alone. The loader enrols it later (only the connections the process opened, not those
// it accepted); where its frames start is found at its first write made of whole frames, and
// until then nothing is touched.
TEST_F(InjectorHttp2Test, AConnectionOpenedBeforeTracingIsEnrolledLater) {
  trace(traced_.get(), static_cast<uint32_t>(getpid()), HODOS_TRACED);  // no context yet
  start();
  HpackEncoder encoder(true);
  const std::string hello = std::string(kH2Preface) + h2_frame(kSettings, 0, 0, "");
  const std::string headers1 = h2_frame(kHeaders, kEndHeaders, 1, encoder.encode(grpc_request_fields()));
  const std::string data1 = h2_frame(kData, kEndStream, 1, grpc_message(300, 'x'));
  const std::string headers3 = h2_frame(kHeaders, kEndHeaders, 3, encoder.encode(grpc_request_fields()));
  const std::string data3 = h2_frame(kData, kEndStream, 3, grpc_message(30, 'y'));
  const std::string headers5 = h2_frame(kHeaders, kEndHeaders, 5, encoder.encode(grpc_request_fields()));
  const std::string data5 = h2_frame(kData, kEndStream, 5, grpc_message(30, 'z'));
  const std::string before = hello + headers1;  // written before the enrolment
  const std::vector<std::string> writes = {
      data1.substr(0, 100),                   // starts a frame, ends inside it: not found yet
      data1.substr(100) + headers3 + data3,   // starts inside a frame: not found
      headers5 + data5,                       // whole frames: found; stream 5 gets its traceparent
  };
  const H2StreamContext three = h2_context(0x60), five = h2_context(0x70);
  const std::string expected =
      before + writes[0] + writes[1] + with_h2_traceparent(headers5, five) + data5;

  const std::string received =
      send_enrolled_late(before, writes, expected.size(), [&](uint64_t cookie, size_t i) {
        if (i > 0) return;
        injector_->stage_h2_stream(cookie, 3, three);
        injector_->stage_h2_stream(cookie, 5, five);
      });
  const uint64_t cookie = client_cookie_;

  EXPECT_EQ(received, expected);
  EXPECT_TRUE(injector_->has_staged_h2_stream(cookie, 3)) << "stream 3 went by before the frames were found";
  InjectorCounters counters = injector_->counters();
  EXPECT_EQ(counters[HODOS_INJECT_RESYNC_WAIT], 2u);
  EXPECT_EQ(counters[HODOS_INJECT_H2_RESYNCED], 1u);
  EXPECT_EQ(counters[HODOS_INJECT_H2_INJECTED], 1u);
}

}  // namespace
}  // namespace hodos::agent
