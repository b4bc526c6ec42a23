#include "receivers/otlp_receiver.h"

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <zlib.h>

#include <nlohmann/json.hpp>

#include "../net/raw_http.h"
#include "net/compression.h"
#include "net/http_client.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.grpc.pb.h"
#include "receiver_test_util.h"

namespace hodos::receivers {
namespace {

namespace pb_collector = opentelemetry::proto::collector::trace::v1;
using testing::ReceiverHarness;

constexpr const char* kExportMethod = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

constexpr const char* kConfig = R"(
protocols:
  grpc:
    endpoint: 127.0.0.1:0
  http:
    endpoint: 127.0.0.1:0
    max_request_body_size: 65536
    cors:
      allowed_origins: ["https://app.example.com", "https://*.example.org"]
      allowed_headers: ["X-Api-Key"]
      max_age: 600
)";

pb_collector::ExportTraceServiceRequest make_request(const std::vector<std::string>& names,
                                                      size_t trace_id_bytes = 16) {
  pb_collector::ExportTraceServiceRequest req;
  auto* rs = req.add_resource_spans();
  auto* attr = rs->mutable_resource()->add_attributes();
  attr->set_key("service.name");
  attr->mutable_value()->set_string_value("checkout");
  auto* ss = rs->add_scope_spans();
  ss->mutable_scope()->set_name("test-scope");
  uint8_t n = 1;
  for (const auto& name : names) {
    auto* span = ss->add_spans();
    span->set_trace_id(std::string(trace_id_bytes, '\x11'));
    span->set_span_id(std::string(8, static_cast<char>(n++)));
    span->set_name(name);
    span->set_kind(opentelemetry::proto::trace::v1::Span::SPAN_KIND_SERVER);
    span->set_start_time_unix_nano(1'700'000'000'000'000'000ULL);
    span->set_end_time_unix_nano(1'700'000'000'500'000'000ULL);
  }
  return req;
}

std::string span_json(const std::string& name) {
  return R"({"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":)"
         R"({"stringValue":"web"}}]},"scopeSpans":[{"spans":[{"traceId":)"
         R"("5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":")" +
         name + R"(","kind":2,"startTimeUnixNano":"1544712660000000000",)"
                R"("endTimeUnixNano":"1544712661000000000"}]}]}]})";
}

class OtlpReceiverTest : public ::testing::Test {
 protected:
  void SetUp() override { start(kConfig); }
  void TearDown() override {
    if (receiver_) receiver_->shutdown(std::chrono::steady_clock::now() + std::chrono::seconds(5));
  }

  void start(const std::string& yaml) {
    auto factory = make_otlp_receiver_factory();
    receiver_ = h_.create(*factory, yaml);
    auto st = receiver_->start();
    ASSERT_TRUE(st.is_ok()) << st.message();
    otlp_ = dynamic_cast<OtlpReceiver*>(receiver_.get());
    ASSERT_NE(otlp_, nullptr);
  }

  std::shared_ptr<grpc::Channel> channel() {
    return grpc::CreateChannel("127.0.0.1:" + std::to_string(otlp_->grpc_port()),
                               grpc::InsecureChannelCredentials());
  }

  grpc::Status grpc_export(const pb_collector::ExportTraceServiceRequest& req,
                           bool gzip = false) {
    auto stub = pb_collector::TraceService::NewStub(channel());
    grpc::ClientContext ctx;
    if (gzip) ctx.set_compression_algorithm(GRPC_COMPRESS_GZIP);
    pb_collector::ExportTraceServiceResponse resp;
    return stub->Export(&ctx, req, &resp);
  }

  // Sends bytes that are not an ExportTraceServiceRequest, which a typed stub cannot do.
  grpc::Status grpc_export_raw(const std::string& bytes) {
    grpc::GenericStub stub(channel());
    grpc::CompletionQueue cq;
    grpc::ClientContext ctx;
    grpc::Slice slice(bytes);
    grpc::ByteBuffer request(&slice, 1);
    grpc::ByteBuffer response;
    grpc::Status status;
    auto call = stub.PrepareUnaryCall(&ctx, kExportMethod, request, &cq);
    call->StartCall();
    call->Finish(&response, &status, reinterpret_cast<void*>(1));
    void* tag = nullptr;
    bool ok = false;
    EXPECT_TRUE(cq.Next(&tag, &ok));
    EXPECT_TRUE(ok);
    cq.Shutdown();
    while (cq.Next(&tag, &ok)) {
    }
    return status;
  }

  net::HttpClientResponse post(const std::string& body, const std::string& content_type,
                               std::vector<std::pair<std::string, std::string>> headers = {},
                               const std::string& path = "/v1/traces") {
    net::HttpClientRequest req;
    req.url = "http://127.0.0.1:" + std::to_string(otlp_->http_port()) + path;
    req.body = body;
    if (!content_type.empty()) req.headers.emplace_back("Content-Type", content_type);
    for (auto& h : headers) req.headers.push_back(std::move(h));
    return client_.send(req);
  }

  ReceiverHarness h_;
  std::unique_ptr<pipeline::Receiver> receiver_;
  OtlpReceiver* otlp_ = nullptr;
  net::HttpClient client_;
};

TEST_F(OtlpReceiverTest, GrpcExportDeliversSpans) {
  grpc::Status st = grpc_export(make_request({"a", "b", "c"}));
  ASSERT_TRUE(st.ok()) << st.error_message();
  st = grpc_export(make_request({"zipped"}), /*gzip=*/true);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(h_.sink.names(), (std::vector<std::string>{"a", "b", "c", "zipped"}));
  EXPECT_EQ(h_.accepted("grpc"), 4);
  EXPECT_EQ(h_.accepted("http"), 0);
  EXPECT_EQ(h_.rejected("grpc"), 0);

  // The decoded model carries ids, kind, times and the resource.
  const core::Span& span = h_.sink.batches().front().spans().front();
  EXPECT_EQ(span.trace_id.hex(), "11111111111111111111111111111111");
  EXPECT_EQ(span.kind, core::SpanKind::kServer);
  EXPECT_EQ(span.duration_ns(), 500'000'000u);
  ASSERT_EQ(span.resource->attributes.size(), 1u);
  EXPECT_EQ(span.resource->attributes[0].key, "service.name");
}

TEST_F(OtlpReceiverTest, GrpcEmptyRequestIsOkWithoutCallingThePipeline) {
  EXPECT_TRUE(grpc_export({}).ok());
  EXPECT_EQ(h_.sink.calls(), 0u);
}

TEST_F(OtlpReceiverTest, GrpcMalformedProtobufIsInvalidArgument) {
  grpc::Status st = grpc_export_raw("\x0a\xff\xff\xff\x0fgarbage");
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(st.error_message().find("malformed protobuf"), std::string::npos)
      << st.error_message();
  st = grpc_export(make_request({"bad-id"}, /*trace_id_bytes=*/3));
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(st.error_message().find("traceId"), std::string::npos) << st.error_message();
  EXPECT_EQ(h_.rejected("grpc"), 2);
  EXPECT_EQ(h_.sink.calls(), 0u);
  // Still serving.
  EXPECT_TRUE(grpc_export(make_request({"after"})).ok());
  EXPECT_EQ(h_.sink.names(), std::vector<std::string>{"after"});
}

TEST_F(OtlpReceiverTest, GrpcPipelineErrorsMapToStatusCodes) {
  h_.sink.set_status(pipeline::Status::retryable("memory limit reached"));
  grpc::Status st = grpc_export(make_request({"a", "b"}));
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(st.error_message(), "memory limit reached");
  h_.sink.set_status(pipeline::Status::permanent("bad data"));
  st = grpc_export(make_request({"c"}));
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(h_.refused("grpc"), 3);
  EXPECT_EQ(h_.accepted("grpc"), 0);
  h_.sink.set_status(pipeline::Status::ok());
  EXPECT_TRUE(grpc_export(make_request({"d"})).ok());
  EXPECT_EQ(h_.accepted("grpc"), 1);
}

// A pipeline that keeps some spans and drops others it cannot use (the trace store drops spans
// older than its retention cutoff) answers a partial success: the sender is told how many and
// why, together with the spans dropped here for invalid ids, and they count as refused.
TEST_F(OtlpReceiverTest, SpansThePipelineDropsAreReportedAsPartialSuccess) {
  const std::string why = "1 span(s) dropped by the trace store: they started before its cutoff";
  h_.sink.set_status(pipeline::Status::partial(1, why));
  auto stub = pb_collector::TraceService::NewStub(channel());
  grpc::ClientContext ctx;
  pb_collector::ExportTraceServiceResponse grpc_response;
  pb_collector::ExportTraceServiceRequest req = make_request({"kept", "old", "zero"});
  req.mutable_resource_spans(0)->mutable_scope_spans(0)->mutable_spans()->Mutable(2)->set_span_id(
      std::string(8, '\0'));
  ASSERT_TRUE(stub->Export(&ctx, req, &grpc_response).ok());
  EXPECT_EQ(grpc_response.partial_success().rejected_spans(), 2) << "one here, one downstream";
  EXPECT_NE(grpc_response.partial_success().error_message().find("traceId and spanId"),
            std::string::npos);
  EXPECT_NE(grpc_response.partial_success().error_message().find(why), std::string::npos);
  EXPECT_EQ(h_.accepted("grpc"), 1);
  EXPECT_EQ(h_.refused("grpc"), 2);

  auto r = post(span_json("old"), "application/json");
  ASSERT_EQ(r.status, 200) << r.body;
  auto body = nlohmann::json::parse(r.body);
  EXPECT_EQ(body["partialSuccess"]["rejectedSpans"], "1");
  EXPECT_EQ(body["partialSuccess"]["errorMessage"], why);
  r = post(make_request({"old"}).SerializeAsString(), "application/x-protobuf");
  ASSERT_EQ(r.status, 200) << r.body;
  pb_collector::ExportTraceServiceResponse http_response;
  ASSERT_TRUE(http_response.ParseFromString(r.body));
  EXPECT_EQ(http_response.partial_success().rejected_spans(), 1);
  EXPECT_EQ(h_.accepted("http"), 0);
  EXPECT_EQ(h_.refused("http"), 2);
}

TEST_F(OtlpReceiverTest, GrpcMessageOverLimitIsRefused) {
  receiver_->shutdown(std::chrono::steady_clock::now());
  start(R"(protocols: {grpc: {endpoint: "127.0.0.1:0", max_recv_msg_size_mib: 1}})");
  EXPECT_EQ(otlp_->http_port(), 0);
  auto req = make_request({std::string(2u << 20, 'x')});
  EXPECT_EQ(grpc_export(req).error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_TRUE(grpc_export(make_request({"small"})).ok());
}

TEST_F(OtlpReceiverTest, HttpProtobufAndJsonDeliverSpans) {
  auto r = post(make_request({"p1", "p2"}).SerializeAsString(), "application/x-protobuf");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, "");  // an empty ExportTraceServiceResponse
  r = post(span_json("j1"), "application/json; charset=utf-8");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, "{}");
  EXPECT_EQ(h_.sink.names(), (std::vector<std::string>{"p1", "p2", "j1"}));
  EXPECT_EQ(h_.accepted("http"), 3);
  EXPECT_EQ(h_.accepted("grpc"), 0);
}

// An all-zero trace or span id is invalid in OTLP: such spans are dropped and reported back as
// a partial success, the others in the same request delivered.
TEST_F(OtlpReceiverTest, SpansWithInvalidIdsAreRejectedAsPartialSuccess) {
  auto with_invalid_ids = [] {
    pb_collector::ExportTraceServiceRequest req = make_request({"good", "zero-trace", "zero-span"});
    auto* spans = req.mutable_resource_spans(0)->mutable_scope_spans(0)->mutable_spans();
    spans->Mutable(1)->set_trace_id(std::string(16, '\0'));
    spans->Mutable(2)->set_span_id(std::string(8, '\0'));
    return req;
  };

  auto stub = pb_collector::TraceService::NewStub(channel());
  grpc::ClientContext ctx;
  pb_collector::ExportTraceServiceResponse grpc_response;
  grpc::Status st = stub->Export(&ctx, with_invalid_ids(), &grpc_response);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(grpc_response.partial_success().rejected_spans(), 2);
  EXPECT_NE(grpc_response.partial_success().error_message().find("traceId and spanId"),
            std::string::npos);

  auto r = post(with_invalid_ids().SerializeAsString(), "application/x-protobuf");
  ASSERT_EQ(r.status, 200) << r.body;
  pb_collector::ExportTraceServiceResponse http_response;
  ASSERT_TRUE(http_response.ParseFromString(r.body));
  EXPECT_EQ(http_response.partial_success().rejected_spans(), 2);

  std::string json = span_json("zero");
  json.replace(json.find("5b8efff798038103d269b633813fc60c"), 32, std::string(32, '0'));
  r = post(json, "application/json");
  ASSERT_EQ(r.status, 200) << r.body;
  auto body = nlohmann::json::parse(r.body);
  EXPECT_EQ(body["partialSuccess"]["rejectedSpans"], "1");  // int64 as a string in OTLP/JSON
  EXPECT_TRUE(body["partialSuccess"]["errorMessage"].is_string());

  EXPECT_EQ(h_.sink.names(), (std::vector<std::string>{"good", "good"}));
  EXPECT_EQ(h_.accepted("grpc"), 1);
  EXPECT_EQ(h_.accepted("http"), 1);
  EXPECT_EQ(h_.refused("grpc"), 2);
  EXPECT_EQ(h_.refused("http"), 3);
}

TEST_F(OtlpReceiverTest, HttpCompressedBodies) {
  auto r = post(net::gzip_compress(make_request({"gz"}).SerializeAsString()),
                "application/x-protobuf", {{"Content-Encoding", "gzip"}});
  EXPECT_EQ(r.status, 200) << r.body;
  r = post(net::gzip_compress(span_json("gzjson")), "application/json",
           {{"Content-Encoding", "GZIP"}});
  EXPECT_EQ(r.status, 200) << r.body;
  std::string plain = make_request({"deflated"}).SerializeAsString();
  uLongf len = compressBound(plain.size());
  std::string z(len, '\0');
  ASSERT_EQ(compress2(reinterpret_cast<Bytef*>(z.data()), &len,
                      reinterpret_cast<const Bytef*>(plain.data()), plain.size(), 6),
            Z_OK);
  z.resize(len);
  r = post(z, "application/x-protobuf", {{"Content-Encoding", "deflate"}});
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(h_.sink.names(), (std::vector<std::string>{"gz", "gzjson", "deflated"}));
}

TEST_F(OtlpReceiverTest, HttpMalformedPayloadsAre400WithAStatusBody) {
  auto r = post("\x0a\xff\xff\xff\x0fgarbage", "application/x-protobuf");
  EXPECT_EQ(r.status, 400);
  // A google.rpc.Status: field 1 (code) = 3, then field 2 (message).
  ASSERT_GE(r.body.size(), 4u);
  EXPECT_EQ(r.body.substr(0, 2), std::string("\x08\x03", 2));
  EXPECT_EQ(r.body[2], '\x12');
  EXPECT_NE(r.body.find("malformed protobuf"), std::string::npos);

  r = post(R"({"resourceSpans": [ {"scopeSpans": )", "application/json");
  EXPECT_EQ(r.status, 400);
  auto body = nlohmann::json::parse(r.body);
  EXPECT_EQ(body["code"], 3);
  EXPECT_FALSE(body["message"].get<std::string>().empty());

  r = post(net::gzip_compress("not json"), "application/json", {{"Content-Encoding", "gzip"}});
  EXPECT_EQ(r.status, 400);
  r = post("corrupt gzip", "application/json", {{"Content-Encoding", "gzip"}});
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(nlohmann::json::parse(r.body)["message"].get<std::string>().find("gzip"),
            std::string::npos);

  EXPECT_EQ(h_.rejected("http"), 4);
  EXPECT_EQ(h_.sink.calls(), 0u);
  EXPECT_EQ(post(span_json("after"), "application/json").status, 200);
}

TEST_F(OtlpReceiverTest, HttpWrongContentTypeOrEncodingIs415) {
  auto r = post(span_json("x"), "text/plain");
  EXPECT_EQ(r.status, 415);
  EXPECT_NE(r.body.find("application/x-protobuf"), std::string::npos) << r.body;
  EXPECT_EQ(post(span_json("x"), "").status, 415);  // curl's form-urlencoded default
  EXPECT_EQ(post(span_json("x"), "", {{"Content-Type", ""}}).status, 415);  // no type at all
  r = post(span_json("x"), "application/json", {{"Content-Encoding", "br"}});
  EXPECT_EQ(r.status, 415);
  EXPECT_EQ(nlohmann::json::parse(r.body)["code"], 3);
  EXPECT_EQ(h_.rejected("http"), 4);
  EXPECT_EQ(h_.sink.calls(), 0u);
}

TEST_F(OtlpReceiverTest, HttpOversizedBodiesAre413) {
  // The limit is 65536 bytes, raw or decompressed.
  auto big = make_request({std::string(70'000, 'x')}).SerializeAsString();
  auto r = post(big, "application/x-protobuf");
  EXPECT_EQ(r.status, 413);
  std::string gz = net::gzip_compress(big);
  ASSERT_LT(gz.size(), 65536u);
  r = post(gz, "application/x-protobuf", {{"Content-Encoding", "gzip"}});
  EXPECT_EQ(r.status, 413);
  EXPECT_NE(r.body.find("max_request_body_size"), std::string::npos);
  EXPECT_EQ(h_.rejected("http"), 2);  // the raw one is refused by the server, counted too
  EXPECT_EQ(h_.sink.calls(), 0u);
  EXPECT_EQ(post(make_request({"small"}).SerializeAsString(), "application/x-protobuf").status,
            200);
}

TEST_F(OtlpReceiverTest, HttpPipelineErrors) {
  h_.sink.set_status(pipeline::Status::retryable("memory limit reached",
                                                 std::chrono::milliseconds(2500)));
  auto r = post(make_request({"a", "b"}).SerializeAsString(), "application/x-protobuf");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.retry_after, std::chrono::milliseconds(3000));  // rounded up to whole seconds
  EXPECT_NE(r.body.find("memory limit reached"), std::string::npos);

  h_.sink.set_status(pipeline::Status::retryable("queue full"));
  r = post(span_json("c"), "application/json");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.retry_after, std::chrono::milliseconds(1000));  // default 1 s
  EXPECT_EQ(nlohmann::json::parse(r.body)["code"], 14);

  h_.sink.set_status(pipeline::Status::permanent("rejected by exporter"));
  r = post(span_json("d"), "application/json");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(h_.refused("http"), 4);

  h_.sink.set_status(pipeline::Status::ok());
  EXPECT_EQ(post(span_json("e"), "application/json").status, 200);
  EXPECT_EQ(h_.accepted("http"), 1);
}

TEST_F(OtlpReceiverTest, HttpRoutesOnlyTheTracesPath) {
  EXPECT_EQ(post(span_json("x"), "application/json", {}, "/v1/logs").status, 404);
  net::HttpClientRequest get;
  get.method = "GET";
  get.url = "http://127.0.0.1:" + std::to_string(otlp_->http_port()) + "/v1/traces";
  EXPECT_EQ(client_.send(get).status, 405);
}

TEST_F(OtlpReceiverTest, CorsPreflightAndActualRequest) {
  using net::testing::raw_exchange;
  using net::testing::raw_header;
  uint16_t port = otlp_->http_port();
  auto preflight = [&](const std::string& origin, const std::string& headers) {
    return raw_exchange(port, "OPTIONS /v1/traces HTTP/1.1\r\nHost: x\r\nOrigin: " + origin +
                                  "\r\nAccess-Control-Request-Method: POST\r\n" +
                                  (headers.empty() ? "" : "Access-Control-Request-Headers: " +
                                                              headers + "\r\n") +
                                  "Connection: close\r\n\r\n");
  };
  std::string r = preflight("https://app.example.com", "content-type, x-api-key");
  EXPECT_TRUE(r.starts_with("HTTP/1.1 204")) << r;
  EXPECT_EQ(raw_header(r, "Access-Control-Allow-Origin"), "https://app.example.com");
  EXPECT_EQ(raw_header(r, "Access-Control-Allow-Methods"), "POST");
  EXPECT_EQ(raw_header(r, "Access-Control-Allow-Headers"), "content-type, x-api-key");
  EXPECT_EQ(raw_header(r, "Access-Control-Max-Age"), "600");

  r = preflight("https://eu.example.org", "");  // wildcard pattern
  EXPECT_EQ(raw_header(r, "Access-Control-Allow-Origin"), "https://eu.example.org");
  r = preflight("https://evil.example.net", "");
  EXPECT_TRUE(r.starts_with("HTTP/1.1 204")) << r;
  EXPECT_EQ(raw_header(r, "Access-Control-Allow-Origin"), "");
  r = preflight("https://app.example.com", "x-not-allowed");
  EXPECT_EQ(raw_header(r, "Access-Control-Allow-Origin"), "");

  std::string body = span_json("browser");
  r = raw_exchange(port, "POST /v1/traces HTTP/1.1\r\nHost: x\r\nOrigin: https://app.example.com"
                         "\r\nContent-Type: application/json\r\nContent-Length: " +
                             std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body);
  EXPECT_TRUE(r.starts_with("HTTP/1.1 200")) << r;
  EXPECT_EQ(raw_header(r, "Access-Control-Allow-Origin"), "https://app.example.com");
  EXPECT_EQ(h_.sink.names(), std::vector<std::string>{"browser"});
}

TEST_F(OtlpReceiverTest, CustomTracesPathAndWildcardOrigin) {
  receiver_->shutdown(std::chrono::steady_clock::now());
  start(R"(protocols: {http: {endpoint: "127.0.0.1:0", traces_url_path: "custom/traces",
           cors: {allowed_origins: ["*"]}}})");
  EXPECT_EQ(otlp_->grpc_port(), 0);
  EXPECT_EQ(post(span_json("x"), "application/json", {}, "/v1/traces").status, 404);
  std::string body = span_json("custom");
  std::string r = net::testing::raw_exchange(
      otlp_->http_port(), "POST /custom/traces HTTP/1.1\r\nHost: x\r\nOrigin: https://any.site"
                          "\r\nContent-Type: application/json\r\nContent-Length: " +
                              std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body);
  EXPECT_TRUE(r.starts_with("HTTP/1.1 200")) << r;
  EXPECT_EQ(net::testing::raw_header(r, "Access-Control-Allow-Origin"), "*");
}

TEST_F(OtlpReceiverTest, BindErrorsNameTheReceiverAndAddress) {
  for (bool grpc : {true, false}) {
    uint16_t taken = grpc ? otlp_->grpc_port() : otlp_->http_port();
    std::string address = "127.0.0.1:" + std::to_string(taken);
    std::string yaml = grpc ? "protocols: {grpc: {endpoint: \"" + address + "\"}}"
                            : "protocols: {http: {endpoint: \"" + address + "\"}}";
    auto factory = make_otlp_receiver_factory();
    ReceiverHarness other;
    auto second = other.create(*factory, yaml);
    pipeline::Status st = second->start();
    EXPECT_TRUE(st.is_permanent());
    EXPECT_EQ(st.message(), "receivers.otlp: " + address + ": address already in use");
  }
  // The first receiver is unaffected.
  EXPECT_TRUE(grpc_export(make_request({"still"})).ok());
}

TEST_F(OtlpReceiverTest, ShutdownStopsServing) {
  uint16_t http_port = otlp_->http_port();
  receiver_->shutdown(std::chrono::steady_clock::now() + std::chrono::seconds(5));
  net::HttpClientRequest req;
  req.url = "http://127.0.0.1:" + std::to_string(http_port) + "/v1/traces";
  req.body = "x";
  EXPECT_EQ(client_.send(req).status, 0);
  receiver_->shutdown(std::chrono::steady_clock::now());  // idempotent
  receiver_.reset();
}

// --- config -------------------------------------------------------------------------------------

std::string config_error(const std::string& yaml) {
  auto factory = make_otlp_receiver_factory();
  ReceiverHarness h;
  try {
    h.create(*factory, yaml);
  } catch (const pipeline::ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(OtlpReceiverConfigTest, NeedsAProtocol) {
  EXPECT_TRUE(config_error("").starts_with("receivers.otlp.protocols: enable at least one"))
      << config_error("");
  EXPECT_TRUE(config_error("protocols: {}").starts_with("receivers.otlp.protocols:"));
}

TEST(OtlpReceiverConfigTest, ErrorsNameTheKey) {
  EXPECT_TRUE(config_error("protocols: {grpc: {endpoint: 4317}}")
                  .starts_with("receivers.otlp.protocols.grpc.endpoint: '4317' is not host:port"))
      << config_error("protocols: {grpc: {endpoint: 4317}}");
  EXPECT_TRUE(config_error("protocols: {thrift: {}}").starts_with("receivers.otlp.protocols.thrift"));
  EXPECT_TRUE(config_error("protocols: {http: {endpont: x}}")
                  .starts_with("receivers.otlp.protocols.http.endpont: unknown key"));
  EXPECT_TRUE(config_error("protocols: {http: {cors: {allowed_origin: [x]}}}")
                  .starts_with("receivers.otlp.protocols.http.cors.allowed_origin"));
  EXPECT_TRUE(config_error("protocols: {grpc: {max_recv_msg_size_mib: 0}}")
                  .starts_with("receivers.otlp.protocols.grpc.max_recv_msg_size_mib"));
  EXPECT_TRUE(config_error("protocols: {grpc:}\nextra: 1").starts_with("receivers.otlp.extra"));
}

TEST(OtlpReceiverConfigTest, BareProtocolKeysEnableDefaults) {
  // `grpc:` with no value enables the protocol with its defaults, as in the Collector.
  EXPECT_EQ(config_error("protocols:\n  grpc:\n  http:\n"), "");
  EXPECT_EQ(config_error("protocols:\n  http:\n    logs_url_path: /v1/logs\n"), "");
}

}  // namespace
}  // namespace hodos::receivers
