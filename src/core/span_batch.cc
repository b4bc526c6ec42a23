#include "core/span_batch.h"

#include <unordered_map>

namespace hodos::core {

Arena& SpanBatch::arena() {
  if (!last_arena_exclusive_) {
    arenas_.push_back(std::make_shared<Arena>());
    last_arena_exclusive_ = true;
  }
  return *arenas_.back();
}

void SpanBatch::append(SpanBatch&& other) {
  if (spans_.empty() && arenas_.empty()) {
    *this = std::move(other);
    return;
  }
  // Keep our own writable arena last so that arena() stays exclusive.
  auto insert_at = last_arena_exclusive_ ? arenas_.end() - 1 : arenas_.end();
  arenas_.insert(insert_at, std::make_move_iterator(other.arenas_.begin()),
                 std::make_move_iterator(other.arenas_.end()));
  spans_.insert(spans_.end(), other.spans_.begin(), other.spans_.end());
  other.arenas_.clear();
  other.spans_.clear();
  other.last_arena_exclusive_ = false;
}

SpanBatch SpanBatch::take_front(size_t n) {
  SpanBatch front;
  n = std::min(n, spans_.size());
  front.arenas_ = arenas_;
  front.spans_.assign(spans_.begin(), spans_.begin() + static_cast<ptrdiff_t>(n));
  spans_.erase(spans_.begin(), spans_.begin() + static_cast<ptrdiff_t>(n));
  // Both now share every arena: the next write on either side opens a fresh one.
  last_arena_exclusive_ = false;
  return front;
}

SpanBatch SpanBatch::share() {
  SpanBatch copy;
  copy.arenas_ = arenas_;
  copy.spans_ = spans_;
  last_arena_exclusive_ = false;
  return copy;
}

Span copy_span(Arena& arena, const Span& s, const Resource* resource, const Scope* scope) {
  Span c = s;
  c.trace_state = arena.copy(s.trace_state);
  c.name = arena.copy(s.name);
  c.attributes = copy_attributes(arena, s.attributes);
  c.status.message = arena.copy(s.status.message);
  c.events = {};
  c.events.reserve(arena, s.events.size());
  for (const Event& e : s.events) {
    Event ce = e;
    ce.name = arena.copy(e.name);
    ce.attributes = copy_attributes(arena, e.attributes);
    c.events.push_back(arena, ce);
  }
  c.links = {};
  c.links.reserve(arena, s.links.size());
  for (const Link& l : s.links) {
    Link cl = l;
    cl.trace_state = arena.copy(l.trace_state);
    cl.attributes = copy_attributes(arena, l.attributes);
    c.links.push_back(arena, cl);
  }
  c.resource = resource;
  c.scope = scope;
  return c;
}

SpanBatch SpanBatch::deep_copy() const {
  SpanBatch out;
  Arena& arena = out.arena();
  std::unordered_map<const Resource*, const Resource*> resources;
  std::unordered_map<const Scope*, const Scope*> scopes;
  out.spans_.reserve(spans_.size());
  for (const Span& s : spans_) {
    auto [rit, rnew] = resources.try_emplace(s.resource, nullptr);
    if (rnew) {
      Resource* r = arena.make<Resource>();
      r->attributes = copy_attributes(arena, s.resource->attributes);
      r->dropped_attributes_count = s.resource->dropped_attributes_count;
      r->schema_url = arena.copy(s.resource->schema_url);
      rit->second = r;
    }
    auto [sit, snew] = scopes.try_emplace(s.scope, nullptr);
    if (snew) {
      Scope* sc = arena.make<Scope>();
      sc->name = arena.copy(s.scope->name);
      sc->version = arena.copy(s.scope->version);
      sc->attributes = copy_attributes(arena, s.scope->attributes);
      sc->dropped_attributes_count = s.scope->dropped_attributes_count;
      sc->schema_url = arena.copy(s.scope->schema_url);
      sit->second = sc;
    }
    out.spans_.push_back(copy_span(arena, s, rit->second, sit->second));
  }
  return out;
}

size_t SpanBatch::arena_bytes() const {
  size_t total = 0;
  for (const auto& a : arenas_) total += a->bytes_allocated();
  return total + spans_.capacity() * sizeof(Span);
}

}  // namespace hodos::core
