/* Captures the TCP traffic of traced processes at the syscall boundary: accept/accept4, connect,
 * read/write, recvfrom/sendto and close on TCP sockets become events in a ring buffer, data events
 * with the first bytes moved.
 *
 * Attached to the raw sys_enter/sys_exit tracepoints (tp_btf: no tracefs, no kprobes needed).
 * Those fire for every syscall on the host, so each program rejects what it does not follow as
 * early and cheaply as it can: the syscall number first (no map access), then the pid filter
 * (one hash lookup), then the fd (a few kernel reads to reach the socket). */
/* vmlinux.h defines the kernel types every other header uses: it comes first. */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "sockets.h"
#include "syscalls.h"
#include "task_socket.bpf.h"

char LICENSE[] SEC("license") = "GPL";

/* ---- configuration and maps (all of them, in one place) ---------------------------------- */

/* Set by the loader before load; at most HODOS_MAX_CAPTURE_BYTES. */
const volatile __u32 capture_bytes = HODOS_DEFAULT_CAPTURE_BYTES;

/* Processes to trace, by tgid; userspace adds and removes them. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, HODOS_MAX_TRACED_PROCESSES);
  __type(key, __u32);
  __type(value, __u8);
} traced_processes SEC(".maps");

/* What sys_enter learnt about a followed syscall, for its sys_exit. */
struct pending_call {
  __u64 enter_ns;
  __u64 sk;  /* struct sock *, valid until the syscall returns (the file is held) */
  __u64 buf; /* user buffer of a data syscall */
  __s32 fd;
  __u32 syscall;
  struct hodos_socket_tuple tuple; /* close only: the socket may be gone at exit */
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
  __uint(max_entries, 8 << 20);
} events SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, HODOS_COUNTER_COUNT);
  __type(key, __u32);
  __type(value, __u64);
} counters SEC(".maps");

/* A data event is built here (too big for the stack), then copied into the ring buffer at the
 * length it needs. Programs on one CPU never nest (the kernel skips a recursive run), so one
 * slot per CPU is enough. */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct hodos_data_event);
} data_scratch SEC(".maps");

/* ---- helpers ------------------------------------------------------------------------------ */

static __always_inline void count(enum hodos_counter counter) {
  __u32 key = counter;
  __u64 *value = bpf_map_lookup_elem(&counters, &key);
  if (value) *value += 1;
}

/* The enum hodos_syscall of a syscall number, or 0 when it is not followed. */
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
    default:
      return 0;
  }
}

static __always_inline __u8 direction_of(__u32 syscall) {
  switch (syscall) {
    case HODOS_SYSCALL_READ:
    case HODOS_SYSCALL_RECVFROM:
      return HODOS_DIRECTION_INGRESS;
    case HODOS_SYSCALL_WRITE:
    case HODOS_SYSCALL_SENDTO:
      return HODOS_DIRECTION_EGRESS;
    default:
      return HODOS_DIRECTION_NONE;
  }
}

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
  header->direction = direction_of(call->syscall);
  header->flags = 0;
}

/* ACCEPT, CONNECT and CLOSE: a header-only event. */
static __always_inline void emit_connection_event(const struct pending_call *call, __u64 pid_tgid,
                                                  long ret, __u8 kind, int fd, struct sock *sk) {
  struct hodos_event_header *header = bpf_ringbuf_reserve(&events, sizeof(*header), 0);
  if (!header) {
    count(HODOS_COUNTER_RINGBUF_DROPS);
    return;
  }
  fill_header(header, call, pid_tgid, ret, kind);
  header->fd = fd;
  if (sk)
    read_socket_tuple(sk, &header->tuple);
  else
    header->tuple = call->tuple;
  bpf_ringbuf_submit(header, 0);
  count(HODOS_COUNTER_EVENTS);
}

static __always_inline void emit_data_event(const struct pending_call *call, __u64 pid_tgid,
                                            long ret) {
  __u32 zero = 0;
  struct hodos_data_event *event = bpf_map_lookup_elem(&data_scratch, &zero);
  if (!event) return;
  fill_header(&event->header, call, pid_tgid, ret, HODOS_EVENT_DATA);
  read_socket_tuple((struct sock *)call->sk, &event->header.tuple);

  __u64 captured = ret;
  if (captured > capture_bytes) {
    captured = capture_bytes;
    event->header.flags |= HODOS_FLAG_TRUNCATED;
    count(HODOS_COUNTER_TRUNCATIONS);
  }
  /* An explicit bound for the verifier, whatever capture_bytes the loader chose. */
  if (captured > HODOS_MAX_CAPTURE_BYTES) captured = HODOS_MAX_CAPTURE_BYTES;
  if (bpf_probe_read_user(event->data, captured, (const void *)call->buf)) {
    captured = 0;
    event->header.flags |= HODOS_FLAG_CAPTURE_FAILED;
    count(HODOS_COUNTER_CAPTURE_FAILURES);
  }
  event->captured = captured;
  if (bpf_ringbuf_output(&events, event, offsetof(struct hodos_data_event, data) + captured, 0))
    count(HODOS_COUNTER_RINGBUF_DROPS);
  else
    count(HODOS_COUNTER_EVENTS);
}

/* ---- programs ----------------------------------------------------------------------------- */

SEC("tp_btf/sys_enter")
int BPF_PROG(on_sys_enter, struct pt_regs *regs, long nr) {
  __u32 syscall = followed_syscall(nr);
  if (!syscall) return 0;
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  __u32 tgid = pid_tgid >> 32;
  if (!bpf_map_lookup_elem(&traced_processes, &tgid)) return 0;

  /* Every followed syscall takes the socket fd first; accept's is the listener. */
  int fd = (int)PT_REGS_PARM1_CORE_SYSCALL(regs);
  struct sock *sk = tcp_sock_of_fd(fd);
  if (!sk) return 0;

  struct pending_call call = {};
  call.enter_ns = bpf_ktime_get_ns();
  call.sk = (__u64)sk;
  call.buf = PT_REGS_PARM2_CORE_SYSCALL(regs);
  call.fd = fd;
  call.syscall = syscall;
  if (syscall == HODOS_SYSCALL_CLOSE) read_socket_tuple(sk, &call.tuple);
  if (bpf_map_update_elem(&pending_calls, &pid_tgid, &call, BPF_ANY))
    count(HODOS_COUNTER_PENDING_OVERFLOW);
  return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(on_sys_exit, struct pt_regs *regs, long ret) {
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
      struct sock *accepted = tcp_sock_of_fd((int)ret);
      if (accepted)
        emit_connection_event(&call, pid_tgid, ret, HODOS_EVENT_ACCEPT, (int)ret, accepted);
      return 0;
    }
    case HODOS_SYSCALL_CONNECT:
      emit_connection_event(&call, pid_tgid, ret, HODOS_EVENT_CONNECT, call.fd,
                            (struct sock *)call.sk);
      return 0;
    case HODOS_SYSCALL_CLOSE:
      emit_connection_event(&call, pid_tgid, ret, HODOS_EVENT_CLOSE, call.fd, NULL);
      return 0;
    default:
      /* Errors (EAGAIN above all) and EOF carry no bytes. */
      if (ret > 0) emit_data_event(&call, pid_tgid, ret);
      return 0;
  }
}
