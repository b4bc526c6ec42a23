// Replays the redis fuzz corpus (seeds and every input the fuzzer ever broke the code with)
// through the fuzz target's checks, so that a regression fails the plain unit test run. The
// disabled test writes the seeds from the captures: run it with
// --gtest_also_run_disabled_tests --gtest_filter='RedisFuzzCorpus.DISABLED_WriteSeeds'.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "../corpus.h"
#include "captures.h"
#include "fuzz_check.h"

namespace hodos::protocols::redis {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kCorpusName = "redis";
const fs::path kCorpus = corpus::dir(kCorpusName);

using corpus::read_file;

// A seed is a conversation: the commands, the separator line, the replies.
std::string seed(const testing::Conversation& conv) {
  std::string commands, replies;
  for (const auto& e : conv.exchanges) {
    commands += e.command;
    replies += e.reply;
  }
  return commands + std::string(fuzz::kSeparator).substr(1) + replies;
}

TEST(RedisFuzzCorpus, EveryEntryPassesTheFuzzChecks) {
  size_t count = 0;
  for (const auto& [path, bytes] : corpus::entries(kCorpusName)) {
    EXPECT_EQ(fuzz::check_input(bytes), "") << path;
    ++count;
  }
  EXPECT_GE(count, 10u);
}

TEST(RedisFuzzCorpus, EveryCapturePassesTheFuzzChecks) {
  for (const auto& conv : testing::captured_conversations()) {
    std::string input = seed(conv);
    auto split = fuzz::split_conversation(input);
    EXPECT_FALSE(split.replies.empty()) << conv.name;
    EXPECT_EQ(fuzz::check_input(input), "") << conv.name;
  }
}

TEST(RedisFuzzCorpus, DISABLED_WriteSeeds) {
  fs::create_directories(kCorpus);
  for (const auto& conv : testing::captured_conversations()) {
    std::ofstream(kCorpus / conv.name, std::ios::binary) << seed(conv);
  }
}

}  // namespace
}  // namespace hodos::protocols::redis
