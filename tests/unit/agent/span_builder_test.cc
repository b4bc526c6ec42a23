// SpanBuilder on exchanges the real tracker and matcher produce from synthetic socket events:
// names, HTTP semantic-convention attributes, status, kinds, clocks, resources, and that no
// credential header value or query string ever reaches a span.
#include "agent/span_builder.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/clock.h"
#include "socket_events.h"
#include "span_attributes.h"

namespace hodos::agent {
namespace {

using testing::EventSource;
using testing::ipv4;

constexpr int64_t kOffset = 1'700'000'000'000'000'000;

class SpanBuilderTest : public ::testing::Test {
 protected:
  SpanBuilderTest()
      : builder_(MonotonicClock(kOffset)),
        tracker_([this](const TrackedExchange& t) {
          builder_.add(batch_, t, core::empty_resource(), core::empty_scope());
        }) {}

  void server_exchange(std::string_view request, std::string_view response) {
    tracker_.on_event(app_.accept(1, 5, server_, browser_));
    tracker_.on_event(app_.read(7, 5, server_, browser_, request));
    tracker_.on_event(app_.write(7, 5, server_, browser_, response));
  }
  void client_exchange(std::string_view request, std::string_view response) {
    tracker_.on_event(app_.connect(7, 9, local_, upstream_));
    tracker_.on_event(app_.write(7, 9, local_, upstream_, request));
    tracker_.on_event(app_.read(7, 9, local_, upstream_, response));
  }
  const core::Span& only_span() {
    EXPECT_EQ(batch_.size(), 1u);
    return batch_.spans().at(0);
  }
  static std::string str(const core::Span& s, std::string_view key) {
    return testing::attr_text(s, key);
  }
  static int64_t integer(const core::Span& s, std::string_view key) {
    return testing::attr_int(s, key);
  }
  // Every string the span carries: name, attribute keys and values, status message.
  static std::string everything(const core::Span& s) {
    std::string all = std::string(s.name) + "\n" + std::string(s.status.message) + "\n";
    for (const core::KeyValue& kv : s.attributes) {
      all += std::string(kv.key) + "=" + kv.value.to_string() + "\n";
    }
    return all;
  }

  EventSource app_{100};
  const SocketEndpoint server_ = ipv4("10.0.0.1", 8080);
  const SocketEndpoint browser_ = ipv4("10.0.0.9", 50000);
  const SocketEndpoint local_ = ipv4("10.0.0.1", 40000);
  const SocketEndpoint upstream_ = ipv4("10.0.0.2", 9000);
  core::SpanBatch batch_;
  SpanBuilder builder_;
  ConnectionTracker tracker_;
};

TEST_F(SpanBuilderTest, ServerSpanFollowsTheHttpConventions) {
  server_exchange(
      "GET /items/42?token=abc HTTP/1.1\r\nHost: shop.example:8080\r\n"
      "User-Agent: curl/7.88\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  const core::Span& s = only_span();
  EXPECT_EQ(s.kind, core::SpanKind::kServer);
  EXPECT_EQ(s.name, "GET /items/{id}");
  EXPECT_EQ(str(s, "http.request.method"), "GET");
  EXPECT_EQ(str(s, "url.path"), "/items/42");
  EXPECT_EQ(str(s, "url.scheme"), "http");
  EXPECT_EQ(integer(s, "http.response.status_code"), 200);
  EXPECT_EQ(str(s, "server.address"), "shop.example");
  EXPECT_EQ(integer(s, "server.port"), 8080);
  EXPECT_EQ(str(s, "client.address"), "10.0.0.9");
  EXPECT_EQ(str(s, "network.peer.address"), "10.0.0.9");
  EXPECT_EQ(integer(s, "network.peer.port"), 50000);
  EXPECT_EQ(str(s, "network.local.address"), "10.0.0.1");
  EXPECT_EQ(integer(s, "network.local.port"), 8080);
  EXPECT_EQ(str(s, "network.protocol.version"), "1.1");
  EXPECT_EQ(str(s, "user_agent.original"), "curl/7.88");
  EXPECT_EQ(str(s, "url.query"), "<absent>");
  EXPECT_EQ(str(s, "url.full"), "<absent>");  // a client attribute
  EXPECT_EQ(s.status.code, core::StatusCode::kUnset);
  EXPECT_TRUE(s.trace_id.valid());
  EXPECT_TRUE(s.span_id.valid());
  EXPECT_TRUE(s.is_root());
}

// A hint for the stitch stage that no codec or store sees: whether the server span's caller is a
// traced process here.
TEST_F(SpanBuilderTest, ServerSpanCarriesTheLocalCallerHint) {
  constexpr std::string_view kGet = "GET / HTTP/1.1\r\nHost: shop\r\n\r\n";
  constexpr std::string_view kOk = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  server_exchange(kGet, kOk);
  EXPECT_EQ(only_span().local_caller, 2) << "the browser is not traced";
  batch_ = core::SpanBatch();
  // The process's own call to itself: its client end is tracked when the server answers.
  tracker_.on_event(app_.connect(3, 11, local_, server_));
  tracker_.on_event(app_.write(3, 11, local_, server_, kGet));
  tracker_.on_event(app_.accept(1, 12, server_, local_));
  tracker_.on_event(app_.read(4, 12, server_, local_, kGet));
  tracker_.on_event(app_.write(4, 12, server_, local_, kOk));
  ASSERT_EQ(batch_.size(), 1u);
  EXPECT_EQ(batch_.spans()[0].kind, core::SpanKind::kServer);
  EXPECT_EQ(batch_.spans()[0].local_caller, 1);
  EXPECT_EQ(batch_.deep_copy().spans()[0].local_caller, 1) << "copies keep it";
  EXPECT_EQ(batch_.share().spans()[0].local_caller, 1);
  tracker_.on_event(app_.read(3, 11, local_, server_, kOk));
  ASSERT_EQ(batch_.size(), 2u);
  EXPECT_EQ(batch_.spans()[1].local_caller, 0) << "only server spans say";
}

TEST_F(SpanBuilderTest, ServerWithoutHostHeaderNamesItsOwnSocket) {
  server_exchange("GET / HTTP/1.0\r\n\r\n", "HTTP/1.0 204 No Content\r\n\r\n");
  const core::Span& s = only_span();
  EXPECT_EQ(str(s, "server.address"), "10.0.0.1");
  EXPECT_EQ(integer(s, "server.port"), 8080);
  EXPECT_EQ(str(s, "network.protocol.version"), "1.0");
  EXPECT_EQ(s.name, "GET /");
}

TEST_F(SpanBuilderTest, ServerStatusIsAnErrorFor5xxOnly) {
  server_exchange("GET /missing HTTP/1.1\r\nHost: a\r\n\r\n",
                  "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
  server_exchange("GET /boom HTTP/1.1\r\nHost: a\r\n\r\n",
                  "HTTP/1.1 503 Unavailable\r\nContent-Length: 0\r\n\r\n");
  ASSERT_EQ(batch_.size(), 2u);
  EXPECT_EQ(batch_.spans()[0].status.code, core::StatusCode::kUnset);
  EXPECT_EQ(str(batch_.spans()[0], "error.type"), "<absent>");
  EXPECT_EQ(batch_.spans()[1].status.code, core::StatusCode::kError);
  EXPECT_EQ(str(batch_.spans()[1], "error.type"), "503");
}

TEST_F(SpanBuilderTest, ClientSpanFollowsTheHttpConventionsAnd4xxIsAnError) {
  client_exchange("POST /v1/orders?sig=zzz HTTP/1.1\r\nHost: orders:9000\r\n"
                  "Content-Length: 0\r\n\r\n",
                  "HTTP/1.1 409 Conflict\r\nContent-Length: 0\r\n\r\n");
  const core::Span& s = only_span();
  EXPECT_EQ(s.kind, core::SpanKind::kClient);
  EXPECT_EQ(s.name, "POST /v1/orders");
  EXPECT_EQ(str(s, "server.address"), "orders");
  EXPECT_EQ(integer(s, "server.port"), 9000);
  EXPECT_EQ(str(s, "url.full"), "http://orders:9000/v1/orders");
  EXPECT_EQ(str(s, "network.peer.address"), "10.0.0.2");
  EXPECT_EQ(integer(s, "network.peer.port"), 9000);
  EXPECT_EQ(str(s, "network.local.address"), "10.0.0.1");
  EXPECT_EQ(integer(s, "network.local.port"), 40000);
  EXPECT_EQ(str(s, "client.address"), "<absent>");
  EXPECT_EQ(s.status.code, core::StatusCode::kError);
  EXPECT_EQ(str(s, "error.type"), "409");
}

// A call the connection closed on with no answer (the server reset it, or the client gave up):
// a CLIENT span that is an error, ending at the close, with no status code.
TEST_F(SpanBuilderTest, ClientCallClosedWithoutAResponseIsAnError) {
  tracker_.on_event(app_.connect(7, 9, local_, upstream_));
  const SocketEvent sent =
      app_.write(7, 9, local_, upstream_, "GET /slow/7 HTTP/1.1\r\nHost: up:9000\r\n\r\n");
  tracker_.on_event(sent);
  const SocketEvent closed = app_.close(7, 9, local_, upstream_);
  tracker_.on_event(closed);
  const core::Span& s = only_span();
  EXPECT_EQ(s.kind, core::SpanKind::kClient);
  EXPECT_EQ(s.name, "GET /slow/{id}");
  EXPECT_EQ(s.status.code, core::StatusCode::kError);
  EXPECT_EQ(str(s, "error.type"), "no_response");
  EXPECT_EQ(str(s, "http.response.status_code"), "<absent>");
  EXPECT_EQ(str(s, "url.full"), "http://up:9000/slow/7");
  EXPECT_GT(s.end_time_unix_nano, s.start_time_unix_nano);

  // A server whose client went away before the answer: no span (nothing was served).
  tracker_.on_event(app_.accept(1, 5, server_, browser_));
  tracker_.on_event(app_.read(7, 5, server_, browser_, "GET /x HTTP/1.1\r\nHost: a\r\n\r\n"));
  tracker_.on_event(app_.close(7, 5, server_, browser_));
  EXPECT_EQ(batch_.size(), 1u);
}

// Plaintext from a TLS library: the same conventions, with the scheme of the wire.
TEST_F(SpanBuilderTest, TlsExchangesHaveTheHttpsScheme) {
  auto tls = [](SocketEvent e) {
    e.tls = true;
    return e;
  };
  tracker_.on_event(app_.accept(1, 5, server_, browser_));
  tracker_.on_event(tls(app_.read(7, 5, server_, browser_, "GET /a HTTP/1.1\r\nHost: shop\r\n\r\n")));
  tracker_.on_event(tls(app_.write(7, 5, server_, browser_, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")));
  const SocketEndpoint https_upstream = ipv4("10.0.0.2", 443);
  for (const char* host : {"pay:443", "pay:8443"}) {
    const int fd = host[4] == '4' ? 9 : 10;
    const SocketEndpoint upstream = host[4] == '4' ? https_upstream : upstream_;
    tracker_.on_event(app_.connect(8, fd, local_, upstream));
    tracker_.on_event(tls(app_.write(8, fd, local_, upstream,
                                     std::string("GET /charge HTTP/1.1\r\nHost: ") + host + "\r\n\r\n")));
    tracker_.on_event(tls(app_.read(8, fd, local_, upstream, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")));
  }
  ASSERT_EQ(batch_.size(), 3u);
  EXPECT_EQ(str(batch_.spans()[0], "url.scheme"), "https");
  EXPECT_EQ(str(batch_.spans()[0], "url.full"), "<absent>");
  // The default port of https goes without saying; any other is in the URL.
  EXPECT_EQ(str(batch_.spans()[1], "url.scheme"), "https");
  EXPECT_EQ(str(batch_.spans()[1], "url.full"), "https://pay/charge");
  EXPECT_EQ(str(batch_.spans()[2], "url.full"), "https://pay:8443/charge");
}

TEST_F(SpanBuilderTest, NoCredentialOrQueryStringReachesTheSpan) {
  server_exchange(
      "GET /login?token=abc&password=hunter2 HTTP/1.1\r\nHost: shop\r\n"
      "Authorization: Bearer s3cret\r\nCookie: session=c00kie\r\nX-Api-Key: k3y\r\n"
      "Proxy-Authorization: Basic cHJveHk=\r\n\r\n",
      "HTTP/1.1 200 OK\r\nSet-Cookie: session=n3w\r\nContent-Length: 0\r\n\r\n");
  client_exchange("GET /api?apikey=abc HTTP/1.1\r\nHost: up\r\n"
                  "Authorization: Bearer s3cret\r\n\r\n",
                  "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  ASSERT_EQ(batch_.size(), 2u);
  for (const core::Span& s : batch_.spans()) {
    const std::string all = everything(s);
    for (const char* secret : {"s3cret", "c00kie", "k3y", "cHJveHk", "n3w", "token", "abc",
                               "hunter2", "password", "apikey", "?"}) {
      EXPECT_EQ(all.find(secret), std::string::npos) << secret << " in\n" << all;
    }
  }
}

// Java servlet containers put the session id in the path (`;jsessionid=`): it is a credential,
// and would make one operation per session.
TEST_F(SpanBuilderTest, SessionIdPathParametersAreDropped) {
  server_exchange("GET /login;jsessionid=JSECRET1 HTTP/1.1\r\nHost: shop\r\n\r\n",
                  "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  client_exchange("GET /cart;JSESSIONID=JSECRET2/items/7;v=2;PHPSESSID=PSECRET?x=1 HTTP/1.1\r\n"
                  "Host: up\r\n\r\n",
                  "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  ASSERT_EQ(batch_.size(), 2u);
  EXPECT_EQ(batch_.spans()[0].name, "GET /login");
  EXPECT_EQ(str(batch_.spans()[0], "url.path"), "/login");
  EXPECT_EQ(str(batch_.spans()[1], "url.path"), "/cart/items/7;v=2");  // other parameters stay
  EXPECT_EQ(str(batch_.spans()[1], "url.full"), "http://up:9000/cart/items/7;v=2");
  for (const core::Span& s : batch_.spans()) {
    EXPECT_EQ(everything(s).find("SECRET"), std::string::npos) << everything(s);
  }
}

TEST(WithoutSessionIdsTest, OnlySessionParametersGo) {
  core::Arena arena;
  EXPECT_EQ(without_session_ids("/a/b", arena), "/a/b");
  EXPECT_EQ(without_session_ids("/a;sid=1", arena), "/a");
  EXPECT_EQ(without_session_ids("/a;sidx=1", arena), "/a;sidx=1");
  EXPECT_EQ(without_session_ids("/a;session_id", arena), "/a");
  EXPECT_EQ(without_session_ids("/a;;b", arena), "/a;;b");
  EXPECT_EQ(without_session_ids(";jsessionid=x", arena), "");
  EXPECT_EQ(without_session_ids("/a;", arena), "/a;");
}

// agent.capture.query_string: true. The query goes to url.query and url.full, never the name
// (operations stay bounded) nor url.path; credential headers are still never read.
TEST_F(SpanBuilderTest, QueryStringIsRecordedOnlyWhenAllowed) {
  SpanBuilderOptions options;
  options.record_query_string = true;
  builder_ = SpanBuilder(MonotonicClock(kOffset), options);
  server_exchange("GET /items/42?color=red&size=9 HTTP/1.1\r\nHost: shop\r\n"
                  "Authorization: Bearer s3cret\r\n\r\n",
                  "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  client_exchange("GET /v1/find?q=shoes#frag HTTP/1.1\r\nHost: search:9000\r\n\r\n",
                  "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  client_exchange("GET /plain HTTP/1.1\r\nHost: search:9000\r\n\r\n",
                  "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  ASSERT_EQ(batch_.size(), 3u);
  const core::Span& server = batch_.spans()[0];
  EXPECT_EQ(server.name, "GET /items/{id}");
  EXPECT_EQ(str(server, "url.path"), "/items/42");
  EXPECT_EQ(str(server, "url.query"), "color=red&size=9");
  EXPECT_EQ(str(server, "url.full"), "<absent>");
  EXPECT_EQ(everything(server).find("s3cret"), std::string::npos);

  const core::Span& client = batch_.spans()[1];
  EXPECT_EQ(client.name, "GET /v1/find");
  EXPECT_EQ(str(client, "url.query"), "q=shoes");  // the fragment is not part of the query
  EXPECT_EQ(str(client, "url.full"), "http://search:9000/v1/find?q=shoes");

  const core::Span& plain = batch_.spans()[2];
  EXPECT_EQ(str(plain, "url.query"), "<absent>");
  EXPECT_EQ(str(plain, "url.full"), "http://search:9000/plain");
}

TEST_F(SpanBuilderTest, UnknownMethodIsOther) {
  server_exchange("PURGE /cache HTTP/1.1\r\nHost: a\r\n\r\n",
                  "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  const core::Span& s = only_span();
  EXPECT_EQ(s.name, "HTTP /cache");
  EXPECT_EQ(str(s, "http.request.method"), "_OTHER");
  EXPECT_EQ(str(s, "http.request.method_original"), "PURGE");
}

TEST_F(SpanBuilderTest, MalformedHostHeaderFallsBackToTheSocket) {
  server_exchange("GET / HTTP/1.1\r\nHost: a b<script>\r\n\r\n",
                  "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(str(only_span(), "server.address"), "10.0.0.1");
}

TEST_F(SpanBuilderTest, KernelTimestampsBecomeWallClock) {
  const uint64_t read_exit = app_.now() + 20'000 + 1'000;  // accept, then the read's exit
  server_exchange("GET / HTTP/1.1\r\nHost: a\r\n\r\n",
                  "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  const core::Span& s = only_span();
  EXPECT_EQ(s.start_time_unix_nano, read_exit + kOffset);
  EXPECT_EQ(s.end_time_unix_nano, read_exit + 9'000 + kOffset);  // the write's entry
}

TEST(MonotonicClockTest, MeasuredOffsetMapsNowToNow) {
  const MonotonicClock clock;
  const uint64_t wall = core::now_unix_nano();
  const uint64_t converted = clock.to_unix_ns(MonotonicClock::monotonic_now_ns());
  // Same instant, two clocks: equal up to the time between the two reads (bounded loosely, so
  // that a slow machine cannot fail it; a wrong clock is off by the uptime or the epoch).
  const uint64_t diff = converted > wall ? converted - wall : wall - converted;
  EXPECT_LT(diff, 5'000'000'000u);
}

TEST(ProcessResourceTest, FallbackNamesTheProcessByItsComm) {
  namespace fs = std::filesystem;
  const fs::path root = fs::temp_directory_path() / ("hodos-proc-" + std::to_string(::getpid()));
  fs::create_directories(root / "4242");
  std::ofstream(root / "4242" / "comm") << "python3\n";
  const ProcessResource r = fallback_process_resource(4242, "host-a", root.string());
  core::SpanBatch batch;
  const core::Resource* res = make_resource(batch, r);
  const core::AnyValue* name = core::find_attribute(res->attributes, "service.name");
  ASSERT_NE(name, nullptr);
  EXPECT_EQ(name->str, "python3");
  EXPECT_EQ(core::find_attribute(res->attributes, "process.pid")->int_value, 4242);
  EXPECT_EQ(core::find_attribute(res->attributes, "host.name")->str, "host-a");
  EXPECT_EQ(core::find_attribute(res->attributes, "telemetry.sdk.name")->str, "hodos");
  // A process already gone still gets a resource.
  const ProcessResource gone = fallback_process_resource(4343, "host-a", root.string());
  EXPECT_EQ(std::get<std::string>(gone.front().value), "unknown_service");
  fs::remove_all(root);
}

TEST(SpanNameTest, TemplatesIdsAndDropsTheQuery) {
  EXPECT_EQ(http_span_name("GET", "/users/123/orders/9f8e7d6c5b4a39281706f5e4d3c2b1a0"),
            "GET /users/{id}/orders/{id}");
  EXPECT_EQ(http_span_name("GET", ""), "GET");
}

// A database call the real Redis matcher found: a CLIENT span with the database conventions.
TEST_F(SpanBuilderTest, DatabaseCallsFollowTheDatabaseConventions) {
  const SocketEndpoint redis = ipv4("10.0.0.3", 6379);
  tracker_.on_event(app_.connect(7, 9, local_, redis));
  tracker_.on_event(app_.write(7, 9, local_, redis, "*3\r\n$3\r\nSET\r\n$4\r\nuser\r\n$6\r\nsecret\r\n"));
  tracker_.on_event(app_.read(7, 9, local_, redis, "+OK\r\n"));
  tracker_.on_event(app_.write(7, 9, local_, redis, "*3\r\n$5\r\nLPUSH\r\n$4\r\nuser\r\n$1\r\nx\r\n"));
  tracker_.on_event(app_.read(7, 9, local_, redis, "-WRONGTYPE Operation against a key holding "
                                                   "the wrong kind of value\r\n"));
  ASSERT_EQ(batch_.size(), 2u);
  const core::Span& set = batch_.spans().at(0);
  EXPECT_EQ(set.name, "SET");
  EXPECT_EQ(set.kind, core::SpanKind::kClient);
  EXPECT_EQ(str(set, "db.system.name"), "redis");
  EXPECT_EQ(str(set, "db.operation.name"), "SET");
  EXPECT_EQ(str(set, "db.query.text"), "SET ? ?");
  EXPECT_EQ(str(set, "db.namespace"), "0");
  EXPECT_EQ(str(set, "server.address"), "10.0.0.3");
  EXPECT_EQ(integer(set, "server.port"), 6379);
  EXPECT_EQ(integer(set, "network.local.port"), 40000);
  EXPECT_EQ(str(set, "db.response.status_code"), "<absent>");
  EXPECT_NE(set.status.code, core::StatusCode::kError);
  EXPECT_LE(set.start_time_unix_nano, set.end_time_unix_nano);
  EXPECT_EQ(everything(set).find("secret"), std::string::npos) << everything(set);

  const core::Span& lpush = batch_.spans().at(1);
  EXPECT_EQ(lpush.status.code, core::StatusCode::kError);
  EXPECT_EQ(str(lpush, "db.response.status_code"), "WRONGTYPE");
  EXPECT_EQ(str(lpush, "error.type"), "WRONGTYPE");
  EXPECT_EQ(everything(lpush).find("wrong kind"), std::string::npos) << "the message stays out";
}

// Over a Unix socket (a database's local socket, an HTTP server behind a path) the path is the
// peer and, unless the request named a host, the server; there are no ports and no local end, so
// nothing for the stitch processor to pair by.
TEST_F(SpanBuilderTest, UnixSocketCallsNameThePathAndNoPorts) {
  const SocketEndpoint unnamed = testing::unix_socket();  // as the kernel's data events say
  tracker_.on_event(app_.connect(7, 9, unnamed, testing::unix_socket("/run/redis/redis.sock")));
  tracker_.on_event(app_.write(7, 9, unnamed, unnamed, "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"));
  tracker_.on_event(app_.read(7, 9, unnamed, unnamed, "$1\r\nv\r\n"));
  tracker_.on_event(app_.connect(7, 10, unnamed, testing::unix_socket("/run/app.sock")));
  tracker_.on_event(app_.write(7, 10, unnamed, unnamed,
                               "GET /v1/items/7 HTTP/1.1\r\nHost: localhost\r\n\r\n"));
  tracker_.on_event(app_.read(7, 10, unnamed, unnamed, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
  tracker_.on_event(app_.connect(7, 11, unnamed, testing::unix_socket("@hodos-abstract")));
  tracker_.on_event(app_.write(7, 11, unnamed, unnamed, "GET /ping HTTP/1.0\r\n\r\n"));
  tracker_.on_event(app_.read(7, 11, unnamed, unnamed, "HTTP/1.0 204 No Content\r\n\r\n"));
  ASSERT_EQ(batch_.size(), 3u);

  const core::Span& get = batch_.spans().at(0);
  EXPECT_EQ(str(get, "db.system.name"), "redis");
  EXPECT_EQ(str(get, "server.address"), "/run/redis/redis.sock");
  EXPECT_EQ(str(get, "network.peer.address"), "/run/redis/redis.sock");
  EXPECT_EQ(str(get, "network.transport"), "unix");
  for (std::string_view absent : {"server.port", "network.peer.port", "network.local.address",
                                  "network.local.port", "client.address"}) {
    EXPECT_EQ(str(get, absent), "<absent>") << absent;
  }

  const core::Span& http = batch_.spans().at(1);
  EXPECT_EQ(http.name, "GET /v1/items/{id}");
  EXPECT_EQ(str(http, "server.address"), "localhost");
  EXPECT_EQ(str(http, "url.full"), "http://localhost/v1/items/7");
  EXPECT_EQ(str(http, "network.peer.address"), "/run/app.sock");
  EXPECT_EQ(str(http, "network.transport"), "unix");
  EXPECT_EQ(str(http, "server.port"), "<absent>");

  // No Host: the server is the socket; url.full still names a host.
  const core::Span& ping = batch_.spans().at(2);
  EXPECT_EQ(str(ping, "server.address"), "@hodos-abstract");
  EXPECT_EQ(str(ping, "url.full"), "http://localhost/ping");
  EXPECT_EQ(str(ping, "network.local.port"), "<absent>");
}

// The server's end of a Unix socket: its span names the path it listens on, and carries, as the
// client's span does, the client socket's inode, which is how the stitch stage pairs them.
TEST_F(SpanBuilderTest, BothEndsOfAUnixSocketNameThePathAndTheConnection) {
  const SocketEndpoint unnamed = testing::unix_socket();
  SocketEvent connected = app_.connect(7, 10, unnamed, testing::unix_socket("/run/app.sock"));
  connected.unix_connection = 4242;
  tracker_.on_event(connected);
  testing::EventSource server(9);
  SocketEvent accepted = server.accept(3, 6, testing::unix_socket("/run/app.sock"), unnamed);
  accepted.unix_connection = 4242;
  accepted.unix_peer_followed = true;
  tracker_.on_event(accepted);
  tracker_.on_event(app_.write(7, 10, unnamed, unnamed, "GET /items HTTP/1.1\r\nHost: app\r\n\r\n"));
  tracker_.on_event(server.read(3, 6, unnamed, unnamed, "GET /items HTTP/1.1\r\nHost: app\r\n\r\n"));
  tracker_.on_event(server.write(3, 6, unnamed, unnamed, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
  tracker_.on_event(app_.read(7, 10, unnamed, unnamed, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
  ASSERT_EQ(batch_.size(), 2u);

  const core::Span& served = batch_.spans().at(0);
  EXPECT_EQ(served.kind, core::SpanKind::kServer);
  EXPECT_EQ(str(served, "server.address"), "app");
  EXPECT_EQ(str(served, "network.transport"), "unix");
  EXPECT_EQ(served.unix_connection, 4242u);
  EXPECT_EQ(served.local_caller, 1) << "a traced process holds the client's end";
  for (std::string_view absent : {"server.port", "client.address", "network.peer.address",
                                  "network.peer.port", "network.local.port"}) {
    EXPECT_EQ(str(served, absent), "<absent>") << absent;
  }
  const core::Span& call = batch_.spans().at(1);
  EXPECT_EQ(call.kind, core::SpanKind::kClient);
  EXPECT_EQ(call.unix_connection, 4242u);
  EXPECT_EQ(str(call, "network.peer.address"), "/run/app.sock");

  // No Host: the path names the server. A client no traced process holds gives no caller hint.
  SocketEvent other = server.accept(3, 7, testing::unix_socket("/run/app.sock"), unnamed);
  other.unix_connection = 5151;
  tracker_.on_event(other);
  tracker_.on_event(server.read(3, 7, unnamed, unnamed, "GET /ping HTTP/1.0\r\n\r\n"));
  tracker_.on_event(server.write(3, 7, unnamed, unnamed, "HTTP/1.0 204 No Content\r\n\r\n"));
  ASSERT_EQ(batch_.size(), 3u);
  const core::Span& ping = batch_.spans().at(2);
  EXPECT_EQ(str(ping, "server.address"), "/run/app.sock");
  EXPECT_EQ(ping.local_caller, 2);
}

TEST(DbSpanNameTest, OperationAndCollectionAsFarAsKnown) {
  protocols::DbCall call;
  call.system = "postgresql";
  EXPECT_EQ(db_span_name(call), "postgresql");
  call.operation = "SELECT";
  EXPECT_EQ(db_span_name(call), "SELECT");
  call.collection = "public.users";
  EXPECT_EQ(db_span_name(call), "SELECT public.users");
}

}  // namespace
}  // namespace hodos::agent
