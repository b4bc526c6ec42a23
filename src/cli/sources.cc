// `hodos sources list|enable|disable|rename`: which processes the agent of a running `hodos up`
// traces, and the run-time choices about them, through its control API (/api/v1/sources).
#include <fmt/format.h>

#include <algorithm>
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
constexpr auto& str = json_string;  // a short name for the many reads below

struct SourcesOptions {
  ApiClientOptions api{"hodos sources", "", ""};
  bool json_output = false;
  std::string name;
  std::string new_name;
};

std::string runtime_text(const json& s) {
  std::string r = str(s, "runtime");
  if (r.empty() || r == "unknown") r = "-";
  if (std::string v = str(s, "runtime_version"); !v.empty() && r != "-") r += " " + v;
  return r;
}

std::string ports_text(const json& s) {
  std::string out;
  const json ports = s.value("ports", json::array());
  for (const json& p : ports) {
    out += (out.empty() ? "" : ",") + std::to_string(p.get<int>());
  }
  return out.empty() ? "-" : out;
}

// Why it is traced (what selected it) or why not; and a rename, when there is one.
std::string why_text(const json& s) {
  std::string why = s.value("traced", false) ? str(s, "selected_by")
                                             : str(s, "why_not") + ": " + str(s, "why_not_detail");
  if (str(s, "service") != str(s, "discovered_service")) {
    why += "; renamed from " + str(s, "discovered_service");
  }
  return why;
}

// The TLS column: whether the process's OpenSSL plaintext is seen (--json has the details).
std::string tls_text(const json& s) {
  if (!s.value("traced", false)) return "";
  const std::string tls = str(s, "tls");
  if (tls.starts_with("plaintext")) return "seen";
  if (tls.starts_with("not seen")) return "not seen";
  if (tls.starts_with("off")) return "off";
  return "-";
}

void run_list(const SourcesOptions& o) {
  ApiAnswer a = api_request(o.api, "GET", "/api/v1/sources");
  expect_json_answer(o.api, a, "listing sources", "sources");
  if (o.json_output) {
    std::printf("%s\n", a.body.dump(2, ' ', false, json::error_handler_t::replace).c_str());
    return;
  }
  const json agent = a.body.value("agent", json::object());
  if (!agent.value("running", false)) {
    std::printf("the agent is not running: %s\n", str(agent, "reason").c_str());
  }
  const json sources = a.body.value("sources", json::array());
  if (sources.empty()) {
    if (agent.value("running", false)) std::printf("no sources: no process listens on TCP\n");
  } else {
    std::vector<std::vector<std::string>> rows = {
        {"SERVICE", "PID", "RUNTIME", "PORTS", "TRACED", "WHY", "TLS", "CONTEXT"}};
    for (const json& s : sources) {
      rows.push_back({str(s, "service"), std::to_string(s.value("pid", 0)), runtime_text(s),
                      ports_text(s), s.value("traced", false) ? "yes" : "no", why_text(s),
                      tls_text(s), str(s, "trace_context")});
    }
    print_table(rows);
    // A Go service whose goroutines cannot be followed: why, where the user can act on it.
    for (const json& s : sources) {
      const std::string go = str(s, "go");
      if (s.value("traced", false) && go.starts_with("not followed")) {
        std::printf("%s (pid %d): Go trace context %s\n", str(s, "service").c_str(),
                    s.value("pid", 0), go.c_str());
      }
    }
  }
  // Saved choices for services that are not running now.
  std::vector<std::string> idle;
  const json saved = a.body.value("saved", json::object());
  for (const auto& [name, choice] : saved.items()) {
    const bool live = std::any_of(sources.begin(), sources.end(), [&](const json& s) {
      return str(s, "discovered_service") == name;
    });
    if (live) continue;
    std::string what;
    if (choice.contains("enabled")) what = choice["enabled"].get<bool>() ? "enabled" : "disabled";
    if (choice.contains("name")) {
      what += (what.empty() ? "" : ", ") + std::string("renamed to ") + str(choice, "name");
    }
    idle.push_back(fmt::format("  {}: {}", name, what));
  }
  if (!idle.empty()) {
    std::printf("\nsaved choices for services not running now:\n");
    for (const std::string& line : idle) std::printf("%s\n", line.c_str());
  }
}

void report_change(const SourcesOptions& o, const ApiAnswer& a, const std::string& done) {
  if (o.json_output) {
    std::printf("%s\n", a.body.dump(2, ' ', false, json::error_handler_t::replace).c_str());
    return;
  }
  const json sources = a.body.value("sources", json::array());
  std::vector<std::string> changed;
  const json changed_json = a.body.value("changed", json::array());
  for (const json& n : changed_json) changed.push_back(n.get<std::string>());
  std::string names;
  for (const std::string& n : changed) names += (names.empty() ? "" : ", ") + n;
  std::printf("%s %s\n", done.c_str(), names.c_str());
  for (const json& s : sources) {
    std::printf("  %s (pid %d): %s\n", str(s, "service").c_str(), s.value("pid", 0),
                s.value("traced", false) ? "traced" : ("not traced, " + why_text(s)).c_str());
  }
  if (std::string m = str(a.body, "message"); !m.empty()) std::printf("  note: %s\n", m.c_str());
}

void run_change(const SourcesOptions& o, const std::string& action) {
  std::string body;
  if (action == "rename") body = json{{"name", o.new_name}}.dump();
  ApiAnswer a =
      api_request(o.api, "POST", "/api/v1/sources/" + url_encode(o.name) + "/" + action, body);
  expect_json_answer(o.api, a, action, "sources");
  const std::string done = action == "enable"    ? "enabled"
                           : action == "disable" ? "disabled"
                                                 : "renamed to " + o.new_name + ":";
  report_change(o, a, done);
}

void add_api_options(CLI::App* cmd, SourcesOptions& o) {
  add_api_client_options(cmd, o.api.api, o.api.token);
  cmd->add_flag("--json", o.json_output, "Print the API's JSON answer");
}

}  // namespace

void add_sources_command(CLI::App& app) {
  auto o = std::make_shared<SourcesOptions>();
  CLI::App* cmd = app.add_subcommand("sources", "List and choose the processes that are traced");
  cmd->require_subcommand(1);

  CLI::App* list = cmd->add_subcommand("list", "Every source: traced or not, and why");
  add_api_options(list, *o);
  list->callback([o] { run_list(*o); });

  CLI::App* enable = cmd->add_subcommand(
      "enable", "Trace a service again (even if excluded or it has its own OpenTelemetry SDK)");
  add_api_options(enable, *o);
  enable->add_option("name", o->name, "Service name (as `hodos sources list` shows it)")
      ->required();
  enable->callback([o] { run_change(*o, "enable"); });

  CLI::App* disable =
      cmd->add_subcommand("disable", "Stop tracing a service, now and after restarts");
  add_api_options(disable, *o);
  disable->add_option("name", o->name, "Service name (as `hodos sources list` shows it)")
      ->required();
  disable->callback([o] { run_change(*o, "disable"); });

  CLI::App* rename = cmd->add_subcommand("rename", "Give a service's spans another service.name");
  add_api_options(rename, *o);
  rename->add_option("name", o->name, "Service name (as `hodos sources list` shows it)")
      ->required();
  rename->add_option("new_name", o->new_name, "The new service name")->required();
  rename->callback([o] { run_change(*o, "rename"); });
}

}  // namespace hodos::cli
