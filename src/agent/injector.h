// Loads bpf/inject.bpf.c: traceparent injection into the HTTP/1.x requests that traced processes
// send to allowed destinations (sockops marks and enrols their client sockets, sk_msg inserts the
// header, an sk_skb verdict keeps FIONREAD right). See docs/how-it-works.md.
//
// The contexts come from the capture (bpf/sockets.bpf.c: the request each thread of a
// thread-context process is serving), through the map it shares (thread_contexts_fd); tests
// stage one-shot contexts from userspace (stage_context).
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "agent/libbpf_log.h"
#include "agent/unique_fd.h"
#include "bpf/inject.h"
#include "bpf/sockets.h"

struct inject_bpf;
struct ring_buffer;
struct bpf_link;

namespace hodos::agent {

struct InjectorOptions {
  // The capture's pid filter (a BPF hash map u32 tgid -> u8, HODOS_MAX_TRACED_PROCESSES entries):
  // only sockets that these processes connect are enrolled. Required; the injector uses the map,
  // it does not own it.
  int traced_processes_fd = -1;
  // The capture's thread contexts (bpf/sockets.h struct hodos_thread_context, by tid): the
  // request each thread is serving, whose trace the thread's outgoing requests carry. -1: the
  // injector's own map, which only stage_context fills (tests).
  int thread_contexts_fd = -1;
  // The capture's incoming tracestates by tid (struct hodos_tracestate); -1: the injector's own.
  int thread_tracestates_fd = -1;
  // The capture's HTTP/2 stream contexts (struct hodos_h2_stream_context, by socket cookie and
  // stream id), which grpc-go's probes stage; -1: the injector's own (tests).
  int h2_stream_contexts_fd = -1;
  bool loopback = true;        // 127.0.0.0/8, ::1
  bool private_ranges = true;  // 10/8, 172.16/12, 192.168/16, fc00::/7, 169.254/16, fe80::/10
  // More destinations: "203.0.113.0/24", "2001:db8::/32", "198.51.100.7".
  std::vector<std::string> allow;
  // Another program using sk_msg/sk_skb/sockops (Cilium, a second tracer, another Hodos) makes
  // the injector stand down unless this is set.
  bool ignore_other_sockmap_users = false;
  // Where sockops attaches; empty: the root of the cgroup v2 hierarchy (from /proc/mounts).
  std::string cgroup_path;
  // A directory on a BPF filesystem where the sockhash is pinned when the kernel needs the
  // sk_skb verdict (see Injector::start). Empty: /sys/fs/bpf/hodos (bpffs is mounted on
  // /sys/fs/bpf if nothing is).
  std::string pin_dir;
};

// A context staged for a thread's next write (a one-shot struct hodos_thread_context).
struct InjectionContext {
  std::array<uint8_t, 16> trace_id{};
  std::array<uint8_t, 8> parent_span_id{};
  uint8_t flags = 1;  // sampled
  std::string tracestate;  // carried after the traceparent when not empty (at most 256 bytes)
  // The span id of the traceparent the request being served came with (zero: a new trace); a
  // request that passes that very header on gets its parent-id updated instead of a new header.
  std::array<uint8_t, 8> incoming_span_id{};
};

// The CLIENT ids of one HTTP/2 stream, staged for the traceparent of its HEADERS frame.
struct H2StreamContext {
  std::array<uint8_t, 16> trace_id{};
  std::array<uint8_t, 8> span_id{};  // the CLIENT span: the traceparent's parent-id
  uint8_t flags = 1;                 // sampled
};

// One injection: the client span must carry exactly these ids.
struct InjectionRecord {
  uint64_t ktime_ns = 0;  // CLOCK_MONOTONIC
  uint64_t socket_cookie = 0;
  uint32_t pid = 0;
  uint32_t tid = 0;
  std::array<uint8_t, 16> trace_id{};
  std::array<uint8_t, 8> span_id{};
  std::array<uint8_t, 8> parent_span_id{};
  uint8_t flags = 0;
};

// Sums over CPUs, indexed by hodos_inject_counter.
struct InjectorCounters {
  std::array<uint64_t, HODOS_INJECT_COUNTER_COUNT> values{};
  uint64_t operator[](hodos_inject_counter which) const { return values[which]; }
  // A stable metric label for each counter: "injected", "not_http", "head_not_in_message", ...
  static std::string_view name(hodos_inject_counter which);
};

struct InjectorProgramStats {
  uint64_t runs = 0;  // zero unless BPF stats are on (kernel.bpf_stats_enabled)
  uint64_t run_time_ns = 0;
};

class Injector;

// What start() decided. `injector` is null when injection is off on this host, and `reason`
// then says why in one line (another sk_msg user, FIONREAD broken, no cgroup v2...).
struct InjectorStart {
  std::unique_ptr<Injector> injector;
  std::string reason;
  // How the programs are attached to the sockhash: "link" (kernel 6.10+) or "prog_attach".
  std::string map_attach_mode;
  // How FIONREAD stays right on enrolled sockets: "kernel" (the kernel gets it right: no verdict,
  // nothing pinned) or "sk_skb verdict" (the sockhash is pinned at `pin_path`).
  std::string fionread;
  std::string pin_path;
  // Sockhashes of earlier runs that had drained and were unpinned at start.
  int released_sockhashes = 0;
  // Connections still in the sockhashes of earlier runs: they keep a stopped agent's programs
  // until they close, and this one cannot enrol them (no traceparent on them meanwhile).
  int kept_connections = 0;
};

class Injector {
 public:
  using RecordCallback = std::function<void(const InjectionRecord&)>;

  // Checks for other sockmap users, loads, checks FIONREAD on an enrolled loopback pair (without,
  // then with the sk_skb verdict), attaches sk_msg to the sockhash and sockops to the cgroup with
  // a link, so that nothing new is enrolled once the agent is gone.
  //
  // With the verdict, received bytes wait in the socket's psock queue, and the kernel frees that
  // queue when the socket leaves the sockhash: freeing the sockhash with unread data would lose
  // it and wedge the connection. So in that mode the sockhash is pinned: it outlives the agent
  // (kill -9 included), its sockets leave it only when they close, and a later start() unpins it
  // once it is empty. Throws std::invalid_argument for bad options and BpfError when the kernel
  // refuses to load.
  static InjectorStart start(const InjectorOptions& options, RecordCallback on_record);
  ~Injector();
  Injector(const Injector&) = delete;
  Injector& operator=(const Injector&) = delete;

  // Stages `context` for thread `tid`'s next message on an enrolled socket, for at most `ttl`.
  // Throws BpfError when the table is full.
  void stage_context(uint32_t tid, const InjectionContext& context,
                     std::chrono::nanoseconds ttl = std::chrono::seconds(1));
  bool has_staged_context(uint32_t tid) const;
  // Stages `context` for the HEADERS frame of stream `stream_id` on the enrolled connection with
  // cookie `socket_cookie` (as grpc-go's probes do). Throws BpfError on failure.
  void stage_h2_stream(uint64_t socket_cookie, uint32_t stream_id, const H2StreamContext& context,
                       std::chrono::nanoseconds ttl = std::chrono::seconds(1));
  bool has_staged_h2_stream(uint64_t socket_cookie, uint32_t stream_id) const;

  // Delivers every injection record in the ring buffer; returns how many.
  int consume();

  // Enrols the established TCP connections process `pid` opened to allowed destinations before
  // sockops could mark them (it was not yet traced with a context when it connected: a pool
  // opened before the agent started, grpc-go dialling at start). Where their requests start is
  // not known, so each waits for a write that starts an HTTP/1.x request head or is made of whole
  // HTTP/2 frames (HODOS_STREAM_RESYNC); any other protocol on them is left alone. Connections
  // already marked are skipped. Returns how many were enrolled.
  int enrol_existing_connections(uint32_t pid);

  InjectorCounters counters() const;
  // Whether the connected TCP socket `fd` (of this process) is enrolled.
  bool is_enrolled(int fd) const;
  bool is_enrolled_cookie(uint64_t socket_cookie) const;
  // The sockhash's kernel id (tests wait for it to be freed).
  uint32_t sockhash_map_id() const;
  InjectorProgramStats sk_msg_stats() const;
  InjectorProgramStats sk_skb_stats() const;
  InjectorProgramStats sockops_stats() const;

 private:
  explicit Injector(RecordCallback on_record) : on_record_(std::move(on_record)) {}
  static int on_ring_record(void* self, void* record, size_t size);

  struct SkeletonDeleter {
    void operator()(inject_bpf* skeleton) const;
  };
  struct RingBufferDeleter {
    void operator()(ring_buffer* ring) const;
  };
  struct LinkDeleter {
    void operator()(bpf_link* link) const;
  };
  std::unique_ptr<inject_bpf, SkeletonDeleter> skeleton_;
  std::unique_ptr<ring_buffer, RingBufferDeleter> ring_;
  std::unique_ptr<bpf_link, LinkDeleter> sockops_link_;
  UniqueFd sk_msg_link_;  // invalid when attached with bpf_prog_attach
  UniqueFd sk_skb_link_;
  bool prog_attached_ = false;
  std::string pin_path_;  // empty: not pinned
  RecordCallback on_record_;
};

// Throws std::invalid_argument naming the problem when `cidr` is not an IPv4 or IPv6 address or
// CIDR ("203.0.113.0/24", "2001:db8::/32", "198.51.100.7") the destination policy takes.
void check_destination_cidr(const std::string& cidr);

// The loaded sk_msg, sk_skb and sockops programs, with their id, type and name ("12 sk_msg foo").
std::vector<std::string> sockmap_programs_on_host();
// Why an agent starting now would not inject (another Hodos agent injects, or another program
// uses the socket-map hooks), or empty: a stopped agent's programs, kept by the connections it
// enrolled, are no reason.
std::string sockmap_conflict();

// Unpins the sockhashes that earlier injectors left in `pin_dir` and whose sockets have all
// closed; returns how many. Those with sockets stay (their unread data lives in them).
int release_drained_sockhashes(const std::string& pin_dir);
// How many connections the sockhashes still pinned in `pin_dir` hold.
int connections_in_pinned_sockhashes(const std::string& pin_dir);

}  // namespace hodos::agent
