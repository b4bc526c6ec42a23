// The `memory_limiter` processor: samples the heap in use every check_interval and, above the soft
// limit (limit - spike), refuses data with a retryable error so that receivers answer 503 /
// UNAVAILABLE and senders back off; configured as the OpenTelemetry Collector's memorylimiter.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "pipeline/factory.h"

namespace hodos::processors {

// Metrics (label processor="<id>"): hodos_memory_limiter_in_use_bytes,
// hodos_memory_limiter_limit_bytes (hard limit), hodos_memory_limiter_soft_limit_bytes,
// hodos_memory_limiter_refusing (0/1), otelcol_processor_accepted_spans_total,
// otelcol_processor_refused_spans_total.
std::unique_ptr<pipeline::ProcessorFactory> make_memory_limiter_processor_factory();

// Bytes of heap the process has in use: glibc's mallinfo2() uordblks + hblkhd. RSS is not used
// because freed memory is often not returned to the kernel.
uint64_t heap_bytes_in_use();

// The memory the process may use: the cgroup limit (v2 memory.max, v1 memory.limit_in_bytes)
// when one is set and lower than MemTotal from /proc/meminfo; 0 when neither can be read.
uint64_t total_memory_bytes();

using MemoryReader = std::function<uint64_t()>;

// The processor's test hooks; reach them with dynamic_cast on what the factory created.
class MemoryLimiterControl {
 public:
  virtual ~MemoryLimiterControl() = default;
  // Replaces heap_bytes_in_use() as the source of readings.
  virtual void set_memory_reader(MemoryReader reader) = 0;
  // Takes one reading now and updates the refusing state (the sampling thread does the same).
  virtual void check_now() = 0;
  virtual bool refusing() const = 0;
  virtual uint64_t hard_limit_bytes() const = 0;
  virtual uint64_t soft_limit_bytes() const = 0;
};

}  // namespace hodos::processors
