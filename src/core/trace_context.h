// W3C trace context (https://www.w3.org/TR/trace-context/): the `traceparent` header, parsed from
// a header value or found in the raw bytes of an HTTP/1.x request head as the agent captures them.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "core/ids.h"

namespace hodos::core {

struct TraceParent {
  TraceId trace_id;
  SpanId span_id;     // the caller's span: the parent of the span that continues the trace
  uint8_t flags = 0;  // trace-flags (bit 0: sampled)
};

// One `traceparent` value, without surrounding whitespace. Version 00 must be exactly
// "00-<32 hex>-<16 hex>-<2 hex>"; a later version may carry more after a '-' that follows the
// flags (its first fields are read as version 00's). Lowercase hex only; version ff and all-zero
// ids are invalid.
std::optional<TraceParent> parse_traceparent(std::string_view value);

// The `traceparent` header of the request head at the start of `raw` (the request line, then
// header lines up to the blank line or the end of the bytes): name in any case, optional
// whitespace around the value. A line the bytes cut short is not read. nullopt when there is
// none, it is invalid, or there is more than one (the spec then restarts the trace).
std::optional<TraceParent> find_traceparent_in_head(std::string_view raw);

// The value of the one `name` header (any case) of the request head at the start of `raw`, read
// as find_traceparent_in_head reads it; nullopt when it is absent or repeated.
std::optional<std::string_view> find_header_in_head(std::string_view raw, std::string_view name);

// The longest tracestate kept (the W3C limit).
inline constexpr size_t kMaxTraceState = 512;

// The `tracestate` value of the request head at the start of `raw`; empty when there is none, it
// is repeated, or it is longer than kMaxTraceState. (It means something only with a valid
// traceparent.)
std::string_view find_tracestate_in_head(std::string_view raw);

}  // namespace hodos::core
