// Turns the socket events of traced processes into HTTP/1.x and HTTP/2 exchanges (gRPC included)
// and database calls, one connection at a time: per (pid, fd) the 4-tuple, which side the process
// is, and the matcher of the protocol it speaks (HTTP/2 when the client's first bytes are its
// preface; for a connection the process made, PostgreSQL, MySQL or Redis when its first bytes say
// so: protocols/db_detect.h; else HTTP/1.x); and per
// thread the server requests it is serving, so that a client call made meanwhile on that thread
// becomes a child of the one it serves (never a guess when it serves several at once). Ids the
// kernel chose for a span are used as they are; a request's incoming `traceparent` is continued.
// Memory is bounded: least recently used and idle connections are evicted.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "agent/socket_probe.h"
#include "core/ids.h"
#include "protocols/db_call.h"
#include "protocols/db_detect.h"
#include "protocols/http1/match.h"
#include "protocols/http2/match.h"
#include "protocols/kafka/match.h"

namespace hodos::agent {

struct SpanContext {
  core::TraceId trace_id;
  core::SpanId span_id;
  bool valid() const { return trace_id.valid() && span_id.valid(); }
};

// One matched request/response of a traced process, with the ids its span gets: an HTTP/1.x
// exchange, an HTTP/2 stream (then `h2` is set instead), or a database call (then `db_call` is
// set and role is kClient). Valid only during the sink call that receives it.
struct TrackedExchange {
  uint32_t pid = 0;
  int32_t fd = -1;
  protocols::http1::Role role = protocols::http1::Role::kUnknown;  // kServer or kClient
  SocketEndpoint local;
  SocketEndpoint remote;
  const protocols::http1::Exchange* exchange = nullptr;
  const protocols::DbCall* db_call = nullptr;
  const protocols::http2::Exchange* h2 = nullptr;
  SpanContext context;     // this span's trace and span id
  core::SpanId parent_id;  // zero for a root span
  std::string_view trace_state;  // the W3C tracestate of a continued trace (a call: its request's)
  // Read from a TLS library's plaintext (the connection's bytes on the wire are encrypted).
  bool tls = false;
  // Server exchanges: whether a traced client connection is the other end of this one (the
  // client connects, and writes its request, before the server can answer it).
  bool local_caller = false;
  // Over a Unix socket: the client socket's inode, the same at both ends (the stitch stage pairs
  // the two spans of one connection by it); 0 otherwise.
  uint64_t unix_connection = 0;
};

struct ConnectionTrackerLimits {
  size_t max_connections = 16384;                   // beyond: the least recently used goes
  uint64_t idle_timeout_ns = 300ull * 1000000000;   // evict_idle() drops connections quieter
  size_t max_threads = 65536;                       // threads with open server requests
  size_t max_contexts_per_connection = 64;          // ids kept for requests not yet answered
  protocols::http1::MatchLimits match;
  protocols::DbMatchOptions db;
  protocols::http2::MatchLimits h2;
  // Chunks of a connection the process made that are looked at for a database protocol before
  // it is taken to be HTTP/1.x (or nothing known) for good.
  uint32_t max_detect_chunks = 8;
};

struct ConnectionTrackerCounters {
  uint64_t events = 0;
  uint64_t connections_opened = 0;  // accepted, connected, or first seen mid-stream
  uint64_t connections_closed = 0;
  uint64_t fd_reused = 0;           // an fd came back with another 4-tuple: the close was missed
  uint64_t late_closes = 0;         // a close seen after its fd's reuse: ignored
  uint64_t evicted_capacity = 0;
  uint64_t evicted_idle = 0;
  uint64_t exchanges = 0;
  uint64_t children = 0;            // client exchanges that got a parent on their thread
  // Client exchanges written by a thread serving more than one request at that moment (an event
  // loop): left as roots, since which request called is not known.
  uint64_t ambiguous_parents = 0;
  uint64_t adopted_traceparent = 0;  // server exchanges continuing an incoming traceparent
  uint64_t kernel_ids = 0;           // exchanges whose ids the kernel chose (thread-context mode)
  uint64_t not_http = 0;            // connections the matcher gave up on
  // TLS: connections whose plaintext came from a TLS library, and the socket's own (encrypted)
  // bytes of such connections, not parsed.
  uint64_t tls_connections = 0;
  uint64_t tls_ciphertext_ignored = 0;
  // Summed over connections, live and gone (http1::MatchCounters).
  uint64_t http_invalid = 0;
  uint64_t http_truncated = 0;
  uint64_t unmatched_requests = 0;
  uint64_t unmatched_responses = 0;
  // Database and cache client connections (protocols/db_call.h), summed over all protocols.
  uint64_t db_connections = 0;       // connections recognised as one
  uint64_t db_calls = 0;             // calls matched with their answer (spans)
  uint64_t db_invalid = 0;
  uint64_t db_truncated = 0;
  uint64_t db_unmatched_requests = 0;
  uint64_t db_unmatched_responses = 0;
  uint64_t db_gave_up = 0;           // connections the matcher stopped on (TLS, lost framing)
  // HTTP/2 connections (h2c, or h2 in TLS plaintext) seen from their start, summed over them.
  uint64_t h2_connections = 0;
  uint64_t h2_exchanges = 0;         // streams made into spans (gRPC calls among them)
  uint64_t h2_unmatched = 0;         // streams without their response, or answers without a stream
  // Connections whose HTTP/2 could no longer be read: the capture missed bytes of a header block
  // or a frame header (HPACK state or framing gone), or bytes that broke the protocol.
  uint64_t h2_gave_up = 0;
  // Go (grpc-go uprobes, SocketEventKind::kStream): HTTP/2 streams whose span took the ids the
  // kernel gave them, and kernel ids for a stream never seen here (no such HTTP/2 connection or
  // stream, or the connection ended first).
  uint64_t h2_kernel_stream_ids = 0;
  uint64_t h2_kernel_stream_ids_unmatched = 0;
};

class ConnectionTracker {
 public:
  using Sink = std::function<void(const TrackedExchange&)>;

  explicit ConnectionTracker(Sink sink, ConnectionTrackerLimits limits = {});
  ~ConnectionTracker();
  ConnectionTracker(const ConnectionTracker&) = delete;
  ConnectionTracker& operator=(const ConnectionTracker&) = delete;

  // Events of one process must come in the order the kernel produced them.
  void on_event(const SocketEvent& event);
  // Drops connections with no event since `now_ns - idle_timeout` (same clock as the events).
  void evict_idle(uint64_t now_ns);
  // The process exited or is no longer traced: ends its connections (as if closed).
  void forget_process(uint32_t pid);

  size_t connection_count() const { return connections_.size(); }
  size_t active_thread_count() const { return serving_.size(); }
  // Counters of live connections are included.
  ConnectionTrackerCounters counters() const;

 private:
  struct Key {
    uint32_t pid;
    int32_t fd;
    friend bool operator==(const Key&, const Key&) = default;
    uint64_t packed() const {
      return (static_cast<uint64_t>(pid) << 32) | static_cast<uint32_t>(fd);
    }
    static Key unpack(uint64_t v) {
      return {static_cast<uint32_t>(v >> 32), static_cast<int32_t>(static_cast<uint32_t>(v))};
    }
  };
  struct KeyHash {
    size_t operator()(const Key& k) const noexcept { return std::hash<uint64_t>()(k.packed()); }
  };
  struct Connection;
  using Lru = std::list<Key>;  // most recently used first
  // Where a span's ids came from, kept with them until the exchange is complete.
  enum class IdsSource : uint8_t {
    kLocal,      // chosen here: a new root (server), a child of its thread's request (client)
    kKernel,     // chosen by the kernel program
    kAdopted,    // server: continues the traceparent the request brought
    kAmbiguous,  // client: its thread was serving several requests; a root
  };
  struct SpanIds {
    SpanContext context;
    core::SpanId parent_id;
    IdsSource source = IdsSource::kLocal;
    std::string trace_state;  // W3C tracestate that came with a continued trace
  };

  Connection* find_or_open(const SocketEvent& event, protocols::http1::Role role);
  Connection* open(const SocketEvent& event, protocols::http1::Role role);
  // `close_ns`: when a close was seen (0: not known, as for a process gone).
  void end(std::unordered_map<Key, std::unique_ptr<Connection>, KeyHash>::iterator it,
           bool closed, uint64_t close_ns = 0);
  void on_data(Connection& c, const SocketEvent& event);
  // The first plaintext of a TLS session on `c`: what was parsed so far was its handshake.
  void start_tls(Connection& c);
  void on_exchange(Connection& c, protocols::http1::Exchange&& exchange);
  // Until decided, whether `event` shows a database protocol; then its matcher takes over.
  void detect_protocol(Connection& c, const SocketEvent& event, bool ingress);
  // An exchange of `c` in `role`, with the connection's ends filled in.
  static TrackedExchange exchange_on(const Connection& c, protocols::http1::Role role);
  // Server side: whether a traced process on this host holds the client's end of `c`.
  bool has_local_caller(const Connection& c) const;
  void on_db_call(Connection& c, protocols::DbCall&& call);
  // A call that is not HTTP/1.x (database, HTTP/2 stream): the child of the request its writing
  // thread served (`ids`, stored when it was written), else a new root.
  void child_of_call_ids(TrackedExchange& t, const SpanIds* ids);
  // HTTP/2: whether the client's first bytes on `c` are the preface (then its matcher takes over),
  // and its streams as they end.
  void detect_http2(Connection& c, const SocketEvent& event, bool ingress);
  void on_h2_exchange(Connection& c, protocols::http2::Exchange&& exchange);
  // HTTP/2 server side: a stream's request was read (on feeding_tid_), its response started.
  void on_h2_request(Connection& c, const protocols::http2::Exchange& exchange);
  void on_h2_response(Connection& c, uint32_t stream_id);
  // The kernel's ids for one stream of `c` (a kStream event): its span's, when it is made.
  void on_stream_ids(Connection& c, const SocketEvent& event);
  // The kernel's ids for `stream_id` of `c`, taken (they serve one span); nullopt when none came.
  std::optional<SpanIds> take_stream_ids(Connection& c, uint32_t stream_id);
  static SpanIds h2_request_ids(const protocols::http2::Request& request);
  // One more (or one less) request `tid` serves, on the connection `key`; false when the table
  // of threads is full (then nothing is counted).
  bool add_serving(uint32_t tid, const Key& key);
  void remove_serving(uint32_t tid, const Key& key);
  static void add_h2_counters(ConnectionTrackerCounters& total,
                              const protocols::http2::MatchCounters& m);
  // The one request thread `tid` is serving on a connection other than `c`, if exactly one.
  const SpanIds* served_by(uint32_t tid, const Connection& c) const;
  // The ids of a server request whose first bytes `event` read.
  SpanIds ids_for_request(const SocketEvent& event) const;
  // What a client request written by `event` on `c` gets; nullopt: a root, nothing to keep.
  std::optional<SpanIds> ids_for_call(const Connection& c, const SocketEvent& event) const;
  void open_request(Connection& c, uint32_t tid, const SpanIds& ids);
  void close_request(Connection& c);
  void fold_counters(const protocols::http1::MatchCounters& m);
  static void add_db_counters(ConnectionTrackerCounters& total,
                              const protocols::DbMatchCounters& m, bool continued = false);
  // The index of client connections by their ends (local, remote).
  static std::string tuple_key(const SocketEndpoint& local, const SocketEndpoint& remote);
  void index_client(Connection& c);
  void unindex_client(Connection& c);

  Sink sink_;
  ConnectionTrackerLimits limits_;
  std::unordered_map<Key, std::unique_ptr<Connection>, KeyHash> connections_;
  // Per process: the Kafka topic names its Metadata answers gave, for its connections to every
  // broker (Fetch and Produce v13+ name topics by id).
  std::unordered_map<uint32_t, std::shared_ptr<protocols::kafka::TopicNames>> kafka_topic_names_;
  Lru lru_;
  // tid → the server requests that thread is serving: read by it, not yet answered, on any of
  // its connections (one at a time but for event loops). When exactly one is open, `key_sum` is
  // its connection's key: the sum of the open ones' packed keys (each counts once, while its
  // request is open), so that finding it costs no list per thread.
  struct Serving {
    uint32_t open = 0;
    uint64_t key_sum = 0;
  };
  std::unordered_map<uint32_t, Serving> serving_;
  uint32_t feeding_tid_ = 0;  // the thread whose event an HTTP/2 matcher is being fed
  // Client connections of traced processes by tuple_key -> how many (a forked child shares one).
  std::unordered_map<std::string, uint32_t> client_ends_;
  ConnectionTrackerCounters counters_;  // http_* and unmatched_* of gone connections only
};

}  // namespace hodos::agent
