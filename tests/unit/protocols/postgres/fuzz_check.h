// The properties the postgres fuzz target checks on every input, shared with the unit test that
// replays the in-tree corpus (tests/fuzz/corpus/postgres). The input is a conversation: records
// of [direction byte (low bit: 0 client→server, 1 server→client)][big-endian uint16 length][bytes].
// Fed to the matcher whole, re-chunked at random and with capture cuts, it never crashes, never
// reports more calls than requests, never lets a plain string literal of the client's queries
// into query_text, and without cuts finds the same calls however the bytes are chunked.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "../fuzz_support.h"
#include "protocols/postgres/match.h"
#include "protocols/postgres/parse.h"
#include "replay.h"

namespace hodos::protocols::postgres::fuzz {

using Rng = fuzz_support::Rng;

inline std::vector<testing::Turn> decode(std::string_view input) {
  std::vector<testing::Turn> turns;
  while (input.size() >= 3) {
    Direction d = (input[0] & 1) ? Direction::kIngress : Direction::kEgress;
    size_t n = (static_cast<uint8_t>(input[1]) << 8) | static_cast<uint8_t>(input[2]);
    input.remove_prefix(3);
    std::string_view bytes = input.substr(0, n);
    input.remove_prefix(bytes.size());
    turns.push_back({d, bytes, bytes.size()});
  }
  return turns;
}

inline std::string encode(const std::vector<testing::Turn>& turns) {
  std::string out;
  for (const testing::Turn& t : turns) {
    std::string_view bytes = t.captured.substr(0, 0xffff);
    out += t.direction == Direction::kIngress ? '\1' : '\0';
    out += static_cast<char>(bytes.size() >> 8);
    out += static_cast<char>(bytes.size() & 0xff);
    out += bytes;
  }
  return out;
}

// The query texts of the Query and Parse messages in what the client sent, framed from the start
// of its stream (start-up messages skipped). Fuzzed lengths may frame differently from the
// matcher; the leak check below only claims a leak when both framings agree on the literal.
inline std::vector<std::string> client_texts(const std::vector<testing::Turn>& turns) {
  std::string stream;
  for (const testing::Turn& t : turns) {
    if (t.direction == Direction::kEgress) stream += t.captured;
  }
  std::vector<std::string> texts;
  std::string_view rest = stream;
  while (rest.size() >= 8 && rest[0] == '\0') {
    uint32_t length = read_be32(rest);
    if (length < 8) return texts;
    rest.remove_prefix(std::min<size_t>(length, rest.size()));
  }
  while (rest.size() >= 5) {
    char tag = rest[0];
    uint32_t length = read_be32(rest.substr(1));
    if (length < 4) break;
    std::string_view body = rest.substr(5, length - 4);
    rest.remove_prefix(std::min<size_t>(rest.size(), size_t{length} + 1));
    if (tag == 'P') {
      std::string_view name;
      if (!read_cstring(&body, &name)) continue;
    }
    if (tag == 'Q' || tag == 'P') texts.emplace_back(body.substr(0, body.find('\0')));
  }
  return texts;
}

// String literals as SQL pairs quotes ('' inside one is an escaped quote): [open, close] spans.
inline std::vector<std::pair<size_t, size_t>> literal_spans(std::string_view text) {
  std::vector<std::pair<size_t, size_t>> spans;
  for (size_t open = text.find('\''); open != std::string_view::npos;) {
    size_t close = open + 1;
    while (true) {
      close = text.find('\'', close);
      if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != '\'') {
        break;
      }
      close += 2;
    }
    if (close == std::string_view::npos) break;
    spans.emplace_back(open, close);
    open = text.find('\'', close + 1);
  }
  return spans;
}

// Plain literals, 'like-this@x.com', of the client's queries: only in texts where no dialect could
// read them otherwise (no other quoting, escape or dollar sign, so not inside an identifier, an
// E'' string or a dollar string).
inline std::vector<std::string> plain_literals(const std::vector<std::string>& texts) {
  std::vector<std::string> out;
  for (std::string_view text : texts) {
    if (text.find_first_of("\"\\$`") != std::string_view::npos) continue;
    for (auto [open, close] : literal_spans(text)) {
      std::string_view content = text.substr(open + 1, close - open - 1);
      bool plain = content.size() >= 6;
      for (char c : content) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '@' || c == '.' || c == '-' || c == '_';
        plain = plain && ok;
      }
      if (plain) out.emplace_back(content);
    }
  }
  return out;
}

// Whether `needle` occurs in `text` outside every literal (as SQL pairs quotes).
inline bool outside_literals(std::string_view text, std::string_view needle) {
  auto spans = literal_spans(text);
  for (size_t at = text.find(needle); at != std::string_view::npos;
       at = text.find(needle, at + 1)) {
    bool inside = false;
    for (auto [open, close] : spans) inside = inside || (open < at && at + needle.size() <= close);
    if (!inside) return true;
  }
  return false;
}

// Whether `needle` shows anywhere outside a literal, so that a text may rightly hold it: in a
// framed text, or in any NUL-delimited run of the client's raw bytes (query texts hold no NUL),
// paired from its start or from one or two bytes in (a header's length bytes may be quotes).
inline bool exposed(const std::vector<testing::Turn>& turns, const std::vector<std::string>& texts,
                    const std::string& needle) {
  for (std::string_view text : texts) {
    if (outside_literals(text, needle)) return true;
  }
  std::string stream;
  for (const testing::Turn& t : turns) {
    if (t.direction == Direction::kEgress) stream += t.captured;
  }
  std::string_view rest = stream;
  while (!rest.empty()) {
    std::string_view run = rest.substr(0, rest.find('\0'));
    rest.remove_prefix(std::min(rest.size(), run.size() + 1));
    for (size_t skip = 0; skip < 3 && skip < run.size(); ++skip) {
      if (outside_literals(run.substr(skip), needle)) return true;
    }
  }
  return false;
}

inline std::string check_run(const testing::Run& run, const std::vector<testing::Turn>& turns) {
  const DbMatchCounters& c = run.counters;
  if (c.calls > c.requests) return "more calls than requests";
  if (c.calls != run.calls.size()) return "calls counter differs from the sink";
  std::vector<std::string> texts = client_texts(turns);
  std::vector<std::string> literals = plain_literals(texts);
  for (const DbCall& call : run.calls) {
    if (call.start_ns > call.end_ns) return "call ends before it starts";
    if (call.system != "postgresql") return "wrong db.system";
    for (const std::string& literal : literals) {
      // Leaked: in the text, yet nowhere in the client's queries but as that literal.
      if (call.query_text.find(literal) != std::string::npos && !exposed(turns, texts, literal)) {
        return "literal '" + literal + "' in query_text: " + call.query_text;
      }
    }
  }
  return "";
}

// Cuts each turn into chunks; with `gaps`, some chunks lose their tail as a short capture does.
inline std::vector<testing::Turn> rechunk(const std::vector<testing::Turn>& turns, Rng& rng,
                                          bool gaps) {
  std::vector<testing::Turn> out;
  for (const testing::Turn& t : turns) {
    std::string_view bytes = t.captured;
    while (!bytes.empty()) {
      size_t size = 1 + rng.below(rng.below(4) == 0 ? bytes.size() : 64);
      std::string_view piece = bytes.substr(0, size);
      std::string_view captured = piece;
      if (gaps && rng.below(8) == 0) captured = piece.substr(0, rng.below(piece.size() + 1));
      out.push_back({t.direction, captured, piece.size()});
      bytes.remove_prefix(piece.size());
    }
  }
  return out;
}

// Empty when every property holds, else what broke.
inline std::string check_input(std::string_view input) {
  Rng rng(input);
  std::vector<testing::Turn> turns = decode(input);
  (void)looks_like_postgres_client(input);
  for (const testing::Turn& t : turns) (void)looks_like_postgres_client(t.captured);

  testing::Run whole = testing::replay(turns);
  if (std::string f = check_run(whole, turns); !f.empty()) return "whole: " + f;

  testing::Run pieces = testing::replay(rechunk(turns, rng, false));
  if (std::string f = check_run(pieces, turns); !f.empty()) return "rechunked: " + f;
  // Without capture gaps, chunking must not change what is found (it may only decide what an
  // invalid stream resynchronises on, so compare clean runs only).
  if (whole.counters.invalid == 0 && pieces.counters.invalid == 0 &&
      testing::describe(whole.calls) != testing::describe(pieces.calls)) {
    return "chunking changed the calls";
  }

  testing::Run cut = testing::replay(rechunk(turns, rng, true));
  if (std::string f = check_run(cut, turns); !f.empty()) return "with gaps: " + f;

  DbMatchOptions small;
  small.max_pending_requests = 2;
  small.max_query_text = 16;
  testing::Run bounded = testing::replay(turns, small);
  if (std::string f = check_run(bounded, turns); !f.empty()) return "bounded: " + f;
  return "";
}

}  // namespace hodos::protocols::postgres::fuzz
