// The `probabilistic_sampler` processor: keeps a fixed percentage of traces, deciding by a hash of
// the trace id so that every span of a trace, on every agent with the same seed, gets the same
// answer. Configured as the OpenTelemetry Collector's probabilisticsamplerprocessor in its
// `hash_seed` mode, whose decisions it reproduces exactly.
//
// Keys: sampling_percentage (required, 0..100, float32 as in the Collector), hash_seed (uint32,
// default 0), mode (only `hash_seed`), fail_closed (default true), sampling_precision (1..14,
// accepted for compatibility; it only shapes the tracestate threshold Hodos does not write).
// Not supported: mode proportional / equalizing (a config error says so); the logs-only keys
// attribute_source, from_attribute, sampling_priority. Unlike the Collector, Hodos does not add
// `ot=rv:...;th:...` to the tracestate of the spans it keeps.
//
// `sampling.priority` (int, double or numeric string) overrides the hash: 0 drops the span, > 0
// keeps it; like the Collector this is per span, not per trace.
// Metric: hodos_processor_probabilistic_sampler_spans_total{processor,
// decision=sampled|not_sampled}.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>

#include "core/ids.h"
#include "pipeline/factory.h"

namespace hodos::processors {

std::unique_ptr<pipeline::ProcessorFactory> make_probabilistic_sampler_processor_factory();

namespace probabilistic_sampling {

// 32-bit FNV-1a of `data`, continuing from `hash` (start with kFnvOffset).
inline constexpr uint32_t kFnvOffset = 2166136261u;
uint32_t fnv1a32(std::string_view data, uint32_t hash = kFnvOffset);

// The Collector's hash: FNV-1a over the seed's four little-endian bytes, then the 16 id bytes.
uint32_t trace_id_hash(const core::TraceId& id, uint32_t seed);

// The Collector's hash_seed threshold: of 2^14 buckets, how many are kept; computed in float32
// and truncated, as the Collector does (33.33% keeps 5460 buckets; 0.006% keeps none).
uint32_t kept_buckets(float percentage);

// Whether hash_seed mode keeps the trace: its hash's low 14 bits below the threshold.
inline bool keeps(uint32_t hash, uint32_t buckets) { return (hash & 0x3fffu) < buckets; }

// Whether `trace_state` (W3C tracestate) is well formed and carries no OpenTelemetry sampling
// randomness (`ot=...rv:`) or threshold (`ot=...th:`): the Collector's hash_seed mode treats both
// as errors, since another sampler has already made a consistent-probability decision.
bool trace_state_usable(std::string_view trace_state);

}  // namespace probabilistic_sampling

}  // namespace hodos::processors
