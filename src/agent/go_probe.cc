#include "agent/go_probe.h"

#include <bpf/libbpf.h>
#include <fmt/format.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "agent/libbpf_log.h"
#include "agent/socket_probe.h"

namespace hodos::agent {

namespace {

constexpr const char* kNewproc1 = "runtime.newproc1";
constexpr const char* kRoundTrip = "net/http.(*persistConn).roundTrip";
constexpr const char* kRequestWrite = "net/http.(*Request).write";
constexpr const char* kGoid = "runtime.g.goid";
constexpr const char* kStack = "runtime.g.stack";

// The architecture the kernel programs were built for: they read that ABI's registers.
#if defined(__x86_64__)
constexpr const char* kHostArch = "amd64";
#elif defined(__aarch64__)
constexpr const char* kHostArch = "arm64";
#else
constexpr const char* kHostArch = "";
#endif

std::string describe(const GoBinary& binary) {
  if (binary.dwarf) return binary.go_version + ", DWARF";
  std::string source;
  if (auto it = binary.offset_sources.find(kGoid); it != binary.offset_sources.end()) {
    source = ", offsets from the " + it->second;
  }
  return fmt::format("{}, {}{}", binary.go_version,
                     binary.symtab ? "no DWARF" : "stripped: functions from pclntab", source);
}

}  // namespace

void GoProbe::LinkDeleter::operator()(bpf_link* link) const { bpf_link__destroy(link); }

GoProbe::GoProbe(SocketProbe& probe, std::string proc_root)
    : probe_(probe), proc_root_(std::move(proc_root)) {}

GoProbe::~GoProbe() {
  // The kernel's state goes with the links: a process left in goroutine-context mode without
  // its uprobes would keep contexts nobody hands on.
  for (const auto& [pid, attached] : attached_) probe_.clear_goroutine_context(pid);
}

std::shared_ptr<const GoProbe::Plan> GoProbe::plan_for(const std::string& path,
                                                        const Executable& executable) {
  {
    std::lock_guard lock(mu_);
    if (auto it = plans_.find(executable); it != plans_.end()) return it->second;
  }
  auto plan = std::make_shared<Plan>();
  std::string error;
  plan->binary = analyze_go_binary(path, {kNewproc1, kRoundTrip, kRequestWrite}, {kGoid, kStack},
                                   &error);
  if (!plan->binary) {
    plan->error = error;
  } else {
    const GoBinary& b = *plan->binary;
    plan->target = describe(b);
    const auto version = parse_go_version(b.go_version);
    const auto newproc1 = b.functions.find(kNewproc1);
    const auto goid = b.offsets.find(kGoid);
    const auto stack = b.offsets.find(kStack);
    if (b.arch != kHostArch) {
      plan->error = fmt::format("a {} binary on a {} agent", b.arch, kHostArch);
    } else if (!version || version->second < 18) {
      plan->error = fmt::format("{} is not supported (Go 1.18 or newer is)", b.go_version);
    } else if (goid == b.offsets.end() || stack == b.offsets.end()) {
      // A Go newer than the table, without DWARF: a guessed offset would read garbage.
      plan->error = fmt::format("the goroutine id's place in {} is not known without DWARF "
                                "(build without -ldflags=-w, or upgrade Hodos)",
                                b.go_version);
    } else if (newproc1 == b.functions.end() || newproc1->second.return_offsets.empty()) {
      plan->error = "runtime.newproc1 (or its return) was not found in the executable";
    } else {
      plan->goid_offset = static_cast<uint32_t>(goid->second);
      plan->stack_offset = static_cast<uint32_t>(stack->second);
      if (!b.functions.contains(kRoundTrip) || !b.functions.contains(kRequestWrite)) {
        plan->caveat = "no net/http client in the executable: its outgoing calls get no traceparent";
      }
    }
  }
  std::lock_guard lock(mu_);
  return plans_.try_emplace(executable, std::move(plan)).first->second;
}

GoAttachResult GoProbe::attach(uint32_t pid) {
  const std::string path = fmt::format("{}/{}/exe", proc_root_, pid);
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) {
    detach(pid);
    return {false, "", fmt::format("cannot read its executable: {}", std::strerror(errno))};
  }
  const Executable executable{st.st_dev, st.st_ino};
  const std::shared_ptr<const Plan> plan = plan_for(path, executable);
  if (!plan->error.empty()) {
    detach(pid);
    return {false, plan->target, plan->error};
  }
  bool kept = false;
  {
    std::lock_guard lock(mu_);
    auto it = attached_.find(pid);
    kept = it != attached_.end() && !(it->second.executable < executable) &&
           !(executable < it->second.executable);
  }
  if (!kept) {
    detach(pid);
    const SocketProbe::GoPrograms p = probe_.go_programs();
    const GoBinary& b = *plan->binary;
    struct Point {
      const char* function;
      bpf_program* program;
      bool at_returns;
    };
    const Point points[] = {{kNewproc1, p.newproc1, false},
                            {kNewproc1, p.newproc1_return, true},
                            {kRoundTrip, p.round_trip, false},
                            {kRequestWrite, p.request_write, false}};
    LibbpfLogCapture log;
    Attached attached{executable, {}};
    for (const Point& point : points) {
      auto function = b.functions.find(point.function);
      if (function == b.functions.end()) continue;  // the client side is optional (caveat)
      std::vector<uint64_t> offsets = point.at_returns ? function->second.return_offsets
                                                       : std::vector{function->second.entry_offset};
      for (uint64_t offset : offsets) {
        LIBBPF_OPTS(bpf_uprobe_opts, opts, .retprobe = false);
        bpf_link* link = bpf_program__attach_uprobe_opts(point.program, static_cast<pid_t>(pid),
                                                         path.c_str(), offset, &opts);
        if (link == nullptr) {
          const int err = errno;
          return {false, plan->target,
                  fmt::format("the kernel refused a uprobe on {}+{:#x}: {}", point.function,
                              offset - function->second.entry_offset, std::strerror(err))};
        }
        attached.links.emplace_back(link);
      }
    }
    std::lock_guard lock(mu_);
    attached_.insert_or_assign(pid, std::move(attached));
  }
  // Again each time: exec (into the same file) and a change of mode clear it in the kernel.
  try {
    probe_.set_goroutine_context(pid, plan->goid_offset, plan->stack_offset);
  } catch (const std::exception& e) {
    detach(pid);
    return {false, plan->target, e.what()};
  }
  return {true, plan->target, plan->caveat};
}

void GoProbe::detach(uint32_t pid) {
  Attached gone;
  {
    std::lock_guard lock(mu_);
    auto it = attached_.find(pid);
    if (it == attached_.end()) return;
    gone = std::move(it->second);
    attached_.erase(it);
  }
  probe_.clear_goroutine_context(pid);
  // The links go with `gone`, outside the lock: detaching a uprobe waits for the kernel.
}

bool GoProbe::is_attached(uint32_t pid) const {
  std::lock_guard lock(mu_);
  return attached_.contains(pid);
}

size_t GoProbe::processes() const {
  std::lock_guard lock(mu_);
  return attached_.size();
}

}  // namespace hodos::agent
