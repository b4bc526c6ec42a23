// Turns the captured reads and writes of one TCP connection into HTTP/1.x exchanges: one stream
// state machine per direction (heads, bodies by length or chunked coding, bytes the capture
// missed), and FIFO matching of responses to requests, which covers keep-alive and pipelining.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <string_view>

#include "protocols/http1/parse.h"
#include "protocols/http1/types.h"
#include "protocols/stream.h"

namespace hodos::protocols::http1 {

using Chunk = protocols::Chunk;
using Direction = protocols::Direction;

// Which side of the connection the traced process is. kUnknown decides from the first bytes:
// a direction whose first chunk starts with "HTTP/" carries responses.
enum class Role : uint8_t { kUnknown, kServer, kClient };

struct MatchLimits {
  size_t max_head_bytes = 32 * 1024;  // a head carried across chunks; longer ones are cut
  size_t max_pending_requests = 64;   // requests awaiting a response; the oldest is dropped
  uint32_t max_unsynced_invalid = 4;  // invalid chunks, both ways, before any message: not HTTP
};

struct MatchCounters {
  uint64_t requests = 0;             // request heads parsed
  uint64_t responses = 0;            // final response heads parsed
  uint64_t interim_responses = 0;    // 1xx before a final response
  uint64_t exchanges = 0;            // matched pairs handed to the sink
  uint64_t invalid = 0;              // malformed bytes after the stream had parsed HTTP
  uint64_t truncated = 0;            // messages the capture cut, or whose start it missed
  uint64_t unmatched_requests = 0;   // never answered (or their answer was lost)
  uint64_t unanswered_requests = 0;  // of those, a client's handed on at the close (no_response)
  uint64_t unmatched_responses = 0;  // answering a request that was never seen
  uint64_t skipped_bytes = 0;        // not parsed: uncaptured, or passed over while resyncing
  bool not_http = false;             // gave up: the connection does not speak HTTP/1.x
  bool upgraded = false;             // stopped at 101 Switching Protocols or a CONNECT tunnel
};

class ConnectionMatcher {
 public:
  using Sink = std::function<void(Exchange&&)>;

  ConnectionMatcher(Role role, Sink sink, MatchLimits limits = {});

  // Chunks of one direction must come in order; the two directions interleave by time.
  void feed(Direction direction, const Chunk& chunk);
  // The connection closed at `close_ns` (0: not known): ends a response delimited by close. A
  // client's requests still unanswered become exchanges with `no_response` set, ending at the
  // close (a reset or timed-out call is what a user opens a trace for); a server's are counted.
  void close(uint64_t close_ns = 0);
  // Tracking stops with the connection still open (evicted: idle or out of room): a message whose
  // body was still arriving, such as an error response whose body the client never read, is
  // handed on as incomplete rather than dropped.
  void abandon();

  // False once the connection stopped being parsed (closed, not HTTP, or upgraded).
  bool active() const { return !stopped_; }
  Role role() const { return role_; }
  const MatchCounters& counters() const { return counters_; }

 private:
  enum class Kind : uint8_t { kUnknown, kRequests, kResponses };
  void finish_all(bool closed, uint64_t close_ns);
  enum class State : uint8_t {
    kHead,         // expecting (the rest of) a head
    kBody,         // reading the body of the open message
    kLostChunked,  // the capture lost a chunked body's framing; the message is still open
    kResync,       // lost track: waiting for a chunk that starts a message
  };

  struct Stream {
    Kind kind = Kind::kUnknown;
    State state = State::kHead;
    bool lost = false;  // bytes were lost since the last head: realign on the next
    std::string head;   // a head that began in an earlier chunk
    uint64_t head_start_ns = 0;
    uint64_t last_ns = 0;  // timestamp of the latest chunk
    uint64_t body_remaining = 0;
    ChunkedDecoder chunked;
    uint16_t interim_status = 0;
    uint32_t unsynced_invalid = 0;  // invalid chunks before any head was parsed
    // The open message: a response lives here; a request lives in pending_ (found by seq),
    // with its body progress kept here too because it can be answered before it ends.
    Response response;
    BodyInfo request_body;
    uint64_t request_seq = 0;
    // Parse targets, reused to keep their header capacity.
    Request request_scratch;
    Response response_scratch;
  };

  struct PendingRequest {
    Request request;
    uint64_t seq = 0;
  };

  Stream& stream(Direction d) { return streams_[d == Direction::kEgress ? 0 : 1]; }
  void assign_kinds(Direction d, std::string_view first_bytes);
  void consume(Stream& s, std::string_view data, uint64_t ts);
  bool read_head(Stream& s, std::string_view* data, uint64_t ts);
  ParseState parse_head(Stream& s, std::string_view* view, uint64_t start_ns);
  void on_head(Stream& s, uint64_t start_ns, uint64_t ts);
  void read_body(Stream& s, std::string_view* data, uint64_t ts);
  void on_gap(Stream& s, uint64_t gap, uint64_t ts, bool length_only);
  void cut_head(Stream& s, std::string_view bytes, uint64_t ts);
  void on_invalid(Stream& s, uint64_t dropped_bytes);
  bool starts_message(Stream& s, std::string_view data);
  BodyInfo& open_body(Stream& s) {
    return s.kind == Kind::kRequests ? s.request_body : s.response.body;
  }
  void finish_message(Stream& s, uint64_t end_ns, bool complete);
  void finish_request(Stream& s, uint64_t end_ns, bool complete);
  void finish_response(Stream& s, uint64_t end_ns, bool complete);
  void sync_request(Stream& s, uint64_t end_ns);
  void push_request(Request& r);
  const Request* answered_request(Stream& s, uint64_t response_start_ns);
  void stop() { stopped_ = true; }

  Role role_;
  Sink sink_;
  MatchLimits limits_;
  MatchCounters counters_;
  Stream streams_[2];
  std::deque<PendingRequest> pending_;
  uint64_t next_seq_ = 0;
  bool synced_ = false;  // some head parsed: from now on garbage is resynchronised over
  bool stopped_ = false;
};

}  // namespace hodos::protocols::http1
