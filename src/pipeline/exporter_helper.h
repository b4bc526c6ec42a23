// The exporter helper every exporter is built on, as in the OpenTelemetry Collector: a sending
// queue (optionally persisted to disk so queued data survives a crash), consumer threads, and
// retry with exponential backoff, around a BatchSender that only knows how to send one batch.
#pragma once

#include <spdlog/logger.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "pipeline/component.h"
#include "pipeline/config_node.h"
#include "pipeline/factory.h"
#include "pipeline/obs.h"

namespace hodos::pipeline {

// Sends one batch to a destination. The helper calls send() from several consumer threads at
// once, so implementations must be thread-safe. The sender decides what is retryable: transport
// errors, gRPC UNAVAILABLE and friends, HTTP 429/502/503/504 are retryable (with the
// destination's Retry-After as retry_after); bad data (HTTP 400, INVALID_ARGUMENT) is permanent.
class BatchSender {
 public:
  virtual ~BatchSender() = default;
  // Opens files, reads certificates, creates channels. A failure stops the service.
  virtual Status start() { return Status::ok(); }
  // Must give up by `deadline` (the exporter's `timeout`, shortened while shutting down).
  virtual Status send(const core::SpanBatch& batch, Deadline deadline) = 0;
  // Called once after the last send().
  virtual void shutdown() {}
};

struct QueueSettings {
  bool enabled = true;
  int num_consumers = 10;
  size_t queue_size = 1000;  // in batches
  // Empty: in memory. Otherwise a directory; this exporter's batches go in a subdirectory named
  // after its id ("otlp/backup" -> "exporter_otlp_backup").
  std::string storage;
};

struct RetrySettings {
  bool enabled = true;
  std::chrono::milliseconds initial_interval{5'000};
  std::chrono::milliseconds max_interval{30'000};
  std::chrono::milliseconds max_elapsed_time{300'000};  // zero: retry forever
  double multiplier = 1.5;
  double randomization_factor = 0.5;
};

struct ExporterHelperSettings {
  QueueSettings queue;
  RetrySettings retry;
  std::chrono::milliseconds timeout{5'000};  // per send attempt

  // Reads `sending_queue`, `retry_on_failure` and `timeout` from an exporter's config, starting
  // from `defaults` (exporters differ: the file exporter writes synchronously by default, the
  // HTTP exporters wait longer).
  static ExporterHelperSettings parse(ConfigNode& config, const ExporterHelperSettings& defaults);
};

// Time left until `deadline`, clamped to [1ms, 24h] (Deadline::max() means "no timeout"), for
// APIs that take a duration (libcurl, log lines).
std::chrono::milliseconds time_left(Deadline deadline);

class QueuedRetryExporter : public Exporter {
 public:
  // Reads the common keys from `config` (the exporter reads its own; the factory then calls
  // config.reject_unknown_keys()).
  QueuedRetryExporter(const CreateContext& ctx, ConfigNode& config,
                      std::unique_ptr<BatchSender> sender,
                      const ExporterHelperSettings& defaults = {});
  QueuedRetryExporter(const CreateContext& ctx, const ExporterHelperSettings& settings,
                      std::unique_ptr<BatchSender> sender);
  // Without a shutdown() first, behaves like a crash: nothing is drained, persisted batches stay.
  ~QueuedRetryExporter() override;

  Status start() override;
  void shutdown(Deadline deadline) override;
  // Queue enabled: enqueues (and persists) and returns; a full queue is a retryable refusal.
  // Queue disabled: sends on the caller's thread with retries and returns the outcome.
  Status consume(core::SpanBatch batch) override;

  const ExporterHelperSettings& settings() const { return settings_; }
  size_t queued() const { return queued_.load(std::memory_order_relaxed); }
  // Directory holding this exporter's persisted batches; empty when not persistent.
  const std::filesystem::path& storage_dir() const { return storage_dir_; }

 private:
  struct Item {
    core::SpanBatch batch;
    std::filesystem::path file;  // empty when not persisted
  };
  enum class Outcome { kSent, kDropped, kAbandoned };

  void worker();
  // `last` (optional) receives the destination's last answer.
  Outcome send_with_retry(const core::SpanBatch& batch, Status* last);
  // Waits until `wake`; false when the exporter is stopping and the batch should be abandoned.
  bool wait_backoff(std::chrono::steady_clock::time_point wake);
  Deadline send_deadline() const;
  void finish(Item& item, Outcome outcome);
  Status load_storage();
  std::optional<std::string> persist(const core::SpanBatch& batch, std::filesystem::path* file);
  void register_gauges();

  ComponentId id_;
  Metrics& metrics_;
  std::shared_ptr<spdlog::logger> logger_;
  ExporterHelperSettings settings_;
  std::unique_ptr<BatchSender> sender_;
  ExporterObs obs_;
  std::filesystem::path storage_dir_;

  mutable std::mutex mu_;
  std::condition_variable queue_cv_;  // items arrived, or stopping
  std::condition_variable stop_cv_;   // wakes backoff waits when stopping
  std::condition_variable idle_cv_;   // queue drained
  std::deque<Item> queue_;
  size_t reserved_ = 0;  // slots taken by batches being written to storage
  size_t in_flight_ = 0;
  bool started_ = false;
  bool accepting_ = false;
  bool draining_ = false;
  bool hard_stop_ = false;
  bool stopped_ = false;
  Deadline shutdown_deadline_ = Deadline::max();
  std::atomic<size_t> queued_{0};
  std::atomic<uint64_t> next_seq_{1};
  // Shutdown statistics for the one summary line.
  std::atomic<uint64_t> abandoned_batches_{0};
  std::atomic<uint64_t> abandoned_spans_{0};
  std::vector<std::thread> workers_;
};

// The factory of an exporter that is a BatchSender behind the helper. `make_sender(ctx, config)`
// reads the exporter's own keys, the helper reads the common ones starting from `defaults`, and
// any key left over is reported as unknown.
template <class MakeSender>
class SenderExporterFactory : public ExporterFactory {
 public:
  SenderExporterFactory(std::string_view type, ExporterHelperSettings defaults, MakeSender make_sender)
      : type_(type), defaults_(std::move(defaults)), make_sender_(std::move(make_sender)) {}

  std::string_view type() const override { return type_; }
  std::unique_ptr<Exporter> create(const CreateContext& ctx, ConfigNode& config) const override {
    auto exporter =
        std::make_unique<QueuedRetryExporter>(ctx, config, make_sender_(ctx, config), defaults_);
    config.reject_unknown_keys();
    return exporter;
  }

 private:
  std::string_view type_;
  ExporterHelperSettings defaults_;
  MakeSender make_sender_;
};

template <class MakeSender>
std::unique_ptr<ExporterFactory> make_sender_exporter_factory(std::string_view type,
                                                              ExporterHelperSettings defaults,
                                                              MakeSender make_sender) {
  return std::make_unique<SenderExporterFactory<MakeSender>>(type, std::move(defaults),
                                                             std::move(make_sender));
}

}  // namespace hodos::pipeline
