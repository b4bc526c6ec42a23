#include "receivers/receiver_http.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "net/compression.h"

namespace hodos::receivers {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// '*' matches any run of characters ("https://*.example.com"), as rs/cors does for the Collector.
bool glob_match(std::string_view pattern, std::string_view text) {
  size_t star = pattern.find('*');
  if (star == std::string_view::npos) return pattern == text;
  std::string_view head = pattern.substr(0, star);
  if (!text.starts_with(head)) return false;
  pattern.remove_prefix(star + 1);
  text.remove_prefix(head.size());
  for (size_t i = 0; i <= text.size(); ++i) {
    if (glob_match(pattern, text.substr(i))) return true;
  }
  return false;
}

bool origin_allowed(const CorsSettings& cors, std::string_view origin) {
  std::string o = lower(origin);
  for (const auto& allowed : cors.allowed_origins) {
    if (allowed == "*" || glob_match(lower(allowed), o)) return true;
  }
  return false;
}

bool any_origin(const CorsSettings& cors) {
  return std::find(cors.allowed_origins.begin(), cors.allowed_origins.end(), "*") !=
         cors.allowed_origins.end();
}

bool header_allowed(const CorsSettings& cors, std::string_view name) {
  static constexpr std::string_view kAlwaysAllowed[] = {"origin", "accept", "content-type",
                                                        "x-requested-with", "content-encoding"};
  std::string n = lower(name);
  for (auto a : kAlwaysAllowed) {
    if (n == a) return true;
  }
  for (const auto& h : cors.allowed_headers) {
    if (h == "*" || lower(h) == n) return true;
  }
  return false;
}

}  // namespace

void validate_endpoint(const pipeline::ConfigNode& config, std::string_view key,
                       const std::string& endpoint) {
  if (!net::split_host_port(endpoint)) {
    config.fail(key, fmt::format("'{}' is not host:port; write it like 127.0.0.1:4318, "
                                 "[::1]:4318 or :4318 (all interfaces)",
                                 endpoint));
  }
}

HttpReceiverSettings read_http_settings(pipeline::ConfigNode& config,
                                        const std::string& default_endpoint) {
  HttpReceiverSettings s;
  s.endpoint = config.get_string("endpoint", default_endpoint);
  validate_endpoint(config, "endpoint", s.endpoint);
  // As in the Collector, 0 (or absent) means the 20 MiB default.
  int64_t max_body = config.get_int("max_request_body_size", 0, 0);
  if (max_body > 0) s.max_request_body_size = static_cast<size_t>(max_body);
  bool has_cors = false;
  pipeline::ConfigNode cors = config.child("cors", &has_cors);
  if (has_cors) {
    s.cors.allowed_origins = cors.get_string_list("allowed_origins");
    s.cors.allowed_headers = cors.get_string_list("allowed_headers");
    s.cors.max_age_seconds = cors.get_int("max_age", 0, 0);
    cors.reject_unknown_keys();
  }
  return s;
}

void add_cors_preflight(net::HttpServer& server, const std::string& path,
                        const CorsSettings& cors) {
  if (!cors.enabled()) return;
  server.route("OPTIONS", path, [cors](net::HttpRequest& req) {
    // Like rs/cors (the Collector's CORS library): a preflight that is not allowed still gets a
    // 204, just without the Access-Control-* headers, and the browser refuses the request.
    net::HttpResponse res = net::HttpResponse::text(204, "");
    res.content_type.clear();
    res.headers.emplace_back("Vary",
                             "Origin, Access-Control-Request-Method, Access-Control-Request-Headers");
    const std::string* origin = req.header("origin");
    const std::string* method = req.header("access-control-request-method");
    if (!origin || !method || !origin_allowed(cors, *origin) || trim(*method) != "POST") {
      return res;
    }
    std::string requested;
    if (const std::string* h = req.header("access-control-request-headers")) {
      std::string_view list = *h;
      while (!list.empty()) {
        size_t comma = list.find(',');
        std::string_view name = trim(list.substr(0, comma));
        list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
        if (name.empty()) continue;
        if (!header_allowed(cors, name)) return res;
        requested += (requested.empty() ? "" : ", ") + lower(name);
      }
    }
    res.headers.emplace_back("Access-Control-Allow-Origin", any_origin(cors) ? "*" : *origin);
    res.headers.emplace_back("Access-Control-Allow-Methods", "POST");
    if (!requested.empty()) res.headers.emplace_back("Access-Control-Allow-Headers", requested);
    if (cors.max_age_seconds > 0) {
      res.headers.emplace_back("Access-Control-Max-Age", std::to_string(cors.max_age_seconds));
    }
    return res;
  });
}

void add_cors_headers(const net::HttpRequest& request, const CorsSettings& cors,
                      net::HttpResponse& response) {
  if (!cors.enabled()) return;
  const std::string* origin = request.header("origin");
  response.headers.emplace_back("Vary", "Origin");
  if (!origin || !origin_allowed(cors, *origin)) return;
  response.headers.emplace_back("Access-Control-Allow-Origin", any_origin(cors) ? "*" : *origin);
}

std::string media_type(const net::HttpRequest& request) {
  const std::string* ct = request.header("content-type");
  if (!ct) return {};
  std::string_view v = *ct;
  return lower(trim(v.substr(0, v.find(';'))));
}

std::optional<BodyError> decode_content_encoding(net::HttpRequest& request, size_t max_bytes) {
  const std::string* header = request.header("content-encoding");
  if (!header) return std::nullopt;
  std::string encoding = lower(trim(*header));
  if (encoding.empty() || encoding == "identity") return std::nullopt;
  if (encoding != "gzip" && encoding != "x-gzip" && encoding != "deflate") {
    return BodyError{415, fmt::format("unsupported Content-Encoding '{}'; send gzip, deflate or "
                                      "an uncompressed body",
                                      *header)};
  }
  bool too_large = false;
  auto plain = net::gzip_decompress(request.body, max_bytes, &too_large);
  if (!plain) {
    if (too_large) {
      return BodyError{413, fmt::format("decompressed request body is larger than the limit of "
                                        "{} bytes (max_request_body_size)",
                                        max_bytes)};
    }
    return BodyError{400, fmt::format("request body is not valid {} data", encoding)};
  }
  request.body = std::move(*plain);
  return std::nullopt;
}

int64_t retry_after_seconds(const pipeline::Status& status) {
  int64_t ms = status.retry_after().count();
  return std::max<int64_t>(1, (ms + 999) / 1000);
}

bool LogLimiter::allow(uint64_t* suppressed) {
  int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                    std::chrono::steady_clock::now().time_since_epoch())
                    .count();
  int64_t next = next_ns_.load(std::memory_order_relaxed);
  if (now >= next &&
      next_ns_.compare_exchange_strong(next, now + interval_ns_, std::memory_order_relaxed)) {
    *suppressed = suppressed_.exchange(0, std::memory_order_relaxed);
    return true;
  }
  suppressed_.fetch_add(1, std::memory_order_relaxed);
  return false;
}

void log_bad_request(spdlog::logger& logger, LogLimiter& limiter, const std::string& what) {
  uint64_t suppressed = 0;
  if (limiter.allow(&suppressed)) {
    if (suppressed > 0) {
      logger.warn("{} ({} more refused requests since the last report)", what, suppressed);
    } else {
      logger.warn("{}", what);
    }
  } else {
    logger.debug("{}", what);
  }
}

}  // namespace hodos::receivers
