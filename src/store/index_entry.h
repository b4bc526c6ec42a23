// The details of a span in a posting list (postings.h): what a search needs to decide whether
// the span matches without reading it -- start, duration, kind, status, resource and the ids of
// its low-cardinality tags (from the store's tag dictionary).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/span.h"
#include "store/encoding.h"

namespace hodos::store {

struct SpanDetail {
  uint64_t start = 0;  // absolute; stored as a delta from the entry's time
  uint64_t duration = 0;
  core::SpanKind kind = core::SpanKind::kUnspecified;
  core::StatusCode status = core::StatusCode::kUnset;
  uint64_t resource_ref = 0;
  const uint32_t* tag_ids = nullptr;  // not owned
  uint32_t tag_count = 0;

  bool has_tag(uint32_t id) const {
    for (uint32_t i = 0; i < tag_count; ++i) {
      if (tag_ids[i] == id) return true;
    }
    return false;
  }
};

// [flags][start - base][duration][resource_ref][n][tag ids...], all varints; flags hold the kind
// (bits 0-2) and the status code (bits 3-4).
inline void append_detail(std::string& out, const SpanDetail& d, uint64_t base) {
  put_varint(out, static_cast<uint64_t>(d.kind) | (static_cast<uint64_t>(d.status) << 3));
  put_varint(out, d.start - base);
  put_varint(out, d.duration);
  put_varint(out, d.resource_ref);
  put_varint(out, d.tag_count);
  for (uint32_t i = 0; i < d.tag_count; ++i) put_varint(out, d.tag_ids[i]);
}

// Reads the details of one entry in order; `scratch` holds the current span's tag ids.
class DetailReader {
 public:
  DetailReader(std::string_view value, uint64_t base) : in_(value), base_(base) {}

  // False at the end or on malformed input.
  bool next(SpanDetail* d) {
    uint64_t flags, delta, n;
    if (!get_varint(&in_, &flags) || !get_varint(&in_, &delta) ||
        !get_varint(&in_, &d->duration) || !get_varint(&in_, &d->resource_ref) ||
        !get_varint(&in_, &n) || n > in_.size()) {
      return false;
    }
    d->kind = static_cast<core::SpanKind>(flags & 7);
    d->status = static_cast<core::StatusCode>((flags >> 3) & 3);
    d->start = base_ + delta;
    ids_.resize(n);
    for (uint64_t i = 0; i < n; ++i) {
      uint64_t id;
      if (!get_varint(&in_, &id)) return false;
      ids_[i] = static_cast<uint32_t>(id);
    }
    d->tag_ids = ids_.data();
    d->tag_count = static_cast<uint32_t>(n);
    return true;
  }

  // What follows the details read so far.
  std::string_view rest() const { return in_; }

 private:
  std::string_view in_;
  uint64_t base_;
  std::basic_string<uint32_t> ids_;
};

}  // namespace hodos::store
