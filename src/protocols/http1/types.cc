#include "protocols/http1/types.h"

#include "protocols/http1/ascii.h"

namespace hodos::protocols::http1 {

std::string_view MessageHead::header(std::string_view name) const {
  for (const Header& h : headers) {
    if (iequals(h.name, name)) return h.value;
  }
  return {};
}

bool MessageHead::has_header(std::string_view name) const {
  for (const Header& h : headers) {
    if (iequals(h.name, name)) return true;
  }
  return false;
}

std::string_view Request::path() const {
  std::string_view t = target;
  if (t == "*") return t;
  if (t.empty() || t.front() != '/') {
    // Absolute form (to proxies): skip scheme and authority. Authority form (CONNECT) has none.
    size_t scheme_end = t.find("://");
    if (scheme_end == std::string_view::npos) return {};
    t.remove_prefix(scheme_end + 3);
    size_t slash = t.find_first_of("/?#");
    if (slash == std::string_view::npos || t[slash] != '/') return "/";
    t.remove_prefix(slash);
  }
  return t.substr(0, t.find_first_of("?#"));
}

std::string_view Request::query() const {
  size_t q = target.find('?');
  if (q == std::string_view::npos) return {};
  std::string_view rest = target.substr(q + 1);
  return rest.substr(0, rest.find('#'));
}

}  // namespace hodos::protocols::http1
