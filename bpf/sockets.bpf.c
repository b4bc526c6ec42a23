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

/* Records are submitted without waking the agent, which drains the ring on a short timer: a
 * wake-up per record (the kernel's default) costs an IPI in the kernel and a context switch in the
 * agent, several times per request. Only the record that takes the ring past this many bytes
 * wakes the agent at once, so that a burst does not overflow it (each record past it would cost
 * an IPI again while the agent catches up). Set by the loader. */
const volatile __u64 wakeup_bytes = 256 << 10;

/* 1 while the rule "every process listening on TCP is a source" is on: the agent sets it at run
 * time (.bss is mapped into the agent). */
volatile __u32 trace_listeners = 0;

/* Processes to trace, by tgid. The agent adds what its /proc scans select and removes what it
 * rejects; the programs below add listeners and children of traced processes, and remove exited
 * processes. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, HODOS_MAX_TRACED_PROCESSES);
  __type(key, __u32);
  __type(value, __u8);
} traced_processes SEC(".maps");

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
  __u8 pad;
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

/* Copies up to `wanted` bytes from the user's iovec array into event->data, iovec by iovec; returns
 * the bytes copied, or -1 when user memory could not be read. */
static __always_inline long capture_iovecs(struct hodos_data_event *event,
                                           const struct iovec *iov, __u64 iov_count,
                                           __u64 wanted) {
  __u64 captured = 0;
  for (__u32 i = 0; i < HODOS_MAX_CAPTURED_IOVECS; ++i) {
    if (i >= iov_count || captured >= wanted) break;
    struct iovec vec;
    if (bpf_probe_read_user(&vec, sizeof(vec), &iov[i])) return -1;
    __u64 n = vec.iov_len;
    if (n > wanted - captured) n = wanted - captured;
    /* Explicit bounds for the verifier: offset < MAX, size <= MAX (the spill area covers it). */
    __u64 offset = captured & (HODOS_MAX_CAPTURE_BYTES - 1);
    if (n > HODOS_MAX_CAPTURE_BYTES) n = HODOS_MAX_CAPTURE_BYTES;
    if (n == 0) continue;
    if (bpf_probe_read_user(event->data + offset, n, vec.iov_base)) return -1;
    captured += n;
  }
  return captured;
}

static __always_inline void emit_data_event(const struct pending_call *call, __u64 pid_tgid,
                                            long ret, const bool typed) {
  __u32 cpu = bpf_get_smp_processor_id();
  struct data_scratch_slot *slot = bpf_map_lookup_elem(&data_scratch, &cpu);
  if (!slot) return;
  struct hodos_data_event *event = &slot->event;
  fill_header(&event->header, call, pid_tgid, ret, HODOS_EVENT_DATA);
  read_socket_tuple((struct sock *)call->sk, &event->header.tuple, typed);

  __u64 wanted = ret;
  if (wanted > capture_bytes) wanted = capture_bytes;
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

/* ---- programs ----------------------------------------------------------------------------- */

/* The bodies of sys_enter and sys_exit, for two pairs of programs: *_typed reads the kernel's
 * structures with plain loads (bpf_rdonly_cast, Linux 6.2+), the others with
 * bpf_probe_read_kernel (any kernel with BTF). The loader loads one pair. */
static __always_inline int sys_enter_body(struct pt_regs *regs, long nr, const bool typed) {
  __u32 syscall = followed_syscall(nr);
  if (!syscall) return 0;
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  __u32 tgid = pid_tgid >> 32;
  if (!bpf_map_lookup_elem(&traced_processes, &tgid)) {
    /* Untraced: only a new server (listen, or accept on a listener it inherited) goes on. */
    if (syscall != HODOS_SYSCALL_LISTEN && syscall != HODOS_SYSCALL_ACCEPT &&
        syscall != HODOS_SYSCALL_ACCEPT4)
      return 0;
    int listener = (int)PT_REGS_PARM1_CORE_SYSCALL(regs);
    struct sock *listener_sk = tcp_sock_of_fd(listener, typed);
    if (!listener_sk) return 0;
    if (!trace_new_listener(tgid, (__u32)pid_tgid, syscall, listener, listener_sk, typed)) return 0;
  }
  if (syscall == HODOS_SYSCALL_LISTEN) return 0;

  /* Every followed syscall takes the socket fd first (accept's is the listener), except splice,
   * whose socket may be either end. */
  int fd = (int)PT_REGS_PARM1_CORE_SYSCALL(regs);
  __u8 direction = direction_of(syscall);
  struct sock *sk = tcp_sock_of_fd(fd, typed);
  if (syscall == HODOS_SYSCALL_SPLICE) {
    direction = HODOS_DIRECTION_INGRESS;
    if (!sk) {
      fd = (int)PT_REGS_PARM3_CORE_SYSCALL(regs);
      direction = HODOS_DIRECTION_EGRESS;
      sk = tcp_sock_of_fd(fd, typed);
    }
  }
  if (!sk) return 0;

  struct pending_call call = {};
  call.enter_ns = bpf_ktime_get_ns();
  call.sk = (__u64)sk;
  call.buf = PT_REGS_PARM2_CORE_SYSCALL(regs);
  if (syscall == HODOS_SYSCALL_READV || syscall == HODOS_SYSCALL_WRITEV)
    call.count = PT_REGS_PARM3_CORE_SYSCALL(regs);
  call.fd = fd;
  call.syscall = syscall;
  call.direction = direction;
  if (syscall == HODOS_SYSCALL_CLOSE) read_socket_tuple(sk, &call.tuple, typed);
  if (bpf_map_update_elem(&pending_calls, &pid_tgid, &call, BPF_ANY))
    count(HODOS_COUNTER_PENDING_OVERFLOW);
  return 0;
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
      struct sock *accepted = tcp_sock_of_fd((int)ret, typed);
      if (accepted)
        emit_connection_event(&call, pid_tgid, ret, HODOS_EVENT_ACCEPT, (int)ret, accepted, typed);
      return 0;
    }
    case HODOS_SYSCALL_CONNECT:
      emit_connection_event(&call, pid_tgid, ret, HODOS_EVENT_CONNECT, call.fd,
                            (struct sock *)call.sk, typed);
      return 0;
    case HODOS_SYSCALL_CLOSE:
      emit_connection_event(&call, pid_tgid, ret, HODOS_EVENT_CLOSE, call.fd, NULL, typed);
      return 0;
    default:
      /* Errors (EAGAIN above all) and EOF carry no bytes. */
      if (ret > 0) emit_data_event(&call, pid_tgid, ret, typed);
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
  if (!bpf_map_lookup_elem(&traced_processes, &parent_tgid)) return 0;
  if (bpf_map_update_elem(&traced_processes, &child_tgid, &one, BPF_ANY)) return 0;
  emit_process_event(child_tgid, child_tgid, HODOS_SYSCALL_FORK, parent_tgid, -1, NULL, false);
  return 0;
}

/* A traced process runs another program: the agent reads its identity again. */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(on_process_exec, struct task_struct *task) {
  __u32 tgid = task->tgid;
  if (!bpf_map_lookup_elem(&traced_processes, &tgid)) return 0;
  emit_process_event(tgid, task->pid, HODOS_SYSCALL_EXEC, 0, -1, NULL, false);
  return 0;
}

/* A thread exits: its in-flight call (if it was killed inside one) is dropped; when it is the last
 * thread of its process, the process leaves both sets, and the agent is told. */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(on_process_exit, struct task_struct *task) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  bpf_map_delete_elem(&pending_calls, &pid_tgid);
  /* do_exit() counts the thread out of signal->live before this tracepoint. */
  if (BPF_CORE_READ(task, signal, live.counter) != 0) return 0;
  __u32 tgid = pid_tgid >> 32;
  bpf_map_delete_elem(&never_traced, &tgid);
  if (bpf_map_delete_elem(&traced_processes, &tgid) == 0)
    emit_process_event(tgid, (__u32)pid_tgid, HODOS_SYSCALL_EXIT, 0, -1, NULL, false);
  return 0;
}
