#include "agent/connection_tracker.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "core/trace_context.h"

namespace hodos::agent {

namespace http1 = protocols::http1;
namespace http2 = protocols::http2;

namespace {

// Only the bytes of the family count: an IPv4 event fills the first 4 of its 16, and the others
// hold whatever the kernel program's buffer held before (another event's IPv6 address), which
// differs between CPUs. Comparing them split a connection in two when its process moved between
// CPUs, leaving one request and one response unmatched.
bool same_address(const SocketEndpoint& a, const SocketEndpoint& b) {
  if (a.family != b.family) return false;
  const size_t n = a.family == HODOS_AF_INET ? 4 : a.address.size();
  return std::memcmp(a.address.data(), b.address.data(), n) == 0;
}

// The fd was closed and reused for another connection if the peer (or a known local port)
// differs. A connect() in progress may not know its local port yet, so 0 matches any.
bool same_connection(const SocketEndpoint& local_a, const SocketEndpoint& remote_a,
                     const SocketEndpoint& local_b, const SocketEndpoint& remote_b) {
  if (remote_a.port != remote_b.port || !same_address(remote_a, remote_b)) return false;
  return local_a.port == 0 || local_b.port == 0 || local_a.port == local_b.port;
}

SpanContext new_root_context() { return {core::TraceId::random(), core::SpanId::random()}; }

// Ids kept for a connection, in the order their chunks came, found again by chunk timestamp.
template <class T>
void remember(std::deque<std::pair<uint64_t, T>>& q, uint64_t ts, const T& value, size_t max) {
  if (q.size() >= max) q.pop_front();
  q.emplace_back(ts, value);
}

// The value stored for `ts`; entries before it are dropped, since requests are answered in order.
// The entry itself stays while `keep` (several pipelined database commands share one write).
template <class T>
const T* take(std::deque<std::pair<uint64_t, T>>& q, uint64_t ts, T& out, bool keep = false) {
  bool found = false;
  while (!q.empty() && q.front().first <= ts) {
    if (q.front().first == ts) {
      out = q.front().second;
      found = true;
      if (keep) break;
    }
    q.pop_front();
  }
  return found ? &out : nullptr;
}

// The value stored for `ts`, leaving every entry in place: HTTP/2 streams end in any order, and
// several may start in one write. The deque's bound drops old ones.
template <class T>
const T* find_at(const std::deque<std::pair<uint64_t, T>>& q, uint64_t ts) {
  for (auto it = q.rbegin(); it != q.rend(); ++it) {
    if (it->first == ts) return &it->second;
  }
  return nullptr;
}

// Server chunks written before the client's first bytes are held until those say which protocol
// the connection speaks (an HTTP/2 server sends its SETTINGS at once; the matcher needs them).
constexpr size_t kMaxHeldChunks = 4;

// "GET / HTTP/1.1\r\n": a read shorter than this cannot hold a whole request line.
constexpr uint64_t kShortestRequestLine = 16;

}  // namespace

struct ConnectionTracker::Connection {
  Key key{};
  SocketEndpoint local;
  SocketEndpoint remote;
  Lru::iterator lru_pos;
  uint64_t last_ns = 0;
  std::unique_ptr<http1::ConnectionMatcher> matcher;
  // A database client connection: fed instead of `matcher`, which then sees nothing.
  std::unique_ptr<protocols::DbMatcher> db;
  uint32_t detect_chunks = 0;     // chunks looked at for a database protocol so far
  bool from_start = false;        // opened by its connect(), so its first bytes were seen
  http1::Role opened_as = http1::Role::kUnknown;  // what its accept() or connect() said
  bool tls = false;               // its plaintext comes from a TLS library: ciphertext is ignored
  bool protocol_decided = false;  // HTTP/1.x (or unknown) for good, or `db` is set
  // Server side: the ids a request got when its first bytes were read.
  std::deque<std::pair<uint64_t, SpanIds>> request_ids;
  // Client side: the ids a request gets if it starts with the chunk written then (kernel ids, or a
  // child of the request the writing thread was serving).
  std::deque<std::pair<uint64_t, SpanIds>> call_ids;
  bool request_open = false;  // server side: a request was read and its answer not yet written
  uint32_t serving_tid = 0;   // the thread that read it
  bool on_thread = false;     // counted in serving_[serving_tid] (not when serving_ was full)
  SpanIds open_ids;           // the open request's ids: its thread's client calls name it
  uint64_t open_ts = 0;       // the chunk that opened it, and how long that chunk was
  uint64_t open_bytes = 0;
  std::string client_key;     // client side, once its local port is known: key in client_ends_
  // A Unix socket's: the client socket's inode (SocketEvent::unix_connection), and on the server
  // side whether a traced process holds the client's end.
  uint64_t unix_connection = 0;
  bool unix_peer_followed = false;
  // HTTP/2 (the client's first bytes were its preface): fed instead of `matcher`.
  std::unique_ptr<http2::ConnectionMatcher> h2;
  bool client_bytes_seen = false;  // the client's side has sent bytes (HTTP/2 is decided then)
  struct HeldChunk {
    std::string bytes;
    uint64_t length = 0;
    uint64_t ts = 0;
    bool length_only = false;
  };
  std::vector<HeldChunk> held;  // server writes before the client's first bytes
  // HTTP/2 server side: streams whose request was read, with the ids their span gets (chosen then,
  // so calls made while serving it can name it) and the thread that read it; `serving` until the
  // response starts (counted in serving_ meanwhile, as request_open is for HTTP/1.x).
  struct OpenStream {
    uint32_t id = 0;
    SpanIds ids;
    uint32_t tid = 0;
    bool serving = false;
  };
  std::vector<OpenStream> h2_streams;  // oldest first, at most MatchLimits::max_streams
  // HTTP/2 streams the kernel gave ids (Go: grpc-go uprobes) that no span took yet, oldest first,
  // at most MatchLimits::max_streams: a client's calls until their stream ends.
  std::deque<std::pair<uint32_t, SpanIds>> stream_ids;
};

ConnectionTracker::ConnectionTracker(Sink sink, ConnectionTrackerLimits limits)
    : sink_(std::move(sink)), limits_(limits) {}

ConnectionTracker::~ConnectionTracker() = default;

void ConnectionTracker::on_event(const SocketEvent& event) {
  ++counters_.events;
  const Key key{event.pid, event.fd};
  switch (event.kind) {
    case SocketEventKind::kAccept:
      if (event.result < 0) return;
      open(event, http1::Role::kServer);
      return;
    case SocketEventKind::kConnect:
      // A non-blocking connect() returns -EINPROGRESS and completes later.
      if (event.result != 0 && event.result != -EINPROGRESS) return;
      open(event, http1::Role::kClient)->from_start = true;
      return;
    case SocketEventKind::kClose:
      if (auto it = connections_.find(key); it != connections_.end()) {
        // close() frees the fd before its exit is seen: another thread's connect() may reuse the
        // number, and its events may come first. A close naming another 4-tuple (read at its
        // entry) belongs to the connection that reuse already ended.
        const Connection& c = *it->second;
        if (event.remote.port != 0 &&
            !same_connection(c.local, c.remote, event.local, event.remote)) {
          ++counters_.late_closes;
          return;
        }
        ++counters_.connections_closed;
        end(it, /*closed=*/true, event.enter_ns);
      }
      return;
    case SocketEventKind::kData:
      if (event.direction == Direction::kNone || event.result <= 0) return;
      if (Connection* c = find_or_open(event, http1::Role::kUnknown)) on_data(*c, event);
      return;
    case SocketEventKind::kStream:
      // The connection may not be known as HTTP/2 yet: the ids of a stream opened in the write
      // that carries the preface come before that write's bytes.
      if (auto it = connections_.find(key); it != connections_.end()) {
        on_stream_ids(*it->second, event);
      } else {
        ++counters_.h2_kernel_stream_ids_unmatched;
      }
      return;
    case SocketEventKind::kProcess:
      // The agent's business (which processes are traced); an exit ends the process's connections.
      if (event.syscall == SocketSyscall::kExit) forget_process(event.pid);
      return;
  }
}

ConnectionTracker::Connection* ConnectionTracker::find_or_open(const SocketEvent& event,
                                                               http1::Role role) {
  auto it = connections_.find(Key{event.pid, event.fd});
  if (it == connections_.end()) return open(event, role);
  Connection& c = *it->second;
  if (!same_connection(c.local, c.remote, event.local, event.remote)) return open(event, role);
  // A server's Unix socket keeps the path its accept named (its data events name none).
  if (c.local.port == 0 && !c.local.is_unix()) c.local = event.local;
  return &c;
}

ConnectionTracker::Connection* ConnectionTracker::open(const SocketEvent& event,
                                                       http1::Role role) {
  const Key key{event.pid, event.fd};
  if (auto it = connections_.find(key); it != connections_.end()) {
    // The fd is back before its close was seen (a dropped event): the old connection is over.
    ++counters_.fd_reused;
    end(it, /*closed=*/true);
  }
  while (connections_.size() >= limits_.max_connections && !lru_.empty()) {
    ++counters_.evicted_capacity;
    end(connections_.find(lru_.back()), /*closed=*/false);
  }
  auto owned = std::make_unique<Connection>();
  Connection* c = owned.get();
  c->key = key;
  c->local = event.local;
  c->remote = event.remote;
  c->last_ns = event.exit_ns;
  c->opened_as = role;
  c->unix_connection = event.unix_connection;
  c->unix_peer_followed = event.unix_peer_followed;
  c->matcher = std::make_unique<http1::ConnectionMatcher>(
      role, [this, c](http1::Exchange&& e) { on_exchange(*c, std::move(e)); }, limits_.match);
  lru_.push_front(key);
  c->lru_pos = lru_.begin();
  connections_.emplace(key, std::move(owned));
  ++counters_.connections_opened;
  index_client(*c);
  return c;
}

std::string ConnectionTracker::tuple_key(const SocketEndpoint& local,
                                         const SocketEndpoint& remote) {
  // An end matches exactly when the spans' address strings (what the stitch stage compares) do:
  // a dual-stack socket's (Java's) IPv4 peer ::ffff:a.b.c.d is the same end as a.b.c.d, as
  // address_string() prints it. Only the bytes of the family count (see same_address()).
  static constexpr uint8_t kV4Mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  std::string key;
  key.reserve(40);
  for (const SocketEndpoint* e : {&local, &remote}) {
    const bool mapped = e->family != HODOS_AF_INET &&
                        std::memcmp(e->address.data(), kV4Mapped, sizeof(kV4Mapped)) == 0;
    const bool v4 = e->family == HODOS_AF_INET || mapped;
    key.push_back(static_cast<char>(v4 ? HODOS_AF_INET : e->family & 0xff));
    key.append(reinterpret_cast<const char*>(e->address.data() + (mapped ? sizeof(kV4Mapped) : 0)),
               v4 ? 4 : e->address.size());
    key.push_back(static_cast<char>(e->port >> 8));
    key.push_back(static_cast<char>(e->port & 0xff));
  }
  return key;
}

void ConnectionTracker::index_client(Connection& c) {
  // A connect() in progress has no local port yet; a connection first seen mid-stream learns its
  // role from its first bytes.
  if (!c.client_key.empty() || c.local.port == 0 || c.matcher->role() != http1::Role::kClient) {
    return;
  }
  c.client_key = tuple_key(c.local, c.remote);
  ++client_ends_[c.client_key];
}

void ConnectionTracker::unindex_client(Connection& c) {
  if (c.client_key.empty()) return;
  auto it = client_ends_.find(c.client_key);
  if (it != client_ends_.end() && --it->second == 0) client_ends_.erase(it);
  c.client_key.clear();
}

void ConnectionTracker::end(
    std::unordered_map<Key, std::unique_ptr<Connection>, KeyHash>::iterator it, bool closed,
    uint64_t close_ns) {
  if (it == connections_.end()) return;
  Connection& c = *it->second;
  // A close ends a response delimited by it; an eviction hands on what was half read as
  // incomplete (an error body the client never read) instead of dropping it.
  if (closed) {
    c.matcher->close(close_ns);
  } else {
    c.matcher->abandon();
  }
  fold_counters(c.matcher->counters());
  if (c.db) {
    c.db->close();
    add_db_counters(counters_, c.db->counters());
  }
  if (c.h2) {
    c.h2->close();
    add_h2_counters(counters_, c.h2->counters());
  }
  counters_.h2_kernel_stream_ids_unmatched += c.stream_ids.size();
  for (const Connection::OpenStream& stream : c.h2_streams) {
    if (stream.serving) remove_serving(stream.tid, c.key);
  }
  close_request(c);
  unindex_client(c);
  lru_.erase(c.lru_pos);
  connections_.erase(it);
}

void ConnectionTracker::add_db_counters(ConnectionTrackerCounters& total,
                                        const protocols::DbMatchCounters& m, bool continued) {
  total.db_invalid += m.invalid;
  total.db_truncated += m.truncated;
  total.db_unmatched_requests += m.unmatched_requests;
  total.db_unmatched_responses += m.unmatched_responses;
  // A matcher that hands over to its TLS session's (MySQL) neither ends the connection nor gave
  // up on it: the one that follows counts it.
  if (continued) return;
  ++total.db_connections;
  if (m.gave_up) ++total.db_gave_up;
}

void ConnectionTracker::add_h2_counters(ConnectionTrackerCounters& total,
                                        const http2::MatchCounters& m) {
  ++total.h2_connections;
  total.h2_unmatched += m.unmatched_requests + m.unmatched_responses;
  if (m.undecodable + m.headers_lost + m.framing_lost + m.hpack_errors + m.invalid_frames > 0) {
    ++total.h2_gave_up;
  }
}

void ConnectionTracker::fold_counters(const http1::MatchCounters& m) {
  counters_.http_invalid += m.invalid;
  counters_.http_truncated += m.truncated;
  counters_.unmatched_requests += m.unmatched_requests;
  counters_.unmatched_responses += m.unmatched_responses;
  if (m.not_http) ++counters_.not_http;
}

ConnectionTracker::SpanIds ConnectionTracker::ids_for_request(const SocketEvent& event) const {
  const KernelSpanIds& k = event.ids;
  if (k.kind == KernelIdsKind::kServer && k.trace_id.valid() && k.span_id.valid()) {
    // The kernel already gave the thread these ids, and names them in the traceparent it inserts
    // into the thread's client calls: the span must carry exactly them.
    return {{k.trace_id, k.span_id},
            k.parent_span_id,
            IdsSource::kKernel,
            k.parent_span_id.valid() ? std::string(core::find_tracestate_in_head(event.data)) : ""};
  }
  if (auto incoming = core::find_traceparent_in_head(event.data)) {
    return {{incoming->trace_id, core::SpanId::random()},
            incoming->span_id,
            IdsSource::kAdopted,
            std::string(core::find_tracestate_in_head(event.data))};
  }
  return {new_root_context(), {}, IdsSource::kLocal, ""};
}

std::optional<ConnectionTracker::SpanIds> ConnectionTracker::ids_for_call(
    const Connection& c, const SocketEvent& event) const {
  const KernelSpanIds& k = event.ids;
  if (k.kind == KernelIdsKind::kClient && k.trace_id.valid() && k.span_id.valid()) {
    // What the kernel put in the traceparent the callee received (and the tracestate of the
    // request the thread serves, which it put after it).
    SpanIds ids{{k.trace_id, k.span_id}, k.parent_span_id, IdsSource::kKernel, ""};
    if (const SpanIds* served = served_by(event.tid, c); served != nullptr &&
        served->context.span_id == k.parent_span_id) {
      ids.trace_state = served->trace_state;
    }
    return ids;
  }
  // Go: the thread that writes a call runs many goroutines; it tells nothing of the request.
  if (event.no_thread_parent) return std::nullopt;
  auto s = serving_.find(event.tid);
  if (s == serving_.end()) return std::nullopt;
  // An event loop reads several requests before answering any: which one this call serves is
  // not known, and a wrong parent is worse than none.
  if (s->second.open > 1) return SpanIds{{}, {}, IdsSource::kAmbiguous, ""};
  const SpanIds* served = served_by(event.tid, c);
  if (served == nullptr) return std::nullopt;
  return SpanIds{{served->context.trace_id, core::SpanId::random()},
                 served->context.span_id,
                 IdsSource::kLocal,
                 served->trace_state};
}

const ConnectionTracker::SpanIds* ConnectionTracker::served_by(uint32_t tid,
                                                               const Connection& c) const {
  auto s = serving_.find(tid);
  if (s == serving_.end() || s->second.open != 1) return nullptr;
  auto served = connections_.find(Key::unpack(s->second.key_sum));
  if (served == connections_.end() || served->second.get() == &c) return nullptr;
  const Connection& server = *served->second;
  if (!server.h2) return &server.open_ids;
  // An HTTP/2 server connection: the one stream this thread read and has not answered yet.
  for (const Connection::OpenStream& stream : server.h2_streams) {
    if (stream.serving && stream.tid == tid) return &stream.ids;
  }
  return nullptr;
}

bool ConnectionTracker::add_serving(uint32_t tid, const Key& key) {
  auto s = serving_.find(tid);
  if (s == serving_.end()) {
    if (serving_.size() >= limits_.max_threads) return false;
    s = serving_.emplace(tid, Serving{}).first;
  }
  ++s->second.open;
  s->second.key_sum += key.packed();
  return true;
}

void ConnectionTracker::remove_serving(uint32_t tid, const Key& key) {
  auto s = serving_.find(tid);
  if (s == serving_.end()) return;
  s->second.key_sum -= key.packed();
  if (--s->second.open == 0) serving_.erase(s);
}

void ConnectionTracker::open_request(Connection& c, uint32_t tid, const SpanIds& ids) {
  c.request_open = true;
  c.serving_tid = tid;
  c.open_ids = ids;
  c.on_thread = add_serving(tid, c.key);
}

void ConnectionTracker::close_request(Connection& c) {
  if (!c.request_open) return;
  c.request_open = false;
  if (!c.on_thread) return;
  c.on_thread = false;
  remove_serving(c.serving_tid, c.key);
}

void ConnectionTracker::start_tls(Connection& c) {
  // The handshake went through the matcher as bytes it could not parse: a fresh one (whose
  // counters, about ciphertext, are dropped) reads the session's plaintext from its start.
  close_request(c);
  c.request_ids.clear();
  c.call_ids.clear();
  c.matcher = std::make_unique<http1::ConnectionMatcher>(
      c.opened_as, [this, conn = &c](http1::Exchange&& e) { on_exchange(*conn, std::move(e)); },
      limits_.match);
  std::unique_ptr<protocols::DbMatcher> in_tls;
  if (c.db) {
    // A database that switched to TLS (an SSLRequest): its calls are in the plaintext.
    in_tls = c.db->continue_in_tls(
        [this, conn = &c](protocols::DbCall&& call) { on_db_call(*conn, std::move(call)); });
    c.db->close();
    add_db_counters(counters_, c.db->counters(), in_tls != nullptr);
    c.db.reset();
  }
  if (c.h2) {
    c.h2->close();
    add_h2_counters(counters_, c.h2->counters());
    c.h2.reset();
  }
  c.held.clear();
  c.client_bytes_seen = false;
  c.detect_chunks = 0;
  c.protocol_decided = false;
  c.tls = true;
  ++counters_.tls_connections;
  // PostgreSQL starts over with a start-up message detection knows; MySQL goes on mid-handshake.
  if (in_tls) {
    c.db = std::move(in_tls);
    c.protocol_decided = true;
  }
}

void ConnectionTracker::on_data(Connection& c, const SocketEvent& event) {
  c.last_ns = event.exit_ns;
  lru_.splice(lru_.begin(), lru_, c.lru_pos);
  if (event.tls != c.tls) {
    if (!event.tls) {
      ++counters_.tls_ciphertext_ignored;
      return;
    }
    start_tls(c);
  }
  const bool ingress = event.direction == Direction::kIngress;
  // A read's bytes exist when it returns; a write's when it is called.
  const uint64_t ts = ingress ? event.exit_ns : event.enter_ns;
  if (!c.client_bytes_seen) {
    if (c.opened_as == http1::Role::kServer && !ingress && c.held.size() < kMaxHeldChunks) {
      c.held.push_back({std::string(event.data), static_cast<uint64_t>(event.result), ts,
                        event.length_only});
      return;
    }
    detect_http2(c, event, ingress);
  }
  if (c.h2) {
    if (!c.h2->active()) return;
    if (!ingress && c.h2->role() == http2::Role::kClient) {
      if (auto ids = ids_for_call(c, event)) {
        remember(c.call_ids, ts, *ids, limits_.max_contexts_per_connection);
      }
    }
    feeding_tid_ = event.tid;
    c.h2->feed(ingress ? protocols::Direction::kIngress : protocols::Direction::kEgress,
               {event.data, static_cast<uint64_t>(event.result), ts, event.length_only});
    index_client(c);
    return;
  }
  if (!c.protocol_decided) detect_protocol(c, event, ingress);
  if (c.db ? !c.db->active() : !c.matcher->active()) return;

  if (!ingress && c.matcher->role() != http1::Role::kServer) {
    // This write may start a request of a client call: keep the ids it would get.
    if (auto ids = ids_for_call(c, event)) {
      remember(c.call_ids, ts, *ids, limits_.max_contexts_per_connection);
    }
  }

  const protocols::Chunk chunk{event.data, static_cast<uint64_t>(event.result), ts,
                               event.length_only};
  const auto direction = ingress ? protocols::Direction::kIngress : protocols::Direction::kEgress;
  if (c.db) {
    c.db->feed(direction, chunk);
    return;
  }
  c.matcher->feed(direction, chunk);
  index_client(c);

  if (c.matcher->role() != http1::Role::kServer) return;
  if (ingress && !c.request_open) {
    // A new request: its ids are chosen now, so that client calls made while serving it can
    // name it as their parent before its own span is complete.
    const SpanIds ids = ids_for_request(event);
    remember(c.request_ids, ts, ids, limits_.max_contexts_per_connection);
    open_request(c, event.tid, ids);
    c.open_ts = ts;
    c.open_bytes = static_cast<uint64_t>(event.result);
  } else if (ingress && event.ids.kind == KernelIdsKind::kServer &&
             c.open_ids.source != IdsSource::kKernel && c.open_bytes < kShortestRequestLine) {
    // The request's first byte came alone (Go's server reads it from a background goroutine):
    // the kernel made its ids at the read of the rest, and put them in the calls it serves.
    const SpanIds ids = ids_for_request(event);
    for (auto& [at, kept] : c.request_ids) {
      if (at == c.open_ts) kept = ids;
    }
    c.open_ids = ids;
  } else if (ingress) {
    // Read while a request is open: its body, or a pipelined request, whose ids (the kernel's, or
    // an incoming traceparent's) are kept; the thread still serves the first one. Without either,
    // the exchange gets a new root when it completes.
    if (event.ids.kind == KernelIdsKind::kServer ||
        core::find_traceparent_in_head(event.data).has_value()) {
      remember(c.request_ids, ts, ids_for_request(event), limits_.max_contexts_per_connection);
    }
  } else {
    // The answer is being written: the thread is done with this request.
    close_request(c);
  }
}

void ConnectionTracker::detect_protocol(Connection& c, const SocketEvent& event, bool ingress) {
  // Only the client side: a traced database server's own spans would add nothing its clients'
  // do not show. HTTP/1.x that has parsed stays HTTP/1.x.
  const http1::MatchCounters& m = c.matcher->counters();
  if (c.matcher->role() == http1::Role::kServer || m.requests + m.responses > 0 ||
      ++c.detect_chunks > limits_.max_detect_chunks) {
    c.protocol_decided = true;
    return;
  }
  if (event.data.empty()) return;
  const protocols::DbProtocol protocol = protocols::detect_db_client(
      ingress ? protocols::Direction::kIngress : protocols::Direction::kEgress, event.data);
  if (protocol == protocols::DbProtocol::kNone) return;
  protocols::DbMatchOptions options = limits_.db;
  if (protocol == protocols::DbProtocol::kKafka) {
    std::shared_ptr<protocols::kafka::TopicNames>& names = kafka_topic_names_[c.key.pid];
    if (!names) names = std::make_shared<protocols::kafka::TopicNames>();
    options.kafka_topic_names = names;
  }
  c.db = protocols::make_db_matcher(
      protocol, [this, conn = &c](protocols::DbCall&& call) { on_db_call(*conn, std::move(call)); },
      options, c.from_start && c.detect_chunks == 1);
  c.protocol_decided = true;
}

void ConnectionTracker::detect_http2(Connection& c, const SocketEvent& event, bool ingress) {
  // Only connections seen from their start: HPACK state cannot be picked up mid-stream. The
  // client's side speaks first (bar the server's held writes): a server reads it, a client
  // writes it.
  const bool client = c.opened_as == http1::Role::kClient;
  if (c.opened_as == http1::Role::kUnknown) {
    c.client_bytes_seen = true;
    return;
  }
  if (ingress == client) return;  // the server's side: not yet the client's first bytes
  c.client_bytes_seen = true;
  std::vector<Connection::HeldChunk> held = std::move(c.held);
  c.held.clear();
  if (http2::starts_with_client_preface(event.data)) {
    c.h2 = std::make_unique<http2::ConnectionMatcher>(
        client ? http2::Role::kClient : http2::Role::kServer,
        [this, conn = &c](http2::Exchange&& e) { on_h2_exchange(*conn, std::move(e)); },
        limits_.h2);
    if (!client) {
      c.h2->set_observer(
          {[this, conn = &c](const http2::Exchange& e) { on_h2_request(*conn, e); },
           [this, conn = &c](uint32_t stream_id) { on_h2_response(*conn, stream_id); }});
    }
    c.protocol_decided = true;
  }
  // What the server wrote first goes where the rest of its bytes go.
  for (const Connection::HeldChunk& h : held) {
    const protocols::Chunk chunk{h.bytes, h.length, h.ts, h.length_only};
    if (c.h2) {
      c.h2->feed(protocols::Direction::kEgress, chunk);
    } else {
      c.matcher->feed(protocols::Direction::kEgress, chunk);
    }
  }
}

ConnectionTracker::SpanIds ConnectionTracker::h2_request_ids(const http2::Request& request) {
  // The kernel makes no ids for HTTP/2 requests: continue the caller's traceparent, if any.
  if (auto incoming = core::parse_traceparent(request.traceparent)) {
    return {{incoming->trace_id, core::SpanId::random()},
            incoming->span_id,
            IdsSource::kAdopted,
            request.tracestate};
  }
  return {new_root_context(), {}, IdsSource::kLocal, ""};
}

void ConnectionTracker::on_h2_request(Connection& c, const http2::Exchange& exchange) {
  if (c.h2_streams.size() >= std::max<size_t>(limits_.h2.max_streams, 1)) {
    // The matcher dropped its oldest stream too.
    if (c.h2_streams.front().serving) remove_serving(c.h2_streams.front().tid, c.key);
    c.h2_streams.erase(c.h2_streams.begin());
  }
  SpanIds ids = h2_request_ids(exchange.request);
  if (std::optional<SpanIds> kernel = take_stream_ids(c, exchange.stream_id)) {
    if (kernel->parent_id.valid() && kernel->parent_id == ids.parent_id) {
      kernel->trace_state = std::move(ids.trace_state);
    }
    ids = std::move(*kernel);
  }
  Connection::OpenStream stream{exchange.stream_id, std::move(ids), feeding_tid_, false};
  stream.serving = add_serving(feeding_tid_, c.key);
  c.h2_streams.push_back(std::move(stream));
}

void ConnectionTracker::on_h2_response(Connection& c, uint32_t stream_id) {
  // The answer is being written: the thread is done with this request.
  for (Connection::OpenStream& stream : c.h2_streams) {
    if (stream.id == stream_id && stream.serving) {
      remove_serving(stream.tid, c.key);
      stream.serving = false;
    }
  }
}

void ConnectionTracker::on_stream_ids(Connection& c, const SocketEvent& event) {
  const bool server = event.direction == Direction::kIngress;
  const bool server_side =
      c.h2 ? c.h2->role() == http2::Role::kServer : c.opened_as == http1::Role::kServer;
  if (server != server_side || (!c.h2 && c.protocol_decided)) {
    ++counters_.h2_kernel_stream_ids_unmatched;
    return;
  }
  const KernelSpanIds& k = event.ids;
  SpanIds ids{{k.trace_id, k.span_id}, k.parent_span_id, IdsSource::kKernel, ""};
  if (server) {
    // Its request was read before grpc-go could see its headers: the open stream takes the ids
    // (the goroutines serving it carry them into their calls).
    auto open = std::find_if(c.h2_streams.begin(), c.h2_streams.end(),
                             [&](const Connection::OpenStream& s) { return s.id == event.stream_id; });
    if (open != c.h2_streams.end()) {
      // The first ids a stream got are the ones its goroutines carry (a later HEADERS frame of
      // the same stream, trailers, starts no goroutine).
      if (open->ids.source == IdsSource::kKernel) return;
      if (ids.parent_id.valid() && ids.parent_id == open->ids.parent_id) {
        ids.trace_state = open->ids.trace_state;
      }
      open->ids = std::move(ids);
      return;
    }
  }
  // A client's stream (its headers not yet written), or a server's whose headers were not yet
  // read here; the first ids for a stream stay.
  if (std::any_of(c.stream_ids.begin(), c.stream_ids.end(),
                  [&](const auto& s) { return s.first == event.stream_id; })) {
    return;
  }
  if (c.stream_ids.size() >= std::max<size_t>(limits_.h2.max_streams, 1)) {
    c.stream_ids.pop_front();
    ++counters_.h2_kernel_stream_ids_unmatched;
  }
  c.stream_ids.emplace_back(event.stream_id, std::move(ids));
}

std::optional<ConnectionTracker::SpanIds> ConnectionTracker::take_stream_ids(Connection& c,
                                                                             uint32_t stream_id) {
  auto it = std::find_if(c.stream_ids.begin(), c.stream_ids.end(),
                         [&](const auto& s) { return s.first == stream_id; });
  if (it == c.stream_ids.end()) return std::nullopt;
  SpanIds ids = std::move(it->second);
  c.stream_ids.erase(it);
  return ids;
}

void ConnectionTracker::on_h2_exchange(Connection& c, http2::Exchange&& exchange) {
  const bool server = c.h2->role() == http2::Role::kServer;
  TrackedExchange t = exchange_on(c, server ? http1::Role::kServer : http1::Role::kClient);
  t.h2 = &exchange;
  SpanIds ids;  // outlives the sink call: t.trace_state views its string
  if (server) {
    // The ids chosen when its request was read (calls made meanwhile name them).
    auto open = std::find_if(c.h2_streams.begin(), c.h2_streams.end(),
                             [&](const Connection::OpenStream& s) { return s.id == exchange.stream_id; });
    ids = open != c.h2_streams.end() ? open->ids : h2_request_ids(exchange.request);
    if (open != c.h2_streams.end()) {
      if (open->serving) remove_serving(open->tid, c.key);
      c.h2_streams.erase(open);
    }
    t.context = ids.context;
    t.parent_id = ids.parent_id;
    t.trace_state = ids.trace_state;
    if (t.parent_id.valid()) ++counters_.adopted_traceparent;
    t.local_caller = has_local_caller(c);
  } else if (std::optional<SpanIds> kernel = take_stream_ids(c, exchange.stream_id)) {
    // Go: the goroutine that made the call had a context (grpc-go's NewStream).
    ids = std::move(*kernel);
    t.context = ids.context;
    t.parent_id = ids.parent_id;
  } else {
    // The request the writing thread served when the stream's headers were written, if only one
    // (streams started in one write share the stored ids).
    child_of_call_ids(t, find_at(c.call_ids, exchange.start_ns));
  }
  if (ids.source == IdsSource::kKernel) {
    ++counters_.kernel_ids;
    ++counters_.h2_kernel_stream_ids;
  }
  ++counters_.exchanges;
  ++counters_.h2_exchanges;
  sink_(t);
}

void ConnectionTracker::child_of_call_ids(TrackedExchange& t, const SpanIds* ids) {
  if (ids == nullptr || ids->source == IdsSource::kAmbiguous || !ids->parent_id.valid()) {
    if (ids != nullptr && ids->source == IdsSource::kAmbiguous) ++counters_.ambiguous_parents;
    t.context = new_root_context();
    return;
  }
  // A span id of its own: the stored ids may be shared by several calls of one write.
  t.context = {ids->context.trace_id, core::SpanId::random()};
  t.parent_id = ids->parent_id;
  t.trace_state = ids->trace_state;
  ++counters_.children;
}

void ConnectionTracker::on_db_call(Connection& c, protocols::DbCall&& call) {
  TrackedExchange t = exchange_on(c, http1::Role::kClient);
  t.db_call = &call;
  SpanIds stored;
  // Pipelined commands written at once share their first chunk, and so its ids' parent.
  child_of_call_ids(t, take(c.call_ids, call.start_ns, stored, /*keep=*/true));
  ++counters_.db_calls;
  sink_(t);
}

void ConnectionTracker::on_exchange(Connection& c, http1::Exchange&& exchange) {
  TrackedExchange t = exchange_on(c, c.matcher->role());
  t.exchange = &exchange;
  SpanIds stored;
  const bool server = t.role == http1::Role::kServer;
  const SpanIds* ids = take(server ? c.request_ids : c.call_ids, exchange.request.start_ns, stored);
  if (ids == nullptr) {
    t.context = new_root_context();
  } else if (ids->source == IdsSource::kAmbiguous) {
    t.context = new_root_context();
    ++counters_.ambiguous_parents;
  } else {
    t.context = ids->context;
    t.parent_id = ids->parent_id;
    t.trace_state = ids->trace_state;
    if (ids->source == IdsSource::kKernel) ++counters_.kernel_ids;
    if (server && t.parent_id.valid()) ++counters_.adopted_traceparent;
    if (!server && t.parent_id.valid()) ++counters_.children;
  }
  if (server) t.local_caller = has_local_caller(c);
  ++counters_.exchanges;
  sink_(t);
}

TrackedExchange ConnectionTracker::exchange_on(const Connection& c, http1::Role role) {
  TrackedExchange t;
  t.pid = c.key.pid;
  t.fd = c.key.fd;
  t.role = role;
  t.local = c.local;
  t.remote = c.remote;
  t.tls = c.tls;
  t.unix_connection = c.unix_connection;
  return t;
}

bool ConnectionTracker::has_local_caller(const Connection& c) const {
  if (c.local.is_unix()) return c.unix_peer_followed;
  return client_ends_.contains(tuple_key(c.remote, c.local));
}

void ConnectionTracker::evict_idle(uint64_t now_ns) {
  if (now_ns < limits_.idle_timeout_ns) return;
  const uint64_t cutoff = now_ns - limits_.idle_timeout_ns;
  // Events from different CPUs are nearly, not strictly, in time order: scan the whole tail.
  std::vector<Key> idle;
  for (auto it = lru_.rbegin(); it != lru_.rend(); ++it) {
    if (connections_.at(*it)->last_ns < cutoff) idle.push_back(*it);
  }
  for (const Key& key : idle) {
    ++counters_.evicted_idle;
    end(connections_.find(key), /*closed=*/false);
  }
}

void ConnectionTracker::forget_process(uint32_t pid) {
  std::vector<Key> gone;
  for (const auto& [key, c] : connections_) {
    if (key.pid == pid) gone.push_back(key);
  }
  for (const Key& key : gone) end(connections_.find(key), /*closed=*/true);
  kafka_topic_names_.erase(pid);
}

ConnectionTrackerCounters ConnectionTracker::counters() const {
  ConnectionTrackerCounters total = counters_;
  for (const auto& [key, c] : connections_) {
    const http1::MatchCounters& m = c->matcher->counters();
    total.http_invalid += m.invalid;
    total.http_truncated += m.truncated;
    total.unmatched_requests += m.unmatched_requests;
    total.unmatched_responses += m.unmatched_responses;
    if (m.not_http) ++total.not_http;
    if (c->db) add_db_counters(total, c->db->counters());
    if (c->h2) add_h2_counters(total, c->h2->counters());
  }
  return total;
}

}  // namespace hodos::agent
