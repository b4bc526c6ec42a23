#include "store/aggregates.h"

#include <cmath>
#include <limits>
#include <vector>

#include "store/encoding.h"

namespace hodos::store {

namespace {
constexpr double kFirstBoundNs = 1000.0;
constexpr double kGrowth = 1.4142135623730951;  // sqrt(2)

bool decode_varints(std::string_view in, std::vector<uint64_t>* out) {
  out->clear();
  while (!in.empty()) {
    uint64_t v;
    if (!get_varint(&in, &v)) return false;
    out->push_back(v);
  }
  return true;
}
}  // namespace

uint64_t LatencyHistogram::upper_bound_ns(size_t i) {
  if (i + 1 >= kBuckets) return std::numeric_limits<uint64_t>::max();
  return static_cast<uint64_t>(std::llround(kFirstBoundNs * std::pow(kGrowth, static_cast<double>(i))));
}

size_t LatencyHistogram::bucket_for(uint64_t duration_ns) {
  if (duration_ns <= static_cast<uint64_t>(kFirstBoundNs)) return 0;
  double estimate = std::ceil(2.0 * std::log2(static_cast<double>(duration_ns) / kFirstBoundNs));
  size_t i = estimate >= kBuckets - 1 ? kBuckets - 1 : static_cast<size_t>(estimate);
  // log2 rounding can be off by one at a boundary; settle on the exact bucket.
  while (i > 0 && duration_ns <= upper_bound_ns(i - 1)) --i;
  while (i + 1 < kBuckets && duration_ns > upper_bound_ns(i)) ++i;
  return i;
}

void LatencyHistogram::merge(const LatencyHistogram& other) {
  for (size_t i = 0; i < kBuckets; ++i) buckets_[i] += other.buckets_[i];
}

uint64_t LatencyHistogram::count() const {
  uint64_t n = 0;
  for (uint64_t b : buckets_) n += b;
  return n;
}

double LatencyHistogram::quantile_ns(double q) const {
  uint64_t total = count();
  if (total == 0) return 0;
  if (q < 0) q = 0;
  if (q > 1) q = 1;
  double rank = q * static_cast<double>(total);
  uint64_t seen = 0;
  for (size_t i = 0; i < kBuckets; ++i) {
    if (buckets_[i] == 0) continue;
    if (static_cast<double>(seen + buckets_[i]) >= rank) {
      double lower = i == 0 ? 0.0 : static_cast<double>(upper_bound_ns(i - 1));
      if (i + 1 == kBuckets) return lower;  // unbounded bucket: its lower bound is all we know
      double upper = static_cast<double>(upper_bound_ns(i));
      double within = (rank - static_cast<double>(seen)) / static_cast<double>(buckets_[i]);
      return lower + (upper - lower) * within;
    }
    seen += buckets_[i];
  }
  return static_cast<double>(upper_bound_ns(kBuckets - 2));
}

void Aggregate::merge(const Aggregate& other) {
  calls += other.calls;
  errors += other.errors;
  latency.merge(other.latency);
}

void Aggregate::encode(std::string& out) const {
  put_varint(out, calls);
  put_varint(out, errors);
  size_t last = 0;
  for (size_t i = 0; i < LatencyHistogram::kBuckets; ++i) {
    if (latency.bucket(i) != 0) last = i + 1;
  }
  for (size_t i = 0; i < last; ++i) put_varint(out, latency.bucket(i));
}

bool Aggregate::decode(std::string_view in, Aggregate* out) {
  *out = Aggregate{};
  uint64_t v;
  if (!get_varint(&in, &out->calls) || !get_varint(&in, &out->errors)) return false;
  for (size_t i = 0; !in.empty(); ++i) {
    if (!get_varint(&in, &v) || i >= LatencyHistogram::kBuckets) return false;
    out->latency.set_bucket(i, v);
  }
  return true;
}

bool VarintSumMergeOperator::Merge(const rocksdb::Slice& /*key*/,
                                   const rocksdb::Slice* existing_value,
                                   const rocksdb::Slice& value, std::string* new_value,
                                   rocksdb::Logger* /*logger*/) const {
  std::vector<uint64_t> sum, add;
  if (existing_value != nullptr &&
      !decode_varints({existing_value->data(), existing_value->size()}, &sum)) {
    return false;
  }
  if (!decode_varints({value.data(), value.size()}, &add)) return false;
  if (add.size() > sum.size()) sum.resize(add.size(), 0);
  for (size_t i = 0; i < add.size(); ++i) sum[i] += add[i];
  new_value->clear();
  for (uint64_t v : sum) put_varint(*new_value, v);
  return true;
}

}  // namespace hodos::store
