#include "agent/injector.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <linux/magic.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <utility>

#include "bpf/inject.skel.h"

namespace hodos::agent {

namespace {

std::string errno_text(int error) { return std::strerror(error < 0 ? -error : error); }

std::optional<std::string> cgroup2_mount() {
  std::ifstream mounts("/proc/self/mounts");
  std::string device, dir, type, rest;
  while (mounts >> device >> dir >> type && std::getline(mounts, rest)) {
    if (type == "cgroup2") return dir;
  }
  return std::nullopt;
}

uint64_t monotonic_ns() {
  timespec now = {};
  clock_gettime(CLOCK_MONOTONIC, &now);  // bpf_ktime_get_ns's clock
  return static_cast<uint64_t>(now.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(now.tv_nsec);
}

// "10.0.0.0/8", "fc00::/7", "192.0.2.1" -> an LPM key (IPv4 as ::ffff:a.b.c.d, prefix + 96).
hodos_inject_cidr parse_cidr(const std::string& text) {
  std::string address = text;
  int prefix = -1;
  if (size_t slash = text.find('/'); slash != std::string::npos) {
    address = text.substr(0, slash);
    std::string_view digits(text.data() + slash + 1, text.size() - slash - 1);
    auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
    if (error != std::errc() || end != digits.data() + digits.size() || digits.empty()) {
      throw std::invalid_argument(fmt::format("injection allowlist: bad prefix in '{}'", text));
    }
  }
  hodos_inject_cidr key = {};
  in_addr v4 = {};
  in6_addr v6 = {};
  if (inet_pton(AF_INET, address.c_str(), &v4) == 1) {
    if (prefix == -1) prefix = 32;
    if (prefix < 0 || prefix > 32) {
      throw std::invalid_argument(fmt::format("injection allowlist: prefix of '{}' > 32", text));
    }
    key.addr[10] = key.addr[11] = 0xff;
    std::memcpy(&key.addr[12], &v4, 4);
    key.prefixlen = static_cast<uint32_t>(96 + prefix);
  } else if (inet_pton(AF_INET6, address.c_str(), &v6) == 1) {
    if (prefix == -1) prefix = 128;
    if (prefix < 0 || prefix > 128) {
      throw std::invalid_argument(fmt::format("injection allowlist: prefix of '{}' > 128", text));
    }
    std::memcpy(key.addr, &v6, 16);
    key.prefixlen = static_cast<uint32_t>(prefix);
  } else {
    throw std::invalid_argument(
        fmt::format("injection allowlist: '{}' is not an IPv4 or IPv6 CIDR", text));
  }
  return key;
}

std::vector<std::string> policy_cidrs(const InjectorOptions& options) {
  std::vector<std::string> cidrs;
  if (options.loopback) cidrs.insert(cidrs.end(), {"127.0.0.0/8", "::1/128"});
  if (options.private_ranges) {
    cidrs.insert(cidrs.end(), {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16",
                               "fc00::/7", "fe80::/10"});
  }
  cidrs.insert(cidrs.end(), options.allow.begin(), options.allow.end());
  return cidrs;
}

const char* program_type_name(uint32_t type) {
  switch (type) {
    case BPF_PROG_TYPE_SK_MSG:
      return "sk_msg";
    case BPF_PROG_TYPE_SK_SKB:
      return "sk_skb";
    case BPF_PROG_TYPE_SOCK_OPS:
      return "sockops";
    default:
      return nullptr;
  }
}

InjectorProgramStats program_stats(const bpf_program* program) {
  bpf_prog_info info = {};
  uint32_t length = sizeof(info);
  if (bpf_obj_get_info_by_fd(bpf_program__fd(program), &info, &length) != 0) return {};
  return {info.run_cnt, info.run_time_ns};
}

// Attaches `program` to the sockhash: a link where the kernel has sockmap links (6.10+; it goes
// away with the agent's fd), else the classic attach (it goes away with the map). Either way the
// sockets already enrolled keep the programs they were enrolled with until they leave the map.
// Returns the link fd, or -1 after a classic attach; throws on refusal.
int attach_to_sockhash(int program_fd, int map_fd, bpf_attach_type type, const char* what) {
  int link = bpf_link_create(program_fd, map_fd, type, nullptr);
  if (link >= 0) return link;
  if (bpf_prog_attach(program_fd, map_fd, type, 0) != 0) {
    throw BpfError(fmt::format("bpf/inject.bpf.c: cannot attach the {} program to the sockhash: {}",
                               what, errno_text(errno)));
  }
  return -1;
}

// A loopback TCP pair; the client end is the one enrolled by the FIONREAD check.
struct LoopbackPair {
  UniqueFd client;
  UniqueFd server;
  std::string error;
};

LoopbackPair loopback_pair() {
  LoopbackPair pair;
  UniqueFd listener(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(addr);
  if (!listener.valid() || bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), length) != 0 ||
      listen(listener.get(), 1) != 0 ||
      getsockname(listener.get(), reinterpret_cast<sockaddr*>(&addr), &length) != 0) {
    pair.error = fmt::format("loopback listener: {}", errno_text(errno));
    return pair;
  }
  pair.client = UniqueFd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!pair.client.valid() ||
      connect(pair.client.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    pair.error = fmt::format("loopback connect: {}", errno_text(errno));
    return pair;
  }
  pair.server = UniqueFd(accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  if (!pair.server.valid()) pair.error = fmt::format("loopback accept: {}", errno_text(errno));
  return pair;
}

std::optional<uint64_t> socket_cookie(int fd) {
  uint64_t cookie = 0;
  socklen_t length = sizeof(cookie);
  if (getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &length) != 0) return std::nullopt;
  return cookie;
}

// Enrols a loopback client socket, has the peer write, and checks that FIONREAD counts the
// bytes and read() returns them. Empty when right; else what was wrong.
std::string check_fionread(int sockhash_fd) {
  LoopbackPair pair = loopback_pair();
  if (!pair.error.empty()) return pair.error;
  std::optional<uint64_t> cookie = socket_cookie(pair.client.get());
  if (!cookie) return fmt::format("SO_COOKIE: {}", errno_text(errno));
  uint64_t fd = static_cast<uint64_t>(pair.client.get());
  if (bpf_map_update_elem(sockhash_fd, &*cookie, &fd, BPF_NOEXIST) != 0) {
    return fmt::format("cannot enrol a loopback socket: {}", errno_text(errno));
  }
  constexpr std::string_view kProbe = "hodos-fionread-check";
  std::string result;
  if (write(pair.server.get(), kProbe.data(), kProbe.size()) != static_cast<ssize_t>(kProbe.size()))
    result = fmt::format("loopback write: {}", errno_text(errno));
  int available = 0;
  pollfd readable = {pair.client.get(), POLLIN, 0};
  if (result.empty() && poll(&readable, 1, 1000) != 1) result = "loopback data never arrived";
  // The verdict may hand the bytes over from a work queue: give FIONREAD a moment to settle.
  for (int attempt = 0; result.empty() && attempt < 20; ++attempt) {
    if (ioctl(pair.client.get(), FIONREAD, &available) != 0) {
      result = fmt::format("ioctl(FIONREAD): {}", errno_text(errno));
    }
    if (available == static_cast<int>(kProbe.size())) break;
    usleep(2000);
  }
  if (result.empty() && available != static_cast<int>(kProbe.size())) {
    result = fmt::format(
        "an enrolled socket reports FIONREAD {} for {} unread bytes (kernel commit 929e30f93125 "
        "without 04af4efde58a)",
        available, kProbe.size());
  }
  if (result.empty()) {
    char buffer[64] = {};
    ssize_t n = read(pair.client.get(), buffer, sizeof(buffer));
    if (n != static_cast<ssize_t>(kProbe.size()) ||
        kProbe != std::string_view(buffer, kProbe.size()))
      result = "an enrolled socket did not read back what its peer wrote";
  }
  bpf_map_delete_elem(sockhash_fd, &*cookie);
  return result;
}

}  // namespace

std::string_view InjectorCounters::name(hodos_inject_counter which) {
  switch (which) {
    case HODOS_INJECT_MARKED:
      return "marked";
    case HODOS_INJECT_NOT_ALLOWED:
      return "destination_not_allowed";
    case HODOS_INJECT_ENROLLED:
      return "enrolled";
    case HODOS_INJECT_ENROL_FAILED:
      return "enrol_failed";
    case HODOS_INJECT_INJECTED:
      return "injected";
    case HODOS_INJECT_NO_CONTEXT:
      return "no_context";
    case HODOS_INJECT_STALE_CONTEXT:
      return "stale_context";
    case HODOS_INJECT_NOT_HTTP:
      return "not_http";
    case HODOS_INJECT_HEAD_NOT_IN_MESSAGE:
      return "head_not_in_message";
    case HODOS_INJECT_HAS_TRACEPARENT:
      return "has_traceparent";
    case HODOS_INJECT_PULL_FAILED:
      return "pull_failed";
    case HODOS_INJECT_PUSH_FAILED:
      return "push_failed";
    case HODOS_INJECT_WRITE_FAILED:
      return "write_failed";
    case HODOS_INJECT_DROPPED:
      return "dropped";
    case HODOS_INJECT_RING_FULL:
      return "ring_full";
    case HODOS_INJECT_MERGE_FAILED:
      return "merge_failed";
    case HODOS_INJECT_BODY:
      return "body";
    case HODOS_INJECT_GAVE_UP:
      return "gave_up";
    case HODOS_INJECT_STREAM_UNKNOWN:
      return "stream_unknown";
    case HODOS_INJECT_FORWARDED_UPDATED:
      return "forwarded_updated";
    case HODOS_INJECT_H2_CONNECTION:
      return "http2_connection";
    case HODOS_INJECT_H2_INJECTED:
      return "http2_injected";
    case HODOS_INJECT_H2_UNREAD_BLOCK:
      return "http2_unread_header_block";
    case HODOS_INJECT_H2_RESYNCED:
      return "http2_frames_found";
    case HODOS_INJECT_RESYNC_WAIT:
      return "late_start_not_found_yet";
    case HODOS_INJECT_H1_RESYNCED:
      return "http1_head_found";
    case HODOS_INJECT_COUNTER_COUNT:
      break;
  }
  return "unknown";
}

namespace {

struct SockmapProgram {
  uint32_t id = 0;
  uint32_t type = 0;
  std::string name;
  std::string text() const {
    return fmt::format("BPF program id {}: {} {}", id, program_type_name(type), name);
  }
};

std::vector<SockmapProgram> sockmap_programs() {
  std::vector<SockmapProgram> found;
  uint32_t id = 0;
  while (bpf_prog_get_next_id(id, &id) == 0) {
    int fd = bpf_prog_get_fd_by_id(id);
    if (fd < 0) continue;  // gone meanwhile
    UniqueFd program(fd);
    bpf_prog_info info = {};
    uint32_t length = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd, &info, &length) != 0) continue;
    if (program_type_name(info.type) != nullptr) found.push_back({id, info.type, info.name});
  }
  return found;
}

// The kernel keeps 15 characters of a program's name.
constexpr std::string_view kOwnSockops = "enrol_client_so";
constexpr std::string_view kOwnSkMsg = "inject_tracepar";
constexpr std::string_view kOwnSkSkb = "pass_received";


constexpr const char* kBpfFsRoot = "/sys/fs/bpf";
constexpr const char* kDefaultPinDir = "/sys/fs/bpf/hodos";

bool on_bpffs(const std::string& path) {
  struct statfs fs = {};
  return statfs(path.c_str(), &fs) == 0 && static_cast<uint64_t>(fs.f_type) == BPF_FS_MAGIC;
}

// Makes `dir` a directory on a BPF filesystem; mounts one on /sys/fs/bpf for the default
// directory when nothing is mounted there (what systemd does on most distributions). Empty on
// success, else why not.
std::string prepare_pin_dir(const std::string& dir) {
  if (on_bpffs(dir)) return {};
  std::string parent = dir.substr(0, dir.find_last_of('/'));
  if (parent.empty()) parent = "/";
  if (!on_bpffs(parent)) {
    if (dir != kDefaultPinDir) return fmt::format("{} is not on a BPF filesystem", parent);
    if (mount("bpf", kBpfFsRoot, "bpf", 0, "mode=0700") != 0) {
      return fmt::format("cannot mount a BPF filesystem on {}: {}", kBpfFsRoot, errno_text(errno));
    }
  }
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return fmt::format("cannot create {}: {}", dir, errno_text(errno));
  }
  return {};
}

bool sockhash_empty(int fd) {
  uint64_t key = 0;
  return bpf_map_get_next_key(fd, nullptr, &key) != 0 && errno == ENOENT;
}

constexpr std::string_view kPinPrefix = "sockets-";

}  // namespace

// Hodos's own sk_msg/sk_skb programs without its sockops program are what a stopped or killed
// agent left on the connections it had enrolled (they stay until those close).
std::string sockmap_conflict() {
  std::vector<SockmapProgram> programs = sockmap_programs();
  std::string running, foreign;
  for (const SockmapProgram& p : programs) {
    bool own_sockops = p.type == BPF_PROG_TYPE_SOCK_OPS && p.name == kOwnSockops;
    bool own_leftover = (p.type == BPF_PROG_TYPE_SK_MSG && p.name == kOwnSkMsg) ||
                        (p.type == BPF_PROG_TYPE_SK_SKB && p.name == kOwnSkSkb);
    if (own_sockops) {
      running += (running.empty() ? "" : ", ") + p.text();
    } else if (!own_leftover) {
      foreign += (foreign.empty() ? "" : ", ") + p.text();
    }
  }
  if (!running.empty()) {
    return fmt::format(
        "another Hodos agent already injects traceparent on this host ({}): this one stands down",
        running);
  }
  if (!foreign.empty()) {
    return fmt::format(
        "another program already uses sockops/sk_msg/sk_skb on this host ({}): traceparent "
        "injection stands down so as not to interfere",
        foreign);
  }
  return {};
}

std::vector<std::string> sockmap_programs_on_host() {
  std::vector<std::string> out;
  for (const SockmapProgram& p : sockmap_programs()) out.push_back(p.text());
  return out;
}

namespace {

// Calls `each(path, fd)` for every sockhash pinned in `pin_dir` by an injector.
template <typename Each>
void for_each_pinned_sockhash(const std::string& pin_dir, Each each) {
  DIR* dir = opendir(pin_dir.c_str());
  if (dir == nullptr) return;
  while (dirent* entry = readdir(dir)) {
    if (!std::string_view(entry->d_name).starts_with(kPinPrefix)) continue;
    const std::string path = pin_dir + "/" + entry->d_name;
    UniqueFd map(bpf_obj_get(path.c_str()));
    if (map.valid()) each(path, map.get());
  }
  closedir(dir);
}

}  // namespace

int release_drained_sockhashes(const std::string& pin_dir) {
  int released = 0;
  for_each_pinned_sockhash(pin_dir, [&](const std::string& path, int fd) {
    if (sockhash_empty(fd) && unlink(path.c_str()) == 0) ++released;
  });
  return released;
}

int connections_in_pinned_sockhashes(const std::string& pin_dir) {
  int connections = 0;
  for_each_pinned_sockhash(pin_dir, [&](const std::string&, int fd) {
    uint64_t key = 0, next = 0;  // socket cookies
    for (const void* at = nullptr; bpf_map_get_next_key(fd, at, &next) == 0; at = &key) {
      key = next;
      ++connections;
    }
  });
  return connections;
}

void Injector::SkeletonDeleter::operator()(inject_bpf* skeleton) const {
  inject_bpf__destroy(skeleton);
}

void Injector::RingBufferDeleter::operator()(ring_buffer* ring) const { ring_buffer__free(ring); }

void Injector::LinkDeleter::operator()(bpf_link* link) const { bpf_link__destroy(link); }

void check_destination_cidr(const std::string& cidr) { parse_cidr(cidr); }

InjectorStart Injector::start(const InjectorOptions& options, RecordCallback on_record) {
  if (options.traced_processes_fd < 0) {
    throw std::invalid_argument("injector: traced_processes_fd is required");
  }
  std::vector<hodos_inject_cidr> destinations;
  for (const std::string& cidr : policy_cidrs(options)) destinations.push_back(parse_cidr(cidr));

  InjectorStart result;
  if (!options.ignore_other_sockmap_users) {
    if (std::string conflict = sockmap_conflict(); !conflict.empty()) {
      result.reason = std::move(conflict);
      return result;
    }
  }
  std::string cgroup = options.cgroup_path;
  if (cgroup.empty()) {
    std::optional<std::string> mount = cgroup2_mount();
    if (!mount) {
      result.reason = "no cgroup v2 hierarchy is mounted: sockops has nowhere to attach";
      return result;
    }
    cgroup = *mount;
  }

  LibbpfLogCapture log;
  std::unique_ptr<Injector> injector(new Injector(std::move(on_record)));
  injector->skeleton_.reset(inject_bpf__open());
  if (!injector->skeleton_) {
    throw BpfError(fmt::format("bpf/inject.bpf.c: cannot open the BPF object: {}\n{}",
                               errno_text(errno), log.text()));
  }
  inject_bpf* skeleton = injector->skeleton_.get();
  if (int err = bpf_map__reuse_fd(skeleton->maps.traced_processes, options.traced_processes_fd);
      err != 0) {
    throw BpfError(fmt::format("bpf/inject.bpf.c: cannot share the capture's pid filter: {}",
                               errno_text(err)));
  }
  if (options.thread_tracestates_fd >= 0) {
    if (int err =
            bpf_map__reuse_fd(skeleton->maps.thread_tracestates, options.thread_tracestates_fd);
        err != 0) {
      throw BpfError(fmt::format(
          "bpf/inject.bpf.c: cannot share the capture's tracestates: {}", errno_text(err)));
    }
  }
  if (options.h2_stream_contexts_fd >= 0) {
    if (int err =
            bpf_map__reuse_fd(skeleton->maps.h2_stream_contexts, options.h2_stream_contexts_fd);
        err != 0) {
      throw BpfError(fmt::format(
          "bpf/inject.bpf.c: cannot share the capture's HTTP/2 stream contexts: {}",
          errno_text(err)));
    }
  }
  if (options.thread_contexts_fd >= 0) {
    if (int err = bpf_map__reuse_fd(skeleton->maps.thread_contexts, options.thread_contexts_fd);
        err != 0) {
      throw BpfError(fmt::format("bpf/inject.bpf.c: cannot share the capture's thread contexts: {}",
                                 errno_text(err)));
    }
  }
  if (int err = inject_bpf__load(skeleton); err != 0) {
    throw BpfError(fmt::format("bpf/inject.bpf.c: the kernel refused to load it ({}):\n{}",
                               errno_text(err), log.text()));
  }
  uint8_t allowed = 1;
  for (const hodos_inject_cidr& key : destinations) {
    if (bpf_map__update_elem(skeleton->maps.destinations, &key, sizeof(key), &allowed,
                             sizeof(allowed), BPF_ANY) != 0) {
      throw BpfError(fmt::format("bpf/inject.bpf.c: the destination policy holds at most {} CIDRs",
                                 HODOS_INJECT_MAX_DESTINATIONS));
    }
  }

  // FIONREAD first, before anything can enrol a socket: does the kernel count the bytes of an
  // enrolled socket by itself (fixed by 04af4efde58a), or does it need the sk_skb verdict?
  int sockhash = bpf_map__fd(skeleton->maps.sockets);
  if (std::string wrong = check_fionread(sockhash); wrong.empty()) {
    result.fionread = "kernel";
  } else {
    int sk_skb = attach_to_sockhash(bpf_program__fd(skeleton->progs.pass_received), sockhash,
                                    BPF_SK_SKB_STREAM_VERDICT, "sk_skb stream_verdict");
    injector->sk_skb_link_ = UniqueFd(sk_skb);
    injector->prog_attached_ = sk_skb < 0;
    if (std::string still_wrong = check_fionread(sockhash); !still_wrong.empty()) {
      result.reason = fmt::format("traceparent injection is off: even with the sk_skb verdict, {}",
                                  still_wrong);
      return result;  // the injector (and every attachment) goes away here
    }
    // With the verdict, unread bytes live in the psock: the sockhash must outlive the agent.
    std::string dir = options.pin_dir.empty() ? kDefaultPinDir : options.pin_dir;
    if (std::string error = prepare_pin_dir(dir); !error.empty()) {
      result.reason = fmt::format(
          "traceparent injection is off: this kernel needs the sk_skb verdict for FIONREAD, and "
          "then the sockhash must be pinned so that the agent's exit loses no unread data; {}",
          error);
      return result;
    }
    result.released_sockhashes = release_drained_sockhashes(dir);
    result.kept_connections = connections_in_pinned_sockhashes(dir);  // before this run's pin
    std::string path = fmt::format("{}/{}{}", dir, kPinPrefix, injector->sockhash_map_id());
    if (bpf_obj_pin(sockhash, path.c_str()) != 0) {
      result.reason = fmt::format("traceparent injection is off: cannot pin the sockhash at {}: {}",
                                  path, errno_text(errno));
      return result;
    }
    injector->pin_path_ = path;
    result.pin_path = path;
    result.fionread = "sk_skb verdict";
  }
  int sk_msg = attach_to_sockhash(bpf_program__fd(skeleton->progs.inject_traceparent), sockhash,
                                  BPF_SK_MSG_VERDICT, "sk_msg");
  injector->sk_msg_link_ = UniqueFd(sk_msg);
  injector->prog_attached_ = injector->prog_attached_ || sk_msg < 0;
  result.map_attach_mode = injector->prog_attached_ ? "prog_attach" : "link";

  UniqueFd cgroup_fd(::open(cgroup.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!cgroup_fd.valid()) {
    result.reason = fmt::format("cannot open the cgroup {}: {}", cgroup, errno_text(errno));
    return result;
  }
  bpf_link* link =
      bpf_program__attach_cgroup(skeleton->progs.enrol_client_sockets, cgroup_fd.get());
  if (link == nullptr) {
    throw BpfError(fmt::format("bpf/inject.bpf.c: cannot attach sockops to the cgroup {}: {}\n{}",
                               cgroup, errno_text(errno), log.text()));
  }
  injector->sockops_link_.reset(link);

  injector->ring_.reset(ring_buffer__new(bpf_map__fd(skeleton->maps.injections),
                                         &Injector::on_ring_record, injector.get(), nullptr));
  if (!injector->ring_) {
    throw BpfError(
        fmt::format("bpf/inject.bpf.c: cannot map the ring buffer: {}", errno_text(errno)));
  }
  result.injector = std::move(injector);
  return result;
}

Injector::~Injector() {
  // Stop enrolling first. Then, when pinned, the sockhash stays unless it is empty: its sockets'
  // unread bytes live in it (see start()); a later start() unpins it once they have closed.
  sockops_link_.reset();
  if (skeleton_ && !pin_path_.empty() && sockhash_empty(bpf_map__fd(skeleton_->maps.sockets))) {
    unlink(pin_path_.c_str());
  }
  if (prog_attached_ && skeleton_ && !sk_msg_link_.valid()) {
    bpf_prog_detach2(bpf_program__fd(skeleton_->progs.inject_traceparent),
                     bpf_map__fd(skeleton_->maps.sockets), BPF_SK_MSG_VERDICT);
  }
  sk_msg_link_.reset();
  sk_skb_link_.reset();
  ring_.reset();
  skeleton_.reset();
}

void Injector::stage_context(uint32_t tid, const InjectionContext& context,
                             std::chrono::nanoseconds ttl) {
  hodos_thread_context value = {};
  std::memcpy(value.trace_id, context.trace_id.data(), sizeof(value.trace_id));
  // The thread context's span is the one being served: the parent of the client span.
  std::memcpy(value.span_id, context.parent_span_id.data(), sizeof(value.span_id));
  std::memcpy(value.parent_span_id, context.incoming_span_id.data(), sizeof(value.parent_span_id));
  value.flags = context.flags;
  value.one_shot = 1;
  value.server_fd = -1;
  if (!context.tracestate.empty()) {
    if (context.tracestate.size() > HODOS_TRACESTATE_MAX) {
      throw std::invalid_argument("a tracestate of more than 256 bytes is not carried");
    }
    hodos_tracestate state = {};
    state.len = static_cast<uint32_t>(context.tracestate.size());
    std::memcpy(state.value, context.tracestate.data(), context.tracestate.size());
    if (int err = bpf_map__update_elem(skeleton_->maps.thread_tracestates, &tid, sizeof(tid),
                                       &state, sizeof(state), BPF_ANY);
        err != 0) {
      throw BpfError(
          fmt::format("cannot stage a tracestate for thread {}: {}", tid, errno_text(err)));
    }
    value.has_tracestate = 1;
  }
  value.expires_ns = monotonic_ns() + static_cast<uint64_t>(ttl.count());
  if (int err = bpf_map__update_elem(skeleton_->maps.thread_contexts, &tid, sizeof(tid), &value,
                                     sizeof(value), BPF_ANY);
      err != 0) {
    throw BpfError(
        fmt::format("cannot stage a trace context for thread {}: {}", tid, errno_text(err)));
  }
}

bool Injector::has_staged_context(uint32_t tid) const {
  hodos_thread_context value = {};
  return bpf_map__lookup_elem(skeleton_->maps.thread_contexts, &tid, sizeof(tid), &value,
                              sizeof(value), 0) == 0;
}

void Injector::stage_h2_stream(uint64_t socket_cookie, uint32_t stream_id,
                               const H2StreamContext& context, std::chrono::nanoseconds ttl) {
  hodos_h2_stream_key key = {};
  key.socket_cookie = socket_cookie;
  key.stream_id = stream_id;
  hodos_h2_stream_context value = {};
  std::memcpy(value.trace_id, context.trace_id.data(), sizeof(value.trace_id));
  std::memcpy(value.span_id, context.span_id.data(), sizeof(value.span_id));
  value.flags = context.flags;
  value.expires_ns = monotonic_ns() + static_cast<uint64_t>(ttl.count());
  if (int err = bpf_map__update_elem(skeleton_->maps.h2_stream_contexts, &key, sizeof(key), &value,
                                     sizeof(value), BPF_ANY);
      err != 0) {
    throw BpfError(fmt::format("cannot stage a trace context for HTTP/2 stream {}: {}", stream_id,
                               errno_text(err)));
  }
}

bool Injector::has_staged_h2_stream(uint64_t socket_cookie, uint32_t stream_id) const {
  hodos_h2_stream_key key = {};
  key.socket_cookie = socket_cookie;
  key.stream_id = stream_id;
  hodos_h2_stream_context value = {};
  return bpf_map__lookup_elem(skeleton_->maps.h2_stream_contexts, &key, sizeof(key), &value,
                              sizeof(value), 0) == 0;
}

int Injector::on_ring_record(void* self, void* data, size_t size) {
  if (size < sizeof(hodos_inject_record)) return 0;
  hodos_inject_record raw;
  std::memcpy(&raw, data, sizeof(raw));
  InjectionRecord record;
  record.ktime_ns = raw.ktime_ns;
  record.socket_cookie = raw.socket_cookie;
  record.pid = raw.tgid;
  record.tid = raw.tid;
  std::memcpy(record.trace_id.data(), raw.trace_id, sizeof(raw.trace_id));
  std::memcpy(record.span_id.data(), raw.span_id, sizeof(raw.span_id));
  std::memcpy(record.parent_span_id.data(), raw.parent_span_id, sizeof(raw.parent_span_id));
  record.flags = raw.flags;
  auto* injector = static_cast<Injector*>(self);
  if (injector->on_record_) injector->on_record_(record);
  return 0;
}

int Injector::consume() { return ring_buffer__consume(ring_.get()); }

InjectorCounters Injector::counters() const {
  InjectorCounters out;
  const auto cpus = static_cast<size_t>(std::max(libbpf_num_possible_cpus(), 1));
  std::vector<uint64_t> per_cpu(cpus);
  for (uint32_t i = 0; i < HODOS_INJECT_COUNTER_COUNT; ++i) {
    if (bpf_map__lookup_elem(skeleton_->maps.counters, &i, sizeof(i), per_cpu.data(),
                             per_cpu.size() * sizeof(uint64_t), 0) != 0) {
      continue;
    }
    for (uint64_t v : per_cpu) out.values[i] += v;
  }
  return out;
}

namespace {

std::optional<uint16_t> port_of(const sockaddr_storage& address) {
  if (address.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in&>(address).sin_port);
  if (address.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6&>(address).sin6_port);
  }
  return std::nullopt;
}

// The destination policy's key for `address` (IPv4 in its IPv4-mapped form, as in the trie).
std::optional<hodos_inject_cidr> policy_key(const sockaddr_storage& address) {
  hodos_inject_cidr key = {};
  key.prefixlen = 128;
  if (address.ss_family == AF_INET) {
    key.addr[10] = key.addr[11] = 0xff;
    std::memcpy(&key.addr[12], &reinterpret_cast<const sockaddr_in&>(address).sin_addr, 4);
  } else if (address.ss_family == AF_INET6) {
    std::memcpy(key.addr, &reinterpret_cast<const sockaddr_in6&>(address).sin6_addr, 16);
  } else {
    return std::nullopt;
  }
  return key;
}

int int_option(int fd, int level, int name) {
  int value = -1;
  socklen_t length = sizeof(value);
  return getsockopt(fd, level, name, &value, &length) == 0 ? value : -1;
}

}  // namespace

int Injector::enrol_existing_connections(uint32_t pid) {
  UniqueFd pidfd(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
  if (!pidfd.valid()) return 0;  // gone
  // The process's TCP sockets, through a copy of one descriptor at a time (pidfd_getfd): first its
  // listening ones, whose ports tell the connections it accepted (left out: a server's end) from
  // those it opened; then those.
  const std::string fd_dir = fmt::format("/proc/{}/fd", pid);
  std::vector<int> sockets;
  if (DIR* dir = opendir(fd_dir.c_str())) {
    while (dirent* entry = readdir(dir)) {
      int target = -1;
      const std::string_view name(entry->d_name);
      if (std::from_chars(name.data(), name.data() + name.size(), target).ec != std::errc())
        continue;
      char link[64] = {};
      const std::string path = fd_dir + "/" + entry->d_name;
      if (readlink(path.c_str(), link, sizeof(link) - 1) > 0 &&
          std::string_view(link).starts_with("socket:"))
        sockets.push_back(target);
    }
    closedir(dir);
  }
  const auto copy_tcp = [&](int target) {
    UniqueFd copy(static_cast<int>(syscall(SYS_pidfd_getfd, pidfd.get(), target, 0)));
    if (copy.valid() && (int_option(copy.get(), SOL_SOCKET, SO_TYPE) != SOCK_STREAM ||
                         int_option(copy.get(), SOL_SOCKET, SO_PROTOCOL) != IPPROTO_TCP))
      copy.reset();
    return copy;
  };
  std::vector<uint16_t> listening_ports;
  std::vector<int> connected;
  for (int target : sockets) {
    UniqueFd copy = copy_tcp(target);
    if (!copy.valid()) continue;
    if (int_option(copy.get(), SOL_SOCKET, SO_ACCEPTCONN) != 1) {
      connected.push_back(target);
      continue;
    }
    sockaddr_storage local = {};
    socklen_t length = sizeof(local);
    if (getsockname(copy.get(), reinterpret_cast<sockaddr*>(&local), &length) == 0) {
      if (std::optional<uint16_t> port = port_of(local)) listening_ports.push_back(*port);
    }
  }

  const int marks = bpf_map__fd(skeleton_->maps.socket_marks);
  const int sockhash = bpf_map__fd(skeleton_->maps.sockets);
  int enrolled = 0;
  for (int target : connected) {
    UniqueFd fd = copy_tcp(target);
    if (!fd.valid()) continue;  // closed meanwhile
    sockaddr_storage local = {}, peer = {};
    socklen_t local_length = sizeof(local), peer_length = sizeof(peer);
    if (getsockname(fd.get(), reinterpret_cast<sockaddr*>(&local), &local_length) != 0 ||
        getpeername(fd.get(), reinterpret_cast<sockaddr*>(&peer), &peer_length) != 0)
      continue;  // not connected
    std::optional<uint16_t> port = port_of(local);
    if (!port || std::find(listening_ports.begin(), listening_ports.end(), *port) !=
                     listening_ports.end())
      continue;  // accepted by one of its servers
    std::optional<hodos_inject_cidr> key = policy_key(peer);
    uint8_t allowed = 0;
    if (!key || bpf_map__lookup_elem(skeleton_->maps.destinations, &*key, sizeof(*key), &allowed,
                                     sizeof(allowed), 0) != 0)
      continue;
    // Only an idle connection is enrolled: one with bytes queued either way (a request not yet
    // acknowledged, an answer not yet read) is left alone, since bytes queued before it joins
    // the sockhash can be lost to its reader (an answer read as end of stream was seen in CI).
    int queued_in = 0, queued_out = 0;
    if (ioctl(fd.get(), SIOCINQ, &queued_in) != 0 || ioctl(fd.get(), SIOCOUTQ, &queued_out) != 0 ||
        queued_in > 0 || queued_out > 0)
      continue;
    std::optional<uint64_t> cookie = socket_cookie(fd.get());
    if (!cookie) continue;
    hodos_socket_mark mark = {};
    mark.cookie = *cookie;
    mark.tgid = pid;
    mark.enrolled = 1;
    mark.stream = HODOS_STREAM_RESYNC;
    int socket_key = fd.get();
    // BPF_NOEXIST: a connection sockops marked (enrolled or not) is its business.
    if (bpf_map_update_elem(marks, &socket_key, &mark, BPF_NOEXIST) != 0) continue;
    uint64_t value = static_cast<uint64_t>(fd.get());
    if (bpf_map_update_elem(sockhash, &mark.cookie, &value, BPF_NOEXIST) != 0) {
      bpf_map_delete_elem(marks, &socket_key);
      continue;
    }
    ++enrolled;
  }
  return enrolled;
}

bool Injector::is_enrolled(int fd) const {
  std::optional<uint64_t> cookie = socket_cookie(fd);
  return cookie && is_enrolled_cookie(*cookie);
}

bool Injector::is_enrolled_cookie(uint64_t socket_cookie) const {
  uint64_t value = 0;
  return bpf_map_lookup_elem(bpf_map__fd(skeleton_->maps.sockets), &socket_cookie, &value) == 0;
}

uint32_t Injector::sockhash_map_id() const {
  bpf_map_info info = {};
  uint32_t length = sizeof(info);
  if (bpf_obj_get_info_by_fd(bpf_map__fd(skeleton_->maps.sockets), &info, &length) != 0) return 0;
  return info.id;
}

InjectorProgramStats Injector::sk_msg_stats() const {
  return program_stats(skeleton_->progs.inject_traceparent);
}
InjectorProgramStats Injector::sk_skb_stats() const {
  return program_stats(skeleton_->progs.pass_received);
}
InjectorProgramStats Injector::sockops_stats() const {
  return program_stats(skeleton_->progs.enrol_client_sockets);
}

}  // namespace hodos::agent
