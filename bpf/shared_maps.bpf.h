/* The maps bpf/sockets.bpf.c (the capture) and bpf/inject.bpf.c (traceparent injection) share:
 * declared once here, created by the capture, and reused by the injector's loader through their
 * fds (src/agent/injector.cc); tests of the injector alone get its own copies. */
#ifndef HODOS_SHARED_MAPS_BPF_H
#define HODOS_SHARED_MAPS_BPF_H

/* The pid filter: processes whose sockets are followed, and their HODOS_TRACED_* mode (absent:
 * not traced). The agent fills it from discovery; the kernel adds new listeners and forked
 * children of traced processes. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, HODOS_MAX_TRACED_PROCESSES);
  __type(key, __u32);
  __type(value, __u8);
} traced_processes SEC(".maps");

/* The request each thread of a thread-context process is serving (struct hodos_thread_context,
 * bpf/sockets.h), by tid: set by the capture, read by the injection in the sending thread. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, HODOS_MAX_THREAD_CONTEXTS);
  __type(key, __u32);
  __type(value, struct hodos_thread_context);
} thread_contexts SEC(".maps");

/* The incoming tracestate of a thread's request (struct hodos_tracestate), when it had one;
 * allocated on use (most requests have none). */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, HODOS_MAX_THREAD_CONTEXTS);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, __u32);
  __type(value, struct hodos_tracestate);
} thread_tracestates SEC(".maps");

/* The CLIENT ids of the HTTP/2 streams grpc-go clients open (struct hodos_h2_stream_context), by
 * socket cookie and stream id: staged by grpc-go's probes (bpf/go_http2.bpf.h), written into
 * those streams' HEADERS by the injection. */
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, HODOS_MAX_H2_STREAM_CONTEXTS);
  __type(key, struct hodos_h2_stream_key);
  __type(value, struct hodos_h2_stream_context);
} h2_stream_contexts SEC(".maps");

#endif /* HODOS_SHARED_MAPS_BPF_H */
