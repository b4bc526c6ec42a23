// Uprobe links that each hold many offsets of one binary for one program (BPF_TRACE_UPROBE_MULTI).
// Detaching a classic uprobe link (one perf event per offset) waits for the kernel's RCU grace
// periods under a lock every uprobe shares, about 0.1 s each: a Go process holds dozens (a probe
// on every return instruction), so stopping an agent that followed six Go services took 25 s. A
// multi link waits once for all its offsets, and multi links detach side by side.
#pragma once

#include <cstdint>
#include <span>
#include <string>

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

// Attaches `program` at `offsets` of the file `path` for process `pid` only, as one link: its fd,
// or -errno.
int attach_uprobe_multi(const bpf_program* program, uint32_t pid, const std::string& path,
                        std::span<const uint64_t> offsets);

}  // namespace hodos::agent
