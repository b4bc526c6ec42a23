// Typed, path-aware reading of a component's YAML config. Every error names the full key path
// and what to do (`exporters.otlphttp.endpoint: required`), and keys nobody read are reported.
#pragma once

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace hodos::pipeline {

class ConfigError : public std::runtime_error {
 public:
  ConfigError(const std::string& path, const std::string& problem)
      : std::runtime_error(path.empty() ? problem : path + ": " + problem), path_(path) {}
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

class ConfigNode {
 public:
  // `node` may be null/undefined (a component listed with no settings): every get() gives defaults.
  ConfigNode(YAML::Node node, std::string path);

  const std::string& path() const { return path_; }
  std::string path_of(std::string_view key) const;
  bool has(std::string_view key) const;
  const YAML::Node& yaml() const { return node_; }

  std::string get_string(std::string_view key, const std::string& fallback);
  std::string require_string(std::string_view key);
  bool get_bool(std::string_view key, bool fallback);
  int64_t get_int(std::string_view key, int64_t fallback, int64_t min = INT64_MIN,
                  int64_t max = INT64_MAX);
  double get_double(std::string_view key, double fallback);
  // Go-style durations as the Collector writes them: "5s", "200ms", "1m30s", "1h"; a bare number
  // is seconds.
  std::chrono::milliseconds get_duration(std::string_view key, std::chrono::milliseconds fallback);
  std::vector<std::string> get_string_list(std::string_view key);
  std::map<std::string, std::string> get_string_map(std::string_view key);
  // A nested mapping; `present` tells whether the key was there at all (`grpc:` with no value counts).
  ConfigNode child(std::string_view key, bool* present = nullptr);
  // Sequence items as nodes (`actions: [...]`); empty when absent.
  std::vector<ConfigNode> child_list(std::string_view key);

  // Throws if the node has keys that were never read, listing the ones that exist.
  void reject_unknown_keys() const;
  [[noreturn]] void fail(std::string_view key, const std::string& problem) const;

 private:
  YAML::Node lookup(std::string_view key);

  YAML::Node node_;
  std::string path_;
  std::shared_ptr<std::set<std::string>> used_ = std::make_shared<std::set<std::string>>();
};

// Parses a Go-style duration; nullopt when malformed.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

// Replaces `${env:NAME}` (and `${NAME}`) in every scalar; `$$` escapes a dollar. Unset variables
// become empty strings, as in the Collector. Throws ConfigError on an unterminated reference.
void expand_env(YAML::Node& node, const std::string& path = "");

// Reads a YAML config file and expands environment references; a missing file or invalid YAML
// is a ConfigError naming the file (and the line and column).
YAML::Node load_config_file(const std::string& path);

}  // namespace hodos::pipeline
