// Zipkin v2 JSON (a list of spans) to and from the span model, mapped the way the OpenTelemetry
// Collector's zipkin translator maps it (kind, tags, annotations as events, localEndpoint's
// serviceName as service.name, error tag as ERROR status).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/span_batch.h"

namespace hodos::otlp {

std::optional<std::string> decode_zipkin_json(std::string_view json, core::SpanBatch& batch);
std::string encode_zipkin_json(const core::SpanBatch& batch);

}  // namespace hodos::otlp
