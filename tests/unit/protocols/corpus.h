// The in-tree fuzz corpora (tests/fuzz/corpus/<name>), read by the unit tests that replay them.
#pragma once

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hodos::protocols::corpus {

inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline std::filesystem::path dir(std::string_view name) {
  return std::filesystem::path(HODOS_SOURCE_DIR) / "tests/fuzz/corpus" / name;
}

// Every file of the corpus `name`: its path and its bytes.
inline std::vector<std::pair<std::filesystem::path, std::string>> entries(std::string_view name) {
  std::vector<std::pair<std::filesystem::path, std::string>> out;
  for (const auto& entry : std::filesystem::directory_iterator(dir(name))) {
    if (entry.is_regular_file()) out.emplace_back(entry.path(), read_file(entry.path()));
  }
  return out;
}

}  // namespace hodos::protocols::corpus
