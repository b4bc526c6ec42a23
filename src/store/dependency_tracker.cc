#include "store/dependency_tracker.h"

#include <algorithm>

namespace hodos::store {

namespace {
// splitmix64's finaliser: span ids are random in OTLP, but not from every sender.
uint64_t mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

size_t round_up_sets(size_t entries, size_t ways) {
  size_t sets = std::max<size_t>(1, entries / ways);
  size_t p = 1;
  while (p < sets) p <<= 1;
  return p;
}
}  // namespace

DependencyTracker::DependencyTracker(size_t capacity)
    : recent_sets_(round_up_sets(capacity, kWays)),
      pending_sets_(round_up_sets(capacity / 4, kWays)) {
  recent_.resize(recent_sets_ * kWays);
  pending_.resize(pending_sets_ * kWays);
}

size_t DependencyTracker::set_of(uint64_t id, size_t sets) const {
  return static_cast<size_t>(mix(id) & (sets - 1)) * kWays;
}

void DependencyTracker::remember(uint64_t span_id, uint32_t service) {
  Recent* set = &recent_[set_of(span_id, recent_sets_)];
  Recent* victim = set;
  for (size_t i = 0; i < kWays; ++i) {
    if (set[i].span_id == span_id || set[i].span_id == 0) {
      victim = &set[i];
      break;
    }
    if (set[i].stamp < victim->stamp) victim = &set[i];  // the least recently written
  }
  *victim = Recent{span_id, service, ++stamp_};
}

bool DependencyTracker::lookup(uint64_t span_id, uint32_t* service) const {
  const Recent* set = &recent_[set_of(span_id, recent_sets_)];
  for (size_t i = 0; i < kWays; ++i) {
    if (set[i].span_id == span_id) {
      *service = set[i].service;
      return true;
    }
  }
  return false;
}

void DependencyTracker::add_pending(const SpanRef& child) {
  Pending* set = &pending_[set_of(child.parent_span_id, pending_sets_)];
  Pending* victim = set;
  for (size_t i = 0; i < kWays; ++i) {
    if (set[i].parent_span_id == 0) {
      victim = &set[i];
      break;
    }
    if (set[i].stamp < victim->stamp) victim = &set[i];
  }
  *victim = Pending{child.parent_span_id, child.service, child.minute, ++stamp_, child.error};
}

void DependencyTracker::resolve_pending(uint64_t span_id, uint32_t service,
                                        std::vector<Edge>* edges) {
  Pending* set = &pending_[set_of(span_id, pending_sets_)];
  for (size_t i = 0; i < kWays; ++i) {
    if (set[i].parent_span_id != span_id) continue;
    if (set[i].child_service != service) {
      edges->push_back(Edge{service, set[i].child_service, set[i].minute, set[i].error});
    }
    set[i] = Pending{};
  }
}

void DependencyTracker::observe(std::span<const SpanRef> spans, std::vector<Edge>* edges,
                                std::vector<uint8_t>* repeated) {
  std::vector<uint8_t> local;
  std::vector<uint8_t>& again = repeated != nullptr ? *repeated : local;
  again.assign(spans.size(), 0);
  for (size_t i = 0; i < spans.size(); ++i) {
    const SpanRef& s = spans[i];
    if (s.span_id == 0) continue;
    uint32_t service;
    if (lookup(s.span_id, &service)) {
      again[i] = 1;
    } else {
      remember(s.span_id, s.service);
    }
  }
  // Children seen earlier whose parent is one of these spans.
  for (size_t i = 0; i < spans.size(); ++i) {
    if (spans[i].span_id != 0 && !again[i]) {
      resolve_pending(spans[i].span_id, spans[i].service, edges);
    }
  }
  for (size_t i = 0; i < spans.size(); ++i) {
    const SpanRef& s = spans[i];
    if (s.parent_span_id == 0 || again[i]) continue;
    uint32_t parent_service;
    if (lookup(s.parent_span_id, &parent_service)) {
      if (parent_service != s.service) {
        edges->push_back(Edge{parent_service, s.service, s.minute, s.error});
      }
    } else {
      add_pending(s);
    }
  }
}

}  // namespace hodos::store
