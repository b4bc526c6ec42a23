#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <snappy.h>
#include <sys/socket.h>
#include <unistd.h>

#include <mutex>

#include "exporter_test_util.h"
#include "exporters/prometheus.h"
#include "exporters/prometheus_common.h"
#include "exporters/prometheus_remote_write.h"
#include "net/http_client.h"
#include "net/http_server.h"
#include "pipeline/metrics.h"
#include "prometheus/remote.pb.h"

namespace hodos::exporters {
namespace {

using hodos::testing::quiet_logger;
using hodos::testing::wait_for;

// What spanmetrics hands on: calls for one series and its duration histogram.
core::MetricBatch red_batch(double calls, uint64_t time_ns = 1'700'000'000'123'000'000ULL) {
  core::MetricAttributes attrs = {{"service.name", "checkout"},
                                  {"span.name", "GET /cart"},
                                  {"span.kind", "SPAN_KIND_SERVER"},
                                  {"status.code", "STATUS_CODE_ERROR"}};
  core::MetricBatch batch;
  core::Metric c{"traces.span.metrics.calls", "", "Spans counted.", core::MetricType::kSum, {}, {}};
  core::MetricPoint p;
  p.attributes = attrs;
  p.time_unix_nano = time_ns;
  p.value = calls;
  c.points.push_back(p);
  core::Metric d{"traces.span.metrics.duration", "ms", "Span durations.",
                 core::MetricType::kHistogram, {10, 50.5}, {}};
  p.value = 0;
  p.bucket_counts = {1, 2, 1};
  p.count = 4;
  p.sum = 120.5;
  d.points.push_back(p);
  batch.metrics = {c, d};
  return batch;
}

TEST(PrometheusNaming, FollowsTheCollectorTranslator) {
  PrometheusNaming naming;
  core::Metric calls{"traces.span.metrics.calls", "", "", core::MetricType::kSum, {}, {}};
  core::Metric duration{"traces.span.metrics.duration", "ms", "", core::MetricType::kHistogram, {}, {}};
  core::Metric seconds{"http.server.duration_seconds", "s", "", core::MetricType::kHistogram, {}, {}};
  EXPECT_EQ(prometheus_family_name(calls, naming), "traces_span_metrics_calls_total");
  EXPECT_EQ(prometheus_family_name(duration, naming), "traces_span_metrics_duration_milliseconds");
  EXPECT_EQ(prometheus_family_name(seconds, naming), "http_server_duration_seconds")
      << "a unit suffix already there is not doubled";
  naming.metric_namespace = "hodos";
  naming.add_metric_suffixes = false;
  EXPECT_EQ(prometheus_family_name(calls, naming), "hodos_traces_span_metrics_calls");
  EXPECT_EQ(prometheus_label_name("http.request.method"), "http_request_method");
  EXPECT_EQ(prometheus_label_name("2xx"), "key_2xx");
  EXPECT_EQ(prometheus_le(50.5), "50.5");
  EXPECT_EQ(prometheus_le(1000), "1000");
  EXPECT_EQ(prometheus_le(INFINITY), "+Inf");
}

TEST(PrometheusText, RendersCountersAndCumulativeHistograms) {
  PrometheusNaming naming;
  naming.extra_labels = {{"source", "scrape"}};
  const std::string text = render_prometheus_text(to_prometheus(red_batch(3), naming));
  const std::string rest =
      R"(service_name="checkout",source="scrape",span_kind="SPAN_KIND_SERVER",span_name="GET /cart",status_code="STATUS_CODE_ERROR")";
  const std::string labels = R"(job="checkout",)" + rest;
  // Labels sorted by name everywhere, le included.
  auto bucket = [&](const char* le) { return R"(job="checkout",le=")" + std::string(le) + "\"," + rest; };
  EXPECT_EQ(text,
            "# HELP traces_span_metrics_calls_total Spans counted.\n"
            "# TYPE traces_span_metrics_calls_total counter\n"
            "traces_span_metrics_calls_total{" + labels + "} 3\n"
            "# HELP traces_span_metrics_duration_milliseconds Span durations.\n"
            "# TYPE traces_span_metrics_duration_milliseconds histogram\n"
            "traces_span_metrics_duration_milliseconds_bucket{" + bucket("10") + "} 1\n"
            "traces_span_metrics_duration_milliseconds_bucket{" + bucket("50.5") + "} 3\n"
            "traces_span_metrics_duration_milliseconds_bucket{" + bucket("+Inf") + "} 4\n"
            "traces_span_metrics_duration_milliseconds_sum{" + labels + "} 120.5\n"
            "traces_span_metrics_duration_milliseconds_count{" + labels + "} 4\n");
}

TEST(PrometheusText, EscapesLabelValues) {
  core::MetricBatch batch;
  core::Metric c{"calls", "", "", core::MetricType::kSum, {}, {}};
  core::MetricPoint p;
  p.attributes = {{"span.name", "say \"hi\"\\\n"}};
  p.value = 1;
  c.points.push_back(p);
  batch.metrics.push_back(c);
  EXPECT_EQ(render_prometheus_text(to_prometheus(batch, {})),
            "# TYPE calls_total counter\ncalls_total{span_name=\"say \\\"hi\\\"\\\\\\n\"} 1\n");
}

// A remote-write receiver: answers with the next status of `statuses` (then 204) and keeps
// every request it decoded.
class RemoteWriteReceiver {
 public:
  explicit RemoteWriteReceiver(std::vector<int> statuses = {}) : statuses_(std::move(statuses)) {
    server_.route("POST", "/api/v1/write", [this](net::HttpRequest& req) {
      std::lock_guard lock(mu_);
      ++attempts_;
      headers_ = req.headers;
      if (!statuses_.empty()) {
        int status = statuses_.front();
        statuses_.erase(statuses_.begin());
        return net::HttpResponse{status, "text/plain", "not now", {}};
      }
      std::string raw;
      if (!snappy::Uncompress(req.body.data(), req.body.size(), &raw)) {
        return net::HttpResponse{400, "text/plain", "bad snappy", {}};
      }
      prometheus::WriteRequest wr;
      if (!wr.ParseFromString(raw)) return net::HttpResponse{400, "text/plain", "bad proto", {}};
      requests_.push_back(std::move(wr));
      return net::HttpResponse{204, "text/plain", "", {}};
    });
    EXPECT_EQ(server_.start(), std::nullopt);
  }
  std::string url() const {
    return "http://127.0.0.1:" + std::to_string(server_.port()) + "/api/v1/write";
  }
  std::vector<prometheus::WriteRequest> requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }
  int attempts() {
    std::lock_guard lock(mu_);
    return attempts_;
  }
  std::string header(const std::string& name) {
    std::lock_guard lock(mu_);
    for (const auto& [k, v] : headers_) {
      if (k == name) return v;
    }
    return "";
  }

 private:
  net::HttpServer server_{net::HttpServerOptions{}};
  std::mutex mu_;
  std::vector<int> statuses_;
  std::vector<prometheus::WriteRequest> requests_;
  std::vector<std::pair<std::string, std::string>> headers_;
  int attempts_ = 0;
};

std::string labels_of(const prometheus::TimeSeries& ts) {
  std::string out;
  for (const auto& l : ts.labels()) out += l.name() + "=" + l.value() + ",";
  return out;
}

std::unique_ptr<pipeline::MetricsExporter> make_remote_write(pipeline::Metrics& metrics,
                                                             const std::string& yaml) {
  pipeline::ConfigNode config(YAML::Load(yaml), "exporters.prometheusremotewrite");
  return make_prometheus_remote_write_exporter_factory()->create(
      {{"prometheusremotewrite", ""}, metrics, quiet_logger()}, config);
}

TEST(PrometheusRemoteWrite, SendsSnappyProtobufWithSortedLabelsAndMetadata) {
  RemoteWriteReceiver receiver;
  pipeline::Metrics metrics;
  auto e = make_remote_write(metrics, "endpoint: " + receiver.url() +
                                          "\nexternal_labels: {cluster: eu1}\n"
                                          "headers: {X-Scope-OrgID: tenant-a}\n");
  ASSERT_TRUE(e->start().is_ok());
  ASSERT_TRUE(e->consume_metrics(red_batch(3)).is_ok());
  ASSERT_TRUE(wait_for([&] { return receiver.requests().size() == 1; }));
  e->shutdown(std::chrono::steady_clock::now() + std::chrono::seconds(5));
  EXPECT_EQ(receiver.header("content-encoding"), "snappy");
  EXPECT_EQ(receiver.header("content-type"), "application/x-protobuf");
  EXPECT_EQ(receiver.header("x-prometheus-remote-write-version"), "0.1.0");
  EXPECT_EQ(receiver.header("x-scope-orgid"), "tenant-a");

  const auto wr = receiver.requests()[0];
  ASSERT_EQ(wr.metadata_size(), 2);
  EXPECT_EQ(wr.metadata(0).metric_family_name(), "traces_span_metrics_calls_total");
  EXPECT_EQ(wr.metadata(0).type(), prometheus::MetricMetadata::COUNTER);
  EXPECT_EQ(wr.metadata(1).type(), prometheus::MetricMetadata::HISTOGRAM);
  // 1 counter + 3 buckets + sum + count.
  ASSERT_EQ(wr.timeseries_size(), 6);
  const std::string common =
      "cluster=eu1,job=checkout,service_name=checkout,span_kind=SPAN_KIND_SERVER,"
      "span_name=GET /cart,status_code=STATUS_CODE_ERROR,";
  EXPECT_EQ(labels_of(wr.timeseries(0)), "__name__=traces_span_metrics_calls_total," + common);
  ASSERT_EQ(wr.timeseries(0).samples_size(), 1);
  EXPECT_EQ(wr.timeseries(0).samples(0).value(), 3);
  EXPECT_EQ(wr.timeseries(0).samples(0).timestamp(), 1'700'000'000'123);
  EXPECT_EQ(labels_of(wr.timeseries(2)),
            "__name__=traces_span_metrics_duration_milliseconds_bucket,cluster=eu1,job=checkout,"
            "le=50.5,service_name=checkout,span_kind=SPAN_KIND_SERVER,span_name=GET /cart,"
            "status_code=STATUS_CODE_ERROR,");
  EXPECT_EQ(wr.timeseries(2).samples(0).value(), 3) << "buckets are cumulative";
  EXPECT_EQ(labels_of(wr.timeseries(5)),
            "__name__=traces_span_metrics_duration_milliseconds_count," + common);
  EXPECT_EQ(wr.timeseries(5).samples(0).value(), 4);
  EXPECT_EQ(metrics.value("otelcol_exporter_sent_metric_points_total",
                          {{"exporter", "prometheusremotewrite"}}), 2)
      << "OpenTelemetry points, as the Collector counts them, not the 6 samples";
}

TEST(PrometheusRemoteWrite, RetriesWhileTheReceiverIsUnavailableAndKeepsOrder) {
  RemoteWriteReceiver receiver({503, 503});
  pipeline::Metrics metrics;
  auto e = make_remote_write(metrics, "endpoint: " + receiver.url() +
                                          "\nretry_on_failure: {initial_interval: 10ms}\n");
  ASSERT_TRUE(e->start().is_ok());
  ASSERT_TRUE(e->consume_metrics(red_batch(1, 1'000'000'000)).is_ok());
  ASSERT_TRUE(e->consume_metrics(red_batch(2, 2'000'000'000)).is_ok());
  ASSERT_TRUE(wait_for([&] { return receiver.requests().size() == 2; }));
  e->shutdown(std::chrono::steady_clock::now() + std::chrono::seconds(5));
  EXPECT_EQ(receiver.attempts(), 4);
  EXPECT_EQ(receiver.requests()[0].timeseries(0).samples(0).value(), 1);
  EXPECT_EQ(receiver.requests()[1].timeseries(0).samples(0).value(), 2);
  EXPECT_EQ(metrics.value("otelcol_exporter_send_failed_metric_points_total",
                          {{"exporter", "prometheusremotewrite"}}), 0);
}

TEST(PrometheusRemoteWrite, RetriesEvery5xxAsTheSpecSays) {
  RemoteWriteReceiver receiver({500});
  pipeline::Metrics metrics;
  auto e = make_remote_write(metrics, "endpoint: " + receiver.url() +
                                          "\nretry_on_failure: {initial_interval: 10ms}\n");
  ASSERT_TRUE(e->start().is_ok());
  ASSERT_TRUE(e->consume_metrics(red_batch(1)).is_ok());
  ASSERT_TRUE(wait_for([&] { return receiver.requests().size() == 1; }));
  e->shutdown(std::chrono::steady_clock::now() + std::chrono::seconds(5));
  EXPECT_EQ(receiver.attempts(), 2);
}

TEST(PrometheusRemoteWrite, LabelsAreSortedEvenWhenUpperCaseSortsBeforeName) {
  RemoteWriteReceiver receiver;
  pipeline::Metrics metrics;
  auto e = make_remote_write(metrics, "endpoint: " + receiver.url() + "\nexternal_labels: {Cluster: eu1}\n");
  ASSERT_TRUE(e->start().is_ok());
  ASSERT_TRUE(e->consume_metrics(red_batch(1)).is_ok());
  ASSERT_TRUE(wait_for([&] { return receiver.requests().size() == 1; }));
  e->shutdown(std::chrono::steady_clock::now() + std::chrono::seconds(5));
  const auto requests = receiver.requests();
  const auto& ts = requests[0].timeseries(0);
  ASSERT_GE(ts.labels_size(), 2);
  EXPECT_EQ(ts.labels(0).name(), "Cluster");
  EXPECT_EQ(ts.labels(1).name(), "__name__");
  for (int i = 1; i < ts.labels_size(); ++i) EXPECT_LT(ts.labels(i - 1).name(), ts.labels(i).name());
}

TEST(PrometheusRemoteWrite, ShutdownDoesNotWaitOutALongBackoff) {
  pipeline::Metrics metrics;
  auto e = make_remote_write(metrics,
                             "endpoint: http://127.0.0.1:1/api/v1/write\n"
                             "retry_on_failure: {initial_interval: 1h, max_interval: 1h}\n");
  ASSERT_TRUE(e->start().is_ok());
  ASSERT_TRUE(e->consume_metrics(red_batch(1)).is_ok());
  const auto t0 = std::chrono::steady_clock::now();
  e->shutdown(t0 + std::chrono::milliseconds(300));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(30))
      << "the worker slept out its backoff past the shutdown deadline";
  EXPECT_EQ(metrics.value("otelcol_exporter_send_failed_metric_points_total",
                          {{"exporter", "prometheusremotewrite"}}), 2);
}

TEST(PrometheusRemoteWrite, DropsWhatTheReceiverRefusesAndCountsIt) {
  RemoteWriteReceiver receiver({401});
  pipeline::Metrics metrics;
  auto e = make_remote_write(metrics, "endpoint: " + receiver.url() + "\n");
  ASSERT_TRUE(e->start().is_ok());
  ASSERT_TRUE(e->consume_metrics(red_batch(1)).is_ok());
  ASSERT_TRUE(wait_for([&] {
    return metrics.value("otelcol_exporter_send_failed_metric_points_total",
                         {{"exporter", "prometheusremotewrite"}}) == 2;
  }));
  ASSERT_TRUE(e->consume_metrics(red_batch(2)).is_ok());
  ASSERT_TRUE(wait_for([&] { return receiver.requests().size() == 1; })) << "later writes still go";
  e->shutdown(std::chrono::steady_clock::now() + std::chrono::seconds(5));
  EXPECT_EQ(receiver.attempts(), 2) << "a 401 is not retried";
}

TEST(PrometheusRemoteWrite, FullQueueDropsTheOldestRequest) {
  // Nothing listens: every request waits; the queue keeps the newest one.
  pipeline::Metrics metrics;
  auto e = make_remote_write(metrics,
                             "endpoint: http://127.0.0.1:1/api/v1/write\n"
                             "remote_write_queue: {queue_size: 1}\n"
                             "retry_on_failure: {initial_interval: 1h}\n");
  ASSERT_TRUE(e->start().is_ok());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(e->consume_metrics(red_batch(i)).is_ok());
  EXPECT_GE(metrics.value("otelcol_exporter_enqueue_failed_metric_points_total",
                          {{"exporter", "prometheusremotewrite"}}), 2);
  e->shutdown(std::chrono::steady_clock::now());
  EXPECT_EQ(metrics.value("otelcol_exporter_sent_metric_points_total",
                          {{"exporter", "prometheusremotewrite"}}), 0);
}

TEST(PrometheusRemoteWrite, SplitsLargeSnapshots) {
  RemoteWriteReceiver receiver;
  pipeline::Metrics metrics;
  auto e = make_remote_write(metrics, "endpoint: " + receiver.url() + "\nmax_batch_size_bytes: 1024\n");
  ASSERT_TRUE(e->start().is_ok());
  core::MetricBatch batch = red_batch(1);
  for (int i = 0; i < 40; ++i) {
    core::MetricPoint p = batch.metrics[0].points[0];
    p.attributes[1].second = "op-" + std::to_string(i);
    batch.metrics[0].points.push_back(p);
  }
  ASSERT_TRUE(e->consume_metrics(batch).is_ok());
  ASSERT_TRUE(wait_for([&] {
    return metrics.value("otelcol_exporter_sent_metric_points_total",
                         {{"exporter", "prometheusremotewrite"}}) == 42;
  }));
  e->shutdown(std::chrono::steady_clock::now() + std::chrono::seconds(5));
  const auto requests = receiver.requests();
  EXPECT_GT(requests.size(), 1u);
  size_t series = 0;
  for (const auto& r : requests) {
    EXPECT_LE(r.ByteSizeLong(), 1024u + 512u) << "one series may overshoot, never many";
    series += r.timeseries_size();
  }
  EXPECT_EQ(series, 46u);
}

TEST(PrometheusRemoteWrite, ConfigErrors) {
  pipeline::Metrics metrics;
  auto error_of = [&](const std::string& yaml) -> std::string {
    try {
      make_remote_write(metrics, yaml);
    } catch (const pipeline::ConfigError& e) {
      return e.what();
    }
    return "(no error)";
  };
  EXPECT_EQ(error_of("headers: {}"),
            "exporters.prometheusremotewrite.endpoint: required; e.g. "
            "http://prometheus:9090/api/v1/write");
  EXPECT_EQ(error_of("endpoint: http://p:9090/api/v1/write\nexternal_labels: {k8s.cluster: a}"),
            "exporters.prometheusremotewrite.external_labels: 'k8s.cluster' is not a Prometheus "
            "label name; use letters, digits and underscores, e.g. k8s_cluster");
  EXPECT_EQ(error_of("endpoint: http://p:9090/api/v1/write\nremote_write_queue: {enabled: false}"),
            "exporters.prometheusremotewrite.remote_write_queue.enabled: the queue cannot be "
            "turned off; set queue_size to bound it");
}

uint16_t unused_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

TEST(PrometheusExporter, ServesTheSeriesOfEveryProducerUntilTheyExpire) {
  pipeline::Metrics metrics;
  const std::string endpoint = "127.0.0.1:" + std::to_string(unused_port());
  pipeline::ConfigNode config(YAML::Load("endpoint: " + endpoint + "\nmetric_expiration: 1h"),
                              "exporters.prometheus");
  auto e = make_prometheus_exporter_factory()->create({{"prometheus", ""}, metrics, quiet_logger()},
                                                       config);
  ASSERT_TRUE(e->start().is_ok());
  // Two connectors feeding one exporter: neither's flush hides the other's series.
  core::MetricBatch a = red_batch(3);
  core::MetricBatch b = red_batch(5);
  for (auto& m : b.metrics) m.points[0].attributes[0].second = "payments";
  ASSERT_TRUE(e->consume_metrics(a).is_ok());
  ASSERT_TRUE(e->consume_metrics(b).is_ok());
  ASSERT_TRUE(e->consume_metrics(red_batch(4)).is_ok());  // checkout again: replaces its value
  net::HttpClient client;
  net::HttpClientRequest req;
  req.method = "GET";
  req.url = "http://" + endpoint + "/metrics";
  const std::string text = client.send(req).body;
  e->shutdown(std::chrono::steady_clock::now());
  EXPECT_NE(text.find("traces_span_metrics_calls_total{job=\"checkout\",service_name=\"checkout\","), std::string::npos) << text;
  EXPECT_NE(text.find("service_name=\"checkout\",span_kind=\"SPAN_KIND_SERVER\",span_name=\"GET /cart\",status_code=\"STATUS_CODE_ERROR\"} 4\n"), std::string::npos) << text;
  EXPECT_NE(text.find("service_name=\"payments\",span_kind=\"SPAN_KIND_SERVER\",span_name=\"GET /cart\",status_code=\"STATUS_CODE_ERROR\"} 5\n"), std::string::npos) << text;
  size_t calls = 0;
  for (size_t at = text.find("\ntraces_span_metrics_calls_total{"); at != std::string::npos;
       at = text.find("\ntraces_span_metrics_calls_total{", at + 1)) {
    ++calls;
  }
  EXPECT_EQ(calls, 2u) << "one series per service: the older checkout value is gone";
  size_t types = 0;
  for (size_t at = text.find("# TYPE"); at != std::string::npos; at = text.find("# TYPE", at + 1)) ++types;
  EXPECT_EQ(types, 2u) << "one TYPE line per family";
}

TEST(PrometheusExporter, ConfigErrors) {
  pipeline::Metrics metrics;
  pipeline::ConfigNode config(YAML::Load("endpoint: nowhere"), "exporters.prometheus");
  try {
    make_prometheus_exporter_factory()->create({{"prometheus", ""}, metrics, quiet_logger()}, config);
    FAIL() << "accepted a bad endpoint";
  } catch (const pipeline::ConfigError& e) {
    EXPECT_STREQ(e.what(), "exporters.prometheus.endpoint: 'nowhere' is not host:port, e.g. "
                           "127.0.0.1:8889");
  }
}

}  // namespace
}  // namespace hodos::exporters
