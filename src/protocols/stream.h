// What every protocol matcher is fed: the captured reads and writes of one connection, in order.
#pragma once

#include <cstdint>
#include <string_view>

namespace hodos::protocols {

// One read or write syscall: the first bytes the probe copied, what the syscall transferred
// (bytes beyond the capture went by unseen and are skipped by length), and when.
struct Chunk {
  std::string_view captured;
  uint64_t length = 0;  // taken as captured.size() when smaller
  uint64_t timestamp_ns = 0;
  // The bytes went by without passing through user memory (sendfile, splice): `captured` is empty
  // by design. Inside a body they count as body bytes like any uncaptured ones, but not as a loss.
  bool length_only = false;
};

enum class Direction : uint8_t {
  kEgress,   // written by the traced process
  kIngress,  // read by the traced process
};

}  // namespace hodos::protocols
