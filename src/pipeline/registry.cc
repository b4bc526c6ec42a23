#include "pipeline/registry.h"

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

const ReceiverFactory* Registry::receiver(const std::string& type) const { return find(receivers_, type); }
const ProcessorFactory* Registry::processor(const std::string& type) const { return find(processors_, type); }
const ExporterFactory* Registry::exporter(const std::string& type) const { return find(exporters_, type); }

std::vector<std::string> Registry::types(ComponentKind kind) const {
  switch (kind) {
    case ComponentKind::kReceiver: return keys(receivers_);
    case ComponentKind::kProcessor: return keys(processors_);
    case ComponentKind::kExporter: return keys(exporters_);
  }
  return {};
}

}  // namespace hodos::pipeline
