/* HTTP/2 calls of Go services (grpc-go, and net/http's HTTP/2 server): the kernel's ids for each
 * call, served or made, of a goroutine-context process (bpf/goroutines.bpf.h) whose binary let
 * the agent find the structures read here (DWARF; src/agent/go_probe.cc). Included at the end of
 * bpf/sockets.bpf.c.
 *
 * Why uprobes: an HTTP/2 connection is read by one goroutine for all its streams and written by
 * another, so no syscall tells which call a goroutine serves or makes. The servers say it:
 *  - grpc-go's (*http2Server).operateHeaders(frame) and net/http's (*http2serverConn).
 *    processHeaders(frame) run on the connection's reader (serve) goroutine for each call's
 *    headers, and start the goroutine that serves the call (`go` in grpc's serveStreams, in
 *    net/http's processHeaders: the handler's runtime.newproc1). At their entry the reader gets
 *    the call's context (the traceparent among the decoded headers, else a new trace), which the
 *    new goroutine inherits (on_go_newproc1); at their returns the reader drops it, and the
 *    serving goroutine drops its own when grpc's (*Server).handleStream or net/http's
 *    (*http2serverConn).runHandler returns;
 *  - grpc-go's client: (*http2Client).newStream returns the call's stream on the caller's
 *    goroutine, where a caller with a context gets the call's CLIENT ids; the loopy writer
 *    goroutine takes the stream up with its id chosen ((*loopyWriter).originateStream) before it
 *    writes the HEADERS, and the ids go to that id there, staged for the traceparent the injection
 *    writes into them (or, where those two are not found, at (*http2Client).NewStream's returns).
 *    (net/http's client writes a call's HEADERS from a goroutine with the caller's context:
 *    name_h2_call in sockets.bpf.c.)
 * Either way a STREAM event tells the agent the ids of (connection fd, stream id), which it gives
 * that stream's span when the HTTP/2 matcher completes it. The socket is read from the net.Conn
 * (a *net.TCPConn, or for net/http a *tls.Conn over one) and checked against the kernel's own
 * HTTP/2 sockets: any other connection gives no event, counted, never guessed. */
#ifndef HODOS_GO_HTTP2_BPF_H
#define HODOS_GO_HTTP2_BPF_H

/* Headers of one call looked at for `traceparent` (a proxy may append it after many others). */
#define GO_H2_MAX_FIELDS 64
#define TRACEPARENT_LENGTH 55

struct go_string {
  __u64 data;
  __u64 len;
};

/* The stream a reader goroutine is giving a context (key: tgid, goid), from the entry of the
 * headers probe to its returns: an entry that fires twice (stack growth re-runs the prologue)
 * finds its own stream here and does nothing more. */
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 4096);
  __type(key, struct goroutine_key);
  __type(value, __u32);
} go_h2_reading SEC(".maps");

static __always_inline bool http2_socket(int fd) {
  __u64 sk = fd >= 0 ? (__u64)tcp_sock_of_fd(fd, false) : 0;
  return sk && bpf_map_lookup_elem(&http2_sockets, &sk);
}

/* The fd of the HTTP/2 connection (one the kernel saw start) under the net.Conn interface value
 * at `conn`: a *net.TCPConn, or with `tls` a *tls.Conn over one; -1 otherwise (counted). */
static __always_inline int go_h2_conn_fd(const struct hodos_go_process *go, __u64 conn, bool tls) {
  int fd = go_conn_fd(go, conn);
  if (http2_socket(fd)) return fd;
  __u64 session = 0;
  if (tls && !bpf_probe_read_user(&session, sizeof(session), (const void *)(conn + 8)) &&
      session) {
    fd = go_conn_fd(go, session + go->tls_conn);
    if (http2_socket(fd)) return fd;
  }
  count(HODOS_COUNTER_GO_H2_NO_SOCKET);
  return -1;
}

static __always_inline bool is_traceparent_field(const __u8 *p) {
  return p[0] == 't' && p[1] == 'r' && p[2] == 'a' && p[3] == 'c' && p[4] == 'e' &&
         p[5] == 'p' && p[6] == 'a' && p[7] == 'r' && p[8] == 'e' && p[9] == 'n' && p[10] == 't';
}

/* `len` bytes from 2*len lowercase hex digits at p; false on anything else or all zeros. */
static __always_inline bool hex_to_bytes(const __u8 *p, __u8 *out, __u32 len) {
  __u8 any = 0;
  for (__u32 k = 0; k < len; k++) {
    int hi = hex_value(p[2 * k]), lo = hex_value(p[2 * k + 1]);
    if (hi < 0 || lo < 0) return false;
    out[k] = (hi << 4) | lo;
    any |= out[k];
  }
  return any != 0;
}

/* The call's traceparent among the frame's decoded header fields, into ctx (trace id, parent
 * span id, flags); false when there is none or it is not a valid version-00 one. */
static __always_inline bool go_h2_traceparent(const struct hodos_go_h2_server *at, __u64 frame,
                                              struct hodos_thread_context *ctx) {
  struct go_string fields = {};
  if (bpf_probe_read_user(&fields, sizeof(fields), (const void *)(frame + at->frame_fields)))
    return false;
  for (__u32 i = 0; i < GO_H2_MAX_FIELDS; i++) {
    if (i >= fields.len) break;
    const __u64 field = fields.data + (__u64)i * at->field_size;
    struct go_string name = {}, value = {};
    __u8 text[TRACEPARENT_LENGTH];
    if (bpf_probe_read_user(&name, sizeof(name), (const void *)(field + at->field_name)))
      return false;
    if (name.len != 11 || bpf_probe_read_user(text, 11, (const void *)name.data) ||
        !is_traceparent_field(text))
      continue;
    if (bpf_probe_read_user(&value, sizeof(value), (const void *)(field + at->field_value)) ||
        value.len != TRACEPARENT_LENGTH ||
        bpf_probe_read_user(text, TRACEPARENT_LENGTH, (const void *)value.data))
      return false;
    if (text[0] != '0' || text[1] != '0' || text[2] != '-' || text[35] != '-' || text[52] != '-')
      return false;
    __u8 flags[1];
    if (!hex_to_bytes(text + 3, ctx->trace_id, 16) ||
        !hex_to_bytes(text + 36, ctx->parent_span_id, 8))
      return false;
    int hi = hex_value(text[53]), lo = hex_value(text[54]);
    if (hi < 0 || lo < 0) return false;
    flags[0] = (hi << 4) | lo;
    ctx->flags = flags[0];
    return true;
  }
  return false;
}

/* A server's headers probe, at entry, on the reader goroutine: (receiver, frame) are its first two
 * arguments. `tls`: the receiver's net.Conn may be a *tls.Conn (net/http). */
static __always_inline int serve_h2_headers(struct pt_regs *ctx, __u32 probe, bool tls) {
  struct goroutine_key reader;
  const struct hodos_go_process *go = probed_goroutine(ctx, probe, &reader);
  if (!go) return 0;
  const __u64 pid_tgid = bpf_get_current_pid_tgid();
  const __u32 tgid = reader.tgid;
  const struct hodos_go_h2_server *at =
      probe == HODOS_GO_GRPC_SERVER ? &go->grpc_server : &go->http_server;
  const __u64 frame = GO_PARAM2(ctx);
  __u64 headers = 0;
  __u32 stream_id = 0;
  if (bpf_probe_read_user(&headers, sizeof(headers), (const void *)(frame + at->frame_headers)) ||
      !headers ||
      bpf_probe_read_user(&stream_id, sizeof(stream_id),
                          (const void *)(headers + at->frame_stream_id)) ||
      !stream_id)
    return 0;
  __u32 *reading = bpf_map_lookup_elem(&go_h2_reading, &reader);
  if (reading && *reading == stream_id) return 0; /* the same call's entry, again */
  /* Noted first: an entry that fires again is skipped even when this one gives up. */
  bpf_map_update_elem(&go_h2_reading, &reader, &stream_id, BPF_ANY);
  const int fd = go_h2_conn_fd(go, GO_PARAM1(ctx) + at->conn, tls);
  if (fd < 0) return 0;
  struct hodos_thread_context call = {};
  /* server_fd -1: the serving goroutines never write the socket, a writer goroutine does. */
  start_request_context(&call, go_h2_traceparent(at, frame, &call), -1, bpf_ktime_get_ns());
  set_goroutine_context(tgid, reader.goid, &call);
  emit_stream_event(pid_tgid, fd, stream_id, call.trace_id, call.span_id, call.parent_span_id,
                    call.flags, HODOS_IDS_SERVER, HODOS_COUNTER_GO_H2_SERVED);
  return 0;
}

/* grpc-go: (*http2Server).operateHeaders(t, frame *http2.MetaHeadersFrame, handle, traceCtx). */
SEC("uprobe")
int BPF_KPROBE(on_go_grpc_server_headers) {
  return serve_h2_headers(ctx, HODOS_GO_GRPC_SERVER, false);
}

/* net/http: (*http2serverConn).processHeaders(sc, f *http2MetaHeadersFrame). */
SEC("uprobe")
int BPF_KPROBE(on_go_http2_server_headers) {
  return serve_h2_headers(ctx, HODOS_GO_HTTP2_SERVER, true);
}

/* The goroutine is done with its HTTP/2 call's context: at each return instruction of the
 * headers probes' functions (the reader: the serving goroutine has its copy, and nothing the
 * reader starts later must inherit it) and of grpc's (*Server).handleStream and net/http's
 * (*http2serverConn).runHandler (the serving goroutine: the call is answered; without this its
 * context would linger until it expires, as a goroutine's end is not seen). */
SEC("uprobe")
int BPF_KPROBE(on_go_h2_context_done) {
  struct goroutine_key key;
  if (!probed_goroutine(ctx, 0, &key)) return 0;
  set_goroutine_context(key.tgid, key.goid, NULL);
  bpf_map_delete_elem(&go_h2_reading, &key);
  return 0;
}

/* Stages a call's CLIENT ids for the injection into its HEADERS frame (bpf/inject.bpf.c), keyed
 * by the connection's socket cookie, which only a socket enrolled for injection has (sockops or
 * the loader made it): on any other connection there is nothing to stage. From NewStream's
 * returns the loopy writer may have sent the frame already (it is queued just before): the
 * injection then finds nothing and counts it; the callee is still joined by stitching. */
static __always_inline void stage_h2_stream_context(int fd, __u32 stream_id, const __u8 *trace_id,
                                                    const __u8 *span_id, __u8 flags) {
  struct sock *sk = tcp_sock_of_fd(fd, false);
  if (!sk) return;
  struct hodos_h2_stream_key key = {.stream_id = stream_id};
  key.socket_cookie = BPF_CORE_READ(sk, __sk_common.skc_cookie.counter);
  if (!key.socket_cookie) return;
  struct hodos_h2_stream_context value = {.flags = flags};
  __builtin_memcpy(value.trace_id, trace_id, 16);
  __builtin_memcpy(value.span_id, span_id, 8);
  value.expires_ns = bpf_ktime_get_ns() + HODOS_CONTEXT_TTL_NS;
  bpf_map_update_elem(&h2_stream_contexts, &key, &value, BPF_ANY);
}

/* grpc-go: (*http2Client).NewStream(ctx, callHdr) (*Stream, error), at each return instruction,
 * on the caller's goroutine: a caller with a context gets the call's CLIENT span ids. Unless the
 * writer pair below follows the process: NewStream returns after the call's HEADERS were queued,
 * and the writer goroutine sometimes sends them first (before their traceparent was staged). */
SEC("uprobe")
int BPF_KPROBE(on_go_grpc_new_stream_return) {
  const __u64 stream = GO_RESULT1(ctx);
  if (!stream) return 0; /* the call failed before it had a stream */
  struct goroutine_key key;
  const struct hodos_go_process *go = probed_goroutine(ctx, HODOS_GO_GRPC_CLIENT, &key);
  if (go && (go->probes & HODOS_GO_GRPC_CLIENT_WRITER)) return 0;
  struct hodos_thread_context *caller = go ? goroutine_context(key.tgid, key.goid) : NULL;
  if (!caller) return 0;
  const __u64 pid_tgid = bpf_get_current_pid_tgid();
  struct hodos_thread_context call = *caller;
  __u32 stream_id = 0;
  __u64 transport = 0;
  if (bpf_probe_read_user(&stream_id, sizeof(stream_id), (const void *)(stream + go->stream_id)) ||
      !stream_id ||
      bpf_probe_read_user(&transport, sizeof(transport),
                          (const void *)(stream + go->stream_client)) ||
      !transport)
    return 0;
  const int fd = go_h2_conn_fd(go, transport + go->client_conn, false);
  if (fd < 0) return 0;
  __u8 span_id[8];
  random_bytes(span_id, 2);
  /* Staged only once the agent knows these ids: a traceparent naming a span it never heard of
   * would leave the callee's span under a parent that is nowhere. */
  if (emit_stream_event(pid_tgid, fd, stream_id, call.trace_id, span_id, call.span_id, call.flags,
                        HODOS_IDS_CLIENT, HODOS_COUNTER_GO_H2_CALLS))
    stage_h2_stream_context(fd, stream_id, call.trace_id, span_id, call.flags);
  return 0;
}

/* The writer pair (HODOS_GO_GRPC_CLIENT_WRITER). A call made by a goroutine with a context, from
 * its new stream's making to the writer goroutine taking it up, by the stream's *writeQuota (the
 * one pointer both the Stream and the loopy writer's outStream hold). */
struct go_h2_call_key {
  __u32 tgid;
  __u32 pad;
  __u64 write_quota;
};
struct go_h2_call {
  __u64 expires_ns; /* a call whose stream never reached the writer (NewStream failed) */
  __s32 fd;
  __u8 flags;
  __u8 pad[3];
  __u8 trace_id[16];
  __u8 span_id[8];        /* the CLIENT span */
  __u8 parent_span_id[8]; /* the caller's span */
};
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 4096);
  __type(key, struct go_h2_call_key);
  __type(value, struct go_h2_call);
} go_h2_calls SEC(".maps");

/* grpc-go: (*http2Client).newStream(ctx, callHdr) *Stream, at each return instruction, on the
 * caller's goroutine, before NewStream queues the call's HEADERS: a caller with a context gets
 * the call's CLIENT ids, kept until the writer takes the stream up. */
SEC("uprobe")
int BPF_KPROBE(on_go_grpc_stream_made) {
  const __u64 stream = GO_RESULT1(ctx);
  if (!stream) return 0;
  struct goroutine_key key;
  const struct hodos_go_process *go = probed_goroutine(ctx, HODOS_GO_GRPC_CLIENT_WRITER, &key);
  if (!go) return 0;
  struct go_h2_call_key call_key = {.tgid = key.tgid};
  if (bpf_probe_read_user(&call_key.write_quota, sizeof(call_key.write_quota),
                          (const void *)(stream + go->stream_wq)) ||
      !call_key.write_quota)
    return 0;
  struct hodos_thread_context *caller = goroutine_context(key.tgid, key.goid);
  if (!caller) {
    /* A stream at the address of an earlier one whose NewStream failed before the writer took it
     * up: that call's ids must not go to this one. */
    bpf_map_delete_elem(&go_h2_calls, &call_key);
    return 0;
  }
  __u64 transport = 0;
  if (bpf_probe_read_user(&transport, sizeof(transport),
                          (const void *)(stream + go->stream_client)) ||
      !transport) {
    bpf_map_delete_elem(&go_h2_calls, &call_key);
    return 0;
  }
  struct go_h2_call call = {.flags = caller->flags};
  __builtin_memcpy(call.trace_id, caller->trace_id, 16);
  __builtin_memcpy(call.parent_span_id, caller->span_id, 8);
  call.fd = go_h2_conn_fd(go, transport + go->client_conn, false);
  if (call.fd < 0) {
    bpf_map_delete_elem(&go_h2_calls, &call_key);
    return 0;
  }
  /* The writer takes a stream up within microseconds, or after a wait for the peer's stream
   * quota: as long as a request's context lives, at most. */
  call.expires_ns = bpf_ktime_get_ns() + HODOS_CONTEXT_TTL_NS;
  random_bytes(call.span_id, 2);
  bpf_map_update_elem(&go_h2_calls, &call_key, &call, BPF_ANY);
  return 0;
}

/* grpc-go: (*loopyWriter).originateStream(str *outStream), entry, on the writer goroutine, with
 * the stream's id chosen and its HEADERS not yet written: the call's ids go to the agent and are
 * staged for the traceparent of those HEADERS (bpf/inject.bpf.c). An entry that fires twice (stack
 * growth) finds the call gone. */
SEC("uprobe")
int BPF_KPROBE(on_go_grpc_originate_stream) {
  struct goroutine_key key;
  const struct hodos_go_process *go = probed_goroutine(ctx, HODOS_GO_GRPC_CLIENT_WRITER, &key);
  if (!go) return 0;
  const __u64 out_stream = GO_PARAM2(ctx);
  struct go_h2_call_key call_key = {.tgid = key.tgid};
  __u32 stream_id = 0;
  if (!out_stream ||
      bpf_probe_read_user(&call_key.write_quota, sizeof(call_key.write_quota),
                          (const void *)(out_stream + go->out_stream_wq)) ||
      bpf_probe_read_user(&stream_id, sizeof(stream_id),
                          (const void *)(out_stream + go->out_stream_id)) ||
      !stream_id)
    return 0;
  struct go_h2_call *found = bpf_map_lookup_elem(&go_h2_calls, &call_key);
  if (!found) return 0;
  struct go_h2_call call = *found;
  bpf_map_delete_elem(&go_h2_calls, &call_key);
  if (bpf_ktime_get_ns() > call.expires_ns) return 0;
  if (emit_stream_event(bpf_get_current_pid_tgid(), call.fd, stream_id, call.trace_id,
                        call.span_id, call.parent_span_id, call.flags, HODOS_IDS_CLIENT,
                        HODOS_COUNTER_GO_H2_CALLS))
    stage_h2_stream_context(call.fd, stream_id, call.trace_id, call.span_id, call.flags);
  return 0;
}

#endif /* HODOS_GO_HTTP2_BPF_H */
