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

}  // namespace hodos::pipeline
