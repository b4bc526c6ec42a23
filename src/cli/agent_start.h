// Starting the eBPF agent on a pipeline, shared by `hodos up` (agent → store) and `hodos agent`
// (agent → OTLP to a gateway): probe the kernel first and, when the agent cannot run, say why in
// one line instead of failing.
#pragma once

#include <memory>
#include <string>

#include "agent/agent.h"
#include "pipeline/service.h"

namespace hodos::cli {

struct AgentStart {
  std::unique_ptr<agent::Agent> agent;
  std::string line;  // for the ready lines: what it traces, or why it is off
};

// The agent joins the service's `traces` pipeline like a receiver.
AgentStart start_agent(pipeline::Service& service);

}  // namespace hodos::cli
