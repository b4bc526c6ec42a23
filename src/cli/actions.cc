// `hodos actions list|types|add|edit|remove|enable|disable|preview` and `hodos sampling
// list|add|edit|remove|enable|disable|settings`: what a running `hodos up` does to spans before
// it stores and sends them, through its control API (/api/v1/actions, /api/v1/sampling).
// `actions types` needs no running hodos.
#include "processors/actions.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "cli/api_client.h"
#include "cli/commands.h"
#include "processors/sampling_rules.h"

namespace hodos::cli {

namespace {

using nlohmann::json;
constexpr auto& str = json_string;

// The options of both commands; each subcommand reads the ones it declares.
struct RuleOptions {
  ApiClientOptions api;
  bool json_output = false;
  std::string name;
  std::string type;
  std::string config;       // JSON text
  std::string config_file;  // a file holding it
  std::optional<std::string> description;
  bool disabled = false;
  bool enabled = false;
  int64_t limit = 200;
  std::string lookback = "1h";
  std::string decision_wait;
  int64_t num_traces = 0;
};

[[noreturn]] void fail(const RuleOptions& o, int code, const std::string& message) {
  std::fprintf(stderr, "%s: %s\n", o.api.command.c_str(), message.c_str());
  throw ExitCode{code};
}

// --config or --config-file as a JSON object; nullopt when neither is given.
std::optional<json> config_of(const RuleOptions& o) {
  if (!o.config.empty() && !o.config_file.empty()) {
    fail(o, 2, "give --config or --config-file, not both");
  }
  std::string text = o.config;
  std::string where = "--config";
  if (!o.config_file.empty()) {
    std::ifstream in(o.config_file, std::ios::binary);
    if (!in) fail(o, 2, fmt::format("--config-file {}: cannot read it", o.config_file));
    std::stringstream s;
    s << in.rdbuf();
    text = s.str();
    where = "--config-file " + o.config_file;
  }
  if (text.empty()) return std::nullopt;
  json config = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (config.is_discarded() || !config.is_object()) {
    fail(o, 2,
         fmt::format("{}: expected a JSON object, e.g. '{{\"allow_all_keys\": true}}'", where));
  }
  return config;
}

// The body of an add: name, type, config and the optional fields.
json new_object(const RuleOptions& o) {
  std::optional<json> config = config_of(o);
  json body = {{"name", o.name}, {"type", o.type}, {"config", config.value_or(json::object())}};
  if (o.description) body["description"] = *o.description;
  if (o.disabled) body["enabled"] = false;
  return body;
}

// `current` with the flags given on the command line applied (an edit).
json edited(const RuleOptions& o, json current) {
  current.erase("status");
  if (!o.type.empty()) current["type"] = o.type;
  if (std::optional<json> config = config_of(o)) current["config"] = *config;
  if (o.description) current["description"] = *o.description;
  if (o.disabled && o.enabled) fail(o, 2, "give --enabled or --disabled, not both");
  if (o.disabled) current["enabled"] = false;
  if (o.enabled) current["enabled"] = true;
  return current;
}

void add_api_options(CLI::App* cmd, RuleOptions& o) {
  add_api_client_options(cmd, o.api.api, o.api.token);
  cmd->add_flag("--json", o.json_output, "Print the API's JSON answer");
}

void add_object_options(CLI::App* cmd, RuleOptions& o, bool adding) {
  cmd->add_option("name", o.name, "Its name (a-z, 0-9, '-', '_')")->required();
  CLI::Option* type = cmd->add_option("--type", o.type, "Its type");
  if (adding) type->required();
  cmd->add_option("--config", o.config, "Its config as a JSON object");
  cmd->add_option("--config-file", o.config_file, "A file holding the config (JSON)");
  cmd->add_option("--description", o.description, "A line saying what it is for");
  cmd->add_flag("--disabled", o.disabled, adding ? "Add it switched off" : "Switch it off");
  if (!adding) cmd->add_flag("--enabled", o.enabled, "Switch it on");
}

// ---- actions ----------------------------------------------------------------------------------

constexpr std::string_view kActions = "/api/v1/actions";

json find_action(const RuleOptions& o) {
  ApiAnswer a = api_request(o.api, "GET", std::string(kActions));
  expect_json_answer(o.api, a, "listing actions", "actions");
  for (const json& item : a.body.value("actions", json::array())) {
    if (str(item, "name") == o.name) return item;
  }
  fail(o, 1, fmt::format("no action named '{}' (see `hodos actions list`)", o.name));
}

void print_action_line(const char* verb, const json& action) {
  std::printf("%s %s (%s, %s)\n", verb, str(action, "name").c_str(), str(action, "type").c_str(),
              action.value("enabled", true) ? "enabled: applied to new spans now" : "disabled");
}

void run_actions_list(const RuleOptions& o) {
  ApiAnswer a = api_request(o.api, "GET", std::string(kActions));
  expect_json_answer(o.api, a, "listing actions", "actions");
  if (o.json_output) return print_json(a.body);
  const json list = a.body.value("actions", json::array());
  if (list.empty()) {
    std::printf(
        "no actions: spans are stored and sent as they arrive (add one with `hodos "
        "actions add NAME --type TYPE --config JSON`; types: `hodos actions types`)\n");
    return;
  }
  std::vector<std::vector<std::string>> rows = {
      {"NAME", "TYPE", "ENABLED", "SPANS IN", "OUT", "DROPPED", "DESCRIPTION"}};
  for (const json& item : list) {
    const json status = item.value("status", json::object());
    rows.push_back({str(item, "name"), str(item, "type"),
                    item.value("enabled", true) ? "yes" : "no",
                    std::to_string(status.value("spans_in", 0ULL)),
                    std::to_string(status.value("spans_out", 0ULL)),
                    std::to_string(status.value("spans_dropped", 0ULL)), str(item, "description")});
  }
  print_table(rows);
}

void run_actions_types(const RuleOptions& o) {
  if (o.json_output) {
    json types = json::array();
    for (const processors::RuleType& t : processors::action_types()) {
      types.push_back(
          {{"type", t.type}, {"title", t.title}, {"help", t.help}, {"example", t.example}});
    }
    return print_json(json{{"types", types}});
  }
  for (const processors::RuleType& t : processors::action_types()) {
    std::printf("%s: %s\n  %s\n  e.g. --config '%s'\n", t.type.c_str(), t.title.c_str(),
                t.help.c_str(), t.example.dump().c_str());
  }
  std::printf("\nEach config is the processor's own, as docs/configuration.md documents it.\n");
}

void run_actions_add(const RuleOptions& o) {
  ApiAnswer a = api_request(o.api, "POST", std::string(kActions), new_object(o).dump());
  expect_json_answer(o.api, a, "adding " + o.name, "actions");
  if (o.json_output) return print_json(a.body);
  print_action_line("added", a.body.value("action", json::object()));
}

void run_actions_edit(const RuleOptions& o) {
  const json body = edited(o, find_action(o));
  ApiAnswer a =
      api_request(o.api, "PUT", std::string(kActions) + "/" + url_encode(o.name), body.dump());
  expect_json_answer(o.api, a, "editing " + o.name, "actions");
  if (o.json_output) return print_json(a.body);
  print_action_line("changed", a.body.value("action", json::object()));
}

void run_actions_remove(const RuleOptions& o) {
  ApiAnswer a = api_request(o.api, "DELETE", std::string(kActions) + "/" + url_encode(o.name));
  expect_json_answer(o.api, a, "removing " + o.name, "actions");
  if (o.json_output) return print_json(a.body);
  std::printf("removed %s: new spans no longer go through it\n", o.name.c_str());
}

void run_actions_enable(const RuleOptions& o, bool enable) {
  ApiAnswer a = api_request(
      o.api, "POST",
      fmt::format("{}/{}/{}", kActions, url_encode(o.name), enable ? "enable" : "disable"));
  expect_json_answer(o.api, a, (enable ? "enabling " : "disabling ") + o.name, "actions");
  if (o.json_output) return print_json(a.body);
  print_action_line(enable ? "enabled" : "disabled", a.body.value("action", json::object()));
}

void run_actions_preview(const RuleOptions& o) {
  json action;
  if (!o.type.empty()) {
    std::optional<json> config = config_of(o);
    action = {{"type", o.type}, {"config", config.value_or(json::object())}};
    if (!o.name.empty()) action["name"] = o.name;
  } else if (!o.name.empty()) {
    action = find_action(o);
    action.erase("status");
  } else {
    fail(o, 2, "preview: give a saved action's name, or --type and --config to try one");
  }
  const json body = {{"action", action}, {"limit", o.limit}, {"lookback", o.lookback}};
  ApiAnswer a = api_request(o.api, "POST", std::string(kActions) + "/preview", body.dump());
  expect_json_answer(o.api, a, "previewing", "actions");
  if (o.json_output) return print_json(a.body);
  std::printf("of the %llu most recent stored spans: %llu would change, %llu would be dropped\n",
              a.body.value("examined", 0ULL), a.body.value("changed", 0ULL),
              a.body.value("dropped", 0ULL));
  for (const json& e : a.body.value("examples", json::array())) {
    const json before = e.value("before", json::object());
    std::printf("\n%s  %s  (trace %s, span %s)\n", str(e, "service").c_str(),
                str(before, "name").c_str(), str(e, "trace_id").c_str(), str(e, "span_id").c_str());
    for (const json& c : e.value("changes", json::array())) {
      std::printf("  %s\n", c.is_string() ? c.get<std::string>().c_str() : c.dump().c_str());
    }
  }
}

// ---- sampling ---------------------------------------------------------------------------------

constexpr std::string_view kSampling = "/api/v1/sampling";

json find_rule(const RuleOptions& o) {
  ApiAnswer a = api_request(o.api, "GET", std::string(kSampling));
  expect_json_answer(o.api, a, "listing sampling rules", "sampling");
  for (const json& item : a.body.value("rules", json::array())) {
    if (str(item, "name") == o.name) return item;
  }
  fail(o, 1, fmt::format("no sampling rule named '{}' (see `hodos sampling list`)", o.name));
}

void print_rule_line(const char* verb, const json& rule) {
  std::printf("%s %s (%s, %s)\n", verb, str(rule, "name").c_str(), str(rule, "type").c_str(),
              rule.value("enabled", true) ? "enabled: applied to new traces now" : "disabled");
}

void run_sampling_list(const RuleOptions& o) {
  ApiAnswer a = api_request(o.api, "GET", std::string(kSampling));
  expect_json_answer(o.api, a, "listing sampling rules", "sampling");
  if (o.json_output) return print_json(a.body);
  const json settings = a.body.value("settings", json::object());
  const json counts = a.body.value("counts", json::object());
  const json rules = a.body.value("rules", json::array());
  const bool any_enabled = std::any_of(rules.begin(), rules.end(),
                                       [](const json& r) { return r.value("enabled", true); });
  std::printf("settings: decision_wait %s, num_traces %lld\n",
              str(settings, "decision_wait").c_str(),
              static_cast<long long>(settings.value("num_traces", 0LL)));
  std::printf("traces: %llu kept, %llu dropped\n", counts.value("traces_sampled", 0ULL),
              counts.value("traces_not_sampled", 0ULL));
  if (rules.empty()) {
    std::printf(
        "no sampling rules: every trace is kept (add one with `hodos sampling add NAME "
        "--type TYPE --config JSON`)\n");
    return;
  }
  if (!any_enabled) std::printf("no rule is enabled: every trace is kept\n");
  std::vector<std::vector<std::string>> rows = {{"NAME", "TYPE", "ENABLED", "CONFIG"}};
  for (const json& r : rules) {
    rows.push_back({str(r, "name"), str(r, "type"), r.value("enabled", true) ? "yes" : "no",
                    r.value("config", json::object()).dump()});
  }
  print_table(rows);
}

void run_sampling_add(const RuleOptions& o) {
  ApiAnswer a = api_request(o.api, "POST", std::string(kSampling), new_object(o).dump());
  expect_json_answer(o.api, a, "adding " + o.name, "sampling");
  if (o.json_output) return print_json(a.body);
  print_rule_line("added", a.body.value("rule", json::object()));
}

void run_sampling_edit(const RuleOptions& o) {
  const json body = edited(o, find_rule(o));
  ApiAnswer a =
      api_request(o.api, "PUT", std::string(kSampling) + "/" + url_encode(o.name), body.dump());
  expect_json_answer(o.api, a, "editing " + o.name, "sampling");
  if (o.json_output) return print_json(a.body);
  print_rule_line("changed", a.body.value("rule", json::object()));
}

void run_sampling_remove(const RuleOptions& o) {
  ApiAnswer a = api_request(o.api, "DELETE", std::string(kSampling) + "/" + url_encode(o.name));
  expect_json_answer(o.api, a, "removing " + o.name, "sampling");
  if (o.json_output) return print_json(a.body);
  std::printf("removed %s\n", o.name.c_str());
}

void run_sampling_enable(const RuleOptions& o, bool enable) {
  ApiAnswer a = api_request(
      o.api, "POST",
      fmt::format("{}/{}/{}", kSampling, url_encode(o.name), enable ? "enable" : "disable"));
  expect_json_answer(o.api, a, (enable ? "enabling " : "disabling ") + o.name, "sampling");
  if (o.json_output) return print_json(a.body);
  print_rule_line(enable ? "enabled" : "disabled", a.body.value("rule", json::object()));
}

void run_sampling_settings(const RuleOptions& o) {
  json body = json::object();
  if (!o.decision_wait.empty()) body["decision_wait"] = o.decision_wait;
  if (o.num_traces != 0) body["num_traces"] = o.num_traces;
  ApiAnswer a;
  if (body.empty()) {
    a = api_request(o.api, "GET", std::string(kSampling));
  } else {
    a = api_request(o.api, "PUT", std::string(kSampling) + "/settings", body.dump());
  }
  expect_json_answer(o.api, a, "sampling settings", "sampling");
  if (o.json_output) return print_json(body.empty() ? a.body["settings"] : a.body);
  const json s = a.body.value("settings", json::object());
  std::printf("decision_wait %s, num_traces %lld\n", str(s, "decision_wait").c_str(),
              static_cast<long long>(s.value("num_traces", 0LL)));
}

}  // namespace

void add_actions_command(CLI::App& app) {
  auto o = std::make_shared<RuleOptions>();
  o->api.command = "hodos actions";
  CLI::App* cmd = app.add_subcommand(
      "actions", "List, add, edit and remove what hodos up does to spans before storing them");
  cmd->require_subcommand(1);

  CLI::App* list = cmd->add_subcommand("list", "Every action, in order, with its span counts");
  add_api_options(list, *o);
  list->callback([o] { run_actions_list(*o); });

  CLI::App* types = cmd->add_subcommand("types", "The types of action and an example config each");
  types->add_flag("--json", o->json_output, "Print JSON");
  types->callback([o] { run_actions_types(*o); });

  CLI::App* add = cmd->add_subcommand("add", "Add an action at the end (kept across restarts)");
  add_api_options(add, *o);
  add_object_options(add, *o, /*adding=*/true);
  add->callback([o] { run_actions_add(*o); });

  CLI::App* edit = cmd->add_subcommand("edit", "Change an action (the flags given replace)");
  add_api_options(edit, *o);
  add_object_options(edit, *o, /*adding=*/false);
  edit->callback([o] { run_actions_edit(*o); });

  CLI::App* remove = cmd->add_subcommand("remove", "Remove an action");
  add_api_options(remove, *o);
  remove->add_option("name", o->name, "Its name")->required();
  remove->callback([o] { run_actions_remove(*o); });

  for (bool enable : {true, false}) {
    CLI::App* sub = cmd->add_subcommand(enable ? "enable" : "disable",
                                        enable ? "Switch an action on" : "Switch an action off");
    add_api_options(sub, *o);
    sub->add_option("name", o->name, "Its name")->required();
    sub->callback([o, enable] { run_actions_enable(*o, enable); });
  }

  CLI::App* preview = cmd->add_subcommand(
      "preview", "Show what an action would do to the most recent stored spans (nothing changes)");
  add_api_options(preview, *o);
  preview->add_option("name", o->name, "A saved action's name (or --type and --config)");
  preview->add_option("--type", o->type, "Try an unsaved action of this type");
  preview->add_option("--config", o->config, "Its config as a JSON object");
  preview->add_option("--config-file", o->config_file, "A file holding the config (JSON)");
  preview->add_option("--limit", o->limit, "Spans to look at (at most 1000)")
      ->capture_default_str();
  preview->add_option("--lookback", o->lookback, "How far back (e.g. 15m, 1h)")
      ->capture_default_str();
  preview->callback([o] { run_actions_preview(*o); });
}

void add_sampling_command(CLI::App& app) {
  auto o = std::make_shared<RuleOptions>();
  o->api.command = "hodos sampling";
  CLI::App* cmd = app.add_subcommand(
      "sampling",
      "List, add, edit and remove the rules that choose which whole traces hodos up "
      "keeps");
  cmd->require_subcommand(1);

  CLI::App* list = cmd->add_subcommand("list", "Settings, rules and how many traces were kept");
  add_api_options(list, *o);
  list->callback([o] { run_sampling_list(*o); });

  CLI::App* add = cmd->add_subcommand(
      "add", "Add a rule (a trace is kept when any enabled rule keeps it; kept across restarts)");
  add_api_options(add, *o);
  add_object_options(add, *o, /*adding=*/true);
  add->callback([o] { run_sampling_add(*o); });

  CLI::App* edit = cmd->add_subcommand("edit", "Change a rule (the flags given replace)");
  add_api_options(edit, *o);
  add_object_options(edit, *o, /*adding=*/false);
  edit->callback([o] { run_sampling_edit(*o); });

  CLI::App* remove = cmd->add_subcommand("remove", "Remove a rule");
  add_api_options(remove, *o);
  remove->add_option("name", o->name, "Its name")->required();
  remove->callback([o] { run_sampling_remove(*o); });

  for (bool enable : {true, false}) {
    CLI::App* sub = cmd->add_subcommand(enable ? "enable" : "disable",
                                        enable ? "Switch a rule on" : "Switch a rule off");
    add_api_options(sub, *o);
    sub->add_option("name", o->name, "Its name")->required();
    sub->callback([o, enable] { run_sampling_enable(*o, enable); });
  }

  CLI::App* settings = cmd->add_subcommand(
      "settings", "Show or change how long traces are held (decision_wait) and how many");
  add_api_options(settings, *o);
  settings->add_option("--decision-wait", o->decision_wait,
                       "Hold each trace this long before deciding (e.g. 10s)");
  settings->add_option("--num-traces", o->num_traces, "Hold at most this many traces");
  settings->callback([o] { run_sampling_settings(*o); });
}

}  // namespace hodos::cli
