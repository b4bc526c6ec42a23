#include "agent/source_registry.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/atomic_file.h"

namespace hodos::agent {

namespace {

using nlohmann::json;

constexpr int kFormatVersion = 1;
constexpr size_t kMaxServiceNameBytes = 255;

void add_unique(std::vector<std::string>& out, const std::string& name) {
  if (std::find(out.begin(), out.end(), name) == out.end()) out.push_back(name);
}

std::string errno_text(int err) { return std::strerror(err); }

}  // namespace

std::optional<std::string> invalid_service_name(std::string_view name) {
  if (name.empty()) return "a service name cannot be empty";
  if (name.size() > kMaxServiceNameBytes) {
    return "a service name is at most " + std::to_string(kMaxServiceNameBytes) + " bytes";
  }
  for (char c : name) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return "a service name cannot hold control characters";
    }
  }
  if (name.front() == ' ' || name.back() == ' ') {
    return "a service name cannot start or end with a space";
  }
  return std::nullopt;
}

std::vector<std::string> resolve_source_name(std::string_view name,
                                             const std::vector<SourceNames>& live,
                                             const SourceOverrides& saved) {
  std::vector<std::string> out;
  for (const SourceNames& s : live) {
    if (s.current == name) add_unique(out, s.discovered);
  }
  if (!out.empty()) return out;
  for (const SourceNames& s : live) {
    if (s.discovered == name) add_unique(out, s.discovered);
  }
  if (!out.empty()) return out;
  for (const auto& [discovered, o] : saved) {
    if (o.name == name) add_unique(out, discovered);
  }
  if (!out.empty()) return out;
  if (saved.contains(name)) out.emplace_back(name);
  return out;
}

std::string encode_source_overrides(const SourceOverrides& overrides) {
  json sources = json::object();
  for (const auto& [discovered, o] : overrides) {
    if (o.empty()) continue;
    json entry = json::object();
    if (o.enabled) entry["enabled"] = *o.enabled;
    if (!o.name.empty()) entry["name"] = o.name;
    sources[discovered] = std::move(entry);
  }
  json doc = {{"version", kFormatVersion}, {"sources", std::move(sources)}};
  return doc.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

SourceOverrides decode_source_overrides(std::string_view text) {
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    throw SourceRegistryError("not valid JSON (expected {\"version\": 1, \"sources\": {...}})");
  }
  if (!doc.contains("version") || !doc["version"].is_number_integer() ||
      doc["version"].get<int>() != kFormatVersion) {
    throw SourceRegistryError("\"version\" must be 1 (written by a newer Hodos?)");
  }
  SourceOverrides out;
  if (!doc.contains("sources")) return out;
  const json& sources = doc["sources"];
  if (!sources.is_object()) throw SourceRegistryError("\"sources\" must be an object");
  for (const auto& [discovered, entry] : sources.items()) {
    const std::string where = "sources." + discovered;
    if (!entry.is_object()) throw SourceRegistryError(where + ": expected an object");
    SourceOverride o;
    for (const auto& [key, value] : entry.items()) {
      if (key == "enabled") {
        if (!value.is_boolean())
          throw SourceRegistryError(where + ".enabled: expected true or false");
        o.enabled = value.get<bool>();
      } else if (key == "name") {
        if (!value.is_string()) throw SourceRegistryError(where + ".name: expected a string");
        o.name = value.get<std::string>();
        if (auto why = invalid_service_name(o.name))
          throw SourceRegistryError(where + ".name: " + *why);
      } else {
        throw SourceRegistryError(where + "." + key + ": unknown key (valid: enabled, name)");
      }
    }
    if (!o.empty()) out[discovered] = std::move(o);
  }
  return out;
}

void write_file_atomically(const std::string& path, std::string_view content) {
  try {
    core::write_private_file_atomically(path, content);
  } catch (const std::runtime_error& e) {
    throw SourceRegistryError(e.what());
  }
}

SourceRegistry::SourceRegistry(std::string path) : path_(std::move(path)) {
  if (path_.empty()) return;
  std::error_code ec;
  if (!std::filesystem::exists(path_, ec) && !ec) return;  // nothing chosen yet
  std::ifstream in(path_, std::ios::binary);
  if (!in) throw SourceRegistryError(path_ + ": cannot read: " + errno_text(errno));
  std::stringstream text;
  text << in.rdbuf();
  try {
    overrides_ = decode_source_overrides(text.str());
  } catch (const SourceRegistryError& e) {
    throw SourceRegistryError(path_ + ": " + e.what() + "; fix it or remove the file");
  }
}

SourceOverrides SourceRegistry::overrides() const {
  std::lock_guard lock(mu_);
  return overrides_;
}

uint64_t SourceRegistry::version() const {
  std::lock_guard lock(mu_);
  return version_;
}

void SourceRegistry::commit(SourceOverrides next) {
  std::erase_if(next, [](const auto& item) { return item.second.empty(); });
  if (next == overrides_) return;
  if (!path_.empty()) write_file_atomically(path_, encode_source_overrides(next));
  overrides_ = std::move(next);
  ++version_;
}

void SourceRegistry::set_enabled(const std::string& discovered_name, bool enabled) {
  std::lock_guard lock(mu_);
  SourceOverrides next = overrides_;
  next[discovered_name].enabled = enabled;
  commit(std::move(next));
}

void SourceRegistry::rename(const std::string& discovered_name, const std::string& new_name) {
  if (auto why = invalid_service_name(new_name)) throw std::invalid_argument(*why);
  std::lock_guard lock(mu_);
  SourceOverrides next = overrides_;
  next[discovered_name].name = new_name == discovered_name ? std::string() : new_name;
  commit(std::move(next));
}

}  // namespace hodos::agent
