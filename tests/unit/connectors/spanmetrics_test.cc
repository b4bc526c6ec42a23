#include "connectors/spanmetrics.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <mutex>

#include "../exporters/exporter_test_util.h"
#include "pipeline/metrics.h"

namespace hodos::connectors {
namespace {

using testing::quiet_logger;

class Capture : public pipeline::MetricsConsumer {
 public:
  pipeline::Status consume_metrics(const core::MetricBatch& batch) override {
    std::lock_guard lock(mu);
    batches.push_back(batch);
    return pipeline::Status::ok();
  }
  core::MetricBatch last() {
    std::lock_guard lock(mu);
    return batches.empty() ? core::MetricBatch{} : batches.back();
  }
  std::mutex mu;
  std::vector<core::MetricBatch> batches;
};

struct SpanSpec {
  SpanSpec(std::string service, std::string name, core::SpanKind kind = core::SpanKind::kServer,
           core::StatusCode status = core::StatusCode::kUnset, uint64_t duration_ms = 1,
           std::vector<std::pair<std::string, std::string>> attributes = {})
      : service(std::move(service)), name(std::move(name)), kind(kind), status(status),
        duration_ms(duration_ms), attributes(std::move(attributes)) {}
  std::string service;
  std::string name;
  core::SpanKind kind;
  core::StatusCode status;
  uint64_t duration_ms;
  std::vector<std::pair<std::string, std::string>> attributes;
};

core::SpanBatch batch_of(const std::vector<SpanSpec>& specs) {
  core::SpanBatch b;
  core::Arena& a = b.arena();
  for (const auto& spec : specs) {
    core::Resource* r = b.new_resource();
    core::upsert_attribute(a, r->attributes, "service.name", core::AnyValue::string(spec.service));
    core::upsert_attribute(a, r->attributes, "deployment.environment", core::AnyValue::string("prod"));
    core::Span s;
    s.name = a.copy(spec.name);
    s.kind = spec.kind;
    s.status.code = spec.status;
    s.start_time_unix_nano = 1'700'000'000'000'000'000ULL;
    s.end_time_unix_nano = s.start_time_unix_nano + spec.duration_ms * 1'000'000;
    s.resource = r;
    for (const auto& [k, v] : spec.attributes) {
      core::upsert_attribute(a, s.attributes, k, core::AnyValue::string(a.copy(v)));
    }
    b.spans().push_back(s);
  }
  return b;
}

class SpanMetricsTest : public ::testing::Test {
 protected:
  std::unique_ptr<pipeline::Connector> make(const std::string& yaml) {
    pipeline::ConfigNode cfg(YAML::Load(yaml), "connectors.spanmetrics");
    return factory_->create({{"spanmetrics", ""}, metrics_, quiet_logger()}, cfg, capture_);
  }
  std::string error_of(const std::string& yaml) {
    try {
      make(yaml);
    } catch (const pipeline::ConfigError& e) {
      return e.what();
    }
    return "(no error)";
  }
  // The point of `metric` whose attributes include every pair of `want`.
  static const core::MetricPoint* point(const core::MetricBatch& batch, const std::string& metric,
                                        const core::MetricAttributes& want) {
    for (const auto& m : batch.metrics) {
      if (m.name != metric) continue;
      for (const auto& p : m.points) {
        bool all = true;
        for (const auto& kv : want) {
          all = all && std::find(p.attributes.begin(), p.attributes.end(), kv) != p.attributes.end();
        }
        if (all) return &p;
      }
    }
    return nullptr;
  }

  std::unique_ptr<pipeline::ConnectorFactory> factory_ = make_spanmetrics_connector_factory();
  pipeline::Metrics metrics_;
  Capture capture_;
};

TEST_F(SpanMetricsTest, CountsCallsErrorsAndDurationsBySeriesAndFlushesAtShutdown) {
  auto c = make("metrics_flush_interval: 1h\nhistogram: {explicit: {buckets: [10ms, 50ms, 1s]}}");
  ASSERT_TRUE(c->start().is_ok());
  std::vector<SpanSpec> specs;
  for (int i = 0; i < 5; ++i) {
    specs.push_back({"checkout", "GET /cart", core::SpanKind::kServer,
                     i < 2 ? core::StatusCode::kError : core::StatusCode::kUnset,
                     i == 0 ? 5u : 30u});
  }
  specs.push_back({"checkout", "SELECT", core::SpanKind::kClient, core::StatusCode::kUnset, 2000});
  ASSERT_TRUE(c->consume(batch_of(specs)).is_ok());
  EXPECT_TRUE(capture_.batches.empty()) << "nothing is sent before the flush interval";
  c->shutdown(std::chrono::steady_clock::now());
  ASSERT_EQ(capture_.batches.size(), 1u);
  const core::MetricBatch batch = capture_.last();
  ASSERT_EQ(batch.metrics.size(), 2u);
  EXPECT_EQ(batch.metrics[0].name, "traces.span.metrics.calls");
  EXPECT_EQ(batch.metrics[0].type, core::MetricType::kSum);
  EXPECT_EQ(batch.metrics[1].name, "traces.span.metrics.duration");
  EXPECT_EQ(batch.metrics[1].unit, "ms");
  EXPECT_EQ(batch.metrics[1].bounds, (std::vector<double>{10, 50, 1000}));
  EXPECT_EQ(batch.metrics[0].points.size(), 3u);

  const auto* errors = point(batch, "traces.span.metrics.calls",
                             {{"service.name", "checkout"}, {"span.name", "GET /cart"},
                              {"span.kind", "SPAN_KIND_SERVER"}, {"status.code", "STATUS_CODE_ERROR"}});
  ASSERT_NE(errors, nullptr);
  EXPECT_EQ(errors->value, 2);
  const auto* ok = point(batch, "traces.span.metrics.calls",
                         {{"span.name", "GET /cart"}, {"status.code", "STATUS_CODE_UNSET"}});
  ASSERT_NE(ok, nullptr);
  EXPECT_EQ(ok->value, 3);
  EXPECT_GT(ok->time_unix_nano, 0u);
  EXPECT_LE(ok->start_time_unix_nano, ok->time_unix_nano);

  // Error series: one 5 ms span (<= 10), one 30 ms (<= 50). Per-bucket counts, as OTLP has them.
  const auto* err_hist = point(batch, "traces.span.metrics.duration",
                               {{"span.name", "GET /cart"}, {"status.code", "STATUS_CODE_ERROR"}});
  ASSERT_NE(err_hist, nullptr);
  EXPECT_EQ(err_hist->bucket_counts, (std::vector<uint64_t>{1, 1, 0, 0}));
  EXPECT_EQ(err_hist->count, 2u);
  EXPECT_DOUBLE_EQ(err_hist->sum, 35.0);
  const auto* slow = point(batch, "traces.span.metrics.duration", {{"span.name", "SELECT"}});
  ASSERT_NE(slow, nullptr);
  EXPECT_EQ(slow->bucket_counts, (std::vector<uint64_t>{0, 0, 0, 1})) << "2 s is past the last bound";
  EXPECT_EQ(slow->attributes[2], (std::pair<std::string, std::string>{"span.kind", "SPAN_KIND_CLIENT"}));
  EXPECT_EQ(metrics_.value("hodos_connector_spans_total", {{"connector", "spanmetrics"}}), 6);
  EXPECT_EQ(metrics_.value("hodos_spanmetrics_series", {{"connector", "spanmetrics"}}), 3);
}

TEST_F(SpanMetricsTest, CountsAreCumulativeAcrossFlushes) {
  auto c = make("metrics_flush_interval: 20ms");
  ASSERT_TRUE(c->start().is_ok());
  ASSERT_TRUE(c->consume(batch_of({{"a", "op"}})).is_ok());
  ASSERT_TRUE(testing::wait_for([&] { return capture_.last().point_count() > 0; }));
  ASSERT_TRUE(c->consume(batch_of({{"a", "op"}, {"a", "op"}})).is_ok());
  ASSERT_TRUE(testing::wait_for([&] {
    const core::MetricBatch last = capture_.last();  // point() answers into it
    const auto* p = point(last, "traces.span.metrics.calls", {{"span.name", "op"}});
    return p && p->value == 3;
  }));
  const core::MetricBatch before = capture_.last();
  const auto* p = point(before, "traces.span.metrics.calls", {{"span.name", "op"}});
  ASSERT_NE(p, nullptr);
  const auto first_start = p->start_time_unix_nano;
  c->shutdown(std::chrono::steady_clock::now());
  const core::MetricBatch after = capture_.last();
  EXPECT_EQ(point(after, "traces.span.metrics.calls", {})->start_time_unix_nano,
            first_start) << "a cumulative series keeps its start time";
}

TEST_F(SpanMetricsTest, DimensionsComeFromSpanThenResourceWithDefaults) {
  auto c = make(R"(
metrics_flush_interval: 1h
namespace: ""
exclude_dimensions: [span.kind]
histogram: {disable: true}
dimensions:
  - {name: http.request.method}
  - {name: deployment.environment}
  - {name: http.route, default: none}
)");
  ASSERT_TRUE(c->start().is_ok());
  ASSERT_TRUE(c->consume(batch_of({{"web", "GET", core::SpanKind::kServer, core::StatusCode::kUnset, 1,
                                    {{"http.request.method", "GET"}}},
                                   {"web", "job"}}))
                  .is_ok());
  c->shutdown(std::chrono::steady_clock::now());
  const auto batch = capture_.last();
  ASSERT_EQ(batch.metrics.size(), 1u) << "histogram disabled";
  EXPECT_EQ(batch.metrics[0].name, "calls");
  const auto* get = point(batch, "calls", {{"span.name", "GET"}});
  ASSERT_NE(get, nullptr);
  EXPECT_EQ(get->attributes,
            (core::MetricAttributes{{"service.name", "web"},
                                    {"span.name", "GET"},
                                    {"status.code", "STATUS_CODE_UNSET"},
                                    {"http.request.method", "GET"},
                                    {"deployment.environment", "prod"},
                                    {"http.route", "none"}}));
  const auto* job = point(batch, "calls", {{"span.name", "job"}});
  ASSERT_NE(job, nullptr);
  EXPECT_EQ(job->attributes.size(), 5u) << "a missing dimension without a default is left out";
}

TEST_F(SpanMetricsTest, CardinalityLimitSendsNewLabelSetsToTheOverflowSeries) {
  auto c = make("metrics_flush_interval: 1h\naggregation_cardinality_limit: 2");
  ASSERT_TRUE(c->start().is_ok());
  ASSERT_TRUE(c->consume(batch_of({{"s", "a"}, {"s", "b"}, {"s", "c"}, {"s", "d"}, {"s", "a"}})).is_ok());
  c->shutdown(std::chrono::steady_clock::now());
  const auto batch = capture_.last();
  EXPECT_EQ(batch.metrics[0].points.size(), 3u);
  EXPECT_EQ(point(batch, "traces.span.metrics.calls", {{"span.name", "a"}})->value, 2);
  const auto* overflow =
      point(batch, "traces.span.metrics.calls", {{"otel.metric.overflow", "true"}});
  ASSERT_NE(overflow, nullptr);
  EXPECT_EQ(overflow->value, 2);
  EXPECT_EQ(metrics_.value("hodos_spanmetrics_overflow_spans_total", {{"connector", "spanmetrics"}}), 2);
}

TEST_F(SpanMetricsTest, BucketsFinerThanAMillisecond) {
  // The Collector README's own example.
  auto c = make("metrics_flush_interval: 1h\n"
                "histogram: {explicit: {buckets: [100us, 1ms, 1.5ms, 2ms, 6ms, 10ms, 100ms, 250ms]}}");
  ASSERT_TRUE(c->start().is_ok());
  ASSERT_TRUE(c->consume(batch_of({{"s", "op", core::SpanKind::kServer, core::StatusCode::kUnset, 2}})).is_ok());
  c->shutdown(std::chrono::steady_clock::now());
  const auto batch = capture_.last();
  EXPECT_EQ(batch.metrics[1].bounds, (std::vector<double>{0.1, 1, 1.5, 2, 6, 10, 100, 250}));
  EXPECT_EQ(point(batch, "traces.span.metrics.duration", {})->bucket_counts,
            (std::vector<uint64_t>{0, 0, 0, 1, 0, 0, 0, 0, 0})) << "2 ms is in le=2";
}

TEST_F(SpanMetricsTest, SeriesNoSpanUpdatedExpire) {
  auto c = make("metrics_flush_interval: 10ms\nmetrics_expiration: 60ms");
  ASSERT_TRUE(c->start().is_ok());
  ASSERT_TRUE(c->consume(batch_of({{"s", "old"}})).is_ok());
  ASSERT_TRUE(testing::wait_for([&] {
    return point(capture_.last(), "traces.span.metrics.calls", {{"span.name", "old"}}) != nullptr;
  }));
  // Keep "new" alive until "old" has gone from the flushes.
  ASSERT_TRUE(testing::wait_for([&] {
    EXPECT_TRUE(c->consume(batch_of({{"s", "new"}})).is_ok());
    const auto batch = capture_.last();
    return point(batch, "traces.span.metrics.calls", {{"span.name", "new"}}) != nullptr &&
           point(batch, "traces.span.metrics.calls", {{"span.name", "old"}}) == nullptr;
  }));
  c->shutdown(std::chrono::steady_clock::now());
  const core::MetricBatch last = capture_.last();
  EXPECT_GT(point(last, "traces.span.metrics.calls", {{"span.name", "new"}})->value, 1);
}

// The series key separates fields with NULs: a value's own NULs must not split it.
TEST_F(SpanMetricsTest, ValuesWithNulsKeepTheirSeries) {
  auto c = make("metrics_flush_interval: 1h\nhistogram: {disable: true}");
  ASSERT_TRUE(c->start().is_ok());
  ASSERT_TRUE(c->consume(batch_of({{"s", std::string("a\0b", 3)}, {"s", "a b"}})).is_ok());
  c->shutdown(std::chrono::steady_clock::now());
  const core::MetricBatch last = capture_.last();
  const auto* p = point(last, "traces.span.metrics.calls", {{"span.name", "a b"}});
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->value, 2);
  EXPECT_EQ(p->attributes.size(), 4u);
}

TEST_F(SpanMetricsTest, ConfigErrorsNameTheKey) {
  EXPECT_EQ(error_of("histogram: {explicit: {buckets: [10ms, 5ms]}}"),
            "connectors.spanmetrics.histogram.explicit.buckets: list the bounds in increasing "
            "order, each once");
  EXPECT_EQ(error_of("histogram: {explicit: {buckets: [fast]}}"),
            "connectors.spanmetrics.histogram.explicit.buckets: 'fast' is not a duration like "
            "100us, 5ms or 1s");
  EXPECT_EQ(error_of("histogram: {exponential: {max_size: 160}}"),
            "connectors.spanmetrics.histogram.exponential: not supported; use explicit buckets "
            "(Prometheus reads those)");
  EXPECT_EQ(error_of("aggregation_temporality: AGGREGATION_TEMPORALITY_DELTA"),
            "connectors.spanmetrics.aggregation_temporality: only "
            "AGGREGATION_TEMPORALITY_CUMULATIVE is supported (what Prometheus reads)");
  EXPECT_EQ(error_of("dimensions: [{name: span.name}]"),
            "connectors.spanmetrics.dimensions[0].name: 'span.name' is already a dimension");
  EXPECT_NE(error_of("dimensoins: []").find("dimensoins: unknown key"), std::string::npos);
  EXPECT_EQ(error_of("{}"), "(no error)");
}

}  // namespace
}  // namespace hodos::connectors
