#include <cstdio>
#include <string>
#include <vector>

#include "cli/commands.h"

namespace hodos::cli {

void add_pending_commands(CLI::App& app) {
  struct Pending {
    const char* name;
    const char* description;
  };
  static const std::vector<Pending> kPending = {
      {"describe", "Describe a process: runtime, service name, what Hodos sees"},
  };
  for (const Pending& p : kPending) {
    CLI::App* sub = app.add_subcommand(p.name, p.description);
    sub->allow_extras();
    std::string name = p.name;
    sub->callback([name] {
      std::fprintf(stderr, "hodos %s: not yet available in this version\n", name.c_str());
      throw ExitCode{1};
    });
  }
}

}  // namespace hodos::cli
