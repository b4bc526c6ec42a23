// What the protocol fuzz checks (tests/unit/protocols/*/fuzz_check.h) share.
#pragma once

#include <algorithm>
#include <memory>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "protocols/db_call.h"
#include "protocols/stream.h"

namespace hodos::protocols::fuzz_support {

// Choices derived from the input (splitmix64), so that a corpus entry always replays the same.
class Rng {
 public:
  explicit Rng(std::string_view seed) {
    for (char c : seed) state_ = (state_ ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
  }
  uint64_t next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  uint64_t below(uint64_t n) { return n == 0 ? 0 : next() % n; }
  template <size_t N>
  std::string_view pick(const std::string_view (&items)[N]) {
    return items[below(N)];
  }

 private:
  uint64_t state_ = 0xcbf29ce484222325ULL;
};

// A two-direction conversation as fuzz input: records of
//   [flags] [length: 2 bytes, little-endian] [bytes]
// where flags bit 0 is the direction (1 = ingress) and bit 1 asks for the capture to cut the
// record short (the matchers of client protocols: mysql/, kafka/).
struct Record {
  Direction direction;
  bool cut;
  std::string_view bytes;
};

inline std::vector<Record> parse_records(std::string_view input) {
  std::vector<Record> out;
  while (input.size() >= 3) {
    auto flags = static_cast<uint8_t>(input[0]);
    size_t size = static_cast<uint8_t>(input[1]) | (static_cast<uint8_t>(input[2]) << 8);
    input.remove_prefix(3);
    size = std::min(size, input.size());
    out.push_back({(flags & 1) ? Direction::kIngress : Direction::kEgress, (flags & 2) != 0,
                   input.substr(0, size)});
    input.remove_prefix(size);
  }
  return out;
}

inline std::string encode_records(const std::vector<Record>& records) {
  std::string out;
  for (const Record& r : records) {
    for (size_t at = 0; at < r.bytes.size() || at == 0; at += 0xffff) {
      std::string_view part = r.bytes.substr(at, 0xffff);
      out.push_back(
          static_cast<char>((r.direction == Direction::kIngress ? 1 : 0) | (r.cut ? 2 : 0)));
      out.push_back(static_cast<char>(part.size() & 0xff));
      out.push_back(static_cast<char>(part.size() >> 8));
      out.append(part);
      if (r.bytes.empty()) break;
    }
  }
  return out;
}

struct Piece {
  Direction direction;
  std::string_view captured;
  uint64_t length;
};

// Cuts each record into chunks; with `gaps`, records marked cut (and some others) lose their
// tail as a short capture does.
inline std::vector<Piece> cut(const std::vector<Record>& records, Rng& rng, bool gaps) {
  std::vector<Piece> out;
  for (const Record& r : records) {
    std::string_view bytes = r.bytes;
    if (bytes.empty()) continue;
    bool whole = rng.below(3) == 0;
    while (!bytes.empty()) {
      size_t size = whole ? bytes.size() : 1 + rng.below(rng.below(4) == 0 ? bytes.size() : 24);
      std::string_view piece = bytes.substr(0, size);
      std::string_view captured = piece;
      if (gaps && (r.cut || rng.below(16) == 0))
        captured = piece.substr(0, rng.below(piece.size() + 1));
      out.push_back({r.direction, captured, piece.size()});
      bytes.remove_prefix(piece.size());
    }
  }
  return out;
}

// One run of a database or queue matcher over chunks: each call described, its counters, and
// the first check that failed.
struct DbRun {
  std::vector<std::string> calls;
  DbMatchCounters counters;
  std::string failure;
};

// Feeds `pieces` to the matcher `make(sink)` returns (stopping when it stops), closes it when
// asked, and checks each call with `check` (a failure, or "") and the counters against the calls.
template <class Make, class Check, class Describe>
DbRun run_db_matcher(Make&& make, const std::vector<Piece>& pieces, bool close, Check&& check,
                     Describe&& describe) {
  DbRun run;
  std::unique_ptr<DbMatcher> matcher = make([&](DbCall&& c) {
    if (std::string f = check(c); !f.empty() && run.failure.empty()) run.failure = f;
    run.calls.push_back(describe(c));
  });
  uint64_t ts = 1;
  for (const Piece& p : pieces) {
    matcher->feed(p.direction, {p.captured, p.length, ts++});
    if (!matcher->active()) break;
  }
  if (close) matcher->close();
  run.counters = matcher->counters();
  const DbMatchCounters& c = run.counters;
  if (run.failure.empty() && (c.calls != run.calls.size() || c.calls > c.requests)) {
    run.failure = "counters disagree with the calls";
  }
  if (run.failure.empty() && close && matcher->active()) run.failure = "active after close";
  return run;
}

// What every client-protocol fuzz check asks of its matcher (`run_matcher(pieces, options,
// close)` -> DbRun): fed with gaps, no call fails its check; without gaps, cutting the records
// into chunks changes nothing it finds.
template <class RunMatcher>
std::string check_db_chunking(const std::vector<Record>& records, Rng& rng,
                              const DbMatchOptions& options, RunMatcher&& run_matcher) {
  DbRun chaos = run_matcher(cut(records, rng, true), options, rng.below(2) == 0);
  if (!chaos.failure.empty()) return "gaps: " + chaos.failure;

  // Without gaps, chunking must not change what is found: one chunk per record versus many.
  std::vector<Piece> whole;
  for (const Record& r : records) {
    if (!r.bytes.empty()) whole.push_back({r.direction, r.bytes, r.bytes.size()});
  }
  DbRun a = run_matcher(whole, options, true);
  DbRun b = run_matcher(cut(records, rng, false), options, true);
  if (!a.failure.empty() || !b.failure.empty()) return "chunks: " + a.failure + b.failure;
  const DbMatchCounters& x = a.counters;
  const bool clean = x.invalid == 0 && x.truncated == 0 && x.skipped_bytes == 0 &&
                     x.unmatched_responses == 0 && !x.gave_up;
  if (clean && (a.calls != b.calls || b.counters.invalid != 0 || b.counters.skipped_bytes != 0 ||
                b.counters.requests != x.requests ||
                b.counters.unmatched_requests != x.unmatched_requests)) {
    return "chunking changed what was found";
  }
  return "";
}

}  // namespace hodos::protocols::fuzz_support
