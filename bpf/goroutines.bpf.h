/* Goroutine-context mode (HODOS_TRACED_GOROUTINE_CONTEXT): the trace context of Go requests, kept
 * per goroutine instead of per thread. Included by bpf/sockets.bpf.c, after its maps and before
 * its programs: the syscall hooks there call the functions below, the uprobes at the end are
 * attached by the agent (src/agent/go_probe.cc) to each Go process it could read.
 *
 * Why: a Go thread runs many goroutines, and a goroutine moves between threads, so "the request
 * the thread is serving" is wrong for Go. Instead:
 *  - the goroutine making a syscall is told by its g pointer (R14 on amd64, Go's register ABI,
 *    read from the syscall's user registers) and the goid field inside g (offset from the
 *    binary's DWARF or the agent's table); `g` structs are reused, goids are not, so contexts are
 *    keyed by goid. R14 is trusted only when the stack pointer lies within g's own stack (in cgo
 *    code R14 is anything; on the runtime's g0 goid is 0);
 *  - a request read makes the context of the reading goroutine (net/http's conn.serve, which
 *    runs the handler too), exactly as thread_contexts does for a thread;
 *  - runtime.newproc1 (a `go` statement) gives a new goroutine a copy of its creator's context:
 *    it runs on g0, so the creator is its callergp argument, and the new g is its result;
 *  - net/http's client writes a request from the connection's writeLoop goroutine, not from the
 *    caller's: persistConn.roundTrip (caller) files the context under the *Request, and
 *    Request.write (writer) takes it until the writer's next request;
 *  - a write stages its goroutine's context as the thread's (thread_contexts) for the syscall's
 *    duration, so bpf/inject.bpf.c, which runs in the sending thread, needs no change.
 * Only return-instruction uprobes are used on Go code (the agent finds them with a disassembler):
 * uretprobes crash Go when a stack moves. Entry uprobes can fire twice (stack growth re-runs
 * the prologue), so every entry handler is idempotent. */
#ifndef HODOS_GOROUTINES_BPF_H
#define HODOS_GOROUTINES_BPF_H

/* Go's internal register ABI (go1.17+): integer arguments and results, and the g register. */
#if defined(__TARGET_ARCH_x86)
#define GO_PARAM1(regs) ((regs)->ax)
#define GO_PARAM2(regs) ((regs)->bx)
#define GO_PARAM3(regs) ((regs)->cx)
#define GO_RESULT1(regs) ((regs)->ax)
#define GO_G(regs) ((regs)->r14)
#define GO_SP(regs) ((regs)->sp)
/* The same, from a syscall tracepoint's pt_regs (a kernel pointer: CO-RE reads). */
#define GO_G_CORE(regs) BPF_CORE_READ(regs, r14)
#define GO_SP_CORE(regs) BPF_CORE_READ(regs, sp)
#elif defined(__TARGET_ARCH_arm64)
#define GO_PARAM1(regs) ((regs)->regs[0])
#define GO_PARAM2(regs) ((regs)->regs[1])
#define GO_PARAM3(regs) ((regs)->regs[2])
#define GO_RESULT1(regs) ((regs)->regs[0])
#define GO_G(regs) ((regs)->regs[28])
#define GO_SP(regs) ((regs)->sp)
#define GO_G_CORE(regs) BPF_CORE_READ(regs, regs[28])
#define GO_SP_CORE(regs) BPF_CORE_READ(regs, sp)
#endif

/* Contexts held at once by goroutines (a request's, and copies in the goroutines it started). */
#define HODOS_MAX_GOROUTINE_CONTEXTS 65536

struct goroutine_key {
  __u32 tgid;
  __u32 pad;
  __u64 goid;
};

struct go_request_key {
  __u32 tgid;
  __u32 pad;
  __u64 request; /* *net/http.Request */
};

/* Go processes in goroutine-context mode: where goid and the stack bounds sit in their g. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, HODOS_MAX_TRACED_PROCESSES);
  __type(key, __u32);
  __type(value, struct hodos_go_process);
} go_processes SEC(".maps");

/* The context of each goroutine serving a request (or started by one, or writing a request of
 * one). LRU: copies in goroutines that end are never deleted one by one; they expire (TTL) or
 * give way to newer ones. */
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, HODOS_MAX_GOROUTINE_CONTEXTS);
  __type(key, struct goroutine_key);
  __type(value, struct hodos_thread_context);
} goroutine_contexts SEC(".maps");

/* Outgoing net/http requests between Transport.roundTrip and Request.write. */
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 16384);
  __type(key, struct go_request_key);
  __type(value, struct hodos_thread_context);
} go_requests SEC(".maps");

/* runtime.newproc1 in flight (by thread: it runs on g0, never moves): the creator's goid. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 16384);
  __type(key, __u64);
  __type(value, __u64);
} go_newproc_calls SEC(".maps");

/* Sockets whose last read returned one capital letter (by tgid and fd): net/http's server reads a
 * kept-alive connection's next byte from a background goroutine while a handler runs, so when the
 * next request comes in before that read is called off, its first byte arrives alone and the rest
 * in the serving goroutine's read. */
struct go_fd_key {
  __u32 tgid;
  __s32 fd;
};

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 16384);
  __type(key, struct go_fd_key);
  __type(value, __u8);
} go_split_reads SEC(".maps");

/* crypto/tls.(*Conn).Read or Write in flight (bpf/go_tls.bpf.h), by goroutine: a call that blocks
 * resumes on whatever thread runs the goroutine next. LRU: the call of a goroutine that panicked
 * inside it goes in time. */
struct go_tls_call {
  __u64 enter_ns;
  __u64 conn;    /* *crypto/tls.Conn */
  __u64 buf;     /* the plaintext buffer (b's data) */
  __u16 syscall; /* HODOS_SYSCALL_SSL_READ or HODOS_SYSCALL_SSL_WRITE */
  __u16 pad[3];
};

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 16384);
  __type(key, struct goroutine_key);
  __type(value, struct go_tls_call);
} go_tls_calls SEC(".maps");

/* Whether the goroutine is inside a crypto/tls Read or Write: its socket I/O is ciphertext. */
static __always_inline bool inside_go_tls_call(__u32 tgid, __u64 goid) {
  struct goroutine_key key = {.tgid = tgid, .goid = goid};
  return bpf_map_lookup_elem(&go_tls_calls, &key) != NULL;
}

/* 1 when the socket's previous read was a lone capital letter (forgotten now), else 0. */
static __always_inline __u32 take_split_read(__u32 tgid, int fd) {
  struct go_fd_key key = {.tgid = tgid, .fd = fd};
  return bpf_map_delete_elem(&go_split_reads, &key) == 0 ? 1 : 0;
}

static __always_inline void remember_split_read(const struct hodos_data_event *event, __u32 tgid,
                                                int fd) {
  __u8 c = event->data[0];
  if (c < 'A' || c > 'Z') return;
  struct go_fd_key key = {.tgid = tgid, .fd = fd};
  bpf_map_update_elem(&go_split_reads, &key, &c, BPF_ANY);
}

/* The goroutine running on this thread, from its g register and stack pointer; 0 when g cannot
 * be trusted (counted). */
static __always_inline __u64 current_goroutine(const struct hodos_go_process *go, __u64 g,
                                               __u64 sp) {
  __u64 stack[2] = {};
  __u64 goid = 0;
  if (!g || bpf_probe_read_user(stack, sizeof(stack), (const void *)(g + go->stack_offset)) ||
      sp < stack[0] || sp >= stack[1] ||
      bpf_probe_read_user(&goid, sizeof(goid), (const void *)(g + go->goid_offset))) {
    count(HODOS_COUNTER_GO_NO_GOROUTINE);
    return 0;
  }
  return goid;
}

/* The followed Go process a uprobe fired in, when its HODOS_GO_* bits include `probes` (0: any),
 * and in `key` the goroutine running; NULL when either is not known. */
static __always_inline const struct hodos_go_process *probed_goroutine(struct pt_regs *ctx,
                                                                      __u32 probes,
                                                                      struct goroutine_key *key) {
  key->tgid = bpf_get_current_pid_tgid() >> 32;
  key->pad = 0;
  key->goid = 0;
  const struct hodos_go_process *go = bpf_map_lookup_elem(&go_processes, &key->tgid);
  if (!go || (probes && !(go->probes & probes))) return NULL;
  key->goid = current_goroutine(go, GO_G(ctx), GO_SP(ctx));
  return key->goid ? go : NULL;
}

/* A goroutine's context, unless it expired (then it goes). */
static __always_inline struct hodos_thread_context *goroutine_context(__u32 tgid, __u64 goid) {
  struct goroutine_key key = {.tgid = tgid, .goid = goid};
  struct hodos_thread_context *ctx = bpf_map_lookup_elem(&goroutine_contexts, &key);
  if (ctx && bpf_ktime_get_ns() > ctx->expires_ns) {
    bpf_map_delete_elem(&goroutine_contexts, &key);
    return NULL;
  }
  return ctx;
}

static __always_inline void set_goroutine_context(__u32 tgid, __u64 goid,
                                                  const struct hodos_thread_context *ctx) {
  struct goroutine_key key = {.tgid = tgid, .goid = goid};
  if (ctx)
    bpf_map_update_elem(&goroutine_contexts, &key, ctx, BPF_ANY);
  else
    bpf_map_delete_elem(&goroutine_contexts, &key);
}

/* sys_enter of a write: the goroutine's context becomes the thread's while the syscall runs, for
 * the sk_msg injection and the write's sys_exit. Returns whether one was staged. */
static __always_inline bool stage_goroutine_context(__u32 tgid, __u64 goid, __u32 tid) {
  struct hodos_thread_context *ctx = goroutine_context(tgid, goid);
  return ctx && stage_context(tid, ctx);
}

/* sys_exit of a read that began a request (begin_request_context made the thread's context):
 * the context is the goroutine's. The incoming tracestate is not carried for goroutines. */
static __always_inline void adopt_thread_context(__u32 tgid, __u64 goid, __u32 tid) {
  struct hodos_thread_context *made = bpf_map_lookup_elem(&thread_contexts, &tid);
  if (made) {
    struct hodos_thread_context ctx = fresh_copy(made);
    set_goroutine_context(tgid, goid, &ctx);
  }
  bpf_map_delete_elem(&thread_contexts, &tid);
  bpf_map_delete_elem(&thread_tracestates, &tid);
}

/* The goroutine wrote on (or closed) the socket of the request it serves: it is done with it. */
static __always_inline void end_goroutine_context(__u32 tgid, __u64 goid, int fd) {
  struct hodos_thread_context *ctx = goroutine_context(tgid, goid);
  if (ctx && ctx->server_fd == fd) set_goroutine_context(tgid, goid, NULL);
}

/* The fd of the *net.TCPConn held by the net.Conn interface value at `conn` (a field of grpc-go's
 * transports, of crypto/tls.Conn), or -1 when a read fails. Another type in the interface (a
 * wrapper, a *tls.Conn) reads as some other number: callers check the fd is the socket they
 * expect before trusting it. */
static __always_inline int go_conn_fd(const struct hodos_go_process *go, __u64 conn) {
  __u64 tcp_conn = 0, net_fd = 0;
  __s64 fd = -1;
  if (bpf_probe_read_user(&tcp_conn, sizeof(tcp_conn), (const void *)(conn + 8)) || !tcp_conn ||
      bpf_probe_read_user(&net_fd, sizeof(net_fd), (const void *)(tcp_conn + go->tcp_conn_fd)) ||
      !net_fd ||
      bpf_probe_read_user(&fd, sizeof(fd), (const void *)(net_fd + go->net_fd_sysfd)) ||
      fd < 0 || fd > 0x7fffffff)
    return -1;
  return (int)fd;
}

/* ---- uprobes on the Go runtime and net/http ------------------------------------------------ */

/* runtime.newproc1(fn *funcval, callergp *g, callerpc uintptr) *g, at entry: remember the creator
 * when it has a context. */
SEC("uprobe")
int BPF_KPROBE(on_go_newproc1) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  __u32 tgid = pid_tgid >> 32;
  const struct hodos_go_process *go = bpf_map_lookup_elem(&go_processes, &tgid);
  if (!go) return 0;
  __u64 creator_g = GO_PARAM2(ctx);
  __u64 creator = 0;
  if (!creator_g ||
      bpf_probe_read_user(&creator, sizeof(creator), (const void *)(creator_g + go->goid_offset)) ||
      !creator || !goroutine_context(tgid, creator)) {
    bpf_map_delete_elem(&go_newproc_calls, &pid_tgid);
    return 0;
  }
  bpf_map_update_elem(&go_newproc_calls, &pid_tgid, &creator, BPF_ANY);
  return 0;
}

/* runtime.newproc1, at each return instruction: the new goroutine gets the creator's context. */
SEC("uprobe")
int BPF_KPROBE(on_go_newproc1_return) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  __u64 *creator = bpf_map_lookup_elem(&go_newproc_calls, &pid_tgid);
  if (!creator) return 0;
  __u64 parent = *creator;
  bpf_map_delete_elem(&go_newproc_calls, &pid_tgid);
  __u32 tgid = pid_tgid >> 32;
  const struct hodos_go_process *go = bpf_map_lookup_elem(&go_processes, &tgid);
  if (!go) return 0;
  __u64 new_g = GO_RESULT1(ctx);
  __u64 child = 0;
  if (!new_g ||
      bpf_probe_read_user(&child, sizeof(child), (const void *)(new_g + go->goid_offset)) ||
      !child)
    return 0;
  struct hodos_thread_context *ctx_of_parent = goroutine_context(tgid, parent);
  if (!ctx_of_parent) return 0;
  struct hodos_thread_context copy = *ctx_of_parent;
  set_goroutine_context(tgid, child, &copy);
  count(HODOS_COUNTER_GO_CONTEXT_INHERITED);
  return 0;
}

/* net/http.(*persistConn).roundTrip(pc, treq *transportRequest), at entry, on the caller's
 * goroutine: the request takes the caller's context (or none: an old entry for a reused address
 * must not linger). treq embeds the *Request as its first field; the Request itself is the one
 * the writer goroutine writes (Transport.roundTrip may have copied the caller's). */
SEC("uprobe")
int BPF_KPROBE(on_go_round_trip) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  __u32 tgid = pid_tgid >> 32;
  const struct hodos_go_process *go = bpf_map_lookup_elem(&go_processes, &tgid);
  if (!go) return 0;
  struct go_request_key key = {.tgid = tgid};
  if (bpf_probe_read_user(&key.request, sizeof(key.request), (const void *)GO_PARAM2(ctx)) ||
      !key.request)
    return 0;
  __u64 goid = current_goroutine(go, GO_G(ctx), GO_SP(ctx));
  struct hodos_thread_context *caller = goid ? goroutine_context(tgid, goid) : NULL;
  if (!caller) {
    bpf_map_delete_elem(&go_requests, &key);
    return 0;
  }
  struct hodos_thread_context copy = *caller;
  copy.server_fd = -1; /* the writer goroutine never answers the caller's request */
  bpf_map_update_elem(&go_requests, &key, &copy, BPF_ANY);
  return 0;
}

/* net/http.(*Request).write(r, ...), at entry, on the connection's writer goroutine: it carries
 * the request's context from now until its next request (and nothing else: what it inherited
 * when it was started by a dial goes). Not cleared at the return: writeLoop flushes the request
 * (the write syscall, where the traceparent is inserted) after Request.write returned. */
SEC("uprobe")
int BPF_KPROBE(on_go_request_write) {
  struct goroutine_key writer;
  if (!probed_goroutine(ctx, 0, &writer)) return 0;
  const __u32 tgid = writer.tgid;
  const __u64 goid = writer.goid;
  struct go_request_key key = {.tgid = tgid, .request = GO_PARAM1(ctx)};
  struct hodos_thread_context *request = bpf_map_lookup_elem(&go_requests, &key);
  if (request && bpf_ktime_get_ns() <= request->expires_ns) {
    struct hodos_thread_context copy = *request;
    set_goroutine_context(tgid, goid, &copy);
    count(HODOS_COUNTER_GO_REQUESTS_LINKED);
  } else {
    set_goroutine_context(tgid, goid, NULL);
  }
  return 0;
}

#endif /* HODOS_GOROUTINES_BPF_H */
