#include "agent/agent_config.h"

#include <fmt/format.h>

#include <stdexcept>
#include <vector>

#include "agent/injector.h"
#include "agent/socket_probe.h"
#include "pipeline/config_node.h"

namespace hodos::agent {

namespace {

using pipeline::ConfigError;
using pipeline::ConfigNode;

SourceMatch parse_rule(ConfigNode& rule) {
  SourceMatch m;
  m.names = rule.get_string_list("names");
  m.executables = rule.get_string_list("executables");
  m.cgroup_prefixes = rule.get_string_list("cgroups");
  for (const std::string& text : rule.get_string_list("ports")) {
    int64_t port = 0;
    if (!YAML::convert<int64_t>::decode(YAML::Node(text), port) || port < 1 || port > 65535) {
      rule.fail("ports", fmt::format("'{}' is not a TCP port; write numbers from 1 to 65535, "
                                     "e.g. ports: [8080, 8443]",
                                     text));
    }
    m.ports.push_back(static_cast<uint16_t>(port));
  }
  for (const std::string& c : m.cgroup_prefixes) {
    if (!c.starts_with("/")) {
      rule.fail("cgroups", fmt::format("'{}' is not a cgroup path; write a prefix of the path in "
                                       "/proc/PID/cgroup, e.g. /system.slice/",
                                       c));
    }
  }
  rule.reject_unknown_keys();
  if (m.names.empty() && m.executables.empty() && m.ports.empty() && m.cgroup_prefixes.empty()) {
    throw ConfigError(rule.path(),
                      "an empty rule would match every process; give at least one "
                      "of names, executables, ports, cgroups");
  }
  return m;
}

std::vector<SourceMatch> parse_rules(ConfigNode& sources, std::string_view key) {
  std::vector<SourceMatch> out;
  for (ConfigNode& rule : sources.child_list(key)) out.push_back(parse_rule(rule));
  return out;
}

}  // namespace

AgentConfig parse_agent_config(const YAML::Node& node, const std::string& path) {
  AgentConfig config;
  ConfigNode agent(node, path);

  ConfigNode sources = agent.child("sources");
  config.rules.listening_processes = sources.get_bool("listening_processes", true);
  config.rules.include = parse_rules(sources, "include");
  config.rules.exclude = parse_rules(sources, "exclude");
  config.rules.trace_processes_with_sdk = sources.get_bool("trace_processes_with_sdk", false);
  sources.reject_unknown_keys();

  ConfigNode capture = agent.child("capture");
  config.capture_bytes = static_cast<uint32_t>(
      capture.get_int("bytes", SocketProbeOptions{}.capture_bytes, 64, HODOS_MAX_CAPTURE_BYTES));
  config.spans.record_query_string = capture.get_bool("query_string", false);
  config.db_literals = capture.get_bool("db_literals", false);
  config.tls = capture.get_bool("tls", true);
  config.goroutines = capture.get_bool("goroutines", true);
  config.event_loops = capture.get_bool("event_loops", true);
  config.uprobe_multi = capture.get_bool("uprobe_multi", true);
  capture.reject_unknown_keys();

  ConfigNode inject = agent.child("inject");
  config.inject.enabled = inject.get_bool("enabled", true);
  config.inject.loopback = inject.get_bool("loopback", true);
  config.inject.private_ranges = inject.get_bool("private_ranges", true);
  config.inject.allow = inject.get_string_list("allow");
  for (const std::string& cidr : config.inject.allow) {
    try {
      check_destination_cidr(cidr);
    } catch (const std::invalid_argument& e) {
      inject.fail("allow", fmt::format("{}; write addresses or CIDRs, e.g. allow: [203.0.113.0/24, "
                                       "2001:db8::/32, 198.51.100.7]",
                                       e.what()));
    }
  }
  inject.reject_unknown_keys();

  agent.reject_unknown_keys();
  if (!config.rules.listening_processes && config.rules.include.empty()) {
    throw ConfigError(path + ".sources.listening_processes",
                      "false with no include rule traces nothing; add include rules or set it "
                      "to true");
  }
  return config;
}

}  // namespace hodos::agent
