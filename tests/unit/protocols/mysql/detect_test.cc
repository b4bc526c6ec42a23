#include <gtest/gtest.h>

#include <string>

#include "captures.h"
#include "protocols/mysql/match.h"
#include "wire.h"

namespace hodos::protocols::mysql {
namespace {

using namespace testing;  // NOLINT: the fixture builders

struct DetectCase {
  const char* name;
  std::string bytes;
  bool accepted;
};

TEST(MySqlDetect, ServerGreeting) {
  std::string mariadb = unhex(kTextSession[0].hex);
  std::string mysql8 = greeting(kBaseCaps);
  std::string bad_protocol = mysql8;
  bad_protocol[4] = 9;
  std::string seq1 = mysql8;
  seq1[3] = 1;
  const DetectCase cases[] = {
      {"mariadb_10_11_capture", mariadb, true},
      {"mysql_8", mysql8, true},
      {"cut_after_version", mysql8.substr(0, 12), true},
      {"cut_inside_version", mysql8.substr(0, 9), false},
      {"protocol_9", bad_protocol, false},
      {"sequence_1", seq1, false},
      {"version_not_a_number", greeting(kBaseCaps, "abc"), false},
      {"empty_version", greeting(kBaseCaps, ""), false},
      {"err_instead", err(0, 1040), false},
      {"http", "HTTP/1.1 200 OK\r\n\r\n", false},
      {"redis", "+OK\r\n", false},
      {"postgres_auth_ok", std::string("R\0\0\0\x08\0\0\0\0", 9), false},
      {"tls_server_hello", std::string("\x16\x03\x03\x00\x7a\x02\x00\x00\x76\x03\x03", 11), false},
      {"empty", "", false},
  };
  for (const DetectCase& c : cases) {
    EXPECT_EQ(looks_like_mysql_server_greeting(c.bytes), c.accepted) << c.name;
  }
}

TEST(MySqlDetect, ClientMidStream) {
  std::string execute = command(kComStmtExecute, le(1, 4) + bin("\x00") + le(1, 4));
  std::string execute_twice = command(kComStmtExecute, le(1, 4) + bin("\x00") + le(2, 4));
  std::string q = query("SELECT 1");
  const DetectCase cases[] = {
      {"query", q, true},
      {"query_leading_space", query("\n  select * from t"), true},
      {"query_attributes", query(lenenc(0) + lenenc(1) + "SELECT 1"), true},
      {"prepare", command(kComStmtPrepare, "SELECT ?"), true},
      {"execute", execute, true},
      {"ping", command(kComPing, ""), true},
      {"init_db", command(kComInitDb, "shop"), true},
      {"execute_iterations_2", execute_twice, false},
      {"ping_with_payload", command(kComPing, "x"), false},
      {"quit", command(kComQuit, ""), false},
      {"query_binary", query(std::string("\x01\x02\x03garbage", 10)), false},
      {"query_empty", query(""), false},
      {"length_short", q.substr(0, q.size() - 1), false},
      {"length_long", q + "x", false},
      {"sequence_1", packet(1, "\x03SELECT 1"), false},
      {"handshake_response", handshake_response(kBaseCaps, "shop"), false},
      {"postgres_query", std::string("Q\0\0\0\x0dSELECT 1\0", 14), false},
      {"postgres_startup", std::string("\0\0\0\x08\x04\xd2\x16\x2f", 8), false},
      {"redis", "*1\r\n$4\r\nPING\r\n", false},
      {"http", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", false},
      {"tls_client_hello", std::string("\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00", 10), false},
      {"empty", "", false},
  };
  for (const DetectCase& c : cases) {
    EXPECT_EQ(looks_like_mysql_client(c.bytes), c.accepted) << c.name;
  }
  // Every command the captures sent in a write of its own is recognised, if it is one of those.
  for (const CapturedChunk& c : kPreparedSession) {
    if (c.direction != Direction::kEgress) continue;
    std::string bytes = unhex(c.hex);
    uint8_t cmd = static_cast<uint8_t>(bytes[4]);
    bool listed = cmd == kComQuery || cmd == kComStmtPrepare || cmd == kComStmtExecute ||
                  cmd == kComPing || cmd == kComInitDb;
    size_t length = static_cast<uint8_t>(bytes[0]) | static_cast<uint8_t>(bytes[1]) << 8;
    bool one_packet = bytes[3] == 0 && bytes.size() == 4 + length;
    EXPECT_EQ(looks_like_mysql_client(bytes), listed && one_packet) << c.hex.substr(0, 40);
  }
}

}  // namespace
}  // namespace hodos::protocols::mysql
