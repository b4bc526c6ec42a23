#include "protocols/postgres/parse.h"

namespace hodos::protocols::postgres {
namespace {

// Statement and portal names are identifiers (the server cuts them at 63 bytes); a longer one is
// not something a real client sends.
constexpr uint32_t kMaxNameBytes = 1024;

constexpr std::string_view kFrontendTags = "QPBESDCXHFdcfp";
constexpr std::string_view kBackendTags = "RKSZTDCIEN123nstAGHWVvdc";

// Five characters from [0-9A-Z], as every SQLSTATE is.
bool sqlstate_like(std::string_view s) {
  if (s.size() != 5) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z'))) return false;
  }
  return true;
}

bool is_frontend_fixed4(char tag) { return tag == 'S' || tag == 'H' || tag == 'X' || tag == 'c'; }
bool is_backend_fixed4(char tag) {
  return tag == '1' || tag == '2' || tag == '3' || tag == 'n' || tag == 's' || tag == 'I' ||
         tag == 'c';
}

// Names and parameter keys: printable ASCII or UTF-8, no control characters.
bool printable(std::string_view s) {
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return false;
  }
  return true;
}

// Query text may also hold tabs and line breaks.
bool text_like(std::string_view s) {
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t' && c != '\n' && c != '\r') || u == 0x7f) return false;
  }
  return true;
}

bool identifier(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '.' ||
              (c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return !(s[0] >= '0' && s[0] <= '9');
}

uint16_t read_be16(std::string_view b) {
  return static_cast<uint16_t>((static_cast<uint8_t>(b[0]) << 8) | static_cast<uint8_t>(b[1]));
}

bool take(std::string_view* b, size_t n) {
  if (b->size() < n) return false;
  b->remove_prefix(n);
  return true;
}

bool name_field(std::string_view* body) {
  std::string_view name;
  return read_cstring(body, &name) && name.size() <= kMaxNameBytes && printable(name);
}

// A name that may be cut: what there is of it must look like a name.
bool name_prefix(std::string_view* body, bool* complete) {
  size_t nul = body->find('\0');
  std::string_view name = body->substr(0, nul);
  if (name.size() > kMaxNameBytes || !printable(name)) return false;
  *complete = nul != std::string_view::npos;
  body->remove_prefix(*complete ? nul + 1 : body->size());
  return true;
}

// The whole body of a frontend message, checked field by field.
bool frontend_body_valid(char tag, std::string_view body) {
  switch (tag) {
    case 'Q': {
      std::string_view text;
      return read_cstring(&body, &text) && body.empty() && text_like(text);
    }
    case 'P': {
      std::string_view text;
      if (!name_field(&body) || !read_cstring(&body, &text) || !text_like(text)) return false;
      if (body.size() < 2) return false;
      uint32_t types = read_be16(body);
      return body.size() == 2 + 4 * size_t{types};
    }
    case 'B': {
      if (!name_field(&body) || !name_field(&body) || body.size() < 2) return false;
      uint16_t formats = read_be16(body);
      if (!take(&body, 2 + 2 * size_t{formats}) || body.size() < 2) return false;
      uint16_t params = read_be16(body);
      body.remove_prefix(2);
      for (uint16_t i = 0; i < params; ++i) {
        if (body.size() < 4) return false;
        auto length = static_cast<int32_t>(read_be32(body));
        body.remove_prefix(4);
        if (length < -1) return false;
        if (length > 0 && !take(&body, static_cast<size_t>(length))) return false;
      }
      if (body.size() < 2) return false;
      return body.size() == 2 + 2 * size_t{read_be16(body)};
    }
    case 'E':
      return name_field(&body) && body.size() == 4;
    case 'D':
    case 'C':
      return !body.empty() && (body[0] == 'S' || body[0] == 'P') && take(&body, 1) &&
             name_field(&body) && body.empty();
    case 'F':
      return body.size() >= 10;
    case 'f': {
      std::string_view reason;
      return read_cstring(&body, &reason) && body.empty();
    }
    default:
      return is_frontend_fixed4(tag) ? body.empty() : tag == 'd';
  }
}

// The captured start of a frontend message the chunk does not hold whole.
bool frontend_prefix_valid(char tag, std::string_view body) {
  bool complete = false;
  switch (tag) {
    case 'Q':
      return body.find('\0') == std::string_view::npos && text_like(body);
    case 'P':
      if (!name_prefix(&body, &complete)) return false;
      return !complete || (body.find('\0') == std::string_view::npos && text_like(body)) ||
             frontend_body_valid('Q', body.substr(0, body.find('\0') + 1));
    case 'B':
      if (!name_prefix(&body, &complete)) return false;
      return !complete || name_prefix(&body, &complete);
    case 'E':
      return name_prefix(&body, &complete);
    case 'D':
    case 'C':
      return body.empty() || ((body[0] == 'S' || body[0] == 'P') &&
                              (body.remove_prefix(1), name_prefix(&body, &complete)));
    case 'F':
    case 'd':
    case 'f':
      return true;
    default:
      return false;  // fixed-size: never longer than a header
  }
}

bool startup_params_valid(std::string_view params, bool whole) {
  bool saw_key = false;
  while (!params.empty()) {
    std::string_view key, value;
    if (!read_cstring(&params, &key)) return !whole && (params.empty() || identifier(params));
    if (key.empty()) return params.empty() && saw_key;  // the list's terminator
    if (!identifier(key)) return false;
    saw_key = true;
    if (!read_cstring(&params, &value)) return !whole && printable(params);
    if (!printable(value)) return false;
  }
  return !whole;
}

}  // namespace

bool read_cstring(std::string_view* body, std::string_view* out) {
  size_t nul = body->find('\0');
  if (nul == std::string_view::npos) return false;
  *out = body->substr(0, nul);
  body->remove_prefix(nul + 1);
  return true;
}

bool plausible_length(Sender sender, char tag, uint32_t length) {
  if (length < 4 || length > kMaxMessageLength) return false;
  if (sender == Sender::kFrontend) {
    if (is_frontend_fixed4(tag)) return length == 4;
    switch (tag) {
      case 'Q':
        return length >= 5;
      case 'P':
        return length >= 8;
      case 'B':
        return length >= 12;
      case 'E':
        return length >= 9 && length <= 9 + kMaxNameBytes;
      case 'D':
      case 'C':
        return length >= 6 && length <= 6 + kMaxNameBytes;
      case 'F':
        return length >= 14;
      case 'f':
        return length >= 5;
      case 'd':
      case 'p':
        return true;
      default:
        return false;
    }
  }
  if (is_backend_fixed4(tag)) return length == 4;
  switch (tag) {
    case 'R':
      return length >= 8;
    case 'K':
      return length >= 12 && length <= 12 + 256;
    case 'Z':
      return length == 5;
    case 'S':
    case 'T':
    case 'D':
    case 't':
      return length >= 6;
    case 'C':
    case 'E':
    case 'N':
      return length >= 5;
    case 'A':
      return length >= 10;
    case 'G':
    case 'H':
    case 'W':
      return length >= 7;
    case 'V':
      return length >= 8;
    case 'v':
      return length >= 12;
    case 'd':
      return true;
    default:
      return false;
  }
}

ParseState parse_header(std::string_view* buf, Sender sender, MessageHeader* out) {
  if (buf->empty()) return ParseState::kNeedsMoreData;
  // The tag alone already tells a message the sender never sends.
  std::string_view tags = sender == Sender::kFrontend ? kFrontendTags : kBackendTags;
  if (tags.find((*buf)[0]) == std::string_view::npos) return ParseState::kInvalid;
  if (buf->size() < 5) return ParseState::kNeedsMoreData;
  if (!plausible_length(sender, (*buf)[0], read_be32(buf->substr(1)))) return ParseState::kInvalid;
  out->tag = (*buf)[0];
  out->length = read_be32(buf->substr(1));
  buf->remove_prefix(5);
  return ParseState::kSuccess;
}

ParseState parse_startup_header(std::string_view* buf, StartupHeader* out) {
  // The length's first byte is 0 (at most 10000), which no tagged message starts with.
  if (buf->empty()) return ParseState::kNeedsMoreData;
  if ((*buf)[0] != 0) return ParseState::kInvalid;
  if (buf->size() < 8) return ParseState::kNeedsMoreData;
  uint32_t length = read_be32(*buf);
  uint32_t code = read_be32(buf->substr(4));
  bool ok = false;
  if (code >> 16 == 3) {
    ok = (code & 0xffff) <= 2 && length >= 9 && length <= kMaxStartupLength;  // 3.0 .. 3.2
  } else if (code == kSslRequestCode || code == kGssEncRequestCode) {
    ok = length == 8;
  } else if (code == kCancelRequestCode) {
    ok = length >= 16 && length <= 16 + 256;  // 3.2 allows longer keys
  }
  if (!ok) return ParseState::kInvalid;
  *out = {length, code};
  buf->remove_prefix(8);
  return ParseState::kSuccess;
}

std::string_view startup_database(std::string_view params, bool complete) {
  std::string_view user, database;
  std::string_view key, value;
  while (read_cstring(&params, &key) && !key.empty() && read_cstring(&params, &value)) {
    if (key == "database") database = value;
    if (key == "user") user = value;
  }
  return database.empty() && complete ? user : database;
}

std::string_view error_sqlstate(std::string_view body) {
  while (!body.empty() && body[0] != '\0') {
    char field = body[0];
    body.remove_prefix(1);
    std::string_view value;
    if (!read_cstring(&body, &value)) return {};
    if (field == 'C') return sqlstate_like(value) ? value : std::string_view{};
  }
  return {};
}

bool looks_like_postgres_client(std::string_view bytes) {
  if (bytes.empty()) return false;
  if (bytes[0] == '\0') {
    std::string_view rest = bytes;
    StartupHeader h;
    if (parse_startup_header(&rest, &h) != ParseState::kSuccess) return false;
    if (h.code >> 16 != 3) return true;  // a request code with its exact length
    bool whole = bytes.size() >= h.length;
    return startup_params_valid(rest.substr(0, h.length - 8), whole);
  }
  // Mid-stream: a run of well-formed frontend messages, the last one possibly cut.
  static constexpr std::string_view kFirstTags = "QPBESDCXHF";
  if (kFirstTags.find(bytes[0]) == std::string_view::npos) return false;
  std::string_view rest = bytes;
  for (int messages = 0; !rest.empty() && messages < 32; ++messages) {
    MessageHeader h;
    ParseState st = parse_header(&rest, Sender::kFrontend, &h);
    if (st == ParseState::kInvalid || (st == ParseState::kNeedsMoreData && messages == 0)) {
      return false;
    }
    if (st == ParseState::kNeedsMoreData) return true;
    if (h.tag == 'p') return false;  // authentication is never mid-stream
    if (rest.size() < h.body_length()) return frontend_prefix_valid(h.tag, rest);
    if (!frontend_body_valid(h.tag, rest.substr(0, h.body_length()))) return false;
    rest.remove_prefix(h.body_length());
  }
  return true;
}

}  // namespace hodos::protocols::postgres
