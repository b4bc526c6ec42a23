// What `hodos up`'s run-time actions and sampling rules have in common (processors/actions.h,
// processors/sampling_rules.h): a named, typed object whose config is a processor's own, in the
// Collector's shape; its JSON form (the control API's and the saved file's); and the error that
// names the field a request got wrong.
#pragma once

#include <yaml-cpp/yaml.h>

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/config_node.h"

namespace hodos::processors {

// A bad request (kInvalid: 400), an unknown name (kNotFound: 404) or a name in use (kConflict:
// 409). `field` names the part of the object ("name", "config.blocked_values[1]"), or the file.
class RuleError : public std::runtime_error {
 public:
  enum class Kind { kInvalid, kNotFound, kConflict };
  RuleError(Kind kind, std::string field, const std::string& message)
      : std::runtime_error(field.empty() ? message : field + ": " + message),
        kind_(kind),
        field_(std::move(field)),
        message_(message) {}
  RuleError(std::string field, const std::string& message)
      : RuleError(Kind::kInvalid, std::move(field), message) {}
  Kind kind() const { return kind_; }
  const std::string& field() const { return field_; }
  const std::string& message() const { return message_; }  // without the field

 private:
  Kind kind_;
  std::string field_;
  std::string message_;
};

// `e` with its field put under `parent` ("actions[2]" + "config.x" → "actions[2].config.x").
RuleError nest_rule_error(const RuleError& e, const std::string& parent);

// An action or a sampling rule.
struct ProcessingRule {
  std::string name;
  std::string type;
  bool enabled = true;
  std::string description;
  nlohmann::json config = nlohmann::json::object();

  bool operator==(const ProcessingRule&) const = default;
};

// A type an action or rule may have, as `GET /api/v1/actions/types` lists it.
struct RuleType {
  std::string type;
  std::string title;
  std::string help;
  nlohmann::json example;  // a config object the processor accepts
};

// Reads {"name", "type", "enabled", "description", "config"} ("status", as the API answers it,
// is ignored, so an object listed can be sent back). `what` is "action" or "rule" for messages.
// Checks the name and that the type is one of `types`; the config is the processor's to judge.
// Throws RuleError naming the field.
ProcessingRule parse_rule(const nlohmann::json& body, const std::vector<RuleType>& types,
                          std::string_view what, bool name_required = true);
nlohmann::json rule_json(const ProcessingRule& rule);

// [a-z0-9][a-z0-9_-]{0,62}, and not one of `reserved` (a word of the routes). Throws RuleError.
void validate_rule_name(const std::string& name, std::string_view what,
                        const std::vector<std::string_view>& reserved = {});

// The JSON config as YAML for a ConfigNode: JSON strings stay strings (quoted scalars), numbers
// and booleans stay typed, as the processors' own YAML readers expect.
YAML::Node json_to_yaml(const nlohmann::json& value);

// A ConfigError of a processor as a RuleError on the object's field: the path `prefix`... becomes
// `field`... ("processors.x.blocked_values[1]" with prefix "processors.x" →
// "config.blocked_values[1]").
RuleError config_field_error(const pipeline::ConfigError& e, std::string_view prefix,
                             std::string_view field);

// The saved file: {"version": 1, <list_key>: [...], ...extra}. decode throws RuleError naming the
// part of the file; `extra` receives the document for keys beside the list.
std::string encode_rules(std::string_view list_key, const std::vector<ProcessingRule>& rules,
                         const nlohmann::json& extra = nlohmann::json::object());
std::vector<ProcessingRule> decode_rules(std::string_view text, std::string_view list_key,
                                         const std::vector<RuleType>& types, std::string_view what,
                                         nlohmann::json* extra = nullptr);
// The file's text, or "" when it does not exist. Throws RuleError naming the file.
std::string read_rules_file(const std::string& path);

// The type named, or nullptr.
const RuleType* find_rule_type(const std::vector<RuleType>& types, std::string_view type);

}  // namespace hodos::processors
