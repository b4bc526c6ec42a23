#include "api/params.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>

namespace hodos::api {

namespace {

// Go's FormValue: an absent parameter and an empty one are the same.
std::string get(const net::HttpRequest& request, std::string_view name) {
  return request.query_param(name).value_or("");
}

std::vector<std::string> get_all(const net::HttpRequest& request, std::string_view name) {
  std::vector<std::string> out = request.query_params(name);
  out.erase(std::remove(out.begin(), out.end(), std::string()), out.end());
  return out;
}

[[noreturn]] void fail(std::string_view param, std::string_view why) {
  throw ParamError(fmt::format("unable to parse param '{}': {}", param, why));
}

std::optional<int64_t> parse_int(std::string_view text) {
  int64_t v = 0;
  if (!text.empty() && text[0] == '+') text.remove_prefix(1);
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size() || text.empty()) return std::nullopt;
  return v;
}

// A non-negative Unix time given as an integer count of `unit_ns`.
uint64_t time_param(std::string_view param, std::string_view text, uint64_t unit_ns,
                    std::string_view unit_name) {
  std::optional<int64_t> v = parse_int(text);
  if (!v) fail(param, fmt::format("\"{}\" is not an integer (Unix time in {})", text, unit_name));
  if (*v < 0) fail(param, fmt::format("{} is negative (Unix time in {})", *v, unit_name));
  if (static_cast<uint64_t>(*v) > std::numeric_limits<uint64_t>::max() / unit_ns) {
    fail(param, fmt::format("{} is too large (Unix time in {})", *v, unit_name));
  }
  return static_cast<uint64_t>(*v) * unit_ns;
}

// Jaeger's duration parameters for dependencies and metrics are integers of milliseconds; a
// duration with a unit ("1h", "2d") is accepted as well.
uint64_t millis_duration_param(std::string_view param, std::string_view text) {
  if (std::optional<int64_t> v = parse_int(text)) {
    if (*v < 0) fail(param, fmt::format("{} is negative (a duration in milliseconds)", *v));
    if (static_cast<uint64_t>(*v) > std::numeric_limits<uint64_t>::max() / kNanosPerMilli) {
      fail(param, fmt::format("{} is too large (a duration in milliseconds)", *v));
    }
    return static_cast<uint64_t>(*v) * kNanosPerMilli;
  }
  if (std::optional<uint64_t> d = parse_lookback(text)) return *d;
  fail(param, fmt::format("\"{}\" is not a duration (milliseconds, or with a unit: 1h, 2d)", text));
}

uint64_t go_duration_param(std::string_view param, std::string_view text) {
  std::optional<int64_t> d = parse_go_duration(text);
  if (!d) {
    fail(param, fmt::format("invalid duration \"{}\" (Go syntax: 1.2s, 500ms, 100us, 1h30m)", text));
  }
  if (*d < 0) fail(param, fmt::format("duration \"{}\" is negative", text));
  return static_cast<uint64_t>(*d);
}

// strconv.ParseBool.
bool bool_param(std::string_view param, std::string_view text) {
  static constexpr std::string_view kTrue[] = {"1", "t", "T", "TRUE", "true", "True"};
  static constexpr std::string_view kFalse[] = {"0", "f", "F", "FALSE", "false", "False"};
  for (std::string_view t : kTrue) {
    if (text == t) return true;
  }
  for (std::string_view f : kFalse) {
    if (text == f) return false;
  }
  fail(param, fmt::format("\"{}\" is not a boolean (true or false)", text));
}

uint64_t unit_nanos(std::string_view unit) {
  if (unit == "ns") return 1;
  if (unit == "us" || unit == "\xC2\xB5s" || unit == "\xCE\xBCs") return 1'000;  // µ (micro, mu)
  if (unit == "ms") return 1'000'000;
  if (unit == "s") return 1'000'000'000;
  if (unit == "m") return 60'000'000'000;
  if (unit == "h") return 3'600'000'000'000;
  return 0;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// "12", "1.5", ".5", "3." → value as numerator / denominator; false when malformed.
bool parse_decimal(std::string_view text, uint64_t* whole, uint64_t* frac, uint64_t* scale,
                   size_t* consumed) {
  size_t i = 0;
  bool digits = false;
  *whole = 0;
  *frac = 0;
  *scale = 1;
  while (i < text.size() && is_digit(text[i])) {
    if (*whole > (std::numeric_limits<uint64_t>::max() - 9) / 10) return false;
    *whole = *whole * 10 + static_cast<uint64_t>(text[i] - '0');
    digits = true;
    ++i;
  }
  if (i < text.size() && text[i] == '.') {
    ++i;
    while (i < text.size() && is_digit(text[i])) {
      // Digits past 18 cannot change a nanosecond count; Go drops them the same way.
      if (*scale < 1'000'000'000'000'000'000ULL) {
        *frac = *frac * 10 + static_cast<uint64_t>(text[i] - '0');
        *scale *= 10;
      }
      digits = true;
      ++i;
    }
  }
  *consumed = i;
  return digits;
}

}  // namespace

std::optional<int64_t> parse_go_duration(std::string_view s) {
  bool negative = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s == "0") return 0;
  if (s.empty()) return std::nullopt;
  const unsigned __int128 limit =
      static_cast<unsigned __int128>(std::numeric_limits<int64_t>::max()) + (negative ? 1 : 0);
  unsigned __int128 total = 0;
  while (!s.empty()) {
    uint64_t whole, frac, scale;
    size_t n;
    if (!parse_decimal(s, &whole, &frac, &scale, &n)) return std::nullopt;
    size_t end = n;
    while (end < s.size() && s[end] != '.' && !is_digit(s[end])) ++end;
    uint64_t unit = unit_nanos(s.substr(n, end - n));
    if (unit == 0) return std::nullopt;  // missing or unknown unit
    total += static_cast<unsigned __int128>(whole) * unit;
    total += static_cast<unsigned __int128>(frac) * unit / scale;
    if (total > limit) return std::nullopt;
    s.remove_prefix(end);
  }
  if (negative) return static_cast<int64_t>(-static_cast<__int128>(total));
  return static_cast<int64_t>(total);
}

std::optional<uint64_t> parse_lookback(std::string_view text) {
  if (!text.empty() && (text.back() == 'd' || text.back() == 'w')) {
    const uint64_t unit = (text.back() == 'd' ? 24 : 7 * 24) * kNanosPerHour;
    std::string_view number = text.substr(0, text.size() - 1);
    uint64_t whole, frac, scale;
    size_t n;
    if (!parse_decimal(number, &whole, &frac, &scale, &n) || n != number.size()) {
      return std::nullopt;
    }
    unsigned __int128 total = static_cast<unsigned __int128>(whole) * unit +
                              static_cast<unsigned __int128>(frac) * unit / scale;
    if (total > std::numeric_limits<int64_t>::max()) return std::nullopt;
    return static_cast<uint64_t>(total);
  }
  std::optional<int64_t> d = parse_go_duration(text);
  if (!d || *d < 0) return std::nullopt;
  return static_cast<uint64_t>(*d);
}

std::optional<core::TraceId> parse_trace_id(std::string_view text) {
  if (text.empty() || text.size() > 2 * core::TraceId::kSize) return std::nullopt;
  std::string padded(2 * core::TraceId::kSize - text.size(), '0');
  padded.append(text);
  return core::TraceId::from_hex(padded);
}

std::optional<core::SpanKind> parse_span_kind(std::string_view text) {
  std::string lower(text);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string_view name = lower;
  if (name.starts_with("span_kind_")) name.remove_prefix(10);
  static constexpr std::pair<std::string_view, core::SpanKind> kKinds[] = {
      {"unspecified", core::SpanKind::kUnspecified}, {"internal", core::SpanKind::kInternal},
      {"server", core::SpanKind::kServer},           {"client", core::SpanKind::kClient},
      {"producer", core::SpanKind::kProducer},       {"consumer", core::SpanKind::kConsumer},
  };
  for (const auto& [n, kind] : kKinds) {
    if (name == n) return kind;
  }
  return std::nullopt;
}

TagFilters parse_tags(const std::vector<std::string>& tag_params,
                      const std::vector<std::string>& tags_json_params) {
  std::map<std::string, std::string> tags;
  for (const std::string& tag : tag_params) {
    size_t colon = tag.find(':');
    if (colon == std::string::npos) {
      throw ParamError(fmt::format(
          "malformed 'tag' parameter, expecting key:value, received: {}", tag));
    }
    tags[tag.substr(0, colon)] = tag.substr(colon + 1);
  }
  for (const std::string& text : tags_json_params) {
    nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) {
      throw ParamError(fmt::format(
          "malformed 'tags' parameter, cannot unmarshal JSON: {} is not valid JSON", text));
    }
    if (!j.is_object()) {
      throw ParamError(fmt::format(
          "malformed 'tags' parameter, expecting a JSON object of key: value, received: {}", text));
    }
    for (const auto& [key, value] : j.items()) {
      if (value.is_string()) {
        tags[key] = value.get<std::string>();
      } else if (value.is_number() || value.is_boolean()) {
        tags[key] = value.dump();  // 500 and true match the tag as text, as strings do
      } else {
        throw ParamError(fmt::format(
            "malformed 'tags' parameter, the value of '{}' must be a string, number or boolean",
            key));
      }
    }
  }
  return {tags.begin(), tags.end()};
}

TraceSearchParams parse_trace_search(const net::HttpRequest& request, uint64_t now_ns) {
  TraceSearchParams p;
  store::TraceQuery& q = p.query;
  q.service = get(request, "service");
  q.operation = get(request, "operation");

  uint64_t end = now_ns;
  if (std::string v = get(request, "end"); !v.empty()) {
    end = time_param("end", v, kNanosPerMicro, "microseconds");
  }
  uint64_t lookback = kDefaultSearchLookbackNs;
  // The Jaeger UI sends lookback=custom with explicit start/end.
  if (std::string v = get(request, "lookback"); !v.empty() && v != "custom") {
    std::optional<uint64_t> d = parse_lookback(v);
    if (!d) fail("lookback", fmt::format("\"{}\" is not a duration (1h, 30m, 2d)", v));
    lookback = *d;
  }
  uint64_t start = end > lookback ? end - lookback : 0;
  if (std::string v = get(request, "start"); !v.empty()) {
    start = time_param("start", v, kNanosPerMicro, "microseconds");
  }
  if (end < start) {
    throw ParamError("parameter 'end' must not be before 'start' (both in Unix microseconds)");
  }
  q.start_time_min_ns = start;
  q.start_time_max_ns = end;

  q.tags = parse_tags(get_all(request, "tag"), get_all(request, "tags"));

  q.limit = kDefaultSearchLimit;
  if (std::string v = get(request, "limit"); !v.empty()) {
    std::optional<int64_t> n = parse_int(v);
    if (!n || *n < 0) fail("limit", fmt::format("\"{}\" is not a non-negative integer", v));
    if (*n > 0) q.limit = static_cast<size_t>(std::min<int64_t>(*n, kMaxSearchLimit));
  }
  if (std::string v = get(request, "minDuration"); !v.empty()) {
    q.min_duration_ns = go_duration_param("minDuration", v);
  }
  if (std::string v = get(request, "maxDuration"); !v.empty()) {
    q.max_duration_ns = go_duration_param("maxDuration", v);
  }
  for (const std::string& id : get_all(request, "traceID")) {
    std::optional<core::TraceId> t = parse_trace_id(id);
    if (!t) fail("traceID", fmt::format("\"{}\" is not a trace id (up to 32 hex digits)", id));
    p.trace_ids.push_back(*t);
  }

  if (p.trace_ids.empty() && q.service.empty()) {
    throw ParamError("parameter 'service' is required");
  }
  if (q.min_duration_ns != 0 && q.max_duration_ns != 0 && q.max_duration_ns < q.min_duration_ns) {
    throw ParamError("'maxDuration' should be greater than 'minDuration'");
  }
  return p;
}

DependenciesParams parse_dependencies(const net::HttpRequest& request, uint64_t now_ns) {
  DependenciesParams p;
  p.end_ns = now_ns;
  if (std::string v = get(request, "endTs"); !v.empty()) {
    p.end_ns = time_param("endTs", v, kNanosPerMilli, "milliseconds");
  }
  if (std::string v = get(request, "lookback"); !v.empty()) {
    p.lookback_ns = millis_duration_param("lookback", v);
  }
  p.service = get(request, "service");
  return p;
}

MetricsParams parse_metrics(const net::HttpRequest& request, uint64_t now_ns,
                            bool needs_quantile) {
  MetricsParams p;
  p.services = get_all(request, "service");
  if (p.services.empty()) fail("service", "please provide at least one service name");
  if (std::string v = get(request, "groupByOperation"); !v.empty()) {
    p.group_by_operation = bool_param("groupByOperation", v);
  }
  for (const std::string& v : request.query_params("spanKind")) {
    std::optional<core::SpanKind> kind = parse_span_kind(v);
    if (!kind) {
      fail("spanKind", fmt::format("unsupported span kind: '{}' (use server, client, producer, "
                                   "consumer, internal or SPAN_KIND_SERVER, ...)",
                                   v));
    }
    if (std::find(p.span_kinds.begin(), p.span_kinds.end(), *kind) == p.span_kinds.end()) {
      p.span_kinds.push_back(*kind);
    }
  }
  if (p.span_kinds.empty()) p.span_kinds.push_back(core::SpanKind::kServer);

  p.end_ns = now_ns;
  if (std::string v = get(request, "endTs"); !v.empty()) {
    p.end_ns = time_param("endTs", v, kNanosPerMilli, "milliseconds");
  }
  if (std::string v = get(request, "lookback"); !v.empty()) {
    p.lookback_ns = millis_duration_param("lookback", v);
  }
  if (p.lookback_ns == 0) fail("lookback", "must be greater than zero");
  if (std::string v = get(request, "step"); !v.empty()) {
    p.step_ns = millis_duration_param("step", v);
    if (p.step_ns == 0) fail("step", "must be greater than zero");
  }
  p.step_ns = std::max(p.step_ns, kMinMetricsStepNs);
  if (std::string v = get(request, "ratePer"); !v.empty()) {
    p.rate_per_ns = millis_duration_param("ratePer", v);
    if (p.rate_per_ns == 0) fail("ratePer", "must be greater than zero");
  }
  if ((p.lookback_ns + p.step_ns - 1) / p.step_ns > kMaxMetricsPoints) {
    fail("step", fmt::format("lookback / step gives more than {} points; use a larger step",
                             kMaxMetricsPoints));
  }
  if (needs_quantile) {
    std::string v = get(request, "quantile");
    if (v.empty()) fail("quantile", "required (e.g. 0.95)");
    double q = 0;
    auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), q);
    if (ec != std::errc() || ptr != v.data() + v.size() || !std::isfinite(q)) {
      fail("quantile", fmt::format("\"{}\" is not a number", v));
    }
    if (q < 0 || q > 1) fail("quantile", fmt::format("{} is not between 0 and 1", v));
    p.quantile = q;
  }
  return p;
}

}  // namespace hodos::api
