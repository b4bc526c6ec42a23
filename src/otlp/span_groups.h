// Grouping of a batch's spans for the OTLP encoders: one ResourceSpans per
// Resource and one ScopeSpans per (Resource, Scope) pair, in order of first
// appearance, whether or not a group's spans are consecutive. Internal to
// src/otlp.
#pragma once

#include <vector>

#include "core/span_batch.h"

namespace hodos::otlp {

struct ScopeGroup {
  const core::Scope* scope;
  std::vector<const core::Span*> spans;
};
struct ResourceGroup {
  const core::Resource* resource;
  std::vector<ScopeGroup> scopes;
};

std::vector<ResourceGroup> group_spans(const core::SpanBatch& batch);

}  // namespace hodos::otlp
