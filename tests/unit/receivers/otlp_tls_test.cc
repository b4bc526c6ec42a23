// The otlp receiver's tls: and auth: settings: config errors that name the key, the token check,
// and a receiver serving TLS with a token on both protocols (gRPC and libcurl clients).
#include "receivers/otlp_tls.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>

#include "net/http_client.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.grpc.pb.h"
#include "../self_signed_cert.h"
#include "receiver_test_util.h"
#include "receivers/otlp_receiver.h"

namespace hodos::receivers {
namespace {

namespace fs = std::filesystem;
namespace pb_collector = opentelemetry::proto::collector::trace::v1;
using testing::ReceiverHarness;

using hodos::testing::Pem;
using hodos::testing::self_signed;

class OtlpTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("hodos-otlp-tls-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    server_ = self_signed("localhost");
    other_ = self_signed("other");
    write("server.crt", server_.cert);
    write("server.key", server_.key);
    write("other.key", other_.key);
    write("garbage.pem", "not a certificate\n");
  }
  void TearDown() override {
    if (receiver_) receiver_->shutdown(std::chrono::steady_clock::now() + std::chrono::seconds(5));
    fs::remove_all(dir_);
  }

  std::string write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
    return path(name);
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  // The receiver config with `tls` and `auth` (flow YAML) under both protocols.
  std::string config(const std::string& tls, const std::string& auth = "") const {
    std::string extra = tls.empty() ? "" : ", tls: " + tls;
    if (!auth.empty()) extra += ", auth: " + auth;
    return "protocols: {grpc: {endpoint: '127.0.0.1:0'" + extra +
           "}, http: {endpoint: '127.0.0.1:0'" + extra + "}}";
  }
  std::string good_tls() const {
    return "{cert_file: '" + path("server.crt") + "', key_file: '" + path("server.key") + "'}";
  }

  std::string config_error(const std::string& yaml) {
    auto factory = make_otlp_receiver_factory();
    try {
      h_.create(*factory, yaml);
    } catch (const pipeline::ConfigError& e) {
      return e.what();
    }
    return "";
  }

  ReceiverHarness h_;
  std::unique_ptr<pipeline::Receiver> receiver_;
  fs::path dir_;
  Pem server_;
  Pem other_;
};

TEST(BearerTokenTest, MatchesOnlyTheExactTokenAfterTheBearerScheme) {
  EXPECT_TRUE(bearer_token_matches("Bearer abc123", "abc123"));
  EXPECT_TRUE(bearer_token_matches("bearer abc123", "abc123"));  // the scheme is case-insensitive
  EXPECT_TRUE(bearer_token_matches("BEARER  abc123 ", "abc123"));
  EXPECT_FALSE(bearer_token_matches("Bearer abc124", "abc123"));
  EXPECT_FALSE(bearer_token_matches("Bearer abc12", "abc123"));
  EXPECT_FALSE(bearer_token_matches("Bearer abc1234", "abc123"));
  EXPECT_FALSE(bearer_token_matches("Bearer ABC123", "abc123"));  // the token is not
  EXPECT_FALSE(bearer_token_matches("Basic abc123", "abc123"));
  EXPECT_FALSE(bearer_token_matches("abc123", "abc123"));
  EXPECT_FALSE(bearer_token_matches("", "abc123"));
  EXPECT_FALSE(bearer_token_matches("Bearer ", "abc123"));
}

TEST_F(OtlpTlsTest, ConfigErrorsNameTheKeyAndTheFix) {
  auto error_of = [&](const std::string& tls, const std::string& auth = "") {
    return config_error(config(tls, auth));
  };
  EXPECT_EQ(error_of(good_tls()), "");
  EXPECT_EQ(error_of(good_tls(), "{bearer_token: t0ken}"), "");

  std::string e = error_of("{key_file: '" + path("server.key") + "'}");
  EXPECT_TRUE(e.starts_with("receivers.otlp.protocols.grpc.tls.cert_file: is required")) << e;
  e = error_of("{cert_file: '" + path("server.crt") + "'}");
  EXPECT_TRUE(e.starts_with("receivers.otlp.protocols.grpc.tls.key_file: is required")) << e;
  e = error_of("{cert_file: '" + path("missing.crt") + "', key_file: '" + path("server.key") + "'}");
  EXPECT_TRUE(e.starts_with("receivers.otlp.protocols.grpc.tls.cert_file: cannot read '")) << e;
  e = error_of("{cert_file: '" + path("garbage.pem") + "', key_file: '" + path("server.key") +
               "'}");
  EXPECT_TRUE(e.starts_with("receivers.otlp.protocols.grpc.tls.cert_file:")) << e;
  EXPECT_NE(e.find("holds no PEM certificate"), std::string::npos) << e;
  e = error_of("{cert_file: '" + path("server.crt") + "', key_file: '" + path("garbage.pem") +
               "'}");
  EXPECT_NE(e.find("tls.key_file: '"), std::string::npos) << e;
  EXPECT_NE(e.find("holds no unencrypted PEM private key"), std::string::npos) << e;
  e = error_of("{cert_file: '" + path("server.crt") + "', key_file: '" + path("other.key") + "'}");
  EXPECT_TRUE(e.starts_with("receivers.otlp.protocols.grpc.tls.key_file:")) << e;
  EXPECT_NE(e.find("is not the private key of the certificate"), std::string::npos) << e;
  e = error_of("{cert_file: '" + path("server.crt") + "', key_file: '" + path("server.key") +
               "', client_ca_file: '" + path("garbage.pem") + "'}");
  EXPECT_TRUE(e.starts_with("receivers.otlp.protocols.grpc.tls.client_ca_file:")) << e;
  e = error_of("{cert_file: '" + path("server.crt") + "', key_file: '" + path("server.key") +
               "', min_version: '1.1'}");
  EXPECT_TRUE(e.starts_with("receivers.otlp.protocols.grpc.tls.min_version: '1.1' is not "
                            "supported"))
      << e;
  e = error_of("{cert_file: '" + path("server.crt") + "', key_file: '" + path("server.key") +
               "', ca_file: x}");
  EXPECT_NE(e.find("ca_file"), std::string::npos) << e;

  e = error_of(good_tls(), "{bearer_token: ''}");
  EXPECT_TRUE(e.starts_with("receivers.otlp.protocols.grpc.auth.bearer_token: is empty")) << e;
  e = error_of(good_tls(), "{authenticator: bearertokenauth}");
  EXPECT_TRUE(e.starts_with("receivers.otlp.protocols.grpc.auth.authenticator: Hodos has no auth "
                            "extensions"))
      << e;
}

TEST_F(OtlpTlsTest, MinVersion13IsForHttpOnly) {
  std::string tls13 = "{cert_file: '" + path("server.crt") + "', key_file: '" +
                      path("server.key") + "', min_version: '1.3'}";
  EXPECT_EQ(config_error("protocols: {http: {endpoint: '127.0.0.1:0', tls: " + tls13 + "}}"), "");
  std::string e = config_error("protocols: {grpc: {endpoint: '127.0.0.1:0', tls: " + tls13 + "}}");
  EXPECT_TRUE(e.starts_with("receivers.otlp.protocols.grpc.tls.min_version:")) << e;
}

TEST_F(OtlpTlsTest, ServesTlsAndRefusesRequestsWithoutTheToken) {
  auto factory = make_otlp_receiver_factory();
  receiver_ = h_.create(*factory, config(good_tls(), "{bearer_token: t0ken}"));
  ASSERT_TRUE(receiver_->start().is_ok());
  auto* otlp = dynamic_cast<OtlpReceiver*>(receiver_.get());
  ASSERT_NE(otlp, nullptr);

  pb_collector::ExportTraceServiceRequest req;
  auto* span = req.add_resource_spans()->add_scope_spans()->add_spans();
  span->set_trace_id(std::string(16, '\x11'));
  span->set_span_id(std::string(8, '\x22'));
  span->set_name("over-tls");

  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = server_.cert;
  // An IP address: a name would go through c-ares, whose resolver leaks under LeakSanitizer. The
  // certificate is checked against "localhost" all the same.
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("localhost");
  auto channel = grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(otlp->grpc_port()),
                                           grpc::SslCredentials(ssl), args);
  auto stub = pb_collector::TraceService::NewStub(channel);
  auto send = [&](const char* authorization) {
    grpc::ClientContext ctx;
    if (authorization) ctx.AddMetadata("authorization", authorization);
    pb_collector::ExportTraceServiceResponse resp;
    return stub->Export(&ctx, req, &resp);
  };
  grpc::Status st = send(nullptr);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED) << st.error_message();
  st = send("Bearer wrong");
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED) << st.error_message();
  EXPECT_EQ(h_.rejected("grpc"), 2);
  EXPECT_EQ(h_.sink.calls(), 0u);
  st = send("Bearer t0ken");
  EXPECT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(h_.sink.names(), std::vector<std::string>{"over-tls"});

  net::HttpClient client;
  net::HttpClientRequest http;
  http.url = "https://localhost:" + std::to_string(otlp->http_port()) + "/v1/traces";
  http.tls.ca_file = path("server.crt");
  http.headers = {{"Content-Type", "application/x-protobuf"}};
  http.body = req.SerializeAsString();
  net::HttpClientResponse r = client.send(http);
  EXPECT_EQ(r.status, 401) << r.error;
  http.headers.emplace_back("Authorization", "Bearer wrong");
  EXPECT_EQ(client.send(http).status, 401);
  EXPECT_EQ(h_.rejected("http"), 2);
  http.headers.back().second = "Bearer t0ken";
  r = client.send(http);
  EXPECT_EQ(r.status, 200) << r.error << r.body;
  EXPECT_EQ(h_.sink.calls(), 2u);

  // Plain HTTP on the TLS port gets no answer.
  http.url = "http://localhost:" + std::to_string(otlp->http_port()) + "/v1/traces";
  r = client.send(http);
  EXPECT_NE(r.status, 200);
  EXPECT_EQ(h_.sink.calls(), 2u);
}

}  // namespace
}  // namespace hodos::receivers
