#include "cli/agent_start.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <exception>

#include <yaml-cpp/yaml.h>

#include "agent/features.h"
#include "pipeline/config_node.h"
#include "processors/stitch.h"

namespace hodos::cli {

// It needs privileges and kernel features; without them the caller runs on and says which one is
// missing.
namespace {

// For the ready line: what makes a process a source under these rules.
std::string rules_summary(const agent::SourceRules& rules) {
  std::string out = rules.listening_processes
                        ? "every process listening on TCP or serving a traced one on a Unix socket"
                        : "";
  auto add = [&](size_t n, const char* what) {
    if (n == 0) return;
    out += fmt::format("{}{} {} rule{}", out.empty() ? "" : ", ", n, what, n == 1 ? "" : "s");
  };
  add(rules.include.size(), "include");
  add(rules.exclude.size(), "exclude");
  return out;
}

}  // namespace

agent::AgentOptions agent_options(const agent::AgentConfig& config,
                                  agent::SourceOverrides overrides) {
  agent::AgentOptions options;
  options.rules = config.rules;
  if (config.capture_bytes != 0) options.probe.capture_bytes = config.capture_bytes;
  options.spans = config.spans;
  options.tracker.db.keep_literals = config.db_literals;
  options.tls = config.tls;
  options.goroutines = config.goroutines;
  options.event_loops = config.event_loops;
  options.probe.uprobe_multi = config.uprobe_multi;
  options.inject = config.inject.enabled;
  options.injector.loopback = config.inject.loopback;
  options.injector.private_ranges = config.inject.private_ranges;
  options.injector.allow = config.inject.allow;
  options.discovery.overrides = std::move(overrides);
  return options;
}

AgentStart start_agent(pipeline::Service& service, agent::AgentOptions options) {
  const agent::FeatureReport features = agent::probe_kernel_features();
  if (!features.agent_can_run()) {
    for (const agent::FeatureProbe& f : features.features) {
      if (f.required && !f.available) {
        return {nullptr, nullptr,
                fmt::format("off: {} missing ({}); {} (see `hodos diagnose`)", f.name, f.detail,
                            f.consequence)};
      }
    }
  }
  pipeline::TracesConsumer* entry = service.pipeline_entry("traces");
  if (entry == nullptr) return {nullptr, nullptr, "off: no `traces` pipeline to send spans to"};
  AgentStart started;
  // On one host a caller's span arrives within the agent's batch delay of its callee's, so the
  // stage waits 1 s, not the processor's default 2 s: held spans are the agent's largest memory
  // cost under load (throughput x wait). Calls longer than about 0.7 s are not joined this way.
  YAML::Node stitch_yaml;
  stitch_yaml["wait"] = "1s";
  stitch_yaml["max_spans"] = 100000;
  // The agent tells which server spans no traced local client can have called (processors/
  // stitcher.h): their traces leave at once instead of after the wait.
  stitch_yaml["release_settled"] = true;
  pipeline::ConfigNode stitch_config(stitch_yaml, "agent.stitch");
  started.stitch = processors::make_stitch_processor_factory()->create(
      {pipeline::ComponentId{"stitch", "agent"}, service.metrics(), spdlog::default_logger()},
      stitch_config, *entry);
  if (pipeline::Status st = started.stitch->start(); !st.is_ok()) {
    return {nullptr, nullptr, "off: the stitch stage did not start: " + st.message()};
  }
  try {
    const std::string rules = rules_summary(options.rules);
    const std::chrono::milliseconds rescan = options.rescan_interval;
    started.agent = agent::Agent::start(std::move(options), *started.stitch, service.metrics(),
                                        spdlog::default_logger());
    const size_t n = started.agent->traced_process_count();
    started.line = fmt::format(
        "tracing {} process{} ({}; new ones from their first listen, all rescanned every {}s); "
        "traceparent injection {}",
        n, n == 1 ? "" : "es", rules,
        std::chrono::duration_cast<std::chrono::seconds>(rescan).count(),
        started.agent->injection().detail);
    return started;
  } catch (const std::exception& e) {
    started.stitch->shutdown(std::chrono::steady_clock::now());
    std::string why = e.what();
    if (auto nl = why.find('\n'); nl != std::string::npos) why.resize(nl);
    return {nullptr, nullptr, "off: the kernel refused the agent: " + why};
  }
}

void AgentStart::shutdown(pipeline::Deadline deadline) {
  if (agent) agent->shutdown(deadline);
  if (stitch) stitch->shutdown(deadline);
}

}  // namespace hodos::cli
