// Run-time choices about sources (`hodos sources enable|disable|rename`), kept across restarts.
// A choice is keyed by the service name discovery gives a process (before any rename), because
// that is what a user means by `hodos sources disable checkout`: every process of that service,
// now and after it restarts with another pid. The registry is a JSON file in the data directory,
// rewritten atomically (a temporary file renamed over it) on every change.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace hodos::agent {

struct SourceOverride {
  // nullopt: the rules decide. false: never traced. true: traced even when an exclude rule or
  // the process's own OpenTelemetry SDK would leave it out.
  std::optional<bool> enabled;
  std::string name;  // not empty: the service.name its spans carry instead of the discovered one

  bool empty() const { return !enabled && name.empty(); }
  bool operator==(const SourceOverride&) const = default;
};

// By the discovered service name.
using SourceOverrides = std::map<std::string, SourceOverride, std::less<>>;

class SourceRegistryError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Why a service name is refused for `rename`; nullopt when it is fine.
std::optional<std::string> invalid_service_name(std::string_view name);

// A source as the user sees it: its discovered name and the name its spans carry now.
struct SourceNames {
  std::string discovered;
  std::string current;
};

// The discovered names `name` stands for, as a user means it: the sources whose spans carry
// `name` now (a renamed source is found by its new name); else the sources discovered as `name`;
// else the saved choices that rename to, or are keyed by, `name` (a source that is not running).
// Empty when nothing matches.
std::vector<std::string> resolve_source_name(std::string_view name,
                                             const std::vector<SourceNames>& live,
                                             const SourceOverrides& saved);

class SourceRegistry {
 public:
  // Loads `path` when it exists (an empty path keeps the choices in memory only). Throws
  // SourceRegistryError naming the file when it cannot be read or is not a registry.
  explicit SourceRegistry(std::string path);

  const std::string& path() const { return path_; }
  SourceOverrides overrides() const;
  // Increases with every change, so that a consumer can tell it has applied the latest.
  uint64_t version() const;

  // Each change is written to the file before it takes effect; a write that fails throws
  // SourceRegistryError and changes nothing.
  void set_enabled(const std::string& discovered_name, bool enabled);
  // Renaming to the discovered name itself removes the rename. Throws std::invalid_argument when
  // `new_name` is not a usable service name.
  void rename(const std::string& discovered_name, const std::string& new_name);

 private:
  void commit(SourceOverrides next);  // mu_ held

  std::string path_;
  mutable std::mutex mu_;
  SourceOverrides overrides_;
  uint64_t version_ = 0;
};

// The registry file's text, and back (exposed for tests).
std::string encode_source_overrides(const SourceOverrides& overrides);
SourceOverrides decode_source_overrides(std::string_view text);  // throws SourceRegistryError

// Writes `content` to `path` atomically: a temporary file in the same directory, flushed to
// disk, then renamed over `path`. Throws SourceRegistryError with the reason.
void write_file_atomically(const std::string& path, std::string_view content);

}  // namespace hodos::agent
