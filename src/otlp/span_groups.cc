#include "otlp/span_groups.h"

#include <unordered_map>
#include <utility>

namespace hodos::otlp {

namespace {

struct ScopeKeyHash {
  size_t operator()(const std::pair<const void*, const void*>& k) const noexcept {
    return std::hash<const void*>()(k.first) * 31 + std::hash<const void*>()(k.second);
  }
};

}  // namespace

std::vector<ResourceGroup> group_spans(const core::SpanBatch& batch) {
  std::vector<ResourceGroup> groups;
  std::unordered_map<const core::Resource*, size_t> resource_at;
  std::unordered_map<std::pair<const void*, const void*>, std::pair<size_t, size_t>, ScopeKeyHash>
      scope_at;
  // Spans of one group are almost always adjacent: only look up the maps when
  // the pair changes.
  const core::Resource* last_resource = nullptr;
  const core::Scope* last_scope = nullptr;
  ScopeGroup* current = nullptr;
  for (const core::Span& span : batch.spans()) {
    if (span.resource != last_resource || span.scope != last_scope) {
      auto [rit, rnew] = resource_at.try_emplace(span.resource, groups.size());
      if (rnew) groups.push_back({span.resource, {}});
      ResourceGroup& rg = groups[rit->second];
      auto [sit, snew] =
          scope_at.try_emplace({span.resource, span.scope}, rit->second, rg.scopes.size());
      if (snew) rg.scopes.push_back({span.scope, {}});
      current = &groups[sit->second.first].scopes[sit->second.second];
      last_resource = span.resource;
      last_scope = span.scope;
    }
    current->spans.push_back(&span);
  }
  return groups;
}

}  // namespace hodos::otlp
