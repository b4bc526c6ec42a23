// Pipeline benchmark: realistic OTLP export requests (10 attributes per span, 100-1000 spans per
// request, random ids) go through a real `hodos collector` child process — otlp receiver ->
// memory_limiter -> attributes (upsert, delete, hash) -> batch -> otlp/otlphttp exporter — into a
// sink in this process, over gRPC and over HTTP. It reports spans per CPU-second of the collector
// process (utime+stime from /proc/<pid>/stat, all threads) and its peak RSS (VmHWM), and, in the
// same run, the same generator sending straight to the sink: the baseline.
//
// Every figure covers only spans that the sink has received: each measured window starts after
// the warm-up has drained and ends when the sink has counted every span the collector accepted.
//
// Issue 11, in the same run: (1) over gRPC, the same input through the plain pipeline plus
// filter, redaction, span_template and a 50% probabilistic_sampler, with its ratio to the plain
// figure (spans the filter and the sampler drop count as delivered once the collector's own
// counters account for them); (2) tail_sampling alone, fed at a fixed rate (100k spans/s) with
// each trace's spans arriving over time, reporting its held traces and bytes, the collector's
// RSS and its decisions per second.
//
// Issue 9, last: agents and gateways (one of each, then two of each) as separate collectors,
// paced and saturated, with each gateway's share, CPU and spans per CPU-second (run_gateways).
//
//   bench_pipeline [--seconds S] [--warmup S] [--clients N] [--requests N] [--protocols grpc,http]
//                  [--limit-mib N] [--batch-size N] [--exporter-compression none|gzip]
//                  [--no-full-actions] [--tail-seconds S (15; 0 skips)] [--tail-rate SPANS_PER_S]
//                  [--gateway-seconds S (5; 0 skips)] [--gateway-rate SPANS_PER_S (50000)]
//                  [--hodos PATH] [--keep]
#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/wire_format_lite.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/support/proto_buffer_reader.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <climits>
#include <cmath>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "net/compression.h"
#include "net/http_client.h"
#include "net/http_server.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.grpc.pb.h"
#include "otlp/otlp_codec.h"

extern char** environ;

namespace {

namespace fs = std::filesystem;
namespace net = hodos::net;
namespace pb_collector = opentelemetry::proto::collector::trace::v1;
namespace pb_trace = opentelemetry::proto::trace::v1;
namespace pb_common = opentelemetry::proto::common::v1;
using Clock = std::chrono::steady_clock;
using Attributes = google::protobuf::RepeatedPtrField<pb_common::KeyValue>;

constexpr char kExportMethod[] = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

double self_cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string one, five, fifteen;
  in >> one >> five >> fifteen;
  return one + " " + five + " " + fifteen;
}

// --- Realistic requests -----------------------------------------------------------------------

struct ServiceDef {
  std::string name;
  std::vector<std::string> routes;  // "GET /api/v1/orders/{id}"
};

const std::vector<ServiceDef>& services() {
  static const std::vector<ServiceDef> kServices = [] {
    std::vector<ServiceDef> out;
    const char* names[] = {"frontend", "checkout", "payments",        "inventory",
                           "users",    "shipping", "recommendations", "cart"};
    const char* nouns[] = {"orders", "items",     "users",    "carts",    "payments",
                           "stock",  "addresses", "sessions", "products", "reviews"};
    const char* verbs[] = {"GET", "GET", "POST", "PUT", "GET", "DELETE"};
    for (const char* n : names) {
      ServiceDef d{n, {}};
      for (size_t i = 0; i < 12; ++i) {
        d.routes.push_back(fmt::format("{} /api/v{}/{}/{{id}}", verbs[i % 6], 1 + i % 2,
                                       nouns[(i * 7 + d.name.size()) % 10]));
      }
      out.push_back(std::move(d));
    }
    return out;
  }();
  return kServices;
}

const char* const kUserAgents[] = {
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "okhttp/4.12.0",
    "python-requests/2.31.0",
    "Go-http-client/1.1"};

const char kStacktrace[] =
    "java.net.SocketTimeoutException: Read timed out\n"
    "\tat java.base/sun.nio.ch.NioSocketImpl.timedRead(NioSocketImpl.java:288)\n"
    "\tat java.base/sun.nio.ch.NioSocketImpl.implRead(NioSocketImpl.java:314)\n"
    "\tat "
    "okhttp3.internal.http1.Http1ExchangeCodec.readResponseHeaders(Http1ExchangeCodec.kt:180)\n"
    "\tat com.shop.checkout.PaymentsClient.charge(PaymentsClient.java:57)\n";

void put_str(Attributes* attrs, std::string_view key, std::string_view value) {
  pb_common::KeyValue* kv = attrs->Add();
  kv->set_key(key.data(), key.size());
  kv->mutable_value()->set_string_value(value.data(), value.size());
}
void put_int(Attributes* attrs, std::string_view key, int64_t value) {
  pb_common::KeyValue* kv = attrs->Add();
  kv->set_key(key.data(), key.size());
  kv->mutable_value()->set_int_value(value);
}

// Builds encoded ExportTraceServiceRequests the way an SDK's batch span processor sends them: one
// ResourceSpans per service instance, one instrumentation scope each, spans grouped in traces
// (an HTTP server root, then HTTP client and database children), 10 attributes per span.
class RequestGenerator {
 public:
  explicit RequestGenerator(uint64_t seed) : rng_(seed) {}

  // The pieces of request(), for the paced tail-sampling run, which sends each trace's spans
  // over time instead of all at once.
  void add_trace(pb_trace::ScopeSpans* ss, size_t service, size_t len) { trace(ss, service, len); }
  void add_resource(size_t service, size_t instance, Attributes* a) {
    resource(service, instance, a);
  }

  std::string request(size_t spans) {
    pb_collector::ExportTraceServiceRequest req;
    const size_t n_services = 1 + uniform(3);
    std::vector<pb_trace::ScopeSpans*> scopes;
    std::vector<size_t> service_of;
    for (size_t i = 0; i < n_services; ++i) {
      size_t service = uniform(services().size());
      pb_trace::ResourceSpans* rs = req.add_resource_spans();
      resource(service, uniform(3), rs->mutable_resource()->mutable_attributes());
      rs->set_schema_url("https://opentelemetry.io/schemas/1.24.0");
      pb_trace::ScopeSpans* ss = rs->add_scope_spans();
      ss->mutable_scope()->set_name("io.opentelemetry.tomcat-10.0");
      ss->mutable_scope()->set_version("1.32.0-alpha");
      scopes.push_back(ss);
      service_of.push_back(service);
    }
    size_t made = 0;
    while (made < spans) {
      size_t which = uniform(n_services);
      size_t len = std::min(spans - made, 4 + uniform(9));
      trace(scopes[which], service_of[which], len);
      made += len;
    }
    return req.SerializeAsString();
  }

 private:
  uint64_t uniform(uint64_t n) { return std::uniform_int_distribution<uint64_t>(0, n - 1)(rng_); }
  bool chance(double p) { return std::bernoulli_distribution(p)(rng_); }
  uint64_t duration_ns(double median_ms) {
    std::lognormal_distribution<double> d(std::log(median_ms), 0.8);
    return static_cast<uint64_t>(d(rng_) * 1e6) + 1000;
  }
  std::string random_bytes(size_t n) {
    std::string out(n, '\0');
    for (char& c : out) c = static_cast<char>(rng_());
    return out;
  }
  std::string ip() {
    return fmt::format("10.{}.{}.{}", uniform(4), uniform(256), 1 + uniform(254));
  }
  int64_t status_code(bool error) {
    if (error) return chance(0.7) ? 500 : 503;
    double r = std::uniform_real_distribution<double>(0, 1)(rng_);
    return r < 0.88 ? 200 : r < 0.94 ? 201 : r < 0.97 ? 204 : r < 0.99 ? 404 : 400;
  }
  std::string thread_name() { return fmt::format("http-nio-8080-exec-{}", 1 + uniform(10)); }

  void resource(size_t service, size_t instance, Attributes* a) {
    const std::string& name = services()[service].name;
    put_str(a, "service.name", name);
    put_str(a, "service.version", fmt::format("1.{}.{}", service % 4, 3 + instance));
    put_str(a, "service.instance.id",
            fmt::format("{:016x}{:016x}", 0x9e3779b97f4a7c15ULL * (service + 1),
                        0xbf58476d1ce4e5b9ULL * (instance + 3)));
    put_str(a, "host.name", fmt::format("{}-{:x}", name, 0x5f3a1 * (instance + 7)));
    put_int(a, "process.pid", static_cast<int64_t>(1000 + service * 37 + instance));
    put_str(a, "process.runtime.name", "OpenJDK Runtime Environment");
    put_str(a, "telemetry.sdk.name", "opentelemetry");
    put_str(a, "telemetry.sdk.language", "java");
    put_str(a, "telemetry.sdk.version", "1.32.0");
    put_str(a, "k8s.namespace.name", "shop");
    put_str(a, "k8s.pod.name", fmt::format("{}-7d9f8c{}-x{}z", name, instance, service));
  }

  pb_trace::Span* span(pb_trace::ScopeSpans* ss, const std::string& trace_id,
                       const std::string* parent, std::string_view name,
                       pb_trace::Span::SpanKind kind, uint64_t start, uint64_t duration) {
    pb_trace::Span* s = ss->add_spans();
    s->set_trace_id(trace_id);
    s->set_span_id(random_bytes(8));
    if (parent) s->set_parent_span_id(*parent);
    s->set_flags(0x301);
    s->set_name(name.data(), name.size());
    s->set_kind(kind);
    s->set_start_time_unix_nano(start);
    s->set_end_time_unix_nano(start + duration);
    return s;
  }

  void trace(pb_trace::ScopeSpans* ss, size_t service, size_t len) {
    const std::string trace_id = random_bytes(16);
    const bool error = chance(0.03);
    const uint64_t total = duration_ns(60);
    const uint64_t start =
        static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count()) -
        uniform(5'000'000'000);
    const std::string& route = services()[service].routes[uniform(12)];
    const std::string method = route.substr(0, route.find(' '));
    const std::string path = route.substr(route.find(' ') + 1);

    pb_trace::Span* root =
        span(ss, trace_id, nullptr, route, pb_trace::Span::SPAN_KIND_SERVER, start, total);
    Attributes* a = root->mutable_attributes();
    put_str(a, "http.request.method", method);
    put_str(a, "url.path", path.substr(0, path.find('{')) + std::to_string(uniform(100000)));
    put_str(a, "url.scheme", "http");
    put_str(a, "http.route", path);
    put_int(a, "http.response.status_code", status_code(error));
    put_str(a, "server.address", services()[service].name);
    put_int(a, "server.port", 8080);
    put_str(a, "network.peer.address", ip());
    put_str(a, "user_agent.original", kUserAgents[uniform(std::size(kUserAgents))]);
    put_str(a, "thread.name", thread_name());
    if (error) {
      root->mutable_status()->set_code(pb_trace::Status::STATUS_CODE_ERROR);
      root->mutable_status()->set_message("upstream request failed");
      pb_trace::Span::Event* e = root->add_events();
      e->set_time_unix_nano(start + total / 2);
      e->set_name("exception");
      put_str(e->mutable_attributes(), "exception.type", "java.net.SocketTimeoutException");
      put_str(e->mutable_attributes(), "exception.message", "Read timed out");
      put_str(e->mutable_attributes(), "exception.stacktrace", kStacktrace);
    }
    const std::string root_id = root->span_id();
    for (size_t i = 1; i < len; ++i) {
      const uint64_t child_start = start + uniform(std::max<uint64_t>(total / 2, 1));
      if (chance(0.5)) {
        const ServiceDef& peer = services()[uniform(services().size())];
        const std::string& r = peer.routes[uniform(12)];
        const std::string m = r.substr(0, r.find(' '));
        const std::string p = r.substr(r.find(' ') + 1);
        pb_trace::Span* c = span(ss, trace_id, &root_id, m, pb_trace::Span::SPAN_KIND_CLIENT,
                                 child_start, duration_ns(15));
        Attributes* ca = c->mutable_attributes();
        put_str(ca, "http.request.method", m);
        put_str(ca, "url.full",
                fmt::format("http://{}:8080{}{}", peer.name, p.substr(0, p.find('{')),
                            uniform(100000)));
        put_str(ca, "server.address", peer.name);
        put_int(ca, "server.port", 8080);
        put_int(ca, "http.response.status_code", status_code(false));
        put_str(ca, "network.peer.address", ip());
        put_str(ca, "network.protocol.version", "1.1");
        put_int(ca, "thread.id", static_cast<int64_t>(20 + uniform(40)));
        put_str(ca, "thread.name", thread_name());
        put_int(ca, "http.resend_count", 0);
      } else {
        static const char* kTables[] = {"orders", "order_items", "customers", "products", "stock"};
        const char* table = kTables[uniform(std::size(kTables))];
        pb_trace::Span* d = span(ss, trace_id, &root_id, fmt::format("SELECT shop.{}", table),
                                 pb_trace::Span::SPAN_KIND_CLIENT, child_start, duration_ns(2));
        Attributes* da = d->mutable_attributes();
        put_str(da, "db.system", "postgresql");
        put_str(da, "db.namespace", "shop");
        put_str(da, "db.operation.name", "SELECT");
        put_str(da, "db.query.text",
                fmt::format("SELECT * FROM {} WHERE id = $1 LIMIT {}", table, 1 + uniform(50)));
        put_str(da, "db.collection.name", table);
        put_str(da, "server.address", "postgres-primary");
        put_int(da, "server.port", 5432);
        put_str(da, "network.peer.address", ip());
        put_int(da, "thread.id", static_cast<int64_t>(20 + uniform(40)));
        put_str(da, "thread.name", thread_name());
      }
    }
  }

  std::mt19937_64 rng_;
};

struct Payload {
  std::string bytes;
  size_t spans = 0;
};

// --- The collector's attribute edits, as configured below and as the sink checks them ---------

constexpr std::string_view kUpsertKey = "deployment.environment.name";
constexpr std::string_view kUpsertValue = "production";
constexpr std::string_view kDeleteKey = "thread.name";
constexpr std::string_view kHashKey = "network.peer.address";

std::optional<std::string> check_edits(const pb_collector::ExportTraceServiceRequest& req) {
  for (const auto& rs : req.resource_spans()) {
    for (const auto& ss : rs.scope_spans()) {
      for (const auto& s : ss.spans()) {
        bool upserted = false, hashed = false;
        for (const auto& kv : s.attributes()) {
          if (kv.key() == kDeleteKey)
            return fmt::format("span '{}' still has {}", s.name(), kDeleteKey);
          if (kv.key() == kUpsertKey) upserted = kv.value().string_value() == kUpsertValue;
          if (kv.key() == kHashKey) {
            const std::string& v = kv.value().string_value();
            hashed = v.size() == 64 && v.find_first_not_of("0123456789abcdef") == std::string::npos;
          }
        }
        if (!upserted)
          return fmt::format("span '{}' lacks {}={}", s.name(), kUpsertKey, kUpsertValue);
        if (!hashed) return fmt::format("span '{}' has no SHA-256 hex in {}", s.name(), kHashKey);
      }
    }
  }
  return std::nullopt;
}

// --- Sink ----------------------------------------------------------------------------------------

using google::protobuf::internal::WireFormatLite;
using google::protobuf::io::CodedInputStream;

// Calls inner() inside each length-delimited field number `field` up to the current limit and
// skips every other field; false when the bytes are malformed.
template <class Fn>
bool for_each_field(CodedInputStream& in, int field, Fn&& inner) {
  while (true) {
    const uint32_t tag = in.ReadTag();
    if (tag == 0) return in.ConsumedEntireMessage();
    if (WireFormatLite::GetTagFieldNumber(tag) == field &&
        WireFormatLite::GetTagWireType(tag) == WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
      uint32_t len = 0;
      if (!in.ReadVarint32(&len)) return false;
      const auto limit = in.PushLimit(static_cast<int>(len));
      if (!inner()) return false;
      in.PopLimit(limit);
    } else if (!WireFormatLite::SkipField(&in, tag)) {
      return false;
    }
  }
}

// Spans in an ExportTraceServiceRequest (resource_spans = 1 > scope_spans = 2 > spans = 2),
// counted with protobuf's wire reader and no message objects, so that the sink takes as little
// as possible of the CPU that the collector and the generator share with it.
std::optional<uint64_t> count_spans(google::protobuf::io::ZeroCopyInputStream& input) {
  CodedInputStream in(&input);
  in.SetTotalBytesLimit(INT_MAX);
  uint64_t spans = 0;
  bool ok = for_each_field(in, 1, [&] {
    return for_each_field(in, 2, [&] {
      return for_each_field(in, 2, [&] {
        ++spans;
        return in.Skip(in.BytesUntilLimit());
      });
    });
  });
  if (!ok) return std::nullopt;
  return spans;
}

// Counts what arrives over OTLP/gRPC and OTLP/HTTP; every `verify_every`-th request is decoded in
// full and, while edits are expected, checked for the attributes processor's work.
class Sink {
 public:
  explicit Sink(uint64_t verify_every) : verify_every_(verify_every) {}
  ~Sink() { stop(); }

  std::optional<std::string> start() {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.SetMaxReceiveMessageSize(INT_MAX);
    builder.RegisterService(&grpc_service_);
    grpc_server_ = builder.BuildAndStart();
    if (!grpc_server_ || port == 0) return "sink: gRPC server did not start";
    grpc_port_ = static_cast<uint16_t>(port);

    net::HttpServerOptions options;
    options.address = "127.0.0.1:0";
    options.max_body_bytes = 256u << 20;
    options.threads = 2;
    options.name = "sink";
    http_server_ = std::make_unique<net::HttpServer>(options);
    http_server_->route("POST", "/v1/traces",
                        [this](net::HttpRequest& req) { return on_http(req); });
    return http_server_->start();
  }

  void stop() {
    if (grpc_server_) grpc_server_->Shutdown(std::chrono::system_clock::now());
    grpc_server_.reset();
    if (http_server_) http_server_->stop();
    http_server_.reset();
  }

  uint16_t grpc_port() const { return grpc_port_; }
  uint16_t http_port() const { return http_server_->port(); }
  uint64_t spans() const { return spans_.load(); }
  uint64_t verified() const { return verified_.load(); }
  uint64_t malformed() const { return malformed_.load(); }
  void expect_edits(bool on) { expect_edits_ = on; }
  std::optional<std::string> edit_failure() {
    std::lock_guard lock(mu_);
    return edit_failure_;
  }

  // Waits until the sink has counted at least `total` spans; false after `timeout`.
  bool wait_for(uint64_t total, std::chrono::seconds timeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return spans_.load() >= total; });
  }

 private:
  class GrpcService final : public pb_collector::TraceService::WithRawCallbackMethod_Export<
                                pb_collector::TraceService::Service> {
   public:
    explicit GrpcService(Sink& sink) : sink_(sink) {}
    grpc::ServerUnaryReactor* Export(grpc::CallbackServerContext* context,
                                     const grpc::ByteBuffer* request,
                                     grpc::ByteBuffer* response) override {
      grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
      bool ok = sink_.take([&](auto&& consume) {
        grpc::ByteBuffer copy(*request);  // the reader needs a mutable buffer
        grpc::ProtoBufferReader reader(&copy);
        return consume(reader);
      });
      if (!ok) {
        reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "malformed request"));
        return reactor;
      }
      grpc::Slice empty;  // an ExportTraceServiceResponse without partial_success
      *response = grpc::ByteBuffer(&empty, 1);
      reactor->Finish(grpc::Status::OK);
      return reactor;
    }

   private:
    Sink& sink_;
  };

  net::HttpResponse on_http(net::HttpRequest& req) {
    std::string_view body = req.body;
    std::optional<std::string> inflated;
    if (const std::string* enc = req.header("content-encoding"); enc && *enc == "gzip") {
      inflated = net::gzip_decompress(body, 1u << 30);
      if (!inflated) return net::HttpResponse::text(400, "bad gzip\n");
      body = *inflated;
    }
    bool ok = take([&](auto&& consume) {
      google::protobuf::io::ArrayInputStream stream(body.data(), static_cast<int>(body.size()));
      return consume(stream);
    });
    if (!ok) return net::HttpResponse::text(400, "malformed request\n");
    net::HttpResponse res;
    res.content_type = "application/x-protobuf";
    return res;
  }

  // `with_stream(consume)` calls consume(ZeroCopyInputStream&) over the request's bytes and
  // returns its result; it may be called twice (count, then full decode).
  template <class WithStream>
  bool take(WithStream&& with_stream) {
    std::optional<uint64_t> n;
    with_stream([&](google::protobuf::io::ZeroCopyInputStream& s) {
      n = count_spans(s);
      return n.has_value();
    });
    if (!n) {
      malformed_.fetch_add(1);
      return false;
    }
    if (expect_edits_ && requests_.fetch_add(1) % verify_every_ == 0) {
      pb_collector::ExportTraceServiceRequest req;
      std::optional<std::string> failure;
      with_stream([&](google::protobuf::io::ZeroCopyInputStream& s) {
        failure = req.ParseFromZeroCopyStream(&s) ? check_edits(req)
                                                  : std::optional<std::string>("does not decode");
        return true;
      });
      verified_.fetch_add(1);
      if (failure) {
        std::lock_guard lock(mu_);
        if (!edit_failure_) edit_failure_ = *failure;
      }
    }
    spans_.fetch_add(*n);
    {
      std::lock_guard lock(mu_);  // pairs with wait_for's predicate check
    }
    cv_.notify_all();
    return true;
  }

  const uint64_t verify_every_;
  std::atomic<bool> expect_edits_{false};
  std::atomic<uint64_t> spans_{0}, requests_{0}, verified_{0}, malformed_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<std::string> edit_failure_;
  GrpcService grpc_service_{*this};
  std::unique_ptr<grpc::Server> grpc_server_;
  uint16_t grpc_port_ = 0;
  std::unique_ptr<net::HttpServer> http_server_;
};

// --- Load generation -----------------------------------------------------------------------------

enum class Sent { kOk, kRefused, kFailed };

// One OTLP/gRPC client connection, sending pre-encoded requests as raw bytes (no re-encoding in
// the generator).
class GrpcClient {
 public:
  explicit GrpcClient(uint16_t port) {
    grpc::ChannelArguments args;
    // A connection per client, as separate SDK processes would have.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetMaxReceiveMessageSize(-1);
    channel_ = grpc::CreateCustomChannel(fmt::format("127.0.0.1:{}", port),
                                         grpc::InsecureChannelCredentials(), args);
    stub_ = std::make_unique<grpc::GenericStub>(channel_);
  }
  ~GrpcClient() {
    cq_.Shutdown();
    void* tag = nullptr;
    bool ok = false;
    while (cq_.Next(&tag, &ok)) {
    }
  }

  Sent send(const grpc::ByteBuffer& request, std::string* error) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    grpc::ByteBuffer response;
    grpc::Status status;
    auto call = stub_->PrepareUnaryCall(&context, kExportMethod, request, &cq_);
    call->StartCall();
    call->Finish(&response, &status, this);
    void* tag = nullptr;
    bool ok = false;
    cq_.Next(&tag, &ok);
    if (status.ok()) return Sent::kOk;
    if (status.error_code() == grpc::StatusCode::UNAVAILABLE ||
        status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
      return Sent::kRefused;
    }
    *error =
        fmt::format("gRPC {}: {}", static_cast<int>(status.error_code()), status.error_message());
    return Sent::kFailed;
  }

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<grpc::GenericStub> stub_;
  grpc::CompletionQueue cq_;
};

struct LoadTotals {
  std::atomic<uint64_t> spans{0}, requests{0}, refused{0}, failed{0};
  std::mutex mu;
  std::string first_error;
};

enum class Protocol { kGrpc, kHttp };
std::string_view protocol_name(Protocol p) { return p == Protocol::kGrpc ? "gRPC" : "HTTP"; }

// Sends the payloads round-robin from `clients` threads, one request in flight per thread,
// for `seconds`. A refused request (the memory limiter's 503 / UNAVAILABLE) backs off briefly,
// as an SDK exporter would, and is not counted as delivered.
void drive(Protocol protocol, uint16_t port, const std::vector<Payload>& payloads, size_t clients,
           double seconds, LoadTotals& totals) {
  std::vector<net::HttpClientRequest> http_requests;
  if (protocol == Protocol::kHttp) {
    for (const Payload& p : payloads) {
      net::HttpClientRequest r;
      r.url = fmt::format("http://127.0.0.1:{}/v1/traces", port);
      r.headers = {{"Content-Type", "application/x-protobuf"}};
      r.body = p.bytes;
      r.timeout = std::chrono::seconds(30);
      http_requests.push_back(std::move(r));
    }
  }
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (size_t t = 0; t < clients; ++t) {
    threads.emplace_back([&, t] {
      std::optional<GrpcClient> grpc_client;
      std::vector<grpc::ByteBuffer> buffers;
      std::optional<net::HttpClient> http_client;
      if (protocol == Protocol::kGrpc) {
        grpc_client.emplace(port);
        for (const Payload& p : payloads) {
          grpc::Slice slice(p.bytes.data(), p.bytes.size());
          buffers.emplace_back(&slice, 1);
        }
      } else {
        http_client.emplace();
      }
      std::string error;
      for (size_t i = t; !stop.load(std::memory_order_relaxed); i += clients) {
        const size_t at = i % payloads.size();
        Sent sent;
        if (grpc_client) {
          sent = grpc_client->send(buffers[at], &error);
        } else {
          net::HttpClientResponse res = http_client->send(http_requests[at]);
          if (res.status == 200) {
            sent = Sent::kOk;
          } else if (res.status == 503 || res.status == 429) {
            sent = Sent::kRefused;
          } else {
            sent = Sent::kFailed;
            error = res.status == 0 ? res.error : fmt::format("HTTP {}: {}", res.status, res.body);
          }
        }
        totals.requests.fetch_add(1, std::memory_order_relaxed);
        if (sent == Sent::kOk) {
          totals.spans.fetch_add(payloads[at].spans, std::memory_order_relaxed);
        } else if (sent == Sent::kRefused) {
          totals.refused.fetch_add(1, std::memory_order_relaxed);
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
        } else {
          totals.failed.fetch_add(1, std::memory_order_relaxed);
          std::lock_guard lock(totals.mu);
          if (totals.first_error.empty()) totals.first_error = error;
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& t : threads) t.join();
}

// --- The collector child process ------------------------------------------------------------

uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    throw std::runtime_error(std::string("cannot find a free port: ") + std::strerror(errno));
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

class CollectorProcess {
 public:
  CollectorProcess(const std::string& hodos, const fs::path& config, const fs::path& log)
      : log_(log) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    std::vector<std::string> args = {hodos, "collector", "--config", config.string()};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    int rc = posix_spawn(&pid_, hodos.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
      pid_ = -1;
      throw std::runtime_error(fmt::format("cannot start {}: {}", hodos, std::strerror(rc)));
    }
  }
  ~CollectorProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  CollectorProcess(const CollectorProcess&) = delete;
  CollectorProcess& operator=(const CollectorProcess&) = delete;

  pid_t pid() const { return pid_; }

  // Until the collector logs "collector ready"; false when it exits or the timeout passes.
  bool wait_ready(std::chrono::seconds timeout) {
    auto until = Clock::now() + timeout;
    while (Clock::now() < until) {
      if (read_file(log_).find("collector ready") != std::string::npos) return true;
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  // utime + stime of every thread of the process so far.
  double cpu_seconds() const {
    std::string stat = read_file(fmt::format("/proc/{}/stat", pid_));
    size_t paren = stat.rfind(')');
    if (paren == std::string::npos) return 0;
    std::istringstream fields(stat.substr(paren + 2));
    std::string field;
    double ticks = 0;
    // After "pid (comm) ", utime and stime are the 12th and 13th fields.
    for (int i = 1; i <= 13 && fields >> field; ++i) {
      if (i >= 12) ticks += std::stod(field);
    }
    return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
  }

  // A field of /proc/<pid>/status in KiB (VmHWM: peak resident set, VmRSS: current).
  uint64_t status_kib(std::string_view key) const {
    std::istringstream in(read_file(fmt::format("/proc/{}/status", pid_)));
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind(key, 0) == 0 && line.size() > key.size() && line[key.size()] == ':') {
        return std::stoull(line.substr(key.size() + 1));
      }
    }
    return 0;
  }

  // SIGTERM and wait; the exit status, or -1 when it did not exit normally.
  int stop() {
    if (pid_ <= 0) return -1;
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

 private:
  pid_t pid_ = -1;
  fs::path log_;
};

struct Options {
  double seconds = 10;
  double warmup = 2;
  size_t clients = 4;
  size_t requests = 64;
  std::vector<Protocol> protocols = {Protocol::kGrpc, Protocol::kHttp};
  int64_t limit_mib = 512;
  size_t batch_size = 8192;  // the batch processor's send_batch_size (and max), Collector default
  std::string exporter_compression = "none";
  std::string hodos;
  bool keep = false;
  bool full_actions = true;   // the gRPC full-actions path (issue 11)
  double tail_seconds = 15;   // the paced tail_sampling run; 0 skips it
  double tail_rate = 100000;  // its input, spans/s
  double gateway_seconds = 5;      // each agents -> gateways run; 0 skips them
  double gateway_rate = 50000;     // the paced runs' input into each agent, spans/s
};

// The "full set of actions" added in front of the plain pipeline's attributes processor: two
// filter conditions, value redaction, URL templating, then 50% probabilistic sampling (last, so
// that every other processor sees every span). Kept as the sink's edit check expects: redaction
// removes no key and the attributes processor still runs after it.
std::string full_actions_processors() {
  std::string templates;
  const char* nouns[] = {"orders", "items",     "users",    "carts",    "payments",
                         "stock",  "addresses", "sessions", "products", "reviews"};
  for (int version = 1; version <= 2; ++version) {
    for (const char* noun : nouns) {
      templates += fmt::format("{}'/api/v{}/{}/{{{}_id}}'", templates.empty() ? "" : ", ", version,
                               noun, noun);
    }
  }
  return fmt::format(
      R"(  filter:
    error_mode: ignore
    traces:
      span:
        - 'attributes["http.route"] == "/healthz" or attributes["url.path"] == "/readyz"'
        - 'name == "SELECT shop.stock" and end_time_unix_nano - start_time_unix_nano < 1000000'
  redaction:
    allow_all_keys: true
    builtin_patterns: [email, credit_card]
    blocked_values: ['^10\.0\.\d+\.\d+$']
  span_template:
    rules:
      - url_templates: [{templates}]
        db_query_templates: true
  probabilistic_sampler: {{sampling_percentage: 50}}
)",
      fmt::arg("templates", templates));
}

// The processing the plain path and the gateways do: memory_limiter, attributes (the edits the
// sink checks), batch; YAML lines under `processors:`.
std::string processing_processors(const Options& o) {
  return fmt::format(
      R"(  memory_limiter: {{check_interval: 1s, limit_mib: {limit}, spike_limit_mib: {spike}}}
  attributes:
    actions:
      - {{key: {upsert_key}, value: {upsert_value}, action: upsert}}
      - {{key: {delete_key}, action: delete}}
      - {{key: {hash_key}, action: hash}}
  batch: {{send_batch_size: {batch}, send_batch_max_size: {batch}, timeout: 200ms}}
)",
      fmt::arg("limit", o.limit_mib), fmt::arg("spike", o.limit_mib / 4),
      fmt::arg("upsert_key", kUpsertKey), fmt::arg("upsert_value", kUpsertValue),
      fmt::arg("delete_key", kDeleteKey), fmt::arg("hash_key", kHashKey),
      fmt::arg("batch", o.batch_size));
}

std::string collector_config(const Options& o, Protocol protocol, uint16_t receiver_port,
                             const Sink& sink, uint16_t metrics_port, bool full_actions) {
  const bool grpc = protocol == Protocol::kGrpc;
  return fmt::format(
      R"(receivers:
  otlp:
    protocols:
      {receiver}: {{endpoint: "127.0.0.1:{receiver_port}"}}
processors:
{processing}{full}exporters:
  {exporter}:
    endpoint: http://127.0.0.1:{sink_port}
    compression: {compression}
service:
  telemetry:
    metrics: {{address: "127.0.0.1:{metrics_port}"}}
  pipelines:
    traces:
      receivers: [otlp]
      processors: [memory_limiter, {full_list}attributes, {sampler}batch]
      exporters: [{exporter}]
)",
      fmt::arg("full", full_actions ? full_actions_processors() : ""),
      fmt::arg("full_list", full_actions ? "filter, redaction, span_template, " : ""),
      fmt::arg("sampler", full_actions ? "probabilistic_sampler, " : ""),
      fmt::arg("receiver", grpc ? "grpc" : "http"), fmt::arg("receiver_port", receiver_port),
      fmt::arg("processing", processing_processors(o)),
      fmt::arg("exporter", grpc ? "otlp" : "otlphttp"),
      fmt::arg("sink_port", grpc ? sink.grpc_port() : sink.http_port()),
      fmt::arg("compression", o.exporter_compression), fmt::arg("metrics_port", metrics_port));
}

// Sum of a Prometheus metric's samples in `text` (all label sets).
double metric_sum(const std::string& text, std::string_view name) {
  double sum = 0;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(name, 0) != 0) continue;
    if (line.size() > name.size() && line[name.size()] != '{' && line[name.size()] != ' ') continue;
    size_t space = line.rfind(' ');
    if (space != std::string::npos) sum += std::stod(line.substr(space + 1));
  }
  return sum;
}

std::string with_commas(double v) {
  std::string digits = fmt::format("{:.0f}", v);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0 && digits[0] != '-') out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}

// --- One measured path -------------------------------------------------------------------------

struct Result {
  std::string path;
  bool ok = true;
  std::string problem;
  uint64_t spans = 0, requests = 0, refused = 0, failed = 0;
  double wall_s = 0;
  double bench_cpu_s = 0;      // this process: generator + sink
  double collector_cpu_s = 0;  // 0 for the baseline
  uint64_t start_rss_kib = 0;  // after start-up, before any load
  uint64_t peak_rss_kib = 0;
  double limiter_refused_spans = 0;
  // Highest readings of the collector's own gauges, sampled during the measured window.
  double max_heap_bytes = 0;
  double max_queue_batches = 0;
  uint64_t sink_spans = 0;       // what reached the sink in the window (fewer when sampling)
  std::string processor_counts;  // the full-actions run: what each added processor did
};

// Warm-up, drain, then the measured window: load for `seconds`, then until the sink has every
// span that was accepted.
// `dropped()` is the running count of spans the collector drops on purpose (filter, sampling);
// a window has drained when the sink's spans plus those dropped add up to the spans accepted.
using DroppedFn = std::function<uint64_t()>;

bool drained(Sink& sink, uint64_t sink0, const DroppedFn& dropped, uint64_t dropped0,
             uint64_t accepted, std::chrono::seconds timeout) {
  if (!dropped) return sink.wait_for(sink0 + accepted, timeout);
  const auto until = Clock::now() + timeout;
  while (Clock::now() < until) {
    if (sink.spans() - sink0 + (dropped() - dropped0) >= accepted) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

Result measure(const Options& o, Protocol protocol, uint16_t port, Sink& sink,
               const std::vector<Payload>& payloads, const CollectorProcess* collector,
               const DroppedFn& dropped = nullptr) {
  Result r;
  const auto drain_timeout = std::chrono::seconds(60);
  LoadTotals warm;
  const uint64_t before_warmup = sink.spans();
  const uint64_t dropped_before_warmup = dropped ? dropped() : 0;
  drive(protocol, port, payloads, o.clients, o.warmup, warm);
  if (warm.spans == 0 ||
      !drained(sink, before_warmup, dropped, dropped_before_warmup, warm.spans, drain_timeout)) {
    r.ok = false;
    r.problem = fmt::format("warm-up: sink got {} of {} spans{}", sink.spans() - before_warmup,
                            warm.spans.load(),
                            warm.first_error.empty() ? "" : "; first error: " + warm.first_error);
    return r;
  }
  const uint64_t sink0 = sink.spans();
  const uint64_t dropped0 = dropped ? dropped() : 0;
  const double cpu0 = self_cpu_seconds();
  const double coll0 = collector ? collector->cpu_seconds() : 0;
  const auto t0 = Clock::now();
  LoadTotals load;
  drive(protocol, port, payloads, o.clients, o.seconds, load);
  const bool all_in = drained(sink, sink0, dropped, dropped0, load.spans, drain_timeout);
  r.wall_s = seconds_since(t0);
  r.sink_spans = sink.spans() - sink0;
  r.bench_cpu_s = self_cpu_seconds() - cpu0;
  if (collector) r.collector_cpu_s = collector->cpu_seconds() - coll0;
  r.spans = load.spans;
  r.requests = load.requests;
  r.refused = load.refused;
  r.failed = load.failed;
  if (!all_in) {
    r.ok = false;
    r.problem = fmt::format("sink got {} of {} accepted spans within {}s", sink.spans() - sink0,
                            load.spans.load(), drain_timeout.count());
  } else if (load.failed > 0) {
    r.problem = fmt::format("{} requests failed; first: {}", load.failed.load(), load.first_error);
  }
  return r;
}

// Polls the collector's /metrics while load runs, keeping the highest heap-in-use reading of the
// memory limiter and the highest exporter queue length.
class MetricsSampler {
 public:
  explicit MetricsSampler(uint16_t port) : thread_([this, port] { run(port); }) {}
  ~MetricsSampler() { stop(); }
  void stop() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  double max_heap_bytes = 0;
  double max_queue_batches = 0;

 private:
  void run(uint16_t port) {
    net::HttpClient client;
    net::HttpClientRequest req;
    req.method = "GET";
    req.url = fmt::format("http://127.0.0.1:{}/metrics", port);
    std::unique_lock lock(mu_);
    while (!cv_.wait_for(lock, std::chrono::milliseconds(250), [&] { return stop_; })) {
      lock.unlock();
      net::HttpClientResponse res = client.send(req);
      lock.lock();
      max_heap_bytes =
          std::max(max_heap_bytes, metric_sum(res.body, "hodos_memory_limiter_in_use_bytes"));
      max_queue_batches =
          std::max(max_queue_batches, metric_sum(res.body, "otelcol_exporter_queue_size"));
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

std::string fetch_metrics(uint16_t port) {
  net::HttpClient client;
  net::HttpClientRequest req;
  req.method = "GET";
  req.url = fmt::format("http://127.0.0.1:{}/metrics", port);
  return client.send(req).body;
}

// Sum of the samples of `name` whose label set contains `label` (e.g. decision="not_sampled").
double metric_sum_with(const std::string& text, std::string_view name, std::string_view label) {
  double sum = 0;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(name, 0) != 0 || line.size() <= name.size() || line[name.size()] != '{')
      continue;
    if (line.find(label) == std::string::npos) continue;
    size_t space = line.rfind(' ');
    if (space != std::string::npos) sum += std::stod(line.substr(space + 1));
  }
  return sum;
}

Result run_collector(const Options& o, Protocol protocol, Sink& sink,
                     const std::vector<Payload>& payloads, const fs::path& dir,
                     bool full_actions = false) {
  const std::string name =
      std::string(protocol == Protocol::kGrpc ? "grpc" : "http") + (full_actions ? "-full" : "");
  const uint16_t receiver_port = free_port();
  const uint16_t metrics_port = free_port();
  const fs::path config = dir / ("collector-" + name + ".yaml");
  const fs::path log = dir / ("collector-" + name + ".log");
  std::ofstream(config) << collector_config(o, protocol, receiver_port, sink, metrics_port,
                                            full_actions);

  Result r;
  CollectorProcess collector(o.hodos, config, log);
  if (!collector.wait_ready(std::chrono::seconds(30))) {
    r.ok = false;
    r.problem = "collector did not start; its log:\n" + read_file(log);
    return r;
  }
  const uint64_t start_rss_kib = collector.status_kib("VmRSS");
  sink.expect_edits(true);
  MetricsSampler sampler(metrics_port);
  DroppedFn dropped;
  if (full_actions) {
    dropped = [metrics_port] {
      const std::string m = fetch_metrics(metrics_port);
      return static_cast<uint64_t>(
          metric_sum(m, "hodos_processor_filter_spans_dropped_total") +
          metric_sum_with(m, "hodos_processor_probabilistic_sampler_spans_total",
                          "decision=\"not_sampled\""));
    };
  }
  r = measure(o, protocol, receiver_port, sink, payloads, &collector, dropped);
  sampler.stop();
  if (full_actions) {
    // Whole-run totals (warm-up included): evidence that each added processor did its work.
    const std::string m = fetch_metrics(metrics_port);
    const double kept = metric_sum_with(m, "hodos_processor_probabilistic_sampler_spans_total",
                                        "decision=\"sampled\"");
    const double not_kept = metric_sum_with(m, "hodos_processor_probabilistic_sampler_spans_total",
                                            "decision=\"not_sampled\"");
    r.processor_counts = fmt::format(
        "filter dropped {} spans; redaction masked {} values; span_template renamed {} spans; "
        "probabilistic_sampler kept {} of {} spans ({:.1f}%)",
        with_commas(metric_sum(m, "hodos_processor_filter_spans_dropped_total")),
        with_commas(metric_sum(m, "hodos_processor_redaction_masked_total")),
        with_commas(metric_sum(m, "hodos_processor_span_template_renamed_total")),
        with_commas(kept), with_commas(kept + not_kept),
        kept + not_kept > 0 ? 100.0 * kept / (kept + not_kept) : 0.0);
  }
  sink.expect_edits(false);
  r.start_rss_kib = start_rss_kib;
  r.peak_rss_kib = collector.status_kib("VmHWM");
  r.max_heap_bytes = sampler.max_heap_bytes;
  r.max_queue_batches = sampler.max_queue_batches;
  {
    net::HttpClient client;
    net::HttpClientRequest req;
    req.method = "GET";
    req.url = fmt::format("http://127.0.0.1:{}/metrics", metrics_port);
    net::HttpClientResponse res = client.send(req);
    r.limiter_refused_spans = metric_sum(res.body, "otelcol_processor_refused_spans_total");
  }
  int exit_code = collector.stop();
  if (exit_code != 0 && r.ok) {
    r.ok = false;
    r.problem = fmt::format("collector exited with {}; log in {}", exit_code, log.string());
  }
  return r;
}

// --- tail_sampling under a paced load ---------------------------------------------------------

// Issue 11: tail_sampling alone (otlp receiver -> tail_sampling -> otlp exporter) fed at a fixed
// rate for a fixed time, as agents would feed it: traces of 5-10 spans whose spans arrive spread
// over up to 600 ms (children first, the server root last), in requests sent every 10 ms.
struct TailOptions {
  double seconds = 15;
  double rate = 100000;  // spans/s
  std::chrono::milliseconds decision_wait{1000};
  std::chrono::milliseconds spread{500};  // children arrive within this after the trace starts
};

struct TailResult {
  bool ok = true;
  std::string problem;
  uint64_t spans_sent = 0, spans_refused = 0, requests = 0, refused = 0, traces_started = 0;
  double wall_s = 0, collector_cpu_s = 0;
  size_t num_traces = 0, expected_traces_per_s = 0;
  double max_held_traces = 0, max_held_bytes = 0;
  uint64_t start_rss_kib = 0, mid_rss_kib = 0, end_rss_kib = 0, peak_rss_kib = 0;
  double decisions = 0, sampled = 0, evicted = 0, late_spans = 0, dropped_spans = 0;
  double decisions_wall_s = 0;                // from the first send to the last decision
  double window_s = 0, window_decisions = 0;  // the steady window (see run_tail_sampling)
  uint64_t window_spans = 0;
  double max_tick_ms = 0;  // the longest tick of the sender (its ticks are 10 ms)
  uint64_t ticks = 0, overrun_ticks = 0;
  uint64_t sink_spans = 0;
};

std::string tail_config(const TailOptions& t, uint16_t receiver_port, uint16_t sink_port,
                        uint16_t metrics_port, size_t num_traces, size_t traces_per_s) {
  return fmt::format(
      R"(receivers:
  otlp:
    protocols:
      grpc: {{endpoint: "127.0.0.1:{receiver_port}"}}
processors:
  tail_sampling:
    decision_wait: {wait}ms
    num_traces: {num_traces}
    expected_new_traces_per_sec: {traces_per_s}
    policies:
      - {{name: errors, type: status_code, status_code: {{status_codes: [ERROR]}}}}
      - {{name: slow, type: latency, latency: {{threshold_ms: 500}}}}
      - {{name: some-of-the-rest, type: probabilistic, probabilistic: {{sampling_percentage: 10}}}}
exporters:
  otlp:
    endpoint: http://127.0.0.1:{sink_port}
    compression: none
service:
  telemetry:
    metrics: {{address: "127.0.0.1:{metrics_port}"}}
  pipelines:
    traces:
      receivers: [otlp]
      processors: [tail_sampling]
      exporters: [otlp]
)",
      fmt::arg("receiver_port", receiver_port), fmt::arg("wait", t.decision_wait.count()),
      fmt::arg("num_traces", num_traces), fmt::arg("traces_per_s", traces_per_s),
      fmt::arg("sink_port", sink_port), fmt::arg("metrics_port", metrics_port));
}

TailResult run_tail_sampling(const Options& o, const TailOptions& t, Sink& sink,
                             const fs::path& dir) {
  TailResult r;
  // Trace shapes, generated once; each use gets a fresh trace id and current timestamps.
  struct Shape {
    size_t service;
    std::vector<pb_trace::Span> spans;  // spans[0] is the server root
  };
  std::vector<Shape> shapes;
  RequestGenerator gen(11);
  std::mt19937_64 rng(13);
  size_t shape_spans = 0;
  for (size_t i = 0; i < 4000; ++i) {
    pb_trace::ScopeSpans ss;
    const size_t service = i % services().size();
    gen.add_trace(&ss, service, 5 + rng() % 6);
    Shape shape{service, {}};
    for (auto& span : *ss.mutable_spans()) shape.spans.push_back(std::move(span));
    shape_spans += shape.spans.size();
    shapes.push_back(std::move(shape));
  }
  const double spans_per_trace = static_cast<double>(shape_spans) / shapes.size();
  // The Collector's sizing guidance: num_traces >= new traces per second x decision_wait; twice
  // that leaves room for the spread of arrivals and bursts.
  r.expected_traces_per_s = static_cast<size_t>(std::ceil(t.rate / spans_per_trace));
  const double wait_s = std::chrono::duration<double>(t.decision_wait).count();
  r.num_traces = static_cast<size_t>(std::ceil(2 * r.expected_traces_per_s * wait_s));

  const uint16_t receiver_port = free_port();
  const uint16_t metrics_port = free_port();
  const fs::path config = dir / "collector-tail-sampling.yaml";
  const fs::path log = dir / "collector-tail-sampling.log";
  std::ofstream(config) << tail_config(t, receiver_port, sink.grpc_port(), metrics_port,
                                       r.num_traces, r.expected_traces_per_s);
  CollectorProcess collector(o.hodos, config, log);
  if (!collector.wait_ready(std::chrono::seconds(30))) {
    r.ok = false;
    r.problem = "collector did not start; its log:\n" + read_file(log);
    return r;
  }
  r.start_rss_kib = collector.status_kib("VmRSS");
  const uint64_t sink0 = sink.spans();

  // Highest held_traces / held_bytes, sampled every 100 ms while the load runs.
  std::atomic<bool> stop_sampling{false};
  std::thread sampler([&] {
    while (!stop_sampling.load()) {
      const std::string m = fetch_metrics(metrics_port);
      r.max_held_traces =
          std::max(r.max_held_traces, metric_sum(m, "hodos_processor_tail_sampling_held_traces"));
      r.max_held_bytes =
          std::max(r.max_held_bytes, metric_sum(m, "hodos_processor_tail_sampling_held_bytes"));
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });

  // Spans waiting to arrive, by the 10 ms tick they arrive in; a span is copied out of its
  // shape only when its request is built.
  struct Pending {
    uint32_t shape, span;
    std::array<char, 16> trace_id;
    int64_t shift_ns;
  };
  std::map<int64_t, std::vector<Pending>> due;
  GrpcClient client(receiver_port);
  std::string error;
  const auto tick = std::chrono::milliseconds(10);
  const double cpu0 = collector.cpu_seconds();
  const auto t0 = Clock::now();
  auto next_tick = t0;
  uint64_t spans_started = 0;
  bool mid_taken = false;
  const double warm_s = std::min(t.seconds / 2, 2 * wait_s + 0.5);
  bool window_open = false, window_closed = false;
  Clock::time_point window_t0;
  uint64_t window_sent0 = 0;
  double window_decisions0 = 0;
  auto decisions_now = [&] {
    return metric_sum(fetch_metrics(metrics_port), "hodos_processor_tail_sampling_traces_total");
  };
  std::uniform_int_distribution<int64_t> spread_ns(0, std::chrono::nanoseconds(t.spread).count());
  std::uniform_int_distribution<int64_t> root_lag_ns(0, 100'000'000);
  while (true) {
    const auto now = Clock::now();
    const double elapsed = std::chrono::duration<double>(now - t0).count();
    const bool starting = elapsed < t.seconds;
    if (!starting && due.empty()) break;
    if (!mid_taken && elapsed >= t.seconds / 2) {
      r.mid_rss_kib = collector.status_kib("VmRSS");
      mid_taken = true;
    }
    // The steady window: from warm_s (past decision_wait and the arrival spread) to the last
    // trace start.
    if (!window_open && elapsed >= warm_s) {
      window_open = true;
      window_t0 = now;
      window_sent0 = r.spans_sent;
      window_decisions0 = decisions_now();
    }
    if (window_open && !window_closed && !starting) {
      window_closed = true;
      r.window_s = std::chrono::duration<double>(now - window_t0).count();
      r.window_spans = r.spans_sent - window_sent0;
      r.window_decisions = decisions_now() - window_decisions0;
    }
    // Start traces until the spans started match the rate so far.
    const int64_t unix_now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
    while (starting && static_cast<double>(spans_started) < t.rate * elapsed) {
      const uint32_t shape_index = static_cast<uint32_t>(rng() % shapes.size());
      const Shape& shape = shapes[shape_index];
      Pending p{shape_index, 0, {}, 0};
      for (char& c : p.trace_id) c = static_cast<char>(rng());
      // Move the shape's times so that its root ends now.
      p.shift_ns = unix_now - static_cast<int64_t>(shape.spans[0].end_time_unix_nano());
      int64_t last_child = 0;
      for (size_t i = shape.spans.size(); i-- > 0;) {
        const int64_t lag = i == 0 ? last_child + root_lag_ns(rng) : spread_ns(rng);
        last_child = std::max(last_child, lag);
        p.span = static_cast<uint32_t>(i);
        due[(now - t0 + std::chrono::nanoseconds(lag)) / tick].push_back(p);
      }
      spans_started += shape.spans.size();
      ++r.traces_started;
    }
    // Send what has arrived, one ResourceSpans per service, at most 512 spans per request (the
    // SDK batch span processor's max_export_batch_size).
    const int64_t now_tick = (now - t0) / tick;
    std::vector<Pending> arrived;
    while (!due.empty() && due.begin()->first <= now_tick) {
      arrived.insert(arrived.end(), due.begin()->second.begin(), due.begin()->second.end());
      due.erase(due.begin());
    }
    for (size_t from = 0; from < arrived.size(); from += 512) {
      pb_collector::ExportTraceServiceRequest req;
      std::vector<pb_trace::ScopeSpans*> scope_of(services().size(), nullptr);
      const size_t n = std::min<size_t>(512, arrived.size() - from);
      for (size_t k = from; k < from + n; ++k) {
        const Pending& p = arrived[k];
        const Shape& shape = shapes[p.shape];
        pb_trace::ScopeSpans*& ss = scope_of[shape.service];
        if (!ss) {
          pb_trace::ResourceSpans* rs = req.add_resource_spans();
          gen.add_resource(shape.service, 0, rs->mutable_resource()->mutable_attributes());
          ss = rs->add_scope_spans();
          ss->mutable_scope()->set_name("io.opentelemetry.tomcat-10.0");
        }
        pb_trace::Span* span = ss->add_spans();
        *span = shape.spans[p.span];
        span->set_trace_id(p.trace_id.data(), p.trace_id.size());
        span->set_start_time_unix_nano(span->start_time_unix_nano() + p.shift_ns);
        span->set_end_time_unix_nano(span->end_time_unix_nano() + p.shift_ns);
        for (auto& e : *span->mutable_events())
          e.set_time_unix_nano(e.time_unix_nano() + p.shift_ns);
      }
      const std::string bytes = req.SerializeAsString();
      grpc::Slice slice(bytes.data(), bytes.size());
      grpc::ByteBuffer buffer(&slice, 1);
      const Sent sent = client.send(buffer, &error);
      ++r.requests;
      if (sent == Sent::kOk) {
        r.spans_sent += n;
      } else if (sent == Sent::kRefused) {
        ++r.refused;
        r.spans_refused += n;
      } else {
        r.ok = false;
        r.problem = "send failed: " + error;
        break;
      }
    }
    if (!r.ok) break;
    // One tick's work (start traces, build, encode and send requests) should fit in the tick;
    // when it does not, the next tick starts at once and the overrun is reported.
    const auto finished = Clock::now();
    const double busy_ms = std::chrono::duration<double, std::milli>(finished - now).count();
    r.max_tick_ms = std::max(r.max_tick_ms, busy_ms);
    r.ticks += 1;
    r.overrun_ticks += busy_ms > 10 ? 1 : 0;
    next_tick = std::max(next_tick + tick, finished);
    std::this_thread::sleep_until(next_tick);  // pacing: a benchmark may sleep
  }
  r.wall_s = seconds_since(t0);
  r.collector_cpu_s = collector.cpu_seconds() - cpu0;
  r.end_rss_kib = collector.status_kib("VmRSS");
  // Spans still queued were never sent; then wait for the last decisions.
  const auto settle_until = Clock::now() + t.decision_wait * 3;
  double held = 1;
  while (Clock::now() < settle_until && held > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    held = metric_sum(fetch_metrics(metrics_port), "hodos_processor_tail_sampling_held_traces");
  }
  r.decisions_wall_s = seconds_since(t0);
  stop_sampling = true;
  sampler.join();
  const std::string m = fetch_metrics(metrics_port);
  const std::string prefix = "hodos_processor_tail_sampling_";
  r.sampled = metric_sum_with(m, prefix + "traces_total", "decision=\"sampled\"");
  r.decisions = metric_sum(m, prefix + "traces_total");
  r.evicted = metric_sum(m, prefix + "traces_evicted_total");
  r.late_spans = metric_sum(m, prefix + "late_spans_total");
  r.dropped_spans = metric_sum(m, prefix + "spans_dropped_total");
  r.peak_rss_kib = collector.status_kib("VmHWM");
  sink.wait_for(sink0 + 1, std::chrono::seconds(5));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // the exporter's last sends
  r.sink_spans = sink.spans() - sink0;
  if (held > 0 && r.ok) {
    r.ok = false;
    r.problem = fmt::format("{} traces still held {} after the load stopped", held,
                            std::chrono::duration<double>(t.decision_wait * 3).count());
  }
  if (const int exit_code = collector.stop(); exit_code != 0 && r.ok) {
    r.ok = false;
    r.problem = fmt::format("collector exited with {}; log in {}", exit_code, log.string());
  }
  return r;
}

void print_tail(const TailOptions& t, const TailResult& r) {
  std::printf("\ntail_sampling alone, paced (otlp receiver -> tail_sampling -> otlp exporter):\n");
  if (!r.ok) {
    std::printf("  FAILED: %s\n", r.problem.c_str());
    return;
  }
  const double held_per_trace = r.max_held_traces > 0 ? r.max_held_bytes / r.max_held_traces : 0;
  std::printf(
      "| input spans/s (target %s) | traces started/s | decision_wait | num_traces | peak held "
      "traces | peak held_bytes | collector RSS start -> mid -> end (peak) | decisions/s | "
      "evicted early | collector CPU (cores) |\n",
      with_commas(t.rate).c_str());
  std::printf("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
  std::printf(
      "| %s | %s | %lld ms | %s | %s | %.1f MiB (%.0f B/trace) | %.0f -> %.0f -> %.0f (%.0f) "
      "MiB | %s | %s | %.2f |\n",
      with_commas(r.window_spans / r.window_s).c_str(),
      with_commas(r.traces_started / t.seconds).c_str(),
      static_cast<long long>(t.decision_wait.count()),
      with_commas(static_cast<double>(r.num_traces)).c_str(),
      with_commas(r.max_held_traces).c_str(), r.max_held_bytes / (1024.0 * 1024.0), held_per_trace,
      r.start_rss_kib / 1024.0, r.mid_rss_kib / 1024.0, r.end_rss_kib / 1024.0,
      r.peak_rss_kib / 1024.0, with_commas(r.window_decisions / r.window_s).c_str(),
      with_commas(r.evicted).c_str(), r.collector_cpu_s / r.wall_s);
  std::printf(
      "  input and decisions/s over the steady %.1f s from %.1f s in; whole run: traces started "
      "for %.0f s, their spans sent until %.1f s, last decision by %.1f s; sender: %s ticks "
      "of 10 ms, %s took longer (at most %.0f ms)\n",
      r.window_s,
      std::min(t.seconds / 2, 2 * std::chrono::duration<double>(t.decision_wait).count() + 0.5),
      t.seconds, r.wall_s, r.decisions_wall_s, with_commas(static_cast<double>(r.ticks)).c_str(),
      with_commas(static_cast<double>(r.overrun_ticks)).c_str(), r.max_tick_ms);
  std::printf(
      "  %s spans in %s requests over %.1f s (%s refused); %s traces decided, %s sampled "
      "(%.1f%%), %s spans dropped as not sampled, %s late spans; the sink got %s spans\n",
      with_commas(static_cast<double>(r.spans_sent)).c_str(),
      with_commas(static_cast<double>(r.requests)).c_str(), r.wall_s,
      with_commas(static_cast<double>(r.refused)).c_str(), with_commas(r.decisions).c_str(),
      with_commas(r.sampled).c_str(), r.decisions > 0 ? 100 * r.sampled / r.decisions : 0.0,
      with_commas(r.dropped_spans).c_str(), with_commas(r.late_spans).c_str(),
      with_commas(static_cast<double>(r.sink_spans)).c_str());
  std::printf("  within num_traces: %s (peak held %s of %s; %s traces decided early)\n",
              r.max_held_traces <= r.num_traces && r.evicted == 0 ? "yes" : "NO",
              with_commas(r.max_held_traces).c_str(),
              with_commas(static_cast<double>(r.num_traces)).c_str(),
              with_commas(r.evicted).c_str());
}

// The codec alone, on one thread in this process: what decoding requests into the span model
// and encoding batches of 8192 spans back to protobuf cost, without any network or pipeline.
// --- Gateway scaling (issue 9) -------------------------------------------------------------------

// Agents and gateways as deploy/ runs them, all real `hodos collector` processes: each agent
// (otlp receiver -> batch -> loadbalancing by trace id over every gateway) takes one generator's
// spans; each gateway (otlp receiver -> memory_limiter -> attributes -> batch -> otlp exporter)
// does the processing and sends to the sink. Run with one agent and one gateway, then two and two:
// (1) paced, each agent fed a fixed rate, so that the figures compare like for like on a small
// machine; (2) saturated, every generator as fast as it can. Reported per gateway: spans it took,
// its CPU, its spans per CPU-second.
struct GatewayRun {
  size_t pairs = 0;
  bool paced = false;
  bool ok = true;
  std::string problem;
  double wall_s = 0;
  uint64_t sent = 0, delivered = 0;
  std::vector<double> gateway_spans, gateway_cpu_s;
  double agent_cpu_s = 0;
};

std::string gateway_config(const Options& o, uint16_t receiver_port, uint16_t sink_port,
                           uint16_t metrics_port) {
  return fmt::format(
      R"(receivers:
  otlp: {{protocols: {{grpc: {{endpoint: "127.0.0.1:{receiver_port}"}}}}}}
processors:
{processing}exporters:
  otlp: {{endpoint: "127.0.0.1:{sink_port}", tls: {{insecure: true}}, compression: {compression}}}
service:
  telemetry: {{metrics: {{address: "127.0.0.1:{metrics_port}"}}}}
  pipelines:
    traces: {{receivers: [otlp], processors: [memory_limiter, attributes, batch], exporters: [otlp]}}
)",
      fmt::arg("receiver_port", receiver_port), fmt::arg("processing", processing_processors(o)),
      fmt::arg("sink_port", sink_port), fmt::arg("metrics_port", metrics_port),
      fmt::arg("compression", o.exporter_compression));
}

std::string agent_config(const Options& o, uint16_t receiver_port,
                         const std::vector<uint16_t>& gateways, uint16_t metrics_port) {
  std::string hostnames;
  for (uint16_t port : gateways) {
    hostnames += fmt::format("{}127.0.0.1:{}", hostnames.empty() ? "" : ", ", port);
  }
  return fmt::format(
      R"(receivers:
  otlp: {{protocols: {{grpc: {{endpoint: "127.0.0.1:{receiver_port}"}}}}}}
processors:
  batch: {{send_batch_size: 2048, timeout: 100ms}}
exporters:
  loadbalancing:
    routing_key: traceID
    protocol: {{otlp: {{tls: {{insecure: true}}, compression: {compression}}}}}
    resolver: {{static: {{hostnames: [{hostnames}]}}}}
service:
  telemetry: {{metrics: {{address: "127.0.0.1:{metrics_port}"}}}}
  pipelines:
    traces: {{receivers: [otlp], processors: [batch], exporters: [loadbalancing]}}
)",
      fmt::arg("receiver_port", receiver_port), fmt::arg("hostnames", hostnames),
      fmt::arg("metrics_port", metrics_port), fmt::arg("compression", o.exporter_compression));
}

// One generator thread per agent: paced at `rate` spans/s (0: as fast as it can) for `seconds`.
uint64_t drive_agents(const std::vector<uint16_t>& agents, const std::vector<Payload>& payloads,
                      double rate, double seconds, std::string* first_error) {
  std::atomic<uint64_t> spans{0};
  std::mutex mu;
  std::vector<std::thread> threads;
  for (size_t a = 0; a < agents.size(); ++a) {
    threads.emplace_back([&, a] {
      GrpcClient client(agents[a]);
      std::vector<grpc::ByteBuffer> buffers;
      for (const Payload& p : payloads) {
        grpc::Slice slice(p.bytes.data(), p.bytes.size());
        buffers.emplace_back(&slice, 1);
      }
      const auto t0 = Clock::now();
      uint64_t mine = 0;
      std::string error;
      for (size_t i = a; seconds_since(t0) < seconds; i += agents.size()) {
        if (rate > 0) {
          while (static_cast<double>(mine) > rate * seconds_since(t0) && seconds_since(t0) < seconds) {
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
          }
        }
        const size_t at = i % payloads.size();
        if (client.send(buffers[at], &error) == Sent::kOk) {
          mine += payloads[at].spans;
        } else {
          std::lock_guard lock(mu);
          if (first_error->empty()) *first_error = error.empty() ? "refused" : error;
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
      }
      spans.fetch_add(mine);
    });
  }
  for (auto& t : threads) t.join();
  return spans.load();
}

GatewayRun run_gateways(const Options& o, size_t pairs, double rate, Sink& sink,
                        const std::vector<Payload>& payloads, const fs::path& dir) {
  GatewayRun r;
  r.pairs = pairs;
  r.paced = rate > 0;
  std::vector<std::unique_ptr<CollectorProcess>> gateways, agents;
  std::vector<uint16_t> gateway_ports, gateway_metrics, agent_ports;
  auto start = [&](const std::string& name, const std::string& config_text) -> CollectorProcess* {
    const fs::path config = dir / (name + ".yaml"), log = dir / (name + ".log");
    std::ofstream(config) << config_text;
    auto p = std::make_unique<CollectorProcess>(o.hodos, config, log);
    if (!p->wait_ready(std::chrono::seconds(30))) {
      r.ok = false;
      r.problem = name + " did not start; its log:\n" + read_file(log);
      return nullptr;
    }
    return p.release();
  };
  const std::string tag = fmt::format("{}x-{}", pairs, r.paced ? "paced" : "saturated");
  // Ports of processes not started yet are not bound: the kernel may offer one twice.
  std::set<uint16_t> taken;
  auto unique_port = [&] {
    uint16_t port = free_port();
    while (!taken.insert(port).second) port = free_port();
    return port;
  };
  for (size_t g = 0; g < pairs; ++g) {
    gateway_ports.push_back(unique_port());
    gateway_metrics.push_back(unique_port());
    CollectorProcess* p = start(fmt::format("gateway-{}-{}", tag, g),
                                gateway_config(o, gateway_ports[g], sink.grpc_port(), gateway_metrics[g]));
    if (!p) return r;
    gateways.emplace_back(p);
  }
  for (size_t a = 0; a < pairs; ++a) {
    agent_ports.push_back(unique_port());
    CollectorProcess* p = start(fmt::format("agent-{}-{}", tag, a),
                                agent_config(o, agent_ports[a], gateway_ports, unique_port()));
    if (!p) return r;
    agents.emplace_back(p);
  }
  sink.expect_edits(true);
  std::string error;
  // Warm-up: connections, the gateways' first batches; then drain.
  const uint64_t warm0 = sink.spans();
  const uint64_t warm = drive_agents(agent_ports, payloads, rate, o.warmup, &error);
  if (warm == 0 || !sink.wait_for(warm0 + warm, std::chrono::seconds(60))) {
    r.ok = false;
    r.problem = fmt::format("warm-up: sink got {} of {} spans; {}", sink.spans() - warm0, warm, error);
    sink.expect_edits(false);
    return r;
  }
  auto accepted = [&](size_t g) {
    return metric_sum(fetch_metrics(gateway_metrics[g]), "otelcol_receiver_accepted_spans_total");
  };
  std::vector<double> spans0, cpu0;
  for (size_t g = 0; g < pairs; ++g) {
    spans0.push_back(accepted(g));
    cpu0.push_back(gateways[g]->cpu_seconds());
  }
  double agent_cpu0 = 0;
  for (auto& a : agents) agent_cpu0 += a->cpu_seconds();
  const uint64_t sink0 = sink.spans();
  const auto t0 = Clock::now();
  r.sent = drive_agents(agent_ports, payloads, rate, o.seconds, &error);
  const bool all_in = sink.wait_for(sink0 + r.sent, std::chrono::seconds(60));
  r.wall_s = seconds_since(t0);
  r.delivered = sink.spans() - sink0;
  for (size_t g = 0; g < pairs; ++g) {
    r.gateway_spans.push_back(accepted(g) - spans0[g]);
    r.gateway_cpu_s.push_back(gateways[g]->cpu_seconds() - cpu0[g]);
  }
  for (auto& a : agents) r.agent_cpu_s += a->cpu_seconds();
  r.agent_cpu_s -= agent_cpu0;
  sink.expect_edits(false);
  if (!all_in) {
    r.ok = false;
    r.problem = fmt::format("sink got {} of {} spans; {}", r.delivered, r.sent, error);
  }
  for (auto& a : agents) a->stop();
  for (auto& g : gateways) g->stop();
  return r;
}

void print_gateways(const std::vector<GatewayRun>& runs, double rate) {
  std::printf(
      "\ngateway scaling: agents (otlp -> batch -> loadbalancing by trace id) -> gateways (otlp -> "
      "memory_limiter -> attributes -> batch -> otlp) -> sink; paced: %s spans/s into each agent\n",
      with_commas(rate).c_str());
  std::printf(
      "\n| agents x gateways | input | delivered spans/s | per gateway: spans/s | per gateway: CPU "
      "(cores) | per gateway: spans per CPU-second | agents' CPU (cores) |\n");
  std::printf("| --- | --- | ---: | --- | --- | --- | ---: |\n");
  for (const GatewayRun& r : runs) {
    const std::string input = r.paced ? fmt::format("paced, {} spans/s per agent", with_commas(rate))
                                      : "saturated";
    if (!r.ok) {
      std::printf("| %zu x %zu | %s | FAILED: %s | | | | |\n", r.pairs, r.pairs, input.c_str(),
                  r.problem.c_str());
      continue;
    }
    std::string per_rate, per_cpu, per_eff;
    for (size_t g = 0; g < r.gateway_spans.size(); ++g) {
      const char* sep = g ? " / " : "";
      per_rate += sep + with_commas(r.gateway_spans[g] / r.wall_s);
      per_cpu += sep + fmt::format("{:.2f}", r.gateway_cpu_s[g] / r.wall_s);
      per_eff += sep + with_commas(r.gateway_spans[g] / std::max(r.gateway_cpu_s[g], 1e-9));
    }
    std::printf("| %zu x %zu | %s | **%s** | %s | %s | %s | %.2f |\n", r.pairs, r.pairs,
                input.c_str(), with_commas(r.delivered / r.wall_s).c_str(), per_rate.c_str(),
                per_cpu.c_str(), per_eff.c_str(), r.agent_cpu_s / r.wall_s);
  }
  // Adding up: the paced runs' delivered rate against one pair's, times the pairs.
  const GatewayRun* one = nullptr;
  for (const GatewayRun& r : runs) {
    if (r.ok && r.paced && r.pairs == 1) one = &r;
  }
  for (const GatewayRun& r : runs) {
    if (!one || !r.ok || !r.paced || r.pairs == 1) continue;
    const double ratio = (r.delivered / r.wall_s) / (one->delivered / one->wall_s);
    double min_share = 1;
    for (double s : r.gateway_spans) min_share = std::min(min_share, s / std::max(1.0, static_cast<double>(r.delivered)));
    std::printf(
        "%zu gateways delivered %.2fx one gateway's spans/s at %zux the input, every span "
        "arriving; the smallest gateway's share of the spans was %.1f%%\n",
        r.pairs, ratio, r.pairs, 100 * min_share);
  }
}

struct CodecCost {
  double decode_spans_per_cpu_s = 0;
  double encode_spans_per_cpu_s = 0;
};

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

CodecCost measure_codec(const std::vector<Payload>& payloads, double seconds) {
  CodecCost c;
  uint64_t spans = 0;
  double cpu0 = thread_cpu_seconds();
  auto t0 = Clock::now();
  for (size_t i = 0; seconds_since(t0) < seconds; ++i) {
    hodos::core::SpanBatch batch;
    const Payload& p = payloads[i % payloads.size()];
    if (auto err = hodos::otlp::decode_proto(p.bytes, batch)) throw std::runtime_error(*err);
    spans += batch.size();
  }
  c.decode_spans_per_cpu_s = spans / (thread_cpu_seconds() - cpu0);

  hodos::core::SpanBatch big;
  for (size_t i = 0; big.size() < 8192; ++i) {
    hodos::otlp::decode_proto(payloads[i % payloads.size()].bytes, big);
  }
  spans = 0;
  cpu0 = thread_cpu_seconds();
  t0 = Clock::now();
  size_t bytes = 0;
  while (seconds_since(t0) < seconds) {
    bytes += hodos::otlp::encode_proto(big).size();
    spans += big.size();
  }
  c.encode_spans_per_cpu_s = spans / (thread_cpu_seconds() - cpu0);
  if (bytes == 0) throw std::runtime_error("encode_proto produced nothing");
  return c;
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  }
  return "unknown CPU";
}

int usage() {
  std::fprintf(stderr,
               "usage: bench_pipeline [--seconds S] [--warmup S] [--clients N] [--requests N]\n"
               "                      [--protocols grpc,http] [--limit-mib N] [--batch-size N]\n"
               "                      [--exporter-compression none|gzip] [--no-full-actions]\n"
               "                      [--tail-seconds S (0 skips)] [--tail-rate SPANS_PER_S]\n"
               "                      [--gateway-seconds S (0 skips)] [--gateway-rate SPANS_PER_S]\n"
               "                      [--hodos PATH] [--keep]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
      return argv[++i];
    };
    try {
      if (a == "--seconds") {
        o.seconds = std::stod(value());
      } else if (a == "--warmup") {
        o.warmup = std::stod(value());
      } else if (a == "--clients") {
        o.clients = std::stoul(value());
      } else if (a == "--requests") {
        o.requests = std::stoul(value());
      } else if (a == "--limit-mib") {
        o.limit_mib = std::stol(value());
      } else if (a == "--batch-size") {
        o.batch_size = std::stoul(value());
      } else if (a == "--exporter-compression") {
        o.exporter_compression = value();
      } else if (a == "--hodos") {
        o.hodos = value();
      } else if (a == "--no-full-actions") {
        o.full_actions = false;
      } else if (a == "--tail-seconds") {
        o.tail_seconds = std::stod(value());
      } else if (a == "--tail-rate") {
        o.tail_rate = std::stod(value());
      } else if (a == "--gateway-seconds") {
        o.gateway_seconds = std::stod(value());
      } else if (a == "--gateway-rate") {
        o.gateway_rate = std::stod(value());
      } else if (a == "--keep") {
        o.keep = true;
      } else if (a == "--protocols") {
        o.protocols.clear();
        std::istringstream list(value());
        std::string p;
        while (std::getline(list, p, ',')) {
          if (p == "grpc") {
            o.protocols.push_back(Protocol::kGrpc);
          } else if (p == "http") {
            o.protocols.push_back(Protocol::kHttp);
          } else {
            return usage();
          }
        }
      } else {
        return usage();
      }
    } catch (const std::exception&) {
      return usage();
    }
  }
  if (o.clients == 0 || o.requests == 0 || o.seconds <= 0 || o.protocols.empty() ||
      o.batch_size == 0 || (o.exporter_compression != "none" && o.exporter_compression != "gzip")) {
    return usage();
  }
  if (o.hodos.empty())
    o.hodos = (fs::read_symlink("/proc/self/exe").parent_path() / "hodos").string();
  if (!fs::exists(o.hodos)) {
    std::fprintf(stderr, "bench_pipeline: %s not found; build it or pass --hodos PATH\n",
                 o.hodos.c_str());
    return 1;
  }
  std::signal(SIGPIPE, SIG_IGN);

  // Requests of 100-1000 spans, encoded once so that the generator costs little per send.
  std::vector<Payload> payloads;
  size_t total_spans = 0, total_bytes = 0;
  {
    RequestGenerator gen(42);
    std::mt19937_64 rng(7);
    for (size_t i = 0; i < o.requests; ++i) {
      size_t spans = std::uniform_int_distribution<size_t>(100, 1000)(rng);
      payloads.push_back({gen.request(spans), spans});
      total_spans += spans;
      total_bytes += payloads.back().bytes.size();
    }
  }

  {
    // The sink's check must be able to fail: the generator's own requests have none of the edits.
    pb_collector::ExportTraceServiceRequest raw;
    if (!raw.ParseFromString(payloads[0].bytes) || !check_edits(raw)) {
      std::fprintf(stderr, "bench_pipeline: the sink's edit check accepts unedited spans\n");
      return 1;
    }
  }

  std::string tmpl = (fs::temp_directory_path() / "hodos-bench-pipeline-XXXXXX").string();
  if (!::mkdtemp(tmpl.data())) {
    std::perror("mkdtemp");
    return 1;
  }
  const fs::path dir = tmpl;

  std::printf(
      "pipeline benchmark: %zu distinct requests, %.0f spans/request on average (100-1000), "
      "10 attributes/span, %.0f bytes/span encoded; %zu client threads, %.0f s measured "
      "after %.0f s warm-up per path\n",
      payloads.size(), static_cast<double>(total_spans) / payloads.size(),
      static_cast<double>(total_bytes) / total_spans, o.clients, o.seconds, o.warmup);
  std::printf(
      "collector: otlp receiver -> memory_limiter (limit %lld MiB) -> attributes (upsert, "
      "delete, hash) -> batch (%zu) -> %s exporter (compression %s) -> sink\n",
      static_cast<long long>(o.limit_mib), o.batch_size, "otlp/otlphttp",
      o.exporter_compression.c_str());
  std::printf("machine: %u CPUs (%s); load average before: %s\n",
              std::thread::hardware_concurrency(), cpu_model().c_str(), load_average().c_str());
  std::fflush(stdout);

  Sink sink(/*verify_every=*/16);
  if (auto err = sink.start()) {
    std::fprintf(stderr, "bench_pipeline: %s\n", err->c_str());
    return 1;
  }

  const CodecCost codec = measure_codec(payloads, std::min(o.seconds, 3.0));
  std::printf(
      "codec alone (one thread, in process): decode_proto %s spans/CPU-second, "
      "encode_proto (batches of 8192) %s spans/CPU-second\n",
      with_commas(codec.decode_spans_per_cpu_s).c_str(),
      with_commas(codec.encode_spans_per_cpu_s).c_str());
  std::fflush(stdout);

  std::vector<Result> results;
  bool failed = false;
  for (Protocol p : o.protocols) {
    Result base = measure(o, p, p == Protocol::kGrpc ? sink.grpc_port() : sink.http_port(), sink,
                          payloads, nullptr);
    base.path = fmt::format("{} generator -> sink (baseline)", protocol_name(p));
    Result coll = run_collector(o, p, sink, payloads, dir);
    coll.path = fmt::format("{} generator -> collector -> sink", protocol_name(p));
    results.push_back(base);
    results.push_back(coll);
    if (o.full_actions && p == Protocol::kGrpc) {
      Result full = run_collector(o, p, sink, payloads, dir, /*full_actions=*/true);
      full.path = fmt::format("{} generator -> collector, full actions -> sink", protocol_name(p));
      results.push_back(full);
    }
  }

  std::optional<TailResult> tail;
  TailOptions tail_options;
  tail_options.seconds = o.tail_seconds;
  tail_options.rate = o.tail_rate;
  if (o.tail_seconds > 0) tail = run_tail_sampling(o, tail_options, sink, dir);

  std::vector<GatewayRun> gateway_runs;
  if (o.gateway_seconds > 0) {
    Options g = o;
    g.seconds = o.gateway_seconds;
    for (double rate : {o.gateway_rate, 0.0}) {
      for (size_t pairs : {1, 2}) gateway_runs.push_back(run_gateways(g, pairs, rate, sink, payloads, dir));
    }
  }

  // A Markdown table, so that docs/BENCHMARKS.md can take it as printed.
  std::printf(
      "\n| path | spans/s (wall) | collector CPU (cores) | spans/s per collector core | "
      "collector peak RSS | generator+sink CPU (cores) | refused requests |\n");
  std::printf("| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
  for (const Result& r : results) {
    if (!r.ok) {
      std::printf("| %s | FAILED: %s | | | | | |\n", r.path.c_str(), r.problem.c_str());
      failed = true;
      continue;
    }
    const bool has_collector = r.collector_cpu_s > 0;
    std::printf("| %s | %s | %s | %s | %s | %.2f | %s |\n", r.path.c_str(),
                with_commas(r.spans / r.wall_s).c_str(),
                has_collector ? fmt::format("{:.2f}", r.collector_cpu_s / r.wall_s).c_str() : "-",
                has_collector
                    ? fmt::format("**{}**", with_commas(r.spans / r.collector_cpu_s)).c_str()
                    : "-",
                has_collector ? fmt::format("{:.0f} MiB", r.peak_rss_kib / 1024.0).c_str() : "-",
                r.bench_cpu_s / r.wall_s, with_commas(static_cast<double>(r.refused)).c_str());
  }
  std::printf("\n");
  for (const Result& r : results) {
    if (!r.ok) continue;
    std::printf(
        "%s: %s spans in %s requests over %.1f s; %s spans per CPU-second of "
        "generator+sink\n",
        r.path.c_str(), with_commas(static_cast<double>(r.spans)).c_str(),
        with_commas(static_cast<double>(r.requests)).c_str(), r.wall_s,
        with_commas(r.spans / r.bench_cpu_s).c_str());
    if (r.collector_cpu_s > 0) {
      std::printf(
          "  collector: RSS %.0f MiB after start-up, peak %.0f MiB; highest heap in use "
          "%.0f MiB (memory_limiter's reading, limit %lld MiB); longest exporter queue %.0f "
          "batches; memory_limiter refused %s spans\n",
          r.start_rss_kib / 1024.0, r.peak_rss_kib / 1024.0, r.max_heap_bytes / (1024.0 * 1024.0),
          static_cast<long long>(o.limit_mib), r.max_queue_batches,
          with_commas(r.limiter_refused_spans).c_str());
    }
    if (!r.processor_counts.empty()) {
      std::printf("  %s; the sink got %s spans of the window\n", r.processor_counts.c_str(),
                  with_commas(static_cast<double>(r.sink_spans)).c_str());
    }
    if (!r.problem.empty()) std::printf("  note: %s\n", r.problem.c_str());
  }
  // Issue 11's goal: the full set of actions within 2x of the plain pipeline, per collector core
  // (the fair figure on a shared machine) and in wall-clock spans/s.
  for (size_t i = 0; i + 1 < results.size(); ++i) {
    const Result& plain = results[i];
    const Result& full = results[i + 1];
    if (full.processor_counts.empty() || !plain.ok || !full.ok || plain.collector_cpu_s <= 0 ||
        full.collector_cpu_s <= 0) {
      continue;
    }
    const double per_core =
        (plain.spans / plain.collector_cpu_s) / (full.spans / full.collector_cpu_s);
    const double wall = (plain.spans / plain.wall_s) / (full.spans / full.wall_s);
    std::printf(
        "full actions vs plain: %.2fx the collector CPU per span (%s vs %s spans/s per core), "
        "plain/full wall-clock spans/s %.2f -- goal <= 2x: %s\n",
        per_core, with_commas(full.spans / full.collector_cpu_s).c_str(),
        with_commas(plain.spans / plain.collector_cpu_s).c_str(), wall,
        per_core <= 2.0 ? "met" : "NOT met");
  }
  std::printf("sink: %s requests decoded in full and checked for the attributes processor's edits",
              with_commas(static_cast<double>(sink.verified())).c_str());
  const bool collector_ran = std::any_of(results.begin(), results.end(), [](const Result& r) {
    return r.ok && r.collector_cpu_s > 0;
  });
  if (auto bad = sink.edit_failure()) {
    std::printf(" -- FAILED: %s\n", bad->c_str());
    failed = true;
  } else if (collector_ran && sink.verified() == 0) {
    std::printf(" -- FAILED: no request from the collector was checked\n");
    failed = true;
  } else {
    std::printf(" -- all edited as configured\n");
  }
  if (sink.malformed() > 0) {
    std::printf("sink: %llu malformed requests\n",
                static_cast<unsigned long long>(sink.malformed()));
    failed = true;
  }
  if (tail) {
    print_tail(tail_options, *tail);
    failed = failed || !tail->ok;
  }
  if (!gateway_runs.empty()) {
    print_gateways(gateway_runs, o.gateway_rate);
    for (const GatewayRun& r : gateway_runs) failed = failed || !r.ok;
  }
  std::printf("load average after: %s\n", load_average().c_str());
  sink.stop();
  if (o.keep || failed) {
    std::printf("collector configs and logs kept in %s\n", dir.c_str());
  } else {
    fs::remove_all(dir);
  }
  return failed ? 1 : 0;
}
