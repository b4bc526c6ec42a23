// hodos: one binary, one subcommand per job (up, agent, collector, ...).
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <string>

#include "cli/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"Hodos: zero-code distributed tracing. eBPF agent, OpenTelemetry pipeline, trace store and UI.",
               "hodos"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("hodos ") + HODOS_VERSION);

  hodos::cli::add_up_command(app);
  hodos::cli::add_agent_command(app);
  hodos::cli::add_sources_command(app);
  hodos::cli::add_destinations_command(app);
  hodos::cli::add_actions_command(app);
  hodos::cli::add_sampling_command(app);
  hodos::cli::add_status_command(app);
  hodos::cli::add_collector_command(app);
  hodos::cli::add_traces_command(app);
  hodos::cli::add_diagnose_command(app);
  hodos::cli::add_install_command(app);
  hodos::cli::add_describe_command(app);
  app.add_subcommand("version", "Print the version")->callback([] {
    std::printf("hodos %s\n", HODOS_VERSION);
  });

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  } catch (const hodos::cli::ExitCode& code) {
    return code.value;
  }
  return 0;
}
