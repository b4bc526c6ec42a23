// How the store sees a span the way Jaeger does: its service name, the tags Jaeger derives from
// OTLP fields (span.kind, error, otel.status_code, ...), and Jaeger's tag-match rule (a condition
// matches a span's own tags, its resource ("process") tags or one of its events' ("log") fields).
#pragma once

#include <string>
#include <string_view>

#include "core/span.h"

namespace hodos::store {

inline constexpr std::string_view kUnknownService = "unknown_service";

// The resource's service.name, or "unknown_service" (the OTel SDK default) when absent.
std::string_view service_name(const core::Resource& resource);

// Calls f(key, value) for each tag Jaeger's OTLP translation derives from fields of the span:
// span.kind (unless unspecified), otel.status_code (OK/ERROR, unless unset), error=true (status
// error), otel.status_description, otel.scope.name, otel.scope.version (when not empty).
template <class F>
void for_each_derived_tag(const core::Span& span, F&& f) {
  if (span.kind != core::SpanKind::kUnspecified) f("span.kind", core::span_kind_name(span.kind));
  if (span.status.code == core::StatusCode::kOk) f("otel.status_code", "OK");
  if (span.status.code == core::StatusCode::kError) {
    f("otel.status_code", "ERROR");
    f("error", "true");
  }
  if (!span.status.message.empty()) f("otel.status_description", span.status.message);
  if (!span.scope->name.empty()) f("otel.scope.name", span.scope->name);
  if (!span.scope->version.empty()) f("otel.scope.version", span.scope->version);
}

// Whether `value` renders as `text` the way a Jaeger tag value renders as a string.
bool value_equals_text(const core::AnyValue& value, std::string_view text);

// Jaeger's rule for one tag condition on one span (event names count as the log field
// "event", as in Jaeger's OTLP translation).
bool span_has_tag(const core::Span& span, std::string_view key, std::string_view text);

}  // namespace hodos::store
