#include "otlp/json_writer.h"

#include <fmt/format.h>
#include <google/protobuf/stubs/strutil.h>
#include <simdjson.h>

#include <array>
#include <charconv>
#include <cmath>
#include <iterator>

#include "core/ids.h"

namespace hodos::otlp::json {

namespace {

// 0: copy as is; otherwise the character after the backslash ('u' for \u00XX).
constexpr std::array<char, 256> make_escape_table() {
  std::array<char, 256> t{};
  for (int c = 0; c < 0x20; ++c) t[c] = 'u';
  t['\b'] = 'b';
  t['\f'] = 'f';
  t['\n'] = 'n';
  t['\r'] = 'r';
  t['\t'] = 't';
  t['"'] = '"';
  t['\\'] = '\\';
  return t;
}
constexpr std::array<char, 256> kEscape = make_escape_table();

void append_escaped_byte(std::string& out, unsigned char c) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('\\');
  char e = kEscape[c];
  out.push_back(e);
  if (e == 'u') {
    out.append("00", 2);
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 0xf]);
  }
}

// Length of the well-formed UTF-8 sequence starting at p[0], or 0 if it is not well formed
// (overlong forms, surrogates and code points above U+10FFFF included).
size_t utf8_sequence_length(const unsigned char* p, size_t n) {
  unsigned char c = p[0];
  if (c < 0x80) return 1;
  size_t len;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (n < len || p[1] < lo || p[1] > hi) return 0;
  for (size_t i = 2; i < len; ++i) {
    if ((p[i] & 0xC0) != 0x80) return 0;
  }
  return len;
}

}  // namespace

void append_string(std::string& out, std::string_view s) {
  out.push_back('"');
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  if (simdjson::validate_utf8(s.data(), n)) {
    // Copy runs of plain bytes in one append; escape the rest.
    size_t run = 0;
    for (size_t i = 0; i < n; ++i) {
      if (kEscape[p[i]] == 0) continue;
      out.append(s.data() + run, i - run);
      append_escaped_byte(out, p[i]);
      run = i + 1;
    }
    out.append(s.data() + run, n - run);
  } else {
    for (size_t i = 0; i < n;) {
      size_t len = utf8_sequence_length(p + i, n - i);
      if (len == 0) {
        out.append("\xEF\xBF\xBD");  // U+FFFD REPLACEMENT CHARACTER
        ++i;
      } else if (len == 1 && kEscape[p[i]] != 0) {
        append_escaped_byte(out, p[i]);
        ++i;
      } else {
        out.append(s.data() + i, len);
        i += len;
      }
    }
  }
  out.push_back('"');
}

void append_int(std::string& out, int64_t v) {
  char buf[24];
  auto res = std::to_chars(buf, buf + sizeof(buf), v);
  out.append(buf, res.ptr);
}

void append_uint(std::string& out, uint64_t v) {
  char buf[24];
  auto res = std::to_chars(buf, buf + sizeof(buf), v);
  out.append(buf, res.ptr);
}

void append_double(std::string& out, double v) {
  if (std::isnan(v)) {
    out.append("\"NaN\"");
  } else if (std::isinf(v)) {
    out.append(v > 0 ? "\"Infinity\"" : "\"-Infinity\"");
  } else {
    size_t at = out.size();
    fmt::format_to(std::back_inserter(out), "{}", v);
    // Keep a double a double on the way back ("1.0", not "1"; "-0.0" keeps its sign).
    if (out.find_first_of(".e", at) == std::string::npos) out.append(".0");
  }
}

void append_hex(std::string& out, const uint8_t* data, size_t len) {
  out.push_back('"');
  size_t at = out.size();
  out.resize(at + 2 * len);
  core::hex_encode(data, len, out.data() + at);
  out.push_back('"');
}

void append_base64(std::string& out, std::string_view bytes) {
  const int len = static_cast<int>(bytes.size());
  const int encoded_len = google::protobuf::CalculateBase64EscapedLen(len, true);
  out.push_back('"');
  size_t at = out.size();
  out.resize(at + static_cast<size_t>(encoded_len));
  int written = google::protobuf::Base64Escape(reinterpret_cast<const unsigned char*>(bytes.data()),
                                               len, out.data() + at, encoded_len);
  out.resize(at + static_cast<size_t>(written));
  out.push_back('"');
}

}  // namespace hodos::otlp::json
