// Plaintext of TLS sessions without keys: attaches the uprobe programs of bpf/sockets.bpf.c to
// the OpenSSL a traced process uses (its libssl, or OpenSSL linked into its executable, as found
// by runtime detection), for that process only, so that untraced processes calling the same
// library never stop at a breakpoint. SSL_read/SSL_read_ex/SSL_write/SSL_write_ex at entry and
// return, SSL_free at entry; the kernel side turns each call's plaintext into a DATA event of the
// session's socket (SocketEvent::tls). GnuTLS the same way (libgnutls: gnutls_record_recv and
// gnutls_record_send at entry and return, gnutls_deinit at entry).
//
// Not covered here: Go's crypto/tls (needs return-instruction probes, never uretprobes), and Java
// (JSSE encrypts inside the JVM: its traffic is seen as ciphertext only).
#pragma once

#include <atomic>
#include <cstdint>
#include <span>
#include <string>

#include "agent/process_links.h"
#include "agent/runtime_detect.h"

struct bpf_program;

namespace hodos::agent {

class SocketProbe;

struct TlsAttachResult {
  bool attached = false;
  std::string target;  // what the probes sit on: "libssl.so.3 (OpenSSL 3)", or empty
  std::string reason;  // when not attached: why, in a few words a user can act on
};

struct TlsProbeCounters {
  uint64_t processes = 0;         // processes whose OpenSSL or GnuTLS is probed now
  uint64_t attach_failures = 0;   // libraries that could not be probed
};

class TlsProbe {
 public:
  // `probe` (its programs and pid filter) must outlive this object. `proc_root` is where the
  // processes' files are reached (/proc/<pid>/root/<path>, so a container's own libssl is the
  // one probed).
  explicit TlsProbe(SocketProbe& probe, std::string proc_root = "/proc");
  ~TlsProbe();
  TlsProbe(const TlsProbe&) = delete;
  TlsProbe& operator=(const TlsProbe&) = delete;

  // Probes the process's OpenSSL, or its GnuTLS (nothing when it has none; both when it maps
  // both). Calling it again for the same library keeps the probes; for another one (the process
  // ran exec) it moves them.
  TlsAttachResult attach(uint32_t pid, const OpensslInfo& openssl);
  TlsAttachResult attach(uint32_t pid, const GnutlsInfo& gnutls);
  // Removes the process's probes (it exited, or is no longer traced).
  void detach(uint32_t pid);
  bool is_attached(uint32_t pid) const;
  TlsProbeCounters counters() const;

 private:
  // A function of the library, and the program that goes on its entry (or its return).
  struct ProbePoint {
    const char* function;
    bpf_program* program;
    bool at_return;
    bool optional;  // absent from older versions of the library: the others are enough
  };
  TlsAttachResult attach_points(ProcessLinks& holder, uint32_t pid, const std::string& path,
                                const std::string& target, std::span<const ProbePoint> points);
  void drop(ProcessLinks& holder, uint32_t pid);

  SocketProbe& probe_;
  std::string proc_root_;
  // Target: the path of the library (or executable) probed.
  ProcessLinks openssl_links_;
  ProcessLinks gnutls_links_;
  std::atomic<uint64_t> attach_failures_ = 0;
};

}  // namespace hodos::agent
