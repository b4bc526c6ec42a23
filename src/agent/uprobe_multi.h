// Uprobe links that each hold many offsets of one binary for one program (BPF_TRACE_UPROBE_MULTI).
// Detaching a classic uprobe link (one perf event per offset) waits for the kernel's RCU grace
// periods under a lock every uprobe shares, about 0.1 s each: a Go process holds dozens (a probe
// on every return instruction), a process with OpenSSL nine, so stopping an agent on a host with
// 6 Go, 6 Python and 2 Node services took 30 s. A multi link waits once for all its offsets, and
// multi links detach side by side (0.5 s).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "agent/process_links.h"

struct bpf_program;

namespace hodos::agent {

// Why this kernel's uprobe_multi links are not used, or empty when they are: they must exist and
// be filtered by process, Linux 6.10+ (6.6 to 6.9 filtered by thread id, which a Go process's many
// threads would defeat). Checked once, by attaching a trivial program to a temporary file.
const std::string& uprobe_multi_missing();
inline bool uprobe_multi_available() { return uprobe_multi_missing().empty(); }

// Marks `program` (opened, not loaded) to be attached through uprobe_multi links: a program
// loaded so can no longer be attached the classic way.
void use_uprobe_multi(bpf_program* program);
bool uses_uprobe_multi(const bpf_program* program);

// Attaches `program` at `offsets` of the file `path` for process `pid` only, as one link (at the
// returns of the functions starting there when `at_return`): its fd, or -errno.
int attach_uprobe_multi(const bpf_program* program, uint32_t pid, const std::string& path,
                        std::span<const uint64_t> offsets, bool at_return = false);

// A program to attach at the entry (or the returns) of a function found by name in a file.
struct FunctionProbe {
  std::string_view function;
  const bpf_program* program;
  bool at_return;
  bool optional;  // a file without the function is fine
};
struct FunctionLinks {
  std::vector<ProcessLinks::Link> links;
  std::string error;  // set when a probe that is not optional could not be attached
};
// Attaches `probes` (every program loaded for uprobe_multi) to the functions of the file `path`
// for process `pid`: one link per program and side, the functions found in its symbol tables.
FunctionLinks attach_functions(uint32_t pid, const std::string& path,
                               std::span<const FunctionProbe> probes);

}  // namespace hodos::agent
