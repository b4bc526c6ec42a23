// Writing a small state file (sources.json, destinations.json) so that a crash or a full disk
// leaves the old file or the new one, never a torn one.
#pragma once

#include <string>
#include <string_view>

namespace hodos::core {

// Writes `content` to `path` atomically: a temporary file in the same directory (created with
// the parents if needed), owner-only (0600: such files may hold API keys), flushed to disk, then
// renamed over `path`, and the directory flushed so the rename is durable. On failure nothing
// changes and std::runtime_error says what and where.
void write_private_file_atomically(const std::string& path, std::string_view content);

}  // namespace hodos::core
