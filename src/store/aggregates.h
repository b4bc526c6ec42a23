// Ingest-time aggregates: a fixed-bucket latency histogram, the per-minute call/error/latency
// record stored for each service and operation, and the RocksDB merge operator that sums them.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include <rocksdb/merge_operator.h>

namespace hodos::store {

// Exponential buckets growing by sqrt(2) from 1 µs to 35 min (the last bucket is unbounded): a
// quantile read from the histogram is off by at most one bucket width (a factor of 1.41), and
// much less when durations are spread out. 64 counters, most of them zero, per minute.
class LatencyHistogram {
 public:
  static constexpr size_t kBuckets = 64;

  static size_t bucket_for(uint64_t duration_ns);
  // Upper bound of bucket `i` in ns (inclusive); UINT64_MAX for the last one.
  static uint64_t upper_bound_ns(size_t i);

  void add(uint64_t duration_ns, uint64_t count = 1) { buckets_[bucket_for(duration_ns)] += count; }
  void merge(const LatencyHistogram& other);
  uint64_t count() const;
  // The q-quantile (0..1) in ns, interpolated linearly inside its bucket; 0 when empty.
  double quantile_ns(double q) const;

  uint64_t bucket(size_t i) const { return buckets_[i]; }
  void set_bucket(size_t i, uint64_t v) { buckets_[i] = v; }

 private:
  std::array<uint64_t, kBuckets> buckets_{};
};

// Calls, errors and latencies of one (service, span kind, operation) in one minute.
struct Aggregate {
  uint64_t calls = 0;
  uint64_t errors = 0;
  LatencyHistogram latency;

  void add_span(uint64_t duration_ns, bool error) {
    ++calls;
    if (error) ++errors;
    latency.add(duration_ns);
  }
  void merge(const Aggregate& other);
  // Stored as a vector of varints [calls, errors, bucket0, bucket1, ...] without trailing zero
  // buckets, so that the generic VarintSumMergeOperator can add two records.
  void encode(std::string& out) const;
  static bool decode(std::string_view in, Aggregate* out);
};

// Adds two vectors of varints element-wise (the shorter one padded with zeros). Every value in
// the `aggregates` column family is such a vector: per-minute aggregates, dependency edge
// counts [calls, errors] and per-minute totals [spans, bytes].
class VarintSumMergeOperator : public rocksdb::AssociativeMergeOperator {
 public:
  bool Merge(const rocksdb::Slice& key, const rocksdb::Slice* existing_value,
             const rocksdb::Slice& value, std::string* new_value,
             rocksdb::Logger* logger) const override;
  const char* Name() const override { return "hodos.VarintSum"; }
};

}  // namespace hodos::store
