#include "agent/go_binary.h"

#include <capstone/capstone.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <gelf.h>
#include <libelf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <set>
#include <string_view>
#include <utility>

#include "agent/runtime_detect.h"
#include "agent/unique_fd.h"

namespace hodos::agent {

namespace {

// Per architecture: how to disassemble it and which instruction returns. Adding one is a row here
// (the offset table below holds for any 64-bit Go target).
struct ArchInfo {
  uint16_t elf_machine;
  const char* name;  // GOARCH
  cs_arch disasm_arch;
  cs_mode disasm_mode;
  unsigned return_instruction;
  uint8_t pc_quantum;  // the pclntab's unit of pc deltas (instruction alignment)
};

constexpr ArchInfo kArchs[] = {
    {EM_X86_64, "amd64", CS_ARCH_X86, CS_MODE_64, X86_INS_RET, 1},
    {EM_AARCH64, "arm64", CS_ARCH_ARM64, CS_MODE_ARM, ARM64_INS_RET, 4},
};

// Struct field offsets for binaries without DWARF, by Go minor version (64-bit targets: the
// fields before these are pointer-sized or fixed-size, so amd64 and arm64 agree).
//   runtime.g starts: stack{lo,hi} 0, stackguard0 16, stackguard1 24, _panic 32, _defer 40, m 48,
//   sched gobuf 56, then syscallsp, syscallpc, [syscallbp,] stktopsp, param (8 each),
//   atomicstatus (4), stackLock (4), goid.
//   * go1.16-go1.22: gobuf is 7 words (sp pc g ctxt ret lr bp), no syscallbp:
//     goid = 56 + 56 + 4*8 + 8 = 152.
//   * go1.23-go1.24: syscallbp added after syscallpc (golang/go 2b82a4f4): goid = 160.
//   * go1.25: gobuf.ret removed (6 words), syscallbp kept: goid = 56 + 48 + 5*8 + 8 = 152.
// Verified here: go1.19 only (Debian's go1.19.8, whose DWARF says 152: go_binary_test.cc checks
// the table against DWARF for the installed toolchain). Derived, not verified here: the other
// versions, from runtime2.go's layouts (go1.19 and current golang/go sources; per-version copies of
// the struct in goroutine-id libraries; the go1.23 and go1.25 changes as reported by eBPF tools).
// A version outside the table leaves the field missing: never a guess.
struct FieldOffsetRow {
  std::string_view field;
  int first_minor, last_minor;  // Go 1.x, inclusive
  uint64_t offset;
};
constexpr FieldOffsetRow kFieldOffsets[] = {
    {"runtime.g.stack", 16, 25, 0},   // the first field
    {"runtime.stack.lo", 16, 25, 0},  // runtime.stack is {lo, hi uintptr}
    {"runtime.stack.hi", 16, 25, 8}, {"runtime.g.goid", 16, 22, 152},  // verified for go1.19
    {"runtime.g.goid", 23, 24, 160},                                   // + g.syscallbp
    {"runtime.g.goid", 25, 25, 152},                                   // - gobuf.ret
    // crypto/tls.Conn's net.Conn down to the socket's fd: first fields but Sysfd, which follows
    // poll.FD's fdMutex {state uint64; rsema, wsema uint32}; unchanged since Go 1.9.
    {"crypto/tls.Conn.conn", 16, 25, 0}, {"net.TCPConn.conn", 16, 25, 0},
    {"net.conn.fd", 16, 25, 0}, {"net.netFD.pfd", 16, 25, 0},
    {"internal/poll.FD.Sysfd", 16, 25, 16},
};

// pclntab magics (runtime/symtab.go's pcHeader, debug/gosym/pclntab.go).
constexpr uint32_t kPclntabGo12 = 0xfffffffb;
constexpr uint32_t kPclntabGo116 = 0xfffffffa;
constexpr uint32_t kPclntabGo118 = 0xfffffff0;
constexpr uint32_t kPclntabGo120 = 0xfffffff1;
// Padding between functions: the linker aligns them to 32 bytes on amd64 (16 on arm64), more
// only for a function that asks for it (PCALIGN).
constexpr uint64_t kMaxFunctionPadding = 64;
// Headers tried when the pclntab has no section of its own: one is expected; a bound keeps a
// crafted file full of fake headers from costing a parse each.
constexpr int kMaxPclntabCandidates = 16;

struct ElfCloser {
  void operator()(Elf* elf) const { elf_end(elf); }
};
using ElfPtr = std::unique_ptr<Elf, ElfCloser>;

struct DwarfCloser {
  void operator()(Dwarf* dwarf) const { dwarf_end(dwarf); }
};
using DwarfPtr = std::unique_ptr<Dwarf, DwarfCloser>;

class Disassembler {
 public:
  explicit Disassembler(const ArchInfo& arch) : arch_(arch) {
    if (cs_open(arch.disasm_arch, arch.disasm_mode, &handle_) != CS_ERR_OK) return;
    open_ = true;
    // Data or padding inside a function must not end the walk before its later returns.
    cs_option(handle_, CS_OPT_SKIPDATA, CS_OPT_ON);
    insn_ = cs_malloc(handle_);
  }
  ~Disassembler() {
    if (insn_ != nullptr) cs_free(insn_, 1);
    if (open_) cs_close(&handle_);
  }
  Disassembler(const Disassembler&) = delete;
  Disassembler& operator=(const Disassembler&) = delete;

  bool ok() const { return insn_ != nullptr; }

  // Addresses of the return instructions in `code`, which starts at `address`.
  std::vector<uint64_t> find_returns(const std::vector<uint8_t>& code, uint64_t address) {
    std::vector<uint64_t> out;
    const uint8_t* at = code.data();
    size_t left = code.size();
    uint64_t pc = address;
    while (left > 0 && cs_disasm_iter(handle_, &at, &left, &pc, insn_)) {
      if (insn_->id == arch_.return_instruction) out.push_back(insn_->address);
    }
    return out;
  }

 private:
  const ArchInfo& arch_;
  csh handle_ = 0;
  bool open_ = false;
  cs_insn* insn_ = nullptr;
};

struct LoadSegment {
  uint64_t vaddr = 0, offset = 0, filesz = 0;
  bool executable = false;
};

struct FunctionExtent {
  uint64_t address = 0, size = 0;
};

using NameSet = std::set<std::string, std::less<>>;

// The open file and what analysis needs from its headers.
struct ElfView {
  UniqueFd fd;
  ElfPtr elf;  // declared after fd: ended before the fd closes
  uint64_t file_size = 0;
  const ArchInfo* arch = nullptr;
  std::vector<LoadSegment> segments;
  Elf_Scn* symtab = nullptr;
  Elf_Scn* pclntab = nullptr;
  std::optional<uint64_t> text_address;
  bool dwarf = false;

  // The file offset of [vaddr, vaddr + size) when it lies in one file-backed PT_LOAD segment
  // (executable ones only, when asked).
  std::optional<uint64_t> file_offset(uint64_t vaddr, uint64_t size, bool executable) const {
    for (const LoadSegment& seg : segments) {
      if (executable && !seg.executable) continue;
      if (vaddr < seg.vaddr) continue;
      uint64_t into = vaddr - seg.vaddr;
      if (into >= seg.filesz || size > seg.filesz - into) continue;
      return seg.offset + into;
    }
    return std::nullopt;
  }

  bool read(uint64_t offset, std::vector<uint8_t>& out, size_t size) const {
    out.resize(size);
    size_t done = 0;
    while (done < size) {
      ssize_t got =
          ::pread(fd.get(), out.data() + done, size - done, static_cast<off_t>(offset + done));
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) return false;
      done += static_cast<size_t>(got);
    }
    return true;
  }
};

bool fail(std::string* error, std::string message) {
  if (error != nullptr) *error = std::move(message);
  return false;
}

std::string elf_error() {
  const char* message = elf_errmsg(-1);
  return message != nullptr ? message : "unknown error";
}

bool open_elf(const std::string& path, ElfView& view, std::string* error) {
  view.fd = UniqueFd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!view.fd.valid()) return fail(error, fmt::format("{}: {}", path, std::strerror(errno)));
  struct stat st {};
  if (::fstat(view.fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return fail(error, fmt::format("{}: not a regular file", path));
  }
  view.file_size = static_cast<uint64_t>(st.st_size);
  elf_version(EV_CURRENT);
  view.elf.reset(elf_begin(view.fd.get(), ELF_C_READ, nullptr));
  if (!view.elf || elf_kind(view.elf.get()) != ELF_K_ELF) {
    return fail(error, fmt::format("{}: not an ELF file", path));
  }
  return true;
}

// Architecture, segments and the sections analysis uses, checked against the file's size (a
// truncated file is an error, not a source of short reads).
bool read_layout(const std::string& path, ElfView& view, std::string* error) {
  Elf* elf = view.elf.get();
  const char* ident = elf_getident(elf, nullptr);
  if (ident == nullptr || gelf_getclass(elf) != ELFCLASS64 || ident[EI_DATA] != ELFDATA2LSB) {
    return fail(error,
                fmt::format("{}: only 64-bit little-endian executables are supported", path));
  }
  GElf_Ehdr ehdr;
  if (gelf_getehdr(elf, &ehdr) == nullptr) {
    return fail(error, fmt::format("{}: unreadable ELF header: {}", path, elf_error()));
  }
  for (const ArchInfo& arch : kArchs) {
    if (arch.elf_machine == ehdr.e_machine) view.arch = &arch;
  }
  if (view.arch == nullptr) {
    return fail(error,
                fmt::format("{}: unsupported architecture (ELF machine {})", path, ehdr.e_machine));
  }

  size_t phnum = 0;
  if (elf_getphdrnum(elf, &phnum) != 0) {
    return fail(error, fmt::format("{}: unreadable program headers: {}", path, elf_error()));
  }
  for (size_t i = 0; i < phnum; ++i) {
    GElf_Phdr phdr;
    if (gelf_getphdr(elf, static_cast<int>(i), &phdr) == nullptr || phdr.p_type != PT_LOAD) {
      continue;
    }
    if (phdr.p_offset > view.file_size || phdr.p_filesz > view.file_size - phdr.p_offset) {
      return fail(error, fmt::format("{}: a loadable segment lies beyond the end of the file "
                                     "(truncated?)",
                                     path));
    }
    view.segments.push_back(
        {phdr.p_vaddr, phdr.p_offset, phdr.p_filesz, (phdr.p_flags & PF_X) != 0});
  }

  size_t shstrndx = 0;
  if (elf_getshdrstrndx(elf, &shstrndx) != 0) {
    return fail(error, fmt::format("{}: unreadable section headers: {}", path, elf_error()));
  }
  for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn != nullptr; scn = elf_nextscn(elf, scn)) {
    GElf_Shdr shdr;
    if (gelf_getshdr(scn, &shdr) == nullptr) continue;
    const char* name = elf_strptr(elf, shstrndx, shdr.sh_name);
    if (name == nullptr) continue;
    std::string_view section(name);
    if (shdr.sh_type != SHT_NOBITS &&
        (shdr.sh_offset > view.file_size || shdr.sh_size > view.file_size - shdr.sh_offset)) {
      return fail(error, fmt::format("{}: section {} lies beyond the end of the file (truncated?)",
                                     path, section));
    }
    if (section == ".symtab" && shdr.sh_type == SHT_SYMTAB && shdr.sh_size > 0) {
      view.symtab = scn;
    } else if ((section == ".gopclntab" || section == ".data.rel.ro.gopclntab") &&
               shdr.sh_type != SHT_NOBITS) {
      view.pclntab = scn;  // the latter in PIE builds
    } else if (section == ".text") {
      view.text_address = shdr.sh_addr;
    } else if (section == ".debug_info" || section == ".zdebug_info") {
      view.dwarf = true;
    }
  }
  return true;
}

bool read_symtab(const ElfView& view, const NameSet& wanted,
                 std::map<std::string, FunctionExtent>& found, std::string* error) {
  GElf_Shdr shdr;
  Elf_Data* data = elf_getdata(view.symtab, nullptr);
  if (gelf_getshdr(view.symtab, &shdr) == nullptr || data == nullptr) {
    return fail(error, fmt::format("unreadable .symtab: {}", elf_error()));
  }
  const size_t count = shdr.sh_entsize == 0 ? 0 : shdr.sh_size / shdr.sh_entsize;
  for (size_t i = 0; i < count && found.size() < wanted.size(); ++i) {
    GElf_Sym sym;
    if (gelf_getsym(data, static_cast<int>(i), &sym) == nullptr) break;
    if (GELF_ST_TYPE(sym.st_info) != STT_FUNC) continue;
    const char* name = elf_strptr(view.elf.get(), shdr.sh_link, sym.st_name);
    if (name == nullptr) continue;
    auto it = wanted.find(std::string_view(name));
    if (it != wanted.end() && !found.contains(*it)) {
      found.emplace(*it, FunctionExtent{sym.st_value, sym.st_size});
    }
  }
  return true;
}

uint32_t load_u32(std::string_view data, size_t at) {
  uint32_t v;
  std::memcpy(&v, data.data() + at, sizeof(v));  // little-endian host and file (checked)
  return v;
}

uint64_t load_u64(std::string_view data, size_t at) {
  uint64_t v;
  std::memcpy(&v, data.data() + at, sizeof(v));
  return v;
}

std::optional<uint64_t> read_uvarint(std::string_view data, size_t& pos) {
  uint64_t value = 0;
  for (unsigned shift = 0; shift < 64 && pos < data.size(); shift += 7) {
    const auto byte = static_cast<uint8_t>(data[pos++]);
    value |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) return value;
  }
  return std::nullopt;
}

// Where a function's pc-value table ends, relative to its entry: the end of its code, without the
// padding up to the next function (which is what .symtab's sizes count). Decoded as the runtime's
// pcvalue step() does: pairs of (zigzag value delta, pc delta / quantum) until a zero value delta.
// nullopt when the table is absent, malformed, or runs past `limit`.
std::optional<uint64_t> pc_table_end(std::string_view pctab, uint64_t table, unsigned quantum,
                                     uint64_t limit) {
  if (table == 0 || table >= pctab.size()) return std::nullopt;
  size_t pos = table;
  uint64_t pc = 0;
  for (bool first = true;; first = false) {
    if (pos >= pctab.size()) return std::nullopt;
    if (pctab[pos] == 0 && !first) return pc;
    if (!read_uvarint(pctab, pos)) return std::nullopt;
    std::optional<uint64_t> pc_delta = read_uvarint(pctab, pos);
    if (!pc_delta || *pc_delta > limit) return std::nullopt;
    pc += *pc_delta * quantum;
    if (pc > limit) return std::nullopt;
  }
}

// Go's own function table, which -ldflags=-s keeps: header, functab (entry, _func offset) pairs,
// each _func's name offset and pc-value tables. Every offset is checked against `tab` (the table
// and whatever follows it in its section or segment).
bool read_pclntab(const ElfView& view, std::string_view tab, const NameSet& wanted,
                  std::map<std::string, FunctionExtent>& found, std::vector<std::string>& notes,
                  std::string* error) {
  auto corrupt = [&](const std::string& what) {
    return fail(error, fmt::format("corrupt .gopclntab: {}", what));
  };
  if (tab.size() < 8) return corrupt("shorter than its header");
  const uint32_t magic = load_u32(tab, 0);
  if (magic == kPclntabGo12) {
    return fail(error,
                "unsupported .gopclntab layout of Go 1.2-1.15 (magic 0xfffffffb); Go 1.16 and "
                "later are supported");
  }
  if (magic != kPclntabGo116 && magic != kPclntabGo118 && magic != kPclntabGo120) {
    return fail(error, fmt::format("unsupported .gopclntab magic {:#010x} (known: Go 1.16 "
                                   "0xfffffffa, 1.18 0xfffffff0, 1.20 0xfffffff1)",
                                   magic));
  }
  const bool go116 = magic == kPclntabGo116;
  const auto quantum = static_cast<uint8_t>(tab[6]);
  const auto ptr_size = static_cast<uint8_t>(tab[7]);
  if (tab[4] != 0 || tab[5] != 0 || ptr_size != 8 || quantum != view.arch->pc_quantum) {
    return corrupt(fmt::format("header says pointer size {} and pc quantum {} (want 8 and {})",
                               ptr_size, quantum, view.arch->pc_quantum));
  }
  // Header words after the first 8 bytes (uintptr each).
  const size_t words = go116 ? 7 : 8;
  if (tab.size() < 8 + words * 8) return corrupt("shorter than its header");
  auto word = [&](size_t i) { return load_u64(tab, 8 + i * 8); };
  const uint64_t nfunc = word(0);
  const uint64_t funcname_at = go116 ? word(2) : word(3);
  const uint64_t pctab_at = go116 ? word(5) : word(6);
  const uint64_t funcdata_at = go116 ? word(6) : word(7);
  for (uint64_t at : {funcname_at, pctab_at, funcdata_at}) {
    if (at >= tab.size()) return corrupt(fmt::format("table offset {:#x} beyond its end", at));
  }
  const std::string_view funcnames = tab.substr(funcname_at);
  const std::string_view pctab = tab.substr(pctab_at);
  const std::string_view funcdata = tab.substr(funcdata_at);

  // Go 1.18+ stores entries as 32-bit offsets from runtime.text, which the header records. That
  // word can be zero (unrelocated, or Go 1.26+); .text's address is then the fallback, as in
  // debug/gosym, though external linking puts C start-up code before runtime.text.
  uint64_t text_start = 0;
  if (!go116) {
    text_start = word(2);
    if (!view.file_offset(text_start, 1, true)) {
      if (!view.text_address) return corrupt("text start outside the executable segment");
      notes.push_back(fmt::format(
          "the pclntab gives no text start: assumed .text's address {:#x} (wrong if externally "
          "linked)",
          *view.text_address));
      text_start = *view.text_address;
    }
  }
  const size_t field = go116 ? 8 : 4;
  auto functab_field = [&](uint64_t i) {
    return go116 ? load_u64(funcdata, i * field) : load_u32(funcdata, i * field);
  };
  const uint64_t slots = funcdata.size() / field;  // functab: nfunc pairs and the end pc
  if (nfunc == 0 || slots < 3 || nfunc > (slots - 1) / 2) {
    return corrupt(fmt::format("{} functions do not fit in the table", nfunc));
  }
  // _func: entry (uintptr before 1.18, else uint32 offset), nameOff int32, args, deferreturn, pcsp.
  const size_t name_at = field;
  const size_t pcsp_at = field + 12;
  const size_t func_header = pcsp_at + 4;

  for (uint64_t i = 0; i < nfunc && found.size() < wanted.size(); ++i) {
    const uint64_t entry = functab_field(2 * i);
    const uint64_t func_at = functab_field(2 * i + 1);
    const uint64_t next_entry = functab_field(2 * i + 2);
    if (next_entry < entry) {
      return corrupt(fmt::format("function table not sorted at entry {}", i));
    }
    if (func_at > funcdata.size() || funcdata.size() - func_at < func_header) {
      return corrupt(fmt::format("function {} data beyond the table", i));
    }
    const uint64_t func_entry = go116 ? load_u64(funcdata, func_at) : load_u32(funcdata, func_at);
    if (func_entry != entry) {
      return corrupt(fmt::format("function {} entry disagrees with the function table", i));
    }
    const uint32_t name_offset = load_u32(funcdata, func_at + name_at);
    if (name_offset >= funcnames.size()) {
      return corrupt(fmt::format("function {} name offset beyond the name table", i));
    }
    const std::string_view rest = funcnames.substr(name_offset);
    const size_t name_end = rest.find('\0');
    if (name_end == std::string_view::npos) {
      return corrupt(fmt::format("function {} name is not terminated", i));
    }
    auto it = wanted.find(rest.substr(0, name_end));
    if (it == wanted.end() || found.contains(*it)) continue;

    if (text_start > UINT64_MAX - next_entry) return corrupt("entry beyond the address space");
    const uint64_t span = next_entry - entry;
    // The code ends where its pc-value table ends, within alignment padding of the next function;
    // a table that ends elsewhere is damaged, and the whole span is then still a safe bound.
    uint64_t code_size = span;
    std::optional<uint64_t> table_end =
        pc_table_end(pctab, load_u32(funcdata, func_at + pcsp_at), quantum, span);
    if (table_end && *table_end > 0 && span - *table_end < kMaxFunctionPadding) {
      code_size = *table_end;
    }
    found.emplace(*it, FunctionExtent{text_start + entry, code_size});
  }
  return true;
}

// The pclntab from its section, else (externally linked PIE merges it into .data.rel.ro) from a
// scan of the read-only and data segments for a header that parses.
bool find_functions_in_pclntab(const ElfView& view, const NameSet& wanted,
                               std::map<std::string, FunctionExtent>& found, bool& present,
                               std::vector<std::string>& notes, std::string* error) {
  if (view.pclntab != nullptr) {
    present = true;
    Elf_Data* raw = elf_rawdata(view.pclntab, nullptr);
    if (raw == nullptr || raw->d_buf == nullptr) {
      return fail(error, fmt::format("unreadable .gopclntab: {}", elf_error()));
    }
    return read_pclntab(view, std::string_view(static_cast<const char*>(raw->d_buf), raw->d_size),
                        wanted, found, notes, error);
  }
  std::string first_error;
  int candidates = 0;
  std::vector<uint8_t> bytes;
  for (const LoadSegment& segment : view.segments) {
    if (segment.executable || !view.read(segment.offset, bytes, segment.filesz)) continue;
    const std::string_view data(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    for (uint32_t magic : {kPclntabGo120, kPclntabGo118, kPclntabGo116}) {
      std::string header(reinterpret_cast<const char*>(&magic), 4);
      header += {'\0', '\0', static_cast<char>(view.arch->pc_quantum), '\x08'};
      for (size_t at = data.find(header);
           at != std::string_view::npos && candidates++ < kMaxPclntabCandidates;
           at = data.find(header, at + 1)) {
        std::string why;
        std::vector<std::string> candidate_notes;
        found.clear();
        if (read_pclntab(view, data.substr(at), wanted, found, candidate_notes, &why)) {
          present = true;
          notes.insert(notes.end(), candidate_notes.begin(), candidate_notes.end());
          return true;
        }
        if (first_error.empty()) first_error = why;
      }
    }
  }
  found.clear();
  return fail(error, first_error.empty() ? "no .symtab and no pclntab" : first_error);
}

// "pkg.Type.field" as (type, member): the member follows the last dot, since package paths have
// dots of their own ("gopkg.in/yaml.v3.Node.Kind").
std::optional<std::pair<std::string, std::string>> split_field(const std::string& field) {
  const size_t dot = field.rfind('.');
  if (dot == std::string::npos || dot == 0 || dot + 1 == field.size()) return std::nullopt;
  std::string type = field.substr(0, dot);
  if (type.find('.') == std::string::npos) return std::nullopt;  // no package
  return std::pair{std::move(type), field.substr(dot + 1)};
}

std::optional<uint64_t> member_location(Dwarf_Die& member) {
  Dwarf_Attribute attr;
  if (dwarf_attr(&member, DW_AT_data_member_location, &attr) == nullptr) return std::nullopt;
  Dwarf_Word offset = 0;
  if (dwarf_formudata(&attr, &offset) == 0) return offset;
  // DWARF 2 style: a location expression of one DW_OP_plus_uconst.
  Dwarf_Op* ops = nullptr;
  size_t nops = 0;
  if (dwarf_getlocation(&attr, &ops, &nops) == 0 && nops == 1 && ops[0].atom == DW_OP_plus_uconst) {
    return ops[0].number;
  }
  return std::nullopt;
}

// Calls `visit` with each top-level entry (type, subprogram, ...) of every compile unit, until it
// returns false.
template <typename Visit>
void for_each_top_level_die(Dwarf* dwarf, Visit visit) {
  Dwarf_Off offset = 0, next = 0;
  size_t header_size = 0;
  while (dwarf_nextcu(dwarf, offset, &next, &header_size, nullptr, nullptr, nullptr) == 0) {
    Dwarf_Die cu, die;
    if (dwarf_offdie(dwarf, offset + header_size, &cu) != nullptr && dwarf_child(&cu, &die) == 0) {
      do {
        if (!visit(die)) return;
      } while (dwarf_siblingof(&die, &die) == 0);
    }
    offset = next;
  }
}

// Offsets of `wanted` ("pkg.Type.field" → (type, member)) from the top-level struct types of
// every compile unit (Go's DWARF may be compressed: libdw inflates it). False when libdw cannot
// read the DWARF.
bool read_dwarf_offsets(Elf* elf,
                        const std::map<std::string, std::pair<std::string, std::string>>& wanted,
                        std::map<std::string, uint64_t>& found, std::string* error) {
  DwarfPtr dwarf(dwarf_begin_elf(elf, DWARF_C_READ, nullptr));
  if (!dwarf) {
    const char* message = dwarf_errmsg(-1);
    return fail(error, message != nullptr ? message : "unknown error");
  }
  std::map<std::string, std::vector<const std::string*>, std::less<>> fields_by_type;
  for (const auto& [field, parts] : wanted) fields_by_type[parts.first].push_back(&field);

  if (fields_by_type.empty()) return true;
  for_each_top_level_die(dwarf.get(), [&](Dwarf_Die& die) {
    if (dwarf_tag(&die) != DW_TAG_structure_type) return true;
    const char* name = dwarf_diename(&die);
    auto type = name == nullptr ? fields_by_type.end() : fields_by_type.find(name);
    if (type == fields_by_type.end()) return true;
    Dwarf_Die member;
    if (dwarf_child(&die, &member) == 0) {
      do {
        if (dwarf_tag(&member) != DW_TAG_member) continue;
        const char* member_name = dwarf_diename(&member);
        if (member_name == nullptr) continue;
        for (const std::string* field : type->second) {
          if (wanted.at(*field).second != member_name) continue;
          if (std::optional<uint64_t> at = member_location(member)) found[*field] = *at;
        }
      } while (dwarf_siblingof(&member, &member) == 0);
    }
    fields_by_type.erase(type);  // the first definition of a type is the one
    return !fields_by_type.empty();
  });
  return true;
}

// The names of a subprogram's parameters, receiver first; Go marks its results with
// DW_AT_variable_parameter.
std::vector<std::string> parameter_names(Dwarf_Die& subprogram) {
  std::vector<std::string> names;
  Dwarf_Die child;
  if (dwarf_child(&subprogram, &child) != 0) return names;
  do {
    if (dwarf_tag(&child) != DW_TAG_formal_parameter) continue;
    Dwarf_Attribute attr;
    bool result = false;
    if (dwarf_attr(&child, DW_AT_variable_parameter, &attr) != nullptr) {
      dwarf_formflag(&attr, &result);
    }
    if (result) continue;
    const char* name = dwarf_diename(&child);
    names.emplace_back(name != nullptr ? name : "");
  } while (dwarf_siblingof(&child, &child) == 0);
  return names;
}

// The parameters of the functions found (GoFunction::parameters), from the top-level subprograms
// of every compile unit. Nothing when the DWARF cannot be read (the offsets say why).
void find_parameters(const ElfView& view, GoBinary& out) {
  if (!view.dwarf || out.functions.empty()) return;
  DwarfPtr dwarf(dwarf_begin_elf(view.elf.get(), DWARF_C_READ, nullptr));
  if (!dwarf) return;
  size_t left = out.functions.size();
  for_each_top_level_die(dwarf.get(), [&](Dwarf_Die& die) {
    if (dwarf_tag(&die) != DW_TAG_subprogram) return true;
    const char* name = dwarf_diename(&die);
    auto function = name == nullptr ? out.functions.end() : out.functions.find(name);
    if (function == out.functions.end() || !function->second.parameters.empty()) return true;
    function->second.parameters = parameter_names(die);
    return --left > 0;
  });
}

void find_field_offsets(const ElfView& view, const std::vector<std::string>& wanted_fields,
                        GoBinary& out) {
  std::map<std::string, std::pair<std::string, std::string>> wanted;
  for (const std::string& field : wanted_fields) {
    if (std::optional<std::pair<std::string, std::string>> parts = split_field(field)) {
      wanted.emplace(field, std::move(*parts));
    } else {
      out.missing.push_back(fmt::format("field {}: expected pkg.Type.field", field));
    }
  }
  if (wanted.empty()) return;

  std::optional<std::pair<int, int>> version = parse_go_version(out.go_version);
  const std::string table_name =
      version ? fmt::format("go{}.{}", version->first, version->second) : out.go_version;
  std::map<std::string, uint64_t> from_dwarf;
  bool dwarf_read = false;
  if (view.dwarf) {
    std::string dwarf_error;
    dwarf_read = read_dwarf_offsets(view.elf.get(), wanted, from_dwarf, &dwarf_error);
    if (!dwarf_read) {
      out.missing.push_back(
          fmt::format("DWARF unreadable ({}): offsets from the {} table", dwarf_error, table_name));
    }
  } else {
    out.missing.push_back(fmt::format("no DWARF: offsets from the {} table", table_name));
  }
  for (const auto& [field, parts] : wanted) {
    if (auto it = from_dwarf.find(field); it != from_dwarf.end()) {
      out.offsets[field] = it->second;
      out.offset_sources[field] = "dwarf";
      continue;
    }
    if (dwarf_read) {
      out.missing.push_back(fmt::format("field {} not in DWARF", field));
    }
    std::optional<uint64_t> offset =
        version ? go_field_offset_from_table(field, version->first, version->second) : std::nullopt;
    if (offset) {
      out.offsets[field] = *offset;
      out.offset_sources[field] = "table " + table_name;
    } else {
      out.missing.push_back(fmt::format("field {} unknown for {}", field, table_name));
    }
  }
}

}  // namespace

// (1, 19) from "go1.19.8", "go1.21rc2", "go1.22.0 X:boringcrypto"; nullopt for "devel ...".
std::optional<std::pair<int, int>> parse_go_version(std::string_view version) {
  if (!version.starts_with("go1.")) return std::nullopt;
  int minor = 0;
  size_t digits = 0;
  for (size_t i = 4; i < version.size() && version[i] >= '0' && version[i] <= '9' && i < 8; ++i) {
    minor = minor * 10 + (version[i] - '0');
    ++digits;
  }
  if (digits == 0) return std::nullopt;
  return std::pair{1, minor};
}

std::optional<uint64_t> go_field_offset_from_table(const std::string& field, int major, int minor) {
  if (major != 1) return std::nullopt;
  for (const FieldOffsetRow& row : kFieldOffsets) {
    if (row.field == field && minor >= row.first_minor && minor <= row.last_minor) {
      return row.offset;
    }
  }
  return std::nullopt;
}

std::optional<GoBinary> analyze_go_binary(const std::string& path,
                                          const std::vector<std::string>& wanted_functions,
                                          const std::vector<std::string>& wanted_fields,
                                          std::string* error) {
  ElfView view;
  if (!open_elf(path, view, error)) return std::nullopt;
  std::optional<GoBuildInfo> build = read_go_build_info(path);
  if (!build) {
    fail(error, fmt::format("{}: not a Go binary (no Go build info)", path));
    return std::nullopt;
  }
  if (!read_layout(path, view, error)) return std::nullopt;

  GoBinary out;
  out.go_version = build->go_version;
  out.arch = view.arch->name;
  out.symtab = view.symtab != nullptr;
  out.pclntab = view.pclntab != nullptr;
  out.dwarf = view.dwarf;

  const NameSet wanted(wanted_functions.begin(), wanted_functions.end());
  std::map<std::string, FunctionExtent> extents;
  if (!wanted.empty()) {
    std::string why;
    bool read = view.symtab != nullptr ? read_symtab(view, wanted, extents, &why)
                                       : find_functions_in_pclntab(view, wanted, extents,
                                                                   out.pclntab, out.missing, &why);
    if (!read) {
      fail(error, fmt::format("{}: {}", path, why));
      return std::nullopt;
    }
  }

  Disassembler disassembler(*view.arch);
  if (!extents.empty() && !disassembler.ok()) {
    fail(error, "capstone: cannot open a disassembler for " + out.arch);
    return std::nullopt;
  }
  std::vector<uint8_t> code;
  for (const std::string& name : wanted) {
    auto extent = extents.find(name);
    if (extent == extents.end()) {
      out.missing.push_back(fmt::format("function {} not found", name));
      continue;
    }
    const auto [address, size] = extent->second;
    std::optional<uint64_t> offset = view.file_offset(address, size, true);
    if (!offset || size == 0 || !view.read(*offset, code, size)) {
      out.missing.push_back(fmt::format(
          "function {} at {:#x} (+{}) lies outside the executable segment", name, address, size));
      continue;
    }
    GoFunction function;
    function.name = name;
    function.address = address;
    function.size = size;
    function.entry_offset = *offset;
    for (uint64_t ret : disassembler.find_returns(code, address)) {
      function.return_offsets.push_back(*offset + (ret - address));
    }
    out.functions.emplace(name, std::move(function));
  }

  find_field_offsets(view, wanted_fields, out);
  find_parameters(view, out);
  return out;
}

}  // namespace hodos::agent
