// What the database, cache and queue protocols (postgres/, mysql/, redis/, kafka/) share: the call a client made
// and its answer, as a CLIENT span with the OpenTelemetry database conventions needs it, and the
// matcher interface the agent feeds a client connection's chunks to. The traced process is always
// the client: its writes (egress) are requests, its reads (ingress) are responses.
//
// Privacy: nothing here may carry a literal value unless DbMatchOptions::keep_literals is set.
// Query text is sanitized (sql/sanitize.h; Redis arguments become ?), bound parameters are never
// read, and error messages (which quote the offending values) are never kept: only their codes.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "protocols/stream.h"

namespace hodos::protocols {

namespace kafka {
class TopicNames;
}

struct DbCall {
  std::string_view system;     // db.system.name: "postgresql", "mysql", "redis"; or
                               // messaging.system: "kafka" (static strings)
  std::string namespace_name;  // db.namespace: the database, or Redis's index; empty when unknown
  std::string operation;       // db.operation.name: "SELECT", "GET"; empty when not known
  std::string collection;      // db.collection.name: the one table a statement names, else empty
  std::string query_text;      // db.query.text, sanitized; cut at DbMatchOptions::max_query_text
  std::string status_code;     // db.response.status_code: SQLSTATE, MySQL error number, Redis
                               // error prefix ("WRONGTYPE"); empty on success
  bool error = false;          // the server answered with an error
  bool truncated = false;      // the capture missed bytes of the request or of its answer
  uint32_t batch_size = 0;     // db.operation.batch.size: statements or commands sent as one
                               // (a Redis MULTI/EXEC, a multi-statement query); 0 when single
  uint64_t start_ns = 0;       // timestamp of the chunk holding the request's first byte
  uint64_t end_ns = 0;         // timestamp of the chunk holding the answer's last byte

  // Messaging systems (system "kafka"): operation is "send" or "poll"; the rest of the query
  // fields stay empty.
  std::string destination;     // messaging.destination.name: the one topic; empty when several
  std::string partition;       // messaging.destination.partition.id, when exactly one
  int64_t message_count = -1;  // messaging.batch.message_count; -1 when not known
  int64_t offset = -1;         // messaging.kafka.offset: a send's base offset to one partition
  std::string client_id;       // messaging.client.id
};

struct DbMatchOptions {
  bool keep_literals = false;     // `agent.capture.db_literals`: query text as sent
  size_t max_query_text = 2048;   // longer text is cut (at a UTF-8 boundary) and ends with "..."
  size_t max_pending_requests = 256;  // pipelined requests awaiting answers; the oldest goes
  // Kafka: the topic names of the process's topic ids, learnt from Metadata answers on any of its
  // connections (Fetch and Produce v13+ name topics by id); null: ids stay unnamed.
  std::shared_ptr<kafka::TopicNames> kafka_topic_names;
};

struct DbMatchCounters {
  uint64_t requests = 0;             // requests parsed
  uint64_t calls = 0;                // requests matched with their answer and handed to the sink
  uint64_t invalid = 0;              // bytes that did not parse where a message should start
  uint64_t truncated = 0;            // messages the capture cut, or whose start it missed
  uint64_t unmatched_requests = 0;   // never answered (or their answer was lost)
  uint64_t unmatched_responses = 0;  // answers to requests that were never seen
  uint64_t skipped_bytes = 0;        // not parsed: uncaptured, or passed over while resyncing
  bool gave_up = false;              // stopped: TLS negotiated, or lost beyond recovery
};

// The client side of one connection. Chunks of one direction come in order; the two directions
// interleave by time. Feeding is cheap when nothing completes: no allocation per chunk beyond
// what a message that spans chunks must keep.
class DbMatcher {
 public:
  using Sink = std::function<void(DbCall&&)>;
  virtual ~DbMatcher() = default;

  virtual void feed(Direction direction, const Chunk& chunk) = 0;
  // The connection closed or stopped being tracked: requests still waiting are counted unmatched.
  virtual void close() = 0;
  // False once the matcher stopped (closed, or gave up).
  virtual bool active() const = 0;
  virtual const DbMatchCounters& counters() const = 0;
  // The matcher for this connection's plaintext once it switched to TLS (read from the TLS
  // library), when the session goes on where it stopped (MySQL: the handshake response again,
  // then the commands); nullptr when it starts over with a message detection knows (PostgreSQL's
  // start-up message).
  virtual std::unique_ptr<DbMatcher> continue_in_tls(Sink /*sink*/) const { return nullptr; }
};

}  // namespace hodos::protocols
