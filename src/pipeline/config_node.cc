#include "pipeline/config_node.h"

#include <cmath>
#include <cstdlib>

#include <fmt/format.h>

namespace hodos::pipeline {

ConfigNode::ConfigNode(YAML::Node node, std::string path) : node_(node), path_(std::move(path)) {
  if (node_ && !node_.IsNull() && !node_.IsMap()) {
    throw ConfigError(path_, "expected a mapping of settings");
  }
}

std::string ConfigNode::path_of(std::string_view key) const {
  return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
}

void ConfigNode::fail(std::string_view key, const std::string& problem) const {
  throw ConfigError(path_of(key), problem);
}

bool ConfigNode::has(std::string_view key) const {
  return node_ && node_.IsMap() && node_[std::string(key)].IsDefined();
}

YAML::Node ConfigNode::lookup(std::string_view key) {
  used_->insert(std::string(key));
  if (!node_ || !node_.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
  YAML::Node v = node_[std::string(key)];
  if (!v.IsDefined() || v.IsNull()) return YAML::Node(YAML::NodeType::Undefined);
  return v;
}

std::string ConfigNode::get_string(std::string_view key, const std::string& fallback) {
  YAML::Node v = lookup(key);
  if (!v.IsDefined()) return fallback;
  if (!v.IsScalar()) fail(key, "expected a string");
  return v.Scalar();
}

std::string ConfigNode::require_string(std::string_view key) {
  std::string v = get_string(key, "");
  if (v.empty()) fail(key, "required");
  return v;
}

bool ConfigNode::get_bool(std::string_view key, bool fallback) {
  YAML::Node v = lookup(key);
  if (!v.IsDefined()) return fallback;
  bool out;
  if (!v.IsScalar() || !YAML::convert<bool>::decode(v, out)) {
    fail(key, fmt::format("expected true or false, got '{}'", v.IsScalar() ? v.Scalar() : "?"));
  }
  return out;
}

int64_t ConfigNode::get_int(std::string_view key, int64_t fallback, int64_t min, int64_t max) {
  YAML::Node v = lookup(key);
  if (!v.IsDefined()) return fallback;
  int64_t out;
  if (!v.IsScalar() || !YAML::convert<int64_t>::decode(v, out)) {
    fail(key, fmt::format("expected an integer, got '{}'", v.IsScalar() ? v.Scalar() : "?"));
  }
  if (out < min || out > max) {
    fail(key, fmt::format("{} is out of range; use a value from {} to {}", out, min, max));
  }
  return out;
}

double ConfigNode::get_double(std::string_view key, double fallback) {
  YAML::Node v = lookup(key);
  if (!v.IsDefined()) return fallback;
  double out;
  if (!v.IsScalar() || !YAML::convert<double>::decode(v, out) || !std::isfinite(out)) {
    fail(key, fmt::format("expected a number, got '{}'", v.IsScalar() ? v.Scalar() : "?"));
  }
  return out;
}

std::chrono::milliseconds ConfigNode::get_duration(std::string_view key,
                                                   std::chrono::milliseconds fallback) {
  YAML::Node v = lookup(key);
  if (!v.IsDefined()) return fallback;
  if (!v.IsScalar()) fail(key, "expected a duration such as 5s or 200ms");
  auto d = parse_duration(v.Scalar());
  if (!d) fail(key, fmt::format("'{}' is not a duration; write it like 5s, 200ms or 1m30s", v.Scalar()));
  return *d;
}

std::vector<std::string> ConfigNode::get_string_list(std::string_view key) {
  YAML::Node v = lookup(key);
  std::vector<std::string> out;
  if (!v.IsDefined()) return out;
  if (!v.IsSequence()) fail(key, "expected a list of strings");
  for (const auto& item : v) {
    if (!item.IsScalar()) fail(key, "expected a list of strings");
    out.push_back(item.Scalar());
  }
  return out;
}

std::map<std::string, std::string> ConfigNode::get_string_map(std::string_view key) {
  YAML::Node v = lookup(key);
  std::map<std::string, std::string> out;
  if (!v.IsDefined()) return out;
  if (!v.IsMap()) fail(key, "expected a mapping of names to strings");
  for (const auto& item : v) {
    if (!item.second.IsScalar()) {
      throw ConfigError(path_of(key) + "." + item.first.Scalar(), "expected a string");
    }
    out[item.first.Scalar()] = item.second.Scalar();
  }
  return out;
}

ConfigNode ConfigNode::child(std::string_view key, bool* present) {
  if (present) *present = has(key);
  YAML::Node v = lookup(key);
  if (v.IsDefined() && !v.IsMap()) fail(key, "expected a mapping of settings");
  return ConfigNode(v, path_of(key));
}

std::vector<ConfigNode> ConfigNode::child_list(std::string_view key) {
  YAML::Node v = lookup(key);
  std::vector<ConfigNode> out;
  if (!v.IsDefined()) return out;
  if (!v.IsSequence()) fail(key, "expected a list");
  for (size_t i = 0; i < v.size(); ++i) {
    out.emplace_back(v[i], fmt::format("{}[{}]", path_of(key), i));
  }
  return out;
}

void ConfigNode::reject_unknown_keys() const {
  if (!node_ || !node_.IsMap()) return;
  for (const auto& item : node_) {
    const std::string key = item.first.Scalar();
    if (used_->count(key)) continue;
    std::string known;
    for (const auto& k : *used_) known += (known.empty() ? "" : ", ") + k;
    throw ConfigError(path_of(key),
                      known.empty() ? "unknown key; this component takes no settings"
                                    : "unknown key; valid keys are: " + known);
  }
}

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  if (text.empty()) return std::nullopt;
  double total_ms = 0;
  size_t i = 0;
  bool bare = true;
  while (i < text.size()) {
    size_t start = i;
    while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) {
      ++i;
    }
    if (start == i) return std::nullopt;
    double value;
    try {
      value = std::stod(std::string(text.substr(start, i - start)));
    } catch (...) {
      return std::nullopt;
    }
    size_t unit_start = i;
    while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i]))) ++i;
    std::string_view unit = text.substr(unit_start, i - unit_start);
    double scale;
    if (unit.empty()) {
      if (!bare || i != text.size()) return std::nullopt;
      scale = 1000;  // a bare number is seconds
    } else if (unit == "ns") {
      scale = 1e-6;
    } else if (unit == "us" || unit == "µs") {
      scale = 1e-3;
    } else if (unit == "ms") {
      scale = 1;
    } else if (unit == "s") {
      scale = 1000;
    } else if (unit == "m") {
      scale = 60'000;
    } else if (unit == "h") {
      scale = 3'600'000;
    } else {
      return std::nullopt;
    }
    bare = false;
    total_ms += value * scale;
  }
  // Millisecond resolution; a non-zero duration never rounds down to "off".
  if (total_ms > 0 && total_ms < 1) total_ms = 1;
  return std::chrono::milliseconds(static_cast<int64_t>(std::llround(total_ms)));
}

namespace {
std::string expand_scalar(const std::string& in, const std::string& path) {
  std::string out;
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '$') {
      out.push_back(in[i]);
      continue;
    }
    if (i + 1 < in.size() && in[i + 1] == '$') {
      out.push_back('$');
      ++i;
      continue;
    }
    if (i + 1 < in.size() && in[i + 1] == '{') {
      size_t close = in.find('}', i + 2);
      if (close == std::string::npos) {
        throw ConfigError(path, "unterminated ${...} reference; close it with '}'");
      }
      std::string ref = in.substr(i + 2, close - i - 2);
      if (ref.rfind("env:", 0) == 0) ref = ref.substr(4);
      auto colon = ref.find(":-");
      std::string fallback;
      if (colon != std::string::npos) {
        fallback = ref.substr(colon + 2);
        ref = ref.substr(0, colon);
      }
      const char* value = std::getenv(ref.c_str());
      out += value ? value : fallback;
      i = close;
      continue;
    }
    out.push_back('$');
  }
  return out;
}
}  // namespace

void expand_env(YAML::Node& node, const std::string& path) {
  if (node.IsScalar()) {
    const std::string& s = node.Scalar();
    if (s.find('$') != std::string::npos) node = expand_scalar(s, path);
  } else if (node.IsSequence()) {
    for (size_t i = 0; i < node.size(); ++i) {
      YAML::Node item = node[i];
      expand_env(item, fmt::format("{}[{}]", path, i));
    }
  } else if (node.IsMap()) {
    for (auto it = node.begin(); it != node.end(); ++it) {
      YAML::Node value = it->second;
      expand_env(value, path.empty() ? it->first.Scalar() : path + "." + it->first.Scalar());
    }
  }
}

YAML::Node load_config_file(const std::string& path) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    throw ConfigError("", "cannot read config file " + path);
  } catch (const YAML::Exception& e) {
    throw ConfigError("", path + ": invalid YAML at line " + std::to_string(e.mark.line + 1) +
                              ", column " + std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
  expand_env(root);
  return root;
}

}  // namespace hodos::pipeline
