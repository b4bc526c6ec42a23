#include "agent/go_probe.h"

#include <bpf/libbpf.h>
#include <fmt/format.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "agent/libbpf_log.h"
#include "agent/socket_probe.h"
#include "agent/uprobe_multi.h"

namespace hodos::agent {

namespace {

// The architecture the kernel programs were built for: they read that ABI's registers.
#if defined(__x86_64__)
constexpr const char* kHostArch = "amd64";
#elif defined(__aarch64__)
constexpr const char* kHostArch = "arm64";
#else
constexpr const char* kHostArch = "";
#endif

}  // namespace

GoProbe::GoProbe(SocketProbe& probe, bool tls, std::string proc_root)
    : probe_(probe), tls_(tls), proc_root_(std::move(proc_root)) {}

GoProbe::~GoProbe() {
  // The kernel's state goes with the links: a process left in goroutine-context mode without
  // its uprobes would keep contexts nobody hands on.
  for (uint32_t pid : links_.pids()) probe_.clear_goroutine_context(pid);
}

std::shared_ptr<const GoProbePlan> GoProbe::plan_for(const std::string& path,
                                                        const Executable& executable) {
  {
    std::lock_guard lock(plans_mu_);
    if (auto it = plans_.find(executable); it != plans_.end()) return it->second;
  }
  std::string error;
  std::optional<GoBinary> binary =
      analyze_go_binary(path, go_probe_functions(), go_probe_fields(), &error);
  auto plan = std::make_shared<GoProbePlan>();
  if (binary) {
    *plan = plan_go_probes(std::move(*binary), kHostArch);
  } else {
    plan->error = error;
  }
  std::lock_guard lock(plans_mu_);
  return plans_.try_emplace(executable, std::move(plan)).first->second;
}

GoAttachResult GoProbe::attach(uint32_t pid) {
  const std::string path = fmt::format("{}/{}/exe", proc_root_, pid);
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) {
    detach(pid);
    return {false, "", fmt::format("cannot read its executable: {}", std::strerror(errno)), ""};
  }
  const Executable executable{st.st_dev, st.st_ino};
  const std::shared_ptr<const GoProbePlan> plan = plan_for(path, executable);
  if (!plan->error.empty()) {
    detach(pid);
    return {false, plan->target, plan->error, ""};
  }
  const std::string target = fmt::format("{}:{}", executable.device, executable.inode);
  if (!links_.holds(pid, target)) {
    detach(pid);
    const SocketProbe::GoPrograms p = probe_.go_programs();
    const auto program_of = [&p](GoProgram program) -> bpf_program* {
      switch (program) {
        case GoProgram::kNewproc1: return p.newproc1;
        case GoProgram::kNewproc1Return: return p.newproc1_return;
        case GoProgram::kRoundTrip: return p.round_trip;
        case GoProgram::kRequestWrite: return p.request_write;
        case GoProgram::kGrpcServerHeaders: return p.grpc_server_headers;
        case GoProgram::kHttp2ServerHeaders: return p.http2_server_headers;
        case GoProgram::kH2ContextDone: return p.h2_context_done;
        case GoProgram::kGrpcNewStreamReturn: return p.grpc_new_stream_return;
        case GoProgram::kGrpcStreamMade: return p.grpc_stream_made;
        case GoProgram::kGrpcOriginateStream: return p.grpc_originate_stream;
        case GoProgram::kTlsRead: return p.tls_read;
        case GoProgram::kTlsWrite: return p.tls_write;
        case GoProgram::kTlsReturn: return p.tls_return;
      }
      return nullptr;
    };
    const GoBinary& b = *plan->binary;
    LibbpfLogCapture log;
    // Each program's offsets, in the plan's order of programs.
    std::vector<std::pair<GoProgram, std::vector<uint64_t>>> offsets_of;
    for (const GoProbeSite& site : plan->sites) {
      const bool tls_site = site.program == GoProgram::kTlsRead ||
                            site.program == GoProgram::kTlsWrite ||
                            site.program == GoProgram::kTlsReturn;
      if (tls_site && !tls_) continue;  // agent.capture.tls: false
      const GoFunction& function = b.functions.at(site.function);
      auto it = std::find_if(offsets_of.begin(), offsets_of.end(),
                             [&](const auto& entry) { return entry.first == site.program; });
      if (it == offsets_of.end()) it = offsets_of.insert(it, {site.program, {}});
      if (site.at_returns) {
        it->second.insert(it->second.end(), function.return_offsets.begin(),
                          function.return_offsets.end());
      } else {
        it->second.push_back(function.entry_offset);
      }
    }
    const auto refused = [&](int err, GoProgram program, uint64_t offset) -> GoAttachResult {
      // Name the function and the offset in it, for a user who reports it.
      for (const GoProbeSite& site : plan->sites) {
        if (site.program != program) continue;
        const GoFunction& function = b.functions.at(site.function);
        if (offset >= function.entry_offset &&
            (site.at_returns ? std::find(function.return_offsets.begin(),
                                         function.return_offsets.end(),
                                         offset) != function.return_offsets.end()
                             : offset == function.entry_offset)) {
          return {false, plan->target,
                  fmt::format("the kernel refused a uprobe on {}+{:#x}: {}", site.function,
                              offset - function.entry_offset, std::strerror(err)),
                  ""};
        }
      }
      return {false, plan->target,
              fmt::format("the kernel refused a uprobe at {:#x}: {}", offset, std::strerror(err)),
              ""};
    };
    std::vector<ProcessLinks::Link> links;
    for (const auto& [program, offsets] : offsets_of) {
      bpf_program* bpf = program_of(program);
      if (uses_uprobe_multi(bpf)) {
        const int fd = attach_uprobe_multi(bpf, pid, path, offsets);
        if (fd < 0) return refused(-fd, program, offsets.front());
        links.push_back(ProcessLinks::Link::from_fd(fd));
        continue;
      }
      for (uint64_t offset : offsets) {
        LIBBPF_OPTS(bpf_uprobe_opts, opts, .retprobe = false);
        bpf_link* link = bpf_program__attach_uprobe_opts(bpf, static_cast<pid_t>(pid),
                                                         path.c_str(), offset, &opts);
        if (link == nullptr) return refused(errno, program, offset);
        links.emplace_back(link);
      }
    }
    links_.put(pid, target, std::move(links));
  }
  // Again each time: exec (into the same file) and a change of mode clear it in the kernel.
  try {
    hodos_go_process go = plan->go;
    if (!tls_) go.probes &= ~HODOS_GO_TLS;  // agent.capture.tls: false
    // A new process, or one that ran exec: what the kernel kept under its goroutine ids belongs
    // to a program that no longer runs.
    if (!probe_.has_goroutine_context(pid)) probe_.forget_goroutines(pid);
    probe_.set_goroutine_context(pid, go);
  } catch (const std::exception& e) {
    detach(pid);
    return {false, plan->target, e.what(), ""};
  }
  return {true, plan->target, plan->caveat, tls_ ? plan->tls_state : ""};
}

void GoProbe::detach(uint32_t pid) {
  if (links_.drop(pid)) probe_.clear_goroutine_context(pid);
}

bool GoProbe::is_attached(uint32_t pid) const { return links_.contains(pid); }

size_t GoProbe::processes() const { return links_.size(); }

}  // namespace hodos::agent
