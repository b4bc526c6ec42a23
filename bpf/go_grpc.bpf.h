/* gRPC calls of Go services (grpc-go): the kernel's ids for each call, served or made, of a
 * goroutine-context process (bpf/goroutines.bpf.h) whose binary let the agent find grpc-go's
 * structures (DWARF; src/agent/go_probe.cc). Included at the end of bpf/sockets.bpf.c.
 *
 * Why uprobes: an HTTP/2 connection is read by one goroutine for all its streams and written by
 * another, so no syscall tells which call a goroutine serves or makes. grpc-go says it:
 *  - server: (*http2Server).operateHeaders(frame) runs on the connection's reader goroutine for
 *    each call's headers, and starts the goroutine that serves the call (`go` in serveStreams,
 *    the handler's runtime.newproc1). At its entry the reader gets the call's context (the
 *    traceparent among the decoded headers, else a new trace), which the new goroutine inherits
 *    (on_go_newproc1); at its returns the reader drops it, and the serving goroutine drops its
 *    own when grpc's (*Server).handleStream returns;
 *  - client: (*http2Client).NewStream returns, on the caller's goroutine, the stream with its id
 *    already chosen (the loopy writer goroutine sends the headers later): a caller with a context
 *    gets the call's CLIENT ids there.
 * Either way a STREAM event tells the agent the ids of (connection fd, stream id), which it gives
 * that stream's span when the HTTP/2 matcher completes it. The socket is read from the transport's
 * net.Conn and checked against the kernel's own HTTP/2 sockets, so a connection that is not a
 * plain *net.TCPConn (TLS, a wrapper) gives no event: counted, never guessed. */
#ifndef HODOS_GO_GRPC_BPF_H
#define HODOS_GO_GRPC_BPF_H

/* Headers of one call looked at for `traceparent` (gRPC puts its own few first). */
#define GO_GRPC_MAX_FIELDS 24
#define TRACEPARENT_LENGTH 55

struct go_string {
  __u64 data;
  __u64 len;
};

/* The fd of the *net.TCPConn in the net.Conn interface value at `conn`, when it is an HTTP/2
 * connection the kernel saw start; -1 otherwise (counted). */
static __always_inline int go_grpc_conn_fd(const struct hodos_go_process *go, __u64 conn) {
  const int fd = go_conn_fd(go, conn);
  __u64 sk = fd >= 0 ? (__u64)tcp_sock_of_fd(fd, false) : 0;
  if (!sk || !bpf_map_lookup_elem(&http2_sockets, &sk)) {
    count(HODOS_COUNTER_GO_GRPC_NO_SOCKET);
    return -1;
  }
  return fd;
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
static __always_inline bool go_grpc_traceparent(const struct hodos_go_process *go, __u64 frame,
                                                struct hodos_thread_context *ctx) {
  struct go_string fields = {};
  if (bpf_probe_read_user(&fields, sizeof(fields), (const void *)(frame + go->frame_fields)))
    return false;
  for (__u32 i = 0; i < GO_GRPC_MAX_FIELDS; i++) {
    if (i >= fields.len) break;
    const __u64 field = fields.data + (__u64)i * go->field_size;
    struct go_string name = {}, value = {};
    __u8 text[TRACEPARENT_LENGTH];
    if (bpf_probe_read_user(&name, sizeof(name), (const void *)(field + go->field_name)))
      return false;
    if (name.len != 11 || bpf_probe_read_user(text, 11, (const void *)name.data) ||
        !is_traceparent_field(text))
      continue;
    if (bpf_probe_read_user(&value, sizeof(value), (const void *)(field + go->field_value)) ||
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

/* (*http2Server).operateHeaders(t, frame *http2.MetaHeadersFrame, handle, traceCtx), at entry,
 * on the connection's reader goroutine. Fires twice when the prologue grows the stack: the second
 * call's ids replace the first's (here and in the agent) before the serving goroutine starts. */
SEC("uprobe")
int BPF_KPROBE(on_go_grpc_server_headers) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  __u32 tgid = pid_tgid >> 32;
  const struct hodos_go_process *go = bpf_map_lookup_elem(&go_processes, &tgid);
  if (!go || !(go->probes & HODOS_GO_GRPC_SERVER)) return 0;
  __u64 goid = current_goroutine(go, GO_G(ctx), GO_SP(ctx));
  if (!goid) return 0;
  const __u64 frame = GO_PARAM2(ctx);
  __u64 headers = 0;
  __u32 stream_id = 0;
  if (bpf_probe_read_user(&headers, sizeof(headers), (const void *)(frame + go->frame_headers)) ||
      !headers ||
      bpf_probe_read_user(&stream_id, sizeof(stream_id),
                          (const void *)(headers + go->frame_stream_id)) ||
      !stream_id)
    return 0;
  const int fd = go_grpc_conn_fd(go, GO_PARAM1(ctx) + go->server_conn);
  if (fd < 0) return 0;
  struct hodos_thread_context call = {};
  if (go_grpc_traceparent(go, frame, &call)) {
    count(HODOS_COUNTER_CONTEXT_ADOPTED);
  } else {
    __builtin_memset(call.parent_span_id, 0, sizeof(call.parent_span_id));
    random_bytes(call.trace_id, 4);
    call.flags = 1; /* sampled: Hodos records every request */
    count(HODOS_COUNTER_CONTEXT_NEW);
  }
  random_bytes(call.span_id, 2);
  call.server_fd = -1; /* the serving goroutines never write the socket: loopy does */
  call.expires_ns = bpf_ktime_get_ns() + HODOS_CONTEXT_TTL_NS;
  set_goroutine_context(tgid, goid, &call);
  count(HODOS_COUNTER_GO_GRPC_SERVED);
  emit_stream_event(pid_tgid, fd, stream_id, call.trace_id, call.span_id, call.parent_span_id,
                    call.flags, HODOS_IDS_SERVER);
  return 0;
}

/* The goroutine is done with its gRPC call's context: at each return instruction of
 * operateHeaders (the reader: the serving goroutine has its copy, and nothing the reader starts
 * later must inherit it) and of grpc's (*Server).handleStream (the serving goroutine: the call
 * is answered; without this its context would linger until it expires, as a goroutine's end is
 * not seen). */
SEC("uprobe")
int BPF_KPROBE(on_go_grpc_context_done) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  __u32 tgid = pid_tgid >> 32;
  const struct hodos_go_process *go = bpf_map_lookup_elem(&go_processes, &tgid);
  if (!go) return 0;
  __u64 goid = current_goroutine(go, GO_G(ctx), GO_SP(ctx));
  if (goid) set_goroutine_context(tgid, goid, NULL);
  return 0;
}

/* (*http2Client).NewStream(ctx, callHdr) (*Stream, error), at each return instruction, on the
 * caller's goroutine: a caller with a context gets the call's CLIENT span ids. */
SEC("uprobe")
int BPF_KPROBE(on_go_grpc_new_stream_return) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  __u32 tgid = pid_tgid >> 32;
  const struct hodos_go_process *go = bpf_map_lookup_elem(&go_processes, &tgid);
  if (!go || !(go->probes & HODOS_GO_GRPC_CLIENT)) return 0;
  const __u64 stream = GO_RESULT1(ctx);
  if (!stream) return 0; /* the call failed before it had a stream */
  __u64 goid = current_goroutine(go, GO_G(ctx), GO_SP(ctx));
  struct hodos_thread_context *caller = goid ? goroutine_context(tgid, goid) : NULL;
  if (!caller) return 0;
  struct hodos_thread_context call = *caller;
  __u32 stream_id = 0;
  __u64 transport = 0;
  if (bpf_probe_read_user(&stream_id, sizeof(stream_id), (const void *)(stream + go->stream_id)) ||
      !stream_id ||
      bpf_probe_read_user(&transport, sizeof(transport),
                          (const void *)(stream + go->stream_client)) ||
      !transport)
    return 0;
  const int fd = go_grpc_conn_fd(go, transport + go->client_conn);
  if (fd < 0) return 0;
  __u8 span_id[8];
  random_bytes(span_id, 2);
  count(HODOS_COUNTER_GO_GRPC_CALLS);
  emit_stream_event(pid_tgid, fd, stream_id, call.trace_id, span_id, call.span_id, call.flags,
                    HODOS_IDS_CLIENT);
  return 0;
}

#endif /* HODOS_GO_GRPC_BPF_H */
