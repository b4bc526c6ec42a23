// Helpers for the store tests: a temporary data directory, a settable clock, and a builder for
// traces of several services with the fields search and aggregates look at.
#pragma once

#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <initializer_list>
#include <memory>
#include <string>
#include <utility>

#include "core/span_batch.h"
#include "store/trace_store.h"

namespace hodos::store::testing {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "hodos-store-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string str() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

// 2023-11-14T22:13:20Z: a fixed "now" so tests do not depend on the wall clock.
inline constexpr uint64_t kT0 = 1'700'000'000'000'000'000ULL;
inline constexpr uint64_t kMs = 1'000'000ULL;
inline constexpr uint64_t kSec = 1'000 * kMs;
inline constexpr uint64_t kMinute = 60 * kSec;
inline constexpr uint64_t kDay = 24 * 60 * kMinute;

// A clock the test moves; the store reads it through StoreOptions::clock.
struct FakeClock {
  std::shared_ptr<std::atomic<uint64_t>> now = std::make_shared<std::atomic<uint64_t>>(kT0);
  std::function<uint64_t()> fn() const {
    return [n = now] { return n->load(); };
  }
  void set(uint64_t t) { now->store(t); }
};

inline StoreOptions options_for(const TempDir& dir, const FakeClock& clock) {
  StoreOptions o;
  o.data_dir = dir.str();
  o.clock = clock.fn();
  o.retention_interval = std::chrono::milliseconds(0);  // tests enforce retention themselves
  o.block_cache_bytes = 8 << 20;
  o.write_buffer_bytes = 4 << 20;
  o.dependency_cache_spans = 1 << 12;
  return o;
}

using Attr = std::pair<std::string_view, core::AnyValue>;

// Builds one batch; resources are per service name and shared by that service's spans.
class BatchBuilder {
 public:
  core::Arena& arena() { return batch_.arena(); }

  const core::Resource* resource(std::string_view service, std::initializer_list<Attr> attrs = {}) {
    core::Resource* r = batch_.new_resource();
    core::upsert_attribute(arena(), r->attributes, "service.name",
                           core::AnyValue::string(arena().copy(service)));
    for (const auto& [k, v] : attrs) core::upsert_attribute(arena(), r->attributes, k, v);
    return r;
  }

  core::AnyValue str(std::string_view s) { return core::AnyValue::string(arena().copy(s)); }

  core::Span& span(const core::Resource* resource, const core::TraceId& trace, std::string_view name,
                   core::SpanKind kind, uint64_t start, uint64_t duration,
                   const core::SpanId* parent = nullptr, std::initializer_list<Attr> attrs = {}) {
    core::Span s;
    s.trace_id = trace;
    s.span_id = core::SpanId::random();
    if (parent != nullptr) s.parent_span_id = *parent;
    s.name = arena().copy(name);
    s.kind = kind;
    s.start_time_unix_nano = start;
    s.end_time_unix_nano = start + duration;
    s.resource = resource;
    for (const auto& [k, v] : attrs) core::upsert_attribute(arena(), s.attributes, k, v);
    batch_.spans().push_back(s);
    return batch_.spans().back();
  }

  void event(core::Span& span, std::string_view name, std::initializer_list<Attr> attrs) {
    core::Event e;
    e.time_unix_nano = span.start_time_unix_nano;
    e.name = arena().copy(name);
    for (const auto& [k, v] : attrs) core::upsert_attribute(arena(), e.attributes, k, v);
    span.events.push_back(arena(), e);
  }

  core::SpanBatch take() { return std::move(batch_); }

 private:
  core::SpanBatch batch_;
};

}  // namespace hodos::store::testing
