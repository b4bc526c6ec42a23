// Hands one batch to several consumers: readers share the spans, editors get their own deep copy
// unless nobody else holds them.
#pragma once

#include <vector>

#include "pipeline/component.h"

namespace hodos::pipeline {

class FanoutConsumer : public TracesConsumer {
 public:
  explicit FanoutConsumer(std::vector<TracesConsumer*> consumers)
      : consumers_(std::move(consumers)) {}

  Status consume(core::SpanBatch batch) override;
  bool mutates_data() const override;

 private:
  std::vector<TracesConsumer*> consumers_;
};

// Hands one metrics snapshot to every metrics pipeline or exporter that reads it.
class MetricsFanout : public MetricsConsumer {
 public:
  explicit MetricsFanout(std::vector<MetricsConsumer*> consumers)
      : consumers_(std::move(consumers)) {}

  Status consume_metrics(const core::MetricBatch& batch) override;

 private:
  std::vector<MetricsConsumer*> consumers_;
};

}  // namespace hodos::pipeline
