#include "cli/run_support.h"

#include <malloc.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <csignal>
#include <cstdint>

namespace hodos::cli {

std::optional<std::string> apply_log_level(const std::string& level) {
  auto parsed = spdlog::level::from_str(level);
  // from_str answers "off" for anything it does not know.
  if (parsed == spdlog::level::off && level != "off") {
    return "--log-level " + level + ": use trace, debug, info, warn, error or off";
  }
  spdlog::set_level(parsed);
  return std::nullopt;
}

void limit_malloc_arenas() { ::mallopt(M_ARENA_MAX, 2); }

pipeline::Deadline wait_for_stop(SignalWaiter& signals, double shutdown_timeout_s) {
  int sig = signals.wait();
  spdlog::info("received {}, stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
  return std::chrono::steady_clock::now() +
         std::chrono::milliseconds(static_cast<int64_t>(shutdown_timeout_s * 1000));
}

CLI::Validator non_negative_seconds() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        double seconds = -1;
        try {
          seconds = std::stod(value);
        } catch (const std::exception&) {
        }
        return seconds >= 0 ? "" : "'" + value + "' is not a number of seconds (0 or more)";
      },
      "SECONDS");
}

}  // namespace hodos::cli
