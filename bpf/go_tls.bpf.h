/* TLS plaintext of Go services: crypto/tls.(*Conn).Read and Write of a goroutine-context process
 * (bpf/goroutines.bpf.h) whose binary has them (src/agent/go_probe.cc). Included at the end of
 * bpf/sockets.bpf.c, after the OpenSSL probes, whose DATA events these are too (syscall
 * SSL_READ / SSL_WRITE, flag TLS).
 *
 * Go links no TLS library: its own crypto/tls encrypts. So:
 *  - at the entry of Read or Write (c *Conn, b []byte), the goroutine's call is remembered (its
 *    Conn and buffer), by goroutine: a call that blocks resumes on whatever thread runs it next;
 *  - the socket reads and writes that goroutine makes meanwhile are the session's ciphertext
 *    (the handshake too, when a Read or Write drives it): not sent (sockets.bpf.c's sys_enter);
 *  - a Write's plaintext is all of b, sent at its entry (at its return the answer may already be
 *    in); a Read's is the `n` bytes it returns, sent at each return instruction (never a
 *    uretprobe: KERNEL-NOTES.md); both on the socket under c.conn (a *net.TCPConn). A request
 *    read there makes the goroutine's context, as on a plain socket; a request written by a goroutine with one
 *    gets CLIENT ids naming it (no traceparent can be inserted into encrypted bytes: the callee
 *    is joined by stitching). */
#ifndef HODOS_GO_TLS_BPF_H
#define HODOS_GO_TLS_BPF_H

/* go_tls_calls (the calls in flight) is in bpf/goroutines.bpf.h: sys_enter reads it. */

/* An entry that fires again for the same call (stack growth re-runs the prologue) comes within
 * this of the first; a call left by a goroutine that panicked inside it is older. */
#define GO_TLS_REENTRY_NS (10ull * 1000000ull)

/* The plaintext `n` bytes at `buf` moved on the socket under the *tls.Conn `conn`, for the
 * goroutine `goid`: a DATA event, as a plain read or write of that socket would give. */
static __always_inline void emit_go_tls_data(const struct hodos_go_process *go, __u64 pid_tgid,
                                             __u64 goid, const struct go_tls_call *call, long n) {
  __u32 tgid = pid_tgid >> 32, tid = (__u32)pid_tgid;
  __u8 *mode = bpf_map_lookup_elem(&traced_processes, &tgid);
  if (!mode) return;
  const int fd = go_conn_fd(go, call->conn + go->tls_conn);
  struct sock *sk = fd >= 0 ? tcp_sock_of_fd(fd, false) : NULL;
  if (!sk) {
    count(HODOS_COUNTER_TLS_NO_SOCKET);
    return;
  }
  struct pending_call data = {};
  data.enter_ns = call->enter_ns;
  data.sk = (__u64)sk;
  data.buf = call->buf;
  data.fd = fd;
  data.syscall = call->syscall;
  data.direction =
      call->syscall == HODOS_SYSCALL_SSL_READ ? HODOS_DIRECTION_INGRESS : HODOS_DIRECTION_EGRESS;
  data.mode = *mode;
  data.goid = goid;
  /* As a plain write does at its sys_enter: the goroutine's context is the thread's meanwhile. */
  if (data.direction == HODOS_DIRECTION_EGRESS && stage_goroutine_context(tgid, goid, tid))
    data.mode |= PENDING_CONTEXT_STAGED;
  emit_data_event(&data, pid_tgid, n, false);
  if (data.mode & PENDING_CONTEXT_STAGED) bpf_map_delete_elem(&thread_contexts, &tid);
}

/* (*Conn).Read(c, b) and Write(c, b), at entry. A Write's plaintext is sent now, whole (b): at its
 * return the peer may already have answered, and the answer, read by another goroutine, would
 * reach the agent before the request. A Read's is sent at its return, when it has arrived. */
static __always_inline int go_tls_enter(struct pt_regs *ctx, __u16 syscall) {
  struct goroutine_key key;
  const struct hodos_go_process *go = probed_goroutine(ctx, HODOS_GO_TLS, &key);
  if (!go) return 0;
  struct go_tls_call call = {.enter_ns = bpf_ktime_get_ns(),
                             .conn = GO_PARAM1(ctx),
                             .buf = GO_PARAM2(ctx),
                             .syscall = syscall};
  struct go_tls_call *before = bpf_map_lookup_elem(&go_tls_calls, &key);
  const bool again = before && before->conn == call.conn && before->syscall == syscall &&
                     call.enter_ns - before->enter_ns < GO_TLS_REENTRY_NS;
  if (bpf_map_update_elem(&go_tls_calls, &key, &call, BPF_ANY))
    count(HODOS_COUNTER_PENDING_OVERFLOW);
  const long n = (long)GO_PARAM3(ctx);
  if (syscall == HODOS_SYSCALL_SSL_WRITE && !again && n > 0)
    emit_go_tls_data(go, bpf_get_current_pid_tgid(), key.goid, &call, n);
  return 0;
}

SEC("uprobe")
int BPF_KPROBE(on_go_tls_read) { return go_tls_enter(ctx, HODOS_SYSCALL_SSL_READ); }

SEC("uprobe")
int BPF_KPROBE(on_go_tls_write) { return go_tls_enter(ctx, HODOS_SYSCALL_SSL_WRITE); }

/* The return instructions of both: the call is over; a Read's n (its first result) bytes of
 * plaintext arrived. */
SEC("uprobe")
int BPF_KPROBE(on_go_tls_return) {
  struct goroutine_key key;
  const struct hodos_go_process *go = probed_goroutine(ctx, 0, &key);
  if (!go) return 0;
  struct go_tls_call *pending = bpf_map_lookup_elem(&go_tls_calls, &key);
  if (!pending) return 0;
  struct go_tls_call call = *pending;
  bpf_map_delete_elem(&go_tls_calls, &key);
  const long n = (long)GO_RESULT1(ctx);
  if (call.syscall == HODOS_SYSCALL_SSL_READ && n > 0)
    emit_go_tls_data(go, bpf_get_current_pid_tgid(), key.goid, &call, n);
  return 0;
}

#endif /* HODOS_GO_TLS_BPF_H */
