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
//
// With release_settled, a span leaves as soon as nothing can change it any more: a join only ever
// rewrites the trace of a root SERVER span that finds its caller (and the traces joined into it),
// so a span whose trace's root has been seen, is not such a span still waiting, and is not joined
// into a trace that still is, goes at once; the rest wait as before.
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
  // Release the spans of settled traces at once instead of after `wait` (see above).
  bool release_settled = false;
};

struct StitchStats {
  uint64_t stitched = 0;          // server spans joined to their caller
  uint64_t ambiguous = 0;         // server spans more than one client span could have called
  uint64_t unmatched = 0;         // root server spans with connection attributes and no caller seen
  uint64_t spans_rewritten = 0;   // spans moved into another trace (the stitched ones included)
  uint64_t released_early = 0;    // spans released before `wait` because max_spans was reached
  uint64_t released_settled = 0;  // spans released before `wait` because their trace was settled
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
  // What matching needs of a client span: kept apart from the span, which may be released (its
  // trace settled) while it can still be a late server span's caller.
  struct ClientEnd {
    size_t batch;  // sequence number of the batch it came in: forgotten when that one is due
    core::TraceId trace_id;
    core::SpanId span_id;
    uint64_t start_ns, end_ns;
  };
  struct Held {
    size_t seq;
    Clock::time_point since;
    core::SpanBatch batch;          // what is left of it (release_settled takes spans out early)
    std::vector<std::string> keys;  // the connections its client and server spans are on
    std::vector<core::TraceId> traces;  // with release_settled: the traces of its spans
  };
  // The spans seen on one connection, "client ip:port>server ip:port".
  struct Connection {
    std::vector<ClientEnd> clients;  // not yet anyone's caller
    std::vector<SpanRef> servers;    // root server spans waiting for their caller
  };
  // With release_settled: what is known of the root of a trace with spans held (or seen lately).
  // Children come first, as they end first; a root SERVER span waiting for its caller may still
  // move the trace.
  struct TraceState {
    bool root_seen = false;
    uint32_t waiting = 0;  // its root server spans waiting for their caller
    size_t last_seq = 0;   // the newest held batch with a span of it: forgotten when that is due
  };

  core::Span& span(const SpanRef& ref);
  void index_batch(Held& held, std::vector<std::string>& touched);
  // Joins the pairs of `connection` that are certain; with `final_for`, also settles the server
  // spans of that batch within the clock skew and counts the ones left.
  void match(Connection& connection, const size_t* final_for, Clock::time_point now);
  void join(core::Span& server, const ClientEnd& client, Clock::time_point now);
  core::TraceId resolve(const core::TraceId& trace) const;
  void forget_expired(Clock::time_point now);
  // Marks the root of `trace` as no longer waiting.
  void settle(const core::TraceId& trace);
  // Whether nothing can change the spans of `trace` any more.
  bool settled(const core::TraceId& trace) const;
  // Moves the spans of settled traces out of the held batches that are not due yet.
  void release_settled(std::vector<core::SpanBatch>& out);
  // Gives released spans the trace they were joined into.
  void rewrite_traces(std::vector<core::Span>& spans);

  StitchOptions options_;
  std::deque<Held> held_;
  size_t next_seq_ = 0;
  size_t held_spans_ = 0;
  std::unordered_map<std::string, Connection> connections_;
  std::unordered_map<core::TraceId, TraceState> traces_;  // only with release_settled
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
