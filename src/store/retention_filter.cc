#include "store/retention_filter.h"

#include "store/keys.h"

namespace hodos::store {

bool RetentionFilter::expired(Layout layout, const rocksdb::Slice& key,
                              const rocksdb::Slice& value, uint64_t cutoff_ns) {
  if (cutoff_ns == 0) return false;
  switch (layout) {
    case Layout::kSpans:
      return value.size() >= keys::kSpanHeaderMin &&
             keys::span_value_time({value.data(), value.size()}) < cutoff_ns;
    case Layout::kIndex:
      // A posting goes once all of its minute is older than the cutoff.
      return key.size() > keys::kPostingSuffix &&
             keys::posting_minute({key.data(), key.size()}) + keys::kMinuteNs <= cutoff_ns;
    case Layout::kAggregates: {
      if (key.size() < 9) return false;
      // A minute goes once all of it is older than the cutoff.
      return keys::aggregate_minute({key.data(), key.size()}) + keys::kMinuteNs <= cutoff_ns;
    }
  }
  return false;
}

rocksdb::CompactionFilter::Decision RetentionFilter::FilterV2(
    int /*level*/, const rocksdb::Slice& key, ValueType value_type,
    const rocksdb::Slice& existing_value, std::string* /*new_value*/,
    std::string* /*skip_until*/) const {
  if (value_type != ValueType::kValue && value_type != ValueType::kMergeOperand) {
    return Decision::kKeep;
  }
  return expired(layout_, key, existing_value, cutoff_ns_->load(std::memory_order_relaxed))
             ? Decision::kRemove
             : Decision::kKeep;
}

}  // namespace hodos::store
