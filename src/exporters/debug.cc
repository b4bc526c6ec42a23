#include "exporters/debug.h"

#include <fmt/format.h>

#include <chrono>
#include <mutex>

#include "pipeline/exporter_helper.h"

namespace hodos::exporters {

namespace {

using pipeline::Status;

enum class Verbosity { kBasic, kNormal, kDetailed };

struct DebugSettings {
  Verbosity verbosity = Verbosity::kBasic;
  int64_t sampling_initial = 2;
  int64_t sampling_thereafter = 1;
};

DebugSettings read_settings(pipeline::ConfigNode& config) {
  DebugSettings s;
  std::string v = config.get_string("verbosity", "basic");
  if (v == "basic") {
    s.verbosity = Verbosity::kBasic;
  } else if (v == "normal") {
    s.verbosity = Verbosity::kNormal;
  } else if (v == "detailed") {
    s.verbosity = Verbosity::kDetailed;
  } else {
    config.fail("verbosity", fmt::format("'{}' is not one of basic, normal, detailed", v));
  }
  s.sampling_initial = config.get_int("sampling_initial", 2, 1);
  s.sampling_thereafter = config.get_int("sampling_thereafter", 1, 1);
  return s;
}

std::string_view value_type_name(core::ValueType t) {
  switch (t) {
    case core::ValueType::kString:
      return "Str";
    case core::ValueType::kBool:
      return "Bool";
    case core::ValueType::kInt:
      return "Int";
    case core::ValueType::kDouble:
      return "Double";
    case core::ValueType::kArray:
      return "Slice";
    case core::ValueType::kKvList:
      return "Map";
    case core::ValueType::kBytes:
      return "Bytes";
    case core::ValueType::kEmpty:
      break;
  }
  return "Empty";
}

void append_attributes(std::string& out, std::string_view title, const core::AttrList& attrs,
                       std::string_view indent = "") {
  if (attrs.empty()) return;
  fmt::format_to(std::back_inserter(out), "{}{}:\n", indent, title);
  for (const auto& kv : attrs) {
    std::string value = kv.value.type == core::ValueType::kBytes
                            ? fmt::format("{} bytes", kv.value.str.size())
                            : kv.value.to_string();
    fmt::format_to(std::back_inserter(out), "{}     -> {}: {}({})\n", indent, kv.key,
                   value_type_name(kv.value.type), value);
  }
}

std::string_view status_name(core::StatusCode c) {
  switch (c) {
    case core::StatusCode::kOk:
      return "Ok";
    case core::StatusCode::kError:
      return "Error";
    case core::StatusCode::kUnset:
      break;
  }
  return "Unset";
}

// The Collector's detailed layout: resource, then scope, then each span with every field.
std::string describe_detailed(const core::SpanBatch& batch) {
  std::string out;
  auto it = std::back_inserter(out);
  const core::Resource* resource = nullptr;
  const core::Scope* scope = nullptr;
  int resource_index = -1, scope_index = -1, span_index = 0;
  for (const auto& s : batch.spans()) {
    if (s.resource != resource) {
      resource = s.resource;
      scope = nullptr;
      scope_index = -1;
      fmt::format_to(it, "ResourceSpans #{}\n", ++resource_index);
      if (!resource->schema_url.empty()) {
        fmt::format_to(it, "Resource SchemaURL: {}\n", resource->schema_url);
      }
      append_attributes(out, "Resource attributes", resource->attributes);
    }
    if (s.scope != scope) {
      scope = s.scope;
      span_index = 0;
      fmt::format_to(it, "ScopeSpans #{}\n", ++scope_index);
      if (!scope->schema_url.empty())
        fmt::format_to(it, "ScopeSpans SchemaURL: {}\n", scope->schema_url);
      fmt::format_to(it, "InstrumentationScope {} {}\n", scope->name, scope->version);
      append_attributes(out, "InstrumentationScope attributes", scope->attributes);
    }
    fmt::format_to(it, "Span #{}\n", span_index++);
    fmt::format_to(it, "    Trace ID       : {}\n", s.trace_id.hex());
    fmt::format_to(it, "    Parent ID      : {}\n",
                   s.parent_span_id.valid() ? s.parent_span_id.hex() : "");
    fmt::format_to(it, "    ID             : {}\n", s.span_id.hex());
    fmt::format_to(it, "    Name           : {}\n", s.name);
    fmt::format_to(it, "    Kind           : {}\n", core::span_kind_name(s.kind));
    if (!s.trace_state.empty()) fmt::format_to(it, "    TraceState     : {}\n", s.trace_state);
    fmt::format_to(it, "    Flags          : {}\n", s.flags);
    fmt::format_to(it, "    Start time     : {}\n", s.start_time_unix_nano);
    fmt::format_to(it, "    End time       : {}\n", s.end_time_unix_nano);
    fmt::format_to(it, "    Status code    : {}\n", status_name(s.status.code));
    fmt::format_to(it, "    Status message : {}\n", s.status.message);
    if (s.dropped_attributes_count || s.dropped_events_count || s.dropped_links_count) {
      fmt::format_to(it, "    Dropped        : {} attributes, {} events, {} links\n",
                     s.dropped_attributes_count, s.dropped_events_count, s.dropped_links_count);
    }
    append_attributes(out, "Attributes", s.attributes);
    if (!s.events.empty()) {
      out += "Events:\n";
      int i = 0;
      for (const auto& e : s.events) {
        fmt::format_to(it, "SpanEvent #{}\n     -> Name: {}\n     -> Timestamp: {}\n", i++, e.name,
                       e.time_unix_nano);
        fmt::format_to(it, "     -> DroppedAttributesCount: {}\n", e.dropped_attributes_count);
        append_attributes(out, "     -> Attributes", e.attributes, "    ");
      }
    }
    if (!s.links.empty()) {
      out += "Links:\n";
      int i = 0;
      for (const auto& l : s.links) {
        fmt::format_to(it, "SpanLink #{}\n     -> Trace ID: {}\n     -> ID: {}\n", i++,
                       l.trace_id.hex(), l.span_id.hex());
        fmt::format_to(it, "     -> TraceState: {}\n     -> DroppedAttributesCount: {}\n",
                       l.trace_state, l.dropped_attributes_count);
        append_attributes(out, "     -> Attributes", l.attributes, "    ");
      }
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

class DebugSender : public pipeline::BatchSender {
 public:
  DebugSender(DebugSettings settings, std::shared_ptr<spdlog::logger> logger, std::string id)
      : s_(settings), logger_(std::move(logger)), id_(std::move(id)) {}

  Status send(const core::SpanBatch& batch, pipeline::Deadline) override {
    if (!sampled()) return Status::ok();
    logger_->info("exporter {}: {} spans", id_, batch.size());
    if (s_.verbosity == Verbosity::kNormal) {
      for (const auto& s : batch.spans()) {
        logger_->info(
            "exporter {}: {} kind={} trace_id={} span_id={} parent_id={} duration={}ns "
            "status={} attributes={}",
            id_, s.name, core::span_kind_name(s.kind), s.trace_id.hex(), s.span_id.hex(),
            s.parent_span_id.valid() ? s.parent_span_id.hex() : "", s.duration_ns(),
            status_name(s.status.code), s.attributes.size());
      }
    } else if (s_.verbosity == Verbosity::kDetailed) {
      logger_->info("exporter {}:\n{}", id_, describe_detailed(batch));
    }
    return Status::ok();
  }

 private:
  // zap's sampler, as the Collector configures it: per second, the first `initial` batches are
  // logged, then every `thereafter`-th.
  bool sampled() {
    std::lock_guard lock(mu_);
    auto now = std::chrono::steady_clock::now();
    if (now - window_start_ >= std::chrono::seconds(1)) {
      window_start_ = now;
      count_ = 0;
    }
    ++count_;
    if (count_ <= s_.sampling_initial) return true;
    return (count_ - s_.sampling_initial) % s_.sampling_thereafter == 0;
  }

  DebugSettings s_;
  std::shared_ptr<spdlog::logger> logger_;
  std::string id_;
  std::mutex mu_;
  std::chrono::steady_clock::time_point window_start_{};
  int64_t count_ = 0;
};


}  // namespace

std::unique_ptr<pipeline::ExporterFactory> make_debug_exporter_factory() {
  pipeline::ExporterHelperSettings defaults;
  // Logging cannot fail in a way worth retrying; as in the Collector, no queue and no retry.
  defaults.queue.enabled = false;
  defaults.retry.enabled = false;
  return pipeline::make_sender_exporter_factory(
      "debug", defaults, [](const pipeline::CreateContext& ctx, pipeline::ConfigNode& config) {
        return std::make_unique<DebugSender>(read_settings(config), ctx.logger, ctx.id.str());
      });
}

}  // namespace hodos::exporters
