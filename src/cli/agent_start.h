// Starting the eBPF agent on a pipeline, shared by `hodos up` (agent → store) and `hodos agent`
// (agent → OTLP to a gateway): probe the kernel first and, when the agent cannot run, say why in
// one line instead of failing.
#pragma once

#include <memory>
#include <string>

#include "agent/agent.h"
#include "agent/agent_config.h"
#include "agent/source_registry.h"
#include "pipeline/service.h"

namespace hodos::cli {

struct AgentStart {
  std::unique_ptr<agent::Agent> agent;
  // Between the agent and the pipeline: joins the traces of services calling each other on
  // this host (processors/stitch.h).
  std::unique_ptr<pipeline::Processor> stitch;
  std::string line;  // for the ready lines: what it traces, or why it is off

  // The agent first (it feeds the stitch stage), then the spans the stitch stage holds.
  void shutdown(pipeline::Deadline deadline);
};

// The agent joins the service's `traces` pipeline like a receiver, through a `stitch` stage
// (metrics labelled processor="stitch/agent"). `options` carries the configuration's `agent:`
// section and the source registry's saved choices.
AgentStart start_agent(pipeline::Service& service, agent::AgentOptions options = {});

// AgentOptions from the `agent:` section of a config file and the saved run-time choices.
agent::AgentOptions agent_options(const agent::AgentConfig& config,
                                  agent::SourceOverrides overrides);

}  // namespace hodos::cli
