// Go binary analysis on real programs built here with the installed Go toolchain (skipped with the
// reason when Go is absent): a net/http server and client, built normally, with -ldflags='-s -w',
// and cross-built for arm64. Go's own `go tool nm` and `go tool objdump` are the oracles for
// addresses, sizes and return instructions; corrupt and truncated copies must give errors. The
// probe plan (go_plan.h) is checked on the same binaries.
#include "agent/go_binary.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>

#include "agent/go_plan.h"
#include "discovery_test_support.h"

namespace hodos::agent {
namespace {

using testing::find_program;
using testing::read_whole_file;
using testing::run_to_completion;
using testing::TempDir;

constexpr const char* kProgram = R"(package main

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"os"
)

func main() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	done := make(chan struct{})
	go func() {
		defer close(done)
		resp, err := http.Get("http://" + ln.Addr().String() + "/")
		if err == nil {
			io.Copy(os.Stdout, resp.Body)
			resp.Body.Close()
		}
	}()
	<-done
	if len(os.Args) > 1 {
		if c, err := tls.Dial("tcp", os.Args[1], nil); err == nil {
			c.Write([]byte("x"))
			c.Read(make([]byte, 1))
		}
	}
}
)";

const std::vector<std::string> kFunctions = {
    "runtime.newproc1",          "net/http.(*Transport).roundTrip", "net/http.(*persistConn).roundTrip",
    "net/http.(*Request).write", "net/http.serverHandler.ServeHTTP",
    "crypto/tls.(*Conn).Read",   "crypto/tls.(*Conn).Write",
};
const std::vector<std::string> kFields = {
    "runtime.g.goid",   "runtime.g.stack", "runtime.stack.hi",   "crypto/tls.Conn.conn",
    "net.TCPConn.conn", "net.conn.fd",     "net.netFD.pfd",      "internal/poll.FD.Sysfd"};

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

bool contains(const std::vector<std::string>& messages, const std::string& text) {
  for (const std::string& m : messages) {
    if (m.find(text) != std::string::npos) return true;
  }
  return false;
}

std::string joined(const std::vector<std::string>& messages) {
  std::string out;
  for (const std::string& m : messages) out += m + "; ";
  return out;
}

struct NmSymbol {
  uint64_t address = 0, size = 0;
};

// What `go tool objdump` says of one function.
struct ObjdumpFunction {
  std::string first_instruction;  // bytes of the entry instruction
  std::set<uint64_t> returns;     // addresses of its RET instructions
};

class GoBinaryTest : public ::testing::Test {
 protected:
  // ctest runs every test in its own process: the binaries are built once per program, toolchain
  // and set of builds, into a private directory renamed into a shared one (the first one wins).
  static void SetUpTestSuite() {
    go_ = find_program("go");
    if (go_.empty()) return;
    scratch_ = std::make_unique<TempDir>();
    const bool gcc = !find_program("gcc").empty();
    std::string version_log = scratch("go-version.log");
    run_to_completion({go_, "version"}, scratch_->path(), go_env(), version_log);
    const std::string key =
        std::string(kProgram) + read_whole_file(version_log) + (gcc ? "gcc" : "") + "builds-v1";
    const std::filesystem::path shared =
        std::filesystem::temp_directory_path() /
        fmt::format("hodos-test-gobinaries-{:016x}", std::hash<std::string>{}(key));
    if (std::filesystem::exists(shared / "complete")) {
      binaries_ = shared.string();
      return;
    }
    const std::string source = scratch("src"), out = scratch("bin");
    std::filesystem::create_directories(source);
    std::filesystem::create_directories(out);
    std::ofstream(source + "/go.mod") << "module example.com/hodosgobinary\n\ngo 1.16\n";
    std::ofstream(source + "/main.go") << kProgram;
    auto build = [&](const std::string& name, std::vector<std::string> flags,
                     std::map<std::string, std::string> env) {
      std::vector<std::string> argv = {go_, "build", "-o", out + "/" + name};
      argv.insert(argv.end(), flags.begin(), flags.end());
      argv.push_back(".");
      env.merge(go_env());
      std::string log = scratch("build-" + name + ".log");
      if (run_to_completion(argv, source, env, log) == 0) return std::string();
      return "go build " + name + " failed: " + read_whole_file(log);
    };
    build_error_ = build("normal", {}, {}) + build("stripped", {"-ldflags=-s -w"}, {}) +
                   build("pie", {"-buildmode=pie"}, {}) +
                   build("pie-stripped", {"-buildmode=pie", "-ldflags=-s -w"}, {}) +
                   build("normal-arm64", {}, {{"GOARCH", "arm64"}}) +
                   build("stripped-arm64", {"-ldflags=-s -w"}, {{"GOARCH", "arm64"}});
    // The external linker (cgo's gcc) puts C start-up code before runtime.text and, for PIE,
    // merges the pclntab into .data.rel.ro.
    if (gcc) {
      build_error_ +=
          build("extpie", {"-buildmode=pie", "-ldflags=-linkmode=external"}, {}) +
          build("extpie-stripped", {"-buildmode=pie", "-ldflags=-linkmode=external -s -w"}, {});
    }
    binaries_ = out;
    if (!build_error_.empty()) return;
    std::ofstream(out + "/complete") << "";
    std::error_code ec;
    std::filesystem::rename(out, shared, ec);
    if (!ec || std::filesystem::exists(shared / "complete")) binaries_ = shared.string();
  }
  static void TearDownTestSuite() { scratch_.reset(); }

  void SetUp() override {
    if (go_.empty()) {
      GTEST_SKIP() << "Go is not installed (apt-get install golang-go): Go binary analysis is "
                      "tested only against binaries built by it";
    }
    ASSERT_EQ(build_error_, "");
  }

  static std::map<std::string, std::string> go_env() {
    // A shared cache keeps repeated runs fast (the arm64 standard library is built once).
    return {{"GOCACHE", (std::filesystem::temp_directory_path() / "hodos-test-gocache").string()},
            {"GOFLAGS", ""},
            {"GOPROXY", "off"},
            {"GOTOOLCHAIN", "local"},
            {"HOME", scratch_->path()}};
  }

  // A built binary, and a file of this process's own (copies, logs).
  static std::string path(const std::string& binary) { return binaries_ + "/" + binary; }
  static std::string scratch(const std::string& name) { return scratch_->path() + "/" + name; }

  static std::string run_go_tool(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {go_, "tool"};
    argv.insert(argv.end(), args.begin(), args.end());
    std::string log = scratch("tool.log");
    std::filesystem::remove(log);
    EXPECT_EQ(run_to_completion(argv, scratch_->path(), go_env(), log), 0) << read_whole_file(log);
    return read_whole_file(log);
  }

  // `go tool nm -size`: "  4417e0        953 T runtime.newproc1".
  static std::map<std::string, NmSymbol> nm(const std::string& binary) {
    std::map<std::string, NmSymbol> out;
    std::istringstream lines(run_go_tool({"nm", "-size", path(binary)}));
    std::string line;
    while (std::getline(lines, line)) {
      std::istringstream fields(line);
      std::string address, size, kind, name;
      if (!(fields >> address >> size >> kind >> name) || (kind != "T" && kind != "t")) continue;
      out[name] = {std::stoull(address, nullptr, 16), std::stoull(size)};
    }
    return out;
  }

  // `go tool objdump -s REGEX` of the wanted functions: "TEXT name(SB) file" starts each one, then
  // "file:line\taddress\thex\tinstruction\t...".
  static std::map<std::string, ObjdumpFunction> objdump(const std::string& binary) {
    std::string regex = "^(";
    for (const std::string& name : kFunctions) {
      if (regex.size() > 2) regex += "|";
      for (char c : name) {
        if (std::strchr(".()*", c) != nullptr) regex += '\\';
        regex += c;
      }
    }
    regex += ")$";
    std::map<std::string, ObjdumpFunction> out;
    std::istringstream lines(run_go_tool({"objdump", "-s", regex, path(binary)}));
    std::string line, current;
    while (std::getline(lines, line)) {
      if (line.starts_with("TEXT ")) {
        current = line.substr(5, line.find("(SB)") - 5);
        continue;
      }
      std::vector<std::string> fields;
      std::istringstream split(line);
      for (std::string f; std::getline(split, f, '\t');) {
        if (!f.empty()) fields.push_back(f);
      }
      if (current.empty() || fields.size() < 4) continue;
      ObjdumpFunction& function = out[current];
      if (function.first_instruction.empty()) {
        for (size_t i = 0; i + 1 < fields[2].size(); i += 2) {
          function.first_instruction +=
              static_cast<char>(std::stoi(fields[2].substr(i, 2), nullptr, 16));
        }
      }
      if (fields[3].starts_with("RET"))
        function.returns.insert(std::stoull(fields[1], nullptr, 16));
    }
    return out;
  }

  static GoProbePlan plan(const std::string& build, const std::string& arch = "amd64") {
    std::string error;
    std::optional<GoBinary> binary =
        analyze_go_binary(path(build), go_probe_functions(), go_probe_fields(), &error);
    EXPECT_TRUE(binary) << error;
    return plan_go_probes(binary.value_or(GoBinary{}), arch);
  }

  static GoBinary analyze(const std::string& file) {
    std::string error;
    std::optional<GoBinary> binary = analyze_go_binary(file, kFunctions, kFields, &error);
    EXPECT_TRUE(binary) << error;
    EXPECT_EQ(error, "");
    return binary.value_or(GoBinary{});
  }

  // Every function found, at the address and size `go tool nm` gives for the unstripped build,
  // its entry at the bytes objdump shows there, and returns exactly where objdump sees RETs.
  static void expect_matches_go_tools(const GoBinary& binary, const std::string& file,
                                      const std::string& unstripped,
                                      const std::string& return_bytes) {
    std::map<std::string, NmSymbol> symbols = nm(unstripped);
    std::map<std::string, ObjdumpFunction> disassembly = objdump(unstripped);
    const std::string bytes = read_bytes(path(file));
    for (const std::string& name : kFunctions) {
      SCOPED_TRACE(name);
      ASSERT_TRUE(binary.functions.contains(name)) << joined(binary.missing);
      const GoFunction& f = binary.functions.at(name);
      EXPECT_EQ(f.name, name);
      ASSERT_TRUE(symbols.contains(name));
      EXPECT_EQ(f.address, symbols[name].address);
      EXPECT_EQ(f.size, symbols[name].size);
      ASSERT_TRUE(disassembly.contains(name));
      const ObjdumpFunction& expected = disassembly[name];
      ASSERT_LE(f.entry_offset + expected.first_instruction.size(), bytes.size());
      std::string first_instruction = expected.first_instruction;
      // objdump shows an arm64 instruction as its 32-bit word; the file holds it little-endian.
      if (binary.arch == "arm64") std::reverse(first_instruction.begin(), first_instruction.end());
      EXPECT_EQ(bytes.substr(f.entry_offset, first_instruction.size()), first_instruction);

      ASSERT_FALSE(f.return_offsets.empty());
      std::set<uint64_t> returns;
      for (uint64_t offset : f.return_offsets) {
        EXPECT_GE(offset, f.entry_offset);
        EXPECT_LT(offset, f.entry_offset + f.size);
        ASSERT_LE(offset + return_bytes.size(), bytes.size());
        EXPECT_EQ(bytes.substr(offset, return_bytes.size()), return_bytes)
            << "at file offset " << offset;
        returns.insert(f.address + (offset - f.entry_offset));
      }
      EXPECT_EQ(returns.size(), f.return_offsets.size());
      EXPECT_EQ(returns, expected.returns);
    }
  }

  static inline std::string go_;
  static inline std::unique_ptr<TempDir> scratch_;
  static inline std::string binaries_;
  static inline std::string build_error_;
};

TEST_F(GoBinaryTest, UnstrippedBinaryMatchesGoTools) {
  GoBinary binary = analyze(path("normal"));
  EXPECT_TRUE(binary.go_version.starts_with("go1.")) << binary.go_version;
  EXPECT_EQ(binary.arch, "amd64");
  EXPECT_TRUE(binary.symtab);
  EXPECT_TRUE(binary.dwarf);
  EXPECT_TRUE(binary.pclntab);
  expect_matches_go_tools(binary, "normal", "normal", "\xc3");
}

TEST_F(GoBinaryTest, StrippedBinaryFindsTheSameFunctionsFromThePclntab) {
  GoBinary normal = analyze(path("normal"));
  GoBinary stripped = analyze(path("stripped"));
  EXPECT_FALSE(stripped.symtab);
  EXPECT_FALSE(stripped.dwarf);
  EXPECT_TRUE(stripped.pclntab);
  ASSERT_EQ(stripped.functions.size(), kFunctions.size()) << joined(stripped.missing);
  for (const auto& [name, f] : normal.functions) {
    SCOPED_TRACE(name);
    const GoFunction& s = stripped.functions.at(name);
    EXPECT_EQ(s.address, f.address);
    EXPECT_EQ(s.size, f.size);
    EXPECT_EQ(s.entry_offset, f.entry_offset);
    EXPECT_EQ(s.return_offsets, f.return_offsets);
  }
  // Independently of the unstripped build: go tool nm of it, objdump, bytes of the stripped file.
  expect_matches_go_tools(stripped, "stripped", "normal", "\xc3");
}

TEST_F(GoBinaryTest, PieAndExternallyLinkedBinaries) {
  std::vector<std::string> builds = {"pie"};
  if (std::filesystem::exists(path("extpie"))) builds.push_back("extpie");
  for (const std::string& build : builds) {
    SCOPED_TRACE(build);
    GoBinary normal = analyze(path(build));
    EXPECT_TRUE(normal.symtab);
    expect_matches_go_tools(normal, build, build, "\xc3");
    GoBinary stripped = analyze(path(build + "-stripped"));
    EXPECT_FALSE(stripped.symtab);
    EXPECT_TRUE(stripped.pclntab);
    EXPECT_TRUE(stripped.missing ==
                std::vector<std::string>{"no DWARF: offsets from the go1.19 table"})
        << joined(stripped.missing);
    expect_matches_go_tools(stripped, build + "-stripped", build, "\xc3");
  }
  if (builds.size() == 1) GTEST_SKIP() << "gcc is not installed: external linking not tested";
}

TEST_F(GoBinaryTest, GoidOffsetFromDwarfElseFromTheVersionTable) {
  GoBinary normal = analyze(path("normal"));
  ASSERT_TRUE(normal.go_version.starts_with("go1.19")) << "the table is verified for go1.19 only";
  EXPECT_EQ(normal.offsets["runtime.g.goid"], 152u);
  EXPECT_EQ(normal.offsets["runtime.g.stack"], 0u);
  EXPECT_EQ(normal.offsets["runtime.stack.hi"], 8u);
  for (const std::string& field : kFields) EXPECT_EQ(normal.offset_sources[field], "dwarf");
  EXPECT_TRUE(normal.missing.empty()) << joined(normal.missing);

  GoBinary stripped = analyze(path("stripped"));
  EXPECT_EQ(stripped.offsets, normal.offsets);
  for (const std::string& field : kFields) {
    EXPECT_EQ(stripped.offset_sources[field], "table go1.19");
  }
  EXPECT_EQ(stripped.missing, std::vector<std::string>{"no DWARF: offsets from the go1.19 table"});
}

TEST_F(GoBinaryTest, DwarfAgreesWithTheTableForThisGoVersion) {
  // The table's rows for this toolchain's version must agree with what its DWARF says.
  GoBinary normal = analyze(path("normal"));
  int minor = std::stoi(normal.go_version.substr(4));
  for (const std::string& field : kFields) {
    EXPECT_EQ(go_field_offset_from_table(field, 1, minor), normal.offsets[field]) << field;
  }
}

TEST_F(GoBinaryTest, MissingFunctionsAndFieldsAreListed) {
  std::string error;
  std::optional<GoBinary> binary =
      analyze_go_binary(path("normal"), {"runtime.newproc1", "main.noSuchFunction"},
                        {"runtime.g.noSuchField", "goid", "runtime.g.goid"}, &error);
  ASSERT_TRUE(binary) << error;
  EXPECT_EQ(binary->functions.size(), 1u);
  EXPECT_TRUE(binary->functions.contains("runtime.newproc1"));
  EXPECT_TRUE(contains(binary->missing, "function main.noSuchFunction not found"));
  EXPECT_TRUE(contains(binary->missing, "field runtime.g.noSuchField not in DWARF"));
  EXPECT_TRUE(contains(binary->missing, "field runtime.g.noSuchField unknown for go1.19"));
  EXPECT_TRUE(contains(binary->missing, "field goid: expected pkg.Type.field"));
  EXPECT_EQ(binary->offsets, (std::map<std::string, uint64_t>{{"runtime.g.goid", 152}}));

  binary = analyze_go_binary(path("stripped"), {"main.noSuchFunction"}, {}, &error);
  ASSERT_TRUE(binary) << error;
  EXPECT_TRUE(binary->functions.empty());
  EXPECT_EQ(binary->missing, std::vector<std::string>{"function main.noSuchFunction not found"});
}

TEST_F(GoBinaryTest, UnknownGoVersionLeavesTableFieldsMissing) {
  // The stripped binary claiming a Go version the table does not know: no guess.
  std::string bytes = read_bytes(path("stripped"));
  size_t info = bytes.find(std::string("\xff Go buildinf:", 14));
  ASSERT_NE(info, std::string::npos);
  size_t version = bytes.find("go1.", info);
  ASSERT_NE(version, std::string::npos);
  bytes.replace(version + 4, 2, "99");
  std::string copy = scratch("stripped-go1.99");
  write_bytes(copy, bytes);

  std::string error;
  std::optional<GoBinary> binary = analyze_go_binary(copy, kFunctions, kFields, &error);
  ASSERT_TRUE(binary) << error;
  EXPECT_TRUE(binary->go_version.starts_with("go1.99")) << binary->go_version;
  EXPECT_EQ(binary->functions.size(), kFunctions.size());
  EXPECT_TRUE(binary->offsets.empty());
  EXPECT_TRUE(contains(binary->missing, "no DWARF: offsets from the go1.99 table"));
  EXPECT_TRUE(contains(binary->missing, "field runtime.g.goid unknown for go1.99"));
}

TEST(GoFieldTableTest, GoidByVersion) {
  for (int minor = 16; minor <= 22; ++minor) {
    EXPECT_EQ(go_field_offset_from_table("runtime.g.goid", 1, minor), 152u) << minor;
  }
  EXPECT_EQ(go_field_offset_from_table("runtime.g.goid", 1, 23), 160u);  // + g.syscallbp
  EXPECT_EQ(go_field_offset_from_table("runtime.g.goid", 1, 24), 160u);
  EXPECT_EQ(go_field_offset_from_table("runtime.g.goid", 1, 25), 152u);  // - gobuf.ret
  EXPECT_FALSE(go_field_offset_from_table("runtime.g.goid", 1, 15));
  EXPECT_FALSE(go_field_offset_from_table("runtime.g.goid", 1, 26));
  EXPECT_FALSE(go_field_offset_from_table("runtime.g.goid", 2, 19));
  EXPECT_FALSE(go_field_offset_from_table("runtime.g.nothing", 1, 19));
  EXPECT_EQ(go_field_offset_from_table("runtime.g.stack", 1, 21), 0u);
  EXPECT_EQ(go_field_offset_from_table("runtime.stack.hi", 1, 21), 8u);
}

TEST_F(GoBinaryTest, Arm64BinariesMatchGoTools) {
  GoBinary normal = analyze(path("normal-arm64"));
  EXPECT_EQ(normal.arch, "arm64");
  EXPECT_EQ(normal.offsets["runtime.g.goid"], 152u);
  EXPECT_EQ(normal.offset_sources["runtime.g.goid"], "dwarf");
  const std::string ret("\xc0\x03\x5f\xd6", 4);  // RET (x30)
  expect_matches_go_tools(normal, "normal-arm64", "normal-arm64", ret);

  GoBinary stripped = analyze(path("stripped-arm64"));
  EXPECT_EQ(stripped.offsets["runtime.g.goid"], 152u);
  EXPECT_EQ(stripped.offset_sources["runtime.g.goid"], "table go1.19");
  expect_matches_go_tools(stripped, "stripped-arm64", "normal-arm64", ret);
}

TEST_F(GoBinaryTest, NonGoFilesAreErrors) {
  std::string error;
  EXPECT_FALSE(analyze_go_binary("/bin/true", kFunctions, kFields, &error));
  EXPECT_NE(error.find("/bin/true: not a Go binary"), std::string::npos) << error;
  EXPECT_FALSE(analyze_go_binary(scratch_->write("notes.txt", "not an executable\n"), kFunctions,
                                 kFields, &error));
  EXPECT_NE(error.find("not an ELF file"), std::string::npos) << error;
  EXPECT_FALSE(analyze_go_binary(scratch("no-such-file"), kFunctions, kFields, &error));
  EXPECT_NE(error.find("no-such-file: No such file or directory"), std::string::npos) << error;
  EXPECT_FALSE(analyze_go_binary(scratch_->path(), kFunctions, kFields, &error));
  EXPECT_NE(error.find("not a regular file"), std::string::npos) << error;
}

// The stripped binary's pclntab header: found by its Go 1.18/1.20 magic, pc quantum 1, 8-byte
// pointers.
size_t pclntab_offset(const std::string& bytes) {
  for (const char* magic :
       {"\xf0\xff\xff\xff\x00\x00\x01\x08", "\xf1\xff\xff\xff\x00\x00\x01\x08"}) {
    size_t at = bytes.find(std::string(magic, 8));
    if (at != std::string::npos) return at;
  }
  return std::string::npos;
}

TEST_F(GoBinaryTest, CorruptPclntabIsAnError) {
  const std::string original = read_bytes(path("stripped"));
  const size_t tab = pclntab_offset(original);
  ASSERT_NE(tab, std::string::npos);
  auto analyze_with = [&](size_t at, const std::string& patch, std::string* error) {
    std::string bytes = original;
    bytes.replace(at, patch.size(), patch);
    write_bytes(scratch("corrupt"), bytes);
    return analyze_go_binary(scratch("corrupt"), kFunctions, kFields, error);
  };
  auto word = [](uint64_t v) { return std::string(reinterpret_cast<const char*>(&v), 8); };
  auto header_word = [&](size_t i) {
    uint64_t v;
    std::memcpy(&v, original.data() + tab + 8 + i * 8, 8);
    return v;
  };
  struct Case {
    std::string what;
    size_t at;
    std::string patch;
    std::string error;
  };
  const std::vector<Case> cases = {
      {"Go 1.2 magic", 0, std::string("\xfb\xff\xff\xff", 4), "layout of Go 1.2-1.15"},
      {"unknown magic", 0, std::string("\x12\x34\x56\x78", 4), "unsupported .gopclntab magic"},
      {"4-byte pointers", 7, std::string("\x04", 1), "pointer size 4"},
      {"huge function count", 8, word(uint64_t{1} << 40), "functions do not fit"},
      {"no functions", 8, word(0), "functions do not fit"},
      {"name table beyond the end", 8 + 3 * 8, word(~uint64_t{0}), "beyond its end"},
      {"function table beyond the end", 8 + 7 * 8, word(uint64_t{1} << 62), "beyond its end"},
      {"function table shifted", 8 + 7 * 8, word(header_word(7) + 4), "disagrees"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    std::string error;
    EXPECT_FALSE(analyze_with(tab + c.at, c.patch, &error));
    EXPECT_NE(error.find(c.error), std::string::npos) << error;
  }

  // A zero text start (unrelocated, or Go 1.26+) gives way to .text's address, with a note.
  const GoBinary expected = analyze(path("stripped"));
  {
    std::string error;
    std::optional<GoBinary> binary = analyze_with(tab + 8 + 2 * 8, word(0), &error);
    ASSERT_TRUE(binary) << error;
    EXPECT_TRUE(contains(binary->missing, "the pclntab gives no text start: assumed .text's"))
        << joined(binary->missing);
    for (const auto& [name, f] : expected.functions) {
      EXPECT_EQ(binary->functions.at(name).address, f.address);
    }
  }

  // Go 1.20's magic: the same header and the same _func fields up to pcsp.
  {
    std::string error;
    std::optional<GoBinary> binary = analyze_with(tab, std::string("\xf1\xff\xff\xff", 4), &error);
    ASSERT_TRUE(binary) << error;
    for (const auto& [name, f] : expected.functions) {
      EXPECT_EQ(binary->functions.at(name).address, f.address);
      EXPECT_EQ(binary->functions.at(name).size, f.size);
    }
  }

  // Every header byte set to 0xff, then to 0x00: an error, or no wrong function. (Words not used
  // give the same result: file and compile-unit tables; a shifted name table finds nothing.) The
  // text start is trusted wherever it lies in the executable segment, so it is left out.
  for (size_t at = 0; at < 8 + 8 * 8; ++at) {
    if (at >= 8 + 2 * 8 && at < 8 + 3 * 8) continue;
    for (char value : {'\xff', '\x00'}) {
      if (original[tab + at] == value) continue;
      SCOPED_TRACE("header byte " + std::to_string(at));
      std::string error;
      std::optional<GoBinary> binary = analyze_with(tab + at, std::string(1, value), &error);
      if (!binary) {
        EXPECT_NE(error, "");
        continue;
      }
      for (const auto& [name, f] : binary->functions) {
        const GoFunction& want = expected.functions.at(name);
        EXPECT_EQ(f.address, want.address);
        // A damaged pc table leaves the size at the span to the next function.
        EXPECT_GE(f.size, want.size);
        EXPECT_LT(f.size, want.size + 64);
        EXPECT_EQ(f.return_offsets, want.return_offsets);
      }
    }
  }
}

TEST_F(GoBinaryTest, TruncatedFilesAreErrors) {
  for (const char* name : {"normal", "stripped"}) {
    const std::string original = read_bytes(path(name));
    // Into the headers, the text, the pclntab (stripped) or DWARF (normal), and for the normal
    // build, whose .strtab ends the file, its last byte.
    std::vector<size_t> sizes = {16, 100, 4096, original.size() / 2, original.size() * 3 / 4};
    if (std::string(name) == "normal") sizes.push_back(original.size() - 1);
    for (size_t size : sizes) {
      SCOPED_TRACE(std::string(name) + " truncated to " + std::to_string(size));
      write_bytes(scratch("truncated"), original.substr(0, size));
      std::string error;
      EXPECT_FALSE(analyze_go_binary(scratch("truncated"), kFunctions, kFields, &error));
      EXPECT_NE(error, "");
    }
  }
}

// Not an assertion (tests never assert speed): how long analysis takes, for the report.
TEST_F(GoBinaryTest, ReportsAnalysisTime) {
  for (const char* name : {"normal", "stripped"}) {
    auto start = std::chrono::steady_clock::now();
    constexpr int kRuns = 5;
    for (int i = 0; i < kRuns; ++i) analyze(path(name));
    auto per_run = (std::chrono::steady_clock::now() - start) / kRuns;
    std::cout << "analyze_go_binary(" << name << ", " << read_bytes(path(name)).size() / 1024
              << " KiB): " << std::chrono::duration_cast<std::chrono::microseconds>(per_run).count()
              << " us\n";
  }
}


// The probe plan (go_plan.h) on the same binaries: what the kernel is told, and where.
bool has_site(const GoProbePlan& p, GoProgram program, const std::string& function,
              bool at_returns) {
  return std::any_of(p.sites.begin(), p.sites.end(), [&](const GoProbeSite& s) {
    return s.program == program && s.function == function && s.at_returns == at_returns;
  });
}

TEST_F(GoBinaryTest, PlanWithDwarfTlsAndNetHttpsHttp2ServerAreFollowed) {
  const GoProbePlan p = plan("normal");
  ASSERT_EQ(p.error, "");
  EXPECT_EQ(p.go.goid_offset, 152u);
  EXPECT_EQ(p.go.probes,
            static_cast<uint32_t>(HODOS_GO_TLS | HODOS_GO_HTTP2_SERVER | HODOS_GO_HTTP2_CLIENT));
  EXPECT_TRUE(p.tls_state.starts_with("plaintext from Go crypto/tls (go1.")) << p.tls_state;
  EXPECT_EQ(p.caveat, "");
  // A *tls.Conn's net.Conn first; a *net.TCPConn's fd via conn.fd, then the fdMutex's 16 bytes.
  EXPECT_EQ(p.go.tls_conn, 0u);
  EXPECT_EQ(p.go.tcp_conn_fd, 0u);
  EXPECT_EQ(p.go.net_fd_sysfd, 16u);
  // hpack.HeaderField{Name, Value string; Sensitive bool}; the HeadersFrame pointer embedded first.
  EXPECT_EQ(p.go.http_server.field_name, 0u);
  EXPECT_EQ(p.go.http_server.field_value, 16u);
  EXPECT_EQ(p.go.http_server.field_size, 40u);
  EXPECT_EQ(p.go.http_server.frame_headers, 0u);
  EXPECT_EQ(p.go.http_server.frame_fields, 8u);
  EXPECT_EQ(p.go.http_server.frame_stream_id, 8u);  // FrameHeader{valid, Type, Flags; Length; StreamID}
  EXPECT_NE(p.go.http_server.conn, 0u);  // after srv and hs in http2serverConn
  // Where the probes read their arguments: the parameters, from DWARF.
  EXPECT_EQ(p.binary->functions.at("net/http.(*http2serverConn).processHeaders").parameters,
            (std::vector<std::string>{"sc", "f"}));
  EXPECT_EQ(p.binary->functions.at("crypto/tls.(*Conn).Write").parameters,
            (std::vector<std::string>{"c", "b"}));
  EXPECT_TRUE(has_site(p, GoProgram::kNewproc1Return, "runtime.newproc1", true));
  EXPECT_TRUE(has_site(p, GoProgram::kTlsWrite, "crypto/tls.(*Conn).Write", false));
  EXPECT_TRUE(has_site(p, GoProgram::kTlsReturn, "crypto/tls.(*Conn).Read", true));
  EXPECT_TRUE(has_site(p, GoProgram::kHttp2ServerHeaders,
                       "net/http.(*http2serverConn).processHeaders", false));
  EXPECT_TRUE(has_site(p, GoProgram::kH2ContextDone, "net/http.(*http2serverConn).runHandler", true));
  EXPECT_FALSE(has_site(p, GoProgram::kGrpcServerHeaders,
                        "google.golang.org/grpc/internal/transport.(*http2Server).operateHeaders",
                        false));
}

TEST_F(GoBinaryTest, PlanStrippedTlsFromTheTableButNoHttp2ServerWithoutDwarf) {
  const GoProbePlan normal = plan("normal");
  const GoProbePlan p = plan("stripped");
  ASSERT_EQ(p.error, "");
  EXPECT_EQ(p.go.probes, static_cast<uint32_t>(HODOS_GO_TLS | HODOS_GO_HTTP2_CLIENT));
  EXPECT_EQ(p.go.tls_conn, normal.go.tls_conn);
  EXPECT_EQ(p.go.net_fd_sysfd, normal.go.net_fd_sysfd);
  EXPECT_TRUE(p.target.find("stripped: functions from pclntab") != std::string::npos) << p.target;
  EXPECT_TRUE(p.caveat.find("net/http's HTTP/2 server get no context") != std::string::npos)
      << p.caveat;
  EXPECT_FALSE(has_site(p, GoProgram::kHttp2ServerHeaders,
                        "net/http.(*http2serverConn).processHeaders", false));
  EXPECT_TRUE(p.binary->functions.at("crypto/tls.(*Conn).Write").parameters.empty());
}

TEST_F(GoBinaryTest, PlanABinaryForAnotherArchitectureGetsNothing) {
  const GoProbePlan p = plan("normal", "arm64");
  EXPECT_EQ(p.error, "a amd64 binary on a arm64 agent");
  EXPECT_TRUE(p.sites.empty());
}

}  // namespace
}  // namespace hodos::agent
