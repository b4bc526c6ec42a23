// What the protocol fuzz checks (tests/unit/protocols/*/fuzz_check.h) share.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace hodos::protocols::fuzz_support {

// Choices derived from the input (splitmix64), so that a corpus entry always replays the same.
class Rng {
 public:
  explicit Rng(std::string_view seed) {
    for (char c : seed) state_ = (state_ ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
  }
  uint64_t next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  uint64_t below(uint64_t n) { return n == 0 ? 0 : next() % n; }
  template <size_t N>
  std::string_view pick(const std::string_view (&items)[N]) {
    return items[below(N)];
  }

 private:
  uint64_t state_ = 0xcbf29ce484222325ULL;
};

}  // namespace hodos::protocols::fuzz_support
