// The tail_sampling processor: whole traces are kept or dropped by policy after decision_wait,
// with time driven by a test clock and tick() instead of the background ticker.
#include "processors/tail_sampling.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <thread>

#include "processor_test_util.h"

namespace hodos::processors {
namespace {

using namespace std::chrono_literals;
using testing::Harness;
using testing::RecordingSink;
using Clock = TailSamplingControl::Clock;
using core::StatusCode;

constexpr uint64_t kMs = 1'000'000;
constexpr uint64_t kEpochNs = 1'700'000'000'000'000'000ULL;

// One HTTP span as the agent emits it.
struct SpanSpec {
  uint64_t trace;  // trace id number (low 8 bytes, big-endian)
  uint8_t span;    // span id byte; the root is the one with parent 0
  uint8_t parent = 0;
  std::string method = "GET";
  std::string path = "/api/orders";
  int64_t http_status = 200;
  StatusCode status = StatusCode::kUnset;
  uint64_t start_ms = 0, end_ms = 20;
  core::SpanKind kind = core::SpanKind::kServer;
};

core::TraceId trace_id(uint64_t n) {
  core::TraceId id;
  id.bytes[0] = 0x4b;  // never all-zero
  for (int k = 0; k < 8; ++k) id.bytes[15 - k] = static_cast<uint8_t>(n >> (8 * k));
  return id;
}

uint64_t trace_number(const core::TraceId& id) {
  uint64_t n = 0;
  for (int k = 0; k < 8; ++k) n |= static_cast<uint64_t>(id.bytes[15 - k]) << (8 * k);
  return n;
}

// A batch from one service (resource service.name) and one instrumentation scope.
core::SpanBatch http_batch(const std::string& service, const std::vector<SpanSpec>& specs,
                           const std::string& scope_name = "hodos.http") {
  core::SpanBatch b;
  core::Arena& a = b.arena();
  core::Resource* r = b.new_resource();
  core::upsert_attribute(a, r->attributes, "service.name", core::AnyValue::string(a.copy(service)));
  core::upsert_attribute(a, r->attributes, "host.name", core::AnyValue::string("node-7"));
  core::Scope* sc = b.new_scope();
  sc->name = a.copy(scope_name);
  sc->version = "0.4.0";
  for (const SpanSpec& spec : specs) {
    core::Span s;
    s.trace_id = trace_id(spec.trace);
    s.span_id.bytes[7] = spec.span;
    s.parent_span_id.bytes[7] = spec.parent;
    s.kind = spec.kind;
    s.name = a.copy(spec.method + " " + spec.path);
    s.start_time_unix_nano = kEpochNs + spec.start_ms * kMs;
    s.end_time_unix_nano = kEpochNs + spec.end_ms * kMs;
    s.status.code = spec.status;
    core::upsert_attribute(a, s.attributes, "http.request.method",
                           core::AnyValue::string(a.copy(spec.method)));
    core::upsert_attribute(a, s.attributes, "url.path", core::AnyValue::string(a.copy(spec.path)));
    core::upsert_attribute(a, s.attributes, "http.response.status_code",
                           core::AnyValue::integer(spec.http_status));
    core::upsert_attribute(a, s.attributes, "server.address",
                           core::AnyValue::string("shop.internal"));
    s.resource = r;
    s.scope = sc;
    b.spans().push_back(s);
  }
  return b;
}

// A processor with a hand-driven clock.
struct Sampler {
  Harness h;
  RecordingSink sink;
  std::unique_ptr<pipeline::Processor> processor;
  TailSamplingControl* control = nullptr;
  Clock::time_point now{};  // advanced by the test only

  explicit Sampler(const std::string& yaml) {
    static auto factory = make_tail_sampling_processor_factory();
    processor = h.create(*factory, yaml, sink);
    control = dynamic_cast<TailSamplingControl*>(processor.get());
    if (control) control->set_clock([this] { return now; });
  }

  void consume(core::SpanBatch b) { ASSERT_TRUE(processor->consume(std::move(b)).is_ok()); }
  void advance(Clock::duration d) {
    now += d;
    control->tick();
  }
  // Trace numbers of every span that reached the next consumer, with their counts.
  std::map<uint64_t, size_t> traces_out() {
    std::map<uint64_t, size_t> out;
    for (const core::SpanBatch& b : sink.batches()) {
      for (const core::Span& s : b.spans()) ++out[trace_number(s.trace_id)];
    }
    return out;
  }
  double metric(const std::string& name, const std::string& decision = "") {
    pipeline::Labels labels{{"processor", "tail_sampling"}};
    if (!decision.empty()) labels.emplace_back("decision", decision);
    return h.metrics.value("hodos_processor_tail_sampling_" + name, labels);
  }
};

const std::string kErrorsOnly = R"(
decision_wait: 10s
policies:
  - {name: errors, type: status_code, status_code: {status_codes: [ERROR]}}
)";

TEST(TailSampling, KeepsEveryErrorTraceWholeAndDropsTheRest) {
  Sampler t(kErrorsOnly);
  ASSERT_NE(t.control, nullptr);
  for (uint64_t n = 1; n <= 200; ++n) {
    const bool error = n % 10 == 0;
    // Root span OK, the database call fails in one trace in ten.
    t.consume(http_batch(
        "checkout", {{n, 1, 0, "POST", "/api/checkout", error ? 500 : 200},
                     {n, 2, 1, "GET", "/db", 0, error ? StatusCode::kError : StatusCode::kOk, 2, 15,
                      core::SpanKind::kClient},
                     {n, 3, 1, "GET", "/api/stock"}}));
  }
  EXPECT_EQ(t.sink.span_count(), 0u) << "nothing leaves before decision_wait";
  EXPECT_EQ(t.control->held_traces(), 200u);
  t.advance(9999ms);
  EXPECT_EQ(t.sink.span_count(), 0u);
  t.advance(1ms);
  auto out = t.traces_out();
  ASSERT_EQ(out.size(), 20u);
  for (const auto& [n, spans] : out) {
    EXPECT_EQ(n % 10, 0u) << "trace " << n << " had no error";
    EXPECT_EQ(spans, 3u) << "an error trace is kept whole, not just its error span";
  }
  EXPECT_EQ(t.control->held_traces(), 0u);
  EXPECT_EQ(t.control->held_bytes(), 0u);
  EXPECT_EQ(t.metric("traces_total", "sampled"), 20);
  EXPECT_EQ(t.metric("traces_total", "not_sampled"), 180);
  EXPECT_EQ(t.metric("spans_dropped_total"), 540);
}

TEST(TailSampling, DecisionWaitCountsFromEachTracesFirstSpan) {
  Sampler t("decision_wait: 5s\npolicies: [{name: all, type: always_sample}]\n");
  t.consume(http_batch("web", {{1, 1}}));
  t.advance(3s);
  t.consume(http_batch("web", {{2, 1}, {1, 2, 1}}));
  t.advance(2s);
  EXPECT_EQ(t.traces_out(), (std::map<uint64_t, size_t>{{1, 2}}));
  t.advance(2999ms);
  EXPECT_EQ(t.traces_out().count(2), 0u);
  t.advance(1ms);
  EXPECT_EQ(t.traces_out(), (std::map<uint64_t, size_t>{{1, 2}, {2, 1}}));
}

TEST(TailSampling, LatencyUsesEarliestStartToLatestEnd) {
  struct Case {
    std::string policy;
    std::vector<std::pair<uint64_t, uint64_t>> spans;  // start_ms, end_ms
    bool sampled;
  };
  const std::vector<Case> cases = {
      // Neither span lasts 500 ms, but the trace does: 0 .. 600.
      {"{threshold_ms: 500}", {{0, 300}, {300, 600}}, true},
      {"{threshold_ms: 500}", {{0, 499}}, false},
      {"{threshold_ms: 500}", {{100, 600}}, true},  // boundary: >= threshold
      {"{threshold_ms: 500, upper_threshold_ms: 1000}", {{0, 800}}, true},
      {"{threshold_ms: 500, upper_threshold_ms: 1000}", {{0, 200}, {900, 1500}}, false},
      {"{threshold_ms: 500, upper_threshold_ms: 1000}", {{0, 500}}, false},  // lower is exclusive
      {"{threshold_ms: 500, upper_threshold_ms: 1000}", {{0, 1000}}, true},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.policy);
    Sampler t("policies: [{name: slow, type: latency, latency: " + c.policy + "}]\n");
    std::vector<SpanSpec> specs;
    uint8_t id = 1;
    for (auto [start, end] : c.spans) {
      SpanSpec s{7, id, static_cast<uint8_t>(id == 1 ? 0 : 1)};
      s.start_ms = start;
      s.end_ms = end;
      specs.push_back(s);
      ++id;
    }
    t.consume(http_batch("web", specs));
    t.advance(30s);
    EXPECT_EQ(t.sink.span_count(), c.sampled ? c.spans.size() : 0u);
  }
}

TEST(TailSampling, SlowOrFailedTracesKeptByEitherPolicy) {
  Sampler t(R"(
policies:
  - {name: errors, type: status_code, status_code: {status_codes: [ERROR]}}
  - {name: slow, type: latency, latency: {threshold_ms: 1000}}
)");
  t.consume(http_batch("web", {{1, 1, 0, "GET", "/fast"}}));
  SpanSpec slow{2, 1, 0, "GET", "/report"};
  slow.end_ms = 2500;
  t.consume(http_batch("web", {slow}));
  t.consume(http_batch("web", {{3, 1, 0, "GET", "/fail", 503, StatusCode::kError}}));
  t.advance(30s);
  EXPECT_EQ(t.traces_out(), (std::map<uint64_t, size_t>{{2, 1}, {3, 1}}));
}

// Trace ids from a fixed sequence, so the ratio is the same on every run.
uint64_t fixed_id(uint64_t i) {
  uint64_t z = i * 0x9e3779b97f4a7c15ULL + 0x1234567;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

std::set<uint64_t> probabilistic_run(const std::string& settings, size_t traces) {
  Sampler t("num_traces: 20000\npolicies: [{name: p, type: probabilistic, probabilistic: " +
            settings + "}]\n");
  for (uint64_t i = 0; i < traces; ++i) t.consume(http_batch("web", {{fixed_id(i), 1}}));
  t.advance(30s);
  std::set<uint64_t> kept;
  for (const auto& [n, spans] : t.traces_out()) kept.insert(n);
  return kept;
}

TEST(TailSampling, ProbabilisticKeepsTheConfiguredShareConsistently) {
  constexpr size_t kTraces = 10'000;
  const std::set<uint64_t> a = probabilistic_run("{sampling_percentage: 25}", kTraces);
  EXPECT_NEAR(static_cast<double>(a.size()) / kTraces, 0.25, 0.015);
  EXPECT_EQ(probabilistic_run("{sampling_percentage: 25}", kTraces), a)
      << "the decision is a function of the trace id";
  const std::set<uint64_t> salted =
      probabilistic_run("{sampling_percentage: 25, hash_salt: other}", kTraces);
  EXPECT_NEAR(static_cast<double>(salted.size()) / kTraces, 0.25, 0.015);
  EXPECT_NE(salted, a) << "hash_salt changes which traces are kept";
  // A higher percentage keeps a superset: the same hash against a higher threshold.
  const std::set<uint64_t> half = probabilistic_run("{sampling_percentage: 50}", kTraces);
  EXPECT_TRUE(std::includes(half.begin(), half.end(), a.begin(), a.end()));
  EXPECT_TRUE(probabilistic_run("{sampling_percentage: 0}", 500).empty());
  EXPECT_EQ(probabilistic_run("{sampling_percentage: 100}", 500).size(), 500u);
}

// FNV-1a 64 of salt + trace id bytes, computed with Go's hash/fnv as the Collector does; a
// trace is sampled when its hash / 2^64 is at or below the percentage, so each fixture flips
// between two percentages a hair either side of its hash. Same salt, same traces as a Collector.
TEST(TailSampling, ProbabilisticHashMatchesTheCollectors) {
  struct Fixture {
    uint64_t trace;
    std::string salt;
    double hash_percent;  // Go: fnv.New64a(salt + id).Sum64() / 2^64 * 100
  };
  const std::vector<Fixture> fixtures = {
      {0x1, "", 97.3101463524365},  // "" = the default salt "default-hash-seed"
      {0x0123456789abcdef, "", 26.38800927236296},
      {0xdeadbeef, "other", 25.469759817505423},
      {0x2a, "other", 31.46320386097487},
  };
  for (const Fixture& f : fixtures) {
    for (double delta : {-0.0001, 0.0001}) {
      SCOPED_TRACE(::testing::Message() << f.trace << " at " << f.hash_percent + delta);
      Sampler t(
          fmt::format("policies: [{{name: p, type: probabilistic, probabilistic: "
                      "{{sampling_percentage: {}, hash_salt: '{}'}}}}]\n",
                      f.hash_percent + delta, f.salt));
      t.consume(http_batch("web", {{f.trace, 1}}));
      t.advance(30s);
      EXPECT_EQ(t.sink.span_count(), delta > 0 ? 1u : 0u);
    }
  }
}

TEST(TailSampling, RateLimitingAdmitsWholeTracesUpToSpansPerSecond) {
  Sampler t(
      "decision_wait: 1s\npolicies: [{name: rl, type: rate_limiting, "
      "rate_limiting: {spans_per_second: 10}}]\n");
  for (uint64_t n = 1; n <= 5; ++n) {
    t.consume(http_batch("web", {{n, 1}, {n, 2, 1}, {n, 3, 1}}));
  }
  t.advance(1s);  // all five decided in the same second: 3 + 3 + 3 fit, the 4th would be 12
  EXPECT_EQ(t.traces_out(), (std::map<uint64_t, size_t>{{1, 3}, {2, 3}, {3, 3}}));
  for (uint64_t n = 6; n <= 7; ++n) t.consume(http_batch("web", {{n, 1}, {n, 2, 1}, {n, 3, 1}}));
  t.advance(1s);  // a new second, a new budget
  EXPECT_EQ(t.traces_out().size(), 5u);
  EXPECT_EQ(t.metric("traces_total", "not_sampled"), 2);
}

TEST(TailSampling, AndPolicyNeedsEverySubPolicy) {
  Sampler t(R"(
decision_wait: 1s
policies:
  - name: some-posts
    type: and
    and:
      and_sub_policy:
        - {name: posts, type: string_attribute, string_attribute: {key: http.request.method, values: [POST]}}
        - {name: budget, type: rate_limiting, rate_limiting: {spans_per_second: 4}}
)");
  for (uint64_t n = 1; n <= 12; ++n) {
    t.consume(http_batch("api", {{n, 1, 0, n % 2 ? "POST" : "GET", "/api/orders"}}));
  }
  t.advance(1s);
  // Six POST traces, of which the rate limit admits four; GETs never spend the budget.
  EXPECT_EQ(t.traces_out(), (std::map<uint64_t, size_t>{{1, 1}, {3, 1}, {5, 1}, {7, 1}}));
}

TEST(TailSampling, InvertedMatchVetoesOtherPolicies) {
  const std::string health = R"(
  - {name: no-health, type: string_attribute,
     string_attribute: {key: url.path, values: ['/health.*'], enabled_regex_matching: true,
                        invert_match: true}}
)";
  {
    Sampler t("policies:\n  - {name: all, type: always_sample}" + health);
    t.consume(http_batch("web", {{1, 1, 0, "GET", "/healthz"}}));
    t.consume(http_batch("web", {{2, 1, 0, "GET", "/api/orders"}, {2, 2, 1, "GET", "/health"}}));
    t.consume(http_batch("web", {{3, 1, 0, "GET", "/api/orders"}}));
    t.advance(30s);
    EXPECT_EQ(t.traces_out(), (std::map<uint64_t, size_t>{{3, 1}}))
        << "a trace with any /health span is dropped although always_sample said yes";
  }
  {
    // Alone, an inverted policy samples what does not match.
    Sampler t("policies:" + health);
    t.consume(http_batch("web", {{1, 1, 0, "GET", "/healthz"}}));
    t.consume(http_batch("web", {{3, 1, 0, "GET", "/api/orders"}}));
    t.advance(30s);
    EXPECT_EQ(t.traces_out(), (std::map<uint64_t, size_t>{{3, 1}}));
  }
  {
    // An inverted "sampled" loses to a plain "not sampled".
    Sampler t(
        "policies:\n  - {name: errors, type: status_code, status_code: {status_codes: "
        "[ERROR]}}" +
        health);
    t.consume(http_batch("web", {{3, 1, 0, "GET", "/api/orders"}}));
    t.advance(30s);
    EXPECT_EQ(t.sink.span_count(), 0u);
  }
}

TEST(TailSampling, AttributePoliciesMatchSpanAndResourceAttributes) {
  Sampler t(R"(
policies:
  - {name: server-errors, type: numeric_attribute,
     numeric_attribute: {key: http.response.status_code, min_value: 500, max_value: 599}}
  - {name: payments, type: string_attribute, string_attribute: {key: service.name, values: [payments]}}
)");
  t.consume(http_batch("web", {{1, 1, 0, "GET", "/a", 404}}));
  t.consume(http_batch("web", {{2, 1, 0, "GET", "/a", 502}}));
  t.consume(http_batch("web", {{3, 1, 0, "GET", "/a", 600}}));
  t.consume(http_batch("payments", {{4, 1, 0, "POST", "/charge", 200}}));
  t.advance(30s);
  EXPECT_EQ(t.traces_out(), (std::map<uint64_t, size_t>{{2, 1}, {4, 1}}));
}

TEST(TailSampling, LateSpansFollowTheDecision) {
  Sampler t(kErrorsOnly);
  t.consume(http_batch("web", {{1, 1, 0, "GET", "/a", 500, StatusCode::kError}}));
  t.consume(http_batch("web", {{2, 1, 0, "GET", "/b"}}));
  t.advance(10s);
  ASSERT_EQ(t.sink.span_count(), 1u);
  // One batch with late spans of both, and a new trace.
  t.consume(http_batch("worker", {{1, 2, 1}, {2, 2, 1}, {3, 1}, {1, 3, 1}}));
  EXPECT_EQ(t.traces_out(), (std::map<uint64_t, size_t>{{1, 3}}))
      << "late spans of a sampled trace pass at once";
  EXPECT_EQ(t.metric("late_spans_total"), 3);
  EXPECT_EQ(t.metric("spans_dropped_total"), 2) << "trace 2's first span and its late span";
  EXPECT_EQ(t.control->held_traces(), 1u) << "only trace 3 waits";
  // The passing spans kept their own resource.
  const core::SpanBatch& last = t.sink.batches().back();
  ASSERT_EQ(last.size(), 2u);
  EXPECT_EQ(core::find_attribute(last.spans()[0].resource->attributes, "service.name")->str,
            "worker");
}

TEST(TailSampling, BatchOfLateSampledSpansPassesUntouched) {
  Sampler t("policies: [{name: all, type: always_sample}]\n");
  t.consume(http_batch("web", {{1, 1}}));
  t.advance(30s);
  core::SpanBatch late = http_batch("web", {{1, 2, 1}, {1, 3, 1}});
  const char* name_bytes = late.spans()[0].name.data();
  const core::Resource* resource = late.spans()[0].resource;
  t.consume(std::move(late));
  const core::SpanBatch& out = t.sink.batches().back();
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out.spans()[0].name.data(), name_bytes) << "the batch itself, not a copy";
  EXPECT_EQ(out.spans()[0].resource, resource);
}

TEST(TailSampling, WithoutDecisionCacheLateSpansStartANewTrace) {
  Sampler t(
      "decision_cache: {sampled_cache_size: 0, non_sampled_cache_size: 0}\n"
      "policies: [{name: all, type: always_sample}]\n");
  t.consume(http_batch("web", {{1, 1}}));
  t.advance(30s);
  t.consume(http_batch("web", {{1, 2, 1}}));
  EXPECT_EQ(t.sink.span_count(), 1u);
  EXPECT_EQ(t.control->held_traces(), 1u);
  EXPECT_EQ(t.metric("late_spans_total"), 0);
  t.advance(30s);
  EXPECT_EQ(t.sink.span_count(), 2u);
}

TEST(TailSampling, FullStoreDecidesTheOldestTraceEarly) {
  Sampler t(
      "num_traces: 3\npolicies: [{name: errors, type: status_code, "
      "status_code: {status_codes: [ERROR]}}]\n");
  t.consume(http_batch("web", {{1, 1, 0, "GET", "/a", 500, StatusCode::kError}}));
  t.consume(http_batch("web", {{2, 1}}));
  t.consume(http_batch("web", {{3, 1}}));
  EXPECT_EQ(t.sink.span_count(), 0u);
  t.consume(http_batch("web", {{4, 1}, {5, 1}}));
  EXPECT_EQ(t.control->held_traces(), 3u) << "never more than num_traces";
  EXPECT_EQ(t.metric("traces_evicted_total"), 2);
  EXPECT_EQ(t.traces_out(), (std::map<uint64_t, size_t>{{1, 1}}))
      << "the evicted error trace is kept, not lost";
  EXPECT_EQ(t.metric("traces_total", "not_sampled"), 1);  // trace 2
  // A late span of the evicted error trace still passes.
  t.consume(http_batch("web", {{1, 2, 1}}));
  EXPECT_EQ(t.traces_out()[1], 2u);
}

TEST(TailSampling, SpansFromSeveralResourcesKeepTheirResourceAndScope) {
  Sampler t("policies: [{name: all, type: always_sample}]\n");
  size_t held_after_first = 0;
  {
    // Three services report parts of one trace in separate batches; the batches are gone
    // (and their arenas freed) long before the decision.
    t.consume(http_batch("frontend", {{9, 1, 0, "GET", "/cart"}}, "hodos.http"));
    held_after_first = t.control->held_bytes();
    t.consume(http_batch("checkout", {{9, 2, 1, "POST", "/checkout"}}, "hodos.http"));
    t.consume(http_batch("checkout", {{9, 3, 2, "GET", "/db"}, {10, 1, 0}}, "hodos.sql"));
    t.consume(http_batch("frontend", {{9, 4, 1, "GET", "/static"}}, "hodos.http"));
  }
  EXPECT_GT(held_after_first, 0u);
  EXPECT_GT(t.control->held_bytes(), held_after_first);
  t.advance(30s);
  std::map<uint8_t, std::pair<std::string, std::string>> seen;  // span -> service, scope
  std::set<const core::Resource*> frontend_resources;
  for (const core::SpanBatch& b : t.sink.batches()) {
    for (const core::Span& s : b.spans()) {
      if (trace_number(s.trace_id) != 9) continue;
      const std::string service(core::find_attribute(s.resource->attributes, "service.name")->str);
      seen[s.span_id.bytes[7]] = {service, std::string(s.scope->name)};
      EXPECT_EQ(core::find_attribute(s.resource->attributes, "host.name")->str, "node-7");
      EXPECT_EQ(s.scope->version, "0.4.0");
      EXPECT_EQ(core::find_attribute(s.attributes, "server.address")->str, "shop.internal");
      if (service == "frontend") frontend_resources.insert(s.resource);
    }
  }
  using P = std::pair<std::string, std::string>;
  EXPECT_EQ(seen, (std::map<uint8_t, P>{{1, P{"frontend", "hodos.http"}},
                                        {2, P{"checkout", "hodos.http"}},
                                        {3, P{"checkout", "hodos.sql"}},
                                        {4, P{"frontend", "hodos.http"}}}));
  EXPECT_EQ(frontend_resources.size(), 1u)
      << "equal resources from different batches are stored once";
}

TEST(TailSampling, ShutdownDecidesPendingTraces) {
  Sampler t(kErrorsOnly);
  t.consume(http_batch("web", {{1, 1, 0, "GET", "/a", 500, StatusCode::kError}}));
  t.consume(http_batch("web", {{2, 1}}));
  t.processor->shutdown(pipeline::Deadline::max());
  EXPECT_EQ(t.traces_out(), (std::map<uint64_t, size_t>{{1, 1}}));
  EXPECT_EQ(t.control->held_traces(), 0u);
  // After shutdown nothing would decide held spans: they pass.
  t.consume(http_batch("web", {{3, 1}}));
  EXPECT_EQ(t.traces_out().count(3), 1u);
}

TEST(TailSampling, CountsSampledSpansTheNextConsumerRefuses) {
  Sampler t("policies: [{name: all, type: always_sample}]\n");
  t.sink.status = pipeline::Status::permanent("exporter gone");
  t.consume(http_batch("web", {{1, 1}, {1, 2, 1}}));
  t.advance(30s);
  EXPECT_EQ(t.metric("send_failed_spans_total"), 2);
  EXPECT_EQ(t.metric("traces_total", "sampled"), 1);
}

TEST(TailSampling, BackgroundTickerDecidesWithTheRealClock) {
  Harness h;
  RecordingSink sink;
  auto factory = make_tail_sampling_processor_factory();
  auto p =
      h.create(*factory, "decision_wait: 20ms\npolicies: [{name: a, type: always_sample}]\n", sink);
  ASSERT_TRUE(p->start().is_ok());
  ASSERT_TRUE(p->consume(http_batch("web", {{1, 1}})).is_ok());
  EXPECT_TRUE(sink.wait_for_spans(1));
  p->shutdown(pipeline::Deadline::max());
}

// Several receivers' threads consume while the ticker decides; every span comes out exactly once.
TEST(TailSampling, ConcurrentConsumersLoseAndDuplicateNothing) {
  Harness h;
  RecordingSink sink;
  auto factory = make_tail_sampling_processor_factory();
  auto p = h.create(*factory,
                    "decision_wait: 1ms\nnum_traces: 50\n"
                    "policies: [{name: a, type: always_sample}]\n",
                    sink);
  ASSERT_TRUE(p->start().is_ok());
  constexpr int kThreads = 4, kTraces = 300;
  std::vector<std::thread> threads;
  for (int th = 0; th < kThreads; ++th) {
    threads.emplace_back([&, th] {
      for (uint64_t n = 0; n < kTraces; ++n) {
        const uint64_t trace = static_cast<uint64_t>(th) << 32 | n;
        // Each trace in two batches, from two services.
        EXPECT_TRUE(p->consume(http_batch("web", {{trace, 1}})).is_ok());
        EXPECT_TRUE(p->consume(http_batch("db", {{trace, 2, 1}, {trace, 3, 1}})).is_ok());
      }
    });
  }
  for (auto& t : threads) t.join();
  p->shutdown(pipeline::Deadline::max());
  std::map<std::pair<uint64_t, uint8_t>, int> seen;
  for (const core::SpanBatch& b : sink.batches()) {
    for (const core::Span& s : b.spans()) ++seen[{trace_number(s.trace_id), s.span_id.bytes[7]}];
  }
  EXPECT_EQ(seen.size(), size_t{kThreads * kTraces * 3});
  for (const auto& [key, count] : seen) EXPECT_EQ(count, 1);
}

TEST(TailSampling, ConfigErrors) {
  static auto factory = make_tail_sampling_processor_factory();
  Harness h;
  const std::string all = "policies: [{name: a, type: always_sample}]\n";
  struct Case {
    std::string yaml, error;
  };
  const std::vector<Case> cases = {
      {"", "processors.tail_sampling.policies: list at least one policy"},
      {"decision_wait: 0s\n" + all, "processors.tail_sampling.decision_wait: must be more than 0"},
      {"num_traces: 0\n" + all, "processors.tail_sampling.num_traces"},
      {"sample_on_first_match: true\n" + all, "sample_on_first_match"},
      {"decision_cache: {sampled_cache_size: 10, size: 3}\n" + all, "decision_cache.size"},
      {"policies: [{type: always_sample}]", "policies[0].name"},
      {"policies: [{name: a, type: always_sample}, {name: a, type: always_sample}]",
       "policies[1].name: duplicate policy name 'a'"},
      {"policies: [{name: c, type: composite}]",
       "policies[0].type: policy type 'composite' is not supported by hodos"},
      {"policies: [{name: c, type: sometimes}]",
       "policies[0].type: unknown policy type 'sometimes'; supported types are: always_sample"},
      {"policies: [{name: s, type: status_code, latency: {threshold_ms: 5}, "
       "status_code: {status_codes: [ERROR]}}]",
       "policies[0].latency: unknown key; valid keys are: name, status_code, type"},
      {"policies: [{name: s, type: status_code, status_code: {status_codes: [FAILED]}}]",
       "status_code.status_codes: unknown status code 'FAILED'; use ERROR, OK or UNSET"},
      {"policies: [{name: s, type: status_code}]", "status_code.status_codes: list at least one"},
      {"policies: [{name: l, type: latency, latency: {}}]", "latency.threshold_ms: required"},
      {"policies: [{name: l, type: latency, latency: {threshold_ms: 500, upper_threshold_ms: "
       "100}}]",
       "latency.upper_threshold_ms: 100 must be more than threshold_ms (500)"},
      {"policies: [{name: p, type: probabilistic, probabilistic: {sampling_percentage: 150}}]",
       "probabilistic.sampling_percentage: 150 is not between 0 and 100"},
      {"policies: [{name: r, type: rate_limiting, rate_limiting: {spans_per_second: 0}}]",
       "rate_limiting.spans_per_second"},
      {"policies: [{name: s, type: string_attribute, string_attribute: {key: k}}]",
       "string_attribute.values: list at least one value"},
      {"policies: [{name: s, type: string_attribute, string_attribute: {key: k, values: ['(x'], "
       "enabled_regex_matching: true}}]",
       "string_attribute.values: invalid regular expression '(x'"},
      {"policies: [{name: n, type: numeric_attribute, numeric_attribute: {key: k}}]",
       "numeric_attribute.min_value: set min_value, max_value or both"},
      {"policies: [{name: n, type: numeric_attribute, numeric_attribute: {key: k, min_value: 9, "
       "max_value: 1}}]",
       "numeric_attribute.max_value: 1 is less than min_value (9)"},
      {"policies: [{name: x, type: and, and: {and_sub_policy: []}}]",
       "and.and_sub_policy: list at least one sub-policy"},
      {"policies: [{name: x, type: and, and: {and_sub_policy: [{name: y, type: and}]}}]",
       "and_sub_policy[0].type: an and policy cannot hold another and policy"},
      {"policies: [{name: x, type: and, and: {and_sub_policy: [{name: y, type: latency, "
       "latency: {threshold_ms: 1, foo: 2}}]}}]",
       "and_sub_policy[0].latency.foo"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.yaml);
    const std::string error = h.config_error(*factory, c.yaml);
    EXPECT_NE(error.find(c.error), std::string::npos) << "got: " << error;
  }
  EXPECT_EQ(h.config_error(*factory, all), "");
  // The example of docs/configuration.md.
  EXPECT_EQ(h.config_error(*factory, R"(
decision_wait: 10s
num_traces: 20000
policies:
  - {name: errors, type: status_code, status_code: {status_codes: [ERROR]}}
  - {name: slow, type: latency, latency: {threshold_ms: 1000}}
  - {name: server-errors, type: numeric_attribute,
     numeric_attribute: {key: http.response.status_code, min_value: 500, max_value: 599}}
  - {name: no-health-checks, type: string_attribute,
     string_attribute: {key: url.path, values: ['^/health'], enabled_regex_matching: true,
                        invert_match: true}}
  - name: some-writes
    type: and
    and:
      and_sub_policy:
        - {name: writes, type: string_attribute,
           string_attribute: {key: http.request.method, values: [POST, PUT, DELETE]}}
        - {name: ten-percent, type: probabilistic, probabilistic: {sampling_percentage: 10}}
)"),
            "");
  EXPECT_EQ(h.config_error(*factory, R"(
decision_wait: 10s
num_traces: 100
expected_new_traces_per_sec: 10
decision_cache: {sampled_cache_size: 1000, non_sampled_cache_size: 500}
policies:
  - {name: errors, type: status_code, status_code: {status_codes: [ERROR, UNSET]}}
  - {name: slow, type: latency, latency: {threshold_ms: 500, upper_threshold_ms: 5000}}
  - {name: p, type: probabilistic, probabilistic: {sampling_percentage: 12.5, hash_salt: s}}
  - {name: s, type: string_attribute, string_attribute: {key: k, values: [a], cache_max_size: 10}}
)"),
            "");
}

}  // namespace
}  // namespace hodos::processors
