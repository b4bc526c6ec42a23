// Store benchmark: generated realistic traces (10 spans, 3-5 services, 10 attributes per span,
// random ids, attribute values from realistic distributions) are ingested into the TraceStore;
// then trace-by-id and search latencies are measured. The same encoded span bytes are also
// written straight into a plain RocksDB in the same run: the practical limit to compare with.
//
//   bench_store [--spans N] [--queries N] [--dir DIR] [--keep]
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "otlp/otlp_wire.h"
#include "store/trace_store.h"

namespace {

using hodos::core::AnyValue;
using hodos::core::SpanKind;
namespace core = hodos::core;
namespace store = hodos::store;

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// --- Realistic data ------------------------------------------------------------------------

struct ServiceDef {
  std::string name;
  std::vector<std::string> routes;  // operations of its server spans
  std::vector<std::string> hosts;   // one resource per instance
};

const std::vector<ServiceDef>& services() {
  static const std::vector<ServiceDef> kServices = [] {
    std::vector<ServiceDef> s;
    const char* names[] = {"frontend", "checkout", "payments", "inventory", "users",
                           "shipping", "recommendations", "cart"};
    const char* nouns[] = {"orders", "items", "users", "carts", "payments", "stock",
                           "addresses", "sessions", "products", "reviews"};
    const char* verbs[] = {"GET", "POST", "PUT", "DELETE"};
    for (const char* n : names) {
      ServiceDef d;
      d.name = n;
      for (int i = 0; i < 12; ++i) {
        d.routes.push_back(fmt::format("{} /api/v{}/{}/{{id}}", verbs[i % 4], 1 + i % 2,
                                       nouns[(i * 7 + d.name.size()) % 10]));
      }
      for (int i = 0; i < 3; ++i) d.hosts.push_back(fmt::format("{}-{:x}", n, 0x5f3a1 * (i + 7)));
      s.push_back(d);
    }
    return s;
  }();
  return kServices;
}

const char* kUserAgents[] = {
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "okhttp/4.12.0", "python-requests/2.31.0", "Go-http-client/1.1", "curl/8.4.0"};

class Generator {
 public:
  explicit Generator(uint64_t seed, uint64_t base_ns, uint64_t spacing_ns)
      : rng_(seed), base_ns_(base_ns), spacing_ns_(spacing_ns) {}

  // One batch of `traces` traces (10 spans each), the way a collector's batch processor hands
  // them over: several resources, spans grouped under them.
  core::SpanBatch batch(int traces, std::vector<core::TraceId>* ids) {
    core::SpanBatch b;
    resources_.assign(services().size() * 3, nullptr);
    for (int t = 0; t < traces; ++t) trace(b, ids);
    return b;
  }

 private:
  uint64_t uniform(uint64_t n) { return std::uniform_int_distribution<uint64_t>(0, n - 1)(rng_); }
  bool chance(double p) { return std::bernoulli_distribution(p)(rng_); }
  uint64_t duration_ns(double median_ms) {
    std::lognormal_distribution<double> d(std::log(median_ms), 0.8);
    return static_cast<uint64_t>(d(rng_) * 1e6) + 1000;
  }
  int64_t status_code(bool error) {
    if (error) return chance(0.7) ? 500 : 503;
    double r = std::uniform_real_distribution<double>(0, 1)(rng_);
    return r < 0.88 ? 200 : r < 0.94 ? 201 : r < 0.97 ? 204 : r < 0.99 ? 404 : 400;
  }
  std::string uuid() {
    return fmt::format("{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}", uniform(1ULL << 32),
                       uniform(1 << 16), uniform(1 << 12), 0x8000 | uniform(1 << 14),
                       uniform(1ULL << 48));
  }
  std::string ip() {
    return fmt::format("10.{}.{}.{}", uniform(4), uniform(256), 1 + uniform(254));
  }

  const core::Resource* resource(core::SpanBatch& b, size_t service) {
    size_t instance = uniform(3);
    const core::Resource*& slot = resources_[service * 3 + instance];
    if (slot != nullptr) return slot;
    core::Arena& a = b.arena();
    core::Resource* r = b.new_resource();
    const ServiceDef& d = services()[service];
    auto put = [&](std::string_view k, AnyValue v) { core::upsert_attribute(a, r->attributes, k, v); };
    auto s = [&](std::string_view v) { return AnyValue::string(a.copy(v)); };
    put("service.name", s(d.name));
    put("service.version", s(fmt::format("1.{}.{}", service % 4, 3 + instance)));
    put("service.instance.id", s(fmt::format("{:032x}", (service + 1) * 0x9e3779b97f4a7c15ULL * (instance + 3))));
    put("host.name", s(d.hosts[instance]));
    put("process.pid", AnyValue::integer(static_cast<int64_t>(1000 + service * 37 + instance)));
    put("process.runtime.name", s(service % 2 ? "OpenJDK Runtime Environment" : "nodejs"));
    put("telemetry.sdk.name", s("opentelemetry"));
    put("telemetry.sdk.language", s(service % 2 ? "java" : "nodejs"));
    put("telemetry.sdk.version", s("1.21.0"));
    put("k8s.namespace.name", s("shop"));
    put("k8s.pod.name", s(fmt::format("{}-7d9f8c{}-x{}z", d.name, instance, service)));
    put("deployment.environment", s("production"));
    slot = r;
    return r;
  }

  core::Span& add(core::SpanBatch& b, const core::TraceId& trace, const core::SpanId* parent,
                  size_t service, std::string_view name, SpanKind kind, uint64_t start,
                  uint64_t duration) {
    core::Span s;
    s.trace_id = trace;
    s.span_id = core::SpanId::random();
    if (parent) s.parent_span_id = *parent;
    s.name = b.arena().copy(name);
    s.kind = kind;
    s.start_time_unix_nano = start;
    s.end_time_unix_nano = start + duration;
    s.flags = 0x301;
    s.resource = resource(b, service);
    b.spans().push_back(s);
    return b.spans().back();
  }

  void http_attrs(core::SpanBatch& b, core::Span& s, const std::string& route, bool server,
                  bool error, size_t peer) {
    core::Arena& a = b.arena();
    auto put = [&](std::string_view k, AnyValue v) { s.attributes.push_back(a, {a.copy(k), v}); };
    auto str = [&](std::string_view v) { return AnyValue::string(a.copy(v)); };
    std::string method = route.substr(0, route.find(' '));
    std::string path = route.substr(route.find(' ') + 1);
    std::string concrete = path.substr(0, path.find('{')) + std::to_string(uniform(100000));
    put("http.request.method", str(method));
    put("http.response.status_code", AnyValue::integer(status_code(error)));
    put("server.port", AnyValue::integer(8080));
    if (server) {
      put("http.route", str(path));
      put("url.path", str(concrete));
      put("url.scheme", str("http"));
      put("server.address", str(services()[peer].name));
      put("client.address", str(ip()));
      put("user_agent.original", str(kUserAgents[uniform(std::size(kUserAgents))]));
      put("http.request.header.x-request-id", str(uuid()));
    } else {
      put("url.full", str(fmt::format("http://{}:8080{}", services()[peer].name, concrete)));
      put("server.address", str(services()[peer].name));
      put("network.peer.address", str(ip()));
      put("network.protocol.version", str("1.1"));
      put("thread.id", AnyValue::integer(static_cast<int64_t>(20 + uniform(40))));
      put("thread.name", str(fmt::format("http-nio-8080-exec-{}", 1 + uniform(10))));
      put("http.resend_count", AnyValue::integer(0));
    }
  }

  void db_attrs(core::SpanBatch& b, core::Span& s) {
    core::Arena& a = b.arena();
    auto put = [&](std::string_view k, AnyValue v) { s.attributes.push_back(a, {a.copy(k), v}); };
    auto str = [&](std::string_view v) { return AnyValue::string(a.copy(v)); };
    static const char* kTables[] = {"orders", "order_items", "customers", "products", "stock"};
    const char* table = kTables[uniform(5)];
    bool redis = chance(0.3);
    put("db.system", str(redis ? "redis" : "postgresql"));
    put("db.name", str(redis ? "0" : "shop"));
    put("db.operation", str(redis ? "GET" : "SELECT"));
    put("db.statement",
        str(redis ? fmt::format("GET session:{}", uniform(1000000))
                  : fmt::format("SELECT * FROM {} WHERE id = $1 LIMIT {}", table, 1 + uniform(50))));
    put("db.sql.table", str(table));
    put("server.address", str(redis ? "redis-master" : "postgres-primary"));
    put("server.port", AnyValue::integer(redis ? 6379 : 5432));
    put("network.peer.address", str(ip()));
    put("db.user", str("app"));
    put("thread.id", AnyValue::integer(static_cast<int64_t>(20 + uniform(40))));
  }

  void trace(core::SpanBatch& b, std::vector<core::TraceId>* ids) {
    core::TraceId id = core::TraceId::random();
    ids->push_back(id);
    uint64_t start = base_ns_ + spacing_ns_ * ids->size();
    size_t n_services = 3 + uniform(3);
    std::vector<size_t> svcs{0};
    while (svcs.size() < n_services) {
      size_t s = 1 + uniform(services().size() - 1);
      if (std::find(svcs.begin(), svcs.end(), s) == svcs.end()) svcs.push_back(s);
    }
    bool error = chance(0.02);
    const std::string& route = services()[0].routes[uniform(12)];
    uint64_t total = duration_ns(80);
    core::Span& root = add(b, id, nullptr, 0, route, SpanKind::kServer, start, total);
    http_attrs(b, root, route, true, error, 0);
    if (error) {
      root.status.code = core::StatusCode::kError;
      root.status.message = b.arena().copy("upstream request failed");
    }
    core::SpanId root_id = root.span_id;
    int spans = 1;
    uint64_t offset = start + total / 20;
    for (size_t i = 1; i < svcs.size(); ++i) {
      const std::string& r = services()[svcs[i]].routes[uniform(12)];
      uint64_t d = total / (svcs.size() + 1);
      core::Span& client = add(b, id, &root_id, 0, r.substr(0, r.find(' ')) + " " +
                               services()[svcs[i]].name, SpanKind::kClient, offset, d);
      bool child_error = error && i == 1;
      http_attrs(b, client, r, false, child_error, svcs[i]);
      core::SpanId client_id = client.span_id;
      core::Span& server = add(b, id, &client_id, svcs[i], r, SpanKind::kServer, offset + d / 50,
                               d - d / 25);
      http_attrs(b, server, r, true, child_error, svcs[i]);
      if (child_error) {
        server.status.code = core::StatusCode::kError;
        core::Event e;
        e.time_unix_nano = offset + d / 2;
        e.name = b.arena().copy("exception");
        e.attributes.push_back(b.arena(), {b.arena().copy("exception.type"),
                                           AnyValue::string(b.arena().copy("java.net.SocketTimeoutException"))});
        e.attributes.push_back(b.arena(), {b.arena().copy("exception.message"),
                                           AnyValue::string(b.arena().copy("Read timed out"))});
        server.events.push_back(b.arena(), e);
      }
      spans += 2;
      offset += d;
    }
    while (spans < 10) {
      size_t who = svcs[uniform(svcs.size())];
      core::Span& db = add(b, id, &root_id, who, "SELECT shop", SpanKind::kClient,
                           start + uniform(std::max<uint64_t>(total / 2, 1)), duration_ns(3));
      db_attrs(b, db);
      ++spans;
    }
  }

  std::mt19937_64 rng_;
  uint64_t base_ns_;
  uint64_t spacing_ns_;
  std::vector<const core::Resource*> resources_;
};

// --- Raw RocksDB baseline ---------------------------------------------------------------------

struct RawDb {
  std::unique_ptr<rocksdb::DB> db;
  explicit RawDb(const std::string& dir) {
    rocksdb::Options o;
    o.create_if_missing = true;
    o.compression = rocksdb::kZSTD;
    o.bottommost_compression = rocksdb::kZSTD;
    o.level_compaction_dynamic_level_bytes = true;
    o.write_buffer_size = 32 << 20;
    o.max_background_jobs = 2;
    o.prefix_extractor.reset(rocksdb::NewFixedPrefixTransform(16));
    rocksdb::BlockBasedTableOptions t;
    t.block_size = 16 << 10;
    t.format_version = 5;
    t.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
    t.whole_key_filtering = false;
    o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));
    rocksdb::DB* raw = nullptr;
    rocksdb::Status s = rocksdb::DB::Open(o, dir, &raw);
    if (!s.ok()) throw std::runtime_error(s.ToString());
    db.reset(raw);
  }
};

// Each span as the store encodes it (the same wire encoder): key trace_id+span_id, value the
// Span protobuf without ids and times, behind the start time and duration.
std::vector<std::pair<std::string, std::string>> encode(const core::SpanBatch& batch) {
  std::vector<std::pair<std::string, std::string>> out;
  out.reserve(batch.size());
  std::vector<uint32_t> sizes;
  for (const core::Span& sp : batch.spans()) {
    std::string key(sp.trace_id.as_view());
    key.append(sp.span_id.as_view());
    std::string value(reinterpret_cast<const char*>(&sp.start_time_unix_nano), 8);
    const uint64_t duration = sp.end_time_unix_nano - sp.start_time_unix_nano;
    value.append(reinterpret_cast<const char*>(&duration), 8);
    hodos::otlp::append_span_without_ids_and_times(sp, value, sizes);
    out.emplace_back(std::move(key), std::move(value));
  }
  return out;
}

uint64_t live_sst_bytes(rocksdb::DB& db) {
  uint64_t v = 0;
  db.GetIntProperty(rocksdb::DB::Properties::kLiveSstFilesSize, &v);
  return v;
}

// What the postings column family holds, by entry type (with --analyze).
void analyze_index(const std::string& dir, size_t spans) {
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs = {{rocksdb::kDefaultColumnFamilyName, {}},
                                                      {"postings", {}}};
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  if (!rocksdb::DB::OpenForReadOnly({}, dir, cfs, &handles, &raw).ok()) return;
  std::unique_ptr<rocksdb::DB> db(raw);
  struct Stat {
    size_t entries = 0, key_bytes = 0, value_bytes = 0;
  };
  std::map<char, Stat> by_type;
  {
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator({}, handles[1]));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      Stat& st = by_type[it->key()[0]];
      ++st.entries;
      st.key_bytes += it->key().size();
      st.value_bytes += it->value().size();
    }
  }
  for (const auto& [type, st] : by_type) {
    std::printf("  postings '%c': %.2f entries/span, key %.1f B, value %.1f B (uncompressed)\n",
                type, static_cast<double>(st.entries) / spans,
                static_cast<double>(st.key_bytes) / st.entries,
                static_cast<double>(st.value_bytes) / st.entries);
  }
  for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
}

struct Percentiles {
  double p50, p99;
};
Percentiles percentiles(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  auto at = [&](double q) { return v[std::min(v.size() - 1, static_cast<size_t>(q * v.size()))]; };
  return {at(0.50), at(0.99)};
}

}  // namespace

int main(int argc, char** argv) {
  size_t total_spans = 1'000'000;
  size_t queries = 1000;
  std::string dir;
  bool keep = false, analyze = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--spans" && i + 1 < argc) total_spans = std::stoull(argv[++i]);
    else if (a == "--queries" && i + 1 < argc) queries = std::stoull(argv[++i]);
    else if (a == "--dir" && i + 1 < argc) dir = argv[++i];
    else if (a == "--keep") keep = true;
    else if (a == "--analyze") analyze = true;
    else {
      std::fprintf(stderr, "usage: bench_store [--spans N] [--queries N] [--dir DIR] [--keep] [--analyze]\n");
      return 2;
    }
  }
  if (dir.empty()) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "hodos-bench-XXXXXX").string();
    dir = ::mkdtemp(tmpl.data());
  }
  const int kTracesPerBatch = 100;  // 1,000 spans per batch
  const size_t batches = std::max<size_t>(1, total_spans / (10 * kTracesPerBatch));
  const uint64_t now = core::now_unix_nano();
  const uint64_t spacing = 3'600'000'000'000ULL / (batches * kTracesPerBatch);  // one hour
  const uint64_t base = now - 3'600'000'000'000ULL - 60'000'000'000ULL;

  std::printf("store benchmark: %zu spans (%zu batches of %d traces x 10 spans), data in %s\n",
              batches * kTracesPerBatch * 10, batches, kTracesPerBatch, dir.c_str());

  // --- Store ingest.
  std::vector<core::TraceId> ids;
  size_t spans = 0;
  double ingest_s = 0, ingest_cpu_s = 0, store_cpu_s = 0, store_disk_per_span = 0;
  {
    store::StoreOptions o;
    o.data_dir = dir + "/store";
    o.retention_interval = std::chrono::milliseconds(0);
    auto st = store::TraceStore::open(o);
    Generator gen(42, base, spacing);
    double cpu0 = cpu_seconds();
    double gen_cpu = 0;
    for (size_t i = 0; i < batches; ++i) {
      double g0 = cpu_seconds();
      core::SpanBatch b = gen.batch(kTracesPerBatch, &ids);
      gen_cpu += cpu_seconds() - g0;
      auto t = Clock::now();
      double c0 = thread_cpu_seconds();
      spans += st->ingest(b);
      ingest_cpu_s += thread_cpu_seconds() - c0;
      ingest_s += seconds_since(t);
    }
    auto t = Clock::now();
    st->compact();  // settle: what the data costs once compacted
    double compact_s = seconds_since(t);
    store_cpu_s = cpu_seconds() - cpu0 - gen_cpu;
    store::StoreStats stats = st->stats();
    store_disk_per_span = static_cast<double>(stats.disk_bytes) / static_cast<double>(spans);
    std::printf("store ingest: %zu spans; ingest thread: %.0f spans per CPU-second (%.0f spans/s "
                "wall); whole process incl. background flush/compaction: %.0f spans per "
                "CPU-second (final compaction %.1f s)\n",
                spans, spans / ingest_cpu_s, spans / ingest_s, spans / store_cpu_s, compact_s);
    std::printf("store disk: %.1f MB live SST = %.1f bytes/span (spans %.1f, indexes %.1f, "
                "the rest %.1f)\n",
                stats.disk_bytes / 1e6, store_disk_per_span,
                static_cast<double>(stats.span_disk_bytes) / spans,
                static_cast<double>(stats.index_disk_bytes) / spans,
                static_cast<double>(stats.disk_bytes - stats.span_disk_bytes -
                                    stats.index_disk_bytes) / spans);

    // --- Queries.
    std::mt19937_64 rng(7);
    std::vector<double> by_id, search;
    size_t found_spans = 0;
    for (size_t i = 0; i < queries; ++i) {
      const core::TraceId& id = ids[rng() % ids.size()];
      auto t0 = Clock::now();
      core::SpanBatch tr = st->find_trace(id);
      by_id.push_back(seconds_since(t0) * 1e3);
      found_spans += tr.size();
    }
    size_t hits = 0;
    const char* codes[] = {"200", "200", "200", "201", "404", "500"};
    for (size_t i = 0; i < queries; ++i) {
      const ServiceDef& s = services()[rng() % services().size()];
      store::TraceQuery q;
      q.service = s.name;
      q.operation = s.routes[rng() % s.routes.size()];
      q.tags = {{"http.response.status_code", codes[rng() % std::size(codes)]}};
      auto t0 = Clock::now();
      hits += st->search(q).size();
      search.push_back(seconds_since(t0) * 1e3);
    }
    Percentiles pi = percentiles(by_id), ps = percentiles(search);
    std::printf("trace by id: p50 %.3f ms, p99 %.3f ms (%zu queries, %.1f spans/trace)\n", pi.p50,
                pi.p99, queries, static_cast<double>(found_spans) / queries);
    std::printf("search (service + operation + tag, limit 20): p50 %.3f ms, p99 %.3f ms "
                "(%zu queries, %.1f traces/query)\n",
                ps.p50, ps.p99, queries, static_cast<double>(hits) / queries);
  }

  if (analyze) analyze_index(dir + "/store", spans);

  // --- Raw RocksDB: the same encoded span bytes, one WriteBatch per batch.
  {
    RawDb raw(dir + "/raw");
    Generator gen(42, base, spacing);
    std::vector<core::TraceId> raw_ids;
    double write_s = 0, encode_s = 0, write_cpu_s = 0, encode_cpu_s = 0;
    size_t n = 0;
    for (size_t i = 0; i < batches; ++i) {
      core::SpanBatch b = gen.batch(kTracesPerBatch, &raw_ids);
      auto t = Clock::now();
      double c0 = thread_cpu_seconds();
      auto kvs = encode(b);
      encode_s += seconds_since(t);
      double c1 = thread_cpu_seconds();
      encode_cpu_s += c1 - c0;
      t = Clock::now();
      rocksdb::WriteBatch wb;
      for (const auto& [k, v] : kvs) wb.Put(k, v);
      rocksdb::Status s = raw.db->Write(rocksdb::WriteOptions(), &wb);
      if (!s.ok()) throw std::runtime_error(s.ToString());
      write_s += seconds_since(t);
      write_cpu_s += thread_cpu_seconds() - c1;
      n += kvs.size();
    }
    rocksdb::CompactRangeOptions co;
    co.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForceOptimized;
    raw.db->CompactRange(co, nullptr, nullptr);
    double raw_disk = static_cast<double>(live_sst_bytes(*raw.db)) / n;
    std::printf("raw RocksDB (same encoded span bytes, no indexes): write thread: %.0f spans per "
                "CPU-second (%.0f spans/s wall); encode+write: %.0f spans per CPU-second (%.0f "
                "spans/s wall); %.1f bytes/span on disk\n",
                n / write_cpu_s, n / write_s, n / (write_cpu_s + encode_cpu_s),
                n / (write_s + encode_s), raw_disk);
    std::printf("store vs raw encode+write (CPU): %.0f%%; store bytes/span vs raw: %.2fx\n",
                100.0 * (spans / ingest_cpu_s) / (n / (write_cpu_s + encode_cpu_s)),
                store_disk_per_span / raw_disk);
  }
  if (!keep) std::filesystem::remove_all(dir);
  return 0;
}
