/* What bpf/inject.bpf.c (traceparent injection with sockops + sk_msg) shares with its loader,
 * src/agent/injector.cc: the record of each injection, the policy key and the skip counters (the
 * thread contexts it reads are the capture's: struct hodos_thread_context in bpf/sockets.h). Fixed-width types only, explicit padding, no pointers. */
#ifndef HODOS_BPF_INJECT_H
#define HODOS_BPF_INJECT_H

#ifndef __bpf__
#include <linux/types.h>
#endif

/* Connections enrolled at once (client sides of traced processes to allowed destinations). */
#define HODOS_INJECT_MAX_SOCKETS 65536
/* CIDRs in the destination policy (defaults + allowlist). */
#define HODOS_INJECT_MAX_DESTINATIONS 1024
/* The request line must end (CRLF) within this many bytes of the message start. */
#define HODOS_INJECT_MAX_REQUEST_LINE 1024
/* The whole request head (up to the blank line) must lie within this many bytes. */
#define HODOS_INJECT_MAX_HEAD 2048
/* "traceparent: 00-" + 32 hex + "-" + 16 hex + "-" + 2 hex + "\r\n" */
#define HODOS_TRACEPARENT_LINE_LEN 70

/* Where a connection's outgoing bytes are: between requests (a write may start a head), in a
 * body of known length, in a chunked body, somewhere the program can no longer tell, in HTTP/2
 * frames (after the client preface), or not yet known (a connection the loader enrolled after it
 * started: the first write that starts an HTTP/1.x request head, or is made of whole HTTP/2
 * frames, shows where its requests start). */
enum hodos_inject_stream {
  HODOS_STREAM_HEAD = 0,
  HODOS_STREAM_CHUNKED = 1,
  HODOS_STREAM_UNKNOWN = 2,
  HODOS_STREAM_H2 = 3,
  HODOS_STREAM_RESYNC = 4,
};

/* Per enrolled socket (socket storage). */
struct hodos_socket_mark {
  __u64 cookie; /* filled at enrolment */
  /* HODOS_STREAM_HEAD: bytes of the last request's body not yet sent; HODOS_STREAM_H2: bytes of
   * a frame begun in an earlier write not yet sent. */
  __u64 body_left;
  __u32 tgid; /* the process that connected */
  __u8 enrolled;
  __u8 stream; /* enum hodos_inject_stream */
  /* HODOS_STREAM_H2: how many bytes of a frame header the last write ended inside (0..8), and
   * the first four of them (the frame's length and type). */
  __u8 h2_have;
  __u8 pad;
  __u8 h2_head[4];
  __u32 h2_last_stream; /* HODOS_STREAM_H2: the highest stream a HEADERS frame opened */
};

/* One injection, in the ring buffer: userspace gives the client span exactly these ids. */
struct hodos_inject_record {
  __u64 ktime_ns;
  __u64 socket_cookie; /* SO_COOKIE of the connection */
  __u32 tgid;
  __u32 tid;
  __u8 trace_id[16];
  __u8 span_id[8]; /* the new client span id that was injected */
  __u8 parent_span_id[8];
  __u8 flags;
  __u8 pad[7];
};

/* A destination CIDR: an LPM trie key. IPv4 is stored IPv4-mapped (::ffff:a.b.c.d, prefix 96+n)
 * so one trie serves AF_INET, AF_INET6 and Java's v4-mapped AF_INET6 sockets. */
struct hodos_inject_cidr {
  __u32 prefixlen;
  __u8 addr[16];
};

/* Per-CPU counters (array indexes). */
enum hodos_inject_counter {
  HODOS_INJECT_MARKED = 0,        /* connect() of a traced process to an allowed destination */
  HODOS_INJECT_NOT_ALLOWED = 1,   /* connect() of a traced process elsewhere: not enrolled */
  HODOS_INJECT_ENROLLED = 2,      /* marked sockets put in the sockhash at ESTABLISHED */
  HODOS_INJECT_ENROL_FAILED = 3,  /* sockhash update refused (full, or another sk_msg user) */
  HODOS_INJECT_INJECTED = 4,      /* traceparent inserted */
  HODOS_INJECT_NO_CONTEXT = 5,    /* message on an enrolled socket, no staged context */
  HODOS_INJECT_STALE_CONTEXT = 6, /* the staged context had expired */
  HODOS_INJECT_NOT_HTTP = 7,      /* does not start with an HTTP/1.x request line */
  HODOS_INJECT_HEAD_NOT_IN_MESSAGE = 8, /* no end of head within the message / window */
  HODOS_INJECT_HAS_TRACEPARENT = 9,     /* the request already carries one */
  HODOS_INJECT_PULL_FAILED = 10,        /* could not linearise the head: untouched */
  HODOS_INJECT_PUSH_FAILED = 11,        /* could not make room: untouched */
  HODOS_INJECT_WRITE_FAILED = 12,       /* room made but not writable: removed again, untouched */
  HODOS_INJECT_DROPPED = 13,      /* room made, not writable, not removable: message dropped */
  HODOS_INJECT_RING_FULL = 14,    /* no room for the record: skipped, so that no id goes unknown */
  HODOS_INJECT_MERGE_FAILED = 15, /* injected, but sent in several segments (may be slower) */
  HODOS_INJECT_BODY = 16,         /* a write inside a request body: untouched */
  /* A connection whose requests can no longer be followed (a head split over writes, a
   * pipelined request, an unparsable Content-Length): nothing more is injected on it. */
  HODOS_INJECT_GAVE_UP = 17,
  HODOS_INJECT_STREAM_UNKNOWN = 18, /* a write on such a connection: untouched */
  /* The request carried the very traceparent the request being served came with (a proxy passing
   * its client's headers on): its parent-id was set to this call's span id, in place. */
  HODOS_INJECT_FORWARDED_UPDATED = 19,
  /* HTTP/2 (connections that start with the client preface): */
  HODOS_INJECT_H2_CONNECTION = 20, /* a connection seen starting HTTP/2 */
  HODOS_INJECT_H2_INJECTED = 21,   /* traceparent appended to a stream's HEADERS frame */
  /* A header block not read whole (split over writes or frames, padded, or too long): nothing
   * more is injected on the connection, whose HPACK table might now hold a traceparent name. */
  HODOS_INJECT_H2_UNREAD_BLOCK = 22,
  /* A connection enrolled after it started (HODOS_STREAM_RESYNC): a write made of whole HTTP/2
   * frames found where they start; a write that showed neither them nor a request head, so was
   * waited past; a write that starts an HTTP/1.x request head found where requests start. */
  HODOS_INJECT_H2_RESYNCED = 23,
  HODOS_INJECT_RESYNC_WAIT = 24,
  HODOS_INJECT_H1_RESYNCED = 25,
  HODOS_INJECT_COUNTER_COUNT = 26,
};

#endif /* HODOS_BPF_INJECT_H */
