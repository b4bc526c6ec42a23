// What the socket capture (bpf/sockets.bpf.c on the raw sys_enter/sys_exit tracepoints) costs
// the syscalls of the host: the same syscall loops with no program, with the program attached
// but this process not traced (every other process on the host), and with it traced.
// Configurations are interleaved over many short rounds. Time is the thread's CPU time, so being
// preempted does not count; on a shared machine the minimum is the best estimate of the cost (noise
// only adds), the median shows the spread. A second pass with BPF run-time stats on reports the
// programs' own time per run. Needs root.
#include <bpf/bpf.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "agent/socket_probe.h"
#include "agent/unique_fd.h"

namespace {

using hodos::agent::SocketProbe;
using hodos::agent::UniqueFd;

struct TcpPair {
  UniqueFd client, server;
};

TcpPair tcp_pair() {
  UniqueFd listener(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
      listen(listener.get(), 1) != 0 ||
      getsockname(listener.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    std::perror("listen");
    std::exit(1);
  }
  TcpPair pair;
  pair.client = UniqueFd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (connect(pair.client.get(), reinterpret_cast<sockaddr*>(&addr), len) != 0) {
    std::perror("connect");
    std::exit(1);
  }
  pair.server = UniqueFd(accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  return pair;
}

struct Workload {
  std::string name;
  int syscalls_per_op;
  std::function<void()> op;
};

double thread_cpu_ns() {
  timespec t = {};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) * 1e9 + static_cast<double>(t.tv_nsec);
}

double ns_per_syscall(const Workload& w, int ops) {
  double start = thread_cpu_ns();
  for (int i = 0; i < ops; ++i) w.op();
  return (thread_cpu_ns() - start) / (ops * w.syscalls_per_op);
}

struct Figures {
  std::vector<double> samples;
  double min() const { return *std::min_element(samples.begin(), samples.end()); }
  double median() const {
    std::vector<double> s = samples;
    std::sort(s.begin(), s.end());
    return s[s.size() / 2];
  }
};

}  // namespace

int main(int argc, char** argv) {
  int rounds = 30;
  int ops = 20'000;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--rounds") == 0) rounds = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--ops") == 0) ops = std::atoi(argv[i + 1]);
  }

  UniqueFd dev_zero(open("/dev/zero", O_RDONLY | O_CLOEXEC));
  TcpPair tcp = tcp_pair();
  char buf[64] = {};
  std::vector<Workload> workloads = {
      {"getppid (not followed)", 1, [] { syscall(SYS_getppid); }},
      {"read /dev/zero 64 B (followed, not a socket)", 1,
       [&] { (void)!read(dev_zero.get(), buf, sizeof(buf)); }},
      {"TCP loopback write+read 64 B", 2,
       [&] {
         (void)!write(tcp.client.get(), buf, sizeof(buf));
         (void)!read(tcp.server.get(), buf, sizeof(buf));
       }},
  };
  const std::vector<std::string> configs = {"no program", "attached, process not traced",
                                            "attached, process traced"};

  // The ring holds every event of a round: the loops do not read it while they run (the agent
  // drains it every few ms), and a full ring would measure drops instead of captures.
  const hodos::agent::SocketProbeOptions options{.ring_buffer_bytes = 32u << 20};
  uint64_t events = 0;
  auto count_event = [&events](const hodos::agent::SocketEvent&) { ++events; };
  std::map<std::pair<size_t, size_t>, Figures> figures;  // (workload, config)
  for (int round = 0; round < rounds; ++round) {
    for (size_t c = 0; c < configs.size(); ++c) {
      std::unique_ptr<SocketProbe> probe;
      if (c > 0) probe = SocketProbe::open(options, count_event);
      if (c == 2) probe->trace_process(static_cast<uint32_t>(getpid()));
      for (size_t w = 0; w < workloads.size(); ++w) {
        ns_per_syscall(workloads[w], ops / 10);  // warm up
        figures[{w, c}].samples.push_back(ns_per_syscall(workloads[w], ops));
        if (probe) probe->consume();  // keep the ring buffer from filling
      }
    }
  }

  std::printf("CPU time per syscall over %d interleaved rounds of %d ops: min (added), median\n",
              rounds, ops);
  for (size_t w = 0; w < workloads.size(); ++w) {
    std::printf("\n%s\n", workloads[w].name.c_str());
    const Figures& base = figures[{w, 0}];
    for (size_t c = 0; c < configs.size(); ++c) {
      const Figures& f = figures[{w, c}];
      std::printf("  %-30s min %7.1f ns (%+6.1f)   median %7.1f ns (%+6.1f)\n", configs[c].c_str(),
                  f.min(), f.min() - base.min(), f.median(), f.median() - base.median());
    }
  }

  // The programs' own run time, measured by the kernel (adds its own small cost per run).
  int stats = bpf_enable_stats(BPF_STATS_RUN_TIME);
  if (stats < 0) {
    std::printf("\nBPF run-time stats unavailable: %s\n", std::strerror(errno));
    return 0;
  }
  UniqueFd stats_fd(stats);
  std::printf("\nin-kernel run time per program run (bpf_stats), %d ops\n", ops);
  for (bool traced : {false, true}) {
    for (const Workload& w : workloads) {
      std::unique_ptr<SocketProbe> probe = SocketProbe::open(options, count_event);
      if (traced) probe->trace_process(static_cast<uint32_t>(getpid()));
      // Runs for other processes' syscalls during the loop count too; the loop's dominate.
      hodos::agent::ProgramRunStats enter0 = probe->sys_enter_stats(),
                                    exit0 = probe->sys_exit_stats();
      ns_per_syscall(w, ops);
      hodos::agent::ProgramRunStats enter1 = probe->sys_enter_stats(),
                                    exit1 = probe->sys_exit_stats();
      probe->consume();
      auto per_run = [](hodos::agent::ProgramRunStats a, hodos::agent::ProgramRunStats b) {
        uint64_t runs = b.runs - a.runs;
        return runs == 0 ? 0.0 : static_cast<double>(b.run_time_ns - a.run_time_ns) / runs;
      };
      std::printf("  %-8s %-46s sys_enter %6.1f ns  sys_exit %6.1f ns  (%lu runs)\n",
                  traced ? "traced" : "untraced", w.name.c_str(), per_run(enter0, enter1),
                  per_run(exit0, exit1), static_cast<unsigned long>(enter1.runs - enter0.runs));
    }
  }
  std::printf("\nevents delivered: %lu\n", static_cast<unsigned long>(events));
  return 0;
}
