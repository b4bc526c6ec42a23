/* Kernel-side helpers: from a file descriptor of the current task to its TCP socket (or a Unix
 * stream socket the process connected), and from the socket to its 4-tuple. Every kernel struct
 * is read with CO-RE, so one object runs on any kernel with BTF. */
#ifndef HODOS_BPF_TASK_SOCKET_H
#define HODOS_BPF_TASK_SOCKET_H

#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "sockets.h"

#define HODOS_S_IFMT 0170000
#define HODOS_S_IFSOCK 0140000

/* Each bpf_probe_read_kernel (what BPF_CORE_READ does per pointer) costs tens of ns, and these
 * run on every followed syscall of a traced process: fields that sit next to each other in the
 * kernel are read together, at offsets CO-RE relocates, when the running kernel's layout allows
 * (the check is on load-time constants: the verifier keeps only one branch). */

/* Turns a kernel address into a typed, read-only pointer: loads through it are plain loads (a
 * fault reads 0) instead of bpf_probe_read_kernel calls. Linux 6.2+; weak, so that the object
 * still loads where it is missing: the programs that call it are then not loaded (socket_probe.cc
 * picks the *_typed programs only when the kernel has it). */
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym __weak;

#define HODOS_TYPED(type, address) \
  ((type *)bpf_rdonly_cast((const void *)(address), bpf_core_type_id_kernel(type)))

/* Which Unix sockets a lookup returns besides TCP ones. A traced process's Unix stream sockets are
 * followed only from its own connect() (a database's or an HTTP server's local socket): not the
 * socket pairs, inherited journal streams and accepted connections a process also holds. */
enum unix_lookup {
  UNIX_NONE = 0,       /* TCP only */
  UNIX_FOLLOWED = 1,   /* and the Unix sockets in unix_sockets */
  UNIX_CONNECTING = 2, /* and any Unix stream socket (connect(): whether to follow it is decided
                        * at its exit) */
};

/* A followed Unix socket: its struct sock and its inode number. The inode, unique per socket
 * since boot, keeps a sock freed without a close() the kernel saw (a process killed) from
 * naming a later socket at the same address. */
struct unix_socket_key {
  __u64 sk;
  __u64 inode;
};

/* Unix stream sockets connected by traced processes; removed at close (LRU: a process that exits
 * closes its files without a close syscall). */
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 16384);
  __type(key, struct unix_socket_key);
  __type(value, __u8);
} unix_sockets SEC(".maps");

/* The last step of both lookups for a socket of family AF_UNIX: a stream socket, followed or
 * being connected as `lookup` asks. `*inode` is set for a socket returned. */
static __always_inline struct sock *unix_stream_sock(struct sock *sk, short type, __u64 ino,
                                                     int lookup, __u64 *inode) {
  if (lookup == UNIX_NONE || type != HODOS_SOCK_STREAM) return NULL;
  if (lookup == UNIX_FOLLOWED) {
    struct unix_socket_key key = {.sk = (__u64)sk, .inode = ino};
    if (!bpf_map_lookup_elem(&unix_sockets, &key)) return NULL;
  }
  *inode = ino;
  return sk;
}

/* tcp_sock_of_fd with typed reads: one bpf_probe_read_kernel (the fd array's slot), plain loads
 * for the rest. */
static __always_inline struct sock *tcp_sock_of_fd_typed(int fd, int lookup, __u64 *inode) {
  if (fd < 0) return NULL;
  struct task_struct *task = bpf_get_current_task_btf();
  struct fdtable *fdt = task->files->fdt;
  if (!fdt) return NULL;
  if ((unsigned int)fd >= fdt->max_fds) return NULL;
  __u64 slots = (__u64)fdt->fd;
  __u64 file_address = 0;
  if (bpf_probe_read_kernel(&file_address, sizeof(file_address),
                            (const void *)(slots + (__u64)fd * sizeof(void *))) ||
      !file_address) {
    return NULL;
  }
  struct file *file = HODOS_TYPED(struct file, file_address);
  struct inode *file_inode = file->f_inode;
  if ((file_inode->i_mode & HODOS_S_IFMT) != HODOS_S_IFSOCK) return NULL;
  /* A socket file's private_data is its struct socket. */
  struct socket *socket = HODOS_TYPED(struct socket, file->private_data);
  struct sock *sk = socket->sk;
  if (!sk) return NULL;
  __u16 family = sk->__sk_common.skc_family;
  if (family == HODOS_AF_UNIX)
    return unix_stream_sock((struct sock *)(__u64)sk, socket->type, file_inode->i_ino, lookup,
                            inode);
  if (family != HODOS_AF_INET && family != HODOS_AF_INET6) return NULL;
  if (sk->sk_protocol != IPPROTO_TCP) return NULL;
  return (struct sock *)(__u64)sk;
}

/* The TCP socket behind `fd` in the current task's fd table, or NULL when the fd is not an
 * IPv4/IPv6 TCP socket (nor a Unix stream socket `lookup` allows: then `*inode` is its inode).
 * Costs a handful of kernel reads, and stops at the first that fails.
 * `typed`: a compile-time constant, the *_typed programs' way (see tcp_sock_of_fd_typed). */
static __always_inline struct sock *tcp_sock_of_fd_or_unix(int fd, const bool typed, int lookup,
                                                           __u64 *inode) {
  if (typed) return tcp_sock_of_fd_typed(fd, lookup, inode);
  if (fd < 0) return NULL;
  struct task_struct *task = (struct task_struct *)bpf_get_current_task();
  struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
  if (!fdt) return NULL;
  unsigned int max_fds;
  struct file **fds;
  /* max_fds, then the fd array, in one read. */
  const __u32 max_fds_at = bpf_core_field_offset(struct fdtable, max_fds);
  const __u32 fd_at = bpf_core_field_offset(struct fdtable, fd);
  if (max_fds_at == 0 && fd_at == 8 && bpf_core_field_size(struct fdtable, max_fds) == 4) {
    struct {
      __u32 max_fds;
      __u32 pad;
      __u64 fd;
    } head;
    if (bpf_probe_read_kernel(&head, sizeof(head), fdt)) return NULL;
    max_fds = head.max_fds;
    fds = (struct file **)head.fd;
  } else {
    max_fds = BPF_CORE_READ(fdt, max_fds);
    fds = BPF_CORE_READ(fdt, fd);
  }
  if ((unsigned int)fd >= max_fds) return NULL;
  struct file *file = NULL;
  if (bpf_core_read(&file, sizeof(file), &fds[fd]) || !file) return NULL;
  umode_t mode = BPF_CORE_READ(file, f_inode, i_mode);
  if ((mode & HODOS_S_IFMT) != HODOS_S_IFSOCK) return NULL;
  /* A socket file's private_data is its struct socket. */
  struct socket *socket = BPF_CORE_READ(file, private_data);
  struct sock *sk = BPF_CORE_READ(socket, sk);
  if (!sk) return NULL;
  __u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
  if (family == HODOS_AF_UNIX)
    return unix_stream_sock(sk, BPF_CORE_READ(socket, type), BPF_CORE_READ(file, f_inode, i_ino),
                            lookup, inode);
  if (family != HODOS_AF_INET && family != HODOS_AF_INET6) return NULL;
  /* sk_protocol was a bitfield before Linux 5.6. */
  if (BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol) != IPPROTO_TCP) return NULL;
  return sk;
}

/* The TCP socket behind `fd`, or NULL (Unix sockets too). */
static __always_inline struct sock *tcp_sock_of_fd(int fd, const bool typed) {
  __u64 inode = 0;
  return tcp_sock_of_fd_or_unix(fd, typed, UNIX_NONE, &inode);
}

/* The start of struct sock_common, where the IPv4 addresses, the ports and the family are. */
#define HODOS_SOCK_COMMON_HEAD 24

static __always_inline void read_socket_tuple_typed(__u64 sk_address,
                                                    struct hodos_socket_tuple *tuple) {
  struct sock *sk = HODOS_TYPED(struct sock, sk_address);
  const __u16 family = sk->__sk_common.skc_family;
  tuple->family = family;
  tuple->local_port = sk->__sk_common.skc_num;
  tuple->remote_port = bpf_ntohs(sk->__sk_common.skc_dport);
  if (family == HODOS_AF_INET) {
    /* The other 12 bytes are zero, so that every event of a connection carries the same 16. */
    __builtin_memset(tuple->local_addr, 0, 16);
    __builtin_memset(tuple->remote_addr, 0, 16);
    const __u32 local = sk->__sk_common.skc_rcv_saddr;
    const __u32 remote = sk->__sk_common.skc_daddr;
    __builtin_memcpy(tuple->local_addr, &local, 4);
    __builtin_memcpy(tuple->remote_addr, &remote, 4);
  } else if (family == HODOS_AF_UNIX) {
    /* No addresses or ports: the path comes with the connect event. */
    __builtin_memset(tuple, 0, sizeof(*tuple));
    tuple->family = family;
  } else {
    bpf_probe_read_kernel(tuple->local_addr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
    bpf_probe_read_kernel(tuple->remote_addr, 16, &sk->__sk_common.skc_v6_daddr);
  }
}

static __always_inline void read_socket_tuple(struct sock *sk, struct hodos_socket_tuple *tuple,
                                              const bool typed) {
  if (typed) {
    read_socket_tuple_typed((__u64)sk, tuple);
    return;
  }
  const __u32 daddr_at = bpf_core_field_offset(struct sock_common, skc_daddr);
  const __u32 saddr_at = bpf_core_field_offset(struct sock_common, skc_rcv_saddr);
  const __u32 dport_at = bpf_core_field_offset(struct sock_common, skc_dport);
  const __u32 num_at = bpf_core_field_offset(struct sock_common, skc_num);
  const __u32 family_at = bpf_core_field_offset(struct sock_common, skc_family);
  __u16 family;
  if (daddr_at == 0 && saddr_at + 4 <= HODOS_SOCK_COMMON_HEAD &&
      dport_at + 2 <= HODOS_SOCK_COMMON_HEAD && num_at + 2 <= HODOS_SOCK_COMMON_HEAD &&
      family_at + 2 <= HODOS_SOCK_COMMON_HEAD) {
    /* Addresses (IPv4), ports and family in one read. */
    __u8 head[HODOS_SOCK_COMMON_HEAD];
    if (bpf_probe_read_kernel(head, sizeof(head), &sk->__sk_common)) {
      __builtin_memset(tuple, 0, sizeof(*tuple));
      return;
    }
    family = *(__u16 *)(head + family_at);
    tuple->local_port = *(__u16 *)(head + num_at);
    tuple->remote_port = bpf_ntohs(*(__u16 *)(head + dport_at));
    if (family == HODOS_AF_INET) {
      /* The other 12 bytes would hold whatever the buffer held before (another event's IPv6
       * address): zero them, so that the bytes of one connection are the same on every event. */
      __builtin_memset(tuple->local_addr, 0, 16);
      __builtin_memset(tuple->remote_addr, 0, 16);
      __builtin_memcpy(tuple->local_addr, head + saddr_at, 4);
      __builtin_memcpy(tuple->remote_addr, head + daddr_at, 4);
    }
  } else {
    family = BPF_CORE_READ(sk, __sk_common.skc_family);
    tuple->local_port = BPF_CORE_READ(sk, __sk_common.skc_num);
    tuple->remote_port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
    if (family == HODOS_AF_INET) {
      __builtin_memset(tuple->local_addr + 4, 0, 12);
      __builtin_memset(tuple->remote_addr + 4, 0, 12);
      bpf_core_read(tuple->local_addr, 4, &sk->__sk_common.skc_rcv_saddr);
      bpf_core_read(tuple->remote_addr, 4, &sk->__sk_common.skc_daddr);
    }
  }
  tuple->family = family;
  if (family == HODOS_AF_UNIX) {
    __builtin_memset(tuple, 0, sizeof(*tuple));
    tuple->family = family;
  } else if (family != HODOS_AF_INET) {
    bpf_core_read(tuple->local_addr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
    bpf_core_read(tuple->remote_addr, 16, &sk->__sk_common.skc_v6_daddr);
  }
}

#endif /* HODOS_BPF_TASK_SOCKET_H */
