// The `s3` exporter: each batch becomes one object (OTLP JSON or protobuf, optionally gzip) in an
// S3 bucket under a time-partitioned key, on AWS S3 or any S3-compatible store. Requests are
// signed by libcurl's own AWS Signature V4 (CURLOPT_AWS_SIGV4) with credentials from the
// environment. Config in the shape of the OpenTelemetry Collector's awss3exporter.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "pipeline/config_node.h"
#include "pipeline/factory.h"

namespace hodos::exporters {

struct S3Settings {
  std::string region = "us-east-1";
  std::string bucket;
  std::string prefix;  // without leading/trailing slashes
  std::string partition_format = "year=%Y/month=%m/day=%d/hour=%H/minute=%M";
  std::string file_prefix;
  std::string endpoint;  // empty: AWS (https://s3.<region>.amazonaws.com)
  bool force_path_style = false;
  bool gzip = false;
  bool json = true;  // marshaler otlp_json; false: otlp_proto
};

// Reads `s3uploader: {...}` and `marshaler`; throws pipeline::ConfigError naming the bad key.
S3Settings read_s3_settings(pipeline::ConfigNode& config);

// `<prefix>/<partition>/<file_prefix>spans_<unique>.<ext>`, the partition formatted (strftime) in
// UTC at `when`.
std::string s3_object_key(const S3Settings& settings, std::chrono::system_clock::time_point when,
                          std::string_view unique);

// The object's URL: path style `<endpoint>/<bucket>/<key>`, else virtual-hosted
// `<scheme>://<bucket>.<host>/<key>`; the key URI-encoded as SigV4 canonicalises it.
std::string s3_object_url(const S3Settings& settings, std::string_view key);

std::unique_ptr<pipeline::ExporterFactory> make_s3_exporter_factory();

}  // namespace hodos::exporters
