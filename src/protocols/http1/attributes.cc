#include "protocols/http1/attributes.h"

#include <array>

#include "protocols/http1/ascii.h"

namespace hodos::protocols::http1 {
namespace {

constexpr size_t kMinHexIdDigits = 16;

bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool all_digits(std::string_view s) {
  for (char c : s) {
    if (!is_digit(c)) return false;
  }
  return !s.empty();
}

// 8-4-4-4-12 hex digits.
bool is_uuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    bool dash_here = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash_here ? s[i] != '-' : !is_hex(s[i])) return false;
  }
  return true;
}

// Object ids, hashes, trace ids: long, all hex, with at least one digit (so that a long word
// spelled in a-f letters stays a word).
bool is_hex_id(std::string_view s) {
  if (s.size() < kMinHexIdDigits) return false;
  bool digit = false;
  for (char c : s) {
    if (!is_hex(c)) return false;
    digit = digit || is_digit(c);
  }
  return digit;
}

bool is_identifier(std::string_view segment) {
  return all_digits(segment) || is_uuid(segment) || is_hex_id(segment);
}

}  // namespace

std::string route_template(std::string_view path) {
  path = path.substr(0, path.find_first_of("?#"));
  if (path.empty()) return "/";
  std::string out;
  out.reserve(path.size());
  while (true) {
    size_t slash = path.find('/');
    std::string_view segment = path.substr(0, slash);
    if (is_identifier(segment)) {
      out += "{id}";
    } else {
      out += segment;
    }
    if (slash == std::string_view::npos) break;
    out += '/';
    path.remove_prefix(slash + 1);
  }
  return out;
}

bool is_credential_header(std::string_view name) {
  static constexpr std::array<std::string_view, 6> kExact = {
      "authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "x-auth-token"};
  static constexpr std::array<std::string_view, 6> kContains = {"token",   "secret",  "password",
                                                                "api-key", "api_key", "apikey"};
  for (std::string_view exact : kExact) {
    if (iequals(name, exact)) return true;
  }
  for (std::string_view part : kContains) {
    if (icontains(name, part)) return true;
  }
  return false;
}

}  // namespace hodos::protocols::http1
