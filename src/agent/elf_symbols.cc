#include "agent/elf_symbols.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <gelf.h>
#include <libelf.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <vector>

#include "agent/unique_fd.h"

namespace hodos::agent {

namespace {

struct ElfDeleter {
  void operator()(Elf* elf) const { elf_end(elf); }
};

struct Segment {
  uint64_t vaddr, offset, filesz;
};

// The file offset of the instruction at `vaddr`: in the PT_LOAD segment that maps it.
std::optional<uint64_t> file_offset(const std::vector<Segment>& segments, uint64_t vaddr) {
  for (const Segment& s : segments) {
    if (vaddr >= s.vaddr && vaddr - s.vaddr < s.filesz) return s.offset + (vaddr - s.vaddr);
  }
  return std::nullopt;
}

}  // namespace

FunctionOffsets function_offsets(const std::string& path, std::span<const std::string_view> names) {
  FunctionOffsets out;
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    out.error = fmt::format("{}: {}", path, std::strerror(errno));
    return out;
  }
  elf_version(EV_CURRENT);
  std::unique_ptr<Elf, ElfDeleter> elf(elf_begin(fd.get(), ELF_C_READ, nullptr));
  if (!elf || elf_kind(elf.get()) != ELF_K_ELF) {
    out.error = fmt::format("{}: not an ELF file", path);
    return out;
  }
  std::vector<Segment> segments;
  size_t phnum = 0;
  if (elf_getphdrnum(elf.get(), &phnum) == 0) {
    for (size_t i = 0; i < phnum; ++i) {
      GElf_Phdr phdr;
      if (gelf_getphdr(elf.get(), static_cast<int>(i), &phdr) != nullptr &&
          phdr.p_type == PT_LOAD) {
        segments.push_back({phdr.p_vaddr, phdr.p_offset, phdr.p_filesz});
      }
    }
  }
  // .symtab first (a library's own view, stripped from most), then the exported .dynsym.
  for (const Elf64_Word type : {SHT_SYMTAB, SHT_DYNSYM}) {
    for (Elf_Scn* scn = elf_nextscn(elf.get(), nullptr); scn != nullptr;
         scn = elf_nextscn(elf.get(), scn)) {
      GElf_Shdr shdr;
      Elf_Data* data = nullptr;
      if (gelf_getshdr(scn, &shdr) == nullptr || shdr.sh_type != type || shdr.sh_entsize == 0 ||
          (data = elf_getdata(scn, nullptr)) == nullptr) {
        continue;
      }
      const size_t count = shdr.sh_size / shdr.sh_entsize;
      for (size_t i = 0; i < count && out.found.size() < names.size(); ++i) {
        GElf_Sym sym;
        if (gelf_getsym(data, static_cast<int>(i), &sym) == nullptr) break;
        const unsigned kind = GELF_ST_TYPE(sym.st_info);
        // Defined functions only: an import (SHN_UNDEF) lies in another file, and an IFUNC is
        // the resolver that picks the function, run once.
        if (kind != STT_FUNC || sym.st_shndx == SHN_UNDEF) continue;
        const char* name = elf_strptr(elf.get(), shdr.sh_link, sym.st_name);
        if (name == nullptr) continue;
        const std::string_view found(name);
        if (out.found.contains(found)) continue;
        for (std::string_view wanted : names) {
          if (wanted != found) continue;
          if (std::optional<uint64_t> at = file_offset(segments, sym.st_value)) {
            out.found.emplace(std::string(found), *at);
          }
          break;
        }
      }
    }
  }
  return out;
}

}  // namespace hodos::agent
