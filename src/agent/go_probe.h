// Goroutine context for Go services: reads a traced Go process's executable (go_binary.h), plans
// what to probe (go_plan.h) and attaches the uprobes of that plan, for that process only:
// runtime.newproc1 (a new goroutine inherits its creator's context), net/http's client (an
// outgoing request's context reaches the connection's writer goroutine), grpc-go and net/http's
// HTTP/2 server (bpf/go_http2.bpf.h: the goroutine serving a call gets its context), grpc-go's
// client (a call gets CLIENT ids), crypto/tls (bpf/go_tls.bpf.h: the plaintext of Go's own TLS).
// With them the kernel gives a Go server's requests their SERVER span ids and its outgoing
// HTTP/1.x requests a traceparent, as it does for thread-per-request servers (bpf/sockets.h,
// HODOS_TRACED_GOROUTINE_CONTEXT).
//
// Entries and return instructions only, never uretprobes (they crash Go when a stack moves:
// KERNEL-NOTES.md). Go 1.18 or newer (the register ABI, and newproc1's arguments), amd64 or arm64
// as the agent itself. The analysis of an executable is cached by device and inode: every process
// of one binary shares it.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "agent/go_plan.h"
#include "agent/process_links.h"


namespace hodos::agent {

class SocketProbe;

struct GoAttachResult {
  bool attached = false;
  // What the probes sit on: "go1.19.8, DWARF" or "go1.19.8, stripped: pclntab, offsets from the
  // go1.19 table"; set whenever the binary was read.
  std::string target;
  // When not attached: why, in a few words a user can act on. When attached: what is missing
  // (e.g. "no net/http client: outgoing requests get no traceparent"), or empty.
  std::string reason;
  // Its crypto/tls, when attached and the binary has it (and TLS probes are on): "plaintext from
  // Go crypto/tls (go1.19.8)" or "not seen: <why>"; empty otherwise.
  std::string tls;
};

class GoProbe {
 public:
  // `probe` (its programs and maps) must outlive this object. `tls`: also read crypto/tls's
  // plaintext (agent.capture.tls). `proc_root` is where the processes' files are reached
  // (/proc/<pid>/exe).
  explicit GoProbe(SocketProbe& probe, bool tls = true, std::string proc_root = "/proc");
  ~GoProbe();
  GoProbe(const GoProbe&) = delete;
  GoProbe& operator=(const GoProbe&) = delete;

  // Follows the goroutines of a traced Go process. Calling it again for the same executable keeps
  // the probes (and sets the kernel's state again: exec clears it); for another one (the process
  // ran exec) it moves them.
  GoAttachResult attach(uint32_t pid);
  // Removes the process's probes and goroutine-context mode.
  void detach(uint32_t pid);
  bool is_attached(uint32_t pid) const;
  size_t processes() const;  // Go processes whose goroutines are followed now

 private:
  struct Executable {
    dev_t device = 0;
    ino_t inode = 0;
    bool operator<(const Executable& o) const {
      return std::pair(device, inode) < std::pair(o.device, o.inode);
    }
  };

  std::shared_ptr<const GoProbePlan> plan_for(const std::string& path, const Executable& executable);

  SocketProbe& probe_;
  bool tls_;
  std::string proc_root_;
  ProcessLinks links_;  // target: the executable's device and inode
  std::mutex plans_mu_;
  std::map<Executable, std::shared_ptr<const GoProbePlan>> plans_;
};

}  // namespace hodos::agent
