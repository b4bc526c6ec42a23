// Derives service dependency edges (parent service -> child service) at ingest from the
// parent/child links of spans, remembering recent spans and orphaned children in bounded tables.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace hodos::store {

class DependencyTracker {
 public:
  // Services are small integers assigned by the caller (an interned service name).
  struct SpanRef {
    uint64_t span_id = 0;
    uint64_t parent_span_id = 0;  // 0 for a root
    uint32_t service = 0;
    uint32_t minute = 0;  // the child's start minute (Unix minutes): the edge's time
    bool error = false;   // the child's status is an error
  };
  struct Edge {
    uint32_t parent_service;
    uint32_t child_service;
    uint32_t minute;
    bool error;
  };

  // `capacity` bounds the recent-span table; the pending table holds a quarter of that. Both are
  // set-associative tables allocated once, so memory stays fixed whatever the traffic.
  explicit DependencyTracker(size_t capacity = 1 << 20);

  // Records the spans of one batch and appends every edge they complete, whether the parent came
  // in this batch, an earlier one, or (for a child seen earlier) is one of these spans. A span
  // whose id is still remembered from before (a sender's retry of a request that got through)
  // completes no edge again; `repeated`, if given, gets 1 for it and 0 for the others. Not
  // thread-safe: the store calls it under its ingest lock.
  void observe(std::span<const SpanRef> spans, std::vector<Edge>* edges,
               std::vector<uint8_t>* repeated = nullptr);

 private:
  static constexpr size_t kWays = 4;
  struct Recent {
    uint64_t span_id = 0;
    uint32_t service = 0;
    uint32_t stamp = 0;
  };
  struct Pending {
    uint64_t parent_span_id = 0;
    uint32_t child_service = 0;
    uint32_t minute = 0;
    uint32_t stamp = 0;
    bool error = false;
  };

  size_t set_of(uint64_t id, size_t sets) const;
  void remember(uint64_t span_id, uint32_t service);
  bool lookup(uint64_t span_id, uint32_t* service) const;
  void add_pending(const SpanRef& child);
  void resolve_pending(uint64_t span_id, uint32_t service, std::vector<Edge>* edges);

  std::vector<Recent> recent_;
  std::vector<Pending> pending_;
  size_t recent_sets_;
  size_t pending_sets_;
  uint32_t stamp_ = 0;
};

}  // namespace hodos::store
