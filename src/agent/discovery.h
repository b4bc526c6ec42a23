// Which processes on the host are sources of spans. A scan of /proc reads every process, skips
// kernel threads and Hodos's own processes, and keeps those the rules select: by default every
// process listening on TCP, plus include rules, minus exclude rules. Each source comes with its
// runtime, service name, resource and whether an OpenTelemetry SDK already exports its spans.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "agent/process_info.h"
#include "agent/runtime_detect.h"
#include "agent/service_identity.h"

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
  bool listening_processes = true;   // every process listening on TCP is a source
  std::vector<SourceMatch> include;  // also sources, listening or not
  std::vector<SourceMatch> exclude;  // never sources; exclude wins over include
  // Processes whose OpenTelemetry SDK exports their spans are listed but not traced, so their
  // spans are not duplicated; set to trace them anyway.
  bool trace_processes_with_sdk = false;
};

struct DiscoveredSource {
  ProcessInfo process;
  RuntimeInfo runtime;
  ServiceName service;
  SdkDetection sdk;
  std::vector<ResourceAttribute> resource;
  std::string selected_by;  // "listens on TCP port 8000", "include rule 1"
  bool traced = true;       // false: the process's own SDK exports its spans (see sdk.reason)
};

struct DiscoveryStats {
  size_t listed = 0;    // pids looked at
  size_t vanished = 0;  // exited (or pid reused) while being read: skipped
  size_t kernel_threads = 0;
  size_t own_processes = 0;  // Hodos itself and its children
  size_t not_selected = 0;   // neither listening nor included
  size_t excluded = 0;       // matched an exclude rule
  size_t sources = 0;
};

struct DiscoveryResult {
  std::vector<DiscoveredSource> sources;
  DiscoveryStats stats;
};

struct DiscoveryOptions {
  std::string proc_root = "/proc";
  std::string host_name;  // empty: gethostname()
  size_t max_executable_scan_bytes = 128 << 20;
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

  // Hodos's own processes: the same executable as /proc/self/exe, or HODOS_SELF=1.
  bool is_own_process(const ProcessInfo& process) const;

  const SourceRules& rules() const { return rules_; }
  void set_rules(SourceRules rules) { rules_ = std::move(rules); }

 private:
  struct FileId {
    dev_t dev = 0;
    ino_t ino = 0;
  };
  void examine(pid_t pid, std::unordered_map<std::string, ListenTable>& listen_tables,
               DiscoveryResult& result);

  SourceRules rules_;
  DiscoveryOptions options_;
  std::optional<FileId> self_exe_;
  ExecutableStringsCache executable_strings_;
};

}  // namespace hodos::agent
