#include "../corpus.h"
#include "protocols/mysql/match.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "captures.h"
#include "fuzz_check.h"
#include "wire.h"

namespace hodos::protocols::mysql {
namespace {

using namespace testing;  // NOLINT: the fixture builders

struct Expected {
  std::string_view operation;
  std::string_view collection;
  std::string_view text;
  std::string_view namespace_name;
  std::string_view status_code = "";
  uint32_t batch_size = 0;
};

struct Result {
  std::vector<DbCall> calls;
  DbMatchCounters counters;
  bool active = true;
};

Result feed(const std::vector<fuzz::Piece>& pieces, DbMatchOptions options = {},
            bool close = true) {
  Result r;
  auto m = make_mysql_matcher([&r](DbCall&& c) { r.calls.push_back(std::move(c)); }, options);
  uint64_t ts = 100;
  for (const fuzz::Piece& p : pieces) m->feed(p.direction, {p.captured, p.length, ts++});
  r.active = m->active();
  if (close) m->close();
  r.counters = m->counters();
  return r;
}
Result feed(const std::vector<Step>& steps, DbMatchOptions options = {}, bool close = true) {
  return feed(whole_pieces(steps), options, close);
}

std::string describe(const DbCall& c) {
  return c.operation + "|" + c.collection + "|" + c.query_text + "|" + c.namespace_name + "|" +
         c.status_code + "|" + (c.error ? "E" : "") + (c.truncated ? "T" : "") + "|" +
         std::to_string(c.batch_size);
}
std::vector<std::string> describe(const std::vector<DbCall>& calls) {
  std::vector<std::string> out;
  for (const DbCall& c : calls) out.push_back(describe(c));
  return out;
}

void expect_calls(const std::vector<DbCall>& calls, const std::vector<Expected>& expected) {
  ASSERT_EQ(calls.size(), expected.size()) << ::testing::PrintToString(describe(calls));
  for (size_t i = 0; i < calls.size(); ++i) {
    SCOPED_TRACE(i);
    const DbCall& c = calls[i];
    EXPECT_EQ(c.system, "mysql");
    EXPECT_EQ(c.operation, expected[i].operation);
    EXPECT_EQ(c.collection, expected[i].collection);
    EXPECT_EQ(c.query_text, expected[i].text);
    EXPECT_EQ(c.namespace_name, expected[i].namespace_name);
    EXPECT_EQ(c.status_code, expected[i].status_code);
    EXPECT_EQ(c.error, !expected[i].status_code.empty());
    EXPECT_EQ(c.batch_size, expected[i].batch_size);
    EXPECT_FALSE(c.truncated);
    EXPECT_LE(c.start_ns, c.end_ns);
    EXPECT_FALSE(fuzz::leaks(c)) << describe(c);
  }
}

std::vector<Step> text_session() {
  return captured(std::begin(kTextSession), std::end(kTextSession));
}
std::vector<Step> prepared_session() {
  return captured(std::begin(kPreparedSession), std::end(kPreparedSession));
}

const std::vector<Expected> kTextCalls = {
    {"SELECT", "users", "SELECT id, name FROM users WHERE id = ?", "hs"},
    {"INSERT", "users", "INSERT INTO users VALUES (?, ?)", "hs", "1062"},
    {"SELECT", "users", "SELECT * FROM users WHERE id = ?", "hs"},
    {"UPDATE", "users", "UPDATE users SET name = ? WHERE id = ?", "hs"},
    {"SELECT", "missing_table", "SELECT * FROM missing_table", "hs", "1146"},
    {"", "", "SELECT ?; SELECT ?", "hs", "", 2},
    {"CALL", "", "CALL two()", "hs"},
    {"LOAD", "", "LOAD DATA LOCAL INFILE ? INTO TABLE users", "hs"},
    {"SELECT", "", "SELECT DATABASE()", "hs"},
    {"SELECT", "", "SELECT DATABASE()", "other"},
};

const std::vector<Expected> kPreparedCalls = {
    {"SELECT", "users", "SELECT id, name FROM users WHERE id = ?", "hs"},
    {"INSERT", "users", "INSERT INTO users (id, name) VALUES (?, ?)", "hs"},
    {"INSERT", "users", "INSERT INTO users (id, name) VALUES (?, ?)", "hs", "1062"},
    {"SELEC", "", "SELEC nonsense", "hs", "1064"},
};

TEST(MySqlMatch, CapturedTextSession) {
  Result r = feed(text_session());
  expect_calls(r.calls, kTextCalls);
  EXPECT_EQ(r.counters.requests, 12u);  // ten queries, INIT_DB, QUIT
  EXPECT_EQ(r.counters.calls, 10u);
  EXPECT_EQ(r.counters.invalid, 0u);
  EXPECT_EQ(r.counters.truncated, 0u);
  EXPECT_EQ(r.counters.skipped_bytes, 0u);
  EXPECT_EQ(r.counters.unmatched_requests, 0u);
  EXPECT_EQ(r.counters.unmatched_responses, 0u);
  EXPECT_FALSE(r.counters.gave_up);
}

TEST(MySqlMatch, CapturedPreparedSession) {
  Result r = feed(prepared_session());
  expect_calls(r.calls, kPreparedCalls);
  // PREPARE x3, EXECUTE x3, CLOSE x2 (the refused one is not closed), RESET, PING, INIT_DB, QUIT.
  EXPECT_EQ(r.counters.requests, 12u);
  EXPECT_EQ(r.counters.invalid, 0u);
  EXPECT_EQ(r.counters.unmatched_requests, 0u);
  EXPECT_EQ(r.counters.unmatched_responses, 0u);
}

TEST(MySqlMatch, CallTimesSpanRequestToLastAnswerChunk) {
  std::vector<Step> steps = {in(greeting(kBaseCaps)),
                             out(handshake_response(kBaseCaps, "shop")),
                             in(ok(2)),
                             out(query("SELECT a FROM t")),
                             in(packet(1, lenenc(1)) + column(2, "a")),
                             in(eof(3) + row(4, {"1"})),
                             in(eof(5))};
  Result r = feed(steps);
  ASSERT_EQ(r.calls.size(), 1u);
  EXPECT_EQ(r.calls[0].start_ns, 103u);
  EXPECT_EQ(r.calls[0].end_ns, 106u);
}

// Each chunk of a capture split in two at every offset: the same calls.
TEST(MySqlMatch, CapturesSplitAtEveryOffset) {
  for (auto [steps, expected] :
       {std::pair{text_session(), kTextCalls}, std::pair{prepared_session(), kPreparedCalls}}) {
    for (size_t i = 0; i < steps.size(); ++i) {
      for (size_t k = 1; k < steps[i].bytes.size(); ++k) {
        std::vector<fuzz::Piece> pieces = whole_pieces(steps);
        std::string_view b = steps[i].bytes;
        pieces[i] = {steps[i].direction, b.substr(0, k), k};
        pieces.insert(pieces.begin() + i + 1, {steps[i].direction, b.substr(k), b.size() - k});
        Result r = feed(pieces);
        ASSERT_EQ(describe(r.calls).size(), expected.size()) << "chunk " << i << " at " << k;
        expect_calls(r.calls, expected);
        ASSERT_EQ(r.counters.invalid + r.counters.skipped_bytes, 0u) << i << " at " << k;
      }
    }
  }
}

TEST(MySqlMatch, CapturesByteByByte) {
  for (auto [steps, expected] :
       {std::pair{text_session(), kTextCalls}, std::pair{prepared_session(), kPreparedCalls}}) {
    std::vector<fuzz::Piece> pieces;
    for (const Step& s : steps) {
      for (size_t k = 0; k < s.bytes.size(); ++k) {
        pieces.push_back({s.direction, std::string_view(s.bytes).substr(k, 1), 1});
      }
    }
    expect_calls(feed(pieces).calls, expected);
  }
}

// The conversation stopped after every byte: the calls found are the first ones, the last may
// be cut (its answer incomplete when the connection closed), none is wrong.
TEST(MySqlMatch, EveryTruncatedPrefix) {
  for (auto [steps, expected] :
       {std::pair{text_session(), kTextCalls}, std::pair{prepared_session(), kPreparedCalls}}) {
    std::vector<std::string> full = describe(feed(steps).calls);
    size_t total = 0;
    for (const Step& s : steps) total += s.bytes.size();
    for (size_t n = 0; n <= total; ++n) {
      std::vector<fuzz::Piece> pieces;
      size_t left = n;
      for (const Step& s : steps) {
        if (left == 0) break;
        size_t take = std::min(left, s.bytes.size());
        pieces.push_back({s.direction, std::string_view(s.bytes).substr(0, take), take});
        left -= take;
      }
      Result r = feed(pieces);
      ASSERT_LE(r.calls.size(), full.size()) << n;
      for (size_t i = 0; i < r.calls.size(); ++i) {
        const DbCall& c = r.calls[i];
        ASSERT_FALSE(fuzz::leaks(c)) << n;
        if (i + 1 < r.calls.size() || !c.truncated) {
          ASSERT_EQ(describe(c), full[i]) << "prefix " << n << " call " << i;
        } else {
          DbCall whole = feed(steps).calls[i];
          ASSERT_EQ(c.query_text, whole.query_text) << n;
          ASSERT_EQ(c.namespace_name, whole.namespace_name) << n;
        }
      }
    }
  }
}

// Each chunk captured short (the probe copies a prefix of each read and write): never a wrong
// call, never a leak, and at most the call whose bytes were lost goes missing.
TEST(MySqlMatch, CaptureCutChunks) {
  for (auto [steps, expected] :
       {std::pair{text_session(), kTextCalls}, std::pair{prepared_session(), kPreparedCalls}}) {
    std::vector<std::string> full = describe(feed(steps).calls);
    for (size_t i = 0; i < steps.size(); ++i) {
      for (size_t k = 0; k < steps[i].bytes.size(); ++k) {
        std::vector<fuzz::Piece> pieces = whole_pieces(steps);
        pieces[i].captured = pieces[i].captured.substr(0, k);
        Result r = feed(pieces);
        for (const DbCall& c : r.calls) {
          ASSERT_EQ(fuzz::check_call(c, {}), "") << i << " at " << k;
          ASSERT_FALSE(fuzz::leaks(c)) << i << " at " << k;
        }
        if (i < 3) continue;  // the handshake: the namespace may be lost with it
        ASSERT_GE(r.calls.size() + 1, full.size()) << i << " at " << k;
        for (DbCall c : r.calls) {
          // Cut, or the EXECUTE of a statement whose PREPARE was lost: known to be incomplete.
          if (c.truncated || c.query_text.empty()) continue;
          bool found = std::find(full.begin(), full.end(), describe(c)) != full.end();
          // A cut COM_INIT_DB leaves the namespace unknown (empty) rather than wrong.
          for (const char* ns : {"hs", "other"}) {
            if (!c.namespace_name.empty()) break;
            DbCall named = c;
            named.namespace_name = ns;
            found = found || std::find(full.begin(), full.end(), describe(named)) != full.end();
          }
          ASSERT_TRUE(found) << "chunk " << i << " at " << k << ": " << describe(c);
        }
      }
    }
  }
}

TEST(MySqlMatch, RowsBiggerThanTheCaptureAreSkippedByLength) {
  std::string big_row = row(4, {std::string(100000, 'x')});
  std::vector<fuzz::Piece> pieces;
  std::string greet = greeting(kBaseCaps), resp = handshake_response(kBaseCaps, "shop"),
              auth_ok = ok(2), q1 = query("SELECT big FROM t WHERE id = 1"),
              head = packet(1, lenenc(1)) + column(2, "big") + eof(3), end = eof(5),
              q2 = query("SELECT 2"),
              answer2 = packet(1, lenenc(1)) + column(2, "x") + eof(3) + row(4, {"2"}) + eof(5);
  for (const std::string* s : {&greet, &resp, &auth_ok, &q1}) {
    pieces.push_back({s == &resp ? Direction::kEgress
                      : s == &q1 ? Direction::kEgress
                                 : Direction::kIngress,
                      *s, s->size()});
  }
  pieces.push_back({Direction::kIngress, head, head.size()});
  // The row arrives in reads of 64 KiB of which the probe copied 4 KiB.
  std::string_view rest = big_row;
  while (!rest.empty()) {
    size_t read = std::min<size_t>(rest.size(), 65536);
    pieces.push_back({Direction::kIngress, rest.substr(0, 4096), read});
    rest.remove_prefix(read);
  }
  pieces.push_back({Direction::kIngress, end, end.size()});
  pieces.push_back({Direction::kEgress, q2, q2.size()});
  pieces.push_back({Direction::kIngress, answer2, answer2.size()});
  Result r = feed(pieces);
  ASSERT_EQ(r.calls.size(), 2u);
  EXPECT_EQ(r.calls[0].query_text, "SELECT big FROM t WHERE id = ?");
  EXPECT_TRUE(r.calls[0].truncated);
  EXPECT_FALSE(r.calls[0].error);
  EXPECT_EQ(r.calls[1].query_text, "SELECT ?");
  EXPECT_FALSE(r.calls[1].truncated);
  EXPECT_EQ(r.counters.truncated, 1u);
  EXPECT_EQ(r.counters.skipped_bytes, big_row.size() - 2 * 4096);  // two reads, 4 KiB each
}

// A payload of 16 MiB or more is sent as 0xffffff-byte packets and a last shorter one; bytes the
// probe never copied (length only) are skipped and the packets after them still parse.
TEST(MySqlMatch, PayloadsOver16MiBSpanSeveralPackets) {
  const uint64_t first = kMaxPacketPayload, second = 10;
  std::string q = query("INSERT INTO blobs VALUES (?)");
  std::string head1 = le(first, 3) + le(4, 1);
  std::string head2 = le(second, 3) + le(5, 1);
  std::string result = packet(1, lenenc(1)) + column(2, "b") + eof(3);
  std::vector<fuzz::Piece> pieces = {
      {Direction::kEgress, q, q.size()},
      {Direction::kIngress, result, result.size()},
      {Direction::kIngress, head1, 4 + first},  // a row: 0xffffff bytes, then 10 more
      {Direction::kIngress, head2, 4 + second},
  };
  std::string end = eof(6);
  pieces.push_back({Direction::kIngress, end, end.size()});
  Result r = feed(pieces);
  ASSERT_EQ(r.calls.size(), 1u);
  EXPECT_TRUE(r.calls[0].truncated);
  EXPECT_EQ(r.counters.skipped_bytes, first + second);
  EXPECT_EQ(r.counters.unmatched_responses, 0u);

  // The same for a request: its text is what was captured, sanitized.
  std::string big =
      "\x03"
      "INSERT INTO t VALUES ('" +
      std::string(100, 's');
  std::string req = le(first, 3) + le(0, 1) + big;
  std::string req2 = le(3, 3) + le(1, 1) + "')x";
  std::string answer = ok(2);
  Result r2 = feed(std::vector<fuzz::Piece>{{Direction::kEgress, req, 4 + first},
                                            {Direction::kEgress, req2, req2.size()},
                                            {Direction::kIngress, answer, answer.size()}});
  ASSERT_EQ(r2.calls.size(), 1u);
  EXPECT_EQ(r2.calls[0].query_text, "INSERT INTO t VALUES (?");
  EXPECT_EQ(r2.calls[0].collection, "t");
  EXPECT_TRUE(r2.calls[0].truncated);
}

TEST(MySqlMatch, DeprecateEofResultSetsEndWithOk) {
  uint32_t caps = kBaseCaps | kClientDeprecateEof;
  std::vector<Step> steps = {
      in(greeting(caps)),
      out(handshake_response(caps, "shop")),
      in(ok(2)),
      out(query("SELECT a, b FROM t WHERE c = 'secret'")),
      in(packet(1, lenenc(2)) + column(2, "a") + column(3, "b") + row(4, {"alice", "1"}) +
         row(5, {"carol", "2"}) + ok(6, 0x0002, kEof)),
      out(query("SELECT a FROM t WHERE 1 = 0")),
      in(packet(1, lenenc(1)) + column(2, "a") + ok(3, 0x0002, kEof)),
      out(query("UPDATE t SET a = 'dave'")),
      in(ok(1)),
      // Two results: the first OK says more follow.
      out(query("SELECT 1; SELECT 2")),
      in(packet(1, lenenc(1)) + column(2, "1") + row(3, {"1"}) + ok(4, 0x000a, kEof) +
         packet(5, lenenc(1)) + column(6, "2") + row(7, {"2"}) + ok(8, 0x0002, kEof)),
      out(query("SELECT 3")),
      in(packet(1, lenenc(1)) + column(2, "3") + row(3, {"3"}) + ok(4, 0x0002, kEof)),
  };
  Result r = feed(steps);
  expect_calls(r.calls, {{"SELECT", "t", "SELECT a, b FROM t WHERE c = ?", "shop"},
                         {"SELECT", "t", "SELECT a FROM t WHERE ? = ?", "shop"},
                         {"UPDATE", "t", "UPDATE t SET a = ?", "shop"},
                         {"", "", "SELECT ?; SELECT ?", "shop", "", 2},
                         {"SELECT", "", "SELECT ?", "shop"}});
  EXPECT_EQ(r.counters.invalid, 0u);
}

// Seen mid-stream, the capabilities are unknown: the EOF between definitions and rows (5 bytes)
// and the OK that ends the rows (7 or more) tell the two styles apart.
TEST(MySqlMatch, MidStreamLearnsTheEofStyle) {
  std::vector<Step> classic = {
      out(query("SELECT a FROM t")),
      in(packet(1, lenenc(1)) + column(2, "a") + eof(3) + row(4, {"x"}) + eof(5)),
      out(query("SELECT a FROM t")),
      in(packet(1, lenenc(1)) + column(2, "a") + eof(3) + eof(4)),
      out(query("SELECT b FROM u")),
      in(ok(1))};
  // The empty result first: its OK is all there is to tell the style by.
  std::vector<Step> deprecated = {
      out(query("SELECT a FROM t")),
      in(packet(1, lenenc(1)) + column(2, "a") + ok(3, 2, kEof)),
      out(query("SELECT a FROM t")),
      in(packet(1, lenenc(1)) + column(2, "a") + row(3, {"x"}) + ok(4, 0x0002, kEof)),
      out(query("SELECT b FROM u")),
      in(ok(1))};
  for (const auto& steps : {classic, deprecated}) {
    Result r = feed(steps);
    expect_calls(r.calls, {{"SELECT", "t", "SELECT a FROM t", ""},
                           {"SELECT", "t", "SELECT a FROM t", ""},
                           {"SELECT", "u", "SELECT b FROM u", ""}});
    EXPECT_EQ(r.counters.invalid, 0u);
    EXPECT_EQ(r.counters.unmatched_responses, 0u);
  }
}

TEST(MySqlMatch, PreparedStatementsWithDeprecatedEof) {
  uint32_t caps = kBaseCaps | kClientDeprecateEof;
  auto prepare_ok = [](uint32_t id, uint16_t columns, uint16_t params) {
    return packet(
        1, bin("\x00") + le(id, 4) + le(columns, 2) + le(params, 2) + bin("\x00") + le(0, 2));
  };
  std::vector<Step> steps = {
      in(greeting(caps)),
      out(handshake_response(caps, "shop")),
      in(ok(2)),
      out(command(kComStmtPrepare, "SELECT a FROM t WHERE b = ? AND c = 'secret'")),
      in(prepare_ok(7, 1, 1) + column(2, "?") + column(3, "a")),
      // Parameter values are never read.
      out(command(kComStmtExecute, le(7, 4) + bin("\x00") + le(1, 4) + bin("\x00\x01\xfd\x00") +
                                       lenenc_str("alice"))),
      in(packet(1, lenenc(1)) + column(2, "a") + row(3, {bin("\x00\x01")}) + ok(4, 2, kEof)),
      out(command(kComStmtReset, le(7, 4))),
      in(ok(1)),
      out(command(kComStmtClose, le(7, 4))),  // no answer
      out(command(kComStmtExecute, le(7, 4) + bin("\x00") + le(1, 4))),
      in(err(1, 1243)),
      out(command(kComStmtPrepare, "DELETE FROM t")),
      in(prepare_ok(8, 0, 0)),
      out(command(kComStmtExecute, le(8, 4) + bin("\x00") + le(1, 4))),
      in(ok(1)),
  };
  Result r = feed(steps);
  expect_calls(r.calls, {{"SELECT", "t", "SELECT a FROM t WHERE b = ? AND c = ?", "shop"},
                         {"", "", "", "shop", "1243"},  // closed: its text is forgotten
                         {"DELETE", "t", "DELETE FROM t", "shop"}});
  EXPECT_EQ(r.counters.invalid, 0u);
  EXPECT_EQ(r.counters.unmatched_requests, 0u);
}

// Classic EOFs after each group of a PREPARE_OK's definitions; seen mid-stream with no
// columns, the EOF after the parameters may or may not come: the next command settles it.
TEST(MySqlMatch, PreparedStatementsMidStream) {
  auto prepare_ok = [](uint32_t id, uint16_t columns, uint16_t params) {
    return packet(
        1, bin("\x00") + le(id, 4) + le(columns, 2) + le(params, 2) + bin("\x00") + le(0, 2));
  };
  std::string execute = command(kComStmtExecute, le(3, 4) + bin("\x00") + le(1, 4));
  for (bool classic : {true, false}) {
    std::vector<Step> steps = {
        out(command(kComStmtPrepare, "INSERT INTO t VALUES (?, ?)")),
        in(prepare_ok(3, 0, 2) + column(2, "?") + column(3, "?") + (classic ? eof(4) : "")),
        out(execute),
        in(ok(1)),
        out(command(kComStmtPrepare, "SELECT a FROM t WHERE b = ?")),
        in(prepare_ok(4, 1, 1) + column(2, "?") + (classic ? eof(3) : "") +
           column(classic ? 4 : 3, "a") + (classic ? eof(5) : "")),
        out(command(kComStmtExecute, le(4, 4) + bin("\x00") + le(1, 4))),
        in(packet(1, lenenc(1)) + column(2, "a") + (classic ? eof(3) + eof(4) : ok(3, 2, kEof)))};
    Result r = feed(steps);
    expect_calls(r.calls, {{"INSERT", "t", "INSERT INTO t VALUES (?, ?)", ""},
                           {"SELECT", "t", "SELECT a FROM t WHERE b = ?", ""}});
    EXPECT_EQ(r.counters.invalid, 0u) << classic;
  }
}

TEST(MySqlMatch, StatementMapIsBounded) {
  std::vector<Step> steps;
  for (uint32_t id = 1; id <= 300; ++id) {
    steps.push_back(out(command(kComStmtPrepare, "SELECT " + std::to_string(id) + " FROM t")));
    steps.push_back(
        in(packet(1, bin("\x00") + le(id, 4) + le(0, 2) + le(0, 2) + bin("\x00") + le(0, 2))));
  }
  for (uint32_t id : {1u, 300u, 0xffffffffu}) {
    steps.push_back(out(command(kComStmtExecute, le(id, 4) + bin("\x00") + le(1, 4))));
    steps.push_back(in(ok(1)));
  }
  Result r = feed(steps);
  ASSERT_EQ(r.calls.size(), 3u);
  EXPECT_EQ(r.calls[0].query_text, "");  // forgotten: the oldest goes first
  EXPECT_EQ(r.calls[1].query_text, "SELECT ? FROM t");
  EXPECT_EQ(r.calls[2].query_text, "SELECT ? FROM t");  // -1: the last prepared (MariaDB)
}

TEST(MySqlMatch, TlsGivesUp) {
  uint32_t caps = kBaseCaps | kClientSsl;
  std::string ssl_request =
      packet(1, le(caps, 4) + le(1 << 24, 4) + "\x21" + std::string(23, '\0'));
  Result r = feed({in(greeting(caps)), out(ssl_request), out(bin("\x16\x03\x01\x02\x00\x01")),
                   in(bin("\x16\x03\x03\x00\x7a\x02"))},
                  {}, false);
  EXPECT_TRUE(r.counters.gave_up);
  EXPECT_FALSE(r.active);
  EXPECT_TRUE(r.calls.empty());
}

// The plaintext of the TLS session, from the TLS library: the handshake response again (sequence
// id 2, the SSL flag set), the server's OK, then the commands. The greeting's capabilities (no
// query attributes from MariaDB here) carry over from the plaintext before TLS.
TEST(MySqlMatch, TheTlsSessionGoesOnWhereThePlaintextStopped) {
  const uint32_t server_caps = kBaseCaps | kClientSsl;
  const uint32_t client_caps = server_caps | kClientQueryAttributes;  // the client offers more
  std::vector<DbCall> calls;
  auto before = make_mysql_matcher([&](DbCall&& c) { calls.push_back(std::move(c)); });
  const std::string greet = greeting(server_caps, "10.11.6-MariaDB");
  const std::string ssl_request =
      packet(1, le(client_caps, 4) + le(1 << 24, 4) + "\x21" + std::string(23, '\0'));
  before->feed(Direction::kIngress, {greet, greet.size(), 1});
  before->feed(Direction::kEgress, {ssl_request, ssl_request.size(), 2});
  ASSERT_FALSE(before->active()) << "TLS follows: the plaintext matcher gives up";
  auto after = before->continue_in_tls([&](DbCall&& c) { calls.push_back(std::move(c)); });
  ASSERT_NE(after, nullptr);
  std::string response = handshake_response(client_caps, "shop");
  response[3] = 2;  // sequence id 2: after the SSL request
  uint8_t ts = 10;
  for (const Step& s : std::vector<Step>{out(response), in(ok(3)), out(query("SELECT a FROM t WHERE b = 'x'")),
                                         in(packet(1, lenenc(1)) + column(2, "a") + eof(3) + row(4, {"1"}) + eof(5))}) {
    after->feed(s.direction, {s.bytes, s.bytes.size(), ts++});
  }
  after->close();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].query_text, "SELECT a FROM t WHERE b = ?");
  EXPECT_EQ(calls[0].namespace_name, "shop");
}

TEST(MySqlMatch, CompressionGivesUp) {
  uint32_t caps = kBaseCaps | kClientCompress;
  Result r = feed({in(greeting(caps)), out(handshake_response(caps, "shop")), in(ok(2)),
                   out(query("SELECT 1"))},
                  {}, false);
  EXPECT_TRUE(r.counters.gave_up);
  EXPECT_TRUE(r.calls.empty());
  // A server without compression: the client's flag alone changes nothing.
  Result plain = feed({in(greeting(kBaseCaps)), out(handshake_response(caps, "shop")), in(ok(2)),
                       out(query("SELECT 1")), in(ok(1))});
  EXPECT_FALSE(plain.counters.gave_up);
  EXPECT_EQ(plain.calls.size(), 1u);
}

TEST(MySqlMatch, AuthenticationExchangesAreNotAnswers) {
  std::vector<Step> steps = {
      in(greeting(kBaseCaps)),
      out(handshake_response(kBaseCaps, "shop")),
      in(packet(2,
                "\xfe"
                "mysql_native_password" +
                    std::string(1, '\0') + "0123456789abcdefghij" +
                    std::string(1, '\0'))),    // AuthSwitchRequest
      out(packet(3, "01234567890123456789")),  // the client's answer, never read
      in(packet(4, "\x01\x04")),               // caching_sha2: perform full authentication
      out(packet(5, "secret" + std::string(1, '\0'))),
      in(ok(6)),
      out(query("SELECT 1")),
      in(ok(1))};
  Result r = feed(steps);
  expect_calls(r.calls, {{"SELECT", "", "SELECT ?", "shop"}});
  EXPECT_EQ(r.counters.invalid, 0u);
}

TEST(MySqlMatch, QueryAttributesAreSkipped) {
  uint32_t caps = kBaseCaps | kClientQueryAttributes;
  // One attribute, a string, named "n" and holding "secret"; then the text.
  std::string attrs = lenenc(1) + lenenc(1) +
                      bin("\x00"
                          "\x01"
                          "\xfd\x00") +
                      lenenc_str("n") + lenenc_str("secret");
  std::vector<Step> steps = {
      in(greeting(caps)), out(handshake_response(caps, "shop")),
      in(ok(2)),          out(query(lenenc(0) + lenenc(1) + "SELECT 1")),
      in(ok(1)),          out(query(attrs + "SELECT * FROM t WHERE a = 'x'")),
      in(ok(1))};
  Result r = feed(steps);
  expect_calls(r.calls, {{"SELECT", "", "SELECT ?", "shop"},
                         {"SELECT", "t", "SELECT * FROM t WHERE a = ?", "shop"}});
  // Mid-stream, a parameter count and a set count of 1 are taken for attributes too.
  Result mid = feed({out(query(lenenc(0) + lenenc(1) + "SELECT 1")), in(ok(1))});
  expect_calls(mid.calls, {{"SELECT", "", "SELECT ?", ""}});
}

TEST(MySqlMatch, OptionalMetadataSkipsDefinitions) {
  uint32_t caps = kBaseCaps | kClientOptionalResultsetMetadata | kClientDeprecateEof;
  std::vector<Step> steps = {
      in(greeting(caps)),
      out(handshake_response(caps, "shop")),
      in(ok(2)),
      out(query("SELECT a, b FROM t")),
      in(packet(1, bin("\x00") + lenenc(2)) + row(2, {"alice", "1"}) + ok(3, 2, kEof)),
      out(query("SELECT a FROM t")),
      in(packet(1, "\x01" + lenenc(1)) + column(2, "a") + row(3, {"1"}) + ok(4, 2, kEof))};
  Result r = feed(steps);
  expect_calls(r.calls, {{"SELECT", "t", "SELECT a, b FROM t", "shop"},
                         {"SELECT", "t", "SELECT a FROM t", "shop"}});
  EXPECT_EQ(r.counters.invalid, 0u);
}

TEST(MySqlMatch, NamespaceFollowsInitDbAndUse) {
  std::vector<Step> steps = {in(greeting(kBaseCaps)),
                             out(handshake_response(kBaseCaps, "shop")),
                             in(ok(2)),
                             out(command(kComInitDb, "missing")),
                             in(err(1, 1049)),  // refused: unchanged
                             out(query("SELECT 1")),
                             in(ok(1)),
                             out(query("USE `sales`")),
                             in(ok(1)),
                             out(query("SELECT 2")),
                             in(ok(1)),
                             out(query("use other;")),
                             in(err(1, 1049)),
                             out(query("SELECT 3")),
                             in(ok(1))};
  Result r = feed(steps);
  expect_calls(r.calls, {{"SELECT", "", "SELECT ?", "shop"},
                         {"USE", "", "USE `sales`", "shop"},
                         {"SELECT", "", "SELECT ?", "sales"},
                         {"USE", "", "use other;", "sales", "1049"},
                         {"SELECT", "", "SELECT ?", "sales"}});
}

TEST(MySqlMatch, UnansweredAndOrphanedMessagesAreCounted) {
  // An answer before any command: counted, skipped; the next exchange is found.
  Result orphan = feed({in(ok(1)), out(query("SELECT 1")), in(ok(1))});
  EXPECT_EQ(orphan.counters.unmatched_responses, 1u);
  EXPECT_EQ(orphan.calls.size(), 1u);

  // Commands never answered: the oldest goes when too many wait; the rest at close.
  DbMatchOptions options;
  options.max_pending_requests = 2;
  Result pending =
      feed({out(query("SELECT 1")), out(query("SELECT 2")), out(query("SELECT 3"))}, options);
  EXPECT_EQ(pending.counters.unmatched_requests, 3u);
  EXPECT_TRUE(pending.calls.empty());

  // An answer out of step (wrong sequence id) is not taken for the command's.
  Result step = feed({out(query("SELECT 1")), in(ok(5)), out(query("SELECT 2")), in(ok(1))});
  EXPECT_EQ(step.counters.invalid, 1u);
  ASSERT_EQ(step.calls.size(), 1u);
  EXPECT_EQ(step.calls[0].query_text, "SELECT ?");
  EXPECT_EQ(step.counters.unmatched_requests, 1u);

  // A write that is no command loses the framing until a command starts a write again.
  Result junk =
      feed({out(packet(0, "\x99junk")), out("garbage"), out(query("SELECT 1")), in(ok(1))});
  EXPECT_EQ(junk.counters.invalid, 1u);
  EXPECT_EQ(junk.calls.size(), 1u);
}

TEST(MySqlMatch, ProgressReportsAreNotErrors) {
  std::string progress = packet(1, bin("\xff\xff\xff\x01\x02\x02\x00\x00\x00\x05stage"));
  Result r = feed({out(query("ALTER TABLE t ADD c INT")), in(progress), in(ok(2))});
  expect_calls(r.calls, {{"ALTER", "", "ALTER TABLE t ADD c INT", ""}});
}

TEST(MySqlMatch, KeepLiteralsAndTextBound) {
  DbMatchOptions keep;
  keep.keep_literals = true;
  Result kept = feed({out(query("SELECT * FROM t WHERE a = 'x'")), in(ok(1))}, keep);
  ASSERT_EQ(kept.calls.size(), 1u);
  EXPECT_EQ(kept.calls[0].query_text, "SELECT * FROM t WHERE a = 'x'");

  DbMatchOptions short_text;
  short_text.max_query_text = 12;
  Result cut = feed({out(query("SELECT * FROM t WHERE a = 'x'")), in(ok(1))}, short_text);
  ASSERT_EQ(cut.calls.size(), 1u);
  EXPECT_EQ(cut.calls[0].query_text, "SELECT * ...");
  EXPECT_EQ(cut.calls[0].collection, "t");
}

TEST(MySqlMatch, LocalInfileContentsAreNotCommands) {
  // The file's lines look like commands (sequence ids aside): they must not be taken for any.
  std::string line = std::string("\x03") + "SELECT 'secret'";
  Result r =
      feed({out(query("LOAD DATA LOCAL INFILE 'f' INTO TABLE t")),
            in(packet(1,
                      "\xfb"
                      "f")),
            out(packet(2, line) + packet(3, "")), in(ok(4)), out(query("SELECT 1")), in(ok(1))});
  expect_calls(r.calls, {{"LOAD", "", "LOAD DATA LOCAL INFILE ? INTO TABLE t", ""},
                         {"SELECT", "", "SELECT ?", ""}});
  EXPECT_EQ(r.counters.requests, 2u);
}

TEST(MySqlMatch, CloseEndsTheMatcher) {
  auto m = make_mysql_matcher([](DbCall&&) {});
  EXPECT_TRUE(m->active());
  std::string q = query("SELECT 1");
  m->feed(Direction::kEgress, {q, q.size(), 1});
  m->close();
  EXPECT_FALSE(m->active());
  EXPECT_EQ(m->counters().unmatched_requests, 1u);
  m->feed(Direction::kEgress, {q, q.size(), 2});  // ignored
  EXPECT_EQ(m->counters().requests, 1u);
}

// --- the fuzz corpus -----------------------------------------------------------------------------

namespace fs = std::filesystem;
constexpr std::string_view kCorpusName = "mysql";
const fs::path kCorpus = corpus::dir(kCorpusName);

TEST(MySqlFuzzCorpus, EveryEntryPassesTheFuzzChecks) {
  size_t count = 0;
  for (const auto& [path, bytes] : corpus::entries(kCorpusName)) {
    EXPECT_EQ(fuzz::check_input(bytes), "") << path;
    ++count;
  }
  EXPECT_GE(count, 6u);
}

TEST(MySqlFuzzCorpus, CapturesPassTheFuzzChecks) {
  EXPECT_EQ(fuzz::check_input(as_records(text_session())), "");
  EXPECT_EQ(fuzz::check_input(as_records(prepared_session())), "");
}

// The fuzz checks can fail.
TEST(MySqlFuzzCorpus, TheChecksCatchBadCalls) {
  DbCall c;
  c.system = "mysql";
  c.query_text = "SELECT 'x'";
  EXPECT_NE(fuzz::check_call(c, {}), "");
  c.query_text = "SELECT \"it's\"";
  EXPECT_EQ(fuzz::check_call(c, {}), "");
  c.status_code = "23000";
  EXPECT_NE(fuzz::check_call(c, {}), "");  // digits, but no error
  c.error = true;
  EXPECT_EQ(fuzz::check_call(c, {}), "");
  c.status_code = "Duplicate";
  EXPECT_NE(fuzz::check_call(c, {}), "");
}

// Writes the seeds: run with --gtest_also_run_disabled_tests
// --gtest_filter='MySqlFuzzCorpus.DISABLED_WriteSeeds'.
TEST(MySqlFuzzCorpus, DISABLED_WriteSeeds) {
  fs::create_directories(kCorpus);
  auto write = [](const std::string& name, const std::vector<Step>& steps) {
    std::ofstream(kCorpus / name, std::ios::binary) << as_records(steps);
  };
  write("mariadb_text_session", text_session());
  write("mariadb_prepared_session", prepared_session());
  uint32_t caps = kBaseCaps | kClientDeprecateEof;
  write("mysql8_deprecate_eof",
        {in(greeting(caps)), out(handshake_response(caps, "shop")), in(ok(2)),
         out(query("SELECT a FROM t WHERE b = 'x'")),
         in(packet(1, lenenc(1)) + column(2, "a") + row(3, {"1"}) + ok(4, 2, kEof)),
         out(query("SELECT 1; SELECT 2")),
         in(packet(1, lenenc(1)) + column(2, "1") + row(3, {"1"}) + ok(4, 0x000a, kEof) +
            packet(5, lenenc(1)) + column(6, "2") + row(7, {"2"}) + ok(8, 0x0002, kEof))});
  write("mid_stream_classic",
        {out(query("SELECT a FROM t")),
         in(packet(1, lenenc(1)) + column(2, "a") + eof(3) + row(4, {"x"}) + eof(5)),
         out(command(kComPing, "")), in(ok(1)), out(command(kComInitDb, "db2")), in(ok(1)),
         out(query("SELECT 1")), in(err(1, 1064))});
  write("prepared_mid_stream",
        {out(command(kComStmtPrepare, "SELECT a FROM t WHERE b = ?")),
         in(packet(1, bin("\x00") + le(4, 4) + le(1, 2) + le(1, 2) + bin("\x00") + le(0, 2)) +
            column(2, "?") + eof(3) + column(4, "a") + eof(5)),
         out(command(kComStmtExecute, le(4, 4) + bin("\x00") + le(1, 4))),
         in(packet(1, lenenc(1)) + column(2, "a") + eof(3) + eof(4)),
         out(command(kComStmtClose, le(4, 4)))});
  uint32_t attrs = kBaseCaps | kClientQueryAttributes;
  write("query_attributes", {in(greeting(attrs)), out(handshake_response(attrs, "shop")), in(ok(2)),
                             out(query(lenenc(1) + lenenc(1) + bin("\x00\x01\xfd\x00") +
                                       lenenc_str("n") + lenenc_str("v") + "SELECT 1")),
                             in(ok(1))});
  write("auth_switch",
        {in(greeting(kBaseCaps)), out(handshake_response(kBaseCaps, "shop")),
         in(packet(2, std::string("\xfe") + "mysql_native_password" + std::string(1, '\0'))),
         out(packet(3, "01234567890123456789")), in(ok(4)), out(query("SELECT 1")), in(ok(1))});
  write("local_infile", {out(query("LOAD DATA LOCAL INFILE 'f' INTO TABLE t")),
                         in(packet(1,
                                   "\xfb"
                                   "f")),
                         out(packet(2, "1\tx\n") + packet(3, "")), in(ok(4))});
  std::vector<fuzz::Record> cut = {
      {Direction::kEgress, false, query("SELECT 1")},
      {Direction::kIngress, true,
       packet(1, lenenc(1)) + column(2, "a") + eof(3) + row(4, {std::string(300, 'x')}) + eof(5)},
      {Direction::kEgress, false, query("SELECT 2")},
      {Direction::kIngress, false, ok(1)}};
  std::ofstream(kCorpus / "capture_cut", std::ios::binary) << fuzz::encode_records(cut);
}

}  // namespace
}  // namespace hodos::protocols::mysql
