// Replays the postgres fuzz corpus (seeds and every input the fuzzer ever broke the code with)
// through the fuzz target's checks, so that a regression fails the plain unit test run. The
// disabled test writes the seeds from the captures: run it with
// --gtest_also_run_disabled_tests --gtest_filter='PostgresFuzzCorpus.DISABLED_WriteSeeds'.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "../corpus.h"
#include "captures.h"
#include "fuzz_check.h"

namespace hodos::protocols::postgres {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kCorpusName = "postgres";
const fs::path kCorpus = corpus::dir(kCorpusName);

using corpus::read_file;

TEST(PostgresFuzzCorpus, EveryEntryPassesTheFuzzChecks) {
  size_t count = 0;
  for (const auto& [path, bytes] : corpus::entries(kCorpusName)) {
    EXPECT_EQ(fuzz::check_input(bytes), "") << path;
    ++count;
  }
  EXPECT_GE(count, 10u);
}

TEST(PostgresFuzzCorpus, EveryCapturePassesTheFuzzChecks) {
  for (const testing::Conversation& c : testing::conversations()) {
    EXPECT_EQ(fuzz::check_input(fuzz::encode(c.turns)), "") << c.name;
  }
}

TEST(PostgresFuzzCorpus, TheLiteralCheckCatchesALeak) {
  // The check itself must be able to fail: a call whose text kept a literal.
  std::string text = "SELECT * FROM t WHERE a = 'leaked-value'";
  std::string q = "Q" + std::string(3, '\0') + static_cast<char>(text.size() + 5) + text + '\0';
  std::vector<testing::Turn> turns = {{Direction::kEgress, q, q.size()}};
  testing::Run run;
  run.counters.requests = run.counters.calls = 1;
  DbCall call;
  call.system = "postgresql";
  call.query_text = "SELECT * FROM t WHERE a = 'leaked-value'";
  run.calls.push_back(call);
  EXPECT_NE(fuzz::check_run(run, turns), "");
  run.calls[0].query_text = "SELECT * FROM t WHERE a = ?";
  EXPECT_EQ(fuzz::check_run(run, turns), "");
}

TEST(PostgresFuzzCorpus, DISABLED_WriteSeeds) {
  fs::create_directories(kCorpus);
  for (const testing::Conversation& c : testing::conversations()) {
    std::ofstream(kCorpus / std::string(c.name), std::ios::binary) << fuzz::encode(c.turns);
  }
}

}  // namespace
}  // namespace hodos::protocols::postgres
