#include "exporters/http_common.h"

#include <fmt/format.h>

#include "net/compression.h"

#include <cctype>

namespace hodos::exporters {

net::TlsSettings read_tls_settings(pipeline::ConfigNode& config) {
  pipeline::ConfigNode tls = config.child("tls");
  net::TlsSettings s;
  s.insecure = tls.get_bool("insecure", false);
  s.insecure_skip_verify = tls.get_bool("insecure_skip_verify", false);
  s.ca_file = tls.get_string("ca_file", "");
  s.cert_file = tls.get_string("cert_file", "");
  s.key_file = tls.get_string("key_file", "");
  if (s.cert_file.empty() != s.key_file.empty()) {
    tls.fail(s.cert_file.empty() ? "cert_file" : "key_file",
             "cert_file and key_file go together (client certificate and its key)");
  }
  tls.reject_unknown_keys();
  return s;
}

void require_http_url(const pipeline::ConfigNode& config, std::string_view key,
                      const std::string& url) {
  if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0) {
    config.fail(key, fmt::format("'{}' must start with http:// or https://", url));
  }
}

bool read_gzip(pipeline::ConfigNode& config, bool fallback) {
  std::string c = config.get_string("compression", fallback ? "gzip" : "none");
  if (c == "gzip") return true;
  if (c == "none" || c.empty()) return false;
  config.fail("compression", fmt::format("'{}' is not supported; use gzip or none", c));
}

HttpClientPool::Lease HttpClientPool::lease() {
  std::unique_ptr<net::HttpClient> client;
  {
    std::lock_guard lock(mu_);
    if (!idle_.empty()) {
      client = std::move(idle_.back());
      idle_.pop_back();
    }
  }
  if (!client) client = std::make_unique<net::HttpClient>();
  return Lease(*this, std::move(client));
}

void HttpClientPool::give_back(std::unique_ptr<net::HttpClient> client) {
  if (!client) return;
  std::lock_guard lock(mu_);
  idle_.push_back(std::move(client));
}

void HttpClientPool::clear() {
  std::lock_guard lock(mu_);
  idle_.clear();
}

namespace {
// A short, printable excerpt of an error body for the log line.
std::string excerpt(const std::string& body) {
  constexpr size_t kMax = 200;
  std::string out;
  for (char c : body.substr(0, kMax)) {
    out.push_back(std::isprint(static_cast<unsigned char>(c)) ? c : ' ');
  }
  if (body.size() > kMax) out += "...";
  return out;
}
}  // namespace

pipeline::Status status_from_http(const net::HttpClientResponse& response,
                                  std::string_view destination) {
  const int code = response.status;
  if (code >= 200 && code < 300) return pipeline::Status::ok();
  if (code == 0) {
    return pipeline::Status::retryable(fmt::format(
        "{}: {}", destination, response.error.empty() ? "no response" : response.error));
  }
  std::string message = fmt::format("{}: HTTP {}", destination, code);
  if (!response.body.empty()) message += ": " + excerpt(response.body);
  if (code == 429 || code == 502 || code == 503 || code == 504) {
    return pipeline::Status::retryable(std::move(message),
                                       response.retry_after.value_or(std::chrono::milliseconds{0}));
  }
  return pipeline::Status::permanent(std::move(message));
}

net::HttpClientResponse post_to(HttpClientPool& pool, const HttpDestination& destination,
                                std::string body, std::string_view content_type,
                                std::chrono::milliseconds timeout) {
  net::HttpClientRequest req;
  req.url = destination.url;
  req.tls = destination.tls;
  req.timeout = timeout;
  req.headers.reserve(destination.headers.size() + 3);
  req.headers.emplace_back("Content-Type", std::string(content_type));
  if (destination.gzip) {
    req.body = net::gzip_compress(body);
    req.headers.emplace_back("Content-Encoding", "gzip");
  } else {
    req.body = std::move(body);
  }
  req.headers.emplace_back("User-Agent", "hodos");
  for (const auto& h : destination.headers) req.headers.push_back(h);
  auto client = pool.lease();
  return client->send(req);
}

}  // namespace hodos::exporters
