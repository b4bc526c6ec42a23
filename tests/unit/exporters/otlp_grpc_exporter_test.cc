#include <google/protobuf/any.pb.h>
#include <google/protobuf/duration.pb.h>
#include <google/protobuf/unknown_field_set.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <deque>
#include <mutex>

#include "exporter_test_util.h"
#include "exporters/otlp.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.grpc.pb.h"
#include "otlp/otlp_codec.h"
#include "pipeline/metrics.h"

namespace hodos::exporters {
namespace {

using hodos::testing::make_batch;
using hodos::testing::quiet_logger;
using hodos::testing::wait_for;
using opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest;
using opentelemetry::proto::collector::trace::v1::ExportTraceServiceResponse;
using opentelemetry::proto::collector::trace::v1::TraceService;

// An in-process OTLP gRPC destination answering as scripted.
class FakeTraceService final : public TraceService::Service {
 public:
  grpc::Status Export(grpc::ServerContext* context, const ExportTraceServiceRequest* request,
                      ExportTraceServiceResponse*) override {
    std::lock_guard lock(mu_);
    ++calls_;
    for (const auto& [k, v] : context->client_metadata()) {
      metadata_[std::string(k.data(), k.size())] = std::string(v.data(), v.size());
    }
    core::SpanBatch batch;
    if (!otlp::from_proto(*request, batch)) {
      for (const auto& s : batch.spans()) names_.emplace_back(s.name);
    }
    if (script_.empty()) return grpc::Status::OK;
    grpc::Status st = script_.front();
    script_.pop_front();
    return st;
  }

  void script(std::vector<grpc::Status> s) {
    std::lock_guard lock(mu_);
    script_.assign(s.begin(), s.end());
  }
  int calls() {
    std::lock_guard lock(mu_);
    return calls_;
  }
  std::vector<std::string> names() {
    std::lock_guard lock(mu_);
    return names_;
  }
  std::string metadata(const std::string& key) {
    std::lock_guard lock(mu_);
    auto it = metadata_.find(key);
    return it == metadata_.end() ? "" : it->second;
  }

 private:
  std::mutex mu_;
  std::deque<grpc::Status> script_;
  int calls_ = 0;
  std::vector<std::string> names_;
  std::map<std::string, std::string> metadata_;
};

class OtlpGrpcExporterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_TRUE(server_);
    ASSERT_GT(port_, 0);
  }
  void TearDown() override { server_->Shutdown(); }

  std::unique_ptr<pipeline::Exporter> make(const std::string& yaml) {
    pipeline::ConfigNode config(YAML::Load(yaml), "exporters.otlp");
    pipeline::CreateContext ctx{pipeline::ComponentId{"otlp", ""}, metrics_, quiet_logger()};
    return make_otlp_exporter_factory()->create(ctx, config);
  }
  std::string endpoint() const { return "127.0.0.1:" + std::to_string(port_); }
  double metric(const std::string& name) { return metrics_.value(name, {{"exporter", "otlp"}}); }
  static pipeline::Deadline soon() {
    return std::chrono::steady_clock::now() + std::chrono::seconds(10);
  }
  static constexpr const char* kFastRetry =
      "retry_on_failure: {initial_interval: 1ms, max_interval: 2ms, max_elapsed_time: 5s}\n";

  FakeTraceService service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  pipeline::Metrics metrics_;
};

TEST_F(OtlpGrpcExporterTest, DeliversSpansWithHeadersAsMetadata) {
  auto e =
      make("endpoint: " + endpoint() + "\ntls: {insecure: true}\nheaders: {X-Api-Key: k123}\n");
  ASSERT_TRUE(e->start().is_ok());
  ASSERT_TRUE(e->consume(make_batch("g", 3)).is_ok());
  ASSERT_TRUE(wait_for([&] { return metric("otelcol_exporter_sent_spans_total") == 3; }));
  e->shutdown(soon());
  EXPECT_EQ(service_.names(), (std::vector<std::string>{"g-0", "g-1", "g-2"}));
  EXPECT_EQ(service_.metadata("x-api-key"), "k123");
}

TEST_F(OtlpGrpcExporterTest, HttpSchemeMeansPlaintextAndCompressionNoneWorks) {
  auto e = make("endpoint: http://" + endpoint() + "\ncompression: none\n" +
                "sending_queue: {enabled: false}\n");
  ASSERT_TRUE(e->start().is_ok());
  EXPECT_TRUE(e->consume(make_batch("h", 1)).is_ok());
  EXPECT_EQ(service_.calls(), 1);
  e->shutdown(soon());
}

TEST_F(OtlpGrpcExporterTest, UnavailableIsRetriedThenDelivered) {
  service_.script({grpc::Status(grpc::StatusCode::UNAVAILABLE, "starting"),
                   grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "memory limit")});
  auto e = make("endpoint: http://" + endpoint() + "\n" + kFastRetry);
  ASSERT_TRUE(e->start().is_ok());
  ASSERT_TRUE(e->consume(make_batch("u", 2)).is_ok());
  ASSERT_TRUE(wait_for([&] { return metric("otelcol_exporter_sent_spans_total") == 2; }));
  e->shutdown(soon());
  EXPECT_EQ(service_.calls(), 3);
}

TEST_F(OtlpGrpcExporterTest, InvalidArgumentIsDroppedWithoutRetry) {
  service_.script({grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "bad span")});
  auto e = make("endpoint: http://" + endpoint() + "\n" + kFastRetry);
  ASSERT_TRUE(e->start().is_ok());
  ASSERT_TRUE(e->consume(make_batch("i", 2)).is_ok());
  ASSERT_TRUE(wait_for([&] { return metric("otelcol_exporter_send_failed_spans_total") == 2; }));
  e->shutdown(soon());
  EXPECT_EQ(service_.calls(), 1);
}

TEST_F(OtlpGrpcExporterTest, HonoursRetryInfoDelay) {
  // google.rpc.Status{code, message, details: [Any(google.rpc.RetryInfo{retry_delay: 1h})]}
  google::protobuf::Duration delay;
  delay.set_seconds(3600);
  google::protobuf::UnknownFieldSet retry_info;
  retry_info.AddLengthDelimited(1, delay.SerializeAsString());
  std::string retry_info_bytes;
  retry_info.SerializeToString(&retry_info_bytes);
  google::protobuf::Any any;
  any.set_type_url("type.googleapis.com/google.rpc.RetryInfo");
  any.set_value(retry_info_bytes);
  google::protobuf::UnknownFieldSet status;
  status.AddVarint(1, grpc::StatusCode::RESOURCE_EXHAUSTED);
  status.AddLengthDelimited(3, any.SerializeAsString());
  std::string details;
  status.SerializeToString(&details);
  grpc::Status throttled(grpc::StatusCode::RESOURCE_EXHAUSTED, "throttled", details);
  service_.script({throttled, throttled, throttled});

  auto e = make("endpoint: http://" + endpoint() + "\n" + kFastRetry);
  ASSERT_TRUE(e->start().is_ok());
  ASSERT_TRUE(e->consume(make_batch("d", 1)).is_ok());
  // An hour's delay is beyond max_elapsed_time (5s): the exporter gives up after one call.
  ASSERT_TRUE(wait_for([&] { return metric("otelcol_exporter_send_failed_spans_total") == 1; }));
  e->shutdown(soon());
  EXPECT_EQ(service_.calls(), 1);
}

TEST_F(OtlpGrpcExporterTest, ConfigErrors) {
  try {
    make("compression: gzip\n");
    FAIL();
  } catch (const pipeline::ConfigError& e) {
    EXPECT_STREQ(e.what(), "exporters.otlp.endpoint: required");
  }
  try {
    make("endpoint: collector\n");
    FAIL();
  } catch (const pipeline::ConfigError& e) {
    EXPECT_EQ(e.path(), "exporters.otlp.endpoint");
  }
  try {
    make("endpoint: collector:4317\ncompression: zstd\n");
    FAIL();
  } catch (const pipeline::ConfigError& e) {
    EXPECT_EQ(e.path(), "exporters.otlp.compression");
  }
}

TEST_F(OtlpGrpcExporterTest, MissingCaFileFailsStart) {
  auto e = make("endpoint: " + endpoint() + "\ntls: {ca_file: /nonexistent/ca.pem}\n");
  pipeline::Status st = e->start();
  ASSERT_FALSE(st.is_ok());
  EXPECT_NE(st.message().find("/nonexistent/ca.pem"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace hodos::exporters
