#include "processors/resource.h"

#include <utility>
#include <vector>

#include "processors/attributes.h"

namespace hodos::processors {
namespace {

class ResourceProcessor : public pipeline::Processor {
 public:
  ResourceProcessor(AttributeActions actions, pipeline::TracesConsumer& next)
      : actions_(std::move(actions)), next_(next) {}

  bool mutates_data() const override { return true; }

  pipeline::Status consume(core::SpanBatch batch) override {
    if (!batch.empty()) edit_resources(batch);
    return next_.consume(std::move(batch));
  }

 private:
  // A Resource is shared by all spans of its ResourceSpans and, after a split, by other batches
  // too: edit a copy in this batch's arena, once per distinct resource.
  void edit_resources(core::SpanBatch& batch) {
    core::Arena& arena = batch.arena();
    const AttributeActions::Bound bound = actions_.bind(arena);
    std::vector<std::pair<const core::Resource*, const core::Resource*>> edited;
    const core::Resource* last_in = nullptr;
    const core::Resource* last_out = nullptr;
    for (core::Span& span : batch.spans()) {
      if (span.resource != last_in) {
        last_in = span.resource;
        last_out = nullptr;
        for (const auto& [in, out] : edited) {
          if (in == last_in) last_out = out;
        }
        if (!last_out) {
          last_out = edit_copy(bound, arena, *last_in);
          edited.emplace_back(last_in, last_out);
        }
      }
      span.resource = last_out;
    }
  }

  const core::Resource* edit_copy(const AttributeActions::Bound& bound, core::Arena& arena,
                                  const core::Resource& in) const {
    core::Resource* out = arena.make<core::Resource>(in);
    // A shallow copy of the entries: their strings stay where they are (arenas this batch holds),
    // only the list is new, because actions replace entries and never edit bytes in place.
    out->attributes = {};
    out->attributes.reserve(arena, in.attributes.size() + actions_.size());
    for (const core::KeyValue& kv : in.attributes) out->attributes.push_back(arena, kv);
    actions_.apply(bound, arena, out->attributes);
    return out;
  }

  const AttributeActions actions_;
  pipeline::TracesConsumer& next_;
};

class ResourceProcessorFactory : public pipeline::ProcessorFactory {
 public:
  std::string_view type() const override { return "resource"; }

  std::unique_ptr<pipeline::Processor> create(const pipeline::CreateContext& /*ctx*/,
                                              pipeline::ConfigNode& config,
                                              pipeline::TracesConsumer& next) const override {
    auto items = config.child_list("attributes");
    config.reject_unknown_keys();
    if (items.empty()) {
      config.fail("attributes",
                  "required; list at least one action, e.g. "
                  "[{key: deployment.environment, value: prod, action: upsert}]");
    }
    return std::make_unique<ResourceProcessor>(AttributeActions::parse(std::move(items)), next);
  }
};

}  // namespace

std::unique_ptr<pipeline::ProcessorFactory> make_resource_processor_factory() {
  return std::make_unique<ResourceProcessorFactory>();
}

}  // namespace hodos::processors
