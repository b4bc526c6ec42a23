#include "core/trace_context.h"

namespace hodos::core {

namespace {

constexpr size_t kVersion00Size = 55;  // 2 + 1 + 32 + 1 + 16 + 1 + 2
constexpr std::string_view kHeaderName = "traceparent";

// The spec allows lowercase hex only, where hex_decode() also takes uppercase.
bool lower_hex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool equals_ignoring_case(std::string_view a, std::string_view lower) {
  if (a.size() != lower.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char c = a[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != lower[i]) return false;
  }
  return true;
}

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::optional<TraceParent> parse_traceparent(std::string_view value) {
  if (value.size() < kVersion00Size) return std::nullopt;
  const std::string_view version = value.substr(0, 2);
  if (!lower_hex(version) || version == "ff") return std::nullopt;
  if (version == "00" ? value.size() != kVersion00Size
                      : value.size() > kVersion00Size && value[kVersion00Size] != '-') {
    return std::nullopt;
  }
  if (value[2] != '-' || value[35] != '-' || value[52] != '-') return std::nullopt;
  const std::string_view trace = value.substr(3, 32);
  const std::string_view span = value.substr(36, 16);
  const std::string_view flags = value.substr(53, 2);
  if (!lower_hex(trace) || !lower_hex(span) || !lower_hex(flags)) return std::nullopt;
  TraceParent out;
  uint8_t flag_byte = 0;
  if (!hex_decode(trace, out.trace_id.bytes.data(), TraceId::kSize) ||
      !hex_decode(span, out.span_id.bytes.data(), SpanId::kSize) ||
      !hex_decode(flags, &flag_byte, 1)) {
    return std::nullopt;
  }
  if (!out.trace_id.valid() || !out.span_id.valid()) return std::nullopt;
  out.flags = flag_byte;
  return out;
}

std::optional<std::string_view> find_header_in_head(std::string_view raw, std::string_view name) {
  std::optional<std::string_view> found;
  bool request_line = true;
  while (true) {
    const size_t lf = raw.find('\n');
    if (lf == std::string_view::npos) break;  // cut short by the capture, or no head at all
    std::string_view line = raw.substr(0, lf);
    raw.remove_prefix(lf + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (request_line) {
      request_line = false;
      continue;
    }
    if (line.empty()) break;  // the end of the head
    const size_t colon = line.find(':');
    // No whitespace before the colon (RFC 9112), which also skips folded continuation lines.
    if (colon == std::string_view::npos) continue;
    if (!equals_ignoring_case(line.substr(0, colon), name)) continue;
    if (found) return std::nullopt;
    found = trim_ows(line.substr(colon + 1));
  }
  return found;
}

std::optional<TraceParent> find_traceparent_in_head(std::string_view raw) {
  std::optional<std::string_view> value = find_header_in_head(raw, kHeaderName);
  if (!value) return std::nullopt;
  return parse_traceparent(*value);
}

std::string_view find_tracestate_in_head(std::string_view raw) {
  std::optional<std::string_view> value = find_header_in_head(raw, "tracestate");
  if (!value || value->size() > kMaxTraceState) return {};
  return *value;
}

}  // namespace hodos::core
