#include "processors/memory_limiter.h"

#include <fmt/format.h>
#include <malloc.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>

#include "pipeline/metrics.h"

namespace hodos::processors {

uint64_t heap_bytes_in_use() {
  struct mallinfo2 info = mallinfo2();
  return static_cast<uint64_t>(info.uordblks) + static_cast<uint64_t>(info.hblkhd);
}

namespace {

constexpr uint64_t kMiB = 1024 * 1024;

// The first whitespace-separated token of a file; "" when it cannot be read.
std::string read_token(const std::string& path) {
  std::ifstream in(path);
  std::string token;
  in >> token;
  return token;
}

uint64_t parse_bytes(const std::string& token) {
  if (token.empty() || token == "max") return 0;
  try {
    return std::stoull(token);
  } catch (...) {
    return 0;
  }
}

uint64_t cgroup_limit_bytes() {
  // cgroup v2: "0::/some/path" in /proc/self/cgroup names our group under /sys/fs/cgroup.
  std::ifstream self("/proc/self/cgroup");
  std::string line;
  while (std::getline(self, line)) {
    if (line.rfind("0::", 0) != 0) continue;
    std::string rel = line.substr(3);
    if (uint64_t v = parse_bytes(read_token("/sys/fs/cgroup" + rel + "/memory.max"))) return v;
  }
  if (uint64_t v = parse_bytes(read_token("/sys/fs/cgroup/memory.max"))) return v;
  // cgroup v1 reports "unlimited" as a huge number; the caller's min() with MemTotal handles it.
  return parse_bytes(read_token("/sys/fs/cgroup/memory/memory.limit_in_bytes"));
}

uint64_t meminfo_total_bytes() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  uint64_t kib = 0;
  std::string unit;
  while (in >> key >> kib >> unit) {
    if (key == "MemTotal:") return kib * 1024;
  }
  return 0;
}

}  // namespace

uint64_t total_memory_bytes() {
  uint64_t total = meminfo_total_bytes();
  uint64_t cgroup = cgroup_limit_bytes();
  if (cgroup > 0 && (total == 0 || cgroup < total)) return cgroup;
  return total;
}

namespace {

using Clock = std::chrono::steady_clock;
using pipeline::Status;

struct MemoryLimiterConfig {
  std::chrono::milliseconds check_interval{0};
  uint64_t hard_limit = 0;
  uint64_t spike = 0;
  // How often malloc_trim may run while over each limit (the Collector's GC intervals).
  std::chrono::milliseconds trim_interval_soft{10'000};
  std::chrono::milliseconds trim_interval_hard{0};
};

class MemoryLimiterProcessor : public pipeline::Processor, public MemoryLimiterControl {
 public:
  MemoryLimiterProcessor(const pipeline::CreateContext& ctx, MemoryLimiterConfig config,
                         pipeline::TracesConsumer& next)
      : config_(config),
        next_(next),
        id_(ctx.id.str()),
        logger_(ctx.logger ? ctx.logger : spdlog::default_logger()),
        in_use_(ctx.metrics.gauge("hodos_memory_limiter_in_use_bytes",
                                  "Heap bytes in use at the last check.", {{"processor", id_}})),
        limit_(ctx.metrics.gauge("hodos_memory_limiter_limit_bytes", "Hard memory limit in bytes.",
                                 {{"processor", id_}})),
        soft_limit_(ctx.metrics.gauge("hodos_memory_limiter_soft_limit_bytes",
                                      "Soft memory limit (limit - spike) in bytes; above it data "
                                      "is refused.",
                                      {{"processor", id_}})),
        refusing_gauge_(ctx.metrics.gauge("hodos_memory_limiter_refusing",
                                          "1 while the memory limiter refuses data.",
                                          {{"processor", id_}})),
        accepted_(ctx.metrics.counter("otelcol_processor_accepted_spans_total",
                                      "Spans the processor passed on.", {{"processor", id_}})),
        refused_(ctx.metrics.counter("otelcol_processor_refused_spans_total",
                                     "Spans the processor refused.", {{"processor", id_}})) {
    limit_.set(static_cast<double>(config_.hard_limit));
    soft_limit_.set(static_cast<double>(soft_limit_bytes()));
  }

  ~MemoryLimiterProcessor() override { stop_sampler(); }

  Status start() override {
    check_now();  // so that a collector started above the limit refuses from the first request
    sampler_ = std::thread([this] { run_sampler(); });
    return Status::ok();
  }

  void shutdown(pipeline::Deadline) override { stop_sampler(); }

  Status consume(core::SpanBatch batch) override {
    if (refusing_.load(std::memory_order_relaxed)) {
      refused_.add(batch.size());
      return Status::retryable("memory limit exceeded", std::chrono::seconds(1));
    }
    accepted_.add(batch.size());
    return next_.consume(std::move(batch));
  }

  void set_memory_reader(MemoryReader reader) override {
    std::lock_guard lock(check_mu_);
    reader_ = std::move(reader);
  }

  void check_now() override {
    std::lock_guard lock(check_mu_);
    const uint64_t used = reader_();
    in_use_.set(static_cast<double>(used));
    const bool above_hard = used >= config_.hard_limit;
    const bool above_soft = used >= soft_limit_bytes();

    if (above_hard != above_hard_) {
      above_hard_ = above_hard;
      if (above_hard) {
        logger_->warn(
            "{}: memory in use {} MiB is above the hard limit {} MiB; returning free "
            "heap to the system",
            id_, used / kMiB, config_.hard_limit / kMiB);
      }
    }
    // malloc_trim gives free heap pages back so that RSS follows the heap down (Go's GC analogue).
    const auto trim_interval = above_hard ? config_.trim_interval_hard : config_.trim_interval_soft;
    if (above_soft && (above_hard || trim_interval.count() > 0)) {
      const Clock::time_point now = Clock::now();
      if (!trimmed_once_ || now - last_trim_ >= trim_interval) {
        malloc_trim(0);
        trimmed_once_ = true;
        last_trim_ = now;
      }
    }

    if (above_soft != refusing_.load(std::memory_order_relaxed)) {
      refusing_.store(above_soft, std::memory_order_relaxed);
      refusing_gauge_.set(above_soft ? 1 : 0);
      if (above_soft) {
        logger_->warn(
            "{}: memory in use {} MiB is above the soft limit {} MiB; refusing data "
            "until it drops",
            id_, used / kMiB, soft_limit_bytes() / kMiB);
      } else {
        logger_->info(
            "{}: memory in use {} MiB is back under the soft limit {} MiB; accepting "
            "data again",
            id_, used / kMiB, soft_limit_bytes() / kMiB);
      }
    }
  }

  bool refusing() const override { return refusing_.load(std::memory_order_relaxed); }
  uint64_t hard_limit_bytes() const override { return config_.hard_limit; }
  uint64_t soft_limit_bytes() const override { return config_.hard_limit - config_.spike; }

 private:
  void run_sampler() {
    std::unique_lock lock(stop_mu_);
    while (!stop_) {
      if (stop_cv_.wait_for(lock, config_.check_interval, [this] { return stop_; })) break;
      lock.unlock();
      check_now();
      lock.lock();
    }
  }

  void stop_sampler() {
    {
      std::lock_guard lock(stop_mu_);
      stop_ = true;
    }
    stop_cv_.notify_all();
    if (sampler_.joinable()) sampler_.join();
  }

  const MemoryLimiterConfig config_;
  pipeline::TracesConsumer& next_;
  const std::string id_;
  std::shared_ptr<spdlog::logger> logger_;
  pipeline::Gauge& in_use_;
  pipeline::Gauge& limit_;
  pipeline::Gauge& soft_limit_;
  pipeline::Gauge& refusing_gauge_;
  pipeline::Counter& accepted_;
  pipeline::Counter& refused_;

  std::atomic<bool> refusing_{false};

  std::mutex check_mu_;  // guards the reader and the state below
  MemoryReader reader_ = heap_bytes_in_use;
  bool above_hard_ = false;
  bool trimmed_once_ = false;
  Clock::time_point last_trim_{};

  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stop_ = false;
  std::thread sampler_;
};

class MemoryLimiterFactory : public pipeline::ProcessorFactory {
 public:
  std::string_view type() const override { return "memory_limiter"; }

  std::unique_ptr<pipeline::Processor> create(const pipeline::CreateContext& ctx,
                                              pipeline::ConfigNode& config,
                                              pipeline::TracesConsumer& next) const override {
    MemoryLimiterConfig c;
    c.check_interval = config.get_duration("check_interval", std::chrono::milliseconds(0));
    const int64_t limit_mib = config.get_int("limit_mib", 0, 0);
    const int64_t spike_mib = config.get_int("spike_limit_mib", 0, 0);
    const int64_t limit_pct = config.get_int("limit_percentage", 0, 0, 100);
    const int64_t spike_pct = config.get_int("spike_limit_percentage", 0, 0, 100);
    c.trim_interval_soft =
        config.get_duration("min_gc_interval_when_soft_limited", c.trim_interval_soft);
    c.trim_interval_hard =
        config.get_duration("min_gc_interval_when_hard_limited", c.trim_interval_hard);
    config.reject_unknown_keys();

    if (c.check_interval.count() <= 0) {
      config.fail("check_interval", "required; set it greater than zero, e.g. 1s");
    }
    if (limit_mib > 0 && limit_pct > 0) {
      config.fail("limit_percentage", "set either limit_mib or limit_percentage, not both");
    }
    if (limit_mib > 0) {
      if (spike_pct > 0) {
        config.fail("spike_limit_percentage",
                    "only valid with limit_percentage; use spike_limit_mib with limit_mib");
      }
      if (spike_mib >= limit_mib) {
        config.fail("spike_limit_mib",
                    fmt::format("{} must be smaller than limit_mib ({})", spike_mib, limit_mib));
      }
      c.hard_limit = static_cast<uint64_t>(limit_mib) * kMiB;
      c.spike = spike_mib > 0 ? static_cast<uint64_t>(spike_mib) * kMiB : c.hard_limit / 5;
    } else if (limit_pct > 0) {
      if (spike_mib > 0) {
        config.fail("spike_limit_mib",
                    "only valid with limit_mib; use spike_limit_percentage with limit_percentage");
      }
      if (spike_pct >= limit_pct) {
        config.fail(
            "spike_limit_percentage",
            fmt::format("{} must be smaller than limit_percentage ({})", spike_pct, limit_pct));
      }
      const uint64_t total = total_memory_bytes();
      if (total == 0) {
        config.fail("limit_percentage",
                    "the total memory could not be read from /proc/meminfo or the cgroup; use "
                    "limit_mib instead");
      }
      c.hard_limit = total / 100 * static_cast<uint64_t>(limit_pct);
      c.spike = spike_pct > 0 ? total / 100 * static_cast<uint64_t>(spike_pct) : c.hard_limit / 5;
    } else {
      config.fail("limit_mib",
                  "required; set limit_mib (MiB) or limit_percentage (of total memory) greater "
                  "than zero");
    }
    return std::make_unique<MemoryLimiterProcessor>(ctx, c, next);
  }
};

}  // namespace

std::unique_ptr<pipeline::ProcessorFactory> make_memory_limiter_processor_factory() {
  return std::make_unique<MemoryLimiterFactory>();
}

}  // namespace hodos::processors
