// Helpers for receiver tests: a consumer that records spans and answers with a chosen status,
// and the plumbing to create a receiver from YAML through its factory.
#pragma once

#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/span_batch.h"
#include "pipeline/factory.h"
#include "pipeline/metrics.h"

namespace hodos::receivers::testing {

class CapturingConsumer : public pipeline::TracesConsumer {
 public:
  pipeline::Status consume(core::SpanBatch batch) override {
    std::lock_guard lock(mu_);
    calls_++;
    for (const auto& span : batch.spans()) names_.emplace_back(span.name);
    batches_.push_back(std::move(batch));
    return status_;
  }

  void set_status(pipeline::Status s) {
    std::lock_guard lock(mu_);
    status_ = std::move(s);
  }
  std::vector<std::string> names() {
    std::lock_guard lock(mu_);
    return names_;
  }
  size_t calls() {
    std::lock_guard lock(mu_);
    return calls_;
  }
  // Only while no request is in flight.
  std::vector<core::SpanBatch>& batches() { return batches_; }

 private:
  std::mutex mu_;
  pipeline::Status status_;
  std::vector<std::string> names_;
  std::vector<core::SpanBatch> batches_;
  size_t calls_ = 0;
};

struct ReceiverHarness {
  pipeline::Metrics metrics;
  CapturingConsumer sink;

  std::unique_ptr<pipeline::Receiver> create(const pipeline::ReceiverFactory& factory,
                                             const std::string& yaml,
                                             const std::string& name = "") {
    pipeline::ComponentId id{std::string(factory.type()), name};
    auto logger =
        std::make_shared<spdlog::logger>("test", std::make_shared<spdlog::sinks::null_sink_mt>());
    pipeline::CreateContext ctx{id, metrics, logger};
    pipeline::ConfigNode config(YAML::Load(yaml), "receivers." + id.str());
    return factory.create(ctx, config, sink);
  }

  double counter(const std::string& name, const std::string& receiver,
                 const std::string& transport) {
    return metrics.value(name, {{"receiver", receiver}, {"transport", transport}});
  }
  double accepted(const std::string& transport, const std::string& receiver = "otlp") {
    return counter("otelcol_receiver_accepted_spans_total", receiver, transport);
  }
  double refused(const std::string& transport, const std::string& receiver = "otlp") {
    return counter("otelcol_receiver_refused_spans_total", receiver, transport);
  }
  double rejected(const std::string& transport, const std::string& receiver = "otlp") {
    return counter("hodos_receiver_rejected_requests_total", receiver, transport);
  }
};

}  // namespace hodos::receivers::testing
