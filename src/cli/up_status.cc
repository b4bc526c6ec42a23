#include "cli/up_status.h"

#include <cstdlib>
#include <sstream>

#include "cli/destinations_control.h"

namespace hodos::cli {

using nlohmann::json;

double sum_metric(const std::string& text, const std::string& name, const std::string& label) {
  double total = 0;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.starts_with(name)) continue;
    const char next = line.size() > name.size() ? line[name.size()] : '\0';
    if (next != '{' && next != ' ') continue;
    if (!label.empty() && line.find(label) == std::string::npos) continue;
    const size_t space = line.rfind(' ');
    if (space == std::string::npos) continue;
    total += std::strtod(line.c_str() + space + 1, nullptr);
  }
  return total;
}

json up_status(const UpStatusSources& in) {
  const std::string metrics_text = in.metrics ? in.metrics->render_prometheus() : "";
  const auto now = std::chrono::system_clock::now();

  json receivers = json::array();
  receivers.push_back({{"name", "otlp"}, {"protocol", "grpc"}, {"address", in.otlp_grpc}});
  receivers.push_back({{"name", "otlp"}, {"protocol", "http"}, {"address", in.otlp_http}});

  json agent = json::object();
  if (in.sources) {
    json s = in.sources();
    agent = s.value("agent", json::object());
    const json list = s.value("sources", json::array());
    size_t traced = 0;
    for (const json& src : list) traced += src.value("traced", false) ? 1 : 0;
    agent["sources"] = list.size();
    agent["traced"] = traced;
    if (agent.value("running", false)) {
      // HTTP/1.x requests and grpc-go's HTTP/2 calls.
      agent["injected"] = static_cast<uint64_t>(
          sum_metric(metrics_text, "hodos_agent_inject_total", "result=\"injected\"") +
          sum_metric(metrics_text, "hodos_agent_inject_total", "result=\"http2_injected\""));
      agent["db_calls"] =
          static_cast<uint64_t>(sum_metric(metrics_text, "hodos_agent_db_calls_total"));
    }
  }

  json store = json::object();
  if (in.store) {
    const store::StoreStats st = in.store->stats();
    store = {{"data_dir", in.data_dir},
             {"disk_bytes", st.disk_bytes},
             {"spans_ingested", st.spans_ingested},
             {"spans_rejected", st.spans_rejected},
             {"retention", in.retention},
             {"retention_size", in.retention_size},
             {"retention_cutoff_unix_ns", st.retention_cutoff_ns}};
  }

  json destinations = json::array();
  size_t failing = 0;
  if (in.destinations) {
    for (const auto& d : in.destinations->list()) {
      json j = destination_json(d);
      j.erase("fields");  // the status shows health, not configuration
      failing += d.health == exporters::DestinationHealth::kFailing ? 1 : 0;
      destinations.push_back(std::move(j));
    }
  }

  json counters = {
      {"spans_received",
       static_cast<uint64_t>(sum_metric(metrics_text, "otelcol_receiver_accepted_spans_total"))},
      {"spans_refused",
       static_cast<uint64_t>(sum_metric(metrics_text, "otelcol_receiver_refused_spans_total"))},
      {"requests_rejected",
       static_cast<uint64_t>(sum_metric(metrics_text, "hodos_receiver_rejected_requests_total"))},
      {"spans_exported",
       static_cast<uint64_t>(sum_metric(metrics_text, "otelcol_exporter_sent_spans_total"))},
      {"spans_export_failed",
       static_cast<uint64_t>(sum_metric(metrics_text, "otelcol_exporter_send_failed_spans_total"))},
      {"spans_export_dropped", static_cast<uint64_t>(sum_metric(
                                   metrics_text, "otelcol_exporter_enqueue_failed_spans_total"))},
      // Metrics pipelines (spanmetrics → prometheusremotewrite), from a --config file.
      {"metric_points_exported", static_cast<uint64_t>(sum_metric(
                                     metrics_text, "otelcol_exporter_sent_metric_points_total"))},
      {"metric_points_export_failed",
       static_cast<uint64_t>(
           sum_metric(metrics_text, "otelcol_exporter_send_failed_metric_points_total") +
           sum_metric(metrics_text, "otelcol_exporter_enqueue_failed_metric_points_total"))},
  };

  const bool agent_ok = !agent.is_object() || agent.value("running", true) ||
                        agent.value("reason", "").find("--no-agent") != std::string::npos;
  json overall = failing > 0 ? "degraded" : (agent_ok ? "ok" : "degraded");
  return {{"status", overall},
          {"version", in.version},
          {"uptime_seconds",
           std::chrono::duration_cast<std::chrono::seconds>(now - in.started).count()},
          {"api", in.api},
          {"components",
           {{"receivers", std::move(receivers)},
            {"agent", std::move(agent)},
            {"store", std::move(store)},
            {"destinations", std::move(destinations)}}},
          {"counters", std::move(counters)}};
}

}  // namespace hodos::cli
