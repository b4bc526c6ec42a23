#include "receivers/zipkin_receiver.h"

#include <gtest/gtest.h>

#include "../net/raw_http.h"
#include "net/compression.h"
#include "net/http_client.h"
#include "receiver_test_util.h"

namespace hodos::receivers {
namespace {

using testing::ReceiverHarness;

constexpr const char* kSpans = R"([
  {"traceId": "5af7183fb1d4cf5f", "id": "352bff9a74ca9ad2", "kind": "SERVER", "name": "get /api",
   "timestamp": 1556604172355737, "duration": 1431,
   "localEndpoint": {"serviceName": "backend"}, "tags": {"http.method": "GET"}},
  {"traceId": "463ac35c9f6413ad48485a3953bb6124", "id": "a2fb4a1d1a96d312", "kind": "CLIENT",
   "name": "post", "timestamp": 1556604172355000, "duration": 20000,
   "localEndpoint": {"serviceName": "frontend"}}
])";

class ZipkinReceiverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto factory = make_zipkin_receiver_factory();
    receiver_ = h_.create(*factory, "endpoint: 127.0.0.1:0\nmax_request_body_size: 4096\n");
    auto st = receiver_->start();
    ASSERT_TRUE(st.is_ok()) << st.message();
    port_ = dynamic_cast<ZipkinReceiver&>(*receiver_).port();
  }
  void TearDown() override { receiver_->shutdown(std::chrono::steady_clock::now()); }

  net::HttpClientResponse post(const std::string& body, const std::string& content_type,
                               std::vector<std::pair<std::string, std::string>> headers = {}) {
    net::HttpClientRequest req;
    req.url = "http://127.0.0.1:" + std::to_string(port_) + "/api/v2/spans";
    req.body = body;
    // An empty value sends "Content-Type:" (no type) rather than curl's form default.
    req.headers.emplace_back("Content-Type", content_type);
    for (auto& h : headers) req.headers.push_back(std::move(h));
    return client_.send(req);
  }

  double accepted() { return h_.accepted("http", "zipkin"); }

  ReceiverHarness h_;
  std::unique_ptr<pipeline::Receiver> receiver_;
  uint16_t port_ = 0;
  net::HttpClient client_;
};

TEST_F(ZipkinReceiverTest, AcceptsJsonV2With202) {
  auto r = post(kSpans, "application/json");
  EXPECT_EQ(r.status, 202) << r.body;
  EXPECT_EQ(h_.sink.names(), (std::vector<std::string>{"get /api", "post"}));
  EXPECT_EQ(accepted(), 2);
  const core::Span& span = h_.sink.batches().front().spans().front();
  EXPECT_EQ(span.kind, core::SpanKind::kServer);
  EXPECT_EQ(span.span_id.hex(), "352bff9a74ca9ad2");
}

TEST_F(ZipkinReceiverTest, GzipAndMissingContentType) {
  EXPECT_EQ(post(net::gzip_compress(kSpans), "application/json", {{"Content-Encoding", "gzip"}})
                .status,
            202);
  // Zipkin reads a body without Content-Type as JSON.
  EXPECT_EQ(post(kSpans, "").status, 202);
  EXPECT_EQ(accepted(), 4);
}

TEST_F(ZipkinReceiverTest, BadRequests) {
  auto r = post("[{\"traceId\": ", "application/json");
  EXPECT_EQ(r.status, 400);
  EXPECT_FALSE(r.body.empty());
  EXPECT_EQ(post(kSpans, "application/x-protobuf").status, 415);
  EXPECT_EQ(post(kSpans, "application/json", {{"Content-Encoding", "zstd"}}).status, 415);
  EXPECT_EQ(post(std::string(5000, ' ') + kSpans, "application/json").status, 413);
  std::string bomb = "[" + std::string(100'000, ' ') + "]";
  EXPECT_EQ(post(net::gzip_compress(bomb), "application/json", {{"Content-Encoding", "gzip"}})
                .status,
            413);
  EXPECT_EQ(h_.rejected("http", "zipkin"), 5);
  EXPECT_EQ(h_.sink.calls(), 0u);
  EXPECT_EQ(post(kSpans, "application/json").status, 202);
}

TEST_F(ZipkinReceiverTest, PipelineErrors) {
  h_.sink.set_status(pipeline::Status::retryable("over the memory limit"));
  auto r = post(kSpans, "application/json");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.retry_after, std::chrono::milliseconds(1000));
  h_.sink.set_status(pipeline::Status::permanent("nope"));
  EXPECT_EQ(post(kSpans, "application/json").status, 400);
  EXPECT_EQ(h_.refused("http", "zipkin"), 4);
  h_.sink.set_status(pipeline::Status::ok());
  EXPECT_EQ(post(kSpans, "application/json").status, 202);
}

TEST_F(ZipkinReceiverTest, OnlyTheV2Path) {
  net::HttpClientRequest req;
  req.url = "http://127.0.0.1:" + std::to_string(port_) + "/api/v1/spans";
  req.body = kSpans;
  EXPECT_EQ(client_.send(req).status, 404);
}

TEST(ZipkinReceiverConfigTest, Errors) {
  auto factory = make_zipkin_receiver_factory();
  ReceiverHarness h;
  auto error = [&](const std::string& yaml) -> std::string {
    try {
      h.create(*factory, yaml);
    } catch (const pipeline::ConfigError& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_EQ(error(""), "");  // all defaults
  EXPECT_TRUE(error("endpoint: nonsense").starts_with("receivers.zipkin.endpoint:"));
  EXPECT_TRUE(error("endpiont: :9411").starts_with("receivers.zipkin.endpiont: unknown key"));
  EXPECT_TRUE(error("parse_string_tags: true").starts_with("receivers.zipkin.parse_string_tags"));
}

TEST(ZipkinReceiverBindTest, AddressInUse) {
  auto factory = make_zipkin_receiver_factory();
  ReceiverHarness h1;
  auto first = h1.create(*factory, "endpoint: 127.0.0.1:0");
  ASSERT_TRUE(first->start().is_ok());
  std::string address = "127.0.0.1:" + std::to_string(dynamic_cast<ZipkinReceiver&>(*first).port());
  ReceiverHarness h2;
  auto second = h2.create(*factory, "endpoint: \"" + address + "\"");
  auto st = second->start();
  EXPECT_EQ(st.message(), "receivers.zipkin: " + address + ": address already in use");
  first->shutdown(std::chrono::steady_clock::now());
}

}  // namespace
}  // namespace hodos::receivers
