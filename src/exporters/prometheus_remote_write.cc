#include "exporters/prometheus_remote_write.h"

#include <fmt/format.h>
#include <snappy.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <random>
#include <thread>

#include "exporters/http_common.h"
#include "exporters/prometheus_common.h"
#include "pipeline/exporter_helper.h"
#include "prometheus/remote.pb.h"

namespace hodos::exporters {

namespace {

using pipeline::Status;
using Clock = std::chrono::steady_clock;

struct RemoteWriteSettings : HttpDestination {
  PrometheusNaming naming;
  size_t queue_size = 100;  // requests
  size_t max_request_bytes = 3'000'000;
  std::chrono::milliseconds timeout{5'000};
  pipeline::RetrySettings retry;
};

RemoteWriteSettings read_settings(pipeline::ConfigNode& config) {
  RemoteWriteSettings s;
  s.url = config.get_string("endpoint", "");
  if (s.url.empty()) config.fail("endpoint", "required; e.g. http://prometheus:9090/api/v1/write");
  require_http_url(config, "endpoint", s.url);
  for (auto& [k, v] : config.get_string_map("headers")) s.headers.emplace_back(k, v);
  s.headers.emplace_back("Content-Encoding", "snappy");
  s.headers.emplace_back("X-Prometheus-Remote-Write-Version", "0.1.0");
  s.tls = read_tls_settings(config);
  s.naming = PrometheusNaming::read(config, "external_labels");
  s.timeout = config.get_duration("timeout", s.timeout);
  s.max_request_bytes = static_cast<size_t>(
      config.get_int("max_batch_size_bytes", static_cast<int64_t>(s.max_request_bytes), 1024));
  pipeline::ConfigNode queue = config.child("remote_write_queue");
  if (!queue.get_bool("enabled", true)) {
    queue.fail("enabled", "the queue cannot be turned off; set queue_size to bound it");
  }
  s.queue_size = static_cast<size_t>(queue.get_int("queue_size", static_cast<int64_t>(s.queue_size), 1));
  // One sender keeps samples in order; the Collector's consumer count does not apply.
  queue.get_int("num_consumers", 1, 1);
  queue.reject_unknown_keys();
  pipeline::ConfigNode retry = config.child("retry_on_failure");
  s.retry.enabled = retry.get_bool("enabled", true);
  s.retry.initial_interval = retry.get_duration("initial_interval", std::chrono::milliseconds(50));
  s.retry.max_interval = retry.get_duration("max_interval", std::chrono::seconds(30));
  s.retry.max_elapsed_time = retry.get_duration("max_elapsed_time", std::chrono::minutes(5));
  retry.get_double("multiplier", 1.5);
  retry.get_double("randomization_factor", 0.5);
  retry.reject_unknown_keys();
  // The Collector's target_info metric: its labels would be the resource's, which the
  // spanmetrics points here do not carry.
  config.child("target_info").get_bool("enabled", true);
  return s;
}

prometheus::MetricMetadata::MetricType metadata_type(const std::string& type) {
  return type == "counter" ? prometheus::MetricMetadata::COUNTER
                           : prometheus::MetricMetadata::HISTOGRAM;
}

struct Request {
  std::string body;   // snappy-compressed WriteRequest
  size_t points = 0;  // OpenTelemetry data points begun in it (a histogram is many samples)
};

// Samples in WriteRequests of at most `max_bytes` (before compression), metadata in the first.
std::vector<Request> encode(const std::vector<PrometheusFamily>& families, size_t max_bytes) {
  std::vector<Request> out;
  prometheus::WriteRequest req;
  size_t bytes = 0, points = 0;
  auto finish = [&] {
    if (req.timeseries_size() == 0 && req.metadata_size() == 0) return;
    Request r;
    std::string raw = req.SerializeAsString();
    snappy::Compress(raw.data(), raw.size(), &r.body);
    r.points = points;
    out.push_back(std::move(r));
    req.Clear();
    bytes = points = 0;
  };
  for (const auto& family : families) {
    auto* md = req.add_metadata();
    md->set_type(metadata_type(family.type));
    md->set_metric_family_name(family.name);
    md->set_help(family.help);
  }
  for (const auto& family : families) {
    for (const auto& sample : family.samples) {
      prometheus::TimeSeries ts;
      // Receivers such as Mimir refuse a series whose labels are not sorted by name, and an
      // upper-case label sorts before __name__.
      std::vector<std::pair<std::string_view, std::string_view>> labels;
      labels.reserve(sample.labels.size() + 1);
      labels.emplace_back("__name__", sample.name);
      for (const auto& [k, v] : sample.labels) labels.emplace_back(k, v);
      std::sort(labels.begin(), labels.end());
      for (const auto& [k, v] : labels) {
        auto* l = ts.add_labels();
        l->set_name(std::string(k));
        l->set_value(std::string(v));
      }
      auto* s = ts.add_samples();
      s->set_value(sample.value);
      s->set_timestamp(sample.timestamp_ms);
      const size_t size = ts.ByteSizeLong() + 4;
      if (bytes + size > max_bytes && req.timeseries_size() > 0) finish();
      *req.add_timeseries() = std::move(ts);
      bytes += size;
      if (sample.starts_point) ++points;
    }
  }
  finish();
  return out;
}

class RemoteWriteExporter : public pipeline::MetricsExporter {
 public:
  RemoteWriteExporter(const pipeline::CreateContext& ctx, RemoteWriteSettings settings)
      : id_(ctx.id.str()),
        logger_(ctx.logger),
        s_(std::move(settings)),
        metrics_(ctx.metrics),
        sent_(ctx.metrics.counter("otelcol_exporter_sent_metric_points_total",
                                  "Metric points successfully sent to the destination.",
                                  {{"exporter", id_}})),
        failed_(ctx.metrics.counter("otelcol_exporter_send_failed_metric_points_total",
                                    "Metric points that failed to be sent (dropped after retries "
                                    "or as permanent).",
                                    {{"exporter", id_}})),
        enqueue_failed_(ctx.metrics.counter(
            "otelcol_exporter_enqueue_failed_metric_points_total",
            "Metric points dropped because the sending queue was full.", {{"exporter", id_}})) {
    metrics_.gauge_fn("otelcol_exporter_queue_size", "Current size of the retry queue (in batches).",
                      {{"exporter", id_}}, [this] {
                        std::lock_guard lock(mu_);
                        return static_cast<double>(queue_.size());
                      });
  }

  ~RemoteWriteExporter() override {
    stop(Clock::now());
    metrics_.remove_gauge_fns({{"exporter", id_}});
  }

  Status start() override {
    worker_ = std::thread([this] { run(); });
    return Status::ok();
  }

  void shutdown(pipeline::Deadline deadline) override { stop(deadline); }

  Status consume_metrics(const core::MetricBatch& batch) override {
    std::vector<Request> requests = encode(to_prometheus(batch, s_.naming), s_.max_request_bytes);
    size_t dropped = 0;
    {
      std::lock_guard lock(mu_);
      if (stopping_) return Status::permanent(fmt::format("exporters.{}: stopped", id_));
      for (auto& r : requests) {
        // The request being sent stays at the front, outside the bound; the oldest after it goes.
        const size_t first = sending_ ? 1 : 0;
        if (queue_.size() - first >= s_.queue_size) {
          dropped += queue_[first].points;
          queue_.erase(queue_.begin() + static_cast<std::ptrdiff_t>(first));
        }
        queue_.push_back(std::move(r));
      }
    }
    cv_.notify_all();
    if (dropped) {
      enqueue_failed_.add(dropped);
      logger_->warn("exporters.{}: queue full ({} requests): dropped the oldest, {} points; {} is "
                    "not taking data fast enough or is down",
                    id_, s_.queue_size, dropped, s_.url);
    }
    return Status::ok();
  }

 private:
  void stop(pipeline::Deadline deadline) {
    {
      std::lock_guard lock(mu_);
      if (stopping_ && !worker_.joinable()) return;
      stopping_ = true;
      deadline_ = deadline;
    }
    cv_.notify_all();
    if (worker_.joinable()) worker_.join();
    size_t abandoned = 0;
    {
      std::lock_guard lock(mu_);
      for (const auto& r : queue_) abandoned += r.points;
      queue_.clear();
    }
    if (abandoned) {
      failed_.add(abandoned);
      logger_->warn("exporters.{}: stopped with {} metric points not sent to {}", id_, abandoned,
                    s_.url);
    }
    pool_.clear();
  }

  // Sends the queue in order; a request stays at the front until it is sent or given up on.
  void run() {
    std::unique_lock lock(mu_);
    while (true) {
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty() || (stopping_ && Clock::now() >= deadline_)) return;
      const std::string body = queue_.front().body;
      const size_t points = queue_.front().points;
      sending_ = true;
      lock.unlock();
      Status st = send_with_retry(body);
      lock.lock();
      sending_ = false;
      queue_.pop_front();
      if (st.is_ok()) {
        sent_.add(points);
      } else {
        failed_.add(points);
      }
    }
  }

  Status send_with_retry(const std::string& body) {
    const auto started = Clock::now();
    auto interval = s_.retry.initial_interval;
    std::mt19937 rng(std::random_device{}());
    bool logged = false;
    while (true) {
      auto timeout = std::min<std::chrono::milliseconds>(
          s_.timeout, pipeline::time_left(current_deadline()));
      net::HttpClientResponse resp = post_to(pool_, s_, body, "application/x-protobuf", timeout);
      Status st = status_from_http(resp, s_.url);
      // The remote-write spec: senders retry every 5xx (Prometheus answers 500 when an append
      // fails), not only the 502/503/504 other exporters retry.
      if (resp.status >= 500 && !st.is_retryable()) {
        st = Status::retryable(std::string(st.message()),
                               resp.retry_after.value_or(std::chrono::milliseconds{0}));
      }
      if (st.is_ok()) {
        if (logged) logger_->info("exporters.{}: {} accepts metrics again", id_, s_.url);
        return st;
      }
      if (!st.is_retryable() || !s_.retry.enabled) {
        log_refusal(st);
        return st;
      }
      const auto elapsed = Clock::now() - started;
      if (s_.retry.max_elapsed_time.count() > 0 && elapsed >= s_.retry.max_elapsed_time) {
        logger_->warn("exporters.{}: gave up after {}s: {}", id_,
                      std::chrono::duration_cast<std::chrono::seconds>(elapsed).count(), st.message());
        return st;
      }
      if (!logged) {
        logger_->warn("exporters.{}: {}; retrying (metrics wait in the queue)", id_, st.message());
        logged = true;
      }
      std::uniform_real_distribution<double> jitter(0.5, 1.5);
      auto wait = std::chrono::milliseconds(static_cast<int64_t>(interval.count() * jitter(rng)));
      if (st.retry_after().count() > 0) wait = std::max(wait, st.retry_after());
      interval = std::min(s_.retry.max_interval,
                          std::chrono::milliseconds(static_cast<int64_t>(interval.count() * 1.5)));
      // Sleep out the backoff, but never past the shutdown deadline once stopping.
      std::unique_lock lock(mu_);
      const auto wake = Clock::now() + wait;
      while (true) {
        const auto until = stopping_ ? std::min<Clock::time_point>(wake, deadline_) : wake;
        if (Clock::now() >= until) break;
        cv_.wait_until(lock, until);
      }
      if (stopping_ && Clock::now() >= deadline_) {
        logger_->warn("exporters.{}: stopping: gave up on a request to {}: {}", id_, s_.url,
                      st.message());
        return st;
      }
    }
  }

  // A receiver that refuses every write would log each flush: say it once a minute at most.
  void log_refusal(const Status& st) {
    const auto now = Clock::now();
    std::lock_guard lock(log_mu_);
    if (refusal_logged_ && now - last_refusal_log_ < std::chrono::minutes(1)) {
      ++refusals_unlogged_;
      return;
    }
    std::string message(st.message());
    while (!message.empty() && std::isspace(static_cast<unsigned char>(message.back()))) {
      message.pop_back();
    }
    if (refusals_unlogged_ > 0) {
      logger_->warn("exporters.{}: dropped a remote-write request ({} more since the last such "
                    "line): {}", id_, refusals_unlogged_, message);
    } else {
      logger_->warn("exporters.{}: dropped a remote-write request: {}", id_, message);
    }
    refusal_logged_ = true;
    last_refusal_log_ = now;
    refusals_unlogged_ = 0;
  }

  pipeline::Deadline current_deadline() {
    std::lock_guard lock(mu_);
    return stopping_ ? deadline_ : Clock::now() + s_.timeout;
  }

  std::string id_;
  std::shared_ptr<spdlog::logger> logger_;
  RemoteWriteSettings s_;
  pipeline::Metrics& metrics_;
  pipeline::Counter& sent_;
  pipeline::Counter& failed_;
  pipeline::Counter& enqueue_failed_;
  HttpClientPool pool_;

  std::mutex log_mu_;
  bool refusal_logged_ = false;
  Clock::time_point last_refusal_log_;
  uint64_t refusals_unlogged_ = 0;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Request> queue_;
  bool sending_ = false;  // the front request is being sent
  bool stopping_ = false;
  pipeline::Deadline deadline_ = pipeline::Deadline::max();
  std::thread worker_;
};

class RemoteWriteFactory : public pipeline::MetricsExporterFactory {
 public:
  std::string_view type() const override { return "prometheusremotewrite"; }
  std::unique_ptr<pipeline::MetricsExporter> create(const pipeline::CreateContext& ctx,
                                                    pipeline::ConfigNode& config) const override {
    RemoteWriteSettings settings = read_settings(config);
    config.reject_unknown_keys();
    return std::make_unique<RemoteWriteExporter>(ctx, std::move(settings));
  }
};

}  // namespace

std::unique_ptr<pipeline::MetricsExporterFactory> make_prometheus_remote_write_exporter_factory() {
  return std::make_unique<RemoteWriteFactory>();
}

}  // namespace hodos::exporters
