#include "agent/tls_probe.h"

#include <bpf/libbpf.h>
#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>

#include "agent/libbpf_log.h"
#include "agent/socket_probe.h"

namespace hodos::agent {

namespace {

struct ProbePoint {
  const char* function;
  bpf_program* program;
  bool at_return;
};

}  // namespace

TlsProbe::TlsProbe(SocketProbe& probe, std::string proc_root)
    : probe_(probe), proc_root_(std::move(proc_root)) {}

TlsProbe::~TlsProbe() = default;

TlsAttachResult TlsProbe::attach(uint32_t pid, const OpensslInfo& openssl) {
  if (openssl.linkage == OpensslLinkage::kNone) {
    detach(pid);
    return {false, "", "no OpenSSL in the process"};
  }
  // The process's own view of the file: a container's libssl is not the host's.
  const std::string path =
      openssl.linkage == OpensslLinkage::kDynamic
          ? fmt::format("{}/{}/root{}", proc_root_, pid, openssl.library_path)
          : fmt::format("{}/{}/exe", proc_root_, pid);
  const std::string target =
      openssl.linkage == OpensslLinkage::kDynamic
          ? fmt::format("{} (OpenSSL {})",
                        std::filesystem::path(openssl.library_path).filename().string(),
                        openssl.version)
          : fmt::format("OpenSSL {} linked into the executable", openssl.version);
  if (links_.holds(pid, path)) return {true, target, ""};
  detach(pid);

  const SocketProbe::TlsPrograms p = probe_.tls_programs();
  // SSL_read_ex/SSL_write_ex are OpenSSL 1.1.1+; SSL_read and SSL_write call neither, so a call is
  // seen once whichever form the program uses.
  const ProbePoint points[] = {
      {"SSL_read", p.read_enter, false},         {"SSL_read", p.call_return, true},
      {"SSL_write", p.write_enter, false},       {"SSL_write", p.call_return, true},
      {"SSL_read_ex", p.read_ex_enter, false},   {"SSL_read_ex", p.call_return, true},
      {"SSL_write_ex", p.write_ex_enter, false}, {"SSL_write_ex", p.call_return, true},
      {"SSL_free", p.free_enter, false},
  };
  LibbpfLogCapture log;
  std::vector<ProcessLinks::Link> links;
  std::string missing;
  for (const ProbePoint& point : points) {
    LIBBPF_OPTS(bpf_uprobe_opts, opts, .retprobe = point.at_return, .func_name = point.function);
    bpf_link* link = bpf_program__attach_uprobe_opts(point.program, static_cast<pid_t>(pid),
                                                     path.c_str(), 0, &opts);
    if (link == nullptr) {
      const int err = errno;
      // The _ex forms are missing from OpenSSL 1.1.0 and older: the others are enough.
      const bool optional = std::strstr(point.function, "_ex") != nullptr;
      if (optional) continue;
      missing = fmt::format("{}: {}", point.function, std::strerror(err));
      break;
    }
    links.emplace_back(link);
  }
  if (!missing.empty()) {
    ++attach_failures_;
    // A binary with OpenSSL inside but no symbol table (stripped) lands here.
    return {false, target, fmt::format("cannot probe {}: {}", target, missing)};
  }
  links_.put(pid, path, std::move(links));
  probe_.set_tls_probed(pid, true);
  return {true, target, ""};
}

void TlsProbe::detach(uint32_t pid) {
  if (links_.drop(pid)) probe_.set_tls_probed(pid, false);
}

bool TlsProbe::is_attached(uint32_t pid) const { return links_.contains(pid); }

TlsProbeCounters TlsProbe::counters() const { return {links_.size(), attach_failures_.load()}; }

}  // namespace hodos::agent
