// What the agent needs from a Go executable to put uprobes on Go functions, read from the file
// itself: function entries and every return instruction (uretprobes crash Go: stacks move), and
// the struct field offsets its eBPF programs read (runtime.g.goid). Symbols come from .symtab, or
// from Go's pclntab when the binary is stripped; offsets from DWARF, or from a small table by Go
// version when DWARF was stripped. The file is untrusted: bad input is an error, never a crash.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hodos::agent {

struct GoFunction {
  std::string name;                      // "net/http.(*Transport).roundTrip"
  uint64_t address = 0;                  // virtual address of the entry
  uint64_t size = 0;                     // bytes of code, without the padding to the next function
  uint64_t entry_offset = 0;             // file offset of the entry (what a uprobe attaches at)
  std::vector<uint64_t> return_offsets;  // file offsets of every return instruction, ascending
  // From DWARF: the names of its parameters in order, the receiver first, results left out (they
  // say where each argument is: Go passes them in registers in this order). Empty without DWARF.
  std::vector<std::string> parameters;
};

struct GoBinary {
  std::string go_version;  // from the build info: "go1.19.8"
  std::string arch;        // "amd64", "arm64"
  // What the binary carries.
  bool symtab = false;   // .symtab (absent with -ldflags=-s)
  bool dwarf = false;    // .debug_info (absent with -ldflags=-w)
  bool pclntab = false;  // Go's own function table (kept by -s -w); read only without .symtab
  std::map<std::string, GoFunction> functions;  // the wanted ones that were found, by name
  // Struct field offsets by "pkg.Type.field" ("runtime.g.goid", "runtime.stack.hi"): from DWARF
  // when present, else from the built-in table for the binary's Go version.
  std::map<std::string, uint64_t> offsets;
  std::map<std::string, std::string> offset_sources;  // "dwarf" or "table go1.19"
  // Human-readable gaps and caveats: "no DWARF: offsets from the go1.19 table", "function X not
  // found", "field runtime.g.goid unknown for go1.26".
  std::vector<std::string> missing;
};

// Reads `path` and finds `wanted_functions` (full Go symbol names) and `wanted_fields`. nullopt
// with `*error` set when the file cannot be used at all: unreadable, truncated, not ELF, not a Go
// binary, an unsupported architecture (amd64 and arm64 are supported) or pclntab layout (Go 1.16+),
// a corrupt function table. Wanted items that are merely absent are listed in GoBinary::missing.
std::optional<GoBinary> analyze_go_binary(const std::string& path,
                                          const std::vector<std::string>& wanted_functions,
                                          const std::vector<std::string>& wanted_fields,
                                          std::string* error);

// The Go version a build info string names: (1, 19) from "go1.19.8", "go1.21rc2",
// "go1.22.0 X:boringcrypto"; nullopt for a development build ("devel ...") or anything else.
std::optional<std::pair<int, int>> parse_go_version(std::string_view version);

// The built-in offset of `field` for Go `major.minor` ("runtime.g.goid", 1, 19), for binaries
// without DWARF; nullopt when the table does not know that field for that version.
std::optional<uint64_t> go_field_offset_from_table(const std::string& field, int major, int minor);

}  // namespace hodos::agent
