// The `attributes` processor (insert/update/upsert/delete/hash/extract/convert on span attributes,
// with include/exclude matching), and the action list it shares with the `resource` processor;
// configured as the OpenTelemetry Collector's attributesprocessor.
#pragma once

#include <memory>
#include <string_view>
#include <vector>

#include "core/arena.h"
#include "core/attributes.h"
#include "pipeline/config_node.h"
#include "pipeline/factory.h"

namespace hodos::processors {

std::unique_ptr<pipeline::ProcessorFactory> make_attributes_processor_factory();

// An ordered list of attribute actions, the Collector's "attraction" settings:
//   - {key: k, value: v, action: insert|update|upsert}  (or from_attribute: other)
//   - {key: k | pattern: regex, action: delete|hash}   hash = SHA-256 hex, as the Collector
//   - {key: k, pattern: '(?P<name>...)', action: extract}
//   - {key: k, converted_type: int|double|string, action: convert}
class AttributeActions {
 public:
  // Parses `items` (the `actions:` list, or the resource processor's `attributes:` list); errors
  // name the item's key path (`processors.attributes.actions[1].action: unknown action ...`).
  static AttributeActions parse(std::vector<pipeline::ConfigNode> items);

  AttributeActions(AttributeActions&&) noexcept;
  AttributeActions& operator=(AttributeActions&&) noexcept;
  ~AttributeActions();

  // The actions' keys and constant values copied into one batch's arena, so that editing many
  // spans of the batch copies them once.
  class Bound {
   public:
    Bound() = default;

   private:
    friend class AttributeActions;
    std::vector<core::KeyValue> constants_;                   // one per action
    std::vector<std::vector<std::string_view>> group_names_;  // extract's target keys
  };
  Bound bind(core::Arena& arena) const;

  // Applies every action in order to `attrs`; anything new is allocated in `arena`, the arena of
  // the batch that `bound` was made for.
  void apply(const Bound& bound, core::Arena& arena, core::AttrList& attrs) const;

  size_t size() const;

 private:
  struct Action;
  AttributeActions();
  std::vector<Action> actions_;
  std::unique_ptr<core::Arena> config_arena_;  // constant values from the YAML
};

// Reads a typed attribute value from YAML the way the Collector does: plain scalars become
// bool, int or double when they look like one, quoted scalars strings, sequences arrays and
// mappings maps. Strings go into `arena`.
core::AnyValue yaml_to_value(const YAML::Node& node, core::Arena& arena);

// Throws ConfigError for any key of `node` not in `known`, naming the valid ones.
void reject_keys_except(const pipeline::ConfigNode& node,
                        std::initializer_list<std::string_view> known);

}  // namespace hodos::processors
