#include "pipeline/exporter_helper.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <deque>
#include <fstream>
#include <mutex>
#include <set>

#include "../exporters/exporter_test_util.h"

namespace hodos::pipeline {
namespace {

using hodos::testing::make_batch;
using hodos::testing::quiet_logger;
using hodos::testing::TempDir;
using hodos::testing::wait_for;
using std::chrono::milliseconds;

// A destination whose answers the test scripts; its state outlives the exporter that owns it.
struct SenderState {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Status> script;  // answers in order; `fallback` once exhausted
  Status fallback = Status::ok();
  bool gate_closed = false;  // while closed, send() blocks (a slow destination)
  int attempts = 0;
  std::vector<std::string> delivered;  // names of every span sent successfully
  bool started = false;
  bool shut_down = false;

  int attempts_now() {
    std::lock_guard lock(mu);
    return attempts;
  }
  size_t delivered_now() {
    std::lock_guard lock(mu);
    return delivered.size();
  }
  void open_gate() {
    std::lock_guard lock(mu);
    gate_closed = false;
    cv.notify_all();
  }
};

class ScriptedSender : public BatchSender {
 public:
  explicit ScriptedSender(std::shared_ptr<SenderState> state) : state_(std::move(state)) {}
  Status start() override {
    state_->started = true;
    return Status::ok();
  }
  Status send(const core::SpanBatch& batch, Deadline) override {
    std::unique_lock lock(state_->mu);
    ++state_->attempts;
    state_->cv.notify_all();
    state_->cv.wait(lock, [&] { return !state_->gate_closed; });
    Status st = state_->fallback;
    if (!state_->script.empty()) {
      st = state_->script.front();
      state_->script.pop_front();
    }
    if (st.is_ok()) {
      for (const auto& s : batch.spans()) state_->delivered.emplace_back(s.name);
    }
    return st;
  }
  void shutdown() override { state_->shut_down = true; }

 private:
  std::shared_ptr<SenderState> state_;
};

class ExporterHelperTest : public ::testing::Test {
 protected:
  std::unique_ptr<QueuedRetryExporter> make(const std::string& yaml,
                                            std::shared_ptr<SenderState> state,
                                            const std::string& name = "") {
    ConfigNode config(YAML::Load(yaml), "exporters.test");
    CreateContext ctx{ComponentId{"test", name}, metrics_, quiet_logger()};
    auto e =
        std::make_unique<QueuedRetryExporter>(ctx, config, std::make_unique<ScriptedSender>(state));
    config.reject_unknown_keys();
    return e;
  }
  double sent() { return metrics_.value("otelcol_exporter_sent_spans_total", labels_); }
  double failed() { return metrics_.value("otelcol_exporter_send_failed_spans_total", labels_); }
  double enqueue_failed() {
    return metrics_.value("otelcol_exporter_enqueue_failed_spans_total", labels_);
  }
  static Deadline in(milliseconds d) { return std::chrono::steady_clock::now() + d; }

  Metrics metrics_;
  Labels labels_{{"exporter", "test"}};
};

// Retries fast enough for tests; jitter off so intervals are what the config says.
constexpr const char* kFastRetry =
    "retry_on_failure: {initial_interval: 1ms, max_interval: 5ms, randomization_factor: 0}\n";

TEST_F(ExporterHelperTest, DefaultsFollowTheCollector) {
  auto state = std::make_shared<SenderState>();
  auto e = make("", state);
  const auto& s = e->settings();
  EXPECT_TRUE(s.queue.enabled);
  EXPECT_EQ(s.queue.num_consumers, 10);
  EXPECT_EQ(s.queue.queue_size, 1000u);
  EXPECT_TRUE(s.retry.enabled);
  EXPECT_EQ(s.retry.initial_interval, milliseconds(5000));
  EXPECT_EQ(s.retry.max_interval, milliseconds(30000));
  EXPECT_EQ(s.retry.max_elapsed_time, milliseconds(300000));
  EXPECT_DOUBLE_EQ(s.retry.multiplier, 1.5);
  EXPECT_DOUBLE_EQ(s.retry.randomization_factor, 0.5);
  EXPECT_EQ(s.timeout, milliseconds(5000));
  // The queue's gauges exist from creation, so /metrics shows the capacity before any traffic.
  EXPECT_EQ(metrics_.value("otelcol_exporter_queue_capacity", labels_), 1000);
}

TEST_F(ExporterHelperTest, ConfigErrorsNameTheNestedKey) {
  auto state = std::make_shared<SenderState>();
  try {
    make("sending_queue: {queue_sise: 5}\n", state);
    FAIL() << "expected an error";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.path(), "exporters.test.sending_queue.queue_sise");
  }
  try {
    make("retry_on_failure: {initial_interval: soon}\n", state);
    FAIL() << "expected an error";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.path(), "exporters.test.retry_on_failure.initial_interval");
  }
  try {
    make("sending_queue: {enabled: false, storage: /tmp/x}\n", state);
    FAIL() << "expected an error";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.path(), "exporters.test.sending_queue.storage");
  }
}

TEST_F(ExporterHelperTest, FullQueueRefusesWithRetryableAndCounts) {
  auto state = std::make_shared<SenderState>();
  state->gate_closed = true;
  auto e = make("sending_queue: {num_consumers: 1, queue_size: 2}\n", state);
  ASSERT_TRUE(e->start().is_ok());
  ASSERT_TRUE(e->consume(make_batch("a", 1)).is_ok());
  // The single consumer holds "a" in the blocked send; two more fill the queue.
  ASSERT_TRUE(wait_for([&] { return state->attempts_now() == 1; }));
  ASSERT_TRUE(e->consume(make_batch("b", 2)).is_ok());
  ASSERT_TRUE(e->consume(make_batch("c", 3)).is_ok());
  EXPECT_EQ(e->queued(), 2u);
  EXPECT_EQ(metrics_.value("otelcol_exporter_queue_size", labels_), 2);
  Status st = e->consume(make_batch("d", 4));
  EXPECT_TRUE(st.is_retryable());
  EXPECT_EQ(st.message(), "sending queue is full");
  EXPECT_EQ(enqueue_failed(), 4);

  state->open_gate();
  ASSERT_TRUE(wait_for([&] { return state->delivered_now() == 6; }));
  e->shutdown(in(milliseconds(5000)));
  EXPECT_EQ(sent(), 6);
  EXPECT_EQ(failed(), 0);
  EXPECT_TRUE(state->shut_down);
}

TEST_F(ExporterHelperTest, RetryableErrorsAreRetriedUntilSuccess) {
  auto state = std::make_shared<SenderState>();
  state->script = {Status::retryable("unavailable"), Status::retryable("unavailable")};
  auto e = make(kFastRetry, state);
  ASSERT_TRUE(e->start().is_ok());
  ASSERT_TRUE(e->consume(make_batch("a", 3)).is_ok());
  ASSERT_TRUE(wait_for([&] { return state->delivered_now() == 3; }));
  e->shutdown(in(milliseconds(5000)));
  EXPECT_EQ(state->attempts, 3);
  EXPECT_EQ(sent(), 3);
  EXPECT_EQ(failed(), 0);
}

TEST_F(ExporterHelperTest, PermanentErrorsDropAtOnceAndCount) {
  auto state = std::make_shared<SenderState>();
  state->fallback = Status::permanent("400 bad request");
  auto e = make(kFastRetry, state);
  ASSERT_TRUE(e->start().is_ok());
  ASSERT_TRUE(e->consume(make_batch("a", 5)).is_ok());
  ASSERT_TRUE(wait_for([&] { return failed() == 5; }));
  e->shutdown(in(milliseconds(5000)));
  EXPECT_EQ(state->attempts, 1);
  EXPECT_EQ(sent(), 0);
}

TEST_F(ExporterHelperTest, DestinationRetryAfterOverridesShorterBackoff) {
  // With a 1ms backoff the helper would retry many times within max_elapsed_time; a destination
  // asking for 60s makes the next attempt fall past max_elapsed_time, so it gives up after one.
  auto state = std::make_shared<SenderState>();
  state->fallback = Status::retryable("throttled", milliseconds(60'000));
  auto e = make(
      "retry_on_failure: {initial_interval: 1ms, max_interval: 1ms, max_elapsed_time: 2s,"
      " randomization_factor: 0}\n",
      state);
  ASSERT_TRUE(e->start().is_ok());
  ASSERT_TRUE(e->consume(make_batch("a", 2)).is_ok());
  ASSERT_TRUE(wait_for([&] { return failed() == 2; }));
  e->shutdown(in(milliseconds(5000)));
  EXPECT_EQ(state->attempts, 1);
}

TEST_F(ExporterHelperTest, WithoutRetryAfterTheShortBackoffRetries) {
  // The control for the test above: same settings, no hint, so several attempts happen.
  auto state = std::make_shared<SenderState>();
  state->script = {Status::retryable("x"), Status::retryable("x"), Status::retryable("x")};
  auto e = make(
      "retry_on_failure: {initial_interval: 1ms, max_interval: 1ms, max_elapsed_time: 2s,"
      " randomization_factor: 0}\n",
      state);
  ASSERT_TRUE(e->start().is_ok());
  ASSERT_TRUE(e->consume(make_batch("a", 2)).is_ok());
  ASSERT_TRUE(wait_for([&] { return sent() == 2; }));
  e->shutdown(in(milliseconds(5000)));
  EXPECT_EQ(state->attempts, 4);
}

TEST_F(ExporterHelperTest, DisabledRetryDropsOnFirstFailure) {
  auto state = std::make_shared<SenderState>();
  state->fallback = Status::retryable("down");
  auto e = make("retry_on_failure: {enabled: false}\n", state);
  ASSERT_TRUE(e->start().is_ok());
  ASSERT_TRUE(e->consume(make_batch("a", 2)).is_ok());
  ASSERT_TRUE(wait_for([&] { return failed() == 2; }));
  e->shutdown(in(milliseconds(5000)));
  EXPECT_EQ(state->attempts, 1);
}

TEST_F(ExporterHelperTest, DisabledQueueSendsOnTheCallersThread) {
  auto state = std::make_shared<SenderState>();
  state->script = {Status::retryable("x"), Status::ok(), Status::permanent("bad data")};
  auto e = make(std::string("sending_queue: {enabled: false}\n") + kFastRetry, state);
  ASSERT_TRUE(e->start().is_ok());
  // Retried, then delivered before consume() returns.
  EXPECT_TRUE(e->consume(make_batch("a", 2)).is_ok());
  EXPECT_EQ(state->delivered_now(), 2u);
  EXPECT_EQ(sent(), 2);
  // The destination's permanent refusal reaches the caller.
  Status st = e->consume(make_batch("b", 1));
  EXPECT_TRUE(st.is_permanent());
  EXPECT_EQ(st.message(), "bad data");
  EXPECT_EQ(failed(), 1);
  e->shutdown(in(milliseconds(5000)));
  // No queue: no queue gauges.
  EXPECT_EQ(metrics_.render_prometheus().find("otelcol_exporter_queue_capacity"),
            std::string::npos);
}

TEST_F(ExporterHelperTest, ShutdownDrainsTheQueue) {
  auto state = std::make_shared<SenderState>();
  state->gate_closed = true;
  auto e = make("sending_queue: {num_consumers: 2}\n", state);
  ASSERT_TRUE(e->start().is_ok());
  for (int i = 0; i < 10; ++i)
    ASSERT_TRUE(e->consume(make_batch("b" + std::to_string(i), 1)).is_ok());
  state->open_gate();
  e->shutdown(in(milliseconds(20'000)));
  EXPECT_EQ(state->delivered_now(), 10u);
  EXPECT_EQ(sent(), 10);
  // Refuses after shutdown.
  EXPECT_TRUE(e->consume(make_batch("late", 1)).is_retryable());
}

TEST_F(ExporterHelperTest, ShutdownDeadlineStopsRetriesAndCountsTheDrop) {
  auto state = std::make_shared<SenderState>();
  state->fallback = Status::retryable("down");
  // An hour between retries: only the shutdown deadline can end this.
  auto e = make(
      "sending_queue: {num_consumers: 1}\nretry_on_failure: {max_elapsed_time: 0, "
      "initial_interval: 1h,"
      " max_interval: 1h}\n",
      state);
  ASSERT_TRUE(e->start().is_ok());
  ASSERT_TRUE(e->consume(make_batch("a", 2)).is_ok());
  ASSERT_TRUE(e->consume(make_batch("b", 3)).is_ok());
  ASSERT_TRUE(wait_for([&] { return state->attempts_now() == 1; }));
  e->shutdown(in(milliseconds(100)));
  EXPECT_EQ(failed(), 5);  // one abandoned mid-retry, one never picked up
  EXPECT_EQ(sent(), 0);
}

TEST_F(ExporterHelperTest, GaugesAreRemovedWithTheExporter) {
  auto state = std::make_shared<SenderState>();
  {
    auto e = make("sending_queue: {queue_size: 7}\n", state);
    EXPECT_EQ(metrics_.value("otelcol_exporter_queue_capacity", labels_), 7);
  }
  // Rendering would call into a destroyed exporter if the callbacks were left behind.
  EXPECT_EQ(metrics_.render_prometheus().find("otelcol_exporter_queue_size{"), std::string::npos);
}

TEST_F(ExporterHelperTest, PersistentQueueSurvivesACrashAndDeliversAfterRestart) {
  TempDir dir;
  const std::string yaml =
      "sending_queue: {num_consumers: 2, storage: " + dir.path().string() +
      "}\nretry_on_failure: {max_elapsed_time: 0, initial_interval: 1h, max_interval: 1h}\n";
  auto down = std::make_shared<SenderState>();
  down->fallback = Status::retryable("connection refused");
  std::filesystem::path storage;
  {
    auto e = make(yaml, down, "backup");
    ASSERT_TRUE(e->start().is_ok());
    storage = e->storage_dir();
    EXPECT_EQ(storage, dir.path() / "exporter_test_backup");
    ASSERT_TRUE(e->consume(make_batch("first", 2)).is_ok());
    ASSERT_TRUE(e->consume(make_batch("second", 3)).is_ok());
    ASSERT_TRUE(e->consume(make_batch("third", 1)).is_ok());
    // Every acknowledged batch is on disk before consume() returns.
    size_t files = 0;
    for (const auto& f : std::filesystem::directory_iterator(storage)) {
      files += f.path().extension() == ".pb";
    }
    EXPECT_EQ(files, 3u);
    // Destroyed without shutdown(): what kill -9 leaves behind.
  }
  EXPECT_EQ(sent(), 0);

  labels_ = {{"exporter", "test/backup"}};
  auto up = std::make_shared<SenderState>();
  auto e = make(yaml, up, "backup");
  ASSERT_TRUE(e->start().is_ok());
  ASSERT_TRUE(wait_for([&] { return up->delivered_now() == 6; }));
  e->shutdown(in(milliseconds(5000)));
  std::multiset<std::string> names(up->delivered.begin(), up->delivered.end());
  EXPECT_EQ(names, (std::multiset<std::string>{"first-0", "first-1", "second-0", "second-1",
                                               "second-2", "third-0"}));
  EXPECT_EQ(sent(), 6);
  // Delivered batches are removed from storage.
  EXPECT_TRUE(std::filesystem::is_empty(storage));
}

TEST_F(ExporterHelperTest, PersistentQueueKeepsBatchesLeftAtTheShutdownDeadline) {
  TempDir dir;
  const std::string yaml =
      "sending_queue: {num_consumers: 1, storage: " + dir.path().string() +
      "}\nretry_on_failure: {max_elapsed_time: 0, initial_interval: 1h, max_interval: 1h}\n";
  auto down = std::make_shared<SenderState>();
  down->fallback = Status::retryable("down");
  {
    auto e = make(yaml, down);
    ASSERT_TRUE(e->start().is_ok());
    ASSERT_TRUE(e->consume(make_batch("a", 2)).is_ok());
    ASSERT_TRUE(e->consume(make_batch("b", 1)).is_ok());
    // A deadline in the past: give up at once.
    e->shutdown(std::chrono::steady_clock::now() - milliseconds(1));
  }
  // Kept for the next start, so not counted as failed.
  EXPECT_EQ(failed(), 0);
  auto up = std::make_shared<SenderState>();
  auto e = make(yaml, up);
  ASSERT_TRUE(e->start().is_ok());
  ASSERT_TRUE(wait_for([&] { return up->delivered_now() == 3; }));
  e->shutdown(in(milliseconds(5000)));
  EXPECT_EQ(sent(), 3);
}

TEST_F(ExporterHelperTest, UnwritableStorageFailsStartWithTheKey) {
  TempDir dir;
  std::filesystem::path file = dir.path() / "not-a-dir";
  { std::ofstream(file) << "x"; }
  auto state = std::make_shared<SenderState>();
  auto e = make("sending_queue: {storage: " + file.string() + "}\n", state);
  Status st = e->start();
  ASSERT_FALSE(st.is_ok());
  EXPECT_NE(st.message().find("sending_queue.storage"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace hodos::pipeline
