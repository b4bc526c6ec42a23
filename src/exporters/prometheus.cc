#include "exporters/prometheus.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <mutex>

#include "exporters/prometheus_common.h"
#include "net/http_server.h"

namespace hodos::exporters {

namespace {

using pipeline::Status;

class PrometheusExporter : public pipeline::MetricsExporter {
 public:
  PrometheusExporter(const pipeline::CreateContext& ctx, std::string endpoint,
                     PrometheusNaming naming)
      : id_(ctx.id.str()), logger_(ctx.logger), endpoint_(std::move(endpoint)),
        naming_(std::move(naming)) {}

  Status start() override {
    net::HttpServerOptions opts;
    opts.address = endpoint_;
    opts.threads = 1;
    opts.name = id_;
    server_ = std::make_unique<net::HttpServer>(opts);
    server_->route("GET", "/metrics", [this](net::HttpRequest&) {
      std::lock_guard lock(mu_);
      net::HttpResponse r = net::HttpResponse::text(200, text_);
      r.content_type = "text/plain; version=0.0.4; charset=utf-8";
      return r;
    });
    if (auto err = server_->start()) {
      return Status::permanent(fmt::format("exporters.{}: {} (change endpoint)", id_, *err));
    }
    logger_->info("exporters.{}: metrics for Prometheus at http://{}:{}/metrics", id_,
                  net::split_host_port(endpoint_)->first, server_->port());
    return Status::ok();
  }

  void shutdown(pipeline::Deadline) override {
    if (server_) server_->stop();
  }

  Status consume_metrics(const core::MetricBatch& batch) override {
    std::string text = render_prometheus_text(to_prometheus(batch, naming_));
    std::lock_guard lock(mu_);
    text_ = std::move(text);
    return Status::ok();
  }

 private:
  std::string id_;
  std::shared_ptr<spdlog::logger> logger_;
  std::string endpoint_;
  PrometheusNaming naming_;
  std::unique_ptr<net::HttpServer> server_;
  std::mutex mu_;
  std::string text_;  // the latest snapshot, rendered once per flush rather than per scrape
};

class PrometheusExporterFactory : public pipeline::MetricsExporterFactory {
 public:
  std::string_view type() const override { return "prometheus"; }
  std::unique_ptr<pipeline::MetricsExporter> create(const pipeline::CreateContext& ctx,
                                                    pipeline::ConfigNode& config) const override {
    std::string endpoint = config.get_string("endpoint", "127.0.0.1:8889");
    if (!net::split_host_port(endpoint)) {
      config.fail("endpoint", fmt::format("'{}' is not host:port, e.g. 127.0.0.1:8889", endpoint));
    }
    PrometheusNaming naming = PrometheusNaming::read(config, "const_labels");
    // The Collector's options for series nobody updates and for scrape timestamps: snapshots
    // here are the connector's whole state, so neither changes what is served.
    config.get_duration("metric_expiration", std::chrono::minutes(5));
    config.get_bool("send_timestamps", false);
    config.reject_unknown_keys();
    return std::make_unique<PrometheusExporter>(ctx, std::move(endpoint), std::move(naming));
  }
};

}  // namespace

std::unique_ptr<pipeline::MetricsExporterFactory> make_prometheus_exporter_factory() {
  return std::make_unique<PrometheusExporterFactory>();
}

}  // namespace hodos::exporters
