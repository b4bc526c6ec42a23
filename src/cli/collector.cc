// `hodos collector`: the pipeline alone (the gateway), configured like an OpenTelemetry Collector.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdio>
#include <string>

#include "cli/commands.h"
#include "cli/run_support.h"
#include "cli/signals.h"
#include "components/register_all.h"
#include "pipeline/config_node.h"
#include "pipeline/service.h"

namespace hodos::cli {

namespace {

struct CollectorOptions {
  std::string config_path;
  double shutdown_timeout_s = 10;
  std::string log_level = "info";
};

std::unique_ptr<pipeline::Service> build_service(const CollectorOptions& opts) {
  pipeline::Registry registry;
  components::register_all(registry);
  auto logger = spdlog::default_logger();
  return pipeline::Service::build(registry, pipeline::load_config_file(opts.config_path), logger);
}

void run_validate(const CollectorOptions& opts) {
  try {
    auto service = build_service(opts);
    std::printf("%s: configuration is valid\n", opts.config_path.c_str());
    for (const auto& line : service->describe()) std::printf("  %s\n", line.c_str());
  } catch (const pipeline::ConfigError& e) {
    std::fprintf(stderr, "config error: %s\n", e.what());
    throw ExitCode{2};
  }
}

void run_collector(const CollectorOptions& opts) {
  spdlog::set_level(spdlog::level::from_str(opts.log_level));
  std::unique_ptr<pipeline::Service> service;
  try {
    service = build_service(opts);
  } catch (const pipeline::ConfigError& e) {
    std::fprintf(stderr, "config error: %s\n", e.what());
    throw ExitCode{2};
  }
  SignalWaiter signals;  // block SIGINT/SIGTERM before threads start, so they inherit the mask
  pipeline::Status st = service->start();
  if (!st.is_ok()) {
    std::fprintf(stderr, "hodos collector: %s\n", st.message().c_str());
    throw ExitCode{1};
  }
  for (const auto& line : service->describe()) spdlog::info("{}", line);
  if (auto addr = service->telemetry_address(); !addr.empty()) {
    spdlog::info("self-metrics at http://{}/metrics", addr);
  }
  spdlog::info("collector ready");
  int sig = signals.wait();
  spdlog::info("received {}, draining (up to {}s)", sig == SIGINT ? "SIGINT" : "SIGTERM",
               opts.shutdown_timeout_s);
  auto deadline = std::chrono::steady_clock::now() +
                  std::chrono::milliseconds(static_cast<int64_t>(opts.shutdown_timeout_s * 1000));
  service->shutdown(deadline);
  spdlog::info("stopped");
}

}  // namespace

void add_collector_command(CLI::App& app) {
  auto opts = std::make_shared<CollectorOptions>();
  CLI::App* cmd = app.add_subcommand(
      "collector", "Run the pipeline alone (gateway), with an OpenTelemetry-Collector-shaped config");
  cmd->add_option("-c,--config", opts->config_path, "YAML config file (required)");
  cmd->add_option("--shutdown-timeout", opts->shutdown_timeout_s,
                  "Seconds to drain queues on SIGTERM before giving up")
      ->check(non_negative_seconds())
      ->capture_default_str();
  cmd->add_option("--log-level", opts->log_level, "trace, debug, info, warn, error, off")
      ->capture_default_str();
  CLI::App* validate = cmd->add_subcommand("validate", "Check a config and exit (2 when invalid)");
  validate->add_option("-c,--config", opts->config_path, "YAML config file");
  validate->callback([opts] {
    if (opts->config_path.empty()) {
      std::fprintf(stderr, "hodos collector validate: --config is required\n");
      throw ExitCode{2};
    }
    run_validate(*opts);
  });
  cmd->callback([opts, validate] {
    if (validate->parsed()) return;
    if (opts->config_path.empty()) {
      std::fprintf(stderr, "hodos collector: --config FILE is required\n");
      throw ExitCode{2};
    }
    run_collector(*opts);
  });
}

}  // namespace hodos::cli
