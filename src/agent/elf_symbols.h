// Where functions lie in an ELF file (a shared library, an executable), as uprobes take them: the
// file offset of each one's first instruction, from its .symtab or .dynsym.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>

namespace hodos::agent {

struct FunctionOffsets {
  std::map<std::string, uint64_t, std::less<>> found;  // a name not defined in the file is absent
  std::string error;  // the file could not be read as ELF (then `found` is empty)
};

FunctionOffsets function_offsets(const std::string& path, std::span<const std::string_view> names);

}  // namespace hodos::agent
