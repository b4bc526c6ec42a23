/* Connection-context mode (HODOS_TRACED_CONNECTION_CONTEXT): the trace context of requests served
 * by an event loop, kept per connection instead of per thread. Included by bpf/sockets.bpf.c,
 * after its maps and before its programs: the syscall hooks there call the functions below, the
 * uprobes at the end are attached by the agent (src/agent/event_loop_probe.cc) to each nginx
 * process it traces.
 *
 * Why: one nginx worker thread interleaves every request it serves, so "the request the thread is
 * serving" names none of them. Instead:
 *  - a request read makes the context of the connection it came on (key: tgid, fd), with the same
 *    ids as thread-context mode (begin_request_context); the answer written on that connection,
 *    or its close, ends it;
 *  - nginx opens and first writes an upstream request inside ngx_http_upstream_init(r), called
 *    with the client's request: for that call's duration (a uprobe and a uretprobe: nginx is C,
 *    its stacks never move) the context of r's client connection is the thread's, so a write in
 *    it is injected as a thread-context process's is, and a socket connected or written in it is
 *    bound to that context;
 *  - a later write on a bound socket (a non-blocking connect completed, a body sent in parts)
 *    stages the bound context as the thread's for that syscall only, so bpf/inject.bpf.c, which
 *    runs in the sending thread, needs no change.
 * A socket the loop writes outside any window and that was never bound (a retry to the next
 * upstream server starts from a timer) gets no context: stitching joins it, nothing is guessed.
 * The incoming tracestate is not carried (it is kept per thread). */
#ifndef HODOS_EVENT_LOOPS_BPF_H
#define HODOS_EVENT_LOOPS_BPF_H

/* Connections with a context at once: requests being served, and upstream sockets bound to one. */
#define HODOS_MAX_CONNECTION_CONTEXTS 65536

struct fd_key {
  __u32 tgid;
  __s32 fd;
};

/* The context of each connection: for a client connection, its request's (server_fd == fd); for
 * an upstream socket, the request it was opened for (server_fd names the client connection). LRU:
 * a process that dies with open sockets leaves no entry behind for good. */
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, HODOS_MAX_CONNECTION_CONTEXTS);
  __type(key, struct fd_key);
  __type(value, struct hodos_thread_context);
} connection_contexts SEC(".maps");

/* The threads inside ngx_http_upstream_init now (a window), and whether the request it proxies
 * had a context: only a window opens bindings (set by the uprobe, removed at its return). A window
 * whose return was missed (the probe detached meanwhile) is not trusted past a second. */
struct loop_window {
  __u64 expires_ns;
  __u32 has_context;
  __u32 pad;
};
#define HODOS_LOOP_WINDOW_TTL_NS 1000000000ull

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 16384);
  __type(key, __u32); /* tid */
  __type(value, struct loop_window);
} loop_windows SEC(".maps");

/* nginx's ngx_http_request_t starts with `uint32_t signature` ("HTTP", NGX_HTTP_MODULE) and then
 * `ngx_connection_t *connection`; ngx_connection_t starts with three pointers (data, read, write)
 * and then `ngx_socket_t fd`. Unchanged since nginx 0.x; the signature check keeps any other
 * layout from being read as this one. */
#define NGX_HTTP_MODULE_SIGNATURE 0x50545448
#define NGX_REQUEST_CONNECTION 8
#define NGX_CONNECTION_FD 24

static __always_inline struct hodos_thread_context *connection_context(__u32 tgid, int fd) {
  struct fd_key key = {.tgid = tgid, .fd = fd};
  return bpf_map_lookup_elem(&connection_contexts, &key);
}

static __always_inline void set_connection_context(__u32 tgid, int fd,
                                                   const struct hodos_thread_context *ctx) {
  struct fd_key key = {.tgid = tgid, .fd = fd};
  if (ctx)
    bpf_map_update_elem(&connection_contexts, &key, ctx, BPF_ANY);
  else
    bpf_map_delete_elem(&connection_contexts, &key);
}

/* A read that began a request (begin_request_context made the thread's context): the context is
 * the connection's, not the thread's. A global function, checked once on its own, as the next. */
__noinline int adopt_connection_context(__u32 tgid, __u32 tid, int fd) {
  struct hodos_thread_context *made = bpf_map_lookup_elem(&thread_contexts, &tid);
  if (made) {
    struct hodos_thread_context ctx = fresh_copy(made);
    set_connection_context(tgid, fd, &ctx);
  }
  bpf_map_delete_elem(&thread_contexts, &tid);
  bpf_map_delete_elem(&thread_tracestates, &tid);
  return 0;
}

/* Whether the request a socket was bound to is still being served: its client connection still
 * holds that very context (the answer, or the close, ends it). A pooled upstream connection
 * outlives the request it was bound to; once that request is done, the binding names nobody. */
static __always_inline bool still_served(__u32 tgid, const struct hodos_thread_context *bound) {
  struct hodos_thread_context *live = connection_context(tgid, bound->server_fd);
  if (!live || live->server_fd != bound->server_fd || bpf_ktime_get_ns() > live->expires_ns)
    return false;
  __u64 a, b; /* the SERVER span ids (memcmp would be a call the BPF linker cannot resolve) */
  __builtin_memcpy(&a, live->span_id, sizeof(a));
  __builtin_memcpy(&b, bound->span_id, sizeof(b));
  return a == b;
}

/* The context bound to upstream socket `fd`, while its request is still served; a binding whose
 * request is done is removed. */
static __always_inline struct hodos_thread_context *bound_context(__u32 tgid, int fd) {
  struct hodos_thread_context *ctx = connection_context(tgid, fd);
  /* A client connection's own context is not for its writes (those are the answer). */
  if (!ctx || ctx->server_fd == fd) return NULL;
  if (!still_served(tgid, ctx)) {
    set_connection_context(tgid, fd, NULL);
    return NULL;
  }
  return ctx;
}

/* sys_enter of a connect or a write by a connection-context process. Inside a window, the socket
 * is bound to the window's request (or, when that request has no context, any binding it had is
 * removed: a pooled connection must not carry an earlier request's context into this one);
 * outside, a write on a socket bound to a request still being served stages its context as the
 * thread's for this syscall (returns true: sys_exit removes it). */
static __always_inline bool enter_connection_call(__u32 tgid, __u32 tid, int fd, bool write) {
  struct loop_window *w = bpf_map_lookup_elem(&loop_windows, &tid);
  if (w && bpf_ktime_get_ns() <= w->expires_ns) {
    struct hodos_thread_context *window =
        w->has_context ? bpf_map_lookup_elem(&thread_contexts, &tid) : NULL;
    if (window) {
      if (window->server_fd != fd) {
        struct hodos_thread_context bound = fresh_copy(window);
        set_connection_context(tgid, fd, &bound);
      }
    } else {
      struct hodos_thread_context *old = connection_context(tgid, fd);
      if (old && old->server_fd != fd) set_connection_context(tgid, fd, NULL);
    }
    return false;
  }
  if (!write) return false;
  struct hodos_thread_context *ctx = bound_context(tgid, fd);
  return ctx && stage_context(tid, ctx);
}

/* The data event of a write by a connection-context process, at sys_exit: the answer on a client
 * connection ends its request's context; elsewhere, a request written with a context gets CLIENT
 * ids: those of the traceparent injected into it, or (a destination injection leaves alone) new
 * ones. A global function, checked once on its own (inlined, the TLS programs' paths passed the
 * verifier's limit). */
__noinline int follow_connection_write(struct hodos_data_event *event,
                                       const struct pending_call *call, __u64 pid_tgid) {
  if (!event || !call) return 0;
  const __u32 tgid = pid_tgid >> 32, tid = (__u32)pid_tgid;
  struct hodos_thread_context *own = connection_context(tgid, call->fd);
  if (own && own->server_fd == call->fd) {
    /* An interim answer (100 Continue) is not the answer: the request goes on. */
    const bool interim = event->captured >= 10 && byte_at(event, 0) == 'H' &&
                         byte_at(event, 4) == '/' && byte_at(event, 8) == ' ' &&
                         byte_at(event, 9) == '1';
    if (!interim) set_connection_context(tgid, call->fd, NULL);
    return 0;
  }
  struct hodos_thread_context *ctx = bpf_map_lookup_elem(&thread_contexts, &tid);
  if (!ctx) {
    /* TLS plaintext (SSL_write returns after the ciphertext write's staged context went): the
     * context bound to the session's socket names the call; nothing was injected into it. */
    struct hodos_thread_context *bound = bound_context(tgid, call->fd);
    if (bound) name_uninjected_call(event, bound, event->captured);
  } else if (ctx->server_fd != call->fd) {
    follow_request_context(event, call, tid);
    if (event->ids.kind == HODOS_IDS_NONE) name_uninjected_call(event, ctx, event->captured);
  }
  /* A binding names one request head: the socket may go back to a pool and serve a request that
   * nothing binds it to (a retry from a timer) while this one is still being answered. */
  if (event->ids.kind == HODOS_IDS_CLIENT) {
    struct hodos_thread_context *binding = connection_context(tgid, call->fd);
    if (binding && binding->server_fd != call->fd) set_connection_context(tgid, call->fd, NULL);
    return 1;
  }
  return 0;
}

/* ---- uprobes on nginx ---------------------------------------------------------------------- */

/* ngx_http_upstream_init(ngx_http_request_t *r), at entry: the request's client connection's
 * context becomes the thread's until the function returns. */
SEC("uprobe")
int BPF_KPROBE(on_nginx_upstream_init, const __u8 *request) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  __u32 tgid = pid_tgid >> 32, tid = (__u32)pid_tgid;
  __u8 *mode = bpf_map_lookup_elem(&traced_processes, &tgid);
  if (!mode || !(*mode & HODOS_TRACED_CONNECTION_CONTEXT)) return 0;
  __u32 signature = 0;
  __u64 connection = 0;
  __s32 fd = -1;
  if (bpf_probe_read_user(&signature, sizeof(signature), request) ||
      signature != NGX_HTTP_MODULE_SIGNATURE ||
      bpf_probe_read_user(&connection, sizeof(connection), request + NGX_REQUEST_CONNECTION) ||
      !connection ||
      bpf_probe_read_user(&fd, sizeof(fd), (const void *)(connection + NGX_CONNECTION_FD))) {
    count(HODOS_COUNTER_LOOP_UNREADABLE);
    return 0;
  }
  const __u64 now = bpf_ktime_get_ns();
  struct loop_window marker = {.expires_ns = now + HODOS_LOOP_WINDOW_TTL_NS, .has_context = 0};
  struct hodos_thread_context *request_ctx = fd >= 0 ? connection_context(tgid, fd) : NULL;
  if (request_ctx && request_ctx->server_fd == fd && now <= request_ctx->expires_ns) {
    struct hodos_thread_context window = fresh_copy(request_ctx);
    if (bpf_map_update_elem(&thread_contexts, &tid, &window, BPF_ANY) == 0) marker.has_context = 1;
  }
  count(marker.has_context ? HODOS_COUNTER_LOOP_CALLS_FOLLOWED : HODOS_COUNTER_LOOP_NO_CONTEXT);
  /* Without a context the window still opens: it unbinds what the request reuses. */
  bpf_map_update_elem(&loop_windows, &tid, &marker, BPF_ANY);
  return 0;
}

/* ... at return: the window closes. */
SEC("uretprobe")
int BPF_KRETPROBE(on_nginx_upstream_init_return) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  __u32 tgid = pid_tgid >> 32, tid = (__u32)pid_tgid;
  __u8 *mode = bpf_map_lookup_elem(&traced_processes, &tgid);
  if (mode && (*mode & HODOS_TRACED_CONNECTION_CONTEXT)) bpf_map_delete_elem(&thread_contexts, &tid);
  bpf_map_delete_elem(&loop_windows, &tid);
  return 0;
}

#endif /* HODOS_EVENT_LOOPS_BPF_H */
