/* What bpf/sockets.bpf.c (reading a request's trace context) and bpf/inject.bpf.c (inserting one)
 * both need to recognise in an HTTP/1.x request head. Included after vmlinux.h. */
#ifndef HODOS_BPF_HTTP_HEAD_H
#define HODOS_BPF_HTTP_HEAD_H

/* Open-coded numeric iterators (Linux 6.4+): the verifier checks a loop body once, with the
 * index unknown, instead of walking every iteration; a plain bounded loop over a 2 KiB head
 * exceeds its limit on pending branches. */
extern int bpf_iter_num_new(struct bpf_iter_num *it, int start, int end) __ksym;
extern int *bpf_iter_num_next(struct bpf_iter_num *it) __ksym;
extern void bpf_iter_num_destroy(struct bpf_iter_num *it) __ksym;

/* `traceparent:` at p, header names being case-insensitive. The caller checked 12 bytes. */
static __always_inline bool is_traceparent_name(const __u8 *p) {
  return (p[0] | 0x20) == 't' && (p[1] | 0x20) == 'r' && (p[2] | 0x20) == 'a' &&
         (p[3] | 0x20) == 'c' && (p[4] | 0x20) == 'e' && (p[5] | 0x20) == 'p' &&
         (p[6] | 0x20) == 'a' && (p[7] | 0x20) == 'r' && (p[8] | 0x20) == 'e' &&
         (p[9] | 0x20) == 'n' && (p[10] | 0x20) == 't' && p[11] == ':';
}

/* `tracestate:` at p, case-insensitively. The caller checked 11 bytes. */
static __always_inline bool is_tracestate_name(const __u8 *p) {
  return (p[0] | 0x20) == 't' && (p[1] | 0x20) == 'r' && (p[2] | 0x20) == 'a' &&
         (p[3] | 0x20) == 'c' && (p[4] | 0x20) == 'e' && (p[5] | 0x20) == 's' &&
         (p[6] | 0x20) == 't' && (p[7] | 0x20) == 'a' && (p[8] | 0x20) == 't' &&
         (p[9] | 0x20) == 'e' && p[10] == ':';
}

/* " HTTP/1.0\r\n" or " HTTP/1.1\r\n" at p (11 bytes the caller checked): the end of a request
 * line. */
static __always_inline bool is_request_line_version(const __u8 *p) {
  return p[0] == ' ' && p[1] == 'H' && p[2] == 'T' && p[3] == 'T' && p[4] == 'P' &&
         p[5] == '/' && p[6] == '1' && p[7] == '.' && (p[8] == '0' || p[8] == '1') &&
         p[9] == '\r' && p[10] == '\n';
}

#endif /* HODOS_BPF_HTTP_HEAD_H */
