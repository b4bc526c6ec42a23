// The properties the sql_sanitize fuzz target checks on every input, shared with the unit tests
// (the property test and the corpus replay). On the raw input: no crash, the text within its
// bound and cut at a character boundary, sanitizing is idempotent, keep_literals only cuts. And
// the input seeds a generator of SQL whose literals and comments hold secrets (text with `q`, `Q`
// and runs of digits, which nothing else it writes has): none of it may reach the output.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "../fuzz_support.h"
#include "protocols/sql/sanitize.h"

namespace hodos::protocols::sql::fuzz {

using Rng = fuzz_support::Rng;

inline bool valid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    unsigned char c = s[i];
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    }
    i += n;
  }
  return true;
}

inline bool has_digit_run(std::string_view s, size_t n) {
  size_t run = 0;
  for (char c : s) {
    run = (c >= '0' && c <= '9') ? run + 1 : 0;
    if (run >= n) return true;
  }
  return false;
}

// Secret text: the letters q/Q and digits mark it; the rest are the bytes that end or escape
// literals and comments, so that a lexer that stops early lets the marks through.
inline std::string secret(Rng& rng) {
  static const std::string_view kBits[] = {
      "q", "Q",  "qq", "123", "98765", "'",  "''", "\"", "\\", "\\'", "$", "$$", "-",  "--", "*",
      "/", "*/", "/*", "#",   " ",     "\n", "é",  "€",  ";",  "(",   ")", "`",  "q1", "0x9"};
  std::string s = "q";
  for (uint64_t n = rng.below(12); n > 0; --n) s += rng.pick(kBits);
  return s;
}

inline std::string without(std::string s, std::string_view bytes) {
  std::string out;
  for (char c : s) {
    if (bytes.find(c) == std::string_view::npos) out.push_back(c);
  }
  return out;
}

// A single-quoted string holding `text`: quotes doubled or backslash-escaped, backslashes doubled.
inline std::string quote(std::string_view text, Rng& rng) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') {
      out += rng.below(2) ? "''" : "\\'";
    } else if (c == '\\') {
      out += "\\\\";
    } else {
      out.push_back(c);
    }
  }
  return out + "'";
}

inline std::string digits(Rng& rng, size_t min) {
  std::string out;
  for (size_t n = min + rng.below(10); n > 0; --n)
    out.push_back(static_cast<char>('0' + rng.below(10)));
  return out;
}

// A literal or comment whose content is secret; ends with a newline where the comment needs one.
inline std::string secret_piece(Rng& rng) {
  switch (rng.below(14)) {
    case 0:
      return quote(secret(rng), rng);
    case 1:
      return "E" + quote(secret(rng), rng);
    case 2:
      return std::string(rng.pick({"N", "X", "B", "n", "x", "b"})) + quote(secret(rng), rng);
    case 3:
      return "U&" + quote(secret(rng), rng);
    case 4:
      return "$$" + without(secret(rng), "$") + "$$";
    case 5:
      return "$body$" + without(secret(rng), "$") + "$body$";
    case 6:
      return digits(rng, 3);
    case 7:
      return digits(rng, 1) + "." + digits(rng, 3) + (rng.below(2) ? "e-" + digits(rng, 1) : "");
    case 8:
      return "0x" + digits(rng, 3);
    case 9:
      return "." + digits(rng, 3);
    case 10:
      return "-- " + without(secret(rng), "\n") + "\n";
    case 11:
      return "/* " + without(secret(rng), "*/") + " */";
    case 12:
      return "/* a /* " + without(secret(rng), "*/") + " */ " + without(secret(rng), "*/") + " */";
    default:
      return " #q" + without(secret(rng), "\n") + "\n";
  }
}

// What a literal left open at the very end looks like.
inline std::string unterminated_piece(Rng& rng) {
  switch (rng.below(6)) {
    case 0: {
      std::string open = quote(secret(rng), rng);
      open.pop_back();
      return open;
    }
    case 1:
      return "E'" + without(secret(rng), "'\\");
    case 2:
      return "$$" + without(secret(rng), "$");
    case 3:
      return "/* " + without(secret(rng), "*/");
    case 4:
      return "\"" + without(secret(rng), "\"");
    default:
      return "`" + without(secret(rng), "`");
  }
}

// Everything else SQL holds: none of it has q, Q or three digits in a row.
inline std::string plain_piece(Rng& rng) {
  static const std::string_view kPlain[] = {"SELECT", "FROM",
                                            "WHERE",  "AND",
                                            "OR",     "IN",
                                            "INSERT", "INTO",
                                            "VALUES", "UPDATE",
                                            "SET",    "DELETE",
                                            "WITH",   "AS",
                                            "JOIN",   "ON",
                                            "ORDER",  "BY",
                                            "LIMIT",  "NULL",
                                            "TRUE",   "FALSE",
                                            "BEGIN",  "COMMIT",
                                            "users",  "t1",
                                            "col_2",  "\"Mixed Name\"",
                                            "`tick`", "public.users",
                                            "café",   "a$b",
                                            "_x",     "$1",
                                            "$12",    "?",
                                            ":name",  "(",
                                            ")",      ",",
                                            ";",      "=",
                                            "<",      ">",
                                            "+",      "-",
                                            "*",      "/",
                                            ".",      "::",
                                            "%",      "||",
                                            "@",      "[",
                                            "]",      "\"",
                                            "'"};
  std::string_view p = rng.pick(kPlain);
  // A lone quote is a literal opened here; close it so that it holds nothing but a secret.
  if (p == "\"") return "\"x" + without(secret(rng), "\"qQ0123456789") + "\"";
  if (p == "'") return quote(secret(rng), rng);
  return std::string(p);
}

inline bool word_byte(char c) {
  unsigned char u = static_cast<unsigned char>(c);
  return ((u | 0x20) >= 'a' && (u | 0x20) <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '$' || u >= 0x80;
}

// SQL text with secrets in its literals and comments. Pieces touch unless that would glue them
// into one token (a name followed by a digit or a dollar quote) or open a comment (/ then *,
// - then -) that would end inside a later literal: real SQL has a space there too.
inline std::string generate(Rng& rng) {
  std::string out;
  static const std::string_view kSpaces[] = {" ", "  ", "\n", "\t", "\r\n", " \n "};
  for (uint64_t n = 1 + rng.below(24); n > 0; --n) {
    std::string piece = rng.below(3) == 0 ? secret_piece(rng) : plain_piece(rng);
    bool glue = !out.empty() &&
                (((word_byte(out.back()) || out.back() == '?') &&
                  (word_byte(piece[0]) || piece[0] == '.')) ||
                 (out.back() == '/' && piece[0] == '*') || (out.back() == '-' && piece[0] == '-'));
    if (glue || rng.below(2)) out += rng.pick(kSpaces);
    out += piece;
  }
  if (rng.below(4) == 0) out += " " + unterminated_piece(rng);
  return out;
}

// Empty when the generated text's secrets stay hidden, else what leaked.
inline std::string check_hidden(std::string_view query, size_t max_text) {
  QuerySummary s = summarize(query, max_text);
  if (s.text.find_first_of("qQ") != std::string::npos) return "a secret letter leaked: " + s.text;
  if (has_digit_run(s.text, 3)) return "a number leaked: " + s.text;
  if (s.collection.find_first_of("qQ") != std::string::npos) return "a secret became the table";
  return "";
}

// Empty when every property holds on arbitrary text, else what broke.
inline std::string check_raw(std::string_view input) {
  for (size_t max : {size_t{0}, size_t{2}, size_t{3}, size_t{7}, size_t{64}, size_t{2048}}) {
    QuerySummary s = summarize(input, max);
    if (s.text.size() > max) return "text longer than max_text";
    if (valid_utf8(input) && !valid_utf8(s.text)) return "cut inside a character";
    if (s.statements != 1 && (!s.operation.empty() || !s.collection.empty())) {
      return "an operation for several statements";
    }
    QuerySummary kept = summarize(input, max, true);
    if (kept.operation != s.operation || kept.collection != s.collection ||
        kept.statements != s.statements) {
      return "keep_literals changed the summary";
    }
    if (input.size() <= max
            ? kept.text != input
            : max >= 3 && !(kept.text.ends_with("...") &&
                            input.starts_with(kept.text.substr(0, kept.text.size() - 3)))) {
      return "keep_literals changed the text";
    }
  }
  // Sanitizing sanitized text changes nothing.
  QuerySummary once = summarize(input, 1 << 20);
  QuerySummary twice = summarize(once.text, 1 << 20);
  if (twice.text != once.text || twice.operation != once.operation ||
      twice.collection != once.collection || twice.statements != once.statements) {
    return "not idempotent: " + once.text + " -> " + twice.text;
  }
  return "";
}

inline std::string check_input(std::string_view input) {
  std::string failure = check_raw(input);
  if (!failure.empty()) return failure;
  Rng rng(input);
  for (int i = 0; i < 4 && failure.empty(); ++i) {
    std::string query = generate(rng);
    failure = check_hidden(query, rng.below(2) ? 2048 : 8 + rng.below(64));
    if (failure.empty()) failure = check_raw(query);
    if (!failure.empty()) failure += " (from: " + query + ")";
  }
  return failure;
}

}  // namespace hodos::protocols::sql::fuzz
