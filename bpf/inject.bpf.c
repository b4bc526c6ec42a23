/* Inserts a W3C `traceparent` header into HTTP/1.x requests that traced processes send, and a
 * `traceparent` field into the HTTP/2 HEADERS frames of grpc-go's calls (see "HTTP/2" below), so
 * that the service on the other end continues the trace (issues 6, 8). Three programs share one
 * sockhash:
 *
 * - sockops, attached to the root cgroup v2: at TCP_CONNECT (which runs inside connect(), in the
 *   connecting task: the only sockops callback where the current pid names the socket's owner) a
 *   socket of a traced process going to an allowed destination is marked in socket storage; at
 *   ACTIVE_ESTABLISHED (softirq: the current pid means nothing there) only marked sockets are put
 *   in the sockhash. Both callbacks run without bpf_sock_ops_cb_flags_set: none is needed. The
 *   loader also enrols connections a grpc-go process opened before it was traced, from userspace
 *   (Injector::enrol_existing_connections).
 * - sk_msg on the sockhash: runs in the sending thread for every write on an enrolled socket. When
 *   that thread has a staged context and the message starts with a complete request head, it
 *   makes a client span id and inserts `traceparent: 00-<trace>-<span>-<flags>\r\n` right after
 *   the request line. Anything else passes untouched; every skip is counted by reason.
 * - sk_skb stream_verdict returning SK_PASS on the same sockhash: without it, sockets in a
 *   sockhash report FIONREAD 0 on this kernel generation (KERNEL-NOTES.md), which stalls nginx.
 *
 * The context comes from the capture (bpf/sockets.bpf.c): the request the sending thread is
 * serving, with the tracestate it came with (written after the traceparent, in the same room). */
/* vmlinux.h defines the kernel types every other header uses: it comes first. */
#include "vmlinux.h"

#include <bpf/bpf_helpers.h>

#include "http_head.bpf.h"
#include "inject.h"
#include "sockets.h"
#include "shared_maps.bpf.h"

char LICENSE[] SEC("license") = "GPL";

#define AF_INET 2
#define AF_INET6 10
#define SK_DROP 0
#define SK_PASS 1

/* ---- maps ---------------------------------------------------------------------------------- */

/* Where injection is allowed: loopback, private ranges and the user's allowlist (the loader fills
 * it; an empty trie allows nothing). */
struct {
  __uint(type, BPF_MAP_TYPE_LPM_TRIE);
  __uint(max_entries, HODOS_INJECT_MAX_DESTINATIONS);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, struct hodos_inject_cidr);
  __type(value, __u8);
} destinations SEC(".maps");

/* Set at TCP_CONNECT on sockets that may be enrolled (or by the loader, for connections made
 * earlier: Injector::enrol_existing_connections); read at ESTABLISHED and by sk_msg. */
struct {
  __uint(type, BPF_MAP_TYPE_SK_STORAGE);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, int);
  __type(value, struct hodos_socket_mark);
} socket_marks SEC(".maps");

/* The enrolled connections, by socket cookie. */
struct {
  __uint(type, BPF_MAP_TYPE_SOCKHASH);
  __uint(max_entries, HODOS_INJECT_MAX_SOCKETS);
  __type(key, __u64);
  __type(value, __u64);
} sockets SEC(".maps");

/* What was injected (struct hodos_inject_record). */
struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 256 << 10);
} injections SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, HODOS_INJECT_COUNTER_COUNT);
  __type(key, __u32);
  __type(value, __u64);
} counters SEC(".maps");

static __always_inline void count(__u32 which) {
  __u64 *value = bpf_map_lookup_elem(&counters, &which);
  if (value) *value += 1;
}

/* ---- sockops: mark at connect, enrol at established ---------------------------------------- */

static __always_inline bool destination_allowed(struct bpf_sock_ops *skops) {
  struct hodos_inject_cidr key = {.prefixlen = 128};
  if (skops->family == AF_INET) {
    key.addr[10] = 0xff;
    key.addr[11] = 0xff;
    __u32 v4 = skops->remote_ip4;
    __builtin_memcpy(&key.addr[12], &v4, 4);
  } else if (skops->family == AF_INET6) {
    /* A v4-mapped address (Java's dual-stack sockets) is already in the trie's IPv4 form. */
    __u32 w0 = skops->remote_ip6[0], w1 = skops->remote_ip6[1];
    __u32 w2 = skops->remote_ip6[2], w3 = skops->remote_ip6[3];
    __builtin_memcpy(&key.addr[0], &w0, 4);
    __builtin_memcpy(&key.addr[4], &w1, 4);
    __builtin_memcpy(&key.addr[8], &w2, 4);
    __builtin_memcpy(&key.addr[12], &w3, 4);
  } else {
    return false;
  }
  return bpf_map_lookup_elem(&destinations, &key) != NULL;
}

SEC("sockops")
int enrol_client_sockets(struct bpf_sock_ops *skops) {
  struct bpf_sock *sk = skops->sk;
  if (!sk) return 1;
  switch (skops->op) {
    case BPF_SOCK_OPS_TCP_CONNECT_CB: {
      /* Inside connect() (or a fast-open sendmsg): the current task owns the socket. */
      __u32 tgid = bpf_get_current_pid_tgid() >> 32;
      /* Only processes in thread-, goroutine- or connection-context mode ever have a context to
       * inject: others are not enrolled at all, so that the verdict's receive path (which
       * splice() from the socket does not see: KERNEL-NOTES.md) never touches their
       * connections. */
      __u8 *mode = bpf_map_lookup_elem(&traced_processes, &tgid);
      if (!mode || !(*mode & (HODOS_TRACED_THREAD_CONTEXT | HODOS_TRACED_GOROUTINE_CONTEXT |
                              HODOS_TRACED_CONNECTION_CONTEXT)))
        return 1;
      if (!destination_allowed(skops)) {
        count(HODOS_INJECT_NOT_ALLOWED);
        return 1;
      }
      struct hodos_socket_mark *mark =
          bpf_sk_storage_get(&socket_marks, sk, NULL, BPF_SK_STORAGE_GET_F_CREATE);
      if (!mark) return 1;
      mark->tgid = tgid;
      count(HODOS_INJECT_MARKED);
      return 1;
    }
    case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB: {
      /* Possibly softirq: decide from the mark only, never from the current task. */
      struct hodos_socket_mark *mark = bpf_sk_storage_get(&socket_marks, sk, NULL, 0);
      if (!mark || mark->enrolled) return 1;
      __u64 cookie = bpf_get_socket_cookie(skops);
      mark->cookie = cookie;
      if (bpf_sock_hash_update(skops, &sockets, &cookie, BPF_NOEXIST) == 0) {
        mark->enrolled = 1;
        count(HODOS_INJECT_ENROLLED);
      } else {
        count(HODOS_INJECT_ENROL_FAILED);
      }
      return 1;
    }
  }
  return 1;
}

/* ---- sk_skb: keep FIONREAD right ----------------------------------------------------------- */

SEC("sk_skb/stream_verdict")
int pass_received(struct __sk_buff *skb) { return SK_PASS; }

/* ---- sk_msg: insert traceparent ------------------------------------------------------------ */

static __always_inline __u8 hex_digit(__u8 nibble) {
  return nibble < 10 ? '0' + nibble : 'a' + (nibble - 10);
}

/* Where the request line's CR is, or 0 when the message does not start with an HTTP/1.x
 * request line: a method token of 3..16 capital letters, a space, then `... HTTP/1.0|1` CRLF. */
static __always_inline __u32 request_line_end(const __u8 *data, const __u8 *end) {
  __u32 method = 0;
#pragma clang loop unroll(disable)
  for (__u32 i = 0; i < 17; i++) {
    if (data + i + 1 > end) return 0;
    __u8 c = data[i];
    if (c == ' ') {
      method = i;
      break;
    }
    if (c < 'A' || c > 'Z') return 0;
  }
  if (method < 3) return 0;

  __u32 cr = 0;
  struct bpf_iter_num it;
  int *index;
  bpf_iter_num_new(&it, 14, HODOS_INJECT_MAX_REQUEST_LINE);
  while ((index = bpf_iter_num_next(&it))) {
    __u32 i = *index;
    if (i >= HODOS_INJECT_MAX_REQUEST_LINE) break;
    const __u8 *p = data + i;
    if (p + 2 > end) break;
    if (p[0] == '\n') break; /* a bare LF: not a request line we touch */
    if (p[0] == '\r') {
      cr = i;
      break;
    }
  }
  bpf_iter_num_destroy(&it);
  if (cr < 14 || cr >= HODOS_INJECT_MAX_REQUEST_LINE) return 0;
  __u32 version = cr - 9; /* " HTTP/1.x\r\n" */
  /* A fresh offset: the verifier refuses a negative constant offset from a checked pointer. */
  asm volatile("" : "+r"(version));
  const __u8 *v = data + version;
  if (v + 11 > end) return 0;
  if (!is_request_line_version(v)) return 0;
  return cr;
}

/* What scan_head found in a request head. */
struct head_info {
  __u32 end;            /* bytes up to and including the blank line; 0: not in view */
  __u32 content_length; /* offset of the Content-Length value, 0: none */
  bool chunked;         /* a Transfer-Encoding header (the body's length is not known) */
  /* Offset of the traceparent header's value (after the colon) when the head has exactly one,
   * else 0. */
  __u32 traceparent_at;
  bool has_traceparent;
  bool has_tracestate;
};

/* `content-length:` (15 bytes) or `transfer-encoding:` (18 bytes) at p, names being
 * case-insensitive; the caller checked 18 bytes. 1, 2, or 0 for neither. */
static __always_inline int framing_header(const __u8 *p) {
  if ((p[0] | 0x20) == 'c' && (p[1] | 0x20) == 'o' && (p[2] | 0x20) == 'n' &&
      (p[3] | 0x20) == 't' && (p[4] | 0x20) == 'e' && (p[5] | 0x20) == 'n' &&
      (p[6] | 0x20) == 't' && p[7] == '-' && (p[8] | 0x20) == 'l' && (p[9] | 0x20) == 'e' &&
      (p[10] | 0x20) == 'n' && (p[11] | 0x20) == 'g' && (p[12] | 0x20) == 't' &&
      (p[13] | 0x20) == 'h' && p[14] == ':')
    return 1;
  if ((p[0] | 0x20) == 't' && (p[1] | 0x20) == 'r' && (p[2] | 0x20) == 'a' &&
      (p[3] | 0x20) == 'n' && (p[4] | 0x20) == 's' && (p[5] | 0x20) == 'f' &&
      (p[6] | 0x20) == 'e' && (p[7] | 0x20) == 'r' && p[8] == '-' && (p[9] | 0x20) == 'e' &&
      (p[10] | 0x20) == 'n' && (p[11] | 0x20) == 'c' && (p[12] | 0x20) == 'o' &&
      (p[13] | 0x20) == 'd' && (p[14] | 0x20) == 'i' && (p[15] | 0x20) == 'n' &&
      (p[16] | 0x20) == 'g' && p[17] == ':')
    return 2;
  return 0;
}

/* From the request line's CR to the blank line that ends the head (which must end within
 * HODOS_INJECT_MAX_HEAD bytes): where it ends, how the body is framed, and whether there is a
 * traceparent header. */
static __always_inline void scan_head(const __u8 *data, const __u8 *end, __u32 from,
                                      struct head_info *info) {
  struct bpf_iter_num it;
  int *index;
  bpf_iter_num_new(&it, from, HODOS_INJECT_MAX_HEAD);
  while ((index = bpf_iter_num_next(&it))) {
    __u32 i = *index;
    if (i > HODOS_INJECT_MAX_HEAD - 4) break; /* the blank line ends within the window */
    const __u8 *p = data + i;
    if (p + 4 > end) break;
    if (p[0] != '\r' || p[1] != '\n') continue;
    if (p[2] == '\r' && p[3] == '\n') {
      info->end = i + 4;
      break;
    }
    if (p + 2 + 18 > end) continue;
    if (is_traceparent_name(p + 2)) {
      info->traceparent_at = info->has_traceparent ? 0 : i + 2 + 12;
      info->has_traceparent = true;
      continue;
    }
    if (is_tracestate_name(p + 2)) {
      info->has_tracestate = true;
      continue;
    }
    int framing = framing_header(p + 2);
    if (framing == 1) info->content_length = i + 2 + 15;
    if (framing == 2) info->chunked = true;
  }
  bpf_iter_num_destroy(&it);
}

/* The Content-Length value at `at` (after optional spaces), or -1 when it is not a number. */
static __always_inline long content_length(const __u8 *data, const __u8 *end, __u32 at) {
  long value = -1;
#pragma clang loop unroll(disable)
  for (__u32 k = 0; k < 24; k++) {
    const __u8 *p = data + at + k;
    if (p + 1 > end) break;
    __u8 c = *p;
    if ((c == ' ' || c == '\t') && value < 0) continue;
    if (c < '0' || c > '9') break;
    if (value > (1l << 50)) return -1;
    value = (value < 0 ? 0 : value * 10) + (c - '0');
  }
  return value;
}

/* Whether the message ends with the last chunk of a chunked body ("0" CRLF CRLF, no trailers). */
static __always_inline bool ends_with_last_chunk(struct sk_msg_md *msg) {
  __u32 size = msg->size;
  if (size < 5 || bpf_msg_pull_data(msg, size - 5, size, 0) != 0) return false;
  const __u8 *p = msg->data;
  if (p + 5 > (const __u8 *)msg->data_end) return false;
  return p[0] == '0' && p[1] == '\r' && p[2] == '\n' && p[3] == '\r' && p[4] == '\n';
}

/* A message on a connection in the middle of a request body: it passes untouched, and the
 * connection's state moves on. */
static __always_inline int pass_body(struct sk_msg_md *msg, struct hodos_socket_mark *mark) {
  count(HODOS_INJECT_BODY);
  if (mark->stream == HODOS_STREAM_CHUNKED) {
    if (ends_with_last_chunk(msg)) mark->stream = HODOS_STREAM_HEAD;
    return SK_PASS;
  }
  __u64 size = msg->size;
  if (size <= mark->body_left) {
    mark->body_left -= size;
  } else {
    /* The body ends inside this write and more follows: a pipelined request, whose own length
     * is not parsed. What comes next cannot be told apart from a body any more. */
    mark->body_left = 0;
    mark->stream = HODOS_STREAM_UNKNOWN;
    count(HODOS_INJECT_GAVE_UP);
  }
  return SK_PASS;
}

/* Writes the 2 * n lowercase hex digits of the n bytes at `bytes` at p (a loop, not unrolled:
 * unrolled, clang spills the digits past the stack's 512 bytes). */
static __always_inline void write_hex(__u8 *p, const __u8 *bytes, const __u32 n) {
#pragma clang loop unroll(disable)
  for (__u32 i = 0; i < n; i++) {
    __u8 b = bytes[i];
    p[2 * i] = hex_digit(b >> 4);
    p[2 * i + 1] = hex_digit(b & 15);
  }
}

/* Writes the header line for `ctx` with span id `span` at p (HODOS_TRACEPARENT_LINE_LEN bytes). */
static __always_inline void write_traceparent(__u8 *p, const struct hodos_thread_context *ctx,
                                              const __u8 *span) {
  /* Built byte by byte: constant strings in .rodata break BTF with clang 14 (KERNEL-NOTES). */
  p[0] = 't', p[1] = 'r', p[2] = 'a', p[3] = 'c', p[4] = 'e', p[5] = 'p', p[6] = 'a';
  p[7] = 'r', p[8] = 'e', p[9] = 'n', p[10] = 't', p[11] = ':', p[12] = ' ';
  p[13] = '0', p[14] = '0', p[15] = '-';
  write_hex(p + 16, ctx->trace_id, 16);
  p[48] = '-';
  write_hex(p + 49, span, 8);
  p[65] = '-';
  p[66] = hex_digit(ctx->flags >> 4);
  p[67] = hex_digit(ctx->flags & 15);
  p[68] = '\r';
  p[69] = '\n';
}

/* Whether the 2 * n hex digits at p spell the n bytes at `bytes` (lowercase, as W3C requires).
 * Unrolled: constant offsets from a packet pointer keep the range the caller checked. */
static __always_inline bool spells(const __u8 *p, const __u8 *bytes, const __u32 n) {
#pragma clang loop unroll(full)
  for (__u32 i = 0; i < n; i++) {
    if (p[2 * i] != hex_digit(bytes[i] >> 4) || p[2 * i + 1] != hex_digit(bytes[i] & 15))
      return false;
  }
  return true;
}

/* A request that already has a traceparent is left alone, except one: the very header the request
 * being served came with, passed on as it arrived (a proxy such as nginx forwards its client's
 * headers). A traced hop in between then updates its parent-id to its own CLIENT span, as W3C
 * asks of a participating intermediary, so that the callee is the child of the call, not of the
 * hop's caller. Returns the offset of that parent-id (16 hex digits, the same length as the new
 * one: nothing moves), or 0 when the value at `at` is anything else. */
static __always_inline __u32 forwarded_parent_at(const __u8 *data, const __u8 *end, __u32 at,
                                                 const struct hodos_thread_context *ctx) {
  /* Offsets are masked (they are below 4 KiB anyway) so that the verifier sees them bounded. */
  if (at > HODOS_INJECT_MAX_HEAD) return 0;
#pragma clang loop unroll(disable)
  for (__u32 k = 0; k < 4; k++) { /* optional whitespace before the value */
    at &= 0xfff;
    const __u8 *p = data + at;
    if (p + 1 > end) return 0;
    if (*p != ' ' && *p != '\t') break;
    at++;
  }
  at &= 0xfff;
  const __u8 *v = data + at;
  /* 00-<32 hex trace id>-<16 hex parent id>-<2 hex flags> CR */
  if (v + 56 > end) return 0;
  if (v[0] != '0' || v[1] != '0' || v[2] != '-' || v[35] != '-' || v[52] != '-' || v[55] != '\r')
    return 0;
  if (!spells(v + 3, ctx->trace_id, 16) || !spells(v + 36, ctx->parent_span_id, 8) ||
      !spells(v + 53, &ctx->flags, 1))
    return 0;
  return at + 36;
}

/* Makes the first `window` bytes of the message linear (one page), copying them when the message
 * spans several: same bytes, same order. The caller reads msg->data and msg->data_end after it. */
static __always_inline bool pull_head(struct sk_msg_md *msg, __u32 window) {
  if (bpf_msg_pull_data(msg, 0, window, 0) != 0) {
    count(HODOS_INJECT_PULL_FAILED);
    return false;
  }
  return true;
}

/* Writes "tracestate: <value>\r\n" right after the traceparent line at data (the room was made);
 * false when a byte of it is not in the linear data (nothing is sent then). */
static __always_inline bool write_tracestate(__u8 *data, const __u8 *end,
                                             const struct hodos_tracestate *state, __u32 len) {
  __u8 *p = data + HODOS_TRACEPARENT_LINE_LEN;
  if (p + 12 > end) return false;
  p[0] = 't', p[1] = 'r', p[2] = 'a', p[3] = 'c', p[4] = 'e', p[5] = 's', p[6] = 't';
  p[7] = 'a', p[8] = 't', p[9] = 'e', p[10] = ':', p[11] = ' ';
  p += 12;
  bool written = true;
  struct bpf_iter_num it;
  int *index;
  bpf_iter_num_new(&it, 0, HODOS_TRACESTATE_MAX);
  while ((index = bpf_iter_num_next(&it))) {
    __u32 k = *index;
    if (k >= len) break;
    __u8 *q = p + (k & (HODOS_TRACESTATE_MAX - 1));
    if (q + 1 > end) {
      written = false;
      break;
    }
    *q = state->value[k & (HODOS_TRACESTATE_MAX - 1)];
  }
  bpf_iter_num_destroy(&it);
  __u8 *crlf = p + (len & (2 * HODOS_TRACESTATE_MAX - 1));
  if (!written || crlf + 2 > end) return false;
  crlf[0] = '\r';
  crlf[1] = '\n';
  return true;
}

/* Fills in and sends the record of a header written with span id `span`, and tells the sending
 * thread's context (when it has one to keep) which span id went out. */
static __always_inline void finish_record(struct hodos_inject_record *record,
                                          const struct hodos_socket_mark *mark, __u64 pid_tgid,
                                          const struct hodos_thread_context *ctx, const __u8 *span,
                                          struct hodos_thread_context *current) {
  record->ktime_ns = bpf_ktime_get_ns();
  if (current) {
    /* The capture's sys_exit of this write puts the client span's ids on its event. */
    __builtin_memcpy(current->injected_span_id, span, 8);
    current->injected_ns = record->ktime_ns;
  }
  record->socket_cookie = mark->cookie;
  record->tgid = pid_tgid >> 32;
  record->tid = (__u32)pid_tgid;
  __builtin_memcpy(record->trace_id, ctx->trace_id, 16);
  __builtin_memcpy(record->span_id, span, 8);
  __builtin_memcpy(record->parent_span_id, ctx->span_id, 8); /* the SERVER span being served */
  record->flags = ctx->flags;
  __builtin_memset(record->pad, 0, sizeof(record->pad));
  bpf_ringbuf_submit(record, 0);
}

/* ---- sk_msg: HTTP/2 (grpc-go clients) ------------------------------------------------------ */

/* A connection that starts with the client preface carries HTTP/2 frames. The program follows
 * them across writes (9-byte header: length, type, flags, stream id) and, in a HEADERS frame of a
 * stream whose CLIENT ids the capture staged, appends to the header block one field as a literal
 * without indexing (so the HPACK dynamic tables of both ends stay as they are):
 *   0x00, 0x0b "traceparent", 0x37 "00-<trace>-<span>-<flags>"
 * and adds its 69 bytes to the frame's length. Only a frame that lies whole in one write, with
 * END_HEADERS, without padding, and with a header block of at most H2_MAX_BLOCK bytes is touched
 * (so it stays within 16,384 bytes, the least SETTINGS_MAX_FRAME_SIZE a peer may set); anything
 * else passes as it is, counted. A process that sends a traceparent of its own (an HPACK literal
 * naming it, raw or Huffman-coded) is left alone on that connection for good, and so is a
 * connection where a header block went by unread: a later frame could name such a header through
 * the dynamic table, out of sight. */
#define H2_FRAME_HEADER 9
#define H2_DATA 0
#define H2_HEADERS 1
#define H2_CONTINUATION 9
#define H2_END_HEADERS 0x4
#define H2_PADDED 0x8
#define H2_PRIORITY 0x20
#define H2_SAFE_FRAME_SIZE 16384
#define H2_FIELD_LEN 69
/* Frames followed in one write; a write with more gives the connection up. */
#define H2_MAX_FRAMES 1024
/* Header blocks longer than this are not read: the connection is given up (grpc-go's are about
 * 100-300 bytes). */
#define H2_MAX_BLOCK 2048
/* So a frame that gets the field stays within what any peer accepts. */
_Static_assert(5 + H2_MAX_BLOCK + H2_FIELD_LEN <= H2_SAFE_FRAME_SIZE, "frame may outgrow 16 KiB");

static __always_inline bool is_h2_preface(const __u8 *p) {
  /* "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" */
  return p[0] == 'P' && p[1] == 'R' && p[2] == 'I' && p[3] == ' ' && p[4] == '*' && p[5] == ' ' &&
         p[6] == 'H' && p[7] == 'T' && p[8] == 'T' && p[9] == 'P' && p[10] == '/' &&
         p[11] == '2' && p[12] == '.' && p[13] == '0' && p[14] == '\r' && p[15] == '\n' &&
         p[16] == '\r' && p[17] == '\n' && p[18] == 'S' && p[19] == 'M' && p[20] == '\r' &&
         p[21] == '\n' && p[22] == '\r' && p[23] == '\n';
}

/* The field name "traceparent" as an HPACK string at p (its length byte first), raw or
 * Huffman-coded (RFC 7541 Appendix B: 59 bits, padded with ones). The caller checked 12 bytes. */
static __always_inline bool names_traceparent(const __u8 *p) {
  if (p[0] == 0x0b)
    return p[1] == 't' && p[2] == 'r' && p[3] == 'a' && p[4] == 'c' && p[5] == 'e' &&
           p[6] == 'p' && p[7] == 'a' && p[8] == 'r' && p[9] == 'e' && p[10] == 'n' &&
           p[11] == 't';
  return p[0] == 0x88 && p[1] == 0x4d && p[2] == 0x83 && p[3] == 0x21 && p[4] == 0x6b &&
         p[5] == 0x1d && p[6] == 0x85 && p[7] == 0xa9 && p[8] == 0x3f;
}

/* Whether the header block at [start, start + len) names traceparent anywhere (a false match, say
 * inside a value, gives the connection up: no harm to it). The caller limited len to
 * H2_MAX_BLOCK. */
static __noinline bool block_names_traceparent(struct sk_msg_md *msg, __u32 start, __u32 len) {
  if (len < 12) return false;
  if (bpf_msg_pull_data(msg, start, start + len, 0) != 0) return true; /* unread: as if named */
  const __u8 *data = msg->data;
  const __u8 *end = msg->data_end;
  bool named = false;
  struct bpf_iter_num it;
  int *index;
  bpf_iter_num_new(&it, 0, H2_MAX_BLOCK);
  while ((index = bpf_iter_num_next(&it))) {
    __u32 i = *index;
    if (i + 12 > len) break;
    const __u8 *p = data + (i & (H2_MAX_BLOCK - 1));
    if (p + 12 > end) break;
    if ((p[0] == 0x0b || p[0] == 0x88) && names_traceparent(p)) {
      named = true;
      break;
    }
  }
  bpf_iter_num_destroy(&it);
  return named;
}

/* Whether the header block at [start, start + len) starts with `:method: POST` as an indexed field
 * (0x83), after at most one dynamic table size update. */
static __always_inline bool opens_with_post(struct sk_msg_md *msg, __u32 start, __u32 len) {
  __u32 window = len < 8 ? len : 8;
  if (window == 0 || bpf_msg_pull_data(msg, start, start + window, 0) != 0) return false;
  const __u8 *p = msg->data;
  const __u8 *end = msg->data_end;
  if (p + 1 > end) return false;
  __u32 i = 0;
  if ((p[0] & 0xe0) == 0x20) { /* 001xxxxx: a size update, its integer maybe continued */
    i = 1;
    if ((p[0] & 0x1f) == 0x1f) {
#pragma clang loop unroll(full)
      for (__u32 k = 1; k < 6; k++) {
        if (p + k + 1 > end) return false;
        i = k + 1;
        if (!(p[k] & 0x80)) break;
      }
    }
  }
  if (i >= window || p + (i & 7) + 1 > end) return false;
  return p[i & 7] == 0x83;
}

/* Gives the connection up for injection (counted under `why`): its frames pass untouched. */
static __always_inline void give_up_h2(struct hodos_socket_mark *mark, __u32 why) {
  mark->stream = HODOS_STREAM_UNKNOWN;
  count(why);
}

/* Appends the traceparent field to the HEADERS frame at [at, at + 9 + length) (whole in the
 * message) for `staged`. true when the message grew by H2_FIELD_LEN. */
static __noinline bool append_h2_traceparent(struct sk_msg_md *msg, __u32 at, __u32 length,
                                                  const struct hodos_h2_stream_context *staged) {
  /* The room is made before the block's last byte (bpf_msg_push_data refuses the message's end,
   * where a frame often ends), and that byte is moved up: the same as appending. */
  __u32 last = at + H2_FRAME_HEADER + length - 1;
  if (bpf_msg_pull_data(msg, last, last + 1, 0) != 0) return false;
  const __u8 *q = msg->data;
  if (q + 1 > (const __u8 *)msg->data_end) return false;
  __u8 last_byte = q[0];
  if (bpf_msg_push_data(msg, last, H2_FIELD_LEN, 0) != 0) {
    count(HODOS_INJECT_PUSH_FAILED);
    return false;
  }
  /* One linear element for the frame and its new field (the push split it in three, see the
   * HTTP/1 merge below): written at once, sent at once. */
  __u32 frame = H2_FRAME_HEADER + length + H2_FIELD_LEN;
  if (bpf_msg_pull_data(msg, at, at + frame, 0) != 0) goto unwritable;
  __u8 *data = msg->data;
  __u8 *end = msg->data_end;
  if (data + H2_FRAME_HEADER > end) goto unwritable;
  __u32 offset = (H2_FRAME_HEADER + length - 1) & (H2_SAFE_FRAME_SIZE - 1);
  __u8 *p = data + offset;
  asm volatile("" : "+r"(p));
  if (p + 1 + H2_FIELD_LEN > end) goto unwritable;
  /* Nothing is written before every byte is known to be writable. */
  __u32 grown = length + H2_FIELD_LEN;
  data[0] = grown >> 16;
  data[1] = grown >> 8;
  data[2] = grown;
  p[0] = last_byte;
  p[1] = 0x00; /* literal header field without indexing, new name */
  p[2] = 0x0b;
  p[3] = 't', p[4] = 'r', p[5] = 'a', p[6] = 'c', p[7] = 'e', p[8] = 'p', p[9] = 'a';
  p[10] = 'r', p[11] = 'e', p[12] = 'n', p[13] = 't';
  p[14] = 55;
  p[15] = '0', p[16] = '0', p[17] = '-';
  write_hex(p + 18, staged->trace_id, 16);
  p[50] = '-';
  write_hex(p + 51, staged->span_id, 8);
  p[67] = '-';
  p[68] = hex_digit(staged->flags >> 4);
  p[69] = hex_digit(staged->flags & 15);
  return true;

unwritable:
  /* The room exists but cannot be written: take it out again, or the frame would be wrong. */
  if (bpf_msg_pop_data(msg, last, H2_FIELD_LEN, 0) != 0) {
    count(HODOS_INJECT_DROPPED);
    return false; /* the caller drops the message: see follow_h2 */
  }
  count(HODOS_INJECT_WRITE_FAILED);
  return false;
}

/* A HEADERS or CONTINUATION frame at `at` (its header in view: length, type, flags, stream),
 * `whole` when all of it is in this message: what it means for the connection, and the traceparent
 * for its stream when one is staged. Returns the bytes the message grew by (0 or H2_FIELD_LEN), or
 * -1 when the connection was given up. */
static __always_inline int on_h2_headers(struct sk_msg_md *msg, struct hodos_socket_mark *mark, __u32 at,
                                         __u32 length, __u8 type, __u8 flags, __u32 stream,
                                         bool whole) {
  if (type == H2_CONTINUATION || !whole || !(flags & H2_END_HEADERS) || (flags & H2_PADDED)) {
    give_up_h2(mark, HODOS_INJECT_H2_UNREAD_BLOCK);
    return -1;
  }
  __u32 skip = (flags & H2_PRIORITY) ? 5 : 0;
  if (length < skip || length - skip > H2_MAX_BLOCK) {
    give_up_h2(mark, HODOS_INJECT_H2_UNREAD_BLOCK);
    return -1;
  }
  const __u32 block = at + H2_FRAME_HEADER + skip;
  if (block_names_traceparent(msg, block, length - skip)) {
    give_up_h2(mark, HODOS_INJECT_HAS_TRACEPARENT);
    return -1;
  }
  /* Only the first HEADERS of a new stream is a request's (client streams are odd, each above
   * the last), and only one that opens as grpc-go's do (`:method: POST`, static index 3): a frame
   * seen where there is none (payload bytes read as a frame) is all but certain to fail these. */
  if (!(stream & 1) || stream <= mark->h2_last_stream) return 0;
  mark->h2_last_stream = stream;
  if (!opens_with_post(msg, block, length - skip)) return 0;
  struct hodos_h2_stream_key key = {.socket_cookie = mark->cookie, .stream_id = stream};
  struct hodos_h2_stream_context *staged = bpf_map_lookup_elem(&h2_stream_contexts, &key);
  if (!staged) {
    count(HODOS_INJECT_NO_CONTEXT);
    return 0;
  }
  struct hodos_h2_stream_context ctx = *staged;
  bpf_map_delete_elem(&h2_stream_contexts, &key);
  if (bpf_ktime_get_ns() > ctx.expires_ns) {
    count(HODOS_INJECT_STALE_CONTEXT);
    return 0;
  }
  if (!append_h2_traceparent(msg, at, length, &ctx)) return 0;
  count(HODOS_INJECT_H2_INJECTED);
  return H2_FIELD_LEN;
}

/* Follows the frames of a write on an HTTP/2 connection from `from` (past the preface). */
static __noinline int follow_h2(struct sk_msg_md *msg, struct hodos_socket_mark *mark, __u32 from) {
  __u32 size = msg->size;
  __u32 at = from;
  if (mark->h2_have) {
    /* The last write ended inside a frame header: its rest comes first. */
    __u32 have = mark->h2_have;
    if (have >= H2_FRAME_HEADER) {
      give_up_h2(mark, HODOS_INJECT_GAVE_UP); /* never set so: lost track */
      return SK_PASS;
    }
    __u32 need = H2_FRAME_HEADER - have;
    __u32 take = size < need ? size : need;
    if (bpf_msg_pull_data(msg, 0, take, 0) != 0) {
      give_up_h2(mark, HODOS_INJECT_PULL_FAILED);
      return SK_PASS;
    }
    const __u8 *d = msg->data;
    const __u8 *end = msg->data_end;
#pragma clang loop unroll(full)
    for (__u32 k = 0; k < 4; k++) {
      if (k >= have && k - have < take) {
        if (d + (k - have) + 1 > end) {
          give_up_h2(mark, HODOS_INJECT_PULL_FAILED);
          return SK_PASS;
        }
        mark->h2_head[k] = d[k - have];
      }
    }
    if (take < need) {
      mark->h2_have = have + take;
      return SK_PASS;
    }
    mark->h2_have = 0;
    __u8 type = mark->h2_head[3];
    if (type == H2_HEADERS || type == H2_CONTINUATION || type > H2_CONTINUATION) {
      /* A header block split from its frame header, or a frame type not known here. */
      give_up_h2(mark, type > H2_CONTINUATION ? HODOS_INJECT_GAVE_UP : HODOS_INJECT_H2_UNREAD_BLOCK);
      return SK_PASS;
    }
    __u32 length = (mark->h2_head[0] << 16) | (mark->h2_head[1] << 8) | mark->h2_head[2];
    at = need + length;
    if (at > size) {
      mark->body_left = at - size;
      return SK_PASS;
    }
  } else if (mark->body_left) {
    if (mark->body_left >= size) {
      mark->body_left -= size;
      return SK_PASS;
    }
    at = mark->body_left;
    mark->body_left = 0;
  }

  bool followed = false, dropped = false;
  struct bpf_iter_num it;
  int *index;
  bpf_iter_num_new(&it, 0, H2_MAX_FRAMES);
  while ((index = bpf_iter_num_next(&it))) {
    if (at >= size) {
      followed = true;
      break;
    }
    if (bpf_msg_pull_data(msg, at, size - at < H2_FRAME_HEADER ? size : at + H2_FRAME_HEADER, 0)) {
      give_up_h2(mark, HODOS_INJECT_PULL_FAILED);
      break;
    }
    const __u8 *d = msg->data;
    const __u8 *end = msg->data_end;
    if (size - at < H2_FRAME_HEADER) {
      /* The write ends inside this frame's header: keep what there is of its first four bytes. */
      __u32 have = size - at;
#pragma clang loop unroll(full)
      for (__u32 k = 0; k < 4; k++) {
        if (k < have && d + k + 1 <= end) mark->h2_head[k] = d[k];
      }
      mark->h2_have = have;
      followed = true;
      break;
    }
    if (d + H2_FRAME_HEADER > end) {
      give_up_h2(mark, HODOS_INJECT_PULL_FAILED);
      break;
    }
    __u32 length = (d[0] << 16) | (d[1] << 8) | d[2];
    __u8 type = d[3], flags = d[4];
    __u32 stream = ((d[5] & 0x7f) << 24) | (d[6] << 16) | (d[7] << 8) | d[8];
    if (type > H2_CONTINUATION) {
      /* An extension frame: skipping it would be right, but nothing here sends one, so it more
       * likely means the frames were lost track of. */
      give_up_h2(mark, HODOS_INJECT_GAVE_UP);
      break;
    }
    __u32 frame_end = at + H2_FRAME_HEADER + length;
    if (type == H2_HEADERS || type == H2_CONTINUATION) {
      int grew = on_h2_headers(msg, mark, at, length, type, flags, stream, frame_end <= size);
      if (grew < 0) break;
      frame_end += grew;
      size += grew;
      if (size != msg->size) { /* room made, neither written nor removed */
        dropped = true;
        break;
      }
    }
    if (frame_end > size) {
      mark->body_left = frame_end - size;
      followed = true;
      break;
    }
    at = frame_end;
  }
  bpf_iter_num_destroy(&it);
  if (dropped) return SK_DROP;
  if (!followed && mark->stream == HODOS_STREAM_H2) give_up_h2(mark, HODOS_INJECT_GAVE_UP);
  return SK_PASS;
}

/* A write on a connection enrolled after it started (HODOS_STREAM_RESYNC), not an HTTP/1.x request
 * head: where an HTTP/2 frame starts is not known either, but grpc-go writes whole frames except
 * when a full buffer is flushed. A write whose frame headers lead from its first byte exactly to
 * its last is taken to start at a frame: true, and the connection's frames are followed from
 * there; any other waits for the next (a write that starts inside a frame looks like one that is
 * no HTTP/2 at all). A false find could only touch a HEADERS frame of a stream staged for this
 * very connection, which only grpc-go's real streams are. */
static __noinline bool h2_frames_fill(struct sk_msg_md *msg, struct hodos_socket_mark *mark) {
  __u32 size = msg->size;
  __u32 at = 0;
  bool filled = false;
  struct bpf_iter_num it;
  int *index;
  bpf_iter_num_new(&it, 0, H2_MAX_FRAMES);
  while ((index = bpf_iter_num_next(&it))) {
    if (at == size) {
      filled = true;
      break;
    }
    if (size - at < H2_FRAME_HEADER) break;
    if (bpf_msg_pull_data(msg, at, at + H2_FRAME_HEADER, 0)) break;
    const __u8 *d = msg->data;
    if (d + H2_FRAME_HEADER > (const __u8 *)msg->data_end) break;
    if (d[3] > H2_CONTINUATION || (d[5] & 0x80)) break; /* no such type; the reserved bit */
    at += H2_FRAME_HEADER + ((d[0] << 16) | (d[1] << 8) | d[2]);
    if (at > size) break;
  }
  bpf_iter_num_destroy(&it);
  if (filled) {
    mark->stream = HODOS_STREAM_H2;
    count(HODOS_INJECT_H2_RESYNCED);
  }
  return filled;
}

/* A write on a connection enrolled after it started (HODOS_STREAM_RESYNC) that starts with an
 * HTTP/1.x request line: an HTTP/1.x client writes each request's head from its first byte, and
 * the connection's requests are followed from there (inject_http1 still wants the whole head in
 * this write). A write inside a request body of the same shape (an HTTP message sent as a body,
 * in a request begun before the enrolment) would be taken for a head: the one case this cannot
 * tell, as rare as such bodies are. */
static __noinline bool starts_request_head(struct sk_msg_md *msg) {
  __u32 size = msg->size;
  if (size < 18) return false;
  __u32 window = size < HODOS_INJECT_MAX_REQUEST_LINE ? size : HODOS_INJECT_MAX_REQUEST_LINE;
  if (bpf_msg_pull_data(msg, 0, window, 0) != 0) return false;
  const __u8 *data = msg->data;
  const __u8 *end = msg->data_end;
  if (data + window > end) return false;
  return request_line_end(data, end) != 0;
}

/* A write on an HTTP/1.x connection between requests (its head may start here), or the first
 * write of an HTTP/2 one: H2_PREFACE_SEEN then, for the caller to follow its frames (a call from
 * here would add this function's stack to theirs, over the verifier's 512 bytes). */
#define H2_PREFACE_SEEN -1
static __noinline int inject_http1(struct sk_msg_md *msg, struct hodos_socket_mark *mark) {
  __u32 size = msg->size;
  if (size < 18) {
    count(HODOS_INJECT_NOT_HTTP);
    return SK_PASS;
  }
  __u32 window = size < HODOS_INJECT_MAX_HEAD ? size : HODOS_INJECT_MAX_HEAD;
  __u8 *data = msg->data;
  __u8 *end = msg->data_end;
  if (data + window > end) {
    if (!pull_head(msg, window)) return SK_PASS;
    data = msg->data;
    end = msg->data_end;
  }
  if (data + 24 <= end && is_h2_preface(data)) {
    mark->stream = HODOS_STREAM_H2;
    count(HODOS_INJECT_H2_CONNECTION);
    return H2_PREFACE_SEEN;
  }
  __u32 cr = request_line_end(data, end);
  if (cr == 0) {
    count(HODOS_INJECT_NOT_HTTP);
    return SK_PASS;
  }
  struct head_info head = {};
  scan_head(data, end, cr, &head);
  if (head.end == 0) {
    /* The rest of the head, and its body, come in later writes whose framing is not known. */
    mark->stream = HODOS_STREAM_UNKNOWN;
    count(HODOS_INJECT_HEAD_NOT_IN_MESSAGE);
    count(HODOS_INJECT_GAVE_UP);
    return SK_PASS;
  }
  /* Where the next request starts: after this one's body. */
  __u32 after = size - head.end; /* bytes of this write past the head */
  if (head.chunked) {
    mark->stream = HODOS_STREAM_CHUNKED;
    if (after > 0) {
      if (ends_with_last_chunk(msg)) mark->stream = HODOS_STREAM_HEAD;
      /* The check moved the data pointers to the message's end (whatever it found). */
      if (!pull_head(msg, window)) return SK_PASS;
    }
    data = msg->data;
    end = msg->data_end;
  } else {
    long length = head.content_length ? content_length(data, end, head.content_length) : 0;
    if (length < 0 || (__u64)after > (__u64)length) {
      /* A length that does not parse, or another request in the same write (pipelined): what
       * follows on this connection can no longer be told apart. This request is still whole. */
      mark->stream = HODOS_STREAM_UNKNOWN;
      count(HODOS_INJECT_GAVE_UP);
    } else {
      mark->body_left = (__u64)length - after;
    }
  }

  __u64 pid_tgid = bpf_get_current_pid_tgid(); /* the sending thread */
  __u32 tid = (__u32)pid_tgid;
  struct hodos_thread_context *current = bpf_map_lookup_elem(&thread_contexts, &tid);
  if (!current) {
    count(HODOS_INJECT_NO_CONTEXT);
    return SK_PASS;
  }
  struct hodos_thread_context ctx = *current;
  /* A one-shot context is for one request: later ones do not get it. A request's context stays
   * for every call the thread makes while serving it. */
  if (ctx.one_shot) {
    bpf_map_delete_elem(&thread_contexts, &tid);
    current = NULL;
  }
  if (bpf_ktime_get_ns() > ctx.expires_ns) {
    count(HODOS_INJECT_STALE_CONTEXT);
    return SK_PASS;
  }
  __u32 parent_at = 0;
  if (head.has_traceparent) {
    if (head.traceparent_at) parent_at = forwarded_parent_at(data, end, head.traceparent_at, &ctx);
    if (parent_at == 0 || parent_at > HODOS_INJECT_MAX_HEAD + 64) {
      count(HODOS_INJECT_HAS_TRACEPARENT);
      return SK_PASS;
    }
  }

  /* Reserve the record first: an injection userspace would not hear of must not happen. */
  struct hodos_inject_record *record = bpf_ringbuf_reserve(&injections, sizeof(*record), 0);
  if (!record) {
    count(HODOS_INJECT_RING_FULL);
    return SK_PASS;
  }
  __u32 r0 = bpf_get_prandom_u32(), r1 = bpf_get_prandom_u32();
  if (r0 == 0 && r1 == 0) r1 = 1; /* an all-zero span id is invalid */
  __u8 span[8];
  __builtin_memcpy(&span[0], &r0, 4);
  __builtin_memcpy(&span[4], &r1, 4);

  if (parent_at) {
    /* The forwarded header: its parent-id becomes this call's span id, in place. */
    __u8 *p = data + parent_at;
    /* One pointer for the check and the writes: recomputed, it would lose the checked range. */
    asm volatile("" : "+r"(p));
    if (p + 16 > end) {
      bpf_ringbuf_discard(record, 0);
      count(HODOS_INJECT_HAS_TRACEPARENT);
      return SK_PASS;
    }
    write_hex(p, span, 8);
    finish_record(record, mark, pid_tgid, &ctx, span, current);
    count(HODOS_INJECT_FORWARDED_UPDATED);
    return SK_PASS;
  }

  /* The request's incoming tracestate goes on with it, unless this head has one of its own. */
  const struct hodos_tracestate *state = NULL;
  if (ctx.has_tracestate && !head.has_tracestate) {
    state = bpf_map_lookup_elem(&thread_tracestates, &tid);
    if (state && (state->len == 0 || state->len > HODOS_TRACESTATE_MAX)) state = NULL;
  }
  __u32 state_len = state ? state->len : 0;
  /* "tracestate: " value CRLF */
  __u32 inserted = HODOS_TRACEPARENT_LINE_LEN + (state ? 12 + state_len + 2 : 0);

  __u32 at = cr + 2; /* right after the request line */
  /* The scatterlist element holding the head (it starts at offset 0): see the merge below. */
  __u32 first_element = (__u32)(end - data);
  if (bpf_msg_push_data(msg, at, inserted, 0) != 0) {
    bpf_ringbuf_discard(record, 0);
    count(HODOS_INJECT_PUSH_FAILED);
    return SK_PASS;
  }
  int pulled = bpf_msg_pull_data(msg, at, at + inserted, 0);
  data = msg->data;
  end = msg->data_end;
  if (pulled != 0 || data + HODOS_TRACEPARENT_LINE_LEN > end ||
      (state && !write_tracestate(data, end, state, state_len))) {
    /* The room exists but cannot be written: take it out again, or drop rather than send
     * uninitialised bytes. */
    bpf_ringbuf_discard(record, 0);
    if (bpf_msg_pop_data(msg, at, inserted, 0) != 0) {
      count(HODOS_INJECT_DROPPED);
      return SK_DROP;
    }
    count(HODOS_INJECT_WRITE_FAILED);
    return SK_PASS;
  }
  write_traceparent(data, &ctx, span);
  /* push_data split the head's element in three (request line, header, rest), and the kernel
   * sends each element with its own tcp_sendmsg: the 2nd small segment then waits for the ACK
   * of the 1st (Nagle), which the peer delays until it has the whole head: 40 ms per request.
   * Merge them back into one element. Failing that, the bytes are still right: only later. */
  if (bpf_msg_pull_data(msg, 0, first_element + inserted, 0) != 0)
    count(HODOS_INJECT_MERGE_FAILED);

  finish_record(record, mark, pid_tgid, &ctx, span, current);
  count(HODOS_INJECT_INJECTED);
  return SK_PASS;
}

SEC("sk_msg")
int inject_traceparent(struct sk_msg_md *msg) {
  /* Every enrolled socket has its mark (sockops made it). */
  struct bpf_sock *sk = msg->sk;
  if (!sk) return SK_PASS;
  struct hodos_socket_mark *mark = bpf_sk_storage_get(&socket_marks, sk, NULL, 0);
  if (!mark) return SK_PASS;

  /* Only a write that starts a request head may be touched: a request body that happens to
   * look like a request (an HTTP message sent as a body) must pass as it is. So the program
   * follows each connection's requests: their heads, and the length of their bodies. */
  if (mark->stream == HODOS_STREAM_UNKNOWN) {
    count(HODOS_INJECT_STREAM_UNKNOWN);
    return SK_PASS;
  }
  if (mark->stream == HODOS_STREAM_RESYNC) {
    if (starts_request_head(msg)) {
      mark->stream = HODOS_STREAM_HEAD;
      count(HODOS_INJECT_H1_RESYNCED);
    } else if (!h2_frames_fill(msg, mark)) {
      count(HODOS_INJECT_RESYNC_WAIT);
      return SK_PASS;
    }
  }
  if (mark->stream == HODOS_STREAM_H2) return follow_h2(msg, mark, 0);
  if (mark->stream == HODOS_STREAM_CHUNKED || mark->body_left > 0) return pass_body(msg, mark);
  int verdict = inject_http1(msg, mark);
  if (verdict == H2_PREFACE_SEEN) return follow_h2(msg, mark, 24);
  return verdict;
}
