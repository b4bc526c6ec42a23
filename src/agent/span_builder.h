// Turns a tracked HTTP/1.x or HTTP/2 exchange into an OpenTelemetry span (HTTP semantic
// conventions, stable names; a gRPC call gets the RPC conventions: rpc.system, rpc.service,
// rpc.method, rpc.grpc.status_code): SERVER for connections the process accepted, CLIENT for
// those it connected; and a database call into a CLIENT span (database conventions:
// db.system.name, db.query.text, ...). What leaves
// here is privacy-safe by construction: no header value other than Host and User-Agent is read,
// and the query string is never recorded (not in the name, not in any attribute) unless the
// configuration allows it (then in url.query and url.full only, never in the name).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "agent/connection_tracker.h"
#include "core/span_batch.h"

namespace hodos::agent {

// Kernel timestamps (bpf_ktime_get_ns: CLOCK_MONOTONIC) to Unix time. The offset is measured once,
// so durations stay exact even when the wall clock is stepped later.
class MonotonicClock {
 public:
  MonotonicClock();  // measures CLOCK_REALTIME - CLOCK_MONOTONIC now
  explicit MonotonicClock(int64_t offset_ns) : offset_ns_(offset_ns) {}
  uint64_t to_unix_ns(uint64_t monotonic_ns) const {
    return static_cast<uint64_t>(static_cast<int64_t>(monotonic_ns) + offset_ns_);
  }
  int64_t offset_ns() const { return offset_ns_; }
  static uint64_t monotonic_now_ns();

 private:
  int64_t offset_ns_;
};

// A resource attribute of a traced process (service.name, process.pid, ...).
struct ProcessAttribute {
  std::string key;
  std::variant<std::string, int64_t> value;
};
using ProcessResource = std::vector<ProcessAttribute>;

// The resource of a process nothing more is known about: its comm from /proc (when it is still
// there), process.pid, host.name and telemetry.sdk.name=hodos.
ProcessResource fallback_process_resource(uint32_t pid, const std::string& host_name,
                                          const std::string& proc_root = "/proc");

// Copies a process's resource into `batch`'s arena.
const core::Resource* make_resource(core::SpanBatch& batch, const ProcessResource& resource);
// The instrumentation scope of the agent's spans ("hodos.agent.http1").
const core::Scope* make_scope(core::SpanBatch& batch);

struct SpanBuilderOptions {
  // `agent.capture.query_string`: url.query and the query in url.full. Off by default: query
  // strings carry tokens and personal data.
  bool record_query_string = false;
};

class SpanBuilder {
 public:
  explicit SpanBuilder(MonotonicClock clock = MonotonicClock(), SpanBuilderOptions options = {})
      : clock_(clock), options_(options) {}

  // Appends the span of `exchange` to `batch`; its strings are copied into the batch's arena.
  core::Span& add(core::SpanBatch& batch, const TrackedExchange& exchange,
                  const core::Resource* resource, const core::Scope* scope) const;

  const MonotonicClock& clock() const { return clock_; }
  const SpanBuilderOptions& options() const { return options_; }

 private:
  // Ids, kind, times, resource and scope: what every span of an exchange starts with.
  core::Span start_span(core::Arena& arena, const TrackedExchange& t, uint64_t start_ns,
                        uint64_t end_ns, const core::Resource* resource,
                        const core::Scope* scope) const;
  core::Span& add_db_call(core::SpanBatch& batch, const TrackedExchange& call,
                          const core::Resource* resource, const core::Scope* scope) const;
  // An HTTP/2 stream: a gRPC call (RPC conventions) or an HTTP request (HTTP conventions).
  core::Span& add_http2(core::SpanBatch& batch, const TrackedExchange& t,
                        const core::Resource* resource, const core::Scope* scope) const;

  MonotonicClock clock_;
  SpanBuilderOptions options_;
};

// `{db.operation.name} {db.collection.name}`, as much of it as is known, else db.system.name.
std::string db_span_name(const protocols::DbCall& call);

// `METHOD /route/{id}`: the method (or "HTTP" for a method outside RFC 9110 and PATCH) and the
// path's template, never the query string.
// The path without session-id path parameters (`;jsessionid=...`, as Java servlet containers
// rewrite URLs; also phpsessid, sessionid, session_id, sid): a credential, and one operation per
// session otherwise. Other parameters stay. Copies into `arena` only when the path has a ';'.
std::string_view without_session_ids(std::string_view path, core::Arena& arena);

std::string http_span_name(std::string_view method, std::string_view path);

}  // namespace hodos::agent
