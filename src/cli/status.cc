// `hodos status`: what a running `hodos up` runs and how it is doing (GET /api/v1/status), in a
// few readable lines or as JSON. Exit 1 when something is failing, so scripts can check it.
#include <fmt/format.h>

#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/api_client.h"
#include "cli/commands.h"

namespace hodos::cli {

namespace {

using nlohmann::json;
constexpr auto& str = json_string;  // a short name for the many reads below

struct StatusOptions {
  ApiClientOptions api{"hodos status", "", ""};
  bool json_output = false;
};

uint64_t num(const json& j, const char* key) {
  return j.contains(key) && j[key].is_number() ? j[key].get<uint64_t>() : 0;
}

std::string bytes_text(uint64_t b) {
  if (b >= (1ULL << 30)) return fmt::format("{:.1f} GiB", static_cast<double>(b) / (1ULL << 30));
  if (b >= (1ULL << 20)) return fmt::format("{:.1f} MiB", static_cast<double>(b) / (1ULL << 20));
  if (b >= (1ULL << 10)) return fmt::format("{:.1f} KiB", static_cast<double>(b) / (1ULL << 10));
  return fmt::format("{} B", b);
}

void run_status(const StatusOptions& o) {
  ApiAnswer a = api_request(o.api, "GET", "/api/v1/status");
  if (a.status == 404 && a.text.find("no such route") != std::string::npos) {
    std::fprintf(stderr, "hodos status: this API has no status route (an older hodos up)\n");
    throw ExitCode{1};
  }
  if (a.status != 200 || a.body.is_discarded()) {
    std::fprintf(stderr, "hodos status: %s\n", api_error_message(a).c_str());
    throw ExitCode{1};
  }
  const json& s = a.body;
  const std::string overall = str(s, "status");
  if (o.json_output) {
    std::printf("%s\n", s.dump(2, ' ', false, json::error_handler_t::replace).c_str());
  } else {
    const json c = s.value("components", json::object());
    std::printf("hodos %s: %s (up %llus, API %s)\n", str(s, "version").c_str(), overall.c_str(),
                static_cast<unsigned long long>(num(s, "uptime_seconds")), str(s, "api").c_str());
    for (const json& r : c.value("receivers", json::array())) {
      std::printf("  receiver  %s/%s on %s\n", str(r, "name").c_str(), str(r, "protocol").c_str(),
                  str(r, "address").c_str());
    }
    const json agent = c.value("agent", json::object());
    if (agent.value("running", false)) {
      std::printf("  agent     running: %llu sources, %llu traced\n",
                  static_cast<unsigned long long>(num(agent, "sources")),
                  static_cast<unsigned long long>(num(agent, "traced")));
      const json injection = agent.value("injection", json::object());
      std::printf("  context   traceparent injection %s; %llu requests injected\n",
                  str(injection, "detail").c_str(),
                  static_cast<unsigned long long>(num(agent, "injected")));
      std::printf("  databases %llu calls (PostgreSQL, MySQL, Redis, Kafka)\n",
                  static_cast<unsigned long long>(num(agent, "db_calls")));
    } else {
      std::printf("  agent     not running: %s\n", str(agent, "reason").c_str());
    }
    const json store = c.value("store", json::object());
    std::printf("  store     %s, %s on disk, %llu spans written (retention %s or %s)\n",
                str(store, "data_dir").c_str(), bytes_text(num(store, "disk_bytes")).c_str(),
                static_cast<unsigned long long>(num(store, "spans_ingested")),
                str(store, "retention").c_str(), str(store, "retention_size").c_str());
    const json dests = c.value("destinations", json::array());
    if (dests.empty()) std::printf("  destinations: none (the store only)\n");
    for (const json& d : dests) {
      std::string line =
          fmt::format("  destination {} ({}) {}: {}, {} sent, {} failed, {} dropped",
                      str(d, "name"), str(d, "kind"), str(d, "endpoint"), str(d, "health"),
                      num(d, "sent"), num(d, "failed"), num(d, "dropped"));
      if (std::string e = str(d, "last_error"); !e.empty()) line += " — " + e;
      std::printf("%s\n", line.c_str());
    }
    const json k = s.value("counters", json::object());
    std::printf("  spans     %llu received, %llu refused\n",
                static_cast<unsigned long long>(num(k, "spans_received")),
                static_cast<unsigned long long>(num(k, "spans_refused")));
    if (num(k, "metric_points_exported") + num(k, "metric_points_export_failed") > 0) {
      std::printf("  metrics   %llu points sent, %llu failed or dropped%s\n",
                  static_cast<unsigned long long>(num(k, "metric_points_exported")),
                  static_cast<unsigned long long>(num(k, "metric_points_export_failed")),
                  num(k, "metric_points_export_failed") > 0 ? " (the log names the exporter and "
                                                              "the reason)"
                                                            : "");
    }
  }
  if (overall != "ok") throw ExitCode{1};
}

}  // namespace

void add_status_command(CLI::App& app) {
  auto o = std::make_shared<StatusOptions>();
  CLI::App* cmd = app.add_subcommand("status", "Show what hodos up runs and its health");
  add_api_client_options(cmd, o->api.api, o->api.token);
  cmd->add_flag("--json", o->json_output, "Print the API's JSON answer");
  cmd->callback([o] { run_status(*o); });
}

}  // namespace hodos::cli
