#include "receivers/zipkin_receiver.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <thread>

#include "net/http_server.h"
#include "otlp/zipkin_codec.h"
#include "pipeline/obs.h"
#include "receivers/receiver_http.h"

namespace hodos::receivers {

namespace {

using pipeline::Status;

constexpr const char* kSpansPath = "/api/v2/spans";

class ZipkinReceiverImpl final : public ZipkinReceiver {
 public:
  ZipkinReceiverImpl(const pipeline::CreateContext& ctx, HttpReceiverSettings settings,
                     pipeline::TracesConsumer& next)
      : name_("receivers." + ctx.id.str()),
        settings_(std::move(settings)),
        next_(next),
        logger_(ctx.logger ? ctx.logger : spdlog::default_logger()),
        obs_(ctx.metrics, ctx.id, "http") {}

  ~ZipkinReceiverImpl() override { shutdown(std::chrono::steady_clock::now()); }

  Status start() override {
    net::HttpServerOptions options;
    options.address = settings_.endpoint;
    options.max_body_bytes = settings_.max_request_body_size;
    options.threads = static_cast<int>(std::max(2u, std::thread::hardware_concurrency()));
    options.name = name_;
    options.on_refused = [this](int status, const std::string& remote) {
      obs_.bad_request();
      log_bad_request(*logger_, log_limiter_,
                      fmt::format("{}: refused a Zipkin request from {} ({})", name_, remote,
                                  status == 413 ? "body over max_request_body_size"
                                                : "malformed HTTP"));
    };
    server_ = std::make_unique<net::HttpServer>(options);
    server_->route("POST", kSpansPath, [this](net::HttpRequest& req) {
      net::HttpResponse res = handle(req);
      add_cors_headers(req, settings_.cors, res);
      return res;
    });
    add_cors_preflight(*server_, kSpansPath, settings_.cors);
    if (auto err = server_->start()) {
      server_.reset();
      return Status::permanent(name_ + ": " + *err);
    }
    logger_->info("{}: Zipkin v2 JSON on {}{}", name_, settings_.endpoint, kSpansPath);
    return Status::ok();
  }

  void shutdown(pipeline::Deadline) override {
    if (server_) {
      server_->stop();
      server_.reset();
    }
  }

  uint16_t port() const override { return server_ ? server_->port() : 0; }

 private:
  net::HttpResponse handle(net::HttpRequest& req) {
    std::string type = media_type(req);
    // Zipkin reads a body without Content-Type as JSON; proto3 Zipkin is not supported.
    if (!type.empty() && type != "application/json") {
      return refuse(req, 415,
                    fmt::format("unsupported Content-Type '{}'; send Zipkin v2 JSON as "
                                "application/json",
                                *req.header("content-type")));
    }
    if (auto err = decode_content_encoding(req, settings_.max_request_body_size)) {
      net::HttpResponse res = refuse(req, err->http_status, err->message);
      if (err->http_status == 415) res.headers.emplace_back("Accept-Encoding", kAcceptEncoding);
      return res;
    }
    core::SpanBatch batch;
    if (auto err = otlp::decode_zipkin_json(req.body, batch)) return refuse(req, 400, *err);

    size_t n = batch.size();
    Status st = n == 0 ? Status::ok() : next_.consume(std::move(batch));
    if (st.is_ok()) {
      obs_.accepted(n);
      return net::HttpResponse::text(202, "");
    }
    obs_.refused(n);
    if (st.is_retryable()) {
      net::HttpResponse res = net::HttpResponse::text(503, st.message() + "\n");
      res.headers.emplace_back("Retry-After", std::to_string(retry_after_seconds(st)));
      return res;
    }
    return net::HttpResponse::text(400, st.message() + "\n");
  }

  net::HttpResponse refuse(const net::HttpRequest& req, int status, const std::string& message) {
    obs_.bad_request();
    log_bad_request(*logger_, log_limiter_,
                    fmt::format("{}: refused a Zipkin request from {} ({}): {}", name_,
                                req.remote_address, status, message));
    return net::HttpResponse::text(status, message + "\n");
  }

  std::string name_;
  HttpReceiverSettings settings_;
  pipeline::TracesConsumer& next_;
  std::shared_ptr<spdlog::logger> logger_;
  pipeline::ReceiverObs obs_;
  LogLimiter log_limiter_;
  std::unique_ptr<net::HttpServer> server_;
};

class ZipkinReceiverFactory final : public pipeline::ReceiverFactory {
 public:
  std::string_view type() const override { return "zipkin"; }
  std::unique_ptr<pipeline::Receiver> create(const pipeline::CreateContext& ctx,
                                             pipeline::ConfigNode& config,
                                             pipeline::TracesConsumer& next) const override {
    HttpReceiverSettings settings = read_http_settings(config, "127.0.0.1:9411");
    // The Collector's zipkinreceiver option, known so that the error says what is missing.
    if (config.get_bool("parse_string_tags", false)) {
      config.fail("parse_string_tags", "not supported; remove it (tags are kept as strings)");
    }
    config.reject_unknown_keys();
    return std::make_unique<ZipkinReceiverImpl>(ctx, std::move(settings), next);
  }
};

}  // namespace

std::unique_ptr<pipeline::ReceiverFactory> make_zipkin_receiver_factory() {
  return std::make_unique<ZipkinReceiverFactory>();
}

}  // namespace hodos::receivers
