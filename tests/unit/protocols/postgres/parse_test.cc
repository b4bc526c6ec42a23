#include "protocols/postgres/parse.h"

#include <gtest/gtest.h>

#include <string>

#include "captures.h"

namespace hodos::protocols::postgres {
namespace {

using namespace std::string_literals;

std::string be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}
std::string msg(char tag, std::string_view body) {
  return std::string(1, tag) + be32(static_cast<uint32_t>(body.size() + 4)) + std::string(body);
}

// The first egress chunk of a captured conversation, or the first starting with `tag`.
std::string_view find_egress(std::string_view name, char tag = 0) {
  for (const testing::Turn& t : testing::conversation(name).turns) {
    if (t.direction == Direction::kEgress && (tag == 0 || t.captured[0] == tag)) return t.captured;
  }
  return {};
}
std::string_view first_egress(std::string_view name, char tag = 0) {
  std::string_view found = find_egress(name, tag);
  EXPECT_FALSE(found.empty()) << name << " has no egress chunk starting with " << tag;
  return found;
}

TEST(PostgresDetect, AcceptsWhatClientsOpenWith) {
  struct Case {
    std::string name;
    std::string bytes;
  };
  const std::string startup_body = be32(196608) + "user\0app\0database\0shop\0\0"s;
  const std::vector<Case> accept = {
      {"psql SSLRequest", std::string(first_egress("psql_simple"))},
      {"pgbench StartupMessage", std::string(first_egress("pgbench_prepared"))},
      {"raw client StartupMessage", std::string(first_egress("pipeline_error"))},
      {"startup cut by the capture", be32(startup_body.size() + 4) + startup_body.substr(0, 9)},
      {"GSSENCRequest", be32(8) + be32(80877104)},
      {"CancelRequest", be32(16) + be32(80877102) + be32(1234) + be32(5678)},
      {"mid-stream psql query", std::string(first_egress("psql_simple", 'Q'))},
      {"mid-stream pgbench Parse+Sync", std::string(first_egress("pgbench_prepared", 'P'))},
      {"mid-stream Bind/Describe/Execute/Sync", std::string(first_egress("pgbench_prepared", 'B'))},
      {"mid-stream pipeline", std::string(first_egress("pipeline_error", 'P'))},
      {"mid-stream Close+Sync", std::string(first_egress("prepared_reuse", 'C'))},
      {"mid-stream Terminate", msg('X', "")},
      {"mid-stream Sync", msg('S', "")},
      {"mid-stream Flush", msg('H', "")},
      {"mid-stream Execute", msg('E', "\0\0\0\0\0"s)},
      {"mid-stream Describe portal", msg('D', "Pp1\0"s)},
      {"mid-stream FunctionCall", msg('F', be32(1598) + std::string(6, '\0'))},
      {"query longer than the capture",
       msg('Q', "SELECT * FROM t WHERE x = 1 AND y = 2\0"s).substr(0, 20)},
      {"query with line breaks", msg('Q', "SELECT 1\n\tFROM t\r\n\0"s)},
  };
  for (const Case& c : accept) EXPECT_TRUE(looks_like_postgres_client(c.bytes)) << c.name;
}

TEST(PostgresDetect, RejectsOtherProtocols) {
  struct Case {
    std::string name;
    std::string bytes;
  };
  const std::vector<Case> reject = {
      {"empty", ""},
      {"HTTP GET", "GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n"},
      {"HTTP POST", "POST /api HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}"},
      {"HTTP PUT", "PUT /x HTTP/1.1\r\n\r\n"},
      {"HTTP DELETE", "DELETE /x HTTP/1.1\r\n\r\n"},
      {"HTTP HEAD", "HEAD / HTTP/1.1\r\n\r\n"},
      {"HTTP CONNECT", "CONNECT a:443 HTTP/1.1\r\n\r\n"},
      {"HTTP PATCH", "PATCH /x HTTP/1.1\r\n\r\n"},
      {"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"},
      {"Redis RESP array", "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"},
      {"Redis inline PING", "PING\r\n"},
      {"Redis inline QUIT", "QUIT\r\n"},
      {"Redis inline SET", "SET k v\r\n"},
      {"Redis inline EXEC", "EXEC\r\n"},
      {"Redis inline DEL", "DEL k\r\n"},
      {"Redis HELLO", "HELLO 3\r\n"},
      {"MySQL COM_QUERY", "\x21\0\0\0\x03SELECT * FROM users WHERE id = 1"s},
      {"MySQL COM_QUERY of 81 bytes", "Q\0\0\0\x03" + std::string(80, 'a')},
      {"MySQL COM_PING", "\x01\0\0\0\x0e"s},
      {"MySQL handshake response of 80 bytes",
       "P\0\0\x01\x85\xa6\xff\x01\0\0\0\x01\x21"s + std::string(23, '\0') + "root\0"s},
      {"TLS ClientHello", std::string(testing::conversation("ssl_s").turns.at(2).captured)},
      {"TLS record", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"s},
      {"SSH", "SSH-2.0-OpenSSH_9.6\r\n"},
      {"zeros", std::string(16, '\0')},
      {"startup with a bad protocol", be32(20) + be32(0x00020000) + "user\0a\0\0\0\0\0"s},
      {"startup too long", be32(20000) + be32(196608) + "user\0a\0\0"s},
      {"startup with binary keys", be32(18) + be32(196608) + "\x01\x02\0\x03\0\0"s},
      {"SSLRequest with a wrong length", be32(12) + be32(80877103) + be32(0)},
      {"Sync with a body", msg('S', "x")},
      {"Query without its NUL", msg('Q', "SELECT 1")},
      {"Query with binary", msg('Q', "\x01\x02\x03\0"s)},
      {"Parse with a bad type count", msg('P', "\0SELECT 1\0\0\5"s)},
      {"Execute then garbage", msg('E', "\0\0\0\0\0"s) + "GET / HTTP/1.1\r\n"},
      {"authentication is not mid-stream", msg('p', "secret\0"s)},
      {"CopyData alone", msg('d', "1\t2\n")},
      {"random binary", "\x9f\x33\xd0\x01\xee\x42\x17\x88\x00\x7f"s},
  };
  for (const Case& c : reject) EXPECT_FALSE(looks_like_postgres_client(c.bytes)) << c.name;
}

TEST(PostgresDetect, EveryPrefixOfAValidOpeningOfAtLeastAHeaderIsAccepted) {
  for (std::string_view name : {"psql_simple", "pgbench_prepared", "pipeline_error"}) {
    for (char tag : {'\0', 'Q', 'P', 'B'}) {
      std::string_view bytes = find_egress(name, tag);
      if (bytes.empty()) continue;
      size_t min = tag == '\0' ? 8 : 5;
      for (size_t n = min; n <= bytes.size(); ++n) {
        EXPECT_TRUE(looks_like_postgres_client(bytes.substr(0, n))) << name << " " << n;
      }
      for (size_t n = 0; n < min; ++n) EXPECT_FALSE(looks_like_postgres_client(bytes.substr(0, n)));
    }
  }
}

TEST(PostgresParse, HeadersNeedMoreDataOnEveryPrefix) {
  std::string m = msg('Z', "I");
  for (size_t n = 0; n < 5; ++n) {
    std::string_view view = std::string_view(m).substr(0, n);
    MessageHeader h;
    EXPECT_EQ(parse_header(&view, Sender::kBackend, &h), ParseState::kNeedsMoreData) << n;
    EXPECT_EQ(view.size(), n);
  }
  std::string_view view = m;
  MessageHeader h;
  ASSERT_EQ(parse_header(&view, Sender::kBackend, &h), ParseState::kSuccess);
  EXPECT_EQ(h.tag, 'Z');
  EXPECT_EQ(h.body_length(), 1u);
  EXPECT_EQ(view, "I");
}

TEST(PostgresParse, HeadersTheSenderCannotSendAreInvalid) {
  std::string_view view = "x";
  MessageHeader h;
  EXPECT_EQ(parse_header(&view, Sender::kBackend, &h), ParseState::kInvalid);
  std::string ready = msg('Z', "I");
  view = ready;
  EXPECT_EQ(parse_header(&view, Sender::kFrontend, &h), ParseState::kInvalid);
  std::string long_ready = msg('Z', "II");
  view = long_ready;
  EXPECT_EQ(parse_header(&view, Sender::kBackend, &h), ParseState::kInvalid);
  std::string huge = "D" + be32(0x40000000);
  view = huge;
  EXPECT_EQ(parse_header(&view, Sender::kBackend, &h), ParseState::kInvalid);
}

TEST(PostgresParse, StartupDatabaseAndNeverTheRest) {
  EXPECT_EQ(startup_database("user\0bob\0database\0shop\0\0"s), "shop");
  EXPECT_EQ(startup_database("database\0shop\0user\0bob\0\0"s), "shop");
  EXPECT_EQ(startup_database("user\0bob\0application_name\0psql\0\0"s), "bob");
  EXPECT_EQ(startup_database("user\0bob\0database\0sh"s), "bob");            // cut: what is whole
  EXPECT_EQ(startup_database("user\0bob\0datab"s, /*complete=*/false), "");  // maybe a database
  EXPECT_EQ(startup_database(""), "");
}

TEST(PostgresParse, ErrorSqlstateOnlyFromFieldC) {
  std::string body = "SERROR\0VERROR\0C23505\0Mduplicate key (id)=(1)\0\0"s;
  EXPECT_EQ(error_sqlstate(body), "23505");
  EXPECT_EQ(error_sqlstate(body.substr(0, 21)), "23505");
  EXPECT_EQ(error_sqlstate(body.substr(0, 20)), "");  // the code's end is not there
  EXPECT_EQ(error_sqlstate("SERROR\0Mno code here\0\0"s), "");
  EXPECT_EQ(error_sqlstate("Cnot-a-sqlstate\0\0"s), "");
  EXPECT_EQ(error_sqlstate("SFEHLER\0C42P01\0\0"s), "42P01");
}

}  // namespace
}  // namespace hodos::protocols::postgres
