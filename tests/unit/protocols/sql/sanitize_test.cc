#include "../corpus.h"
#include "protocols/sql/sanitize.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "fuzz_check.h"

namespace hodos::protocols::sql {
namespace {

struct Case {
  const char* name;
  std::string_view query;
  std::string_view text;
  std::string_view operation;
  std::string_view collection = "";
  unsigned statements = 1;
};

// Bytes with NULs in them.
template <size_t N>
std::string_view bytes(const char (&s)[N]) {
  return std::string_view(s, N - 1);
}

const Case kCases[] = {
    // Strings in every spelling.
    {"plain_string", "SELECT * FROM users WHERE name = 'alice'",
     "SELECT * FROM users WHERE name = ?", "SELECT", "users"},
    {"doubled_quote", "SELECT 'it''s' FROM t", "SELECT ? FROM t", "SELECT", "t"},
    {"backslash_quote", "SELECT 'it\\'s', x FROM t", "SELECT ?, x FROM t", "SELECT", "t"},
    {"escape_string", "SELECT E'\\'' || x FROM t", "SELECT ? || x FROM t", "SELECT", "t"},
    {"escape_string_lower", "select e'a\\nb', x", "select ?, x", "SELECT"},
    {"national", "SELECT N'żółw'", "SELECT ?", "SELECT"},
    {"hex_string", "SELECT X'DEADBEEF', x'00'", "SELECT ?, ?", "SELECT"},
    {"bit_string", "SELECT B'1010', b'1'", "SELECT ?, ?", "SELECT"},
    {"unicode_escape_string", "SELECT U&'d\\0061t\\+000061'", "SELECT ?", "SELECT"},
    {"unicode_escape_name", "SELECT U&\"d\\0061t\" FROM t", "SELECT U&\"d\\0061t\" FROM t",
     "SELECT", "t"},
    {"charset_introducer", "SELECT _utf8mb4'abc' COLLATE utf8mb4_bin",
     "SELECT _utf8mb4? COLLATE utf8mb4_bin", "SELECT"},
    {"typed_literal", "SELECT DATE '2024-01-02', INTERVAL '1 day'", "SELECT DATE ?, INTERVAL ?",
     "SELECT"},
    {"adjacent_strings", "SELECT 'a' 'b'", "SELECT ? ?", "SELECT"},
    {"empty_string", "UPDATE t SET a = '' WHERE b = ''''", "UPDATE t SET a = ? WHERE b = ?",
     "UPDATE", "t"},
    {"string_with_comment_marks", "SELECT '-- not a comment', '/* nor */', '#'", "SELECT ?, ?, ?",
     "SELECT"},
    {"string_with_semicolon", "INSERT INTO log VALUES ('a; DROP TABLE x')",
     "INSERT INTO log VALUES (?)", "INSERT", "log"},
    {"string_with_newlines", "SELECT 'line1\nline2'\n  FROM\tt", "SELECT ? FROM t", "SELECT", "t"},
    {"unicode_string", "SELECT * FROM t WHERE name = 'Zoë 🚀 名前'",
     "SELECT * FROM t WHERE name = ?", "SELECT", "t"},
    // Dollar quoting.
    {"dollar_string", "SELECT $$it's a 'secret'$$", "SELECT ?", "SELECT"},
    {"dollar_tag", "SELECT $body$ $$ ' $body$, 1", "SELECT ?, ?", "SELECT"},
    {"dollar_function",
     "CREATE FUNCTION f() RETURNS int AS $fn$ SELECT 42; SELECT 'x'; $fn$ LANGUAGE sql",
     "CREATE FUNCTION f() RETURNS int AS ? LANGUAGE sql", "CREATE"},
    {"dollar_in_identifier", "SELECT a$b, $1 FROM t$x", "SELECT a$b, $1 FROM t$x", "SELECT", "t$x"},
    {"dollar_wrong_tag", "SELECT $a$ x $b$ y $a$", "SELECT ?", "SELECT"},
    // Numbers.
    {"integers", "SELECT 1, 42, 123456789", "SELECT ?, ?, ?", "SELECT"},
    {"decimals", "SELECT 3.14, .5, 5., 1e10, 1.5E-3, 2e+7", "SELECT ?, ?, ?, ?, ?, ?", "SELECT"},
    {"hex_and_binary_numbers", "SELECT 0x1F, 0XFF, 0b101", "SELECT ?, ?, ?", "SELECT"},
    {"underscored_number", "SELECT 1_000_000", "SELECT ?", "SELECT"},
    {"negative_number_keeps_minus", "SELECT * FROM t WHERE x = -5 AND y > -1.5",
     "SELECT * FROM t WHERE x = -? AND y > -?", "SELECT", "t"},
    {"minus_operator", "SELECT a-1, a - b, 2-3 FROM t", "SELECT a-?, a - b, ?-? FROM t", "SELECT",
     "t"},
    {"digits_in_names", "SELECT t1.col_2, x3y FROM t1", "SELECT t1.col_2, x3y FROM t1", "SELECT",
     "t1"},
    {"qualified_number_like", "SELECT t.5 FROM t", "SELECT t.? FROM t", "SELECT", "t"},
    {"digit_first_word", "SELECT 1st FROM t", "SELECT ? FROM t", "SELECT", "t"},
    {"in_list", "SELECT * FROM t WHERE id IN (1, 2, 3) AND s IN ('a','b')",
     "SELECT * FROM t WHERE id IN (?, ?, ?) AND s IN (?,?)", "SELECT", "t"},
    {"cast", "SELECT '5'::int, x::text FROM t", "SELECT ?::int, x::text FROM t", "SELECT", "t"},
    {"limit_offset", "SELECT * FROM t LIMIT 10 OFFSET 20", "SELECT * FROM t LIMIT ? OFFSET ?",
     "SELECT", "t"},
    // Kept as they are.
    {"placeholders", "SELECT * FROM t WHERE a = $1 AND b = ? AND c = :name AND d = ?2",
     "SELECT * FROM t WHERE a = $1 AND b = ? AND c = :name AND d = ?2", "SELECT", "t"},
    {"booleans_and_null", "UPDATE t SET a = TRUE, b = false, c = NULL",
     "UPDATE t SET a = TRUE, b = false, c = NULL", "UPDATE", "t"},
    {"double_quoted_name", "SELECT \"Name\" FROM \"My Table\"", "SELECT \"Name\" FROM \"My Table\"",
     "SELECT", "My Table"},
    {"mysql_double_quoted_kept", "SELECT * FROM t WHERE a = \"kept\"",
     "SELECT * FROM t WHERE a = \"kept\"", "SELECT", "t"},
    {"backquoted_name", "SELECT `order` FROM `db`.`orders` o WHERE o.id = 7",
     "SELECT `order` FROM `db`.`orders` o WHERE o.id = ?", "SELECT", "db.orders"},
    {"json_operators", "SELECT data #> '{a,b}', data #>> '{c}', data #- '{d}' FROM t",
     "SELECT data #> ?, data #>> ?, data #- ? FROM t", "SELECT", "t"},
    {"user_variables", "SELECT @a := 1, @@session.sql_mode", "SELECT @a := ?, @@session.sql_mode",
     "SELECT"},
    // Comments.
    {"line_comment", "SELECT 1 -- secret 42\nFROM t", "SELECT ? FROM t", "SELECT", "t"},
    {"block_comment", "SELECT /* 'quoted' 99 */ 1", "SELECT ?", "SELECT"},
    {"nested_block_comment", "SELECT /* a /* 'b' */ c 123 */ 1", "SELECT ?", "SELECT"},
    {"hash_comment", "SELECT 1 # it's 1234\nFROM t", "SELECT ? FROM t", "SELECT", "t"},
    {"hash_comment_at_start", "# 'x'\nSELECT 1", "SELECT ?", "SELECT"},
    {"hash_operator", "SELECT 5#3", "SELECT ?#?", "SELECT"},
    {"comment_glues_nothing", "SELECT/**/a/**/FROM/**/t", "SELECT a FROM t", "SELECT", "t"},
    {"comment_quote_inside", "SELECT x /* it's */ FROM t WHERE a = 'b' -- don't\n",
     "SELECT x FROM t WHERE a = ?", "SELECT", "t"},
    {"leading_comment_operation", "/* app=web */ SELECT 1 FROM t", "SELECT ? FROM t", "SELECT",
     "t"},
    // Unterminated: the rest is replaced.
    {"unterminated_string", "SELECT * FROM t WHERE a = 'secret", "SELECT * FROM t WHERE a = ?",
     "SELECT", "t"},
    {"unterminated_escape", "SELECT 'abc\\", "SELECT ?", "SELECT"},
    {"unterminated_dollar", "SELECT $$ secret 123", "SELECT ?", "SELECT"},
    {"unterminated_comment", "SELECT 1 /* secret 123", "SELECT ? ?", "SELECT"},
    {"unterminated_name", "SELECT \"secret 123", "SELECT ?", "SELECT"},
    {"unterminated_backquote", "SELECT `secret 123", "SELECT ?", "SELECT"},
    {"unterminated_e_string", "SELECT E'\\'", "SELECT ?", "SELECT"},
    // Operations and tables.
    {"insert_columns", "INSERT INTO public.users (id, name) VALUES ($1, $2)",
     "INSERT INTO public.users (id, name) VALUES ($1, $2)", "INSERT", "public.users"},
    {"insert_quoted_schema", "INSERT INTO \"public\".\"Users\" VALUES (1)",
     "INSERT INTO \"public\".\"Users\" VALUES (?)", "INSERT", "public.Users"},
    {"insert_mysql_modifiers", "INSERT IGNORE INTO t SET a = 1", "INSERT IGNORE INTO t SET a = ?",
     "INSERT", "t"},
    {"insert_without_into", "INSERT t VALUES (1)", "INSERT t VALUES (?)", "INSERT", "t"},
    {"insert_select", "INSERT INTO a SELECT * FROM b", "INSERT INTO a SELECT * FROM b", "INSERT",
     "a"},
    {"replace_into", "REPLACE INTO t VALUES (1)", "REPLACE INTO t VALUES (?)", "REPLACE", "t"},
    {"update_alias", "UPDATE users u SET name = 'x' WHERE u.id = 3",
     "UPDATE users u SET name = ? WHERE u.id = ?", "UPDATE", "users"},
    {"update_multi_table", "UPDATE a, b SET a.x = b.x", "UPDATE a, b SET a.x = b.x", "UPDATE"},
    {"update_join", "UPDATE a JOIN b ON a.id = b.id SET a.x = 1",
     "UPDATE a JOIN b ON a.id = b.id SET a.x = ?", "UPDATE"},
    {"delete", "DELETE FROM sessions WHERE expires < now()",
     "DELETE FROM sessions WHERE expires < now()", "DELETE", "sessions"},
    {"delete_using", "DELETE FROM a USING b WHERE a.id = b.id",
     "DELETE FROM a USING b WHERE a.id = b.id", "DELETE"},
    {"delete_mysql_multi", "DELETE a FROM a JOIN b", "DELETE a FROM a JOIN b", "DELETE"},
    {"select_alias_as", "SELECT x FROM orders AS o ORDER BY 1",
     "SELECT x FROM orders AS o ORDER BY ?", "SELECT", "orders"},
    {"select_join", "SELECT * FROM a JOIN b ON a.id = b.a_id",
     "SELECT * FROM a JOIN b ON a.id = b.a_id", "SELECT"},
    {"select_left_join_alias", "SELECT * FROM a x LEFT JOIN b y ON x.id = y.id",
     "SELECT * FROM a x LEFT JOIN b y ON x.id = y.id", "SELECT"},
    {"select_comma_list", "SELECT * FROM a, b", "SELECT * FROM a, b", "SELECT"},
    {"select_subquery_from", "SELECT * FROM (SELECT * FROM t) s",
     "SELECT * FROM (SELECT * FROM t) s", "SELECT"},
    {"select_subquery_in_list",
     "SELECT (SELECT max(id) FROM u) FROM t WHERE x IN (SELECT y FROM v)",
     "SELECT (SELECT max(id) FROM u) FROM t WHERE x IN (SELECT y FROM v)", "SELECT", "t"},
    {"select_union", "SELECT a FROM t UNION SELECT a FROM u",
     "SELECT a FROM t UNION SELECT a FROM u", "SELECT"},
    {"select_where_union", "SELECT a FROM t WHERE x = 1 UNION SELECT a FROM u",
     "SELECT a FROM t WHERE x = ? UNION SELECT a FROM u", "SELECT"},
    {"select_for_update", "SELECT * FROM jobs WHERE id = 1 FOR UPDATE",
     "SELECT * FROM jobs WHERE id = ? FOR UPDATE", "SELECT", "jobs"},
    {"select_no_from", "SELECT now()", "SELECT now()", "SELECT"},
    {"select_trailing_semicolon", "SELECT * FROM t;", "SELECT * FROM t;", "SELECT", "t"},
    {"select_unicode_table", "SELECT * FROM café WHERE prix > 3",
     "SELECT * FROM café WHERE prix > ?", "SELECT", "café"},
    {"lower_case_operation", "select * from t", "select * from t", "SELECT", "t"},
    {"with_select", "WITH x AS (SELECT 1) SELECT * FROM x", "WITH x AS (SELECT ?) SELECT * FROM x",
     "SELECT"},
    {"with_recursive_insert",
     "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM r), y AS (DELETE FROM z) "
     "INSERT INTO t SELECT n FROM r",
     "WITH RECURSIVE r(n) AS (SELECT ? UNION ALL SELECT n+? FROM r), y AS (DELETE FROM z) "
     "INSERT INTO t SELECT n FROM r",
     "INSERT"},
    {"with_without_main", "WITH x AS (SELECT 1)", "WITH x AS (SELECT ?)", ""},
    {"parenthesized_select", "(SELECT 1) UNION (SELECT 2)", "(SELECT ?) UNION (SELECT ?)",
     "SELECT"},
    {"begin", "BEGIN", "BEGIN", "BEGIN"},
    {"commit", "COMMIT;", "COMMIT;", "COMMIT"},
    {"create_table", "CREATE TABLE t (id int DEFAULT 7, name varchar(255))",
     "CREATE TABLE t (id int DEFAULT ?, name varchar(?))", "CREATE"},
    {"set_names", "SET NAMES utf8mb4", "SET NAMES utf8mb4", "SET"},
    {"show", "SHOW TABLES", "SHOW TABLES", "SHOW"},
    {"call", "CALL proc(1, 'a')", "CALL proc(?, ?)", "CALL"},
    {"not_a_keyword_first", "\"weird\" stuff", "\"weird\" stuff", ""},
    // Statements.
    {"two_statements", "BEGIN; SELECT * FROM t; COMMIT", "BEGIN; SELECT * FROM t; COMMIT", "", "",
     3},
    {"empty_statements", ";; SELECT 1;;", ";; SELECT ?;;", "SELECT", "", 1},
    {"semicolon_in_comment", "SELECT 1 /* ; */ -- ;\n", "SELECT ?", "SELECT", "", 1},
    {"semicolon_in_dollar", "DO $$ BEGIN; END; $$", "DO ?", "DO", "", 1},
    {"empty", "", "", "", "", 0},
    {"only_space_and_comments", "  -- x\n /* y */ ", "", "", "", 0},
    // Whitespace and odd bytes.
    {"whitespace_collapsed", "  SELECT\t\t*\r\n  FROM   t  \n", "SELECT * FROM t", "SELECT", "t"},
    {"nul_bytes", bytes("SELECT \0 'x\0y'"), bytes("SELECT \0 ?"), "SELECT"},
};

TEST(SqlSanitize, Cases) {
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.name);
    QuerySummary s = summarize(c.query);
    EXPECT_EQ(s.text, c.text);
    EXPECT_EQ(s.operation, c.operation);
    EXPECT_EQ(s.collection, c.collection);
    EXPECT_EQ(s.statements, c.statements);
    // Each expected text is itself sanitized: sanitizing again changes nothing.
    EXPECT_EQ(summarize(s.text).text, s.text);
  }
}

TEST(SqlSanitize, CasesPassTheFuzzChecks) {
  for (const Case& c : kCases) EXPECT_EQ(fuzz::check_raw(c.query), "") << c.name;
}

TEST(SqlSanitize, KeepLiteralsPassesTheTextOn) {
  std::string_view query = "SELECT  'a  b', 42 /* c */ FROM t";
  QuerySummary s = summarize(query, 2048, true);
  EXPECT_EQ(s.text, query);
  EXPECT_EQ(s.operation, "SELECT");
  EXPECT_EQ(s.collection, "t");
  EXPECT_EQ(summarize(query, 10, true).text, "SELECT ...");
}

TEST(SqlSanitize, LongTextIsCutAtACharacterBoundary) {
  std::string query = "SELECT ";
  for (int i = 0; i < 1000; ++i) query += "col_é" + std::to_string(i % 10) + ", ";
  query += "x FROM big";
  QuerySummary s = summarize(query, 100);
  EXPECT_LE(s.text.size(), 100u) << s.text;
  EXPECT_GE(s.text.size(), 99u) << s.text;  // one byte short when a character would be split
  EXPECT_TRUE(s.text.ends_with("...")) << s.text;
  EXPECT_TRUE(fuzz::valid_utf8(s.text)) << s.text;
  EXPECT_EQ(s.operation, "SELECT");
  EXPECT_EQ(s.collection, "big");  // found past the cut

  // Every cut of a text of two-byte characters lands on a boundary.
  std::string names = "SELECT ééééééééééééééééééé";
  for (size_t max = 0; max <= names.size() + 1; ++max) {
    std::string text = summarize(names, max).text;
    EXPECT_LE(text.size(), max);
    EXPECT_TRUE(fuzz::valid_utf8(text)) << max;
    if (max >= names.size()) {
      EXPECT_EQ(text, names);
    }
  }
  EXPECT_EQ(summarize("SELECT 1", 0).text, "");
  EXPECT_EQ(summarize("SELECT 1", 2).text, "..");
  EXPECT_EQ(summarize("SELECT 1", 3).text, "...");
  EXPECT_EQ(summarize("SELECT 1", 8).text, "SELECT ?");
  EXPECT_EQ(summarize("SELECT 1", 7).text, "SELE...");
}

TEST(SqlSanitize, HugeLiteralBecomesOneMark) {
  std::string query = "INSERT INTO blobs VALUES ('" + std::string(1 << 20, 'z') + "')";
  QuerySummary s = summarize(query);
  EXPECT_EQ(s.text, "INSERT INTO blobs VALUES (?)");
  EXPECT_EQ(s.collection, "blobs");
}

TEST(SqlSanitize, ManyStatementsAndTokensStayBounded) {
  std::string query;
  for (int i = 0; i < 10000; ++i) query += "SELECT 1;";
  QuerySummary s = summarize(query, 64);
  EXPECT_EQ(s.statements, 10000u);
  EXPECT_EQ(s.operation, "");
  EXPECT_LE(s.text.size(), 64u);

  // A statement too long to keep every token of is not called simple.
  std::string wide = "SELECT a";
  for (int i = 0; i < 5000; ++i) wide += ", a";
  EXPECT_EQ(summarize(wide + " FROM t").collection, "");
  EXPECT_EQ(summarize(wide + " FROM t").operation, "SELECT");
}

// Every prefix of every case (a query the capture cut) still hides its literals.
TEST(SqlSanitize, EveryPrefixHidesItsLiterals) {
  for (const Case& c : kCases) {
    for (size_t n = 0; n <= c.query.size(); ++n) {
      std::string_view prefix = c.query.substr(0, n);
      ASSERT_EQ(fuzz::check_raw(prefix), "") << c.name << " at " << n;
    }
  }
  // The cut string's bytes never show.
  std::string_view q = "SELECT * FROM t WHERE a = 'qsecret' AND b = $$qmore$$ /* qhidden */";
  for (size_t n = 0; n <= q.size(); ++n) {
    std::string text = summarize(q.substr(0, n)).text;
    ASSERT_EQ(text.find('q'), std::string::npos) << n << ": " << text;
  }
}

TEST(SqlSanitize, RandomQueriesHideEverySecret) {
  fuzz::Rng rng("property");
  for (int i = 0; i < 20000; ++i) {
    std::string query = fuzz::generate(rng);
    size_t max = rng.below(3) == 0 ? 8 + rng.below(80) : 2048;
    ASSERT_EQ(fuzz::check_hidden(query, max), "") << query;
    ASSERT_EQ(fuzz::check_raw(query), "") << query;
  }
}

// The checks can fail: a literal that leaked would be seen.
TEST(SqlSanitize, TheChecksCatchALeak) {
  EXPECT_TRUE(fuzz::has_digit_run("x = 123", 3));
  EXPECT_FALSE(fuzz::has_digit_run("t12 ?", 3));
  EXPECT_NE(fuzz::check_hidden("SELECT \"q\"", 2048), "");  // names are kept, so it shows
  EXPECT_NE(fuzz::check_hidden("SELECT t123", 2048), "");
  EXPECT_FALSE(fuzz::valid_utf8("\xc3"));
}

namespace fs = std::filesystem;
constexpr std::string_view kCorpusName = "sql_sanitize";
const fs::path kCorpus = corpus::dir(kCorpusName);

TEST(SqlSanitizeFuzzCorpus, EveryEntryPassesTheFuzzChecks) {
  size_t count = 0;
  for (const auto& [path, bytes] : corpus::entries(kCorpusName)) {
    EXPECT_EQ(fuzz::check_input(bytes), "") << path;
    ++count;
  }
  EXPECT_GE(count, 10u);
}

// Writes the seeds from the cases: run with --gtest_also_run_disabled_tests
// --gtest_filter='SqlSanitizeFuzzCorpus.DISABLED_WriteSeeds'.
TEST(SqlSanitizeFuzzCorpus, DISABLED_WriteSeeds) {
  fs::create_directories(kCorpus);
  for (const Case& c : kCases) std::ofstream(kCorpus / c.name, std::ios::binary) << c.query;
}

}  // namespace
}  // namespace hodos::protocols::sql
