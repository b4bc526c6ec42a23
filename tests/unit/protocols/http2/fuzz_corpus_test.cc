// Replays the http2 fuzz corpus (seeds and every input the fuzzer ever broke the code with)
// through the fuzz target's checks, so that a regression fails the plain unit test run. The
// disabled test writes the seeds from the fixtures and a few written cases: run it with
// --gtest_also_run_disabled_tests --gtest_filter='Http2FuzzCorpus.DISABLED_WriteSeeds'.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "../corpus.h"
#include "fixtures.h"
#include "fuzz_check.h"
#include "wire.h"

namespace hodos::protocols::http2 {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kCorpusName = "http2";

std::string seed(const testing::Fixture& f) {
  std::string out;
  for (const testing::Segment& s : f.segments) {
    fuzz::append_record(&out, s.sender == testing::kClient, s.bytes);
  }
  return out;
}

// Cases the fixtures lack: a table grown by SETTINGS, padding everywhere, an extension frame.
std::string written_seed() {
  testing::Wire client(true, {{1, 8192}}), server(false);
  std::string out;
  client.headers(1, testing::grpc_request("/pkg.Svc/Stream"), false, 7)
      .data(1, testing::Wire::grpc_message(4) + testing::Wire::grpc_message(2), true, 3);
  fuzz::append_record(&out, true, client.take());
  server.settings_ack().encoder_table_size(8192);
  server.headers(
      1,
      {{":status", "200"}, {"content-type", "application/grpc"}, {"x-big", std::string(5000, 'b')}},
      false, 16384, 2);
  server.raw_frame(0x42, 0, 0, "ext").data(1, testing::Wire::grpc_message(1), false);
  server.headers(1, {{"grpc-status", "14"}, {"grpc-message", "unavailable"}}, true);
  fuzz::append_record(&out, false, server.take());
  client.settings_ack().headers(3, testing::get_request("/after"), true).rst_stream(3, 8);
  fuzz::append_record(&out, true, client.take());
  return out;
}

TEST(Http2FuzzCorpus, EveryEntryPassesTheFuzzChecks) {
  size_t count = 0;
  for (const auto& [path, bytes] : corpus::entries(kCorpusName)) {
    EXPECT_EQ(fuzz::check_input(bytes), "") << path;
    ++count;
  }
  EXPECT_GE(count, 10u);
}

TEST(Http2FuzzCorpus, EveryFixturePassesTheFuzzChecks) {
  for (const testing::Fixture& f : testing::captured_fixtures()) {
    std::string input = seed(f);
    EXPECT_EQ(fuzz::parse_records(input).size(), f.segments.size()) << f.name;
    EXPECT_EQ(fuzz::check_input(input), "") << f.name;
  }
  EXPECT_EQ(fuzz::check_input(written_seed()), "");
}

TEST(Http2FuzzCorpus, DISABLED_WriteSeeds) {
  fs::path dir = corpus::dir(kCorpusName);
  fs::create_directories(dir);
  for (const testing::Fixture& f : testing::captured_fixtures()) {
    std::ofstream(dir / f.name, std::ios::binary) << seed(f);
  }
  std::ofstream(dir / "written_table_padding_extension", std::ios::binary) << written_seed();
}

}  // namespace
}  // namespace hodos::protocols::http2
