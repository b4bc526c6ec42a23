#include "exporters/zipkin.h"

#include <fmt/format.h>

#include "exporters/http_common.h"
#include "otlp/zipkin_codec.h"
#include "pipeline/exporter_helper.h"

namespace hodos::exporters {

namespace {

using pipeline::Status;

struct ZipkinSettings : HttpDestination {};

ZipkinSettings read_settings(pipeline::ConfigNode& config) {
  ZipkinSettings s;
  s.url = config.get_string("endpoint", "");
  if (s.url.empty()) {
    config.fail("endpoint", "required; e.g. http://zipkin:9411/api/v2/spans");
  }
  require_http_url(config, "endpoint", s.url);
  std::string format = config.get_string("format", "json");
  if (format != "json") {
    config.fail("format", fmt::format("'{}' is not supported; use json", format));
  }
  s.gzip = read_gzip(config, false);
  for (auto& [k, v] : config.get_string_map("headers")) s.headers.emplace_back(k, v);
  s.tls = read_tls_settings(config);
  return s;
}

class ZipkinSender : public pipeline::BatchSender {
 public:
  explicit ZipkinSender(ZipkinSettings settings) : s_(std::move(settings)) {}

  Status send(const core::SpanBatch& batch, pipeline::Deadline deadline) override {
    net::HttpClientResponse resp = post_to(pool_, s_, otlp::encode_zipkin_json(batch),
                                           "application/json", pipeline::time_left(deadline));
    return status_from_http(resp, s_.url);
  }

  void shutdown() override { pool_.clear(); }

 private:
  ZipkinSettings s_;
  HttpClientPool pool_;
};


}  // namespace

std::unique_ptr<pipeline::ExporterFactory> make_zipkin_exporter_factory() {
  pipeline::ExporterHelperSettings defaults;
  defaults.timeout = std::chrono::seconds(5);
  return pipeline::make_sender_exporter_factory(
      "zipkin", defaults, [](const pipeline::CreateContext&, pipeline::ConfigNode& config) {
        return std::make_unique<ZipkinSender>(read_settings(config));
      });
}

}  // namespace hodos::exporters
