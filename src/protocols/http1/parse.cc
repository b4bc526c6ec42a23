#include "protocols/http1/parse.h"

#include <array>
#include <cstring>

#include "protocols/http1/ascii.h"

namespace hodos::protocols::http1 {
namespace {

constexpr size_t kMaxMethodBytes = 24;    // longest registered method is 17
constexpr int kMaxLeadingEmptyLines = 4;  // RFC 9112 2.2 asks servers to skip at least one
constexpr uint64_t kMaxContentLength = uint64_t{1} << 62;

constexpr std::array<bool, 256> make_tchar_table() {
  std::array<bool, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = true;
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<unsigned char>(c)] = true;
  return t;
}
constexpr std::array<bool, 256> kTchar = make_tchar_table();

bool is_tchar(char c) { return kTchar[static_cast<unsigned char>(c)]; }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// A read position in the input; every access is checked against `end`.
struct Cursor {
  const char* p;
  const char* end;
  bool at_end() const { return p == end; }
  size_t left() const { return static_cast<size_t>(end - p); }
};

// CRLF or a bare LF (RFC 9112 2.2 lets recipients accept it).
ParseState line_end(Cursor& c) {
  if (c.at_end()) return ParseState::kNeedsMoreData;
  if (*c.p == '\n') {
    ++c.p;
    return ParseState::kSuccess;
  }
  if (*c.p != '\r') return ParseState::kInvalid;
  if (c.left() < 2) return ParseState::kNeedsMoreData;
  if (c.p[1] != '\n') return ParseState::kInvalid;
  c.p += 2;
  return ParseState::kSuccess;
}

// "HTTP/1." DIGIT, checked byte by byte so that a wrong prefix fails at once.
ParseState http_version(Cursor& c, uint8_t* minor) {
  static constexpr std::string_view kPrefix = "HTTP/1.";
  for (char want : kPrefix) {
    if (c.at_end()) return ParseState::kNeedsMoreData;
    if (*c.p != want) return ParseState::kInvalid;
    ++c.p;
  }
  if (c.at_end()) return ParseState::kNeedsMoreData;
  if (*c.p < '0' || *c.p > '9') return ParseState::kInvalid;
  *minor = static_cast<uint8_t>(*c.p - '0');
  ++c.p;
  return ParseState::kSuccess;
}

ParseState skip_leading_empty_lines(Cursor& c) {
  for (int empty = 0;; ++empty) {
    if (c.at_end()) return ParseState::kNeedsMoreData;
    if (*c.p != '\r' && *c.p != '\n') return ParseState::kSuccess;
    if (empty == kMaxLeadingEmptyLines) return ParseState::kInvalid;
    if (ParseState st = line_end(c); st != ParseState::kSuccess) return st;
  }
}

ParseState request_line(Cursor& c, Request* out) {
  const char* method = c.p;
  while (true) {
    if (c.at_end()) return ParseState::kNeedsMoreData;
    if (*c.p == ' ') break;
    if (!is_tchar(*c.p) || static_cast<size_t>(c.p - method) == kMaxMethodBytes) {
      return ParseState::kInvalid;
    }
    ++c.p;
  }
  if (c.p == method) return ParseState::kInvalid;
  out->method = {method, static_cast<size_t>(c.p - method)};
  ++c.p;

  const char* target = c.p;
  while (true) {
    if (c.at_end()) return ParseState::kNeedsMoreData;
    auto ch = static_cast<unsigned char>(*c.p);
    if (ch == ' ') break;
    if (ch < 0x21 || ch == 0x7f) return ParseState::kInvalid;
    ++c.p;
  }
  if (c.p == target) return ParseState::kInvalid;
  out->target = {target, static_cast<size_t>(c.p - target)};
  ++c.p;

  if (ParseState st = http_version(c, &out->minor_version); st != ParseState::kSuccess) return st;
  return line_end(c);
}

ParseState status_line(Cursor& c, Response* out) {
  if (ParseState st = http_version(c, &out->minor_version); st != ParseState::kSuccess) return st;
  if (c.at_end()) return ParseState::kNeedsMoreData;
  if (*c.p != ' ') return ParseState::kInvalid;
  ++c.p;
  uint16_t status = 0;
  for (int i = 0; i < 3; ++i) {
    if (c.at_end()) return ParseState::kNeedsMoreData;
    if (*c.p < '0' || *c.p > '9' || (i == 0 && *c.p == '0')) return ParseState::kInvalid;
    status = static_cast<uint16_t>(status * 10 + (*c.p - '0'));
    ++c.p;
  }
  out->status = status;
  if (c.at_end()) return ParseState::kNeedsMoreData;
  if (*c.p == ' ') {
    // The reason phrase may be empty, and some servers leave out the space before it too.
    ++c.p;
    const char* reason = c.p;
    while (true) {
      if (c.at_end()) return ParseState::kNeedsMoreData;
      auto ch = static_cast<unsigned char>(*c.p);
      if (ch == '\r' || ch == '\n') break;
      if ((ch < 0x20 && ch != '\t') || ch == 0x7f) return ParseState::kInvalid;
      ++c.p;
    }
    out->reason = {reason, static_cast<size_t>(c.p - reason)};
  }
  return line_end(c);
}

// Comma-separated list items, OWS trimmed: "close, Upgrade".
template <class Fn>
void for_each_list_item(std::string_view value, Fn fn) {
  while (true) {
    size_t comma = value.find(',');
    fn(trim_ows(value.substr(0, comma)));
    if (comma == std::string_view::npos) return;
    value.remove_prefix(comma + 1);
  }
}

// Content-Length: digits, or a list of identical values ("42, 42") from a merging proxy.
bool parse_content_length(std::string_view value, uint64_t* out) {
  bool ok = true, first = true;
  uint64_t result = 0;
  for_each_list_item(value, [&](std::string_view item) {
    if (item.empty() || item.size() > 19) {
      ok = false;
      return;
    }
    uint64_t n = 0;
    for (char ch : item) {
      if (ch < '0' || ch > '9') {
        ok = false;
        return;
      }
      n = n * 10 + static_cast<uint64_t>(ch - '0');
    }
    if (n > kMaxContentLength || (!first && n != result)) ok = false;
    result = n;
    first = false;
  });
  *out = result;
  return ok;
}

// Records what the framing and the span need from one header field.
bool interpret_header(std::string_view name, std::string_view value, MessageHead* out,
                      bool* expect_continue) {
  switch (name.size()) {
    case 14:
      if (iequals(name, "content-length")) {
        uint64_t n = 0;
        if (!parse_content_length(value, &n)) return false;
        if (out->has_content_length && n != out->content_length) return false;
        out->has_content_length = true;
        out->content_length = n;
      }
      break;
    case 17:
      if (iequals(name, "transfer-encoding")) {
        // Only the last coding decides; a later header field continues the same list.
        out->has_transfer_encoding = true;
        std::string_view last;
        for_each_list_item(value, [&](std::string_view item) { last = item; });
        out->chunked = iequals(last, "chunked");
      }
      break;
    case 10:
      if (iequals(name, "connection")) {
        for_each_list_item(value, [&](std::string_view item) {
          if (iequals(item, "close")) out->connection_close = true;
          if (iequals(item, "keep-alive")) out->connection_keep_alive = true;
        });
      }
      break;
    case 6:
      if (expect_continue != nullptr && iequals(name, "expect")) {
        *expect_continue = iequals(value, "100-continue");
      }
      break;
    default:
      break;
  }
  return true;
}

// Header fields up to and including the blank line. With `cut` (the input is all there will
// be), running out of bytes ends the head instead, dropping the incomplete last line.
ParseState header_fields(Cursor& c, MessageHead* out, bool* expect_continue, bool cut) {
  const ParseState more = cut ? ParseState::kSuccess : ParseState::kNeedsMoreData;
  while (true) {
    const char* line = c.p;
    if (c.at_end()) return more;
    if (*c.p == '\r' || *c.p == '\n') {
      ParseState st = line_end(c);
      return (st == ParseState::kNeedsMoreData) ? more : st;
    }
    bool folded = (*c.p == ' ' || *c.p == '\t');
    if (folded && out->header_count == 0) return ParseState::kInvalid;

    std::string_view name;
    if (!folded) {
      while (!c.at_end() && is_tchar(*c.p)) ++c.p;
      if (c.at_end()) {
        c.p = line;
        return more;
      }
      if (*c.p != ':' || c.p == line) return ParseState::kInvalid;
      name = {line, static_cast<size_t>(c.p - line)};
      ++c.p;
    }
    // The value: anything but NUL and line ends (servers accept other controls, so do we).
    const char* value = c.p;
    while (!c.at_end() && *c.p != '\r' && *c.p != '\n') {
      if (*c.p == '\0') return ParseState::kInvalid;
      ++c.p;
    }
    std::string_view value_view = trim_ows({value, static_cast<size_t>(c.p - value)});
    if (ParseState st = line_end(c); st != ParseState::kSuccess) {
      if (st == ParseState::kNeedsMoreData) c.p = line;
      return st == ParseState::kNeedsMoreData ? more : st;
    }
    // An obsolete line folding continues the previous value; it is skipped, not joined.
    if (folded) continue;
    ++out->header_count;
    if (!interpret_header(name, value_view, out, expect_continue)) return ParseState::kInvalid;
    if (out->headers.size() < MessageHead::kMaxStoredHeaders) {
      out->headers.push_back({name, value_view});
    }
  }
}

// Clears a message for reuse, keeping the header vector's capacity.
template <class Message>
void reset(Message* m) {
  std::vector<Header> headers = std::move(m->headers);
  headers.clear();
  *m = Message{};
  m->headers = std::move(headers);
}

bool request_framing(Request* r) {
  if (r->chunked) {
    r->body.framing = BodyFraming::kChunked;
  } else if (r->has_transfer_encoding) {
    return false;
  } else if (r->has_content_length) {
    r->body.framing = BodyFraming::kContentLength;
    r->body.declared = r->content_length;
  } else {
    r->body.framing = BodyFraming::kNone;
  }
  return true;
}

void response_framing(Response* r, std::string_view request_method) {
  BodyFraming f;
  if (r->status < 200) {
    f = r->status == 101 ? BodyFraming::kTunnel : BodyFraming::kNone;
  } else if (request_method == "HEAD") {
    f = BodyFraming::kNone;
  } else if (request_method == "CONNECT" && r->status < 300) {
    f = BodyFraming::kTunnel;
  } else if (r->status == 204 || r->status == 304) {
    f = BodyFraming::kNone;
  } else if (r->chunked) {
    f = BodyFraming::kChunked;
  } else if (r->has_transfer_encoding) {
    f = BodyFraming::kUntilClose;
  } else if (r->has_content_length) {
    f = BodyFraming::kContentLength;
    r->body.declared = r->content_length;
  } else {
    f = BodyFraming::kUntilClose;
  }
  r->body.framing = f;
}

ParseState request_head(std::string_view* buf, Request* out, bool cut) {
  reset(out);
  Cursor c{buf->data(), buf->data() + buf->size()};
  if (ParseState st = skip_leading_empty_lines(c); st != ParseState::kSuccess) return st;
  const char* start = c.p;
  if (ParseState st = request_line(c, out); st != ParseState::kSuccess) return st;
  ParseState st = header_fields(c, out, &out->expect_continue, cut);
  if (st != ParseState::kSuccess) return st;
  out->raw = {start, static_cast<size_t>(c.p - start)};
  if (cut) {
    out->head_truncated = true;
  } else if (!request_framing(out)) {
    return ParseState::kInvalid;
  }
  buf->remove_prefix(static_cast<size_t>(c.p - buf->data()));
  return ParseState::kSuccess;
}

ParseState response_head(std::string_view* buf, std::string_view request_method, Response* out,
                         bool cut) {
  reset(out);
  Cursor c{buf->data(), buf->data() + buf->size()};
  const char* start = c.p;
  if (ParseState st = status_line(c, out); st != ParseState::kSuccess) return st;
  ParseState st = header_fields(c, out, nullptr, cut);
  if (st != ParseState::kSuccess) return st;
  out->raw = {start, static_cast<size_t>(c.p - start)};
  if (cut) {
    out->head_truncated = true;
  } else {
    response_framing(out, request_method);
  }
  buf->remove_prefix(static_cast<size_t>(c.p - buf->data()));
  return ParseState::kSuccess;
}

// The body after a head, when all of it has to be in `rest`.
ParseState whole_body(std::string_view* rest, MessageHead* m, bool at_close) {
  BodyInfo& body = m->body;
  switch (body.framing) {
    case BodyFraming::kNone:
    case BodyFraming::kTunnel:
      break;
    case BodyFraming::kContentLength:
      if (rest->size() < body.declared) return ParseState::kNeedsMoreData;
      rest->remove_prefix(body.declared);
      body.seen = body.declared;
      break;
    case BodyFraming::kChunked: {
      ChunkedDecoder decoder;
      std::string_view view = *rest;
      if (ParseState st = decoder.feed(&view); st != ParseState::kSuccess) return st;
      *rest = view;
      body.seen = decoder.data_bytes();
      break;
    }
    case BodyFraming::kUntilClose:
      if (!at_close) return ParseState::kNeedsMoreData;
      body.seen = rest->size();
      *rest = {};
      break;
  }
  body.complete = true;
  return ParseState::kSuccess;
}

std::string_view rebase(std::string_view v, std::string_view from, const char* to) {
  if (v.empty()) return {};
  auto offset = reinterpret_cast<uintptr_t>(v.data()) - reinterpret_cast<uintptr_t>(from.data());
  return {to + offset, v.size()};
}

// Copies the head and moves the common views; returns the new base for the caller's own views.
const char* own_common(MessageHead* m, std::string_view* old_raw) {
  *old_raw = m->raw;
  if (m->storage && m->raw.data() == m->storage.get()) return nullptr;
  std::shared_ptr<char[]> storage = std::make_shared<char[]>(m->raw.size() + 1);
  if (!m->raw.empty()) std::memcpy(storage.get(), m->raw.data(), m->raw.size());
  const char* base = storage.get();
  for (Header& h : m->headers) {
    h.name = rebase(h.name, *old_raw, base);
    h.value = rebase(h.value, *old_raw, base);
  }
  m->raw = {base, m->raw.size()};
  m->storage = std::move(storage);
  return base;
}

}  // namespace

ParseState parse_request_head(std::string_view* buf, Request* out) {
  return request_head(buf, out, false);
}

ParseState parse_response_head(std::string_view* buf, std::string_view request_method,
                               Response* out) {
  return response_head(buf, request_method, out, false);
}

bool salvage_request_head(std::string_view bytes, Request* out) {
  std::string_view rest = bytes;
  if (request_head(&rest, out, true) == ParseState::kSuccess) return true;
  // A request line cut in its target: usable when the path before the query is whole.
  reset(out);
  Cursor c{bytes.data(), bytes.data() + bytes.size()};
  if (skip_leading_empty_lines(c) != ParseState::kSuccess) return false;
  const char* method = c.p;
  while (!c.at_end() && *c.p != ' ') {
    if (!is_tchar(*c.p) || static_cast<size_t>(c.p - method) == kMaxMethodBytes) return false;
    ++c.p;
  }
  if (c.at_end() || c.p == method) return false;
  const std::string_view method_token(method, static_cast<size_t>(c.p - method));
  const std::string_view target(c.p + 1, static_cast<size_t>(c.end - c.p - 1));
  const size_t query = target.find('?');
  if (query == std::string_view::npos || query == 0) return false;
  for (char ch : target) {
    const auto u = static_cast<unsigned char>(ch);
    if (u < 0x21 || u == 0x7f) return false;  // a space would have ended the target
  }
  out->method = method_token;
  out->target = target.substr(0, query);
  out->minor_version = 1;  // not seen: the usual
  out->raw = bytes;
  out->head_truncated = true;
  return true;
}

bool salvage_response_head(std::string_view bytes, std::string_view request_method, Response* out) {
  return response_head(&bytes, request_method, out, true) == ParseState::kSuccess;
}

ParseState parse_request(std::string_view* buf, Request* out) {
  std::string_view rest = *buf;
  if (ParseState st = parse_request_head(&rest, out); st != ParseState::kSuccess) return st;
  if (ParseState st = whole_body(&rest, out, false); st != ParseState::kSuccess) return st;
  *buf = rest;
  return ParseState::kSuccess;
}

ParseState parse_response(std::string_view* buf, std::string_view request_method, Response* out,
                          bool at_close) {
  std::string_view rest = *buf;
  if (ParseState st = parse_response_head(&rest, request_method, out); st != ParseState::kSuccess) {
    return st;
  }
  if (ParseState st = whole_body(&rest, out, at_close); st != ParseState::kSuccess) return st;
  *buf = rest;
  return ParseState::kSuccess;
}

ParseState ChunkedDecoder::feed(std::string_view* buf) {
  const char* p = buf->data();
  const char* end = p + buf->size();
  auto fail = [&] {
    buf->remove_prefix(static_cast<size_t>(p - buf->data()));
    return ParseState::kInvalid;
  };
  while (p != end && state_ != State::kDone) {
    char ch = *p;
    switch (state_) {
      case State::kSize: {
        int v = hex_value(ch);
        if (v >= 0) {
          if (++size_digits_ > 15) return fail();
          chunk_size_ = chunk_size_ * 16 + static_cast<uint64_t>(v);
          ++p;
          break;
        }
        if (size_digits_ == 0) return fail();
        if (ch == ';' || is_ows(ch)) {
          state_ = State::kSizeTail;
          line_bytes_ = 0;
        } else if (ch == '\r') {
          state_ = State::kSizeLf;
          ++p;
        } else if (ch == '\n') {
          state_ = State::kSizeLf;
        } else {
          return fail();
        }
        break;
      }
      case State::kSizeTail:  // chunk extensions: read past, never interpreted
        if (ch == '\r') {
          state_ = State::kSizeLf;
        } else if (ch == '\n') {
          state_ = State::kSizeLf;
          break;
        } else if (ch == '\0' || ++line_bytes_ > kMaxLineBytes) {
          return fail();
        }
        ++p;
        break;
      case State::kSizeLf:
        if (ch != '\n') return fail();
        ++p;
        size_digits_ = 0;
        if (chunk_size_ == 0) {
          state_ = State::kTrailerStart;
        } else {
          remaining_ = chunk_size_;
          state_ = State::kData;
        }
        chunk_size_ = 0;
        break;
      case State::kData: {
        uint64_t take = std::min<uint64_t>(remaining_, static_cast<uint64_t>(end - p));
        p += take;
        remaining_ -= take;
        data_bytes_ += take;
        if (remaining_ == 0) state_ = State::kDataCr;
        break;
      }
      case State::kDataCr:
        if (ch == '\r') {
          state_ = State::kDataLf;
          ++p;
        } else if (ch == '\n') {
          state_ = State::kDataLf;
        } else {
          return fail();
        }
        break;
      case State::kDataLf:
        if (ch != '\n') return fail();
        ++p;
        state_ = State::kSize;
        break;
      case State::kTrailerStart:
        if (ch == '\r') {
          state_ = State::kFinalLf;
          ++p;
        } else if (ch == '\n') {
          state_ = State::kFinalLf;
        } else if (!is_tchar(ch)) {
          return fail();
        } else {
          state_ = State::kTrailerLine;
        }
        break;
      case State::kTrailerLine:
        if (ch == '\r') {
          state_ = State::kTrailerLf;
        } else if (ch == '\n') {
          state_ = State::kTrailerLf;
          break;
        } else if (ch == '\0') {
          return fail();
        }
        if (++trailer_bytes_ > kMaxTrailerBytes) return fail();
        ++p;
        break;
      case State::kTrailerLf:
        if (ch != '\n') return fail();
        ++p;
        state_ = State::kTrailerStart;
        break;
      case State::kFinalLf:
        if (ch != '\n') return fail();
        ++p;
        state_ = State::kDone;
        break;
      case State::kDone:
        break;
    }
  }
  buf->remove_prefix(static_cast<size_t>(p - buf->data()));
  return state_ == State::kDone ? ParseState::kSuccess : ParseState::kNeedsMoreData;
}

bool ChunkedDecoder::skip(uint64_t n) {
  if (n == 0) return true;
  switch (state_) {
    case State::kData:
      if (n <= remaining_) {
        remaining_ -= n;
        data_bytes_ += n;
        if (remaining_ == 0) state_ = State::kDataCr;
        return true;
      }
      // Writes usually end with a chunk, so the gap most likely holds the data's CRLF.
      if (n - remaining_ > 2) return false;
      data_bytes_ += remaining_;
      n -= remaining_;
      remaining_ = 0;
      state_ = n == 1 ? State::kDataLf : State::kSize;
      return true;
    case State::kDataCr:
      if (n > 2) return false;
      state_ = n == 1 ? State::kDataLf : State::kSize;
      return true;
    case State::kDataLf:
      if (n > 1) return false;
      state_ = State::kSize;
      return true;
    default:
      return false;
  }
}

void own_bytes(Request* msg) {
  std::string_view old_raw;
  const char* base = own_common(msg, &old_raw);
  if (base == nullptr) return;
  msg->method = rebase(msg->method, old_raw, base);
  msg->target = rebase(msg->target, old_raw, base);
}

void own_bytes(Response* msg) {
  std::string_view old_raw;
  const char* base = own_common(msg, &old_raw);
  if (base == nullptr) return;
  msg->reason = rebase(msg->reason, old_raw, base);
}

}  // namespace hodos::protocols::http1
