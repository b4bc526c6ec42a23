#include "pipeline/service.h"

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <mutex>

#include "pipeline/registry.h"

namespace hodos::pipeline {
namespace {

// Records lifecycle calls in order across all test components.
struct Journal {
  std::mutex mu;
  std::vector<std::string> events;
  void add(const std::string& e) {
    std::lock_guard l(mu);
    events.push_back(e);
  }
};
Journal* journal = nullptr;

class TestExporter : public Exporter {
 public:
  explicit TestExporter(std::string id) : id_(std::move(id)) {}
  Status start() override {
    journal->add("start " + id_);
    return Status::ok();
  }
  void shutdown(Deadline) override { journal->add("stop " + id_); }
  Status consume(core::SpanBatch batch) override {
    for (const auto& s : batch.spans()) journal->add(id_ + " got " + std::string(s.name));
    return Status::ok();
  }

 private:
  std::string id_;
};

// Renames every span in place, so fan-out must give it its own copy.
class RenameProcessor : public Processor {
 public:
  RenameProcessor(std::string id, std::string suffix, TracesConsumer& next)
      : id_(std::move(id)), suffix_(std::move(suffix)), next_(next) {}
  Status start() override {
    journal->add("start " + id_);
    return Status::ok();
  }
  void shutdown(Deadline) override { journal->add("stop " + id_); }
  bool mutates_data() const override { return true; }
  Status consume(core::SpanBatch batch) override {
    for (auto& s : batch.spans()) s.name = batch.arena().copy(std::string(s.name) + suffix_);
    return next_.consume(std::move(batch));
  }

 private:
  std::string id_, suffix_;
  TracesConsumer& next_;
};

class TestReceiver : public Receiver {
 public:
  TestReceiver(std::string id, TracesConsumer& next) : id_(std::move(id)), next_(next) {}
  Status start() override {
    journal->add("start " + id_);
    last = this;
    return Status::ok();
  }
  void shutdown(Deadline) override { journal->add("stop " + id_); }
  Status send(const std::string& name) {
    core::SpanBatch b;
    core::Span s;
    s.name = b.arena().copy(name);
    b.spans().push_back(s);
    return next_.consume(std::move(b));
  }
  static inline TestReceiver* last = nullptr;

 private:
  std::string id_;
  TracesConsumer& next_;
};

struct ExporterF : ExporterFactory {
  std::string_view type() const override { return "capture"; }
  std::unique_ptr<Exporter> create(const CreateContext& ctx, ConfigNode& cfg) const override {
    cfg.get_string("endpoint", "");
    if (cfg.has("required_thing")) cfg.require_string("required_thing");
    return std::make_unique<TestExporter>(ctx.id.str());
  }
};
struct ProcessorF : ProcessorFactory {
  std::string_view type() const override { return "rename"; }
  std::unique_ptr<Processor> create(const CreateContext& ctx, ConfigNode& cfg,
                                    TracesConsumer& next) const override {
    return std::make_unique<RenameProcessor>(ctx.id.str(), cfg.get_string("suffix", "!"), next);
  }
};
struct ReceiverF : ReceiverFactory {
  std::string_view type() const override { return "manual"; }
  std::unique_ptr<Receiver> create(const CreateContext& ctx, ConfigNode&,
                                   TracesConsumer& next) const override {
    return std::make_unique<TestReceiver>(ctx.id.str(), next);
  }
};

// Counts the spans it is given and hands the count on as one metric point when stopped.
class CountingConnector : public Connector {
 public:
  CountingConnector(std::string id, MetricsConsumer& next) : id_(std::move(id)), next_(next) {}
  Status start() override {
    journal->add("start " + id_);
    return Status::ok();
  }
  void shutdown(Deadline) override {
    journal->add("stop " + id_);
    core::MetricBatch batch;
    batch.metrics.push_back({"spans", "", "", core::MetricType::kSum, {}, {}});
    batch.metrics[0].points.push_back({});
    batch.metrics[0].points[0].value = static_cast<double>(spans_);
    next_.consume_metrics(batch);
  }
  Status consume(core::SpanBatch batch) override {
    spans_ += batch.size();
    return Status::ok();
  }

 private:
  std::string id_;
  MetricsConsumer& next_;
  size_t spans_ = 0;
};

class TestMetricsExporter : public MetricsExporter {
 public:
  explicit TestMetricsExporter(std::string id) : id_(std::move(id)) {}
  Status start() override {
    journal->add("start " + id_);
    return Status::ok();
  }
  void shutdown(Deadline) override { journal->add("stop " + id_); }
  Status consume_metrics(const core::MetricBatch& batch) override {
    journal->add(fmt::format("{} got {}={}", id_, batch.metrics[0].name,
                             batch.metrics[0].points[0].value));
    return Status::ok();
  }

 private:
  std::string id_;
};

struct ConnectorF : ConnectorFactory {
  std::string_view type() const override { return "counting"; }
  std::unique_ptr<Connector> create(const CreateContext& ctx, ConfigNode&,
                                    MetricsConsumer& next) const override {
    return std::make_unique<CountingConnector>(ctx.id.str(), next);
  }
};
struct MetricsExporterF : MetricsExporterFactory {
  std::string_view type() const override { return "mcapture"; }
  std::unique_ptr<MetricsExporter> create(const CreateContext& ctx, ConfigNode&) const override {
    return std::make_unique<TestMetricsExporter>(ctx.id.str());
  }
};

class ServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    journal = &j_;
    registry_.add(std::make_unique<ExporterF>());
    registry_.add(std::make_unique<ProcessorF>());
    registry_.add(std::make_unique<ReceiverF>());
    registry_.add(std::make_unique<ConnectorF>());
    registry_.add(std::make_unique<MetricsExporterF>());
  }
  std::unique_ptr<Service> build(const std::string& yaml) {
    return Service::build(registry_, YAML::Load(yaml), nullptr, ServiceOptions{false, false});
  }
  std::string error_of(const std::string& yaml) {
    try {
      build(yaml);
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "(no error)";
  }
  Journal j_;
  Registry registry_;
};

constexpr const char* kTwoPipelines = R"(
receivers: {manual: {}}
processors: {rename/a: {suffix: "-a"}}
exporters: {capture/one: {}, capture/two: {}}
service:
  pipelines:
    traces/edited: {receivers: [manual], processors: [rename/a], exporters: [capture/one]}
    traces/raw: {receivers: [manual], exporters: [capture/one, capture/two]}
    metrics: {receivers: [manual], exporters: [capture/two]}
)";

TEST_F(ServiceTest, StartsExportersFirstAndStopsReceiversFirst) {
  auto s = build(kTwoPipelines);
  ASSERT_TRUE(s->start().is_ok());
  s->shutdown(std::chrono::steady_clock::now());
  std::vector<std::string> want = {"start capture/one", "start capture/two", "start rename/a",
                                   "start manual",      "stop manual",       "stop rename/a",
                                   "stop capture/two",  "stop capture/one"};
  EXPECT_EQ(j_.events, want);
}

TEST_F(ServiceTest, FanOutGivesEditorsTheirOwnCopy) {
  auto s = build(kTwoPipelines);
  ASSERT_TRUE(s->start().is_ok());
  j_.events.clear();
  ASSERT_TRUE(TestReceiver::last->send("op").is_ok());
  std::multiset<std::string> got(j_.events.begin(), j_.events.end());
  std::multiset<std::string> want = {"capture/one got op-a", "capture/one got op",
                                     "capture/two got op"};
  EXPECT_EQ(got, want);
  EXPECT_EQ(s->pipeline_names(), (std::vector<std::string>{"traces/edited", "traces/raw"}));
}

TEST_F(ServiceTest, ConfigErrorsNameTheKeyAndTheFix) {
  EXPECT_EQ(error_of("receivers: {otlp: {}}\nexporters: {capture: {}}\nservice: {pipelines: {traces: "
                     "{receivers: [otlp], exporters: [capture]}}}"),
            "receivers.otlp: unknown receiver type 'otlp'; known types: manual");
  EXPECT_EQ(error_of("receivers: {manual: {}}\nexporters: {capture: {}}\nservice: {pipelines: "
                     "{traces: {receivers: [manual], exporters: [capture/x]}}}"),
            "service.pipelines.traces.exporters[0]: 'capture/x' is not defined under exporters; "
            "defined: capture");
  EXPECT_EQ(error_of("receivers: {manual: {}}\nexporters: {capture: {}}\nservice: {pipelines: "
                     "{traces: {receivers: [manual]}}}"),
            "service.pipelines.traces.exporters: required; list at least one component");
  EXPECT_EQ(error_of("receivers: {manual: {}}\nexporters: {capture: {required_thing: ''}}\n"
                     "service: {pipelines: {traces: {receivers: [manual], exporters: [capture]}}}"),
            "exporters.capture.required_thing: required");
  EXPECT_EQ(error_of("receivers: {manual: {}}\nexporters: {capture: {endpiont: x}}\n"
                     "service: {pipelines: {traces: {receivers: [manual], exporters: [capture]}}}"),
            "exporters.capture.endpiont: unknown key; valid keys are: endpoint");
  EXPECT_EQ(error_of("receivers: {manual: {}}\nexporters: {capture: {}}\nservice: {pipelines: {}}"),
            "service.pipelines: required; define at least one traces pipeline");
  EXPECT_EQ(error_of("exporters: {capture: {}}\nservice: {telemetry: {metrics: {address: nope}}, "
                     "pipelines: {traces: {receivers: [], exporters: [capture]}}}"),
            "service.pipelines.traces.receivers: required; list at least one component");
  EXPECT_EQ(error_of("recievers: {}\n"),
            "recievers: unknown key; valid keys are: connectors, exporters, extensions, "
            "processors, receivers, service");
}

TEST_F(ServiceTest, TelemetryAddressInBothCollectorForms) {
  const char* base = "receivers: {manual: {}}\nexporters: {capture: {}}\n"
                     "service:\n  pipelines: {traces: {receivers: [manual], exporters: [capture]}}\n";
  EXPECT_NO_THROW(build(std::string(base) + "  telemetry: {metrics: {address: 127.0.0.1:0}}\n"));
  EXPECT_NO_THROW(build(std::string(base) +
                        "  telemetry: {metrics: {readers: [{pull: {exporter: {prometheus: "
                        "{host: 127.0.0.1, port: 0}}}}]}}\n"));
  EXPECT_EQ(error_of(std::string(base) + "  telemetry: {metrics: {readers: [{pull: {exporter: "
                                         "{otlp: {}}}}]}}\n"),
            "service.telemetry.metrics.readers[0].pull.exporter.prometheus: required; Hodos serves "
            "self-metrics as a Prometheus pull endpoint");
}

constexpr const char* kConnected = R"(
receivers: {manual: {}}
exporters: {capture: {}, mcapture/a: {}, mcapture/b: {}}
connectors: {counting: {}}
service:
  pipelines:
    traces: {receivers: [manual], exporters: [capture, counting]}
    metrics/a: {receivers: [counting], exporters: [mcapture/a]}
    metrics/b: {receivers: [manual, counting], exporters: [mcapture/b]}
)";

TEST_F(ServiceTest, ConnectorEndsTracesPipelinesAndFeedsMetricsPipelines) {
  auto s = build(kConnected);
  ASSERT_TRUE(s->start().is_ok());
  ASSERT_TRUE(TestReceiver::last->send("a").is_ok());
  ASSERT_TRUE(TestReceiver::last->send("b").is_ok());
  s->shutdown(std::chrono::steady_clock::now());
  // Metrics exporters start before the connector and stop after it, so its last flush lands.
  std::vector<std::string> want = {
      "start mcapture/a", "start mcapture/b", "start capture", "start counting", "start manual",
      "capture got a",    "capture got b",    "stop manual",   "stop counting",
      "mcapture/a got spans=2", "mcapture/b got spans=2", "stop capture", "stop mcapture/b",
      "stop mcapture/a"};
  EXPECT_EQ(j_.events, want);
  auto lines = s->describe();
  EXPECT_NE(std::find(lines.begin(), lines.end(),
                      "pipeline metrics/a: connectors [counting] -> exporters [mcapture/a]"),
            lines.end());
}

TEST_F(ServiceTest, ConnectorConfigErrorsSayHowToWireIt) {
  EXPECT_EQ(error_of("receivers: {manual: {}}\nexporters: {mcapture: {}}\nservice: {pipelines: "
                     "{traces: {receivers: [manual], exporters: [mcapture]}}}"),
            "service.pipelines.traces.exporters[0]: 'mcapture' exports metrics; list it in a "
            "metrics pipeline whose receiver is a connector such as spanmetrics");
  EXPECT_EQ(error_of("receivers: {manual: {}}\nexporters: {capture: {}}\nconnectors: {counting: {}}\n"
                     "service: {pipelines: {traces: {receivers: [manual], exporters: [counting]},"
                     " metrics: {receivers: [counting], exporters: [capture]}}}"),
            "service.pipelines.metrics.exporters[0]: 'capture' exports traces, not metrics; "
            "metrics exporters: mcapture");
  EXPECT_EQ(error_of("receivers: {manual: {}}\nexporters: {capture: {}}\nconnectors: {counting: {}}\n"
                     "service: {pipelines: {traces: {receivers: [manual], exporters: [capture, counting]}}}"),
            "connectors.counting: no metrics pipeline lists it under receivers; add "
            "service.pipelines.metrics with receivers: [counting]");
  EXPECT_EQ(error_of("receivers: {manual: {}}\nexporters: {capture: {}, mcapture: {}}\n"
                     "connectors: {counting: {}}\nservice: {pipelines: {traces: {receivers: [manual], "
                     "exporters: [capture]}, metrics: {receivers: [counting], exporters: [mcapture]}}}"),
            "connectors.counting: no traces pipeline lists it under exporters, so it would never "
            "see a span; add it to a traces pipeline's exporters");
  EXPECT_EQ(error_of("receivers: {manual: {}}\nexporters: {mcapture: {}}\nprocessors: {rename: {}}\n"
                     "connectors: {counting: {}}\nservice: {pipelines: {traces: {receivers: [manual], "
                     "exporters: [counting]}, metrics: {receivers: [counting], processors: [rename], "
                     "exporters: [mcapture]}}}"),
            "service.pipelines.metrics.processors: metrics pipelines take no processors in Hodos; "
            "remove the list");
  EXPECT_EQ(error_of("connectors: {forward: {}}\n"),
            "connectors.forward: unknown connector type 'forward'; known types: counting");
  EXPECT_EQ(error_of("receivers: {manual: {}}\nexporters: {capture: {}}\nconnectors: {counting: {}}\n"
                     "service: {pipelines: {traces: {receivers: [manual], exporters: [capture/x]}}}"),
            "service.pipelines.traces.exporters[0]: 'capture/x' is not defined under exporters or "
            "connectors; defined: capture, counting");
}

}  // namespace
}  // namespace hodos::pipeline
