// Subcommand registration; each command lives in its own file.
#pragma once

#include <CLI/CLI.hpp>

namespace hodos::cli {

// Thrown by a command callback to leave main() with a given exit code (2 = bad usage/config).
struct ExitCode {
  int value;
};

void add_collector_command(CLI::App& app);
void add_up_command(CLI::App& app);
void add_traces_command(CLI::App& app);
void add_diagnose_command(CLI::App& app);
void add_agent_command(CLI::App& app);
void add_sources_command(CLI::App& app);
void add_destinations_command(CLI::App& app);
void add_actions_command(CLI::App& app);
void add_sampling_command(CLI::App& app);
void add_status_command(CLI::App& app);
void add_install_command(CLI::App& app);
void add_describe_command(CLI::App& app);

}  // namespace hodos::cli
