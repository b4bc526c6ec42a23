#include "protocols/sql/sanitize.h"

#include <algorithm>
#include <array>
#include <vector>

namespace hodos::protocols::sql {
namespace {

enum class Kind : uint8_t {
  kSpace,        // whitespace and comments: one space in the output
  kWord,         // keyword or bare identifier
  kQuotedName,   // "name", `name`, U&"name"
  kLiteral,      // string, number, dollar string, or whatever could not be read to its end
  kPlaceholder,  // $1, ?, :name
  kPunct,        // operators and punctuation, one byte each ("::" as one)
};

struct Token {
  Kind kind;
  std::string_view text;
};

bool is_space(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
bool is_alpha(unsigned char c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; }
// Bytes of multi-byte UTF-8 characters count as letters: identifiers may be written in any script.
bool is_word_start(unsigned char c) { return is_alpha(c) || c == '_' || c >= 0x80; }
bool is_word_char(unsigned char c) { return is_word_start(c) || is_digit(c) || c == '$'; }

bool iequals(std::string_view a, std::string_view upper) {
  if (a.size() != upper.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(a[i]);
    if ((c >= 'a' && c <= 'z' ? c - 32 : c) != static_cast<unsigned char>(upper[i])) return false;
  }
  return true;
}

template <size_t N>
bool is_one_of(std::string_view word, const std::array<std::string_view, N>& set) {
  return std::any_of(set.begin(), set.end(),
                     [word](std::string_view k) { return iequals(word, k); });
}

class Lexer {
 public:
  explicit Lexer(std::string_view s) : s_(s) {}
  bool done() const { return pos_ >= s_.size(); }

  Token next() {
    size_t start = pos_;
    Kind kind = lex();
    Token t{kind, s_.substr(start, pos_ - start)};
    if (kind != Kind::kSpace) last_ = t;
    return t;
  }

 private:
  unsigned char at(size_t i) const { return i < s_.size() ? s_[i] : '\0'; }

  // `after_space`: at the start of the text, or after whitespace or a comment.
  bool comment_starts_at(size_t i, bool after_space) const {
    unsigned char c = at(i);
    if (c == '-' && at(i + 1) == '-') return true;
    if (c == '/' && at(i + 1) == '*') return true;
    // MySQL's # comment; in PostgreSQL # is an operator (a # b, and #>, #>>, #- on json), so
    // only a # after a space, and not before > or a lone - (#- on json; #-- is # then a
    // comment), starts one. Reading a PostgreSQL # as a comment only drops text, it never lets a
    // literal through.
    const bool json_operator = at(i + 1) == '>' || (at(i + 1) == '-' && at(i + 2) != '-');
    return c == '#' && after_space && !json_operator;
  }

  // Whitespace and comments as one token. False when a block comment never ends right here; one
  // that never ends after some whitespace is left for the next token, so that it stays apart.
  bool skip_space() {
    const size_t start = pos_;
    while (pos_ < s_.size()) {
      unsigned char c = at(pos_);
      if (is_space(c)) {
        ++pos_;
      } else if (comment_starts_at(pos_, true) && c != '/') {
        size_t eol = s_.find('\n', pos_);
        pos_ = eol == std::string_view::npos ? s_.size() : eol + 1;
      } else if (comment_starts_at(pos_, true)) {
        // PostgreSQL nests block comments; MySQL does not, but reading them nested only ever
        // drops more text.
        const size_t open = pos_;
        int depth = 0;
        while (pos_ < s_.size()) {
          if (at(pos_) == '/' && at(pos_ + 1) == '*') {
            ++depth;
            pos_ += 2;
          } else if (at(pos_) == '*' && at(pos_ + 1) == '/') {
            pos_ += 2;
            if (--depth == 0) break;
          } else {
            ++pos_;
          }
        }
        if (depth > 0) {
          if (open == start) return false;
          pos_ = open;
          return true;
        }
      } else {
        break;
      }
    }
    return true;
  }

  // Past the closing quote of a quoted run opened at `open`; the quote doubled stands for itself.
  // With `backslash`, a backslash escapes the next byte. False (at the end) when it never closes.
  bool skip_quoted(size_t open, char quote, bool backslash) {
    size_t i = open + 1;
    while (i < s_.size()) {
      char c = s_[i];
      if (backslash && c == '\\') {
        i += 2;
      } else if (c == quote) {
        if (at(i + 1) == static_cast<unsigned char>(quote)) {
          i += 2;
        } else {
          pos_ = i + 1;
          return true;
        }
      } else {
        ++i;
      }
    }
    pos_ = s_.size();
    return false;
  }

  Kind quoted(size_t open, char quote) {
    // Strings honour backslash escapes: MySQL's default, and PostgreSQL's E'' strings. (A
    // PostgreSQL standard string ending in a backslash, 'C:\', is then read as running on.)
    bool ok = skip_quoted(open, quote, quote == '\'');
    if (!ok) return Kind::kLiteral;  // never closed: the rest is replaced
    return quote == '\'' ? Kind::kLiteral : Kind::kQuotedName;
  }

  // $tag$ ... $tag$ (PostgreSQL); `open` is the first $. False when it is no dollar quote.
  bool dollar_quoted(size_t open, Kind* kind) {
    size_t i = open + 1;
    if (at(i) != '$') {
      if (!is_word_start(at(i))) return false;
      while (i < s_.size() && is_word_char(at(i)) && at(i) != '$') ++i;
      if (at(i) != '$') return false;
    }
    std::string_view tag = s_.substr(open, i + 1 - open);
    size_t close = s_.find(tag, i + 1);
    pos_ = close == std::string_view::npos ? s_.size() : close + tag.size();
    *kind = Kind::kLiteral;
    return true;
  }

  // Numbers: 42, 3.14, .5, 1e-9, 0x1F, 0b101, 1_000. Letters and digits stuck to them are taken
  // along (MySQL allows names like 1st, which are rare; taking them as literals hides nothing).
  void number() {
    bool hex = at(pos_) == '0' && (at(pos_ + 1) | 0x20) == 'x';
    bool dot = at(pos_) == '.';
    if (dot) ++pos_;
    while (pos_ < s_.size()) {
      unsigned char c = at(pos_);
      if (is_digit(c) || is_alpha(c) || c == '_') {
        ++pos_;
      } else if (c == '.' && !dot && !hex && is_digit(at(pos_ - 1))) {
        dot = true;
        ++pos_;
      } else if ((c == '+' || c == '-') && !hex && pos_ > 0 && (at(pos_ - 1) | 0x20) == 'e' &&
                 is_digit(at(pos_ + 1))) {
        ++pos_;
      } else {
        break;
      }
    }
  }

  bool after_name() const {
    if (last_.text.empty()) return false;
    if (last_.kind == Kind::kWord || last_.kind == Kind::kQuotedName ||
        last_.kind == Kind::kLiteral || last_.kind == Kind::kPlaceholder) {
      return true;
    }
    return last_.text == ")" || last_.text == "]";
  }

  Kind lex() {
    unsigned char c = at(pos_);
    // Past the first byte a # follows a token: were there space before it, it would be taken.
    if (is_space(c) || comment_starts_at(pos_, pos_ == 0)) {
      if (!skip_space()) return Kind::kLiteral;  // an unterminated comment: the rest is ?
      return Kind::kSpace;
    }
    size_t start = pos_;
    if (c == '\'') return quoted(start, '\'');
    if (c == '"' || c == '`') {
      // "..." is an identifier in PostgreSQL and in MySQL with ANSI_QUOTES; a MySQL string
      // otherwise. We keep the PostgreSQL reading: table names stay readable, and drivers send
      // values as bound parameters or single-quoted strings.
      return quoted(start, static_cast<char>(c));
    }
    if (c == '$') {
      if (is_digit(at(pos_ + 1))) {
        ++pos_;
        while (is_digit(at(pos_))) ++pos_;
        return Kind::kPlaceholder;
      }
      Kind kind;
      if (dollar_quoted(start, &kind)) return kind;
      ++pos_;
      return Kind::kPunct;
    }
    if (is_digit(c) || (c == '.' && is_digit(at(pos_ + 1)) && !after_name())) {
      number();
      return Kind::kLiteral;
    }
    if (is_word_start(c)) {
      while (pos_ < s_.size() && is_word_char(at(pos_))) ++pos_;
      std::string_view word = s_.substr(start, pos_ - start);
      // Prefixed strings: E'..' (escapes), N'..' (national), X'..' (hex), B'..' (bits), U&'..'.
      if (at(pos_) == '\'' && word.size() == 1 &&
          std::string_view("eEnNxXbB").find(word[0]) != std::string_view::npos) {
        return quoted(pos_, '\'');
      }
      if ((word == "U" || word == "u") && at(pos_) == '&' &&
          (at(pos_ + 1) == '\'' || at(pos_ + 1) == '"')) {
        return quoted(pos_ + 1, static_cast<char>(at(pos_ + 1)));
      }
      return Kind::kWord;
    }
    if (c == '?') {
      ++pos_;
      while (is_digit(at(pos_))) ++pos_;  // ?1 (SQLite-style numbered)
      return Kind::kPlaceholder;
    }
    if (c == ':') {
      if (at(pos_ + 1) == ':') {
        pos_ += 2;
        return Kind::kPunct;
      }
      if (is_word_start(at(pos_ + 1))) {
        ++pos_;
        while (pos_ < s_.size() && is_word_char(at(pos_))) ++pos_;
        return Kind::kPlaceholder;
      }
    }
    ++pos_;
    return Kind::kPunct;
  }

  std::string_view s_;
  size_t pos_ = 0;
  Token last_{Kind::kSpace, {}};
};

// Cuts `text` to at most `max` bytes ending in "...", at a UTF-8 character boundary.
void cut(std::string* text, size_t max) {
  if (text->size() <= max) return;
  if (max < 3) {
    text->assign(std::string_view("...").substr(0, max));
    return;
  }
  size_t keep = max - 3;
  while (keep > 0 && (static_cast<unsigned char>((*text)[keep]) & 0xC0) == 0x80) --keep;
  text->resize(keep);
  text->append("...");
}

std::string upper(std::string_view word) {
  std::string out(word);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 32);
  }
  return out;
}

bool is_punct(const Token& t, std::string_view p) { return t.kind == Kind::kPunct && t.text == p; }
bool is_word(const Token& t, std::string_view upper_word) {
  return t.kind == Kind::kWord && iequals(t.text, upper_word);
}

// The statement's first keyword; for WITH ... the first SELECT/INSERT/UPDATE/DELETE/MERGE outside
// the common table expressions' parentheses.
std::string operation_of(const std::vector<Token>& tokens) {
  size_t i = 0;
  while (i < tokens.size() && is_punct(tokens[i], "(")) ++i;
  if (i == tokens.size() || tokens[i].kind != Kind::kWord) return "";
  std::string_view first = tokens[i].text;
  if (first.size() > 32 ||
      !std::all_of(first.begin(), first.end(), [](char c) { return is_alpha(c) || c == '_'; })) {
    return "";
  }
  if (!iequals(first, "WITH")) return upper(first);
  static constexpr std::array<std::string_view, 5> kMain = {"SELECT", "INSERT", "UPDATE", "DELETE",
                                                            "MERGE"};
  int depth = 0;
  for (++i; i < tokens.size(); ++i) {
    if (is_punct(tokens[i], "(")) ++depth;
    if (is_punct(tokens[i], ")")) --depth;
    if (depth == 0 && tokens[i].kind == Kind::kWord && is_one_of(tokens[i].text, kMain)) {
      return upper(tokens[i].text);
    }
  }
  return "";
}

// A possibly schema-qualified table name at tokens[*i], quotes removed; empty if none.
std::string table_name(const std::vector<Token>& tokens, size_t* i) {
  std::string name;
  while (*i < tokens.size()) {
    const Token& t = tokens[*i];
    if (t.kind == Kind::kWord) {
      name.append(t.text);
    } else if (t.kind == Kind::kQuotedName && t.text.size() >= 2 && t.text[0] != 'U' &&
               t.text[0] != 'u') {
      char q = t.text[0];
      std::string_view inner = t.text.substr(1, t.text.size() - 2);
      for (size_t k = 0; k < inner.size(); ++k) {
        name.push_back(inner[k]);
        if (inner[k] == q) ++k;  // a doubled quote stands for one
      }
    } else {
      return "";
    }
    ++*i;
    if (*i + 1 < tokens.size() && is_punct(tokens[*i], ".")) {
      name.push_back('.');
      ++*i;
      continue;
    }
    return name;
  }
  return "";
}

constexpr std::array<std::string_view, 40> kNotAlias = {
    "WHERE",     "GROUP",  "ORDER",       "LIMIT",     "HAVING",  "OFFSET",        "FOR",
    "WINDOW",    "FETCH",  "UNION",       "INTERSECT", "EXCEPT",  "JOIN",          "INNER",
    "LEFT",      "RIGHT",  "FULL",        "CROSS",     "NATURAL", "STRAIGHT_JOIN", "LATERAL",
    "USING",     "ON",     "TABLESAMPLE", "PARTITION", "INTO",    "LOCK",          "PROCEDURE",
    "RETURNING", "SET",    "VALUES",      "FORCE",     "USE",     "IGNORE",        "OUTER",
    "AS",        "SELECT", "DEFAULT",     "ONLY",      "WITH"};

// Skips `[AS] alias` after a table name.
void skip_alias(const std::vector<Token>& tokens, size_t* i) {
  if (*i < tokens.size() && is_word(tokens[*i], "AS")) {
    ++*i;
    if (*i < tokens.size() &&
        (tokens[*i].kind == Kind::kWord || tokens[*i].kind == Kind::kQuotedName)) {
      ++*i;
    }
    return;
  }
  if (*i < tokens.size() &&
      ((tokens[*i].kind == Kind::kWord && !is_one_of(tokens[*i].text, kNotAlias)) ||
       tokens[*i].kind == Kind::kQuotedName)) {
    ++*i;
  }
}

// The statement goes on only with one of `allowed` (or ends): nothing else names a table.
template <size_t N>
bool ends_simply(const std::vector<Token>& tokens, size_t i,
                 const std::array<std::string_view, N>& allowed) {
  if (i < tokens.size() && is_punct(tokens[i], ";")) ++i;
  if (i == tokens.size()) return true;
  return tokens[i].kind == Kind::kWord && is_one_of(tokens[i].text, allowed);
}

std::string collection_of(const std::vector<Token>& tokens, std::string_view operation) {
  // Only a statement that starts with its keyword: not WITH ..., not (SELECT ...).
  if (tokens.empty() || tokens[0].kind != Kind::kWord || is_word(tokens[0], "WITH")) return "";
  size_t i = 1;
  if (operation == "SELECT") {
    int depth = 0;
    for (; i < tokens.size(); ++i) {
      if (is_punct(tokens[i], "(")) ++depth;
      if (is_punct(tokens[i], ")")) --depth;
      if (depth == 0 && is_word(tokens[i], "FROM")) break;
    }
    if (i == tokens.size()) return "";
    ++i;
    std::string name = table_name(tokens, &i);
    if (name.empty()) return "";
    skip_alias(tokens, &i);
    static constexpr std::array<std::string_view, 10> kAfter = {
        "WHERE", "GROUP", "ORDER", "LIMIT", "HAVING", "OFFSET", "FOR", "WINDOW", "FETCH", "LOCK"};
    if (!ends_simply(tokens, i, kAfter)) return "";
    // A set operation after the WHERE names more tables.
    static constexpr std::array<std::string_view, 3> kSetOps = {"UNION", "INTERSECT", "EXCEPT"};
    for (depth = 0; i < tokens.size(); ++i) {
      if (is_punct(tokens[i], "(")) ++depth;
      if (is_punct(tokens[i], ")")) --depth;
      if (depth == 0 && tokens[i].kind == Kind::kWord && is_one_of(tokens[i].text, kSetOps)) {
        return "";
      }
    }
    return name;
  }
  if (operation == "INSERT" || operation == "REPLACE") {
    static constexpr std::array<std::string_view, 4> kModifiers = {"LOW_PRIORITY", "DELAYED",
                                                                   "HIGH_PRIORITY", "IGNORE"};
    while (i < tokens.size() && tokens[i].kind == Kind::kWord &&
           is_one_of(tokens[i].text, kModifiers))
      ++i;
    if (i < tokens.size() && is_word(tokens[i], "INTO")) ++i;
    return table_name(tokens, &i);
  }
  if (operation == "UPDATE") {
    static constexpr std::array<std::string_view, 3> kModifiers = {"LOW_PRIORITY", "IGNORE",
                                                                   "ONLY"};
    while (i < tokens.size() && tokens[i].kind == Kind::kWord &&
           is_one_of(tokens[i].text, kModifiers))
      ++i;
    std::string name = table_name(tokens, &i);
    if (name.empty()) return "";
    skip_alias(tokens, &i);
    return i < tokens.size() && is_word(tokens[i], "SET") ? name : "";
  }
  if (operation == "DELETE") {
    static constexpr std::array<std::string_view, 3> kModifiers = {"LOW_PRIORITY", "QUICK",
                                                                   "IGNORE"};
    while (i < tokens.size() && tokens[i].kind == Kind::kWord &&
           is_one_of(tokens[i].text, kModifiers))
      ++i;
    if (i == tokens.size() || !is_word(tokens[i], "FROM")) return "";
    ++i;
    if (i < tokens.size() && is_word(tokens[i], "ONLY")) ++i;
    std::string name = table_name(tokens, &i);
    if (name.empty()) return "";
    skip_alias(tokens, &i);
    static constexpr std::array<std::string_view, 4> kAfter = {"WHERE", "ORDER", "LIMIT",
                                                               "RETURNING"};
    return ends_simply(tokens, i, kAfter) ? name : "";
  }
  return "";
}

// The first statement's tokens are kept for the operation and the table; past this many the
// statement is too long to be a simple one anyway, and memory stays bounded.
constexpr size_t kMaxTokens = 4096;

}  // namespace

QuerySummary summarize(std::string_view query, size_t max_text, bool keep_literals) {
  QuerySummary summary;
  summary.statements = 0;
  std::vector<Token> first;    // the first statement, without spaces
  bool first_complete = true;  // all of the first statement's tokens are in `first`
  bool in_statement = false;
  bool pending_space = false;
  std::string& out = summary.text;
  const size_t out_limit = max_text + 4;  // enough to know that it must be cut
  if (keep_literals) out.assign(query.substr(0, out_limit));

  Lexer lexer(query);
  while (!lexer.done()) {
    Token t = lexer.next();
    if (t.kind == Kind::kSpace) {
      pending_space = !out.empty();
      continue;
    }
    if (!keep_literals && out.size() < out_limit) {
      if (pending_space) out.push_back(' ');
      if (t.kind == Kind::kLiteral) {
        out.push_back('?');
      } else {
        out.append(t.text.substr(0, out_limit));
      }
    }
    pending_space = false;
    if (is_punct(t, ";")) {
      if (in_statement && summary.statements == 1) first.push_back(t);
      in_statement = false;
      continue;
    }
    if (!in_statement) {
      in_statement = true;
      ++summary.statements;
    }
    if (summary.statements == 1) {
      if (first.size() < kMaxTokens) {
        first.push_back(t);
      } else {
        first_complete = false;
      }
    }
  }
  cut(&out, max_text);
  if (summary.statements == 1) {
    summary.operation = operation_of(first);
    if (first_complete) summary.collection = collection_of(first, summary.operation);
  }
  return summary;
}

}  // namespace hodos::protocols::sql
