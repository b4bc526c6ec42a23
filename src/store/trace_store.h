// The embedded trace store: durable span storage in RocksDB with the indexes, lists and
// aggregates that the query API needs (trace by id, Jaeger-style search, services/operations,
// dependencies, per-minute metrics) and retention by age and disk size.
//
// Thread-safe: any number of threads may ingest and read at once. Knows neither HTTP nor the
// pipeline; the `store` exporter, the API and `hodos up` are built on it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "core/span_batch.h"
#include "store/aggregates.h"

namespace hodos::store {

// Opening or writing failed (directory in use, disk error, full disk); the message says what to do.
class StoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

inline constexpr uint64_t kNanosPerSecond = 1'000'000'000ULL;
inline constexpr uint64_t kNanosPerMinute = 60 * kNanosPerSecond;

struct StoreOptions {
  std::string data_dir;
  // Whichever limit is reached first removes the oldest data. 0 disables that limit.
  uint64_t retention_age_ns = 7 * 24 * 3600 * kNanosPerSecond;
  uint64_t retention_bytes = 10ULL << 30;
  // How often the background thread enforces retention; zero runs no thread (tests call
  // enforce_retention() themselves).
  std::chrono::milliseconds retention_interval{60'000};
  // Now, in Unix ns: decides what is older than the retention age. Injected by tests.
  std::function<uint64_t()> clock = core::now_unix_nano;
  // Every tag is searchable. Index entries (per trace and service, and per trace, service and
  // operation) list the ids of each span's low-cardinality tags, so most searches never read a
  // span. Spans with an error or a failing status code (HTTP >= 400, gRPC != 0) get their own
  // entries so that "service + error=true" is fast without an operation; so do spans with any
  // value of these keys.
  std::vector<std::string> indexed_tag_keys;
  // Tag values longer than this get no id (searching for one reads the candidate traces).
  size_t max_indexed_value_bytes = 128;
  // Distinct values of one key that get ids; values first seen after that get none.
  size_t max_values_per_tag_key = 1000;
  size_t max_tag_ids = 200'000;
  // Recent spans remembered to join children with their parents for dependency edges.
  size_t dependency_cache_spans = 1 << 20;
  size_t block_cache_bytes = 64ULL << 20;
  size_t write_buffer_bytes = 32ULL << 20;
};

// Jaeger's trace search. Every condition must hold for ONE span of a returned trace.
struct TraceQuery {
  std::string service;    // required
  std::string operation;  // empty: any
  // Each must match the span's attributes, its resource's attributes, one of its events'
  // attributes (or event=<name>) or a derived tag (span.kind, error, otel.status_code, ...).
  std::vector<std::pair<std::string, std::string>> tags;
  uint64_t min_duration_ns = 0;  // 0: no bound
  uint64_t max_duration_ns = 0;  // 0: no bound
  uint64_t start_time_min_ns = 0;  // span start time range; 0: unbounded
  uint64_t start_time_max_ns = 0;
  size_t limit = 20;  // 0 means the default, 20
};

struct Operation {
  std::string name;
  core::SpanKind kind = core::SpanKind::kUnspecified;
  friend bool operator==(const Operation&, const Operation&) = default;
};

struct DependencyLink {
  std::string parent;
  std::string child;
  uint64_t call_count = 0;
  uint64_t error_count = 0;
  friend bool operator==(const DependencyLink&, const DependencyLink&) = default;
};

// Per-step calls, errors and latencies from the per-minute aggregates. Steps are whole minutes
// (the aggregates' resolution); a step shorter than a minute is rounded up to one.
struct MetricsQuery {
  std::string service;
  std::vector<core::SpanKind> span_kinds;  // empty: every kind
  bool group_by_operation = false;
  uint64_t end_ns = 0;
  uint64_t lookback_ns = 3600 * kNanosPerSecond;
  uint64_t step_ns = kNanosPerMinute;
};

struct MetricsPoint {
  uint64_t time_ns = 0;  // end of the step: the step covers minutes starting in [time - step, time)
  Aggregate value;
};

struct MetricsSeries {
  std::string operation;  // empty unless grouped by operation
  std::vector<MetricsPoint> points;  // oldest first, one per step, zero-valued where no data
};

struct StoreStats {
  uint64_t spans_ingested = 0;
  uint64_t spans_rejected = 0;  // invalid ids, or older than the retention cutoff
  uint64_t bytes_ingested = 0;  // encoded bytes written (spans, indexes, aggregates)
  uint64_t write_batches = 0;
  uint64_t retention_runs = 0;
  uint64_t retention_cutoff_ns = 0;  // data starting before this is gone
  uint64_t disk_bytes = 0;           // live SST files, all of them
  uint64_t span_disk_bytes = 0;      // of which spans
  uint64_t index_disk_bytes = 0;     // of which search indexes
};

class TraceStore {
 public:
  // Creates the directory if missing. Throws StoreError when the directory is held by another
  // process (or another TraceStore) or RocksDB cannot open it.
  static std::unique_ptr<TraceStore> open(StoreOptions options);
  ~TraceStore();
  TraceStore(const TraceStore&) = delete;
  TraceStore& operator=(const TraceStore&) = delete;

  // Writes the batch atomically (one RocksDB write, WAL on). Once it returns, the spans survive a
  // kill -9 of this process (the WAL is in the OS page cache; it is not fsynced, so a power loss
  // can lose the last writes). Returns the number of spans stored; throws StoreError on failure.
  size_t ingest(const core::SpanBatch& batch);

  // Every stored span of the trace with its resource and scope (spans of one resource share one
  // Resource object); an empty batch when the trace is unknown or expired.
  core::SpanBatch find_trace(const core::TraceId& trace_id) const;
  // Matching trace ids, newest first, at most query.limit. Load each with find_trace.
  std::vector<core::TraceId> search(const TraceQuery& query) const;

  std::vector<std::string> services() const;  // sorted
  // Sorted by name then kind; `kind` filters.
  std::vector<Operation> operations(std::string_view service,
                                    std::optional<core::SpanKind> kind = std::nullopt) const;
  // Edges whose child span started in [end - lookback, end], summed.
  std::vector<DependencyLink> dependencies(uint64_t end_ns, uint64_t lookback_ns) const;
  // One series (or one per operation when grouped), sorted by operation.
  std::vector<MetricsSeries> metrics(const MetricsQuery& query) const;

  // Raises the cutoff for the age limit and, when the SST files exceed the size limit, further
  // (using the per-minute totals to find the time that frees the excess plus 10% of the limit),
  // then compacts so the space is freed. Runs on the background thread; public for tests.
  void enforce_retention();
  // Compacts everything now so that expired entries leave the disk.
  void compact();

  StoreStats stats() const;
  const std::string& data_dir() const;

 private:
  struct Impl;
  explicit TraceStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace hodos::store
