#include "pipeline/exporter_helper.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

#include "otlp/otlp_codec.h"

namespace hodos::pipeline {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

constexpr std::string_view kBatchSuffix = ".pb";
constexpr std::string_view kTempPrefix = ".tmp-";

std::string errno_text() { return std::strerror(errno); }

// Writes `data` to `path` and fsyncs it, so that a rename afterwards publishes a complete file.
std::optional<std::string> write_synced(const fs::path& path, std::string_view data) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return fmt::format("cannot create {}: {}", path.string(), errno_text());
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      std::string err = fmt::format("cannot write {}: {}", path.string(), errno_text());
      ::close(fd);
      return err;
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    std::string err = fmt::format("cannot fsync {}: {}", path.string(), errno_text());
    ::close(fd);
    return err;
  }
  ::close(fd);
  return std::nullopt;
}

// A rename is durable only once the directory entry is on disk.
void sync_dir(const fs::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

std::string storage_subdir(const ComponentId& id) {
  std::string out = "exporter_" + id.type + (id.name.empty() ? "" : "_" + id.name);
  for (char& c : out) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.') c = '_';
  }
  return out;
}

milliseconds jittered(milliseconds interval, double factor) {
  if (factor <= 0) return interval;
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::uniform_real_distribution<double> dist(1.0 - factor, 1.0 + factor);
  return milliseconds(static_cast<int64_t>(static_cast<double>(interval.count()) * dist(rng)));
}

}  // namespace

std::chrono::milliseconds time_left(Deadline deadline) {
  constexpr milliseconds kMax{24LL * 3600 * 1000};
  auto now = Clock::now();
  if (deadline == Deadline::max() || deadline - now > kMax) return kMax;
  auto left = std::chrono::duration_cast<milliseconds>(deadline - now);
  return std::max(left, milliseconds{1});
}

ExporterHelperSettings ExporterHelperSettings::parse(ConfigNode& config,
                                                     const ExporterHelperSettings& defaults) {
  ExporterHelperSettings s = defaults;
  s.timeout = config.get_duration("timeout", defaults.timeout);
  if (s.timeout.count() < 0) config.fail("timeout", "must not be negative");

  ConfigNode q = config.child("sending_queue");
  s.queue.enabled = q.get_bool("enabled", defaults.queue.enabled);
  s.queue.num_consumers =
      static_cast<int>(q.get_int("num_consumers", defaults.queue.num_consumers, 1, 1000));
  s.queue.queue_size = static_cast<size_t>(
      q.get_int("queue_size", static_cast<int64_t>(defaults.queue.queue_size), 1, 10'000'000));
  s.queue.storage = q.get_string("storage", defaults.queue.storage);
  if (!s.queue.storage.empty() && !s.queue.enabled) {
    q.fail("storage", "needs the sending queue; set sending_queue.enabled: true or remove storage");
  }
  q.reject_unknown_keys();

  ConfigNode r = config.child("retry_on_failure");
  s.retry.enabled = r.get_bool("enabled", defaults.retry.enabled);
  s.retry.initial_interval = r.get_duration("initial_interval", defaults.retry.initial_interval);
  s.retry.max_interval = r.get_duration("max_interval", defaults.retry.max_interval);
  s.retry.max_elapsed_time = r.get_duration("max_elapsed_time", defaults.retry.max_elapsed_time);
  s.retry.multiplier = r.get_double("multiplier", defaults.retry.multiplier);
  s.retry.randomization_factor =
      r.get_double("randomization_factor", defaults.retry.randomization_factor);
  if (s.retry.initial_interval.count() <= 0) {
    r.fail("initial_interval", "must be greater than zero, e.g. 5s");
  }
  if (s.retry.max_interval < s.retry.initial_interval) {
    r.fail("max_interval", "must not be smaller than initial_interval");
  }
  if (s.retry.max_elapsed_time.count() < 0) {
    r.fail("max_elapsed_time", "must not be negative (0 retries forever)");
  }
  if (s.retry.multiplier < 1.0) r.fail("multiplier", "must be at least 1");
  if (s.retry.randomization_factor < 0 || s.retry.randomization_factor > 1) {
    r.fail("randomization_factor", "must be between 0 and 1");
  }
  r.reject_unknown_keys();
  return s;
}

QueuedRetryExporter::QueuedRetryExporter(const CreateContext& ctx, ConfigNode& config,
                                         std::unique_ptr<BatchSender> sender,
                                         const ExporterHelperSettings& defaults)
    : QueuedRetryExporter(ctx, ExporterHelperSettings::parse(config, defaults), std::move(sender)) {
}

QueuedRetryExporter::QueuedRetryExporter(const CreateContext& ctx,
                                         const ExporterHelperSettings& settings,
                                         std::unique_ptr<BatchSender> sender)
    : id_(ctx.id),
      metrics_(ctx.metrics),
      logger_(ctx.logger),
      settings_(settings),
      sender_(std::move(sender)),
      obs_(ctx.metrics, ctx.id) {
  if (!settings_.queue.storage.empty()) {
    storage_dir_ = fs::path(settings_.queue.storage) / storage_subdir(id_);
  }
  if (settings_.queue.enabled) register_gauges();
}

QueuedRetryExporter::~QueuedRetryExporter() {
  bool stop_sender = false;
  {
    std::lock_guard lock(mu_);
    stop_sender = started_ && !stopped_;
    hard_stop_ = true;
    accepting_ = false;
  }
  queue_cv_.notify_all();
  stop_cv_.notify_all();
  for (auto& t : workers_) {
    if (t.joinable()) t.join();
  }
  if (stop_sender) sender_->shutdown();
  if (settings_.queue.enabled) metrics_.remove_gauge_fns({{"exporter", id_.str()}});
}

void QueuedRetryExporter::register_gauges() {
  const Labels labels{{"exporter", id_.str()}};
  metrics_.gauge_fn("otelcol_exporter_queue_size",
                    "Current number of batches in the sending queue.", labels,
                    [this] { return static_cast<double>(queued()); });
  const double capacity = static_cast<double>(settings_.queue.queue_size);
  metrics_.gauge_fn("otelcol_exporter_queue_capacity",
                    "Fixed capacity of the sending queue, in batches.", labels,
                    [capacity] { return capacity; });
}

Status QueuedRetryExporter::start() {
  {
    std::lock_guard lock(mu_);
    if (started_) return Status::ok();
  }
  if (!storage_dir_.empty()) {
    Status st = load_storage();
    if (!st.is_ok()) return st;
  }
  Status st = sender_->start();
  if (!st.is_ok()) return st;
  std::lock_guard lock(mu_);
  started_ = true;
  accepting_ = true;
  if (settings_.queue.enabled) {
    for (int i = 0; i < settings_.queue.num_consumers; ++i) {
      workers_.emplace_back([this] { worker(); });
    }
  }
  return Status::ok();
}

Status QueuedRetryExporter::load_storage() {
  std::error_code ec;
  fs::create_directories(storage_dir_, ec);
  if (ec) {
    return Status::permanent(fmt::format(
        "sending_queue.storage: cannot create {}: {}; point storage at a writable directory",
        storage_dir_.string(), ec.message()));
  }
  std::vector<std::pair<uint64_t, fs::path>> files;
  for (const auto& entry : fs::directory_iterator(storage_dir_, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(kTempPrefix, 0) == 0) {
      // A write interrupted by a crash; the batch was never acknowledged to the sender.
      fs::remove(entry.path(), ec);
      continue;
    }
    if (name.size() <= kBatchSuffix.size() || !name.ends_with(kBatchSuffix)) continue;
    uint64_t seq = 0;
    try {
      seq = std::stoull(name.substr(0, name.size() - kBatchSuffix.size()));
    } catch (...) {
      continue;
    }
    files.emplace_back(seq, entry.path());
  }
  if (ec) {
    return Status::permanent(fmt::format("sending_queue.storage: cannot list {}: {}",
                                         storage_dir_.string(), ec.message()));
  }
  std::sort(files.begin(), files.end());
  uint64_t spans = 0;
  std::lock_guard lock(mu_);
  for (auto& [seq, path] : files) {
    next_seq_ = std::max<uint64_t>(next_seq_, seq + 1);
    std::ifstream in(path, std::ios::binary);
    std::stringstream buf;
    buf << in.rdbuf();
    core::SpanBatch batch;
    if (!in || otlp::decode_proto(buf.str(), batch) || batch.empty()) {
      logger_->error("exporter {}: discarding unreadable queued batch {}", id_.str(),
                     path.string());
      fs::remove(path, ec);
      continue;
    }
    spans += batch.size();
    queue_.push_back(Item{std::move(batch), path});
  }
  queued_ = queue_.size();
  if (!files.empty()) {
    logger_->info("exporter {}: loaded {} queued batches ({} spans) from {}", id_.str(),
                  queue_.size(), spans, storage_dir_.string());
  }
  return Status::ok();
}

std::optional<std::string> QueuedRetryExporter::persist(const core::SpanBatch& batch,
                                                        fs::path* file) {
  const uint64_t seq = next_seq_.fetch_add(1);
  const std::string name = fmt::format("{:020}{}", seq, kBatchSuffix);
  const fs::path tmp = storage_dir_ / (std::string(kTempPrefix) + name);
  if (auto err = write_synced(tmp, otlp::encode_proto(batch))) {
    std::error_code ec;
    fs::remove(tmp, ec);
    return err;
  }
  *file = storage_dir_ / name;
  std::error_code ec;
  fs::rename(tmp, *file, ec);
  if (ec) {
    fs::remove(tmp, ec);
    return fmt::format("cannot rename into {}: {}", file->string(), ec.message());
  }
  sync_dir(storage_dir_);
  return std::nullopt;
}

Status QueuedRetryExporter::consume(core::SpanBatch batch) {
  const uint64_t spans = batch.size();
  if (spans == 0) return Status::ok();

  if (!settings_.queue.enabled) {
    {
      std::lock_guard lock(mu_);
      if (!accepting_) {
        obs_.enqueue_failed(spans);
        return Status::retryable(fmt::format("exporter {} is not running", id_.str()));
      }
    }
    Status last;
    Outcome outcome = send_with_retry(batch, &last);
    if (outcome == Outcome::kSent) {
      obs_.sent(spans);
      return Status::ok();
    }
    obs_.failed(spans);
    // The caller learns what the destination said, as with the Collector's queue disabled.
    if (last.is_permanent()) return last;
    return Status::retryable(fmt::format("exporter {}: {}", id_.str(), last.message()),
                             last.retry_after());
  }

  {
    std::lock_guard lock(mu_);
    if (!accepting_) {
      obs_.enqueue_failed(spans);
      return Status::retryable(fmt::format("exporter {} is not running", id_.str()));
    }
    if (queue_.size() + reserved_ >= settings_.queue.queue_size) {
      obs_.enqueue_failed(spans);
      return Status::retryable("sending queue is full");
    }
    ++reserved_;
  }
  fs::path file;
  if (!storage_dir_.empty()) {
    // Written outside the lock: an fsync per batch must not serialise the other producers.
    if (auto err = persist(batch, &file)) {
      {
        std::lock_guard lock(mu_);
        --reserved_;
      }
      logger_->error("exporter {}: sending queue storage: {}", id_.str(), *err);
      obs_.enqueue_failed(spans);
      return Status::retryable("sending queue storage failed: " + *err);
    }
  }
  {
    std::lock_guard lock(mu_);
    --reserved_;
    queue_.push_back(Item{std::move(batch), std::move(file)});
    queued_ = queue_.size();
  }
  queue_cv_.notify_one();
  return Status::ok();
}

Deadline QueuedRetryExporter::send_deadline() const {
  Deadline d = settings_.timeout.count() > 0 ? Clock::now() + settings_.timeout : Deadline::max();
  std::lock_guard lock(mu_);
  if (draining_) d = std::min(d, shutdown_deadline_);
  return d;
}

bool QueuedRetryExporter::wait_backoff(Clock::time_point wake) {
  std::unique_lock lock(mu_);
  while (true) {
    if (hard_stop_) return false;
    // Waiting past the shutdown deadline cannot lead anywhere; give the batch up now.
    if (draining_ && wake > shutdown_deadline_) return false;
    if (Clock::now() >= wake) return true;
    stop_cv_.wait_until(lock, wake);
  }
}

QueuedRetryExporter::Outcome QueuedRetryExporter::send_with_retry(const core::SpanBatch& batch,
                                                                  Status* last) {
  const auto first_attempt = Clock::now();
  milliseconds interval = settings_.retry.initial_interval;
  while (true) {
    Status st = sender_->send(batch, send_deadline());
    if (last) *last = st;
    if (st.is_ok()) return Outcome::kSent;
    if (st.is_permanent()) {
      logger_->error("exporter {}: dropping {} spans, the destination refused them: {}", id_.str(),
                     batch.size(), st.message());
      return Outcome::kDropped;
    }
    {
      std::lock_guard lock(mu_);
      if (hard_stop_) return Outcome::kAbandoned;
    }
    if (!settings_.retry.enabled) {
      logger_->error("exporter {}: dropping {} spans (retry_on_failure is disabled): {}", id_.str(),
                     batch.size(), st.message());
      return Outcome::kDropped;
    }
    milliseconds wait = jittered(interval, settings_.retry.randomization_factor);
    // A destination that says when to come back knows better than our backoff.
    wait = std::max(wait, st.retry_after());
    interval = std::min(milliseconds(static_cast<int64_t>(static_cast<double>(interval.count()) *
                                                          settings_.retry.multiplier)),
                        settings_.retry.max_interval);
    const auto now = Clock::now();
    if (settings_.retry.max_elapsed_time.count() > 0 &&
        (now - first_attempt) + wait > settings_.retry.max_elapsed_time) {
      logger_->error("exporter {}: dropping {} spans after retrying for {}s (max_elapsed_time): {}",
                     id_.str(), batch.size(),
                     std::chrono::duration_cast<std::chrono::seconds>(now - first_attempt).count(),
                     st.message());
      return Outcome::kDropped;
    }
    logger_->info("exporter {}: send failed, retrying in {}ms: {}", id_.str(), wait.count(),
                  st.message());
    if (!wait_backoff(now + wait)) return Outcome::kAbandoned;
  }
}

void QueuedRetryExporter::finish(Item& item, Outcome outcome) {
  const uint64_t spans = item.batch.size();
  switch (outcome) {
    case Outcome::kSent:
      obs_.sent(spans);
      break;
    case Outcome::kDropped:
      obs_.failed(spans);
      break;
    case Outcome::kAbandoned:
      abandoned_batches_ += 1;
      abandoned_spans_ += spans;
      // A persisted batch stays on disk and is sent after the next start.
      if (item.file.empty()) obs_.failed(spans);
      return;
  }
  if (!item.file.empty()) {
    std::error_code ec;
    fs::remove(item.file, ec);
  }
}

void QueuedRetryExporter::worker() {
  while (true) {
    Item item;
    {
      std::unique_lock lock(mu_);
      queue_cv_.wait(lock, [&] { return hard_stop_ || draining_ || !queue_.empty(); });
      if (hard_stop_) return;
      if (queue_.empty()) return;  // draining and nothing left
      item = std::move(queue_.front());
      queue_.pop_front();
      queued_ = queue_.size();
      ++in_flight_;
    }
    Outcome outcome = send_with_retry(item.batch, nullptr);
    finish(item, outcome);
    {
      std::lock_guard lock(mu_);
      --in_flight_;
      if (queue_.empty() && in_flight_ == 0) idle_cv_.notify_all();
    }
  }
}

void QueuedRetryExporter::shutdown(Deadline deadline) {
  {
    std::unique_lock lock(mu_);
    if (stopped_) return;
    stopped_ = true;
    accepting_ = false;
    draining_ = true;
    shutdown_deadline_ = deadline;
  }
  queue_cv_.notify_all();
  stop_cv_.notify_all();  // backoff waits re-check against the deadline
  uint64_t queued_at_shutdown = 0;
  {
    std::unique_lock lock(mu_);
    queued_at_shutdown = queue_.size();
    if (!workers_.empty()) {
      idle_cv_.wait_until(lock, deadline, [&] { return queue_.empty() && in_flight_ == 0; });
    }
    hard_stop_ = true;
  }
  queue_cv_.notify_all();
  stop_cv_.notify_all();
  for (auto& t : workers_) {
    if (t.joinable()) t.join();
  }
  workers_.clear();

  // What the workers never picked up.
  uint64_t left_batches = 0, left_spans = 0;
  {
    std::lock_guard lock(mu_);
    for (Item& item : queue_) {
      ++left_batches;
      left_spans += item.batch.size();
      if (item.file.empty()) obs_.failed(item.batch.size());
    }
    queue_.clear();
    queued_ = 0;
  }
  left_batches += abandoned_batches_;
  left_spans += abandoned_spans_;
  sender_->shutdown();

  if (!settings_.queue.enabled) return;
  if (left_batches == 0) {
    logger_->info("exporter {}: stopped; sending queue drained ({} batches were queued)", id_.str(),
                  queued_at_shutdown);
  } else if (!storage_dir_.empty()) {
    logger_->warn(
        "exporter {}: stopped at the shutdown deadline; {} batches ({} spans) stay in {} and "
        "will be sent after the next start",
        id_.str(), left_batches, left_spans, storage_dir_.string());
  } else {
    logger_->warn(
        "exporter {}: stopped at the shutdown deadline; dropped {} queued batches ({} spans)",
        id_.str(), left_batches, left_spans);
  }
}

}  // namespace hodos::pipeline
