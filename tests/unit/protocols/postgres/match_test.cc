#include "protocols/postgres/match.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "captures.h"
#include "replay.h"

namespace hodos::protocols::postgres {
namespace {

using testing::conversation;
using testing::conversations;
using testing::describe;
using testing::replay;
using testing::Turn;
using testing::turn_ns;
using V = std::vector<std::string>;

const std::vector<Turn>& turns(std::string_view name) {
  const std::vector<Turn>& t = conversation(name).turns;
  EXPECT_FALSE(t.empty()) << name;
  return t;
}

// --- Message builders, written from the protocol documentation (Message Formats) ---------------

std::string be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}
std::string msg(char tag, std::string_view body) {
  return std::string(1, tag) + be32(static_cast<uint32_t>(body.size() + 4)) + std::string(body);
}
std::string cstr(std::string_view s) { return std::string(s) + '\0'; }
std::string query(std::string_view text) { return msg('Q', cstr(text)); }
std::string parse(std::string_view name, std::string_view text) {
  return msg('P', cstr(name) + cstr(text) + std::string(2, '\0'));
}
// One text parameter (never read by the matcher).
std::string bind(std::string_view portal, std::string_view statement, std::string_view value) {
  return msg('B', cstr(portal) + cstr(statement) + std::string("\0\0\0\1", 4) + be32(value.size()) +
                      std::string(value) + std::string(2, '\0'));
}
std::string execute(std::string_view portal = "", uint32_t max_rows = 0) {
  return msg('E', cstr(portal) + be32(max_rows));
}
const std::string kSync = msg('S', "");
const std::string kReady = msg('Z', "I");
std::string complete(std::string_view tag) { return msg('C', cstr(tag)); }
std::string error(std::string_view sqlstate, std::string_view message) {
  return msg('E', "SERROR" + std::string(1, '\0') + "VERROR" + std::string(1, '\0') + "C" +
                      cstr(sqlstate) + "M" + cstr(message) + std::string(1, '\0'));
}
std::string startup(std::string_view params) {
  std::string body = be32(196608) + std::string(params) + std::string(1, '\0');
  return be32(static_cast<uint32_t>(body.size() + 4)) + body;
}
std::string data_row(std::string_view value) {
  return msg('D', std::string("\0\1", 2) + be32(value.size()) + std::string(value));
}

// A conversation of whole chunks, one per string.
std::vector<Turn> chunks(std::initializer_list<std::pair<Direction, std::string_view>> list) {
  std::vector<Turn> out;
  for (const auto& [d, bytes] : list) out.push_back({d, bytes, bytes.size()});
  return out;
}
constexpr Direction kOut = Direction::kEgress;
constexpr Direction kIn = Direction::kIngress;

// --- Real conversations --------------------------------------------------------------------------

TEST(PostgresMatch, PsqlSimpleQueriesWithSqlstateAndBatch) {
  testing::Run run = replay(turns("psql_simple"));
  EXPECT_EQ(describe(run.calls), (V{"SELECT users", "INSERT users !23505", "? x3"}));
  ASSERT_EQ(run.calls.size(), 3u);
  for (const DbCall& c : run.calls) {
    EXPECT_EQ(c.system, "postgresql");
    EXPECT_EQ(c.namespace_name, "shop");
    EXPECT_EQ(testing::leaked_secret(c), "");
  }
  EXPECT_NE(run.calls[0].query_text.find('?'), std::string::npos);
  EXPECT_NE(run.calls[0].query_text.find("users"), std::string::npos);
  // Query at turn 8, its answer at turn 9; the INSERT's error and its ReadyForQuery come apart.
  EXPECT_EQ(run.calls[0].start_ns, turn_ns(8));
  EXPECT_EQ(run.calls[0].end_ns, turn_ns(9));
  EXPECT_EQ(run.calls[1].start_ns, turn_ns(10));
  EXPECT_EQ(run.calls[1].end_ns, turn_ns(12));
  const DbMatchCounters& c = run.counters;
  EXPECT_EQ(c.requests, 3u);
  EXPECT_EQ(c.calls, 3u);
  EXPECT_EQ(c.unmatched_requests + c.unmatched_responses + c.invalid + c.truncated, 0u);
  EXPECT_FALSE(c.gave_up);
}

TEST(PostgresMatch, NodePostgresNamedStatementAndError) {
  // node-postgres sends Parse/Bind/Describe/Execute/Sync in one write; a named statement is
  // parsed once and then only bound; a query without parameters goes as a simple Query.
  testing::Run run = replay(turns("node_pg"));
  EXPECT_EQ(describe(run.calls), (V{"SELECT users", "SELECT users", "SELECT users",
                                    "INSERT users !23505", "UPDATE users"}));
  ASSERT_EQ(run.calls.size(), 5u);
  EXPECT_EQ(run.calls[1].query_text, run.calls[2].query_text);
  EXPECT_EQ(run.calls[2].start_ns, turn_ns(6));  // the Bind of the reused statement
  EXPECT_EQ(run.calls[3].end_ns, turn_ns(9));    // the error, not its ReadyForQuery (turn 10)
  for (const DbCall& c : run.calls) {
    EXPECT_EQ(c.namespace_name, "shop");
    EXPECT_EQ(testing::leaked_secret(c), "");
  }
  EXPECT_EQ(run.counters.unmatched_requests + run.counters.unmatched_responses, 0u);
}

TEST(PostgresMatch, SslRequestAnsweredSGivesUp) {
  testing::Run run = replay(turns("ssl_s"), {}, /*close=*/false);
  EXPECT_TRUE(run.calls.empty());
  EXPECT_TRUE(run.counters.gave_up);
  EXPECT_FALSE(run.active);
}

TEST(PostgresMatch, SslRequestAnsweredNContinuesInPlaintext) {
  // psql_simple begins with SSLRequest, 'N', then the StartupMessage.
  const std::vector<Turn>& t = turns("psql_simple");
  ASSERT_EQ(t[1].captured, "N");
  testing::Run run = replay(t);
  EXPECT_FALSE(run.counters.gave_up);
  EXPECT_EQ(run.calls.size(), 3u);
}

TEST(PostgresMatch, PgbenchPreparedReusesNamedStatements) {
  testing::Run run = replay(turns("pgbench_prepared"));
  EXPECT_EQ(describe(run.calls),
            (V{"SELECT users", "UPDATE users", "SELECT users", "UPDATE users"}));
  ASSERT_EQ(run.calls.size(), 4u);
  EXPECT_EQ(run.calls[0].query_text, run.calls[2].query_text);
  EXPECT_NE(run.calls[0].query_text.find("$1"), std::string::npos);
  EXPECT_EQ(run.calls[1].query_text.find("x@example.com"), std::string::npos);
  // The Parse went in its own Sync group: an Execute starts at the Bind that began its group.
  EXPECT_EQ(run.calls[0].start_ns, turn_ns(8));
  EXPECT_EQ(run.calls[0].end_ns, turn_ns(9));
  EXPECT_EQ(run.counters.requests, 4u);
  EXPECT_EQ(run.counters.unmatched_requests + run.counters.unmatched_responses, 0u);
}

TEST(PostgresMatch, PgbenchExtendedUnnamedStatements) {
  testing::Run run = replay(turns("pgbench_extended"));
  EXPECT_EQ(describe(run.calls), (V{"SELECT users", "UPDATE users"}));
  for (const DbCall& c : run.calls) EXPECT_EQ(testing::leaked_secret(c), "");
}

TEST(PostgresMatch, DatabaseDefaultsToTheUserName) {
  testing::Run run = replay(turns("user_only"));
  ASSERT_EQ(run.calls.size(), 1u);
  EXPECT_EQ(run.calls[0].namespace_name, "app");
}

TEST(PostgresMatch, ErrorInTheMiddleOfAPipeline) {
  // Group 1: SELECT ok, SELECT 100/0 fails, a third Execute the server skips; group 2 runs.
  testing::Run run = replay(turns("pipeline_error"));
  EXPECT_EQ(describe(run.calls), (V{"SELECT users", "SELECT !22012", "SELECT orders"}));
  EXPECT_EQ(run.counters.requests, 4u);
  EXPECT_EQ(run.counters.calls, 3u);
  EXPECT_EQ(run.counters.unmatched_requests, 1u);  // the skipped Execute
  EXPECT_EQ(run.counters.unmatched_responses, 0u);
  for (const DbCall& c : run.calls) EXPECT_EQ(testing::leaked_secret(c), "");
}

TEST(PostgresMatch, PreparedStatementReusedAcrossSyncGroups) {
  testing::Run run = replay(turns("prepared_reuse"));
  EXPECT_EQ(describe(run.calls), (V{"SELECT users", "SELECT users"}));
  ASSERT_EQ(run.calls.size(), 2u);
  EXPECT_EQ(run.calls[1].start_ns, turn_ns(6));
  EXPECT_EQ(run.calls[1].end_ns, turn_ns(7));
}

TEST(PostgresMatch, PortalSuspendedAnswersAnExecute) {
  testing::Run run = replay(turns("portal_suspended"));
  EXPECT_EQ(describe(run.calls), (V{"SELECT users", "SELECT users"}));
}

TEST(PostgresMatch, ParseErrorFailsTheExecuteOfItsGroup) {
  testing::Run run = replay(turns("parse_error"));
  ASSERT_EQ(run.calls.size(), 1u);
  EXPECT_TRUE(run.calls[0].error);
  EXPECT_EQ(run.calls[0].status_code, "42601");
  EXPECT_EQ(testing::leaked_secret(run.calls[0]), "");
}

TEST(PostgresMatch, FlushAndDescribeBeforeExecute) {
  testing::Run run = replay(turns("flush_describe"));
  EXPECT_EQ(describe(run.calls), (V{"INSERT orders"}));
  EXPECT_EQ(testing::leaked_secret(run.calls.at(0)), "");
  // The group began with the Parse (turn 2), before the Flush round trip.
  EXPECT_EQ(run.calls[0].start_ns, turn_ns(2));
}

TEST(PostgresMatch, SimpleQueryMiscellany) {
  // Empty query, a notice, LISTEN/NOTIFY (an asynchronous notification inside the answer),
  // a 100 KB row read in two capture-cut chunks (its CommandComplete and ReadyForQuery are
  // beyond the capture: the call ends when the client writes again), COPY out and in, an error.
  testing::Run run = replay(turns("simple_misc"));
  EXPECT_EQ(describe(run.calls),
            (V{"?", "DO", "? x2", "SELECT ~", "COPY", "COPY", "SELECT missing_table !42P01"}));
  for (const DbCall& c : run.calls) EXPECT_EQ(testing::leaked_secret(c), "");
  EXPECT_EQ(run.counters.unmatched_requests + run.counters.unmatched_responses, 0u);
  EXPECT_GT(run.counters.skipped_bytes, 90'000u);
}

// --- Every real conversation, cut and split --------------------------------------------------

// Calls a damaged run may emit: whole ones exactly as in the clean run, truncated ones anything
// but literals.
void expect_consistent(const testing::Run& damaged, const testing::Run& clean,
                       const std::string& what) {
  std::vector<std::string> expected = describe(clean.calls);
  EXPECT_LE(damaged.counters.calls, damaged.counters.requests) << what;
  EXPECT_EQ(damaged.counters.calls, damaged.calls.size()) << what;
  for (const DbCall& c : damaged.calls) {
    EXPECT_EQ(testing::leaked_secret(c), "") << what;
    EXPECT_LE(c.start_ns, c.end_ns) << what;
    if (!c.truncated) {
      EXPECT_NE(std::find(expected.begin(), expected.end(), describe(c)), expected.end())
          << what << ": " << describe(c);
    }
  }
}

TEST(PostgresMatch, EveryPrefixOfEveryConversation) {
  for (const testing::Conversation& conv : conversations()) {
    testing::Run clean = replay(conv.turns);
    std::vector<std::string> expected = describe(clean.calls);
    for (size_t i = 0; i < conv.turns.size(); ++i) {
      const Turn& last = conv.turns[i];
      for (size_t cut = 0; cut <= last.captured.size(); ++cut) {
        std::vector<Turn> t(conv.turns.begin(), conv.turns.begin() + i);
        t.push_back({last.direction, last.captured.substr(0, cut), cut});
        testing::Run run = replay(t);
        std::string what =
            std::string(conv.name) + " turn " + std::to_string(i) + " cut " + std::to_string(cut);
        // A conversation that stops early is the clean one's beginning.
        std::vector<std::string> got = describe(run.calls);
        ASSERT_LE(got.size(), expected.size()) << what;
        for (size_t k = 0; k < got.size(); ++k) EXPECT_EQ(got[k], expected[k]) << what;
        EXPECT_EQ(run.counters.invalid, 0u) << what;
      }
    }
  }
}

TEST(PostgresMatch, EverySplitOffsetOfEveryChunk) {
  for (const testing::Conversation& conv : conversations()) {
    testing::Run clean = replay(conv.turns);
    for (size_t i = 0; i < conv.turns.size(); ++i) {
      const Turn& turn = conv.turns[i];
      if (turn.captured.size() != turn.length) continue;  // splitting a cut chunk moves its gap
      for (size_t at = 1; at < turn.captured.size(); ++at) {
        std::vector<Turn> t(conv.turns.begin(), conv.turns.begin() + i);
        t.push_back({turn.direction, turn.captured.substr(0, at), at});
        t.push_back({turn.direction, turn.captured.substr(at), turn.length - at});
        t.insert(t.end(), conv.turns.begin() + i + 1, conv.turns.end());
        testing::Run run = replay(t);
        std::string what =
            std::string(conv.name) + " turn " + std::to_string(i) + " at " + std::to_string(at);
        ASSERT_EQ(describe(run.calls), describe(clean.calls)) << what;
        EXPECT_EQ(run.counters.unmatched_requests, clean.counters.unmatched_requests) << what;
        EXPECT_EQ(run.counters.truncated, clean.counters.truncated) << what;
      }
    }
  }
}

TEST(PostgresMatch, EveryCaptureCutOfEveryChunk) {
  for (const testing::Conversation& conv : conversations()) {
    testing::Run clean = replay(conv.turns);
    for (size_t i = 0; i < conv.turns.size(); ++i) {
      for (size_t keep = 0; keep < conv.turns[i].captured.size(); ++keep) {
        std::vector<Turn> t = conv.turns;
        t[i].captured = t[i].captured.substr(0, keep);
        testing::Run run = replay(t);
        expect_consistent(run, clean,
                          std::string(conv.name) + " turn " + std::to_string(i) + " keeps " +
                              std::to_string(keep));
        // Bytes the capture missed are counted, unless the matcher had already stopped (TLS).
        if (!clean.counters.gave_up) {
          EXPECT_GT(run.counters.skipped_bytes, clean.counters.skipped_bytes);
        }
      }
    }
  }
}

TEST(PostgresMatch, AllInOneChunkEachWay) {
  // Requests in one write and answers in one read: the pipelined extreme.
  for (std::string_view name : {"psql_simple", "pgbench_prepared", "pipeline_error"}) {
    const std::vector<Turn>& t = turns(name);
    // Start-up first (its answer is needed before the client may go on), then the rest merged.
    size_t first_query = 0;
    while (first_query < t.size() &&
           !(t[first_query].direction == kOut &&
             std::string_view("QP").find(t[first_query].captured[0]) != std::string_view::npos)) {
      ++first_query;
    }
    std::string out, in;
    for (size_t i = first_query; i < t.size(); ++i) {
      (t[i].direction == kOut ? out : in) += t[i].captured;
    }
    std::vector<Turn> merged(t.begin(), t.begin() + first_query);
    merged.push_back({kOut, out, out.size()});
    merged.push_back({kIn, in, in.size()});
    EXPECT_EQ(describe(replay(merged).calls), describe(replay(t).calls)) << name;
  }
}

// --- Written from the protocol documentation --------------------------------------------------

TEST(PostgresMatch, PipelinedSyncGroupsAnsweredInOrder) {
  std::string out = parse("", "SELECT * FROM users WHERE id = $1") + bind("", "", "7") + execute() +
                    kSync + parse("s2", "DELETE FROM orders WHERE id = $1") + bind("", "s2", "8") +
                    execute() + kSync + bind("", "s2", "9") + execute() + kSync;
  std::string in1 = msg('1', "") + msg('2', "") + data_row("row") + complete("SELECT 1") + kReady;
  std::string in2 = msg('1', "") + msg('2', "") + complete("DELETE 1") + kReady;
  std::string in3 = msg('2', "") + complete("DELETE 0") + kReady;
  testing::Run run = replay(chunks({{kOut, out}, {kIn, in1}, {kIn, in2}, {kIn, in3}}));
  EXPECT_EQ(describe(run.calls), (V{"SELECT users", "DELETE orders", "DELETE orders"}));
  ASSERT_EQ(run.calls.size(), 3u);
  EXPECT_EQ(run.calls[0].end_ns, turn_ns(1));
  EXPECT_EQ(run.calls[2].end_ns, turn_ns(3));
  EXPECT_EQ(run.calls[2].start_ns, turn_ns(0));
}

TEST(PostgresMatch, ErrorSkipsTheRestOfTheGroupEvenBeforeItsSyncIsSeen) {
  // The error arrives while the client has not yet written the rest of its group.
  std::string in =
      msg('1', "") + msg('2', "") + error("23505", "Key (id)=(1) already exists") + kReady;
  std::string first = parse("", "INSERT INTO users VALUES ($1)") + bind("", "", "1") + execute();
  std::string rest = bind("", "", "2") + execute() + kSync + query("SELECT 1");
  testing::Run run = replay(chunks({{kOut, first},
                                    {kIn, in.substr(0, in.size() - kReady.size())},
                                    {kOut, rest},
                                    {kIn, kReady},
                                    {kIn, data_row("1") + complete("SELECT 1") + kReady}}));
  EXPECT_EQ(describe(run.calls), (V{"INSERT users !23505", "SELECT"}));
  EXPECT_EQ(run.counters.unmatched_requests, 1u);
  EXPECT_EQ(testing::leaked_secret(run.calls[0]), "");
}

TEST(PostgresMatch, ClosedStatementIsForgotten) {
  std::string out = parse("s", "SELECT * FROM users") + kSync;
  std::string out2 = msg('C', "S" + cstr("s")) + bind("", "s", "1") + execute() + kSync;
  testing::Run run = replay(chunks({{kOut, out},
                                    {kIn, msg('1', "") + kReady},
                                    {kOut, out2},
                                    {kIn, msg('3', "") + complete("SELECT 0") + kReady}}));
  ASSERT_EQ(run.calls.size(), 1u);
  EXPECT_EQ(run.calls[0].query_text, "");  // the statement is unknown, not a stale one
}

TEST(PostgresMatch, HugeDataRowBeyondTheCaptureIsSkippedByLength) {
  std::string big(100'000, 'v');
  std::string row = data_row(big);
  std::string head = msg('T', std::string("\0\1", 2) + cstr("big") + std::string(18, '\0')) + row;
  std::string q = query("SELECT payload FROM blobs");
  std::vector<Turn> t = chunks({{kOut, q}});
  t.push_back({kIn, std::string_view(head).substr(0, 300), head.size()});  // 4 KB probe buffer
  std::string tail = complete("SELECT 1") + kReady;
  t.push_back({kIn, tail, tail.size()});
  testing::Run run = replay(t);
  EXPECT_EQ(describe(run.calls), (V{"SELECT blobs ~"}));
  EXPECT_EQ(run.calls.at(0).end_ns, turn_ns(2));
  EXPECT_EQ(run.counters.truncated, 1u);
  EXPECT_EQ(run.counters.skipped_bytes, head.size() - 300);
}

TEST(PostgresMatch, QueryLongerThanTheCaptureIsCutButMatched) {
  std::string text = "SELECT * FROM users WHERE name = 'abc' AND " + std::string(5000, ' ') + "1=1";
  std::string q = query(text);
  std::vector<Turn> t;
  t.push_back({kOut, std::string_view(q).substr(0, 60), q.size()});
  std::string answer = complete("SELECT 0") + kReady;
  t.push_back({kIn, answer, answer.size()});
  testing::Run run = replay(t);
  EXPECT_EQ(describe(run.calls), (V{"SELECT users ~"}));
  EXPECT_EQ(run.calls.at(0).query_text.find("abc"), std::string::npos);
}

TEST(PostgresMatch, CopyInAndOutDoNotDesync) {
  std::string copy_out = msg('H', std::string("\0\0\1\0\0", 5)) + msg('d', "1\tx\n") +
                         msg('c', "") + complete("COPY 1") + kReady;
  testing::Run run = replay(chunks({{kOut, query("COPY t TO STDOUT")},
                                    {kIn, copy_out},
                                    {kOut, query("COPY t FROM STDIN")},
                                    {kIn, msg('G', std::string("\0\0\1\0\0", 5))},
                                    {kOut, msg('d', "2\ty\n") + msg('c', "")},
                                    {kIn, complete("COPY 1") + kReady},
                                    {kOut, query("SELECT 1")},
                                    {kIn, complete("SELECT 1") + kReady}}));
  EXPECT_EQ(describe(run.calls), (V{"COPY", "COPY", "SELECT"}));
  ASSERT_EQ(run.calls.size(), 3u);
  EXPECT_EQ(run.calls[1].end_ns, turn_ns(5));
}

TEST(PostgresMatch, FunctionCallIsNotACallButKeepsTheOrder) {
  std::string fcall = msg('F', be32(1234) + std::string(6, '\0'));
  testing::Run run =
      replay(chunks({{kOut, fcall + query("SELECT 2")},
                     {kIn, msg('V', be32(0xffffffff)) + kReady + complete("SELECT 1") + kReady}}));
  EXPECT_EQ(describe(run.calls), (V{"SELECT"}));
  EXPECT_EQ(run.counters.requests, 1u);
}

TEST(PostgresMatch, MidStreamConnection) {
  // No start-up seen: a pooled connection opened before the agent.
  testing::Run run = replay(
      chunks({{kOut, query("SELECT 1")}, {kIn, complete("SELECT 1") + kReady}, {kIn, kReady}}));
  EXPECT_EQ(describe(run.calls), (V{"SELECT"}));
  EXPECT_EQ(run.calls.at(0).namespace_name, "");
  EXPECT_EQ(run.counters.unmatched_responses, 1u);
}

TEST(PostgresMatch, UnansweredRequestsAreCountedAtClose) {
  testing::Run run = replay(chunks({{kOut, query("SELECT 1") + query("SELECT 2")}}));
  EXPECT_TRUE(run.calls.empty());
  EXPECT_EQ(run.counters.unmatched_requests, 2u);
}

TEST(PostgresMatch, PendingRequestsAreBounded) {
  DbMatchOptions options;
  options.max_pending_requests = 2;
  testing::Run run =
      replay(chunks({{kOut, query("SELECT 1") + query("SELECT 2") + query("SELECT 3")},
                     {kIn, kReady + kReady}}),
             options);
  EXPECT_EQ(run.counters.unmatched_requests, 1u);
  EXPECT_EQ(run.calls.size(), 2u);
}

TEST(PostgresMatch, KeepLiteralsKeepsTheText) {
  DbMatchOptions options;
  options.keep_literals = true;
  testing::Run run = replay(
      chunks({{kOut, query("SELECT * FROM users WHERE name = 'bob'")}, {kIn, kReady}}), options);
  ASSERT_EQ(run.calls.size(), 1u);
  EXPECT_NE(run.calls[0].query_text.find("'bob'"), std::string::npos);
}

TEST(PostgresMatch, StartupMessageWithoutDatabaseOrWithBoth) {
  std::string both = startup(cstr("user") + cstr("svc") + cstr("database") + cstr("orders_db"));
  std::string auth_ok = msg('R', be32(0)) + msg('K', be32(1) + be32(2)) + kReady;
  testing::Run run = replay(chunks({{kOut, both},
                                    {kIn, auth_ok},
                                    {kOut, query("SELECT 1")},
                                    {kIn, complete("SELECT 1") + kReady}}));
  ASSERT_EQ(run.calls.size(), 1u);
  EXPECT_EQ(run.calls[0].namespace_name, "orders_db");
  EXPECT_EQ(run.counters.unmatched_responses, 0u);  // the start-up's ReadyForQuery is no answer
}

TEST(PostgresMatch, GarbageIsNotPostgres) {
  std::string http = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  testing::Run run = replay(chunks({{kOut, http}, {kOut, http}, {kOut, http}, {kOut, http}}));
  EXPECT_TRUE(run.counters.gave_up);
  EXPECT_TRUE(run.calls.empty());
  EXPECT_GE(run.counters.invalid, 1u);
}

TEST(PostgresMatch, ResyncsOnAReadyForQueryInsideAChunk) {
  // A read that starts in the middle of a row (its start was lost) still ends the query.
  std::vector<Turn> t;
  std::string q = query("SELECT * FROM users");
  t.push_back({kOut, q, q.size()});
  std::string first = msg('T', std::string(2, '\0')) + data_row(std::string(50, 'a'));
  t.push_back({kIn, std::string_view(first).substr(0, 10), first.size() + 40});  // 40 B lost
  std::string second = std::string(20, 'a') + complete("SELECT 1") + kReady;
  t.push_back({kIn, second, second.size()});
  testing::Run run = replay(t);
  EXPECT_EQ(describe(run.calls), (V{"SELECT users ~"}));
  EXPECT_EQ(run.calls.at(0).end_ns, turn_ns(2));
}

TEST(PostgresMatch, PortalOutlivesItsStatement) {
  // Closing or forgetting a statement must not leave a bound portal pointing at freed memory.
  std::string out = parse("s", "SELECT * FROM users") + bind("p", "s", "1") +
                    msg('C', "S" + cstr("s")) + execute("p");
  for (int i = 0; i < 300; ++i) out += parse("n" + std::to_string(i), "SELECT 1");
  out += execute("p") + kSync;
  std::string in = msg('1', "") + msg('2', "") + msg('3', "") + complete("SELECT 1");
  for (int i = 0; i < 300; ++i) in += msg('1', "");
  in += complete("SELECT 1") + kReady;
  testing::Run run = replay(chunks({{kOut, out}, {kIn, in}}));
  EXPECT_EQ(describe(run.calls), (V{"SELECT users", "SELECT users"}));
}

TEST(PostgresMatch, GssEncRequestRefusedThenStartup) {
  std::string gss = be32(8) + be32(80877104);
  std::string start = startup(cstr("user") + cstr("u") + cstr("database") + cstr("d"));
  testing::Run run = replay(chunks({{kOut, gss},
                                    {kIn, "N"},
                                    {kOut, start},
                                    {kIn, msg('R', be32(0)) + kReady},
                                    {kOut, query("SELECT 1")},
                                    {kIn, complete("SELECT 1") + kReady}}));
  EXPECT_EQ(describe(run.calls), (V{"SELECT"}));
  EXPECT_EQ(run.calls.at(0).namespace_name, "d");
  EXPECT_FALSE(run.counters.gave_up);

  testing::Run encrypted = replay(chunks({{kOut, gss}, {kIn, "G"}, {kOut, "\x16\x03\x01"}}), {},
                                  /*close=*/false);
  EXPECT_TRUE(encrypted.counters.gave_up);
}

TEST(PostgresMatch, CancelRequestIsNoCall) {
  std::string cancel = be32(16) + be32(80877102) + be32(42) + be32(7);
  testing::Run run = replay(chunks({{kOut, cancel}}));
  EXPECT_TRUE(run.calls.empty());
  EXPECT_EQ(run.counters.requests + run.counters.invalid + run.counters.unmatched_requests, 0u);
}

TEST(PostgresMatch, PasswordMessagesAreSkippedUnread) {
  std::string start = startup(cstr("user") + cstr("svc") + cstr("database") + cstr("db"));
  testing::Run run =
      replay(chunks({{kOut, start},
                     {kIn, msg('R', be32(3))},  // AuthenticationCleartextPassword
                     {kOut, msg('p', cstr("hp-secret-pw"))},
                     {kIn, msg('R', be32(0)) + msg('S', cstr("server_version") + cstr("15")) +
                               msg('K', be32(1) + be32(2)) + kReady},
                     {kOut, query("SELECT 1")},
                     {kIn, complete("SELECT 1") + kReady}}));
  ASSERT_EQ(run.calls.size(), 1u);
  EXPECT_EQ(testing::leaked_secret(run.calls[0]), "");
  EXPECT_EQ(run.counters.requests, 1u);
  EXPECT_EQ(run.counters.unmatched_responses, 0u);
}

TEST(PostgresMatch, NothingAfterAHoleInAQueryIsKept) {
  // The capture missed the bytes holding a literal's opening quote: what follows the hole must
  // not be read as bare words.
  std::string q = query("SELECT * FROM users WHERE name = 'top-secret-name' AND id = 1");
  size_t quote = q.find('\'');
  std::vector<Turn> t;
  t.push_back({kOut, std::string_view(q).substr(0, quote - 2), quote + 1});  // the quote is lost
  t.push_back({kOut, std::string_view(q).substr(quote + 1), q.size() - quote - 1});
  std::string answer = complete("SELECT 0") + kReady;
  t.push_back({kIn, answer, answer.size()});
  testing::Run run = replay(t);
  ASSERT_EQ(run.calls.size(), 1u);
  EXPECT_TRUE(run.calls[0].truncated);
  EXPECT_EQ(run.calls[0].query_text.find("top-secret"), std::string::npos)
      << run.calls[0].query_text;
}

}  // namespace
}  // namespace hodos::protocols::postgres
