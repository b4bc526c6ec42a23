// Writing protocol bytes in tests: literals with NULs, captures kept as hex.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace hodos::protocols::test_bytes {

// The bytes of a literal, NULs included (its length from its type, never counted by hand).
template <size_t N>
std::string bin(const char (&s)[N]) {
  return std::string(s, N - 1);
}

inline std::string unhex(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    auto nibble = [](char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; };
    out.push_back(static_cast<char>(nibble(hex[i]) << 4 | nibble(hex[i + 1])));
  }
  return out;
}

}  // namespace hodos::protocols::test_bytes
