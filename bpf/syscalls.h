/* The syscall numbers bpf/sockets.bpf.c follows, per architecture, and how to read the number of
 * the current syscall from the pt_regs a tp_btf sys_exit program receives. That read runs on every
 * syscall of the host, so it is a direct load (vmlinux.h types carry preserve_access_index, so the
 * offset is still relocated by CO-RE) rather than a bpf_probe_read_kernel call. */
#ifndef HODOS_BPF_SYSCALLS_H
#define HODOS_BPF_SYSCALLS_H

#if defined(__TARGET_ARCH_x86)
#define HODOS_NR_read 0
#define HODOS_NR_write 1
#define HODOS_NR_close 3
#define HODOS_NR_connect 42
#define HODOS_NR_accept 43
#define HODOS_NR_sendto 44
#define HODOS_NR_recvfrom 45
#define HODOS_NR_accept4 288
#define HODOS_NR_readv 19
#define HODOS_NR_writev 20
#define HODOS_NR_sendfile 40
#define HODOS_NR_sendmsg 46
#define HODOS_NR_recvmsg 47
#define HODOS_NR_listen 50
#define HODOS_NR_splice 275
#define HODOS_SYSCALL_NR(regs) ((regs)->orig_ax)
#elif defined(__TARGET_ARCH_arm64)
/* Written from the arm64 syscall table; not yet run on an arm64 machine. */
#define HODOS_NR_read 63
#define HODOS_NR_write 64
#define HODOS_NR_close 57
#define HODOS_NR_connect 203
#define HODOS_NR_accept 202
#define HODOS_NR_sendto 206
#define HODOS_NR_recvfrom 207
#define HODOS_NR_accept4 242
#define HODOS_NR_readv 65
#define HODOS_NR_writev 66
#define HODOS_NR_sendfile 71
#define HODOS_NR_splice 76
#define HODOS_NR_listen 201
#define HODOS_NR_sendmsg 211
#define HODOS_NR_recvmsg 212
#define HODOS_SYSCALL_NR(regs) ((regs)->syscallno)
#else
#error "bpf/syscalls.h: define the syscall numbers of this architecture"
#endif

#endif /* HODOS_BPF_SYSCALLS_H */
