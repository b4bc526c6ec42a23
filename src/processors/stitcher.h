// Joins traces across services where no trace context travelled with the request: the CLIENT span
// of a call and the SERVER span that answered it are two ends of one TCP connection, so the
// client's local address:port is the server's peer address:port (and the reverse), and the server
// span lies inside the client span's time window. A root SERVER span matched this way becomes the
// child of the CLIENT span, and every span of its trace moves into the caller's trace.
//
// The engine behind the `stitch` processor (processors/stitch.h): it holds batches for a while,
// since a client span ends (and arrives) after the server span it waits for, and rewrites them in
// place before they are released. It never guesses: a server span that two client spans could
// have called stays in its own trace, and is counted.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/ids.h"
#include "core/span_batch.h"

namespace hodos::processors {

struct StitchOptions {
  // How long a batch is held for its server spans to meet their client spans.
  std::chrono::milliseconds wait{2000};
  // How far the clocks of two hosts may disagree: a server span may start this much before its
  // client span or end this much after it. Only used when no client span contains the server span
  // exactly (the same host has one clock).
  std::chrono::milliseconds clock_skew{50};
  // Spans held at most; past it the oldest batches are released early.
  size_t max_spans = 200'000;
  // How long a trace id that was joined to another trace keeps being rewritten, for its late spans.
  std::chrono::milliseconds remember{60'000};
};

struct StitchStats {
  uint64_t stitched = 0;          // server spans joined to their caller
  uint64_t ambiguous = 0;         // server spans more than one client span could have called
  uint64_t unmatched = 0;         // root server spans with connection attributes and no caller seen
  uint64_t spans_rewritten = 0;   // spans moved into another trace (the stitched ones included)
  uint64_t released_early = 0;    // spans released before `wait` because max_spans was reached
};

class Stitcher {
 public:
  using Clock = std::chrono::steady_clock;

  explicit Stitcher(StitchOptions options) : options_(options) {}

  // Holds `batch` from `now`.
  void add(core::SpanBatch batch, Clock::time_point now);
  // Matches what can be matched and returns the batches held for `wait` (all of them when
  // `everything`), rewritten.
  std::vector<core::SpanBatch> release(Clock::time_point now, bool everything = false);

  size_t held_spans() const { return held_spans_; }
  const StitchStats& stats() const { return stats_; }

 private:
  struct SpanRef {
    size_t batch;  // sequence number of the held batch
    size_t index;  // in its spans()
  };
  struct Held {
    size_t seq;
    Clock::time_point since;
    core::SpanBatch batch;
    std::vector<std::string> keys;  // the connections its client and server spans are on
  };
  // The spans seen on one connection, "client ip:port>server ip:port".
  struct Connection {
    std::vector<SpanRef> clients;  // not yet anyone's caller
    std::vector<SpanRef> servers;  // root server spans waiting for their caller
  };

  core::Span& span(const SpanRef& ref);
  void index_batch(Held& held, std::vector<std::string>& touched);
  // Joins the pairs of `connection` that are certain; with `final_for`, also settles the server
  // spans of that batch within the clock skew and counts the ones left.
  void match(Connection& connection, const size_t* final_for, Clock::time_point now);
  void join(core::Span& server, const core::Span& client, Clock::time_point now);
  core::TraceId resolve(const core::TraceId& trace) const;
  void forget_expired(Clock::time_point now);

  StitchOptions options_;
  std::deque<Held> held_;
  size_t next_seq_ = 0;
  size_t held_spans_ = 0;
  std::unordered_map<std::string, Connection> connections_;
  struct Joined {
    core::TraceId into;
    Clock::time_point at;
  };
  std::unordered_map<core::TraceId, Joined> joined_;  // old trace id -> the caller's
  // The joins in time order, so that forgetting the expired ones does not scan them all.
  std::deque<std::pair<Clock::time_point, core::TraceId>> join_order_;
  StitchStats stats_;
};

}  // namespace hodos::processors
