// Requests of event-loop servers followed through their runtime's own functions: attaches the
// uprobe programs of bpf/event_loops.bpf.h to a traced process's executable, for that process
// only, and turns on its connection-context mode (each request's trace context kept per client
// connection; an upstream connection bound to the request the runtime opened it for). nginx:
// ngx_http_upstream_init at entry and return (Debian's nginx exports its ngx_* symbols).
//
// Not covered here: Node (its requests are JavaScript callbacks; their calls are joined by
// stitching), and an nginx without the symbol (a stripped static build): stitching too.
#pragma once

#include <cstdint>
#include <string>

#include "agent/process_links.h"
#include "agent/runtime_detect.h"

namespace hodos::agent {

class SocketProbe;

struct EventLoopAttachResult {
  bool attached = false;
  std::string target;  // "nginx 1.22.1 (ngx_http_upstream_init)", or empty
  std::string reason;  // when not attached: why, in a few words a user can act on
};

class EventLoopProbe {
 public:
  // `probe` (its programs and pid filter) must outlive this object. `proc_root` is where the
  // processes' executables are reached (/proc/<pid>/exe).
  explicit EventLoopProbe(SocketProbe& probe, std::string proc_root = "/proc");
  ~EventLoopProbe();
  EventLoopProbe(const EventLoopProbe&) = delete;
  EventLoopProbe& operator=(const EventLoopProbe&) = delete;

  // Probes the process when its runtime is one this class knows (nginx); otherwise removes any
  // probes it had (the process ran exec into something else). Again for the same executable: the
  // probes are kept and the mode set again (exec clears it in the kernel).
  EventLoopAttachResult attach(uint32_t pid, const RuntimeInfo& runtime);
  void detach(uint32_t pid);
  bool is_attached(uint32_t pid) const;
  uint64_t processes() const;

 private:
  SocketProbe& probe_;
  std::string proc_root_;
  ProcessLinks links_;  // target: the executable's path
};

}  // namespace hodos::agent
