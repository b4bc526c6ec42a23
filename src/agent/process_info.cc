#include "agent/process_info.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <set>
#include <tuple>

#include "agent/unique_fd.h"

namespace hodos::agent {

const std::vector<std::string_view> kDiscoveryEnvironmentKeys = {
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_SDK_DISABLED",
    "OTEL_TRACES_EXPORTER",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "JAVA_TOOL_OPTIONS",
    "JDK_JAVA_OPTIONS",
    "_JAVA_OPTIONS",
    "NODE_OPTIONS",
    "PYTHONPATH",
    "DOTNET_STARTUP_HOOKS",
    "CORECLR_ENABLE_PROFILING",
    "CORECLR_PROFILER_PATH",
    "HODOS_SELF",
};

namespace {

// Reads a whole (small) /proc file. errno is left set when it returns nullopt.
std::optional<std::string> read_text(const std::string& path, size_t max_bytes = 1 << 20) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return std::nullopt;
  std::string out;
  char buf[8192];
  while (out.size() < max_bytes) {
    ssize_t n = ::read(fd.get(), buf, std::min(sizeof(buf), max_bytes - out.size()));
    if (n < 0) {
      if (errno == EINTR) continue;
      return std::nullopt;
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

std::optional<std::string> read_link(const std::string& path) {
  char buf[4096];
  ssize_t n = ::readlink(path.c_str(), buf, sizeof(buf));
  if (n < 0) return std::nullopt;
  return std::string(buf, static_cast<size_t>(n));
}

bool vanished_errno() { return errno == ENOENT || errno == ESRCH; }

struct StatFields {
  std::string comm;
  char state = '?';
  pid_t ppid = 0;
  uint64_t flags = 0;
  uint64_t start_time = 0;
};

template <typename T>
bool parse_number(std::string_view s, T& out, int base = 10) {
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out, base);
  return ec == std::errc() && ptr == s.data() + s.size();
}

std::vector<std::string_view> split_spaces(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
    size_t start = i;
    while (i < s.size() && s[i] != ' ' && s[i] != '\t') ++i;
    if (i > start) out.push_back(s.substr(start, i - start));
  }
  return out;
}

// "pid (comm) state ppid ...": comm may itself hold spaces and parentheses, so split at the last
// ')'.
std::optional<StatFields> parse_stat(std::string_view text) {
  size_t open = text.find('(');
  size_t close = text.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open) {
    return std::nullopt;
  }
  StatFields f;
  f.comm = std::string(text.substr(open + 1, close - open - 1));
  std::vector<std::string_view> rest = split_spaces(text.substr(close + 1));
  // rest[0] is field 3 (state); field N is rest[N - 3].
  if (rest.size() < 20 || rest[0].empty()) return std::nullopt;
  f.state = rest[0][0];
  if (!parse_number(rest[1], f.ppid) || !parse_number(rest[6], f.flags) ||
      !parse_number(rest[19], f.start_time)) {
    return std::nullopt;
  }
  return f;
}

constexpr uint64_t kPfKthread = 0x00200000;

std::string cgroup_path(std::string_view text) {
  std::string_view fallback;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    if (line.starts_with("0::")) return std::string(line.substr(3));  // the unified hierarchy
    size_t second = line.find(':', line.find(':') + 1);
    if (fallback.empty() && second != std::string_view::npos) fallback = line.substr(second + 1);
  }
  return std::string(fallback);
}

std::vector<std::string> mapped_files(std::string_view text) {
  std::vector<std::string> out;
  std::set<std::string_view> seen;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    size_t slash = line.find('/');
    if (slash == std::string_view::npos) continue;  // anonymous, [heap], [stack], ...
    std::string_view path = line.substr(slash);
    if (path.ends_with(" (deleted)")) path.remove_suffix(10);
    if (seen.insert(path).second) out.emplace_back(path);
  }
  return out;
}

// The names in `dir` (no "." entries); empty when it cannot be listed (the process is gone).
std::vector<std::string> entry_names(const std::string& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    names.push_back(it->path().filename().string());
  }
  return names;
}

std::vector<uint64_t> socket_inodes(const std::string& fd_dir) {
  std::vector<uint64_t> out;
  for (const std::string& name : entry_names(fd_dir)) {
    std::optional<std::string> target = read_link(fd_dir + "/" + name);
    if (!target || !target->starts_with("socket:[") || !target->ends_with("]")) continue;
    uint64_t inode = 0;
    std::string_view digits(*target);
    digits = digits.substr(8, digits.size() - 9);
    if (parse_number(digits, inode)) out.push_back(inode);
  }
  return out;
}

// "0100007F:1F90": the address words are printed as native-endian u32 values of the network-order
// bytes, so copying each parsed word back into memory restores the address.
std::optional<ListeningSocket> parse_endpoint(std::string_view s, bool ipv6) {
  size_t colon = s.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  std::string_view hex = s.substr(0, colon);
  ListeningSocket sock;
  sock.ipv6 = ipv6;
  if (!parse_number(s.substr(colon + 1), sock.port, 16)) return std::nullopt;
  unsigned char bytes[16] = {};
  size_t words = ipv6 ? 4 : 1;
  if (hex.size() != words * 8) return std::nullopt;
  for (size_t i = 0; i < words; ++i) {
    uint32_t word = 0;
    if (!parse_number(hex.substr(i * 8, 8), word, 16)) return std::nullopt;
    std::memcpy(bytes + i * 4, &word, 4);
  }
  char text[INET6_ADDRSTRLEN] = {};
  if (::inet_ntop(ipv6 ? AF_INET6 : AF_INET, bytes, text, sizeof(text)) == nullptr) {
    return std::nullopt;
  }
  sock.address = text;
  return sock;
}

}  // namespace

std::string_view ProcessInfo::exe_name() const {
  if (exe_path.empty()) return comm;
  size_t slash = exe_path.rfind('/');
  return slash == std::string::npos ? std::string_view(exe_path)
                                    : std::string_view(exe_path).substr(slash + 1);
}

const std::string* ProcessInfo::env(std::string_view name) const {
  auto it = environ.find(std::string(name));
  return it == environ.end() ? nullptr : &it->second;
}

bool ProcessInfo::maps_file_named(std::string_view basename_prefix) const {
  return std::any_of(mapped_files.begin(), mapped_files.end(), [&](const std::string& path) {
    size_t slash = path.rfind('/');
    std::string_view base =
        std::string_view(path).substr(slash == std::string::npos ? 0 : slash + 1);
    return base.starts_with(basename_prefix);
  });
}

void parse_listen_table(std::string_view text, bool ipv6, ListenTable& out) {
  constexpr std::string_view kListenState = "0A";
  size_t pos = text.find('\n');  // the first line is the header
  while (pos != std::string_view::npos && pos < text.size()) {
    size_t start = pos + 1;
    size_t end = text.find('\n', start);
    std::string_view line =
        text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    pos = end;
    std::vector<std::string_view> fields = split_spaces(line);
    // sl local rem st tx:rx tr:when retrnsmt uid timeout inode ...
    if (fields.size() < 10 || fields[3] != kListenState) continue;
    std::optional<ListeningSocket> sock = parse_endpoint(fields[1], ipv6);
    if (!sock || !parse_number(fields[9], sock->inode) || sock->inode == 0) continue;
    out.emplace(sock->inode, *sock);
  }
}

ListenTable read_listen_table(const std::string& proc_root, pid_t pid) {
  ListenTable table;
  std::string base = proc_root + "/" + std::to_string(pid) + "/net/";
  if (std::optional<std::string> v4 = read_text(base + "tcp", 64 << 20)) {
    parse_listen_table(*v4, false, table);
  }
  if (std::optional<std::string> v6 = read_text(base + "tcp6", 64 << 20)) {
    parse_listen_table(*v6, true, table);
  }
  return table;
}

std::map<std::string, std::string> parse_environ(std::string_view text,
                                                 const std::vector<std::string_view>& keys) {
  std::map<std::string, std::string> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\0', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view entry = text.substr(pos, end - pos);
    pos = end + 1;
    size_t eq = entry.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view key = entry.substr(0, eq);
    if (std::find(keys.begin(), keys.end(), key) != keys.end()) {
      out[std::string(key)] = std::string(entry.substr(eq + 1));
    }
  }
  return out;
}

std::optional<ProcessInfo> read_process(pid_t pid, const ProcessReadOptions& options,
                                        std::unordered_map<std::string, ListenTable>* listen_tables,
                                        ProcessReadStatus* status) {
  auto gone = [&]() -> std::optional<ProcessInfo> {
    if (status != nullptr) *status = ProcessReadStatus::kGone;
    return std::nullopt;
  };
  if (status != nullptr) *status = ProcessReadStatus::kOk;
  const std::string dir = options.proc_root + "/" + std::to_string(pid);

  std::optional<std::string> stat_text = read_text(dir + "/stat");
  if (!stat_text) return gone();
  std::optional<StatFields> stat = parse_stat(*stat_text);
  if (!stat || stat->state == 'Z' || stat->state == 'X') return gone();  // exited, not yet reaped

  ProcessInfo info;
  info.key = {pid, stat->start_time};
  info.ppid = stat->ppid;
  info.comm = stat->comm;
  info.kernel_thread = (stat->flags & kPfKthread) != 0;
  if (info.kernel_thread) return info;

  if (std::optional<std::string> exe = read_link(dir + "/exe")) {
    info.exe_path = std::move(*exe);
    if (info.exe_path.ends_with(" (deleted)")) info.exe_path.resize(info.exe_path.size() - 10);
  } else if (vanished_errno()) {
    return gone();
  }
  if (std::optional<std::string> cwd = read_link(dir + "/cwd")) info.cwd = std::move(*cwd);

  std::optional<std::string> cmdline = read_text(dir + "/cmdline");
  if (!cmdline) {
    if (vanished_errno()) return gone();
  } else {
    size_t pos = 0;
    while (pos < cmdline->size()) {
      size_t end = cmdline->find('\0', pos);
      if (end == std::string::npos) end = cmdline->size();
      info.cmdline.push_back(cmdline->substr(pos, end - pos));
      pos = end + 1;
    }
  }
  if (std::optional<std::string> environ = read_text(dir + "/environ", options.max_environ_bytes)) {
    info.environ = parse_environ(*environ, kDiscoveryEnvironmentKeys);
  }
  if (std::optional<std::string> cgroup = read_text(dir + "/cgroup")) {
    info.cgroup = cgroup_path(*cgroup);
    info.container = container_identity_from_proc_cgroup(*cgroup);
  }
  if (options.read_maps) {
    if (std::optional<std::string> maps = read_text(dir + "/maps", 64 << 20)) {
      info.mapped_files = mapped_files(*maps);
    }
  }
  if (options.read_sockets) {
    std::vector<uint64_t> inodes = socket_inodes(dir + "/fd");
    if (!inodes.empty()) {
      info.net_namespace = read_link(dir + "/ns/net").value_or("");
      ListenTable local;
      const ListenTable* table = &local;
      if (listen_tables != nullptr && !info.net_namespace.empty()) {
        auto it = listen_tables->find(info.net_namespace);
        if (it == listen_tables->end()) {
          it = listen_tables->emplace(info.net_namespace, read_listen_table(options.proc_root, pid))
                   .first;
        }
        table = &it->second;
      } else {
        local = read_listen_table(options.proc_root, pid);
      }
      std::set<std::pair<std::string, uint16_t>> seen;  // dup'ed fds and forked workers
      for (uint64_t inode : inodes) {
        auto it = table->find(inode);
        if (it != table->end() && seen.emplace(it->second.address, it->second.port).second) {
          info.listening.push_back(it->second);
        }
      }
      std::sort(info.listening.begin(), info.listening.end(),
                [](const ListeningSocket& a, const ListeningSocket& b) {
                  return std::tie(a.port, a.ipv6, a.address) < std::tie(b.port, b.ipv6, b.address);
                });
    }
  }

  // A pid reused while we read would mix two processes: the start time tells them apart.
  std::optional<std::string> stat_again = read_text(dir + "/stat");
  std::optional<StatFields> again = stat_again ? parse_stat(*stat_again) : std::nullopt;
  if (!again || again->start_time != info.key.start_time || again->state == 'Z') return gone();
  return info;
}

std::vector<pid_t> list_pids(const std::string& proc_root) {
  std::vector<pid_t> pids;
  for (const std::string& name : entry_names(proc_root)) {
    pid_t pid = 0;
    if (parse_number(std::string_view(name), pid) && pid > 0) pids.push_back(pid);
  }
  std::sort(pids.begin(), pids.end());
  return pids;
}

}  // namespace hodos::agent
