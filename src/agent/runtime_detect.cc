#include "agent/runtime_detect.h"

#include <elf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <vector>

#include "agent/unique_fd.h"

namespace hodos::agent {

std::string_view runtime_name(Runtime runtime) {
  switch (runtime) {
    case Runtime::kGo:
      return "go";
    case Runtime::kJava:
      return "java";
    case Runtime::kCPython:
      return "cpython";
    case Runtime::kNode:
      return "nodejs";
    case Runtime::kDotnet:
      return ".NET";
    case Runtime::kRuby:
      return "ruby";
    case Runtime::kPhp:
      return "php";
    case Runtime::kNginx:
      return "nginx";
    case Runtime::kUnknown:
      break;
  }
  return "";
}

std::string_view sdk_language(Runtime runtime) {
  switch (runtime) {
    case Runtime::kGo:
      return "go";
    case Runtime::kJava:
      return "java";
    case Runtime::kCPython:
      return "python";
    case Runtime::kNode:
      return "nodejs";
    case Runtime::kDotnet:
      return "dotnet";
    case Runtime::kRuby:
      return "ruby";
    case Runtime::kPhp:
      return "php";
    case Runtime::kNginx:
      return "cpp";
    case Runtime::kUnknown:
      break;
  }
  return "";
}

namespace {

// The parts of an ELF file that detection needs: section and segment tables, read with pread so
// nothing beyond what is asked for is loaded. Little-endian only (the agent's targets).
class ElfFile {
 public:
  struct Section {
    std::string name;
    uint64_t addr = 0, offset = 0, size = 0;
    uint32_t type = 0;
  };
  struct Segment {
    uint32_t type = 0, flags = 0;
    uint64_t vaddr = 0, offset = 0, filesz = 0;
  };

  static std::optional<ElfFile> open(const std::string& path) {
    ElfFile elf;
    elf.fd_ = UniqueFd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!elf.fd_.valid()) return std::nullopt;
    unsigned char ident[EI_NIDENT];
    if (!elf.read(0, ident, sizeof(ident)) || std::memcmp(ident, ELFMAG, SELFMAG) != 0 ||
        ident[EI_DATA] != ELFDATA2LSB) {
      return std::nullopt;
    }
    bool ok = ident[EI_CLASS] == ELFCLASS64
                  ? elf.load<Elf64_Ehdr, Elf64_Shdr, Elf64_Phdr>()
                  : ident[EI_CLASS] == ELFCLASS32 && elf.load<Elf32_Ehdr, Elf32_Shdr, Elf32_Phdr>();
    if (!ok) return std::nullopt;
    return elf;
  }

  bool read(uint64_t offset, void* buf, size_t n) const {
    size_t done = 0;
    while (done < n) {
      ssize_t got = ::pread(fd_.get(), static_cast<char*>(buf) + done, n - done,
                            static_cast<off_t>(offset + done));
      if (got <= 0) return false;
      done += static_cast<size_t>(got);
    }
    return true;
  }

  std::string read_string(uint64_t offset, size_t n) const {
    std::string out(n, '\0');
    if (!read(offset, out.data(), n)) return {};
    return out;
  }

  const Section* section(std::string_view name) const {
    for (const Section& s : sections_) {
      if (s.name == name) return &s;
    }
    return nullptr;
  }

  std::optional<uint64_t> vaddr_to_offset(uint64_t vaddr) const {
    for (const Segment& seg : segments_) {
      if (seg.type == PT_LOAD && vaddr >= seg.vaddr && vaddr < seg.vaddr + seg.filesz) {
        return seg.offset + (vaddr - seg.vaddr);
      }
    }
    return std::nullopt;
  }

  const std::vector<Segment>& segments() const { return segments_; }
  uint64_t file_size() const {
    off_t end = ::lseek(fd_.get(), 0, SEEK_END);
    return end < 0 ? 0 : static_cast<uint64_t>(end);
  }

 private:
  template <typename Ehdr, typename Shdr, typename Phdr>
  bool load() {
    Ehdr eh;
    if (!read(0, &eh, sizeof(eh))) return false;
    if (eh.e_phentsize == sizeof(Phdr) && eh.e_phnum < 4096) {
      std::vector<Phdr> phdrs(eh.e_phnum);
      if (read(eh.e_phoff, phdrs.data(), phdrs.size() * sizeof(Phdr))) {
        for (const Phdr& p : phdrs) {
          segments_.push_back({p.p_type, p.p_flags, p.p_vaddr, p.p_offset, p.p_filesz});
        }
      }
    }
    // Section headers are optional (a stripped binary may lack them); segments then suffice.
    if (eh.e_shentsize != sizeof(Shdr) || eh.e_shnum == 0 || eh.e_shstrndx >= eh.e_shnum) {
      return true;
    }
    std::vector<Shdr> shdrs(eh.e_shnum);
    if (!read(eh.e_shoff, shdrs.data(), shdrs.size() * sizeof(Shdr))) return true;
    const Shdr& names_hdr = shdrs[eh.e_shstrndx];
    constexpr uint64_t kMaxNames = 1 << 20;
    std::string names =
        read_string(names_hdr.sh_offset, std::min<uint64_t>(names_hdr.sh_size, kMaxNames));
    for (const Shdr& s : shdrs) {
      Section section;
      if (s.sh_name < names.size()) section.name = names.c_str() + s.sh_name;
      section.addr = s.sh_addr;
      section.offset = s.sh_offset;
      section.size = s.sh_size;
      section.type = s.sh_type;
      sections_.push_back(std::move(section));
    }
    return true;
  }

  UniqueFd fd_;
  std::vector<Section> sections_;
  std::vector<Segment> segments_;
};

constexpr std::string_view kGoBuildInfoMagic("\xff Go buildinf:", 14);
constexpr size_t kGoBuildInfoHeader = 32;
constexpr size_t kGoBuildInfoSearch = 64 << 10;

// Go's uvarint-prefixed string at *pos.
std::optional<std::string_view> read_varint_string(std::string_view data, size_t& pos) {
  uint64_t len = 0;
  for (int shift = 0; pos < data.size() && shift < 64; shift += 7) {
    auto byte = static_cast<unsigned char>(data[pos++]);
    len |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) {
      if (len > data.size() - pos) return std::nullopt;
      std::string_view s = data.substr(pos, len);
      pos += len;
      return s;
    }
  }
  return std::nullopt;
}

uint64_t read_pointer(std::string_view bytes, size_t ptr_size) {
  uint64_t value = 0;
  std::memcpy(&value, bytes.data(), std::min<size_t>(ptr_size, 8));  // little-endian
  return value;
}

// The pre-1.18 layout: the header holds pointers to Go string headers {data, len}.
std::string read_go_string_at(const ElfFile& elf, uint64_t vaddr, size_t ptr_size) {
  std::optional<uint64_t> header_offset = elf.vaddr_to_offset(vaddr);
  if (!header_offset) return {};
  std::string header = elf.read_string(*header_offset, 2 * ptr_size);
  if (header.size() != 2 * ptr_size) return {};
  uint64_t data = read_pointer(header, ptr_size);
  uint64_t len = read_pointer(std::string_view(header).substr(ptr_size), ptr_size);
  std::optional<uint64_t> data_offset = elf.vaddr_to_offset(data);
  if (!data_offset || len > (1 << 20)) return {};
  return elf.read_string(*data_offset, len);
}

// Go wraps modinfo in 16-byte sentinels; strip them when present.
std::string_view strip_modinfo_sentinels(std::string_view modinfo) {
  if (modinfo.size() >= 33 && modinfo[modinfo.size() - 17] == '\n') {
    return modinfo.substr(16, modinfo.size() - 32);
  }
  return modinfo;
}

std::string basename_of(std::string_view path) {
  size_t slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

std::string dirname_of(std::string_view path) {
  size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? std::string() : std::string(path.substr(0, slash));
}

bool is_version_text(std::string_view s) {
  return !s.empty() &&
         std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || c == '.'; });
}

// "python3.11" with prefix "python" → "3.11"; nullopt when the name is not prefix+version.
std::optional<std::string> versioned_name(std::string_view name, std::string_view prefix) {
  if (!name.starts_with(prefix)) return std::nullopt;
  std::string_view rest = name.substr(prefix.size());
  if (rest.empty()) return std::string();
  if (is_version_text(rest)) return std::string(rest);
  return std::nullopt;
}

const std::string* mapped_library(const ProcessInfo& process, std::string_view basename_prefix) {
  for (const std::string& path : process.mapped_files) {
    size_t slash = path.rfind('/');
    std::string_view base =
        std::string_view(path).substr(slash == std::string::npos ? 0 : slash + 1);
    if (base.starts_with(basename_prefix)) return &path;
  }
  return nullptr;
}

// The numbers after ".so." in a library name: "libssl.so.1.1" → "1.1".
std::string soname_version(std::string_view path) {
  size_t so = path.rfind(".so.");
  return so == std::string_view::npos ? std::string() : std::string(path.substr(so + 4));
}

// A path of the process's filesystem, seen through /proc/<pid>/root (it may be in a container).
std::string in_process_root(const RuntimeDetectOptions& options, const ProcessInfo& process,
                            std::string_view path) {
  return options.proc_root + "/" + std::to_string(process.pid()) + "/root" + std::string(path);
}

std::string java_release_version(const RuntimeDetectOptions& options, const ProcessInfo& process,
                                 const std::string& java_home) {
  if (java_home.empty()) return {};
  std::string path = in_process_root(options, process, java_home + "/release");
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return {};
  char buf[4096];
  ssize_t n = ::read(fd.get(), buf, sizeof(buf));
  if (n <= 0) return {};
  std::string_view text(buf, static_cast<size_t>(n));
  constexpr std::string_view kKey = "JAVA_VERSION=\"";
  size_t pos = text.find(kKey);
  if (pos == std::string_view::npos) return {};
  pos += kKey.size();
  size_t end = text.find('"', pos);
  return end == std::string_view::npos ? std::string() : std::string(text.substr(pos, end - pos));
}

// Version text right after a needle: "OpenSSL 3.0.11 19 Sep 2023" → "3.0.11".
std::string version_after(std::string_view data, size_t pos) {
  size_t end = pos;
  while (end < data.size() && end - pos < 32) {
    char c = data[end];
    bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '.' || c == '+' || c == '-';
    if (!ok) break;
    ++end;
  }
  return std::string(data.substr(pos, end - pos));
}

bool starts_with_version(std::string_view data, size_t pos) {
  return pos + 2 < data.size() && data[pos] >= '0' && data[pos] <= '9' &&
         (data[pos + 1] == '.' || (data[pos + 1] >= '0' && data[pos + 1] <= '9'));
}

// Prefers a full "x.y.z" version: prose such as "OpenSSL 3.0 legacy provider" names only x.y.
struct VersionSearch {
  std::string full;
  std::string partial;
};

void find_version(std::string_view chunk, std::string_view needle, VersionSearch& found) {
  if (!found.full.empty()) return;
  for (size_t pos = chunk.find(needle); pos != std::string_view::npos;
       pos = chunk.find(needle, pos + 1)) {
    if (!starts_with_version(chunk, pos + needle.size())) continue;
    std::string version = version_after(chunk, pos + needle.size());
    if (std::count(version.begin(), version.end(), '.') >= 2) {
      found.full = std::move(version);
      return;
    }
    if (found.partial.empty()) found.partial = std::move(version);
  }
}

}  // namespace

void parse_go_modinfo(std::string_view modinfo, GoBuildInfo& info) {
  modinfo = strip_modinfo_sentinels(modinfo);
  size_t pos = 0;
  while (pos < modinfo.size()) {
    size_t end = modinfo.find('\n', pos);
    if (end == std::string_view::npos) end = modinfo.size();
    std::string_view line = modinfo.substr(pos, end - pos);
    pos = end + 1;
    size_t tab = line.find('\t');
    if (tab == std::string_view::npos) continue;
    std::string_view kind = line.substr(0, tab);
    std::string_view rest = line.substr(tab + 1);
    std::string_view first = rest.substr(0, rest.find('\t'));
    if (kind == "path") info.main_path = std::string(first);
    if (kind == "mod") info.main_module = std::string(first);
  }
}

std::optional<GoBuildInfo> read_go_build_info(const std::string& path) {
  std::optional<ElfFile> elf = ElfFile::open(path);
  if (!elf) return std::nullopt;

  // The magic starts the .go.buildinfo section; without section headers it sits, 16-aligned, in
  // the first 64 KiB of the first writable segment.
  std::string data;
  if (const ElfFile::Section* s = elf->section(".go.buildinfo")) {
    data = elf->read_string(s->offset, std::min<uint64_t>(s->size, kGoBuildInfoSearch));
  } else {
    for (const ElfFile::Segment& seg : elf->segments()) {
      if (seg.type != PT_LOAD || (seg.flags & (PF_R | PF_W)) != (PF_R | PF_W)) continue;
      std::string segment =
          elf->read_string(seg.offset, std::min<uint64_t>(seg.filesz, kGoBuildInfoSearch));
      for (size_t at = 0; at + kGoBuildInfoHeader <= segment.size(); at += 16) {
        if (std::string_view(segment).substr(at, kGoBuildInfoMagic.size()) == kGoBuildInfoMagic) {
          data = segment.substr(at);
          break;
        }
      }
      break;
    }
  }
  if (data.size() < kGoBuildInfoHeader || !std::string_view(data).starts_with(kGoBuildInfoMagic)) {
    return std::nullopt;
  }
  const size_t ptr_size = static_cast<unsigned char>(data[14]);
  const unsigned flags = static_cast<unsigned char>(data[15]);
  GoBuildInfo info;
  if ((flags & 2) != 0) {  // Go 1.18+: both strings inline after the header
    size_t pos = kGoBuildInfoHeader;
    std::optional<std::string_view> version = read_varint_string(data, pos);
    if (!version) return std::nullopt;
    info.go_version = std::string(*version);
    if (std::optional<std::string_view> modinfo = read_varint_string(data, pos)) {
      parse_go_modinfo(*modinfo, info);
    }
  } else {
    if ((flags & 1) != 0 || (ptr_size != 4 && ptr_size != 8)) return std::nullopt;  // big-endian
    std::string_view header(data);
    info.go_version = read_go_string_at(*elf, read_pointer(header.substr(16), ptr_size), ptr_size);
    parse_go_modinfo(
        read_go_string_at(*elf, read_pointer(header.substr(16 + ptr_size), ptr_size), ptr_size),
        info);
  }
  if (info.go_version.empty()) return std::nullopt;
  return info;
}

ExecutableStrings scan_executable_strings(const std::string& path, size_t max_bytes) {
  ExecutableStrings out;
  std::optional<ElfFile> elf = ElfFile::open(path);
  if (!elf) return out;
  // Version strings are constants in .rodata; without section headers, scan the file's start.
  uint64_t begin = 0;
  uint64_t size = elf->file_size();
  if (const ElfFile::Section* rodata = elf->section(".rodata")) {
    begin = rodata->offset;
    size = rodata->size;
  }
  size = std::min<uint64_t>(size, max_bytes);
  constexpr size_t kChunk = 1 << 20;
  constexpr size_t kOverlap = 64;  // so a string split across chunks is still found
  VersionSearch openssl, nginx;
  std::string buf;
  for (uint64_t done = 0; done < size;) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(kChunk, size - done));
    buf = elf->read_string(begin + done, n);
    if (buf.empty()) break;
    find_version(buf, "OpenSSL ", openssl);
    find_version(buf, "nginx/", nginx);
    if (!openssl.full.empty() && !nginx.full.empty()) break;
    if (done + n >= size) break;
    done += n > kOverlap ? n - kOverlap : n;
  }
  out.openssl_version = openssl.full.empty() ? openssl.partial : openssl.full;
  out.nginx_version = nginx.full.empty() ? nginx.partial : nginx.full;
  return out;
}

ExecutableStrings ExecutableStringsCache::get(const std::string& path, size_t max_bytes) {
  struct stat st = {};
  if (::stat(path.c_str(), &st) != 0) return {};
  auto key =
      std::make_tuple(st.st_dev, st.st_ino, static_cast<int64_t>(st.st_size),
                      static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec);
  auto it = entries_.find(key);
  if (it == entries_.end())
    it = entries_.emplace(key, scan_executable_strings(path, max_bytes)).first;
  return it->second;
}

RuntimeInfo detect_runtime(const ProcessInfo& process, const RuntimeDetectOptions& options) {
  RuntimeInfo info;
  const std::string exe_name(process.exe_name());
  const std::string exe_file = options.proc_root + "/" + std::to_string(process.pid()) + "/exe";
  auto found = [&](Runtime runtime, std::string version, std::string evidence) {
    info.runtime = runtime;
    info.version = std::move(version);
    info.evidence = std::move(evidence);
  };

  if (exe_name == "java") {
    found(Runtime::kJava,
          java_release_version(options, process, dirname_of(dirname_of(process.exe_path))),
          "executable java");
  } else if (std::optional<std::string> v = versioned_name(exe_name, "python")) {
    found(Runtime::kCPython, *v, "executable " + exe_name);
  } else if (exe_name == "node" || exe_name == "nodejs") {
    found(Runtime::kNode, "", "executable " + exe_name);
  } else if (exe_name == "dotnet") {
    found(Runtime::kDotnet, "", "executable dotnet");
  } else if (std::optional<std::string> v = versioned_name(exe_name, "ruby")) {
    found(Runtime::kRuby, *v, "executable " + exe_name);
  } else if (std::optional<std::string> v = versioned_name(exe_name, "php-fpm")) {
    found(Runtime::kPhp, *v, "executable " + exe_name);
  } else if (std::optional<std::string> v = versioned_name(exe_name, "php-cgi")) {
    found(Runtime::kPhp, *v, "executable " + exe_name);
  } else if (std::optional<std::string> v = versioned_name(exe_name, "php")) {
    found(Runtime::kPhp, *v, "executable " + exe_name);
  } else if (exe_name == "nginx") {
    found(Runtime::kNginx, "", "executable nginx");
  }

  // Embedded runtimes (uwsgi with libpython, a JNI launcher, a .NET apphost, ...).
  if (info.runtime == Runtime::kUnknown) {
    if (const std::string* lib = mapped_library(process, "libjvm.so")) {
      found(Runtime::kJava,
            java_release_version(options, process, dirname_of(dirname_of(dirname_of(*lib)))),
            "libjvm.so mapped");
    } else if (const std::string* lib = mapped_library(process, "libpython")) {
      // libpython3.11.so.1.0 → 3.11
      std::string base = basename_of(*lib).substr(9);
      found(Runtime::kCPython, base.substr(0, base.find(".so")), basename_of(*lib) + " mapped");
    } else if (const std::string* lib = mapped_library(process, "libnode.so")) {
      found(Runtime::kNode, "", basename_of(*lib) + " mapped");
    } else if (const std::string* lib = mapped_library(process, "libcoreclr.so")) {
      found(Runtime::kDotnet, "", basename_of(*lib) + " mapped");
    } else if (const std::string* lib = mapped_library(process, "libruby")) {
      found(Runtime::kRuby, soname_version(*lib), basename_of(*lib) + " mapped");
    } else if (const std::string* lib = mapped_library(process, "libphp")) {
      found(Runtime::kPhp, "", basename_of(*lib) + " mapped");
    }
  }
  if (info.runtime == Runtime::kDotnet) {
    // .../shared/Microsoft.NETCore.App/8.0.1/libcoreclr.so
    if (const std::string* lib = mapped_library(process, "libcoreclr.so")) {
      std::string dir = basename_of(dirname_of(*lib));
      if (!dir.empty() && dir[0] >= '0' && dir[0] <= '9') info.version = dir;
    }
  }

  if (info.runtime == Runtime::kUnknown && options.read_executable && !process.exe_path.empty()) {
    if (std::optional<GoBuildInfo> go = read_go_build_info(exe_file)) {
      found(Runtime::kGo, go->go_version, "Go build info");
      info.go = std::move(*go);
    }
  }

  if (const std::string* libssl = mapped_library(process, "libssl.so")) {
    info.openssl.linkage = OpensslLinkage::kDynamic;
    info.openssl.library_path = *libssl;
    info.openssl.version = soname_version(*libssl);
  }  // (libssl3.so is NSS, not OpenSSL)
  if (const std::string* libgnutls = mapped_library(process, "libgnutls.so")) {
    info.gnutls.library_path = *libgnutls;
  }
  // Go has its own TLS; everything else may carry OpenSSL inside the executable (Node does).
  bool scan = options.read_executable && !process.exe_path.empty() &&
              info.runtime != Runtime::kGo &&
              (info.openssl.linkage == OpensslLinkage::kNone ||
               (info.runtime == Runtime::kNginx && info.version.empty()));
  if (scan) {
    ExecutableStrings strings = options.cache != nullptr
                                    ? options.cache->get(exe_file, options.max_scan_bytes)
                                    : scan_executable_strings(exe_file, options.max_scan_bytes);
    if (info.runtime == Runtime::kNginx && info.version.empty())
      info.version = strings.nginx_version;
    if (info.openssl.linkage == OpensslLinkage::kNone && !strings.openssl_version.empty()) {
      info.openssl.linkage = OpensslLinkage::kStatic;
      info.openssl.version = strings.openssl_version;
    }
  }
  return info;
}

bool serves_thread_per_request(const ProcessInfo& process, const RuntimeInfo& runtime) {
  switch (runtime.runtime) {
    case Runtime::kCPython:
    case Runtime::kJava:
    case Runtime::kRuby:
    case Runtime::kPhp:
      break;
    default:
      return false;
  }
  // Servers of these runtimes that run an event loop, named on their command line (a module, a
  // jar, a main class or a worker class).
  static constexpr std::string_view kEventLoops[] = {
      "uvicorn", "hypercorn", "daphne",  "aiohttp", "tornado", "twisted", "sanic",   "gevent",
      "eventlet", "asyncio", "netty",   "vertx",   "vert.x",  "reactor", "webflux", "quarkus",
      "async",   "swoole",  "reactphp", "amphp",  "eventmachine", "thin"};
  for (const std::string& arg : process.cmdline) {
    std::string lower(arg);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    for (std::string_view name : kEventLoops) {
      if (lower.find(name) != std::string::npos) return false;
    }
  }
  return true;
}

}  // namespace hodos::agent
