// The span model: what every receiver decodes into, every processor edits and every exporter
// encodes from. Field meanings follow the OTLP trace data model.
#pragma once

#include <cstdint>
#include <string_view>

#include "core/attributes.h"
#include "core/ids.h"

namespace hodos::core {

// Values equal OTLP's Span.SpanKind numbers.
enum class SpanKind : uint8_t {
  kUnspecified = 0,
  kInternal = 1,
  kServer = 2,
  kClient = 3,
  kProducer = 4,
  kConsumer = 5,
};
std::string_view span_kind_name(SpanKind kind);  // "server", "client", ...

// Values equal OTLP's Status.StatusCode numbers.
enum class StatusCode : uint8_t { kUnset = 0, kOk = 1, kError = 2 };

struct Status {
  StatusCode code = StatusCode::kUnset;
  std::string_view message;
};

struct Resource {
  AttrList attributes;
  uint32_t dropped_attributes_count = 0;
  std::string_view schema_url;  // ResourceSpans.schema_url
};

struct Scope {
  std::string_view name;
  std::string_view version;
  AttrList attributes;
  uint32_t dropped_attributes_count = 0;
  std::string_view schema_url;  // ScopeSpans.schema_url
};

struct Event {
  uint64_t time_unix_nano = 0;
  std::string_view name;
  AttrList attributes;
  uint32_t dropped_attributes_count = 0;
};

struct Link {
  TraceId trace_id;
  SpanId span_id;
  std::string_view trace_state;
  AttrList attributes;
  uint32_t dropped_attributes_count = 0;
  uint32_t flags = 0;
};

// Shared empty resource/scope so that Span::resource and Span::scope are never null.
const Resource* empty_resource();
const Scope* empty_scope();

struct Span {
  TraceId trace_id;
  SpanId span_id;
  SpanId parent_span_id;  // zero for a root span
  std::string_view trace_state;
  uint32_t flags = 0;  // W3C trace flags in the low byte, OTLP's extra bits above
  std::string_view name;
  SpanKind kind = SpanKind::kUnspecified;
  uint64_t start_time_unix_nano = 0;
  uint64_t end_time_unix_nano = 0;
  AttrList attributes;
  uint32_t dropped_attributes_count = 0;
  ArenaVector<Event> events;
  uint32_t dropped_events_count = 0;
  ArenaVector<Link> links;
  uint32_t dropped_links_count = 0;
  Status status;
  // Owned by an arena of the batch (or the shared empties); spans of one ResourceSpans share it.
  const Resource* resource = empty_resource();
  const Scope* scope = empty_scope();
  // In-process hint from the agent, never encoded or stored: for a root SERVER span, whether a
  // traced process on this host holds the client end of its connection (0 unknown, e.g. SDK
  // spans; 1 yes; 2 no, so the stitch stage can release its trace without waiting for a caller).
  uint8_t local_caller = 0;
  // In-process hint from the agent, never encoded or stored: the HTTP/2 stream of the exchange (0
  // for other protocols). Both ends of a connection number a stream alike, so with the connection
  // it names one exchange: the stitch stage pairs multiplexed calls exactly.
  uint32_t stream_id = 0;
  // In-process hint from the agent, never encoded or stored: a call over a Unix socket has no
  // addresses to pair its ends by, so both ends carry the client socket's inode number (0 for
  // other connections). Only the agent's own stitch stage sees it: a Unix socket's two ends are
  // always on one host.
  uint64_t unix_connection = 0;

  bool is_root() const { return !parent_span_id.valid(); }
  uint64_t duration_ns() const {
    return end_time_unix_nano > start_time_unix_nano ? end_time_unix_nano - start_time_unix_nano : 0;
  }
};

}  // namespace hodos::core
