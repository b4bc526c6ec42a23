#include "processors/runtime_rules.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace hodos::processors {

namespace {

using nlohmann::json;

constexpr int kFormatVersion = 1;
constexpr size_t kMaxNameBytes = 63;

std::string type_list(const std::vector<RuleType>& types) {
  std::string out;
  for (const RuleType& t : types) out += (out.empty() ? "" : ", ") + t.type;
  return out;
}

}  // namespace

RuleError nest_rule_error(const RuleError& e, const std::string& parent) {
  return RuleError(e.kind(), e.field().empty() ? parent : parent + "." + e.field(), e.message());
}

const RuleType* find_rule_type(const std::vector<RuleType>& types, std::string_view type) {
  for (const RuleType& t : types) {
    if (t.type == type) return &t;
  }
  return nullptr;
}

void validate_rule_name(const std::string& name, std::string_view what,
                        const std::vector<std::string_view>& reserved) {
  if (name.empty()) {
    throw RuleError("name", fmt::format("required: a name for the {}, e.g. mask-pii", what));
  }
  auto lower_or_digit = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  bool ok = name.size() <= kMaxNameBytes && lower_or_digit(name[0]);
  for (char c : name) ok = ok && (lower_or_digit(c) || c == '-' || c == '_');
  if (!ok) {
    throw RuleError("name", fmt::format("'{}': use 1 to 63 lower-case letters, digits, '-' and "
                                        "'_', starting with a letter or digit (e.g. mask-pii)",
                                        name));
  }
  for (std::string_view word : reserved) {
    if (name == word) {
      throw RuleError("name", fmt::format("'{}' is a word of the API's routes; choose another "
                                          "name",
                                          name));
    }
  }
}

ProcessingRule parse_rule(const json& body, const std::vector<RuleType>& types,
                          std::string_view what, bool name_required) {
  if (!body.is_object()) {
    throw RuleError("", fmt::format("the {} must be a JSON object: {{\"name\", \"type\", "
                                    "\"enabled\", \"description\", \"config\"}}",
                                    what));
  }
  ProcessingRule rule;
  bool has_type = false;
  for (const auto& [key, value] : body.items()) {
    if (key == "name" || key == "type" || key == "description") {
      if (value.is_null() && key == "description") continue;
      if (!value.is_string()) throw RuleError(key, "must be a string");
      std::string text = value.get<std::string>();
      if (key == "name") {
        rule.name = std::move(text);
      } else if (key == "type") {
        rule.type = std::move(text);
        has_type = true;
      } else {
        rule.description = std::move(text);
      }
    } else if (key == "enabled") {
      if (!value.is_boolean()) throw RuleError(key, "must be true or false");
      rule.enabled = value.get<bool>();
    } else if (key == "config") {
      if (!value.is_object()) {
        throw RuleError("config", fmt::format("must be an object: the {} processor's settings",
                                              has_type ? rule.type : std::string(what)));
      }
      rule.config = value;
    } else if (key != "status") {
      throw RuleError(key, fmt::format("unknown field; a{} {} has name, type, enabled, "
                                       "description and config",
                                       what == "action" ? "n" : "", what));
    }
  }
  if (name_required || !rule.name.empty()) validate_rule_name(rule.name, what);
  if (!has_type || rule.type.empty()) {
    throw RuleError("type", fmt::format("required; one of {}", type_list(types)));
  }
  if (find_rule_type(types, rule.type) == nullptr) {
    throw RuleError("type",
                    fmt::format("unknown type '{}'; use one of {}", rule.type, type_list(types)));
  }
  return rule;
}

json rule_json(const ProcessingRule& rule) {
  json j = {{"name", rule.name},
            {"type", rule.type},
            {"enabled", rule.enabled},
            {"description", rule.description},
            {"config", rule.config}};
  return j;
}

YAML::Node json_to_yaml(const json& value) {
  switch (value.type()) {
    case json::value_t::object: {
      YAML::Node node(YAML::NodeType::Map);
      for (const auto& [k, v] : value.items()) node[k] = json_to_yaml(v);
      return node;
    }
    case json::value_t::array: {
      YAML::Node node(YAML::NodeType::Sequence);
      for (const json& v : value) node.push_back(json_to_yaml(v));
      return node;
    }
    case json::value_t::string: {
      YAML::Node node(value.get<std::string>());
      node.SetTag("!");  // a quoted scalar: "42" stays the string "42"
      return node;
    }
    case json::value_t::null:
    case json::value_t::discarded:
      return YAML::Node(YAML::NodeType::Null);
    default: {
      YAML::Node node(value.dump());  // numbers and booleans: plain scalars, typed by readers
      node.SetTag("?");
      return node;
    }
  }
}

RuleError config_field_error(const pipeline::ConfigError& e, std::string_view prefix,
                             std::string_view field) {
  std::string path = e.path();
  std::string message = e.what();
  if (!path.empty() && message.starts_with(path + ": ")) message.erase(0, path.size() + 2);
  if (path == prefix) {
    path = field;
  } else if (path.starts_with(std::string(prefix) + ".")) {
    path = field.empty() ? path.substr(prefix.size() + 1)
                         : std::string(field) + path.substr(prefix.size());
  } else if (path.empty()) {
    path = field;
  }
  return RuleError(std::move(path), message);
}

std::string encode_rules(std::string_view list_key, const std::vector<ProcessingRule>& rules,
                         const json& extra) {
  json list = json::array();
  for (const ProcessingRule& r : rules) list.push_back(rule_json(r));
  json doc = {{"version", kFormatVersion}};
  for (const auto& [k, v] : extra.items()) doc[k] = v;
  doc[std::string(list_key)] = std::move(list);
  return doc.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

std::vector<ProcessingRule> decode_rules(std::string_view text, std::string_view list_key,
                                         const std::vector<RuleType>& types, std::string_view what,
                                         json* extra) {
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    throw RuleError(
        "", fmt::format("not valid JSON (expected {{\"version\": 1, \"{}\": [...]}})", list_key));
  }
  if (!doc.contains("version") || !doc["version"].is_number_integer() ||
      doc["version"].get<int>() != kFormatVersion) {
    throw RuleError("version", "must be 1 (written by a newer Hodos?)");
  }
  const std::string key(list_key);
  std::vector<ProcessingRule> out;
  if (doc.contains(key)) {
    if (!doc[key].is_array()) throw RuleError(key, "must be a list");
    for (const json& item : doc[key]) {
      const std::string where = fmt::format("{}[{}]", key, out.size());
      ProcessingRule rule;
      try {
        rule = parse_rule(item, types, what);
      } catch (const RuleError& e) {
        throw nest_rule_error(e, where);
      }
      for (const ProcessingRule& prev : out) {
        if (prev.name == rule.name) {
          throw RuleError(where + ".name", "'" + rule.name + "' twice");
        }
      }
      out.push_back(std::move(rule));
    }
  }
  if (extra != nullptr) *extra = std::move(doc);
  return out;
}

std::string read_rules_file(const std::string& path) {
  if (path.empty()) return "";
  std::error_code ec;
  if (!std::filesystem::exists(path, ec) && !ec) return "";
  std::ifstream in(path, std::ios::binary);
  if (!in) throw RuleError(path, std::string("cannot read: ") + std::strerror(errno));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace hodos::processors
