/* Events that bpf/sockets.bpf.c sends to the agent (src/agent/socket_probe.cc) through its ring
 * buffer, and the counters it keeps. Shared by both sides: fixed-width types only, explicit
 * padding, no pointers. */
#ifndef HODOS_BPF_SOCKETS_H
#define HODOS_BPF_SOCKETS_H

#ifndef __bpf__
#include <linux/types.h>
#endif

/* Bytes of payload captured per data syscall: the default, and the most a loader may ask for. */
#define HODOS_DEFAULT_CAPTURE_BYTES 4096
#define HODOS_MAX_CAPTURE_BYTES 16384
/* Processes the pid filter can hold (and, separately, the never-traced set). */
#define HODOS_MAX_TRACED_PROCESSES 16384
/* iovecs of one readv/writev/recvmsg/sendmsg walked for the captured bytes; the bytes of later
 * ones are counted but not captured (the event is then marked truncated). */
#define HODOS_MAX_CAPTURED_IOVECS 32

enum hodos_event_kind {
  HODOS_EVENT_ACCEPT = 1,  /* a connection accepted by a traced process (fd = the new socket); a
                            * Unix socket's: struct hodos_unix_connection_event */
  HODOS_EVENT_CONNECT = 2, /* connect() returned (ret 0, -EINPROGRESS or an error); a Unix
                            * socket's: struct hodos_unix_connection_event */
  HODOS_EVENT_DATA = 3,    /* bytes sent or received: struct hodos_data_event */
  HODOS_EVENT_CLOSE = 4,   /* close() of a followed socket */
  /* A change the agent must know about a process (struct hodos_process_event): the kernel started
   * tracing it (syscall LISTEN, ACCEPT/ACCEPT4 on an inherited listener or of a Unix connection
   * a traced process made, or FORK of a traced parent), a traced process ran exec (EXEC), or a traced process exited (EXIT). */
  HODOS_EVENT_PROCESS = 5,
  /* The ids the kernel gave one HTTP/2 stream of a goroutine-context process (struct
   * hodos_stream_event): grpc-go's server read a call's headers (direction INGRESS, SERVER ids,
   * the context of the goroutines that serve it) or its client opened a stream for a call made
   * by a goroutine with a context (EGRESS, CLIENT ids). fd is the connection's socket. */
  HODOS_EVENT_STREAM = 6,
};

/* The syscall that produced an event. */
enum hodos_syscall {
  HODOS_SYSCALL_READ = 1,
  HODOS_SYSCALL_WRITE = 2,
  HODOS_SYSCALL_RECVFROM = 3,
  HODOS_SYSCALL_SENDTO = 4,
  HODOS_SYSCALL_ACCEPT = 5,
  HODOS_SYSCALL_ACCEPT4 = 6,
  HODOS_SYSCALL_CONNECT = 7,
  HODOS_SYSCALL_CLOSE = 8,
  HODOS_SYSCALL_READV = 9,
  HODOS_SYSCALL_WRITEV = 10,
  HODOS_SYSCALL_RECVMSG = 11,
  HODOS_SYSCALL_SENDMSG = 12,
  HODOS_SYSCALL_SENDFILE = 13, /* length only: the bytes go from a file, not through user memory */
  HODOS_SYSCALL_SPLICE = 14,   /* length only: the bytes go to or from a pipe */
  HODOS_SYSCALL_LISTEN = 15,
  /* Not syscalls of a socket: the process lifecycle hooks of PROCESS events. */
  HODOS_SYSCALL_FORK = 16,
  HODOS_SYSCALL_EXEC = 17,
  HODOS_SYSCALL_EXIT = 18,
  /* Not syscalls either: plaintext of a TLS library's read or write (uprobes on OpenSSL's
   * SSL_read/SSL_read_ex and SSL_write/SSL_write_ex), on the socket the session runs over. */
  HODOS_SYSCALL_SSL_READ = 19,
  HODOS_SYSCALL_SSL_WRITE = 20,
  /* Not a syscall: uprobes on grpc-go (STREAM events). */
  HODOS_SYSCALL_GO_GRPC = 21,
  HODOS_SYSCALL_LAST = HODOS_SYSCALL_GO_GRPC,
};

enum hodos_direction {
  HODOS_DIRECTION_NONE = 0,
  HODOS_DIRECTION_INGRESS = 1, /* the process received the bytes */
  HODOS_DIRECTION_EGRESS = 2,  /* the process sent them */
};

enum hodos_event_flags {
  HODOS_FLAG_TRUNCATED = 1,      /* the syscall moved more bytes than were captured */
  HODOS_FLAG_CAPTURE_FAILED = 2, /* reading the user buffer failed: captured is 0 */
  HODOS_FLAG_LENGTH_ONLY = 4,    /* sendfile/splice: bytes moved that no user buffer held; captured
                                  * is 0 by design, not a loss */
  HODOS_FLAG_NO_THREAD_PARENT = 8, /* the process's threads are not its requests (Go) */
  HODOS_FLAG_TLS = 16,             /* plaintext of a TLS session (SSL_READ/SSL_WRITE events) */
};

/* Indexes of the per-CPU counter array. */
enum hodos_counter {
  HODOS_COUNTER_EVENTS = 0,           /* events written to the ring buffer */
  HODOS_COUNTER_RINGBUF_DROPS = 1,    /* events lost: the ring buffer was full */
  HODOS_COUNTER_TRUNCATIONS = 2,      /* data events whose payload was cut at the capture size */
  HODOS_COUNTER_PENDING_OVERFLOW = 3, /* syscalls not followed: the in-flight table was full */
  HODOS_COUNTER_CAPTURE_FAILURES = 4, /* user buffers that could not be read */
  HODOS_COUNTER_CONTEXT_NEW = 5,      /* requests of thread-context processes: new trace */
  HODOS_COUNTER_CONTEXT_ADOPTED = 6,  /* ... that continued an incoming traceparent */
  HODOS_COUNTER_CONTEXT_FULL = 7,     /* ... that got no context: the table was full */
  /* A thread read a second request before answering the first: its process left
   * thread-context mode (an event loop or a hand-off, where a thread is not a request). */
  HODOS_COUNTER_CONTEXT_NOT_PER_THREAD = 8,
  /* TLS plaintext dropped: the socket of its session was not known (no syscall inside the call,
   * none seen before on the session, and no socket read just before it on the thread). */
  HODOS_COUNTER_TLS_NO_SOCKET = 9,
  /* Reads and writes inside a TLS library call: ciphertext, not sent (the plaintext is). */
  HODOS_COUNTER_TLS_CIPHERTEXT_SKIPPED = 10,
  /* Goroutine-context processes (Go): goroutines started by a goroutine serving a request, which
   * got its context (runtime.newproc1). */
  HODOS_COUNTER_GO_CONTEXT_INHERITED = 11,
  /* ... outgoing net/http requests whose context went from the caller's goroutine
   * (persistConn.roundTrip) to the connection's writer goroutine (Request.write). */
  HODOS_COUNTER_GO_REQUESTS_LINKED = 12,
  /* ... syscalls and probes where the g register could not be trusted (cgo code, the runtime's
   * own stack, an unreadable g): no goroutine, so no context. */
  HODOS_COUNTER_GO_NO_GOROUTINE = 13,
  /* ... HTTP/2 calls a Go server began to serve (grpc-go, net/http), given a context (new or from
   * the call's traceparent) for the goroutines that serve them. */
  HODOS_COUNTER_GO_H2_SERVED = 14,
  /* ... HTTP/2 calls made by a goroutine with a context (grpc-go's NewStream, or the HEADERS frame
   * of net/http's client): CLIENT ids for their stream. */
  HODOS_COUNTER_GO_H2_CALLS = 15,
  /* ... HTTP/2 server probes that could not tell the call's socket (a connection not seen from
   * its start, a wrapped net.Conn): no ids. */
  HODOS_COUNTER_GO_H2_NO_SOCKET = 16,
  /* Connection-context processes (nginx): proxied requests whose upstream calls got the context
   * of the request read on the client connection (ngx_http_upstream_init). */
  HODOS_COUNTER_LOOP_CALLS_FOLLOWED = 17,
  /* ... proxied requests with no context to give (the request was read before the process was
   * traced, or more than 30 s ago, or over HTTP/2): their calls are joined by stitching. */
  HODOS_COUNTER_LOOP_NO_CONTEXT = 18,
  /* ... probes whose argument did not look like the runtime's request (another nginx build's
   * layout): nothing is guessed. */
  HODOS_COUNTER_LOOP_UNREADABLE = 19,
  HODOS_COUNTER_COUNT = 20,
};

/* Address family values of the kernel (AF_UNIX, AF_INET, AF_INET6), and SOCK_STREAM. */
#define HODOS_AF_UNIX 1
#define HODOS_AF_INET 2
#define HODOS_AF_INET6 10
#define HODOS_SOCK_STREAM 1
/* sizeof(sockaddr_un.sun_path). */
#define HODOS_UNIX_PATH_MAX 108

/* A TCP connection as the traced process sees it. IPv4 addresses fill the first 4 bytes of the
 * address arrays (network order); IPv6 (including v4-mapped) fill all 16. Ports in host order.
 * A Unix socket has its family only (its path comes with its CONNECT or ACCEPT event). */
struct hodos_socket_tuple {
  __u8 local_addr[16];
  __u8 remote_addr[16];
  __u16 local_port;
  __u16 remote_port;
  __u16 family;
  __u16 pad;
};

/* Every event starts with this header; ACCEPT, CONNECT and CLOSE events are only this. */
struct hodos_event_header {
  __u64 enter_ns; /* syscall entry, CLOCK_MONOTONIC (bpf_ktime_get_ns) */
  __u64 exit_ns;  /* syscall exit, same clock */
  __s64 ret;      /* the syscall's return value: bytes moved, new fd, 0 or -errno */
  __u32 tgid;     /* process id */
  __u32 tid;      /* thread id */
  __s32 fd;       /* the socket: for ACCEPT the accepted one */
  __u8 kind;      /* enum hodos_event_kind */
  __u8 syscall;   /* enum hodos_syscall */
  __u8 direction; /* enum hodos_direction */
  __u8 flags;     /* enum hodos_event_flags */
  struct hodos_socket_tuple tuple;
};

/* Values of traced_processes: bit 0 = traced; bit 1 = thread-context mode: the process serves a
 * request on the thread that read it until it writes the answer (Python, Java servers), so the
 * kernel may give each request read on a thread the ids of its SERVER span, and the thread's
 * outgoing requests meanwhile a traceparent naming it. Event-loop runtimes (Node, nginx) and Go
 * (goroutines move between threads) stay in bit 0 only: a thread is not a request there. */
#define HODOS_TRACED 1
#define HODOS_TRACED_THREAD_CONTEXT 2
/* Bit 2 = goroutines: a Go process, whose threads run many goroutines each (a call written on a
 * thread says nothing about which request it serves): its data events carry
 * HODOS_FLAG_NO_THREAD_PARENT, so that the agent never parents a call by its thread. */
#define HODOS_TRACED_GOROUTINES 4
/* Bit 3 = the agent attached uprobes to the process's TLS library: its threads' socket reads are
 * remembered (a library reading through memory buffers, as Node's does, calls SSL_read right after
 * the socket read that brought the ciphertext), and reads and writes inside a TLS call are known
 * to be ciphertext. */
#define HODOS_TRACED_TLS 8
/* Bit 4 = goroutine-context mode (Go, with bit 2, never with bit 1): the agent found the goroutine id's offset in
 * the binary and attached its uprobes (runtime.newproc1, net/http's persistConn.roundTrip and
 * Request.write), so requests get kernel ids as in thread-context mode, but each context belongs
 * to the goroutine that read the request (the g register, R14 on amd64), follows the goroutines
 * it starts, and reaches the writer goroutine of each outgoing net/http request. */
#define HODOS_TRACED_GOROUTINE_CONTEXT 16
/* Bit 5 = connection-context mode (an event loop whose runtime the agent probes: nginx): a thread
 * serves many requests at once, so each request's context belongs to the connection it was read
 * from (key: tgid and fd), and an outgoing connection is bound to the request the runtime opened
 * it for (told by a uprobe on the runtime's own function: bpf/event_loops.bpf.h). Never with bit 1. */
#define HODOS_TRACED_CONNECTION_CONTEXT 32

/* Where a Go HTTP/2 server's headers probe finds what it reads: the receiver's net.Conn and the
 * *MetaHeadersFrame argument of grpc-go's (*http2Server).operateHeaders or of net/http's
 * (*http2serverConn).processHeaders (each with its own copy of golang.org/x/net/http2). */
struct hodos_go_h2_server {
  __u32 conn;            /* the receiver's net.Conn: an interface (data word at +8) */
  __u32 frame_headers;   /* MetaHeadersFrame's embedded *HeadersFrame */
  __u32 frame_fields;    /* MetaHeadersFrame.Fields: []hpack.HeaderField */
  __u32 frame_stream_id; /* HeadersFrame's FrameHeader + FrameHeader.StreamID */
  __u32 field_name;      /* hpack.HeaderField.Name (a string: pointer, length) */
  __u32 field_value;     /* hpack.HeaderField.Value */
  __u32 field_size;      /* sizeof(hpack.HeaderField) */
  __u32 pad;
};

/* What the kernel needs to know of a goroutine-context process's Go runtime (key: tgid), read
 * by the agent from the binary (DWARF, or its table by Go version). */
struct hodos_go_process {
  __u32 goid_offset;  /* runtime.g.goid */
  __u32 stack_offset; /* runtime.g.stack: {lo, hi}, to check that R14 is a g (not cgo code) */
  /* HODOS_GO_* bits: what else the agent probes in this process (grpc-go and net/http's HTTP/2
   * server when their offsets were found in DWARF; crypto/tls), and where those probes find what
   * they read. */
  __u32 probes;
  __u32 tcp_conn_fd;   /* net.TCPConn.conn + net.conn.fd: *net.netFD */
  __u32 net_fd_sysfd;  /* net.netFD.pfd + internal/poll.FD.Sysfd */
  __u32 tls_conn;      /* crypto/tls.Conn.conn: the net.Conn under the session */
  __u32 client_conn;   /* grpc-go: http2Client.conn */
  __u32 stream_id;     /* grpc-go: Stream.id */
  __u32 stream_client; /* grpc-go: Stream.ct, its *http2Client */
  __u32 stream_wq;     /* grpc-go: Stream.wq (HODOS_GO_GRPC_CLIENT_WRITER) */
  __u32 out_stream_id; /* grpc-go: outStream.id, the loopy writer's copy of a stream */
  __u32 out_stream_wq; /* grpc-go: outStream.wq, the same *writeQuota as its Stream's */
  struct hodos_go_h2_server grpc_server;
  struct hodos_go_h2_server http_server;
};

#define HODOS_GO_GRPC_SERVER 1  /* grpc-go's (*http2Server).operateHeaders, entry and returns */
#define HODOS_GO_GRPC_CLIENT 2  /* grpc-go's (*http2Client).NewStream, returns */
/* grpc-go's (*http2Client).newStream, returns, and (*loopyWriter).originateStream, entry: a
 * call's ids go to its stream from the writer goroutine before it writes the HEADERS (with
 * HODOS_GO_GRPC_CLIENT; the NewStream probe then stands aside). */
#define HODOS_GO_GRPC_CLIENT_WRITER 32
#define HODOS_GO_TLS 4          /* crypto/tls.(*Conn).Read and Write, entries and returns */
#define HODOS_GO_HTTP2_SERVER 8 /* net/http's (*http2serverConn).processHeaders, runHandler */
/* net/http's HTTP/2 client, in a binary without grpc-go (whose loopy writer goroutine writes every
 * stream's HEADERS, with whatever context it inherited): the HEADERS a goroutine with a context
 * writes name its call (no uprobe: name_h2_call in bpf/sockets.bpf.c). */
#define HODOS_GO_HTTP2_CLIENT 16

/* How long a thread's context lives without the answer being written (a handler that never
 * answers, a connection dropped mid-request): past this it is not used. */
#define HODOS_CONTEXT_TTL_NS (30ull * 1000000000ull)
/* Threads that hold a context at once. */
#define HODOS_MAX_THREAD_CONTEXTS 16384
/* The incoming traceparent is looked for within this many bytes of a request's first read. */
#define HODOS_CONTEXT_MAX_HEAD 2048

/* The trace context of the request a thread is serving (key: tid). Set by bpf/sockets.bpf.c when
 * a thread-context process reads a request; ended when the thread writes on that request's socket
 * (the answer) or closes it. bpf/inject.bpf.c reads it in the sending thread to insert a
 * traceparent for each outgoing request, and notes what it inserted, which the capture puts on
 * that write's event. Tests stage one-shot contexts directly. */
struct hodos_thread_context {
  __u8 trace_id[16];
  __u8 span_id[8];        /* the SERVER span: parent of the thread's client spans */
  __u8 parent_span_id[8]; /* the incoming traceparent's span id; zero for a new trace */
  __u8 flags;             /* W3C trace-flags (carried from the incoming traceparent) */
  __u8 one_shot;          /* serves one write on an enrolled socket, then goes (tests) */
  __u8 has_tracestate;    /* the request brought a tracestate: thread_tracestates holds it */
  __u8 pad[1];
  __s32 server_fd;        /* the request's socket: writing on it, or closing it, ends the context */
  __u64 expires_ns;       /* bpf_ktime_get_ns(); not used after this */
  /* Written by the sk_msg program on each injection, read by the write's sys_exit. */
  __u8 injected_span_id[8];
  __u64 injected_ns;
};

/* The CLIENT ids of one HTTP/2 stream a traced process opened, staged for bpf/inject.bpf.c to
 * write into that stream's HEADERS frame (key: the connection's socket cookie and the stream id).
 * grpc-go's loopy writer goroutine writes the HEADERS of every stream of a connection, so the
 * writing thread's context cannot say which call a frame belongs to: the stream id can. Set by the
 * grpc-go probes (bpf/go_http2.bpf.h), taken by the injection; LRU, so that streams
 * whose HEADERS never pass an enrolled socket go by themselves. */
#define HODOS_MAX_H2_STREAM_CONTEXTS 16384
struct hodos_h2_stream_key {
  __u64 socket_cookie;
  __u32 stream_id;
  __u32 pad;
};
struct hodos_h2_stream_context {
  __u8 trace_id[16];
  __u8 span_id[8]; /* the CLIENT span's id: the traceparent's parent-id */
  __u8 flags;
  __u8 pad[7];
  __u64 expires_ns; /* bpf_ktime_get_ns(); not used after this */
};

/* The longest tracestate value carried on (W3C allows 512 bytes; vendors' entries are short). A
 * longer one is not carried: the outgoing requests get traceparent only. */
#define HODOS_TRACESTATE_MAX 256

/* The incoming tracestate of the request a thread is serving (key: tid), when it had one and a
 * valid traceparent: bpf/inject.bpf.c writes it after the traceparent it inserts. */
struct hodos_tracestate {
  __u32 len;
  __u8 value[HODOS_TRACESTATE_MAX];
};

enum hodos_ids_kind {
  HODOS_IDS_NONE = 0,
  HODOS_IDS_SERVER = 1, /* a request read: the SERVER span's ids (parent: incoming traceparent) */
  HODOS_IDS_CLIENT = 2, /* a write with an inserted traceparent: the CLIENT span's ids */
};

struct hodos_span_ids {
  __u8 trace_id[16];
  __u8 span_id[8];
  __u8 parent_span_id[8];
  __u8 kind; /* enum hodos_ids_kind */
  __u8 flags;
  __u8 pad[6];
};

/* A DATA event carries the first `captured` bytes the syscall moved; the ring buffer record is
 * only as long as the bytes it holds (offsetof(data) + captured). */
struct hodos_data_event {
  struct hodos_event_header header;
  struct hodos_span_ids ids;
  __u32 captured;
  __u32 pad;
  __u8 data[HODOS_MAX_CAPTURE_BYTES];
};

/* The CONNECT or ACCEPT event of a Unix stream socket (header.tuple.family HODOS_AF_UNIX). `path`:
 * CONNECT, the address the process connected to, as it passed it; ACCEPT, the address the
 * listener is bound to (`path_length` bytes of sun_path; an abstract socket's starts with a zero
 * byte). `connection`: the inode number of the client's socket, so that both ends of one
 * connection name it alike. Only a connect() that succeeded is reported: from then on the socket's
 * reads and writes are followed as a TCP socket's are. */
struct hodos_unix_connection_event {
  struct hodos_event_header header;
  __u64 connection;
  __u32 path_length;
  __u8 peer_followed; /* ACCEPT: the client's end is followed (a traced process connected it) */
  __u8 pad[3];
  __u8 path[HODOS_UNIX_PATH_MAX];
};

/* A STREAM event: `ids` are the stream's span (SERVER: its parent the incoming traceparent's span,
 * or none; CLIENT: its parent the SERVER span of the goroutine that made the call). */
struct hodos_stream_event {
  struct hodos_event_header header;
  struct hodos_span_ids ids;
  __u32 stream_id;
  __u32 pad;
};

/* A PROCESS event: the header (tgid, tid, syscall = what happened, ret = the parent's tgid for
 * FORK, fd and tuple = the listener for LISTEN/ACCEPT) and the task's comm, so that a process that
 * exits before the agent reads /proc still has a name. */
struct hodos_process_event {
  struct hodos_event_header header;
  char comm[16];
};

#endif /* HODOS_BPF_SOCKETS_H */
