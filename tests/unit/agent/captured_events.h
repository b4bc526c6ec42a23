// Events the loaded socket probe really sent (the tests that run bpf/sockets.bpf.c), kept past
// the callback, and finding the one of a syscall on a socket.
#pragma once

#include <string>
#include <vector>

#include "agent/socket_probe.h"

namespace hodos::agent {

// A SocketEvent that outlives the callback.
struct CapturedEvent {
  SocketEvent event;
  std::string data;
};

// The data event of the last read (kIngress) or write (kEgress) on `fd`, or null.
inline const CapturedEvent* last_data_on(const std::vector<CapturedEvent>& events, int fd,
                                         Direction direction) {
  const CapturedEvent* found = nullptr;
  for (const CapturedEvent& e : events) {
    if (e.event.fd == fd && e.event.kind == SocketEventKind::kData &&
        e.event.direction == direction) {
      found = &e;
    }
  }
  return found;
}

inline const CapturedEvent* last_read_on(const std::vector<CapturedEvent>& events, int fd) {
  return last_data_on(events, fd, Direction::kIngress);
}

}  // namespace hodos::agent
