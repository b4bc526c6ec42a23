#include "agent/uprobe_multi.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <fmt/format.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#include "agent/elf_symbols.h"
#include "agent/unique_fd.h"

namespace hodos::agent {

namespace {

// Linux 6.6's values; the headers this builds with (Linux 6.1, libbpf 1.1) predate them.
constexpr uint32_t kTraceUprobeMulti = 48;  // enum bpf_attach_type: BPF_TRACE_UPROBE_MULTI
constexpr uint32_t kUprobeMultiReturn = 1;  // BPF_F_UPROBE_MULTI_RETURN

// BPF_LINK_CREATE's attributes for an uprobe_multi link, laid out as in union bpf_attr.
struct UprobeMultiLinkAttr {
  uint32_t prog_fd = 0;
  uint32_t target_fd = 0;
  uint32_t attach_type = kTraceUprobeMulti;
  uint32_t flags = 0;
  uint64_t path = 0;  // a NUL-terminated path
  uint64_t offsets = 0;
  uint64_t ref_ctr_offsets = 0;
  uint64_t cookies = 0;
  uint32_t cnt = 0;
  uint32_t multi_flags = 0;  // kUprobeMultiReturn
  uint32_t pid = 0;
  uint32_t pad = 0;
};

int link_create(const UprobeMultiLinkAttr& attr) {
  const long fd = syscall(SYS_bpf, BPF_LINK_CREATE, &attr, sizeof(attr));
  return fd < 0 ? -errno : static_cast<int>(fd);
}

// "6.18.44-..." as {6, 18}.
std::pair<int, int> kernel_version() {
  utsname name = {};
  int major = 0, minor = 0;
  if (uname(&name) != 0 || std::sscanf(name.release, "%d.%d", &major, &minor) != 2) return {0, 0};
  return {major, minor};
}

std::string check_uprobe_multi() {
  const auto [major, minor] = kernel_version();
  if (major < 6 || (major == 6 && minor < 10)) {
    return fmt::format("Linux {}.{}: uprobe_multi links filtered by process need 6.10", major,
                       minor);
  }
  // "r0 = 0; exit", loaded for uprobe_multi links.
  const bpf_insn program[] = {
      {BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0},
      {BPF_JMP | BPF_EXIT, 0, 0, 0, 0},
  };
  LIBBPF_OPTS(bpf_prog_load_opts, opts,
              .expected_attach_type = static_cast<bpf_attach_type>(kTraceUprobeMulti));
  UniqueFd prog(bpf_prog_load(BPF_PROG_TYPE_KPROBE, "hodos_umulti", "GPL", program, 2, &opts));
  if (!prog.valid()) {
    return fmt::format("a program for uprobe_multi links did not load: {}", std::strerror(errno));
  }
  // A file nobody maps: the probe is registered, never placed in a process.
  char path[] = "/tmp/hodos-uprobe-multi-XXXXXX";
  UniqueFd file(mkstemp(path));
  if (!file.valid()) return fmt::format("cannot make a file to probe: {}", std::strerror(errno));
  unlink(path);
  if (write(file.get(), "\xc3", 1) != 1) {  // one instruction: ret
    return fmt::format("cannot write a file to probe: {}", std::strerror(errno));
  }
  const std::string by_fd = "/proc/self/fd/" + std::to_string(file.get());
  const uint64_t offset = 0;
  UprobeMultiLinkAttr attr;
  attr.prog_fd = static_cast<uint32_t>(prog.get());
  attr.path = reinterpret_cast<uint64_t>(by_fd.c_str());
  attr.offsets = reinterpret_cast<uint64_t>(&offset);
  attr.cnt = 1;
  attr.pid = static_cast<uint32_t>(getpid());
  const int link = link_create(attr);
  if (link < 0) {
    return fmt::format("the kernel refused an uprobe_multi link: {}", std::strerror(-link));
  }
  close(link);
  return {};
}

}  // namespace

const std::string& uprobe_multi_missing() {
  static const std::string missing = check_uprobe_multi();
  return missing;
}

void use_uprobe_multi(bpf_program* program) {
  bpf_program__set_expected_attach_type(program, static_cast<bpf_attach_type>(kTraceUprobeMulti));
}

bool uses_uprobe_multi(const bpf_program* program) {
  return static_cast<uint32_t>(bpf_program__expected_attach_type(program)) == kTraceUprobeMulti;
}

int attach_uprobe_multi(const bpf_program* program, uint32_t pid, const std::string& path,
                        std::span<const uint64_t> offsets, bool at_return) {
  if (offsets.empty()) return -EINVAL;
  UprobeMultiLinkAttr attr;
  attr.prog_fd = static_cast<uint32_t>(bpf_program__fd(program));
  attr.path = reinterpret_cast<uint64_t>(path.c_str());
  attr.offsets = reinterpret_cast<uint64_t>(offsets.data());
  attr.cnt = static_cast<uint32_t>(offsets.size());
  attr.pid = pid;
  if (at_return) attr.multi_flags = kUprobeMultiReturn;
  return link_create(attr);
}

FunctionLinks attach_functions(uint32_t pid, const std::string& path,
                               std::span<const FunctionProbe> probes) {
  FunctionLinks out;
  std::vector<std::string_view> names;
  for (const FunctionProbe& probe : probes) {
    // An entry and a return probe name the same function: looked up once.
    if (std::find(names.begin(), names.end(), probe.function) == names.end()) {
      names.push_back(probe.function);
    }
  }
  const FunctionOffsets offsets = function_offsets(path, names);
  if (!offsets.error.empty()) {
    out.error = offsets.error;
    return out;
  }
  // One link per program and side, with every function it goes on.
  struct Group {
    const bpf_program* program;
    bool at_return;
    std::vector<uint64_t> offsets;
  };
  std::vector<Group> groups;
  for (const FunctionProbe& probe : probes) {
    auto found = offsets.found.find(probe.function);
    if (found == offsets.found.end()) {
      if (probe.optional) continue;
      out.error = fmt::format("{}: no function {} in its symbols", path, probe.function);
      return out;
    }
    auto group = std::find_if(groups.begin(), groups.end(), [&](const Group& g) {
      return g.program == probe.program && g.at_return == probe.at_return;
    });
    if (group == groups.end()) group = groups.insert(groups.end(), {probe.program, probe.at_return, {}});
    group->offsets.push_back(found->second);
  }
  for (const Group& group : groups) {
    const int fd = attach_uprobe_multi(group.program, pid, path, group.offsets, group.at_return);
    if (fd < 0) {
      out.links.clear();
      out.error = fmt::format("{}: the kernel refused an uprobe_multi link: {}", path,
                              std::strerror(-fd));
      return out;
    }
    out.links.push_back(ProcessLinks::Link::from_fd(fd));
  }
  return out;
}

}  // namespace hodos::agent
