// The properties the redis fuzz target checks on every input, shared with the unit test that
// replays the in-tree corpus (tests/fuzz/corpus/redis). An input is a conversation: what the
// client wrote, then a line "====", then what it read. The RESP decoder finds the same values
// wherever the bytes are cut; the matcher, fed the conversation in chunks both ways (some cut
// short as the capture does, with random options), never crashes, never hands out more calls than
// commands, and never lets an argument into a call's text unless keep_literals asks for it (and
// never a password, even then); without gaps, chunking does not change the calls.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "../fuzz_support.h"
#include "protocols/redis/match.h"
#include "protocols/redis/resp.h"

namespace hodos::protocols::redis::fuzz {

constexpr std::string_view kSeparator = "\n====\n";

using Rng = fuzz_support::Rng;

struct Split {
  std::string_view commands;
  std::string_view replies;
};

inline Split split_conversation(std::string_view input) {
  size_t at = input.find(kSeparator);
  if (at == std::string_view::npos) return {input, {}};
  return {input.substr(0, at + 1), input.substr(at + kSeparator.size())};
}

// Where each value ends, and whether the bytes then stopped parsing (where exactly depends on
// how much of a bad line a piece held: only the fact is compared).
struct DecodeTrace {
  std::vector<size_t> value_ends;
  std::vector<char> types;
  bool invalid = false;
  bool operator==(const DecodeTrace&) const = default;
};

inline DecodeTrace decode(std::string_view bytes, RespDecoder::Mode mode,
                          const std::vector<size_t>& cuts) {
  DecodeTrace trace;
  RespDecoder decoder(mode, 64);
  size_t offset = 0;
  for (size_t i = 0; i <= cuts.size() && !trace.invalid; ++i) {
    size_t end = i < cuts.size() ? cuts[i] : bytes.size();
    std::string_view piece = bytes.substr(offset, end - offset);
    while (!piece.empty()) {
      size_t before = piece.size();
      ParseState st = decoder.feed(&piece);
      size_t at = end - piece.size();
      if (st == ParseState::kInvalid) {
        trace.invalid = true;
        break;
      }
      if (st == ParseState::kSuccess) {
        trace.value_ends.push_back(at);
        trace.types.push_back(decoder.value().type);
      } else if (!piece.empty() || before == 0) {
        trace.invalid = true;  // NeedsMoreData must take every byte it is given
        trace.types.push_back('!');
        break;
      }
    }
    offset = end;
  }
  return trace;
}

inline std::string check_decoder(std::string_view bytes, RespDecoder::Mode mode, Rng& rng) {
  DecodeTrace whole = decode(bytes, mode, {});
  std::vector<size_t> cuts;
  for (size_t at = rng.below(8); at < bytes.size(); at += 1 + rng.below(rng.below(2) ? 4 : 64)) {
    cuts.push_back(at);
  }
  if (decode(bytes, mode, cuts) != whole) return "decoder: pieces and whole disagree";
  return "";
}

inline bool valid_utf8(std::string_view s);

inline bool is_code(std::string_view s) {
  for (char c : s) {
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) return false;
  }
  return true;
}

// The text without literals: the operation, then " ?" per argument, maybe cut with "...".
inline bool masked_text(const DbCall& call) {
  std::string_view text = call.query_text;
  if (call.operation.empty() || text.empty()) return text.empty();  // empty: cut to nothing
  if (text.ends_with("...")) {
    text.remove_suffix(3);
    // Cut anywhere: what remains is a prefix of "OP ? ? ?".
    if (text.size() <= call.operation.size()) {
      return call.operation.starts_with(text);
    }
  }
  if (!text.starts_with(call.operation)) return false;
  text.remove_prefix(call.operation.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != (i % 2 == 0 ? ' ' : '?')) return false;
  }
  return true;
}

inline bool hides_arguments(std::string_view op) {
  return op == "AUTH" || op == "HELLO" || op == "MIGRATE" || op == "ACL" ||
         op.starts_with("ACL ") || op == "CONFIG SET";
}

inline std::string check_call(const DbCall& call, const DbMatchOptions& options) {
  if (call.system != "redis") return "system is not redis";
  if (call.start_ns > call.end_ns) return "call ends before it starts";
  if (!is_code(call.status_code) || call.status_code.size() > 32) return "status is not a code";
  if (!call.status_code.empty() && !call.error) return "status without error";
  if (!call.collection.empty()) return "collection set";
  for (char c : call.namespace_name) {
    if (c < '0' || c > '9') return "namespace is not an index";
  }
  for (char c : call.operation) {
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == ' ' || c == '.' || c == '_' ||
          c == '-' || c == ':')) {
      return "operation is not a command name";
    }
  }
  if (call.query_text.size() > options.max_query_text) return "query text too long";
  if (!valid_utf8(call.query_text)) return "query text is not UTF-8";
  if ((!options.keep_literals || hides_arguments(call.operation)) && !masked_text(call)) {
    return "a literal in the query text: " + call.query_text;
  }
  return "";
}

struct Piece {
  Direction direction;
  std::string_view captured;
  uint64_t length;
};

struct MatchRun {
  std::vector<std::string> calls;  // a summary of each, for comparing runs
  DbMatchCounters counters;
  std::string failure;
};

inline MatchRun run_matcher(const std::vector<Piece>& pieces, DbMatchOptions options,
                            ConnectionStart start, bool close) {
  MatchRun run;
  auto matcher = make_redis_matcher(
      [&](DbCall&& call) {
        if (std::string f = check_call(call, options); !f.empty() && run.failure.empty()) {
          run.failure = f;
        }
        run.calls.push_back(call.namespace_name + "|" + call.operation + "|" + call.query_text +
                            "|" + call.status_code + "|" + std::to_string(call.error) + "|" +
                            std::to_string(call.batch_size));
      },
      options, start);
  uint64_t ts = 1;
  for (const Piece& p : pieces) matcher->feed(p.direction, {p.captured, p.length, ts++});
  if (close) matcher->close();
  run.counters = matcher->counters();
  const DbMatchCounters& c = run.counters;
  if (run.failure.empty() &&
      (c.calls + c.unmatched_requests > c.requests || c.calls != run.calls.size())) {
    run.failure = "counters disagree with the calls";
  }
  if (run.failure.empty() && close && matcher->active()) run.failure = "active after close";
  return run;
}

// Cuts `bytes` into chunks; with `gaps`, some chunks lose their tail as a short capture does.
inline void cut(std::string_view bytes, Direction d, Rng& rng, bool gaps, std::vector<Piece>* out) {
  while (!bytes.empty()) {
    size_t size = 1 + rng.below(rng.below(4) == 0 ? bytes.size() : 48);
    std::string_view piece = bytes.substr(0, size);
    std::string_view captured = piece;
    if (gaps && rng.below(6) == 0) captured = piece.substr(0, rng.below(piece.size() + 1));
    out->push_back({d, captured, piece.size()});
    bytes.remove_prefix(piece.size());
  }
}

inline std::string check_matcher(Split conv, Rng& rng) {
  DbMatchOptions options;
  options.keep_literals = rng.below(2) == 0;
  if (rng.below(3) == 0) options.max_query_text = rng.below(40);
  if (rng.below(3) == 0) options.max_pending_requests = rng.below(5);
  ConnectionStart start =
      rng.below(3) == 0 ? ConnectionStart::kMidStream : ConnectionStart::kFromStart;

  // Random chunking, capture gaps, both directions interleaved.
  std::vector<Piece> out, in, mixed;
  cut(conv.commands, Direction::kEgress, rng, true, &out);
  cut(conv.replies, Direction::kIngress, rng, true, &in);
  size_t i = 0, j = 0;
  while (i < out.size() || j < in.size()) {
    bool take_out = j == in.size() || (i < out.size() && rng.below(2) == 0);
    mixed.push_back(take_out ? out[i++] : in[j++]);
  }
  MatchRun chaos = run_matcher(mixed, options, start, rng.below(2) == 0);
  if (!chaos.failure.empty()) return "matcher (gaps): " + chaos.failure;

  // Without gaps, commands first then replies: chunking must not change what is found, as long
  // as the replies never lose sync (where they resynchronise depends on the chunks). Without
  // invalid bytes, only a full queue can lose it: the queue is unbounded here.
  options.max_pending_requests = SIZE_MAX;
  std::vector<Piece> whole, chunked;
  if (!conv.commands.empty()) {
    whole.push_back({Direction::kEgress, conv.commands, conv.commands.size()});
  }
  if (!conv.replies.empty()) {
    whole.push_back({Direction::kIngress, conv.replies, conv.replies.size()});
  }
  cut(conv.commands, Direction::kEgress, rng, false, &chunked);
  cut(conv.replies, Direction::kIngress, rng, false, &chunked);
  MatchRun a = run_matcher(whole, options, ConnectionStart::kFromStart, true);
  MatchRun b = run_matcher(chunked, options, ConnectionStart::kFromStart, true);
  if (!a.failure.empty() || !b.failure.empty()) return "matcher: " + a.failure + b.failure;
  const DbMatchCounters& x = a.counters;
  const DbMatchCounters& y = b.counters;
  if (x.invalid == 0 &&
      (a.calls != b.calls || y.invalid != 0 || x.requests != y.requests ||
       x.unmatched_requests != y.unmatched_requests ||
       x.unmatched_responses != y.unmatched_responses || x.gave_up != y.gave_up)) {
    return "matcher: chunking changed what was found";
  }
  return "";
}

inline bool valid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return false;
    }
    i += n;
  }
  return true;
}

// Empty when every property holds, else what broke.
inline std::string check_input(std::string_view input) {
  Rng rng(input);
  Split conv = split_conversation(input);
  std::string failure = check_decoder(conv.commands, RespDecoder::Mode::kCommands, rng);
  if (failure.empty()) failure = check_decoder(conv.replies, RespDecoder::Mode::kReplies, rng);
  if (failure.empty()) failure = check_matcher(conv, rng);
  return failure;
}

}  // namespace hodos::protocols::redis::fuzz
