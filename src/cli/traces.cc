// `hodos traces list|show`: search and read traces through the query API of a running `hodos up`
// (or any Jaeger query API), as a table and as an indented span tree.
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "api/params.h"
#include "api/trace_text.h"
#include "cli/api_client.h"
#include "cli/commands.h"
#include "core/clock.h"

namespace hodos::cli {

namespace {

using nlohmann::json;

struct TracesOptions {
  std::string api;  // empty: $HODOS_API, else 127.0.0.1:16686
  std::string token;
  std::string service;
  std::string operation;
  std::vector<std::string> tags;
  std::string min_duration;
  std::string since = "1h";
  int limit = 20;
  bool json_output = false;
  std::string trace_id;
};

[[noreturn]] void fail(int code, const std::string& message) {
  std::fprintf(stderr, "hodos traces: %s\n", message.c_str());
  throw ExitCode{code};
}

// GET on the API; transport errors, 401, 5xx and other 4xx but 404 end the command with a message.
ApiAnswer api_get(const TracesOptions& o, const std::string& path_and_query) {
  ApiAnswer answer = api_request({"hodos traces", o.api, o.token}, "GET", path_and_query);
  if (answer.status == 400) fail(2, api_error_message(answer));
  if (answer.status >= 400 && answer.status != 404) {
    fail(1, fmt::format("{} answered {}: {}", path_and_query, answer.status,
                        api_error_message(answer)));
  }
  if (answer.status == 200 && answer.body.is_discarded()) {
    fail(1, fmt::format("{} did not answer JSON; is it a Hodos or Jaeger query API?",
                        path_and_query));
  }
  return answer;
}

std::string local_time(uint64_t micros) {
  std::time_t secs = static_cast<std::time_t>(micros / 1'000'000);
  std::tm tm{};
  localtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

void run_list(const TracesOptions& o) {
  std::string query;
  auto add = [&](std::string_view key, std::string_view value) {
    query += query.empty() ? '?' : '&';
    query += fmt::format("{}={}", key, url_encode(value));
  };
  if (!o.operation.empty()) add("operation", o.operation);
  for (const std::string& tag : o.tags) {
    size_t eq = tag.find('=');
    if (eq == std::string::npos || eq == 0) fail(2, fmt::format("--tag {}: expected key=value", tag));
    add("tag", tag.substr(0, eq) + ":" + tag.substr(eq + 1));
  }
  if (!o.min_duration.empty()) {
    if (!api::parse_go_duration(o.min_duration)) {
      fail(2, fmt::format("--min-duration {}: expected a duration like 100ms, 1.5s", o.min_duration));
    }
    add("minDuration", o.min_duration);
  }
  std::optional<uint64_t> since = api::parse_lookback(o.since);
  if (!since) fail(2, fmt::format("--since {}: expected a duration like 30m, 1h, 2d", o.since));
  if (o.limit <= 0) fail(2, "--limit must be at least 1");
  const uint64_t now_us = core::now_unix_nano() / 1000;
  const uint64_t since_us = *since / 1000;
  add("start", std::to_string(now_us > since_us ? now_us - since_us : 0));
  add("end", std::to_string(now_us));
  add("limit", std::to_string(o.limit));

  // The API searches one service at a time; without --service, every service is searched.
  std::vector<std::string> services;
  if (!o.service.empty()) {
    services.push_back(o.service);
  } else {
    ApiAnswer a = api_get(o, "/api/services");
    for (const json& s : a.body.value("data", json::array())) {
      if (s.is_string()) services.push_back(s.get<std::string>());
    }
  }
  std::vector<json> traces;
  std::set<std::string> seen;
  for (const std::string& service : services) {
    ApiAnswer a = api_get(o, "/api/traces" + query + "&service=" + url_encode(service));
    if (a.status == 404 && !o.service.empty()) {
      fail(1, fmt::format("no service named '{}' has spans in the store (hodos traces list without "
                          "--service searches every service)",
                          service));
    }
    for (json& t : a.body.value("data", json::array())) {
      if (seen.insert(t.value("traceID", "")).second) traces.push_back(std::move(t));
    }
  }
  std::vector<api::TraceSummary> rows;
  for (const json& t : traces) rows.push_back(api::summarize_trace(t));
  std::vector<size_t> order(rows.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return rows[a].start_us > rows[b].start_us; });
  if (order.size() > static_cast<size_t>(o.limit)) order.resize(static_cast<size_t>(o.limit));

  if (o.json_output) {
    json out = json::array();
    for (size_t i : order) out.push_back(traces[i]);
    std::printf("%s\n", out.dump(2, ' ', false, json::error_handler_t::replace).c_str());
    return;
  }
  if (order.empty()) {
    std::printf("no traces found in the last %s%s\n", o.since.c_str(),
                services.empty() ? " (no service has sent spans yet)" : "");
    return;
  }
  const bool color = ::isatty(STDOUT_FILENO) != 0;
  std::printf("%-32s  %-19s  %10s  %5s  %6s  %s\n", "TRACE ID", "START", "DURATION", "SPANS",
              "ERRORS", "ROOT");
  for (size_t i : order) {
    const api::TraceSummary& r = rows[i];
    std::string errors = std::to_string(r.errors);
    if (color && r.errors > 0) errors = fmt::format("\x1b[1;31m{:>6}\x1b[0m", errors);
    std::printf("%-32s  %-19s  %10s  %5zu  %6s  %s: %s\n", r.trace_id.c_str(),
                local_time(r.start_us).c_str(), api::format_duration_us(r.duration_us).c_str(),
                r.spans, errors.c_str(), r.root_service.c_str(), r.root_operation.c_str());
  }
}

void run_show(const TracesOptions& o) {
  if (!api::parse_trace_id(o.trace_id)) {
    fail(2, fmt::format("{} is not a trace id (up to 32 hex digits)", o.trace_id));
  }
  ApiAnswer a = api_get(o, "/api/traces/" + url_encode(o.trace_id));
  if (a.status == 404) fail(1, fmt::format("trace {} not found", o.trace_id));
  const json data = a.body.value("data", json::array());
  if (!data.is_array() || data.empty()) fail(1, fmt::format("trace {} not found", o.trace_id));
  if (o.json_output) {
    std::printf("%s\n", data[0].dump(2, ' ', false, json::error_handler_t::replace).c_str());
    return;
  }
  std::fputs(api::render_trace_tree(data[0], ::isatty(STDOUT_FILENO) != 0).c_str(), stdout);
}

void add_api_options(CLI::App* cmd, TracesOptions& o) {
  add_api_client_options(cmd, o.api, o.token);  // hodos up, or any Jaeger query API
  cmd->add_flag("--json", o.json_output, "Print the traces as Jaeger JSON");
}

}  // namespace

void add_traces_command(CLI::App& app) {
  auto o = std::make_shared<TracesOptions>();
  CLI::App* cmd = app.add_subcommand("traces", "Search and show traces from the store");
  cmd->require_subcommand(1);

  CLI::App* list = cmd->add_subcommand("list", "List recent traces, newest first");
  add_api_options(list, *o);
  list->add_option("--service", o->service, "Only traces with a span of this service");
  list->add_option("--operation", o->operation, "... whose operation is this (needs --service)");
  list->add_option("--tag", o->tags, "key=value that one span must have (repeatable)");
  list->add_option("--min-duration", o->min_duration, "Spans at least this long (100ms, 1.5s)");
  list->add_option("--since", o->since, "How far back to look (30m, 1h, 2d)")->capture_default_str();
  list->add_option("--limit", o->limit, "At most this many traces")->capture_default_str();
  list->callback([o] {
    if (!o->operation.empty() && o->service.empty()) fail(2, "--operation needs --service");
    run_list(*o);
  });

  CLI::App* show = cmd->add_subcommand("show", "Show one trace as a tree of spans");
  add_api_options(show, *o);
  show->add_option("trace_id", o->trace_id, "Trace id (hex)")->required();
  show->callback([o] { run_show(*o); });
}

}  // namespace hodos::cli
