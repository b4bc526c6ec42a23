#include "store/trace_store.h"

#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <map>
#include <random>
#include <thread>

#include "../otlp/batch_testing.h"
#include "store/encoding.h"
#include "store/span_tags.h"
#include "store_test_util.h"

namespace hodos::store {
namespace {

using core::SpanKind;
using testing::BatchBuilder;
using testing::FakeClock;
using testing::kDay;
using testing::kMinute;
using testing::kMs;
using testing::kSec;
using testing::kT0;
using testing::TempDir;

std::map<std::string, const core::Span*> by_span_id(const core::SpanBatch& b) {
  std::map<std::string, const core::Span*> out;
  for (const core::Span& s : b.spans()) out[s.span_id.hex()] = &s;
  return out;
}

std::vector<std::string> hex(const std::vector<core::TraceId>& ids) {
  std::vector<std::string> out;
  for (const core::TraceId& id : ids) out.push_back(id.hex());
  return out;
}

TEST(TraceStore, StoresEveryFieldAndReadsTracesBackEqual) {
  TempDir dir;
  FakeClock clock;
  StoreOptions o = testing::options_for(dir, clock);
  o.retention_age_ns = 0;  // the sample batch has spans at time 0
  auto store = TraceStore::open(o);
  core::SpanBatch original = otlp::testing::make_full_batch();
  ASSERT_EQ(store->ingest(original), original.size());

  std::map<std::string, std::vector<const core::Span*>> by_trace;
  for (const core::Span& s : original.spans()) by_trace[s.trace_id.hex()].push_back(&s);
  for (const auto& [trace_hex, spans] : by_trace) {
    core::SpanBatch read = store->find_trace(*core::TraceId::from_hex(trace_hex));
    ASSERT_EQ(read.size(), spans.size()) << trace_hex;
    auto got = by_span_id(read);
    for (const core::Span* want : spans) {
      ASSERT_TRUE(got.contains(want->span_id.hex()));
      otlp::testing::expect_same_span(*got[want->span_id.hex()], *want, trace_hex);
    }
  }
  // Spans of one resource come back sharing one Resource object, scopes stay distinct.
  core::SpanBatch two = store->find_trace(original.spans()[0].trace_id);
  ASSERT_EQ(two.size(), 2u);
  EXPECT_EQ(two.spans()[0].resource, two.spans()[1].resource);
  EXPECT_NE(two.spans()[0].scope->name, two.spans()[1].scope->name);

  EXPECT_TRUE(store->find_trace(core::TraceId::random()).empty());
  EXPECT_EQ(store->stats().spans_ingested, original.size());
}

// A batch's spans of a trace are one entry: a span sent again in a later batch is in two.
TEST(TraceStore, ASpanSentAgainIsReadOnceInItsLaterVersion) {
  TempDir dir;
  FakeClock clock;
  auto store = TraceStore::open(testing::options_for(dir, clock));
  const core::TraceId trace = core::TraceId::random();
  BatchBuilder first;
  const core::Resource* r = first.resource("svc");
  core::Span& root = first.span(r, trace, "first name", SpanKind::kServer, kT0, kMs);
  const core::SpanId root_id = root.span_id;
  first.span(r, trace, "child", SpanKind::kClient, kT0 + 1, kMs / 2, &root_id);
  store->ingest(first.take());
  BatchBuilder again;
  core::Span& resent =
      again.span(again.resource("svc"), trace, "second name", SpanKind::kServer, kT0, 2 * kMs);
  resent.span_id = root_id;
  store->ingest(again.take());

  core::SpanBatch read = store->find_trace(trace);
  ASSERT_EQ(read.size(), 2u);
  auto spans = by_span_id(read);
  ASSERT_TRUE(spans.contains(root_id.hex()));
  EXPECT_EQ(spans[root_id.hex()]->name, "second name");
  EXPECT_EQ(spans[root_id.hex()]->duration_ns(), 2 * kMs);

  // Searches go by the later version too (the earlier one's postings are still there).
  auto search = [&](std::string_view operation, uint64_t min_duration) {
    TraceQuery q;
    q.service = "svc";
    q.operation = operation;
    q.min_duration_ns = min_duration;
    return hex(store->search(q));
  };
  const std::vector<std::string> found = hex({trace});
  EXPECT_EQ(search("second name", 0), found);
  EXPECT_EQ(search("", 2 * kMs), found);
  EXPECT_TRUE(search("first name", 0).empty());
  EXPECT_TRUE(search("", 3 * kMs).empty());
  store.reset();
  store = TraceStore::open(testing::options_for(dir, clock));
  EXPECT_TRUE(search("first name", 0).empty()) << "after a restart";
  EXPECT_EQ(search("second name", 0), found) << "after a restart";
}

TEST(TraceStore, RejectsSpansWithoutIdsAndCountsThem) {
  TempDir dir;
  FakeClock clock;
  auto store = TraceStore::open(testing::options_for(dir, clock));
  BatchBuilder b;
  const core::Resource* r = b.resource("svc");
  b.span(r, core::TraceId{}, "no trace id", SpanKind::kServer, kT0, kMs);
  b.span(r, core::TraceId::random(), "ok", SpanKind::kServer, kT0, kMs);
  EXPECT_EQ(store->ingest(b.take()), 1u);
  EXPECT_EQ(store->stats().spans_rejected, 1u);
}

// Four traces over two services, used by the search table.
struct SearchData {
  core::TraceId t1 = core::TraceId::random(), t2 = core::TraceId::random(),
                t3 = core::TraceId::random(), t4 = core::TraceId::random();
  std::string long_value = std::string(200, 'q');

  // T1 and T2 come in two batches each (frontend first, backend later) to check that a trace
  // found through several index entries is returned once.
  std::vector<core::SpanBatch> batches() {
    std::vector<core::SpanBatch> out;
    BatchBuilder f;
    const core::Resource* fr = f.resource("frontend", {{"host.name", f.str("node-1")}});
    core::SpanId f1 = f.span(fr, t1, "GET /a", SpanKind::kServer, kT0 + 10 * kSec, 100 * kMs,
                             nullptr,
                             {{"http.method", f.str("GET")},
                              {"http.response.status_code", core::AnyValue::integer(200)}})
                          .span_id;
    core::Span& s2 = f.span(fr, t2, "GET /b", SpanKind::kServer, kT0 + 20 * kSec, 500 * kMs,
                            nullptr,
                            {{"http.method", f.str("GET")},
                             {"http.response.status_code", core::AnyValue::integer(500)}});
    s2.status.code = core::StatusCode::kError;
    core::SpanId f2 = s2.span_id;
    core::SpanId f3 = f.span(fr, t3, "POST /a", SpanKind::kServer, kT0 + 30 * kSec, 50 * kMs,
                             nullptr,
                             {{"http.method", f.str("POST")},
                              {"http.response.status_code", core::AnyValue::integer(201)},
                              {"sql", f.str(long_value)}})
                          .span_id;
    out.push_back(f.take());

    BatchBuilder k;
    const core::Resource* kr = k.resource("backend", {{"host.name", k.str("node-2")}});
    k.span(kr, t1, "db query", SpanKind::kClient, kT0 + 10 * kSec + kMs, 30 * kMs, &f1,
           {{"db.system", k.str("postgres")}});
    core::Span& q2 = k.span(kr, t2, "db query", SpanKind::kClient, kT0 + 20 * kSec + kMs,
                            400 * kMs, &f2, {{"db.system", k.str("mysql")}});
    k.event(q2, "exception", {{"exception.type", k.str("Timeout")}});
    k.span(kr, t3, "cache get", SpanKind::kClient, kT0 + 30 * kSec + kMs, 1 * kMs, &f3,
           {{"cache.hit", core::AnyValue::boolean(true)}});
    k.span(kr, t4, "db query", SpanKind::kInternal, kT0 + 40 * kSec, 10 * kMs, nullptr,
           {{"db.system", k.str("postgres")}, {"ratio", core::AnyValue::floating(0.5)}});
    out.push_back(k.take());
    return out;
  }
};

struct SearchCase {
  std::string name;
  TraceQuery query;
  std::vector<int> want;  // trace numbers, newest first
};

std::vector<SearchCase> search_cases() {
  auto q = [](std::string service) {
    TraceQuery t;
    t.service = std::move(service);
    return t;
  };
  std::vector<SearchCase> c;
  c.push_back({"service", q("frontend"), {3, 2, 1}});
  c.push_back({"other service", q("backend"), {4, 3, 2, 1}});
  c.push_back({"unknown service", q("nobody"), {}});
  {
    auto t = q("frontend");
    t.limit = 2;
    c.push_back({"limit", t, {3, 2}});
  }
  {
    auto t = q("frontend");
    t.operation = "GET /a";
    c.push_back({"operation", t, {1}});
  }
  {
    auto t = q("backend");
    t.operation = "db query";
    c.push_back({"operation in several traces", t, {4, 2, 1}});
  }
  {
    auto t = q("frontend");
    t.operation = "db query";  // an operation of another service
    c.push_back({"operation of another service", t, {}});
  }
  {
    auto t = q("frontend");
    t.tags = {{"http.method", "GET"}};
    c.push_back({"string tag", t, {2, 1}});
  }
  {
    auto t = q("frontend");
    t.tags = {{"http.response.status_code", "500"}};
    c.push_back({"int tag", t, {2}});
  }
  {
    auto t = q("backend");
    t.tags = {{"cache.hit", "true"}};
    c.push_back({"bool tag", t, {3}});
  }
  {
    auto t = q("backend");
    t.tags = {{"ratio", "0.5"}};
    c.push_back({"double tag", t, {4}});
  }
  {
    auto t = q("frontend");
    t.tags = {{"error", "true"}};
    c.push_back({"derived error tag", t, {2}});
  }
  {
    auto t = q("backend");
    t.tags = {{"span.kind", "internal"}};
    c.push_back({"derived span.kind tag", t, {4}});
  }
  {
    auto t = q("frontend");
    t.tags = {{"otel.status_code", "ERROR"}};
    c.push_back({"derived status tag", t, {2}});
  }
  {
    auto t = q("frontend");
    t.tags = {{"http.method", "GET"}, {"http.response.status_code", "200"}};
    c.push_back({"two tags on one span", t, {1}});
  }
  {
    auto t = q("frontend");
    t.tags = {{"http.method", "POST"}, {"http.response.status_code", "200"}};
    c.push_back({"two tags on different spans", t, {}});
  }
  {
    auto t = q("frontend");
    t.tags = {{"db.system", "postgres"}};  // only on backend spans
    c.push_back({"tag of another service's span", t, {}});
  }
  {
    auto t = q("frontend");
    t.tags = {{"host.name", "node-1"}};
    c.push_back({"resource tag", t, {3, 2, 1}});
  }
  {
    auto t = q("backend");
    t.tags = {{"db.system", "postgres"}, {"host.name", "node-2"}};
    c.push_back({"span tag and resource tag", t, {4, 1}});
  }
  {
    auto t = q("backend");
    t.tags = {{"exception.type", "Timeout"}};
    c.push_back({"event field", t, {2}});
  }
  {
    auto t = q("backend");
    t.tags = {{"event", "exception"}, {"db.system", "mysql"}};
    c.push_back({"event name and span tag", t, {2}});
  }
  {
    auto t = q("frontend");
    t.tags = {{"sql", std::string(200, 'q')}};
    c.push_back({"value too long for the index", t, {3}});
  }
  {
    auto t = q("frontend");
    t.tags = {{"http.method", "DELETE"}};
    c.push_back({"tag value never seen", t, {}});
  }
  {
    auto t = q("frontend");
    t.min_duration_ns = 200 * kMs;
    c.push_back({"min duration", t, {2}});
  }
  {
    auto t = q("frontend");
    t.max_duration_ns = 60 * kMs;
    c.push_back({"max duration", t, {3}});
  }
  {
    auto t = q("backend");
    t.min_duration_ns = 20 * kMs;
    t.max_duration_ns = 100 * kMs;
    c.push_back({"duration range", t, {1}});
  }
  {
    auto t = q("backend");
    t.operation = "db query";
    t.min_duration_ns = 20 * kMs;
    c.push_back({"operation and duration", t, {2, 1}});
  }
  {
    auto t = q("backend");
    t.operation = "db query";
    t.tags = {{"db.system", "mysql"}};
    c.push_back({"operation and tag", t, {2}});
  }
  {
    auto t = q("frontend");
    t.operation = "GET /a";
    t.tags = {{"http.method", "POST"}};  // POST is on "POST /a"
    c.push_back({"operation and tag on different spans", t, {}});
  }
  {
    auto t = q("frontend");
    t.tags = {{"http.method", "GET"}};
    t.min_duration_ns = 200 * kMs;
    c.push_back({"tag and duration", t, {2}});
  }
  {
    auto t = q("frontend");
    t.start_time_min_ns = kT0 + 15 * kSec;
    t.start_time_max_ns = kT0 + 35 * kSec;
    c.push_back({"time range", t, {3, 2}});
  }
  {
    auto t = q("backend");
    t.start_time_min_ns = kT0 + 15 * kSec;
    t.operation = "db query";
    t.tags = {{"host.name", "node-2"}};
    t.max_duration_ns = 50 * kMs;
    c.push_back({"everything at once", t, {4}});
  }
  return c;
}

class TraceSearch : public ::testing::TestWithParam<bool> {};

// The same table with every tag indexed and with only http.method indexed: tags outside the
// index must still be found (by reading the candidate traces).
TEST_P(TraceSearch, EveryParameterAndCombination) {
  TempDir dir;
  FakeClock clock;
  clock.set(kT0 + 60 * kSec);
  StoreOptions o = testing::options_for(dir, clock);
  if (GetParam()) o.indexed_tag_keys = {"http.method"};
  auto store = TraceStore::open(o);
  SearchData data;
  for (core::SpanBatch& b : data.batches()) store->ingest(b);
  const core::TraceId ids[] = {{}, data.t1, data.t2, data.t3, data.t4};
  for (const SearchCase& c : search_cases()) {
    std::vector<core::TraceId> want;
    for (int i : c.want) want.push_back(ids[i]);
    EXPECT_EQ(hex(store->search(c.query)), hex(want)) << c.name;
  }
}

INSTANTIATE_TEST_SUITE_P(TraceStore, TraceSearch, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "SomeTags" : "AllTags"; });

TEST(TraceStore, SearchWithoutServiceIsAnError) {
  TempDir dir;
  FakeClock clock;
  auto store = TraceStore::open(testing::options_for(dir, clock));
  EXPECT_THROW(store->search(TraceQuery{}), StoreError);
}

TEST(TraceStore, SearchLimitDefaultsToTwentyNewestFirst) {
  TempDir dir;
  FakeClock clock;
  auto store = TraceStore::open(testing::options_for(dir, clock));
  BatchBuilder b;
  const core::Resource* r = b.resource("svc");
  std::vector<core::TraceId> ids;
  for (int i = 0; i < 30; ++i) {
    ids.push_back(core::TraceId::random());
    b.span(r, ids.back(), "op", SpanKind::kServer, kT0 - static_cast<uint64_t>(30 - i) * kSec, kMs);
  }
  store->ingest(b.take());
  TraceQuery q;
  q.service = "svc";
  std::vector<core::TraceId> got = store->search(q);
  std::vector<core::TraceId> want(ids.rbegin(), ids.rbegin() + 20);
  EXPECT_EQ(hex(got), hex(want));
}

// Late or batching senders: a batch sent later may hold older traces, and one minute's traces
// come in many batches. A limited search still returns the newest traces, in order.
TEST(TraceStore, SearchLimitTakesTheNewestWhateverOrderBatchesCameIn) {
  TempDir dir;
  FakeClock clock;
  clock.set(kT0 + 10 * kMinute);
  StoreOptions o = testing::options_for(dir, clock);
  auto store = TraceStore::open(o);
  std::mt19937_64 rng(11);
  const uint64_t minute = kT0 - kT0 % kMinute;
  std::vector<std::pair<uint64_t, core::TraceId>> all;  // (start, trace)
  for (int batch = 0; batch < 40; ++batch) {
    BatchBuilder b;
    const core::Resource* r = b.resource("svc");
    for (int i = 0; i < 3; ++i) {
      const uint64_t start = minute + rng() % (2 * kMinute);  // two minutes
      const core::TraceId trace = core::TraceId::random();
      core::SpanId root = b.span(r, trace, "op", SpanKind::kServer, start, kMs).span_id;
      b.span(r, trace, "inner", SpanKind::kInternal, start, kMs / 2, &root);
      all.emplace_back(start, trace);
    }
    store->ingest(b.take());
  }
  std::sort(all.begin(), all.end(), std::greater<>());
  for (size_t limit : {1, 3, 20, 200}) {
    for (const std::string operation : {"", "op"}) {
      TraceQuery q;
      q.service = "svc";
      q.operation = operation;
      q.limit = limit;
      std::vector<core::TraceId> want;
      for (size_t i = 0; i < std::min(limit, all.size()); ++i) want.push_back(all[i].second);
      EXPECT_EQ(hex(store->search(q)), hex(want)) << "limit " << limit << " op " << operation;
    }
  }
}

// A span counts when IT starts in [start, end], even when an earlier span of the same trace and
// service came in the same batch (a long trace whose root started before the window).
TEST(TraceStore, SearchFindsALateSpanOfATraceThatStartedBeforeTheWindow) {
  TempDir dir;
  FakeClock clock;
  clock.set(kT0 + 10 * kMinute);
  StoreOptions o = testing::options_for(dir, clock);
  o.indexed_tag_keys = {"job.step"};
  auto store = TraceStore::open(o);
  BatchBuilder b;
  const core::Resource* r = b.resource("batch-job");
  const core::TraceId trace = core::TraceId::random();
  core::SpanId root = b.span(r, trace, "run", SpanKind::kServer, kT0, 5 * kMinute).span_id;
  b.span(r, trace, "late step", SpanKind::kInternal, kT0 + 4 * kMinute, kSec, &root,
         {{"job.step", b.str("upload")}, {"attempt", core::AnyValue::integer(3)}});
  store->ingest(b.take());

  auto query = [](auto&& set) {
    TraceQuery q;
    q.service = "batch-job";
    q.start_time_min_ns = kT0 + 3 * kMinute;
    set(q);
    return q;
  };
  const std::vector<std::string> want = hex(std::vector<core::TraceId>{trace});
  EXPECT_EQ(hex(store->search(query([](TraceQuery&) {}))), want) << "service";
  EXPECT_EQ(hex(store->search(query([](TraceQuery& q) { q.operation = "late step"; }))), want)
      << "operation";
  EXPECT_EQ(hex(store->search(query([](TraceQuery& q) { q.tags = {{"job.step", "upload"}}; }))),
            want)
      << "tag with its own index";
  EXPECT_EQ(hex(store->search(query([](TraceQuery& q) { q.tags = {{"attempt", "3"}}; }))), want)
      << "tag";
  // The root alone is outside the window: conditions only it meets find nothing.
  EXPECT_TRUE(store->search(query([](TraceQuery& q) { q.operation = "run"; })).empty());
}

TEST(TraceStore, ServicesAndOperationsWithKinds) {
  TempDir dir;
  FakeClock clock;
  clock.set(kT0 + 60 * kSec);
  auto store = TraceStore::open(testing::options_for(dir, clock));
  SearchData data;
  for (core::SpanBatch& b : data.batches()) store->ingest(b);
  EXPECT_EQ(store->services(), (std::vector<std::string>{"backend", "frontend"}));
  EXPECT_EQ(store->operations("backend"),
            (std::vector<Operation>{{"cache get", SpanKind::kClient},
                                    {"db query", SpanKind::kInternal},
                                    {"db query", SpanKind::kClient}}));
  EXPECT_EQ(store->operations("backend", SpanKind::kClient),
            (std::vector<Operation>{{"cache get", SpanKind::kClient},
                                    {"db query", SpanKind::kClient}}));
  EXPECT_EQ(store->operations("frontend", SpanKind::kServer).size(), 3u);
  EXPECT_TRUE(store->operations("frontend", SpanKind::kClient).empty());
  EXPECT_TRUE(store->operations("nobody").empty());
}

// Databases have no spans: the calls to them make them nodes of the map.
TEST(TraceStore, DatabaseCallsMakeTheDatabaseADependency) {
  TempDir dir;
  FakeClock clock;
  clock.set(kT0 + 10 * kMinute);
  auto store = TraceStore::open(testing::options_for(dir, clock));
  BatchBuilder a;
  core::TraceId t = core::TraceId::random();
  const core::Resource* shop = a.resource("shop");
  core::SpanId root = a.span(shop, t, "GET /", SpanKind::kServer, kT0, 100 * kMs).span_id;
  for (int i = 0; i < 2; ++i) {
    core::Span& q = a.span(shop, t, "SELECT users", SpanKind::kClient, kT0 + kMs, kMs, &root);
    core::upsert_attribute(a.arena(), q.attributes, "db.system.name",
                           core::AnyValue::string("postgresql"));
    if (i == 1) q.status.code = core::StatusCode::kError;
  }
  core::Span& get = a.span(shop, t, "GET", SpanKind::kClient, kT0 + 2 * kMs, kMs, &root);
  core::upsert_attribute(a.arena(), get.attributes, "db.system", core::AnyValue::string("redis"));
  // A server span with a db attribute is no call to a database.
  core::Span& odd = a.span(shop, t, "GET /db", SpanKind::kServer, kT0, kMs);
  core::upsert_attribute(a.arena(), odd.attributes, "db.system.name",
                         core::AnyValue::string("sqlite"));
  // A Kafka send (PRODUCER) and poll (CLIENT): the broker is a dependency too.
  for (SpanKind kind : {SpanKind::kProducer, SpanKind::kClient}) {
    core::Span& k = a.span(shop, t, "send orders", kind, kT0 + 3 * kMs, kMs, &root);
    core::upsert_attribute(a.arena(), k.attributes, "messaging.system", core::AnyValue::string("kafka"));
  }
  store->ingest(a.take());
  EXPECT_EQ(store->dependencies(kT0 + kMinute, 2 * kMinute),
            (std::vector<DependencyLink>{{"shop", "kafka", 2, 0}, {"shop", "postgresql", 2, 1},
                                         {"shop", "redis", 1, 0}}));
  EXPECT_EQ(store->services(), (std::vector<std::string>{"shop"})) << "no database is a service";
}

TEST(TraceStore, DependenciesFromParentsInEarlierOrLaterBatches) {
  TempDir dir;
  FakeClock clock;
  clock.set(kT0 + 10 * kMinute);
  auto store = TraceStore::open(testing::options_for(dir, clock));
  // frontend -> checkout: parent first, child in a later batch.
  BatchBuilder a;
  core::TraceId t1 = core::TraceId::random();
  const core::Resource* fr = a.resource("frontend");
  core::SpanId root = a.span(fr, t1, "GET /", SpanKind::kServer, kT0, 100 * kMs).span_id;
  core::SpanId call = a.span(fr, t1, "POST checkout", SpanKind::kClient, kT0 + kMs, 50 * kMs,
                             &root).span_id;
  store->ingest(a.take());
  BatchBuilder b;
  const core::Resource* cr = b.resource("checkout");
  core::Span& served =
      b.span(cr, t1, "POST /checkout", SpanKind::kServer, kT0 + 2 * kMs, 40 * kMs, &call);
  served.status.code = core::StatusCode::kError;
  core::SpanId checkout_span = served.span_id;
  // checkout -> payments, child before parent: payments' span arrives first.
  core::TraceId t2 = core::TraceId::random();
  core::SpanId pay_call = core::SpanId::random();
  BatchBuilder c;
  const core::Resource* pr = c.resource("payments");
  c.span(pr, t1, "charge", SpanKind::kServer, kT0 + 3 * kMs, 10 * kMs, &pay_call);
  c.span(pr, t2, "charge", SpanKind::kServer, kT0 + 4 * kMs, 10 * kMs, &pay_call);
  store->ingest(c.take());
  b.span(cr, t1, "POST payments", SpanKind::kClient, kT0 + 3 * kMs, 12 * kMs, &checkout_span)
      .span_id = pay_call;
  store->ingest(b.take());
  // An old edge outside the lookback window.
  BatchBuilder d;
  const core::Resource* fr2 = d.resource("frontend");
  const core::Resource* cr2 = d.resource("checkout");
  core::SpanId old_parent =
      d.span(fr2, core::TraceId::random(), "GET /", SpanKind::kClient, kT0 - 5 * kMinute, kMs)
          .span_id;
  d.span(cr2, core::TraceId::random(), "POST /checkout", SpanKind::kServer, kT0 - 5 * kMinute,
         kMs, &old_parent);
  store->ingest(d.take());

  std::vector<DependencyLink> got = store->dependencies(kT0 + kMinute, 2 * kMinute);
  EXPECT_EQ(got, (std::vector<DependencyLink>{{"checkout", "payments", 2, 0},
                                              {"frontend", "checkout", 1, 1}}));
  std::vector<DependencyLink> all = store->dependencies(kT0 + kMinute, 10 * kMinute);
  EXPECT_EQ(all, (std::vector<DependencyLink>{{"checkout", "payments", 2, 0},
                                              {"frontend", "checkout", 2, 1}}));
}

// Calls of a service in the window [end - lookback, end], all operations and kinds.
uint64_t calls_of(const TraceStore& store, const std::string& service, uint64_t end,
                  uint64_t lookback) {
  MetricsQuery m;
  m.service = service;
  m.end_ns = end;
  m.lookback_ns = lookback;
  m.step_ns = lookback;
  uint64_t calls = 0;
  for (const MetricsSeries& s : store.metrics(m)) {
    for (const MetricsPoint& p : s.points) calls += p.value.calls;
  }
  return calls;
}

// A sender retrying a request that got through: the spans are stored again (and read once), but
// calls and dependency edges are not counted twice.
TEST(TraceStore, ABatchSentTwiceIsCountedOnce) {
  TempDir dir;
  FakeClock clock;
  clock.set(kT0 + 10 * kMinute);
  auto store = TraceStore::open(testing::options_for(dir, clock));
  BatchBuilder b;
  const core::TraceId trace = core::TraceId::random();
  core::SpanId root =
      b.span(b.resource("frontend"), trace, "GET /", SpanKind::kServer, kT0, 100 * kMs).span_id;
  b.span(b.resource("checkout"), trace, "POST /checkout", SpanKind::kServer, kT0 + kMs, 40 * kMs,
         &root);
  core::SpanBatch batch = b.take();
  store->ingest(batch);
  store->ingest(batch);

  EXPECT_EQ(store->find_trace(trace).size(), 2u);
  EXPECT_EQ(store->dependencies(kT0 + kMinute, 2 * kMinute),
            (std::vector<DependencyLink>{{"frontend", "checkout", 1, 0}}));
  EXPECT_EQ(calls_of(*store, "frontend", kT0 + kMinute, 2 * kMinute), 1u);
}

TEST(TraceStore, MetricsPerMinuteWithQuantilesAndGrouping) {
  TempDir dir;
  FakeClock clock;
  const uint64_t base = kT0 - kT0 % kMinute;  // a minute boundary
  clock.set(base + 3 * kMinute);
  auto store = TraceStore::open(testing::options_for(dir, clock));
  BatchBuilder b;
  const core::Resource* r = b.resource("api");
  // Minute 0: 100 "GET" server spans of 1..100 ms, 10 of them errors.
  for (int i = 1; i <= 100; ++i) {
    core::Span& s = b.span(r, core::TraceId::random(), "GET", SpanKind::kServer,
                           base + static_cast<uint64_t>(i) * kMs, static_cast<uint64_t>(i) * kMs);
    if (i % 10 == 0) s.status.code = core::StatusCode::kError;
  }
  // Minute 1: 5 "POST" server spans of 200 ms and 3 client spans.
  for (int i = 0; i < 5; ++i) {
    b.span(r, core::TraceId::random(), "POST", SpanKind::kServer, base + kMinute + kSec,
           200 * kMs);
  }
  for (int i = 0; i < 3; ++i) {
    b.span(r, core::TraceId::random(), "call", SpanKind::kClient, base + kMinute + kSec, kMs);
  }
  store->ingest(b.take());

  MetricsQuery q;
  q.service = "api";
  q.span_kinds = {SpanKind::kServer};
  q.end_ns = base + 3 * kMinute;
  q.lookback_ns = 3 * kMinute;
  q.step_ns = kMinute;
  std::vector<MetricsSeries> s = store->metrics(q);
  ASSERT_EQ(s.size(), 1u);
  ASSERT_EQ(s[0].points.size(), 3u);
  EXPECT_EQ(s[0].points[0].time_ns, base + kMinute);
  EXPECT_EQ(s[0].points[0].value.calls, 100u);
  EXPECT_EQ(s[0].points[0].value.errors, 10u);
  EXPECT_EQ(s[0].points[1].value.calls, 5u);
  EXPECT_EQ(s[0].points[2].value.calls, 0u);
  // Quantiles come from sqrt(2)-wide buckets: spread values land near the exact quantile, a
  // single repeated value somewhere inside its bucket.
  const LatencyHistogram& h = s[0].points[0].value.latency;
  EXPECT_NEAR(h.quantile_ns(0.5), 50.0 * kMs, 10.0 * kMs);
  EXPECT_NEAR(h.quantile_ns(0.95), 95.0 * kMs, 19.0 * kMs);
  size_t b200 = LatencyHistogram::bucket_for(200 * kMs);
  double p99 = s[0].points[1].value.latency.quantile_ns(0.99);
  EXPECT_GT(p99, static_cast<double>(LatencyHistogram::upper_bound_ns(b200 - 1)));
  EXPECT_LE(p99, static_cast<double>(LatencyHistogram::upper_bound_ns(b200)));

  // All kinds, one step of two minutes (the first minute is outside the lookback).
  q.span_kinds.clear();
  q.lookback_ns = 2 * kMinute;
  q.step_ns = 2 * kMinute;
  s = store->metrics(q);
  ASSERT_EQ(s.size(), 1u);
  ASSERT_EQ(s[0].points.size(), 1u);
  EXPECT_EQ(s[0].points[0].value.calls, 8u);

  q.group_by_operation = true;
  q.lookback_ns = 3 * kMinute;
  q.step_ns = kMinute;
  s = store->metrics(q);
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[0].operation, "GET");
  EXPECT_EQ(s[0].points[0].value.calls, 100u);
  EXPECT_EQ(s[1].operation, "POST");
  EXPECT_EQ(s[1].points[1].value.calls, 5u);
  EXPECT_EQ(s[2].operation, "call");
  EXPECT_EQ(s[2].points[1].value.calls, 3u);

  q.service = "nobody";
  EXPECT_TRUE(store->metrics(q).empty());
}

// Stores the search table's traces in a store that is closed again; `flush` leaves nothing in
// its log.
void store_and_close(const TempDir& dir, const FakeClock& clock, SearchData& data,
                     bool flush = false) {
  auto store = TraceStore::open(testing::options_for(dir, clock));
  for (core::SpanBatch& b : data.batches()) store->ingest(b);
  if (flush) store->compact();
}

TEST(TraceStore, ReopenFindsEverythingAndKeepsDictionaryIds) {
  TempDir dir;
  FakeClock clock;
  clock.set(kT0 + 60 * kSec);
  SearchData data;
  store_and_close(dir, clock, data);
  auto store = TraceStore::open(testing::options_for(dir, clock));
  // A new resource after the restart must not reuse the id of an old one.
  BatchBuilder b;
  b.span(b.resource("late", {{"host.name", b.str("node-9")}}), core::TraceId::random(), "x",
         SpanKind::kServer, kT0 + 50 * kSec, kMs);
  store->ingest(b.take());

  core::SpanBatch t2 = store->find_trace(data.t2);
  ASSERT_EQ(t2.size(), 2u);
  for (const core::Span& s : t2.spans()) {
    EXPECT_TRUE(s.name == "GET /b" ? service_name(*s.resource) == "frontend"
                                   : service_name(*s.resource) == "backend");
  }
  TraceQuery q;
  q.service = "backend";
  q.tags = {{"db.system", "mysql"}};
  EXPECT_EQ(hex(store->search(q)), hex({data.t2}));
  EXPECT_EQ(store->services(), (std::vector<std::string>{"backend", "frontend", "late"}));
  EXPECT_EQ(store->operations("frontend").size(), 3u);
  // (The backend's database calls add edges to the databases, which other tests look at.)
  std::vector<DependencyLink> links = store->dependencies(kT0 + kMinute, kMinute);
  std::erase_if(links, [](const DependencyLink& l) { return l.parent == "backend"; });
  EXPECT_EQ(links, (std::vector<DependencyLink>{{"frontend", "backend", 3, 0}}));

  // A batch after the restart, at the same clock reading, gets a posting of its own: those of
  // the same service and minute from before the restart stay searchable.
  BatchBuilder more;
  const core::TraceId t5 = core::TraceId::random();
  more.span(more.resource("frontend", {{"host.name", more.str("node-1")}}), t5, "GET /a",
            SpanKind::kServer, kT0 + 35 * kSec, kMs);
  store->ingest(more.take());
  TraceQuery f;
  f.service = "frontend";
  EXPECT_EQ(hex(store->search(f)), hex({t5, data.t3, data.t2, data.t1}));
}

TEST(TraceStore, SecondOpenOfTheSameDirectoryFailsAtOnce) {
  TempDir dir;
  FakeClock clock;
  auto store = TraceStore::open(testing::options_for(dir, clock));
  try {
    TraceStore::open(testing::options_for(dir, clock));
    FAIL() << "second open succeeded";
  } catch (const StoreError& e) {
    EXPECT_EQ(std::string(e.what()), "data directory " + dir.str() +
                                         " is in use by another Hodos process; stop it or use "
                                         "--data-dir");
  }
  // Another process is refused the same way.
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    const char* verdict = "opened";
    try {
      TraceStore::open(testing::options_for(dir, clock));
    } catch (const StoreError& e) {
      verdict = std::string(e.what()).find("in use by another Hodos process") != std::string::npos
                    ? "refused"
                    : "other error";
    }
    ssize_t n = write(fds[1], verdict, strlen(verdict));
    _exit(n > 0 ? 0 : 1);
  }
  close(fds[1]);
  char buf[32] = {};
  ASSERT_GT(read(fds[0], buf, sizeof buf - 1), 0);
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_STREQ(buf, "refused");
  // Once closed, the directory opens again.
  store.reset();
  EXPECT_NO_THROW(TraceStore::open(testing::options_for(dir, clock)));
}

TEST(TraceStore, CreatesAMissingDirectory) {
  TempDir dir;
  FakeClock clock;
  StoreOptions o = testing::options_for(dir, clock);
  o.data_dir = dir.str() + "/a/b/c";
  auto store = TraceStore::open(o);
  EXPECT_TRUE(std::filesystem::exists(o.data_dir + "/hodos.lock"));
}

// Keys of `cf` as stored on disk (read-only open of the closed store's directory); with
// `values`, each key followed by its value.
std::vector<std::string> keys_on_disk(const std::string& dir, const std::string& cf,
                                      bool values = false) {
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs = {
      {rocksdb::kDefaultColumnFamilyName, {}}, {cf, {}}};
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status st = rocksdb::DB::OpenForReadOnly({}, dir, cfs, &handles, &raw);
  EXPECT_TRUE(st.ok()) << st.ToString();
  std::vector<std::string> out;
  if (!st.ok()) return out;
  std::unique_ptr<rocksdb::DB> db(raw);
  {
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator({}, handles[1]));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      out.push_back(it->key().ToString() + (values ? it->value().ToString() : ""));
    }
  }
  for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
  return out;
}

bool any_key_has(const std::vector<std::string>& keys, const core::TraceId& id) {
  return std::any_of(keys.begin(), keys.end(),
                     [&](const std::string& k) { return k.find(id.as_view()) != std::string::npos; });
}

std::vector<std::string> column_families(const std::string& dir) {
  std::vector<std::string> names;
  EXPECT_TRUE(rocksdb::DB::ListColumnFamilies({}, dir, &names).ok());
  std::sort(names.begin(), names.end());
  return names;
}

// Opens a closed store's directory as a plain RocksDB, with its column families by name, to
// make it look like what an older Hodos left.
void edit_as_plain_db(
    const std::string& dir,
    const std::function<void(rocksdb::DB&, std::map<std::string, rocksdb::ColumnFamilyHandle*>&)>&
        edit) {
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
  for (const std::string& name : column_families(dir)) {
    cfs.emplace_back(name, rocksdb::ColumnFamilyOptions());
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open({}, dir, cfs, &handles, &raw).ok());
  std::unique_ptr<rocksdb::DB> db(raw);
  std::map<std::string, rocksdb::ColumnFamilyHandle*> by_name;
  for (auto* h : handles) by_name[h->GetName()] = h;
  edit(*db, by_name);
  for (auto& [name, h] : by_name) ASSERT_TRUE(db->DestroyColumnFamilyHandle(h).ok());
}

// Before batches were grouped, each span was an entry of its own (key trace id + span id).
TEST(TraceStore, ReadsSpansStoredOnePerEntry) {
  TempDir dir;
  FakeClock clock;
  const core::TraceId grouped = core::TraceId::random(), single = core::TraceId::random();
  const core::SpanId span_id = core::SpanId::random();
  {
    auto store = TraceStore::open(testing::options_for(dir, clock));
    BatchBuilder b;
    b.span(b.resource("svc"), grouped, "now", SpanKind::kServer, kT0, kMs);
    store->ingest(b.take());
    store->compact();  // nothing left in the log for the plain open below to replay
  }
  edit_as_plain_db(dir.str(), [&](rocksdb::DB& db, auto& families) {
    rocksdb::ColumnFamilyHandle* spans = families["spans"];
    ASSERT_NE(spans, nullptr);
    // The resource and scope refs of the grouped span: after the group's start, its span id,
    // start and duration.
    std::unique_ptr<rocksdb::Iterator> it(db.NewIterator({}, spans));
    it->SeekToFirst();
    ASSERT_TRUE(it->Valid());
    std::string_view value(it->value().data(), it->value().size());
    value.remove_prefix(8 + 8 + 8);
    uint64_t duration, resource, scope;
    ASSERT_TRUE(get_varint(&value, &duration) && get_varint(&value, &resource) &&
                get_varint(&value, &scope));
    it.reset();
    std::string legacy;
    put_le64(legacy, kT0 + kSec);
    put_varint(legacy, 2 * 3 * kMs);  // zigzag(3 ms)
    put_varint(legacy, resource);
    put_varint(legacy, scope);
    legacy.append("\x2a\x06legacy");  // Span.name (field 5)
    std::string key(single.as_view());
    key.append(span_id.as_view());
    ASSERT_TRUE(db.Put({}, spans, key, legacy).ok());
  });
  auto store = TraceStore::open(testing::options_for(dir, clock));
  core::SpanBatch read = store->find_trace(single);
  ASSERT_EQ(read.size(), 1u);
  const core::Span& s = read.spans()[0];
  EXPECT_EQ(s.name, "legacy");
  EXPECT_EQ(s.span_id, span_id);
  EXPECT_EQ(s.start_time_unix_nano, kT0 + kSec);
  EXPECT_EQ(s.duration_ns(), 3 * kMs);
  EXPECT_EQ(service_name(*s.resource), "svc");
  EXPECT_EQ(store->find_trace(grouped).size(), 1u);
}

// The search index before posting lists (one entry per trace) was the "index" column family.
TEST(TraceStore, AnOlderIndexIsDroppedAndItsTracesStayReadable) {
  TempDir dir;
  FakeClock clock;
  clock.set(kT0 + 60 * kSec);
  SearchData data;
  store_and_close(dir, clock, data, /*flush=*/true);  // for the plain open below
  edit_as_plain_db(dir.str(), [](rocksdb::DB& db, auto& families) {
    rocksdb::ColumnFamilyHandle* old = nullptr;
    ASSERT_TRUE(db.CreateColumnFamily({}, "index", &old).ok());
    families["index"] = old;
    ASSERT_TRUE(db.Put({}, old, "Sfrontend", "an entry of the old layout").ok());
  });
  ASSERT_TRUE(std::ranges::count(column_families(dir.str()), "index"));

  auto store = TraceStore::open(testing::options_for(dir, clock));
  EXPECT_FALSE(std::ranges::count(column_families(dir.str()), "index"));
  EXPECT_EQ(store->find_trace(data.t1).size(), 2u);
  TraceQuery q;
  q.service = "frontend";
  EXPECT_EQ(store->search(q).size(), 3u);
}

TEST(TraceStore, RetentionByAgeHidesOldTracesAndCompactionRemovesThem) {
  TempDir dir;
  FakeClock clock;
  StoreOptions o = testing::options_for(dir, clock);
  o.retention_age_ns = 7 * kDay;
  core::TraceId old_trace = core::TraceId::random(), new_trace = core::TraceId::random();
  {
    auto store = TraceStore::open(o);
    BatchBuilder b;
    const core::Resource* r = b.resource("svc");
    const core::Resource* child = b.resource("db");
    core::SpanId p = b.span(r, old_trace, "old", SpanKind::kClient, kT0 - kMinute, kMs).span_id;
    b.span(child, old_trace, "q", SpanKind::kServer, kT0 - kMinute, kMs, &p);
    store->ingest(b.take());
    clock.set(kT0 + 8 * kDay);
    BatchBuilder n;
    n.span(n.resource("svc"), new_trace, "new", SpanKind::kServer, kT0 + 8 * kDay - kMinute, kMs);
    store->ingest(n.take());
    // Late spans older than the cutoff are not stored once retention has run.
    store->enforce_retention();
    EXPECT_GE(store->stats().retention_cutoff_ns, kT0 + kDay);

    EXPECT_TRUE(store->find_trace(old_trace).empty());
    EXPECT_EQ(store->find_trace(new_trace).size(), 1u);
    TraceQuery q;
    q.service = "svc";
    EXPECT_EQ(hex(store->search(q)), hex({new_trace}));
    // Names whose spans have all expired are no longer listed.
    EXPECT_EQ(store->services(), std::vector<std::string>{"svc"});
    std::vector<Operation> ops = store->operations("svc");
    ASSERT_EQ(ops.size(), 1u);
    EXPECT_EQ(ops[0].name, "new");
    EXPECT_TRUE(store->operations("db").empty());
    EXPECT_TRUE(store->dependencies(kT0 + 9 * kDay, 10 * kDay).empty());
    EXPECT_EQ(calls_of(*store, "svc", kT0 + 8 * kDay, 9 * kDay), 1u);

    BatchBuilder late;
    late.span(late.resource("svc"), core::TraceId::random(), "late", SpanKind::kServer, kT0, kMs);
    EXPECT_EQ(store->ingest(late.take()), 0u);

    store->compact();
  }
  std::vector<std::string> spans = keys_on_disk(dir.str(), "spans");
  EXPECT_FALSE(any_key_has(spans, old_trace));
  EXPECT_TRUE(any_key_has(spans, new_trace));
  // Postings name their traces in the values.
  std::vector<std::string> index = keys_on_disk(dir.str(), "postings", /*values=*/true);
  EXPECT_FALSE(any_key_has(index, old_trace));
  EXPECT_TRUE(any_key_has(index, new_trace));
}

TEST(TraceStore, RetentionBySizeDropsTheOldestFirst) {
  TempDir dir;
  FakeClock clock;
  const uint64_t base = kT0 - kT0 % kMinute;
  clock.set(base + 10 * kMinute);
  StoreOptions o = testing::options_for(dir, clock);
  std::vector<std::vector<core::TraceId>> bands(3);
  uint64_t full_size = 0;
  {
    auto store = TraceStore::open(o);
    std::mt19937_64 rng(7);
    for (size_t band = 0; band < bands.size(); ++band) {
      BatchBuilder b;
      const core::Resource* r = b.resource("svc");
      for (int i = 0; i < 300; ++i) {
        core::TraceId t = core::TraceId::random();
        bands[band].push_back(t);
        for (int s = 0; s < 4; ++s) {
          b.span(r, t, "op" + std::to_string(s), SpanKind::kServer,
                 base + band * 3 * kMinute + static_cast<uint64_t>(i) * kMs, kMs, nullptr,
                 {{"random", b.str(std::to_string(rng()))}});
        }
      }
      store->ingest(b.take());
    }
    store->compact();
    full_size = store->stats().disk_bytes;
    ASSERT_GT(full_size, 0u);
  }
  o.retention_bytes = full_size * 6 / 10;
  auto store = TraceStore::open(o);
  store->enforce_retention();
  EXPECT_LT(store->stats().disk_bytes, full_size);
  EXPECT_TRUE(store->find_trace(bands[0][0]).empty());
  EXPECT_TRUE(store->find_trace(bands[0][299]).empty());
  EXPECT_FALSE(store->find_trace(bands[2][0]).empty());
  EXPECT_FALSE(store->find_trace(bands[2][299]).empty());
  // The raised cutoff survives a restart.
  uint64_t cutoff = store->stats().retention_cutoff_ns;
  EXPECT_GT(cutoff, base);
  store.reset();
  o.retention_bytes = 0;
  store = TraceStore::open(o);
  EXPECT_EQ(store->stats().retention_cutoff_ns, cutoff);
  EXPECT_TRUE(store->find_trace(bands[0][1]).empty());
}

TEST(TraceStore, ConcurrentIngestAndReads) {
  TempDir dir;
  FakeClock clock;
  auto store = TraceStore::open(testing::options_for(dir, clock));
  std::vector<std::thread> threads;
  std::atomic<bool> done{false};
  for (int w = 0; w < 4; ++w) {
    threads.emplace_back([&, w] {
      for (int i = 0; i < 50; ++i) {
        BatchBuilder b;
        const core::Resource* r = b.resource("svc" + std::to_string(w));
        core::TraceId t = core::TraceId::random();
        core::SpanId p = b.span(r, t, "root", SpanKind::kServer, kT0 - kSec, kMs).span_id;
        b.span(b.resource("db"), t, "q", SpanKind::kServer, kT0 - kSec, kMs, &p);
        store->ingest(b.take());
      }
    });
  }
  std::thread reader([&] {
    while (!done) {
      TraceQuery q;
      q.service = "db";
      q.limit = 1000;
      for (const core::TraceId& id : store->search(q)) {
        EXPECT_EQ(store->find_trace(id).size(), 2u);
      }
    }
  });
  for (auto& t : threads) t.join();
  done = true;
  reader.join();
  TraceQuery q;
  q.service = "db";
  q.limit = 1000;
  EXPECT_EQ(store->search(q).size(), 200u);
  EXPECT_EQ(store->stats().spans_ingested, 400u);
  EXPECT_EQ(store->dependencies(kT0, kMinute).size(), 4u);
}

}  // namespace
}  // namespace hodos::store
