#include "agent/socket_probe.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <fmt/format.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <stdexcept>
#include <utility>
#include <vector>

#include "agent/uprobe_multi.h"
#include "bpf/sockets.skel.h"

namespace hodos::agent {

namespace {

constexpr size_t kDataOffset = offsetof(hodos_data_event, data);

SocketEndpoint endpoint(uint16_t family, const uint8_t (&address)[16], uint16_t port) {
  SocketEndpoint e;
  e.family = family;
  std::memcpy(e.address.data(), address, e.address.size());
  e.port = port;
  return e;
}

std::string errno_text(int error) { return std::strerror(error < 0 ? -error : error); }

// Whether the kernel has the kfunc the *_typed programs need (bpf_rdonly_cast, Linux 6.2+).
bool kernel_has_rdonly_cast() {
  btf* vmlinux = btf__load_vmlinux_btf();
  if (vmlinux == nullptr) return false;
  const bool found = btf__find_by_name_kind(vmlinux, "bpf_rdonly_cast", BTF_KIND_FUNC) > 0;
  btf__free(vmlinux);
  return found;
}

bpf_prog_info program_info(const bpf_program* program) {
  bpf_prog_info info = {};
  uint32_t length = sizeof(info);
  if (bpf_obj_get_info_by_fd(bpf_program__fd(program), &info, &length) != 0) return {};
  return info;
}

ProgramRunStats run_stats(const bpf_program* program) {
  bpf_prog_info info = program_info(program);
  return {info.run_cnt, info.run_time_ns};
}

}  // namespace

std::string unix_socket_name(std::string_view sun_path) {
  if (sun_path.empty()) return {};
  if (sun_path.front() == '\0') return "@" + std::string(sun_path.substr(1));
  return std::string(sun_path.substr(0, sun_path.find('\0')));
}

std::string SocketEndpoint::address_string() const {
  if (is_unix()) return path;
  // Dual-stack servers (Java's sockets are AF_INET6) see IPv4 peers as ::ffff:a.b.c.d; the span
  // says a.b.c.d, as the peer itself would.
  static constexpr uint8_t kV4MappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  const uint8_t* v4 = nullptr;
  if (family == HODOS_AF_INET) {
    v4 = address.data();
  } else if (std::memcmp(address.data(), kV4MappedPrefix, sizeof(kV4MappedPrefix)) == 0) {
    v4 = address.data() + sizeof(kV4MappedPrefix);
  }
  if (v4 != nullptr) {
    // Every span formats two addresses: by hand, not through inet_ntop's sprintf.
    char text[16];
    char* end = text;
    for (int i = 0; i < 4; ++i) {
      if (i > 0) *end++ = '.';
      end = std::to_chars(end, text + sizeof(text), static_cast<unsigned>(v4[i])).ptr;
    }
    return std::string(text, end);
  }
  char text[INET6_ADDRSTRLEN] = {};
  if (inet_ntop(AF_INET6, address.data(), text, sizeof(text)) == nullptr) return "?";
  return text;
}

namespace {

// The ids at `at` (a hodos_span_ids); false when they cannot be trusted. `required`: kNone is
// not allowed either.
bool decode_ids(const char* at, KernelSpanIds& out, bool required) {
  hodos_span_ids ids;
  std::memcpy(&ids, at, sizeof(ids));
  if (ids.kind == HODOS_IDS_NONE) return !required;
  if (ids.kind != HODOS_IDS_SERVER && ids.kind != HODOS_IDS_CLIENT) return false;
  out.kind = static_cast<KernelIdsKind>(ids.kind);
  out.flags = ids.flags;
  std::memcpy(out.trace_id.bytes.data(), ids.trace_id, sizeof(ids.trace_id));
  std::memcpy(out.span_id.bytes.data(), ids.span_id, sizeof(ids.span_id));
  std::memcpy(out.parent_span_id.bytes.data(), ids.parent_span_id, sizeof(ids.parent_span_id));
  // The kernel never makes all-zero ids: such a record is a mismatch, not ids to trust.
  return out.trace_id.valid() && out.span_id.valid();
}

}  // namespace

std::optional<SocketEvent> decode_socket_event(const void* record, size_t size) {
  hodos_event_header header;
  if (size < sizeof(header)) return std::nullopt;
  std::memcpy(&header, record, sizeof(header));
  if (header.kind < HODOS_EVENT_ACCEPT || header.kind > HODOS_EVENT_STREAM) return std::nullopt;
  if (header.syscall < HODOS_SYSCALL_READ || header.syscall > HODOS_SYSCALL_LAST) {
    return std::nullopt;
  }
  if (header.direction > HODOS_DIRECTION_EGRESS) return std::nullopt;

  SocketEvent event;
  event.kind = static_cast<SocketEventKind>(header.kind);
  event.syscall = static_cast<SocketSyscall>(header.syscall);
  event.direction = static_cast<Direction>(header.direction);
  event.truncated = (header.flags & HODOS_FLAG_TRUNCATED) != 0;
  event.capture_failed = (header.flags & HODOS_FLAG_CAPTURE_FAILED) != 0;
  event.length_only = (header.flags & HODOS_FLAG_LENGTH_ONLY) != 0;
  event.no_thread_parent = (header.flags & HODOS_FLAG_NO_THREAD_PARENT) != 0;
  event.tls = (header.flags & HODOS_FLAG_TLS) != 0;
  event.pid = header.tgid;
  event.tid = header.tid;
  event.fd = header.fd;
  event.result = header.ret;
  event.enter_ns = header.enter_ns;
  event.exit_ns = header.exit_ns;
  const hodos_socket_tuple& t = header.tuple;
  event.local = endpoint(t.family, t.local_addr, t.local_port);
  event.remote = endpoint(t.family, t.remote_addr, t.remote_port);

  if (event.kind == SocketEventKind::kData) {
    if (size < kDataOffset) return std::nullopt;
    uint32_t captured;
    std::memcpy(&captured, static_cast<const char*>(record) + offsetof(hodos_data_event, captured),
                sizeof(captured));
    if (captured > size - kDataOffset || captured > HODOS_MAX_CAPTURE_BYTES) return std::nullopt;
    event.data = std::string_view(static_cast<const char*>(record) + kDataOffset, captured);
    if (!decode_ids(static_cast<const char*>(record) + offsetof(hodos_data_event, ids), event.ids,
                    false)) {
      return std::nullopt;
    }
  } else if (event.kind == SocketEventKind::kStream) {
    if (size < sizeof(hodos_stream_event)) return std::nullopt;
    std::memcpy(&event.stream_id,
                static_cast<const char*>(record) + offsetof(hodos_stream_event, stream_id),
                sizeof(event.stream_id));
    const auto expected = event.direction == Direction::kIngress ? KernelIdsKind::kServer
                                                                  : KernelIdsKind::kClient;
    if (!decode_ids(static_cast<const char*>(record) + offsetof(hodos_stream_event, ids),
                    event.ids, true) ||
        event.ids.kind != expected || event.stream_id == 0) {
      return std::nullopt;
    }
  } else if ((event.kind == SocketEventKind::kConnect ||
              event.kind == SocketEventKind::kAccept) &&
             event.remote.is_unix()) {
    if (size < sizeof(hodos_unix_connection_event)) return std::nullopt;
    hodos_unix_connection_event unix_event;
    std::memcpy(&unix_event, record, sizeof(unix_event));
    if (unix_event.path_length > sizeof(unix_event.path)) return std::nullopt;
    // A client names the server it connected to; a server, the path it listens on.
    SocketEndpoint& named = event.kind == SocketEventKind::kConnect ? event.remote : event.local;
    named.path = unix_socket_name(std::string_view(reinterpret_cast<const char*>(unix_event.path),
                                                   unix_event.path_length));
    event.unix_connection = unix_event.connection;
    event.unix_peer_followed = unix_event.peer_followed != 0;
  } else if (event.kind == SocketEventKind::kProcess) {
    if (size < sizeof(hodos_process_event)) return std::nullopt;
    const char* comm = static_cast<const char*>(record) + offsetof(hodos_process_event, comm);
    event.comm = std::string_view(comm, strnlen(comm, sizeof(hodos_process_event::comm)));
  }
  return event;
}

void SocketProbe::SkeletonDeleter::operator()(sockets_bpf* skeleton) const {
  sockets_bpf__destroy(skeleton);
}

void SocketProbe::RingBufferDeleter::operator()(ring_buffer* ring) const {
  ring_buffer__free(ring);
}

std::unique_ptr<SocketProbe> SocketProbe::open(const SocketProbeOptions& options,
                                               EventCallback on_event) {
  if (options.capture_bytes == 0 || options.capture_bytes > HODOS_MAX_CAPTURE_BYTES) {
    throw std::invalid_argument(fmt::format("capture_bytes must be 1..{}, got {}",
                                            HODOS_MAX_CAPTURE_BYTES, options.capture_bytes));
  }
  uint32_t ring = options.ring_buffer_bytes;
  if (ring < static_cast<uint32_t>(getpagesize()) || (ring & (ring - 1)) != 0) {
    throw std::invalid_argument(
        fmt::format("ring_buffer_bytes must be a power of two of at least a page, got {}", ring));
  }

  LibbpfLogCapture log;
  std::unique_ptr<SocketProbe> probe(new SocketProbe(std::move(on_event)));
  probe->skeleton_.reset(sockets_bpf__open());
  if (!probe->skeleton_) {
    throw BpfError(fmt::format("bpf/sockets.bpf.c: cannot open the BPF object: {}\n{}",
                               errno_text(errno), log.text()));
  }
  sockets_bpf* skeleton = probe->skeleton_.get();
  skeleton->rodata->capture_bytes = options.capture_bytes;
  // A small ring is woken earlier: a burst must fit in what is left after the threshold.
  skeleton->rodata->wakeup_bytes = std::min(options.wakeup_bytes, ring / 4);
  if (int err = bpf_map__set_max_entries(skeleton->maps.events, ring); err != 0) {
    throw BpfError(
        fmt::format("bpf/sockets.bpf.c: cannot size the ring buffer: {}", errno_text(err)));
  }
  // One scratch slot per CPU for building data events.
  const auto cpus = static_cast<uint32_t>(std::max(libbpf_num_possible_cpus(), 1));
  if (int err = bpf_map__set_max_entries(skeleton->maps.data_scratch, cpus); err != 0) {
    throw BpfError(
        fmt::format("bpf/sockets.bpf.c: cannot size the scratch map: {}", errno_text(err)));
  }
  // One pair of syscall programs is loaded: typed reads where the kernel allows them.
  probe->typed_reads_ = options.typed_reads && kernel_has_rdonly_cast();
  bpf_program__set_autoload(skeleton->progs.on_sys_enter, !probe->typed_reads_);
  bpf_program__set_autoload(skeleton->progs.on_sys_exit, !probe->typed_reads_);
  bpf_program__set_autoload(skeleton->progs.on_sys_enter_typed, probe->typed_reads_);
  bpf_program__set_autoload(skeleton->progs.on_sys_exit_typed, probe->typed_reads_);
  // Every uprobe program is attached through uprobe_multi links where the kernel has them
  // (uprobe_multi.h): Go's sit on every return instruction of their functions, dozens of offsets
  // per process, and each classic link takes a grace period to detach, one after another.
  if (options.uprobe_multi && uprobe_multi_available()) {
    const GoPrograms go = probe->go_programs();
    const TlsPrograms tls = probe->tls_programs();
    const EventLoopPrograms loops = probe->event_loop_programs();
    for (bpf_program* program :
         {go.newproc1, go.newproc1_return, go.round_trip, go.request_write,
          go.grpc_server_headers, go.http2_server_headers, go.h2_context_done,
          go.grpc_new_stream_return, go.grpc_stream_made, go.grpc_originate_stream, go.tls_read,
          go.tls_write, go.tls_return, tls.read_enter, tls.read_ex_enter, tls.write_enter,
          tls.write_ex_enter, tls.call_return, tls.free_enter, loops.nginx_upstream_init,
          loops.nginx_upstream_init_return}) {
      use_uprobe_multi(program);
    }
  }
  if (int err = sockets_bpf__load(skeleton); err != 0) {
    throw BpfError(fmt::format("bpf/sockets.bpf.c: the kernel refused to load it ({}):\n{}",
                               errno_text(err), log.text()));
  }
  if (int err = sockets_bpf__attach(skeleton); err != 0) {
    throw BpfError(fmt::format("bpf/sockets.bpf.c: cannot attach to sys_enter/sys_exit and the "
                               "sched_process_* tracepoints ({}):\n{}",
                               errno_text(err), log.text()));
  }
  probe->ring_.reset(ring_buffer__new(bpf_map__fd(skeleton->maps.events), &SocketProbe::on_record,
                                      probe.get(), nullptr));
  if (!probe->ring_) {
    throw BpfError(
        fmt::format("bpf/sockets.bpf.c: cannot map the ring buffer: {}", errno_text(errno)));
  }
  return probe;
}

SocketProbe::~SocketProbe() = default;

void SocketProbe::trace_process(uint32_t pid, TraceMode mode) {
  uint8_t traced = HODOS_TRACED;
  if (mode == TraceMode::kThreadContext) traced |= HODOS_TRACED_THREAD_CONTEXT;
  if (mode == TraceMode::kGoroutines) traced |= HODOS_TRACED_GOROUTINES;
  // The TLS bit is TlsProbe's (set_tls_probed), the goroutine-context bit GoProbe's, the
  // connection-context bit EventLoopProbe's: a change of mode keeps them (the goroutine one only
  // while the process is still seen as Go, the connection one never with thread contexts).
  uint8_t current = 0;
  if (bpf_map__lookup_elem(skeleton_->maps.traced_processes, &pid, sizeof(pid), &current,
                           sizeof(current), 0) == 0) {
    traced |= current & HODOS_TRACED_TLS;
    if (mode == TraceMode::kGoroutines) traced |= current & HODOS_TRACED_GOROUTINE_CONTEXT;
    if (mode != TraceMode::kThreadContext) traced |= current & HODOS_TRACED_CONNECTION_CONTEXT;
  }
  if (int err = bpf_map__update_elem(skeleton_->maps.traced_processes, &pid, sizeof(pid), &traced,
                                     sizeof(traced), BPF_ANY);
      err != 0) {
    throw BpfError(
        fmt::format("cannot trace process {}: {} (the filter holds at most {} processes)", pid,
                    errno_text(err), HODOS_MAX_TRACED_PROCESSES));
  }
}

SocketProbe::TlsPrograms SocketProbe::tls_programs() const {
  const auto& p = skeleton_->progs;
  return {p.on_ssl_read_enter,  p.on_ssl_read_ex_enter, p.on_ssl_write_enter,
          p.on_ssl_write_ex_enter, p.on_ssl_call_return, p.on_ssl_free};
}

void SocketProbe::set_tls_probed(uint32_t pid, bool on) { set_mode_bit(pid, HODOS_TRACED_TLS, on); }

SocketProbe::GoPrograms SocketProbe::go_programs() const {
  const auto& p = skeleton_->progs;
  return {p.on_go_newproc1,
          p.on_go_newproc1_return,
          p.on_go_round_trip,
          p.on_go_request_write,
          p.on_go_grpc_server_headers,
          p.on_go_http2_server_headers,
          p.on_go_h2_context_done,
          p.on_go_grpc_new_stream_return,
          p.on_go_grpc_stream_made,
          p.on_go_grpc_originate_stream,
          p.on_go_tls_read,
          p.on_go_tls_write,
          p.on_go_tls_return};
}

void SocketProbe::set_goroutine_context(uint32_t pid, const hodos_go_process& go) {
  if (int err = bpf_map__update_elem(skeleton_->maps.go_processes, &pid, sizeof(pid), &go,
                                     sizeof(go), BPF_ANY);
      err != 0) {
    throw BpfError(fmt::format("cannot follow the goroutines of process {}: {}", pid,
                               errno_text(err)));
  }
  set_mode_bit(pid, HODOS_TRACED_GOROUTINE_CONTEXT, true);
}

void SocketProbe::clear_goroutine_context(uint32_t pid) {
  set_mode_bit(pid, HODOS_TRACED_GOROUTINE_CONTEXT, false);
  bpf_map__delete_elem(skeleton_->maps.go_processes, &pid, sizeof(pid), 0);
}

void SocketProbe::forget_goroutines(uint32_t pid) {
  forget_process_keys(pid, {skeleton_->maps.goroutine_contexts, skeleton_->maps.go_tls_calls,
                            skeleton_->maps.go_h2_reading, skeleton_->maps.go_requests,
                            skeleton_->maps.go_split_reads});
}

SocketProbe::EventLoopPrograms SocketProbe::event_loop_programs() const {
  const auto& p = skeleton_->progs;
  return {p.on_nginx_upstream_init, p.on_nginx_upstream_init_return};
}

void SocketProbe::set_connection_context(uint32_t pid, bool on) {
  // fds are reused by a new program under the pid: no context of the old one may survive.
  if (on && !has_connection_context(pid)) forget_process_keys(pid, {skeleton_->maps.connection_contexts});
  set_mode_bit(pid, HODOS_TRACED_CONNECTION_CONTEXT, on);
}

bool SocketProbe::has_connection_context(uint32_t pid) const {
  return has_mode_bit(pid, HODOS_TRACED_CONNECTION_CONTEXT);
}

void SocketProbe::forget_process_keys(uint32_t pid, std::initializer_list<bpf_map*> maps) {
  for (bpf_map* map : maps) {
    const size_t key_size = bpf_map__key_size(map);
    std::vector<uint8_t> key(key_size), next(key_size);
    std::vector<std::vector<uint8_t>> gone;
    const int fd = bpf_map__fd(map);
    for (const void* at = nullptr; bpf_map_get_next_key(fd, at, next.data()) == 0; at = key.data()) {
      key = next;
      uint32_t tgid = 0;
      std::memcpy(&tgid, key.data(), sizeof(tgid));
      if (tgid == pid) gone.push_back(key);
    }
    for (const std::vector<uint8_t>& k : gone) bpf_map_delete_elem(fd, k.data());
  }
}

bool SocketProbe::has_goroutine_context(uint32_t pid) const {
  return has_mode_bit(pid, HODOS_TRACED_GOROUTINE_CONTEXT);
}

bool SocketProbe::has_mode_bit(uint32_t pid, uint8_t bit) const {
  uint8_t value = 0;
  return bpf_map__lookup_elem(skeleton_->maps.traced_processes, &pid, sizeof(pid), &value,
                              sizeof(value), 0) == 0 &&
         (value & bit) != 0;
}

void SocketProbe::set_mode_bit(uint32_t pid, uint8_t bit, bool on) {
  uint8_t value = 0;
  if (bpf_map__lookup_elem(skeleton_->maps.traced_processes, &pid, sizeof(pid), &value,
                           sizeof(value), 0) != 0) {
    return;  // not traced (any more): nothing to mark
  }
  value = on ? (value | bit) : (value & ~bit);
  // BPF_EXIST: a process that left the filter meanwhile is not put back.
  bpf_map__update_elem(skeleton_->maps.traced_processes, &pid, sizeof(pid), &value, sizeof(value),
                       BPF_EXIST);
}

void SocketProbe::untrace_process(uint32_t pid) {
  // Absent already is fine: the result is the same.
  bpf_map__delete_elem(skeleton_->maps.traced_processes, &pid, sizeof(pid), 0);
}

void SocketProbe::never_trace(uint32_t pid) {
  uint8_t never = 1;
  if (int err = bpf_map__update_elem(skeleton_->maps.never_traced, &pid, sizeof(pid), &never,
                                     sizeof(never), BPF_ANY);
      err != 0) {
    throw BpfError(fmt::format("cannot exclude process {}: {} (the set holds at most {})", pid,
                               errno_text(err), HODOS_MAX_TRACED_PROCESSES));
  }
}

void SocketProbe::clear_never_trace(uint32_t pid) {
  bpf_map__delete_elem(skeleton_->maps.never_traced, &pid, sizeof(pid), 0);
}

void SocketProbe::set_trace_listeners(bool on) {
  // .bss is mapped into this process: the programs see the store at once.
  __atomic_store_n(&skeleton_->bss->trace_listeners, on ? 1u : 0u, __ATOMIC_RELEASE);
}

bool SocketProbe::is_traced(uint32_t pid) const {
  uint8_t value = 0;
  return bpf_map__lookup_elem(skeleton_->maps.traced_processes, &pid, sizeof(pid), &value,
                              sizeof(value), 0) == 0;
}

bool SocketProbe::has_thread_context(uint32_t pid) const {
  return has_mode_bit(pid, HODOS_TRACED_THREAD_CONTEXT);
}

bool SocketProbe::has_call_context(uint32_t pid) const {
  return has_mode_bit(pid, HODOS_TRACED_THREAD_CONTEXT | HODOS_TRACED_GOROUTINE_CONTEXT |
                               HODOS_TRACED_CONNECTION_CONTEXT);
}

int SocketProbe::traced_processes_fd() const {
  return bpf_map__fd(skeleton_->maps.traced_processes);
}

int SocketProbe::thread_tracestates_fd() const {
  return bpf_map__fd(skeleton_->maps.thread_tracestates);
}

int SocketProbe::thread_contexts_fd() const {
  return bpf_map__fd(skeleton_->maps.thread_contexts);
}

int SocketProbe::h2_stream_contexts_fd() const {
  return bpf_map__fd(skeleton_->maps.h2_stream_contexts);
}

bool SocketProbe::is_never_traced(uint32_t pid) const {
  uint8_t value = 0;
  return bpf_map__lookup_elem(skeleton_->maps.never_traced, &pid, sizeof(pid), &value,
                              sizeof(value), 0) == 0;
}

int SocketProbe::on_record(void* self, void* record, size_t size) {
  auto* probe = static_cast<SocketProbe*>(self);
  std::optional<SocketEvent> event = decode_socket_event(record, size);
  if (!event) {
    ++probe->decode_errors_;
    return 0;
  }
  // libbpf is C: an exception must not unwind through it. Stop, and rethrow after it returns.
  try {
    probe->on_event_(*event);
  } catch (...) {
    probe->callback_error_ = std::current_exception();
    return -ECANCELED;
  }
  return 0;
}

int SocketProbe::finish_delivery(int result) {
  if (callback_error_) std::rethrow_exception(std::exchange(callback_error_, nullptr));
  if (result == -EINTR) return 0;
  if (result < 0) throw BpfError(fmt::format("reading the ring buffer: {}", errno_text(result)));
  return result;
}

int SocketProbe::poll(std::chrono::milliseconds timeout) {
  // Woken early (the ring is filling, a process event) or not, what the ring holds goes now.
  const int woken =
      finish_delivery(ring_buffer__poll(ring_.get(), static_cast<int>(timeout.count())));
  return woken + finish_delivery(ring_buffer__consume(ring_.get()));
}

int SocketProbe::consume() { return finish_delivery(ring_buffer__consume(ring_.get())); }

int SocketProbe::epoll_fd() const { return ring_buffer__epoll_fd(ring_.get()); }

SocketProbeCounters SocketProbe::counters() const {
  uint64_t sums[HODOS_COUNTER_COUNT] = {};
  int cpus = libbpf_num_possible_cpus();
  if (cpus > 0) {
    std::vector<uint64_t> per_cpu(static_cast<size_t>(cpus));
    for (uint32_t key = 0; key < HODOS_COUNTER_COUNT; ++key) {
      if (bpf_map__lookup_elem(skeleton_->maps.counters, &key, sizeof(key), per_cpu.data(),
                               per_cpu.size() * sizeof(uint64_t), 0) != 0) {
        continue;
      }
      for (uint64_t v : per_cpu) sums[key] += v;
    }
  }
  SocketProbeCounters c;
  c.events = sums[HODOS_COUNTER_EVENTS];
  c.ringbuf_drops = sums[HODOS_COUNTER_RINGBUF_DROPS];
  c.truncations = sums[HODOS_COUNTER_TRUNCATIONS];
  c.pending_overflow = sums[HODOS_COUNTER_PENDING_OVERFLOW];
  c.capture_failures = sums[HODOS_COUNTER_CAPTURE_FAILURES];
  c.contexts_new = sums[HODOS_COUNTER_CONTEXT_NEW];
  c.contexts_adopted = sums[HODOS_COUNTER_CONTEXT_ADOPTED];
  c.contexts_full = sums[HODOS_COUNTER_CONTEXT_FULL];
  c.contexts_not_per_thread = sums[HODOS_COUNTER_CONTEXT_NOT_PER_THREAD];
  c.tls_no_socket = sums[HODOS_COUNTER_TLS_NO_SOCKET];
  c.tls_ciphertext_skipped = sums[HODOS_COUNTER_TLS_CIPHERTEXT_SKIPPED];
  c.go_contexts_inherited = sums[HODOS_COUNTER_GO_CONTEXT_INHERITED];
  c.go_requests_linked = sums[HODOS_COUNTER_GO_REQUESTS_LINKED];
  c.go_no_goroutine = sums[HODOS_COUNTER_GO_NO_GOROUTINE];
  c.go_h2_served = sums[HODOS_COUNTER_GO_H2_SERVED];
  c.go_h2_calls = sums[HODOS_COUNTER_GO_H2_CALLS];
  c.go_h2_no_socket = sums[HODOS_COUNTER_GO_H2_NO_SOCKET];
  c.loop_calls_followed = sums[HODOS_COUNTER_LOOP_CALLS_FOLLOWED];
  c.loop_no_context = sums[HODOS_COUNTER_LOOP_NO_CONTEXT];
  c.loop_unreadable = sums[HODOS_COUNTER_LOOP_UNREADABLE];
  for (const bpf_program* program :
       {skeleton_->progs.on_sys_enter, skeleton_->progs.on_sys_exit,
        skeleton_->progs.on_sys_enter_typed, skeleton_->progs.on_sys_exit_typed,
        skeleton_->progs.on_process_fork, skeleton_->progs.on_process_exec,
        skeleton_->progs.on_process_exit, skeleton_->progs.on_ssl_read_enter,
        skeleton_->progs.on_ssl_read_ex_enter, skeleton_->progs.on_ssl_write_enter,
        skeleton_->progs.on_ssl_write_ex_enter, skeleton_->progs.on_ssl_call_return,
        skeleton_->progs.on_ssl_free, skeleton_->progs.on_go_newproc1,
        skeleton_->progs.on_go_newproc1_return, skeleton_->progs.on_go_round_trip,
        skeleton_->progs.on_go_request_write, skeleton_->progs.on_go_grpc_server_headers,
        skeleton_->progs.on_go_http2_server_headers, skeleton_->progs.on_go_h2_context_done,
        skeleton_->progs.on_go_grpc_new_stream_return, skeleton_->progs.on_go_grpc_stream_made,
        skeleton_->progs.on_go_grpc_originate_stream, skeleton_->progs.on_go_tls_read,
        skeleton_->progs.on_go_tls_write, skeleton_->progs.on_go_tls_return,
        skeleton_->progs.on_nginx_upstream_init,
        skeleton_->progs.on_nginx_upstream_init_return}) {
    if (bpf_program__fd(program) < 0) continue;  // the pair not loaded
    c.recursion_misses += program_info(program).recursion_misses;
  }
  c.decode_errors = decode_errors_;
  return c;
}

ProgramRunStats SocketProbe::sys_enter_stats() const {
  return run_stats(typed_reads_ ? skeleton_->progs.on_sys_enter_typed
                                : skeleton_->progs.on_sys_enter);
}

ProgramRunStats SocketProbe::sys_exit_stats() const {
  return run_stats(typed_reads_ ? skeleton_->progs.on_sys_exit_typed
                                : skeleton_->progs.on_sys_exit);
}

}  // namespace hodos::agent
