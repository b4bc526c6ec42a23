#include "agent/elf_symbols.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

// A function of this test binary, found by name in its symbol table.
extern "C" __attribute__((noinline, used)) int hodos_elf_symbols_test_target(int x) {
  return x * 3 + 1;
}

namespace hodos::agent {
namespace {

// Where the running code of `address` comes from, by the kernel's own account (/proc/self/maps):
// the mapped file and the offset in it. An independent way to the answer function_offsets gives.
bool mapped_at(uintptr_t address, std::string& path, uint64_t& offset) {
  std::ifstream maps("/proc/self/maps");
  for (std::string line; std::getline(maps, line);) {
    std::istringstream in(line);
    std::string range, perms, file_offset, device, inode;
    in >> range >> perms >> file_offset >> device >> inode >> path;
    const size_t dash = range.find('-');
    const uintptr_t start = std::stoull(range.substr(0, dash), nullptr, 16);
    const uintptr_t end = std::stoull(range.substr(dash + 1), nullptr, 16);
    if (address < start || address >= end) continue;
    offset = address - start + std::stoull(file_offset, nullptr, 16);
    return !path.empty() && path[0] == '/';
  }
  return false;
}

TEST(ElfSymbolsTest, AFunctionIsWhereTheKernelMapsIt) {
  std::string path;
  uint64_t expected = 0;
  ASSERT_TRUE(mapped_at(reinterpret_cast<uintptr_t>(&hodos_elf_symbols_test_target), path, expected));
  const std::string_view names[] = {"hodos_elf_symbols_test_target", "no_such_function_here"};
  const FunctionOffsets found = function_offsets(path, names);
  EXPECT_EQ(found.error, "");
  ASSERT_EQ(found.found.size(), 1u) << "a missing function is absent, not an error";
  EXPECT_EQ(found.found.at("hodos_elf_symbols_test_target"), expected);
}

// libc exports its functions in .dynsym only (no .symtab in Debian's): found there, and an import
// of this binary (undefined here, defined in libc) is not taken for a function of this file.
TEST(ElfSymbolsTest, ExportedFunctionsOfASharedLibraryAndNotImports) {
  std::string libc;
  uint64_t expected = 0;
  ASSERT_TRUE(mapped_at(reinterpret_cast<uintptr_t>(&::getpid), libc, expected));
  const std::string_view names[] = {"getpid"};
  const FunctionOffsets in_libc = function_offsets(libc, names);
  EXPECT_EQ(in_libc.error, "");
  ASSERT_EQ(in_libc.found.count("getpid"), 1u);
  EXPECT_EQ(in_libc.found.at("getpid"), expected);

  std::string self;
  uint64_t ignored = 0;
  ASSERT_TRUE(mapped_at(reinterpret_cast<uintptr_t>(&hodos_elf_symbols_test_target), self, ignored));
  EXPECT_TRUE(function_offsets(self, names).found.empty()) << "getpid is an import of " << self;
}

TEST(ElfSymbolsTest, AFileThatIsNotElfIsAnError) {
  const std::string_view names[] = {"main"};
  EXPECT_NE(function_offsets("/etc/hostname", names).error, "");
  EXPECT_NE(function_offsets("/nonexistent/file", names).error, "");
}

}  // namespace
}  // namespace hodos::agent
