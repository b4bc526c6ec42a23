#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "exporter_test_util.h"
#include "exporters/file.h"
#include "otlp/otlp_codec.h"
#include "pipeline/metrics.h"

namespace hodos::exporters {
namespace {

using hodos::testing::make_batch;
using hodos::testing::quiet_logger;
using hodos::testing::TempDir;
namespace fs = std::filesystem;

class FileExporterTest : public ::testing::Test {
 protected:
  std::unique_ptr<pipeline::Exporter> make(const std::string& yaml) {
    pipeline::ConfigNode config(YAML::Load(yaml), "exporters.file");
    pipeline::CreateContext ctx{pipeline::ComponentId{"file", ""}, metrics_, quiet_logger()};
    return make_file_exporter_factory()->create(ctx, config);
  }
  static std::vector<std::string> lines(const fs::path& p) {
    std::ifstream in(p);
    std::vector<std::string> out;
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
  }
  static std::string read_all(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  pipeline::Metrics metrics_;
  TempDir dir_;
};

TEST_F(FileExporterTest, WritesOneOtlpJsonLinePerBatchBeforeConsumeReturns) {
  const fs::path path = dir_.path() / "nested" / "dir" / "spans.json";
  auto e = make("path: " + path.string());
  ASSERT_TRUE(e->start().is_ok());  // creates the parent directories
  ASSERT_TRUE(e->consume(make_batch("a", 2)).is_ok());
  // Synchronous by default: the line is in the file already.
  ASSERT_EQ(lines(path).size(), 1u);
  ASSERT_TRUE(e->consume(make_batch("b", 3)).is_ok());
  auto got = lines(path);
  ASSERT_EQ(got.size(), 2u);
  std::vector<std::string> names;
  for (const auto& line : got) {
    auto doc = nlohmann::json::parse(line);
    ASSERT_TRUE(doc.contains("resourceSpans")) << line;
    core::SpanBatch back;
    ASSERT_EQ(otlp::decode_json(line, back), std::nullopt);
    for (const auto& s : back.spans()) names.emplace_back(s.name);
  }
  EXPECT_EQ(names, (std::vector<std::string>{"a-0", "a-1", "b-0", "b-1", "b-2"}));
  e->shutdown(std::chrono::steady_clock::now() + std::chrono::seconds(5));
  EXPECT_EQ(metrics_.value("otelcol_exporter_sent_spans_total", {{"exporter", "file"}}), 5);
}

TEST_F(FileExporterTest, RotatesBySizeKeepingWholeLinesAndMaxBackups) {
  const fs::path path = dir_.path() / "spans.json";
  // 0.001 MiB ~ 1 KiB: each batch of 3 spans is a line of several hundred bytes.
  auto e = make("path: " + path.string() + "\nrotation: {max_megabytes: 0.001, max_backups: 2}\n");
  ASSERT_TRUE(e->start().is_ok());
  for (int i = 0; i < 12; ++i) {
    ASSERT_TRUE(e->consume(make_batch("r" + std::to_string(i), 3)).is_ok());
  }
  e->shutdown(std::chrono::steady_clock::now() + std::chrono::seconds(5));
  ASSERT_TRUE(fs::exists(path));
  ASSERT_TRUE(fs::exists(path.string() + ".1"));
  ASSERT_TRUE(fs::exists(path.string() + ".2"));
  EXPECT_FALSE(fs::exists(path.string() + ".3"));
  // Every file is whole lines that decode, and the newest batch is in the current file.
  for (const std::string& p : {path.string(), path.string() + ".1", path.string() + ".2"}) {
    std::string content = read_all(p);
    ASSERT_FALSE(content.empty());
    EXPECT_EQ(content.back(), '\n') << p;
    for (const auto& line : lines(p)) {
      core::SpanBatch b;
      EXPECT_EQ(otlp::decode_json(line, b), std::nullopt) << p;
      EXPECT_EQ(b.size(), 3u);
    }
  }
  auto current = lines(path);
  core::SpanBatch last;
  ASSERT_EQ(otlp::decode_json(current.back(), last), std::nullopt);
  EXPECT_EQ(last.spans()[0].name, "r11-0");
}

TEST_F(FileExporterTest, ProtoFormatIsBigEndianLengthPrefixed) {
  const fs::path path = dir_.path() / "spans.pb";
  auto e = make("path: " + path.string() + "\nformat: proto\n");
  ASSERT_TRUE(e->start().is_ok());
  ASSERT_TRUE(e->consume(make_batch("p", 2)).is_ok());
  ASSERT_TRUE(e->consume(make_batch("q", 1)).is_ok());
  e->shutdown(std::chrono::steady_clock::now() + std::chrono::seconds(5));
  std::string data = read_all(path);
  size_t pos = 0, batches = 0, spans = 0;
  while (pos < data.size()) {
    ASSERT_LE(pos + 4, data.size());
    auto b = [&](size_t i) { return static_cast<uint32_t>(static_cast<uint8_t>(data[pos + i])); };
    uint32_t n = b(0) << 24 | b(1) << 16 | b(2) << 8 | b(3);
    pos += 4;
    ASSERT_LE(pos + n, data.size());
    core::SpanBatch batch;
    ASSERT_EQ(otlp::decode_proto(std::string_view(data).substr(pos, n), batch), std::nullopt);
    spans += batch.size();
    ++batches;
    pos += n;
  }
  EXPECT_EQ(batches, 2u);
  EXPECT_EQ(spans, 3u);
}

TEST_F(FileExporterTest, ConfigErrorsNameTheKey) {
  try {
    make("format: json\n");
    FAIL();
  } catch (const pipeline::ConfigError& e) {
    EXPECT_STREQ(e.what(), "exporters.file.path: required");
  }
  try {
    make("path: /tmp/x\nformat: xml\n");
    FAIL();
  } catch (const pipeline::ConfigError& e) {
    EXPECT_EQ(e.path(), "exporters.file.format");
  }
  try {
    make("path: /tmp/x\nrotation: {max_megabyte: 1}\n");
    FAIL();
  } catch (const pipeline::ConfigError& e) {
    EXPECT_EQ(e.path(), "exporters.file.rotation.max_megabyte");
  }
}

TEST_F(FileExporterTest, UncreatableDirectoryFailsStartClearly) {
  const fs::path blocker = dir_.path() / "blocker";
  { std::ofstream(blocker) << "a file, not a directory"; }
  auto e = make("path: " + (blocker / "sub" / "spans.json").string());
  pipeline::Status st = e->start();
  ASSERT_FALSE(st.is_ok());
  EXPECT_NE(st.message().find("exporters.file.path"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("cannot create directory"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace hodos::exporters
