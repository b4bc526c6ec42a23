// What the agent knows about one process, read from /proc/<pid>: identity (pid + start time, so a
// reused pid is a different process), executable, command line, the few environment variables
// discovery needs, cgroup, mapped files and listening TCP sockets. Processes come and go while
// they are read; a process that vanishes is reported as gone, never as an exception.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "agent/k8s_cgroup.h"

namespace hodos::agent {

// The environment variables read from /proc/<pid>/environ; every other variable is ignored (the
// environment can hold secrets, so nothing else is kept).
extern const std::vector<std::string_view> kDiscoveryEnvironmentKeys;

struct ListeningSocket {
  std::string address;  // "0.0.0.0", "127.0.0.1", "::", "::1"
  uint16_t port = 0;
  bool ipv6 = false;
  uint64_t inode = 0;
};

// A process is one (pid, start time): the pid alone is reused by the kernel.
struct ProcessKey {
  pid_t pid = 0;
  uint64_t start_time = 0;  // clock ticks since boot, field 22 of /proc/<pid>/stat
  friend bool operator==(const ProcessKey&, const ProcessKey&) = default;
  friend auto operator<=>(const ProcessKey&, const ProcessKey&) = default;
};

struct ProcessInfo {
  ProcessKey key;
  pid_t ppid = 0;
  std::string comm;
  bool kernel_thread = false;
  std::string exe_path;  // as the process sees it (its mount namespace); empty when unreadable
  std::string cwd;
  std::vector<std::string> cmdline;
  std::map<std::string, std::string> environ;  // only kDiscoveryEnvironmentKeys
  std::string cgroup;                          // the cgroup v2 path ("/system.slice/x.service")
  // The container and pod any line of /proc/PID/cgroup names (on a hybrid host the unified line
  // can be "/" while the v1 controllers hold the kubepods path); nullopt for host processes.
  std::optional<ContainerIdentity> container;
  std::vector<std::string> mapped_files;       // file-backed mappings, each path once
  std::vector<ListeningSocket> listening;      // TCP sockets in LISTEN that this process holds
  std::string net_namespace;                   // "net:[4026531840]"

  pid_t pid() const { return key.pid; }
  std::string_view exe_name() const;  // basename of exe_path, else comm
  const std::string* env(std::string_view name) const;
  bool maps_file_named(std::string_view basename_prefix) const;
};

// Inode → LISTEN socket for one network namespace, from net/tcp and net/tcp6.
using ListenTable = std::unordered_map<uint64_t, ListeningSocket>;

// Parses the text of /proc/net/tcp or tcp6, keeping LISTEN entries. Malformed lines are skipped.
void parse_listen_table(std::string_view text, bool ipv6, ListenTable& out);

struct ProcessReadOptions {
  std::string proc_root = "/proc";
  bool read_maps = true;
  bool read_sockets = true;
  size_t max_environ_bytes = 1 << 20;
};

enum class ProcessReadStatus {
  kOk,
  kGone,  // exited (or its pid was reused) while being read
};

// Reads the LISTEN tables of the network namespace `pid` lives in; empty when it is gone.
ListenTable read_listen_table(const std::string& proc_root, pid_t pid);

// Reads one process. `listen_tables` caches the LISTEN tables by network namespace so a scan reads
// each namespace's tables once; pass nullptr to read them for this process alone.
// Returns nullopt (with *status = kGone) when the process vanished mid-read. Never throws on
// /proc races; unreadable optional parts (maps, environ of a protected process) are left empty.
std::optional<ProcessInfo> read_process(
    pid_t pid, const ProcessReadOptions& options = {},
    std::unordered_map<std::string, ListenTable>* listen_tables = nullptr,
    ProcessReadStatus* status = nullptr);

// The pids listed in /proc right now (thread-group leaders only), ascending.
std::vector<pid_t> list_pids(const std::string& proc_root = "/proc");

// Splits the NUL-separated /proc/<pid>/environ text, keeping only `keys`.
std::map<std::string, std::string> parse_environ(std::string_view text,
                                                 const std::vector<std::string_view>& keys);

}  // namespace hodos::agent
