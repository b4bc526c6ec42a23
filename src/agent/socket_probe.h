// Loads bpf/sockets.bpf.c (TCP accept/connect/read/write/readv/writev/recvfrom/sendto/recvmsg/
// sendmsg/sendfile/splice/close of traced processes, captured at the syscall boundary, and the
// kernel's decisions about which new processes are traced) and hands its events, decoded, to a
// callback.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "agent/libbpf_log.h"
#include "bpf/sockets.h"
#include "core/ids.h"

struct sockets_bpf;
struct ring_buffer;
struct bpf_map;
struct bpf_program;

namespace hodos::agent {

enum class SocketEventKind : uint8_t {
  kAccept = HODOS_EVENT_ACCEPT,
  kConnect = HODOS_EVENT_CONNECT,
  kData = HODOS_EVENT_DATA,
  kClose = HODOS_EVENT_CLOSE,
  kProcess = HODOS_EVENT_PROCESS,  // see SocketSyscall: kListen/kAccept*/kFork, kExec, kExit
  // The kernel's ids for one HTTP/2 stream (`stream_id` on socket `fd`) of a Go process, from
  // uprobes on grpc-go: kIngress = a call it serves (kServer ids), kEgress = a call it makes
  // (kClient ids). Neither data nor a tuple.
  kStream = HODOS_EVENT_STREAM,
};

enum class SocketSyscall : uint8_t {
  kRead = HODOS_SYSCALL_READ,
  kWrite = HODOS_SYSCALL_WRITE,
  kRecvfrom = HODOS_SYSCALL_RECVFROM,
  kSendto = HODOS_SYSCALL_SENDTO,
  kAccept = HODOS_SYSCALL_ACCEPT,
  kAccept4 = HODOS_SYSCALL_ACCEPT4,
  kConnect = HODOS_SYSCALL_CONNECT,
  kClose = HODOS_SYSCALL_CLOSE,
  kReadv = HODOS_SYSCALL_READV,
  kWritev = HODOS_SYSCALL_WRITEV,
  kRecvmsg = HODOS_SYSCALL_RECVMSG,
  kSendmsg = HODOS_SYSCALL_SENDMSG,
  kSendfile = HODOS_SYSCALL_SENDFILE,
  kSplice = HODOS_SYSCALL_SPLICE,
  kListen = HODOS_SYSCALL_LISTEN,
  // Process events only: a traced process forked this one, ran exec, or exited.
  kFork = HODOS_SYSCALL_FORK,
  kExec = HODOS_SYSCALL_EXEC,
  kExit = HODOS_SYSCALL_EXIT,
  // Data events of a TLS session: the plaintext an OpenSSL read or write moved (uprobes).
  kSslRead = HODOS_SYSCALL_SSL_READ,
  kSslWrite = HODOS_SYSCALL_SSL_WRITE,
  kGoGrpc = HODOS_SYSCALL_GO_GRPC,  // kStream events
};

enum class Direction : uint8_t {
  kNone = HODOS_DIRECTION_NONE,
  kIngress = HODOS_DIRECTION_INGRESS,  // received by the traced process
  kEgress = HODOS_DIRECTION_EGRESS,    // sent by it
};

struct SocketEndpoint {
  uint16_t family = 0;                // AF_INET, AF_INET6 or AF_UNIX
  std::array<uint8_t, 16> address{};  // network order; IPv4 in the first 4 bytes
  uint16_t port = 0;
  // AF_UNIX, the server's end (the path a client connected to, or a server's listener is bound
  // to): the socket's path, "@name" for an abstract one (empty when the kernel could not read it,
  // and for the client's end).
  std::string path;
  bool is_unix() const { return family == HODOS_AF_UNIX; }
  // "127.0.0.1", "::ffff:10.0.0.1"; a Unix socket's path
  std::string address_string() const;
};

// The address a Unix connect() named, as spans show it: a path, or "@" and an abstract name
// (whose bytes are all part of it). A path stops at its first zero byte.
std::string unix_socket_name(std::string_view sun_path);

// Ids the kernel chose for a DATA event (processes in thread-context mode: see
// SocketProbe::set_thread_context and docs/how-it-works.md).
enum class KernelIdsKind : uint8_t {
  kNone = 0,
  // A read that starts an HTTP/1.x request: the SERVER span's trace and span id; parent_span_id is
  // the incoming traceparent's span id (zero when the request brought none and the trace is new).
  kServer = HODOS_IDS_SERVER,
  // A write into which the kernel inserted `traceparent`: the CLIENT span's trace and span id
  // (the ones the callee received) and its parent, the SERVER span the thread was serving.
  kClient = HODOS_IDS_CLIENT,
};

struct KernelSpanIds {
  KernelIdsKind kind = KernelIdsKind::kNone;
  uint8_t flags = 0;  // W3C trace-flags
  core::TraceId trace_id;
  core::SpanId span_id;
  core::SpanId parent_span_id;
};

// One event of the kernel program. `data` and `comm` point into the ring buffer: valid only
// during the callback that receives it.
//
// kProcess events: `syscall` says what happened. kListen, kAccept/kAccept4 (a listener the process
// inherited, or a Unix connection a traced process made: then local.is_unix()) and kFork
// (`result` = the traced parent's pid): the kernel started tracing `pid`.
// kExec: a traced process ran exec. kExit: a traced process exited and left the filter.
struct SocketEvent {
  SocketEventKind kind = SocketEventKind::kData;
  SocketSyscall syscall = SocketSyscall::kRead;
  Direction direction = Direction::kNone;
  bool truncated = false;       // the syscall moved more than `data` holds
  bool capture_failed = false;  // the bytes could not be read: `data` is empty
  bool length_only = false;     // sendfile/splice: no user buffer held the bytes, `data` is empty
  bool no_thread_parent = false;  // a Go process: the writing thread says nothing of the request
  // Plaintext of a TLS session on this socket (kSslRead/kSslWrite); the socket's own reads and
  // writes then carry its ciphertext.
  bool tls = false;
  uint32_t pid = 0;
  uint32_t tid = 0;
  int32_t fd = -1;        // the socket; for kAccept the accepted one
  int64_t result = 0;     // the syscall's return value: bytes moved, new fd, 0 or -errno
  uint64_t enter_ns = 0;  // CLOCK_MONOTONIC
  uint64_t exit_ns = 0;
  SocketEndpoint local;
  SocketEndpoint remote;
  std::string_view data;
  std::string_view comm;  // kProcess: the task's name (the kernel's comm, at most 15 bytes)
  KernelSpanIds ids;      // kData, kStream
  uint32_t stream_id = 0;  // kStream only
  // kConnect/kAccept of a Unix socket: the client socket's inode, the same at both ends of the
  // connection; for kAccept, whether the client's end is followed (a traced process made it).
  uint64_t unix_connection = 0;
  bool unix_peer_followed = false;
};

// Decodes one ring buffer record; nullopt when it is malformed (short, unknown kind, a length
// that runs past the record).
std::optional<SocketEvent> decode_socket_event(const void* record, size_t size);

// What a traced process's threads say about its requests.
enum class TraceMode : uint8_t {
  kDefault,  // nothing known: a call is parented by its thread only when unambiguous
  // The process serves each request on the thread that read it (Python, Java servers): the
  // kernel chooses the ids of its requests' SERVER spans (continuing an incoming traceparent)
  // and keeps each as its thread's context until the answer, for the injector and the events
  // (SocketEvent::ids). Never for event loops or Go, where a thread is not a request.
  kThreadContext,
  // Go: threads run many goroutines each; a call is never parented by its thread.
  kGoroutines,
};

struct SocketProbeOptions {
  uint32_t capture_bytes = HODOS_DEFAULT_CAPTURE_BYTES;  // 1 .. HODOS_MAX_CAPTURE_BYTES
  // A power of two, at least a page. Its pages are mapped twice into the agent (a record can wrap
  // around), so it costs twice this in RSS once the ring has gone round.
  uint32_t ring_buffer_bytes = 2u << 20;
  // The kernel submits records without waking the reader (poll() drains on its timeout) unless
  // the ring holds more than this (at most a quarter of the ring): then it wakes it at once.
  uint32_t wakeup_bytes = 256u << 10;
  // Read the kernel's structures (fd table, socket, 4-tuple) with plain loads where the kernel
  // allows it (bpf_rdonly_cast, Linux 6.2+): each bpf_probe_read_kernel they replace costs tens of
  // ns per followed syscall. false: always the probe-read programs (tests, benchmarks).
  bool typed_reads = true;
  // Attach the uprobe programs (Go's, TLS libraries', nginx's) as one uprobe_multi link per
  // program and process where the kernel has them (see uprobe_multi.h). false: one classic link
  // per offset (`agent.capture.uprobe_multi`).
  bool uprobe_multi = true;
};

// Sums over CPUs of the kernel program's counters, plus what userspace adds.
struct SocketProbeCounters {
  uint64_t events = 0;            // written to the ring buffer
  uint64_t ringbuf_drops = 0;     // lost: the ring buffer was full
  uint64_t truncations = 0;       // data events cut at capture_bytes
  uint64_t pending_overflow = 0;  // syscalls not followed: the in-flight table was full
  uint64_t capture_failures = 0;  // user buffers that could not be read
  // Requests of thread-context processes: a new trace, a continued traceparent, none (full).
  uint64_t contexts_new = 0;
  uint64_t contexts_adopted = 0;
  uint64_t contexts_full = 0;
  // Processes that left thread-context mode: a thread read a second request before answering.
  uint64_t contexts_not_per_thread = 0;
  // TLS plaintext dropped because its session's socket was not known, and reads/writes inside TLS
  // calls not sent (ciphertext).
  uint64_t tls_no_socket = 0;
  uint64_t tls_ciphertext_skipped = 0;
  // Goroutine-context processes (Go): goroutines that got the context of the goroutine that
  // started them, outgoing net/http requests whose context reached the writer goroutine, and
  // syscalls or probes where the g register could not be trusted (cgo code).
  uint64_t go_contexts_inherited = 0;
  uint64_t go_requests_linked = 0;
  uint64_t go_no_goroutine = 0;
  // HTTP/2 in Go (grpc-go, net/http): calls served that got a context, calls made that got
  // CLIENT ids, and server probes that could not tell the call's socket (a wrapped net.Conn).
  uint64_t go_h2_served = 0;
  uint64_t go_h2_calls = 0;
  uint64_t go_h2_no_socket = 0;
  // Connection-context processes (nginx): proxied requests whose upstream calls got the request's
  // context, those with none to give (read before tracing began, or over HTTP/2), and probes
  // whose argument did not look like nginx's request (nothing guessed).
  uint64_t loop_calls_followed = 0;
  uint64_t loop_no_context = 0;
  uint64_t loop_unreadable = 0;
  uint64_t recursion_misses = 0;  // program runs the kernel skipped (nested on one CPU)
  uint64_t decode_errors = 0;     // malformed records (a kernel/userspace mismatch)
};

// Kernel-side run statistics of one program; zero unless BPF stats are enabled
// (bpf_enable_stats(BPF_STATS_RUN_TIME) or sysctl kernel.bpf_stats_enabled=1).
struct ProgramRunStats {
  uint64_t runs = 0;
  uint64_t run_time_ns = 0;
};

class SocketProbe {
 public:
  using EventCallback = std::function<void(const SocketEvent&)>;

  // Opens, loads and attaches the program; nothing is traced until trace_process(). Throws
  // std::invalid_argument for bad options and BpfError when the kernel refuses (its message holds
  // the verifier log when a program was rejected).
  static std::unique_ptr<SocketProbe> open(const SocketProbeOptions& options,
                                           EventCallback on_event);
  ~SocketProbe();
  SocketProbe(const SocketProbe&) = delete;
  SocketProbe& operator=(const SocketProbe&) = delete;

  // The in-kernel pid filter, by process id (all threads of the process), and how the process's
  // threads relate to its requests (TraceMode). Calling it again changes the mode. Throws
  // BpfError when the filter is full.
  void trace_process(uint32_t pid, TraceMode mode = TraceMode::kDefault);
  void untrace_process(uint32_t pid);
  // The never-traced set: the kernel does not start tracing these (nor their future children).
  // Throws BpfError when it is full.
  void never_trace(uint32_t pid);
  void clear_never_trace(uint32_t pid);
  // While on, the kernel starts tracing a process (not never-traced) at its first listen() or
  // accept() on a TCP socket, and reports it with a kProcess event. Off after open().
  void set_trace_listeners(bool on);

  // Waits up to `timeout`, then delivers every event in the ring buffer; returns how many. The
  // kernel does not wake the reader for each event (that would cost a wake-up per record): the
  // wait ends early only when the ring holds more than wakeup_bytes, or for a kProcess event. An
  // exception thrown by the callback stops delivery and propagates.
  int poll(std::chrono::milliseconds timeout);
  // Delivers every event already in the ring buffer, without waiting.
  int consume();
  // Readable when events are ready (for an event loop that calls consume()).
  int epoll_fd() const;

  SocketProbeCounters counters() const;
  ProgramRunStats sys_enter_stats() const;
  ProgramRunStats sys_exit_stats() const;
  // Whether the kernel filter holds the process (tests, diagnostics).
  bool is_traced(uint32_t pid) const;
  bool is_never_traced(uint32_t pid) const;
  bool has_thread_context(uint32_t pid) const;
  // Whether the process has any context a call can carry (thread, goroutine or connection):
  // what the injector's sockops program asks before it marks a connection.
  bool has_call_context(uint32_t pid) const;
  // The maps the injector shares (bpf/inject.bpf.c): the pid filter, and the thread contexts.
  int traced_processes_fd() const;
  int thread_contexts_fd() const;
  int thread_tracestates_fd() const;
  // The CLIENT ids of HTTP/2 streams grpc-go clients open (struct hodos_h2_stream_context).
  int h2_stream_contexts_fd() const;
  // The uprobe programs for OpenSSL (TlsProbe attaches them to a process's library), and the bit
  // of the pid filter saying a process's TLS library is probed (kept across trace_process calls;
  // the kernel clears it at exec).
  struct TlsPrograms {
    bpf_program* read_enter = nullptr;      // SSL_read
    bpf_program* read_ex_enter = nullptr;   // SSL_read_ex
    bpf_program* write_enter = nullptr;     // SSL_write
    bpf_program* write_ex_enter = nullptr;  // SSL_write_ex
    bpf_program* call_return = nullptr;     // the return of any of the four (a uretprobe)
    bpf_program* free_enter = nullptr;      // SSL_free
  };
  TlsPrograms tls_programs() const;
  void set_tls_probed(uint32_t pid, bool on);
  // The uprobe programs on Go code (GoProbe attaches them: entries and return instructions, never
  // uretprobes), and goroutine-context mode: where goid and the stack bounds sit in the
  // process's runtime.g, then the mode bit (kept across trace_process calls while the process is
  // in TraceMode::kGoroutines; the kernel drops both at exec and exit).
  struct GoPrograms {
    bpf_program* newproc1 = nullptr;              // runtime.newproc1, entry
    bpf_program* newproc1_return = nullptr;       // ... its return instructions
    bpf_program* round_trip = nullptr;            // net/http.(*persistConn).roundTrip, entry
    bpf_program* request_write = nullptr;         // net/http.(*Request).write, entry
    // grpc-go's (*http2Server).operateHeaders and net/http's (*http2serverConn).processHeaders,
    // entries; the returns of those and of the functions that run a call's handler (the
    // goroutine is done with the call's context); grpc-go's (*http2Client).NewStream, returns.
    bpf_program* grpc_server_headers = nullptr;
    bpf_program* http2_server_headers = nullptr;
    bpf_program* h2_context_done = nullptr;
    bpf_program* grpc_new_stream_return = nullptr;
    // grpc-go's (*http2Client).newStream, returns; (*loopyWriter).originateStream, entry.
    bpf_program* grpc_stream_made = nullptr;
    bpf_program* grpc_originate_stream = nullptr;
    // crypto/tls.(*Conn).Read and Write, entries; the returns of both.
    bpf_program* tls_read = nullptr;
    bpf_program* tls_write = nullptr;
    bpf_program* tls_return = nullptr;
  };
  GoPrograms go_programs() const;
  // `go`: where the process's runtime.g (and grpc-go, when go.grpc is set) keep what the
  // programs read.
  void set_goroutine_context(uint32_t pid, const hodos_go_process& go);
  void clear_goroutine_context(uint32_t pid);
  bool has_goroutine_context(uint32_t pid) const;
  // Removes what the kernel keeps per goroutine of `pid` (contexts, TLS calls in flight, requests
  // being written): kept by goroutine id, and after an exec (or in a new process with a reused
  // pid) goroutine ids start again from 1. Call before set_goroutine_context() for a process
  // that is not in goroutine-context mode.
  void forget_goroutines(uint32_t pid);
  // The uprobe programs on event-loop runtimes (EventLoopProbe attaches them), and
  // connection-context mode: the process's requests keep their context per connection, and the
  // runtime's own function tells which request an outgoing connection serves (bit kept across
  // trace_process calls except into thread-context mode; the kernel drops it at exec). Turning it
  // on forgets what an earlier program under the same pid left per connection.
  struct EventLoopPrograms {
    bpf_program* nginx_upstream_init = nullptr;         // ngx_http_upstream_init, entry
    bpf_program* nginx_upstream_init_return = nullptr;  // ... its return (a uretprobe)
  };
  EventLoopPrograms event_loop_programs() const;
  void set_connection_context(uint32_t pid, bool on);
  bool has_connection_context(uint32_t pid) const;
  // Whether the loaded programs read the kernel's structures with plain loads (typed_reads and a
  // kernel that allows it).
  bool typed_reads() const { return typed_reads_; }

 private:
  SocketProbe(EventCallback on_event) : on_event_(std::move(on_event)) {}
  static int on_record(void* self, void* record, size_t size);
  // Sets or clears `bit` of a process already in the pid filter (never adds it back).
  void set_mode_bit(uint32_t pid, uint8_t bit, bool on);
  bool has_mode_bit(uint32_t pid, uint8_t bit) const;
  // Deletes the entries of `pid` from maps keyed by a struct that starts with the tgid.
  void forget_process_keys(uint32_t pid, std::initializer_list<bpf_map*> maps);
  int finish_delivery(int result);

  struct SkeletonDeleter {
    void operator()(sockets_bpf* skeleton) const;
  };
  struct RingBufferDeleter {
    void operator()(ring_buffer* ring) const;
  };
  std::unique_ptr<sockets_bpf, SkeletonDeleter> skeleton_;
  std::unique_ptr<ring_buffer, RingBufferDeleter> ring_;
  EventCallback on_event_;
  bool typed_reads_ = false;
  std::exception_ptr callback_error_;
  uint64_t decode_errors_ = 0;
};

}  // namespace hodos::agent
