// The query API served by `hodos up`: Jaeger's HTTP API (services, operations, trace search and
// trace by id, dependencies, SPM metrics), the OTLP-native /api/v3/traces/{id}, /api/health and the
// Prometheus /metrics of the pipeline and the store, on one address, with bearer-token auth when
// that address is not loopback.
#pragma once

#include <spdlog/logger.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/clock.h"
#include "net/http_server.h"
#include "pipeline/metrics.h"
#include "store/trace_store.h"

namespace hodos::api {

struct QueryApiOptions {
  std::string address = "127.0.0.1:16686";
  // When not empty, every route except /api/health needs `Authorization: Bearer <token>`.
  // Whoever configures the API decides (hodos up requires one off loopback).
  std::string auth_token;
  int threads = 4;
  std::function<uint64_t()> clock = core::now_unix_nano;
  // Answers paths no route matches (the UI, when it lands); unset: 404.
  net::HttpHandler fallback;
};

class QueryApi {
 public:
  // `metrics` (may be null) is the pipeline's, rendered at /metrics before the store's own.
  // Both must outlive the API.
  QueryApi(std::shared_ptr<const store::TraceStore> store, const pipeline::Metrics* metrics,
           QueryApiOptions options, std::shared_ptr<spdlog::logger> logger = nullptr);
  ~QueryApi();
  QueryApi(const QueryApi&) = delete;
  QueryApi& operator=(const QueryApi&) = delete;

  // Adds a route (before start()) behind the same bearer-token check, error shape and
  // ?prettyPrint as the query routes: the control API's routes (sources_api.h) use it.
  // An empty `method` matches any.
  void add_route(std::string method, std::string pattern, net::HttpHandler handler);

  // Binds and serves; on failure the one-line reason ("127.0.0.1:16686: address already in use").
  std::optional<std::string> start();
  void stop();
  uint16_t port() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// True for 127.0.0.0/8, ::1 and "localhost" (the host part of a listen address).
bool is_loopback_host(std::string_view host);

// The store's counters and gauges as Prometheus text (hodos_store_*).
std::string store_stats_prometheus(const store::StoreStats& stats);

}  // namespace hodos::api
