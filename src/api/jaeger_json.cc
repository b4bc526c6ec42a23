#include "api/jaeger_json.h"

#include <algorithm>
#include <map>
#include <unordered_map>
#include <utility>

#include "otlp/json_writer.h"
#include "store/span_tags.h"

namespace hodos::api {

namespace {

using nlohmann::json;

json string_tag(std::string_view key, std::string_view value) {
  return json{{"key", key}, {"type", "string"}, {"value", value}};
}

std::string base64(std::string_view bytes) {
  std::string quoted;
  otlp::json::append_base64(quoted, bytes);
  return quoted.substr(1, quoted.size() - 2);
}

json attributes_json(const core::AttrList& attrs, std::string_view skip_key = {}) {
  json out = json::array();
  for (const core::KeyValue& kv : attrs) {
    if (!skip_key.empty() && kv.key == skip_key) continue;
    out.push_back(key_value_json(kv.key, kv.value));
  }
  return out;
}

// The order Jaeger's OTLP translator writes them: scope, attributes, then derived tags.
json span_tags(const core::Span& span) {
  json tags = json::array();
  if (!span.scope->name.empty()) tags.push_back(string_tag("otel.scope.name", span.scope->name));
  if (!span.scope->version.empty()) {
    tags.push_back(string_tag("otel.scope.version", span.scope->version));
  }
  for (const core::KeyValue& kv : span.attributes) {
    tags.push_back(key_value_json(kv.key, kv.value));
  }
  if (span.kind != core::SpanKind::kUnspecified) {
    tags.push_back(string_tag("span.kind", core::span_kind_name(span.kind)));
  }
  if (span.status.code == core::StatusCode::kOk) tags.push_back(string_tag("otel.status_code", "OK"));
  if (span.status.code == core::StatusCode::kError) {
    tags.push_back(string_tag("otel.status_code", "ERROR"));
    tags.push_back(json{{"key", "error"}, {"type", "bool"}, {"value", true}});
  }
  if (!span.status.message.empty()) {
    tags.push_back(string_tag("otel.status_description", span.status.message));
  }
  if (!span.trace_state.empty()) tags.push_back(string_tag("w3c.tracestate", span.trace_state));
  return tags;
}

json logs_json(const core::Span& span) {
  json logs = json::array();
  for (const core::Event& e : span.events) {
    json fields = json::array();
    // As Jaeger: the event name becomes the field "event" unless an attribute already is one.
    if (!e.name.empty() && core::find_attribute(e.attributes, "event") == nullptr) {
      fields.push_back(string_tag("event", e.name));
    }
    for (const core::KeyValue& kv : e.attributes) fields.push_back(key_value_json(kv.key, kv.value));
    logs.push_back(json{{"timestamp", e.time_unix_nano / 1000}, {"fields", std::move(fields)}});
  }
  return logs;
}

json process_json(const core::Resource& resource) {
  return json{{"serviceName", store::service_name(resource)},
              {"tags", attributes_json(resource.attributes, "service.name")}};
}

}  // namespace

json key_value_json(std::string_view key, const core::AnyValue& value) {
  switch (value.type) {
    case core::ValueType::kString:
      return string_tag(key, value.str);
    case core::ValueType::kBool:
      return json{{"key", key}, {"type", "bool"}, {"value", value.bool_value}};
    case core::ValueType::kInt:
      return json{{"key", key}, {"type", "int64"}, {"value", value.int_value}};
    case core::ValueType::kDouble:
      return json{{"key", key}, {"type", "float64"}, {"value", value.double_value}};
    case core::ValueType::kBytes:
      return json{{"key", key}, {"type", "binary"}, {"value", base64(value.str)}};
    case core::ValueType::kArray:
    case core::ValueType::kKvList:
      return string_tag(key, value.to_string());
    case core::ValueType::kEmpty:
      break;
  }
  return string_tag(key, "");
}

json references_json(const core::Span& span) {
  json refs = json::array();
  if (span.parent_span_id.valid()) {
    refs.push_back(json{{"refType", "CHILD_OF"},
                        {"traceID", span.trace_id.hex()},
                        {"spanID", span.parent_span_id.hex()}});
  }
  for (const core::Link& link : span.links) {
    refs.push_back(json{{"refType", "FOLLOWS_FROM"},
                        {"traceID", link.trace_id.hex()},
                        {"spanID", link.span_id.hex()}});
  }
  return refs;
}

json trace_to_json(const core::SpanBatch& batch) {
  std::vector<const core::Span*> spans;
  spans.reserve(batch.size());
  for (const core::Span& s : batch.spans()) spans.push_back(&s);
  std::stable_sort(spans.begin(), spans.end(), [](const core::Span* a, const core::Span* b) {
    return a->start_time_unix_nano < b->start_time_unix_nano;
  });

  json processes = json::object();
  std::unordered_map<const core::Resource*, std::string> pid_of_resource;
  std::map<std::string, std::string> pid_of_process;  // dumped process → pid (equal ones share)
  json span_list = json::array();
  for (const core::Span* sp : spans) {
    const core::Span& s = *sp;
    auto [it, inserted] = pid_of_resource.try_emplace(s.resource);
    if (inserted) {
      json process = process_json(*s.resource);
      std::string key = dump_json(process);
      auto [pit, fresh] = pid_of_process.try_emplace(key);
      if (fresh) {
        pit->second = "p" + std::to_string(pid_of_process.size());
        processes[pit->second] = std::move(process);
      }
      it->second = pit->second;
    }
    span_list.push_back(json{
        {"traceID", s.trace_id.hex()},
        {"spanID", s.span_id.hex()},
        {"operationName", s.name},
        {"references", references_json(s)},
        {"flags", s.flags & 0xffu},
        {"startTime", s.start_time_unix_nano / 1000},
        {"duration", s.duration_ns() / 1000},
        {"tags", span_tags(s)},
        {"logs", logs_json(s)},
        {"processID", it->second},
        {"warnings", nullptr},
    });
  }
  std::string trace_id = spans.empty() ? std::string() : spans.front()->trace_id.hex();
  return json{{"traceID", trace_id},
              {"spans", std::move(span_list)},
              {"processes", std::move(processes)},
              {"warnings", nullptr}};
}

json structured_response(json data, size_t total) {
  return json{{"data", std::move(data)},
              {"total", total},
              {"limit", 0},
              {"offset", 0},
              {"errors", nullptr}};
}

json error_response(int code, std::string_view message) {
  json r = structured_response(nullptr);
  r["errors"] = json::array({json{{"code", code}, {"msg", message}}});
  return r;
}

json dependencies_json(const std::vector<store::DependencyLink>& links, std::string_view service) {
  // errorCount (calls whose child span failed) is Hodos's addition to Jaeger's DependencyLink.
  std::map<std::pair<std::string, std::string>, std::pair<uint64_t, uint64_t>> summed;
  for (const store::DependencyLink& l : links) {
    if (!service.empty() && l.parent != service && l.child != service) continue;
    auto& [calls, errors] = summed[{l.parent, l.child}];
    calls += l.call_count;
    errors += l.error_count;
  }
  json out = json::array();
  for (const auto& [edge, counts] : summed) {
    out.push_back(json{{"parent", edge.first},
                       {"child", edge.second},
                       {"callCount", counts.first},
                       {"errorCount", counts.second}});
  }
  return out;
}

std::string dump_json(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace hodos::api
