// Which language runtime a process runs (Go, JVM, CPython, Node, .NET, Ruby, PHP, nginx) and how
// it links OpenSSL, told from its executable's name, the libraries it maps and, for Go and static
// OpenSSL, a bounded read of its ELF file. The agent picks its probes (uprobes on libssl, Go's
// crypto/tls, ...) and the resource's process.runtime.* from this.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>

#include "agent/process_info.h"

namespace hodos::agent {

enum class Runtime { kUnknown, kGo, kJava, kCPython, kNode, kDotnet, kRuby, kPhp, kNginx };

// process.runtime.name as the runtime's own OTel SDK reports it ("go", "cpython", "nodejs", ...);
// empty for kUnknown.
std::string_view runtime_name(Runtime runtime);
// telemetry.sdk.language per the semantic conventions ("go", "java", "python", "nodejs", "dotnet",
// "ruby", "php", "cpp" for nginx); empty for kUnknown.
std::string_view sdk_language(Runtime runtime);

enum class OpensslLinkage { kNone, kDynamic, kStatic };

struct OpensslInfo {
  OpensslLinkage linkage = OpensslLinkage::kNone;
  std::string library_path;  // the mapped libssl (kDynamic)
  std::string version;       // "3.0.11" when a version string was found, else the soname's "3"
};

// GnuTLS mapped into the process (wget, gnutls-serv, programs built against libcurl3-gnutls).
struct GnutlsInfo {
  std::string library_path;  // the mapped libgnutls.so.N file; empty when none
};

struct GoBuildInfo {
  std::string go_version;   // "go1.19.8"
  std::string main_path;    // the main package: "example.com/shop/cmd/server"
  std::string main_module;  // the main module: "example.com/shop"
};

struct RuntimeInfo {
  Runtime runtime = Runtime::kUnknown;
  std::string version;   // "3.11", "17.0.15", "go1.19.8"; empty when not known
  std::string evidence;  // how it was told: "executable python3.11", "libjvm.so mapped", ...
  std::optional<GoBuildInfo> go;
  OpensslInfo openssl;
  GnutlsInfo gnutls;
};

// What a bounded scan of an executable's read-only data found.
struct ExecutableStrings {
  std::string openssl_version;  // "3.0.11" from "OpenSSL 3.0.11 19 Sep 2023"
  std::string nginx_version;    // "1.22.1" from "nginx/1.22.1"
};
ExecutableStrings scan_executable_strings(const std::string& path, size_t max_bytes);

// Scans each executable file once (keyed by device, inode, size and mtime): a host runs many
// processes of the same few binaries, and Node's is ~100 MiB.
class ExecutableStringsCache {
 public:
  ExecutableStrings get(const std::string& path, size_t max_bytes);

 private:
  std::map<std::tuple<dev_t, ino_t, int64_t, int64_t>, ExecutableStrings> entries_;
};

struct RuntimeDetectOptions {
  std::string proc_root = "/proc";
  // Read the executable file: its Go build info, and a bounded scan of its read-only data for a
  // statically linked OpenSSL (and nginx's version). Names and maps alone are cheap; discovery
  // reads the file for sources only.
  bool read_executable = true;
  size_t max_scan_bytes = 128 << 20;
  ExecutableStringsCache* cache = nullptr;  // optional, shared across calls
};

RuntimeInfo detect_runtime(const ProcessInfo& process, const RuntimeDetectOptions& options = {});

// Whether the process serves each request on the thread that read it until it answers, so that
// the thread's outgoing calls meanwhile belong to that request (the kernel's thread-context mode:
// SocketProbe::trace_process). True for CPython, Java, Ruby and PHP servers, unless the command
// line names an event-loop framework (asyncio servers, gevent, Netty, Vert.x, ...); false for
// Node, nginx, Go (goroutines move between threads), .NET (async continuations hop threads) and
// unknown programs. The kernel still drops a process out of the mode the first time one of its
// threads reads a second request before answering the first.
bool serves_thread_per_request(const ProcessInfo& process, const RuntimeInfo& runtime);

// Reads the Go build info ("\xff Go buildinf:") of an ELF file: the .go.buildinfo section, else
// the start of the first writable segment, as Go's debug/buildinfo does. Supports the inline
// (Go 1.18+) and the pointer (older) layouts. nullopt when the file is not a Go binary.
std::optional<GoBuildInfo> read_go_build_info(const std::string& path);

// Parses Go's modinfo text ("path\t...\nmod\t...\t...\n") into `info`.
void parse_go_modinfo(std::string_view modinfo, GoBuildInfo& info);

}  // namespace hodos::agent
