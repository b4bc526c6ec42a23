// Synthetic socket events, as bpf/sockets.bpf.c would send them, for the tracker and span
// builder tests: one connection of one process, with a clock that moves forward per syscall.
#pragma once

#include <arpa/inet.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>

#include "agent/socket_probe.h"

namespace hodos::agent::testing {

inline SocketEndpoint ipv4(const char* address, uint16_t port) {
  SocketEndpoint e;
  e.family = HODOS_AF_INET;
  inet_pton(AF_INET, address, e.address.data());
  e.port = port;
  return e;
}

// How a dual-stack (AF_INET6) socket, Java's, names an IPv4 end: ::ffff:a.b.c.d.
inline SocketEndpoint ipv4_mapped(const char* address, uint16_t port) {
  SocketEndpoint e;
  e.family = HODOS_AF_INET6;
  e.address[10] = e.address[11] = 0xff;
  inet_pton(AF_INET, address, e.address.data() + 12);
  e.port = port;
  return e;
}

// A Unix socket's end: `path` as its CONNECT event names it; the kernel's other events name
// neither end (an empty path).
inline SocketEndpoint unix_socket(std::string path = {}) {
  SocketEndpoint e;
  e.family = HODOS_AF_UNIX;
  e.path = std::move(path);
  return e;
}

// Events of one process; every event takes 1 µs and time moves 10 µs between events.
class EventSource {
 public:
  explicit EventSource(uint32_t pid, uint64_t start_ns = 1'000'000'000)
      : pid_(pid), now_(start_ns) {}

  SocketEvent accept(uint32_t tid, int32_t fd, SocketEndpoint local, SocketEndpoint remote) {
    SocketEvent e = base(SocketEventKind::kAccept, SocketSyscall::kAccept4, tid, fd, local, remote);
    e.result = fd;
    return e;
  }
  SocketEvent connect(uint32_t tid, int32_t fd, SocketEndpoint local, SocketEndpoint remote,
                      int64_t result = 0) {
    SocketEvent e =
        base(SocketEventKind::kConnect, SocketSyscall::kConnect, tid, fd, local, remote);
    e.result = result;
    return e;
  }
  SocketEvent close(uint32_t tid, int32_t fd, SocketEndpoint local, SocketEndpoint remote) {
    return base(SocketEventKind::kClose, SocketSyscall::kClose, tid, fd, local, remote);
  }
  // `data` must outlive the event (string literals in the tests).
  SocketEvent read(uint32_t tid, int32_t fd, SocketEndpoint local, SocketEndpoint remote,
                   std::string_view data) {
    return io(Direction::kIngress, SocketSyscall::kRecvfrom, tid, fd, local, remote, data);
  }
  SocketEvent write(uint32_t tid, int32_t fd, SocketEndpoint local, SocketEndpoint remote,
                    std::string_view data) {
    return io(Direction::kEgress, SocketSyscall::kSendto, tid, fd, local, remote, data);
  }
  // sendfile: `length` bytes sent from a file, none captured.
  SocketEvent sendfile(uint32_t tid, int32_t fd, SocketEndpoint local, SocketEndpoint remote,
                       int64_t length) {
    SocketEvent e = io(Direction::kEgress, SocketSyscall::kSendfile, tid, fd, local, remote, {});
    e.result = length;
    e.length_only = true;
    return e;
  }
  // A process event of this process (kListen, kFork, kExec, kExit).
  SocketEvent process(SocketSyscall what, std::string_view comm = "app") {
    SocketEvent e = base(SocketEventKind::kProcess, what, pid_, -1, {}, {});
    e.comm = comm;
    return e;
  }
  // The kernel's ids for HTTP/2 stream `stream_id` on `fd` (Go: grpc-go uprobes): a call served
  // (kServer ids) or made (kClient ids).
  SocketEvent stream(uint32_t tid, int32_t fd, uint32_t stream_id, const KernelSpanIds& ids) {
    SocketEvent e = base(SocketEventKind::kStream, SocketSyscall::kGoGrpc, tid, fd, {}, {});
    e.direction = ids.kind == KernelIdsKind::kServer ? Direction::kIngress : Direction::kEgress;
    e.stream_id = stream_id;
    e.ids = ids;
    return e;
  }
  uint64_t now() const { return now_; }

 private:
  SocketEvent base(SocketEventKind kind, SocketSyscall syscall, uint32_t tid, int32_t fd,
                   SocketEndpoint local, SocketEndpoint remote) {
    SocketEvent e;
    e.kind = kind;
    e.syscall = syscall;
    e.pid = pid_;
    e.tid = tid;
    e.fd = fd;
    e.local = local;
    e.remote = remote;
    now_ += 10'000;
    e.enter_ns = now_;
    e.exit_ns = now_ + 1'000;
    return e;
  }
  SocketEvent io(Direction d, SocketSyscall syscall, uint32_t tid, int32_t fd,
                 SocketEndpoint local, SocketEndpoint remote, std::string_view data) {
    SocketEvent e = base(SocketEventKind::kData, syscall, tid, fd, local, remote);
    e.direction = d;
    e.data = data;
    e.result = static_cast<int64_t>(data.size());
    return e;
  }

  uint32_t pid_;
  uint64_t now_;
};

}  // namespace hodos::agent::testing
