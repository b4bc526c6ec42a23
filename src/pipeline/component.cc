#include "pipeline/component.h"

#include <cctype>

namespace hodos::pipeline {

std::optional<ComponentId> ComponentId::parse(std::string_view text) {
  auto slash = text.find('/');
  ComponentId id;
  id.type = std::string(text.substr(0, slash));
  if (slash != std::string_view::npos) {
    id.name = std::string(text.substr(slash + 1));
    if (id.name.empty()) return std::nullopt;
  }
  if (id.type.empty()) return std::nullopt;
  for (char c : id.type) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return std::nullopt;
  }
  return id;
}

std::string_view component_kind_plural(ComponentKind kind) {
  switch (kind) {
    case ComponentKind::kReceiver: return "receivers";
    case ComponentKind::kProcessor: return "processors";
    case ComponentKind::kExporter: return "exporters";
    case ComponentKind::kConnector: return "connectors";
  }
  return "components";
}

}  // namespace hodos::pipeline
