// The `agent:` section of a Hodos YAML config (`hodos up --config`, `hodos agent --config`): which
// processes are sources (rules by service name, executable, port and cgroup; whether processes
// with their own OpenTelemetry SDK are traced too) and what is captured (bytes per syscall, and
// whether the query string may leave the agent) and where trace context is injected. Errors name the key and what to write instead,
// like the pipeline's (pipeline::ConfigError).
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <string>
#include <vector>

#include "agent/discovery.h"
#include "agent/span_builder.h"

namespace hodos::agent {

// `agent.inject`: traceparent injection into the HTTP/1.x requests traced processes send.
struct InjectConfig {
  bool enabled = true;
  bool loopback = true;        // 127.0.0.0/8, ::1
  bool private_ranges = true;  // 10/8, 172.16/12, 192.168/16, 169.254/16, fc00::/7, fe80::/10
  std::vector<std::string> allow;  // more destinations (CIDRs): the internet sees no header else
};

struct AgentConfig {
  SourceRules rules;
  uint32_t capture_bytes = 0;  // 0: the probe's default (4 KiB)
  SpanBuilderOptions spans;
  bool db_literals = false;  // `agent.capture.db_literals`: query text with its literal values
  bool tls = true;           // `agent.capture.tls`: TLS plaintext from uprobes on OpenSSL
  bool goroutines = true;    // `agent.capture.goroutines`: Go trace context from uprobes on Go
  bool event_loops = true;   // `agent.capture.event_loops`: nginx trace context from its uprobes
  bool uprobe_multi = true;  // `agent.capture.uprobe_multi`: uprobes as uprobe_multi links
  InjectConfig inject;
};

// `node` is the value of `agent:` (null or absent: every default); `path` prefixes error keys.
// Throws pipeline::ConfigError.
AgentConfig parse_agent_config(const YAML::Node& node, const std::string& path = "agent");

}  // namespace hodos::agent
