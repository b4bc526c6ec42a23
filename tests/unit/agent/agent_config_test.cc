// The `agent:` section of the YAML config: defaults, every key, and errors that name the key and
// say what to write instead (the pipeline config's style).
#include "agent/agent_config.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <string>

#include "pipeline/config_node.h"

namespace hodos::agent {
namespace {

AgentConfig parse(const std::string& yaml) { return parse_agent_config(YAML::Load(yaml)["agent"]); }

// The message of the ConfigError `yaml` raises, or "" when it parses.
std::string error_of(const std::string& yaml) {
  try {
    parse(yaml);
  } catch (const pipeline::ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(AgentConfigTest, AbsentSectionMeansDefaults) {
  AgentConfig c = parse("receivers: {}\n");
  EXPECT_TRUE(c.rules.listening_processes);
  EXPECT_TRUE(c.rules.include.empty());
  EXPECT_TRUE(c.rules.exclude.empty());
  EXPECT_FALSE(c.rules.trace_processes_with_sdk);
  EXPECT_EQ(c.capture_bytes, 4096u);
  EXPECT_FALSE(c.spans.record_query_string);
  EXPECT_FALSE(c.db_literals);
  EXPECT_TRUE(c.tls);
  EXPECT_TRUE(c.goroutines);
  EXPECT_TRUE(c.event_loops);
  EXPECT_TRUE(c.uprobe_multi);
  EXPECT_NO_THROW(parse("agent:\n"));
}

TEST(AgentConfigTest, EveryKey) {
  AgentConfig c = parse(R"(
agent:
  sources:
    listening_processes: false
    include:
      - names: [checkout, "shop-*"]
        ports: [8080, 8443]
      - executables: [/usr/local/bin/worker]
        cgroups: [/system.slice/worker.service]
    exclude:
      - executables: [sshd, postgres]
    trace_processes_with_sdk: true
  capture:
    bytes: 8192
    query_string: true
    db_literals: true
    tls: false
    goroutines: false
    event_loops: false
    uprobe_multi: false
)");
  EXPECT_FALSE(c.rules.listening_processes);
  ASSERT_EQ(c.rules.include.size(), 2u);
  EXPECT_EQ(c.rules.include[0].names, (std::vector<std::string>{"checkout", "shop-*"}));
  EXPECT_EQ(c.rules.include[0].ports, (std::vector<uint16_t>{8080, 8443}));
  EXPECT_EQ(c.rules.include[1].executables, (std::vector<std::string>{"/usr/local/bin/worker"}));
  EXPECT_EQ(c.rules.include[1].cgroup_prefixes,
            (std::vector<std::string>{"/system.slice/worker.service"}));
  ASSERT_EQ(c.rules.exclude.size(), 1u);
  EXPECT_EQ(c.rules.exclude[0].executables, (std::vector<std::string>{"sshd", "postgres"}));
  EXPECT_TRUE(c.rules.trace_processes_with_sdk);
  EXPECT_EQ(c.capture_bytes, 8192u);
  EXPECT_TRUE(c.spans.record_query_string);
  EXPECT_TRUE(c.db_literals);
  EXPECT_FALSE(c.tls);
  EXPECT_FALSE(c.goroutines);
  EXPECT_FALSE(c.event_loops);
  EXPECT_FALSE(c.uprobe_multi);
}

TEST(AgentConfigTest, ErrorsNameTheKeyAndTheFix) {
  EXPECT_EQ(error_of("agent:\n  sauces: {}\n"),
            "agent.sauces: unknown key; valid keys are: capture, inject, sources");
  EXPECT_EQ(error_of("agent:\n  sources:\n    exclude:\n      - name: [x]\n"),
            "agent.sources.exclude[0].name: unknown key; valid keys are: cgroups, executables, "
            "names, ports");
  EXPECT_EQ(error_of("agent:\n  sources:\n    include:\n      - ports: [80, http]\n"),
            "agent.sources.include[0].ports: 'http' is not a TCP port; write numbers from 1 to "
            "65535, e.g. ports: [8080, 8443]");
  EXPECT_EQ(error_of("agent:\n  sources:\n    include:\n      - ports: [70000]\n"),
            "agent.sources.include[0].ports: '70000' is not a TCP port; write numbers from 1 to "
            "65535, e.g. ports: [8080, 8443]");
  EXPECT_EQ(error_of("agent:\n  sources:\n    exclude:\n      - {}\n"),
            "agent.sources.exclude[0]: an empty rule would match every process; give at least "
            "one of names, executables, ports, cgroups");
  EXPECT_EQ(error_of("agent:\n  sources:\n    include:\n      - cgroups: [system.slice]\n"),
            "agent.sources.include[0].cgroups: 'system.slice' is not a cgroup path; write a "
            "prefix of the path in /proc/PID/cgroup, e.g. /system.slice/");
  EXPECT_EQ(error_of("agent:\n  sources:\n    include: checkout\n"),
            "agent.sources.include: expected a list");
  EXPECT_EQ(error_of("agent:\n  sources:\n    listening_processes: maybe\n"),
            "agent.sources.listening_processes: expected true or false, got 'maybe'");
  EXPECT_EQ(error_of("agent:\n  sources:\n    listening_processes: false\n"),
            "agent.sources.listening_processes: false with no include rule traces nothing; add "
            "include rules or set it to true");
  EXPECT_EQ(error_of("agent:\n  capture:\n    bytes: 100000\n"),
            "agent.capture.bytes: 100000 is out of range; use a value from 64 to 16384");
  EXPECT_EQ(error_of("agent:\n  capture:\n    query: true\n"),
            "agent.capture.query: unknown key; valid keys are: bytes, db_literals, event_loops, goroutines, "
            "query_string, tls, uprobe_multi");
  EXPECT_EQ(error_of("agent: [1]\n"), "agent: expected a mapping of settings");
  EXPECT_EQ(error_of("agent:\n  inject:\n    allow: [example.com]\n"),
            "agent.inject.allow: injection allowlist: 'example.com' is not an IPv4 or IPv6 CIDR; "
            "write addresses or CIDRs, e.g. allow: [203.0.113.0/24, 2001:db8::/32, 198.51.100.7]");
  EXPECT_EQ(error_of("agent:\n  inject:\n    allow: [10.0.0.0/33]\n"),
            "agent.inject.allow: injection allowlist: prefix of '10.0.0.0/33' > 32; write "
            "addresses or CIDRs, e.g. allow: [203.0.113.0/24, 2001:db8::/32, 198.51.100.7]");
  EXPECT_EQ(error_of("agent:\n  inject:\n    enable: false\n"),
            "agent.inject.enable: unknown key; valid keys are: allow, enabled, loopback, "
            "private_ranges");
}

TEST(AgentConfigTest, InjectionIsOnForLocalAndPrivateDestinationsByDefault) {
  AgentConfig defaults = parse_agent_config(YAML::Load("{}"));
  EXPECT_TRUE(defaults.inject.enabled);
  EXPECT_TRUE(defaults.inject.loopback);
  EXPECT_TRUE(defaults.inject.private_ranges);
  EXPECT_TRUE(defaults.inject.allow.empty());
  AgentConfig set = parse_agent_config(YAML::Load(
      "inject: {enabled: false, private_ranges: false, allow: [203.0.113.0/24, '2001:db8::1']}"));
  EXPECT_FALSE(set.inject.enabled);
  EXPECT_TRUE(set.inject.loopback);
  EXPECT_FALSE(set.inject.private_ranges);
  EXPECT_EQ(set.inject.allow, (std::vector<std::string>{"203.0.113.0/24", "2001:db8::1"}));
}

}  // namespace
}  // namespace hodos::agent
