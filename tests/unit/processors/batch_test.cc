#include "processors/batch.h"

#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "components/register_all.h"
#include "pipeline/registry.h"
#include "processor_test_util.h"

namespace hodos::processors {
namespace {

using testing::Harness;
using testing::make_batch;
using testing::RecordingSink;

pipeline::Deadline in(std::chrono::seconds s) { return std::chrono::steady_clock::now() + s; }

TEST(BatchProcessor, SendsWhenSizeIsReached) {
  Harness h;
  RecordingSink sink;
  auto factory = make_batch_processor_factory();
  auto p = h.create(*factory, "send_batch_size: 10\ntimeout: 1h\n", sink);
  ASSERT_TRUE(p->start().is_ok());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(p->consume(make_batch(3)).is_ok());
  EXPECT_EQ(sink.span_count(), 0u) << "9 spans are below send_batch_size";
  ASSERT_TRUE(p->consume(make_batch(3, "svc", "last")).is_ok());
  // The size trigger sends from the consuming thread, so no waiting is needed.
  EXPECT_EQ(sink.batch_sizes(), std::vector<size_t>({12}));
  EXPECT_EQ(sink.batches()[0].spans()[0].name, "span0");
  EXPECT_EQ(sink.batches()[0].spans()[11].name, "last2");
  EXPECT_EQ(h.metrics.value("otelcol_processor_batch_batch_size_trigger_send_total",
                            {{"processor", "batch"}}),
            1);
  EXPECT_EQ(
      h.metrics.value("otelcol_processor_batch_batch_send_size_sum", {{"processor", "batch"}}), 12);
  p->shutdown(in(std::chrono::seconds(5)));
}

TEST(BatchProcessor, SendsOnTimeout) {
  Harness h;
  RecordingSink sink;
  auto factory = make_batch_processor_factory();
  auto p = h.create(*factory, "send_batch_size: 1000\ntimeout: 20ms\n", sink);
  ASSERT_TRUE(p->start().is_ok());
  ASSERT_TRUE(p->consume(make_batch(5)).is_ok());
  ASSERT_TRUE(sink.wait_for_spans(5));
  EXPECT_EQ(sink.batch_sizes(), std::vector<size_t>({5}));
  EXPECT_EQ(h.metrics.value("otelcol_processor_batch_timeout_trigger_send_total",
                            {{"processor", "batch"}}),
            1);
  // And again: the timer keeps working after a flush.
  ASSERT_TRUE(p->consume(make_batch(2)).is_ok());
  ASSERT_TRUE(sink.wait_for_spans(7));
  p->shutdown(in(std::chrono::seconds(5)));
  EXPECT_EQ(sink.batch_sizes(), std::vector<size_t>({5, 2}));
}

TEST(BatchProcessor, SplitsToMaxSize) {
  Harness h;
  RecordingSink sink;
  auto factory = make_batch_processor_factory();
  auto p = h.create(*factory, "send_batch_size: 10\nsend_batch_max_size: 10\ntimeout: 1h\n", sink);
  ASSERT_TRUE(p->start().is_ok());
  ASSERT_TRUE(p->consume(make_batch(25)).is_ok());
  EXPECT_EQ(sink.batch_sizes(), std::vector<size_t>({10, 10})) << "5 stay below send_batch_size";
  p->shutdown(in(std::chrono::seconds(5)));
  EXPECT_EQ(sink.batch_sizes(), std::vector<size_t>({10, 10, 5}));
  // Order and content survive the split (take_front shares the arenas).
  std::vector<std::string> names;
  for (auto& b : sink.batches()) {
    for (auto& s : b.spans()) names.emplace_back(s.name);
  }
  ASSERT_EQ(names.size(), 25u);
  for (size_t i = 0; i < names.size(); ++i) EXPECT_EQ(names[i], "span" + std::to_string(i));
}

TEST(BatchProcessor, SplittingDoesNotKeepOldArenasAlive) {
  Harness h;
  RecordingSink sink;
  auto factory = make_batch_processor_factory();
  auto p = h.create(*factory, "send_batch_size: 10\nsend_batch_max_size: 10\ntimeout: 1h\n", sink);
  ASSERT_TRUE(p->start().is_ok());
  const size_t one_batch = make_batch(10).arena_bytes();
  // One span first, then 10-span batches: one span is always left over, so the buffer is never
  // empty, as under steady load.
  ASSERT_TRUE(p->consume(make_batch(1)).is_ok());
  for (int i = 0; i < 200; ++i) ASSERT_TRUE(p->consume(make_batch(10)).is_ok());
  ASSERT_EQ(sink.span_count(), 2000u);
  // A sent batch holds the arenas of the two batches its spans came from, not those of every
  // batch the processor has buffered since it was last empty.
  EXPECT_LE(sink.batches().back().arena_bytes(), 3 * one_batch);
  p->shutdown(in(std::chrono::seconds(5)));
}

TEST(BatchProcessor, ShutdownFlushesWhatIsBuffered) {
  Harness h;
  RecordingSink sink;
  auto factory = make_batch_processor_factory();
  auto p = h.create(*factory, "timeout: 1h\n", sink);
  ASSERT_TRUE(p->start().is_ok());
  ASSERT_TRUE(p->consume(make_batch(7)).is_ok());
  ASSERT_TRUE(p->consume(make_batch(4)).is_ok());
  EXPECT_EQ(sink.span_count(), 0u);
  p->shutdown(in(std::chrono::seconds(5)));
  EXPECT_EQ(sink.batch_sizes(), std::vector<size_t>({11}));
}

TEST(BatchProcessor, ConcurrentConsumersLoseNoSpan) {
  Harness h;
  RecordingSink sink;
  auto factory = make_batch_processor_factory();
  auto p = h.create(*factory, "send_batch_size: 50\nsend_batch_max_size: 64\ntimeout: 2ms\n", sink);
  ASSERT_TRUE(p->start().is_ok());
  constexpr int kThreads = 4, kBatches = 500, kSpans = 3;
  std::vector<std::thread> threads;
  std::mutex ids_mu;
  std::set<uint64_t> sent_ids;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kBatches; ++i) {
        core::SpanBatch b = make_batch(kSpans);
        {
          std::lock_guard lock(ids_mu);
          for (const auto& s : b.spans()) sent_ids.insert(testing::span_number(s));
        }
        EXPECT_TRUE(p->consume(std::move(b)).is_ok());
      }
    });
  }
  for (auto& t : threads) t.join();
  p->shutdown(in(std::chrono::seconds(10)));
  std::set<uint64_t> received;
  size_t total = 0;
  for (auto& b : sink.batches()) {
    EXPECT_LE(b.size(), 64u);
    for (const auto& s : b.spans()) {
      received.insert(testing::span_number(s));
      EXPECT_EQ(s.resource->attributes.size(), 1u);  // data is intact, not just counted
    }
    total += b.size();
  }
  EXPECT_EQ(total, size_t{kThreads * kBatches * kSpans});
  EXPECT_EQ(received, sent_ids);
}

TEST(BatchProcessor, CountsDownstreamFailuresAndStillAnswersOk) {
  Harness h;
  RecordingSink sink;
  sink.status = pipeline::Status::retryable("down");
  auto factory = make_batch_processor_factory();
  auto p = h.create(*factory, "send_batch_size: 2\n", sink);
  ASSERT_TRUE(p->start().is_ok());
  EXPECT_TRUE(p->consume(make_batch(2)).is_ok());
  EXPECT_TRUE(p->consume(make_batch(3)).is_ok());
  p->shutdown(in(std::chrono::seconds(5)));
  EXPECT_EQ(
      h.metrics.value("hodos_processor_batch_send_failed_spans_total", {{"processor", "batch"}}),
      5);
}

TEST(BatchProcessor, ZeroTimeoutSendsImmediately) {
  Harness h;
  RecordingSink sink;
  auto factory = make_batch_processor_factory();
  auto p = h.create(*factory, "timeout: 0s\nsend_batch_max_size: 8192\n", sink);
  ASSERT_TRUE(p->start().is_ok());
  ASSERT_TRUE(p->consume(make_batch(3)).is_ok());
  EXPECT_EQ(sink.batch_sizes(), std::vector<size_t>({3}));
  p->shutdown(in(std::chrono::seconds(5)));
}

TEST(BatchProcessor, ConfigErrorsNameTheKey) {
  Harness h;
  auto factory = make_batch_processor_factory();
  EXPECT_EQ(h.config_error(*factory, "send_batch_size: 100\nsend_batch_max_size: 50\n"),
            "processors.batch.send_batch_max_size: 50 is smaller than send_batch_size (100); use "
            "a value >= send_batch_size, or 0 for no limit");
  EXPECT_EQ(h.config_error(*factory, "send_batch_size: 100\nsend_batch_max_size: 0\n"), "");
  EXPECT_EQ(h.config_error(*factory, ""), "");
  EXPECT_EQ(h.config_error(*factory, "timeout: soon\n"),
            "processors.batch.timeout: 'soon' is not a duration; write it like 5s, 200ms or 1m30s");
  EXPECT_NE(
      h.config_error(*factory, "send_batch_sise: 5\n").find("processors.batch.send_batch_sise"),
      std::string::npos);
}

TEST(Processors, AreRegistered) {
  pipeline::Registry registry;
  components::register_all(registry);
  for (const char* type : {"batch", "memory_limiter", "attributes", "resource"}) {
    EXPECT_NE(registry.processor(type), nullptr) << type;
  }
}

}  // namespace
}  // namespace hodos::processors
