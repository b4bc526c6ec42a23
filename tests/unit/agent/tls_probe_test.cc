// Loads bpf/sockets.bpf.c, attaches its OpenSSL uprobes to this process's own libssl (the one
// runtime detection finds in /proc/self/maps) and runs real TLS sessions over loopback TCP: the
// plaintext must arrive as TLS data events of the right sockets, the ciphertext inside the calls
// must not, and a library that does its socket I/O itself (memory BIOs, as Node does) must still
// get its plaintext on its socket. Needs root (or CAP_BPF + CAP_PERFMON): skipped otherwise.
#include "agent/tls_probe.h"

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <unistd.h>

#include <memory>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "../self_signed_cert.h"
#include "agent/features.h"
#include "agent/process_info.h"
#include "agent/runtime_detect.h"
#include "agent/socket_probe.h"
#include "agent/unique_fd.h"
#include "captured_events.h"
#include "loopback_sockets.h"

namespace hodos::agent {
namespace {


using SslPtr = std::unique_ptr<SSL, decltype(&SSL_free)>;
using CtxPtr = std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)>;

CtxPtr server_context() {
  const hodos::testing::Pem pem = hodos::testing::self_signed("localhost");
  CtxPtr ctx(SSL_CTX_new(TLS_server_method()), SSL_CTX_free);
  std::unique_ptr<BIO, decltype(&BIO_free)> cert(BIO_new_mem_buf(pem.cert.data(),
                                                                 static_cast<int>(pem.cert.size())),
                                                 BIO_free);
  std::unique_ptr<BIO, decltype(&BIO_free)> key(BIO_new_mem_buf(pem.key.data(),
                                                                static_cast<int>(pem.key.size())),
                                                BIO_free);
  std::unique_ptr<X509, decltype(&X509_free)> x509(
      PEM_read_bio_X509(cert.get(), nullptr, nullptr, nullptr), X509_free);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> pkey(
      PEM_read_bio_PrivateKey(key.get(), nullptr, nullptr, nullptr), EVP_PKEY_free);
  EXPECT_EQ(SSL_CTX_use_certificate(ctx.get(), x509.get()), 1);
  EXPECT_EQ(SSL_CTX_use_PrivateKey(ctx.get(), pkey.get()), 1);
  return ctx;
}

CtxPtr client_context() {
  // The test trusts its own certificate by not verifying: what is under test is the capture.
  CtxPtr ctx(SSL_CTX_new(TLS_client_method()), SSL_CTX_free);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
  return ctx;
}

const std::string kRequest = "GET /secret/orders?id=7 HTTP/1.1\r\nHost: shop\r\n\r\n";

class TlsProbeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FeatureProbe privileges = probe_privileges();
    if (!privileges.available) GTEST_SKIP() << "BPF unavailable: " << privileges.detail;
    std::string error;
    probe_ = open_capturing_probe(&events_, &error, probe_options());
    ASSERT_TRUE(probe_) << error;
    self_ = static_cast<uint32_t>(getpid());
    tls_ = std::make_unique<TlsProbe>(*probe_);
    // What the agent does for a source: runtime detection says which OpenSSL it uses.
    std::optional<ProcessInfo> me = read_process(static_cast<pid_t>(self_));
    ASSERT_TRUE(me.has_value());
    RuntimeDetectOptions options;
    options.read_executable = false;
    openssl_ = detect_runtime(*me, options).openssl;
    ASSERT_EQ(openssl_.linkage, OpensslLinkage::kDynamic) << "this test links libssl";
    const TlsAttachResult attached = tls_->attach(self_, openssl_);
    ASSERT_TRUE(attached.attached) << attached.reason;
    EXPECT_NE(attached.target.find("libssl.so"), std::string::npos) << attached.target;
  }

  virtual SocketProbeOptions probe_options() const { return {}; }

  // SSL_write on the client, SSL_read on the server: each call's plaintext arrives as its own
  // event, on its own socket, and the ciphertext they moved does not.
  void check_write_and_read_plaintext() {
    connect();
    ASSERT_EQ(SSL_write(client_.get(), kRequest.data(), static_cast<int>(kRequest.size())),
              static_cast<int>(kRequest.size()));
    std::string got(256, '\0');
    ASSERT_EQ(SSL_read(server_.get(), got.data(), static_cast<int>(got.size())),
              static_cast<int>(kRequest.size()));
    std::vector<CapturedEvent> events = drain();
    std::vector<CapturedEvent> tls = tls_events(events);
    ASSERT_EQ(tls.size(), 2u);
    EXPECT_EQ(tls[0].event.syscall, SocketSyscall::kSslWrite);
    EXPECT_EQ(tls[0].event.direction, Direction::kEgress);
    EXPECT_EQ(tls[0].event.fd, client_fd_.get());
    EXPECT_EQ(tls[0].data, kRequest);
    EXPECT_EQ(tls[0].event.remote.port, local_port(listener_.get()));
    EXPECT_EQ(tls[1].event.syscall, SocketSyscall::kSslRead);
    EXPECT_EQ(tls[1].event.direction, Direction::kIngress);
    EXPECT_EQ(tls[1].event.fd, server_fd_.get());
    EXPECT_EQ(tls[1].data, kRequest);
    EXPECT_LE(tls[1].event.enter_ns, tls[1].event.exit_ns);
    // The records on the wire went through write() and read() inside those calls: not sent.
    EXPECT_EQ(events.size(), tls.size()) << "ciphertext events were sent";
    EXPECT_GE(probe_->counters().tls_ciphertext_skipped, 2u);
  }

  void TearDown() override {
    if (tls_) tls_->detach(self_);
    if (probe_) probe_->untrace_process(self_);
  }

  std::vector<CapturedEvent> drain() {
    events_.clear();
    probe_->consume();
    std::vector<CapturedEvent> out;
    for (CapturedEvent& e : events_) {
      if (e.event.pid == self_ && e.event.kind == SocketEventKind::kData) out.push_back(e);
    }
    return out;
  }

  // A TLS session over loopback TCP, both ends in this process; the handshake runs on a second
  // thread for the client. `memory_bio_server`: the server's SSL reads and writes memory buffers,
  // and the test moves the ciphertext between them and the socket itself (as Node does).
  void connect(bool memory_bio_server = false) {
    listener_ = listen_on_loopback();
    client_fd_ = connect_to(local_port(listener_.get()));
    server_fd_ = UniqueFd(accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    ASSERT_TRUE(server_fd_.valid());
    client_.reset(SSL_new(client_ctx_.get()));
    server_.reset(SSL_new(server_ctx_.get()));
    SSL_set_fd(client_.get(), client_fd_.get());
    std::thread handshake([this] { client_handshake_ = SSL_connect(client_.get()); });
    if (memory_bio_server) {
      in_ = BIO_new(BIO_s_mem());
      out_ = BIO_new(BIO_s_mem());
      SSL_set_bio(server_.get(), in_, out_);
      SSL_set_accept_state(server_.get());
      while (SSL_do_handshake(server_.get()) != 1) {
        flush_server();
        if (!pump_server()) break;
      }
      flush_server();
    } else {
      SSL_set_fd(server_.get(), server_fd_.get());
      EXPECT_EQ(SSL_accept(server_.get()), 1);
    }
    handshake.join();
    ASSERT_EQ(client_handshake_, 1);
    drain();  // the handshake's own bytes: not what the tests look at
  }

  // Memory-BIO server: one socket read into the SSL's input buffer.
  bool pump_server() {
    char buf[16384];
    ssize_t n = read(server_fd_.get(), buf, sizeof buf);
    if (n <= 0) return false;
    BIO_write(in_, buf, static_cast<int>(n));
    return true;
  }
  // Memory-BIO server: what the SSL wrote goes out on the socket.
  void flush_server() {
    char buf[16384];
    int n;
    while ((n = BIO_read(out_, buf, sizeof buf)) > 0) {
      ASSERT_EQ(write(server_fd_.get(), buf, static_cast<size_t>(n)), n);
    }
  }

  static std::vector<CapturedEvent> tls_events(const std::vector<CapturedEvent>& events) {
    std::vector<CapturedEvent> out;
    for (const CapturedEvent& e : events) {
      if (e.event.tls) out.push_back(e);
    }
    return out;
  }

  std::unique_ptr<SocketProbe> probe_;
  std::unique_ptr<TlsProbe> tls_;
  std::vector<CapturedEvent> events_;
  uint32_t self_ = 0;
  OpensslInfo openssl_;
  CtxPtr server_ctx_ = server_context();
  CtxPtr client_ctx_ = client_context();
  UniqueFd listener_, client_fd_, server_fd_;
  SslPtr client_{nullptr, SSL_free};
  SslPtr server_{nullptr, SSL_free};
  BIO* in_ = nullptr;   // owned by server_
  BIO* out_ = nullptr;  // owned by server_
  int client_handshake_ = 0;
};

const std::string kResponse = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

TEST_F(TlsProbeTest, PlaintextOfSslWriteAndSslReadArrivesOnItsSockets) {
  check_write_and_read_plaintext();
}

// With agent.capture.uprobe_multi: false (and on kernels before 6.10), one classic uprobe link per
// function and side: the same plaintext.
class TlsProbeClassicLinksTest : public TlsProbeTest {
 protected:
  SocketProbeOptions probe_options() const override {
    SocketProbeOptions options;
    options.uprobe_multi = false;
    return options;
  }
};

TEST_F(TlsProbeClassicLinksTest, PlaintextOfSslWriteAndSslReadArrivesOnItsSockets) {
  check_write_and_read_plaintext();
}

TEST_F(TlsProbeTest, TheExFormsAreCapturedToo) {
  connect();
  size_t written = 0;
  ASSERT_EQ(SSL_write_ex(server_.get(), kResponse.data(), kResponse.size(), &written), 1);
  std::string got(256, '\0');
  size_t read_bytes = 0;
  ASSERT_EQ(SSL_read_ex(client_.get(), got.data(), got.size(), &read_bytes), 1);
  ASSERT_EQ(read_bytes, kResponse.size());
  std::vector<CapturedEvent> tls = tls_events(drain());
  ASSERT_EQ(tls.size(), 2u);
  EXPECT_EQ(tls[0].event.syscall, SocketSyscall::kSslWrite);
  EXPECT_EQ(tls[0].event.fd, server_fd_.get());
  EXPECT_EQ(tls[0].event.result, static_cast<int64_t>(kResponse.size()));
  EXPECT_EQ(tls[0].data, kResponse);
  EXPECT_EQ(tls[1].event.syscall, SocketSyscall::kSslRead);
  EXPECT_EQ(tls[1].event.fd, client_fd_.get());
  EXPECT_EQ(tls[1].data, kResponse);
}

TEST_F(TlsProbeTest, PlaintextAlreadyBufferedIsStillOnItsSocket) {
  connect();
  // Two records in one flight: the second SSL_read makes no syscall, so its socket comes from
  // what the session's first call learnt.
  ASSERT_GT(SSL_write(client_.get(), "first", 5), 0);
  ASSERT_GT(SSL_write(client_.get(), "second", 6), 0);
  char buf[5];
  ASSERT_EQ(SSL_read(server_.get(), buf, 5), 5);
  char buf2[6];
  ASSERT_EQ(SSL_read(server_.get(), buf2, 6), 6);
  std::vector<CapturedEvent> reads;
  for (const CapturedEvent& e : tls_events(drain())) {
    if (e.event.syscall == SocketSyscall::kSslRead) reads.push_back(e);
  }
  ASSERT_EQ(reads.size(), 2u);
  EXPECT_EQ(reads[0].data, "first");
  EXPECT_EQ(reads[1].data, "second");
  EXPECT_EQ(reads[1].event.fd, server_fd_.get());
}

TEST_F(TlsProbeTest, ALibraryDoingItsOwnSocketIoGetsThePlaintextOnItsSocket) {
  connect(/*memory_bio_server=*/true);
  ASSERT_GT(SSL_write(client_.get(), kRequest.data(), static_cast<int>(kRequest.size())), 0);
  ASSERT_TRUE(pump_server());  // read(socket) → memory BIO, then SSL_read on the same thread
  std::string got(256, '\0');
  ASSERT_EQ(SSL_read(server_.get(), got.data(), static_cast<int>(got.size())),
            static_cast<int>(kRequest.size()));
  // The answer: SSL_write into memory, then write() to the socket after the call returned.
  ASSERT_GT(SSL_write(server_.get(), kResponse.data(), static_cast<int>(kResponse.size())), 0);
  flush_server();
  std::vector<CapturedEvent> events = drain();
  std::vector<CapturedEvent> server_tls;
  for (const CapturedEvent& e : tls_events(events)) {
    if (e.event.fd == server_fd_.get()) server_tls.push_back(e);
  }
  ASSERT_EQ(server_tls.size(), 2u);
  EXPECT_EQ(server_tls[0].event.syscall, SocketSyscall::kSslRead);
  EXPECT_EQ(server_tls[0].data, kRequest);
  EXPECT_EQ(server_tls[1].event.syscall, SocketSyscall::kSslWrite);
  EXPECT_EQ(server_tls[1].data, kResponse);
  // Its socket I/O was outside any TLS call: sent as it is (ciphertext), marked not TLS.
  bool ciphertext_seen = false;
  for (const CapturedEvent& e : events) {
    if (!e.event.tls && e.event.fd == server_fd_.get()) ciphertext_seen = true;
  }
  EXPECT_TRUE(ciphertext_seen);
}

// Node reads a plaintext connection (a Redis answer) and then starts or feeds a TLS session on
// the same thread: that session must not take the plaintext socket for its own. Its plaintext is
// counted as having no socket until a read of TLS records is followed by its SSL_read.
TEST_F(TlsProbeTest, AReadOfPlaintextNeverBecomesASessionsSocket) {
  connect(/*memory_bio_server=*/true);
  UniqueFd other_listener = listen_on_loopback();
  UniqueFd other_client = connect_to(local_port(other_listener.get()));
  UniqueFd other_server(accept4(other_listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_TRUE(other_server.valid());

  ASSERT_GT(SSL_write(client_.get(), kRequest.data(), static_cast<int>(kRequest.size())), 0);
  ASSERT_TRUE(pump_server());  // the ciphertext is in the session's buffer...
  write_all(other_server.get(), "+PONG\r\n");
  ASSERT_EQ(read_exactly(other_client.get(), 7), "+PONG\r\n");  // ...then another socket is read
  const uint64_t no_socket_before = probe_->counters().tls_no_socket;
  std::string got(256, '\0');
  ASSERT_EQ(SSL_read(server_.get(), got.data(), static_cast<int>(got.size())),
            static_cast<int>(kRequest.size()));
  for (const CapturedEvent& e : tls_events(drain())) {
    EXPECT_NE(e.event.fd, other_client.get()) << "TLS plaintext on the plaintext connection";
  }
  EXPECT_EQ(probe_->counters().tls_no_socket, no_socket_before + 1);

  // The next read of the session's records, then its SSL_read: on its socket.
  ASSERT_GT(SSL_write(client_.get(), kRequest.data(), static_cast<int>(kRequest.size())), 0);
  ASSERT_TRUE(pump_server());
  ASSERT_EQ(SSL_read(server_.get(), got.data(), static_cast<int>(got.size())),
            static_cast<int>(kRequest.size()));
  std::vector<CapturedEvent> server_tls;
  for (const CapturedEvent& e : tls_events(drain())) {
    if (e.event.fd == server_fd_.get()) server_tls.push_back(e);
  }
  ASSERT_EQ(server_tls.size(), 1u);
  EXPECT_EQ(server_tls[0].data, kRequest);
}

TEST_F(TlsProbeTest, DetachedProcessesProduceNoPlaintext) {
  connect();
  tls_->detach(self_);
  EXPECT_FALSE(tls_->is_attached(self_));
  ASSERT_GT(SSL_write(client_.get(), "hidden", 6), 0);
  char buf[6];
  ASSERT_EQ(SSL_read(server_.get(), buf, 6), 6);
  std::vector<CapturedEvent> events = drain();
  EXPECT_TRUE(tls_events(events).empty());
  // Without the probes the socket's ciphertext is sent as plain socket data.
  EXPECT_FALSE(events.empty());
  // Attaching again works, and a second attach of the same library keeps the probes.
  ASSERT_TRUE(tls_->attach(self_, openssl_).attached);
  ASSERT_TRUE(tls_->attach(self_, openssl_).attached);
  EXPECT_EQ(tls_->counters().processes, 1u);
  ASSERT_GT(SSL_write(client_.get(), "seen", 4), 0);
  char buf2[4];
  ASSERT_EQ(SSL_read(server_.get(), buf2, 4), 4);
  EXPECT_EQ(tls_events(drain()).size(), 2u);
}

TEST_F(TlsProbeTest, AProcessWithoutOpensslIsNotProbedAndSaysWhy) {
  const TlsAttachResult none = tls_->attach(self_, OpensslInfo{});
  EXPECT_FALSE(none.attached);
  EXPECT_FALSE(tls_->is_attached(self_));
  OpensslInfo missing;
  missing.linkage = OpensslLinkage::kDynamic;
  missing.library_path = "/nonexistent/libssl.so.3";
  const TlsAttachResult failed = tls_->attach(self_, missing);
  EXPECT_FALSE(failed.attached);
  // Which library, and why (the classic links name the function they failed on first).
  EXPECT_NE(failed.reason.find("libssl.so.3"), std::string::npos) << failed.reason;
  EXPECT_NE(failed.reason.find(std::strerror(ENOENT)), std::string::npos) << failed.reason;
  EXPECT_EQ(tls_->counters().attach_failures, 1u);
}

}  // namespace
}  // namespace hodos::agent
