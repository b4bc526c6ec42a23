// Events the loaded socket probe really sent (the tests that run bpf/sockets.bpf.c), kept past
// the callback, and finding the one of a syscall on a socket.
#pragma once

#include <unistd.h>

#include <memory>
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

// Loads the socket probe, keeping every event it delivers in `*events`, and traces this process;
// null with the kernel's refusal (the verifier log, when it rejected a program) in `*error`.
inline std::unique_ptr<SocketProbe> open_capturing_probe(std::vector<CapturedEvent>* events,
                                                         std::string* error,
                                                         const SocketProbeOptions& options = {}) {
  std::unique_ptr<SocketProbe> probe;
  try {
    probe = SocketProbe::open(options, [events](const SocketEvent& e) {
      events->push_back({e, std::string(e.data)});
    });
  } catch (const BpfError& e) {
    *error = e.what();
    return nullptr;
  }
  probe->trace_process(static_cast<uint32_t>(getpid()));
  return probe;
}

}  // namespace hodos::agent
