#include "processors/stitch.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "pipeline/metrics.h"
#include "processors/stitcher.h"

namespace hodos::processors {
namespace {

using Clock = Stitcher::Clock;
using pipeline::Status;

class StitchProcessor : public pipeline::Processor {
 public:
  StitchProcessor(const pipeline::CreateContext& ctx, StitchOptions options,
                  pipeline::TracesConsumer& next)
      : next_(next),
        id_(ctx.id.str()),
        logger_(ctx.logger ? ctx.logger : spdlog::default_logger()),
        metrics_(ctx.metrics),
        stitcher_(options),
        tick_(std::clamp<Clock::duration>(options.wait / 4, std::chrono::milliseconds(10),
                                          std::chrono::milliseconds(250))),
        stitched_(counter("stitched", "Server spans joined to the client span that called them.")),
        ambiguous_(counter("ambiguous",
                           "Server spans left in their own trace: several client spans could "
                           "have called them.")),
        unmatched_(counter("unmatched", "Root server spans whose caller was not seen.")),
        rewritten_(counter("spans_rewritten", "Spans moved into their caller's trace.")),
        released_early_(counter("released_early",
                                "Spans sent on before the wait because max_spans was reached.")),
        released_settled_(counter("released_settled_spans",
                                  "Spans sent on before the wait because nothing could change "
                                  "their trace any more (release_settled).")),
        send_failed_(counter("send_failed_spans",
                             "Spans the next consumer refused after stitch had accepted them.")) {
    metrics_.gauge_fn("hodos_processor_stitch_held_spans", "Spans held for stitching.",
                      {{"processor", id_}}, [this] {
                        std::lock_guard lock(mu_);
                        return static_cast<double>(stitcher_.held_spans());
                      });
  }

  ~StitchProcessor() override {
    stop_timer();
    metrics_.remove_gauge_fns({{"processor", id_}});
  }

  Status start() override {
    timer_ = std::thread([this] { run_timer(); });
    return Status::ok();
  }

  void shutdown(pipeline::Deadline deadline) override {
    stop_timer();
    std::vector<core::SpanBatch> rest;
    {
      std::lock_guard lock(mu_);
      stopped_ = true;
      rest = stitcher_.release(Clock::now(), /*everything=*/true);
      publish_locked();
    }
    size_t dropped = 0;
    for (core::SpanBatch& b : rest) {
      if (Clock::now() >= deadline) {
        dropped += b.size();
        continue;
      }
      send(std::move(b));
    }
    if (dropped > 0) {
      send_failed_.add(dropped);
      logger_->warn("{}: shutdown deadline passed; dropped {} held spans", id_, dropped);
    }
  }

  Status consume(core::SpanBatch batch) override {
    if (batch.empty()) return Status::ok();
    std::vector<core::SpanBatch> ready;
    {
      std::lock_guard lock(mu_);
      if (stopped_) {
        ready.push_back(std::move(batch));  // nothing would release it any more
      } else {
        const Clock::time_point now = Clock::now();
        stitcher_.add(std::move(batch), now);
        // Past max_spans the oldest batches go now rather than at the next tick.
        ready = stitcher_.release(now);
        publish_locked();
      }
    }
    for (core::SpanBatch& b : ready) send(std::move(b));
    return Status::ok();
  }

 private:
  pipeline::Counter& counter(const std::string& name, const std::string& help) {
    return metrics_.counter("hodos_processor_stitch_" + name + "_total", help,
                            {{"processor", id_}});
  }

  // The counters follow the stitcher's totals.
  void publish_locked() {
    const StitchStats& s = stitcher_.stats();
    auto follow = [](pipeline::Counter& c, uint64_t total) {
      if (total > c.value()) c.add(total - c.value());
    };
    follow(stitched_, s.stitched);
    follow(ambiguous_, s.ambiguous);
    follow(unmatched_, s.unmatched);
    follow(rewritten_, s.spans_rewritten);
    follow(released_early_, s.released_early);
    follow(released_settled_, s.released_settled);
  }

  void run_timer() {
    std::unique_lock lock(mu_);
    while (!timer_stop_) {
      timer_cv_.wait_for(lock, tick_);
      if (timer_stop_) break;
      std::vector<core::SpanBatch> ready = stitcher_.release(Clock::now());
      publish_locked();
      if (ready.empty()) continue;
      lock.unlock();
      for (core::SpanBatch& b : ready) send(std::move(b));
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

  void send(core::SpanBatch batch) {
    const size_t n = batch.size();
    Status st = next_.consume(std::move(batch));
    if (st.is_ok()) return;
    send_failed_.add(n);
    logger_->warn("{}: next consumer refused {} spans: {}", id_, n, st.message());
  }

  pipeline::TracesConsumer& next_;
  const std::string id_;
  std::shared_ptr<spdlog::logger> logger_;
  pipeline::Metrics& metrics_;
  std::mutex mu_;
  Stitcher stitcher_;
  const Clock::duration tick_;
  pipeline::Counter& stitched_;
  pipeline::Counter& ambiguous_;
  pipeline::Counter& unmatched_;
  pipeline::Counter& rewritten_;
  pipeline::Counter& released_early_;
  pipeline::Counter& released_settled_;
  pipeline::Counter& send_failed_;
  std::condition_variable timer_cv_;
  bool stopped_ = false;
  bool timer_stop_ = false;
  std::thread timer_;
};

class StitchProcessorFactory : public pipeline::ProcessorFactory {
 public:
  std::string_view type() const override { return "stitch"; }

  std::unique_ptr<pipeline::Processor> create(const pipeline::CreateContext& ctx,
                                              pipeline::ConfigNode& config,
                                              pipeline::TracesConsumer& next) const override {
    StitchOptions o;
    o.wait = config.get_duration("wait", o.wait);
    o.clock_skew = config.get_duration("clock_skew", o.clock_skew);
    o.max_spans = static_cast<size_t>(
        config.get_int("max_spans", static_cast<int64_t>(o.max_spans), 1, 100'000'000));
    o.remember = config.get_duration("remember", o.remember);
    o.release_settled = config.get_bool("release_settled", o.release_settled);
    config.reject_unknown_keys();
    if (o.wait.count() <= 0) {
      config.fail("wait", "must be more than 0 (a caller's span arrives after its callee's); "
                          "use e.g. 2s");
    }
    if (o.remember < o.wait) {
      config.fail("remember", fmt::format("{}ms is shorter than wait ({}ms); use a value >= wait",
                                          o.remember.count(), o.wait.count()));
    }
    return std::make_unique<StitchProcessor>(ctx, o, next);
  }
};

}  // namespace

std::unique_ptr<pipeline::ProcessorFactory> make_stitch_processor_factory() {
  return std::make_unique<StitchProcessorFactory>();
}

}  // namespace hodos::processors
