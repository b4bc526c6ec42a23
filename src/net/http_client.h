// Outgoing HTTP (libcurl behind this interface): exporters' requests, with TLS from the system
// CAs or a CA file.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace hodos::net {

struct TlsSettings {
  bool insecure = false;              // plain http:// allowed (always true for http:// URLs)
  bool insecure_skip_verify = false;  // accept any certificate (tests only)
  std::string ca_file;                // extra CA bundle; empty = system CAs
  std::string cert_file;              // client certificate (mTLS)
  std::string key_file;
};

// AWS Signature V4, computed by libcurl (CURLOPT_AWS_SIGV4) over the request as it is sent.
struct AwsSigV4 {
  std::string provider;  // "aws:amz:<region>:<service>", e.g. "aws:amz:us-east-1:s3"
  std::string access_key;
  std::string secret_key;
};

struct HttpClientRequest {
  std::string method = "POST";
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::chrono::milliseconds timeout{10'000};
  TlsSettings tls;
  std::optional<AwsSigV4> aws_sigv4;  // sign the request (the s3 exporter)
};

struct HttpClientResponse {
  int status = 0;     // 0 when the request never got an answer (see error)
  std::string error;  // transport error (connection refused, TLS, timeout)
  std::string body;
  std::optional<std::chrono::milliseconds> retry_after;  // parsed Retry-After header
};

// One connection-reusing client; not thread-safe (one per exporter worker).
class HttpClient {
 public:
  HttpClient();
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  HttpClientResponse send(const HttpClientRequest& request);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hodos::net
