#include <gtest/gtest.h>

#include <cstdlib>

#include "exporter_test_util.h"
#include "exporters/s3_exporter.h"
#include "pipeline/metrics.h"

namespace hodos::exporters {
namespace {

using hodos::testing::quiet_logger;
using std::chrono::system_clock;

S3Settings settings_from(const std::string& yaml) {
  pipeline::ConfigNode config(YAML::Load(yaml), "exporters.s3");
  return read_s3_settings(config);
}

// The path of the ConfigError that `yaml` raises ("" when it is accepted).
std::string error_path(const std::string& yaml) {
  try {
    pipeline::Metrics metrics;
    pipeline::ConfigNode config(YAML::Load(yaml), "exporters.s3");
    pipeline::CreateContext ctx{pipeline::ComponentId{"s3", ""}, metrics, quiet_logger()};
    make_s3_exporter_factory()->create(ctx, config);
  } catch (const pipeline::ConfigError& e) {
    return e.path();
  }
  return "";
}

// 2024-03-05 07:09:41 UTC
const system_clock::time_point kWhen = system_clock::from_time_t(1709622581);

TEST(S3ExporterTest, DefaultsFollowTheCollector) {
  S3Settings s = settings_from("s3uploader: {s3_bucket: traces}\n");
  EXPECT_EQ(s.bucket, "traces");
  EXPECT_EQ(s.region, "us-east-1");
  EXPECT_EQ(s.partition_format, "year=%Y/month=%m/day=%d/hour=%H/minute=%M");
  EXPECT_TRUE(s.json);
  EXPECT_FALSE(s.gzip);
  EXPECT_FALSE(s.force_path_style);
  EXPECT_EQ(s3_object_key(s, kWhen, "u1"),
            "year=2024/month=03/day=05/hour=07/minute=09/spans_u1.json");
}

TEST(S3ExporterTest, KeyHasPrefixPartitionFilePrefixAndExtension) {
  S3Settings s = settings_from(
      "s3uploader: {s3_bucket: b, s3_prefix: /team/a/, file_prefix: 'node1-', compression: gzip}\n"
      "marshaler: otlp_proto\n");
  EXPECT_EQ(s.prefix, "team/a");
  EXPECT_EQ(s3_object_key(s, kWhen, "123_abc"),
            "team/a/year=2024/month=03/day=05/hour=07/minute=09/node1-spans_123_abc.binpb.gz");

  s = settings_from(
      "s3uploader: {s3_bucket: b, s3_partition_format: '%Y/%j', compression: gzip}\n");
  EXPECT_EQ(s3_object_key(s, kWhen, "x"), "2024/065/spans_x.json.gz");

  s = settings_from("s3uploader: {s3_bucket: b, s3_partition_format: ''}\n");
  EXPECT_EQ(s3_object_key(s, kWhen, "x"), "spans_x.json");
}

TEST(S3ExporterTest, UrlsPathStyleAndVirtualHosted) {
  S3Settings s = settings_from("s3uploader: {s3_bucket: logs, region: eu-west-3}\n");
  EXPECT_EQ(s3_object_url(s, "p/year=2024/spans_1.json"),
            "https://logs.s3.eu-west-3.amazonaws.com/p/year%3D2024/spans_1.json");
  s = settings_from(
      "s3uploader: {s3_bucket: logs, endpoint: 'http://127.0.0.1:9000/', "
      "s3_force_path_style: true}\n");
  EXPECT_EQ(s3_object_url(s, "a b/c+d~e.json"),
            "http://127.0.0.1:9000/logs/a%20b/c%2Bd~e.json");
  s = settings_from("s3uploader: {s3_bucket: logs, endpoint: 'https://minio.local:9000'}\n");
  EXPECT_EQ(s3_object_url(s, "k"), "https://logs.minio.local:9000/k");
}

TEST(S3ExporterTest, KeysDifferForConcurrentUploadsOnlyByTheUniquePart) {
  S3Settings s = settings_from("s3uploader: {s3_bucket: b}\n");
  EXPECT_NE(s3_object_key(s, kWhen, "1_a"), s3_object_key(s, kWhen, "1_b"));
}

TEST(S3ExporterTest, ConfigErrorsNameTheKey) {
  EXPECT_EQ(error_path("s3uploader: {region: us-east-1}\n"), "exporters.s3.s3uploader.s3_bucket");
  EXPECT_EQ(error_path("{}\n"), "exporters.s3.s3uploader.s3_bucket");
  EXPECT_EQ(error_path("s3uploader: {s3_bucket: a/b}\n"), "exporters.s3.s3uploader.s3_bucket");
  EXPECT_EQ(error_path("s3uploader: {s3_bucket: b, compression: brotli}\n"),
            "exporters.s3.s3uploader.compression");
  EXPECT_EQ(error_path("s3uploader: {s3_bucket: b, endpoint: 'minio:9000'}\n"),
            "exporters.s3.s3uploader.endpoint");
  EXPECT_EQ(error_path("s3uploader: {s3_bucket: b, region: ''}\n"),
            "exporters.s3.s3uploader.region");
  EXPECT_EQ(error_path("s3uploader: {s3_bucket: b, file_prefix: 'a/b'}\n"),
            "exporters.s3.s3uploader.file_prefix");
  EXPECT_EQ(error_path("s3uploader: {s3_bucket: b, bucket: x}\n"),
            "exporters.s3.s3uploader.bucket");
  EXPECT_EQ(error_path("s3uploader: {s3_bucket: b}\nmarshaler: otlp_xml\n"),
            "exporters.s3.marshaler");
  EXPECT_EQ(error_path("s3uploader: {s3_bucket: b}\nretry_on_failure: {enabled: nope}\n"),
            "exporters.s3.retry_on_failure.enabled");
  EXPECT_EQ(error_path("s3uploader: {s3_bucket: b, compression: gzip}\nmarshaler: otlp_proto\n"
                       "timeout: 10s\nsending_queue: {num_consumers: 2}\n"),
            "");
}

TEST(S3ExporterTest, StartWithoutCredentialsFailsClearly) {
  const char* saved = std::getenv("AWS_ACCESS_KEY_ID");
  std::string saved_value = saved ? saved : "";
  unsetenv("AWS_ACCESS_KEY_ID");
  pipeline::Metrics metrics;
  pipeline::ConfigNode config(YAML::Load("s3uploader: {s3_bucket: b}\n"), "exporters.s3");
  pipeline::CreateContext ctx{pipeline::ComponentId{"s3", ""}, metrics, quiet_logger()};
  auto exporter = make_s3_exporter_factory()->create(ctx, config);
  pipeline::Status st = exporter->start();
  if (saved) setenv("AWS_ACCESS_KEY_ID", saved_value.c_str(), 1);
  ASSERT_FALSE(st.is_ok());
  EXPECT_NE(st.message().find("AWS_ACCESS_KEY_ID"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace hodos::exporters
