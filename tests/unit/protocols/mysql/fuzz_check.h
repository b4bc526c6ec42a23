// What the mysql fuzz target checks on every input, shared with the unit tests that replay the
// corpus (tests/fuzz/corpus/mysql). An input is a conversation: records of
//   [flags] [length: 2 bytes, little-endian] [bytes]
// where flags bit 0 is the direction (1 = ingress) and bit 1 asks for the capture to cut the
// record short. The matcher is fed the records as chunks, cut at random places; it must never
// crash, must hand out well-formed calls only (no literal, no error message), and, when the bytes
// parse cleanly, find the same calls however the records are chunked.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "../fuzz_support.h"
#include "protocols/mysql/match.h"

namespace hodos::protocols::mysql::fuzz {

using Rng = fuzz_support::Rng;

using fuzz_support::cut;
using fuzz_support::encode_records;
using fuzz_support::parse_records;
using fuzz_support::Piece;
using fuzz_support::Record;

using Run = fuzz_support::DbRun;

// Marks of literals, rows, messages and credentials the captures carry: none may come out.
inline bool leaks(const DbCall& c) {
  for (std::string_view field : {std::string_view(c.query_text), std::string_view(c.namespace_name),
                                 std::string_view(c.collection), std::string_view(c.operation),
                                 std::string_view(c.status_code)}) {
    for (std::string_view mark : {"alice", "bob", "carol", "dave", "dup", "Duplicate", "root",
                                  "You have", "exist", "hs-infile", "xxx"}) {
      if (field.find(mark) != std::string_view::npos) return true;
    }
  }
  return false;
}

// A quote outside the quoted names ("..." and `...` stay) means a string literal came through.
inline bool has_string_quote(std::string_view text) {
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '"' || text[i] == '`') {
      size_t close = text.find(text[i], i + 1);
      if (close == std::string_view::npos) return false;
      i = close;
    } else if (text[i] == '\'') {
      return true;
    }
  }
  return false;
}

inline std::string check_call(const DbCall& c, const DbMatchOptions& options) {
  if (c.system != "mysql") return "wrong system";
  if (c.start_ns > c.end_ns) return "call ends before it starts";
  if (c.query_text.size() > options.max_query_text) return "query text over its bound";
  if (c.status_code.find_first_not_of("0123456789") != std::string::npos) {
    return "status code is not an error number";
  }
  if (!c.status_code.empty() && !c.error) return "status code without an error";
  // Sanitized text has no quote left: every '...' became ?.
  if (!options.keep_literals && has_string_quote(c.query_text)) {
    return "a string literal leaked";
  }
  return "";
}

inline Run run_matcher(const std::vector<Piece>& pieces, const DbMatchOptions& options,
                       bool close) {
  return fuzz_support::run_db_matcher(
      [&](DbMatcher::Sink sink) { return make_mysql_matcher(std::move(sink), options); }, pieces,
      close, [&](const DbCall& c) { return check_call(c, options); },
      [](const DbCall& c) {
        return c.operation + "|" + c.collection + "|" + c.query_text + "|" + c.namespace_name +
               "|" + c.status_code + "|" + (c.error ? "E" : "") + (c.truncated ? "T" : "") + "|" +
               std::to_string(c.batch_size);
      });
}

inline std::string check_input(std::string_view input) {
  Rng rng(input);
  std::vector<Record> records = parse_records(input);
  DbMatchOptions options;
  options.max_query_text = rng.below(2) ? 2048 : 16 + rng.below(64);
  options.max_pending_requests = 1 + rng.below(8);

  return fuzz_support::check_db_chunking(records, rng, options, run_matcher);
}

}  // namespace hodos::protocols::mysql::fuzz
