#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "captures.h"
#include "protocols/redis/match.h"

namespace hodos::protocols::redis {
namespace {

using namespace std::literals;

struct Case {
  std::string_view name;
  std::string_view bytes;
  bool redis;
};

const std::vector<Case> kCases = {
    // What Redis clients write first, from the start or mid-stream.
    {"hello", "*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n", true},
    {"auth", "*2\r\n$4\r\nAUTH\r\n$9\r\nPa55word!\r\n", true},
    {"select", "*2\r\n$6\r\nSELECT\r\n$1\r\n2\r\n", true},
    {"mid_stream_llen", "*2\r\n$4\r\nLLEN\r\n$5\r\nqueue\r\n", true},
    {"lower_case", "*2\r\n$3\r\nget\r\n$1\r\nk\r\n", true},
    {"module_command", "*2\r\n$8\r\nJSON.GET\r\n$3\r\ndoc\r\n", true},
    {"client_setname", "*3\r\n$6\r\nCLIENT\r\n$7\r\nSETNAME\r\n$4\r\napp1\r\n", true},
    {"short_capture", "*3\r\n$3\r\nSET\r\n", true},
    {"inline_ping", "PING\r\n", true},
    {"inline_ping_lower", "ping\r\n", true},
    {"inline_ping_lf", "PING\n", true},
    {"inline_hello", "HELLO 3\r\n", true},
    {"inline_quit", "QUIT\r\n", true},
    // Everything else.
    {"empty", "", false},
    {"http_get", "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n", false},
    {"http_post", "POST /api HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}", false},
    {"http_info_path", "INFO /status HTTP/1.0\r\n\r\n", false},
    {"http2_preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", false},
    {"inline_unknown_command", "GET key\r\n", false},
    {"inline_unfinished", "PING", false},
    {"tls_client_hello", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\x8a\x11"sv, false},
    {"postgres_ssl_request", "\x00\x00\x00\x08\x04\xd2\x16\x2f"sv, false},
    {"postgres_startup",
     "\x00\x00\x00\x29\x00\x03\x00\x00user\x00postgres\x00database\x00app\x00\x00"sv, false},
    {"postgres_query", "Q\x00\x00\x00\x0dSELECT 1\x00"sv, false},
    {"mysql_handshake_response",
     "\x55\x00\x00\x01\x8d\xa6\x0f\x00\x00\x00\x00\x01\x21\x00\x00\x00"sv, false},
    {"mysql_query", "\x09\x00\x00\x00\x03SELECT 1"sv, false},
    {"random_binary", "\x8f\x01\xee\x7a\x00\x13\x99\xc4\x02\x5e"sv, false},
    {"reply_not_command", "+OK\r\n", false},
    {"bulk_not_array", "$3\r\nGET\r\n", false},
    {"empty_array", "*0\r\n", false},
    {"integer_element", "*1\r\n:1\r\n", false},
    {"number_not_word", "*1\r\n$4\r\n1234\r\n", false},
    {"reply_of_short_strings", "*2\r\n$1\r\nb\r\n$1\r\na\r\n", false},  // no command is so short
    {"binary_word", "*1\r\n$3\r\n\x00\x01\x02\r\n"sv, false},
    {"word_too_long", "*1\r\n$70\r\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", false},
    {"length_mismatch", "*1\r\n$5\r\nPING\r\n", false},
    {"mid_payload", "lue-of-a-big-set\r\n*2\r\n$3\r\nGET\r\n", false},
};

TEST(RedisDetect, AcceptRejectTable) {
  for (const Case& c : kCases) {
    EXPECT_EQ(looks_like_redis_client(c.bytes), c.redis) << c.name;
  }
}

TEST(RedisDetect, EveryCapturedConversationIsRecognised) {
  for (const auto& conv : testing::captured_conversations()) {
    EXPECT_TRUE(looks_like_redis_client(conv.exchanges.front().command)) << conv.name;
    // Mid-stream: any of its commands.
    for (const auto& e : conv.exchanges) {
      EXPECT_TRUE(looks_like_redis_client(e.command)) << conv.name;
      // A RESP2 pub/sub confirmation ("*3 $9 subscribe ...") is shaped like a command: the bytes
      // cannot tell, only the direction can.
      if (conv.name != "resp2_subscribe") {
        EXPECT_FALSE(looks_like_redis_client(e.reply)) << conv.name << " reply";
      }
    }
  }
}

}  // namespace
}  // namespace hodos::protocols::redis
