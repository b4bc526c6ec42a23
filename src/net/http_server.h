// A small HTTP/1.1 server (Boost.Beast behind this interface, so only one file includes Beast):
// receivers, the metrics endpoint and the API register handlers on it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hodos::net {

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // as received: "/v1/traces?x=1"
  std::string path;    // target without the query, percent-decoded
  std::string query;   // raw query string without '?'
  std::vector<std::pair<std::string, std::string>> headers;  // names lowercased
  std::string body;    // as received (Content-Encoding is the handler's business)
  std::string remote_address;

  const std::string* header(std::string_view lowercase_name) const;
  // Percent-decoded value of a query parameter; nullopt when absent.
  std::optional<std::string> query_param(std::string_view name) const;
  // Every value of a repeated query parameter (Jaeger's `tag=k:v&tag=...`).
  std::vector<std::string> query_params(std::string_view name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;

  static HttpResponse text(int status, std::string body);
  static HttpResponse json(int status, std::string body);
};

using HttpHandler = std::function<HttpResponse(HttpRequest&)>;

// Serve HTTPS instead of HTTP. PEM text, not paths: the owner reads and checks the files so that
// its config errors can name them.
struct HttpServerTls {
  std::string cert_pem;       // certificate chain, leaf first
  std::string key_pem;        // its private key
  std::string client_ca_pem;  // when set, clients must present a certificate signed by it (mTLS)
  bool tls13_only = false;    // otherwise TLS 1.2 and 1.3
};

struct HttpServerOptions {
  std::string address = "127.0.0.1:0";  // host:port, [v6]:port; ":port" means all interfaces
  size_t max_body_bytes = 20u << 20;     // larger bodies get 413 before the handler runs
  int threads = 2;
  std::string name = "http";  // for log lines
  std::optional<HttpServerTls> tls;
  // Called when the server refuses a request before any handler runs (413 body too large,
  // 431 headers too large, 400 malformed HTTP), so that the owner can count it.
  std::function<void(int status, const std::string& remote_address)> on_refused;
};

class HttpServer {
 public:
  explicit HttpServer(HttpServerOptions options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // `pattern` is an exact path, or a prefix when it ends with '*'. Empty `method` matches any.
  // The longest matching pattern wins; unmatched paths get 404, wrong methods 405.
  // Register routes before start().
  void route(std::string method, std::string pattern, HttpHandler handler);
  // Handles every request no route matched (the UI's SPA fallback).
  void set_fallback(HttpHandler handler);

  // Binds and starts serving. On failure returns a one-line reason, e.g.
  // "127.0.0.1:4318: address already in use".
  std::optional<std::string> start();
  // Stops accepting, finishes in-flight requests, joins threads. Idempotent.
  void stop();
  uint16_t port() const;  // the bound port, valid after start()

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Splits "host:port" / "[v6]:port" / ":port"; nullopt when malformed.
std::optional<std::pair<std::string, uint16_t>> split_host_port(std::string_view address);

}  // namespace hodos::net
