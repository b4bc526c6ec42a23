// The `batch` processor: merges incoming SpanBatches and sends them on by size or after a timeout,
// configured as the OpenTelemetry Collector's batchprocessor (send_batch_size, send_batch_max_size,
// timeout).
#pragma once

#include <memory>

#include "pipeline/factory.h"

namespace hodos::processors {

// Metrics, each labelled processor="<id>":
// - otelcol_processor_batch_batch_size_trigger_send_total: batches sent because of their size.
// - otelcol_processor_batch_timeout_trigger_send_total: batches sent because the timeout expired.
// - otelcol_processor_batch_batch_send_size_sum / _count: spans sent / batches sent, i.e. the
//   _sum and _count series of the Collector's batch_send_size histogram.
// - hodos_processor_batch_send_failed_spans_total: spans the next consumer refused after the
//   senders had been told "ok" (also logged, at most once per 10 s).
std::unique_ptr<pipeline::ProcessorFactory> make_batch_processor_factory();

}  // namespace hodos::processors
