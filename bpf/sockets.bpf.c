/* Captures the TCP traffic of traced processes at the syscall boundary: accept/accept4, connect,
 * read/write, readv/writev, recvfrom/sendto, recvmsg/sendmsg, sendfile/splice and close on TCP
 * sockets become events in a ring buffer, data events with the first bytes moved (sendfile and
 * splice: the length only). It also decides, in the kernel, which new processes are traced: a
 * process that listens on (or accepts from) a TCP socket, and a child of a traced process, unless
 * the agent put it in the never-traced set; children of never-traced processes are never traced.
 *
 * Attached to the raw sys_enter/sys_exit tracepoints (tp_btf: no tracefs, no kprobes needed).
 * Those fire for every syscall on the host, so each program rejects what it does not follow as
 * early and cheaply as it can: the syscall number first (no map access), then the pid filter
 * (one hash lookup), then the fd (a few kernel reads to reach the socket).
 *
 * For processes in thread-context mode (HODOS_TRACED_THREAD_CONTEXT) it also decides the trace
 * context of each request a thread reads (continuing an incoming traceparent, or a new trace),
 * keeps it as the thread's until the answer is written, and puts the ids on the events, so that
 * the agent's spans and the traceparent bpf/inject.bpf.c inserts agree. */
/* vmlinux.h defines the kernel types every other header uses: it comes first. */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "http_head.bpf.h"
#include "sockets.h"
#include "syscalls.h"
#include "shared_maps.bpf.h"
#include "task_socket.bpf.h"

char LICENSE[] SEC("license") = "GPL";

/* ---- configuration and maps (all of them, in one place) ---------------------------------- */

/* Set by the loader before load; at most HODOS_MAX_CAPTURE_BYTES. */
const volatile __u32 capture_bytes = HODOS_DEFAULT_CAPTURE_BYTES;

/* Records are submitted without waking the agent, which drains the ring on a short timer: a
 * wake-up per record (the kernel's default) costs an IPI in the kernel and a context switch in the
 * agent, several times per request. Only the record that takes the ring past this many bytes
 * wakes the agent at once, so that a burst does not overflow it (each record past it would cost
 * an IPI again while the agent catches up). Set by the loader. */
const volatile __u64 wakeup_bytes = 256 << 10;

/* 1 while the rule "every process listening on TCP is a source" is on: the agent sets it at run
 * time (.bss is mapped into the agent). */
volatile __u32 trace_listeners = 0;

/* Processes never to trace, by tgid: Hodos's own, excluded ones, those whose SDK exports their
 * spans. Filled by the agent; inherited by children at fork; removed at exit. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, HODOS_MAX_TRACED_PROCESSES);
  __type(key, __u32);
  __type(value, __u8);
} never_traced SEC(".maps");

/* What sys_enter learnt about a followed syscall, for its sys_exit. */
struct pending_call {
  __u64 enter_ns;
  __u64 sk;    /* struct sock *, valid until the syscall returns (the file is held) */
  __u64 buf;   /* user buffer, iovec array (readv/writev) or msghdr (recvmsg/sendmsg) */
  __u64 count; /* readv/writev: the number of iovecs */
  __s32 fd;
  __u16 syscall;
  __u8 direction;
  __u8 mode; /* the process's traced_processes value (HODOS_TRACED_*) at entry */
  struct hodos_socket_tuple tuple; /* close only: the socket may be gone at exit (and connect's
                                    * family) */
  __u64 goid; /* goroutine-context processes: the goroutine making the call; 0 if not known */
  __u64 unix_inode; /* a Unix socket's inode (connect, close): its key in unix_sockets with sk */
};

/* Syscalls in flight, by thread (pid_tgid): one entry per traced thread inside a followed call. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 32768);
  __type(key, __u64);
  __type(value, struct pending_call);
} pending_calls SEC(".maps");

/* Size set by the loader before load. */
struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 2 << 20);
} events SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, HODOS_COUNTER_COUNT);
  __type(key, __u32);
  __type(value, __u64);
} counters SEC(".maps");

/* A data event is built here (too big for the stack), then copied into the ring buffer at the
 * length it needs. One slot per CPU (the loader sets max_entries to the number of CPUs):
 * programs on one CPU never nest (the kernel skips a recursive run). A plain array indexed by CPU rather than a
 * per-CPU array, whose values are limited to 32 KiB: the spill area is never written, it lets the
 * verifier accept a copy at a variable offset (< HODOS_MAX_CAPTURE_BYTES) of a variable size
 * (<= HODOS_MAX_CAPTURE_BYTES) without proving that their sum stays within the capture. */
struct data_scratch_slot {
  struct hodos_data_event event;
  __u8 spill[HODOS_MAX_CAPTURE_BYTES];
};
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct data_scratch_slot);
} data_scratch SEC(".maps");

/* A tracestate is built here before it goes into thread_tracestates (too big for the stack). */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct hodos_tracestate);
} tracestate_scratch SEC(".maps");

/* A TLS library call in flight (SSL_read/SSL_write and their _ex forms), by thread (pid_tgid):
 * from its entry uprobe to its return uprobe. A socket read or write the thread makes meanwhile
 * is the session's ciphertext: it names the session's socket, and is not sent itself. */
struct tls_call {
  __u64 enter_ns;
  __u64 ssl;     /* SSL * */
  __u64 buf;     /* the plaintext buffer */
  __u64 length;  /* the _ex forms: size_t * of the bytes moved; 0 for SSL_read/SSL_write */
  __s32 fd;      /* the socket a nested read or write used; -1 until then */
  __u16 syscall; /* HODOS_SYSCALL_SSL_READ or HODOS_SYSCALL_SSL_WRITE */
  __u16 pad;
};
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 16384);
  __type(key, __u64);
  __type(value, struct tls_call);
} tls_calls SEC(".maps");

/* The socket of each TLS session (key: the SSL * in its process), learnt from a nested read or
 * write, or from the socket read just before an SSL_read; used by calls that make no syscall
 * (plaintext buffered by the library, or a library that does its I/O through memory buffers).
 * Forgotten at SSL_free. */
struct tls_session_key {
  __u64 ssl;
  __u32 tgid;
  __u32 pad;
};
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 65536);
  __type(key, struct tls_session_key);
  __type(value, __s32);
} tls_sessions SEC(".maps");

/* The last TCP socket each thread of a TLS process read from (key: tid): Node (and Python's
 * SSLObject) read the ciphertext from the socket, then call SSL_read on the session it belongs
 * to, on the same thread, before reading any other socket. The first SSL_read after the read
 * uses it up: a later one on the thread (another session's, with nothing read for it, as when
 * Node starts a client session while serving a request) must not take that socket. Only a read
 * that starts with a TLS record can have brought ciphertext: any other read (a Redis answer read
 * just before Node starts a new client session) is kept as used, so that no session takes a
 * plaintext connection's socket. */
struct tls_last_read {
  __s32 fd;
  __u32 used;
};
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 16384);
  __type(key, __u32);
  __type(value, struct tls_last_read);
} tls_last_reads SEC(".maps");

/* A flag of pending_call.mode beyond the HODOS_TRACED_* bits: the call runs inside a TLS call. */
#define PENDING_INSIDE_TLS 0x80
/* pending_call.mode: a context (the goroutine's, or the one bound to the connection written) is
 * staged as the thread's for this call only. */
#define PENDING_CONTEXT_STAGED 0x40

/* ---- helpers ------------------------------------------------------------------------------ */

static __always_inline void count(enum hodos_counter counter) {
  __u32 key = counter;
  __u64 *value = bpf_map_lookup_elem(&counters, &key);
  if (value) *value += 1;
}

/* A copy of `ctx` for another goroutine, connection or thread: no injection recorded yet, and no
 * incoming tracestate (carried per thread only). */
static __always_inline struct hodos_thread_context fresh_copy(const struct hodos_thread_context *ctx) {
  struct hodos_thread_context copy = *ctx;
  __builtin_memset(copy.injected_span_id, 0, sizeof(copy.injected_span_id));
  copy.injected_ns = 0;
  copy.has_tracestate = 0;
  return copy;
}

/* Makes a copy of `ctx` the thread's for one syscall (the sk_msg injection and the write's
 * sys_exit read it; sys_exit removes it). Returns whether it was staged. */
static __always_inline bool stage_context(__u32 tid, const struct hodos_thread_context *ctx) {
  struct hodos_thread_context staged = fresh_copy(ctx);
  return bpf_map_update_elem(&thread_contexts, &tid, &staged, BPF_ANY) == 0;
}

/* The enum hodos_syscall of a syscall number, or 0 when it is not followed. */
#include "goroutines.bpf.h"

static __always_inline __u32 followed_syscall(long nr) {
  switch (nr) {
    case HODOS_NR_read:
      return HODOS_SYSCALL_READ;
    case HODOS_NR_write:
      return HODOS_SYSCALL_WRITE;
    case HODOS_NR_recvfrom:
      return HODOS_SYSCALL_RECVFROM;
    case HODOS_NR_sendto:
      return HODOS_SYSCALL_SENDTO;
    case HODOS_NR_accept:
      return HODOS_SYSCALL_ACCEPT;
    case HODOS_NR_accept4:
      return HODOS_SYSCALL_ACCEPT4;
    case HODOS_NR_connect:
      return HODOS_SYSCALL_CONNECT;
    case HODOS_NR_close:
      return HODOS_SYSCALL_CLOSE;
    case HODOS_NR_readv:
      return HODOS_SYSCALL_READV;
    case HODOS_NR_writev:
      return HODOS_SYSCALL_WRITEV;
    case HODOS_NR_recvmsg:
      return HODOS_SYSCALL_RECVMSG;
    case HODOS_NR_sendmsg:
      return HODOS_SYSCALL_SENDMSG;
    case HODOS_NR_sendfile:
      return HODOS_SYSCALL_SENDFILE;
    case HODOS_NR_splice:
      return HODOS_SYSCALL_SPLICE;
    case HODOS_NR_listen:
      return HODOS_SYSCALL_LISTEN;
    default:
      return 0;
  }
}

/* splice's direction depends on which end is the socket: it is decided at entry. */
static __always_inline __u8 direction_of(__u32 syscall) {
  switch (syscall) {
    case HODOS_SYSCALL_READ:
    case HODOS_SYSCALL_RECVFROM:
    case HODOS_SYSCALL_READV:
    case HODOS_SYSCALL_RECVMSG:
      return HODOS_DIRECTION_INGRESS;
    case HODOS_SYSCALL_WRITE:
    case HODOS_SYSCALL_SENDTO:
    case HODOS_SYSCALL_WRITEV:
    case HODOS_SYSCALL_SENDMSG:
    case HODOS_SYSCALL_SENDFILE:
      return HODOS_DIRECTION_EGRESS;
    default:
      return HODOS_DIRECTION_NONE;
  }
}

/* The flags of a record's submission, given the bytes the ring holds with this record counted
 * (`record` of them, its 8-byte header included): a wake-up only when this record crosses
 * wakeup_bytes. Two CPUs crossing at once may both miss it; the agent's timer drains anyway. */
static __always_inline __u64 submit_flags(__u64 held, __u64 record) {
  return held > wakeup_bytes && held - record <= wakeup_bytes ? BPF_RB_FORCE_WAKEUP
                                                              : BPF_RB_NO_WAKEUP;
}

/* A ring buffer record's footprint: its length plus an 8-byte header, rounded up to 8. */
static __always_inline __u64 record_bytes(__u64 size) { return (size + 8 + 7) & ~7ull; }

static __always_inline void fill_header(struct hodos_event_header *header,
                                        const struct pending_call *call, __u64 pid_tgid, long ret,
                                        __u8 kind) {
  header->enter_ns = call->enter_ns;
  header->exit_ns = bpf_ktime_get_ns();
  header->ret = ret;
  header->tgid = pid_tgid >> 32;
  header->tid = (__u32)pid_tgid;
  header->fd = call->fd;
  header->kind = kind;
  header->syscall = call->syscall;
  header->direction = call->direction;
  header->flags = 0;
}

/* ACCEPT, CONNECT and CLOSE: a header-only event. */
static __always_inline void emit_connection_event(const struct pending_call *call, __u64 pid_tgid,
                                                  long ret, __u8 kind, int fd, struct sock *sk,
                                                  const bool typed) {
  struct hodos_event_header *header = bpf_ringbuf_reserve(&events, sizeof(*header), 0);
  if (!header) {
    count(HODOS_COUNTER_RINGBUF_DROPS);
    return;
  }
  fill_header(header, call, pid_tgid, ret, kind);
  header->fd = fd;
  if (sk)
    read_socket_tuple(sk, &header->tuple, typed);
  else
    header->tuple = call->tuple;
  const __u64 record = record_bytes(sizeof(*header));
  /* Reserved already: the ring's count includes this record. */
  bpf_ringbuf_submit(header, submit_flags(bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA), record));
  count(HODOS_COUNTER_EVENTS);
}

/* A traced process connected a Unix stream socket: it is followed from now on, and the agent
 * learns the path it connected to (read back from the connect() argument, still in the caller's
 * memory). */
static __always_inline void follow_unix_connection(const struct pending_call *call, __u64 pid_tgid,
                                                   long ret) {
  struct unix_socket_key key = {.sk = call->sk, .inode = call->unix_inode};
  __u8 one = 1;
  if (bpf_map_update_elem(&unix_sockets, &key, &one, BPF_ANY)) return;
  struct hodos_unix_connection_event *event = bpf_ringbuf_reserve(&events, sizeof(*event), 0);
  if (!event) {
    count(HODOS_COUNTER_RINGBUF_DROPS);
    return;
  }
  fill_header(&event->header, call, pid_tgid, ret, HODOS_EVENT_CONNECT);
  __builtin_memset(&event->header.tuple, 0, sizeof(event->header.tuple));
  event->header.tuple.family = HODOS_AF_UNIX;
  event->connection = call->unix_inode;
  event->peer_followed = 0;
  __builtin_memset(event->pad, 0, sizeof(event->pad));
  /* call->count: connect()'s address length; the path follows sun_family. */
  __u64 length = call->count > 2 ? call->count - 2 : 0;
  if (length > HODOS_UNIX_PATH_MAX) length = HODOS_UNIX_PATH_MAX;
  if (bpf_probe_read_user(event->path, length, (const void *)(call->buf + 2))) length = 0;
  event->path_length = length;
  const __u64 record = record_bytes(sizeof(*event));
  bpf_ringbuf_submit(event, submit_flags(bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA), record));
  count(HODOS_COUNTER_EVENTS);
}

/* ---- trace context of thread-context processes --------------------------------------------- */

#define CAPTURE_MASK (HODOS_MAX_CAPTURE_BYTES - 1)

/* HTTP/2 connections, by socket: their reads and writes are captured up to
 * HODOS_MAX_CAPTURE_BYTES whatever capture_bytes is, because a header block the capture misses
 * breaks the connection's HPACK state for good (and reads of a busy connection hold many). Marked
 * by the client preface going through (the value: HTTP2_CLIENT when the process wrote it,
 * HTTP2_SERVER when it read it); LRU, and forgotten at close. */
#define HTTP2_CLIENT 1
#define HTTP2_SERVER 2
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 16384);
  __type(key, __u64);
  __type(value, __u8);
} http2_sockets SEC(".maps");

/* HTTP2_CLIENT or HTTP2_SERVER for a marked socket, else 0. */
static __always_inline __u8 h2_side(__u64 sk) {
  __u8 *side = bpf_map_lookup_elem(&http2_sockets, &sk);
  return side ? *side : 0;
}

/* Whether the HEADERS a goroutine with a context writes name its call (HODOS_GO_HTTP2_CLIENT). */
static __always_inline bool h2_writers_name_calls(__u32 tgid) {
  const struct hodos_go_process *go = bpf_map_lookup_elem(&go_processes, &tgid);
  return go && (go->probes & HODOS_GO_HTTP2_CLIENT);
}

/* "PRI * HT", the start of the HTTP/2 client preface. */
static __always_inline bool is_http2_preface(const __u8 *p) {
  return p[0] == 'P' && p[1] == 'R' && p[2] == 'I' && p[3] == ' ' && p[4] == '*' && p[5] == ' ' &&
         p[6] == 'H' && p[7] == 'T';
}

/* How many bytes of this call to capture at most: capture_bytes, or all that fit for HTTP/2 (a
 * connection already marked, or a plain read or write that starts with the preface and would be
 * cut: its first read often holds the first requests too). */
static __always_inline __u64 capture_limit(const struct pending_call *call, long ret) {
  if (bpf_map_lookup_elem(&http2_sockets, &call->sk)) return HODOS_MAX_CAPTURE_BYTES;
  if ((__u64)ret <= capture_bytes) return capture_bytes;
  switch (call->syscall) {
    case HODOS_SYSCALL_READ:
    case HODOS_SYSCALL_WRITE:
    case HODOS_SYSCALL_RECVFROM:
    case HODOS_SYSCALL_SENDTO: {
      __u8 head[8];
      if (bpf_probe_read_user(head, sizeof(head), (const void *)call->buf) == 0 &&
          is_http2_preface(head))
        return HODOS_MAX_CAPTURE_BYTES;
      break;
    }
  }
  return capture_bytes;
}

/* A captured byte; the mask keeps the verifier's view of the index inside the scratch slot. */
static __always_inline __u8 byte_at(const struct hodos_data_event *event, __u32 i) {
  return event->data[i & CAPTURE_MASK];
}

/* Where the request line's CR is when the first `n` captured bytes start with an HTTP/1.x request
 * line (a method of capital letters, a space, ... " HTTP/1.x" CRLF within 1024 bytes); else 0.
 * `prefix` (0 or 1): the method's first letter came in the socket's previous read (Go's server
 * reads a request's first byte alone when its background read gets it). */
static __always_inline __u32 captured_request_line(const struct hodos_data_event *event, __u32 n,
                                                   __u32 prefix) {
  __u32 method = 0;
#pragma clang loop unroll(disable)
  for (__u32 i = 0; i < 17; i++) {
    if (i >= n) return 0;
    __u8 c = byte_at(event, i);
    if (c == ' ') {
      method = i + prefix;
      break;
    }
    if (c < 'A' || c > 'Z') return 0;
  }
  if (method < 3) return 0;
  __u32 limit = n < 1024 ? n : 1024;
  __u32 cr = 0;
  struct bpf_iter_num it;
  int *index;
  bpf_iter_num_new(&it, 13, 1024);
  while ((index = bpf_iter_num_next(&it))) {
    __u32 i = *index;
    if (i + 1 >= limit) break;
    __u8 c = byte_at(event, i);
    if (c == '\n') break;
    if (c == '\r') {
      cr = i;
      break;
    }
  }
  bpf_iter_num_destroy(&it);
  /* "GET / HTTP/1.1" is the shortest request line. */
  if (cr + prefix < 14 || cr + 2 > n) return 0;
  __u8 version[11];
#pragma clang loop unroll(disable)
  for (__u32 i = 0; i < 11; i++) version[i] = byte_at(event, cr - 9 + i);
  return is_request_line_version(version) ? cr : 0;
}

/* Where the values of the `traceparent` and `tracestate` headers start (after their OWS) in the
 * head that follows the request line ending at `cr`; 0 for a header not within the captured
 * head. */
struct trace_headers {
  __u32 traceparent;
  __u32 tracestate;
};

static __always_inline __u32 skip_ows(const struct hodos_data_event *event, __u32 at) {
#pragma clang loop unroll(disable)
  for (__u32 k = 0; k < 4 && at; k++) {
    __u8 c = byte_at(event, at);
    if (c != ' ' && c != '\t') break;
    at++;
  }
  return at;
}

static __always_inline void captured_trace_headers(const struct hodos_data_event *event, __u32 cr,
                                                   __u32 n, struct trace_headers *found) {
  __u32 limit = n < HODOS_CONTEXT_MAX_HEAD ? n : HODOS_CONTEXT_MAX_HEAD;
  struct bpf_iter_num it;
  int *index;
  bpf_iter_num_new(&it, cr + 1, HODOS_CONTEXT_MAX_HEAD);
  while ((index = bpf_iter_num_next(&it))) {
    __u32 i = *index;
    if (i + 14 > limit) break;
    if (byte_at(event, i) != '\n') continue;
    __u8 first = byte_at(event, i + 1);
    if (first == '\r') break; /* the blank line: end of the head */
    if ((first | 0x20) != 't') continue;
    __u8 name[12];
#pragma clang loop unroll(disable)
    for (__u32 k = 0; k < 12; k++) name[k] = byte_at(event, i + 1 + k);
    if (is_traceparent_name(name)) found->traceparent = i + 13;
    if (is_tracestate_name(name)) found->tracestate = i + 12;
  }
  bpf_iter_num_destroy(&it);
  found->traceparent = skip_ows(event, found->traceparent);
  found->tracestate = skip_ows(event, found->tracestate);
}

/* Keeps the tracestate value at `at` (up to its CR) as the thread's, when it is in the captured
 * bytes and not longer than HODOS_TRACESTATE_MAX; true when kept. */
static __always_inline bool keep_tracestate(const struct hodos_data_event *event, __u32 at,
                                            __u32 n, __u32 tid) {
  __u32 zero = 0;
  struct hodos_tracestate *value = bpf_map_lookup_elem(&tracestate_scratch, &zero);
  if (!value || at == 0) return false;
  __u32 len = 0;
  bool ended = false;
  struct bpf_iter_num it;
  int *index;
  bpf_iter_num_new(&it, 0, HODOS_TRACESTATE_MAX + 1);
  while ((index = bpf_iter_num_next(&it))) {
    __u32 k = *index;
    if (at + k >= n) break;
    __u8 c = byte_at(event, at + k);
    if (c == '\r') {
      ended = true;
      break;
    }
    if (k >= HODOS_TRACESTATE_MAX) break;
    value->value[k & (HODOS_TRACESTATE_MAX - 1)] = c;
    len = k + 1;
  }
  bpf_iter_num_destroy(&it);
  if (!ended || len == 0) return false;
  value->len = len;
  return bpf_map_update_elem(&thread_tracestates, &tid, value, BPF_ANY) == 0;
}

static __always_inline int hex_value(__u8 c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1; /* W3C trace context: lowercase only */
}

/* `len` bytes from 2*len hex digits at `at`; false on a non-hex digit. */
static __always_inline bool captured_hex(const struct hodos_data_event *event, __u32 at, __u8 *out,
                                         __u32 len) {
  __u8 any = 0;
#pragma clang loop unroll(disable)
  for (__u32 k = 0; k < 16; k++) {
    if (k >= len) break;
    int hi = hex_value(byte_at(event, at + 2 * k));
    int lo = hex_value(byte_at(event, at + 2 * k + 1));
    if (hi < 0 || lo < 0) return false;
    out[k & 15] = (hi << 4) | lo;
    any |= out[k & 15];
  }
  return any != 0; /* all-zero ids are invalid */
}

/* Parses `00-<32 hex>-<16 hex>-<2 hex>` at `at` into ctx (trace id, parent span id, flags). */
static __always_inline bool captured_traceparent_value(const struct hodos_data_event *event,
                                                       __u32 at, __u32 n,
                                                       struct hodos_thread_context *ctx) {
  if (at == 0 || at + 55 > n) return false;
  if (byte_at(event, at) != '0' || byte_at(event, at + 1) != '0' || byte_at(event, at + 2) != '-' ||
      byte_at(event, at + 35) != '-' || byte_at(event, at + 52) != '-')
    return false;
  if (at + 55 < n) {
    __u8 next = byte_at(event, at + 55);
    if (next != '\r' && next != ' ' && next != '\t') return false; /* version 00 is exactly 55 */
  }
  __u8 flags[1];
  if (!captured_hex(event, at + 3, ctx->trace_id, 16)) return false;
  if (!captured_hex(event, at + 36, ctx->parent_span_id, 8)) return false;
  int hi = hex_value(byte_at(event, at + 53)), lo = hex_value(byte_at(event, at + 54));
  if (hi < 0 || lo < 0) return false;
  flags[0] = (hi << 4) | lo;
  ctx->flags = flags[0];
  return true;
}

static __always_inline void random_bytes(__u8 *out, __u32 words) {
#pragma clang loop unroll(disable)
  for (__u32 k = 0; k < 4; k++) {
    if (k >= words) break;
    __u32 r = bpf_get_prandom_u32();
    if (r == 0) r = 1; /* never an all-zero id */
    __builtin_memcpy(out + 4 * (k & 3), &r, 4);
  }
}

static __always_inline void copy_ids(struct hodos_span_ids *ids, const __u8 *trace, const __u8 *span,
                                     const __u8 *parent, __u8 flags, __u8 kind) {
  __builtin_memcpy(ids->trace_id, trace, 16);
  __builtin_memcpy(ids->span_id, span, 8);
  __builtin_memcpy(ids->parent_span_id, parent, 8);
  ids->flags = flags;
  ids->kind = kind;
}

/* A STREAM event (SERVER or CLIENT ids for one HTTP/2 stream); counts it under `counter` too
 * (HODOS_COUNTER_GO_H2_SERVED or _CALLS) once it is in the ring. false when the ring was full. */
static __always_inline bool emit_stream_event(__u64 pid_tgid, int fd, __u32 stream_id,
                                              const __u8 *trace_id, const __u8 *span_id,
                                              const __u8 *parent_span_id, __u8 flags, __u8 kind,
                                              enum hodos_counter counter) {
  struct hodos_stream_event *event = bpf_ringbuf_reserve(&events, sizeof(*event), 0);
  if (!event) {
    count(HODOS_COUNTER_RINGBUF_DROPS);
    return false;
  }
  __builtin_memset(&event->header, 0, sizeof(event->header));
  event->header.enter_ns = event->header.exit_ns = bpf_ktime_get_ns();
  event->header.tgid = pid_tgid >> 32;
  event->header.tid = (__u32)pid_tgid;
  event->header.fd = fd;
  event->header.kind = HODOS_EVENT_STREAM;
  event->header.syscall = HODOS_SYSCALL_GO_GRPC;
  event->header.direction =
      kind == HODOS_IDS_SERVER ? HODOS_DIRECTION_INGRESS : HODOS_DIRECTION_EGRESS;
  __builtin_memset(&event->ids, 0, sizeof(event->ids));
  copy_ids(&event->ids, trace_id, span_id, parent_span_id, flags, kind);
  event->stream_id = stream_id;
  event->pad = 0;
  const __u64 record = record_bytes(sizeof(*event));
  bpf_ringbuf_submit(event, submit_flags(bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA), record));
  count(HODOS_COUNTER_EVENTS);
  count(counter);
  return true;
}

/* The context of a request read: `adopted` when ctx holds the incoming traceparent's trace id,
 * parent span id and flags, else a new trace; its SERVER span id is made here. */
static __always_inline void start_request_context(struct hodos_thread_context *ctx, bool adopted,
                                                  int server_fd, __u64 now) {
  if (adopted) {
    count(HODOS_COUNTER_CONTEXT_ADOPTED);
  } else {
    __builtin_memset(ctx->parent_span_id, 0, sizeof(ctx->parent_span_id));
    random_bytes(ctx->trace_id, 4);
    ctx->flags = 1; /* sampled: Hodos records every request */
    count(HODOS_COUNTER_CONTEXT_NEW);
  }
  random_bytes(ctx->span_id, 2);
  ctx->server_fd = server_fd;
  ctx->expires_ns = now + HODOS_CONTEXT_TTL_NS;
}

/* A thread-context process read bytes: when they start a request, it becomes the thread's: its
 * trace continues the incoming traceparent, or is new; its SERVER span id is made here.
 *
 * A global function: the verifier checks it once, on its own, instead of once for every path
 * through the capture that leads here (inlined, that walk passed its million-instruction limit). */
__noinline int begin_request_context(struct hodos_data_event *event, __u64 pid_tgid, int fd,
                                     __u32 prefix) {
  if (!event) return 0;
  __u32 n = event->captured;
  if (n > HODOS_MAX_CAPTURE_BYTES || prefix > 1) return 0;
  __u32 cr = captured_request_line(event, n, prefix);
  if (cr == 0) return 0;
  __u32 tid = (__u32)pid_tgid;
  __u64 now = bpf_ktime_get_ns();
  struct hodos_thread_context *open = bpf_map_lookup_elem(&thread_contexts, &tid);
  if (open && !open->one_shot && open->server_fd != fd && now <= open->expires_ns) {
    /* A second request read on this thread before the first was answered: an event loop (or a
     * hand-off to other threads), not a thread per request. Which request an outgoing call
     * belongs to cannot be told here, so the process leaves thread-context mode for good. */
    __u32 tgid = pid_tgid >> 32;
    __u8 *mode = bpf_map_lookup_elem(&traced_processes, &tgid);
    if (mode) *mode &= ~HODOS_TRACED_THREAD_CONTEXT;
    bpf_map_delete_elem(&thread_contexts, &tid);
    count(HODOS_COUNTER_CONTEXT_NOT_PER_THREAD);
    return 0;
  }
  struct hodos_thread_context ctx = {};
  struct trace_headers headers = {};
  captured_trace_headers(event, cr, n, &headers);
  const bool adopted = captured_traceparent_value(event, headers.traceparent, n, &ctx);
  /* W3C: a tracestate goes on only with the valid traceparent it came with. */
  if (adopted) ctx.has_tracestate = keep_tracestate(event, headers.tracestate, n, tid);
  start_request_context(&ctx, adopted, fd, now);
  if (!ctx.has_tracestate) bpf_map_delete_elem(&thread_tracestates, &tid);
  if (bpf_map_update_elem(&thread_contexts, &tid, &ctx, BPF_ANY)) {
    count(HODOS_COUNTER_CONTEXT_FULL);
    return 0;
  }
  copy_ids(&event->ids, ctx.trace_id, ctx.span_id, ctx.parent_span_id, ctx.flags,
           HODOS_IDS_SERVER);
  return 1;
}

/* A thread-context process wrote bytes: on the request's own socket that is the answer, and the
 * thread is done with it; elsewhere, if bpf/inject.bpf.c inserted a traceparent into this write,
 * the event gets the CLIENT span's ids it sent. */
static __always_inline void follow_request_context(struct hodos_data_event *event,
                                                   const struct pending_call *call, __u32 tid) {
  struct hodos_thread_context *ctx = bpf_map_lookup_elem(&thread_contexts, &tid);
  if (!ctx) return;
  if (ctx->server_fd == call->fd) {
    bpf_map_delete_elem(&thread_contexts, &tid);
    return;
  }
  if (ctx->injected_ns != 0 && ctx->injected_ns >= call->enter_ns) {
    copy_ids(&event->ids, ctx->trace_id, ctx->injected_span_id, ctx->span_id, ctx->flags,
             HODOS_IDS_CLIENT);
  }
}

/* A write with a context that got no header (TLS plaintext from Go's crypto/tls, encrypted on
 * the wire; a goroutine's or a connection-context process's call to a destination injection does
 * not touch, or on a connection it did not enrol): when
 * it starts a request, the event gets the CLIENT span's ids, a child of the context's SERVER span,
 * and the callee is joined by stitching. A global function, checked once on its own, as
 * begin_request_context. */
__noinline int name_uninjected_call(struct hodos_data_event *event,
                                    const struct hodos_thread_context *ctx, __u32 n) {
  if (!event || !ctx || n > HODOS_MAX_CAPTURE_BYTES || !captured_request_line(event, n, 0))
    return 0;
  __u8 span_id[8];
  random_bytes(span_id, 2);
  copy_ids(&event->ids, ctx->trace_id, span_id, ctx->span_id, ctx->flags, HODOS_IDS_CLIENT);
  return 1;
}

/* Frames of one write looked at for the HEADERS of the stream it opens. */
#define H2_FRAMES_LOOKED_AT 8
#define H2_FRAME_HEADER 9
#define H2_PREFACE_LENGTH 24
#define H2_HEADERS 1

/* A goroutine with a context wrote on an HTTP/2 connection it opened (Go's net/http client writes
 * each request's HEADERS from the goroutine `go cs.doRequest` starts, which inherits the caller's
 * context): the first HEADERS frame of the write opens the call's stream, whose CLIENT ids (a
 * child of the context's SERVER span) a STREAM event tells the agent. Frames are walked from the
 * write's start (after the preface); a frame header that does not hold together (a write that
 * starts inside a frame) ends the walk: no ids rather than a wrong stream. A global function,
 * checked once on its own. */
__noinline int name_h2_call(struct hodos_data_event *event, const struct hodos_thread_context *ctx,
                            __u32 n, __u64 pid_tgid, int fd) {
  if (!event || !ctx || n > HODOS_MAX_CAPTURE_BYTES) return 0;
  __u32 at = 0;
  if (n >= H2_PREFACE_LENGTH && is_http2_preface(event->data)) at = H2_PREFACE_LENGTH;
  for (__u32 i = 0; i < H2_FRAMES_LOOKED_AT; i++) {
    if (at + H2_FRAME_HEADER > n) return 0;
    const __u32 length = ((__u32)byte_at(event, at) << 16) | ((__u32)byte_at(event, at + 1) << 8) |
                         byte_at(event, at + 2);
    const __u8 type = byte_at(event, at + 3);
    const __u32 stream = ((__u32)byte_at(event, at + 5) << 24) |
                         ((__u32)byte_at(event, at + 6) << 16) |
                         ((__u32)byte_at(event, at + 7) << 8) | byte_at(event, at + 8);
    /* Ten frame types (RFC 9113); the reserved bit clear; a length within the largest frame. */
    if (type > 9 || (stream >> 31) || length > HODOS_MAX_CAPTURE_BYTES) return 0;
    if (type == H2_HEADERS) {
      if (!(stream & 1)) return 0; /* a client opens odd streams */
      __u8 span_id[8];
      random_bytes(span_id, 2);
      emit_stream_event(pid_tgid, fd, stream, ctx->trace_id, span_id, ctx->span_id, ctx->flags,
                        HODOS_IDS_CLIENT, HODOS_COUNTER_GO_H2_CALLS);
      return 1;
    }
    at += H2_FRAME_HEADER + length;
  }
  return 0;
}

/* The request's socket is closed without an answer: the thread is done with it. */
static __always_inline void end_request_context(__u32 tid, int fd) {
  struct hodos_thread_context *ctx = bpf_map_lookup_elem(&thread_contexts, &tid);
  if (ctx && ctx->server_fd == fd) bpf_map_delete_elem(&thread_contexts, &tid);
}

#include "event_loops.bpf.h"

/* One walk of an iovec array, for capture_one_iovec. */
struct iovec_capture {
  struct hodos_data_event *event;
  const struct iovec *iov;
  __u64 iov_count;
  __u64 wanted;
  __u64 captured;
  int failed;
};

/* bpf_loop's body: copies iovec `i` (as much of it as is still wanted); 1 ends the walk. A
 * callback is verified once, however many iovecs are walked: inlined, 32 of them passed the
 * verifier's million-instruction limit (Node's HTTP/2 writes frame by frame with writev). */
static long capture_one_iovec(__u64 i, void *data) {
  struct iovec_capture *c = data;
  if (i >= c->iov_count || c->captured >= c->wanted) return 1;
  struct iovec vec;
  if (bpf_probe_read_user(&vec, sizeof(vec), &c->iov[i])) {
    c->failed = 1;
    return 1;
  }
  __u64 n = vec.iov_len;
  if (n > c->wanted - c->captured) n = c->wanted - c->captured;
  /* Explicit bounds for the verifier: offset < MAX, size <= MAX (the spill area covers it). */
  __u64 offset = c->captured & (HODOS_MAX_CAPTURE_BYTES - 1);
  if (n > HODOS_MAX_CAPTURE_BYTES) n = HODOS_MAX_CAPTURE_BYTES;
  if (n == 0) return 0;
  if (bpf_probe_read_user(c->event->data + offset, n, vec.iov_base)) {
    c->failed = 1;
    return 1;
  }
  c->captured += n;
  return 0;
}

/* Copies up to `wanted` bytes from the user's iovec array into event->data, iovec by iovec (at
 * most HODOS_MAX_CAPTURED_IOVECS); returns the bytes copied, or -1 when user memory could not be
 * read. */
static __always_inline long capture_iovecs(struct hodos_data_event *event,
                                           const struct iovec *iov, __u64 iov_count,
                                           __u64 wanted) {
  struct iovec_capture c = {
      .event = event, .iov = iov, .iov_count = iov_count, .wanted = wanted};
  bpf_loop(HODOS_MAX_CAPTURED_IOVECS, capture_one_iovec, &c, 0);
  return c.failed ? -1 : (long)c.captured;
}

static __always_inline void emit_data_event(const struct pending_call *call, __u64 pid_tgid,
                                            long ret, const bool typed) {
  __u32 cpu = bpf_get_smp_processor_id();
  struct data_scratch_slot *slot = bpf_map_lookup_elem(&data_scratch, &cpu);
  if (!slot) return;
  struct hodos_data_event *event = &slot->event;
  fill_header(&event->header, call, pid_tgid, ret, HODOS_EVENT_DATA);
  read_socket_tuple((struct sock *)call->sk, &event->header.tuple, typed);
  __builtin_memset(&event->ids, 0, sizeof(event->ids));
  if (call->mode & HODOS_TRACED_GOROUTINES) event->header.flags |= HODOS_FLAG_NO_THREAD_PARENT;
  if (call->syscall == HODOS_SYSCALL_SSL_READ || call->syscall == HODOS_SYSCALL_SSL_WRITE)
    event->header.flags |= HODOS_FLAG_TLS;

  __u64 wanted = ret;
  const __u64 limit = capture_limit(call, ret);
  if (wanted > limit) wanted = limit;
  /* An explicit bound for the verifier, whatever capture_bytes the loader chose. */
  if (wanted > HODOS_MAX_CAPTURE_BYTES) wanted = HODOS_MAX_CAPTURE_BYTES;
  long captured = 0;
  switch (call->syscall) {
    case HODOS_SYSCALL_SENDFILE:
    case HODOS_SYSCALL_SPLICE:
      /* The bytes went between a file or pipe and the socket inside the kernel. */
      event->header.flags |= HODOS_FLAG_LENGTH_ONLY;
      wanted = 0;
      break;
    case HODOS_SYSCALL_READV:
    case HODOS_SYSCALL_WRITEV:
      captured = capture_iovecs(event, (const struct iovec *)call->buf, call->count, wanted);
      break;
    case HODOS_SYSCALL_RECVMSG:
    case HODOS_SYSCALL_SENDMSG: {
      struct user_msghdr msg;
      if (bpf_probe_read_user(&msg, sizeof(msg), (const void *)call->buf))
        captured = -1;
      else
        captured = capture_iovecs(event, msg.msg_iov, msg.msg_iovlen, wanted);
      break;
    }
    default:
      if (bpf_probe_read_user(event->data, wanted, (const void *)call->buf)) captured = -1;
      else captured = wanted;
      break;
  }
  if (captured < 0) {
    captured = 0;
    event->header.flags |= HODOS_FLAG_CAPTURE_FAILED;
    count(HODOS_COUNTER_CAPTURE_FAILURES);
  } else if ((__u64)captured < (__u64)ret && wanted > 0) {
    /* Cut at capture_bytes, or more iovecs than are walked. */
    event->header.flags |= HODOS_FLAG_TRUNCATED;
    count(HODOS_COUNTER_TRUNCATIONS);
  }
  if (captured > HODOS_MAX_CAPTURE_BYTES) captured = HODOS_MAX_CAPTURE_BYTES;
  event->captured = captured;
  if (captured >= 8 && is_http2_preface(event->data)) {
    __u8 side = call->direction == HODOS_DIRECTION_EGRESS ? HTTP2_CLIENT : HTTP2_SERVER;
    bpf_map_update_elem(&http2_sockets, &call->sk, &side, BPF_ANY);
  }
  if (call->mode & HODOS_TRACED_THREAD_CONTEXT) {
    if (call->direction == HODOS_DIRECTION_INGRESS)
      begin_request_context(event, pid_tgid, call->fd, 0);
    else
      follow_request_context(event, call, (__u32)pid_tgid);
  } else if ((call->mode & HODOS_TRACED_GOROUTINE_CONTEXT) && call->goid) {
    __u32 tid = (__u32)pid_tgid, tgid = pid_tgid >> 32;
    if (call->direction == HODOS_DIRECTION_INGRESS) {
      const __u32 prefix = take_split_read(tgid, call->fd);
      if (begin_request_context(event, pid_tgid, call->fd, prefix))
        adopt_thread_context(tgid, call->goid, tid);
      else if (captured == 1 && ret == 1)
        remember_split_read(event, tgid, call->fd);
    } else if (call->mode & PENDING_CONTEXT_STAGED) {
      struct hodos_thread_context *staged = bpf_map_lookup_elem(&thread_contexts, &tid);
      if (staged && staged->server_fd == call->fd)
        end_goroutine_context(tgid, call->goid, call->fd);
      else if (h2_side(call->sk) == HTTP2_CLIENT && h2_writers_name_calls(tgid))
        name_h2_call(event, staged, captured, pid_tgid, call->fd);
      else if (call->syscall == HODOS_SYSCALL_SSL_WRITE)
        name_uninjected_call(event, staged, captured);
      else {
        follow_request_context(event, call, tid);
        /* No header went in (a destination outside the policy, a connection not enrolled): the
         * call is still the request's child, its callee joined by stitching. */
        if (event->ids.kind == HODOS_IDS_NONE) name_uninjected_call(event, staged, captured);
      }
    }
  } else if (call->mode & HODOS_TRACED_CONNECTION_CONTEXT) {
    if (call->direction != HODOS_DIRECTION_INGRESS)
      follow_connection_write(event, call, pid_tgid);
    else if (begin_request_context(event, pid_tgid, call->fd, 0))
      adopt_connection_context(pid_tgid >> 32, (__u32)pid_tgid, call->fd);
  }
  const __u64 size = offsetof(struct hodos_data_event, data) + captured;
  /* Not yet in the ring: its count does not include this record. */
  const __u64 record = record_bytes(size);
  const __u64 held = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) + record;
  if (bpf_ringbuf_output(&events, event, size, submit_flags(held, record)))
    count(HODOS_COUNTER_RINGBUF_DROPS);
  else
    count(HODOS_COUNTER_EVENTS);
}

/* Tells the agent about a process: the kernel started tracing it, it ran exec, or it exited. */
static __always_inline void emit_process_event(__u32 tgid, __u32 tid, __u32 what, __s64 ret,
                                               int fd, struct sock *sk, const bool typed) {
  struct hodos_process_event *event = bpf_ringbuf_reserve(&events, sizeof(*event), 0);
  if (!event) {
    count(HODOS_COUNTER_RINGBUF_DROPS);
    return;
  }
  __builtin_memset(&event->header, 0, sizeof(event->header));
  event->header.enter_ns = bpf_ktime_get_ns();
  event->header.exit_ns = event->header.enter_ns;
  event->header.ret = ret;
  event->header.tgid = tgid;
  event->header.tid = tid;
  event->header.fd = fd;
  event->header.kind = HODOS_EVENT_PROCESS;
  event->header.syscall = what;
  if (sk) read_socket_tuple(sk, &event->header.tuple, typed);
  bpf_get_current_comm(event->comm, sizeof(event->comm));
  /* Rare, and discovery waits for them: the agent is woken at once. */
  bpf_ringbuf_submit(event, BPF_RB_FORCE_WAKEUP);
  count(HODOS_COUNTER_EVENTS);
}

/* A process the agent has not decided on listens on (or accepts from) a TCP socket: with the rule
 * "every process listening on TCP is a source" on, it is traced from this syscall on, and the
 * agent is told so that it reads the process's identity. Returns whether it is traced now. */
static __always_inline bool trace_new_listener(__u32 tgid, __u32 tid, __u32 syscall, int fd,
                                               struct sock *sk, const bool typed) {
  if (!trace_listeners) return false;
  if (bpf_map_lookup_elem(&never_traced, &tgid)) return false;
  __u8 traced = 1;
  /* NOEXIST: two threads racing here report the process once. */
  if (bpf_map_update_elem(&traced_processes, &tgid, &traced, BPF_NOEXIST)) return true;
  emit_process_event(tgid, tid, syscall, 0, fd, sk, typed);
  return true;
}

/* A connection accepted on a Unix stream listener. A traced process (`traced`) follows it from
 * now on, whoever the client is. An untraced one is traced from now on when the client's end is
 * followed (a traced process connected it: the server of a traced process's calls over a path,
 * as gunicorn behind nginx), with the rule "every process listening on TCP is a source" on;
 * else nothing happens. The ACCEPT event carries the listener's path and the client socket's
 * inode (what the client's CONNECT event carries), so that the agent can pair the two ends.
 * Not inlined, and with bpf_probe_read_kernel only: the sys_exit programs are near the
 * verifier's budget, and both pairs share it. */
__noinline int accept_unix_connection(__u64 enter_ns, __u32 syscall, int listener, long fd,
                                      int traced) {
  const __u64 pid_tgid = bpf_get_current_pid_tgid();
  __u64 inode = 0;
  struct sock *sk = tcp_sock_of_fd_or_unix((int)fd, false, UNIX_CONNECTING, &inode);
  if (!sk || !inode) return 0;
  struct unix_sock *server = (struct unix_sock *)sk;
  struct sock *peer = BPF_CORE_READ(server, peer);
  /* The client's socket is alive (it holds a file): its inode is the one its connect() saw. */
  const __u64 peer_inode = peer ? BPF_CORE_READ(peer, sk_socket, file, f_inode, i_ino) : 0;
  struct unix_socket_key peer_key = {.sk = (__u64)peer, .inode = peer_inode};
  const bool peer_followed = peer_inode && bpf_map_lookup_elem(&unix_sockets, &peer_key);
  const __u32 tgid = pid_tgid >> 32;
  if (!traced &&
      (!peer_followed || !trace_new_listener(tgid, (__u32)pid_tgid, syscall, listener, sk, false)))
    return 0;

  struct unix_socket_key key = {.sk = (__u64)sk, .inode = inode};
  __u8 one = 1;
  if (bpf_map_update_elem(&unix_sockets, &key, &one, BPF_ANY)) return 0;
  struct hodos_unix_connection_event *event = bpf_ringbuf_reserve(&events, sizeof(*event), 0);
  if (!event) {
    count(HODOS_COUNTER_RINGBUF_DROPS);
    return 0;
  }
  struct pending_call call = {};
  call.enter_ns = enter_ns;
  call.fd = (int)fd;
  call.syscall = syscall;
  call.direction = HODOS_DIRECTION_NONE;
  fill_header(&event->header, &call, pid_tgid, fd, HODOS_EVENT_ACCEPT);
  __builtin_memset(&event->header.tuple, 0, sizeof(event->header.tuple));
  event->header.tuple.family = HODOS_AF_UNIX;
  event->connection = peer_inode;
  event->peer_followed = peer_followed;
  __builtin_memset(event->pad, 0, sizeof(event->pad));
  /* The listener's address, shared by the sockets it accepts: its length counts sun_family. */
  struct unix_address *address = BPF_CORE_READ(server, addr);
  __u32 length = 0;
  if (address) {
    const __u32 address_length = (__u32)BPF_CORE_READ(address, len);
    length = address_length > 2 ? address_length - 2 : 0;
    if (length > HODOS_UNIX_PATH_MAX) length = HODOS_UNIX_PATH_MAX;
    /* The verifier must see an unsigned bound at the call. */
    asm volatile("%[length] &= 0x7f" : [length] "+r"(length));
    const void *path = (const void *)address + bpf_core_field_offset(struct unix_address, name) +
                       bpf_core_field_offset(struct sockaddr_un, sun_path);
    if (bpf_probe_read_kernel(event->path, length, path)) length = 0;
  }
  event->path_length = length;
  const __u64 record = record_bytes(sizeof(*event));
  bpf_ringbuf_submit(event, submit_flags(bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA), record));
  count(HODOS_COUNTER_EVENTS);
  return 0;
}

/* ---- programs ----------------------------------------------------------------------------- */

/* The bodies of sys_enter and sys_exit, for two pairs of programs: *_typed reads the kernel's
 * structures with plain loads (bpf_rdonly_cast, Linux 6.2+), the others with
 * bpf_probe_read_kernel (any kernel with BTF). The loader loads one pair. */
static __always_inline int sys_enter_body(struct pt_regs *regs, long nr, const bool typed) {
  __u32 syscall = followed_syscall(nr);
  if (!syscall) return 0;
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  __u32 tgid = pid_tgid >> 32;
  __u8 *traced = bpf_map_lookup_elem(&traced_processes, &tgid);
  __u8 mode = traced ? *traced : HODOS_TRACED;
  if (!traced) {
    /* Untraced: only a new server (listen, or accept on a listener it inherited) goes on. An
     * accept on a Unix stream listener is decided at its exit, by who connected (see
     * accept_unix_connection): the call is followed with mode 0 (not HODOS_TRACED) till then. */
    if (syscall != HODOS_SYSCALL_LISTEN && syscall != HODOS_SYSCALL_ACCEPT &&
        syscall != HODOS_SYSCALL_ACCEPT4)
      return 0;
    int listener = (int)PT_REGS_PARM1_CORE_SYSCALL(regs);
    __u64 listener_inode = 0;
    struct sock *listener_sk = tcp_sock_of_fd_or_unix(
        listener, typed,
        syscall != HODOS_SYSCALL_LISTEN && trace_listeners ? UNIX_CONNECTING : UNIX_NONE,
        &listener_inode);
    if (!listener_sk) return 0;
    if (listener_inode)
      mode = 0;
    else if (!trace_new_listener(tgid, (__u32)pid_tgid, syscall, listener, listener_sk, typed))
      return 0;
  }
  if (syscall == HODOS_SYSCALL_LISTEN) return 0;

  /* Every followed syscall takes the socket fd first (accept's is the listener), except splice,
   * whose socket may be either end. */
  int fd = (int)PT_REGS_PARM1_CORE_SYSCALL(regs);
  __u8 direction = direction_of(syscall);
  __u64 unix_inode = 0;
  /* connect and accept: any Unix stream socket (whether to follow it is decided at the exit). */
  const bool unix_connection = syscall == HODOS_SYSCALL_CONNECT ||
                               syscall == HODOS_SYSCALL_ACCEPT || syscall == HODOS_SYSCALL_ACCEPT4;
  struct sock *sk = tcp_sock_of_fd_or_unix(
      fd, typed, unix_connection ? UNIX_CONNECTING : UNIX_FOLLOWED, &unix_inode);
  if (syscall == HODOS_SYSCALL_SPLICE) {
    direction = HODOS_DIRECTION_INGRESS;
    if (!sk) {
      fd = (int)PT_REGS_PARM3_CORE_SYSCALL(regs);
      direction = HODOS_DIRECTION_EGRESS;
      sk = tcp_sock_of_fd_or_unix(fd, typed, UNIX_FOLLOWED, &unix_inode);
    }
  }
  if (!sk) return 0;

  struct pending_call call = {};
  call.enter_ns = bpf_ktime_get_ns();
  call.sk = (__u64)sk;
  call.buf = PT_REGS_PARM2_CORE_SYSCALL(regs);
  /* readv/writev: the number of iovecs; connect: the address length. */
  if (syscall == HODOS_SYSCALL_READV || syscall == HODOS_SYSCALL_WRITEV ||
      syscall == HODOS_SYSCALL_CONNECT)
    call.count = PT_REGS_PARM3_CORE_SYSCALL(regs);
  call.fd = fd;
  call.syscall = syscall;
  call.direction = direction;
  call.mode = mode;
  call.unix_inode = unix_inode;
  if (syscall == HODOS_SYSCALL_CONNECT && unix_inode) {
    /* Followed from the entry: the server may accept (and its accept_unix_connection look the
     * client up) before this connect()'s exit runs. A failed connect is removed at its exit. */
    struct unix_socket_key key = {.sk = (__u64)sk, .inode = unix_inode};
    __u8 one = 1;
    bpf_map_update_elem(&unix_sockets, &key, &one, BPF_ANY);
  }
  if (syscall == HODOS_SYSCALL_CLOSE) read_socket_tuple(sk, &call.tuple, typed);
  if ((mode & HODOS_TRACED_GOROUTINE_CONTEXT) && syscall != HODOS_SYSCALL_ACCEPT &&
      syscall != HODOS_SYSCALL_ACCEPT4 && syscall != HODOS_SYSCALL_CONNECT) {
    const struct hodos_go_process *go = bpf_map_lookup_elem(&go_processes, &tgid);
    if (go) call.goid = current_goroutine(go, GO_G_CORE(regs), GO_SP_CORE(regs));
    if (call.goid && go && (go->probes & HODOS_GO_TLS) && inside_go_tls_call(tgid, call.goid))
      call.mode |= PENDING_INSIDE_TLS; /* crypto/tls's ciphertext: its plaintext is sent */
    else if (call.goid && direction == HODOS_DIRECTION_EGRESS &&
             stage_goroutine_context(tgid, call.goid, (__u32)pid_tgid))
      call.mode |= PENDING_CONTEXT_STAGED;
  }
  if ((mode & HODOS_TRACED_CONNECTION_CONTEXT) &&
      (direction == HODOS_DIRECTION_EGRESS || syscall == HODOS_SYSCALL_CONNECT) &&
      enter_connection_call(tgid, (__u32)pid_tgid, fd, direction == HODOS_DIRECTION_EGRESS))
    call.mode |= PENDING_CONTEXT_STAGED;
  if ((mode & HODOS_TRACED_TLS) && direction != HODOS_DIRECTION_NONE &&
      syscall != HODOS_SYSCALL_SENDFILE && syscall != HODOS_SYSCALL_SPLICE) {
    struct tls_call *tls = bpf_map_lookup_elem(&tls_calls, &pid_tgid);
    if (tls) {
      tls->fd = fd;
      call.mode |= PENDING_INSIDE_TLS;
    }
  }
  if (bpf_map_update_elem(&pending_calls, &pid_tgid, &call, BPF_ANY)) {
    count(HODOS_COUNTER_PENDING_OVERFLOW);
    /* No sys_exit will remove a context staged for this call alone. */
    if (call.mode & PENDING_CONTEXT_STAGED) {
      __u32 tid = (__u32)pid_tgid;
      bpf_map_delete_elem(&thread_contexts, &tid);
    }
  }
  return 0;
}

/* Whether the bytes a socket read returned (`buf`: the buffer, iovec array or msghdr, as the
 * syscall took it) start with a TLS record header: content type 20..24 (change_cipher_spec,
 * alert, handshake, application_data, heartbeat), version 3.0..3.4. A read that begins inside a
 * long record does not count: the session learns its socket from another read. */
__noinline int starts_with_tls_record(__u64 buf, __u32 syscall, long ret) {
  if (ret < 5) return 0;
  __u64 at = buf;
  if (syscall == HODOS_SYSCALL_RECVMSG) {
    struct user_msghdr msg;
    if (bpf_probe_read_user(&msg, sizeof(msg), (const void *)buf) || msg.msg_iovlen < 1) return 0;
    at = (__u64)msg.msg_iov;
  }
  if (syscall == HODOS_SYSCALL_READV || syscall == HODOS_SYSCALL_RECVMSG) {
    struct iovec first;
    if (bpf_probe_read_user(&first, sizeof(first), (const void *)at) || first.iov_len < 5) return 0;
    at = (__u64)first.iov_base;
  }
  __u8 head[3];
  if (bpf_probe_read_user(head, sizeof(head), (const void *)at)) return 0;
  return head[0] >= 20 && head[0] <= 24 && head[1] == 3 && head[2] <= 4;
}

/* The exit of a read or write: its bytes become a DATA event. */
static __always_inline void data_exit(const struct pending_call *call, __u64 pid_tgid, long ret,
                                      const bool typed) {
  /* Errors (EAGAIN above all) and EOF carry no bytes. */
  if (ret <= 0) return;
  if (call->mode & PENDING_INSIDE_TLS) {
    count(HODOS_COUNTER_TLS_CIPHERTEXT_SKIPPED);
    return;
  }
  if ((call->mode & HODOS_TRACED_TLS) && call->direction == HODOS_DIRECTION_INGRESS) {
    __u32 tid = (__u32)pid_tgid;
    struct tls_last_read last = {
        .fd = call->fd, .used = !starts_with_tls_record(call->buf, call->syscall, ret)};
    bpf_map_update_elem(&tls_last_reads, &tid, &last, BPF_ANY);
  }
  emit_data_event(call, pid_tgid, ret, typed);
}

static __always_inline int sys_exit_body(struct pt_regs *regs, long ret, const bool typed) {
  if (!followed_syscall(HODOS_SYSCALL_NR(regs))) return 0;
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  struct pending_call *pending = bpf_map_lookup_elem(&pending_calls, &pid_tgid);
  if (!pending) return 0;
  struct pending_call call = *pending;
  bpf_map_delete_elem(&pending_calls, &pid_tgid);

  switch (call.syscall) {
    case HODOS_SYSCALL_ACCEPT:
    case HODOS_SYSCALL_ACCEPT4: {
      if (ret < 0) return 0;
      if (call.unix_inode) {
        accept_unix_connection(call.enter_ns, call.syscall, call.fd, ret, call.mode & HODOS_TRACED);
        return 0;
      }
      struct sock *accepted = tcp_sock_of_fd((int)ret, typed);
      if (accepted)
        emit_connection_event(&call, pid_tgid, ret, HODOS_EVENT_ACCEPT, (int)ret, accepted, typed);
      return 0;
    }
    case HODOS_SYSCALL_CONNECT:
      if (call.unix_inode) {
        /* A Unix connect() completes at once (or fails with EAGAIN when the listener's backlog
         * is full): only a connected socket stays followed. */
        if (ret == 0) {
          follow_unix_connection(&call, pid_tgid, ret);
        } else {
          struct unix_socket_key key = {.sk = call.sk, .inode = call.unix_inode};
          bpf_map_delete_elem(&unix_sockets, &key);
        }
        return 0;
      }
      emit_connection_event(&call, pid_tgid, ret, HODOS_EVENT_CONNECT, call.fd,
                            (struct sock *)call.sk, typed);
      return 0;
    case HODOS_SYSCALL_CLOSE:
      if (call.unix_inode) {
        struct unix_socket_key key = {.sk = call.sk, .inode = call.unix_inode};
        bpf_map_delete_elem(&unix_sockets, &key);
      }
      if (call.mode & HODOS_TRACED_THREAD_CONTEXT) end_request_context((__u32)pid_tgid, call.fd);
      if (call.mode & HODOS_TRACED_CONNECTION_CONTEXT)
        set_connection_context(pid_tgid >> 32, call.fd, NULL);
      bpf_map_delete_elem(&http2_sockets, &call.sk);
      if (call.goid) {
        end_goroutine_context(pid_tgid >> 32, call.goid, call.fd);
        take_split_read(pid_tgid >> 32, call.fd);
      }
      emit_connection_event(&call, pid_tgid, ret, HODOS_EVENT_CLOSE, call.fd, NULL, typed);
      return 0;
    default:
      data_exit(&call, pid_tgid, ret, typed);
      /* The staged context was for this call only. */
      if (call.mode & PENDING_CONTEXT_STAGED) {
        __u32 tid = (__u32)pid_tgid;
        bpf_map_delete_elem(&thread_contexts, &tid);
      }
      return 0;
  }
}

SEC("tp_btf/sys_enter")
int BPF_PROG(on_sys_enter, struct pt_regs *regs, long nr) { return sys_enter_body(regs, nr, false); }

SEC("tp_btf/sys_exit")
int BPF_PROG(on_sys_exit, struct pt_regs *regs, long ret) { return sys_exit_body(regs, ret, false); }

SEC("tp_btf/sys_enter")
int BPF_PROG(on_sys_enter_typed, struct pt_regs *regs, long nr) {
  return sys_enter_body(regs, nr, true);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(on_sys_exit_typed, struct pt_regs *regs, long ret) {
  return sys_exit_body(regs, ret, true);
}

/* A new process (not a thread) inherits its parent's state: traced or never traced. */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(on_process_fork, struct task_struct *parent, struct task_struct *child) {
  __u32 child_tgid = child->tgid;
  if ((__u32)child->pid != child_tgid) return 0;
  __u32 parent_tgid = parent->tgid;
  __u8 one = 1;
  if (bpf_map_lookup_elem(&never_traced, &parent_tgid)) {
    bpf_map_update_elem(&never_traced, &child_tgid, &one, BPF_ANY);
    return 0;
  }
  __u8 *parent_mode = bpf_map_lookup_elem(&traced_processes, &parent_tgid);
  if (!parent_mode) return 0;
  /* The same program: a prefork worker serves requests as its parent would (thread context). */
  __u8 mode = *parent_mode;
  if (bpf_map_update_elem(&traced_processes, &child_tgid, &mode, BPF_ANY)) return 0;
  emit_process_event(child_tgid, child_tgid, HODOS_SYSCALL_FORK, parent_tgid, -1, NULL, false);
  return 0;
}

/* A traced process runs another program: the agent reads its identity again. */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(on_process_exec, struct task_struct *task) {
  __u32 tgid = task->tgid;
  __u8 *mode = bpf_map_lookup_elem(&traced_processes, &tgid);
  if (!mode) return 0;
  /* Another program: thread-context mode waits until the agent knows what it is. */
  *mode = HODOS_TRACED;
  bpf_map_delete_elem(&go_processes, &tgid);
  emit_process_event(tgid, task->pid, HODOS_SYSCALL_EXEC, 0, -1, NULL, false);
  return 0;
}

/* A thread exits: its in-flight call (if it was killed inside one) is dropped; when it is the last
 * thread of its process, the process leaves both sets, and the agent is told. */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(on_process_exit, struct task_struct *task) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  bpf_map_delete_elem(&pending_calls, &pid_tgid);
  bpf_map_delete_elem(&tls_calls, &pid_tgid);
  __u32 tid = (__u32)pid_tgid;
  bpf_map_delete_elem(&thread_contexts, &tid);
  bpf_map_delete_elem(&thread_tracestates, &tid);
  bpf_map_delete_elem(&tls_last_reads, &tid);
  /* do_exit() counts the thread out of signal->live before this tracepoint. */
  if (BPF_CORE_READ(task, signal, live.counter) != 0) return 0;
  __u32 tgid = pid_tgid >> 32;
  bpf_map_delete_elem(&never_traced, &tgid);
  bpf_map_delete_elem(&go_processes, &tgid);
  if (bpf_map_delete_elem(&traced_processes, &tgid) == 0)
    emit_process_event(tgid, (__u32)pid_tgid, HODOS_SYSCALL_EXIT, 0, -1, NULL, false);
  return 0;
}

/* ---- TLS libraries: plaintext from uprobes on OpenSSL ------------------------------------- */

/* Attached by the agent (src/agent/tls_probe.cc) to each traced process's libssl, or to a binary
 * with OpenSSL linked in, for that process only: SSL_read, SSL_read_ex, SSL_write and
 * SSL_write_ex at entry and return, SSL_free at entry. The plaintext becomes a DATA event of the
 * session's socket (syscall SSL_READ/SSL_WRITE, HODOS_FLAG_TLS), as if the process had read or
 * written it in the clear; the ciphertext reads and writes inside the call are not sent. */

static __always_inline int tls_call_enter(struct pt_regs *ctx, __u16 syscall, bool ex) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  __u32 tgid = pid_tgid >> 32;
  if (!bpf_map_lookup_elem(&traced_processes, &tgid)) return 0;
  struct tls_call call = {};
  call.enter_ns = bpf_ktime_get_ns();
  call.ssl = PT_REGS_PARM1(ctx);
  call.buf = PT_REGS_PARM2(ctx);
  call.length = ex ? PT_REGS_PARM4(ctx) : 0;
  call.fd = -1;
  call.syscall = syscall;
  if (bpf_map_update_elem(&tls_calls, &pid_tgid, &call, BPF_ANY))
    count(HODOS_COUNTER_PENDING_OVERFLOW);
  return 0;
}

SEC("uprobe")
int BPF_KPROBE(on_ssl_read_enter) { return tls_call_enter(ctx, HODOS_SYSCALL_SSL_READ, false); }

SEC("uprobe")
int BPF_KPROBE(on_ssl_read_ex_enter) { return tls_call_enter(ctx, HODOS_SYSCALL_SSL_READ, true); }

SEC("uprobe")
int BPF_KPROBE(on_ssl_write_enter) { return tls_call_enter(ctx, HODOS_SYSCALL_SSL_WRITE, false); }

SEC("uprobe")
int BPF_KPROBE(on_ssl_write_ex_enter) {
  return tls_call_enter(ctx, HODOS_SYSCALL_SSL_WRITE, true);
}

/* The return of any of the four: the plaintext moved, on the session's socket. */
SEC("uretprobe")
int BPF_KRETPROBE(on_ssl_call_return) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  struct tls_call *pending = bpf_map_lookup_elem(&tls_calls, &pid_tgid);
  if (!pending) return 0;
  struct tls_call call = *pending;
  bpf_map_delete_elem(&tls_calls, &pid_tgid);

  long ret = PT_REGS_RC(ctx);
  if (call.length) {
    /* SSL_read_ex/SSL_write_ex: 1 on success, the count through the pointer. */
    __u64 moved = 0;
    if ((int)ret != 1 || bpf_probe_read_user(&moved, sizeof(moved), (const void *)call.length))
      moved = 0;
    ret = (long)moved;
  } else {
    ret = (int)ret; /* SSL_read/SSL_write return an int */
  }

  __u32 tgid = pid_tgid >> 32;
  __u8 *mode = bpf_map_lookup_elem(&traced_processes, &tgid);
  if (!mode) return 0;
  /* The session's socket: the one a read or write inside this call used; else the one learnt
   * before; else, for a read, the socket the thread read last. Learnt also from calls that moved
   * no plaintext: a library doing its own socket I/O calls SSL_read during the handshake (right
   * after reading the peer's handshake bytes), so its first write already knows its socket. */
  struct tls_session_key key = {.ssl = call.ssl, .tgid = tgid};
  int fd = call.fd;
  bool learnt = fd >= 0;
  if (fd < 0) {
    __s32 *known = bpf_map_lookup_elem(&tls_sessions, &key);
    if (known) fd = *known;
  }
  if (call.syscall == HODOS_SYSCALL_SSL_READ) {
    __u32 tid = (__u32)pid_tgid;
    struct tls_last_read *last = bpf_map_lookup_elem(&tls_last_reads, &tid);
    if (last) {
      if (fd < 0 && !last->used) {
        fd = last->fd;
        learnt = true;
      }
      last->used = 1;
    }
  }
  if (learnt) {
    __s32 session_fd = fd;
    bpf_map_update_elem(&tls_sessions, &key, &session_fd, BPF_ANY);
  }
  if (ret <= 0) return 0;
  struct sock *sk = fd >= 0 ? tcp_sock_of_fd(fd, false) : NULL;
  if (!sk) {
    bpf_map_delete_elem(&tls_sessions, &key);
    count(HODOS_COUNTER_TLS_NO_SOCKET);
    return 0;
  }

  struct pending_call data = {};
  data.enter_ns = call.enter_ns;
  data.sk = (__u64)sk;
  data.buf = call.buf;
  data.fd = fd;
  data.syscall = call.syscall;
  data.direction = call.syscall == HODOS_SYSCALL_SSL_READ ? HODOS_DIRECTION_INGRESS
                                                          : HODOS_DIRECTION_EGRESS;
  data.mode = *mode;
  emit_data_event(&data, pid_tgid, ret, false);
  return 0;
}

/* The session is gone: its SSL * may come back for another connection. */
SEC("uprobe")
int BPF_KPROBE(on_ssl_free) {
  __u32 tgid = bpf_get_current_pid_tgid() >> 32;
  struct tls_session_key key = {.ssl = PT_REGS_PARM1(ctx), .tgid = tgid};
  bpf_map_delete_elem(&tls_sessions, &key);
  return 0;
}

#include "go_http2.bpf.h"
#include "go_tls.bpf.h"
