#include "agent/discovery.h"

#include <fnmatch.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

namespace hodos::agent {

namespace {

// "listens on TCP port 8080", "listens on TCP ports 80, 443" (a port listened on over IPv4 and
// IPv6 once), at most four and how many more.
std::string listening_ports_text(const std::vector<ListeningSocket>& listening) {
  std::vector<uint16_t> ports;
  for (const ListeningSocket& socket : listening) ports.push_back(socket.port);
  std::sort(ports.begin(), ports.end());
  ports.erase(std::unique(ports.begin(), ports.end()), ports.end());
  constexpr size_t kNamed = 4;
  std::string text = ports.size() == 1 ? "listens on TCP port " : "listens on TCP ports ";
  for (size_t i = 0; i < std::min(ports.size(), kNamed); ++i) {
    if (i > 0) text += ", ";
    text += std::to_string(ports[i]);
  }
  if (ports.size() > kNamed) text += " and " + std::to_string(ports.size() - kNamed) + " more";
  return text;
}

bool glob_matches(const std::string& pattern, std::string_view text) {
  return ::fnmatch(pattern.c_str(), std::string(text).c_str(), 0) == 0;
}

bool any_glob(const std::vector<std::string>& patterns, std::string_view text) {
  return std::any_of(patterns.begin(), patterns.end(),
                     [&](const std::string& p) { return glob_matches(p, text); });
}

}  // namespace

std::string_view not_traced_reason_name(NotTracedReason reason) {
  switch (reason) {
    case NotTracedReason::kNone: return "";
    case NotTracedReason::kSdk: return "sdk";
    case NotTracedReason::kDisabled: return "disabled";
    case NotTracedReason::kExcluded: return "excluded";
  }
  return "";
}

bool SourceMatch::matches(const ProcessInfo& process, std::string_view service_name) const {
  if (!names.empty() && !any_glob(names, service_name)) return false;
  if (!executables.empty()) {
    bool hit = std::any_of(executables.begin(), executables.end(), [&](const std::string& p) {
      return glob_matches(p, p.find('/') == std::string::npos ? process.exe_name()
                                                              : std::string_view(process.exe_path));
    });
    if (!hit) return false;
  }
  if (!ports.empty()) {
    bool hit = std::any_of(process.listening.begin(), process.listening.end(),
                           [&](const ListeningSocket& s) {
                             return std::find(ports.begin(), ports.end(), s.port) != ports.end();
                           });
    if (!hit) return false;
  }
  if (!cgroup_prefixes.empty()) {
    bool hit = std::any_of(cgroup_prefixes.begin(), cgroup_prefixes.end(),
                           [&](const std::string& p) { return process.cgroup.starts_with(p); });
    if (!hit) return false;
  }
  return true;
}

Discovery::Discovery(SourceRules rules, DiscoveryOptions options)
    : rules_(std::move(rules)), options_(std::move(options)) {
  if (options_.host_name.empty()) options_.host_name = local_host_name();
  overrides_ = std::move(options_.overrides);
  options_.overrides.clear();
  struct stat st = {};
  if (::stat("/proc/self/exe", &st) == 0) self_exe_ = FileId{st.st_dev, st.st_ino};
}

bool Discovery::is_own_process(const ProcessInfo& process) const {
  if (const std::string* marker = process.env(kSelfMarkerEnv);
      marker != nullptr && *marker == "1") {
    return true;
  }
  if (process.pid() == ::getpid()) return true;
  // Another Hodos (a gateway, another install or build): tracing its exports and API traffic
  // would feed its own telemetry back into the pipeline.
  if (process.exe_name() == "hodos") return true;
  if (!self_exe_) return false;
  // Compared by file identity: the path differs across mount namespaces and after an upgrade.
  struct stat st = {};
  std::string exe = options_.proc_root + "/" + std::to_string(process.pid()) + "/exe";
  return ::stat(exe.c_str(), &st) == 0 && st.st_dev == self_exe_->dev &&
         st.st_ino == self_exe_->ino;
}

DiscoveryResult Discovery::scan() { return scan_pids(list_pids(options_.proc_root)); }

uint64_t Discovery::set_overrides(SourceOverrides overrides) {
  std::lock_guard lock(overrides_mu_);
  overrides_ = std::move(overrides);
  return ++overrides_version_;
}

DiscoveryResult Discovery::scan_pids(const std::vector<pid_t>& pids) {
  DiscoveryResult result;
  SourceOverrides overrides;
  {
    std::lock_guard lock(overrides_mu_);
    overrides = overrides_;
    result.overrides_version = overrides_version_;
  }
  std::unordered_map<std::string, ListenTable> listen_tables;  // per network namespace, this scan
  for (pid_t pid : pids) examine(pid, listen_tables, overrides, result);
  result.stats.sources = result.sources.size();
  return result;
}

void Discovery::add_unix_server(pid_t pid, std::string path) {
  std::lock_guard lock(unix_servers_mu_);
  std::string& known = unix_servers_[pid];
  if (!path.empty()) known = std::move(path);
}

void Discovery::forget_unix_server(pid_t pid) {
  std::lock_guard lock(unix_servers_mu_);
  unix_servers_.erase(pid);
}

void Discovery::examine(pid_t pid, std::unordered_map<std::string, ListenTable>& listen_tables,
                        const SourceOverrides& overrides, DiscoveryResult& result) {
  ++result.stats.listed;
  ProcessReadOptions read_options;
  read_options.proc_root = options_.proc_root;
  std::optional<ProcessInfo> process = read_process(pid, read_options, &listen_tables);
  if (!process) {
    ++result.stats.vanished;
    return;
  }
  if (process->kernel_thread) {
    ++result.stats.kernel_threads;
    return;
  }
  if (is_own_process(*process)) {
    ++result.stats.own_processes;
    return;
  }

  // The cheap part of detection first (names, maps, Go build info): enough to apply the rules.
  RuntimeDetectOptions detect;
  detect.proc_root = options_.proc_root;
  detect.read_executable = false;
  RuntimeInfo runtime = detect_runtime(*process, detect);
  ServiceName service = service_name(*process, runtime);

  std::string selected_by;
  std::optional<std::string> unix_path;
  {
    std::lock_guard lock(unix_servers_mu_);
    if (auto it = unix_servers_.find(pid); it != unix_servers_.end()) unix_path = it->second;
  }
  if (rules_.listening_processes && !process->listening.empty()) {
    selected_by = listening_ports_text(process->listening);
  } else if (rules_.listening_processes && unix_path) {
    selected_by = unix_path->empty() ? "serves a traced process on a Unix socket"
                                     : "serves a traced process on Unix socket " + *unix_path;
  } else {
    for (size_t i = 0; i < rules_.include.size(); ++i) {
      if (rules_.include[i].matches(*process, service.name)) {
        selected_by = "include rule " + std::to_string(i + 1);
        break;
      }
    }
  }
  if (selected_by.empty()) {
    ++result.stats.not_selected;
    return;
  }
  // Matched after selection, so that only what would be a source is listed as excluded.
  size_t excluded_by = 0;  // 1-based rule number
  for (size_t i = 0; i < rules_.exclude.size() && excluded_by == 0; ++i) {
    if (rules_.exclude[i].matches(*process, service.name)) excluded_by = i + 1;
  }

  detect.read_executable = true;
  detect.max_scan_bytes = options_.max_executable_scan_bytes;
  detect.cache = &executable_strings_;
  DiscoveredSource source;
  source.runtime = detect_runtime(*process, detect);
  source.service = service_name(*process, source.runtime);
  if (serves_thread_per_request(*process, source.runtime)) {
    source.trace_mode = TraceMode::kThreadContext;
  } else if (source.runtime.runtime == Runtime::kGo) {
    source.trace_mode = TraceMode::kGoroutines;
  }
  source.discovered_name = source.service.name;
  source.sdk = detect_otel_sdk(*process);
  source.selected_by = std::move(selected_by);

  // Rules decide first; a run-time choice (the registry, keyed by the discovered name) wins.
  const auto choice = overrides.find(source.discovered_name);
  const SourceOverride* chosen = choice == overrides.end() ? nullptr : &choice->second;
  if (chosen != nullptr && !chosen->name.empty()) {
    source.service.name = chosen->name;
    source.service.source = "renamed";
  }
  source.resource = resource_attributes(*process, source.runtime, source.service,
                                        options_.host_name, options_.pods.get());
  if (options_.pods && options_.on_unknown_pod && find_attribute(source.resource, "k8s.pod.uid") &&
      !find_attribute(source.resource, "k8s.pod.name")) {
    options_.on_unknown_pod();
  }
  if (chosen != nullptr && chosen->enabled == false) {
    source.why_not = NotTracedReason::kDisabled;
    source.why_not_detail = "by `hodos sources disable`";
  } else if (chosen != nullptr && chosen->enabled == true) {
    if (excluded_by != 0 || source.sdk.has_otel_sdk) {
      source.selected_by = "enabled with `hodos sources enable`";
    }
    excluded_by = 0;
  } else if (excluded_by != 0) {
    source.why_not = NotTracedReason::kExcluded;
    source.why_not_detail = "exclude rule " + std::to_string(excluded_by);
  } else if (source.sdk.has_otel_sdk && !rules_.trace_processes_with_sdk) {
    source.why_not = NotTracedReason::kSdk;
    source.why_not_detail = source.sdk.reason;
  }
  source.traced = source.why_not == NotTracedReason::kNone;
  source.process = std::move(*process);
  if (excluded_by != 0) {
    ++result.stats.excluded;
    result.excluded.push_back(std::move(source));
  } else {
    result.sources.push_back(std::move(source));
  }
}

}  // namespace hodos::agent
