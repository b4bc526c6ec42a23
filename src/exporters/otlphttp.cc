#include "exporters/otlphttp.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "exporters/http_common.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "otlp/otlp_codec.h"
#include "pipeline/exporter_helper.h"

namespace hodos::exporters {

namespace {

using pipeline::Status;

struct OtlpHttpSettings : HttpDestination {
  OtlpHttpSettings() { gzip = true; }  // the Collector's default for otlphttp
  bool json = false;
};

OtlpHttpSettings read_settings(pipeline::ConfigNode& config) {
  OtlpHttpSettings s;
  std::string endpoint = config.get_string("endpoint", "");
  std::string traces_endpoint = config.get_string("traces_endpoint", "");
  if (!traces_endpoint.empty()) {
    require_http_url(config, "traces_endpoint", traces_endpoint);
    s.url = traces_endpoint;
  } else {
    if (endpoint.empty()) {
      config.fail("endpoint",
                  "required; e.g. https://collector.example.com:4318 (traces go to "
                  "<endpoint>/v1/traces)");
    }
    require_http_url(config, "endpoint", endpoint);
    while (endpoint.ends_with('/')) endpoint.pop_back();
    s.url = endpoint + "/v1/traces";
  }
  std::string encoding = config.get_string("encoding", "proto");
  if (encoding == "json") {
    s.json = true;
  } else if (encoding != "proto") {
    config.fail("encoding", fmt::format("'{}' is not supported; use proto or json", encoding));
  }
  s.gzip = read_gzip(config, true);
  for (auto& [k, v] : config.get_string_map("headers")) s.headers.emplace_back(k, v);
  s.tls = read_tls_settings(config);
  return s;
}

class OtlpHttpSender : public pipeline::BatchSender {
 public:
  OtlpHttpSender(OtlpHttpSettings settings, std::shared_ptr<spdlog::logger> logger, std::string id)
      : s_(std::move(settings)), logger_(std::move(logger)), id_(std::move(id)) {}

  Status send(const core::SpanBatch& batch, pipeline::Deadline deadline) override {
    net::HttpClientResponse resp =
        post_to(pool_, s_, s_.json ? otlp::encode_json(batch) : otlp::encode_proto(batch),
                s_.json ? "application/json" : "application/x-protobuf",
                pipeline::time_left(deadline));
    Status st = status_from_http(resp, s_.url);
    if (st.is_ok()) log_partial_success(resp.body);
    return st;
  }

  void shutdown() override { pool_.clear(); }

 private:
  // OTLP lets a destination accept a request while rejecting some spans; the Collector logs it.
  void log_partial_success(const std::string& body) {
    if (body.empty()) return;
    int64_t rejected = 0;
    std::string message;
    if (s_.json) {
      auto doc = nlohmann::json::parse(body, nullptr, false);
      if (doc.is_discarded() || !doc.is_object() || !doc.contains("partialSuccess")) return;
      const auto& ps = doc["partialSuccess"];
      if (!ps.is_object()) return;
      if (auto it = ps.find("rejectedSpans"); it != ps.end()) {
        if (it->is_string()) {
          rejected = std::strtoll(it->get<std::string>().c_str(), nullptr, 10);
        } else if (it->is_number_integer()) {
          rejected = it->get<int64_t>();
        }
      }
      if (auto it = ps.find("errorMessage"); it != ps.end() && it->is_string()) {
        message = it->get<std::string>();
      }
    } else {
      opentelemetry::proto::collector::trace::v1::ExportTraceServiceResponse resp;
      if (!resp.ParseFromString(body) || !resp.has_partial_success()) return;
      rejected = resp.partial_success().rejected_spans();
      message = resp.partial_success().error_message();
    }
    if (rejected > 0 || !message.empty()) {
      logger_->warn("exporter {}: destination rejected {} spans: {}", id_, rejected, message);
    }
  }

  OtlpHttpSettings s_;
  std::shared_ptr<spdlog::logger> logger_;
  std::string id_;
  HttpClientPool pool_;
};


}  // namespace

std::unique_ptr<pipeline::ExporterFactory> make_otlphttp_exporter_factory() {
  pipeline::ExporterHelperSettings defaults;
  defaults.timeout = std::chrono::seconds(30);
  return pipeline::make_sender_exporter_factory(
      "otlphttp", defaults, [](const pipeline::CreateContext& ctx, pipeline::ConfigNode& config) {
        return std::make_unique<OtlpHttpSender>(read_settings(config), ctx.logger, ctx.id.str());
      });
}

}  // namespace hodos::exporters
