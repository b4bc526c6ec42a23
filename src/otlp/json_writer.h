// Small helpers that append JSON tokens to a std::string: the OTLP and Zipkin JSON encoders write
// straight into their output buffer instead of building a document tree first.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace hodos::otlp::json {

// A quoted, escaped JSON string. Invalid UTF-8 is replaced by U+FFFD so the output always parses.
void append_string(std::string& out, std::string_view s);
// A quoted key followed by ':' (keys are literals of ours, so they are not escaped).
inline void append_key(std::string& out, std::string_view key) {
  out.push_back('"');
  out.append(key);
  out.append("\":", 2);
}
void append_int(std::string& out, int64_t v);
void append_uint(std::string& out, uint64_t v);
// Shortest round-trip form; NaN and infinities as the strings "NaN", "Infinity", "-Infinity" (the
// protobuf JSON mapping), since JSON numbers cannot hold them.
void append_double(std::string& out, double v);
// Quoted lowercase hex of `len` bytes.
void append_hex(std::string& out, const uint8_t* data, size_t len);
// Quoted standard base64 with padding (the protobuf JSON form of `bytes`).
void append_base64(std::string& out, std::string_view bytes);

// Writes the commas between the members of one object (or the elements of one array).
class Separator {
 public:
  explicit Separator(bool first = true) : first_(first) {}
  void next(std::string& out) {
    if (!first_) out.push_back(',');
    first_ = false;
  }

 private:
  bool first_ = true;
};

}  // namespace hodos::otlp::json
