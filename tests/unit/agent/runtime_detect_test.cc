// Runtime detection on real, unmodified programs: CPython, Node, a JVM, nginx and a Go server built
// with the installed Go toolchain (those two are skipped with the reason when not installed).
#include "agent/runtime_detect.h"

#include <arpa/inet.h>
#include <elf.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>

#include "agent/service_identity.h"
#include "agent/unique_fd.h"
#include "discovery_test_support.h"

namespace hodos::agent {
namespace {

using testing::ChildProcess;
using testing::find_program;
using testing::read_whole_file;
using testing::run_to_completion;
using testing::TempDir;

constexpr const char* kNodeServer =
    "require('http').createServer((req, res) => res.end('ok')).listen(0, '127.0.0.1');\n";

TEST(RuntimeDetectTest, PythonModuleHttpServer) {
  TempDir dir;
  ChildProcess server({"python3", "-m", "http.server", "0", "--bind", "127.0.0.1"}, dir.path());
  std::optional<ProcessInfo> process = server.wait_until_listening();
  ASSERT_TRUE(process) << "python3 -m http.server did not listen";

  RuntimeInfo runtime = detect_runtime(*process);
  EXPECT_EQ(runtime.runtime, Runtime::kCPython) << runtime.evidence;
  EXPECT_EQ(runtime_name(runtime.runtime), "cpython");
  EXPECT_EQ(sdk_language(runtime.runtime), "python");
  // exe python3.11 (or libpython3.11.so) → "3.11"
  EXPECT_TRUE(runtime.version.starts_with("3.")) << runtime.version;
  ServiceName name = service_name(*process, runtime);
  EXPECT_EQ(name.name, "http.server");
  EXPECT_EQ(name.source, "module");
  EXPECT_EQ(process->listening.front().address, "127.0.0.1");
}

TEST(RuntimeDetectTest, PythonScriptWithOtelServiceName) {
  TempDir dir;
  dir.write("app.py",
            "import http.server\n"
            "http.server.HTTPServer(('127.0.0.1', 0), http.server.SimpleHTTPRequestHandler)"
            ".serve_forever()\n");
  ChildProcess named({"python3", "app.py"}, dir.path(), {{"OTEL_SERVICE_NAME", "checkout"}});
  ChildProcess unnamed({"python3", "app.py"}, dir.path());
  std::optional<ProcessInfo> named_process = named.wait_until_listening();
  std::optional<ProcessInfo> unnamed_process = unnamed.wait_until_listening();
  ASSERT_TRUE(named_process && unnamed_process);

  RuntimeInfo runtime = detect_runtime(*named_process);
  EXPECT_EQ(runtime.runtime, Runtime::kCPython);
  ServiceName name = service_name(*named_process, runtime);
  EXPECT_EQ(name.name, "checkout");
  EXPECT_EQ(name.source, "OTEL_SERVICE_NAME");
  ServiceName from_script = service_name(*unnamed_process, detect_runtime(*unnamed_process));
  EXPECT_EQ(from_script.name, "app");
  EXPECT_EQ(from_script.source, "script");
}

TEST(RuntimeDetectTest, NodeServerAndItsOpenssl) {
  if (find_program("node").empty()) GTEST_SKIP() << "node is not installed";
  TempDir dir;
  dir.write("server.js", kNodeServer);
  ChildProcess server({"node", "server.js"}, dir.path());
  std::optional<ProcessInfo> process = server.wait_until_listening();
  ASSERT_TRUE(process) << "node server.js did not listen";

  RuntimeInfo runtime = detect_runtime(*process);
  EXPECT_EQ(runtime.runtime, Runtime::kNode) << runtime.evidence;
  EXPECT_EQ(sdk_language(runtime.runtime), "nodejs");
  EXPECT_EQ(service_name(*process, runtime).name, "server");
  // Node carries OpenSSL: Debian's links libssl, the nodejs.org build has it inside the executable.
  if (process->maps_file_named("libssl.so")) {
    EXPECT_EQ(runtime.openssl.linkage, OpensslLinkage::kDynamic);
    EXPECT_FALSE(runtime.openssl.library_path.empty());
  } else {
    EXPECT_EQ(runtime.openssl.linkage, OpensslLinkage::kStatic);
    EXPECT_TRUE(runtime.openssl.version.starts_with("1.") ||
                runtime.openssl.version.starts_with("3."))
        << runtime.openssl.version;
  }
}

TEST(RuntimeDetectTest, JavaMainClass) {
  std::string javac = find_program("javac");
  if (javac.empty() || find_program("java").empty()) GTEST_SKIP() << "no JDK (javac) installed";
  TempDir dir;
  dir.write(
      "Hello.java",
      "import com.sun.net.httpserver.HttpServer;\n"
      "import java.net.InetSocketAddress;\n"
      "public class Hello {\n"
      "  public static void main(String[] args) throws Exception {\n"
      "    HttpServer server = HttpServer.create(new InetSocketAddress(\"127.0.0.1\", 0), 0);\n"
      "    server.start();\n"
      "  }\n"
      "}\n");
  std::string log = dir.path() + "/javac.log";
  ASSERT_EQ(
      run_to_completion({javac, "-d", dir.path() + "/classes", "Hello.java"}, dir.path(), {}, log),
      0)
      << read_whole_file(log);
  ChildProcess server({"java", "-Xshare:auto", "-cp", "classes", "Hello"}, dir.path());
  std::optional<ProcessInfo> process = server.wait_until_listening();
  ASSERT_TRUE(process) << "java Hello did not listen";

  RuntimeInfo runtime = detect_runtime(*process);
  EXPECT_EQ(runtime.runtime, Runtime::kJava) << runtime.evidence;
  EXPECT_EQ(sdk_language(runtime.runtime), "java");
  EXPECT_FALSE(runtime.version.empty()) << "JAVA_VERSION from the JDK's release file";
  EXPECT_TRUE(process->maps_file_named("libjvm.so"));
  ServiceName name = service_name(*process, runtime);
  EXPECT_EQ(name.name, "Hello");
  EXPECT_EQ(name.source, "main class");
}

uint16_t free_port() {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len);
  return ntohs(addr.sin_port);
}

TEST(RuntimeDetectTest, Nginx) {
  std::string nginx = find_program("nginx", {"/usr/sbin"});
  if (nginx.empty())
    GTEST_SKIP() << "nginx is not installed (apt-get install nginx to run this test)";
  TempDir dir;
  // A free port can be taken by another process before nginx binds it (tests run in parallel):
  // try a few.
  std::string port;
  std::unique_ptr<ChildProcess> server;
  std::optional<ProcessInfo> process;
  for (int attempt = 0; attempt < 3 && !process; ++attempt) {
    port = std::to_string(free_port());
    dir.write("nginx.conf",
              "worker_processes 1;\n"
              "pid " +
                  dir.path() +
                  "/nginx.pid;\n"
                  "error_log " +
                  dir.path() +
                  "/error.log;\n"
                  "events {}\n"
                  "http {\n"
                  "  access_log off;\n"
                  "  client_body_temp_path " +
                  dir.path() +
                  ";\n"
                  "  proxy_temp_path " +
                  dir.path() +
                  ";\n"
                  "  fastcgi_temp_path " +
                  dir.path() +
                  ";\n"
                  "  uwsgi_temp_path " +
                  dir.path() +
                  ";\n"
                  "  scgi_temp_path " +
                  dir.path() +
                  ";\n"
                  "  server { listen 127.0.0.1:" +
                  port +
                  "; return 200 ok; }\n"
                  "}\n");
    server = std::make_unique<ChildProcess>(
        std::vector<std::string>{nginx, "-p", dir.path(), "-c", dir.path() + "/nginx.conf", "-g",
                                 "daemon off;"},
        dir.path(), std::map<std::string, std::string>{}, dir.path() + "/stderr.log");
    process = server->wait_until_listening();
  }
  ASSERT_TRUE(process) << "nginx did not listen: " << read_whole_file(dir.path() + "/stderr.log")
                       << read_whole_file(dir.path() + "/error.log");

  RuntimeInfo runtime = detect_runtime(*process);
  EXPECT_EQ(runtime.runtime, Runtime::kNginx);
  EXPECT_EQ(sdk_language(runtime.runtime), "cpp");
  EXPECT_TRUE(runtime.version.starts_with("1."))
      << "nginx/x.y.z in the executable: " << runtime.version;
  EXPECT_EQ(service_name(*process, runtime).name, "nginx");
  EXPECT_EQ(process->listening.front().port, std::stoi(port));
  if (process->maps_file_named("libssl.so")) {
    EXPECT_EQ(runtime.openssl.linkage, OpensslLinkage::kDynamic);
  }
}

TEST(RuntimeDetectTest, GoServerBuildInfo) {
  std::string go = find_program("go");
  if (go.empty()) {
    GTEST_SKIP() << "Go is not installed (apt-get install golang-go): the Go build-info reader is "
                    "tested only by GoModinfoParses here";
  }
  TempDir dir;
  dir.write("go.mod", "module example.com/hodosgo\n\ngo 1.18\n");
  dir.write("main.go",
            "package main\n"
            "import (\"net\"; \"net/http\")\n"
            "func main() {\n"
            "  l, err := net.Listen(\"tcp\", \"127.0.0.1:0\")\n"
            "  if err != nil { panic(err) }\n"
            "  http.Serve(l, http.NotFoundHandler())\n"
            "}\n");
  // A shared cache keeps repeated runs fast; the build itself is hermetic (no dependencies).
  std::string cache = (std::filesystem::temp_directory_path() / "hodos-test-gocache").string();
  std::string log = dir.path() + "/build.log";
  ASSERT_EQ(
      run_to_completion(
          {go, "build", "-o", "shopd", "."}, dir.path(),
          {{"GOCACHE", cache}, {"GOFLAGS", "-mod=mod"}, {"GOPROXY", "off"}, {"HOME", dir.path()}},
          log),
      0)
      << read_whole_file(log);

  std::optional<GoBuildInfo> info = read_go_build_info(dir.path() + "/shopd");
  ASSERT_TRUE(info);
  EXPECT_TRUE(info->go_version.starts_with("go1.")) << info->go_version;
  EXPECT_EQ(info->main_module, "example.com/hodosgo");
  EXPECT_EQ(info->main_path, "example.com/hodosgo");

  ChildProcess server({dir.path() + "/shopd"}, dir.path());
  std::optional<ProcessInfo> process = server.wait_until_listening();
  ASSERT_TRUE(process);
  RuntimeInfo runtime = detect_runtime(*process);
  EXPECT_EQ(runtime.runtime, Runtime::kGo);
  EXPECT_EQ(runtime.version, info->go_version);
  EXPECT_EQ(service_name(*process, runtime).name, "shopd");
}

TEST(RuntimeDetectTest, NonGoFilesHaveNoBuildInfo) {
  EXPECT_FALSE(read_go_build_info("/proc/self/exe"));
  TempDir dir;
  EXPECT_FALSE(read_go_build_info(dir.write("not-elf",
                                            "\x7f"
                                            "ELF but not really")));
  EXPECT_FALSE(read_go_build_info(dir.path() + "/missing"));
}

TEST(RuntimeDetectTest, GoModinfoParses) {
  // Go 1.18+ modinfo, with the 16-byte sentinels Go wraps it in.
  std::string sentinel_start(
      "0w\xaf\x0c\x92t\x08\x02"
      "A\xe1\xc1\x07\xe6\xd6\x18\xe6",
      16);
  std::string sentinel_end(
      "\xf9"
      "2C1\x86\x18 r\x00\x82"
      "B\x10"
      "A\x16\xd8\xf2",
      16);
  std::string modinfo = sentinel_start +
                        "path\texample.com/shop/cmd/server\n"
                        "mod\texample.com/shop\t(devel)\t\n"
                        "dep\tgolang.org/x/net\tv0.1.0\th1:abc=\n"
                        "build\t-compiler=gc\n" +
                        sentinel_end;
  GoBuildInfo info;
  parse_go_modinfo(modinfo, info);
  EXPECT_EQ(info.main_path, "example.com/shop/cmd/server");
  EXPECT_EQ(info.main_module, "example.com/shop");
}

// A minimal little-endian ELF64 file: the given sections (data only) and, optionally, one
// writable PT_LOAD segment over the first section, with or without section headers.
std::string make_elf(const std::vector<std::pair<std::string, std::string>>& sections,
                     bool with_section_headers, bool writable_segment) {
  std::string out(sizeof(Elf64_Ehdr), '\0');
  size_t phoff = 0;
  if (writable_segment) {
    phoff = out.size();
    out.append(sizeof(Elf64_Phdr), '\0');
  }
  std::vector<Elf64_Shdr> shdrs(1);  // index 0 is the null section
  std::string names(1, '\0');
  for (const auto& [name, data] : sections) {
    while (out.size() % 16 != 0) out += '\0';
    Elf64_Shdr sh = {};
    sh.sh_name = static_cast<Elf64_Word>(names.size());
    sh.sh_type = SHT_PROGBITS;
    sh.sh_offset = out.size();
    sh.sh_addr = 0x400000 + out.size();
    sh.sh_size = data.size();
    names += name + '\0';
    out += data;
    shdrs.push_back(sh);
  }
  Elf64_Shdr strtab = {};
  strtab.sh_name = static_cast<Elf64_Word>(names.size());
  names += std::string(".shstrtab") + '\0';
  strtab.sh_type = SHT_STRTAB;
  strtab.sh_offset = out.size();
  strtab.sh_size = names.size();
  out += names;
  shdrs.push_back(strtab);
  while (out.size() % 8 != 0) out += '\0';
  size_t shoff = out.size();
  for (const Elf64_Shdr& sh : shdrs) out.append(reinterpret_cast<const char*>(&sh), sizeof(sh));

  Elf64_Ehdr eh = {};
  std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
  eh.e_ident[EI_CLASS] = ELFCLASS64;
  eh.e_ident[EI_DATA] = ELFDATA2LSB;
  eh.e_ident[EI_VERSION] = EV_CURRENT;
  eh.e_type = ET_EXEC;
  eh.e_machine = EM_X86_64;
  eh.e_ehsize = sizeof(Elf64_Ehdr);
  if (writable_segment) {
    eh.e_phoff = phoff;
    eh.e_phentsize = sizeof(Elf64_Phdr);
    eh.e_phnum = 1;
    Elf64_Phdr ph = {};
    ph.p_type = PT_LOAD;
    ph.p_flags = PF_R | PF_W;
    ph.p_offset = shdrs[1].sh_offset;
    ph.p_vaddr = shdrs[1].sh_addr;
    ph.p_filesz = shdrs[1].sh_size;
    std::memcpy(out.data() + phoff, &ph, sizeof(ph));
  }
  if (with_section_headers) {
    eh.e_shoff = shoff;
    eh.e_shentsize = sizeof(Elf64_Shdr);
    eh.e_shnum = static_cast<Elf64_Half>(shdrs.size());
    eh.e_shstrndx = static_cast<Elf64_Half>(shdrs.size() - 1);
  }
  std::memcpy(out.data(), &eh, sizeof(eh));
  return out;
}

// The Go 1.18+ .go.buildinfo layout: 32-byte header, then uvarint-length-prefixed strings.
std::string go_buildinfo_section(const std::string& version, const std::string& modinfo) {
  std::string out("\xff Go buildinf:", 14);
  out += '\x08';  // pointer size
  out += '\x02';  // flags: strings inline
  out.append(16, '\0');
  for (const std::string& s : {version, modinfo}) {
    size_t n = s.size();
    do {
      out += static_cast<char>((n & 0x7f) | (n > 0x7f ? 0x80 : 0));
      n >>= 7;
    } while (n != 0);
    out += s;
  }
  return out;
}

TEST(RuntimeDetectTest, GoBuildInfoFromSectionOrWritableSegment) {
  TempDir dir;
  std::string modinfo(16, 'S');
  modinfo += "path\texample.com/shop/cmd/server\nmod\texample.com/shop\t(devel)\t\n";
  modinfo[modinfo.size() - 1] = '\n';
  modinfo += std::string(16, 'E');
  std::string section = go_buildinfo_section("go1.19.8", modinfo);

  for (bool headers : {true, false}) {
    std::string path =
        dir.write(headers ? "with-sections" : "stripped",
                  make_elf({{".go.buildinfo", section}, {".data", "x"}}, headers, !headers));
    std::optional<GoBuildInfo> info = read_go_build_info(path);
    ASSERT_TRUE(info) << (headers ? "from the section" : "from the writable segment");
    EXPECT_EQ(info->go_version, "go1.19.8");
    EXPECT_EQ(info->main_path, "example.com/shop/cmd/server");
    EXPECT_EQ(info->main_module, "example.com/shop");
  }
  // A truncated header or a length running past the data is not build info.
  EXPECT_FALSE(read_go_build_info(
      dir.write("short", make_elf({{".go.buildinfo", section.substr(0, 20)}}, true, false))));
  std::string lying = section;
  lying[32] = '\x7f';  // the version claims 127 bytes
  EXPECT_FALSE(read_go_build_info(
      dir.write("lying", make_elf({{".go.buildinfo", lying.substr(0, 40)}}, true, false))));
}

TEST(RuntimeDetectTest, ExecutableStringsOnlyInRodataAndAcrossChunks) {
  TempDir dir;
  // Straddles the scanner's 1 MiB chunk boundary.
  std::string rodata = "OpenSSL 3.0 legacy provider";  // prose: only x.y, a full version wins
  rodata += std::string((1 << 20) - 10 - rodata.size(), 'x');
  rodata += "OpenSSL 3.0.11 19 Sep 2023";
  rodata += std::string(100, '\0') + "nginx/1.22.1";
  std::string elf =
      make_elf({{".text", "OpenSSL 9.9.9 not rodata"}, {".rodata", rodata}}, true, false);
  ExecutableStrings found = scan_executable_strings(dir.write("static", elf), 64 << 20);
  EXPECT_EQ(found.openssl_version, "3.0.11");
  EXPECT_EQ(found.nginx_version, "1.22.1");
  // Bounded: below the full version's offset only the prose's "3.0" is seen.
  EXPECT_EQ(scan_executable_strings(dir.path() + "/static", 1 << 19).openssl_version, "3.0");
  // Prose mentioning OpenSSL without a version is not a version.
  std::string prose =
      make_elf({{".rodata", std::string("built with OpenSSL support")}}, true, false);
  EXPECT_TRUE(scan_executable_strings(dir.write("prose", prose), 1 << 20).openssl_version.empty());
  // Not ELF: not scanned at all.
  EXPECT_TRUE(scan_executable_strings(dir.write("plain", "OpenSSL 3.0.11 1 Sep 2023"), 1 << 20)
                  .openssl_version.empty());
}

TEST(RuntimeDetectTest, MappedLibrariesTellEmbeddedRuntimes) {
  ProcessInfo p;
  p.key.pid = 999999;  // no such process: only names and maps are consulted
  p.exe_path = "/usr/bin/uwsgi";
  p.mapped_files = {"/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0",
                    "/usr/lib/x86_64-linux-gnu/libssl.so.3"};
  RuntimeDetectOptions no_scan;
  no_scan.read_executable = false;
  RuntimeInfo r = detect_runtime(p, no_scan);
  EXPECT_EQ(r.runtime, Runtime::kCPython);
  EXPECT_EQ(r.version, "3.11");
  EXPECT_EQ(r.openssl.linkage, OpensslLinkage::kDynamic);
  EXPECT_EQ(r.openssl.version, "3");
  EXPECT_TRUE(r.gnutls.library_path.empty());

  // GnuTLS (gnutls-serv, wget): not libgnutls-dane or libgnutls-openssl, which are not it.
  p.exe_path = "/usr/bin/gnutls-serv";
  p.mapped_files = {"/usr/lib/x86_64-linux-gnu/libgnutls-dane.so.0.4.1",
                    "/usr/lib/x86_64-linux-gnu/libgnutls.so.30.34.3"};
  r = detect_runtime(p, no_scan);
  EXPECT_EQ(r.gnutls.library_path, "/usr/lib/x86_64-linux-gnu/libgnutls.so.30.34.3");
  EXPECT_EQ(r.openssl.linkage, OpensslLinkage::kNone);

  p.exe_path = "/opt/app/shop";
  p.mapped_files = {"/usr/share/dotnet/shared/Microsoft.NETCore.App/8.0.1/libcoreclr.so"};
  r = detect_runtime(p, no_scan);
  EXPECT_EQ(r.runtime, Runtime::kDotnet);
  EXPECT_EQ(r.version, "8.0.1");
  EXPECT_EQ(r.openssl.linkage, OpensslLinkage::kNone);

  p.exe_path = "/usr/bin/ruby3.1";
  p.mapped_files = {};
  EXPECT_EQ(detect_runtime(p, no_scan).runtime, Runtime::kRuby);
  EXPECT_EQ(detect_runtime(p, no_scan).version, "3.1");
  p.exe_path = "/usr/sbin/php-fpm8.2";
  EXPECT_EQ(detect_runtime(p, no_scan).runtime, Runtime::kPhp);
  EXPECT_EQ(detect_runtime(p, no_scan).version, "8.2");
  p.exe_path = "/usr/lib/jvm/x/bin/java";
  EXPECT_EQ(detect_runtime(p, no_scan).runtime, Runtime::kJava);
  p.exe_path = "/usr/bin/pythonista";  // not python + version
  EXPECT_EQ(detect_runtime(p, no_scan).runtime, Runtime::kUnknown);
  // NSS's libssl3.so is not OpenSSL.
  p.mapped_files = {"/usr/lib/x86_64-linux-gnu/libssl3.so"};
  EXPECT_EQ(detect_runtime(p, no_scan).openssl.linkage, OpensslLinkage::kNone);
}

}  // namespace
}  // namespace hodos::agent
