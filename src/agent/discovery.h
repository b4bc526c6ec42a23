// Which processes on the host are sources of spans. A scan of /proc reads every process, skips
// kernel threads and Hodos's own processes, and keeps those the rules select: by default every
// process listening on TCP (and every server of a traced process's Unix socket connection), plus
// include rules, minus exclude rules. Each source comes with its
// runtime, service name, resource and whether it is traced, and if not, why: an OpenTelemetry SDK
// already exports its spans, an exclude rule, or a run-time `hodos sources disable`. Run-time
// renames (the source registry) are applied to the service name and resource here.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "agent/k8s_pods.h"
#include "agent/process_info.h"
#include "agent/runtime_detect.h"
#include "agent/socket_probe.h"
#include "agent/service_identity.h"
#include "agent/source_registry.h"

namespace hodos::agent {

// One include/exclude rule. Every non-empty field must match (AND); within a field any entry may
// match (OR). A rule with no field set matches every process.
struct SourceMatch {
  std::vector<std::string> names;        // globs on the service name: "checkout", "shop-*"
  std::vector<std::string> executables;  // globs on the executable path; without '/', on its name
  std::vector<uint16_t> ports;           // a TCP port the process listens on
  std::vector<std::string> cgroup_prefixes;  // "/system.slice/", "/kubepods.slice/"

  bool matches(const ProcessInfo& process, std::string_view service_name) const;
};

struct SourceRules {
  // Every process listening on TCP is a source, and every server of a traced process's Unix socket.
  bool listening_processes = true;
  std::vector<SourceMatch> include;  // also sources, listening or not
  std::vector<SourceMatch> exclude;  // never sources; exclude wins over include
  // Processes whose OpenTelemetry SDK exports their spans are listed but not traced, so their
  // spans are not duplicated; set to trace them anyway.
  bool trace_processes_with_sdk = false;
};

// Why a source is listed but not traced.
enum class NotTracedReason {
  kNone,
  kSdk,       // its own OpenTelemetry SDK exports its spans
  kDisabled,  // `hodos sources disable`
  kExcluded,  // an exclude rule of the configuration
};
// "sdk", "disabled", "excluded" ("" for kNone): the API's and the CLI's words.
std::string_view not_traced_reason_name(NotTracedReason reason);

struct DiscoveredSource {
  ProcessInfo process;
  RuntimeInfo runtime;
  ServiceName service;      // after a run-time rename
  std::string discovered_name;  // before it: the key of the source registry
  SdkDetection sdk;
  std::vector<ResourceAttribute> resource;
  std::string selected_by;  // "listens on TCP port 8000", "include rule 1"
  // How its threads relate to its requests: kThreadContext when it serves a request per thread
  // (serves_thread_per_request), kGoroutines for Go, else kDefault.
  TraceMode trace_mode = TraceMode::kDefault;
  bool traced = true;
  NotTracedReason why_not = NotTracedReason::kNone;
  std::string why_not_detail;  // "OTEL_EXPORTER_OTLP_ENDPOINT is set", "exclude rule 2", ...
};

struct DiscoveryStats {
  size_t listed = 0;    // pids looked at
  size_t vanished = 0;  // exited (or pid reused) while being read: skipped
  size_t kernel_threads = 0;
  size_t own_processes = 0;  // Hodos itself and its children
  size_t not_selected = 0;   // neither listening nor included
  size_t excluded = 0;       // selected, then matched an exclude rule
  size_t sources = 0;
};

struct DiscoveryResult {
  std::vector<DiscoveredSource> sources;   // traced or not (SDK, disabled)
  std::vector<DiscoveredSource> excluded;  // would be sources but for an exclude rule
  DiscoveryStats stats;
  uint64_t overrides_version = 0;  // of the run-time overrides this scan applied
};

struct DiscoveryOptions {
  std::string proc_root = "/proc";
  std::string host_name;  // empty: gethostname()
  size_t max_executable_scan_bytes = 128 << 20;
  SourceOverrides overrides;  // run-time choices, from the first scan on
  // Pod names for processes in Kubernetes pods (k8s_pods.h); null outside a cluster.
  std::shared_ptr<const PodDirectory> pods;
  // Called when a process is in a pod `pods` does not know yet (the watcher lists again).
  std::function<void()> on_unknown_pod;
};

// The environment variable Hodos sets (to "1") in the processes it starts, so they are never
// traced even when their executable is not Hodos's.
inline constexpr std::string_view kSelfMarkerEnv = "HODOS_SELF";

class Discovery {
 public:
  explicit Discovery(SourceRules rules, DiscoveryOptions options = {});

  // Every process in /proc. Never throws on processes that vanish mid-scan: they are counted.
  DiscoveryResult scan();
  // The given pids only (the agent's exec events; tests).
  DiscoveryResult scan_pids(const std::vector<pid_t>& pids);

  // Hodos's own processes: the same executable as /proc/self/exe, any executable named `hodos`,
  // or HODOS_SELF=1.
  bool is_own_process(const ProcessInfo& process) const;

  const SourceRules& rules() const { return rules_; }
  void set_rules(SourceRules rules) { rules_ = std::move(rules); }

  // A process the kernel started tracing because it accepted a Unix socket connection a traced
  // process made (a server that listens only on a path, as gunicorn behind nginx): selected while
  // `listening_processes` is on, until forget_unix_server (its exit). `path`: its listener's, when
  // known (a later call fills it in). Safe while another thread scans.
  void add_unix_server(pid_t pid, std::string path);
  void forget_unix_server(pid_t pid);

  // Replaces the run-time overrides (safe while another thread scans); scans that start from now
  // on apply them and report the returned version in DiscoveryResult::overrides_version.
  uint64_t set_overrides(SourceOverrides overrides);

 private:
  struct FileId {
    dev_t dev = 0;
    ino_t ino = 0;
  };
  void examine(pid_t pid, std::unordered_map<std::string, ListenTable>& listen_tables,
               const SourceOverrides& overrides, DiscoveryResult& result);

  SourceRules rules_;
  DiscoveryOptions options_;
  std::mutex overrides_mu_;
  SourceOverrides overrides_;
  uint64_t overrides_version_ = 0;
  std::optional<FileId> self_exe_;
  ExecutableStringsCache executable_strings_;
  mutable std::mutex unix_servers_mu_;
  std::unordered_map<pid_t, std::string> unix_servers_;  // pid -> its listener's path
};

}  // namespace hodos::agent
