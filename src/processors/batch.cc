#include "processors/batch.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "pipeline/metrics.h"

namespace hodos::processors {
namespace {

using Clock = std::chrono::steady_clock;
using core::SpanBatch;
using pipeline::Status;

struct BatchConfig {
  size_t send_batch_size = 8192;
  size_t send_batch_max_size = 0;  // 0 = unlimited
  std::chrono::milliseconds timeout{200};
};

// Lets one warning through per interval and counts the ones it held back, so that a destination
// that is down does not flood the log once per batch.
class RateLimit {
 public:
  explicit RateLimit(Clock::duration interval) : interval_(interval) {}
  // The number of events suppressed since the last admitted one, or nullopt to stay quiet.
  std::optional<uint64_t> admit() {
    std::lock_guard lock(mu_);
    Clock::time_point now = Clock::now();
    if (admitted_once_ && now - last_ < interval_) {
      ++suppressed_;
      return std::nullopt;
    }
    admitted_once_ = true;
    last_ = now;
    return std::exchange(suppressed_, 0);
  }

 private:
  std::mutex mu_;
  Clock::duration interval_;
  Clock::time_point last_{};
  bool admitted_once_ = false;
  uint64_t suppressed_ = 0;
};

class BatchProcessor : public pipeline::Processor {
 public:
  BatchProcessor(const pipeline::CreateContext& ctx, BatchConfig config,
                 pipeline::TracesConsumer& next)
      : config_(config),
        next_(next),
        id_(ctx.id.str()),
        logger_(ctx.logger ? ctx.logger : spdlog::default_logger()),
        size_trigger_(ctx.metrics.counter("otelcol_processor_batch_batch_size_trigger_send_total",
                                          "Batches sent because send_batch_size was reached.",
                                          {{"processor", id_}})),
        timeout_trigger_(ctx.metrics.counter("otelcol_processor_batch_timeout_trigger_send_total",
                                             "Batches sent because the timeout expired.",
                                             {{"processor", id_}})),
        send_size_sum_(ctx.metrics.counter("otelcol_processor_batch_batch_send_size_sum",
                                           "Spans in the batches sent (sum).",
                                           {{"processor", id_}})),
        send_size_count_(ctx.metrics.counter("otelcol_processor_batch_batch_send_size_count",
                                             "Batches sent (count).", {{"processor", id_}})),
        send_failed_(ctx.metrics.counter(
            "hodos_processor_batch_send_failed_spans_total",
            "Spans the next consumer refused after the batch processor had accepted them.",
            {{"processor", id_}})) {}

  ~BatchProcessor() override { stop_timer(); }

  Status start() override {
    if (config_.timeout.count() > 0) timer_ = std::thread([this] { run_timer(); });
    return Status::ok();
  }

  void shutdown(pipeline::Deadline deadline) override {
    stop_timer();
    std::vector<SpanBatch> rest;
    {
      std::lock_guard lock(mu_);
      stopped_ = true;
      split_into(take_all_locked(), rest);
    }
    size_t dropped = 0;
    for (SpanBatch& b : rest) {
      if (Clock::now() >= deadline) {
        dropped += b.size();
        continue;
      }
      send(std::move(b), &timeout_trigger_);
    }
    if (dropped > 0) {
      send_failed_.add(dropped);
      logger_->warn("{}: shutdown deadline passed; dropped {} buffered spans", id_, dropped);
    }
  }

  Status consume(SpanBatch batch) override {
    if (batch.empty()) return Status::ok();
    std::vector<SpanBatch> ready;
    {
      std::lock_guard lock(mu_);
      if (stopped_) {
        // After shutdown nothing would flush a buffer: pass data straight on.
        split_into(std::move(batch), ready);
      } else {
        const bool was_empty = buffered_spans_ == 0;
        buffered_spans_ += batch.size();
        buffer_.push_back(std::move(batch));
        if (was_empty) {
          buffer_since_ = Clock::now();
          timer_cv_.notify_one();
        }
        take_full_batches_locked(ready);
      }
    }
    // Downstream runs outside the lock so that other senders keep buffering meanwhile.
    for (SpanBatch& b : ready) send(std::move(b), &size_trigger_);
    return Status::ok();
  }

 private:
  bool size_reached_locked() const {
    // A zero timeout sends at once, as in the Collector.
    return config_.timeout.count() == 0 || buffered_spans_ >= config_.send_batch_size;
  }

  void take_full_batches_locked(std::vector<SpanBatch>& out) {
    if (buffered_spans_ == 0 || !size_reached_locked()) return;
    while (buffered_spans_ > 0 && size_reached_locked()) {
      const size_t max = config_.send_batch_max_size;
      out.push_back(take_locked(max > 0 ? std::min(max, buffered_spans_) : buffered_spans_));
    }
    // What is left over waits a whole timeout again, like the Collector's timer reset.
    buffer_since_ = Clock::now();
  }

  // The first `n` buffered spans as one batch. Only a batch that straddles the cut is split,
  // so only its arenas end up shared between what is sent and what stays buffered.
  SpanBatch take_locked(size_t n) {
    SpanBatch out;
    buffered_spans_ -= n;
    while (n > 0) {
      SpanBatch& front = buffer_.front();
      if (front.size() <= n) {
        n -= front.size();
        out.append(std::move(front));
        buffer_.pop_front();
      } else {
        out.append(front.take_front(n));
        n = 0;
      }
    }
    return out;
  }

  SpanBatch take_all_locked() { return take_locked(buffered_spans_); }

  // Cuts `batch` into pieces of at most send_batch_max_size.
  void split_into(SpanBatch batch, std::vector<SpanBatch>& out) const {
    while (config_.send_batch_max_size > 0 && batch.size() > config_.send_batch_max_size) {
      out.push_back(batch.take_front(config_.send_batch_max_size));
    }
    if (!batch.empty()) out.push_back(std::move(batch));
  }

  void run_timer() {
    std::unique_lock lock(mu_);
    while (!timer_stop_) {
      if (buffered_spans_ == 0) {
        timer_cv_.wait(lock);
        continue;
      }
      const Clock::time_point due = buffer_since_ + config_.timeout;
      if (Clock::now() < due) {
        timer_cv_.wait_until(lock, due);
        continue;
      }
      std::vector<SpanBatch> ready;
      split_into(take_all_locked(), ready);
      lock.unlock();
      for (SpanBatch& b : ready) send(std::move(b), &timeout_trigger_);
      lock.lock();
    }
  }

  void stop_timer() {
    {
      std::lock_guard lock(mu_);
      timer_stop_ = true;
    }
    timer_cv_.notify_all();
    if (timer_.joinable()) timer_.join();
  }

  void send(SpanBatch batch, pipeline::Counter* trigger) {
    const size_t n = batch.size();
    trigger->add();
    send_size_sum_.add(n);
    send_size_count_.add();
    Status st = next_.consume(std::move(batch));
    if (st.is_ok()) return;
    // The senders were already told "ok": all that is left is to count and say so.
    send_failed_.add(n);
    if (auto suppressed = failure_log_.admit()) {
      logger_->warn(
          "{}: next consumer refused {} spans ({}): {}{}", id_, n,
          st.is_retryable() ? "retryable" : "permanent", st.message(),
          *suppressed ? fmt::format(" ({} similar failures not logged)", *suppressed) : "");
    }
  }

  const BatchConfig config_;
  pipeline::TracesConsumer& next_;
  const std::string id_;
  std::shared_ptr<spdlog::logger> logger_;
  pipeline::Counter& size_trigger_;
  pipeline::Counter& timeout_trigger_;
  pipeline::Counter& send_size_sum_;
  pipeline::Counter& send_size_count_;
  pipeline::Counter& send_failed_;
  RateLimit failure_log_{std::chrono::seconds(10)};

  std::mutex mu_;
  std::condition_variable timer_cv_;
  // Buffered batches kept apart in arrival order rather than merged into one: a merged buffer
  // that is cut at send_batch_max_size shares all its arenas with every piece it sends, and under
  // steady load (never empty) it would keep every arena it ever received alive.
  std::deque<SpanBatch> buffer_;
  size_t buffered_spans_ = 0;
  Clock::time_point buffer_since_{};
  bool stopped_ = false;
  bool timer_stop_ = false;
  std::thread timer_;
};

class BatchProcessorFactory : public pipeline::ProcessorFactory {
 public:
  std::string_view type() const override { return "batch"; }

  std::unique_ptr<pipeline::Processor> create(const pipeline::CreateContext& ctx,
                                              pipeline::ConfigNode& config,
                                              pipeline::TracesConsumer& next) const override {
    BatchConfig c;
    constexpr int64_t kMax = UINT32_MAX;
    c.send_batch_size = static_cast<size_t>(config.get_int("send_batch_size", 8192, 0, kMax));
    c.send_batch_max_size = static_cast<size_t>(config.get_int("send_batch_max_size", 0, 0, kMax));
    c.timeout = config.get_duration("timeout", std::chrono::milliseconds(200));
    config.reject_unknown_keys();
    if (c.send_batch_max_size != 0 && c.send_batch_max_size < c.send_batch_size) {
      config.fail("send_batch_max_size",
                  fmt::format("{} is smaller than send_batch_size ({}); use a value >= "
                              "send_batch_size, or 0 for no limit",
                              c.send_batch_max_size, c.send_batch_size));
    }
    return std::make_unique<BatchProcessor>(ctx, c, next);
  }
};

}  // namespace

std::unique_ptr<pipeline::ProcessorFactory> make_batch_processor_factory() {
  return std::make_unique<BatchProcessorFactory>();
}

}  // namespace hodos::processors
