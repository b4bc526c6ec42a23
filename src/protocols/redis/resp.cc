#include "protocols/redis/resp.h"

#include <algorithm>
#include <array>
#include <charconv>

namespace hodos::protocols::redis {
namespace {

constexpr size_t kMaxNumberLine = 32;          // a length, a count, an integer
constexpr int64_t kMaxBulkLength = 1LL << 40;  // far above proto-max-bulk-len's 512 MB default
constexpr int64_t kMaxCount = 1LL << 32;
constexpr int64_t kMaxCommandElements = 1LL << 31;  // the server's own multibulk limit

bool parse_int(std::string_view s, int64_t* out) {
  if (s.empty() || s.size() > 20) return false;
  if (s[0] == '+') return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size();
}

bool all_of(std::string_view s, bool (*pred)(char)) {
  return std::all_of(s.begin(), s.end(), pred);
}
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

bool is_number_text(std::string_view s) {  // integers and big numbers: sign, digits
  if (!s.empty() && s[0] == '-') s.remove_prefix(1);
  return !s.empty() && all_of(s, is_digit);
}

bool is_double_text(std::string_view s) {  // "1.5", "-3e10", "inf", "-inf", "nan"
  return !s.empty() && all_of(s, [](char c) {
    return is_digit(c) || is_alpha(c) || c == '.' || c == '-' || c == '+';
  });
}

bool is_resp3_type(char c) {
  switch (c) {
    case '_':
    case ',':
    case '#':
    case '!':
    case '=':
    case '(':
    case '%':
    case '~':
    case '|':
    case '>':
      return true;
    default:
      return false;
  }
}

bool is_reply_type(char c) {
  return c == '+' || c == '-' || c == ':' || c == '$' || c == '*' || is_resp3_type(c);
}

// Commands a client may send as an inline line (telnet, health checks): few, so that text
// protocols (an HTTP "GET /") are not taken for Redis.
constexpr std::array<std::string_view, 12> kInlineCommands = {
    "PING",   "ECHO",   "INFO",    "QUIT",    "AUTH",     "HELLO",
    "SELECT", "DBSIZE", "MONITOR", "FLUSHDB", "FLUSHALL", "COMMAND"};

bool iequals_prefix(std::string_view text, std::string_view upper, bool whole) {
  if (text.size() > upper.size() || (whole && text.size() != upper.size())) return false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    if (c != upper[i]) return false;
  }
  return true;
}

bool is_inline_byte(char c) {
  auto u = static_cast<unsigned char>(c);
  return u >= 0x20 ? u != 0x7f : c == '\t';
}

}  // namespace

bool is_command_word(std::string_view word) {
  if (word.empty() || word.size() > RespDecoder::kWordBytes || !is_alpha(word[0])) return false;
  return all_of(word, [](char c) {
    return is_alpha(c) || is_digit(c) || c == '.' || c == '_' || c == '-' || c == ':';
  });
}

bool starts_like_command(std::string_view data, bool allow_prefix) {
  if (data.empty()) return allow_prefix;
  if (data[0] == '*') {
    // "*<n>\r\n$<len>\r\n<word>\r\n", read step by step; running out is fine for a prefix.
    size_t i = 1;
    auto number = [&](int64_t min, int64_t max) -> int {  // 1 ok, 0 ran out, -1 bad
      size_t start = i;
      while (i < data.size() && is_digit(data[i]) && i - start < 12) ++i;
      if (i == data.size()) return 0;
      int64_t v = 0;
      if (!parse_int(data.substr(start, i - start), &v) || v < min || v > max) return -1;
      if (data[i++] != '\r') return -1;
      if (i == data.size()) return 0;
      return data[i++] == '\n' ? 1 : -1;
    };
    int r = number(1, kMaxCommandElements);
    if (r <= 0) return r == 0 && allow_prefix;
    if (i == data.size()) return allow_prefix;
    if (data[i++] != '$') return false;
    size_t len_start = i;
    r = number(3, static_cast<int64_t>(RespDecoder::kWordBytes));
    if (r <= 0) return r == 0 && allow_prefix;
    int64_t len = 0;
    parse_int(data.substr(len_start, i - 2 - len_start), &len);
    std::string_view word = data.substr(i, static_cast<size_t>(len));
    if (word.size() < static_cast<size_t>(len)) {
      // Only a prefix of the word: it must still look like one.
      return allow_prefix && (word.empty() || is_command_word(word));
    }
    // No command is shorter than three letters (GET, TTL): a reply of short strings is not one.
    if (!is_command_word(word) || word.size() < 3) return false;
    std::string_view after = data.substr(i + word.size());
    if (after.size() < 2) return allow_prefix && (after.empty() || after[0] == '\r');
    return after.substr(0, 2) == "\r\n";
  }
  // Inline: a known command word, then printable text to the end of the line.
  size_t word_end = data.find_first_of(" \t\r\n");
  std::string_view word = data.substr(0, word_end);
  bool known = false;
  for (std::string_view name : kInlineCommands) {
    known = known || iequals_prefix(word, name, word_end != std::string_view::npos);
  }
  if (!known) return false;
  if (word_end == std::string_view::npos) return allow_prefix;
  size_t eol = data.find('\n');
  std::string_view line = data.substr(0, eol);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (!all_of(line, is_inline_byte) || line.find("HTTP/") != std::string_view::npos) return false;
  return eol != std::string_view::npos || allow_prefix;
}

RespDecoder::RespDecoder(Mode mode, size_t literal_budget)
    : mode_(mode), literal_budget_(literal_budget) {
  stack_.reserve(8);
  line_.reserve(kMaxNumberLine);
}

void RespDecoder::reset() { begin_value(); }

void RespDecoder::begin_value() {
  state_ = State::kType;
  begun_ = false;
  done_ = false;
  payload_left_ = 0;
  keep_payload_ = false;
  stack_.clear();
  value_ = RespValue{};
  text_.clear();
  kept_.clear();
  elements_.clear();
  literal_used_ = 0;
}

ParseState RespDecoder::feed(std::string_view* buf) {
  if (done_) begin_value();
  while (!buf->empty()) {
    switch (state_) {
      case State::kType: {
        char c = buf->front();
        begun_ = true;
        if (mode_ == Mode::kCommands && stack_.empty() && c != '*') {
          // Inline command: the byte belongs to the line.
          value_.inline_command = true;
          state_ = State::kInline;
          line_.clear();
          line_bytes_ = 0;
          line_cr_ = false;
          break;
        }
        if (on_type(c) == ParseState::kInvalid) return ParseState::kInvalid;
        buf->remove_prefix(1);
        break;
      }
      case State::kLine:
      case State::kInline: {
        bool is_inline = state_ == State::kInline;
        size_t nl = buf->find('\n');
        std::string_view part = buf->substr(0, nl);
        size_t cr = part.find('\r');
        // CR only right before LF; a line that ended with CR must continue with LF.
        if (cr != std::string_view::npos && cr + 1 != part.size()) return ParseState::kInvalid;
        if (line_cr_ && !part.empty()) return ParseState::kInvalid;
        bool ends_cr = cr != std::string_view::npos;
        std::string_view content = ends_cr ? part.substr(0, cr) : part;
        if (is_inline && !all_of(content, is_inline_byte)) return ParseState::kInvalid;
        size_t cap = is_inline ? 3 * kWordBytes + literal_budget_ + 8
                     : (line_type_ == '+' || line_type_ == '-') ? kKeptText
                                                                : kMaxNumberLine;
        if (line_.size() < cap) line_.append(content.substr(0, cap - line_.size()));
        line_bytes_ += content.size();
        bool numeric = line_type_ != '+' && line_type_ != '-' && line_type_ != '(';
        if (line_bytes_ > (is_inline || !numeric ? kMaxLineBytes : kMaxNumberLine)) {
          return ParseState::kInvalid;
        }
        if (nl == std::string_view::npos) {
          line_cr_ = line_cr_ || ends_cr;
          buf->remove_prefix(buf->size());
          return ParseState::kNeedsMoreData;
        }
        // Inline commands may end with a bare LF, as the server accepts; RESP lines may not.
        if (!is_inline && !ends_cr && !line_cr_) return ParseState::kInvalid;
        buf->remove_prefix(nl + 1);
        line_cr_ = false;
        ParseState st = is_inline ? on_inline_end() : on_line_end();
        if (st != ParseState::kNeedsMoreData) return st;
        break;
      }
      case State::kPayload: {
        uint64_t take = std::min<uint64_t>(buf->size(), payload_left_);
        uint64_t data_left = payload_left_ > 2 ? payload_left_ - 2 : 0;
        uint64_t data = std::min(take, data_left);
        if (keep_payload_ && data > 0) keep_payload(buf->substr(0, data));
        for (uint64_t i = data; i < take; ++i) {
          char expected = payload_left_ - i == 2 ? '\r' : '\n';
          if ((*buf)[i] != expected) {
            buf->remove_prefix(i);
            return ParseState::kInvalid;
          }
        }
        buf->remove_prefix(take);
        payload_left_ -= take;
        if (payload_left_ == 0 && element_done()) return ParseState::kSuccess;
        break;
      }
    }
  }
  return ParseState::kNeedsMoreData;
}

ParseState RespDecoder::on_type(char c) {
  if (mode_ == Mode::kCommands) {
    if (stack_.empty() ? c != '*' : c != '$') return ParseState::kInvalid;
  } else if (!is_reply_type(c)) {
    return ParseState::kInvalid;
  }
  if (is_resp3_type(c)) value_.resp3 = true;
  if (stack_.empty() && c != '|') value_.type = c;
  state_ = State::kLine;
  line_type_ = c;
  line_.clear();
  line_bytes_ = 0;
  line_cr_ = false;
  return ParseState::kNeedsMoreData;
}

ParseState RespDecoder::on_line_end() {
  std::string_view line = line_;
  bool top = stack_.empty();
  auto done = [this] { return element_done() ? ParseState::kSuccess : ParseState::kNeedsMoreData; };
  switch (line_type_) {
    case '+':
    case '-':
      if (top) {
        text_.assign(line);
        value_.text = text_;
      }
      return done();
    case ':': {
      int64_t unused = 0;
      return parse_int(line, &unused) ? done() : ParseState::kInvalid;
    }
    case '(':  // a big number: any number of digits (only the first ones are read)
      return is_number_text(line) ? done() : ParseState::kInvalid;
    case ',':
      return is_double_text(line) ? done() : ParseState::kInvalid;
    case '#':
      return line == "t" || line == "f" ? done() : ParseState::kInvalid;
    case '_':
      return line.empty() ? done() : ParseState::kInvalid;
    case '$':
    case '=':
    case '!': {
      int64_t len = 0;
      if (!parse_int(line, &len) || len < -1 || len > kMaxBulkLength) return ParseState::kInvalid;
      if (len == -1) return line_type_ == '$' ? done() : ParseState::kInvalid;
      state_ = State::kPayload;
      payload_left_ = static_cast<uint64_t>(len) + 2;
      keep_payload_ = false;
      if (mode_ == Mode::kCommands) {
        size_t cap = literal_budget_ - std::min(literal_budget_, literal_used_);
        if (elements_.size() < 3) cap = std::max(cap, kWordBytes);
        elements_.push_back({static_cast<uint32_t>(kept_.size()), 0, static_cast<uint64_t>(len)});
        element_cap_ = cap;
        keep_payload_ = cap > 0;
      } else if (top && line_type_ == '!') {
        keep_payload_ = true;
      }
      return ParseState::kNeedsMoreData;
    }
    case '*':
    case '%':
    case '~':
    case '>':
    case '|': {
      int64_t count = 0;
      if (!parse_int(line, &count) || count < -1 || count > kMaxCount) return ParseState::kInvalid;
      if (mode_ == Mode::kCommands && count > kMaxCommandElements) return ParseState::kInvalid;
      bool attribute = line_type_ == '|';
      if (top && !attribute) value_.count = count;
      if (count == -1) {
        return line_type_ == '*' ? done() : ParseState::kInvalid;
      }
      if (stack_.size() >= kMaxDepth) return ParseState::kInvalid;
      uint64_t elements =
          static_cast<uint64_t>(count) * (line_type_ == '%' || line_type_ == '|' ? 2 : 1);
      if (elements == 0) {
        if (attribute) {  // an empty attribute: the value it annotates follows
          state_ = State::kType;
          return ParseState::kNeedsMoreData;
        }
        return done();
      }
      stack_.push_back({elements, attribute});
      state_ = State::kType;
      return ParseState::kNeedsMoreData;
    }
    default:
      return ParseState::kInvalid;
  }
}

ParseState RespDecoder::on_inline_end() {
  // Words separated by blanks (the server's own quoting rules are not followed: inline commands
  // come from people typing, rarely from programs).
  std::string_view line = line_;
  bool cut = line_bytes_ > line_.size();
  size_t i = 0;
  int64_t words = 0;
  while (true) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    if (i == line.size()) break;
    size_t end = line.find_first_of(" \t", i);
    if (end == std::string_view::npos) end = line.size();
    std::string_view word = line.substr(i, end - i);
    size_t cap = literal_budget_ - std::min(literal_budget_, literal_used_);
    if (words < 3) cap = std::max(cap, kWordBytes);
    std::string_view kept = word.substr(0, cap);
    literal_used_ += kept.size();
    // A word running into the cut has an unknown size: one more than what was kept says so.
    uint64_t size = word.size() + ((cut && end == line.size()) ? 1 : 0);
    elements_.push_back(
        {static_cast<uint32_t>(kept_.size()), static_cast<uint32_t>(kept.size()), size});
    kept_.append(kept);
    ++words;
    i = end;
  }
  value_.count = words;
  state_ = State::kType;
  done_ = true;
  begun_ = false;
  return ParseState::kSuccess;
}

void RespDecoder::keep_payload(std::string_view bytes) {
  if (mode_ == Mode::kReplies) {
    if (text_.size() < kKeptText) text_.append(bytes.substr(0, kKeptText - text_.size()));
    value_.text = text_;
    return;
  }
  KeptElement& e = elements_.back();
  size_t room = element_cap_ - e.kept;
  std::string_view kept = bytes.substr(0, room);
  kept_.append(kept);
  e.kept += static_cast<uint32_t>(kept.size());
  literal_used_ += kept.size();
  keep_payload_ = e.kept < element_cap_;
}

bool RespDecoder::element_done() {
  keep_payload_ = false;
  while (!stack_.empty()) {
    Frame& f = stack_.back();
    if (--f.remaining > 0) {
      state_ = State::kType;
      return false;
    }
    bool attribute = f.attribute;
    stack_.pop_back();
    if (attribute) {  // the annotated value follows
      state_ = State::kType;
      return false;
    }
  }
  state_ = State::kType;
  done_ = true;
  begun_ = false;
  return true;
}

GapResult RespDecoder::skip(uint64_t n) {
  if (n == 0) return GapResult::kInside;
  if (done_) begin_value();
  if (state_ != State::kPayload) return GapResult::kLost;
  value_.truncated = true;
  keep_payload_ = false;  // what follows the gap would not continue what was kept
  if (n < payload_left_) {
    payload_left_ -= n;
    return GapResult::kInside;
  }
  if (n > payload_left_) return GapResult::kLost;
  payload_left_ = 0;
  return element_done() ? GapResult::kEnded : GapResult::kInside;
}

}  // namespace hodos::protocols::redis
