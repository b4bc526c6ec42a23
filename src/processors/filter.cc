#include "processors/filter.h"

#include <fmt/format.h>
#include <re2/re2.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <optional>
#include <vector>

#include "core/span_batch.h"
#include "pipeline/metrics.h"

namespace hodos::processors {

using core::AnyValue;
using core::ValueType;
using pipeline::ConfigError;
using pipeline::ConfigNode;
using Context = FilterCondition::Context;

namespace {

// ---------------------------------------------------------------------------------------------
// Values as OTTL sees them. Strings point into the span (or the condition's literals): evaluating
// a condition allocates nothing.

struct Val {
  enum class Type : uint8_t { kNil, kBool, kInt, kDouble, kString, kBytes, kOther };
  Type type = Type::kNil;
  bool b = false;
  int64_t i = 0;
  double d = 0;
  std::string_view s;
  const AnyValue* other = nullptr;  // arrays and maps

  static Val of_bool(bool v) {
    Val out;
    out.type = Type::kBool;
    out.b = v;
    return out;
  }
  static Val of_int(int64_t v) {
    Val out;
    out.type = Type::kInt;
    out.i = v;
    return out;
  }
  static Val of_string(std::string_view v) {
    Val out;
    out.type = Type::kString;
    out.s = v;
    return out;
  }
};

Val from_any(const AnyValue* v) {
  Val out;
  if (!v) return out;
  switch (v->type) {
    case ValueType::kEmpty:
      break;
    case ValueType::kString:
      return Val::of_string(v->str);
    case ValueType::kBytes:
      out.type = Val::Type::kBytes;
      out.s = v->str;
      break;
    case ValueType::kBool:
      return Val::of_bool(v->bool_value);
    case ValueType::kInt:
      return Val::of_int(v->int_value);
    case ValueType::kDouble:
      out.type = Val::Type::kDouble;
      out.d = v->double_value;
      break;
    case ValueType::kArray:
    case ValueType::kKvList:
      out.type = Val::Type::kOther;
      out.other = v;
      break;
  }
  return out;
}

enum class CompareOp : uint8_t { kEq, kNe, kLt, kLe, kGt, kGe };

bool holds(CompareOp op, int order) {
  switch (op) {
    case CompareOp::kEq:
      return order == 0;
    case CompareOp::kNe:
      return order != 0;
    case CompareOp::kLt:
      return order < 0;
    case CompareOp::kLe:
      return order <= 0;
    case CompareOp::kGt:
      return order > 0;
    case CompareOp::kGe:
      return order >= 0;
  }
  return false;
}

template <class T>
int three_way(const T& a, const T& b) {
  return a < b ? -1 : (b < a ? 1 : 0);
}

// OTTL's comparison rules: ints and doubles compare as numbers; values of different types (nil
// included) are "not equal", so only != holds; maps and lists have equality only.
bool compare(const Val& a, const Val& b, CompareOp op) {
  using T = Val::Type;
  const bool a_num = a.type == T::kInt || a.type == T::kDouble;
  const bool b_num = b.type == T::kInt || b.type == T::kDouble;
  if (a_num && b_num) {
    if (a.type == T::kInt && b.type == T::kInt) return holds(op, three_way(a.i, b.i));
    const double x = a.type == T::kInt ? static_cast<double>(a.i) : a.d;
    const double y = b.type == T::kInt ? static_cast<double>(b.i) : b.d;
    if (std::isnan(x) || std::isnan(y)) return op == CompareOp::kNe;  // as in Go
    return holds(op, three_way(x, y));
  }
  if (a.type != b.type) return op == CompareOp::kNe;
  switch (a.type) {
    case T::kNil:
      return op == CompareOp::kEq;
    case T::kBool:
      return holds(op, three_way(a.b, b.b));  // false < true
    case T::kString:
    case T::kBytes:
      return holds(op, a.s.compare(b.s));
    case T::kOther:
      if (op == CompareOp::kEq) return *a.other == *b.other;
      if (op == CompareOp::kNe) return !(*a.other == *b.other);
      return false;
    default:
      return false;
  }
}

// ---------------------------------------------------------------------------------------------
// The compiled condition

enum class Path : uint8_t {
  kSpanName,
  kSpanKind,
  kSpanStatusCode,
  kSpanStatusMessage,
  kSpanTraceState,
  kSpanStart,
  kSpanEnd,
  kSpanAttributes,
  kResourceAttributes,
  kScopeName,
  kScopeVersion,
  kScopeAttributes,
  kEventName,
  kEventTime,
  kEventAttributes,
};

struct PathInfo {
  std::string_view name;
  Path path;
  bool takes_keys;
};

constexpr PathInfo kSpanPaths[] = {
    {"name", Path::kSpanName, false},
    {"kind", Path::kSpanKind, false},
    {"status.code", Path::kSpanStatusCode, false},
    {"status.message", Path::kSpanStatusMessage, false},
    {"trace_state", Path::kSpanTraceState, false},
    {"start_time_unix_nano", Path::kSpanStart, false},
    {"end_time_unix_nano", Path::kSpanEnd, false},
    {"attributes", Path::kSpanAttributes, true},
};
constexpr PathInfo kEventPaths[] = {
    {"name", Path::kEventName, false},
    {"time_unix_nano", Path::kEventTime, false},
    {"attributes", Path::kEventAttributes, true},
};
constexpr PathInfo kSharedPaths[] = {
    {"resource.attributes", Path::kResourceAttributes, true},
    {"instrumentation_scope.name", Path::kScopeName, false},
    {"instrumentation_scope.version", Path::kScopeVersion, false},
    {"instrumentation_scope.attributes", Path::kScopeAttributes, true},
};

struct Enum {
  std::string_view name;
  int64_t value;
};
// OTLP's numbers, which OTTL uses for these enums.
constexpr Enum kEnums[] = {
    {"SPAN_KIND_UNSPECIFIED", 0}, {"SPAN_KIND_INTERNAL", 1}, {"SPAN_KIND_SERVER", 2},
    {"SPAN_KIND_CLIENT", 3},      {"SPAN_KIND_PRODUCER", 4}, {"SPAN_KIND_CONSUMER", 5},
    {"STATUS_CODE_UNSET", 0},     {"STATUS_CODE_OK", 1},     {"STATUS_CODE_ERROR", 2},
};

enum class Function : uint8_t { kIsMatch, kIsString, kIsInt, kIsDouble, kIsBool, kIsMap, kIsList };
struct FunctionInfo {
  std::string_view name;
  Function function;
  size_t arity;
};
constexpr FunctionInfo kFunctions[] = {
    {"IsMatch", Function::kIsMatch, 2}, {"IsString", Function::kIsString, 1},
    {"IsInt", Function::kIsInt, 1},     {"IsDouble", Function::kIsDouble, 1},
    {"IsBool", Function::kIsBool, 1},   {"IsMap", Function::kIsMap, 1},
    {"IsList", Function::kIsList, 1},
};

struct Key {
  bool is_index = false;
  std::string name;
  int64_t index = 0;
};

struct ValueNode {
  enum class Kind : uint8_t { kLiteral, kPath, kCall, kMath } kind = Kind::kLiteral;
  Val literal;
  std::string text;  // a string literal's decoded text; `literal.s` is set from it when read
  Path path = Path::kSpanName;
  std::vector<Key> keys;
  Function function = Function::kIsMatch;
  std::vector<int> args;  // ValueNode indices: a call's arguments, a math operation's operands
  char math_op = '+';     // + - * /
  std::unique_ptr<re2::RE2> regex;
};

struct BoolNode {
  enum class Kind : uint8_t { kOr, kAnd, kNot, kCompare, kValue } kind = Kind::kValue;
  int left = -1;   // BoolNode (or/and/not) or ValueNode (compare/value)
  int right = -1;
  CompareOp op = CompareOp::kEq;
};

}  // namespace

struct FilterCondition::Program {
  Context context = Context::kSpan;
  std::vector<BoolNode> bools;
  std::vector<ValueNode> values;
  int root = -1;
};

namespace {

// ---------------------------------------------------------------------------------------------
// Lexer

enum class Tok : uint8_t {
  kEnd, kIdent, kString, kInt, kFloat, kLParen, kRParen, kLBracket, kRBracket, kComma, kDot, kOp,
  kMath,
};

struct Token {
  Tok kind = Tok::kEnd;
  size_t pos = 0;
  std::string_view text;  // as written
  std::string value;      // a string literal, unescaped
  int64_t int_value = 0;
  double float_value = 0;
  CompareOp op = CompareOp::kEq;
};

[[noreturn]] void fail_at(size_t pos, std::string message) {
  throw FilterCondition::ParseError{pos + 1, std::move(message)};
}

bool is_ident_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Whether the previous token ends a value, so that a following '-' subtracts (`a -1`) rather than
// signs a number (`== -1`).
bool after_value(const std::vector<Token>& tokens) {
  if (tokens.empty()) return false;
  const Token& t = tokens.back();
  switch (t.kind) {
    case Tok::kIdent:
      return t.text != "and" && t.text != "or" && t.text != "not";
    case Tok::kString:
    case Tok::kInt:
    case Tok::kFloat:
    case Tok::kRParen:
    case Tok::kRBracket:
      return true;
    default:
      return false;
  }
}

std::vector<Token> tokenize(std::string_view text) {
  std::vector<Token> out;
  size_t i = 0;
  while (true) {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' ||
                               text[i] == '\r')) {
      ++i;
    }
    Token t;
    t.pos = i;
    if (i == text.size()) {
      out.push_back(std::move(t));
      return out;
    }
    const char c = text[i];
    const char next = i + 1 < text.size() ? text[i + 1] : '\0';
    auto single = [&](Tok kind) {
      t.kind = kind;
      t.text = text.substr(i, 1);
      ++i;
    };
    auto op = [&](CompareOp o, size_t len) {
      t.kind = Tok::kOp;
      t.op = o;
      t.text = text.substr(i, len);
      i += len;
    };
    if (is_ident_start(c)) {
      size_t end = i + 1;
      while (end < text.size() && (is_ident_start(text[end]) || is_digit(text[end]))) ++end;
      t.kind = Tok::kIdent;
      t.text = text.substr(i, end - i);
      i = end;
    } else if (is_digit(c) || ((c == '-' || c == '+') && is_digit(next) && !after_value(out))) {
      size_t end = i + 1;
      while (end < text.size() && is_digit(text[end])) ++end;
      bool is_float = false;
      if (end + 1 < text.size() && text[end] == '.' && is_digit(text[end + 1])) {
        is_float = true;
        end += 2;
        while (end < text.size() && is_digit(text[end])) ++end;
      }
      t.text = text.substr(i, end - i);
      std::string_view digits = t.text;
      if (digits.front() == '+') digits.remove_prefix(1);
      const char* first = digits.data();
      const char* last = digits.data() + digits.size();
      if (is_float) {
        t.kind = Tok::kFloat;
        auto [p, ec] = std::from_chars(first, last, t.float_value);
        if (ec != std::errc() || p != last) fail_at(i, fmt::format("invalid number '{}'", t.text));
      } else {
        t.kind = Tok::kInt;
        auto [p, ec] = std::from_chars(first, last, t.int_value);
        if (ec != std::errc() || p != last) {
          fail_at(i, fmt::format("integer '{}' does not fit in 64 bits", t.text));
        }
      }
      i = end;
    } else if (c == '"') {
      size_t j = i + 1;
      bool closed = false;
      while (j < text.size()) {
        const char d = text[j];
        if (d == '"') {
          closed = true;
          break;
        }
        if (d != '\\') {
          t.value += d;
          ++j;
          continue;
        }
        if (j + 1 == text.size()) break;
        switch (text[j + 1]) {
          case '"':
            t.value += '"';
            break;
          case '\\':
            t.value += '\\';
            break;
          case 'n':
            t.value += '\n';
            break;
          case 't':
            t.value += '\t';
            break;
          case 'r':
            t.value += '\r';
            break;
          default:
            fail_at(j, fmt::format("unknown escape '\\{}' in string; write \\\\ for a backslash "
                                   "(a regex \\d is \"\\\\d\")",
                                   text[j + 1]));
        }
        j += 2;
      }
      if (!closed) fail_at(i, "unterminated string; close it with \"");
      t.kind = Tok::kString;
      t.text = text.substr(i, j + 1 - i);
      i = j + 1;
    } else if (c == '(') {
      single(Tok::kLParen);
    } else if (c == ')') {
      single(Tok::kRParen);
    } else if (c == '[') {
      single(Tok::kLBracket);
    } else if (c == ']') {
      single(Tok::kRBracket);
    } else if (c == ',') {
      single(Tok::kComma);
    } else if (c == '.') {
      single(Tok::kDot);
    } else if (c == '+' || c == '-' || c == '*' || c == '/') {
      single(Tok::kMath);
    } else if (c == '=' && next == '=') {
      op(CompareOp::kEq, 2);
    } else if (c == '!' && next == '=') {
      op(CompareOp::kNe, 2);
    } else if (c == '<' && next == '=') {
      op(CompareOp::kLe, 2);
    } else if (c == '>' && next == '=') {
      op(CompareOp::kGe, 2);
    } else if (c == '<') {
      op(CompareOp::kLt, 1);
    } else if (c == '>') {
      op(CompareOp::kGt, 1);
    } else if (c == '=') {
      fail_at(i, "'=' is not an operator; compare with '=='");
    } else if (c == '&' && next == '&') {
      fail_at(i, "'&&' is not an operator; use 'and'");
    } else if (c == '|' && next == '|') {
      fail_at(i, "'||' is not an operator; use 'or'");
    } else if (c == '!') {
      fail_at(i, "'!' alone is not an operator; use '!=' or 'not'");
    } else if (c == '\'') {
      fail_at(i, "strings are written in double quotes: \"...\"");
    } else {
      fail_at(i, fmt::format("unexpected character '{}'", c));
    }
    out.push_back(std::move(t));
  }
}

// ---------------------------------------------------------------------------------------------
// Parser: recursive descent over the grammar in filter.h.

std::string describe(const Token& t) {
  return t.kind == Tok::kEnd ? "the end of the condition" : fmt::format("'{}'", t.text);
}

template <class Table>
std::string names_of(const Table& table, std::string_view prefix = "") {
  std::string out;
  for (const auto& entry : table) {
    out += fmt::format("{}{}{}", out.empty() ? "" : ", ", prefix, entry.name);
  }
  return out;
}

class Parser {
 public:
  Parser(std::string_view text, FilterCondition::Program& program)
      : tokens_(tokenize(text)), program_(program) {}

  int parse() {
    const int root = parse_or();
    const Token& t = peek();
    if (t.kind == Tok::kRParen) fail_at(t.pos, "unmatched ')'");
    if (t.kind != Tok::kEnd) {
      fail_at(t.pos, fmt::format("expected 'and', 'or' or the end of the condition, found {}",
                                 describe(t)));
    }
    return root;
  }

 private:
  static constexpr int kMaxDepth = 64;
  static constexpr size_t kMaxNodes = 1000;

  const Token& peek() const { return tokens_[pos_]; }
  const Token& take() {
    const Token& t = tokens_[pos_];
    if (t.kind != Tok::kEnd) ++pos_;
    return t;
  }
  bool is_keyword(const Token& t, std::string_view word) const {
    return t.kind == Tok::kIdent && t.text == word;
  }
  const Token& expect(Tok kind, std::string_view what) {
    const Token& t = peek();
    if (t.kind != kind) fail_at(t.pos, fmt::format("expected {}, found {}", what, describe(t)));
    return take();
  }

  // Evaluation recurses through the tree, so its size bounds the stack a condition can take.
  void count_node() {
    if (program_.bools.size() + program_.values.size() >= kMaxNodes) {
      fail_at(peek().pos, fmt::format("condition too long (over {} parts); split it into several "
                                      "conditions: any one that matches drops the span",
                                      kMaxNodes));
    }
  }

  int add_bool(BoolNode node) {
    count_node();
    program_.bools.push_back(node);
    return static_cast<int>(program_.bools.size() - 1);
  }
  int add_value(ValueNode node) {
    count_node();
    program_.values.push_back(std::move(node));
    return static_cast<int>(program_.values.size() - 1);
  }

  int parse_or() {
    int left = parse_and();
    while (is_keyword(peek(), "or")) {
      take();
      left = add_bool({BoolNode::Kind::kOr, left, parse_and(), CompareOp::kEq});
    }
    return left;
  }

  int parse_and() {
    int left = parse_factor();
    while (is_keyword(peek(), "and")) {
      take();
      left = add_bool({BoolNode::Kind::kAnd, left, parse_factor(), CompareOp::kEq});
    }
    return left;
  }

  int parse_factor() {
    const Token& t = peek();
    if (++depth_ > kMaxDepth) fail_at(t.pos, "condition nested too deeply");
    int result;
    if (is_keyword(t, "not")) {
      take();
      result = add_bool({BoolNode::Kind::kNot, parse_factor(), -1, CompareOp::kEq});
    } else if (t.kind == Tok::kLParen) {
      take();
      result = parse_or();
      expect(Tok::kRParen, "')'");
    } else {
      result = parse_boolean();
    }
    --depth_;
    return result;
  }

  // A comparison, or a value that is a boolean on its own (true, false, a converter).
  int parse_boolean() {
    const int left = parse_value();
    const Token& t = peek();
    if (t.kind == Tok::kOp) {
      const CompareOp op = take().op;
      return add_bool({BoolNode::Kind::kCompare, left, parse_value(), op});
    }
    const ValueNode& v = program_.values[static_cast<size_t>(left)];
    const bool literal_bool =
        v.kind == ValueNode::Kind::kLiteral && v.literal.type == Val::Type::kBool;
    const bool boolean = v.kind == ValueNode::Kind::kCall || literal_bool;
    if (!boolean) {
      fail_at(t.pos, fmt::format("expected a comparison operator (==, !=, <, <=, >, >=), found {}",
                                 describe(t)));
    }
    return add_bool({BoolNode::Kind::kValue, left, -1, CompareOp::kEq});
  }

  // Math, as in OTTL: * and / bind tighter than + and -, left to right. No parentheses: a '(' in a
  // condition groups booleans.
  int parse_value() { return parse_math("+-", &Parser::parse_product); }
  int parse_product() { return parse_math("*/", &Parser::parse_primary); }

  int parse_math(std::string_view ops, int (Parser::*operand)()) {
    int left = (this->*operand)();
    while (peek().kind == Tok::kMath && ops.find(peek().text[0]) != std::string_view::npos) {
      ValueNode v;
      v.kind = ValueNode::Kind::kMath;
      v.math_op = take().text[0];
      v.args = {left, (this->*operand)()};
      left = add_value(std::move(v));
    }
    return left;
  }

  int parse_primary() {
    const Token& t = peek();
    ValueNode v;
    switch (t.kind) {
      case Tok::kString:
        v.literal.type = Val::Type::kString;
        v.text = take().value;
        return add_value(std::move(v));
      case Tok::kInt:
        v.literal = Val::of_int(take().int_value);
        return add_value(std::move(v));
      case Tok::kFloat:
        v.literal.type = Val::Type::kDouble;
        v.literal.d = take().float_value;
        return add_value(std::move(v));
      case Tok::kIdent:
        break;
      default:
        fail_at(t.pos, fmt::format("expected a value (a path such as attributes[\"url.path\"], a "
                                   "literal or a converter), found {}",
                                   describe(t)));
    }
    if (t.text == "true" || t.text == "false") {
      v.literal = Val::of_bool(take().text == "true");
      return add_value(std::move(v));
    }
    if (t.text == "nil") {
      take();
      return add_value(std::move(v));
    }
    if (t.text == "and" || t.text == "or" || t.text == "not") {
      fail_at(t.pos, fmt::format("expected a value, found the keyword '{}'", t.text));
    }
    if (pos_ + 1 < tokens_.size() && tokens_[pos_ + 1].kind == Tok::kLParen) return parse_call();
    if (t.text.front() >= 'A' && t.text.front() <= 'Z') {
      for (const Enum& e : kEnums) {
        if (e.name == t.text) {
          take();
          v.literal = Val::of_int(e.value);
          return add_value(std::move(v));
        }
      }
      fail_at(t.pos, fmt::format("unknown enum '{}'; use {}", t.text, names_of(kEnums)));
    }
    return parse_path();
  }

  int parse_call() {
    const Token& name = take();
    const FunctionInfo* info = nullptr;
    for (const FunctionInfo& f : kFunctions) {
      if (f.name == name.text) info = &f;
    }
    if (!info) {
      fail_at(name.pos, fmt::format("unknown function '{}'; conditions can call {}", name.text,
                                    names_of(kFunctions)));
    }
    if (++depth_ > kMaxDepth) fail_at(name.pos, "condition nested too deeply");
    take();  // '('
    ValueNode v;
    v.kind = ValueNode::Kind::kCall;
    v.function = info->function;
    std::vector<size_t> arg_pos;
    if (peek().kind != Tok::kRParen) {
      while (true) {
        arg_pos.push_back(peek().pos);
        v.args.push_back(parse_value());
        if (peek().kind != Tok::kComma) break;
        take();
      }
    }
    const Token& close = expect(Tok::kRParen, "',' or ')'");
    --depth_;
    if (v.args.size() != info->arity) {
      fail_at(close.pos, fmt::format("{} takes {} argument{}{}, found {}", info->name,
                                     info->arity, info->arity == 1 ? "" : "s",
                                     info->function == Function::kIsMatch
                                         ? " (target, \"regex\")"
                                         : "",
                                     v.args.size()));
    }
    if (info->function == Function::kIsMatch) {
      const ValueNode& pattern = program_.values[static_cast<size_t>(v.args[1])];
      if (pattern.kind != ValueNode::Kind::kLiteral || pattern.literal.type != Val::Type::kString) {
        fail_at(arg_pos[1], "IsMatch's pattern must be a string literal, e.g. \"^GET /health\"");
      }
      re2::RE2::Options options;
      options.set_log_errors(false);
      v.regex = std::make_unique<re2::RE2>(pattern.text, options);
      if (!v.regex->ok()) {
        fail_at(arg_pos[1], fmt::format("invalid regular expression \"{}\": {}", pattern.text,
                                        v.regex->error()));
      }
    }
    return add_value(std::move(v));
  }

  int parse_path() {
    const size_t start = peek().pos;
    std::string dotted(take().text);
    while (peek().kind == Tok::kDot) {
      take();
      dotted += '.';
      dotted += expect(Tok::kIdent, "a field name after '.'").text;
    }
    // Context-qualified paths (`span.name`, `spanevent.name`) name the same fields.
    std::string_view name = dotted;
    const bool event = program_.context == Context::kSpanEvent;
    bool span_of_event = false;
    if (name.substr(0, 5) == "span.") {
      name.remove_prefix(5);
      span_of_event = event;
    } else if (event && name.substr(0, 10) == "spanevent.") {
      name.remove_prefix(10);
    }
    const PathInfo* info = nullptr;
    auto find_in = [&](const auto& table) {
      for (const PathInfo& p : table) {
        if (p.name == name) info = &p;
      }
    };
    find_in(kSharedPaths);
    if (!info) {
      if (event && !span_of_event) {
        find_in(kEventPaths);
      } else {
        find_in(kSpanPaths);
      }
    }
    if (!info) {
      const std::string valid =
          event ? names_of(kEventPaths) + ", " + names_of(kSharedPaths) + ", " +
                      names_of(kSpanPaths, "span.")
                : names_of(kSpanPaths) + ", " + names_of(kSharedPaths);
      fail_at(start, fmt::format("unknown path '{}'; use {}", dotted, valid));
    }
    ValueNode v;
    v.kind = ValueNode::Kind::kPath;
    v.path = info->path;
    while (peek().kind == Tok::kLBracket) {
      const Token& open = take();
      if (!info->takes_keys) {
        fail_at(open.pos, fmt::format("'{}' has no keys to index", dotted));
      }
      const Token& k = peek();
      Key key;
      if (k.kind == Tok::kString) {
        key.name = take().value;
      } else if (k.kind == Tok::kInt && !v.keys.empty()) {
        key.is_index = true;
        key.index = take().int_value;
      } else {
        fail_at(k.pos, fmt::format("expected a key in double quotes, e.g. {}[\"url.path\"], "
                                   "found {}",
                                   dotted, describe(k)));
      }
      expect(Tok::kRBracket, "']'");
      v.keys.push_back(std::move(key));
    }
    if (info->takes_keys && v.keys.empty()) {
      fail_at(peek().pos, fmt::format("'{}' needs a key, e.g. {}[\"http.route\"]", dotted,
                                      dotted));
    }
    return add_value(std::move(v));
  }

  std::vector<Token> tokens_;
  size_t pos_ = 0;
  int depth_ = 0;
  FilterCondition::Program& program_;
};

// ---------------------------------------------------------------------------------------------
// Evaluation

const AnyValue* lookup(const core::AttrList& attrs, const std::vector<Key>& keys) {
  const AnyValue* v = core::find_attribute(attrs, keys[0].name);
  for (size_t k = 1; k < keys.size() && v; ++k) {
    const Key& key = keys[k];
    if (key.is_index) {
      const bool in_range = v->type == ValueType::kArray && key.index >= 0 &&
                            static_cast<uint64_t>(key.index) < v->array.size();
      v = in_range ? &v->array[static_cast<size_t>(key.index)] : nullptr;
    } else {
      v = v->type == ValueType::kKvList ? core::find_attribute(v->kvlist, key.name) : nullptr;
    }
  }
  return v;
}

int64_t as_int(uint64_t nanos) { return static_cast<int64_t>(nanos); }

Val read_path(const ValueNode& node, const core::Span& span, const core::Event* event) {
  switch (node.path) {
    case Path::kSpanName:
      return Val::of_string(span.name);
    case Path::kSpanKind:
      return Val::of_int(static_cast<int64_t>(span.kind));
    case Path::kSpanStatusCode:
      return Val::of_int(static_cast<int64_t>(span.status.code));
    case Path::kSpanStatusMessage:
      return Val::of_string(span.status.message);
    case Path::kSpanTraceState:
      return Val::of_string(span.trace_state);
    case Path::kSpanStart:
      return Val::of_int(as_int(span.start_time_unix_nano));
    case Path::kSpanEnd:
      return Val::of_int(as_int(span.end_time_unix_nano));
    case Path::kSpanAttributes:
      return from_any(lookup(span.attributes, node.keys));
    case Path::kResourceAttributes:
      return from_any(lookup(span.resource->attributes, node.keys));
    case Path::kScopeName:
      return Val::of_string(span.scope->name);
    case Path::kScopeVersion:
      return Val::of_string(span.scope->version);
    case Path::kScopeAttributes:
      return from_any(lookup(span.scope->attributes, node.keys));
    case Path::kEventName:
      return Val::of_string(event->name);
    case Path::kEventTime:
      return Val::of_int(as_int(event->time_unix_nano));
    case Path::kEventAttributes:
      return from_any(lookup(event->attributes, node.keys));
  }
  return Val();
}

// IsMatch's view of a non-string target, as OTTL's string getter renders it; `scratch` holds the
// text for scalars, `owned` only for lists and maps (rendered as JSON).
std::string_view match_text(const Val& v, char (&scratch)[512], std::string& owned) {
  switch (v.type) {
    case Val::Type::kString:
      return v.s;
    case Val::Type::kBool:
      return v.b ? "true" : "false";
    case Val::Type::kInt: {
      auto r = std::to_chars(scratch, scratch + sizeof scratch, v.i);
      return {scratch, static_cast<size_t>(r.ptr - scratch)};
    }
    case Val::Type::kDouble: {
      // Go's FormatFloat(f, 'f', -1, 64): the shortest round-trip digits, never an exponent.
      auto r = std::to_chars(scratch, scratch + sizeof scratch, v.d, std::chars_format::fixed);
      if (r.ec != std::errc()) return {};
      return {scratch, static_cast<size_t>(r.ptr - scratch)};
    }
    case Val::Type::kBytes: {
      static constexpr char kHex[] = "0123456789abcdef";
      owned.clear();
      for (unsigned char c : v.s) {
        owned += kHex[c >> 4];
        owned += kHex[c & 15];
      }
      return owned;
    }
    case Val::Type::kOther:
      owned = v.other->to_string();
      return owned;
    case Val::Type::kNil:
      break;
  }
  return {};
}

struct Evaluator {
  const FilterCondition::Program& program;
  const core::Span& span;
  const core::Event* event;
  mutable const char* error = nullptr;  // the first run-time error, static text

  Val value(int index) const {
    const ValueNode& node = program.values[static_cast<size_t>(index)];
    switch (node.kind) {
      case ValueNode::Kind::kLiteral:
        if (node.literal.type == Val::Type::kString) return Val::of_string(node.text);
        return node.literal;
      case ValueNode::Kind::kPath:
        return read_path(node, span, event);
      case ValueNode::Kind::kCall:
        return Val::of_bool(call(node));
      case ValueNode::Kind::kMath:
        return math(node);
    }
    return Val();
  }

  // OTTL math: ints with ints, doubles with doubles; anything else is a run-time error.
  Val math(const ValueNode& node) const {
    const Val a = value(node.args[0]);
    const Val b = value(node.args[1]);
    if (error) return Val();
    const bool ints = a.type == Val::Type::kInt && b.type == Val::Type::kInt;
    const bool doubles = a.type == Val::Type::kDouble && b.type == Val::Type::kDouble;
    if (!ints && !doubles) {
      const bool numbers = (a.type == Val::Type::kInt || a.type == Val::Type::kDouble) &&
                           (b.type == Val::Type::kInt || b.type == Val::Type::kDouble);
      error = numbers ? "math cannot mix ints and doubles (write 2.0 for a double)"
                      : "math needs ints or doubles; a value was nil, a string, bool, list or map";
      return Val();
    }
    if (node.math_op == '/' && (ints ? b.i == 0 : b.d == 0)) {
      error = "attempted to divide by 0";
      return Val();
    }
    if (doubles) {
      Val out;
      out.type = Val::Type::kDouble;
      switch (node.math_op) {
        case '+':
          out.d = a.d + b.d;
          break;
        case '-':
          out.d = a.d - b.d;
          break;
        case '*':
          out.d = a.d * b.d;
          break;
        default:
          out.d = a.d / b.d;
          break;
      }
      return out;
    }
    // Wrapping two's-complement arithmetic, as Go's int64 (C++ overflow would be undefined).
    const uint64_t x = static_cast<uint64_t>(a.i);
    const uint64_t y = static_cast<uint64_t>(b.i);
    switch (node.math_op) {
      case '+':
        return Val::of_int(static_cast<int64_t>(x + y));
      case '-':
        return Val::of_int(static_cast<int64_t>(x - y));
      case '*':
        return Val::of_int(static_cast<int64_t>(x * y));
      default:
        if (b.i == -1) return Val::of_int(static_cast<int64_t>(0 - x));  // INT64_MIN / -1 wraps
        return Val::of_int(a.i / b.i);
    }
  }

  bool call(const ValueNode& node) const {
    const Val target = value(node.args[0]);
    switch (node.function) {
      case Function::kIsMatch: {
        if (target.type == Val::Type::kNil) return false;
        char scratch[512];
        std::string owned;
        const std::string_view text = match_text(target, scratch, owned);
        return re2::RE2::PartialMatch(re2::StringPiece(text.data(), text.size()), *node.regex);
      }
      case Function::kIsString:
        return target.type == Val::Type::kString;
      case Function::kIsInt:
        return target.type == Val::Type::kInt;
      case Function::kIsDouble:
        return target.type == Val::Type::kDouble;
      case Function::kIsBool:
        return target.type == Val::Type::kBool;
      case Function::kIsMap:
        return target.type == Val::Type::kOther && target.other->type == ValueType::kKvList;
      case Function::kIsList:
        return target.type == Val::Type::kOther && target.other->type == ValueType::kArray;
    }
    return false;
  }

  bool test(int index) const {
    const BoolNode& node = program.bools[static_cast<size_t>(index)];
    switch (node.kind) {
      case BoolNode::Kind::kOr:
        return test(node.left) || test(node.right);
      case BoolNode::Kind::kAnd:
        return test(node.left) && test(node.right);
      case BoolNode::Kind::kNot:
        return !test(node.left);
      case BoolNode::Kind::kCompare:
        return compare(value(node.left), value(node.right), node.op);
      case BoolNode::Kind::kValue: {
        const Val v = value(node.left);
        return v.type == Val::Type::kBool && v.b;
      }
    }
    return false;
  }
};

}  // namespace

FilterCondition::FilterCondition(std::unique_ptr<Program> program)
    : program_(std::move(program)) {}
FilterCondition::FilterCondition(FilterCondition&&) noexcept = default;
FilterCondition& FilterCondition::operator=(FilterCondition&&) noexcept = default;
FilterCondition::~FilterCondition() = default;

FilterCondition FilterCondition::parse(std::string_view text, Context context) {
  auto program = std::make_unique<Program>();
  program->context = context;
  Parser parser(text, *program);
  program->root = parser.parse();
  return FilterCondition(std::move(program));
}

FilterCondition::Outcome FilterCondition::evaluate(const core::Span& span,
                                                   const core::Event* event) const {
  if (program_->context == Context::kSpanEvent && !event) return {};
  Evaluator evaluator{*program_, span, event};
  const bool matched = evaluator.test(program_->root);
  if (evaluator.error) return {false, evaluator.error};
  return {matched, nullptr};
}

// ---------------------------------------------------------------------------------------------
// The processor

namespace {

enum class ErrorMode { kIgnore, kPropagate, kSilent };

// The conditions of one list (traces.span or traces.spanevent) and their names for messages.
struct ConditionList {
  std::string key;  // "traces.span"
  std::vector<FilterCondition> conditions;
};

// What went wrong while filtering one batch.
struct BatchErrors {
  size_t count = 0;
  std::string first;  // "traces.span[0]: attempted to divide by 0"
};

class FilterProcessor : public pipeline::Processor {
 public:
  FilterProcessor(const pipeline::CreateContext& ctx, ErrorMode error_mode, ConditionList spans,
                  ConditionList events, pipeline::TracesConsumer& next)
      : error_mode_(error_mode),
        spans_(std::move(spans)),
        events_(std::move(events)),
        next_(next),
        id_(ctx.id.str()),
        logger_(ctx.logger ? ctx.logger : spdlog::default_logger()),
        spans_dropped_(counter(ctx, "spans_dropped", "Spans dropped by a traces.span condition.")),
        events_dropped_(counter(ctx, "span_events_dropped",
                                "Span events dropped by a traces.spanevent condition (not "
                                "counting the events of dropped spans).")),
        errors_(counter(ctx, "condition_errors",
                        "Conditions that failed while they ran (math on a non-number, division "
                        "by zero).")) {}

  // Survivors' events are rebuilt in the batch's own arena, never edited where they lie, so a
  // fan-out may share the batch with other consumers.
  bool mutates_data() const override { return false; }

  pipeline::Status consume(core::SpanBatch batch) override {
    if (batch.empty()) return next_.consume(std::move(batch));
    BatchErrors errors;
    std::vector<core::Span>& spans = batch.spans();
    size_t spans_dropped = 0;
    if (!spans_.conditions.empty()) {
      auto kept_end = std::remove_if(spans.begin(), spans.end(), [&](const core::Span& s) {
        return any_matches(spans_, s, nullptr, errors);
      });
      spans_dropped = static_cast<size_t>(spans.end() - kept_end);
      spans.erase(kept_end, spans.end());
    }
    size_t events_dropped = 0;
    if (!events_.conditions.empty()) events_dropped = drop_events(batch, errors);
    if (errors.count > 0) {
      errors_.add(errors.count);
      if (error_mode_ == ErrorMode::kPropagate) {
        // As the Collector: the whole batch is refused, nothing of it is sent on.
        return pipeline::Status::permanent(
            errors.count == 1 ? fmt::format("{}: {}", id_, errors.first)
                              : fmt::format("{}: {} (and {} more errors in this batch)", id_,
                                            errors.first, errors.count - 1));
      }
      if (error_mode_ == ErrorMode::kIgnore) {
        // One line per batch, not per span: a broken condition must not flood the log.
        logger_->warn("{}: {} condition errors in a batch, treated as no match; first: {}", id_,
                      errors.count, errors.first);
      }
    }
    spans_dropped_.add(spans_dropped);
    events_dropped_.add(events_dropped);
    // The Collector drops emptied resources and scopes; here an emptied batch is not sent on.
    if (spans.empty()) return pipeline::Status::ok();
    return next_.consume(std::move(batch));
  }

 private:
  static pipeline::Counter& counter(const pipeline::CreateContext& ctx, const std::string& name,
                                    const std::string& help) {
    return ctx.metrics.counter("hodos_processor_filter_" + name + "_total", help,
                               {{"processor", ctx.id.str()}});
  }

  // Whether any condition matched; a condition that fails counts as no match and is recorded.
  static bool any_matches(const ConditionList& list, const core::Span& span,
                          const core::Event* event, BatchErrors& errors) {
    for (size_t i = 0; i < list.conditions.size(); ++i) {
      const FilterCondition::Outcome o = list.conditions[i].evaluate(span, event);
      if (o.error) {
        if (errors.count++ == 0) errors.first = fmt::format("{}[{}]: {}", list.key, i, o.error);
        continue;
      }
      if (o.matched) return true;
    }
    return false;
  }

  size_t drop_events(core::SpanBatch& batch, BatchErrors& errors) {
    core::Arena* arena = nullptr;  // taken only when an event is dropped
    size_t dropped = 0;
    for (core::Span& span : batch.spans()) {
      const size_t n = span.events.size();
      size_t first = 0;
      while (first < n && !any_matches(events_, span, &span.events[first], errors)) ++first;
      if (first == n) continue;
      if (!arena) arena = &batch.arena();
      core::ArenaVector<core::Event> kept;
      kept.reserve(*arena, n - 1);
      for (size_t i = 0; i < first; ++i) kept.push_back(*arena, span.events[i]);
      ++dropped;
      for (size_t i = first + 1; i < n; ++i) {
        if (any_matches(events_, span, &span.events[i], errors)) {
          ++dropped;
        } else {
          kept.push_back(*arena, span.events[i]);
        }
      }
      span.events = kept;
    }
    return dropped;
  }

  const ErrorMode error_mode_;
  const ConditionList spans_;
  const ConditionList events_;
  pipeline::TracesConsumer& next_;
  const std::string id_;
  std::shared_ptr<spdlog::logger> logger_;
  pipeline::Counter& spans_dropped_;
  pipeline::Counter& events_dropped_;
  pipeline::Counter& errors_;
};

ConditionList parse_conditions(ConfigNode& traces, std::string_view key, Context context) {
  ConditionList out{fmt::format("traces.{}", key), {}};
  const std::vector<std::string> texts = traces.get_string_list(key);
  for (size_t i = 0; i < texts.size(); ++i) {
    try {
      out.conditions.push_back(FilterCondition::parse(texts[i], context));
    } catch (const FilterCondition::ParseError& e) {
      throw ConfigError(fmt::format("{}[{}]", traces.path_of(key), i),
                        fmt::format("at column {}: {}", e.column, e.message));
    }
  }
  return out;
}

class FilterProcessorFactory : public pipeline::ProcessorFactory {
 public:
  std::string_view type() const override { return "filter"; }

  std::unique_ptr<pipeline::Processor> create(const pipeline::CreateContext& ctx,
                                              ConfigNode& config,
                                              pipeline::TracesConsumer& next) const override {
    const std::string mode_name = config.get_string("error_mode", "propagate");
    ErrorMode error_mode = ErrorMode::kPropagate;
    if (mode_name == "ignore") {
      error_mode = ErrorMode::kIgnore;
    } else if (mode_name == "silent") {
      error_mode = ErrorMode::kSilent;
    } else if (mode_name != "propagate") {
      config.fail("error_mode", fmt::format("unknown error_mode '{}'; use ignore, propagate or "
                                            "silent",
                                            mode_name));
    }
    if (config.has("spans")) {
      config.fail("spans",
                  "the legacy include/exclude matching is not supported; write it as an OTTL "
                  "condition under traces.span, e.g. traces: {span: "
                  "['resource.attributes[\"service.name\"] == \"noisy\"']}");
    }
    for (std::string_view signal : {"metrics", "logs"}) {
      if (config.has(signal)) {
        config.fail(signal, "Hodos pipelines carry traces only; use traces.span or "
                            "traces.spanevent");
      }
    }
    ConfigNode traces = config.child("traces");
    ConditionList spans = parse_conditions(traces, "span", Context::kSpan);
    ConditionList events = parse_conditions(traces, "spanevent", Context::kSpanEvent);
    traces.reject_unknown_keys();
    config.reject_unknown_keys();
    if (spans.conditions.empty() && events.conditions.empty()) {
      config.fail("traces",
                  "set at least one condition under traces.span or traces.spanevent, e.g. "
                  "span: ['attributes[\"url.path\"] == \"/health\"']");
    }
    return std::make_unique<FilterProcessor>(ctx, error_mode, std::move(spans), std::move(events),
                                             next);
  }
};

}  // namespace

std::unique_ptr<pipeline::ProcessorFactory> make_filter_processor_factory() {
  return std::make_unique<FilterProcessorFactory>();
}

}  // namespace hodos::processors
