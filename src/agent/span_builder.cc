#include "agent/span_builder.h"

#include <time.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <fstream>

#include "protocols/grpc/call.h"
#include "protocols/http1/ascii.h"
#include "protocols/http1/attributes.h"

namespace hodos::agent {

namespace http1 = protocols::http1;

namespace {

uint64_t read_clock(clockid_t id) {
  timespec ts{};
  clock_gettime(id, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// The methods of RFC 9110 plus PATCH; anything else is "_OTHER" per the HTTP conventions, so a
// client sending garbage cannot create unbounded operation names.
bool is_known_method(std::string_view m) {
  static constexpr std::array<std::string_view, 9> kKnown = {
      "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"};
  for (std::string_view k : kKnown) {
    if (m == k) return true;
  }
  return false;
}

struct HostPort {
  std::string_view host;
  uint16_t port = 0;  // 0: not given
};

// "example.com", "example.com:8080", "[::1]:8080"; nullopt-like empty host when malformed.
HostPort split_host_header(std::string_view value) {
  HostPort out;
  std::string_view port_text;
  if (!value.empty() && value.front() == '[') {
    size_t close = value.find(']');
    if (close == std::string_view::npos) return {};
    out.host = value.substr(1, close - 1);
    std::string_view rest = value.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return {};
      port_text = rest.substr(1);
    }
  } else {
    size_t colon = value.rfind(':');
    out.host = value.substr(0, colon);
    if (colon != std::string_view::npos) port_text = value.substr(colon + 1);
  }
  if (!port_text.empty()) {
    unsigned port = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc() || end != port_text.data() + port_text.size() || port == 0 ||
        port > 65535) {
      return {};
    }
    out.port = static_cast<uint16_t>(port);
  }
  for (char c : out.host) {
    // Hostnames and IP literals only: nothing that could smuggle other text into an attribute.
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == '_' || c == ':' || c == '%';
    if (!ok) return {};
  }
  return out;
}

class AttributeWriter {
 public:
  AttributeWriter(core::Arena& arena, core::AttrList& list) : arena_(arena), list_(list) {}
  void str(std::string_view key, std::string_view value) {
    list_.push_back(arena_, {key, core::AnyValue::string(arena_.copy(value))});
  }
  void integer(std::string_view key, int64_t value) {
    list_.push_back(arena_, {key, core::AnyValue::integer(value)});
  }

 private:
  core::Arena& arena_;
  core::AttrList& list_;
};

// The ends of an exchange's connection, each formatted once, and the server it called.
// `authority`: what the request named (Host, :authority); empty for protocols without one.
// Neither copied nor moved: server_address may point into `local` or `remote`.
struct ConnectionEnds {
  ConnectionEnds(const TrackedExchange& t, const HostPort& authority)
      : local(t.local.address_string()),
        remote(t.remote.address_string()),
        over_unix(t.remote.is_unix()),
        named_host(!authority.host.empty()) {
    const bool server = t.role == http1::Role::kServer;
    const SocketEndpoint& server_end = server ? t.local : t.remote;
    server_address =
        authority.host.empty() ? std::string_view(server ? local : remote) : authority.host;
    server_port = authority.host.empty() || authority.port == 0 ? server_end.port : authority.port;
  }
  ConnectionEnds(const ConnectionEnds&) = delete;
  ConnectionEnds& operator=(const ConnectionEnds&) = delete;

  const std::string local;  // address_string() of each end
  const std::string remote;
  std::string_view server_address;  // the authority's host, else the server end's address
  uint16_t server_port = 0;         // 0: none (a Unix socket)
  const bool over_unix;             // the connection is a Unix socket's
  const bool named_host;            // the request named its server
};

// url.full of a client span; the query string only when given (allowed). A request over a Unix
// socket that named no host is shown as one to localhost.
std::string full_url(std::string_view scheme, const ConnectionEnds& ends, std::string_view path,
                     std::string_view query) {
  const std::string_view host =
      ends.over_unix && !ends.named_host ? "localhost" : ends.server_address;
  const bool v6_literal = host.find(':') != std::string_view::npos;
  std::string full = std::string(scheme) + "://";
  full += v6_literal ? "[" + std::string(host) + "]" : std::string(host);
  if (ends.server_port != 0 && ends.server_port != (scheme == "https" ? 443 : 80)) {
    full += ":" + std::to_string(ends.server_port);
  }
  full += path.empty() ? "/" : path;
  if (!query.empty()) {
    full += '?';
    full += query;
  }
  return full;
}

// server.*, client.address (a server's span) and network.* of the connection. The peer and the
// local end name the connection, which is how the stitch processor pairs a client span with the
// server span on the other end. A Unix socket has a path and no ports (network.transport=unix):
// its ends are paired by Span::unix_connection instead.
void add_connection_attributes(AttributeWriter& attrs, const TrackedExchange& t,
                               const ConnectionEnds& ends) {
  attrs.str("server.address", ends.server_address);
  if (ends.server_port != 0) attrs.integer("server.port", ends.server_port);
  if (ends.over_unix) {
    attrs.str("network.transport", "unix");
    if (!ends.remote.empty()) attrs.str("network.peer.address", ends.remote);
    return;
  }
  if (t.role == http1::Role::kServer) attrs.str("client.address", ends.remote);
  attrs.str("network.peer.address", ends.remote);
  attrs.integer("network.peer.port", t.remote.port);
  attrs.str("network.local.address", ends.local);
  attrs.integer("network.local.port", t.local.port);
}

}  // namespace

MonotonicClock::MonotonicClock() {
  // Bracket the realtime read between two monotonic ones and take their midpoint.
  const uint64_t before = read_clock(CLOCK_MONOTONIC);
  const uint64_t real = read_clock(CLOCK_REALTIME);
  const uint64_t after = read_clock(CLOCK_MONOTONIC);
  offset_ns_ = static_cast<int64_t>(real) - static_cast<int64_t>(before + (after - before) / 2);
}

uint64_t MonotonicClock::monotonic_now_ns() { return read_clock(CLOCK_MONOTONIC); }

ProcessResource fallback_process_resource(uint32_t pid, const std::string& host_name,
                                          const std::string& proc_root) {
  std::string comm;
  std::ifstream in(proc_root + "/" + std::to_string(pid) + "/comm");
  std::getline(in, comm);
  if (comm.empty()) comm = "unknown_service";
  ProcessResource r;
  r.push_back({"service.name", comm});
  r.push_back({"process.pid", static_cast<int64_t>(pid)});
  if (comm != "unknown_service") r.push_back({"process.executable.name", comm});
  if (!host_name.empty()) r.push_back({"host.name", host_name});
  r.push_back({"telemetry.sdk.name", std::string("hodos")});
  return r;
}

const core::Resource* make_resource(core::SpanBatch& batch, const ProcessResource& resource) {
  core::Arena& arena = batch.arena();
  core::Resource* r = batch.new_resource();
  r->attributes.reserve(arena, resource.size());
  for (const ProcessAttribute& a : resource) {
    core::AnyValue v = std::holds_alternative<int64_t>(a.value)
                           ? core::AnyValue::integer(std::get<int64_t>(a.value))
                           : core::AnyValue::string(arena.copy(std::get<std::string>(a.value)));
    r->attributes.push_back(arena, {arena.copy(a.key), v});
  }
  return r;
}

const core::Scope* make_scope(core::SpanBatch& batch) {
  core::Scope* s = batch.new_scope();
  s->name = "hodos.agent.http1";  // static storage
  return s;
}

// error.type of a client call the connection closed on without an answer.
constexpr std::string_view kNoResponse = "no_response";

std::string_view without_session_ids(std::string_view path, core::Arena& arena) {
  if (path.find(';') == std::string_view::npos) return path;  // the common case: no copy
  static constexpr std::string_view kSessionParameters[] = {"jsessionid", "phpsessid", "sessionid",
                                                            "session_id", "sid"};
  auto is_session_parameter = [](std::string_view name) {
    return std::any_of(std::begin(kSessionParameters), std::end(kSessionParameters),
                       [&](std::string_view p) { return http1::iequals(name, p); });
  };
  std::string out;
  out.reserve(path.size());
  size_t at = 0;
  while (at < path.size()) {
    const size_t semicolon = path.find(';', at);
    out.append(path.substr(at, semicolon - at));
    if (semicolon == std::string_view::npos) break;
    // A parameter runs to the next ';' or to the end of its segment.
    const size_t end = std::min(path.find_first_of(";/", semicolon + 1), path.size());
    const std::string_view parameter = path.substr(semicolon + 1, end - semicolon - 1);
    if (!is_session_parameter(parameter.substr(0, parameter.find('=')))) {
      out.append(path.substr(semicolon, end - semicolon));
    }
    at = end;
  }
  return arena.copy(out);
}

std::string http_span_name(std::string_view method, std::string_view path) {
  std::string name = is_known_method(method) ? std::string(method) : std::string("HTTP");
  if (path.empty()) return name;
  return name + " " + http1::route_template(path);
}

std::string db_span_name(const protocols::DbCall& call) {
  // Messaging: {operation} {destination} ("send orders", "poll orders").
  if (call.system == "kafka") {
    return call.destination.empty() ? call.operation : call.operation + " " + call.destination;
  }
  // {operation} {collection}, else the operation, else the system (database conventions).
  if (call.operation.empty()) return std::string(call.system);
  if (call.collection.empty()) return call.operation;
  return call.operation + " " + call.collection;
}

core::Span SpanBuilder::start_span(core::Arena& arena, const TrackedExchange& t, uint64_t start_ns,
                                   uint64_t end_ns, const core::Resource* resource,
                                   const core::Scope* scope) const {
  core::Span span;
  span.trace_id = t.context.trace_id;
  span.span_id = t.context.span_id;
  span.parent_span_id = t.parent_id;
  if (!t.trace_state.empty()) span.trace_state = arena.copy(t.trace_state);
  span.flags = 0x01;  // sampled
  span.kind = t.role == http1::Role::kServer ? core::SpanKind::kServer : core::SpanKind::kClient;
  span.start_time_unix_nano = clock_.to_unix_ns(start_ns);
  span.end_time_unix_nano = clock_.to_unix_ns(std::max(end_ns, start_ns));
  span.resource = resource;
  span.scope = scope;
  span.unix_connection = t.unix_connection;
  return span;
}

core::Span& SpanBuilder::add(core::SpanBatch& batch, const TrackedExchange& t,
                             const core::Resource* resource, const core::Scope* scope) const {
  if (t.db_call != nullptr) return add_db_call(batch, t, resource, scope);
  if (t.h2 != nullptr) return add_http2(batch, t, resource, scope);
  const http1::Exchange& ex = *t.exchange;
  const http1::Request& req = ex.request;
  const http1::Response& resp = ex.response;
  const bool server = t.role == http1::Role::kServer;
  core::Arena& arena = batch.arena();

  core::Span span = start_span(arena, t, ex.start_ns, ex.end_ns, resource, scope);
  // Tells the stitch stage whether a caller's span can still come from this host.
  if (server) span.local_caller = t.local_caller ? 1 : 2;

  // path() stops at '?' and '#': the query string goes no further unless the user allowed it.
  const std::string_view path = without_session_ids(req.path(), arena);
  const std::string_view query = options_.record_query_string ? req.query() : std::string_view();
  span.name = arena.copy(http_span_name(req.method, path));

  AttributeWriter attrs(arena, span.attributes);
  span.attributes.reserve(arena, 14);
  if (is_known_method(req.method)) {
    attrs.str("http.request.method", req.method);
  } else {
    attrs.str("http.request.method", "_OTHER");
    attrs.str("http.request.method_original", req.method);
  }
  if (!path.empty()) attrs.str("url.path", path);
  if (!query.empty()) attrs.str("url.query", query);
  attrs.str("url.scheme", t.tls ? "https" : "http");
  if (!ex.no_response) attrs.integer("http.response.status_code", resp.status);
  attrs.str("network.protocol.version", req.minor_version == 0 ? "1.0" : "1.1");

  // The authority the client asked for (Host), else the socket's own address.
  const HostPort host = split_host_header(req.header("host"));
  const ConnectionEnds ends(t, host);
  if (!server) {
    // url.full is required on client spans; it holds the query string only when allowed.
    attrs.str("url.full", full_url(t.tls ? "https" : "http", ends, path, query));
  }
  add_connection_attributes(attrs, t, ends);
  if (std::string_view ua = req.header("user-agent"); !ua.empty()) {
    attrs.str("user_agent.original", ua);
  }

  // 5xx is an error of the server; from the client's side every 4xx is one too.
  const bool error = resp.status >= 500 || (!server && resp.status >= 400);
  if (ex.no_response) {
    // The connection closed with the request unanswered: refused, reset, or given up on.
    span.status.code = core::StatusCode::kError;
    span.status.message = "the connection closed before a response";
    attrs.str("error.type", kNoResponse);
  } else if (error) {
    span.status.code = core::StatusCode::kError;
    attrs.str("error.type", std::to_string(resp.status));
  }
  batch.spans().push_back(span);
  return batch.spans().back();
}

core::Span& SpanBuilder::add_db_call(core::SpanBatch& batch, const TrackedExchange& t,
                                     const core::Resource* resource,
                                     const core::Scope* scope) const {
  const protocols::DbCall& call = *t.db_call;
  core::Arena& arena = batch.arena();
  core::Span span = start_span(arena, t, call.start_ns, call.end_ns, resource, scope);
  span.name = arena.copy(db_span_name(call));

  AttributeWriter attrs(arena, span.attributes);
  span.attributes.reserve(arena, 14);
  if (call.system == "kafka") {
    // The messaging conventions: a send is a PRODUCER span, a poll a CLIENT one.
    const bool send = call.operation == "send";
    if (send) span.kind = core::SpanKind::kProducer;
    attrs.str("messaging.system", call.system);
    attrs.str("messaging.operation.type", send ? "send" : "receive");
    attrs.str("messaging.operation.name", call.operation);
    if (!call.destination.empty()) attrs.str("messaging.destination.name", call.destination);
    if (!call.partition.empty()) attrs.str("messaging.destination.partition.id", call.partition);
    // The conventions: not on a span of a single message.
    if (call.message_count >= 0 && call.message_count != 1) {
      attrs.integer("messaging.batch.message_count", call.message_count);
    }
    if (call.offset >= 0) attrs.integer("messaging.kafka.offset", call.offset);
    if (!call.client_id.empty()) attrs.str("messaging.client.id", call.client_id);
  } else {
    attrs.str("db.system.name", call.system);
    if (!call.namespace_name.empty()) attrs.str("db.namespace", call.namespace_name);
    if (!call.operation.empty()) attrs.str("db.operation.name", call.operation);
    if (!call.collection.empty()) attrs.str("db.collection.name", call.collection);
    if (!call.query_text.empty()) attrs.str("db.query.text", call.query_text);
    if (call.batch_size > 1) attrs.integer("db.operation.batch.size", call.batch_size);
    if (!call.status_code.empty()) attrs.str("db.response.status_code", call.status_code);
  }
  add_connection_attributes(attrs, t, ConnectionEnds(t, HostPort{}));
  if (call.error) {
    span.status.code = core::StatusCode::kError;
    attrs.str("error.type", call.status_code.empty() ? "_OTHER" : call.status_code);
  }
  batch.spans().push_back(span);
  return batch.spans().back();
}

core::Span& SpanBuilder::add_http2(core::SpanBatch& batch, const TrackedExchange& t,
                                   const core::Resource* resource,
                                   const core::Scope* scope) const {
  const protocols::http2::Exchange& ex = *t.h2;
  const bool server = t.role == http1::Role::kServer;
  core::Arena& arena = batch.arena();
  core::Span span = start_span(arena, t, ex.start_ns, ex.end_ns, resource, scope);
  if (server) span.local_caller = t.local_caller ? 1 : 2;
  span.stream_id = ex.stream_id;

  AttributeWriter attrs(arena, span.attributes);
  span.attributes.reserve(arena, 14);
  // The authority the client asked for, else the socket's own address (as for HTTP/1.x's Host).
  const HostPort authority = split_host_header(ex.request.authority);
  const ConnectionEnds ends(t, authority);

  bool error = false;
  std::string error_type;
  if (std::optional<protocols::grpc::Call> call = protocols::grpc::to_call(ex)) {
    span.name = arena.copy(call->span_name());
    attrs.str("rpc.system", protocols::grpc::Call::kSystem);
    attrs.str("rpc.service", call->service);
    attrs.str("rpc.method", call->method);
    if (call->status_code >= 0) attrs.integer("rpc.grpc.status_code", call->status_code);
    error = protocols::grpc::is_error(
        *call, server ? protocols::grpc::SpanKind::kServer : protocols::grpc::SpanKind::kClient);
    if (error) {
      const std::string_view name = protocols::grpc::status_name(call->status_code);
      error_type = name.empty() ? std::to_string(call->status_code) : std::string(name);
    }
  } else {
    const std::string_view full_path = ex.request.path;
    const std::string_view path =
        without_session_ids(full_path.substr(0, full_path.find_first_of("?#")), arena);
    span.name = arena.copy(http_span_name(ex.request.method, path));
    if (is_known_method(ex.request.method)) {
      attrs.str("http.request.method", ex.request.method);
    } else {
      attrs.str("http.request.method", "_OTHER");
      attrs.str("http.request.method_original", ex.request.method);
    }
    if (!path.empty()) attrs.str("url.path", path);
    const std::string_view scheme = ex.request.scheme.empty() ? (t.tls ? "https" : "http")
                                                              : std::string_view(ex.request.scheme);
    attrs.str("url.scheme", scheme);
    if (ex.response.status != 0) attrs.integer("http.response.status_code", ex.response.status);
    if (!server) {
      attrs.str("url.full", full_url(scheme, ends, path, {}));
    }
    if (!ex.request.user_agent.empty()) attrs.str("user_agent.original", ex.request.user_agent);
    const uint16_t status = ex.response.status;
    error = status >= 500 || (!server && status >= 400);
    if (error) error_type = std::to_string(status);
  }
  if (ex.end == protocols::http2::StreamEnd::kReset && !error) {
    // A plain HTTP/2 stream reset before it completed failed, unless the server's side saw its
    // client give up (as a gRPC server does for CANCELLED).
    error = !server || !ex.reset_by_client;
    if (error) error_type = std::string(protocols::http2::error_code_name(ex.reset_error_code));
  }
  attrs.str("network.protocol.name", "http");
  attrs.str("network.protocol.version", "2");
  add_connection_attributes(attrs, t, ends);
  if (error) {
    span.status.code = core::StatusCode::kError;
    if (!error_type.empty()) attrs.str("error.type", error_type);
  }
  batch.spans().push_back(span);
  return batch.spans().back();
}

}  // namespace hodos::agent
