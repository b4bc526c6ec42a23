#include "core/span.h"

namespace hodos::core {

std::string_view span_kind_name(SpanKind kind) {
  switch (kind) {
    case SpanKind::kInternal: return "internal";
    case SpanKind::kServer: return "server";
    case SpanKind::kClient: return "client";
    case SpanKind::kProducer: return "producer";
    case SpanKind::kConsumer: return "consumer";
    case SpanKind::kUnspecified: break;
  }
  return "unspecified";
}

const Resource* empty_resource() {
  static const Resource kEmpty;
  return &kEmpty;
}

const Scope* empty_scope() {
  static const Scope kEmpty;
  return &kEmpty;
}

}  // namespace hodos::core
