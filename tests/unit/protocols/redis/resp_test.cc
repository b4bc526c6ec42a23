#include "protocols/redis/resp.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "captures.h"

namespace hodos::protocols::redis {
namespace {

struct ReplyFixture {
  std::string_view name;
  std::string_view bytes;
  char type;  // of the value, after attributes
};

// Examples from the RESP2 and RESP3 specifications (redis.io/docs/reference/protocol-spec).
const std::vector<ReplyFixture> kSpecReplies = {
    {"simple_string", "+OK\r\n", '+'},
    {"error", "-Error message\r\n", '-'},
    {"error_code", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n", '-'},
    {"integer", ":1000\r\n", ':'},
    {"negative_integer", ":-1\r\n", ':'},
    {"bulk", "$5\r\nhello\r\n", '$'},
    {"empty_bulk", "$0\r\n\r\n", '$'},
    {"bulk_with_crlf", "$7\r\nhel\r\nlo\r\n", '$'},
    {"null_bulk", "$-1\r\n", '$'},
    {"null_array", "*-1\r\n", '*'},
    {"empty_array", "*0\r\n", '*'},
    {"array_of_bulks", "*2\r\n$5\r\nhello\r\n$5\r\nworld\r\n", '*'},
    {"array_of_integers", "*3\r\n:1\r\n:2\r\n:3\r\n", '*'},
    {"mixed_array", "*5\r\n:1\r\n:2\r\n:3\r\n:4\r\n$5\r\nhello\r\n", '*'},
    {"nested_arrays", "*2\r\n*3\r\n:1\r\n:2\r\n:3\r\n*2\r\n+Hello\r\n-World\r\n", '*'},
    {"null_in_array", "*3\r\n$5\r\nhello\r\n$-1\r\n$5\r\nworld\r\n", '*'},
    {"null", "_\r\n", '_'},
    {"true", "#t\r\n", '#'},
    {"false", "#f\r\n", '#'},
    {"double", ",1.23\r\n", ','},
    {"double_exponent", ",1.5e10\r\n", ','},
    {"double_inf", ",inf\r\n", ','},
    {"double_negative_inf", ",-inf\r\n", ','},
    {"double_nan", ",nan\r\n", ','},
    {"big_number", "(3492890328409238509324850943850943825024385\r\n", '('},
    {"blob_error", "!21\r\nSYNTAX invalid syntax\r\n", '!'},
    {"verbatim", "=15\r\ntxt:Some string\r\n", '='},
    {"map", "%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n", '%'},
    {"set", "~5\r\n+orange\r\n+apple\r\n#t\r\n:100\r\n:999\r\n", '~'},
    {"attribute_then_array",
     "|1\r\n+key-popularity\r\n%2\r\n$1\r\na\r\n,0.1923\r\n$1\r\nb\r\n,0.0012\r\n"
     "*2\r\n:2039123\r\n:9543892\r\n",
     '*'},
    {"attribute_inside_array", "*3\r\n:1\r\n:2\r\n|1\r\n+ttl\r\n:3600\r\n:3\r\n", '*'},
    {"empty_attribute", "|0\r\n+OK\r\n", '+'},
    {"push", ">4\r\n+pubsub\r\n+message\r\n+somechannel\r\n+this is the message\r\n", '>'},
    {"empty_map", "%0\r\n", '%'},
    {"deep", "*1\r\n*1\r\n*1\r\n*1\r\n%1\r\n~1\r\n_\r\n>1\r\n:7\r\n", '*'},
};

// Every reply the real server sent in the captures, one value each (a pipelined read holds
// several).
std::vector<ReplyFixture> all_replies() {
  std::vector<ReplyFixture> out = kSpecReplies;
  for (const auto& conv : testing::captured_conversations()) {
    for (const auto& e : conv.exchanges) {
      std::string_view rest = e.reply;
      RespDecoder d(RespDecoder::Mode::kReplies);
      while (!rest.empty()) {
        std::string_view before = rest;
        EXPECT_EQ(d.feed(&rest), ParseState::kSuccess) << conv.name;
        out.push_back({conv.name, before.substr(0, before.size() - rest.size()), d.value().type});
      }
    }
  }
  return out;
}

// Decodes every value in `bytes`; the types, or "!" at an invalid byte.
std::string decode_all(RespDecoder& d, std::string_view bytes) {
  std::string types;
  while (!bytes.empty()) {
    ParseState st = d.feed(&bytes);
    if (st == ParseState::kInvalid) return types + "!";
    if (st == ParseState::kNeedsMoreData) {
      EXPECT_TRUE(bytes.empty());
      return types + "…";
    }
    types += d.value().type;
  }
  return types;
}

TEST(RedisResp, SpecRepliesParseWhole) {
  for (const auto& f : kSpecReplies) {
    RespDecoder d(RespDecoder::Mode::kReplies);
    std::string_view buf = f.bytes;
    EXPECT_EQ(d.feed(&buf), ParseState::kSuccess) << f.name;
    EXPECT_TRUE(buf.empty()) << f.name;
    EXPECT_EQ(d.value().type, f.type) << f.name;
    EXPECT_FALSE(d.value().truncated) << f.name;
    EXPECT_TRUE(d.at_boundary()) << f.name;
  }
}

TEST(RedisResp, ValueSummaries) {
  RespDecoder d(RespDecoder::Mode::kReplies);
  std::string_view buf =
      "-WRONGTYPE Operation against a key\r\n!21\r\nSYNTAX invalid syntax\r\n"
      "*3\r\n:1\r\n:2\r\n:3\r\n+OK\r\n%1\r\n+a\r\n:1\r\n";
  ASSERT_EQ(d.feed(&buf), ParseState::kSuccess);
  EXPECT_EQ(d.value().text, "WRONGTYPE Operation against a key");
  EXPECT_FALSE(d.value().resp3);
  ASSERT_EQ(d.feed(&buf), ParseState::kSuccess);
  EXPECT_EQ(d.value().type, '!');
  EXPECT_EQ(d.value().text, "SYNTAX invalid syntax");
  EXPECT_TRUE(d.value().resp3);
  ASSERT_EQ(d.feed(&buf), ParseState::kSuccess);
  EXPECT_EQ(d.value().count, 3);
  EXPECT_TRUE(d.value().text.empty());
  ASSERT_EQ(d.feed(&buf), ParseState::kSuccess);
  EXPECT_EQ(d.value().text, "OK");
  ASSERT_EQ(d.feed(&buf), ParseState::kSuccess);
  EXPECT_EQ(d.value().type, '%');
  EXPECT_EQ(d.value().count, 1);
  EXPECT_TRUE(d.value().resp3);
  EXPECT_TRUE(d.value().text.empty()) << "a nested simple string is not the value's text";
}

TEST(RedisResp, LongErrorKeepsOnlyItsStart) {
  std::string bytes = "-ERR " + std::string(60000, 'x') + "\r\n";
  RespDecoder d(RespDecoder::Mode::kReplies);
  std::string_view buf = bytes;
  ASSERT_EQ(d.feed(&buf), ParseState::kSuccess);
  EXPECT_EQ(d.value().text.size(), RespDecoder::kKeptText);
  EXPECT_TRUE(d.value().text.starts_with("ERR x"));
}

TEST(RedisResp, EveryTruncatedPrefixNeedsMoreData) {
  for (const auto& f : all_replies()) {
    for (size_t n = 0; n < f.bytes.size(); ++n) {
      RespDecoder d(RespDecoder::Mode::kReplies);
      std::string_view prefix = f.bytes.substr(0, n);
      EXPECT_EQ(d.feed(&prefix), ParseState::kNeedsMoreData) << f.name << " at " << n;
      EXPECT_TRUE(prefix.empty()) << f.name << " at " << n;
    }
  }
}

TEST(RedisResp, EverySplitOffsetGivesTheSameValue) {
  for (const auto& f : all_replies()) {
    RespDecoder whole(RespDecoder::Mode::kReplies);
    std::string_view all = f.bytes;
    ASSERT_EQ(whole.feed(&all), ParseState::kSuccess) << f.name;
    for (size_t n = 0; n <= f.bytes.size(); ++n) {
      RespDecoder d(RespDecoder::Mode::kReplies);
      std::string_view a = f.bytes.substr(0, n);
      std::string_view b = f.bytes.substr(n);
      ParseState first = d.feed(&a);
      ParseState second = first == ParseState::kSuccess ? first : d.feed(&b);
      EXPECT_EQ(second, ParseState::kSuccess) << f.name << " split at " << n;
      EXPECT_TRUE(b.empty() || n == f.bytes.size()) << f.name << " split at " << n;
      EXPECT_EQ(d.value().type, f.type) << f.name;
      EXPECT_EQ(d.value().count, whole.value().count) << f.name;
      EXPECT_EQ(d.value().text, whole.value().text) << f.name;
    }
  }
}

TEST(RedisResp, ByteByByte) {
  std::string stream;
  std::string expected;
  for (const auto& f : kSpecReplies) {
    stream += f.bytes;
    expected += f.type;
  }
  RespDecoder d(RespDecoder::Mode::kReplies);
  std::string types;
  for (char c : stream) {
    std::string_view one(&c, 1);
    ParseState st = d.feed(&one);
    ASSERT_NE(st, ParseState::kInvalid);
    if (st == ParseState::kSuccess) types += d.value().type;
  }
  EXPECT_EQ(types, expected);
  RespDecoder whole(RespDecoder::Mode::kReplies);
  EXPECT_EQ(decode_all(whole, stream), expected);
}

TEST(RedisResp, InvalidReplies) {
  const std::vector<std::string_view> invalid = {
      "hello\r\n",      // no type byte
      "+OK\n",          // bare LF
      "+O\rK\r\n",      // CR inside a line
      "$5\r\nhelloXY",  // payload not followed by CRLF
      "$-2\r\n",        // bad lengths and counts
      "$abc\r\n",
      "$+5\r\n",
      "*-2\r\n",
      "%-1\r\n",
      "=-1\r\n",
      ":abc\r\n",
      ":\r\n",
      ":99999999999999999999999\r\n",
      "#x\r\n",
      "_x\r\n",
      ",\r\n",
      "*1\r\n?\r\n",  // unknown type inside an array
      "$5\r\n"
      "hello\r\r",
      "\x16\x03\x01\x02\x00",  // TLS record
      "GET / HTTP/1.1\r\n",
      "$"
      "99999999999999999\r\n",  // beyond any bulk the server allows
  };
  for (std::string_view bytes : invalid) {
    RespDecoder d(RespDecoder::Mode::kReplies);
    EXPECT_EQ(decode_all(d, bytes).back(), '!') << bytes;
  }
}

TEST(RedisResp, NestingIsBounded) {
  std::string deep;
  for (size_t i = 0; i <= RespDecoder::kMaxDepth; ++i) deep += "*1\r\n";
  RespDecoder d(RespDecoder::Mode::kReplies);
  std::string_view buf = deep;
  EXPECT_EQ(d.feed(&buf), ParseState::kInvalid);
}

TEST(RedisResp, CommandsKeepTheirWords) {
  RespDecoder d(RespDecoder::Mode::kCommands);
  std::string_view buf = "*3\r\n$3\r\nSET\r\n$6\r\nuser:1\r\n$5\r\nalice\r\n";
  ASSERT_EQ(d.feed(&buf), ParseState::kSuccess);
  EXPECT_EQ(d.value().count, 3);
  ASSERT_EQ(d.elements().size(), 3u);
  EXPECT_EQ(d.element_bytes(d.elements()[0]), "SET");
  EXPECT_EQ(d.element_bytes(d.elements()[1]), "user:1");
  EXPECT_EQ(d.element_bytes(d.elements()[2]), "alice");
  EXPECT_TRUE(d.elements()[2].complete());
}

TEST(RedisResp, CommandArgumentsBeyondTheThirdNeedABudget) {
  std::string_view mset = "*5\r\n$4\r\nMSET\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$3\r\n222\r\n";
  RespDecoder without(RespDecoder::Mode::kCommands);
  std::string_view buf = mset;
  ASSERT_EQ(without.feed(&buf), ParseState::kSuccess);
  EXPECT_EQ(without.value().count, 5);
  ASSERT_EQ(without.elements().size(), 5u);
  EXPECT_EQ(without.elements()[3].kept, 0u);
  EXPECT_FALSE(without.elements()[4].complete());

  RespDecoder with(RespDecoder::Mode::kCommands, 9);  // "MSETa1" leave 3 bytes
  buf = mset;
  ASSERT_EQ(with.feed(&buf), ParseState::kSuccess);
  EXPECT_EQ(with.element_bytes(with.elements()[3]), "b");
  EXPECT_EQ(with.element_bytes(with.elements()[4]), "22");  // the budget ran out
  EXPECT_EQ(with.elements()[4].size, 3u);
}

TEST(RedisResp, InlineCommands) {
  RespDecoder d(RespDecoder::Mode::kCommands);
  std::string_view buf = "PING\r\necho  hi\tthere\n\r\n";
  ASSERT_EQ(d.feed(&buf), ParseState::kSuccess);
  EXPECT_TRUE(d.value().inline_command);
  EXPECT_EQ(d.value().count, 1);
  EXPECT_EQ(d.element_bytes(d.elements()[0]), "PING");
  ASSERT_EQ(d.feed(&buf), ParseState::kSuccess);
  EXPECT_EQ(d.value().count, 3);
  EXPECT_EQ(d.element_bytes(d.elements()[2]), "there");
  ASSERT_EQ(d.feed(&buf), ParseState::kSuccess);
  EXPECT_EQ(d.value().count, 0) << "an empty line is no command";
  EXPECT_TRUE(buf.empty());
}

TEST(RedisResp, InvalidCommands) {
  const std::vector<std::string_view> invalid = {
      "*1\r\n:1\r\n",              // elements are bulk strings
      "*1\r\n*1\r\n$1\r\na\r\n",   // no nesting
      "\x16\x03\x01\x02\x00\r\n",  // TLS: control bytes are no inline command
      "*2\r\n$3\r\nGET\r\n$1\r\nab\r\n",
  };
  for (std::string_view bytes : invalid) {
    RespDecoder d(RespDecoder::Mode::kCommands);
    EXPECT_EQ(decode_all(d, bytes).back(), '!') << bytes;
  }
}

TEST(RedisResp, CapturedCommandsParseAtEveryPrefixAndSplit) {
  for (const auto& conv : testing::captured_conversations()) {
    for (const auto& e : conv.exchanges) {
      RespDecoder first(RespDecoder::Mode::kCommands);
      std::string_view rest = e.command;
      ASSERT_EQ(first.feed(&rest), ParseState::kSuccess) << conv.name;
      size_t first_size = e.command.size() - rest.size();  // a pipelined write holds several
      for (size_t n = 0; n < first_size; ++n) {
        RespDecoder d(RespDecoder::Mode::kCommands);
        std::string_view a = e.command.substr(0, n);
        ASSERT_EQ(d.feed(&a), ParseState::kNeedsMoreData) << conv.name << " at " << n;
        std::string_view b = e.command.substr(n);
        EXPECT_EQ(d.feed(&b), ParseState::kSuccess) << conv.name << " at " << n;
        EXPECT_EQ(b.size(), rest.size()) << conv.name << " at " << n;
        EXPECT_TRUE(is_command_word(d.element_bytes(d.elements()[0]))) << conv.name;
      }
    }
  }
}

TEST(RedisResp, GapInsideABulkIsSkippedByLength) {
  RespDecoder d(RespDecoder::Mode::kReplies);
  std::string_view head = "*2\r\n$10\r\n0123";
  ASSERT_EQ(d.feed(&head), ParseState::kNeedsMoreData);
  EXPECT_EQ(d.skip(4), GapResult::kInside);  // 4567
  std::string_view rest = "89\r\n:5\r\n";
  ASSERT_EQ(d.feed(&rest), ParseState::kSuccess);
  EXPECT_TRUE(d.value().truncated);
  EXPECT_EQ(d.value().count, 2);
}

TEST(RedisResp, GapEndingTheValue) {
  RespDecoder d(RespDecoder::Mode::kReplies);
  std::string_view head = "$100000\r\nabc";
  ASSERT_EQ(d.feed(&head), ParseState::kNeedsMoreData);
  EXPECT_EQ(d.skip(100000 - 3 + 2), GapResult::kEnded);
  EXPECT_TRUE(d.value().truncated);
  EXPECT_TRUE(d.at_boundary());
  std::string_view next = "+OK\r\n";
  ASSERT_EQ(d.feed(&next), ParseState::kSuccess);
  EXPECT_FALSE(d.value().truncated);
}

TEST(RedisResp, GapOverFramingIsLost) {
  RespDecoder d(RespDecoder::Mode::kReplies);
  std::string_view head = "$3\r\nab";
  ASSERT_EQ(d.feed(&head), ParseState::kNeedsMoreData);
  EXPECT_EQ(d.skip(4), GapResult::kLost);  // "c\r\n" and one byte more

  RespDecoder between(RespDecoder::Mode::kReplies);
  EXPECT_EQ(between.skip(1), GapResult::kLost);
  RespDecoder in_header(RespDecoder::Mode::kReplies);
  std::string_view star = "*3\r";
  ASSERT_EQ(in_header.feed(&star), ParseState::kNeedsMoreData);
  EXPECT_EQ(in_header.skip(1), GapResult::kLost);
}

TEST(RedisResp, StartsLikeCommand) {
  EXPECT_TRUE(starts_like_command("*1\r\n$4\r\nPING\r\n", false));
  EXPECT_TRUE(starts_like_command("*2\r\n$8\r\nJSON.GET\r\n$1\r\nk\r\n", false));
  EXPECT_FALSE(starts_like_command("*1\r\n$4\r\nPI", false));
  EXPECT_TRUE(starts_like_command("*1\r\n$4\r\nPI", true));
  EXPECT_TRUE(starts_like_command("*", true));
  EXPECT_FALSE(starts_like_command("*1\r\n$4\r\n\x01\x02", true));
  EXPECT_TRUE(starts_like_command("PI", true));
  EXPECT_FALSE(starts_like_command("PI", false));
  EXPECT_FALSE(starts_like_command("$4\r\nPING\r\n", true));
}

}  // namespace
}  // namespace hodos::protocols::redis
