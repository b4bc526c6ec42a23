// Helpers for processor tests: a recording consumer, batch builders and factory plumbing.
#pragma once

#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/span_batch.h"
#include "pipeline/factory.h"

namespace hodos::processors::testing {

// Records every batch it is given; answers with `status`.
class RecordingSink : public pipeline::TracesConsumer {
 public:
  pipeline::Status consume(core::SpanBatch batch) override {
    std::lock_guard lock(mu_);
    spans_ += batch.size();
    batches_.push_back(std::move(batch));
    cv_.notify_all();
    return status;
  }

  // Waits (with a generous cap, never asserting timing) until `n` spans arrived.
  bool wait_for_spans(size_t n, std::chrono::seconds cap = std::chrono::seconds(20)) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, cap, [&] { return spans_ >= n; });
  }
  size_t span_count() {
    std::lock_guard lock(mu_);
    return spans_;
  }
  std::vector<size_t> batch_sizes() {
    std::lock_guard lock(mu_);
    std::vector<size_t> out;
    for (const auto& b : batches_) out.push_back(b.size());
    return out;
  }
  // Only call when no other thread is sending.
  std::vector<core::SpanBatch>& batches() { return batches_; }

  pipeline::Status status;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<core::SpanBatch> batches_;
  size_t spans_ = 0;
};

inline std::shared_ptr<spdlog::logger> quiet_logger() {
  return std::make_shared<spdlog::logger>("test", std::make_shared<spdlog::sinks::null_sink_mt>());
}

// A batch of `n` spans named prefix0..prefixN-1 under one resource with service.name = service.
// Span ids are unique across the process so that tests can check nothing is lost or duplicated.
inline core::SpanBatch make_batch(size_t n, std::string_view service = "svc",
                                  const std::string& prefix = "span") {
  static std::atomic<uint64_t> next_id{1};
  core::SpanBatch b;
  core::Arena& a = b.arena();
  core::Resource* r = b.new_resource();
  core::upsert_attribute(a, r->attributes, "service.name", core::AnyValue::string(service));
  for (size_t i = 0; i < n; ++i) {
    core::Span s;
    uint64_t id = next_id.fetch_add(1);
    for (int k = 0; k < 8; ++k) s.span_id.bytes[k] = static_cast<uint8_t>(id >> (8 * k));
    s.trace_id.bytes[0] = 1;
    s.name = a.copy(prefix + std::to_string(i));
    s.resource = r;
    b.spans().push_back(s);
  }
  return b;
}

inline uint64_t span_number(const core::Span& s) {
  uint64_t id = 0;
  for (int k = 0; k < 8; ++k) id |= static_cast<uint64_t>(s.span_id.bytes[k]) << (8 * k);
  return id;
}

struct Harness {
  pipeline::Metrics metrics;
  std::shared_ptr<spdlog::logger> logger = quiet_logger();

  std::unique_ptr<pipeline::Processor> create(const pipeline::ProcessorFactory& factory,
                                              const std::string& yaml,
                                              pipeline::TracesConsumer& next) {
    const std::string type(factory.type());
    pipeline::ConfigNode node(yaml.empty() ? YAML::Node() : YAML::Load(yaml), "processors." + type);
    pipeline::CreateContext ctx{pipeline::ComponentId{type, ""}, metrics, logger};
    return factory.create(ctx, node, next);
  }

  // The message of the ConfigError that creating with `yaml` throws ("" when none).
  std::string config_error(const pipeline::ProcessorFactory& factory, const std::string& yaml) {
    RecordingSink sink;
    try {
      create(factory, yaml, sink);
    } catch (const pipeline::ConfigError& e) {
      return e.what();
    }
    return "";
  }
};

}  // namespace hodos::processors::testing
