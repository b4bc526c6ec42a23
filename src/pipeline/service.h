// The running collector: pipelines built from a Collector-shaped YAML config
// (receivers/processors/exporters/service.pipelines), started exporters-first and stopped
// receivers-first, plus the self-telemetry endpoint.
#pragma once

#include <yaml-cpp/yaml.h>

#include <memory>
#include <spdlog/logger.h>
#include <string>
#include <vector>

#include "pipeline/component.h"
#include "pipeline/metrics.h"
#include "pipeline/registry.h"

namespace hodos::net {
class HttpServer;
}

namespace hodos::pipeline {

struct ServiceOptions {
  // `hodos collector` serves /metrics itself; `hodos up` serves it on the API address instead.
  bool serve_own_telemetry = true;
  // Pipelines `hodos up` adds around the user's config may be empty of receivers.
  bool allow_pipelines_without_receivers = false;
};

class Service {
 public:
  // Parses and validates the whole config and creates every component; throws ConfigError naming
  // the key. Nothing is bound or started.
  static std::unique_ptr<Service> build(const Registry& registry, YAML::Node config,
                                        std::shared_ptr<spdlog::logger> logger,
                                        ServiceOptions options = {});
  ~Service();

  // Starts exporters, then processors, then receivers, then the telemetry endpoint. On failure,
  // stops what was started and returns the reason.
  Status start();
  // Stops receivers first, then processors, then exporters, each draining until `deadline`.
  void shutdown(Deadline deadline);

  Metrics& metrics() { return *metrics_; }
  // Where /metrics is served ("" when disabled or not serving its own).
  std::string telemetry_address() const;
  // The first consumer of a pipeline ("traces", "traces/x"), for in-process sources such as the
  // agent; nullptr when there is no such pipeline.
  TracesConsumer* pipeline_entry(const std::string& pipeline_name) const;
  std::vector<std::string> pipeline_names() const;
  // One line per component, for `validate` and start-up logs.
  std::vector<std::string> describe() const;

 private:
  struct Impl;
  explicit Service(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  std::unique_ptr<Metrics> metrics_;
};

}  // namespace hodos::pipeline
