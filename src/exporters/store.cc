#include "exporters/store.h"

#include <fmt/format.h>

#include <atomic>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cmath>
#include <string>
#include <utility>

#include "pipeline/obs.h"
#include "store/trace_store.h"

namespace hodos::exporters {

namespace {

using pipeline::Status;

// "12", "1.5" → value; false when malformed.
bool parse_number(std::string_view text, double* out) {
  if (text.empty()) return false;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && ptr == text.data() + text.size() && std::isfinite(*out) && *out >= 0;
}

class StoreExporter final : public pipeline::Exporter {
 public:
  StoreExporter(const pipeline::CreateContext& ctx, std::shared_ptr<store::TraceStore> shared,
                std::optional<store::StoreOptions> own)
      : id_(ctx.id.str()),
        logger_(ctx.logger),
        obs_(ctx.metrics, ctx.id),
        store_(std::move(shared)),
        own_(std::move(own)) {}

  Status start() override {
    if (own_) {
      try {
        store_ = store::TraceStore::open(*own_);
      } catch (const store::StoreError& e) {
        return Status::permanent(e.what());
      }
      logger_->info("exporters.{}: trace store at {}", id_, store_->data_dir());
    }
    return Status::ok();
  }

  // Synchronous on purpose: the receiver's success answer must mean "stored" (kill -9 safe).
  Status consume(core::SpanBatch batch) override {
    if (batch.empty()) return Status::ok();
    const size_t n = batch.size();
    try {
      const size_t stored = store_->ingest(batch);
      obs_.sent(stored);
      // The rest were refused as bad (invalid ids, older than retention): dropped, not retried,
      // and the sender is told (an old clock on its host would otherwise lose every span).
      if (stored < n) {
        obs_.failed(n - stored);
        return Status::partial(
            n - stored,
            fmt::format("{} span(s) dropped by the trace store: they started before its retention "
                        "cutoff (older than the retention period, or a sender's clock behind)",
                        n - stored));
      }
      return Status::ok();
    } catch (const store::StoreError& e) {
      obs_.failed(n);
      warn_rate_limited(e.what());
      return Status::retryable(fmt::format("exporters.{}: {}", id_, e.what()));
    }
  }

 private:
  void warn_rate_limited(const char* what) {
    const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::steady_clock::now().time_since_epoch())
                            .count();
    int64_t last = last_warning_s_.load(std::memory_order_relaxed);
    if (now != last && last_warning_s_.compare_exchange_strong(last, now)) {
      logger_->warn("exporters.{}: {} (the sender is asked to retry)", id_, what);
    }
  }

  std::string id_;
  std::shared_ptr<spdlog::logger> logger_;
  pipeline::ExporterObs obs_;
  std::shared_ptr<store::TraceStore> store_;
  std::optional<store::StoreOptions> own_;
  std::atomic<int64_t> last_warning_s_{-1};
};

class StoreExporterFactory final : public pipeline::ExporterFactory {
 public:
  explicit StoreExporterFactory(std::shared_ptr<store::TraceStore> shared)
      : shared_(std::move(shared)) {}

  std::string_view type() const override { return "store"; }

  std::unique_ptr<pipeline::Exporter> create(const pipeline::CreateContext& ctx,
                                             pipeline::ConfigNode& config) const override {
    std::optional<store::StoreOptions> own;
    if (config.has("data_dir")) {
      store::StoreOptions o;
      o.data_dir = config.require_string("data_dir");
      if (o.data_dir.empty()) config.fail("data_dir", "must not be empty");
      std::string age = config.get_string("retention", "7d");
      std::optional<uint64_t> age_ns = parse_retention_age(age);
      if (!age_ns) {
        config.fail("retention", fmt::format("'{}' is not a duration (7d, 36h, 0 to disable)", age));
      }
      o.retention_age_ns = *age_ns;
      std::string size = config.get_string("retention_size", "10GiB");
      std::optional<uint64_t> bytes = parse_byte_size(size);
      if (!bytes) {
        config.fail("retention_size",
                    fmt::format("'{}' is not a size (10GiB, 500MB, 0 to disable)", size));
      }
      o.retention_bytes = *bytes;
      o.indexed_tag_keys = config.get_string_list("indexed_tag_keys");
      own = std::move(o);
    } else {
      for (const char* key : {"retention", "retention_size", "indexed_tag_keys"}) {
        if (config.has(key)) {
          config.fail(key, shared_ ? "only with data_dir (hodos up's own store is set with "
                                     "--retention and --retention-size)"
                                   : "only with data_dir");
        }
      }
      if (!shared_) {
        config.fail("data_dir",
                    "required: the directory of the trace store (hodos up provides its own)");
      }
    }
    config.reject_unknown_keys();
    return std::make_unique<StoreExporter>(ctx, own ? nullptr : shared_, std::move(own));
  }

 private:
  std::shared_ptr<store::TraceStore> shared_;
};

}  // namespace

std::unique_ptr<pipeline::ExporterFactory> make_store_exporter_factory(
    std::shared_ptr<store::TraceStore> shared) {
  return std::make_unique<StoreExporterFactory>(std::move(shared));
}

std::optional<uint64_t> parse_retention_age(std::string_view text) {
  if (text == "0") return 0;
  if (!text.empty() && (text.back() == 'd' || text.back() == 'w')) {
    double n = 0;
    if (!parse_number(text.substr(0, text.size() - 1), &n)) return std::nullopt;
    const double unit = (text.back() == 'd' ? 86400.0 : 7 * 86400.0) * 1e9;
    if (n * unit > 9e18) return std::nullopt;
    return static_cast<uint64_t>(std::llround(n * unit));
  }
  std::optional<std::chrono::milliseconds> d = pipeline::parse_duration(text);
  if (!d || d->count() < 0) return std::nullopt;
  return static_cast<uint64_t>(d->count()) * 1'000'000ULL;
}

std::optional<uint64_t> parse_byte_size(std::string_view text) {
  size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) {
    ++i;
  }
  double n = 0;
  if (!parse_number(text.substr(0, i), &n)) return std::nullopt;
  std::string unit;
  for (char c : text.substr(i)) {
    if (c != ' ') unit.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  static constexpr std::pair<std::string_view, double> kUnits[] = {
      {"", 1},          {"b", 1},           {"k", 1e3},         {"kb", 1e3},
      {"m", 1e6},       {"mb", 1e6},        {"g", 1e9},         {"gb", 1e9},
      {"t", 1e12},      {"tb", 1e12},       {"kib", 1024.0},    {"mib", 1048576.0},
      {"gib", 1073741824.0}, {"tib", 1099511627776.0},
  };
  for (const auto& [name, factor] : kUnits) {
    if (unit == name) {
      if (n * factor > 9e18) return std::nullopt;
      return static_cast<uint64_t>(std::llround(n * factor));
    }
  }
  return std::nullopt;
}

}  // namespace hodos::exporters
