// `hodos describe PID|SERVICE`: one process as the agent of a running `hodos up` sees it: its
// runtime, service name, whether and why it is traced, how its traces cross to other services,
// and what the agent's uprobes got from it (its TLS library; for Go, what its binary offered).
// Reads GET /api/v1/sources, as `hodos sources list` does.
#include <fmt/format.h>

#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/api_client.h"
#include "cli/commands.h"

namespace hodos::cli {

namespace {

using nlohmann::json;
constexpr auto& str = json_string;

struct DescribeOptions {
  ApiClientOptions api{"hodos describe", "", ""};
  std::string target;
  bool json_output = false;
};

bool matches(const json& source, const std::string& target) {
  return std::to_string(source.value("pid", 0)) == target || str(source, "service") == target ||
         str(source, "discovered_service") == target;
}

std::string or_dash(std::string text) { return text.empty() ? "-" : text; }

void print_source(const json& s) {
  std::vector<std::pair<std::string, std::string>> rows;
  std::string runtime = str(s, "runtime");
  if (std::string v = str(s, "runtime_version"); !v.empty()) runtime += " " + v;
  std::string ports;
  for (const json& p : s.value("ports", json::array())) {
    ports += (ports.empty() ? "" : ", ") + std::to_string(p.get<int>());
  }
  const bool traced = s.value("traced", false);
  std::string why = traced ? "yes: " + str(s, "selected_by")
                           : "no: " + str(s, "why_not") + " (" + str(s, "why_not_detail") + ")";
  rows.emplace_back("executable", or_dash(str(s, "executable")));
  rows.emplace_back("runtime", or_dash(runtime));
  rows.emplace_back("ports", or_dash(ports));
  rows.emplace_back("traced", why);
  if (str(s, "service") != str(s, "discovered_service")) {
    rows.emplace_back("renamed", "from " + str(s, "discovered_service"));
  }
  if (traced) {
    rows.emplace_back("context", or_dash(str(s, "trace_context")));
    rows.emplace_back("tls", or_dash(str(s, "tls")));
    if (str(s, "runtime") == "go") rows.emplace_back("go", or_dash(str(s, "go")));
  }
  std::printf("%s (pid %d)\n", str(s, "service").c_str(), s.value("pid", 0));
  for (const auto& [key, value] : rows) std::printf("  %-11s %s\n", key.c_str(), value.c_str());
}

void run_describe(const DescribeOptions& o) {
  ApiAnswer a = api_request(o.api, "GET", "/api/v1/sources");
  expect_json_answer(o.api, a, "reading sources", "sources");
  const json agent = a.body.value("agent", json::object());
  if (!agent.value("running", false)) {
    std::fprintf(stderr, "hodos describe: the agent is not running: %s\n",
                 str(agent, "reason").c_str());
    throw ExitCode{1};
  }
  json found = json::array();
  for (const json& s : a.body.value("sources", json::array())) {
    if (matches(s, o.target)) found.push_back(s);
  }
  if (found.empty()) {
    std::fprintf(stderr,
                 "hodos describe: no process %s among the sources (a pid or a service name as "
                 "`hodos sources list` shows it; only processes that listen on TCP, or that a rule "
                 "includes, are sources)\n",
                 o.target.c_str());
    throw ExitCode{1};
  }
  if (o.json_output) {
    std::printf("%s\n", found.dump(2, ' ', false, json::error_handler_t::replace).c_str());
    return;
  }
  for (size_t i = 0; i < found.size(); ++i) {
    if (i > 0) std::printf("\n");
    print_source(found[i]);
  }
}

}  // namespace

void add_describe_command(CLI::App& app) {
  auto o = std::make_shared<DescribeOptions>();
  CLI::App* cmd = app.add_subcommand(
      "describe", "Describe a process: runtime, service name, what Hodos sees of it");
  cmd->add_option("target", o->target, "A pid, or a service name (every process of it)")
      ->required();
  add_api_client_options(cmd, o->api.api, o->api.token);
  cmd->add_flag("--json", o->json_output, "Print the sources' JSON as the API gives it");
  cmd->callback([o] { run_describe(*o); });
}

}  // namespace hodos::cli
