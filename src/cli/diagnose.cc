// `hodos diagnose`: what this kernel and these privileges let the agent do, one line per feature,
// and what is lost where a feature is missing. Exits 0 when the agent can run, 1 otherwise.
#include <sys/utsname.h>

#include <cstdio>
#include <string>
#include <vector>

#include "agent/features.h"
#include "agent/injector.h"
#include "cli/commands.h"

namespace hodos::cli {

void add_diagnose_command(CLI::App& app) {
  CLI::App* sub =
      app.add_subcommand("diagnose", "Check the kernel features and permissions Hodos needs");
  sub->callback([] {
    utsname host = {};
    uname(&host);
    std::printf("hodos diagnose: Linux %s %s\n", host.release, host.machine);
    agent::FeatureReport report = agent::probe_kernel_features();
    for (const agent::FeatureProbe& f : report.features) {
      if (f.available) {
        std::printf("  ok       %-17s %s\n", f.name.c_str(), f.detail.c_str());
      } else {
        std::printf("  missing  %-17s %s\n  %-26s -> %s%s\n", f.name.c_str(), f.detail.c_str(), "",
                    f.required ? "required: " : "", f.consequence.c_str());
      }
    }
    // Injection stands down when another program uses the socket-map hooks (a socket carries
    // one set); say so here, before an agent starts.
    const std::vector<std::string> sockmap = agent::sockmap_programs_on_host();
    const std::string conflict = agent::sockmap_conflict();
    if (sockmap.empty()) {
      std::printf("  ok       %-17s no other sockops/sk_msg/sk_skb program is loaded\n",
                  "sockmap users");
    } else if (conflict.empty()) {
      std::printf("  ok       %-17s only a stopped Hodos agent's sk_msg/sk_skb programs, kept by "
                  "the connections it enrolled until they close (%zu program(s))\n",
                  "sockmap users", sockmap.size());
    } else {
      std::printf("  in use   %-17s %s\n", "sockmap users", conflict.c_str());
    }
    if (report.agent_can_run()) {
      if (conflict.empty()) {
        std::printf("agent: can run\n");
      } else {
        std::printf("agent: can run, without traceparent injection (see sockmap users)\n");
      }
      return;
    }
    std::printf(
        "agent: cannot run here (a required feature is missing); `hodos up` runs without it\n");
    throw ExitCode{1};
  });
}

}  // namespace hodos::cli
