// Destinations: presets become the exporter config their vendor documents, bad input names the
// field, destinations.json survives a reload (owner-only, secrets masked whenever shown), and the
// run-time set sends through real exporters to a real OTLP/HTTP server, tests a round trip with
// a one-line diagnosis, and keeps a down destination from holding up the others.
#include "exporters/destinations.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>

#include "components/register_all.h"
#include "exporter_test_util.h"
#include "net/http_server.h"

namespace hodos::exporters {
namespace {

using hodos::testing::make_batch;
using hodos::testing::TempDir;
using hodos::testing::wait_for;

const YAML::Node& ro(const YAML::Node& n) { return n; }

std::string header(const YAML::Node& config, const std::string& name) {
  const YAML::Node& h = ro(config)["headers"];
  return h && h[name] ? h[name].as<std::string>() : "";
}

TEST(DestinationPresets, HoneycombIsGrpcWithTeamHeader) {
  YAML::Node c = destination_exporter_config(
      {"hc", "honeycomb", {{"api_key", "hcaik_123"}, {"region", "eu"}, {"dataset", "d1"}}});
  EXPECT_EQ(ro(c)["endpoint"].as<std::string>(), "api.eu1.honeycomb.io:443");
  EXPECT_EQ(header(c, "x-honeycomb-team"), "hcaik_123");
  EXPECT_EQ(header(c, "x-honeycomb-dataset"), "d1");
  EXPECT_EQ(ro(c)["compression"].as<std::string>(), "gzip");
  EXPECT_EQ(find_destination_kind("honeycomb")->exporter, "otlp");
  // Its own queue and retry, bounded.
  EXPECT_TRUE(ro(c)["sending_queue"]["enabled"].as<bool>());
  EXPECT_EQ(ro(c)["sending_queue"]["queue_size"].as<int>(), 500);
  EXPECT_TRUE(ro(c)["retry_on_failure"]["enabled"].as<bool>());
}

TEST(DestinationPresets, GrafanaCloudBasicAuth) {
  YAML::Node c = destination_exporter_config(
      {"g",
       "grafana-cloud",
       {{"zone", "prod-eu-west-2"}, {"instance_id", "123456"}, {"api_token", "glc_secret"}}});
  EXPECT_EQ(ro(c)["endpoint"].as<std::string>(),
            "https://otlp-gateway-prod-eu-west-2.grafana.net/otlp");
  // base64("123456:glc_secret")
  EXPECT_EQ(header(c, "Authorization"), "Basic MTIzNDU2OmdsY19zZWNyZXQ=");
  EXPECT_EQ(destination_endpoint(
                {"g",
                 "grafana-cloud",
                 {{"zone", "prod-eu-west-2"}, {"instance_id", "1"}, {"api_token", "t"}}}),
            "https://otlp-gateway-prod-eu-west-2.grafana.net/otlp/v1/traces");
}

TEST(DestinationPresets, VendorEndpointsAndHeaders) {
  struct Case {
    DestinationSpec spec;
    std::string endpoint_key, endpoint, header_name, header_value;
  };
  const Case cases[] = {
      {{"d", "datadog", {{"api_key", "k"}, {"site", "datadoghq.eu"}}},
       "endpoint",
       "https://otlp.datadoghq.eu",
       "dd-api-key",
       "k"},
      {{"n", "newrelic", {{"license_key", "k"}}},
       "endpoint",
       "https://otlp.nr-data.net",
       "api-key",
       "k"},
      {{"n", "newrelic", {{"license_key", "k"}, {"region", "eu"}}},
       "endpoint",
       "https://otlp.eu01.nr-data.net",
       "api-key",
       "k"},
      {{"e", "elastic", {{"endpoint", "https://x.apm.io:443"}, {"secret_token", "s"}}},
       "endpoint",
       "https://x.apm.io:443",
       "Authorization",
       "Bearer s"},
      {{"e", "elastic", {{"endpoint", "https://x.apm.io"}, {"api_key", "a"}}},
       "endpoint",
       "https://x.apm.io",
       "Authorization",
       "ApiKey a"},
      {{"dt", "dynatrace", {{"environment_id", "abc12345"}, {"api_token", "dt0c01.x"}}},
       "endpoint",
       "https://abc12345.live.dynatrace.com/api/v2/otlp",
       "Authorization",
       "Api-Token dt0c01.x"},
      {{"s", "splunk", {{"realm", "us1"}, {"access_token", "t"}}},
       "traces_endpoint",
       "https://ingest.us1.signalfx.com/v2/trace/otlp",
       "X-SF-Token",
       "t"},
      {{"l", "lightstep", {{"access_token", "t"}}},
       "endpoint",
       "ingest.lightstep.com:443",
       "lightstep-access-token",
       "t"},
      {{"j", "jaeger", {}}, "endpoint", "http://localhost:4318", "", ""},
      {{"t", "tempo", {{"endpoint", "http://tempo:4318"}, {"tenant", "team-a"}}},
       "endpoint",
       "http://tempo:4318",
       "X-Scope-OrgID",
       "team-a"},
      {{"o", "otlphttp", {{"endpoint", "http://c:4318"}, {"token", "tk"}, {"header.X-A", "b"}}},
       "endpoint",
       "http://c:4318",
       "Authorization",
       "Bearer tk"},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(k.spec.kind);
    YAML::Node c = destination_exporter_config(k.spec);
    EXPECT_EQ(ro(c)[k.endpoint_key].as<std::string>(), k.endpoint);
    if (!k.header_name.empty()) {
      EXPECT_EQ(header(c, k.header_name), k.header_value);
    }
  }
  EXPECT_EQ(header(destination_exporter_config(
                       {"o", "otlphttp", {{"endpoint", "http://c:4318"}, {"header.X-A", "b"}}}),
                   "X-A"),
            "b");
  // Every preset documented in `kinds` builds with its required fields filled.
  for (const DestinationKind& kind : destination_kinds()) {
    SCOPED_TRACE(kind.name);
    DestinationSpec spec{"x", kind.name, {}};
    for (const DestinationField& f : kind.fields) {
      if (f.required) spec.fields[f.name] = f.name == "endpoint" ? "http://h:1" : "v";
    }
    if (kind.name == "grafana-cloud") spec.fields["zone"] = "prod-us-east-0";
    if (kind.name == "dynatrace") spec.fields["environment_id"] = "abc";
    if (kind.name == "elastic") spec.fields["secret_token"] = "s";
    if (kind.name == "otlp") spec.fields["endpoint"] = "h:4317";
    EXPECT_NO_THROW(destination_exporter_config(spec));
  }
}

std::string error_field(const DestinationSpec& spec) {
  try {
    validate_destination(spec);
  } catch (const DestinationError& e) {
    return e.field();
  }
  return "(none)";
}

TEST(DestinationValidation, NamesTheBadField) {
  EXPECT_EQ(error_field({"", "jaeger", {}}), "name");
  EXPECT_EQ(error_field({"a/b", "jaeger", {}}), "name");
  EXPECT_EQ(error_field({"kinds", "jaeger", {}}), "name");
  EXPECT_EQ(error_field({"a", "nope", {}}), "kind");
  EXPECT_EQ(error_field({"a", "honeycomb", {}}), "fields.api_key");
  EXPECT_EQ(error_field({"a", "honeycomb", {{"api_key", "k"}, {"region", "mars"}}}),
            "fields.region");
  EXPECT_EQ(error_field({"a", "honeycomb", {{"api_key", "k"}, {"colour", "red"}}}),
            "fields.colour");
  EXPECT_EQ(error_field({"a", "grafana-cloud", {{"instance_id", "1"}, {"api_token", "t"}}}),
            "fields.zone");
  EXPECT_EQ(error_field({"a", "splunk", {{"realm", "us1/../x"}, {"access_token", "t"}}}),
            "fields.realm");
  EXPECT_EQ(error_field({"a", "otlphttp", {{"endpoint", "http://x"}, {"header.Bad Name", "v"}}}),
            "fields.header.Bad Name");
  EXPECT_EQ(error_field({"a", "otlphttp", {{"endpoint", "http://x"}, {"token", "a\nb"}}}),
            "fields.token");
  EXPECT_EQ(error_field({"ok-name_1.2", "jaeger", {}}), "(none)");
}

TEST(DestinationSecrets, MaskedWheneverShown) {
  EXPECT_EQ(mask_secret(""), "");
  EXPECT_EQ(mask_secret("short"), "****");
  EXPECT_EQ(mask_secret("hcaik_0123456789abcdef"), "hc****ef");
  DestinationSpec spec{
      "hc", "honeycomb", {{"api_key", "hcaik_0123456789abcdef"}, {"dataset", "d"}}};
  DestinationSpec m = masked(spec);
  EXPECT_EQ(m.fields["api_key"], "hc****ef");
  EXPECT_EQ(m.fields["dataset"], "d");  // not a secret
  DestinationSpec h =
      masked({"o", "otlphttp", {{"endpoint", "http://x"}, {"header.K", "secret-value-1234"}}});
  EXPECT_EQ(h.fields["header.K"], "se****34");
  EXPECT_EQ(h.fields["endpoint"], "http://x");
}

TEST(DestinationFile, EncodeDecodeRoundTripAndErrors) {
  std::vector<DestinationSpec> specs = {
      {"a", "honeycomb", {{"api_key", "k"}}},
      {"b", "otlphttp", {{"endpoint", "http://x:4318"}, {"header.X", "y"}}}};
  EXPECT_EQ(decode_destinations(encode_destinations(specs)), specs);
  EXPECT_THROW(decode_destinations("nope"), DestinationError);
  EXPECT_THROW(decode_destinations(R"({"version": 2})"), DestinationError);
  EXPECT_THROW(decode_destinations(R"({"version": 1, "destinations": [{"name": "a"}]})"),
               DestinationError);
  EXPECT_THROW(
      decode_destinations(
          R"({"version":1,"destinations":[{"name":"a","kind":"jaeger"},{"name":"a","kind":"jaeger"}]})"),
      DestinationError);
}

TEST(DestinationDiagnosis, OneLinePerCause) {
  EXPECT_EQ(diagnose_send_failure("http://x/v1/traces: HTTP 401: no").category, "auth");
  EXPECT_EQ(diagnose_send_failure("http://x/v1/traces: HTTP 403: no").category, "auth");
  EXPECT_EQ(diagnose_send_failure("http://x/v1/traces: HTTP 404: no").category, "not_found");
  EXPECT_EQ(diagnose_send_failure("exporter e: x:443: UNAUTHENTICATED: bad key").category, "auth");
  EXPECT_EQ(diagnose_send_failure("exporter e: http://nope.invalid/v1/traces: Could not resolve "
                                  "host: nope.invalid")
                .category,
            "dns");
  EXPECT_EQ(diagnose_send_failure("exporter e: 127.0.0.1:1: UNAVAILABLE: failed to connect to all "
                                  "addresses; last error: UNKNOWN: ipv4:127.0.0.1:1: Failed to "
                                  "connect to remote host: Connection refused")
                .category,
            "connection_refused");
  EXPECT_EQ(diagnose_send_failure("exporter e: x: SSL certificate problem: self-signed").category,
            "tls");
  EXPECT_EQ(
      diagnose_send_failure("exporter e: x: Operation timed out after 10001 milliseconds").category,
      "timeout");
}

// A real OTLP/HTTP receiver: counts the requests and answers `status`.
struct FakeOtlpServer {
  explicit FakeOtlpServer(int answer = 200) : status(answer) {
    net::HttpServerOptions o;
    o.address = "127.0.0.1:0";
    o.name = "fake-otlp";
    server = std::make_unique<net::HttpServer>(o);
    server->route("POST", "/v1/traces", [this](net::HttpRequest&) {
      ++requests;
      return net::HttpResponse::text(status.load(), "");
    });
    EXPECT_FALSE(server->start().has_value());
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(server->port()); }
  std::unique_ptr<net::HttpServer> server;
  std::atomic<int> status;
  std::atomic<int> requests{0};
};

class DestinationsRuntime : public ::testing::Test {
 protected:
  void SetUp() override {
    components::register_all(registry);
    path = dir.path() / "destinations.json";
  }
  TempDir dir;
  std::filesystem::path path;
  pipeline::Registry registry;
  pipeline::Metrics metrics;
};

TEST_F(DestinationsRuntime, AddSendsPersistsRemoveStops) {
  FakeOtlpServer server;
  {
    Destinations d(registry, path.string());
    d.attach(metrics, hodos::testing::quiet_logger());
    d.start();
    DestinationState s = d.add(
        {"local", "otlphttp", {{"endpoint", server.url()}, {"token", "my-secret-token-123"}}});
    EXPECT_EQ(s.endpoint, server.url() + "/v1/traces");
    EXPECT_EQ(s.spec.fields["token"], "my****23");
    // On disk, owner-only, with the secret (it is needed after a restart).
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    EXPECT_NE(text.str().find("my-secret-token-123"), std::string::npos);

    d.consume(make_batch("a", 3));
    ASSERT_TRUE(wait_for([&] { return !d.list().empty() && d.list()[0].sent == 3; }));
    EXPECT_EQ(d.list()[0].health, DestinationHealth::kOk);
    EXPECT_THROW(d.add({"local", "jaeger", {}}), DestinationError);  // name in use
    d.shutdown(std::chrono::steady_clock::now() + std::chrono::seconds(2));
  }
  // A new process on the same data dir finds it again.
  Destinations again(registry, path.string());
  again.attach(metrics, hodos::testing::quiet_logger());
  again.start();
  ASSERT_EQ(again.list().size(), 1u);
  EXPECT_EQ(again.list()[0].spec.name, "local");
  EXPECT_TRUE(again.remove("local"));
  EXPECT_FALSE(again.remove("local"));
  const int before = server.requests.load();
  again.consume(make_batch("b", 1));
  EXPECT_EQ(server.requests.load(), before);
  EXPECT_TRUE(again.list().empty());
  Destinations third(registry, path.string());
  EXPECT_TRUE(third.list().empty());
}

TEST_F(DestinationsRuntime, ADownDestinationFailsAloneAndReportsIt) {
  FakeOtlpServer good;
  FakeOtlpServer down(503);
  Destinations d(registry, "");
  d.attach(metrics, hodos::testing::quiet_logger());
  d.start();
  d.add({"down", "otlphttp", {{"endpoint", down.url()}}});
  d.add({"good", "otlphttp", {{"endpoint", good.url()}}});
  const auto t0 = std::chrono::steady_clock::now();
  d.consume(make_batch("x", 2));
  // consume() only enqueues: the 503s are retried on the destination's own threads.
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(500));
  ASSERT_TRUE(wait_for([&] {
    auto l = d.list();
    return l[1].sent == 2 && l[0].health == DestinationHealth::kFailing;
  }));
  EXPECT_NE(d.list()[0].last_error.find("HTTP 503"), std::string::npos) << d.list()[0].last_error;
  // Back: the retry delivers what was queued and the health turns ok.
  down.status = 200;
  ASSERT_TRUE(wait_for([&] { return d.list()[0].sent == 2; }));
  EXPECT_EQ(d.list()[0].health, DestinationHealth::kOk);
  d.shutdown(std::chrono::steady_clock::now() + std::chrono::seconds(2));
}

TEST_F(DestinationsRuntime, TestIsARealRoundTrip) {
  FakeOtlpServer server;
  Destinations d(registry, "");
  DestinationTestResult ok = d.test({"t", "otlphttp", {{"endpoint", server.url()}}});
  EXPECT_TRUE(ok.ok) << ok.diagnosis;
  EXPECT_EQ(server.requests.load(), 1);
  server.status = 401;
  DestinationTestResult auth = d.test({"t", "otlphttp", {{"endpoint", server.url()}}});
  EXPECT_FALSE(auth.ok);
  EXPECT_EQ(auth.category, "auth") << auth.detail;
  // A port nothing listens on (the server's, once stopped).
  const std::string url = server.url();
  server.server->stop();
  DestinationTestResult refused = d.test({"t", "otlphttp", {{"endpoint", url}}});
  EXPECT_EQ(refused.category, "connection_refused") << refused.detail;
  DestinationTestResult grpc_refused = d.test(
      {"t", "otlp", {{"endpoint", url.substr(7)}, {"insecure", "true"}}}, std::chrono::seconds(3));
  EXPECT_EQ(grpc_refused.category, "connection_refused") << grpc_refused.detail;
  EXPECT_THROW(d.test({"t", "otlphttp", {{"endpoint", "ftp://x"}}}), DestinationError);
}

}  // namespace
}  // namespace hodos::exporters
