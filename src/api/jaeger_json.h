// The Jaeger query API's JSON (jaeger-query's "ui" model and structured response), built from the
// span model the way Jaeger's OTLP translator maps OTLP: resources become processes, parents
// CHILD_OF references, links FOLLOWS_FROM, events logs, and span kind, status and scope tags.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "core/span_batch.h"
#include "store/trace_store.h"

namespace hodos::api {

// One trace (every span of `spans` has the same trace id) as Jaeger's ui.Trace:
// {traceID, spans[...], processes{p1: {serviceName, tags}}, warnings: null}. Spans are ordered by
// start time; processes are numbered p1, p2, ... in order of first use, one per distinct resource.
nlohmann::json trace_to_json(const core::SpanBatch& spans);

// A tag as Jaeger renders it: {key, type: string|bool|int64|float64|binary, value}. Arrays and maps
// become strings holding their JSON; bytes become base64 strings of type binary.
nlohmann::json key_value_json(std::string_view key, const core::AnyValue& value);

// jaeger-query's structuredResponse: {data, total, limit: 0, offset: 0, errors: null}.
nlohmann::json structured_response(nlohmann::json data, size_t total = 0);
// An error response body: {data: null, total: 0, limit: 0, offset: 0, errors: [{code, msg}]}.
nlohmann::json error_response(int code, std::string_view message);

// DependencyLink list: [{parent, child, callCount}], summed per (parent, child) and, when `service`
// is not empty, only the edges it takes part in.
nlohmann::json dependencies_json(const std::vector<store::DependencyLink>& links,
                                 std::string_view service);

// Serialises with invalid UTF-8 replaced (span data is not validated), never throwing.
std::string dump_json(const nlohmann::json& j);

// Jaeger ui.Span's references from a span: parent as CHILD_OF, then links as FOLLOWS_FROM.
nlohmann::json references_json(const core::Span& span);

}  // namespace hodos::api
