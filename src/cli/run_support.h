// What the long-running commands (`hodos up`, `hodos agent`) do alike around their own work:
// set the log level from --log-level, cap malloc arenas, and wait for SIGINT/SIGTERM to compute the drain deadline.
#pragma once

#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "cli/signals.h"
#include "pipeline/component.h"

namespace hodos::cli {

// Sets spdlog's level; returns the message for the user when `level` is not one we know.
std::optional<std::string> apply_log_level(const std::string& level);

// Caps glibc's malloc arenas at two before the service's threads start: with an arena per busy
// thread (exporter workers, the agent, the API) the agent's anonymous memory under load measured
// 94 MiB against 65 MiB with two. `hodos collector`, whose receiver threads all allocate hard,
// keeps glibc's default.
void limit_malloc_arenas();

// Blocks until SIGINT or SIGTERM, logs which, and returns now + `shutdown_timeout_s`.
pipeline::Deadline wait_for_stop(SignalWaiter& signals, double shutdown_timeout_s);

// --shutdown-timeout's check: a number of seconds, 0 or more.
CLI::Validator non_negative_seconds();

}  // namespace hodos::cli
