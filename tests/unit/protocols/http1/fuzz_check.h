// The properties the http1 fuzz target checks on every input, shared with the unit test that
// replays the in-tree corpus (tests/fuzz/corpus/http1): the parsers never read outside their
// input and never call a prefix of a message Invalid; the matcher, fed the input cut into chunks
// (some cut short as the capture does), never crashes, hands out only owned, well-formed exchanges,
// and without capture gaps finds the same exchanges however the bytes are chunked.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "../fuzz_support.h"
#include "protocols/http1/attributes.h"
#include "protocols/http1/match.h"
#include "protocols/http1/parse.h"

namespace hodos::protocols::http1::fuzz {

using Rng = fuzz_support::Rng;

inline bool within(std::string_view inner, std::string_view outer) {
  if (inner.empty()) return true;
  auto in = reinterpret_cast<uintptr_t>(inner.data());
  auto out = reinterpret_cast<uintptr_t>(outer.data());
  return in >= out && in + inner.size() <= out + outer.size();
}

inline bool head_views_within(const MessageHead& m, std::string_view outer) {
  if (!within(m.raw, outer)) return false;
  for (const Header& h : m.headers) {
    if (!within(h.name, m.raw) || !within(h.value, m.raw)) return false;
  }
  return true;
}

inline bool views_within(const Request& r, std::string_view outer) {
  return head_views_within(r, outer) && within(r.method, r.raw) && within(r.target, r.raw);
}
inline bool views_within(const Response& r, std::string_view outer) {
  return head_views_within(r, outer) && within(r.reason, r.raw);
}

// A parse either consumes a prefix (kSuccess) or leaves the buffer exactly as it was.
inline bool consumed_properly(std::string_view input, std::string_view after, ParseState st) {
  if (st != ParseState::kSuccess)
    return after.data() == input.data() && after.size() == input.size();
  return after.size() <= input.size() &&
         after.data() == input.data() + (input.size() - after.size());
}

// One parse function over the input and its prefixes.
template <class Message, class Parse>
std::string check_parse(std::string_view input, Rng& rng, const char* what, Parse parse) {
  Message m;
  std::string_view view = input;
  ParseState st = parse(&view, &m);
  if (!consumed_properly(input, view, st)) return std::string(what) + ": bad consumption";
  if (st == ParseState::kSuccess) {
    if (!views_within(m, input)) return std::string(what) + ": view outside the input";
    Message copy = m;
    own_bytes(&copy);
    if (!views_within(copy, {copy.storage.get(), copy.raw.size()}) || copy.raw != m.raw ||
        copy.headers.size() != m.headers.size()) {
      return std::string(what) + ": own_bytes lost the head";
    }
    size_t used = input.size() - view.size();
    if (used == 0) return std::string(what) + ": success without consuming";
    std::string_view shorter = input.substr(0, used - 1 - rng.below(std::min<size_t>(used, 64)));
    if (parse(&shorter, &m) != ParseState::kNeedsMoreData) {
      return std::string(what) + ": a prefix of a parsed message is not NeedsMoreData";
    }
  }
  // Truncation never turns into Invalid: an invalid prefix means an invalid whole.
  std::string_view prefix = input.substr(0, rng.below(input.size() + 1));
  ParseState prefix_st = parse(&prefix, &m);
  if (prefix_st == ParseState::kInvalid && st != ParseState::kInvalid) {
    return std::string(what) + ": a prefix is Invalid but the whole is not";
  }
  if (st == ParseState::kNeedsMoreData && prefix_st != ParseState::kNeedsMoreData) {
    return std::string(what) + ": the whole needs more data but a prefix does not";
  }
  return "";
}

inline std::string check_parsers(std::string_view input, Rng& rng) {
  std::string failure = check_parse<Request>(input, rng, "parse_request", parse_request);
  if (failure.empty()) {
    failure = check_parse<Request>(input, rng, "parse_request_head", parse_request_head);
  }
  for (std::string_view method : {"GET", "HEAD", "CONNECT"}) {
    if (!failure.empty()) break;
    failure = check_parse<Response>(
        input, rng, "parse_response",
        [method](std::string_view* b, Response* r) { return parse_response(b, method, r); });
  }
  if (!failure.empty()) return failure;

  // The chunked decoder gives the same answer fed whole or in pieces.
  ChunkedDecoder whole;
  std::string_view all = input;
  ParseState whole_st = whole.feed(&all);
  ChunkedDecoder pieces;
  std::string_view rest = input;
  ParseState pieces_st = ParseState::kNeedsMoreData;
  size_t consumed = 0;
  while (pieces_st == ParseState::kNeedsMoreData && !rest.empty()) {
    std::string_view piece = rest.substr(0, 1 + rng.below(64));
    size_t before = piece.size();
    pieces_st = pieces.feed(&piece);
    consumed += before - piece.size();
    rest.remove_prefix(before);
  }
  if (pieces_st != whole_st || pieces.data_bytes() != whole.data_bytes() ||
      (whole_st != ParseState::kNeedsMoreData && consumed != input.size() - all.size())) {
    return "chunked decoder: pieces and whole disagree";
  }

  std::string route = route_template(input);
  if (route.find_first_of("?#") != std::string::npos || route_template(route) != route) {
    return "route_template: not idempotent or kept a query";
  }
  (void)is_credential_header(input);
  return "";
}

struct Piece {
  Direction direction;
  std::string_view captured;
  uint64_t length;
};

struct MatchRun {
  std::vector<std::string> exchanges;  // a summary of each, for comparing runs
  size_t unanswered = 0;               // of them, requests the close left without a response
  MatchCounters counters;
  std::string failure;
};

inline std::string check_exchange(const Exchange& e) {
  if (e.start_ns > e.end_ns) return "exchange ends before it starts";
  if (e.no_response) {
    // A client's request the close left unanswered: no response at all.
    if (e.response.status != 0 || e.response.storage) return "unanswered exchange has a response";
    if (!e.request.storage) return "exchange not owned";
    if (!views_within(e.request, {e.request.storage.get(), e.request.raw.size()})) {
      return "exchange view outside its storage";
    }
    return e.request.body.skipped > e.request.body.seen ? "more body skipped than seen" : "";
  }
  if (e.request.start_ns > e.response.start_ns) return "response starts before its request";
  if (!e.request.storage || !e.response.storage) return "exchange not owned";
  if (!views_within(e.request, {e.request.storage.get(), e.request.raw.size()}) ||
      !views_within(e.response, {e.response.storage.get(), e.response.raw.size()})) {
    return "exchange view outside its storage";
  }
  if (e.response.body.skipped > e.response.body.seen ||
      e.request.body.skipped > e.request.body.seen) {
    return "more body skipped than seen";
  }
  return "";
}

inline MatchRun run_matcher(Role role, const std::vector<Piece>& pieces, bool close) {
  MatchRun run;
  ConnectionMatcher matcher(role, [&run](Exchange&& e) {
    if (std::string f = check_exchange(e); !f.empty() && run.failure.empty()) run.failure = f;
    if (e.no_response) ++run.unanswered;
    run.exchanges.push_back(
        std::string(e.request.method) + " " + std::string(e.request.target) + " " +
        std::to_string(e.response.status) + " " + std::to_string(e.request.body.seen) + "/" +
        std::to_string(e.response.body.seen) + " " + std::to_string(e.response.interim_status));
  });
  uint64_t ts = 1;
  for (const Piece& p : pieces) matcher.feed(p.direction, {p.captured, p.length, ts++});
  if (close) matcher.close();
  run.counters = matcher.counters();
  const MatchCounters& c = run.counters;
  if (run.failure.empty() &&
      (c.exchanges > c.requests || c.exchanges > c.responses ||
       c.exchanges + run.unanswered != run.exchanges.size() ||
       run.unanswered != c.unanswered_requests || c.unanswered_requests > c.unmatched_requests ||
       (run.unanswered > 0 && (!close || role == Role::kServer)))) {
    run.failure = "counters disagree with the exchanges";
  }
  return run;
}

// Cuts `bytes` into chunks; with `gaps`, some chunks lose their tail as a short capture does.
inline void cut(std::string_view bytes, Direction d, Rng& rng, bool gaps, std::vector<Piece>* out) {
  while (!bytes.empty()) {
    size_t size = 1 + rng.below(rng.below(4) == 0 ? bytes.size() : 96);
    std::string_view piece = bytes.substr(0, size);
    std::string_view captured = piece;
    if (gaps && rng.below(8) == 0) captured = piece.substr(0, rng.below(piece.size() + 1));
    out->push_back({d, captured, piece.size()});
    bytes.remove_prefix(piece.size());
  }
}

inline std::string check_matcher(std::string_view input, Rng& rng) {
  // Requests are what comes before the first line starting like a status line, responses the
  // rest (a request line has "HTTP/1." too, but not at its start).
  size_t split = input.starts_with("HTTP/1.") ? 0 : input.find("\nHTTP/1.");
  if (split != 0 && split != std::string_view::npos) ++split;
  std::string_view requests = input.substr(0, split);
  std::string_view responses = split == std::string_view::npos ? "" : input.substr(split);

  // Random chunking, capture gaps, both directions interleaved, any role.
  std::vector<Piece> req_pieces, resp_pieces, mixed;
  cut(requests, Direction::kIngress, rng, true, &req_pieces);
  cut(responses, Direction::kEgress, rng, true, &resp_pieces);
  size_t i = 0, j = 0;
  while (i < req_pieces.size() || j < resp_pieces.size()) {
    bool take_request = j == resp_pieces.size() || (i < req_pieces.size() && rng.below(3) != 0);
    mixed.push_back(take_request ? req_pieces[i++] : resp_pieces[j++]);
  }
  Role role = static_cast<Role>(rng.below(3));
  if (role == Role::kClient) {
    for (Piece& p : mixed) {
      p.direction = p.direction == Direction::kIngress ? Direction::kEgress : Direction::kIngress;
    }
  }
  MatchRun chaos = run_matcher(role, mixed, rng.below(2) == 0);
  if (!chaos.failure.empty()) return "matcher (gaps): " + chaos.failure;

  // Without gaps, chunking must not change what is found: one chunk per direction versus many.
  std::vector<Piece> whole, chunked;
  if (!requests.empty()) whole.push_back({Direction::kIngress, requests, requests.size()});
  if (!responses.empty()) whole.push_back({Direction::kEgress, responses, responses.size()});
  cut(requests, Direction::kIngress, rng, false, &chunked);
  cut(responses, Direction::kEgress, rng, false, &chunked);
  MatchRun a = run_matcher(Role::kServer, whole, true);
  MatchRun b = run_matcher(Role::kServer, chunked, true);
  if (!a.failure.empty() || !b.failure.empty()) return "matcher: " + a.failure + b.failure;
  // When the bytes parse cleanly in one piece, they must parse the same way in many.
  const MatchCounters& x = a.counters;
  const MatchCounters& y = b.counters;
  bool clean = x.skipped_bytes == 0 && x.truncated == 0 && x.invalid == 0 && !x.not_http;
  if (clean &&
      (a.exchanges != b.exchanges || y.skipped_bytes != 0 || y.truncated != 0 ||
       x.requests != y.requests || x.responses != y.responses ||
       x.interim_responses != y.interim_responses || x.unmatched_requests != y.unmatched_requests ||
       x.unmatched_responses != y.unmatched_responses || x.upgraded != y.upgraded)) {
    return "matcher: chunking changed what was found";
  }
  return "";
}

// Empty when every property holds, else what broke.
inline std::string check_input(std::string_view input) {
  Rng rng(input);
  std::string failure = check_parsers(input, rng);
  if (failure.empty()) failure = check_matcher(input, rng);
  return failure;
}

}  // namespace hodos::protocols::http1::fuzz
