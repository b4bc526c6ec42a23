#include "agent/event_loop_probe.h"

#include <bpf/libbpf.h>
#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <utility>
#include <vector>

#include "agent/libbpf_log.h"
#include "agent/socket_probe.h"
#include "agent/uprobe_multi.h"

namespace hodos::agent {

namespace {

// The nginx function called with the client's request when it starts proxying it: the upstream
// connection is opened, and its request usually written, before it returns.
constexpr const char* kNginxUpstreamInit = "ngx_http_upstream_init";

}  // namespace

EventLoopProbe::EventLoopProbe(SocketProbe& probe, std::string proc_root)
    : probe_(probe), proc_root_(std::move(proc_root)) {}

EventLoopProbe::~EventLoopProbe() = default;

EventLoopAttachResult EventLoopProbe::attach(uint32_t pid, const RuntimeInfo& runtime) {
  if (runtime.runtime != Runtime::kNginx) {
    detach(pid);
    return {false, "", "not an event loop Hodos follows"};
  }
  const std::string exe = fmt::format("{}/{}/exe", proc_root_, pid);
  std::error_code ec;
  // The executable's identity: a process that ran exec into another nginx gets new probes.
  const std::string executable = std::filesystem::read_symlink(exe, ec).string();
  if (ec) return {false, "", fmt::format("cannot read {}: {}", exe, ec.message())};
  const std::string target =
      fmt::format("nginx{}{} ({})", runtime.version.empty() ? "" : " ", runtime.version,
                  kNginxUpstreamInit);
  if (links_.holds(pid, executable)) {
    // Again each time: exec (an nginx binary upgrade runs the same file) clears the mode bit.
    probe_.set_connection_context(pid, true);
    return {true, target, ""};
  }
  detach(pid);

  const SocketProbe::EventLoopPrograms programs = probe_.event_loop_programs();
  if (uses_uprobe_multi(programs.nginx_upstream_init)) {
    const FunctionProbe probes[] = {
        {kNginxUpstreamInit, programs.nginx_upstream_init, false, false},
        {kNginxUpstreamInit, programs.nginx_upstream_init_return, true, false},
    };
    FunctionLinks attached = attach_functions(pid, exe, probes);
    if (!attached.error.empty()) {
      return {false, target,
              fmt::format("cannot probe {}: {}", kNginxUpstreamInit, attached.error)};
    }
    links_.put(pid, executable, std::move(attached.links));
    probe_.set_connection_context(pid, true);
    return {true, target, ""};
  }
  LibbpfLogCapture log;
  std::vector<ProcessLinks::Link> links;
  for (const auto& [program, at_return] :
       {std::pair{programs.nginx_upstream_init, false},
        std::pair{programs.nginx_upstream_init_return, true}}) {
    LIBBPF_OPTS(bpf_uprobe_opts, opts, .retprobe = at_return, .func_name = kNginxUpstreamInit);
    bpf_link* link =
        bpf_program__attach_uprobe_opts(program, static_cast<pid_t>(pid), exe.c_str(), 0, &opts);
    if (link == nullptr) {
      // An nginx built without exported symbols (stripped of .dynsym) lands here.
      return {false, target,
              fmt::format("cannot probe {} in {}: {}", kNginxUpstreamInit, executable,
                          std::strerror(errno))};
    }
    links.emplace_back(link);
  }
  links_.put(pid, executable, std::move(links));
  probe_.set_connection_context(pid, true);
  return {true, target, ""};
}

void EventLoopProbe::detach(uint32_t pid) {
  if (links_.drop(pid)) probe_.set_connection_context(pid, false);
}

bool EventLoopProbe::is_attached(uint32_t pid) const { return links_.contains(pid); }

uint64_t EventLoopProbe::processes() const { return links_.size(); }

}  // namespace hodos::agent
