// What the kafka fuzz target checks on every input, shared with the unit tests that replay the
// corpus (tests/fuzz/corpus/kafka). An input is a conversation of records (fuzz_support.h). The
// matcher is fed the records as chunks, cut at random places; it must never crash, must hand out
// well-formed calls only (no message content, a known operation, an error name), and, when the
// bytes parse cleanly, find the same calls however the records are chunked.
#pragma once

#include <cctype>
#include <string>
#include <string_view>
#include <vector>

#include "../fuzz_support.h"
#include "protocols/kafka/match.h"

namespace hodos::protocols::kafka::fuzz {

using fuzz_support::cut;
using fuzz_support::encode_records;
using fuzz_support::parse_records;
using fuzz_support::Piece;
using fuzz_support::Record;
using fuzz_support::Rng;

// Message keys and values are free bytes, so a fixed mark would also be a legal topic name the
// fuzzer can write. A destination is a topic name ([A-Za-z0-9._-]): content that reached it would
// show as a character outside that set. (The other fields have their own grammars, checked below;
// the client id is the client's own free text.)
inline bool leaks(const DbCall& c) {
  for (char ch : c.destination) {
    if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '_' || ch == '-')) {
      return true;
    }
  }
  return c.destination.size() > 249;
}

inline std::string check_call(const DbCall& c) {
  if (c.system != "kafka") return "wrong system";
  if (c.operation != "send" && c.operation != "poll") return "unknown operation";
  if (c.start_ns > c.end_ns) return "call ends before it starts";
  if (c.error != !c.status_code.empty()) return "error and status code disagree";
  if (!c.status_code.empty() && c.status_code.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ_-0123456789") !=
                                    std::string::npos) {
    return "status code is not an error name or number";
  }
  if (c.message_count < -1) return "negative message count";
  if (!c.partition.empty() && c.partition.find_first_not_of("-0123456789") != std::string::npos) {
    return "partition is not a number";
  }
  if (c.offset >= 0 && (c.operation != "send" || c.partition.empty())) return "offset without one partition";
  if (!c.query_text.empty() || !c.collection.empty()) return "database fields on a messaging call";
  if (leaks(c)) return "message content leaked";
  return "";
}

using Run = fuzz_support::DbRun;

inline std::string describe(const DbCall& c) {
  return c.operation + "|" + c.destination + "|" + c.partition + "|" +
         std::to_string(c.message_count) + "|" + std::to_string(c.offset) + "|" + c.client_id + "|" +
         c.status_code + "|" + (c.truncated ? "T" : "");
}

inline Run run_matcher(const std::vector<Piece>& pieces, const DbMatchOptions& options, bool close) {
  // Each run learns topic ids from the conversation's own Metadata answers, from nothing.
  DbMatchOptions fresh = options;
  fresh.kafka_topic_names = std::make_shared<TopicNames>();
  return fuzz_support::run_db_matcher(
      [&](DbMatcher::Sink sink) { return make_kafka_matcher(std::move(sink), fresh); }, pieces,
      close, [](const DbCall& c) { return check_call(c); },
      [](const DbCall& c) { return describe(c); });
}

inline std::string check_input(std::string_view input) {
  Rng rng(input);
  std::vector<Record> records = parse_records(input);
  DbMatchOptions options;
  options.max_pending_requests = 1 + rng.below(8);

  return fuzz_support::check_db_chunking(records, rng, options, run_matcher);
}

}  // namespace hodos::protocols::kafka::fuzz
