#include "net/http_server.h"

#include <gtest/gtest.h>

#include <atomic>
#include <ctime>
#include <future>
#include <string>
#include <thread>

#include "net/http_client.h"
#include "raw_http.h"

namespace hodos::net {
namespace {

using testing::raw_exchange;

std::string url(const HttpServer& server, const std::string& target) {
  return "http://127.0.0.1:" + std::to_string(server.port()) + target;
}

HttpClientResponse get(HttpClient& client, const std::string& u, std::string method = "GET",
                       std::string body = "") {
  HttpClientRequest req;
  req.method = std::move(method);
  req.url = u;
  req.body = std::move(body);
  return client.send(req);
}

HttpHandler reply(std::string text) {
  return [text](HttpRequest&) { return HttpResponse::text(200, text); };
}

TEST(SplitHostPortTest, AcceptsTheCollectorForms) {
  using P = std::pair<std::string, uint16_t>;
  EXPECT_EQ(split_host_port("127.0.0.1:4318"), P("127.0.0.1", 4318));
  EXPECT_EQ(split_host_port("[::1]:4317"), P("::1", 4317));
  EXPECT_EQ(split_host_port(":4317"), P("", 4317));
  EXPECT_EQ(split_host_port("localhost:4317"), P("localhost", 4317));
  EXPECT_EQ(split_host_port("0.0.0.0:0"), P("0.0.0.0", 0));
  EXPECT_EQ(split_host_port("host:65535"), P("host", 65535));
}

TEST(SplitHostPortTest, RejectsMalformed) {
  for (const char* bad : {"", "4317", "host", "host:", "host:65536", "host:12x", "::1:4317",
                          "[::1]", "[::1]4317", "[]:80", "host:-1", "host:123456"}) {
    EXPECT_FALSE(split_host_port(bad).has_value()) << bad;
  }
}

TEST(HttpServerTest, RoutesByLongestPatternAndMethod) {
  HttpServer server({});
  server.route("GET", "/a", reply("get-a"));
  server.route("POST", "/a", reply("post-a"));
  server.route("GET", "/api/*", reply("api"));
  server.route("GET", "/api/v2/*", reply("api-v2"));
  server.route("", "/any", reply("any"));
  ASSERT_EQ(server.start(), std::nullopt);
  HttpClient client;

  auto r = get(client, url(server, "/a"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "get-a");
  r = get(client, url(server, "/a"), "POST", "x");
  EXPECT_EQ(r.body, "post-a");
  EXPECT_EQ(get(client, url(server, "/api/v2/spans")).body, "api-v2");
  EXPECT_EQ(get(client, url(server, "/api/v1/spans")).body, "api");
  EXPECT_EQ(get(client, url(server, "/api/")).body, "api");
  EXPECT_EQ(get(client, url(server, "/any"), "PUT", "x").body, "any");
  EXPECT_EQ(get(client, url(server, "/any"), "DELETE").body, "any");

  r = get(client, url(server, "/a"), "DELETE");
  EXPECT_EQ(r.status, 405);
  EXPECT_NE(r.body.find("GET, POST"), std::string::npos) << r.body;
  r = get(client, url(server, "/api/x"), "POST", "x");
  EXPECT_EQ(r.status, 405);
  r = get(client, url(server, "/nothing"));
  EXPECT_EQ(r.status, 404);
  EXPECT_NE(r.body.find("/nothing"), std::string::npos);
  EXPECT_EQ(get(client, url(server, "/ab")).status, 404);  // exact routes do not prefix-match
  server.stop();
}

TEST(HttpServerTest, FallbackTakesUnmatchedPaths) {
  HttpServer server({});
  server.route("GET", "/api/*", reply("api"));
  server.set_fallback(reply("spa"));
  ASSERT_EQ(server.start(), std::nullopt);
  HttpClient client;
  EXPECT_EQ(get(client, url(server, "/traces/abc")).body, "spa");
  EXPECT_EQ(get(client, url(server, "/api/x")).body, "api");
}

TEST(HttpServerTest, ParsesRequestAndPercentDecodes) {
  HttpServer server({});
  std::promise<HttpRequest> seen;
  server.route("POST", "/p ath/*", [&](HttpRequest& req) {
    seen.set_value(req);
    return HttpResponse::json(201, "{}");
  });
  ASSERT_EQ(server.start(), std::nullopt);
  HttpClient client;
  HttpClientRequest req;
  req.url = url(server, "/p%20ath/x%2Fy?q=a%2Fb&tag=x%3Ay&tag=z+w&empty&bad=%zz");
  req.headers = {{"X-Custom-Header", "Value"}, {"Content-Type", "application/json"}};
  req.body = "payload";
  auto r = client.send(req);
  EXPECT_EQ(r.status, 201);
  HttpRequest got = seen.get_future().get();
  EXPECT_EQ(got.method, "POST");
  EXPECT_EQ(got.path, "/p ath/x/y");
  EXPECT_EQ(got.target, "/p%20ath/x%2Fy?q=a%2Fb&tag=x%3Ay&tag=z+w&empty&bad=%zz");
  EXPECT_EQ(got.query, "q=a%2Fb&tag=x%3Ay&tag=z+w&empty&bad=%zz");
  EXPECT_EQ(got.query_param("q"), "a/b");
  EXPECT_EQ(got.query_param("empty"), "");
  EXPECT_EQ(got.query_param("bad"), "%zz");
  EXPECT_EQ(got.query_param("missing"), std::nullopt);
  EXPECT_EQ(got.query_params("tag"), (std::vector<std::string>{"x:y", "z w"}));
  ASSERT_NE(got.header("x-custom-header"), nullptr);  // names are lowercased
  EXPECT_EQ(*got.header("x-custom-header"), "Value");
  EXPECT_EQ(got.header("X-Custom-Header"), nullptr);
  EXPECT_EQ(got.body, "payload");
  EXPECT_TRUE(got.remote_address.starts_with("127.0.0.1:")) << got.remote_address;
}

TEST(HttpServerTest, KeepAliveReusesTheConnection) {
  HttpServer server({});
  server.route("GET", "/who", [](HttpRequest& req) {
    return HttpResponse::text(200, req.remote_address);
  });
  ASSERT_EQ(server.start(), std::nullopt);
  HttpClient client;
  auto first = get(client, url(server, "/who"));
  auto second = get(client, url(server, "/who"));
  auto third = get(client, url(server, "/who"));
  ASSERT_EQ(first.status, 200);
  EXPECT_EQ(first.body, second.body);  // same client port: same connection
  EXPECT_EQ(first.body, third.body);
  HttpClient other;
  EXPECT_NE(get(other, url(server, "/who")).body, first.body);
}

TEST(HttpServerTest, OversizedBodyGets413AndServerKeepsServing) {
  HttpServerOptions opts;
  opts.max_body_bytes = 1000;
  HttpServer server(opts);
  std::atomic<int> calls{0};
  server.route("POST", "/in", [&](HttpRequest& req) {
    ++calls;
    return HttpResponse::text(200, std::to_string(req.body.size()));
  });
  ASSERT_EQ(server.start(), std::nullopt);
  HttpClient client;
  auto r = get(client, url(server, "/in"), "POST", std::string(1000, 'x'));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "1000");
  r = get(client, url(server, "/in"), "POST", std::string(1001, 'x'));
  EXPECT_EQ(r.status, 413);
  EXPECT_NE(r.body.find("1000 bytes"), std::string::npos) << r.body;
  // Far larger than the limit: refused from Content-Length without reading it all.
  r = get(client, url(server, "/in"), "POST", std::string(8u << 20, 'x'));
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(calls.load(), 1);
  r = get(client, url(server, "/in"), "POST", "ok");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "2");
}

TEST(HttpServerTest, ChunkedBodyIsLimitedWhileReading) {
  HttpServerOptions opts;
  opts.max_body_bytes = 100;
  HttpServer server(opts);
  server.route("POST", "/in", [](HttpRequest& req) {
    return HttpResponse::text(200, "got " + std::to_string(req.body.size()));
  });
  ASSERT_EQ(server.start(), std::nullopt);
  std::string small =
      "POST /in HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
      "32\r\n" + std::string(50, 'a') + "\r\n0\r\n\r\n";
  std::string out = raw_exchange(server.port(), small);
  EXPECT_TRUE(out.starts_with("HTTP/1.1 200")) << out;
  EXPECT_NE(out.find("got 50"), std::string::npos);

  std::string big = "POST /in HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 5; ++i) big += "32\r\n" + std::string(50, 'a') + "\r\n";
  big += "0\r\n\r\n";
  out = raw_exchange(server.port(), big);
  EXPECT_TRUE(out.starts_with("HTTP/1.1 413")) << out;
}

TEST(HttpServerTest, MalformedRequestGets400) {
  HttpServer server({});
  server.route("GET", "/", reply("root"));
  ASSERT_EQ(server.start(), std::nullopt);
  std::string out = raw_exchange(server.port(), "GARBAGE\x01 / HTTP/1.1\r\n\r\n");
  EXPECT_TRUE(out.starts_with("HTTP/1.1 400")) << out;
  HttpClient client;
  EXPECT_EQ(get(client, url(server, "/")).status, 200);
}

TEST(HttpServerTest, HandlerExceptionBecomes500) {
  HttpServer server({});
  server.route("GET", "/boom", [](HttpRequest&) -> HttpResponse {
    throw std::runtime_error("kaboom");
  });
  server.route("GET", "/ok", reply("fine"));
  ASSERT_EQ(server.start(), std::nullopt);
  HttpClient client;
  auto r = get(client, url(server, "/boom"));
  EXPECT_EQ(r.status, 500);
  EXPECT_NE(r.body.find("kaboom"), std::string::npos);
  EXPECT_EQ(get(client, url(server, "/ok")).body, "fine");
}

TEST(HttpServerTest, ResponseHeadersAndRetryAfterReachTheClient) {
  HttpServer server({});
  server.route("GET", "/busy", [](HttpRequest&) {
    HttpResponse r = HttpResponse::text(503, "busy");
    r.headers.emplace_back("Retry-After", "7");
    return r;
  });
  server.route("GET", "/date", [](HttpRequest&) {
    char buf[64];
    time_t t = std::time(nullptr) + 120;
    tm g{};
    gmtime_r(&t, &g);
    strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &g);
    HttpResponse r = HttpResponse::text(429, "slow down");
    r.headers.emplace_back("Retry-After", buf);
    return r;
  });
  server.route("GET", "/none", reply("x"));
  ASSERT_EQ(server.start(), std::nullopt);
  HttpClient client;
  auto r = get(client, url(server, "/busy"));
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.retry_after, std::chrono::milliseconds(7000));
  r = get(client, url(server, "/date"));
  EXPECT_EQ(r.status, 429);
  ASSERT_TRUE(r.retry_after.has_value());
  EXPECT_GT(r.retry_after->count(), 60'000);
  EXPECT_LE(r.retry_after->count(), 120'000);
  EXPECT_EQ(get(client, url(server, "/none")).retry_after, std::nullopt);
}

TEST(HttpServerTest, BindErrorIsOneLine) {
  HttpServer first({});
  ASSERT_EQ(first.start(), std::nullopt);
  std::string address = "127.0.0.1:" + std::to_string(first.port());
  HttpServerOptions opts;
  opts.address = address;
  HttpServer second(opts);
  auto err = second.start();
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(*err, address + ": address already in use");

  opts.address = "no-port-here";
  HttpServer third(opts);
  err = third.start();
  ASSERT_TRUE(err.has_value());
  EXPECT_TRUE(err->starts_with("no-port-here: not a valid address")) << *err;
}

TEST(HttpServerTest, BindsAllInterfacesAndNames) {
  for (const char* address : {":0", "localhost:0", "[::1]:0"}) {
    HttpServerOptions opts;
    opts.address = address;
    HttpServer server(opts);
    server.route("GET", "/", reply("hi"));
    auto err = server.start();
    if (err && std::string(address) == "[::1]:0" &&
        err->find("cannot assign") != std::string::npos) {
      continue;  // no IPv6 loopback in this sandbox
    }
    ASSERT_EQ(err, std::nullopt) << address;
    EXPECT_NE(server.port(), 0);
    if (std::string(address) != "[::1]:0") {
      HttpClient client;
      EXPECT_EQ(get(client, url(server, "/")).body, "hi") << address;
    }
  }
}

TEST(HttpServerTest, StopFinishesInFlightRequest) {
  HttpServer server({});
  std::promise<void> entered;
  std::promise<void> release;
  server.route("GET", "/slow", [&](HttpRequest&) {
    entered.set_value();
    release.get_future().wait();
    return HttpResponse::text(200, "done");
  });
  ASSERT_EQ(server.start(), std::nullopt);
  std::string u = url(server, "/slow");
  auto response = std::async(std::launch::async, [u] {
    HttpClient client;
    return get(client, u);
  });
  entered.get_future().wait();
  auto stopped = std::async(std::launch::async, [&] { server.stop(); });
  release.set_value();
  stopped.get();
  auto r = response.get();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "done");
  // Stopped means the port no longer answers.
  HttpClient client;
  EXPECT_EQ(get(client, u).status, 0);
  server.stop();  // idempotent
}

}  // namespace
}  // namespace hodos::net
