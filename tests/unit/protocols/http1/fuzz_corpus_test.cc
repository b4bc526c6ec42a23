// Replays the http1 fuzz corpus (seeds and every input the fuzzer ever broke the code with)
// through the fuzz target's checks, so that a regression fails the plain unit test run. The
// disabled test writes the seeds from the captures: run it with
// --gtest_also_run_disabled_tests --gtest_filter='Http1FuzzCorpus.DISABLED_WriteSeeds'.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "../corpus.h"
#include "captures.h"
#include "fuzz_check.h"

namespace hodos::protocols::http1 {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kCorpusName = "http1";
const fs::path kCorpus = corpus::dir(kCorpusName);

using corpus::read_file;

TEST(Http1FuzzCorpus, EveryEntryPassesTheFuzzChecks) {
  size_t count = 0;
  for (const auto& [path, bytes] : corpus::entries(kCorpusName)) {
    EXPECT_EQ(fuzz::check_input(bytes), "") << path;
    ++count;
  }
  EXPECT_GE(count, 10u);
}

TEST(Http1FuzzCorpus, EveryCapturePassesTheFuzzChecks) {
  for (const auto& c : testing::kRequests) EXPECT_EQ(fuzz::check_input(c.bytes), "") << c.name;
  for (const auto& c : testing::kResponses) EXPECT_EQ(fuzz::check_input(c.bytes), "") << c.name;
}

// A seed is a conversation: the requests, then the responses (the fuzz target splits the input
// at the first status line).
TEST(Http1FuzzCorpus, DISABLED_WriteSeeds) {
  fs::create_directories(kCorpus);
  auto write = [](const std::string& name, std::initializer_list<std::string_view> requests,
                  std::initializer_list<std::string_view> responses) {
    std::string bytes;
    for (std::string_view r : requests) bytes += testing::request_capture(r).bytes;
    for (std::string_view r : responses) bytes += testing::response_capture(r).bytes;
    std::ofstream(kCorpus / name, std::ios::binary) << bytes;
  };
  write("curl_get_go_json", {"curl_get"}, {"go_200_json"});
  write("curl_post_python", {"curl_post_json"}, {"python_200"});
  write("curl_head_nginx", {"curl_head"}, {"nginx_head"});
  write("requests_nginx_chunked", {"python_requests_get"}, {"nginx_chunked"});
  write("go_client_304", {"go_client_get"}, {"nginx_304"});
  write("java_expect_continue", {"java_expect_continue"}, {"go_100_continue", "java_201"});
  write("java_chunked_extensions", {"java_chunked_upload"}, {"chunk_extensions"});
  write("node_trailer", {"node_fetch_post"}, {"go_chunked_trailer"});
  write("ab_until_close", {"ab_http10"}, {"python_until_close"});
  write("websocket", {"websocket_upgrade"}, {"websocket_101"});
  write("connect", {"curl_connect"}, {"connect_200"});
  write("pipelined", {"curl_get", "curl_head", "curl_post_json", "go_client_get"},
        {"envoy_503", "nginx_head", "python_404", "go_204"});
  write("keep_alive_mixed", {"curl_get", "node_fetch_post", "curl_get"},
        {"node_chunked", "go_200_json", "nginx_304"});
}

}  // namespace
}  // namespace hodos::protocols::http1
