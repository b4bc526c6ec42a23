// Wall-clock time in Unix nanoseconds, the unit of every span timestamp.
#pragma once

#include <chrono>
#include <cstdint>

namespace hodos::core {

inline uint64_t now_unix_nano() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

}  // namespace hodos::core
