// SQL text as it may leave the agent: every literal (strings, numbers, hex and bit strings,
// dollar-quoted strings, booleans are kept as keywords) replaced by `?`, comments dropped (they
// carry data too), and what the span needs from it: the operation and the one table it names.
// A lexer, not a parser: it never fails, whatever the dialect (PostgreSQL, MySQL); what it cannot
// read is replaced rather than passed on.
//
// Choices where the dialects disagree (each errs towards hiding more):
// - '...' strings honour backslash escapes (MySQL's default, PostgreSQL's E'..'); a PostgreSQL
//   standard string that ends in a backslash ('C:\') is read as running on, and what follows
//   it may be misread (an accepted risk: MySQL escapes quotes that way, PostgreSQL rarely).
// - "..." is kept as a quoted identifier (PostgreSQL, MySQL ANSI_QUOTES); a MySQL double-quoted
//   string passes as it was sent. Backquoted names are kept too.
// - `#` starts a comment (MySQL) at the start or after whitespace, unless `>` or `-` follows
//   (PostgreSQL's json operators); /* */ nest (PostgreSQL); `--` needs no following space.
// - An unterminated string, quoted name, dollar string or block comment runs to the end of the
//   text, which becomes one `?`; a word starting with a digit (MySQL's 1st) is read as a number.
// - The minus of a negative number is an operator and stays: `x = -5` gives `x = -?`. Lists stay
//   as long as they were: `IN (1, 2)` gives `IN (?, ?)`.
// - Placeholders ($1, ?, :name), keywords, names and TRUE/FALSE/NULL stay; whitespace and comments
//   become one space (none at either end).
// - keep_literals passes the text on byte for byte (whitespace inside literals is data), only cut.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace hodos::protocols::sql {

struct QuerySummary {
  std::string text;         // db.query.text: sanitized (or as sent, with keep_literals); longer
                            // than max_text it is cut at a UTF-8 boundary to end in "..." and be
                            // max_text bytes long
  std::string operation;    // db.operation.name: the statement's first keyword, upper case
                            // ("SELECT", "INSERT"; for WITH ... the main statement's); empty when
                            // the text holds several statements
  std::string collection;   // db.collection.name: the table of a single-table SELECT/INSERT/
                            // UPDATE/DELETE (as written, without quotes, schema kept:
                            // public.users); empty for joins, lists, subqueries in FROM, WITH
  unsigned statements = 1;  // non-empty statements separated by `;` (0 for an empty text)
};

QuerySummary summarize(std::string_view query, size_t max_text = 2048, bool keep_literals = false);

}  // namespace hodos::protocols::sql
