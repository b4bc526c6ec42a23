#include "protocols/redis/match.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "captures.h"

namespace hodos::protocols::redis {
namespace {

using testing::conversation;

// A traced client: it writes commands (egress) and reads replies (ingress). Every chunk gets the
// next timestamp.
class Client {
 public:
  explicit Client(DbMatchOptions options = {}, ConnectionStart start = ConnectionStart::kFromStart)
      : matcher_(make_redis_matcher([this](DbCall&& c) { calls.push_back(std::move(c)); }, options,
                                    start)) {}

  uint64_t write(std::string_view captured, uint64_t length = 0) {
    return feed(Direction::kEgress, captured, length);
  }
  uint64_t read(std::string_view captured, uint64_t length = 0) {
    return feed(Direction::kIngress, captured, length);
  }
  uint64_t feed(Direction d, std::string_view captured, uint64_t length = 0) {
    ts_ += 100;
    matcher_->feed(d, {captured, length, ts_});
    return ts_;
  }
  void replay(const testing::Conversation& conv) {
    for (const auto& e : conv.exchanges) {
      write(e.command);
      read(e.reply);
    }
  }
  void close() { matcher_->close(); }
  const DbMatchCounters& counters() const { return matcher_->counters(); }
  bool active() const { return matcher_->active(); }

  // "namespace|operation|query text|status|e(rror)|batch|t(runcated)" per call.
  std::vector<std::string> summaries() const {
    std::vector<std::string> out;
    for (const DbCall& c : calls) {
      out.push_back(c.namespace_name + "|" + c.operation + "|" + c.query_text + "|" +
                    c.status_code + "|" + (c.error ? "e" : "") + "|" +
                    std::to_string(c.batch_size) + "|" + (c.truncated ? "t" : ""));
    }
    return out;
  }

  std::vector<DbCall> calls;

 private:
  uint64_t ts_ = 1'000'000;
  std::unique_ptr<DbMatcher> matcher_;
};

using Summaries = std::vector<std::string>;

std::string all_bytes(const testing::Conversation& conv, bool commands) {
  std::string out;
  for (const auto& e : conv.exchanges) out += commands ? e.command : e.reply;
  return out;
}

TEST(RedisMatch, BasicCommands) {
  Client c;
  c.replay(conversation("basic"));
  EXPECT_EQ(c.summaries(), (Summaries{
                               "0|SET|SET ? ?|||0|",
                               "0|GET|GET ?|||0|",
                               "0|GET|GET ?|||0|",
                               "0|INCR|INCR ?|||0|",
                               "0|LPUSH|LPUSH ? ? ?|||0|",
                               "0|LRANGE|LRANGE ? ? ?|||0|",
                               "0|HSET|HSET ? ? ?|||0|",
                               "0|HGETALL|HGETALL ?|||0|",
                           }));
  for (const DbCall& call : c.calls) {
    EXPECT_EQ(call.system, "redis");
    EXPECT_EQ(call.end_ns, call.start_ns + 100);
  }
  c.close();
  EXPECT_EQ(c.counters().requests, 8u);
  EXPECT_EQ(c.counters().calls, 8u);
  EXPECT_EQ(c.counters().unmatched_requests, 0u);
  EXPECT_EQ(c.counters().unmatched_responses, 0u);
  EXPECT_EQ(c.counters().invalid, 0u);
  EXPECT_FALSE(c.active());
}

TEST(RedisMatch, ErrorsKeepTheirCodeNeverTheMessage) {
  Client c;
  c.replay(conversation("errors"));
  EXPECT_EQ(c.summaries(), (Summaries{
                               "0|INCR|INCR ?|ERR|e|0|",
                               "0|LPUSH|LPUSH ? ?|WRONGTYPE|e|0|",
                               "0|NOSUCH|NOSUCH ?|ERR|e|0|",
                               "0|GET|GET|ERR|e|0|",
                               "0|SELECT|SELECT ?|ERR|e|0|",
                           }));
  for (const DbCall& call : c.calls) {
    EXPECT_EQ(call.status_code.find(' '), std::string::npos);
  }
}

TEST(RedisMatch, ErrorWithoutAnUpperCaseCodeHasNoStatus) {
  Client c;
  c.write("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
  c.read("-wrong password for user alice\r\n");
  c.write("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
  c.read("!21\r\nSYNTAX invalid syntax\r\n");
  EXPECT_EQ(c.summaries(), (Summaries{"0|GET|GET ?||e|0|", "0|GET|GET ?|SYNTAX|e|0|"}));
}

TEST(RedisMatch, SelectChangesTheNamespaceWhenAccepted) {
  Client c;
  c.replay(conversation("select"));
  c.replay(conversation("errors"));  // SELECT 99 fails: still 0
  c.write("*2\r\n$6\r\nSELECT\r\n$2\r\n12\r\n");
  c.read("+OK\r\n");
  c.write("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
  c.read("$-1\r\n");
  Summaries s = c.summaries();
  ASSERT_EQ(s.size(), 10u);
  EXPECT_EQ(s[0], "0|SELECT|SELECT ?|||0|");
  EXPECT_EQ(s[1], "3|SET|SET ? ?|||0|");
  EXPECT_EQ(s[2], "3|SELECT|SELECT ?|||0|");
  EXPECT_EQ(s[3], "0|INCR|INCR ?|ERR|e|0|");
  EXPECT_EQ(s[7], "0|SELECT|SELECT ?|ERR|e|0|");
  EXPECT_EQ(s[9], "12|GET|GET ?|||0|");
}

TEST(RedisMatch, RedisCliSelectsWithDashN) {
  Client c;
  c.replay(conversation("redis_cli_select"));
  EXPECT_EQ(c.summaries(), (Summaries{"0|SELECT|SELECT ?|||0|", "2|SET|SET ? ?|||0|"}));
}

TEST(RedisMatch, MidStreamNamespaceIsUnknownUntilSelect) {
  Client c({}, ConnectionStart::kMidStream);
  c.replay(conversation("basic"));
  c.replay(conversation("select"));
  Summaries s = c.summaries();
  ASSERT_EQ(s.size(), 11u);
  EXPECT_EQ(s[0], "|SET|SET ? ?|||0|");
  EXPECT_EQ(s[8], "|SELECT|SELECT ?|||0|");
  EXPECT_EQ(s[9], "3|SET|SET ? ?|||0|");
}

TEST(RedisMatch, PipelinedRepliesAreFifo) {
  Client c;
  c.replay(conversation("pipeline"));
  EXPECT_EQ(c.summaries(), (Summaries{"0|SET|SET ? ?|||0|", "0|INCR|INCR ?|||0|",
                                      "0|GET|GET ?|||0|", "0|DEL|DEL ?|||0|"}));
}

// Both directions cut in two at every pair of offsets: the same calls, with the timestamps of
// the first command chunk and the last reply chunk.
TEST(RedisMatch, EverySplitOffsetGivesTheSameCalls) {
  for (const auto& conv : testing::captured_conversations()) {
    Client whole;
    whole.replay(conv);
    for (const auto& e : conv.exchanges) {
      for (size_t i = 1; i < e.command.size(); ++i) {
        for (size_t j = 1; j < e.reply.size(); j += (e.reply.size() > 64 ? 7 : 1)) {
          Client c;
          // The conversation up to this exchange, whole.
          for (const auto& before : conv.exchanges) {
            if (&before == &e) break;
            c.write(before.command);
            c.read(before.reply);
          }
          size_t calls_before = c.calls.size();
          uint64_t start = c.write(e.command.substr(0, i));
          c.write(e.command.substr(i));
          c.read(e.reply.substr(0, j));
          uint64_t end = c.read(e.reply.substr(j));
          for (size_t k = calls_before; k < c.calls.size(); ++k) {
            // A pipelined command may start in the second chunk.
            EXPECT_GE(c.calls[k].start_ns, start) << conv.name;
            EXPECT_LE(c.calls[k].start_ns, start + 100) << conv.name;
            // A pipelined reply ends in the first chunk when it is short.
            EXPECT_LE(c.calls[k].end_ns, end) << conv.name;
          }
          Summaries got = c.summaries();
          Summaries want = whole.summaries();
          want.resize(got.size());
          EXPECT_EQ(got, want) << conv.name << " split " << i << "/" << j;
          if (&e == &conv.exchanges.back()) {
            EXPECT_EQ(c.summaries(), whole.summaries()) << conv.name;
          }
        }
      }
    }
  }
}

TEST(RedisMatch, TimestampsSpanFirstCommandChunkToLastReplyChunk) {
  Client c;
  uint64_t start = c.write("*2\r\n$3\r\nGET\r\n$");
  c.write("1\r\nk\r\n");
  c.read("$5\r\nhel");
  uint64_t end = c.read("lo\r\n");
  ASSERT_EQ(c.calls.size(), 1u);
  EXPECT_EQ(c.calls[0].start_ns, start);
  EXPECT_EQ(c.calls[0].end_ns, end);
}

// Every prefix of the replies: only the complete ones become calls, each with its own command.
TEST(RedisMatch, TruncatedRepliesNeverMisPair) {
  for (const auto& conv : testing::captured_conversations()) {
    Client whole;
    whole.replay(conv);
    std::string commands = all_bytes(conv, true);
    std::string replies = all_bytes(conv, false);
    for (size_t n = 0; n <= replies.size(); ++n) {
      Client c;
      c.write(commands);
      c.read(std::string_view(replies).substr(0, n));
      c.close();
      Summaries got = c.summaries();
      Summaries want = whole.summaries();
      ASSERT_LE(got.size(), want.size()) << conv.name << " at " << n;
      want.resize(got.size());
      EXPECT_EQ(got, want) << conv.name << " at " << n;
      EXPECT_EQ(c.counters().calls + c.counters().unmatched_requests, c.counters().requests)
          << conv.name << " at " << n;
    }
  }
}

TEST(RedisMatch, InlineCommands) {
  Client c;
  c.replay(conversation("inline"));
  EXPECT_EQ(c.summaries(), (Summaries{"0|PING|PING|||0|", "0|ECHO|ECHO ?|||0|"}));
}

TEST(RedisMatch, KeepLiterals) {
  DbMatchOptions options;
  options.keep_literals = true;
  Client c(options);
  c.replay(conversation("basic"));
  c.replay(conversation("redis_cli_select"));
  c.replay(conversation("inline"));
  Summaries s = c.summaries();
  ASSERT_EQ(s.size(), 12u);
  EXPECT_EQ(s[0], "0|SET|SET user:1 alice|||0|");
  EXPECT_EQ(s[5], "0|LRANGE|LRANGE l 0 -1|||0|");
  EXPECT_EQ(s[9], "2|SET|SET greeting \"hello world\"|||0|");
  EXPECT_EQ(s[11], "2|ECHO|ECHO hi|||0|");
}

TEST(RedisMatch, KeptLiteralsAreEscapedAndCut) {
  using namespace std::literals;
  DbMatchOptions options;
  options.keep_literals = true;
  options.max_query_text = 40;
  Client c(options);
  c.write("*3\r\n$3\r\nSET\r\n$3\r\na\"b\r\n$4\r\n\x00\xff\n\xc3\r\n"sv);
  c.read("+OK\r\n");
  c.write("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$40\r\n" + std::string(40, 'v') + "\r\n");
  c.read("+OK\r\n");
  c.write("*2\r\n$4\r\nECHO\r\n$4\r\n\xc3\xa9t\xc3\r\n");
  c.read("$4\r\n\xc3\xa9t\xc3\r\n");
  ASSERT_EQ(c.calls.size(), 3u);
  EXPECT_EQ(c.calls[0].query_text, R"(SET "a\"b" "\x00\xff\n\xc3")");
  EXPECT_EQ(c.calls[1].query_text, "SET k " + std::string(31, 'v') + "...");
  EXPECT_EQ(c.calls[2].query_text, "ECHO \"\xc3\xa9t\\xc3\"");
  c.write("*2\r\n$4\r\nECHO\r\n$4\r\n\xf5\xb8\xb5\xb5\r\n");  // no UTF-8 lead byte is above f4
  c.read("$4\r\n\xf5\xb8\xb5\xb5\r\n");
  ASSERT_EQ(c.calls.size(), 4u);
  EXPECT_EQ(c.calls[3].query_text, R"(ECHO "\xf5\xb8\xb5\xb5")");
  for (const DbCall& call : c.calls) EXPECT_LE(call.query_text.size(), 40u);
}

TEST(RedisMatch, QueryTextIsCutWithoutLiterals) {
  DbMatchOptions options;
  options.max_query_text = 10;
  Client c(options);
  c.write("*5\r\n$4\r\nMSET\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n");
  c.read("+OK\r\n");
  ASSERT_EQ(c.calls.size(), 1u);
  EXPECT_EQ(c.calls[0].query_text, "MSET ? ...");
}

TEST(RedisMatch, PasswordsNeverAppear) {
  for (bool keep : {false, true}) {
    DbMatchOptions options;
    options.keep_literals = keep;
    Client c(options);
    c.replay(conversation("auth"));
    c.replay(conversation("redis_cli_auth"));
    c.write("*4\r\n$6\r\nCONFIG\r\n$3\r\nSET\r\n$11\r\nrequirepass\r\n$6\r\nhunter\r\n");
    c.read("+OK\r\n");
    c.write("*3\r\n$3\r\nACL\r\n$7\r\nSETUSER\r\n$8\r\n>hunter2\r\n");
    c.read("+OK\r\n");
    c.write(
        "*8\r\n$7\r\nMIGRATE\r\n$4\r\nhost\r\n$4\r\n6379\r\n$1\r\nk\r\n$1\r\n0\r\n"
        "$4\r\n1000\r\n$4\r\nAUTH\r\n$6\r\nhunter\r\n");
    c.read("+NOKEY\r\n");
    Summaries s = c.summaries();
    ASSERT_EQ(s.size(), 8u) << keep;
    EXPECT_EQ(s[0], "0|AUTH|AUTH ?|ERR|e|0|");
    EXPECT_EQ(s[1], "0|HELLO|HELLO ? ? ? ?|||0|");
    EXPECT_EQ(s[2], keep ? "0|CLIENT SETNAME|CLIENT SETNAME app1|||0|"
                         : "0|CLIENT SETNAME|CLIENT SETNAME ?|||0|");
    EXPECT_EQ(s[3], "0|AUTH|AUTH ?|ERR|e|0|");
    EXPECT_EQ(s[5], "0|CONFIG SET|CONFIG SET ? ?|||0|");
    EXPECT_EQ(s[6], "0|ACL SETUSER|ACL SETUSER ?|||0|");
    EXPECT_EQ(s[7], "0|MIGRATE|MIGRATE ? ? ? ? ? ? ?|||0|");
    for (const std::string& line : s) {
      EXPECT_EQ(line.find("s3cret"), std::string::npos) << line;
      EXPECT_EQ(line.find("Pa55"), std::string::npos) << line;
      EXPECT_EQ(line.find("hunter"), std::string::npos) << line;
      EXPECT_EQ(line.find("password"), std::string::npos) << "the error message: " << line;
    }
  }
}

TEST(RedisMatch, TransactionsAreOneCallPerCommandAndExecCountsThem) {
  Client c;
  c.replay(conversation("multi"));
  c.replay(conversation("multi_error"));
  EXPECT_EQ(c.summaries(), (Summaries{
                               "0|MULTI|MULTI|||0|",
                               "0|SET|SET ? ?|||0|",
                               "0|INCR|INCR ?|||0|",
                               "0|EXEC|EXEC|||2|",
                               "0|MULTI|MULTI|||0|",
                               "0|SET|SET ?|ERR|e|0|",
                               "0|EXEC|EXEC|EXECABORT|e|0|",
                           }));
}

TEST(RedisMatch, SelectInsideATransactionMakesTheNamespaceUnknown) {
  Client c;
  std::string_view commands =
      "*1\r\n$5\r\nMULTI\r\n*2\r\n$6\r\nSELECT\r\n$1\r\n5\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"
      "*1\r\n$4\r\nEXEC\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n";
  c.write(commands);
  c.read("+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n+OK\r\n$-1\r\n$-1\r\n");
  EXPECT_EQ(c.summaries(), (Summaries{"0|MULTI|MULTI|||0|", "0|SELECT|SELECT ?|||0|",
                                      "0|GET|GET ?|||0|", "0|EXEC|EXEC|||2|", "|GET|GET ?|||0|"}));
}

TEST(RedisMatch, Resp3RepliesAndPushesInterleaved) {
  Client c;
  c.replay(conversation("hello3"));
  EXPECT_EQ(c.summaries(),
            (Summaries{
                "0|HELLO|HELLO ?|||0|", "0|HGETALL|HGETALL ?|||0|", "0|SMEMBERS|SMEMBERS ?|||0|",
                "0|GET|GET ?|||0|", "0|CLIENT TRACKING|CLIENT TRACKING ?|||0|", "0|GET|GET ?|||0|",
                "0|SET|SET ? ?|||0|", "0|INCRBYFLOAT|INCRBYFLOAT ? ?|||0|",
                "0|PING|PING|||0|",  // SUBSCRIBE is answered by a push only
            }));
  EXPECT_TRUE(c.active());
  EXPECT_EQ(c.counters().unmatched_responses, 0u);
}

TEST(RedisMatch, PushBeforeAPendingReplyDoesNotConsumeIt) {
  Client c;
  c.replay(conversation("redis_cli_resp3"));
  c.write("*2\r\n$3\r\nGET\r\n$1\r\na\r\n*2\r\n$3\r\nGET\r\n$1\r\nb\r\n");
  c.read(">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\na\r\n$1\r\n1\r\n");
  c.read("|1\r\n+ttl\r\n:5\r\n>2\r\n$10\r\ninvalidate\r\n_\r\n");  // an attribute on a push
  c.read("-WRONGTYPE x\r\n");
  Summaries s = c.summaries();
  ASSERT_EQ(s.size(), 4u);
  EXPECT_EQ(s[2], "0|GET|GET ?|||0|");
  EXPECT_EQ(s[3], "0|GET|GET ?|WRONGTYPE|e|0|");
}

TEST(RedisMatch, AttributeBeforeAReply) {
  Client c;
  c.write("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
  c.read("|1\r\n+key-popularity\r\n%1\r\n$1\r\nk\r\n,0.19\r\n-ERR nope\r\n");
  EXPECT_EQ(c.summaries(), (Summaries{"0|GET|GET ?|ERR|e|0|"}));
}

TEST(RedisMatch, Resp2SubscribeStopsAfterItsCall) {
  Client c;
  c.replay(conversation("basic"));
  c.replay(conversation("resp2_subscribe"));
  c.read("*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$5\r\nhello\r\n");
  c.write("*1\r\n$4\r\nPING\r\n");
  c.read("*2\r\n$4\r\npong\r\n$0\r\n\r\n");
  ASSERT_EQ(c.calls.size(), 9u);
  EXPECT_EQ(c.calls[8].operation, "SUBSCRIBE");
  EXPECT_TRUE(c.counters().gave_up);
  EXPECT_FALSE(c.active());
}

TEST(RedisMatch, MonitorStopsAfterItsCall) {
  Client c;
  c.write("*1\r\n$7\r\nMONITOR\r\n");
  c.read("+OK\r\n+1700000000.000000 [0 unix:/tmp/r.sock] \"GET\" \"k\"\r\n");
  EXPECT_EQ(c.summaries(), (Summaries{"0|MONITOR|MONITOR|||0|"}));
  EXPECT_TRUE(c.counters().gave_up);
}

TEST(RedisMatch, ClientReplyOffGivesUp) {
  Client c;
  c.write("*3\r\n$6\r\nCLIENT\r\n$5\r\nREPLY\r\n$3\r\nOFF\r\n");
  EXPECT_TRUE(c.counters().gave_up);
  Client on;
  on.write("*3\r\n$6\r\nCLIENT\r\n$5\r\nREPLY\r\n$2\r\non\r\n");
  on.read("+OK\r\n");
  EXPECT_EQ(on.summaries(), (Summaries{"0|CLIENT REPLY|CLIENT REPLY ?|||0|"}));
}

TEST(RedisMatch, SubscribeOnAnUnknownProtocolGivesUp) {
  Client c({}, ConnectionStart::kMidStream);
  c.write("*2\r\n$9\r\nSUBSCRIBE\r\n$1\r\nx\r\n");
  EXPECT_TRUE(c.counters().gave_up);
  EXPECT_TRUE(c.calls.empty());
}

// A GET whose 100 000-byte reply arrives in 16 KiB reads of which only 4 KiB were captured.
TEST(RedisMatch, BulkLargerThanTheCaptureIsSkippedByLength) {
  Client c;
  c.write("*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n");
  std::string reply = "$100000\r\n" + std::string(100000, 'x') + "\r\n";
  uint64_t end = 0;
  uint64_t uncaptured = 0;
  for (size_t at = 0; at < reply.size(); at += 16384) {
    std::string_view read = std::string_view(reply).substr(at, 16384);
    std::string_view captured = read.substr(0, 4096);
    end = c.read(captured, read.size());
    uncaptured += read.size() - captured.size();
  }
  c.write("*2\r\n$3\r\nGET\r\n$5\r\nsmall\r\n");
  c.read("$2\r\nok\r\n");
  ASSERT_EQ(c.calls.size(), 2u);
  EXPECT_TRUE(c.calls[0].truncated);
  EXPECT_EQ(c.calls[0].end_ns, end);
  EXPECT_FALSE(c.calls[1].truncated);
  EXPECT_EQ(c.counters().truncated, 1u);
  EXPECT_EQ(c.counters().skipped_bytes, uncaptured);
  EXPECT_EQ(c.counters().invalid, 0u);
}

TEST(RedisMatch, LargeCommandPayloadIsSkippedByLength) {
  DbMatchOptions options;
  options.keep_literals = true;
  Client c(options);
  std::string command = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$50000\r\n" + std::string(50000, 'v') +
                        "\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n";
  c.write(std::string_view(command).substr(0, 4096), command.size() - 20);
  c.write(std::string_view(command).substr(command.size() - 20));
  c.read("+OK\r\n$5\r\nvalue\r\n");
  ASSERT_EQ(c.calls.size(), 2u);
  EXPECT_EQ(c.calls[0].operation, "SET");
  EXPECT_TRUE(c.calls[0].truncated);
  EXPECT_TRUE(c.calls[0].query_text.ends_with("...")) << c.calls[0].query_text;
  EXPECT_EQ(c.calls[1].query_text, "GET k");
}

// A 10 000-element array read in pieces the capture cut: framing is lost, the GET it answered is
// unmatched, and pairing resumes with the next command.
TEST(RedisMatch, LostFramingResynchronisesOnTheNextCommand) {
  Client c;
  c.write("*4\r\n$6\r\nLRANGE\r\n$1\r\nl\r\n$1\r\n0\r\n$2\r\n-1\r\n");
  std::string reply = "*10000\r\n";
  for (int i = 0; i < 10000; ++i) reply += ":" + std::to_string(i) + "\r\n";
  for (size_t at = 0; at < reply.size(); at += 16384) {
    std::string_view read = std::string_view(reply).substr(at, 16384);
    c.read(read.substr(0, 1000), read.size());
  }
  c.write("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
  c.read("$1\r\nv\r\n");
  EXPECT_EQ(c.summaries(), (Summaries{"0|GET|GET ?|||0|"}));
  EXPECT_EQ(c.counters().unmatched_requests, 1u);
  EXPECT_EQ(c.counters().truncated, 1u);
}

TEST(RedisMatch, ResyncNeedsAChunkWithNoMoreRepliesThanCommands) {
  Client c;
  c.write("*2\r\n$3\r\nGET\r\n$1\r\na\r\n");
  c.read("*3\r\n:1\r\n", 100);  // lost
  c.write("*2\r\n$3\r\nGET\r\n$1\r\nb\r\n");
  // The old array's tail would parse as two replies for one command: not a resync point, and
  // the GET b it may hold is dropped.
  c.read(":2\r\n:3\r\n");
  c.read("$1\r\nB\r\n");
  c.write("*2\r\n$3\r\nGET\r\n$1\r\nc\r\n");
  c.read("$1\r\nC\r\n");
  ASSERT_EQ(c.calls.size(), 1u);
  EXPECT_EQ(c.calls[0].query_text, "GET ?");
  EXPECT_EQ(c.counters().unmatched_requests, 2u);
}

TEST(RedisMatch, GarbageRepliesAreCountedAndResynchronised) {
  Client c;
  c.write("*2\r\n$3\r\nGET\r\n$1\r\na\r\n");
  c.read("\x01\x02garbage");
  c.write("*1\r\n$4\r\nPING\r\n");
  c.read("+PONG\r\n");
  EXPECT_EQ(c.summaries(), (Summaries{"0|PING|PING|||0|"}));
  EXPECT_EQ(c.counters().invalid, 1u);
  EXPECT_EQ(c.counters().unmatched_requests, 1u);
}

TEST(RedisMatch, GarbageCommandsAreCountedAndResynchronised) {
  Client c;
  c.write("*2\r\n$3\r\nGET\r\n$1\r\na\r\n*1\r\n:x\r\n");
  c.read("$1\r\nA\r\n");  // may answer the GET, but the garbage hid how many commands went
  c.write("garbage that continues the bad write\r\n");
  c.write("*1\r\n$4\r\nPING\r\n");
  c.read("+PONG\r\n");
  EXPECT_EQ(c.summaries(), (Summaries{"0|PING|PING|||0|"}));
  EXPECT_EQ(c.counters().invalid, 1u);
}

TEST(RedisMatch, MidStreamSkipsTheTailOfAnOldReply) {
  Client c({}, ConnectionStart::kMidStream);
  c.write("$5\r\nvalue\r\n");  // the end of a command that began before tracking
  c.read("+OK\r\n");           // its reply: nothing is waiting for it
  c.write("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
  c.read("$1\r\nv\r\n");
  EXPECT_EQ(c.summaries(), (Summaries{"|GET|GET ?|||0|"}));
}

TEST(RedisMatch, ReplyWithoutCommandIsUnmatched) {
  Client c;
  c.read("+OK\r\n");
  EXPECT_TRUE(c.calls.empty());
  EXPECT_EQ(c.counters().unmatched_responses, 1u);
}

TEST(RedisMatch, OldestPendingIsDroppedButItsReplyStillSkipped) {
  DbMatchOptions options;
  options.max_pending_requests = 2;
  Client c(options);
  c.write(
      "*2\r\n$3\r\nGET\r\n$1\r\na\r\n*2\r\n$4\r\nINCR\r\n$1\r\nb\r\n"
      "*2\r\n$4\r\nLLEN\r\n$1\r\nc\r\n*2\r\n$3\r\nDEL\r\n$1\r\nd\r\n");
  c.read("$1\r\nA\r\n:1\r\n-WRONGTYPE x\r\n:0\r\n");
  EXPECT_EQ(c.summaries(), (Summaries{"0|LLEN|LLEN ?|WRONGTYPE|e|0|", "0|DEL|DEL ?|||0|"}));
  EXPECT_EQ(c.counters().unmatched_requests, 2u);
}

TEST(RedisMatch, CloseCountsWaitingCommands) {
  Client c;
  c.write("*2\r\n$3\r\nGET\r\n$1\r\na\r\n*2\r\n$3\r\nGET\r\n$1\r\nb\r\n");
  c.read("$1\r\nA\r\n");
  c.close();
  EXPECT_EQ(c.counters().calls, 1u);
  EXPECT_EQ(c.counters().unmatched_requests, 1u);
  EXPECT_FALSE(c.active());
  c.read("$1\r\nB\r\n");
  EXPECT_EQ(c.counters().calls, 1u);
}

TEST(RedisMatch, ResetGoesBackToDatabaseZero) {
  Client c;
  c.write("*2\r\n$6\r\nSELECT\r\n$1\r\n4\r\n*1\r\n$5\r\nRESET\r\n*1\r\n$4\r\nPING\r\n");
  c.read("+OK\r\n+RESET\r\n+PONG\r\n");
  EXPECT_EQ(c.summaries(),
            (Summaries{"0|SELECT|SELECT ?|||0|", "4|RESET|RESET|||0|", "0|PING|PING|||0|"}));
}

}  // namespace
}  // namespace hodos::protocols::redis
