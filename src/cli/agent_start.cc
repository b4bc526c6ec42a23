#include "cli/agent_start.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <exception>

#include "agent/features.h"

namespace hodos::cli {

// It needs privileges and kernel features; without them the caller runs on and says which one is
// missing.
AgentStart start_agent(pipeline::Service& service) {
  const agent::FeatureReport features = agent::probe_kernel_features();
  if (!features.agent_can_run()) {
    for (const agent::FeatureProbe& f : features.features) {
      if (f.required && !f.available) {
        return {nullptr, fmt::format("off: {} missing ({}); {} (see `hodos diagnose`)", f.name,
                                     f.detail, f.consequence)};
      }
    }
  }
  pipeline::TracesConsumer* entry = service.pipeline_entry("traces");
  if (entry == nullptr) return {nullptr, "off: no `traces` pipeline to send spans to"};
  try {
    auto a = agent::Agent::start(agent::AgentOptions{}, *entry, service.metrics(),
                                 spdlog::default_logger());
    const size_t n = a->traced_process_count();
    return {std::move(a), fmt::format("tracing {} process{} (every process listening on TCP; "
                                      "rescanned every 2s)",
                                      n, n == 1 ? "" : "es")};
  } catch (const std::exception& e) {
    std::string why = e.what();
    if (auto nl = why.find('\n'); nl != std::string::npos) why.resize(nl);
    return {nullptr, "off: the kernel refused the agent: " + why};
  }
}

}  // namespace hodos::cli
