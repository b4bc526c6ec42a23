// The `tail_sampling` processor: holds the spans of each trace for `decision_wait` after its first
// span arrived, then keeps or drops the whole trace by its policies; configured as the
// OpenTelemetry Collector's tailsamplingprocessor.
//
// Supported keys: decision_wait (30s), num_traces (50000), expected_new_traces_per_sec (0),
// decision_cache {sampled_cache_size, non_sampled_cache_size} (both default num_traces),
// policies [{name, type, <type>: {...}}] with the types always_sample; latency {threshold_ms,
// upper_threshold_ms}; status_code {status_codes}; string_attribute {key, values,
// enabled_regex_matching, cache_max_size (accepted, no effect: patterns are compiled once),
// invert_match}; numeric_attribute {key, min_value, max_value, invert_match}; probabilistic
// {sampling_percentage, hash_salt}; rate_limiting {spans_per_second}; and {and_sub_policy}.
// Not supported (config error naming them): the policy types composite, drop, not, span_count,
// trace_state, boolean_attribute, ottl_condition, bytes_limiting, trace_flags, and the top-level
// keys sample_on_first_match, drop_pending_traces_on_shutdown, block_on_overflow.
//
// Deviations from the Collector, on purpose:
//  - At num_traces, the oldest pending trace is *decided early* on what has arrived so far
//    (the Collector drops it undecided), so an error trace under load is not silently lost.
//    Counted in hodos_processor_tail_sampling_traces_evicted_total.
//  - Shutdown decides every pending trace and sends the sampled ones (the Collector loses them).
//  - latency looks at the whole trace's duration (max end - min start) once, at decision time.
//  - rate_limiting admits a trace when the spans sampled in the current second, plus its own,
//    stay <= spans_per_second (the Collector's token bucket with burst = spans_per_second).
//  - decision caches default to num_traces entries (the Collector: 0, but it also remembers
//    decided traces until num_traces newer ones arrived, which these caches stand in for).
//
// Metrics, labelled processor="<id>": hodos_processor_tail_sampling_traces_total{decision=
// "sampled"|"not_sampled"}, _spans_dropped_total (spans of not-sampled traces, late ones
// included), _traces_evicted_total, _late_spans_total (spans of already-decided traces),
// _send_failed_spans_total, and the gauges hodos_processor_tail_sampling_held_traces and
// _held_bytes (span data copied into per-trace arenas, plus bookkeeping).
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>

#include "pipeline/factory.h"

namespace hodos::processors {

std::unique_ptr<pipeline::ProcessorFactory> make_tail_sampling_processor_factory();

// The processor's test hooks; reach them with dynamic_cast on what the factory created.
class TailSamplingControl {
 public:
  using Clock = std::chrono::steady_clock;
  virtual ~TailSamplingControl() = default;
  // Replaces Clock::now() for arrival times, decisions and rate limiting.
  virtual void set_clock(std::function<Clock::time_point()> now) = 0;
  // Decides every trace whose decision_wait has passed and sends the sampled ones (the
  // background ticker started by start() does the same).
  virtual void tick() = 0;
  virtual size_t held_traces() const = 0;
  virtual size_t held_bytes() const = 0;
};

}  // namespace hodos::processors
