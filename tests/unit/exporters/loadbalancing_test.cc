#include "exporters/loadbalancing.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/attributes.h"
#include "exporter_test_util.h"
#include "exporters/otlp.h"
#include "pipeline/metrics.h"
#include "pipeline/registry.h"
#include "receivers/otlp_receiver.h"

namespace hodos::exporters {
namespace {

using hodos::testing::quiet_logger;
using hodos::testing::wait_for;

std::vector<core::TraceId> random_trace_ids(size_t n) {
  std::vector<core::TraceId> ids;
  for (size_t i = 0; i < n; ++i) ids.push_back(core::TraceId::random());
  return ids;
}

// ---- the ring ---------------------------------------------------------------------------------

TEST(HashRingTest, SameBackendsInAnyOrderGiveTheSameRing) {
  HashRing a({"gw-1:4317", "gw-2:4317", "gw-3:4317"});
  HashRing b({"gw-3:4317", "gw-1:4317", "gw-2:4317"});
  const std::vector<std::string> names_a = {"gw-1:4317", "gw-2:4317", "gw-3:4317"};
  const std::vector<std::string> names_b = {"gw-3:4317", "gw-1:4317", "gw-2:4317"};
  for (const core::TraceId& id : random_trace_ids(2000)) {
    EXPECT_EQ(names_a[a.backend_for_trace(id)], names_b[b.backend_for_trace(id)]);
    EXPECT_EQ(a.backend_for_trace(id), a.backend_for_trace(id));
  }
}

TEST(HashRingTest, HashAndPlacementArePinned) {
  // Every load balancer of a tier must agree, whatever build or host it runs on, and an upgrade
  // must not reshuffle traces: these values may never change.
  EXPECT_EQ(HashRing::hash_bytes(""), 0xefd01f60ba992926ULL);
  EXPECT_EQ(HashRing::hash_bytes("gw-1:4317#0"), 0x17fdb0ff37811301ULL);
  HashRing ring({"gw-1:4317", "gw-2:4317", "gw-3:4317"});
  const std::vector<std::pair<std::string, size_t>> placed = {
      {"0af7651916cd43dd8448eb211c80319c", 0}, {"4bf92f3577b34da6a3ce929d0e0e4736", 0},
      {"00000000000000000000000000000001", 1}, {"ffffffffffffffffffffffffffffffff", 0},
      {"5b8efff798038103d269b633813fc60c", 2}, {"11111111111111111111111111111111", 2}};
  for (const auto& [hex, backend] : placed) {
    auto id = core::TraceId::from_hex(hex);
    ASSERT_TRUE(id);
    EXPECT_EQ(ring.backend_for_trace(*id), backend) << hex;
  }
}

TEST(HashRingTest, TenThousandTracesSpreadOverThreeBackends) {
  HashRing ring({"gw-1:4317", "gw-2:4317", "gw-3:4317"});
  std::vector<int> count(3, 0);
  const int n = 10'000;
  for (const core::TraceId& id : random_trace_ids(n)) ++count[ring.backend_for_trace(id)];
  for (int b = 0; b < 3; ++b) {
    double share = static_cast<double>(count[b]) / n;
    EXPECT_GE(share, 0.25) << "backend " << b;
    EXPECT_LE(share, 0.42) << "backend " << b;
  }
}

TEST(HashRingTest, AddingABackendMovesFewTracesAndOnlyToIt) {
  const std::vector<std::string> three = {"gw-1:4317", "gw-2:4317", "gw-3:4317"};
  std::vector<std::string> four = three;
  four.push_back("gw-4:4317");
  HashRing before(three);
  HashRing after(four);
  const int n = 10'000;
  int moved = 0;
  for (const core::TraceId& id : random_trace_ids(n)) {
    const std::string& was = three[before.backend_for_trace(id)];
    const std::string& is = four[after.backend_for_trace(id)];
    if (was == is) continue;
    ++moved;
    // A consistent ring only hands traces to the newcomer; none move between old backends.
    EXPECT_EQ(is, "gw-4:4317");
  }
  EXPECT_LT(moved, n * 35 / 100);
  EXPECT_GT(moved, n * 10 / 100) << "the new backend takes its share";
}

// ---- config -----------------------------------------------------------------------------------

class LoadBalancingConfigTest : public ::testing::Test {
 protected:
  LoadBalancingConfigTest() {
    registry_.add(make_otlp_exporter_factory());
    registry_.add(make_loadbalancing_exporter_factory(registry_));
  }

  std::unique_ptr<pipeline::Exporter> create(const std::string& yaml) {
    pipeline::CreateContext ctx{{"loadbalancing", ""}, metrics_, quiet_logger()};
    pipeline::ConfigNode config(YAML::Load(yaml), "exporters.loadbalancing");
    return registry_.exporter("loadbalancing")->create(ctx, config);
  }

  // The message of the ConfigError `yaml` gives; empty when it is accepted.
  std::string error_of(const std::string& yaml) {
    try {
      create(yaml);
    } catch (const pipeline::ConfigError& e) {
      return e.what();
    }
    return "";
  }

  pipeline::Registry registry_;
  pipeline::Metrics metrics_;
};

constexpr const char* kStatic = "resolver: {static: {hostnames: [a:4317, b:4317]}}\n";

TEST_F(LoadBalancingConfigTest, AcceptsTheCollectorsShape) {
  EXPECT_EQ(error_of(std::string(kStatic)), "");
  EXPECT_EQ(error_of(std::string(kStatic) + "routing_key: traceID\n"), "");
  EXPECT_EQ(error_of(std::string(kStatic) + "routing_key: service\n"), "");
  EXPECT_EQ(error_of(std::string(kStatic) +
                     "protocol:\n  otlp:\n    tls: {insecure: true}\n    compression: none\n"
                     "    timeout: 2s\n    sending_queue: {queue_size: 10}\n"
                     "    retry_on_failure: {enabled: false}\n"),
            "");
  // A bare host is the OTLP/gRPC port.
  EXPECT_EQ(error_of("resolver: {static: {hostnames: [gateway]}}\n"), "");
}

TEST_F(LoadBalancingConfigTest, ErrorsNameTheKeyAndTheFix) {
  struct Case {
    std::string yaml;
    std::string key;   // the full path the message must start with
    std::string hint;  // and a word of the fix
  };
  const std::string lb = "exporters.loadbalancing.";
  const std::vector<Case> cases = {
      {std::string(kStatic) + "routing_key: spanID\n", lb + "routing_key", "traceID"},
      {std::string(kStatic) + "routing_key: resource\n", lb + "routing_key", "service"},
      {"routing_key: traceID\n", lb + "resolver", "hostnames"},
      {"resolver: {dns: {hostname: gateways.example}}\n", lb + "resolver.dns", "static"},
      {"resolver: {k8s: {service: gateways.observability}}\n", lb + "resolver.k8s", "static"},
      {"resolver: {static: {}}\n", lb + "resolver.static.hostnames", "required"},
      {"resolver: {static: {hostnames: [a:4317, a:4317]}}\n", lb + "resolver.static.hostnames",
       "twice"},
      {"resolver: {static: {hostnames: [a, a:4317]}}\n", lb + "resolver.static.hostnames", "twice"},
      {"resolver: {static: {hostnames: ['http://a:4317']}}\n", lb + "resolver.static.hostnames",
       "insecure"},
      {"resolver: {static: {hostnames: ['a:port']}}\n", lb + "resolver.static.hostnames",
       "host:port"},
      {"resolver: {static: {hostnames: ['a:']}}\n", lb + "resolver.static.hostnames", "host:port"},
      {"resolver: {static: {hostnames: [a:4317], hostname: b}}\n", lb + "resolver.static.hostname",
       "unknown key"},
      {std::string(kStatic) + "protocol: {otlp: {endpoint: 'c:4317'}}\n",
       lb + "protocol.otlp.endpoint", "remove it"},
      // The otlp exporter's own checks, under the user's path.
      {std::string(kStatic) + "protocol: {otlp: {compression: lz4}}\n",
       lb + "protocol.otlp.compression", "gzip"},
      {std::string(kStatic) + "protocol: {otlp: {compresion: gzip}}\n",
       lb + "protocol.otlp.compresion", "unknown key"},
      {std::string(kStatic) + "protocol: {otlp: {sending_queue: {queue_size: 0}}}\n",
       lb + "protocol.otlp.sending_queue.queue_size", ""},
      {std::string(kStatic) + "protocol: {otlphttp: {}}\n", lb + "protocol.otlphttp",
       "unknown key"},
      {std::string(kStatic) + "backends: [a]\n", lb + "backends", "unknown key"},
  };
  for (const Case& c : cases) {
    std::string e = error_of(c.yaml);
    EXPECT_EQ(e.rfind(c.key + ":", 0), 0u) << c.yaml << " gave: " << e;
    EXPECT_NE(e.find(c.hint), std::string::npos) << c.yaml << " gave: " << e;
  }
}

// ---- real export to two OTLP receivers --------------------------------------------------------

// Records, per trace, how many spans one receiver got, and what resource and scope they came with.
class TraceRecorder : public pipeline::TracesConsumer {
 public:
  pipeline::Status consume(core::SpanBatch batch) override {
    std::lock_guard lock(mu_);
    for (const core::Span& s : batch.spans()) {
      ++spans_of_trace_[s.trace_id.hex()];
      const core::AnyValue* service = core::find_attribute(s.resource->attributes, "service.name");
      services_.insert(service != nullptr ? std::string(service->str) : "");
      scopes_.insert(std::string(s.scope->name));
      ++total_;
    }
    return pipeline::Status::ok();
  }

  size_t total() {
    std::lock_guard lock(mu_);
    return total_;
  }
  std::map<std::string, int> spans_of_trace() {
    std::lock_guard lock(mu_);
    return spans_of_trace_;
  }
  std::set<std::string> services() {
    std::lock_guard lock(mu_);
    return services_;
  }
  std::set<std::string> scopes() {
    std::lock_guard lock(mu_);
    return scopes_;
  }

 private:
  std::mutex mu_;
  std::map<std::string, int> spans_of_trace_;
  std::set<std::string> services_, scopes_;
  size_t total_ = 0;
};

// `spans_per_trace` batches; batch k holds span k of every trace, under one resource per service.
std::vector<core::SpanBatch> interleaved_batches(const std::vector<core::TraceId>& traces,
                                                 int spans_per_trace,
                                                 const std::vector<std::string>& services) {
  std::vector<core::SpanBatch> batches;
  for (int k = 0; k < spans_per_trace; ++k) {
    core::SpanBatch b;
    core::Arena& a = b.arena();
    core::Scope* scope = b.new_scope();
    scope->name = a.copy("lb-test-scope");
    std::vector<core::Resource*> resources;
    for (const std::string& service : services) {
      core::Resource* r = b.new_resource();
      core::upsert_attribute(a, r->attributes, "service.name",
                             core::AnyValue::string(a.copy(service)));
      resources.push_back(r);
    }
    for (size_t t = 0; t < traces.size(); ++t) {
      core::Span s;
      s.trace_id = traces[t];
      s.span_id = core::SpanId::random();
      s.name = a.copy("op-" + std::to_string(k));
      s.kind = core::SpanKind::kServer;
      s.start_time_unix_nano = 1'700'000'000'000'000'000ULL;
      s.end_time_unix_nano = s.start_time_unix_nano + 1000;
      s.resource = resources[t % resources.size()];
      s.scope = scope;
      b.spans().push_back(s);
    }
    batches.push_back(std::move(b));
  }
  return batches;
}

class LoadBalancingExportTest : public LoadBalancingConfigTest {
 protected:
  void SetUp() override {
    auto factory = receivers::make_otlp_receiver_factory();
    for (int i = 0; i < 2; ++i) {
      pipeline::CreateContext ctx{{"otlp", "gw" + std::to_string(i)}, metrics_, quiet_logger()};
      pipeline::ConfigNode config(YAML::Load("protocols: {grpc: {endpoint: '127.0.0.1:0'}}"),
                                  "receivers.otlp");
      receivers_[i] = factory->create(ctx, config, recorders_[i]);
      auto st = receivers_[i]->start();
      ASSERT_TRUE(st.is_ok()) << st.message();
      auto* otlp = dynamic_cast<receivers::OtlpReceiver*>(receivers_[i].get());
      ASSERT_NE(otlp, nullptr);
      backends_[i] = "127.0.0.1:" + std::to_string(otlp->grpc_port());
    }
  }

  void TearDown() override {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    if (exporter_) exporter_->shutdown(deadline);
    for (auto& r : receivers_) {
      if (r) r->shutdown(deadline);
    }
  }

  void start_exporter(const std::string& routing_key) {
    exporter_ = create(fmt::format(
        "routing_key: {}\n"
        "protocol: {{otlp: {{tls: {{insecure: true}}, retry_on_failure: {{initial_interval: "
        "100ms}}}}}}\n"
        "resolver: {{static: {{hostnames: ['{}', '{}']}}}}\n",
        routing_key, backends_[0], backends_[1]));
    auto st = exporter_->start();
    ASSERT_TRUE(st.is_ok()) << st.message();
  }

  double routed(int backend) {
    return metrics_.value("hodos_exporter_loadbalancing_spans_total",
                          {{"exporter", "loadbalancing"}, {"backend", backends_[backend]}});
  }

  TraceRecorder recorders_[2];
  std::unique_ptr<pipeline::Receiver> receivers_[2];
  std::string backends_[2];
  std::unique_ptr<pipeline::Exporter> exporter_;
};

TEST_F(LoadBalancingExportTest, EveryTraceLandsWholeOnExactlyOneBackend) {
  start_exporter("traceID");
  const int kTraces = 200, kSpans = 5;
  std::vector<core::TraceId> traces = random_trace_ids(kTraces);
  for (core::SpanBatch& b : interleaved_batches(traces, kSpans, {"checkout", "cart"})) {
    auto st = exporter_->consume(std::move(b));
    ASSERT_TRUE(st.is_ok()) << st.message();
  }
  ASSERT_TRUE(wait_for([&] {
    return recorders_[0].total() + recorders_[1].total() >= size_t{kTraces * kSpans};
  })) << recorders_[0].total()
      << " + " << recorders_[1].total();

  auto got0 = recorders_[0].spans_of_trace();
  auto got1 = recorders_[1].spans_of_trace();
  for (const core::TraceId& id : traces) {
    const std::string hex = id.hex();
    const bool at0 = got0.count(hex) > 0, at1 = got1.count(hex) > 0;
    EXPECT_NE(at0, at1) << hex << " must be at exactly one backend";
    EXPECT_EQ(at0 ? got0[hex] : got1[hex], kSpans) << hex << " arrives whole";
  }
  EXPECT_EQ(recorders_[0].total() + recorders_[1].total(), size_t{kTraces * kSpans});
  EXPECT_GT(got0.size(), 0u);
  EXPECT_GT(got1.size(), 0u);
  // Resources and scopes travel with their spans.
  for (auto& r : recorders_) {
    EXPECT_EQ(r.services(), (std::set<std::string>{"cart", "checkout"}));
    EXPECT_EQ(r.scopes(), std::set<std::string>{"lb-test-scope"});
  }
  EXPECT_EQ(routed(0), static_cast<double>(recorders_[0].total()));
  EXPECT_EQ(routed(1), static_cast<double>(recorders_[1].total()));
  // Each backend has an otlp exporter of its own, with its own send counters (counted when the
  // destination's answer is back, so a moment after the receiver has the spans).
  for (int i = 0; i < 2; ++i) {
    EXPECT_TRUE(wait_for([&] {
      return metrics_.value("otelcol_exporter_sent_spans_total",
                            {{"exporter", "loadbalancing/" + backends_[i]}}) == routed(i);
    })) << backends_[i];
  }
}

TEST_F(LoadBalancingExportTest, RoutingByServiceKeepsEachServiceOnOneBackend) {
  start_exporter("service");
  std::vector<std::string> services;
  for (int i = 0; i < 12; ++i) services.push_back("svc-" + std::to_string(i));
  std::vector<core::TraceId> traces = random_trace_ids(120);
  for (core::SpanBatch& b : interleaved_batches(traces, 3, services)) {
    auto st = exporter_->consume(std::move(b));
    ASSERT_TRUE(st.is_ok()) << st.message();
  }
  ASSERT_TRUE(wait_for([&] { return recorders_[0].total() + recorders_[1].total() >= 360u; }));
  std::set<std::string> at0 = recorders_[0].services(), at1 = recorders_[1].services();
  for (const std::string& s : services) {
    EXPECT_NE(at0.count(s) > 0, at1.count(s) > 0) << s << " must be at exactly one backend";
  }
  EXPECT_FALSE(at0.empty());
  EXPECT_FALSE(at1.empty());
}

}  // namespace
}  // namespace hodos::exporters
