// The values of the search index's posting lists (keys.h): what one ingested batch holds for one
// index body (a service, or a service and an operation or tag) in one minute.
//
//   service posting  varint(latest - minute) varint(count),
//                    count x (trace_id[16] varint(base - previous base)), body
//   ref posting      varint(latest - minute) body
//   body             per trace, by ascending ordinal:
//                      varint(ordinal - previous ordinal) varint(n) n details (index_entry.h)
//
// `latest` is the latest start among the posting's spans: a search reads a minute's postings by
// it, so it can return the newest traces of the minute without reading all of them. A service
// posting lists the traces first, by ascending base: a trace's base is the earliest
// start of its spans there (the first "previous base" is the minute), and its ordinal is its
// place in that list. Every detail's start is a delta from its trace's base. A ref posting ('O',
// 'T') names its traces by their ordinals in the service posting of the same service, minute and
// batch -- 16 random bytes per trace once, not once per operation and tag -- and a search reads
// only that posting's list, not its details.
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

// Reads the latest start of a posting's spans and leaves `value` after it; false if malformed.
inline bool read_posting_latest(std::string_view* value, uint64_t minute, uint64_t* latest) {
  uint64_t delta;
  if (!get_varint(value, &delta)) return false;
  *latest = minute + delta;
  return true;
}

// Reads the trace list of a service posting (after its latest start) and leaves `value` at its body; nullopt if
// malformed.
inline std::optional<std::vector<PostingTrace>> read_posting_traces(std::string_view* value,
                                                                    uint64_t minute) {
  uint64_t count;
  if (!get_varint(value, &count) || count > value->size()) return std::nullopt;
  std::vector<PostingTrace> out(count);
  uint64_t base = minute;
  for (PostingTrace& t : out) {
    uint64_t delta;
    if (value->size() < core::TraceId::kSize) return std::nullopt;
    std::optional<core::TraceId> id =
        core::TraceId::from_bytes(value->substr(0, core::TraceId::kSize));
    value->remove_prefix(core::TraceId::kSize);
    if (!id || !get_varint(value, &delta)) return std::nullopt;
    base += delta;
    t = {*id, base};
  }
  return out;
}

// Walks the body of a posting: for each trace, its id and a reader of its span details.
class PostingReader {
 public:
  // `traces` is the trace list of the service posting the body belongs to or refers to.
  PostingReader(std::string_view body, const std::vector<PostingTrace>& traces)
      : in_(body), traces_(traces) {}

  // Positions at the next trace; false at the end or on malformed input.
  bool next_trace() {
    if (!ok_ || in_.empty()) return false;
    // The previous trace's spans, if the caller did not read them all.
    SpanDetail d;
    while (spans_left_ > 0) {
      if (!next_span(&d)) return false;
    }
    uint64_t step, n;
    if (!get_varint(&in_, &step)) return ok_ = false;
    ordinal_ = first_ ? step : ordinal_ + step;
    first_ = false;
    if (ordinal_ >= traces_.size() || !get_varint(&in_, &n) || n > in_.size()) return ok_ = false;
    spans_left_ = n;
    details_ = DetailReader(in_, traces_[ordinal_].base);
    return true;
  }

  const core::TraceId& trace() const { return traces_[ordinal_].trace; }

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
  const std::vector<PostingTrace>& traces_;
  bool ok_ = true;
  bool first_ = true;
  uint64_t ordinal_ = 0;
  uint64_t spans_left_ = 0;
  DetailReader details_{{}, 0};
};

}  // namespace hodos::store
