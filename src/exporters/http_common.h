// What the HTTP-based exporters (otlphttp, zipkin) share: TLS and header settings read from
// config, a pool of HttpClients for the helper's consumer threads, and the Collector's mapping
// of HTTP answers to permanent or retryable errors.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "net/http_client.h"
#include "pipeline/config_node.h"
#include "pipeline/status.h"

namespace hodos::exporters {

// Reads `tls: {insecure, insecure_skip_verify, ca_file, cert_file, key_file}`.
net::TlsSettings read_tls_settings(pipeline::ConfigNode& config);

// Fails unless `url` (read from `key`) starts with http:// or https://.
void require_http_url(const pipeline::ConfigNode& config, std::string_view key,
                      const std::string& url);

// Reads `compression: gzip|none` (also accepts "" for none); true for gzip.
bool read_gzip(pipeline::ConfigNode& config, bool fallback);

// HttpClient is not thread-safe and keeps its connection alive between requests, so each
// concurrent sender leases one; at most as many exist as requests were ever in flight at once.
class HttpClientPool {
 public:
  class Lease {
   public:
    Lease(HttpClientPool& pool, std::unique_ptr<net::HttpClient> client)
        : pool_(pool), client_(std::move(client)) {}
    ~Lease() { pool_.give_back(std::move(client_)); }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    net::HttpClient& operator*() { return *client_; }
    net::HttpClient* operator->() { return client_.get(); }

   private:
    HttpClientPool& pool_;
    std::unique_ptr<net::HttpClient> client_;
  };

  Lease lease();
  void clear();

 private:
  void give_back(std::unique_ptr<net::HttpClient> client);

  std::mutex mu_;
  std::vector<std::unique_ptr<net::HttpClient>> idle_;
};

// Where an HTTP exporter posts to, as read from its config.
struct HttpDestination {
  std::string url;
  bool gzip = false;
  std::vector<std::pair<std::string, std::string>> headers;
  net::TlsSettings tls;
};

// POSTs `body` to the destination with a client leased from `pool`, gzip-compressed when the
// destination asks for it, with our User-Agent and the destination's own headers.
net::HttpClientResponse post_to(HttpClientPool& pool, const HttpDestination& destination,
                                std::string body, std::string_view content_type,
                                std::chrono::milliseconds timeout);

// 2xx: ok. Transport errors and 429/502/503/504: retryable with the response's Retry-After.
// Any other status (400, 401, 404, 413, 500...): permanent, as in the Collector's exporters.
pipeline::Status status_from_http(const net::HttpClientResponse& response,
                                  std::string_view destination);

}  // namespace hodos::exporters
