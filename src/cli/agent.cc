// `hodos agent`: the eBPF agent alone, shipping its spans over OTLP/gRPC to a gateway (`hodos
// collector`, `hodos up`, or any OTLP backend). The pipeline is built-in: agent → batch → otlp
// exporter with the exporter helper's queue and retries, so a gateway restart loses nothing
// that fits in the queue. --config reads the `agent:` section (sources, capture); the choices
// `hodos sources` saved (sources.json in --state-dir) apply from the first scan.
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "agent/agent_config.h"
#include "agent/discovery.h"
#include "agent/source_registry.h"
#include "cli/agent_start.h"
#include "cli/commands.h"
#include "cli/run_support.h"
#include "cli/signals.h"
#include "components/register_all.h"
#include "pipeline/config_node.h"
#include "pipeline/registry.h"
#include "pipeline/service.h"

namespace hodos::cli {

namespace {

struct AgentCommandOptions {
  std::string endpoint;
  bool insecure = false;
  std::vector<std::string> headers;  // key=value, e.g. authorization=Bearer ...
  std::string ca_file;               // trust this CA for the gateway's certificate
  std::string cert_file, key_file;   // client certificate, for a gateway that requires mTLS
  std::string token;                 // sent as authorization: Bearer <token>
  std::string metrics = "127.0.0.1:8888";
  std::string log_level = "info";
  double shutdown_timeout_s = 10;
  std::string config_path;
  std::string state_dir = "/var/lib/hodos";
};

[[noreturn]] void fail(int code, const std::string& message) {
  std::fprintf(stderr, "hodos agent: %s\n", message.c_str());
  throw ExitCode{code};
}

YAML::Node builtin_config(const AgentCommandOptions& o) {
  YAML::Node root;
  YAML::Node otlp;
  otlp["endpoint"] = o.endpoint;
  if (o.insecure) otlp["tls"]["insecure"] = true;
  if (!o.ca_file.empty()) otlp["tls"]["ca_file"] = o.ca_file;
  if (!o.cert_file.empty()) otlp["tls"]["cert_file"] = o.cert_file;
  if (!o.key_file.empty()) otlp["tls"]["key_file"] = o.key_file;
  if (!o.token.empty()) otlp["headers"]["authorization"] = "Bearer " + o.token;
  for (const std::string& h : o.headers) {
    auto eq = h.find('=');
    if (eq == std::string::npos || eq == 0) {
      fail(2, "--header " + h + ": expected key=value, e.g. --header authorization=\"Bearer T\"");
    }
    otlp["headers"][h.substr(0, eq)] = h.substr(eq + 1);
  }
  root["exporters"]["otlp"] = otlp;
  root["processors"]["batch"] = YAML::Node(YAML::NodeType::Map);
  YAML::Node pipeline;
  pipeline["processors"].push_back("batch");
  pipeline["exporters"].push_back("otlp");
  root["service"]["pipelines"]["traces"] = pipeline;
  if (o.metrics == "none" || o.metrics.empty()) {
    root["service"]["telemetry"]["metrics"]["level"] = "none";
  } else {
    root["service"]["telemetry"]["metrics"]["address"] = o.metrics;
  }
  return root;
}

// The `agent:` section of --config; the pipeline is built in, so any other section is a mistake.
agent::AgentConfig load_agent_config(const std::string& path) {
  if (path.empty()) return {};
  try {
    const YAML::Node file = pipeline::load_config_file(path);
    if (!file || file.IsNull()) return {};
    if (!file.IsMap()) throw pipeline::ConfigError("", "expected a mapping with an agent: section");
    for (const auto& section : file) {
      const std::string key = section.first.Scalar();
      if (key != "agent") {
        throw pipeline::ConfigError(key, "hodos agent reads only the agent: section (its "
                                         "pipeline is built in: set it with --endpoint and "
                                         "--header)");
      }
    }
    return agent::parse_agent_config(file["agent"]);
  } catch (const pipeline::ConfigError& e) {
    fail(2, fmt::format("config error in {}: {}", path, e.what()));
  }
}

void run_agent(const AgentCommandOptions& o) {
  // Children of hodos (and anything started from its environment) are never traced.
  ::setenv(std::string(agent::kSelfMarkerEnv).c_str(), "1", 1);
  if (auto err = apply_log_level(o.log_level)) fail(2, *err);
  limit_malloc_arenas();
  const agent::AgentConfig agent_config = load_agent_config(o.config_path);
  agent::SourceOverrides saved;
  try {
    saved = agent::SourceRegistry((std::filesystem::path(o.state_dir) / "sources.json").string())
                .overrides();
  } catch (const agent::SourceRegistryError& e) {
    fail(1, e.what());
  }

  pipeline::Registry registry;
  components::register_all(registry);
  pipeline::ServiceOptions service_options;
  service_options.allow_pipelines_without_receivers = true;  // the agent is the source
  std::unique_ptr<pipeline::Service> service;
  try {
    service = pipeline::Service::build(registry, builtin_config(o), spdlog::default_logger(),
                                       service_options);
  } catch (const pipeline::ConfigError& e) {
    fail(2, fmt::format("{} (check --endpoint, --header, --ca-file, --cert-file, --key-file and "
                        "--metrics)",
                        e.what()));
  }

  SignalWaiter signals;  // before any thread starts, so all inherit the blocked signals
  if (pipeline::Status st = service->start(); !st.is_ok()) fail(1, st.message());
  AgentStart agent_start = start_agent(*service, agent_options(agent_config, std::move(saved)));
  if (!agent_start.agent) {
    service->shutdown(std::chrono::steady_clock::now());
    fail(1, "cannot run: " + agent_start.line);
  }
  std::printf("hodos agent: ready\n");
  std::printf("  sending:   OTLP/gRPC to %s\n", o.endpoint.c_str());
  if (auto addr = service->telemetry_address(); !addr.empty()) {
    std::printf("  metrics:   http://%s/metrics\n", addr.c_str());
  }
  std::printf("  agent:     %s\n", agent_start.line.c_str());
  std::fflush(stdout);

  const pipeline::Deadline deadline = wait_for_stop(signals, o.shutdown_timeout_s);
  agent_start.shutdown(deadline);  // it feeds the pipeline, so it stops first
  service->shutdown(deadline);
  std::printf("hodos agent: stopped\n");
  std::fflush(stdout);
}

}  // namespace

void add_agent_command(CLI::App& app) {
  auto o = std::make_shared<AgentCommandOptions>();
  CLI::App* cmd = app.add_subcommand(
      "agent", "Run the eBPF agent alone, sending spans over OTLP/gRPC to a collector");
  cmd->add_option("--endpoint", o->endpoint,
                  "OTLP/gRPC destination: http://host:4317 (plaintext), https://host:4317 or "
                  "host:4317 (TLS)")
      ->required();
  cmd->add_flag("--insecure", o->insecure, "Plaintext even for a bare host:port endpoint");
  cmd->add_option("--header", o->headers, "gRPC metadata key=value sent with every export (repeatable)");
  cmd->add_option("--ca-file", o->ca_file,
                  "PEM CA that signed the gateway's certificate (default: the system's roots)");
  cmd->add_option("--cert-file", o->cert_file,
                  "PEM client certificate, for a gateway that requires one (with --key-file)");
  cmd->add_option("--key-file", o->key_file, "PEM private key of --cert-file");
  cmd->add_option("--token", o->token,
                  "Bearer token the gateway requires (its auth.bearer_token); sent as "
                  "authorization: Bearer <token>")
      ->envname("HODOS_TOKEN");
  cmd->add_option("--metrics", o->metrics, "Address of the agent's own /metrics, or none")
      ->capture_default_str();
  cmd->add_option("--log-level", o->log_level, "trace, debug, info, warn, error, off")
      ->capture_default_str();
  cmd->add_option("--shutdown-timeout", o->shutdown_timeout_s,
                  "Seconds to send what is queued on SIGTERM before giving up")
      ->check(non_negative_seconds())
      ->capture_default_str();
  cmd->add_option("--config", o->config_path,
                  "YAML with an agent: section (which processes are sources, what is captured); "
                  "see docs/configuration.md");
  cmd->add_option("--state-dir", o->state_dir,
                  "Where the saved source choices are read from (sources.json)")
      ->capture_default_str();
  cmd->callback([o] { run_agent(*o); });
}

}  // namespace hodos::cli
