// The compaction filter that enforces retention: while RocksDB compacts, entries older than the
// current cutoff are dropped, so expiring data costs no scan-and-delete pass.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include <rocksdb/compaction_filter.h>

namespace hodos::store {

class RetentionFilter : public rocksdb::CompactionFilter {
 public:
  // Which column family's layout to read the time from (see keys.h).
  enum class Layout { kSpans, kIndex, kAggregates };

  RetentionFilter(Layout layout, std::shared_ptr<const std::atomic<uint64_t>> cutoff_ns)
      : layout_(layout), cutoff_ns_(std::move(cutoff_ns)) {}

  Decision FilterV2(int level, const rocksdb::Slice& key, ValueType value_type,
                    const rocksdb::Slice& existing_value, std::string* new_value,
                    std::string* skip_until) const override;
  const char* Name() const override { return "hodos.Retention"; }

  // Whether an entry is older than `cutoff_ns` (shared with the read paths).
  static bool expired(Layout layout, const rocksdb::Slice& key, const rocksdb::Slice& value,
                      uint64_t cutoff_ns);

 private:
  Layout layout_;
  std::shared_ptr<const std::atomic<uint64_t>> cutoff_ns_;
};

}  // namespace hodos::store
