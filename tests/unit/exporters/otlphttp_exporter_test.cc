#include <gtest/gtest.h>

#include <deque>
#include <mutex>

#include "exporter_test_util.h"
#include "exporters/http_common.h"
#include "exporters/otlphttp.h"
#include "net/compression.h"
#include "net/http_server.h"
#include "otlp/otlp_codec.h"
#include "pipeline/metrics.h"

namespace hodos::exporters {
namespace {

using hodos::testing::make_batch;
using hodos::testing::quiet_logger;
using hodos::testing::wait_for;
using std::chrono::milliseconds;

// A real HTTP server standing in for an OTLP/HTTP destination, answering as scripted.
class FakeDestination {
 public:
  struct Received {
    std::string content_type, content_encoding, auth;
    size_t spans = 0;
    std::vector<std::string> names;
    std::string decode_error;
  };

  FakeDestination() : server_(net::HttpServerOptions{}) {
    server_.route("POST", "/v1/traces", [this](net::HttpRequest& req) { return handle(req); });
    EXPECT_EQ(server_.start(), std::nullopt);
  }
  ~FakeDestination() { server_.stop(); }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(server_.port()); }
  void script(std::vector<net::HttpResponse> responses) {
    std::lock_guard lock(mu_);
    script_.assign(responses.begin(), responses.end());
  }
  size_t requests() {
    std::lock_guard lock(mu_);
    return received_.size();
  }
  std::vector<Received> received() {
    std::lock_guard lock(mu_);
    return received_;
  }

 private:
  net::HttpResponse handle(net::HttpRequest& req) {
    Received r;
    if (auto* h = req.header("content-type")) r.content_type = *h;
    if (auto* h = req.header("content-encoding")) r.content_encoding = *h;
    if (auto* h = req.header("authorization")) r.auth = *h;
    std::string body = req.body;
    if (r.content_encoding == "gzip") {
      auto plain = net::gzip_decompress(body, 64 << 20);
      if (!plain) r.decode_error = "bad gzip";
      body = plain.value_or("");
    }
    core::SpanBatch batch;
    auto err = r.content_type == "application/json" ? otlp::decode_json(body, batch)
                                                    : otlp::decode_proto(body, batch);
    if (err) r.decode_error = *err;
    r.spans = batch.size();
    for (const auto& s : batch.spans()) r.names.emplace_back(s.name);
    std::lock_guard lock(mu_);
    received_.push_back(std::move(r));
    if (script_.empty()) return net::HttpResponse{200, "application/x-protobuf", "", {}};
    net::HttpResponse resp = script_.front();
    script_.pop_front();
    return resp;
  }

  net::HttpServer server_;
  std::mutex mu_;
  std::deque<net::HttpResponse> script_;
  std::vector<Received> received_;
};

class OtlpHttpExporterTest : public ::testing::Test {
 protected:
  std::unique_ptr<pipeline::Exporter> make(const std::string& yaml) {
    pipeline::ConfigNode config(YAML::Load(yaml), "exporters.otlphttp");
    pipeline::CreateContext ctx{pipeline::ComponentId{"otlphttp", ""}, metrics_, quiet_logger()};
    return make_otlphttp_exporter_factory()->create(ctx, config);
  }
  double metric(const std::string& name) {
    return metrics_.value(name, {{"exporter", "otlphttp"}});
  }
  static pipeline::Deadline soon() {
    return std::chrono::steady_clock::now() + std::chrono::seconds(10);
  }
  static constexpr const char* kFastRetry =
      "retry_on_failure: {initial_interval: 1ms, max_interval: 2ms, max_elapsed_time: 5s}\n";

  pipeline::Metrics metrics_;
  FakeDestination dest_;
};

TEST_F(OtlpHttpExporterTest, SendsGzippedProtobufWithHeaders) {
  auto e = make("endpoint: " + dest_.url() + "/\nheaders: {Authorization: Bearer s3cret}\n");
  ASSERT_TRUE(e->start().is_ok());
  ASSERT_TRUE(e->consume(make_batch("a", 3)).is_ok());
  ASSERT_TRUE(wait_for([&] { return metric("otelcol_exporter_sent_spans_total") == 3; }));
  e->shutdown(soon());
  auto got = dest_.received();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].content_type, "application/x-protobuf");
  EXPECT_EQ(got[0].content_encoding, "gzip");
  EXPECT_EQ(got[0].auth, "Bearer s3cret");
  EXPECT_EQ(got[0].decode_error, "");
  EXPECT_EQ(got[0].names, (std::vector<std::string>{"a-0", "a-1", "a-2"}));
}

TEST_F(OtlpHttpExporterTest, JsonEncodingWithoutCompression) {
  auto e = make("endpoint: " + dest_.url() + "\nencoding: json\ncompression: none\n");
  ASSERT_TRUE(e->start().is_ok());
  ASSERT_TRUE(e->consume(make_batch("j", 2)).is_ok());
  ASSERT_TRUE(wait_for([&] { return metric("otelcol_exporter_sent_spans_total") == 2; }));
  e->shutdown(soon());
  auto got = dest_.received();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].content_type, "application/json");
  EXPECT_EQ(got[0].content_encoding, "");
  EXPECT_EQ(got[0].decode_error, "");
  EXPECT_EQ(got[0].spans, 2u);
}

TEST_F(OtlpHttpExporterTest, RetriesServiceUnavailableThenDelivers) {
  net::HttpResponse busy{503, "text/plain", "overloaded", {{"Retry-After", "0"}}};
  dest_.script({busy, busy});
  auto e = make("endpoint: " + dest_.url() + "\n" + kFastRetry);
  ASSERT_TRUE(e->start().is_ok());
  ASSERT_TRUE(e->consume(make_batch("r", 2)).is_ok());
  ASSERT_TRUE(wait_for([&] { return metric("otelcol_exporter_sent_spans_total") == 2; }));
  e->shutdown(soon());
  EXPECT_EQ(dest_.requests(), 3u);
  EXPECT_EQ(metric("otelcol_exporter_send_failed_spans_total"), 0);
}

TEST_F(OtlpHttpExporterTest, HonoursRetryAfterBeyondMaxElapsed) {
  // The destination asks for an hour; max_elapsed_time is 5s: one request, then give up.
  net::HttpResponse busy{429, "text/plain", "slow down", {{"Retry-After", "3600"}}};
  dest_.script({busy, busy, busy});
  auto e = make("endpoint: " + dest_.url() + "\n" + kFastRetry);
  ASSERT_TRUE(e->start().is_ok());
  ASSERT_TRUE(e->consume(make_batch("t", 2)).is_ok());
  ASSERT_TRUE(wait_for([&] { return metric("otelcol_exporter_send_failed_spans_total") == 2; }));
  e->shutdown(soon());
  EXPECT_EQ(dest_.requests(), 1u);
}

TEST_F(OtlpHttpExporterTest, BadRequestIsDroppedWithoutRetry) {
  dest_.script({net::HttpResponse{400, "text/plain", "bad span", {}}});
  auto e = make("endpoint: " + dest_.url() + "\n" + kFastRetry);
  ASSERT_TRUE(e->start().is_ok());
  ASSERT_TRUE(e->consume(make_batch("x", 4)).is_ok());
  ASSERT_TRUE(wait_for([&] { return metric("otelcol_exporter_send_failed_spans_total") == 4; }));
  e->shutdown(soon());
  EXPECT_EQ(dest_.requests(), 1u);
  EXPECT_EQ(metric("otelcol_exporter_sent_spans_total"), 0);
}

TEST_F(OtlpHttpExporterTest, TracesEndpointOverridesThePath) {
  auto e = make("endpoint: http://unused.invalid:1\ntraces_endpoint: " + dest_.url() +
                "/v1/traces\nsending_queue: {enabled: false}\n");
  ASSERT_TRUE(e->start().is_ok());
  EXPECT_TRUE(e->consume(make_batch("o", 1)).is_ok());
  EXPECT_EQ(dest_.requests(), 1u);
  e->shutdown(soon());
}

TEST_F(OtlpHttpExporterTest, ConnectionRefusedIsRetryable) {
  // Find a port nobody listens on: bind a server, note its port, stop it.
  uint16_t port;
  {
    net::HttpServer s(net::HttpServerOptions{});
    ASSERT_EQ(s.start(), std::nullopt);
    port = s.port();
    s.stop();
  }
  auto e = make("endpoint: http://127.0.0.1:" + std::to_string(port) +
                "\nsending_queue: {enabled: false}\nretry_on_failure: {enabled: false}\n");
  ASSERT_TRUE(e->start().is_ok());
  pipeline::Status st = e->consume(make_batch("c", 1));
  EXPECT_TRUE(st.is_retryable()) << st.message();
  e->shutdown(soon());
}

TEST_F(OtlpHttpExporterTest, ConfigErrors) {
  try {
    make("encoding: proto\n");
    FAIL();
  } catch (const pipeline::ConfigError& e) {
    EXPECT_EQ(e.path(), "exporters.otlphttp.endpoint");
  }
  try {
    make("endpoint: collector:4318\n");
    FAIL();
  } catch (const pipeline::ConfigError& e) {
    EXPECT_EQ(e.path(), "exporters.otlphttp.endpoint");
    EXPECT_NE(std::string(e.what()).find("http://"), std::string::npos);
  }
  try {
    make("endpoint: http://x:1\nencoding: avro\n");
    FAIL();
  } catch (const pipeline::ConfigError& e) {
    EXPECT_EQ(e.path(), "exporters.otlphttp.encoding");
  }
  try {
    make("endpoint: http://x:1\ntls: {ca_fil: x}\n");
    FAIL();
  } catch (const pipeline::ConfigError& e) {
    EXPECT_EQ(e.path(), "exporters.otlphttp.tls.ca_fil");
  }
  try {
    make("endpoint: http://x:1\nendpont: y\n");
    FAIL();
  } catch (const pipeline::ConfigError& e) {
    EXPECT_EQ(e.path(), "exporters.otlphttp.endpont");
  }
}

TEST(HttpStatusMapping, FollowsTheCollector) {
  auto map = [](int code) {
    net::HttpClientResponse r;
    r.status = code;
    if (code == 0) r.error = "connection refused";
    return status_from_http(r, "dest");
  };
  for (int code : {200, 202, 204}) EXPECT_TRUE(map(code).is_ok()) << code;
  for (int code : {0, 429, 502, 503, 504}) EXPECT_TRUE(map(code).is_retryable()) << code;
  for (int code : {400, 401, 403, 404, 413, 415, 500})
    EXPECT_TRUE(map(code).is_permanent()) << code;
  net::HttpClientResponse r;
  r.status = 503;
  r.retry_after = milliseconds(7000);
  EXPECT_EQ(status_from_http(r, "dest").retry_after(), milliseconds(7000));
}

}  // namespace
}  // namespace hodos::exporters
