// Feeding the captured fixtures to an HTTP/2 ConnectionMatcher from either side, whole, cut or
// shortened, and summarising what comes out so that runs can be compared.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "fixtures.h"
#include "protocols/http2/match.h"

namespace hodos::protocols::http2::testing {

// One chunk as the agent would feed it: which side sent it, what was captured, how long it was.
struct Piece {
  Sender sender;
  std::string_view captured;
  uint64_t length = 0;  // 0: captured.size()
  bool length_only = false;
};

struct Replayed {
  std::vector<Exchange> exchanges;
  MatchCounters counters;
  bool active = false;
};

inline Direction direction_of(Sender sender, Role role) {
  // The traced server reads what the client sent; the traced client writes it.
  bool egress = (sender == kClient) == (role == Role::kClient);
  return egress ? Direction::kEgress : Direction::kIngress;
}

// Feeds `pieces` to a matcher that sees the connection from `role` (kUnknown: the matcher
// decides; the chunks are then read as the server's). Every chunk gets the next timestamp,
// from 1000 on in steps of 1000.
inline Replayed replay(const std::vector<Piece>& pieces, Role role, bool close = true,
                       MatchLimits limits = {}) {
  Replayed run;
  ConnectionMatcher matcher(
      role, [&](Exchange&& e) { run.exchanges.push_back(std::move(e)); }, limits);
  Role seen_as = role == Role::kUnknown ? Role::kServer : role;
  uint64_t ts = 0;
  for (const Piece& p : pieces) {
    ts += 1000;
    matcher.feed(direction_of(p.sender, seen_as), {p.captured, p.length, ts, p.length_only});
  }
  if (close) matcher.close();
  run.counters = matcher.counters();
  run.active = matcher.active();
  return run;
}

inline std::vector<Piece> pieces_of(const Fixture& f) {
  std::vector<Piece> out;
  for (const Segment& s : f.segments) out.push_back({s.sender, s.bytes});
  return out;
}

inline Replayed replay(const Fixture& f, Role role, bool close = true, MatchLimits limits = {}) {
  return replay(pieces_of(f), role, close, limits);
}

// All the bytes one side sent.
inline std::string sent_by(const Fixture& f, Sender sender) {
  std::string out;
  for (const Segment& s : f.segments) {
    if (s.sender == sender) out += s.bytes;
  }
  return out;
}

// An exchange as a span builder sees it, without timestamps.
inline std::string summary(const Exchange& e) {
  std::string s = "#" + std::to_string(e.stream_id) + " " + e.request.method + " " +
                  e.request.path + " -> " + std::to_string(e.response.status);
  s += " req=" + std::to_string(e.request.body.bytes);
  s += " resp=" + std::to_string(e.response.body.bytes);
  if (e.request.body.messages || e.response.body.messages) {
    s += " msgs=" + std::to_string(e.request.body.messages) + "/" +
         std::to_string(e.response.body.messages);
  }
  if (e.response.grpc_status >= 0) s += " grpc=" + std::to_string(e.response.grpc_status);
  if (e.response.has_trailers) s += " trailers";
  if (e.request.pushed) s += " pushed";
  if (e.response.interim_status) s += " interim=" + std::to_string(e.response.interim_status);
  if (e.end == StreamEnd::kReset) {
    s += std::string(" reset-by-") + (e.reset_by_client ? "client" : "server") + "=" +
         std::string(error_code_name(e.reset_error_code));
  }
  if (e.end == StreamEnd::kIncomplete) s += " incomplete";
  if (!e.request.body.complete) s += " request-open";
  return s;
}

inline std::vector<std::string> summaries(const std::vector<Exchange>& exchanges) {
  std::vector<std::string> out;
  for (const Exchange& e : exchanges) out.push_back(summary(e));
  return out;
}

}  // namespace hodos::protocols::http2::testing

namespace hodos::protocols::http2::testing {

// Where a frame sits in one side's bytes (after the client's preface).
struct FrameAt {
  size_t offset = 0;  // of its header
  FrameHeader header;
  PayloadLayout layout;
  size_t content_offset() const { return offset + kFrameHeaderSize + layout.prefix_size; }
  size_t padding_offset() const { return content_offset() + layout.content_size; }
  size_t end() const { return offset + kFrameHeaderSize + header.length; }
};

inline std::vector<FrameAt> frames_of(std::string_view bytes, bool client) {
  std::vector<FrameAt> out;
  size_t offset = client ? kClientPreface.size() : 0;
  std::string_view rest = bytes.substr(offset);
  Frame frame;
  while (parse_frame(&rest, &frame) == ParseState::kSuccess) {
    out.push_back({offset, frame.header, frame.layout});
    offset = bytes.size() - rest.size();
  }
  return out;
}

inline std::vector<FrameAt> frames_of(const Fixture& f, Sender sender) {
  return frames_of(sent_by(f, sender), sender == kClient);
}

// The fixture with bytes [offset, offset + gap) of what `sender` sent uncaptured: the chunk
// holding `offset` is cut there and ends `gap` bytes later, as a capture shorter than the
// syscall would; the gap must lie within that chunk.
inline std::vector<Piece> with_gap(const Fixture& f, Sender sender, size_t offset, size_t gap,
                                   bool length_only = false) {
  std::vector<Piece> out;
  size_t at = 0;  // of the segment in the sender's bytes
  for (const Segment& s : f.segments) {
    if (s.sender != sender || offset < at || offset >= at + s.bytes.size()) {
      if (s.sender == sender) at += s.bytes.size();
      out.push_back({s.sender, s.bytes});
      continue;
    }
    size_t cut = offset - at;
    if (cut + gap > s.bytes.size()) throw std::logic_error("the gap leaves its chunk");
    out.push_back({s.sender, s.bytes.substr(0, cut), cut + gap, length_only});
    if (cut + gap < s.bytes.size()) out.push_back({s.sender, s.bytes.substr(cut + gap)});
    at += s.bytes.size();
  }
  return out;
}

// The first frame of `type` on `stream` (0: any stream) that `sender` sent, skipping `skip`.
inline FrameAt find_frame(const Fixture& f, Sender sender, FrameType type, uint32_t stream = 0,
                          size_t skip = 0) {
  for (const FrameAt& at : frames_of(f, sender)) {
    if (at.header.is(type) && (stream == 0 || at.header.stream_id == stream) && skip-- == 0) {
      return at;
    }
  }
  throw std::logic_error("no such frame in " + std::string(f.name));
}

}  // namespace hodos::protocols::http2::testing
