// The set of component factories known to a binary, filled explicitly by register_all().
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "pipeline/factory.h"

namespace hodos::pipeline {

class Registry {
 public:
  void add(std::unique_ptr<ReceiverFactory> f);
  void add(std::unique_ptr<ProcessorFactory> f);
  void add(std::unique_ptr<ExporterFactory> f);
  void add(std::unique_ptr<MetricsExporterFactory> f);
  void add(std::unique_ptr<ConnectorFactory> f);

  const ReceiverFactory* receiver(const std::string& type) const;
  const ProcessorFactory* processor(const std::string& type) const;
  const ExporterFactory* exporter(const std::string& type) const;
  const MetricsExporterFactory* metrics_exporter(const std::string& type) const;
  const ConnectorFactory* connector(const std::string& type) const;
  // Sorted; kExporter lists traces and metrics exporters together, as they share a section.
  std::vector<std::string> types(ComponentKind kind) const;

 private:
  std::map<std::string, std::unique_ptr<ReceiverFactory>> receivers_;
  std::map<std::string, std::unique_ptr<ProcessorFactory>> processors_;
  std::map<std::string, std::unique_ptr<ExporterFactory>> exporters_;
  std::map<std::string, std::unique_ptr<MetricsExporterFactory>> metrics_exporters_;
  std::map<std::string, std::unique_ptr<ConnectorFactory>> connectors_;
};

}  // namespace hodos::pipeline
