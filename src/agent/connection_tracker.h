// Turns the socket events of traced processes into HTTP/1.x exchanges, one connection at a time:
// per (pid, fd) the 4-tuple, which side the process is, and an http1::ConnectionMatcher; and per
// thread the server request it is serving, so that a client call made meanwhile on that thread
// becomes a child of it. Memory is bounded: least recently used and idle connections are evicted.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>

#include "agent/socket_probe.h"
#include "core/ids.h"
#include "protocols/http1/match.h"

namespace hodos::agent {

struct SpanContext {
  core::TraceId trace_id;
  core::SpanId span_id;
  bool valid() const { return trace_id.valid() && span_id.valid(); }
};

// One matched request/response of a traced process, with the ids its span gets. Valid only during
// the sink call that receives it.
struct TrackedExchange {
  uint32_t pid = 0;
  int32_t fd = -1;
  protocols::http1::Role role = protocols::http1::Role::kUnknown;  // kServer or kClient
  SocketEndpoint local;
  SocketEndpoint remote;
  const protocols::http1::Exchange* exchange = nullptr;
  SpanContext context;     // this span's trace and span id
  core::SpanId parent_id;  // zero for a root span
  // Server exchanges: whether a traced client connection is the other end of this one (the
  // client connects, and writes its request, before the server can answer it).
  bool local_caller = false;
};

struct ConnectionTrackerLimits {
  size_t max_connections = 16384;                   // beyond: the least recently used goes
  uint64_t idle_timeout_ns = 300ull * 1000000000;   // evict_idle() drops connections quieter
  size_t max_threads = 65536;                       // threads with an open server request
  size_t max_contexts_per_connection = 64;          // ids kept for requests not yet answered
  protocols::http1::MatchLimits match;
};

struct ConnectionTrackerCounters {
  uint64_t events = 0;
  uint64_t connections_opened = 0;  // accepted, connected, or first seen mid-stream
  uint64_t connections_closed = 0;
  uint64_t fd_reused = 0;           // an fd came back with another 4-tuple: the close was missed
  uint64_t evicted_capacity = 0;
  uint64_t evicted_idle = 0;
  uint64_t exchanges = 0;
  uint64_t children = 0;            // exchanges that got a parent on their thread
  uint64_t not_http = 0;            // connections the matcher gave up on
  // Summed over connections, live and gone (http1::MatchCounters).
  uint64_t http_invalid = 0;
  uint64_t http_truncated = 0;
  uint64_t unmatched_requests = 0;
  uint64_t unmatched_responses = 0;
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
  };
  struct KeyHash {
    size_t operator()(const Key& k) const noexcept {
      const uint64_t packed = (static_cast<uint64_t>(k.pid) << 32) | static_cast<uint32_t>(k.fd);
      return std::hash<uint64_t>()(packed);
    }
  };
  struct Connection;
  using Lru = std::list<Key>;  // most recently used first

  Connection* find_or_open(const SocketEvent& event, protocols::http1::Role role);
  Connection* open(const SocketEvent& event, protocols::http1::Role role);
  void end(std::unordered_map<Key, std::unique_ptr<Connection>, KeyHash>::iterator it,
           bool closed);
  void on_data(Connection& c, const SocketEvent& event);
  void on_exchange(Connection& c, protocols::http1::Exchange&& exchange);
  void fold_counters(const protocols::http1::MatchCounters& m);
  // The index of client connections by their ends (local, remote).
  static std::string tuple_key(const SocketEndpoint& local, const SocketEndpoint& remote);
  void index_client(Connection& c);
  void unindex_client(Connection& c);

  Sink sink_;
  ConnectionTrackerLimits limits_;
  std::unordered_map<Key, std::unique_ptr<Connection>, KeyHash> connections_;
  Lru lru_;
  // tid → the server request that thread is serving (from its read to its response).
  struct Serving {
    Key connection;
    SpanContext context;
  };
  std::unordered_map<uint32_t, Serving> serving_;
  // Client connections of traced processes by tuple_key -> how many (a forked child shares one).
  std::unordered_map<std::string, uint32_t> client_ends_;
  ConnectionTrackerCounters counters_;  // http_* and unmatched_* of gone connections only
};

}  // namespace hodos::agent
