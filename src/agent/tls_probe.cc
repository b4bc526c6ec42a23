#include "agent/tls_probe.h"

#include <bpf/libbpf.h>
#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>

#include "agent/libbpf_log.h"
#include "agent/socket_probe.h"
#include "agent/uprobe_multi.h"

namespace hodos::agent {

namespace {

}  // namespace

TlsProbe::TlsProbe(SocketProbe& probe, std::string proc_root)
    : probe_(probe), proc_root_(std::move(proc_root)) {}

TlsProbe::~TlsProbe() = default;

TlsAttachResult TlsProbe::attach(uint32_t pid, const OpensslInfo& openssl) {
  if (openssl.linkage == OpensslLinkage::kNone) {
    drop(openssl_links_, pid);
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
  const SocketProbe::TlsPrograms p = probe_.tls_programs();
  // SSL_read_ex/SSL_write_ex are OpenSSL 1.1.1+ (optional: the others are enough); SSL_read and
  // SSL_write call neither, so a call is seen once whichever form the program uses.
  const ProbePoint points[] = {
      {"SSL_read", p.read_enter, false, false},         {"SSL_read", p.call_return, true, false},
      {"SSL_write", p.write_enter, false, false},       {"SSL_write", p.call_return, true, false},
      {"SSL_read_ex", p.read_ex_enter, false, true},    {"SSL_read_ex", p.call_return, true, true},
      {"SSL_write_ex", p.write_ex_enter, false, true},  {"SSL_write_ex", p.call_return, true, true},
      {"SSL_free", p.free_enter, false, false},
  };
  return attach_points(openssl_links_, pid, path, target, points);
}

TlsAttachResult TlsProbe::attach(uint32_t pid, const GnutlsInfo& gnutls) {
  if (gnutls.library_path.empty()) {
    drop(gnutls_links_, pid);
    return {false, "", "no GnuTLS in the process"};
  }
  const std::string path = fmt::format("{}/{}/root{}", proc_root_, pid, gnutls.library_path);
  const std::string target =
      fmt::format("{} (GnuTLS)", std::filesystem::path(gnutls.library_path).filename().string());
  // gnutls_record_recv/send(session, data, size) return the bytes moved (or a negative error),
  // as SSL_read/SSL_write do, and do their socket I/O inside the call through the session's
  // default transport: the same programs serve. gnutls_deinit frees the session.
  const SocketProbe::TlsPrograms p = probe_.tls_programs();
  const ProbePoint points[] = {
      {"gnutls_record_recv", p.read_enter, false, false},
      {"gnutls_record_recv", p.call_return, true, false},
      {"gnutls_record_send", p.write_enter, false, false},
      {"gnutls_record_send", p.call_return, true, false},
      {"gnutls_deinit", p.free_enter, false, false},
  };
  return attach_points(gnutls_links_, pid, path, target, points);
}

TlsAttachResult TlsProbe::attach_points(ProcessLinks& holder, uint32_t pid,
                                        const std::string& path, const std::string& target,
                                        std::span<const ProbePoint> points) {
  if (holder.holds(pid, path)) return {true, target, ""};
  drop(holder, pid);
  if (uses_uprobe_multi(points.front().program)) {
    std::vector<FunctionProbe> probes;
    for (const ProbePoint& point : points) {
      probes.push_back({point.function, point.program, point.at_return, point.optional});
    }
    FunctionLinks attached = attach_functions(pid, path, probes);
    if (!attached.error.empty()) {
      ++attach_failures_;
      return {false, target, fmt::format("cannot probe {}: {}", target, attached.error)};
    }
    holder.put(pid, path, std::move(attached.links));
    probe_.set_tls_probed(pid, true);
    return {true, target, ""};
  }
  LibbpfLogCapture log;
  std::vector<ProcessLinks::Link> links;
  for (const ProbePoint& point : points) {
    LIBBPF_OPTS(bpf_uprobe_opts, opts, .retprobe = point.at_return, .func_name = point.function);
    bpf_link* link = bpf_program__attach_uprobe_opts(point.program, static_cast<pid_t>(pid),
                                                     path.c_str(), 0, &opts);
    if (link == nullptr) {
      const int err = errno;
      if (point.optional) continue;
      ++attach_failures_;
      // A binary with the library inside but no symbol table (stripped) lands here.
      return {false, target,
              fmt::format("cannot probe {}: {}: {}", target, point.function, std::strerror(err))};
    }
    links.emplace_back(link);
  }
  holder.put(pid, path, std::move(links));
  probe_.set_tls_probed(pid, true);
  return {true, target, ""};
}

void TlsProbe::drop(ProcessLinks& holder, uint32_t pid) {
  if (!holder.drop(pid)) return;
  // The mode bit stays while the other library is still probed.
  if (!is_attached(pid)) probe_.set_tls_probed(pid, false);
}

void TlsProbe::detach(uint32_t pid) {
  drop(openssl_links_, pid);
  drop(gnutls_links_, pid);
}

bool TlsProbe::is_attached(uint32_t pid) const {
  return openssl_links_.contains(pid) || gnutls_links_.contains(pid);
}

TlsProbeCounters TlsProbe::counters() const {
  std::vector<uint32_t> pids = openssl_links_.pids();
  for (uint32_t pid : gnutls_links_.pids()) {
    if (!openssl_links_.contains(pid)) pids.push_back(pid);
  }
  return {pids.size(), attach_failures_.load()};
}

}  // namespace hodos::agent
