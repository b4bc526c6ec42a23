#include "api/trace_text.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>
#include <vector>

namespace hodos::api {

namespace {

using nlohmann::json;

constexpr const char* kRed = "\x1b[1;31m";
constexpr const char* kCyan = "\x1b[36m";
constexpr const char* kDim = "\x1b[2m";
constexpr const char* kReset = "\x1b[0m";

uint64_t u64(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end()) return 0;
  if (it->is_number_unsigned()) return it->get<uint64_t>();
  if (it->is_number_integer()) return static_cast<uint64_t>(std::max<int64_t>(0, it->get<int64_t>()));
  return 0;
}

std::string str(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

const json* find_tag(const json& list, std::string_view key) {
  if (!list.is_array()) return nullptr;
  for (const json& kv : list) {
    if (kv.is_object() && kv.value("key", "") == key) {
      auto v = kv.find("value");
      if (v != kv.end()) return &*v;
    }
  }
  return nullptr;
}

std::string tag_text(const json& list, std::string_view key) {
  const json* v = find_tag(list, key);
  if (v == nullptr) return {};
  return v->is_string() ? v->get<std::string>() : v->dump();
}

bool is_error(const json& span) {
  const json& tags = span.contains("tags") ? span["tags"] : json();
  const json* e = find_tag(tags, "error");
  if (e != nullptr && ((e->is_boolean() && e->get<bool>()) || (e->is_string() && *e == "true"))) {
    return true;
  }
  return tag_text(tags, "otel.status_code") == "ERROR";
}

// The status description, or the message of a recorded exception.
std::string error_message(const json& span) {
  std::string msg = tag_text(span.value("tags", json::array()), "otel.status_description");
  if (!msg.empty()) return msg;
  for (const json& log : span.value("logs", json::array())) {
    std::string m = tag_text(log.value("fields", json::array()), "exception.message");
    if (!m.empty()) return m;
  }
  return {};
}

std::string service_of(const json& trace, const json& span) {
  std::string pid = str(span, "processID");
  auto procs = trace.find("processes");
  if (procs == trace.end() || !procs->is_object()) return {};
  auto p = procs->find(pid);
  return p != procs->end() && p->is_object() ? str(*p, "serviceName") : std::string();
}

std::string parent_of(const json& span) {
  for (const json& ref : span.value("references", json::array())) {
    if (ref.is_object() && ref.value("refType", "") == "CHILD_OF") return str(ref, "spanID");
  }
  return {};
}

}  // namespace

std::string format_duration_us(uint64_t us) {
  if (us < 1'000) return fmt::format("{}µs", us);
  if (us < 1'000'000) return fmt::format("{:.2f}ms", static_cast<double>(us) / 1e3);
  if (us < 60'000'000) return fmt::format("{:.2f}s", static_cast<double>(us) / 1e6);
  const uint64_t secs = us / 1'000'000;
  if (secs < 3600) return fmt::format("{}m{:02}s", secs / 60, secs % 60);
  return fmt::format("{}h{:02}m", secs / 3600, (secs % 3600) / 60);
}

TraceSummary summarize_trace(const json& trace) {
  TraceSummary s;
  s.trace_id = str(trace, "traceID");
  const json spans = trace.value("spans", json::array());
  std::set<std::string> ids, services;
  for (const json& sp : spans) ids.insert(str(sp, "spanID"));
  uint64_t start = UINT64_MAX, end = 0, root_start = UINT64_MAX;
  for (const json& sp : spans) {
    const uint64_t st = u64(sp, "startTime");
    start = std::min(start, st);
    end = std::max(end, st + u64(sp, "duration"));
    std::string service = service_of(trace, sp);
    services.insert(service);
    if (is_error(sp)) ++s.errors;
    std::string parent = parent_of(sp);
    if ((parent.empty() || !ids.count(parent)) && st < root_start) {
      root_start = st;
      s.root_service = service;
      s.root_operation = str(sp, "operationName");
    }
    ++s.spans;
  }
  s.services = services.size();
  if (s.spans > 0) {
    s.start_us = start;
    s.duration_us = end - start;
  }
  return s;
}

std::string render_trace_tree(const json& trace, bool color) {
  const TraceSummary summary = summarize_trace(trace);
  const json spans = trace.value("spans", json::array());
  std::string out = fmt::format("Trace {}  {} span{}, {} service{}, {}", summary.trace_id,
                                summary.spans, summary.spans == 1 ? "" : "s", summary.services,
                                summary.services == 1 ? "" : "s",
                                format_duration_us(summary.duration_us));
  if (summary.errors > 0) {
    out += fmt::format(", {}{} error{}{}", color ? kRed : "", summary.errors,
                       summary.errors == 1 ? "" : "s", color ? kReset : "");
  }
  out.push_back('\n');

  std::unordered_map<std::string, size_t> index;
  for (size_t i = 0; i < spans.size(); ++i) index.emplace(str(spans[i], "spanID"), i);
  std::vector<std::vector<size_t>> children(spans.size());
  std::vector<size_t> roots;
  for (size_t i = 0; i < spans.size(); ++i) {
    auto p = index.find(parent_of(spans[i]));
    if (p != index.end() && p->second != i) {
      children[p->second].push_back(i);
    } else {
      roots.push_back(i);
    }
  }
  auto by_start = [&](size_t a, size_t b) {
    return u64(spans[a], "startTime") < u64(spans[b], "startTime");
  };
  std::stable_sort(roots.begin(), roots.end(), by_start);
  for (auto& c : children) std::stable_sort(c.begin(), c.end(), by_start);

  std::vector<bool> printed(spans.size(), false);
  auto line = [&](size_t i, const std::string& prefix) {
    const json& sp = spans[i];
    const uint64_t offset = u64(sp, "startTime") - std::min(u64(sp, "startTime"), summary.start_us);
    std::string kind = tag_text(sp.value("tags", json::array()), "span.kind");
    std::string text = prefix + str(sp, "operationName");
    text += fmt::format("  {}{}{}", color ? kCyan : "", service_of(trace, sp), color ? kReset : "");
    if (!kind.empty()) text += "  " + kind;
    text += "  " + format_duration_us(u64(sp, "duration"));
    text += fmt::format("  {}+{}{}", color ? kDim : "", format_duration_us(offset),
                        color ? kReset : "");
    if (is_error(sp)) {
      std::string msg = error_message(sp);
      text += fmt::format("  {}ERROR{}{}", color ? kRed : "", msg.empty() ? "" : " " + msg,
                          color ? kReset : "");
    }
    out += text;
    out.push_back('\n');
  };
  // Depth-first with an explicit stack; `printed` guards against reference cycles.
  struct Frame {
    size_t span;
    std::string prefix;      // printed before this span's branch
    std::string branch;      // "├─ ", "└─ " or "" for a root
    std::string child_pad;   // what this span's children add to the prefix
  };
  for (size_t r : roots) {
    std::vector<Frame> stack{{r, "", "", ""}};
    while (!stack.empty()) {
      Frame f = std::move(stack.back());
      stack.pop_back();
      if (printed[f.span]) continue;
      printed[f.span] = true;
      line(f.span, f.prefix + f.branch);
      const auto& kids = children[f.span];
      for (size_t k = kids.size(); k-- > 0;) {
        const bool last = k + 1 == kids.size();
        stack.push_back({kids[k], f.prefix + f.child_pad, last ? "└─ " : "├─ ",
                         last ? "   " : "│  "});
      }
    }
  }
  // Spans only reachable through a cycle.
  for (size_t i = 0; i < spans.size(); ++i) {
    if (!printed[i]) line(i, "? ");
  }
  return out;
}

}  // namespace hodos::api
