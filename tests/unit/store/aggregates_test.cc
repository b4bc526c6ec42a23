#include "store/aggregates.h"

#include <gtest/gtest.h>

#include <limits>

namespace hodos::store {
namespace {

TEST(LatencyHistogram, BucketsAreContiguousAndExponential) {
  EXPECT_EQ(LatencyHistogram::bucket_for(0), 0u);
  EXPECT_EQ(LatencyHistogram::bucket_for(1000), 0u);
  EXPECT_EQ(LatencyHistogram::bucket_for(1001), 1u);
  for (size_t i = 0; i + 1 < LatencyHistogram::kBuckets; ++i) {
    uint64_t upper = LatencyHistogram::upper_bound_ns(i);
    EXPECT_EQ(LatencyHistogram::bucket_for(upper), i) << i;
    EXPECT_EQ(LatencyHistogram::bucket_for(upper + 1), i + 1) << i;
    if (i > 0) {
      double growth = static_cast<double>(upper) /
                      static_cast<double>(LatencyHistogram::upper_bound_ns(i - 1));
      EXPECT_NEAR(growth, 1.41421356, 0.01) << i;
    }
  }
  EXPECT_EQ(LatencyHistogram::bucket_for(std::numeric_limits<uint64_t>::max()),
            LatencyHistogram::kBuckets - 1);
}

TEST(LatencyHistogram, QuantilesStayInsideTheRightBucket) {
  LatencyHistogram h;
  EXPECT_EQ(h.quantile_ns(0.5), 0.0);
  for (uint64_t ms = 1; ms <= 1000; ++ms) h.add(ms * 1'000'000);
  EXPECT_EQ(h.count(), 1000u);
  for (double q : {0.5, 0.75, 0.95, 0.99}) {
    double exact = q * 1000 * 1e6;
    size_t b = LatencyHistogram::bucket_for(static_cast<uint64_t>(exact));
    double got = h.quantile_ns(q);
    EXPECT_GE(got, b == 0 ? 0.0 : static_cast<double>(LatencyHistogram::upper_bound_ns(b - 1)))
        << q;
    EXPECT_LE(got, static_cast<double>(LatencyHistogram::upper_bound_ns(b))) << q;
    EXPECT_NEAR(got, exact, exact * 0.2) << q;
  }
  // Quantiles never decrease.
  EXPECT_LE(h.quantile_ns(0.5), h.quantile_ns(0.75));
  EXPECT_LE(h.quantile_ns(0.95), h.quantile_ns(0.99));
}

TEST(Aggregate, EncodeDecodeAndMergeOperatorAddElementWise) {
  Aggregate a, b;
  a.add_span(5'000'000, false);
  a.add_span(7'000'000, true);
  b.add_span(1'000, false);  // a shorter encoding (lower bucket only)
  std::string ea, eb;
  a.encode(ea);
  b.encode(eb);
  Aggregate decoded;
  ASSERT_TRUE(Aggregate::decode(ea, &decoded));
  EXPECT_EQ(decoded.calls, 2u);
  EXPECT_EQ(decoded.errors, 1u);
  EXPECT_EQ(decoded.latency.count(), 2u);

  VarintSumMergeOperator op;
  std::string merged;
  rocksdb::Slice existing(ea);
  ASSERT_TRUE(op.Merge("k", &existing, eb, &merged, nullptr));
  ASSERT_TRUE(Aggregate::decode(merged, &decoded));
  Aggregate want = a;
  want.merge(b);
  EXPECT_EQ(decoded.calls, 3u);
  EXPECT_EQ(decoded.errors, 1u);
  for (size_t i = 0; i < LatencyHistogram::kBuckets; ++i) {
    EXPECT_EQ(decoded.latency.bucket(i), want.latency.bucket(i)) << i;
  }
  // First value for a key; and garbage is refused rather than summed.
  ASSERT_TRUE(op.Merge("k", nullptr, eb, &merged, nullptr));
  EXPECT_EQ(merged, eb);
  std::string bad = "\xff";
  EXPECT_FALSE(op.Merge("k", nullptr, bad, &merged, nullptr));
  EXPECT_FALSE(Aggregate::decode(bad, &decoded));
}

}  // namespace
}  // namespace hodos::store
