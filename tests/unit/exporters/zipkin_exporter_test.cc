#include <gtest/gtest.h>

#include <mutex>
#include <nlohmann/json.hpp>

#include "exporter_test_util.h"
#include "exporters/zipkin.h"
#include "net/http_server.h"
#include "pipeline/metrics.h"

namespace hodos::exporters {
namespace {

using hodos::testing::make_batch;
using hodos::testing::quiet_logger;
using hodos::testing::wait_for;

TEST(ZipkinExporter, PostsZipkinJsonSpans) {
  std::mutex mu;
  std::vector<std::string> bodies, content_types;
  net::HttpServer server(net::HttpServerOptions{});
  server.route("POST", "/api/v2/spans", [&](net::HttpRequest& req) {
    std::lock_guard lock(mu);
    bodies.push_back(req.body);
    content_types.push_back(req.header("content-type") ? *req.header("content-type") : "");
    return net::HttpResponse{202, "text/plain", "", {}};
  });
  ASSERT_EQ(server.start(), std::nullopt);

  pipeline::Metrics metrics;
  pipeline::ConfigNode config(
      YAML::Load("endpoint: http://127.0.0.1:" + std::to_string(server.port()) + "/api/v2/spans\n"),
      "exporters.zipkin");
  pipeline::CreateContext ctx{pipeline::ComponentId{"zipkin", ""}, metrics, quiet_logger()};
  auto e = make_zipkin_exporter_factory()->create(ctx, config);
  ASSERT_TRUE(e->start().is_ok());
  ASSERT_TRUE(e->consume(make_batch("z", 2)).is_ok());
  ASSERT_TRUE(wait_for([&] {
    return metrics.value("otelcol_exporter_sent_spans_total", {{"exporter", "zipkin"}}) == 2;
  }));
  e->shutdown(std::chrono::steady_clock::now() + std::chrono::seconds(5));
  server.stop();

  std::lock_guard lock(mu);
  ASSERT_EQ(bodies.size(), 1u);
  EXPECT_EQ(content_types[0], "application/json");
  auto doc = nlohmann::json::parse(bodies[0]);
  ASSERT_TRUE(doc.is_array());
  ASSERT_EQ(doc.size(), 2u);
  EXPECT_EQ(doc[0]["name"], "z-0");
  EXPECT_EQ(doc[0]["localEndpoint"]["serviceName"], "svc");
  EXPECT_EQ(doc[0]["traceId"].get<std::string>().size(), 32u);
}

TEST(ZipkinExporter, ConfigErrors) {
  pipeline::Metrics metrics;
  pipeline::CreateContext ctx{pipeline::ComponentId{"zipkin", ""}, metrics, quiet_logger()};
  for (auto [yaml, key] : {std::pair{"format: json\n", "exporters.zipkin.endpoint"},
                           std::pair{"endpoint: zipkin:9411\n", "exporters.zipkin.endpoint"},
                           std::pair{"endpoint: http://z:9411/api/v2/spans\nformat: proto\n",
                                     "exporters.zipkin.format"}}) {
    pipeline::ConfigNode config(YAML::Load(yaml), "exporters.zipkin");
    try {
      make_zipkin_exporter_factory()->create(ctx, config);
      ADD_FAILURE() << yaml;
    } catch (const pipeline::ConfigError& e) {
      EXPECT_EQ(e.path(), key);
    }
  }
}

}  // namespace
}  // namespace hodos::exporters
