// The `stitch` processor: joins a caller's CLIENT span and the callee's SERVER span of the same
// TCP connection into one trace when no trace context travelled between them (see
// processors/stitcher.h for the rule). Spans are held for `wait` before they are sent on.
//
// Config: wait (2s), clock_skew (50ms), max_spans (200000), remember (60s).
// Metrics, each labelled processor="<id>": hodos_processor_stitch_stitched_total,
// _ambiguous_total, _unmatched_total, _spans_rewritten_total, _released_early_total,
// _send_failed_spans_total, and the gauge hodos_processor_stitch_held_spans.
#pragma once

#include <memory>

#include "pipeline/factory.h"

namespace hodos::processors {

std::unique_ptr<pipeline::ProcessorFactory> make_stitch_processor_factory();

}  // namespace hodos::processors
