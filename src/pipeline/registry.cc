#include "pipeline/registry.h"

#include <algorithm>

namespace hodos::pipeline {

namespace {
template <class Map>
auto find(const Map& m, const std::string& type) -> decltype(m.begin()->second.get()) {
  auto it = m.find(type);
  return it == m.end() ? nullptr : it->second.get();
}
template <class Map>
std::vector<std::string> keys(const Map& m) {
  std::vector<std::string> out;
  for (const auto& [k, v] : m) out.push_back(k);
  return out;
}
}  // namespace

void Registry::add(std::unique_ptr<ReceiverFactory> f) {
  receivers_[std::string(f->type())] = std::move(f);
}
void Registry::add(std::unique_ptr<ProcessorFactory> f) {
  processors_[std::string(f->type())] = std::move(f);
}
void Registry::add(std::unique_ptr<ExporterFactory> f) {
  exporters_[std::string(f->type())] = std::move(f);
}

void Registry::add(std::unique_ptr<MetricsExporterFactory> f) {
  metrics_exporters_[std::string(f->type())] = std::move(f);
}
void Registry::add(std::unique_ptr<ConnectorFactory> f) {
  connectors_[std::string(f->type())] = std::move(f);
}

const ReceiverFactory* Registry::receiver(const std::string& type) const { return find(receivers_, type); }
const ProcessorFactory* Registry::processor(const std::string& type) const { return find(processors_, type); }
const ExporterFactory* Registry::exporter(const std::string& type) const { return find(exporters_, type); }
const MetricsExporterFactory* Registry::metrics_exporter(const std::string& type) const {
  return find(metrics_exporters_, type);
}
const ConnectorFactory* Registry::connector(const std::string& type) const {
  return find(connectors_, type);
}

std::vector<std::string> Registry::types(ComponentKind kind) const {
  switch (kind) {
    case ComponentKind::kReceiver: return keys(receivers_);
    case ComponentKind::kProcessor: return keys(processors_);
    case ComponentKind::kExporter: {
      std::vector<std::string> all = keys(exporters_);
      for (auto& k : keys(metrics_exporters_)) all.push_back(k);
      std::sort(all.begin(), all.end());
      return all;
    }
    case ComponentKind::kConnector: return keys(connectors_);
  }
  return {};
}

}  // namespace hodos::pipeline
