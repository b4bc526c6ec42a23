#include "processors/memory_limiter.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <thread>

#include "processor_test_util.h"

namespace hodos::processors {
namespace {

using testing::Harness;
using testing::make_batch;
using testing::RecordingSink;

constexpr uint64_t kMiB = 1024 * 1024;

struct Limiter {
  std::unique_ptr<pipeline::Processor> processor;
  MemoryLimiterControl* control = nullptr;
};

Limiter make_limiter(Harness& h, RecordingSink& sink, const std::string& yaml,
                     std::atomic<uint64_t>& in_use) {
  static auto factory = make_memory_limiter_processor_factory();
  Limiter l;
  l.processor = h.create(*factory, yaml, sink);
  l.control = dynamic_cast<MemoryLimiterControl*>(l.processor.get());
  if (l.control) l.control->set_memory_reader([&in_use] { return in_use.load(); });
  return l;
}

TEST(MemoryLimiter, RefusesAboveSoftLimitAndRecoversBelowIt) {
  Harness h;
  RecordingSink sink;
  std::atomic<uint64_t> in_use{50 * kMiB};
  Limiter l =
      make_limiter(h, sink, "check_interval: 1h\nlimit_mib: 100\nspike_limit_mib: 20\n", in_use);
  ASSERT_NE(l.control, nullptr);
  EXPECT_EQ(l.control->hard_limit_bytes(), 100 * kMiB);
  EXPECT_EQ(l.control->soft_limit_bytes(), 80 * kMiB);
  const pipeline::Labels labels{{"processor", "memory_limiter"}};

  l.control->check_now();
  EXPECT_FALSE(l.control->refusing());
  EXPECT_TRUE(l.processor->consume(make_batch(3)).is_ok());
  EXPECT_EQ(sink.span_count(), 3u);

  in_use = 85 * kMiB;  // above soft (80), below hard (100)
  l.control->check_now();
  EXPECT_TRUE(l.control->refusing());
  pipeline::Status st = l.processor->consume(make_batch(4));
  EXPECT_TRUE(st.is_retryable());
  EXPECT_EQ(st.message(), "memory limit exceeded");
  EXPECT_EQ(st.retry_after(), std::chrono::seconds(1));
  EXPECT_EQ(sink.span_count(), 3u) << "refused data must not be passed on";
  EXPECT_EQ(h.metrics.value("otelcol_processor_refused_spans_total", labels), 4);
  EXPECT_EQ(h.metrics.value("hodos_memory_limiter_refusing", labels), 1);
  EXPECT_EQ(h.metrics.value("hodos_memory_limiter_in_use_bytes", labels), 85.0 * kMiB);
  EXPECT_EQ(h.metrics.value("hodos_memory_limiter_limit_bytes", labels), 100.0 * kMiB);

  in_use = 150 * kMiB;  // above hard: still refusing (and trims)
  l.control->check_now();
  EXPECT_TRUE(l.processor->consume(make_batch(1)).is_retryable());

  in_use = 79 * kMiB;
  l.control->check_now();
  EXPECT_FALSE(l.control->refusing());
  EXPECT_TRUE(l.processor->consume(make_batch(2)).is_ok());
  EXPECT_EQ(sink.span_count(), 5u);
  EXPECT_EQ(h.metrics.value("hodos_memory_limiter_refusing", labels), 0);
  EXPECT_EQ(h.metrics.value("otelcol_processor_refused_spans_total", labels), 5);
}

TEST(MemoryLimiter, SpikeDefaultsToTwentyPercent) {
  Harness h;
  RecordingSink sink;
  std::atomic<uint64_t> in_use{0};
  Limiter l = make_limiter(h, sink, "check_interval: 1s\nlimit_mib: 1000\n", in_use);
  ASSERT_NE(l.control, nullptr);
  EXPECT_EQ(l.control->soft_limit_bytes(), 800 * kMiB);
}

TEST(MemoryLimiter, PercentagesAreOfTotalMemory) {
  const uint64_t total = total_memory_bytes();
  ASSERT_GT(total, 0u);
  Harness h;
  RecordingSink sink;
  std::atomic<uint64_t> in_use{0};
  Limiter l = make_limiter(
      h, sink, "check_interval: 1s\nlimit_percentage: 80\nspike_limit_percentage: 25\n", in_use);
  ASSERT_NE(l.control, nullptr);
  EXPECT_EQ(l.control->hard_limit_bytes(), total / 100 * 80);
  EXPECT_EQ(l.control->soft_limit_bytes(), total / 100 * 80 - total / 100 * 25);
}

TEST(MemoryLimiter, SamplingThreadUpdatesTheState) {
  Harness h;
  RecordingSink sink;
  std::atomic<uint64_t> in_use{10 * kMiB};
  Limiter l = make_limiter(h, sink, "check_interval: 5ms\nlimit_mib: 100\n", in_use);
  ASSERT_NE(l.control, nullptr);
  ASSERT_TRUE(l.processor->start().is_ok());
  EXPECT_FALSE(l.control->refusing());
  in_use = 95 * kMiB;
  auto poll = [&](bool want) {
    for (int i = 0; i < 20'000 && l.control->refusing() != want; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return l.control->refusing() == want;
  };
  EXPECT_TRUE(poll(true));
  in_use = 1 * kMiB;
  EXPECT_TRUE(poll(false));
  l.processor->shutdown(std::chrono::steady_clock::now() + std::chrono::seconds(5));
}

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HODOS_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define HODOS_ASAN 1
#endif

TEST(MemoryLimiter, HeapReadingFollowsAllocations) {
#ifdef HODOS_ASAN
  GTEST_SKIP() << "AddressSanitizer replaces malloc, so glibc's mallinfo2 does not see the heap";
#endif
  const uint64_t before = heap_bytes_in_use();
  auto block = std::make_unique<char[]>(64 * kMiB);
  std::memset(block.get(), 1, 64 * kMiB);
  const uint64_t during = heap_bytes_in_use();
  EXPECT_GE(during, before + 64 * kMiB);
  block.reset();
  EXPECT_LT(heap_bytes_in_use(), during);
}

TEST(MemoryLimiter, ConfigErrorsNameTheKey) {
  Harness h;
  auto factory = make_memory_limiter_processor_factory();
  EXPECT_EQ(
      h.config_error(*factory, "limit_mib: 100\n"),
      "processors.memory_limiter.check_interval: required; set it greater than zero, e.g. 1s");
  EXPECT_EQ(h.config_error(*factory, "check_interval: 1s\n"),
            "processors.memory_limiter.limit_mib: required; set limit_mib (MiB) or "
            "limit_percentage (of total memory) greater than zero");
  EXPECT_EQ(h.config_error(*factory, "check_interval: 1s\nlimit_mib: 100\nlimit_percentage: 50\n"),
            "processors.memory_limiter.limit_percentage: set either limit_mib or "
            "limit_percentage, not both");
  EXPECT_EQ(h.config_error(*factory, "check_interval: 1s\nlimit_mib: 100\nspike_limit_mib: 100\n"),
            "processors.memory_limiter.spike_limit_mib: 100 must be smaller than limit_mib (100)");
  EXPECT_EQ(h.config_error(*factory, "check_interval: 1s\nlimit_percentage: 101\n"),
            "processors.memory_limiter.limit_percentage: 101 is out of range; use a value from 0 "
            "to 100");
  EXPECT_EQ(h.config_error(
                *factory, "check_interval: 1s\nlimit_percentage: 50\nspike_limit_percentage: 60\n"),
            "processors.memory_limiter.spike_limit_percentage: 60 must be smaller than "
            "limit_percentage (50)");
  EXPECT_EQ(h.config_error(*factory, "check_interval: 1s\nlimit_mib: 100\n"), "");
}

}  // namespace
}  // namespace hodos::processors
