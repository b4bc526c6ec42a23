// Replays the in-tree fuzz corpora (seeds and every crash the fuzzers found) through the same check
// the fuzz targets run, so a regression shows up in the plain unit test run. The disabled test
// writes the seeds: run it with --gtest_also_run_disabled_tests --gtest_filter='*WriteSeeds'.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "../../fuzz/fuzz_roundtrip.h"
#include "batch_testing.h"
#include "otlp/otlp_codec.h"
#include "otlp/zipkin_codec.h"
#include "samples.h"

namespace hodos::otlp {
namespace {

namespace fs = std::filesystem;

const fs::path kCorpusRoot = fs::path(HODOS_SOURCE_DIR) / "tests/fuzz/corpus";

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

size_t replay(const std::string& dir, fuzz::Decoder decode, fuzz::Encoder encode, bool stable) {
  size_t count = 0;
  for (const auto& entry : fs::directory_iterator(kCorpusRoot / dir)) {
    if (!entry.is_regular_file()) continue;
    std::string input = read_file(entry.path());
    EXPECT_EQ(fuzz::check_round_trip(input, decode, encode, stable), "") << entry.path();
    ++count;
  }
  return count;
}

TEST(FuzzCorpus, OtlpProtoCorpusRoundTrips) {
  EXPECT_GE(replay("otlp_proto", decode_proto, encode_proto, true), 3u);
}

TEST(FuzzCorpus, OtlpJsonCorpusRoundTrips) {
  EXPECT_GE(replay("otlp_json", decode_json, encode_json, true), 3u);
}

TEST(FuzzCorpus, ZipkinJsonCorpusRoundTrips) {
  EXPECT_GE(replay("zipkin_json", decode_zipkin_json, encode_zipkin_json, false), 2u);
}

void write_seed(const std::string& dir, const std::string& name, const std::string& data) {
  fs::create_directories(kCorpusRoot / dir);
  std::ofstream(kCorpusRoot / dir / name, std::ios::binary) << data;
}

TEST(FuzzCorpus, DISABLED_WriteSeeds) {
  core::SpanBatch full = testing::make_full_batch();
  core::SpanBatch spec, zipkin;
  ASSERT_FALSE(decode_json(testing::kSpecExampleJson, spec));
  ASSERT_FALSE(decode_zipkin_json(testing::kZipkinPayload, zipkin));

  write_seed("otlp_proto", "every_field.pb", encode_proto(full));
  write_seed("otlp_proto", "spec_example.pb", encode_proto(spec));
  write_seed("otlp_proto", "from_zipkin.pb", encode_proto(zipkin));

  write_seed("otlp_json", "every_field.json", encode_json(full));
  write_seed("otlp_json", "spec_example.json", testing::kSpecExampleJson);
  write_seed("otlp_json", "enum_names.json",
             R"({"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":)"
             R"("5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174",)"
             R"("kind":"SPAN_KIND_CLIENT","startTimeUnixNano":1544712660000000000,)"
             R"("status":{"code":"STATUS_CODE_ERROR"},"attributes":[{"key":"d","value":)"
             R"({"doubleValue":"NaN"}},{"key":"b","value":{"bytesValue":"AAE="}}]}]}]}]})");

  write_seed("zipkin_json", "brave.json", testing::kZipkinPayload);
  write_seed("zipkin_json", "from_otlp.json", encode_zipkin_json(full));
}

}  // namespace
}  // namespace hodos::otlp
