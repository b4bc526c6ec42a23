#include "agent/features.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <linux/capability.h>
#include <linux/perf_event.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "agent/libbpf_log.h"
#include "agent/unique_fd.h"
#include "agent/uprobe_multi.h"

// A function for the uprobe probe to attach to; extern "C" and not inlined so it has an address
// in this executable's text.
extern "C" __attribute__((noinline, used)) void hodos_feature_probe_uprobe_target() {
  asm volatile("");
}

namespace hodos::agent {

namespace {

// The kernel function the fentry and kprobe probes attach to: present in every kernel the agent
// supports, and the function a future fentry capture would use.
constexpr const char* kKernelFunction = "tcp_sendmsg";

std::string errno_text(int error) { return std::strerror(error < 0 ? -error : error); }

// ---- tiny programs --------------------------------------------------------------------------

bpf_insn mov_r0(int32_t value) {
  bpf_insn insn = {};
  insn.code = BPF_ALU64 | BPF_MOV | BPF_K;
  insn.dst_reg = BPF_REG_0;
  insn.imm = value;
  return insn;
}

bpf_insn exit_insn() {
  bpf_insn insn = {};
  insn.code = BPF_JMP | BPF_EXIT;
  return insn;
}

// `return value;`
std::vector<bpf_insn> return_program(int32_t value) { return {mov_r0(value), exit_insn()}; }

// bpf_probe_write_user(NULL, <8 zero bytes on the stack>, 8); return 0;
std::vector<bpf_insn> probe_write_user_program() {
  std::vector<bpf_insn> p(6);
  p[0].code = BPF_ST | BPF_MEM | BPF_DW;  // *(u64 *)(r10 - 8) = 0
  p[0].dst_reg = BPF_REG_10;
  p[0].off = -8;
  p[1].code = BPF_ALU64 | BPF_MOV | BPF_X;  // r2 = r10
  p[1].dst_reg = BPF_REG_2;
  p[1].src_reg = BPF_REG_10;
  p[2].code = BPF_ALU64 | BPF_ADD | BPF_K;  // r2 += -8
  p[2].dst_reg = BPF_REG_2;
  p[2].imm = -8;
  p[3].code = BPF_ALU64 | BPF_MOV | BPF_K;  // r3 = 8
  p[3].dst_reg = BPF_REG_3;
  p[3].imm = 8;
  p[4].code = BPF_ALU64 | BPF_MOV | BPF_K;  // r1 = 0
  p[4].dst_reg = BPF_REG_1;
  p[5].code = BPF_JMP | BPF_CALL;
  p[5].imm = BPF_FUNC_probe_write_user;
  p.push_back(mov_r0(0));
  p.push_back(exit_insn());
  return p;
}

// The verifier's reason, without its statistics lines.
std::string verifier_reason(const char* log) {
  std::istringstream lines(log);
  std::string line, reason;
  while (std::getline(lines, line)) {
    if (line.empty() || line.starts_with("processed ") || line.starts_with("verification time")) {
      continue;
    }
    reason = line;
  }
  return reason;
}

struct Loaded {
  UniqueFd fd;
  std::string error;  // set when fd is invalid
};

Loaded load_program(bpf_prog_type type, const std::vector<bpf_insn>& insns,
                    bpf_prog_load_opts opts = {}) {
  char log[4096] = {};
  opts.sz = sizeof(opts);
  opts.log_buf = log;  // with log_level 0, libbpf asks for the log only when the load fails
  opts.log_size = sizeof(log);
  int fd = bpf_prog_load(type, nullptr, "GPL", insns.data(), insns.size(), &opts);
  if (fd >= 0) return {UniqueFd(fd), {}};
  int error = errno;
  std::string reason = verifier_reason(log);
  return {UniqueFd(),
          reason.empty() ? fmt::format("program load refused: {}", errno_text(error))
                         : fmt::format("program load refused: {} ({})", errno_text(error), reason)};
}

FeatureProbe feature(std::string name, bool required, std::string consequence) {
  FeatureProbe f;
  f.name = std::move(name);
  f.required = required;
  f.consequence = std::move(consequence);
  return f;
}

FeatureProbe& ok(FeatureProbe& f, std::string detail) {
  f.available = true;
  f.detail = std::move(detail);
  return f;
}

FeatureProbe& missing(FeatureProbe& f, std::string detail) {
  f.available = false;
  f.detail = std::move(detail);
  return f;
}

// The PMU type number of a dynamic perf event source (kprobe, uprobe).
std::optional<__u32> perf_event_source_type(const char* source) {
  std::ifstream in(fmt::format("/sys/bus/event_source/devices/{}/type", source));
  __u32 type = 0;
  if (!(in >> type)) return std::nullopt;
  return type;
}

// ---- the probes ------------------------------------------------------------------------------

struct VmlinuxBtf {
  void operator()(btf* b) const { btf__free(b); }
};
using BtfPtr = std::unique_ptr<btf, VmlinuxBtf>;

FeatureProbe probe_btf(const BtfPtr& vmlinux, int load_error) {
  FeatureProbe f = feature("btf", true,
                           "the agent's CO-RE programs cannot adapt to this kernel: no agent "
                           "(needs a kernel built with CONFIG_DEBUG_INFO_BTF=y)");
  if (!vmlinux)
    return missing(f, fmt::format("no usable /sys/kernel/btf/vmlinux: {}", errno_text(load_error)));
  return ok(f, fmt::format("/sys/kernel/btf/vmlinux, {} types", btf__type_cnt(vmlinux.get())));
}

FeatureProbe probe_ringbuf() {
  FeatureProbe f =
      feature("ringbuf", true, "no channel for kernel events: no agent (needs Linux 5.8 or later)");
  int fd = bpf_map_create(BPF_MAP_TYPE_RINGBUF, "hodos_probe", 0, 0, getpagesize(), nullptr);
  if (fd < 0) return missing(f, fmt::format("ring buffer map refused: {}", errno_text(errno)));
  UniqueFd map(fd);
  return ok(f, "created a ring buffer map");
}

// A BTF-typed tracing program (tp_btf or fentry) attached to the kernel type or function `target`.
FeatureProbe& probe_btf_tracing(FeatureProbe& f, const BtfPtr& vmlinux, const char* target,
                                __u32 btf_kind, bpf_attach_type attach_type, const char* what) {
  if (!vmlinux) return missing(f, "needs kernel BTF (see btf)");
  int id = btf__find_by_name_kind(vmlinux.get(), target, btf_kind);
  if (id < 0) return missing(f, fmt::format("{} is not in the kernel BTF", target));
  bpf_prog_load_opts opts = {};
  opts.expected_attach_type = attach_type;
  opts.attach_btf_id = static_cast<__u32>(id);
  Loaded program = load_program(BPF_PROG_TYPE_TRACING, return_program(0), opts);
  if (!program.fd.valid()) return missing(f, program.error);
  int link = bpf_raw_tracepoint_open(nullptr, program.fd.get());
  if (link < 0) return missing(f, fmt::format("attach to {} refused: {}", what, errno_text(errno)));
  UniqueFd attached(link);
  return ok(f, fmt::format("attached a program to {}", what));
}

FeatureProbe probe_tp_btf(const BtfPtr& vmlinux) {
  FeatureProbe f =
      feature("tp_btf", true, "no syscall capture: no agent (needs Linux 5.5 or later with BTF)");
  return probe_btf_tracing(f, vmlinux, "btf_trace_sys_enter", BTF_KIND_TYPEDEF, BPF_TRACE_RAW_TP,
                           "the sys_enter tracepoint");
}

FeatureProbe probe_raw_tp() {
  FeatureProbe f = feature("raw_tp", false,
                           "none today (the agent attaches with tp_btf); raw_tp would be the "
                           "fallback where tp_btf is refused");
  Loaded program = load_program(BPF_PROG_TYPE_RAW_TRACEPOINT, return_program(0));
  if (!program.fd.valid()) return missing(f, program.error);
  int link = bpf_raw_tracepoint_open("sys_enter", program.fd.get());
  if (link < 0)
    return missing(f, fmt::format("attach to sys_enter refused: {}", errno_text(errno)));
  UniqueFd attached(link);
  return ok(f, "attached a program to the sys_enter raw tracepoint");
}

FeatureProbe probe_fentry(const BtfPtr& vmlinux) {
  FeatureProbe f = feature("fentry", false,
                           "no capture inside kernel TCP functions (cheaper on busy hosts); the "
                           "syscall tracepoints still capture the same traffic");
  return probe_btf_tracing(f, vmlinux, kKernelFunction, BTF_KIND_FUNC, BPF_TRACE_FENTRY,
                           fmt::format("fentry of {}", kKernelFunction).c_str());
}

long perf_event_open(perf_event_attr* attr, pid_t pid, int cpu) {
  return syscall(SYS_perf_event_open, attr, pid, cpu, -1, PERF_FLAG_FD_CLOEXEC);
}

// Attaches a kprobe-type program to a perf event of a dynamic PMU (kprobe or uprobe).
FeatureProbe& probe_perf_attach(FeatureProbe& f, perf_event_attr attr, pid_t pid, int cpu,
                                const std::string& what) {
  int event = static_cast<int>(perf_event_open(&attr, pid, cpu));
  if (event < 0) return missing(f, fmt::format("{} refused: {}", what, errno_text(errno)));
  UniqueFd event_fd(event);
  Loaded program = load_program(BPF_PROG_TYPE_KPROBE, return_program(0));
  if (!program.fd.valid()) return missing(f, program.error);
  if (ioctl(event_fd.get(), PERF_EVENT_IOC_SET_BPF, program.fd.get()) != 0) {
    return missing(
        f, fmt::format("attaching a program to the {} refused: {}", what, errno_text(errno)));
  }
  return ok(f, fmt::format("attached a program to a {}", what));
}

// Where `address` (in this process's executable mappings) lives in its file.
struct FileLocation {
  std::string path;
  uint64_t offset = 0;
};

std::optional<FileLocation> locate_in_file(uintptr_t address) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    uintptr_t start = 0, end = 0;
    unsigned long long file_offset = 0;
    char perms[8] = {};
    int path_at = 0;
    if (std::sscanf(line.c_str(), "%" SCNxPTR "-%" SCNxPTR " %7s %llx %*s %*s %n", &start, &end,
                    perms, &file_offset, &path_at) < 4) {
      continue;
    }
    if (address < start || address >= end || perms[2] != 'x' || path_at <= 0) continue;
    std::string path = line.substr(static_cast<size_t>(path_at));
    if (path.empty() || path[0] != '/') return std::nullopt;
    return FileLocation{path, address - start + file_offset};
  }
  return std::nullopt;
}

FeatureProbe probe_uprobes() {
  FeatureProbe f = feature("uprobes", false,
                           "no capture inside TLS libraries (encrypted traffic stays opaque) and "
                           "no goroutine-exact parenting for Go services");
  std::optional<__u32> type = perf_event_source_type("uprobe");
  if (!type)
    return missing(f,
                   "the kernel has no uprobe event source (/sys/bus/event_source/devices/uprobe)");
  auto address = reinterpret_cast<uintptr_t>(&hodos_feature_probe_uprobe_target);
  std::optional<FileLocation> target = locate_in_file(address);
  if (!target) return missing(f, "could not find the probe function in this executable's mappings");
  perf_event_attr attr = {};
  attr.size = sizeof(attr);
  attr.type = *type;
  attr.config1 = reinterpret_cast<uintptr_t>(target->path.c_str());
  attr.config2 = target->offset;
  return probe_perf_attach(f, attr, 0, -1, "uprobe on a function of this executable");
}

FeatureProbe probe_uprobe_multi() {
  FeatureProbe f = feature("uprobe_multi", false,
                           "uprobes are one link per instruction (dozens per Go service): each "
                           "takes about 0.1 s to detach, one after another (tens of seconds to "
                           "stop an agent that followed a few services)");
  const std::string& why = uprobe_multi_missing();
  if (!why.empty()) return missing(f, why);
  return ok(f,
            "attached an uprobe_multi link (one link for all of a program's offsets in a binary)");
}

FeatureProbe probe_kprobes() {
  FeatureProbe f = feature("kprobes", false, "none: Hodos does not use kprobes");
  std::optional<__u32> type = perf_event_source_type("kprobe");
  if (!type)
    return missing(f,
                   "the kernel has no kprobe event source (/sys/bus/event_source/devices/kprobe)");
  perf_event_attr attr = {};
  attr.size = sizeof(attr);
  attr.type = *type;
  attr.config1 = reinterpret_cast<uintptr_t>(kKernelFunction);
  return probe_perf_attach(f, attr, -1, 0, fmt::format("kprobe on {}", kKernelFunction));
}

std::optional<std::string> cgroup2_mount() {
  std::ifstream mounts("/proc/self/mounts");
  std::string device, dir, type;
  std::string rest;
  while (mounts >> device >> dir >> type && std::getline(mounts, rest)) {
    if (type == "cgroup2") return dir;
  }
  return std::nullopt;
}

// A cgroup made for the probe, so attaching touches no process; removed on scope exit.
class ProbeCgroup {
 public:
  explicit ProbeCgroup(const std::string& mount)
      : path_(fmt::format("{}/hodos-feature-probe-{}", mount, getpid())) {
    if (mkdir(path_.c_str(), 0755) != 0 && errno != EEXIST) {
      error_ = errno_text(errno);
      return;
    }
    created_ = true;
    fd_ = UniqueFd(::open(path_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd_.valid()) error_ = errno_text(errno);
  }
  ~ProbeCgroup() {
    fd_.reset();
    if (created_) rmdir(path_.c_str());
  }
  int fd() const { return fd_.get(); }
  const std::string& path() const { return path_; }
  const std::string& error() const { return error_; }

 private:
  std::string path_;
  std::string error_;
  bool created_ = false;
  UniqueFd fd_;
};

FeatureProbe probe_sockops_sk_msg() {
  FeatureProbe f = feature("sockops+sk_msg", false,
                           "no traceparent injection: services' spans are joined by connection "
                           "and time only, not by a propagated trace id");
  std::optional<std::string> mount = cgroup2_mount();
  if (!mount) return missing(f, "no cgroup v2 hierarchy is mounted (sockops attaches to a cgroup)");
  ProbeCgroup cgroup(*mount);
  if (!cgroup.error().empty()) {
    return missing(
        f, fmt::format("cannot create the probe cgroup {}: {}", cgroup.path(), cgroup.error()));
  }
  Loaded sockops = load_program(BPF_PROG_TYPE_SOCK_OPS, return_program(1));
  if (!sockops.fd.valid()) return missing(f, "sockops " + sockops.error);
  int link = bpf_link_create(sockops.fd.get(), cgroup.fd(), BPF_CGROUP_SOCK_OPS, nullptr);
  if (link < 0)
    return missing(f, fmt::format("attaching sockops to a cgroup refused: {}", errno_text(errno)));
  UniqueFd sockops_link(link);

  int map = bpf_map_create(BPF_MAP_TYPE_SOCKHASH, "hodos_probe", sizeof(uint64_t), sizeof(uint32_t),
                           1, nullptr);
  if (map < 0) return missing(f, fmt::format("sockhash map refused: {}", errno_text(errno)));
  UniqueFd sockhash(map);
  Loaded sk_msg = load_program(BPF_PROG_TYPE_SK_MSG, return_program(1));  // SK_PASS
  if (!sk_msg.fd.valid()) return missing(f, "sk_msg " + sk_msg.error);
  if (bpf_prog_attach(sk_msg.fd.get(), sockhash.get(), BPF_SK_MSG_VERDICT, 0) != 0) {
    return missing(f, fmt::format("attaching sk_msg to a sockhash refused: {}", errno_text(errno)));
  }
  bpf_prog_detach2(sk_msg.fd.get(), sockhash.get(), BPF_SK_MSG_VERDICT);
  return ok(f,
            fmt::format("attached sockops to a cgroup under {} and sk_msg to a sockhash", *mount));
}

FeatureProbe probe_write_user() {
  FeatureProbe f = feature("probe_write_user", false,
                           "none: Hodos never writes into process memory (trace context is "
                           "injected with sk_msg)");
  Loaded program = load_program(BPF_PROG_TYPE_KPROBE, probe_write_user_program());
  if (!program.fd.valid()) {
    // Lockdown removes the helper; its mode is readable only where securityfs is mounted.
    bool helper_refused = program.error.find("bpf_probe_write_user") != std::string::npos;
    if (!helper_refused) return missing(f, program.error);
    std::ifstream lockdown("/sys/kernel/security/lockdown");
    std::string mode;
    std::getline(lockdown, mode);
    return missing(f, program.error + (mode.empty() ? "; kernel lockdown forbids it"
                                                    : fmt::format("; kernel lockdown: {}", mode)));
  }
  return ok(f, "a program calling bpf_probe_write_user loaded");
}

bool has_capability(const __user_cap_data_struct (&data)[2], int capability) {
  return (data[capability / 32].effective & (1u << (capability % 32))) != 0;
}

}  // namespace

FeatureProbe probe_privileges() {
  FeatureProbe f = feature("privileges", true,
                           "the agent cannot load eBPF programs: run as root or grant CAP_BPF, "
                           "CAP_PERFMON and CAP_NET_ADMIN; `hodos up` then runs without the agent");
  __user_cap_header_struct header = {};
  header.version = _LINUX_CAPABILITY_VERSION_3;
  __user_cap_data_struct data[2] = {};
  if (syscall(SYS_capget, &header, data) != 0) {
    return missing(f,
                   fmt::format("cannot read this process's capabilities: {}", errno_text(errno)));
  }
  bool sys_admin = has_capability(data, CAP_SYS_ADMIN);
  bool bpf = has_capability(data, CAP_BPF);
  bool perfmon = has_capability(data, CAP_PERFMON);
  bool net_admin = has_capability(data, CAP_NET_ADMIN);
  std::string held;
  for (auto [name, has] :
       {std::pair{"CAP_SYS_ADMIN", sys_admin}, std::pair{"CAP_BPF", bpf},
        std::pair{"CAP_PERFMON", perfmon}, std::pair{"CAP_NET_ADMIN", net_admin}}) {
    if (has) held += held.empty() ? name : std::string(" ") + name;
  }
  std::string who = geteuid() == 0 ? "root" : fmt::format("uid {}", geteuid());
  if (held.empty()) held = "none of CAP_SYS_ADMIN, CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN";
  if (sys_admin || (bpf && perfmon)) return ok(f, fmt::format("{}, {}", who, held));
  return missing(f, fmt::format("{}, capabilities: {}", who, held));
}

FeatureReport probe_kernel_features() {
  install_libbpf_logging();
  FeatureReport report;
  report.features.push_back(probe_privileges());
  errno = 0;
  BtfPtr vmlinux(btf__load_vmlinux_btf());
  int btf_error = errno;
  report.features.push_back(probe_btf(vmlinux, btf_error));
  report.features.push_back(probe_ringbuf());
  report.features.push_back(probe_tp_btf(vmlinux));
  report.features.push_back(probe_raw_tp());
  report.features.push_back(probe_fentry(vmlinux));
  report.features.push_back(probe_uprobes());
  report.features.push_back(probe_uprobe_multi());
  report.features.push_back(probe_sockops_sk_msg());
  report.features.push_back(probe_kprobes());
  report.features.push_back(probe_write_user());
  return report;
}

bool FeatureReport::agent_can_run() const {
  for (const FeatureProbe& f : features) {
    if (f.required && !f.available) return false;
  }
  return true;
}

const FeatureProbe* FeatureReport::find(const std::string& name) const {
  for (const FeatureProbe& f : features) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

}  // namespace hodos::agent
