// A batch of spans and the arenas that own their data; the unit that flows through the pipeline.
// Moving a batch is cheap; merging moves arena ownership along with the spans, splitting shares it.
#pragma once

#include <memory>
#include <vector>

#include "core/arena.h"
#include "core/span.h"

namespace hodos::core {

class SpanBatch {
 public:
  SpanBatch() = default;
  SpanBatch(SpanBatch&&) noexcept = default;
  SpanBatch& operator=(SpanBatch&&) noexcept = default;
  SpanBatch(const SpanBatch&) = delete;
  SpanBatch& operator=(const SpanBatch&) = delete;

  // The arena that new data for this batch goes into. It is never shared with another batch, so
  // one thread may write while others read split-off halves.
  Arena& arena();

  std::vector<Span>& spans() { return spans_; }
  const std::vector<Span>& spans() const { return spans_; }
  size_t size() const { return spans_.size(); }
  bool empty() const { return spans_.empty(); }

  Resource* new_resource() { return arena().make<Resource>(); }
  Scope* new_scope() { return arena().make<Scope>(); }

  // Moves all spans of `other` to the end of this batch, keeping their arenas alive.
  void append(SpanBatch&& other);
  // A second batch with the same spans, sharing this batch's arenas (for fan-out to consumers
  // that do not edit spans in place).
  SpanBatch share();
  // Removes the first `n` spans into a new batch that shares this batch's arenas.
  SpanBatch take_front(size_t n);
  // A copy that shares nothing with this batch (for fan-out to consumers that edit spans).
  SpanBatch deep_copy() const;
  // Bytes held by this batch's arenas (shared ones counted in full): the memory limiter's input.
  size_t arena_bytes() const;

 private:
  std::vector<std::shared_ptr<Arena>> arenas_;
  bool last_arena_exclusive_ = false;
  std::vector<Span> spans_;
};

// Copies one span with all its data into `arena`, re-homing resource and scope as given.
Span copy_span(Arena& arena, const Span& span, const Resource* resource, const Scope* scope);

}  // namespace hodos::core
