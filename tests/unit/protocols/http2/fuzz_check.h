// The properties the http2 fuzz target checks on every input, shared with the unit test that
// replays the in-tree corpus (tests/fuzz/corpus/http2). An input is a conversation of records,
// each one byte for the sender (low bit set: the client), a 2-byte big-endian length and that
// many bytes (fewer if the input ends). The frame parser finds NeedsMoreData in every cut frame;
// the matcher, fed the conversation in random chunks (some shortened as the capture shortens
// them, with random limits), never crashes and keeps its counters consistent with what it hands
// out; without gaps, neither the chunking nor the side it is seen from changes what comes out,
// and a conversation cut short gives a prefix of what the whole one gives.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "../fuzz_support.h"
#include "protocols/grpc/message.h"
#include "protocols/http2/frame.h"
#include "protocols/http2/match.h"

namespace hodos::protocols::http2::fuzz {

using Rng = fuzz_support::Rng;

struct Record {
  bool from_client = false;
  std::string_view bytes;
  uint64_t length = 0;  // >= bytes.size(); larger: the capture missed the rest
  bool length_only = false;
};

inline std::vector<Record> parse_records(std::string_view input) {
  std::vector<Record> out;
  while (input.size() >= 3) {
    bool client = (static_cast<uint8_t>(input[0]) & 1) != 0;
    size_t n =
        static_cast<size_t>(static_cast<uint8_t>(input[1])) << 8 | static_cast<uint8_t>(input[2]);
    input.remove_prefix(3);
    std::string_view bytes = input.substr(0, n);
    input.remove_prefix(bytes.size());
    out.push_back({client, bytes, bytes.size()});
  }
  return out;
}

// The record encoding of a conversation (for writing seeds); long chunks become several records.
inline void append_record(std::string* out, bool from_client, std::string_view bytes) {
  do {
    std::string_view part = bytes.substr(0, 0xffff);
    bytes.remove_prefix(part.size());
    out->push_back(from_client ? '\x01' : '\x00');
    out->push_back(static_cast<char>(part.size() >> 8));
    out->push_back(static_cast<char>(part.size()));
    out->append(part);
  } while (!bytes.empty());
}

inline std::string summary(const Exchange& e) {
  return std::to_string(e.stream_id) + "|" + e.request.method + "|" + e.request.path + "|" +
         e.request.authority + "|" + e.request.user_agent + "|" + e.request.content_type + "|" +
         std::to_string(e.request.body.bytes) + "|" + std::to_string(e.request.body.messages) +
         "|" + std::to_string(e.request.body.complete) + "|" + std::to_string(e.response.status) +
         "|" + std::to_string(e.response.interim_status) + "|" +
         std::to_string(e.response.body.bytes) + "|" + std::to_string(e.response.body.messages) +
         "|" + std::to_string(e.response.grpc_status) + "|" +
         std::to_string(e.response.has_trailers) + "|" + std::to_string(static_cast<int>(e.end)) +
         "|" + std::to_string(e.reset_error_code) + "|" + std::to_string(e.request.pushed);
}

struct MatchRun {
  std::vector<std::string> exchanges;
  MatchCounters counters;
  std::string failure;
};

inline std::string check_exchange(const Exchange& e, const MatchLimits& limits) {
  if (e.start_ns > e.end_ns) return "exchange ends before it starts";
  for (const Body* body : {&e.request.body, &e.response.body}) {
    if (body->uncaptured > body->bytes) return "more uncaptured than seen";
    if (body->messages > 0 && !grpc::is_grpc_content_type(e.request.content_type)) {
      return "messages counted outside gRPC";
    }
    // Every message counted had its 5-byte prefix go by.
    if (body->messages > 0 && body->bytes < 5ull * body->messages) return "too many messages";
  }
  if (e.end == StreamEnd::kComplete && !e.response.body.complete) return "complete but open";
  for (const std::string* field :
       {&e.request.method, &e.request.scheme, &e.request.authority, &e.request.path,
        &e.request.content_type, &e.request.user_agent, &e.request.te, &e.request.grpc_timeout,
        &e.request.traceparent, &e.request.tracestate, &e.response.content_type}) {
    if (field->size() > limits.max_value_bytes) return "a value beyond max_value_bytes";
  }
  if (e.response.status != 0 && (e.response.status < 100 || e.response.status > 999)) {
    return "status out of range";
  }
  return "";
}

inline uint64_t give_ups(const MatchCounters& c) {
  return c.undecodable + c.headers_lost + c.framing_lost + c.hpack_errors + c.invalid_frames;
}

inline MatchRun run_matcher(const std::vector<Record>& records, Role role, MatchLimits limits,
                            bool close) {
  MatchRun run;
  ConnectionMatcher matcher(
      role,
      [&](Exchange&& e) {
        if (std::string f = check_exchange(e, limits); !f.empty() && run.failure.empty()) {
          run.failure = f;
        }
        run.exchanges.push_back(summary(e));
      },
      limits);
  Role seen_as = role == Role::kUnknown ? Role::kServer : role;
  uint64_t ts = 0;
  for (const Record& r : records) {
    bool egress = r.from_client == (seen_as == Role::kClient);
    matcher.feed(egress ? Direction::kEgress : Direction::kIngress,
                 {r.bytes, r.length, ts += 10, r.length_only});
  }
  if (close) matcher.close();
  run.counters = matcher.counters();
  const MatchCounters& c = run.counters;
  if (run.failure.empty()) {
    if (c.exchanges != run.exchanges.size()) run.failure = "exchanges counted wrong";
    if (give_ups(c) > 1) run.failure = "gave up twice";
    if (c.exchanges + c.unmatched_requests > c.requests) run.failure = "more out than in";
    if ((close || give_ups(c) > 0) && c.exchanges + c.unmatched_requests != c.requests) {
      run.failure = "streams left over";
    }
    if (c.evicted_streams > c.unmatched_requests) run.failure = "evicted but not unmatched";
    if (close && matcher.active()) run.failure = "active after close";
  }
  return run;
}

// Cuts records into chunks; with `gaps`, some lose their tail as a short capture does.
inline std::vector<Record> rechunk(const std::vector<Record>& records, Rng& rng, bool gaps) {
  std::vector<Record> out;
  for (const Record& r : records) {
    std::string_view bytes = r.bytes;
    do {
      size_t size = 1 + rng.below(rng.below(4) == 0 ? bytes.size() + 1 : 64);
      std::string_view piece = bytes.substr(0, size);
      bytes.remove_prefix(piece.size());
      Record chunk{r.from_client, piece, piece.size()};
      if (gaps && rng.below(8) == 0) {
        chunk.bytes = piece.substr(0, rng.below(piece.size() + 1));
        chunk.length_only = chunk.bytes.empty() && rng.below(2) == 0;
      }
      out.push_back(chunk);
    } while (!bytes.empty());
  }
  return out;
}

inline std::string check_frames(const std::vector<Record>& records, Rng& rng) {
  for (bool client : {true, false}) {
    std::string bytes;
    for (const Record& r : records) {
      if (r.from_client == client) bytes += r.bytes;
    }
    std::string_view rest = bytes;
    if (client && rest.starts_with(kClientPreface)) rest.remove_prefix(kClientPreface.size());
    for (;;) {
      std::string_view before = rest;
      Frame frame;
      ParseState st = parse_frame(&rest, &frame);
      if (st == ParseState::kInvalid && rest.size() != before.size()) return "invalid consumed";
      if (st != ParseState::kSuccess) break;
      size_t size = before.size() - rest.size();
      if (size != kFrameHeaderSize + frame.header.length) return "frame size";
      if (frame.content.size() != frame.layout.content_size ||
          frame.layout.prefix_size + frame.layout.content_size + frame.layout.padding !=
              frame.header.length) {
        return "layout does not add up";
      }
      std::string_view cut = before.substr(0, rng.below(size));
      if (parse_frame(&cut, &frame) != ParseState::kNeedsMoreData) return "a cut frame parsed";
    }
  }
  return "";
}

inline MatchLimits random_limits(Rng& rng) {
  MatchLimits limits;
  if (rng.below(3) == 0) limits.max_streams = 1 + rng.below(4);
  if (rng.below(3) == 0) limits.max_header_list_bytes = rng.below(400);
  if (rng.below(3) == 0) limits.max_value_bytes = rng.below(40);
  if (rng.below(4) == 0) limits.max_header_table_size = static_cast<uint32_t>(rng.below(8192));
  return limits;
}

inline std::string check_matcher(const std::vector<Record>& records, Rng& rng) {
  static constexpr Role kRoles[] = {Role::kServer, Role::kClient, Role::kUnknown};
  MatchLimits limits = random_limits(rng);

  MatchRun chaos =
      run_matcher(rechunk(records, rng, true), kRoles[rng.below(3)], limits, rng.below(2) == 0);
  if (!chaos.failure.empty()) return "matcher (gaps): " + chaos.failure;

  MatchRun whole = run_matcher(records, Role::kServer, limits, true);
  MatchRun chunked = run_matcher(rechunk(records, rng, false), Role::kClient, limits, true);
  if (!whole.failure.empty() || !chunked.failure.empty()) {
    return "matcher: " + whole.failure + chunked.failure;
  }
  const MatchCounters& a = whole.counters;
  const MatchCounters& b = chunked.counters;
  if (whole.exchanges != chunked.exchanges || a.frames != b.frames || a.requests != b.requests ||
      a.responses != b.responses || a.unmatched_requests != b.unmatched_requests ||
      a.unmatched_responses != b.unmatched_responses || a.undecodable != b.undecodable ||
      a.hpack_errors != b.hpack_errors || a.invalid_frames != b.invalid_frames) {
    return "matcher: chunking or side changed what was found";
  }

  // Cut short: what comes out is a prefix of what the whole conversation gives.
  size_t total = 0;
  for (const Record& r : records) total += r.bytes.size();
  size_t keep = rng.below(total + 1);
  std::vector<Record> prefix;
  for (const Record& r : records) {
    if (keep == 0) break;
    Record cut = r;
    cut.bytes = r.bytes.substr(0, keep);
    cut.length = cut.bytes.size();
    keep -= cut.bytes.size();
    prefix.push_back(cut);
  }
  MatchRun part = run_matcher(prefix, Role::kServer, limits, false);
  if (!part.failure.empty()) return "matcher (prefix): " + part.failure;
  if (part.exchanges.size() > whole.exchanges.size() ||
      !std::equal(part.exchanges.begin(), part.exchanges.end(), whole.exchanges.begin())) {
    return "matcher: a prefix gave other exchanges";
  }
  const MatchCounters& p = part.counters;
  if (p.undecodable > a.undecodable || p.hpack_errors > a.hpack_errors ||
      p.invalid_frames > a.invalid_frames || p.skipped_bytes != 0) {
    return "matcher: a prefix gave up where the whole did not";
  }
  return "";
}

// Empty when every property holds, else what broke.
inline std::string check_input(std::string_view input) {
  Rng rng(input);
  std::vector<Record> records = parse_records(input);
  std::string failure = check_frames(records, rng);
  if (failure.empty()) failure = check_matcher(records, rng);
  return failure;
}

}  // namespace hodos::protocols::http2::fuzz
