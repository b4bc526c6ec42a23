// `hodos install --systemd`: writes the systemd units of deploy/systemd (hodos.service for
// `hodos up`, hodos-agent.service for `hodos agent`) with ExecStart pointing at this binary, and
// prints the commands that start them. The unit texts are kept here so an installed binary needs
// no repository; tests/e2e/deploy_manifests.test.mjs checks they equal deploy/systemd.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>

#include "cli/commands.h"

namespace hodos::cli {

namespace {

constexpr std::string_view kUnitBinary = "/usr/local/bin/hodos";

// What both units end with: the agent's capabilities instead of root, and the hardening that
// leaves BPF working.
constexpr std::string_view kPrivilegesAndHardening = R"unit(# Root is not needed, only what the agent's eBPF programs need:
#   CAP_BPF, CAP_PERFMON     load the programs, attach tracepoints and uprobes
#   CAP_NET_ADMIN            sockops on the cgroup, sk_msg on the sockhash (traceparent injection)
#   CAP_SYS_PTRACE           read other users' /proc/PID/{exe,environ,maps,root}
#   CAP_DAC_READ_SEARCH      read executables and libraries through /proc/PID/root
#   CAP_DAC_OVERRIDE         pin the sockhash in /sys/fs/bpf/hodos and make the feature-probe
#                            cgroup (both directories are root's, mode 0700 and 0755)
# Without CAP_SYS_ADMIN the agent cannot list other BPF programs, so it cannot warn about another
# sk_msg user, and it cannot mount bpffs itself: systemd mounts /sys/fs/bpf at boot.
CapabilityBoundingSet=CAP_BPF CAP_PERFMON CAP_NET_ADMIN CAP_SYS_PTRACE CAP_DAC_READ_SEARCH CAP_DAC_OVERRIDE
AmbientCapabilities=CAP_BPF CAP_PERFMON CAP_NET_ADMIN CAP_SYS_PTRACE CAP_DAC_READ_SEARCH CAP_DAC_OVERRIDE
# BPF maps count against RLIMIT_MEMLOCK on kernels before 5.11.
LimitMEMLOCK=infinity

# Hardening that leaves BPF working. Not set on purpose: ProtectKernelTunables= and
# ProtectControlGroups= (they make /sys/fs/bpf and /sys/fs/cgroup read-only), ProtectProc= and
# ProcSubset= (they hide the processes the agent traces), PrivateNetwork=, and a SystemCallFilter=
# built on @system-service (it has neither bpf(2) nor perf_event_open(2)).
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=read-only
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectClock=yes
ProtectHostname=yes
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK
SystemCallArchitectures=native

[Install]
WantedBy=multi-user.target
)unit";

constexpr std::string_view kUpUnitHead = R"unit(# Hodos on one host: `hodos up` runs the eBPF agent, the OTLP receivers, the trace store, the query
# API and the UI. Written by `hodos install --systemd`; docs/deploy.md explains every choice here.
[Unit]
Description=Hodos tracing: eBPF agent, pipeline, trace store and UI (hodos up)
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
User=hodos
Group=hodos
ExecStart=/usr/local/bin/hodos up --data-dir /var/lib/hodos --log-level info
Restart=on-failure
RestartSec=5s
# hodos up drains its queues for up to 10 s on SIGTERM.
TimeoutStopSec=30s
# The trace store, the API token and the saved source choices: /var/lib/hodos, owned by hodos.
StateDirectory=hodos
StateDirectoryMode=0750

)unit";

constexpr std::string_view kAgentUnitHead = R"unit(# The Hodos agent alone (`hodos agent`), on each host of several: it sends its spans over OTLP/gRPC
# to a gateway (`hodos collector` or `hodos up` elsewhere). Set the gateway in
# /etc/default/hodos-agent: HODOS_ENDPOINT=http://gateway.example:4317. Written by
# `hodos install --systemd`; docs/deploy.md explains every choice here.
[Unit]
Description=Hodos eBPF agent, shipping spans to a gateway (hodos agent)
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
User=hodos
Group=hodos
Environment=HODOS_ENDPOINT=http://127.0.0.1:4317
EnvironmentFile=-/etc/default/hodos-agent
ExecStart=/usr/local/bin/hodos agent --endpoint ${HODOS_ENDPOINT} --state-dir /var/lib/hodos
Restart=on-failure
RestartSec=5s
# hodos agent sends what is queued for up to 10 s on SIGTERM.
TimeoutStopSec=30s
# The saved source choices (sources.json): /var/lib/hodos, owned by hodos.
StateDirectory=hodos
StateDirectoryMode=0750

)unit";

struct InstallOptions {
  bool systemd = false;
  std::string dir = "/etc/systemd/system";
  std::string binary;  // empty: this executable
};

[[noreturn]] void fail(int code, const std::string& message) {
  std::fprintf(stderr, "hodos install: %s\n", message.c_str());
  throw ExitCode{code};
}

std::string this_executable() {
  std::error_code ec;
  std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) fail(1, "cannot find this executable (/proc/self/exe): " + ec.message());
  return exe.string();
}

std::string unit_text(std::string_view head) {
  return std::string(head).append(kPrivilegesAndHardening);
}

std::string with_binary(std::string_view unit, const std::string& binary) {
  std::string out(unit);
  for (size_t at = out.find(kUnitBinary); at != std::string::npos;
       at = out.find(kUnitBinary, at + binary.size())) {
    out.replace(at, kUnitBinary.size(), binary);
  }
  return out;
}

void write_file(const std::filesystem::path& path, const std::string& text) {
  // Written beside, then renamed: a unit systemd reads is never half written.
  std::filesystem::path partial = path;
  partial += ".partial";
  {
    std::ofstream out(partial, std::ios::binary | std::ios::trunc);
    out << text;
    out.close();
    if (!out) fail(1, "cannot write " + partial.string());
  }
  std::error_code ec;
  std::filesystem::rename(partial, path, ec);
  if (ec) fail(1, "cannot write " + path.string() + ": " + ec.message());
}

void run_install(const InstallOptions& o) {
  if (!o.systemd) fail(2, "say what to install: --systemd (the only kind so far)");
  std::string binary = o.binary.empty() ? this_executable() : o.binary;
  if (binary.empty() || binary.front() != '/' ||
      binary.find_first_of(" \t\n\"'\\%$") != std::string::npos) {
    fail(2, "--binary must be an absolute path without spaces, quotes, % or $: " + binary);
  }
  std::error_code ec;
  if (!std::filesystem::is_directory(o.dir, ec)) fail(1, o.dir + " is not a directory");
  const std::filesystem::path up = std::filesystem::path(o.dir) / "hodos.service";
  const std::filesystem::path agent = std::filesystem::path(o.dir) / "hodos-agent.service";
  write_file(up, with_binary(unit_text(kUpUnitHead), binary));
  write_file(agent, with_binary(unit_text(kAgentUnitHead), binary));
  std::printf("wrote %s\n", up.c_str());
  std::printf("wrote %s\n", agent.c_str());
  std::printf(
      "\nnext, as root:\n"
      "  id hodos || useradd --system --home-dir /var/lib/hodos --shell /usr/sbin/nologin hodos\n"
      "  systemctl daemon-reload\n"
      "\neverything on this host (agent, store, UI at http://127.0.0.1:16686):\n"
      "  systemctl enable --now hodos.service\n"
      "\nor the agent alone, sending to a gateway (hodos collector or hodos up elsewhere):\n"
      "  echo HODOS_ENDPOINT=http://GATEWAY:4317 > /etc/default/hodos-agent\n"
      "  systemctl enable --now hodos-agent.service\n"
      "\nthen: journalctl -u hodos -f   (see docs/deploy.md)\n");
}

}  // namespace

void add_install_command(CLI::App& app) {
  auto o = std::make_shared<InstallOptions>();
  CLI::App* cmd = app.add_subcommand(
      "install", "Install Hodos as a service (--systemd: hodos.service, hodos-agent.service)");
  cmd->add_flag("--systemd", o->systemd, "Write the systemd units (see docs/deploy.md)");
  cmd->add_option("--dir", o->dir, "Where the units go")->capture_default_str();
  cmd->add_option("--binary", o->binary,
                  "The hodos executable the units start (default: this one)");
  cmd->callback([o] { run_install(*o); });
}

}  // namespace hodos::cli
