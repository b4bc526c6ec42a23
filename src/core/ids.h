// Trace and span identifiers as fixed-size byte arrays (never hex strings on hot paths).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace hodos::core {

template <size_t N>
struct FixedId {
  std::array<uint8_t, N> bytes{};

  static constexpr size_t kSize = N;
  // All-zero ids are invalid in OTLP and W3C trace context.
  bool valid() const {
    for (uint8_t b : bytes) {
      if (b != 0) return true;
    }
    return false;
  }
  std::string hex() const;  // lowercase, 2*N characters
  // Accepts exactly 2*N hex digits (either case).
  static std::optional<FixedId> from_hex(std::string_view hex);
  // Accepts exactly N bytes; an empty view gives the zero id (OTLP's "absent").
  static std::optional<FixedId> from_bytes(std::string_view raw);
  std::string_view as_view() const {
    return {reinterpret_cast<const char*>(bytes.data()), N};
  }
  static FixedId random();

  friend bool operator==(const FixedId&, const FixedId&) = default;
  friend auto operator<=>(const FixedId&, const FixedId&) = default;
};

using TraceId = FixedId<16>;
using SpanId = FixedId<8>;

// Writes 2*len lowercase hex digits of `data` to `out` (which must have room).
void hex_encode(const uint8_t* data, size_t len, char* out);
// Decodes 2*len hex digits; false on any non-hex digit.
bool hex_decode(std::string_view hex, uint8_t* out, size_t len);

}  // namespace hodos::core

template <size_t N>
struct std::hash<hodos::core::FixedId<N>> {
  size_t operator()(const hodos::core::FixedId<N>& id) const noexcept {
    uint64_t v = 0;
    for (size_t i = 0; i < 8 && i < N; ++i) v = (v << 8) | id.bytes[N - 1 - i];
    return static_cast<size_t>(v);
  }
};
