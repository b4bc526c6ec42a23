// What the HTTP receivers (otlp's http protocol, zipkin) share: their confighttp-shaped settings
// (endpoint, max_request_body_size, cors), CORS answers, Content-Type/Content-Encoding handling,
// the retryable-error answer, and rate-limited logging of bad requests.
#pragma once

#include <spdlog/logger.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "net/http_server.h"
#include "pipeline/config_node.h"
#include "pipeline/status.h"

namespace hodos::receivers {

struct CorsSettings {
  std::vector<std::string> allowed_origins;  // exact origins, "*", or patterns with '*'
  std::vector<std::string> allowed_headers;  // on top of Accept, Content-Type, ...; "*" = any
  int64_t max_age_seconds = 0;               // 0: no Access-Control-Max-Age
  bool enabled() const { return !allowed_origins.empty(); }
};

struct HttpReceiverSettings {
  std::string endpoint;
  size_t max_request_body_size = 20u << 20;
  CorsSettings cors;
};

// Reads `endpoint`, `max_request_body_size` and `cors` from `config` (the Collector's
// confighttp.ServerConfig keys). `endpoint` is validated as host:port.
HttpReceiverSettings read_http_settings(pipeline::ConfigNode& config,
                                        const std::string& default_endpoint);
// Fails at `key` unless `endpoint` is host:port, [v6]:port or :port.
void validate_endpoint(const pipeline::ConfigNode& config, std::string_view key,
                       const std::string& endpoint);

// Registers OPTIONS `path` answering CORS preflights, when CORS is enabled.
void add_cors_preflight(net::HttpServer& server, const std::string& path,
                        const CorsSettings& cors);
// Adds Access-Control-Allow-Origin (and Vary) to an actual response when the request's Origin is
// allowed.
void add_cors_headers(const net::HttpRequest& request, const CorsSettings& cors,
                      net::HttpResponse& response);

// The media type of the request's Content-Type, lowercased, without parameters ("charset=...").
std::string media_type(const net::HttpRequest& request);

struct BodyError {
  int http_status;  // 400, 413 or 415
  std::string message;
};
// Undoes Content-Encoding (gzip, deflate, identity) in place. The decompressed size is limited
// to `max_bytes` (413). An unknown encoding is a 415 (RFC 9110 15.5.16; the Collector answers
// 400) and comes with an Accept-Encoding header to add to the answer (see accept_encoding()).
std::optional<BodyError> decode_content_encoding(net::HttpRequest& request, size_t max_bytes);
inline constexpr const char* kAcceptEncoding = "gzip, deflate";

// Retry-After seconds for a retryable status: its hint rounded up, at least 1.
int64_t retry_after_seconds(const pipeline::Status& status);

// Lets one log line through per interval; the others are counted so the next line can say how
// many similar events it stands for. Lock-free: called from every request thread.
class LogLimiter {
 public:
  explicit LogLimiter(std::chrono::seconds interval = std::chrono::seconds(10))
      : interval_ns_(std::chrono::duration_cast<std::chrono::nanoseconds>(interval).count()) {}
  // True when this event should be logged; `*suppressed` is then the number held back since.
  bool allow(uint64_t* suppressed);

 private:
  int64_t interval_ns_;
  std::atomic<int64_t> next_ns_{0};
  std::atomic<uint64_t> suppressed_{0};
};

// Logs a refused request at warn at most once per interval, at debug otherwise.
void log_bad_request(spdlog::logger& logger, LogLimiter& limiter, const std::string& what);

}  // namespace hodos::receivers
