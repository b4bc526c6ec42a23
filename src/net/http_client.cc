// HttpClient on libcurl: one easy handle per client, so its connection is reused (keep-alive).
#include "net/http_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <ctime>
#include <mutex>
#include <string_view>

namespace hodos::net {

namespace {

std::once_flag g_curl_init;

struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using Slist = std::unique_ptr<curl_slist, SlistDeleter>;

struct EasyDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// Retry-After is either delay-seconds or an HTTP-date (RFC 9110 section 10.2.3).
std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value) {
  value = trim(value);
  if (value.empty()) return std::nullopt;
  uint64_t seconds = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
  if (ec == std::errc() && end == value.data() + value.size()) {
    return std::chrono::milliseconds(std::min<uint64_t>(seconds, 86'400) * 1000);
  }
  std::string date(value);
  time_t when = curl_getdate(date.c_str(), nullptr);
  if (when == -1) return std::nullopt;
  time_t now = std::time(nullptr);
  return std::chrono::milliseconds(when > now ? (when - now) * 1000 : 0);
}

struct Collected {
  std::string body;
  std::optional<std::chrono::milliseconds> retry_after;
};

size_t on_body(char* data, size_t size, size_t n, void* user) {
  static_cast<Collected*>(user)->body.append(data, size * n);
  return size * n;
}

size_t on_header(char* data, size_t size, size_t n, void* user) {
  auto* c = static_cast<Collected*>(user);
  std::string_view line(data, size * n);
  // A new status line (after a 100 Continue) starts a new set of headers.
  if (line.starts_with("HTTP/")) c->retry_after.reset();
  size_t colon = line.find(':');
  if (colon != std::string_view::npos) {
    std::string_view name = trim(line.substr(0, colon));
    constexpr std::string_view kRetryAfter = "retry-after";
    if (name.size() == kRetryAfter.size() &&
        std::equal(name.begin(), name.end(), kRetryAfter.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) == b;
        })) {
      c->retry_after = parse_retry_after(line.substr(colon + 1));
    }
  }
  return size * n;
}

}  // namespace

struct HttpClient::Impl {
  std::unique_ptr<CURL, EasyDeleter> easy;
  char error[CURL_ERROR_SIZE] = {};
};

HttpClient::HttpClient() : impl_(std::make_unique<Impl>()) {
  std::call_once(g_curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  impl_->easy.reset(curl_easy_init());
}

HttpClient::~HttpClient() = default;

HttpClientResponse HttpClient::send(const HttpClientRequest& request) {
  HttpClientResponse response;
  CURL* c = impl_->easy.get();
  if (!c) {
    response.error = "could not initialise libcurl";
    return response;
  }
  // Reset clears the options of the previous request but keeps its live connection.
  curl_easy_reset(c);
  Collected collected;
  impl_->error[0] = '\0';

  Slist headers;
  for (const auto& [k, v] : request.headers) {
    std::string line = v.empty() ? k + ";" : k + ": " + v;  // "Name;" sends an empty header
    headers.reset(curl_slist_append(headers.release(), line.c_str()));
  }
  // curl waits for "100 Continue" before large bodies; collectors answer at once, so skip it.
  // Not on a signed request: curl's SigV4 would sign the empty Expect header without sending it,
  // and the server would compute another signature (an unsigned Expect: 100-continue is fine).
  if (!request.aws_sigv4) headers.reset(curl_slist_append(headers.release(), "Expect:"));

  curl_easy_setopt(c, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);  // timeouts without SIGALRM: we are multi-threaded
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, impl_->error);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(request.timeout.count()));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(std::min<int64_t>(request.timeout.count(), 10'000)));
  curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &collected);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &collected);

  if (request.method == "GET") {
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
  } else if (request.method == "HEAD") {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else {
    if (request.method != "POST") {
      curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    }
    if (request.method == "POST" || !request.body.empty()) {
      curl_easy_setopt(c, CURLOPT_POSTFIELDS, request.body.data());
      curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
                       static_cast<curl_off_t>(request.body.size()));
    }
  }

  if (const auto& sig = request.aws_sigv4) {
    curl_easy_setopt(c, CURLOPT_AWS_SIGV4, sig->provider.c_str());
    curl_easy_setopt(c, CURLOPT_USERNAME, sig->access_key.c_str());
    curl_easy_setopt(c, CURLOPT_PASSWORD, sig->secret_key.c_str());
  }

  const TlsSettings& tls = request.tls;
  if (!tls.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, tls.ca_file.c_str());
  if (!tls.cert_file.empty()) curl_easy_setopt(c, CURLOPT_SSLCERT, tls.cert_file.c_str());
  if (!tls.key_file.empty()) curl_easy_setopt(c, CURLOPT_SSLKEY, tls.key_file.c_str());
  if (tls.insecure_skip_verify) {
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
  }

  CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) {
    response.error = impl_->error[0] ? impl_->error : curl_easy_strerror(rc);
    return response;
  }
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  response.status = static_cast<int>(status);
  response.body = std::move(collected.body);
  response.retry_after = collected.retry_after;
  return response;
}

}  // namespace hodos::net
