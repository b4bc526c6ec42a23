// The probabilistic_sampler processor: the Collector's hash_seed decisions, bucket for bucket,
// whole traces kept or dropped together, sampling.priority, tracestate errors and config errors.
#include "processors/probabilistic_sampler.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>

#include "processor_test_util.h"

namespace hodos::processors {
namespace {

using core::AnyValue;
using namespace probabilistic_sampling;
using testing::Harness;
using testing::RecordingSink;

core::TraceId id_from_hex(std::string_view hex) { return *core::TraceId::from_hex(hex); }

// An HTTP server span of `trace` as the agent emits it.
core::Span server_span(core::SpanBatch& b, const core::Resource* r, const core::TraceId& trace,
                       uint8_t span_byte) {
  core::Arena& a = b.arena();
  core::Span s;
  s.trace_id = trace;
  s.span_id.bytes[7] = span_byte;
  s.kind = core::SpanKind::kServer;
  s.name = "GET /users/{id}";
  s.resource = r;
  core::upsert_attribute(a, s.attributes, "http.request.method", AnyValue::string("GET"));
  core::upsert_attribute(a, s.attributes, "url.path", AnyValue::string("/users/123"));
  core::upsert_attribute(a, s.attributes, "http.response.status_code", AnyValue::integer(200));
  return s;
}

// A batch with one span for each id.
core::SpanBatch batch_of(const std::vector<core::TraceId>& ids) {
  core::SpanBatch b;
  core::Resource* r = b.new_resource();
  core::upsert_attribute(b.arena(), r->attributes, "service.name", AnyValue::string("shop"));
  for (size_t i = 0; i < ids.size(); ++i) {
    b.spans().push_back(server_span(b, r, ids[i], static_cast<uint8_t>(i + 1)));
  }
  return b;
}

std::vector<core::TraceId> random_ids(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<core::TraceId> ids(n);
  for (core::TraceId& id : ids) {
    for (uint8_t& byte : id.bytes) byte = static_cast<uint8_t>(rng());
  }
  return ids;
}

class ProbabilisticSamplerTest : public ::testing::Test {
 protected:
  // The spans that come out of a sampler made from `yaml`.
  std::vector<core::Span> run(const std::string& yaml, core::SpanBatch batch) {
    RecordingSink sink;
    auto p = h_.create(*factory_, yaml, sink);
    EXPECT_TRUE(p->consume(std::move(batch)).is_ok());
    std::vector<core::Span> out;
    for (core::SpanBatch& b : sink.batches()) {
      EXPECT_FALSE(b.empty()) << "an emptied batch is not sent on";
      out.insert(out.end(), b.spans().begin(), b.spans().end());
    }
    kept_batches_ = std::move(sink.batches());  // keep the spans' arenas alive
    return out;
  }
  std::set<core::TraceId> kept_ids(const std::string& yaml, const std::vector<core::TraceId>& ids) {
    std::set<core::TraceId> out;
    for (const core::Span& s : run(yaml, batch_of(ids))) out.insert(s.trace_id);
    return out;
  }
  double counter(const std::string& decision) {
    return h_.metrics.value("hodos_processor_probabilistic_sampler_spans_total",
                            {{"processor", "probabilistic_sampler"}, {"decision", decision}});
  }

  Harness h_;
  std::unique_ptr<pipeline::ProcessorFactory> factory_ =
      make_probabilistic_sampler_processor_factory();
  std::vector<core::SpanBatch> kept_batches_;
};

TEST(ProbabilisticSamplingHash, Fnv1aReferenceVectors) {
  // From the FNV reference (draft-eastlake-fnv): offset basis, "a", "foobar".
  EXPECT_EQ(fnv1a32(""), 0x811c9dc5u);
  EXPECT_EQ(fnv1a32("a"), 0xe40c292cu);
  EXPECT_EQ(fnv1a32("foobar"), 0xbf9cf968u);
}

TEST(ProbabilisticSamplingHash, SeedBytesLittleEndianThenTraceId) {
  // Expected values computed outside this code (Python) by the Collector's documented algorithm:
  // FNV-1a 32 over pack('<I', seed) + the 16 trace id bytes.
  struct Case {
    const char* id;
    uint32_t seed;
    uint32_t hash;
  };
  const Case cases[] = {
      {"0102030405060708090a0b0c0d0e0f10", 0, 0xdf241a25},
      {"0102030405060708090a0b0c0d0e0f10", 1, 0x067347d4},
      {"0102030405060708090a0b0c0d0e0f10", 42, 0x75339e9f},
      {"0102030405060708090a0b0c0d0e0f10", 0xffffffff, 0x211ff9a1},
      {"4bf92f3577b34da6a3ce929d0e0e4736", 0, 0x3420408d},
      {"4bf92f3577b34da6a3ce929d0e0e4736", 42, 0xb4d55eff},
      {"0af7651916cd43dd8448eb211c80319c", 1, 0x8c8964c5},
      {"00000000000000000000000000000000", 42, 0xfabc039f},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(trace_id_hash(id_from_hex(c.id), c.seed), c.hash) << c.id << " seed " << c.seed;
  }
}

TEST(ProbabilisticSamplingHash, ThresholdInFloat32Buckets) {
  EXPECT_EQ(kept_buckets(0), 0u);
  EXPECT_EQ(kept_buckets(1), 163u);
  EXPECT_EQ(kept_buckets(10), 1638u);
  EXPECT_EQ(kept_buckets(25), 4096u);
  EXPECT_EQ(kept_buckets(33.33f), 5460u);
  EXPECT_EQ(kept_buckets(50), 8192u);
  EXPECT_EQ(kept_buckets(99.99f), 16382u);
  EXPECT_EQ(kept_buckets(100), 16384u);
  EXPECT_EQ(kept_buckets(0.0062f), 1u);
  EXPECT_EQ(kept_buckets(0.006f), 0u);
}

TEST_F(ProbabilisticSamplerTest, DecisionsMatchTheCollectorsBuckets) {
  // The W3C example id hashes (seed 0) to bucket 141 of 16384: kept at 1% (163 buckets),
  // dropped at 0.8% (131 buckets).
  const core::TraceId id = id_from_hex("4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(kept_ids("sampling_percentage: 1", {id}).size(), 1u);
  EXPECT_EQ(kept_ids("sampling_percentage: 0.8", {id}).size(), 0u);
  // Seed 42 moves it to bucket 7935: kept at 50% (8192), dropped at 48% (7864).
  EXPECT_EQ(kept_ids("{sampling_percentage: 50, hash_seed: 42}", {id}).size(), 1u);
  EXPECT_EQ(kept_ids("{sampling_percentage: 48, hash_seed: 42}", {id}).size(), 0u);
}

TEST_F(ProbabilisticSamplerTest, RatioOverManyRandomIdsIsWithinTolerance) {
  const auto ids = random_ids(100'000, 7);
  for (double pct : {1.0, 10.0, 25.0, 50.0, 90.0}) {
    const size_t kept = kept_ids(fmt::format("sampling_percentage: {}", pct), ids).size();
    const double expected = static_cast<double>(kept_buckets(static_cast<float>(pct))) / 16384;
    // Binomial sd at n=100k is <= 0.16%; 5 sd of slack.
    EXPECT_NEAR(static_cast<double>(kept) / ids.size(), expected, 0.008) << pct << "%";
  }
}

TEST_F(ProbabilisticSamplerTest, SameSeedSameDecisionAcrossInstancesAndSplits) {
  const auto ids = random_ids(5'000, 11);
  const auto first = kept_ids("{sampling_percentage: 30, hash_seed: 1234}", ids);
  // Another agent: another processor instance, ids arriving in other batches and order.
  std::set<core::TraceId> second;
  for (size_t i = ids.size(); i > 0; i -= 500) {
    std::vector<core::TraceId> part(ids.begin() + static_cast<long>(i - 500),
                                    ids.begin() + static_cast<long>(i));
    std::reverse(part.begin(), part.end());
    auto kept = kept_ids("{sampling_percentage: 30, hash_seed: 1234}", part);
    second.insert(kept.begin(), kept.end());
  }
  EXPECT_EQ(first, second);
  EXPECT_GT(first.size(), 1000u);
  // A tier with a higher percentage and the same seed keeps a superset (consistency).
  const auto wider = kept_ids("{sampling_percentage: 60, hash_seed: 1234}", ids);
  for (const core::TraceId& id : first) EXPECT_TRUE(wider.contains(id));
}

TEST_F(ProbabilisticSamplerTest, DifferentSeedsDecorrelate) {
  const auto ids = random_ids(20'000, 3);
  const auto a = kept_ids("{sampling_percentage: 50, hash_seed: 1}", ids);
  const auto b = kept_ids("{sampling_percentage: 50, hash_seed: 2}", ids);
  size_t both = 0;
  for (const core::TraceId& id : a) both += b.contains(id);
  // Independent 50% decisions overlap on ~25% of ids; the same seed would overlap on 50%.
  EXPECT_NEAR(static_cast<double>(both) / ids.size(), 0.25, 0.02);
}

TEST_F(ProbabilisticSamplerTest, EverySpanOfATraceGetsTheSameDecision) {
  const auto ids = random_ids(200, 5);
  core::SpanBatch b;
  core::Resource* r = b.new_resource();
  // Three spans per trace, interleaved, as a batch from several connections looks.
  for (int round = 0; round < 3; ++round) {
    for (size_t i = 0; i < ids.size(); ++i) {
      b.spans().push_back(server_span(b, r, ids[i], static_cast<uint8_t>(round)));
    }
  }
  std::map<core::TraceId, int> spans_per_trace;
  for (const core::Span& s : run("sampling_percentage: 40", std::move(b))) {
    ++spans_per_trace[s.trace_id];
  }
  EXPECT_GT(spans_per_trace.size(), 40u);
  EXPECT_LT(spans_per_trace.size(), 120u);
  for (const auto& [id, n] : spans_per_trace) EXPECT_EQ(n, 3) << id.hex();
  EXPECT_EQ(counter("sampled") + counter("not_sampled"), 600);
  EXPECT_EQ(counter("sampled"), static_cast<double>(3 * spans_per_trace.size()));
}

TEST_F(ProbabilisticSamplerTest, ZeroAndHundredPercent) {
  const auto ids = random_ids(1'000, 9);
  EXPECT_EQ(kept_ids("sampling_percentage: 0", ids).size(), 0u);
  EXPECT_EQ(counter("not_sampled"), 1000);
  EXPECT_EQ(kept_ids("sampling_percentage: 100", ids).size(), 1000u);
  EXPECT_EQ(counter("sampled"), 1000);
}

TEST_F(ProbabilisticSamplerTest, SamplingPriorityOverridesTheHash) {
  core::SpanBatch b;
  core::Resource* r = b.new_resource();
  core::Arena& a = b.arena();
  const auto ids = random_ids(8, 1);
  struct Case {
    AnyValue priority;
    bool kept_at_0, kept_at_100;
  };
  const std::vector<Case> cases = {
      {AnyValue::integer(1), true, true},      {AnyValue::integer(0), false, false},
      {AnyValue::floating(0.5), true, true},   {AnyValue::floating(0.0), false, false},
      {AnyValue::string("10"), true, true},    {AnyValue::string("0"), false, false},
      {AnyValue::string("high"), false, true},  // not a number: the hash decides
      {AnyValue::integer(-1), false, true},     // negative: the hash decides
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    core::Span s = server_span(b, r, ids[i], static_cast<uint8_t>(i));
    core::upsert_attribute(a, s.attributes, "sampling.priority", cases[i].priority);
    b.spans().push_back(s);
  }
  for (int pct : {0, 100}) {
    core::SpanBatch copy = b.deep_copy();
    std::set<core::TraceId> out;
    for (const core::Span& s : run(fmt::format("sampling_percentage: {}", pct), std::move(copy))) {
      out.insert(s.trace_id);
    }
    for (size_t i = 0; i < cases.size(); ++i) {
      const bool want = pct == 0 ? cases[i].kept_at_0 : cases[i].kept_at_100;
      EXPECT_EQ(out.contains(ids[i]), want) << "case " << i << " at " << pct << "%";
    }
  }
}

TEST_F(ProbabilisticSamplerTest, TraceStateWithOtelSamplingIsAnError) {
  EXPECT_TRUE(trace_state_usable("congo=t61rcWkgMzE"));
  EXPECT_TRUE(trace_state_usable("rojo=00f067aa0ba902b7, congo=t61rcWkgMzE,"));
  EXPECT_TRUE(trace_state_usable("ot=p:8;foo:bar,vendor@tenant=x"));
  EXPECT_FALSE(trace_state_usable("ot=th:c"));
  EXPECT_FALSE(trace_state_usable("congo=x,ot=p:1;rv:9b8233f7e3a151"));
  EXPECT_FALSE(trace_state_usable("no-equals-sign"));
  EXPECT_FALSE(trace_state_usable("Upper=x"));
  EXPECT_FALSE(trace_state_usable("ot=novalue"));

  // At 100% a span with ot=th is dropped by default (fail_closed) and kept with fail_closed off.
  for (bool fail_closed : {true, false}) {
    core::SpanBatch b;
    core::Resource* r = b.new_resource();
    const auto ids = random_ids(2, 2);
    core::Span marked = server_span(b, r, ids[0], 1);
    marked.trace_state = "ot=th:c";
    b.spans().push_back(marked);
    b.spans().push_back(server_span(b, r, ids[1], 2));
    const auto out = run(fmt::format("{{sampling_percentage: 100, fail_closed: {}}}", fail_closed),
                         std::move(b));
    EXPECT_EQ(out.size(), fail_closed ? 1u : 2u);
  }
}

TEST_F(ProbabilisticSamplerTest, ConfigErrors) {
  struct Case {
    const char* yaml;
    const char* error;
  };
  const Case cases[] = {
      {"hash_seed: 1", "processors.probabilistic_sampler.sampling_percentage: required"},
      {"sampling_percentage: -1", "sampling_percentage: -1 is out of range; use a percentage"},
      {"sampling_percentage: 100.5", "sampling_percentage: 100.5 is out of range"},
      {"sampling_percentage: .nan", "sampling_percentage: expected a number"},
      {"sampling_percentage: ten", "sampling_percentage: expected a number"},
      {"sampling_percentage: 0.001", "rounds to 0 with hash_seed's 14-bit precision"},
      {"{sampling_percentage: 10, hash_seed: -1}", "hash_seed: -1 is out of range"},
      {"{sampling_percentage: 10, hash_seed: 4294967296}", "hash_seed: 4294967296 is out of range"},
      {"{sampling_percentage: 10, mode: proportional}",
       "mode: 'proportional' is not supported by Hodos yet; use mode: hash_seed"},
      {"{sampling_percentage: 10, mode: equalizing}", "'equalizing' is not supported"},
      {"{sampling_percentage: 10, mode: random}", "mode: unknown mode 'random'"},
      {"{sampling_percentage: 10, sampling_precision: 15}", "sampling_precision: 15 is out of"},
      {"{sampling_percentage: 10, from_attribute: id}", "from_attribute: applies to logs only"},
      {"{sampling_percentage: 10, sampling_ratio: 1}", "sampling_ratio"},
  };
  for (const Case& c : cases) {
    const std::string error = h_.config_error(*factory_, c.yaml);
    EXPECT_NE(error.find(c.error), std::string::npos) << c.yaml << " gave: " << error;
  }
  for (const char* ok : {"sampling_percentage: 0", "sampling_percentage: 100",
                         "{sampling_percentage: 12.5, hash_seed: 4294967295, mode: hash_seed, "
                         "fail_closed: false, sampling_precision: 4}"}) {
    EXPECT_EQ(h_.config_error(*factory_, ok), "") << ok;
  }
}

}  // namespace
}  // namespace hodos::processors
