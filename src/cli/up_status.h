// The snapshot behind GET /api/v1/status and `hodos status`: what hodos up runs (receivers with
// their ports, the agent, the store, the destinations) and the counters that say how it goes.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

#include "exporters/destinations.h"
#include "pipeline/metrics.h"
#include "store/trace_store.h"

namespace hodos::cli {

struct UpStatusSources {
  std::string version;
  std::chrono::system_clock::time_point started;
  std::string api;                   // http://host:port
  std::string otlp_grpc, otlp_http;  // host:port as bound
  std::string data_dir;
  std::string retention, retention_size;  // as given (7d, 10GiB)
  std::shared_ptr<const store::TraceStore> store;
  const pipeline::Metrics* metrics = nullptr;
  std::shared_ptr<exporters::Destinations> destinations;
  // {"running": bool, "reason": "..."} and the sources the agent lists.
  std::function<nlohmann::json()> sources;
};

nlohmann::json up_status(const UpStatusSources& in);

// Where the API's status route finds the sources once hodos up has filled them in (the route is
// added before the ports are known, and answers {"status": "starting"} until then).
class UpStatusSlot {
 public:
  void set(UpStatusSources sources) {
    auto next = std::make_shared<const UpStatusSources>(std::move(sources));
    std::lock_guard lock(mu_);
    sources_ = std::move(next);
  }
  nlohmann::json snapshot() const {
    std::shared_ptr<const UpStatusSources> s;
    {
      std::lock_guard lock(mu_);
      s = sources_;
    }
    return s ? up_status(*s) : nlohmann::json{{"status", "starting"}};
  }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const UpStatusSources> sources_;
};

// The sum of every series of `name` in Prometheus text (all label sets, or those whose labels
// contain `label`, e.g. `result="injected"`), for totals.
double sum_metric(const std::string& prometheus_text, const std::string& name,
                  const std::string& label = "");

}  // namespace hodos::cli
