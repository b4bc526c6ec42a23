/* Kernel-side helpers: from a file descriptor of the current task to its TCP socket, and from the
 * socket to its 4-tuple. Every kernel struct is read with CO-RE, so one object runs on any kernel
 * with BTF. */
#ifndef HODOS_BPF_TASK_SOCKET_H
#define HODOS_BPF_TASK_SOCKET_H

#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "sockets.h"

#define HODOS_S_IFMT 0170000
#define HODOS_S_IFSOCK 0140000

/* The TCP socket behind `fd` in the current task's fd table, or NULL when the fd is not an
 * IPv4/IPv6 TCP socket. Costs a handful of kernel reads, and stops at the first that fails. */
static __always_inline struct sock *tcp_sock_of_fd(int fd) {
  if (fd < 0) return NULL;
  struct task_struct *task = (struct task_struct *)bpf_get_current_task();
  struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
  if (!fdt) return NULL;
  if ((unsigned int)fd >= BPF_CORE_READ(fdt, max_fds)) return NULL;
  struct file **fds = BPF_CORE_READ(fdt, fd);
  struct file *file = NULL;
  if (bpf_core_read(&file, sizeof(file), &fds[fd]) || !file) return NULL;
  umode_t mode = BPF_CORE_READ(file, f_inode, i_mode);
  if ((mode & HODOS_S_IFMT) != HODOS_S_IFSOCK) return NULL;
  /* A socket file's private_data is its struct socket. */
  struct socket *socket = BPF_CORE_READ(file, private_data);
  struct sock *sk = BPF_CORE_READ(socket, sk);
  if (!sk) return NULL;
  __u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
  if (family != HODOS_AF_INET && family != HODOS_AF_INET6) return NULL;
  /* sk_protocol was a bitfield before Linux 5.6. */
  if (BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol) != IPPROTO_TCP) return NULL;
  return sk;
}

static __always_inline void read_socket_tuple(struct sock *sk, struct hodos_socket_tuple *tuple) {
  __u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
  tuple->family = family;
  tuple->local_port = BPF_CORE_READ(sk, __sk_common.skc_num);
  tuple->remote_port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
  if (family == HODOS_AF_INET) {
    bpf_core_read(tuple->local_addr, 4, &sk->__sk_common.skc_rcv_saddr);
    bpf_core_read(tuple->remote_addr, 4, &sk->__sk_common.skc_daddr);
  } else {
    bpf_core_read(tuple->local_addr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
    bpf_core_read(tuple->remote_addr, 16, &sk->__sk_common.skc_v6_daddr);
  }
}

#endif /* HODOS_BPF_TASK_SOCKET_H */
