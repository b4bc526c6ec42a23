#include "exporters/prometheus.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <map>
#include <mutex>

#include "exporters/prometheus_common.h"
#include "net/http_server.h"

namespace hodos::exporters {

namespace {

using pipeline::Status;

class PrometheusExporter : public pipeline::MetricsExporter {
 public:
  PrometheusExporter(const pipeline::CreateContext& ctx, std::string endpoint,
                     PrometheusNaming naming, std::chrono::milliseconds expiration)
      : id_(ctx.id.str()), logger_(ctx.logger), endpoint_(std::move(endpoint)),
        naming_(std::move(naming)), expiration_(expiration) {}

  Status start() override {
    net::HttpServerOptions opts;
    opts.address = endpoint_;
    opts.threads = 1;
    opts.name = id_;
    server_ = std::make_unique<net::HttpServer>(opts);
    server_->route("GET", "/metrics", [this](net::HttpRequest&) {
      net::HttpResponse r = net::HttpResponse::text(200, render());
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

  // Several connectors may feed one exporter: each series keeps its latest value, whoever sent
  // it, until no batch has carried it for `metric_expiration`.
  Status consume_metrics(const core::MetricBatch& batch) override {
    std::vector<PrometheusFamily> families = to_prometheus(batch, naming_);
    const auto now = std::chrono::steady_clock::now();
    std::lock_guard lock(mu_);
    for (PrometheusFamily& f : families) {
      Family& mine = families_[f.name];
      mine.type = f.type;
      mine.help = f.help;
      for (PrometheusSample& sample : f.samples) {
        std::string key = sample.name;
        for (const auto& [k, v] : sample.labels) {
          key.append("\0", 1).append(k).append("\0", 1).append(v);
        }
        mine.series[std::move(key)] = Series{std::move(sample), now};
      }
    }
    return Status::ok();
  }

 private:
  struct Series {
    PrometheusSample sample;
    std::chrono::steady_clock::time_point updated;
  };
  struct Family {
    std::string type, help;
    std::map<std::string, Series> series;  // ordered: a family's samples render grouped
  };

  std::string render() {
    const auto now = std::chrono::steady_clock::now();
    std::vector<PrometheusFamily> out;
    std::lock_guard lock(mu_);
    for (auto fit = families_.begin(); fit != families_.end();) {
      Family& f = fit->second;
      PrometheusFamily family{fit->first, f.type, f.help, {}};
      for (auto it = f.series.begin(); it != f.series.end();) {
        if (expiration_.count() > 0 && now - it->second.updated > expiration_) {
          it = f.series.erase(it);
          continue;
        }
        family.samples.push_back(it->second.sample);
        ++it;
      }
      if (f.series.empty()) {
        fit = families_.erase(fit);
        continue;
      }
      out.push_back(std::move(family));
      ++fit;
    }
    return render_prometheus_text(out);
  }

  std::string id_;
  std::shared_ptr<spdlog::logger> logger_;
  std::string endpoint_;
  PrometheusNaming naming_;
  std::unique_ptr<net::HttpServer> server_;
  std::chrono::milliseconds expiration_;
  std::mutex mu_;
  std::map<std::string, Family> families_;
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
    const auto expiration = config.get_duration("metric_expiration", std::chrono::minutes(5));
    // Scrape timestamps: the scraper's own are as good for cumulative counts.
    config.get_bool("send_timestamps", false);
    config.reject_unknown_keys();
    return std::make_unique<PrometheusExporter>(ctx, std::move(endpoint), std::move(naming),
                                                expiration);
  }
};

}  // namespace

std::unique_ptr<pipeline::MetricsExporterFactory> make_prometheus_exporter_factory() {
  return std::make_unique<PrometheusExporterFactory>();
}

}  // namespace hodos::exporters
