// Shared fixtures for exporter tests: batches with recognisable names, a quiet logger, a
// temporary directory, and a bounded wait for a condition.
#pragma once

#include <spdlog/logger.h>
#include <spdlog/sinks/null_sink.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "core/span_batch.h"
#include "pipeline/factory.h"

namespace hodos::testing {

inline core::SpanBatch make_batch(const std::string& prefix, int n) {
  core::SpanBatch b;
  core::Arena& a = b.arena();
  core::Resource* r = b.new_resource();
  core::upsert_attribute(a, r->attributes, "service.name", core::AnyValue::string("svc"));
  core::Scope* scope = b.new_scope();
  scope->name = a.copy("test-scope");
  for (int i = 0; i < n; ++i) {
    core::Span s;
    s.trace_id = core::TraceId::random();
    s.span_id = core::SpanId::random();
    s.name = a.copy(prefix + "-" + std::to_string(i));
    s.kind = core::SpanKind::kServer;
    s.start_time_unix_nano = 1'700'000'000'000'000'000ULL + static_cast<uint64_t>(i);
    s.end_time_unix_nano = s.start_time_unix_nano + 1000;
    s.resource = r;
    s.scope = scope;
    core::upsert_attribute(a, s.attributes, "i", core::AnyValue::integer(i));
    b.spans().push_back(s);
  }
  return b;
}

inline std::shared_ptr<spdlog::logger> quiet_logger() {
  return std::make_shared<spdlog::logger>("test", std::make_shared<spdlog::sinks::null_sink_mt>());
}

// Polls `cond` until it holds or 20s pass (a generous bound only hit when the code is broken).
inline bool wait_for(const std::function<bool()>& cond,
                     std::chrono::milliseconds limit = std::chrono::seconds(20)) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (!cond()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "hodos-test-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace hodos::testing
