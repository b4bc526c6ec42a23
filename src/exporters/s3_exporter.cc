#include "exporters/s3_exporter.h"

#include <fmt/format.h>
#include <openssl/sha.h>

#include <cctype>
#include <cstdlib>
#include <ctime>
#include <mutex>
#include <random>
#include <vector>

#include "exporters/http_common.h"
#include "net/compression.h"
#include "net/http_client.h"
#include "otlp/otlp_codec.h"
#include "pipeline/exporter_helper.h"

namespace hodos::exporters {

namespace {

using pipeline::Status;

std::string trim_slashes(std::string s) {
  while (s.starts_with('/')) s.erase(0, 1);
  while (s.ends_with('/')) s.pop_back();
  return s;
}

// SigV4 canonical URI encoding for S3: everything but unreserved characters and the '/'
// separators is %XX, so what curl signs is what S3 recomputes ('=' in partitions included).
std::string uri_encode_key(std::string_view key) {
  std::string out;
  for (unsigned char c : key) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == '/') {
      out.push_back(static_cast<char>(c));
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

std::string sha256_hex(std::string_view data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  std::string hex;
  hex.reserve(2 * sizeof digest);
  for (unsigned char b : digest) hex += fmt::format("{:02x}", b);
  return hex;
}

// The text between <Tag> and </Tag> in an S3 XML error body; empty when absent.
std::string xml_field(const std::string& body, std::string_view tag) {
  std::string open = fmt::format("<{}>", tag), close = fmt::format("</{}>", tag);
  size_t a = body.find(open);
  if (a == std::string::npos) return "";
  a += open.size();
  size_t b = body.find(close, a);
  return b == std::string::npos ? "" : body.substr(a, b - a);
}

struct Credentials {
  std::string access_key, secret_key, session_token;
};

std::string env_or_empty(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

class S3Sender : public pipeline::BatchSender {
 public:
  S3Sender(S3Settings settings, std::shared_ptr<spdlog::logger> logger, std::string id)
      : s_(std::move(settings)), logger_(std::move(logger)), id_(std::move(id)) {}

  Status start() override {
    creds_.access_key = env_or_empty("AWS_ACCESS_KEY_ID");
    creds_.secret_key = env_or_empty("AWS_SECRET_ACCESS_KEY");
    creds_.session_token = env_or_empty("AWS_SESSION_TOKEN");
    if (creds_.access_key.empty() || creds_.secret_key.empty()) {
      return Status::permanent(fmt::format(
          "exporter {}: no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
          "(and AWS_SESSION_TOKEN for temporary credentials) in the environment",
          id_));
    }
    return Status::ok();
  }

  Status send(const core::SpanBatch& batch, pipeline::Deadline deadline) override {
    std::string body = s_.json ? otlp::encode_json(batch) : otlp::encode_proto(batch);
    if (s_.gzip) body = net::gzip_compress(body);
    const std::string key = s3_object_key(s_, std::chrono::system_clock::now(), unique_suffix());
    const std::string where = fmt::format("s3://{}/{}", s_.bucket, key);

    net::HttpClientRequest request;
    request.method = "PUT";
    request.url = s3_object_url(s_, key);
    request.body = std::move(body);
    request.timeout = pipeline::time_left(deadline);
    request.headers = {
        {"Content-Type", s_.json ? "application/json" : "application/x-protobuf"},
        // S3 wants the payload hash as a header; curl signs it along with the others.
        {"x-amz-content-sha256", sha256_hex(request.body)},
        {"User-Agent", "hodos"},
    };
    if (s_.gzip) request.headers.emplace_back("Content-Encoding", "gzip");
    if (!creds_.session_token.empty()) {
      request.headers.emplace_back("x-amz-security-token", creds_.session_token);
    }
    request.aws_sigv4 = net::AwsSigV4{fmt::format("aws:amz:{}:s3", s_.region), creds_.access_key,
                                      creds_.secret_key};
    net::HttpClientResponse response = pool_.lease()->send(request);
    if (response.status == 0) {
      return Status::retryable(fmt::format("{}: {}", where, response.error));
    }
    return status_of(response.status, response.body, where);
  }

  void shutdown() override { pool_.clear(); }

 private:
  Status status_of(int status, const std::string& response, const std::string& where) const {
    if (status >= 200 && status < 300) return Status::ok();
    const std::string code = xml_field(response, "Code");
    const std::string message = xml_field(response, "Message");
    const std::string detail =
        code.empty() ? fmt::format("HTTP {}", status)
                     : fmt::format("HTTP {} {}{}{}", status, code, message.empty() ? "" : ": ",
                                   message);
    if (code == "NoSuchBucket") {
      return Status::permanent(fmt::format("{}: bucket '{}' does not exist ({})", where,
                                           s_.bucket, detail));
    }
    if (status == 403 || status == 401) {
      return Status::permanent(fmt::format(
          "{}: access denied ({}); check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, "
          "AWS_SESSION_TOKEN, the region '{}' and the bucket's permissions",
          where, detail, s_.region));
    }
    if (status >= 500 || status == 429 || status == 408) {
      return Status::retryable(fmt::format("{}: {}", where, detail));
    }
    return Status::permanent(fmt::format("{}: {}", where, detail));
  }

  // Time plus 64 random bits: concurrent uploads (threads, collectors) never share a key.
  std::string unique_suffix() {
    uint64_t r;
    {
      std::lock_guard lock(mu_);
      r = rng_();
    }
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
    return fmt::format("{}_{:016x}", ms, r);
  }

  S3Settings s_;
  std::shared_ptr<spdlog::logger> logger_;
  std::string id_;
  Credentials creds_;
  std::mutex mu_;
  std::mt19937_64 rng_{std::random_device{}()};
  HttpClientPool pool_;  // one client per concurrent upload, kept for its connection
};

}  // namespace

S3Settings read_s3_settings(pipeline::ConfigNode& config) {
  S3Settings s;
  pipeline::ConfigNode up = config.child("s3uploader");
  s.region = up.get_string("region", s.region);
  if (s.region.empty()) up.fail("region", "must not be empty; e.g. us-east-1");
  s.bucket = up.get_string("s3_bucket", "");
  if (s.bucket.empty()) up.fail("s3_bucket", "required: the bucket the objects go to");
  if (s.bucket.find('/') != std::string::npos) {
    up.fail("s3_bucket",
            fmt::format("'{}' is a bucket name, not a path (use s3_prefix)", s.bucket));
  }
  s.prefix = trim_slashes(up.get_string("s3_prefix", ""));
  s.partition_format = trim_slashes(up.get_string("s3_partition_format", s.partition_format));
  s.file_prefix = up.get_string("file_prefix", "");
  if (s.file_prefix.find('/') != std::string::npos) {
    up.fail("file_prefix", "must not contain '/' (use s3_prefix for folders)");
  }
  s.endpoint = up.get_string("endpoint", "");
  if (!s.endpoint.empty()) {
    if (!s.endpoint.starts_with("http://") && !s.endpoint.starts_with("https://")) {
      up.fail("endpoint", fmt::format("'{}' must start with http:// or https://", s.endpoint));
    }
    while (s.endpoint.ends_with('/')) s.endpoint.pop_back();
  }
  s.force_path_style = up.get_bool("s3_force_path_style", false);
  std::string compression = up.get_string("compression", "none");
  if (compression == "gzip") {
    s.gzip = true;
  } else if (compression != "none" && !compression.empty()) {
    up.fail("compression", fmt::format("'{}' is not supported; use none or gzip", compression));
  }
  up.reject_unknown_keys();

  std::string marshaler = config.get_string("marshaler", "otlp_json");
  if (marshaler == "otlp_proto") {
    s.json = false;
  } else if (marshaler != "otlp_json") {
    config.fail("marshaler", fmt::format("'{}' is not supported; use otlp_json or otlp_proto",
                                         marshaler));
  }
  return s;
}

std::string s3_object_key(const S3Settings& s, std::chrono::system_clock::time_point when,
                          std::string_view unique) {
  std::string key;
  if (!s.prefix.empty()) key = s.prefix + "/";
  if (!s.partition_format.empty()) {
    std::time_t t = std::chrono::system_clock::to_time_t(when);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[512];
    size_t n = std::strftime(buf, sizeof buf, s.partition_format.c_str(), &tm);
    if (n > 0) key += std::string(buf, n) + "/";
  }
  key += fmt::format("{}spans_{}.{}", s.file_prefix, unique, s.json ? "json" : "binpb");
  if (s.gzip) key += ".gz";
  return key;
}

std::string s3_object_url(const S3Settings& s, std::string_view key) {
  const std::string base =
      s.endpoint.empty() ? fmt::format("https://s3.{}.amazonaws.com", s.region) : s.endpoint;
  const std::string path = uri_encode_key(key);
  if (s.force_path_style) return fmt::format("{}/{}/{}", base, s.bucket, path);
  size_t scheme_end = base.find("://") + 3;
  return fmt::format("{}{}.{}/{}", base.substr(0, scheme_end), s.bucket, base.substr(scheme_end),
                     path);
}

std::unique_ptr<pipeline::ExporterFactory> make_s3_exporter_factory() {
  pipeline::ExporterHelperSettings defaults;
  defaults.timeout = std::chrono::seconds(30);
  return pipeline::make_sender_exporter_factory(
      "s3", defaults, [](const pipeline::CreateContext& ctx, pipeline::ConfigNode& config) {
        return std::make_unique<S3Sender>(read_s3_settings(config), ctx.logger, ctx.id.str());
      });
}

}  // namespace hodos::exporters
