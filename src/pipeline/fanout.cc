#include "pipeline/fanout.h"

namespace hodos::pipeline {

Status FanoutConsumer::consume(core::SpanBatch batch) {
  if (consumers_.size() == 1) return consumers_[0]->consume(std::move(batch));
  // Report the first failure, but still give every consumer its data: one destination being
  // down must not starve the others (the Collector's fan-out does the same).
  // A consumer that edits in place must hold the only reference to its spans, so once a shared
  // copy is out, editors get deep copies.
  Status first_error;
  bool shared_out = false;
  for (size_t i = 0; i < consumers_.size(); ++i) {
    TracesConsumer* c = consumers_[i];
    const bool last = i + 1 == consumers_.size();
    core::SpanBatch mine;
    if (c->mutates_data()) {
      mine = (last && !shared_out) ? std::move(batch) : batch.deep_copy();
    } else if (last) {
      mine = std::move(batch);
    } else {
      mine = batch.share();
      shared_out = true;
    }
    Status st = c->consume(std::move(mine));
    // An error first; else the first partial success (the trace store's, which drops what it
    // cannot keep): the sender hears of either.
    const bool first_partial = first_error.rejected() == 0 && st.rejected() > 0;
    if (first_error.is_ok() && (!st.is_ok() || first_partial)) first_error = st;
  }
  return first_error;
}

bool FanoutConsumer::mutates_data() const {
  for (auto* c : consumers_) {
    if (c->mutates_data()) return true;
  }
  return false;
}

Status MetricsFanout::consume_metrics(const core::MetricBatch& batch) {
  Status first_error;
  for (MetricsConsumer* c : consumers_) {
    Status st = c->consume_metrics(batch);
    if (!st.is_ok() && first_error.is_ok()) first_error = st;
  }
  return first_error;
}

}  // namespace hodos::pipeline
