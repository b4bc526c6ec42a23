// The values of the search index's posting lists (keys.h): what one ingested batch holds for one
// index body (a service, or a service and an operation or tag) in one minute.
//
//   service posting  varint(count), then per trace, by ascending base:
//                      trace_id[16] varint(base - previous base) varint(n) n details
//   ref posting      per trace, by ascending ordinal:
//                      varint(ordinal - previous ordinal) varint(n) n details
//
// A trace's base is the earliest start of its spans in the service posting (the first
// "previous base" is the minute); every detail's start is a delta from it (index_entry.h). A ref
// posting ('O', 'T') names its traces by their place in the service posting of the same service,
// minute and batch, which holds their ids and bases -- 16 random bytes per trace once, not once
// per operation and tag.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/ids.h"
#include "store/encoding.h"
#include "store/index_entry.h"

namespace hodos::store {

struct PostingTrace {
  core::TraceId trace;
  uint64_t base = 0;
};

// Reads a service posting's trace ids and bases (skipping the details); nullopt if malformed.
inline std::optional<std::vector<PostingTrace>> read_posting_traces(std::string_view value,
                                                                    uint64_t minute) {
  uint64_t count;
  if (!get_varint(&value, &count) || count > value.size()) return std::nullopt;
  std::vector<PostingTrace> out;
  out.reserve(count);
  uint64_t base = minute;
  SpanDetail d;
  for (uint64_t i = 0; i < count; ++i) {
    uint64_t delta, n;
    if (value.size() < core::TraceId::kSize) return std::nullopt;
    PostingTrace& t = out.emplace_back();
    std::optional<core::TraceId> id = core::TraceId::from_bytes(value.substr(0, core::TraceId::kSize));
    if (!id) return std::nullopt;
    t.trace = *id;
    value.remove_prefix(core::TraceId::kSize);
    if (!get_varint(&value, &delta) || !get_varint(&value, &n) || n > value.size()) {
      return std::nullopt;
    }
    base += delta;
    t.base = base;
    DetailReader details(value, base);
    for (uint64_t s = 0; s < n; ++s) {
      if (!details.next(&d)) return std::nullopt;
    }
    value = details.rest();
  }
  return out;
}

// Walks the traces of a posting of either kind: for each, the trace's place (its ordinal) and
// a reader of its span details.
class PostingReader {
 public:
  // `traces` (a ref posting's service posting) is null for a service posting.
  PostingReader(std::string_view value, uint64_t minute, const std::vector<PostingTrace>* traces)
      : in_(value), base_(minute), traces_(traces) {
    if (traces_ == nullptr) {
      uint64_t count;
      ok_ = get_varint(&in_, &count);
    }
  }

  // Positions at the next trace; false at the end or on malformed input.
  bool next_trace() {
    if (!ok_ || in_.empty()) return false;
    // The previous trace's spans, if the caller did not read them all.
    while (spans_left_ > 0) {
      SpanDetail d;
      if (!next_span(&d)) return false;
    }
    uint64_t n;
    if (traces_ == nullptr) {
      uint64_t delta;
      if (in_.size() < core::TraceId::kSize) return ok_ = false;
      std::optional<core::TraceId> id = core::TraceId::from_bytes(in_.substr(0, core::TraceId::kSize));
      in_.remove_prefix(core::TraceId::kSize);
      if (!id || !get_varint(&in_, &delta)) return ok_ = false;
      trace_ = *id;
      base_ += delta;
      ordinal_ = first_ ? 0 : ordinal_ + 1;
    } else {
      uint64_t step;
      if (!get_varint(&in_, &step)) return ok_ = false;
      ordinal_ = first_ ? step : ordinal_ + step;
      if (ordinal_ >= traces_->size()) return ok_ = false;
      trace_ = (*traces_)[ordinal_].trace;
      base_ = (*traces_)[ordinal_].base;
    }
    first_ = false;
    if (!get_varint(&in_, &n) || n > in_.size()) return ok_ = false;
    spans_left_ = n;
    details_ = DetailReader(in_, base_);
    return true;
  }

  const core::TraceId& trace() const { return trace_; }

  // The current trace's next span; false when it has no more.
  bool next_span(SpanDetail* d) {
    if (spans_left_ == 0) return false;
    if (!details_.next(d)) {
      spans_left_ = 0;
      return ok_ = false;
    }
    --spans_left_;
    in_ = details_.rest();
    return true;
  }

 private:
  std::string_view in_;
  uint64_t base_;
  const std::vector<PostingTrace>* traces_;
  bool ok_ = true;
  bool first_ = true;
  uint64_t ordinal_ = 0;
  uint64_t spans_left_ = 0;
  core::TraceId trace_;
  DetailReader details_{{}, 0};
};

}  // namespace hodos::store
