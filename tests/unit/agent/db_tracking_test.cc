// ConnectionTracker with database and cache client connections: which connections are taken for
// PostgreSQL or Redis (only those the process made, from their first bytes, also mid-stream),
// that their calls come out as database calls parented like HTTP calls (each pipelined command its
// own span), and that HTTP connections are left to the HTTP matcher. The protocol matchers are the
// real ones; their own tests are in tests/unit/protocols/.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "agent/connection_tracker.h"
#include "socket_events.h"

namespace hodos::agent {
namespace {

using protocols::http1::Role;
using testing::EventSource;
using testing::ipv4;

struct Call {
  std::string system;
  std::string operation;
  std::string text;
  std::string namespace_name;
  std::string status_code;
  bool error;
  SpanContext context;
  core::SpanId parent;
};

constexpr std::string_view kGetItems = "GET /items/42 HTTP/1.1\r\nHost: shop\r\n\r\n";
constexpr std::string_view kOk = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
// GET user:7, and a pipeline of INCR hits and GET hits in one write.
constexpr std::string_view kRedisGet = "*2\r\n$3\r\nGET\r\n$6\r\nuser:7\r\n";
constexpr std::string_view kRedisPipeline =
    "*2\r\n$4\r\nINCR\r\n$4\r\nhits\r\n*2\r\n$3\r\nGET\r\n$4\r\nhits\r\n";

std::string pg_message(char type, std::string_view body) {
  std::string m(1, type);
  const uint32_t n = static_cast<uint32_t>(body.size() + 4);
  for (int shift = 24; shift >= 0; shift -= 8) m.push_back(static_cast<char>((n >> shift) & 0xff));
  m.append(body);
  return m;
}

std::string pg_startup(std::string_view database) {
  std::string body;
  body.append("\x00\x03\x00\x00", 4);  // protocol 3.0
  body.append("user\0postgres\0database\0", 23);
  body.append(database);
  body.append("\0\0", 2);
  std::string m;
  const uint32_t n = static_cast<uint32_t>(body.size() + 4);
  for (int shift = 24; shift >= 0; shift -= 8) m.push_back(static_cast<char>((n >> shift) & 0xff));
  return m + body;
}

class DbTrackingTest : public ::testing::Test {
 protected:
  DbTrackingTest()
      : tracker_([this](const TrackedExchange& t) {
          if (t.db_call == nullptr) {
            http_.push_back(std::string(t.exchange->request.method));
            http_ids_.push_back(t.context);
            return;
          }
          const protocols::DbCall& c = *t.db_call;
          ASSERT_EQ(t.role, Role::kClient);
          calls_.push_back({std::string(c.system), c.operation, c.query_text, c.namespace_name,
                            c.status_code, c.error, t.context, t.parent_id});
        }) {}
  void feed(const SocketEvent& e) { tracker_.on_event(e); }

  // The app serves GET /items/42 on thread 7 (fd 5) and, meanwhile, runs `calls`.
  template <class F>
  void serving(F&& calls) {
    feed(app_.accept(1, 5, server_, browser_));
    feed(app_.read(7, 5, server_, browser_, kGetItems));
    calls();
    feed(app_.write(7, 5, server_, browser_, kOk));
  }

  EventSource app_{100};
  const SocketEndpoint server_ = ipv4("10.0.0.1", 8080);
  const SocketEndpoint browser_ = ipv4("10.0.0.9", 50000);
  const SocketEndpoint local_ = ipv4("10.0.0.1", 40000);
  const SocketEndpoint redis_ = ipv4("10.0.0.3", 6379);
  const SocketEndpoint postgres_ = ipv4("10.0.0.4", 5432);
  ConnectionTracker tracker_;
  std::vector<Call> calls_;
  std::vector<std::string> http_;
  std::vector<SpanContext> http_ids_;
};

TEST_F(DbTrackingTest, RedisCallsAreChildrenOfTheRequestTheirThreadServes) {
  serving([&] {
    feed(app_.connect(7, 9, local_, redis_, 0));
    feed(app_.write(7, 9, local_, redis_, kRedisGet));
    feed(app_.read(7, 9, local_, redis_, "$5\r\nalice\r\n"));
    feed(app_.write(7, 9, local_, redis_, kRedisPipeline));
    feed(app_.read(7, 9, local_, redis_, ":3\r\n$1\r\n3\r\n"));
  });
  ASSERT_EQ(http_.size(), 1u);
  ASSERT_EQ(calls_.size(), 3u);
  EXPECT_EQ(calls_[0].system, "redis");
  EXPECT_EQ(calls_[0].operation, "GET");
  EXPECT_EQ(calls_[0].text, "GET ?");
  EXPECT_EQ(calls_[1].operation, "INCR");
  EXPECT_EQ(calls_[2].operation, "GET");
  for (const Call& c : calls_) {
    EXPECT_EQ(c.context.trace_id, http_ids_[0].trace_id) << c.operation;
    EXPECT_EQ(c.parent, http_ids_[0].span_id) << c.operation;
    EXPECT_FALSE(c.error);
  }
  // Commands written together are siblings with span ids of their own.
  EXPECT_NE(calls_[1].context.span_id, calls_[2].context.span_id);
  EXPECT_EQ(tracker_.counters().db_calls, 3u);
  EXPECT_EQ(tracker_.counters().db_connections, 1u);
  EXPECT_EQ(tracker_.counters().not_http, 0u) << "the HTTP matcher never saw the Redis bytes";
}

TEST_F(DbTrackingTest, ACallMadeWhileServingNothingIsARoot) {
  feed(app_.connect(3, 9, local_, redis_, 0));
  feed(app_.write(3, 9, local_, redis_, kRedisGet));
  feed(app_.read(3, 9, local_, redis_, "-WRONGTYPE Operation against a key\r\n"));
  ASSERT_EQ(calls_.size(), 1u);
  EXPECT_FALSE(calls_[0].parent.valid());
  EXPECT_TRUE(calls_[0].context.valid());
  EXPECT_TRUE(calls_[0].error);
  EXPECT_EQ(calls_[0].status_code, "WRONGTYPE");
}

// A pooled connection opened before the agent started: no connect, no start-up; the first bytes
// seen are a command.
TEST_F(DbTrackingTest, AConnectionFirstSeenMidStreamIsRecognisedFromACommand) {
  serving([&] {
    feed(app_.write(7, 11, local_, postgres_, pg_message('Q', std::string("SELECT 1", 9))));
    feed(app_.read(7, 11, local_, postgres_,
                   pg_message('C', std::string("SELECT 1", 9)) + pg_message('Z', "I")));
  });
  ASSERT_EQ(calls_.size(), 1u);
  EXPECT_EQ(calls_[0].system, "postgresql");
  EXPECT_EQ(calls_[0].operation, "SELECT");
  EXPECT_EQ(calls_[0].namespace_name, "") << "the start-up was not seen";
  EXPECT_EQ(calls_[0].parent, http_ids_[0].span_id);
}

TEST_F(DbTrackingTest, PostgresStartupNamesTheDatabaseAndErrorsKeepOnlyTheirCode) {
  feed(app_.connect(3, 9, local_, postgres_, 0));
  feed(app_.write(3, 9, local_, postgres_, pg_startup("shop")));
  feed(app_.read(3, 9, local_, postgres_,
                 pg_message('R', std::string("\0\0\0\0", 4)) + pg_message('Z', "I")));
  const std::string query = "SELECT * FROM orders WHERE note = 'secret'";
  feed(app_.write(3, 9, local_, postgres_, pg_message('Q', query + '\0')));
  // The message quotes the value: only the SQLSTATE may leave.
  static constexpr char kError[] =
      "SERROR\0C42P01\0Mrelation \"orders\" does not exist 'secret'\0\0";
  feed(app_.read(3, 9, local_, postgres_,
                 pg_message('E', std::string(kError, sizeof(kError) - 1)) + pg_message('Z', "I")));
  ASSERT_EQ(calls_.size(), 1u);
  EXPECT_EQ(calls_[0].namespace_name, "shop");
  EXPECT_EQ(calls_[0].operation, "SELECT");
  EXPECT_EQ(calls_[0].text.find("secret"), std::string::npos) << calls_[0].text;
  EXPECT_TRUE(calls_[0].error);
  EXPECT_EQ(calls_[0].status_code, "42P01");
}

// sslmode=require: the SSLRequest and its 'S' in the clear, then the handshake; with the client's
// OpenSSL probed, the session's plaintext starts with the start-up message and is followed.
TEST_F(DbTrackingTest, PostgresOverTlsIsFollowedInItsPlaintext) {
  auto tls = [](SocketEvent e) {
    e.tls = true;
    return e;
  };
  feed(app_.connect(3, 9, local_, postgres_, 0));
  feed(app_.write(3, 9, local_, postgres_, std::string("\x00\x00\x00\x08\x04\xd2\x16\x2f", 8)));
  feed(app_.read(3, 9, local_, postgres_, "S"));
  feed(app_.write(3, 9, local_, postgres_, "\x16\x03\x01\x02\x00" "client hello"));
  feed(app_.read(3, 9, local_, postgres_, "\x16\x03\x03\x00\x7a" "server hello"));
  feed(tls(app_.write(3, 9, local_, postgres_, pg_startup("shop"))));
  feed(tls(app_.read(3, 9, local_, postgres_,
                     pg_message('R', std::string("\0\0\0\0", 4)) + pg_message('Z', "I"))));
  feed(tls(app_.write(3, 9, local_, postgres_, pg_message('Q', std::string("SELECT 1\0", 9)))));
  feed(tls(app_.read(3, 9, local_, postgres_,
                     pg_message('C', std::string("SELECT 1\0", 9)) + pg_message('Z', "I"))));
  // Records written after the plaintext (a library doing its own I/O): not parsed.
  feed(app_.write(3, 9, local_, postgres_, "\x17\x03\x03\x00\x20" "application data"));
  ASSERT_EQ(calls_.size(), 1u);
  EXPECT_EQ(calls_[0].system, "postgresql");
  EXPECT_EQ(calls_[0].namespace_name, "shop");
  EXPECT_EQ(calls_[0].operation, "SELECT");
  EXPECT_EQ(tracker_.counters().tls_connections, 1u);
}

TEST_F(DbTrackingTest, HttpClientConnectionsAndServerConnectionsStayHttp) {
  serving([&] {
    feed(app_.connect(7, 9, local_, redis_, 0));
    feed(app_.write(7, 9, local_, redis_, kGetItems));
    feed(app_.read(7, 9, local_, redis_, kOk));
  });
  // A server connection whose first bytes happen to look like a Redis command is not a database
  // call: the agent follows database clients only.
  feed(app_.accept(1, 6, server_, browser_));
  feed(app_.read(7, 6, server_, browser_, kRedisGet));
  EXPECT_EQ(http_.size(), 2u);
  EXPECT_TRUE(calls_.empty());
  EXPECT_EQ(tracker_.counters().db_connections, 0u);
}

}  // namespace
}  // namespace hodos::agent
