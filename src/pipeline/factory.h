// Factories create components from their config. create() parses and validates the config
// (throwing ConfigError with the key path) but binds nothing: `hodos collector validate` builds
// the whole graph without side effects, and only start() touches ports, files and threads.
#pragma once

#include <memory>
#include <spdlog/logger.h>
#include <string_view>

#include "pipeline/component.h"
#include "pipeline/config_node.h"
#include "pipeline/metrics.h"

namespace hodos::pipeline {

struct CreateContext {
  ComponentId id;
  Metrics& metrics;
  std::shared_ptr<spdlog::logger> logger;
};

class ReceiverFactory {
 public:
  virtual ~ReceiverFactory() = default;
  virtual std::string_view type() const = 0;
  // `next` outlives the receiver.
  virtual std::unique_ptr<Receiver> create(const CreateContext& ctx, ConfigNode& config,
                                           TracesConsumer& next) const = 0;
};

class ProcessorFactory {
 public:
  virtual ~ProcessorFactory() = default;
  virtual std::string_view type() const = 0;
  virtual std::unique_ptr<Processor> create(const CreateContext& ctx, ConfigNode& config,
                                            TracesConsumer& next) const = 0;
};

class ExporterFactory {
 public:
  virtual ~ExporterFactory() = default;
  virtual std::string_view type() const = 0;
  virtual std::unique_ptr<Exporter> create(const CreateContext& ctx, ConfigNode& config) const = 0;
};

class MetricsExporterFactory {
 public:
  virtual ~MetricsExporterFactory() = default;
  virtual std::string_view type() const = 0;
  virtual std::unique_ptr<MetricsExporter> create(const CreateContext& ctx,
                                                  ConfigNode& config) const = 0;
};

class ConnectorFactory {
 public:
  virtual ~ConnectorFactory() = default;
  virtual std::string_view type() const = 0;
  // `next` (the metrics pipelines that list the connector as a receiver) outlives it.
  virtual std::unique_ptr<Connector> create(const CreateContext& ctx, ConfigNode& config,
                                            MetricsConsumer& next) const = 0;
};

}  // namespace hodos::pipeline
