// `hodos destinations kinds|list|add|remove|test`: where a running `hodos up` sends spans besides
// its own store, through its control API (/api/v1/destinations). `kinds` needs no running hodos.
#include "exporters/destinations.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/api_client.h"
#include "cli/commands.h"
#include "cli/destinations_control.h"

namespace hodos::cli {

namespace {

using nlohmann::json;
constexpr auto& str = json_string;  // a short name for the many reads below

struct DestinationsOptions {
  ApiClientOptions api{"hodos destinations", "", ""};
  bool json_output = false;
  std::string kind;
  std::string name;
  std::vector<std::string> fields;  // k=v
};

[[noreturn]] void fail(int code, const std::string& message) {
  std::fprintf(stderr, "hodos destinations: %s\n", message.c_str());
  throw ExitCode{code};
}

json fields_json(const std::vector<std::string>& fields) {
  json out = json::object();
  for (const std::string& f : fields) {
    const size_t eq = f.find('=');
    if (eq == std::string::npos || eq == 0) {
      fail(2, fmt::format("--field {}: expected name=value, e.g. --field api_key=...", f));
    }
    out[f.substr(0, eq)] = f.substr(eq + 1);
  }
  return out;
}

void run_kinds(const DestinationsOptions& o) {
  if (o.json_output) {
    print_json(destination_kinds_json());
    return;
  }
  for (const exporters::DestinationKind& k : exporters::destination_kinds()) {
    std::printf("%s: %s\n  sends to: %s (%s)\n  auth:     %s\n", k.name.c_str(), k.title.c_str(),
                k.endpoint_template.c_str(), k.exporter.c_str(), k.auth.c_str());
    for (const exporters::DestinationField& f : k.fields) {
      std::string notes;
      if (f.required) notes += "required";
      if (f.secret) notes += std::string(notes.empty() ? "" : ", ") + "secret";
      if (!f.default_value.empty()) {
        notes += std::string(notes.empty() ? "" : ", ") + "e.g. " + f.default_value;
      }
      std::printf("    --field %s=...  %s%s\n", f.name.c_str(), f.help.c_str(),
                  notes.empty() ? "" : (" (" + notes + ")").c_str());
    }
  }
}

void run_list(const DestinationsOptions& o) {
  ApiAnswer a = api_request(o.api, "GET", "/api/v1/destinations");
  expect_json_answer(o.api, a, "listing destinations", "destinations");
  if (o.json_output) {
    print_json(a.body);
    return;
  }
  const json list = a.body.value("destinations", json::array());
  if (list.empty()) {
    std::printf(
        "no destinations: spans go to hodos up's own store only (add one with "
        "`hodos destinations add KIND --name NAME --field k=v`; kinds: `hodos "
        "destinations kinds`)\n");
    return;
  }
  std::vector<std::vector<std::string>> rows = {
      {"NAME", "KIND", "ENDPOINT", "HEALTH", "SENT", "FAILED", "DROPPED", "QUEUED"}};
  std::vector<std::string> errors;
  for (const json& d : list) {
    rows.push_back({str(d, "name"), str(d, "kind"), str(d, "endpoint"), str(d, "health"),
                    std::to_string(d.value("sent", 0ULL)), std::to_string(d.value("failed", 0ULL)),
                    std::to_string(d.value("dropped", 0ULL)),
                    std::to_string(d.value("queued", 0ULL))});
    if (std::string e = str(d, "last_error"); !e.empty()) {
      errors.push_back(fmt::format("  {}: {}", str(d, "name"), e));
    }
  }
  print_table(rows);
  if (!errors.empty()) {
    std::printf("\nlast errors:\n");
    for (const std::string& e : errors) std::printf("%s\n", e.c_str());
  }
}

void run_add(const DestinationsOptions& o) {
  const json body = {{"name", o.name}, {"kind", o.kind}, {"fields", fields_json(o.fields)}};
  ApiAnswer a = api_request(o.api, "POST", "/api/v1/destinations", body.dump());
  expect_json_answer(o.api, a, "adding " + o.name, "destinations");
  if (o.json_output) {
    print_json(a.body);
    return;
  }
  std::printf("added %s (%s): spans go to %s\n", str(a.body, "name").c_str(),
              str(a.body, "kind").c_str(), str(a.body, "endpoint").c_str());
  std::printf("  check it with: hodos destinations test %s\n", o.name.c_str());
}

void run_remove(const DestinationsOptions& o) {
  ApiAnswer a = api_request(o.api, "DELETE", "/api/v1/destinations/" + url_encode(o.name));
  expect_json_answer(o.api, a, "removing " + o.name, "destinations");
  if (o.json_output) {
    print_json(a.body);
    return;
  }
  std::printf("removed %s: no more spans go there\n", o.name.c_str());
}

void run_test(const DestinationsOptions& o) {
  ApiAnswer a;
  if (!o.kind.empty()) {
    const json body = {{"name", o.name.empty() ? "unsaved" : o.name},
                       {"kind", o.kind},
                       {"fields", fields_json(o.fields)}};
    a = api_request(o.api, "POST", "/api/v1/destinations/test", body.dump());
  } else {
    if (o.name.empty())
      fail(2,
           "test: give a destination's name, or --kind and --field to test one "
           "that is not saved");
    a = api_request(o.api, "POST", "/api/v1/destinations/" + url_encode(o.name) + "/test");
  }
  expect_json_answer(o.api, a, "testing " + (o.name.empty() ? o.kind : o.name), "destinations");
  if (o.json_output) {
    print_json(a.body);
  } else if (a.body.value("ok", false)) {
    std::printf("ok: %s (%lld ms)\n", str(a.body, "diagnosis").c_str(),
                static_cast<long long>(a.body.value("elapsed_ms", 0LL)));
  } else {
    std::printf("failed (%s): %s\n", str(a.body, "category").c_str(),
                str(a.body, "diagnosis").c_str());
    if (std::string d = str(a.body, "detail"); !d.empty()) std::printf("  detail: %s\n", d.c_str());
  }
  if (!a.body.value("ok", false)) throw ExitCode{1};
}

void add_api_options(CLI::App* cmd, DestinationsOptions& o) {
  add_api_client_options(cmd, o.api.api, o.api.token);
  cmd->add_flag("--json", o.json_output, "Print the API's JSON answer");
}

}  // namespace

void add_destinations_command(CLI::App& app) {
  auto o = std::make_shared<DestinationsOptions>();
  CLI::App* cmd = app.add_subcommand("destinations",
                                     "List, add, remove and test the backends spans are sent to");
  cmd->require_subcommand(1);

  CLI::App* kinds = cmd->add_subcommand("kinds", "The kinds of destination and their fields");
  kinds->add_flag("--json", o->json_output, "Print JSON");
  kinds->callback([o] { run_kinds(*o); });

  CLI::App* list = cmd->add_subcommand("list", "Every destination: endpoint, health and counts");
  add_api_options(list, *o);
  list->callback([o] { run_list(*o); });

  CLI::App* add =
      cmd->add_subcommand("add", "Send spans to one more backend (kept across restarts)");
  add_api_options(add, *o);
  add->add_option("kind", o->kind, "Kind (see `hodos destinations kinds`)")->required();
  add->add_option("--name", o->name, "A name for it (letters, digits, '-', '_', '.')")->required();
  add->add_option("--field", o->fields, "name=value, as the kind takes (repeat)");
  add->callback([o] { run_add(*o); });

  CLI::App* remove = cmd->add_subcommand("remove", "Stop sending spans to a destination");
  add_api_options(remove, *o);
  remove->add_option("name", o->name, "Its name")->required();
  remove->callback([o] { run_remove(*o); });

  CLI::App* test = cmd->add_subcommand(
      "test", "Export one span to a destination and say what happened (exit 1 if it failed)");
  add_api_options(test, *o);
  test->add_option("name", o->name, "A saved destination's name");
  test->add_option("--kind", o->kind, "Test one that is not saved: its kind (with --field)");
  test->add_option("--field", o->fields, "name=value for --kind (repeat)");
  test->callback([o] { run_test(*o); });
}

}  // namespace hodos::cli
