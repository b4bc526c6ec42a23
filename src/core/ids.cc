#include "core/ids.h"

#include <cstring>
#include <random>

namespace hodos::core {

namespace {
constexpr char kHex[] = "0123456789abcdef";

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

uint64_t random_u64() {
  // One generator per thread, seeded from the OS: ids must not collide across processes.
  thread_local std::mt19937_64 gen{[] {
    std::random_device rd;
    return (static_cast<uint64_t>(rd()) << 32) ^ rd();
  }()};
  return gen();
}
}  // namespace

void hex_encode(const uint8_t* data, size_t len, char* out) {
  for (size_t i = 0; i < len; ++i) {
    out[2 * i] = kHex[data[i] >> 4];
    out[2 * i + 1] = kHex[data[i] & 0xf];
  }
}

bool hex_decode(std::string_view hex, uint8_t* out, size_t len) {
  if (hex.size() != 2 * len) return false;
  for (size_t i = 0; i < len; ++i) {
    int hi = hex_value(hex[2 * i]);
    int lo = hex_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return true;
}

template <size_t N>
std::string FixedId<N>::hex() const {
  std::string s(2 * N, '0');
  hex_encode(bytes.data(), N, s.data());
  return s;
}

template <size_t N>
std::optional<FixedId<N>> FixedId<N>::from_hex(std::string_view hex) {
  FixedId id;
  if (!hex_decode(hex, id.bytes.data(), N)) return std::nullopt;
  return id;
}

template <size_t N>
std::optional<FixedId<N>> FixedId<N>::from_bytes(std::string_view raw) {
  FixedId id;
  if (raw.empty()) return id;
  if (raw.size() != N) return std::nullopt;
  std::memcpy(id.bytes.data(), raw.data(), N);
  return id;
}

template <size_t N>
FixedId<N> FixedId<N>::random() {
  FixedId id;
  do {
    for (size_t i = 0; i < N; i += 8) {
      uint64_t v = random_u64();
      std::memcpy(id.bytes.data() + i, &v, std::min<size_t>(8, N - i));
    }
  } while (!id.valid());
  return id;
}

template struct FixedId<16>;
template struct FixedId<8>;

}  // namespace hodos::core
