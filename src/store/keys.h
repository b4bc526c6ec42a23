// The store's key layouts, one place for writers, readers and the retention filter:
//
//   spans       trace_id[16] batch_be64 'g' -> start_le64 (the earliest of the spans), then
//                                               per span: span_id[8] start_le64
//                                               varint(zigzag(end - start)) varint(resource_ref)
//                                               varint(scope_ref) varint(size) + OTLP Span
//                                               protobuf without ids and times
//               trace_id[16] span_id[8] -> one span, as written before 2026-12-03: start_le64
//                                          varint(zigzag(end - start)) varint(resource_ref)
//                                          varint(scope_ref) + the Span protobuf
//   dicts       'R' id_be64 -> ResourceSpans protobuf (resource + schema_url, no scope_spans)
//               'S' id_be64 -> ScopeSpans protobuf (scope + schema_url, no spans)
//               'r' key \0 value \0 resource_id_be64 -> ""   (resources carrying a tag)
//               'K' key \0 value -> varint(tag id)           (the tag dictionary)
//               'X' key -> ""                                (keys with too many values)
//   postings    'S' service \0 minute_be64 batch_be64                     } -> posting list
//               'O' service \0 operation \0 minute_be64 batch_be64       }    (postings.h)
//               'T' service \0 key \0 value \0 minute_be64 batch_be64     }
//               'R' trace_id[16] minute_be64 batch_be64 -> ""  (a trace with a span sent again)
//   meta        's' service -> ""     'o' service \0 kind \0 operation -> ""    'c' -> cutoff_be64
//               'b' -> batch_be64 (the highest batch id given out)
//   aggregates  'M' service \0 kind \0 operation \0 minute_be64 -> Aggregate
//               'm' service \0 kind \0 minute_be64 -> Aggregate (all operations)
//               'E' minute_be64 parent \0 child -> [calls, errors]
//               'G' minute_be64 -> [spans, bytes]  (all services; drives size retention)
//
// A batch writes one spans entry per trace (a memtable insert per trace, not per span); a span
// sent again later is in two entries, and a read keeps the later one (batch ids only grow). Its
// earlier postings stay too, so an 'R' entry marks the trace: a search reads such a trace to
// check it instead of trusting the postings.
// A posting holds what one ingested batch has for one body, of the spans that start in one
// minute (so a search from time t scans from t's minute and misses no span), so a batch writes
// one index entry per body and minute instead of one per trace. Batch ids only grow, also across
// restarts ('b'), so a body's postings arrive in key order and never overwrite one another.
// 'T' postings exist only for tags that are rare by nature (errors, failing status codes) or
// configured. Times are Unix ns; minute_be64 is the ns at the start of the minute. Names
// containing \0 are never put in keys (such spans are stored, found by trace id, but not
// indexed).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "store/encoding.h"

namespace hodos::store::keys {

inline constexpr size_t kTraceIdSize = 16;
inline constexpr size_t kSpanIdSize = 8;
// What follows the body of a postings key: minute_be64, batch_be64.
inline constexpr size_t kPostingSuffix = 16;
inline constexpr size_t kSpanHeaderMin = 8;  // start_le64, then the spans or the refs
inline constexpr char kSpanGroupMark = 'g';   // ends the key of a batch's spans of a trace
inline constexpr size_t kSpanGroupKeySize = kTraceIdSize + 8 + 1;

inline constexpr char kIndexService = 'S';
inline constexpr char kIndexOperation = 'O';
inline constexpr char kIndexTag = 'T';
inline constexpr char kIndexResent = 'R';
inline constexpr char kMetaService = 's';
inline constexpr char kMetaOperation = 'o';
inline constexpr char kMetaCutoff = 'c';
inline constexpr char kMetaBatch = 'b';
inline constexpr char kDictResource = 'R';
inline constexpr char kDictScope = 'S';
inline constexpr char kDictResourceTag = 'r';
inline constexpr char kDictTag = 'K';
inline constexpr char kDictOverflow = 'X';
inline constexpr char kAggOperation = 'M';
inline constexpr char kAggService = 'm';
inline constexpr char kAggEdge = 'E';
inline constexpr char kAggTotal = 'G';

inline bool has_nul(std::string_view s) { return s.find('\0') != std::string_view::npos; }

inline constexpr uint64_t kMinuteNs = 60'000'000'000ULL;
inline uint64_t minute_of(uint64_t ns) { return ns - ns % kMinuteNs; }

// The smallest key greater than every key starting with `prefix` ("" when there is none).
inline std::string prefix_successor(std::string prefix) {
  while (!prefix.empty()) {
    unsigned char c = static_cast<unsigned char>(prefix.back());
    if (c != 0xff) {
      prefix.back() = static_cast<char>(c + 1);
      return prefix;
    }
    prefix.pop_back();
  }
  return prefix;
}

// The minute of a postings entry (0 when malformed), and its body (the key without the suffix).
inline uint64_t posting_minute(std::string_view key) {
  return key.size() > kPostingSuffix ? get_be64(key.data() + key.size() - kPostingSuffix) : 0;
}
inline std::string_view posting_body(std::string_view key) {
  return key.size() > kPostingSuffix ? key.substr(0, key.size() - kPostingSuffix) : key;
}

// Start of the minute an aggregates entry counts (0 when malformed).
inline uint64_t aggregate_minute(std::string_view key) {
  if (key.empty()) return 0;
  if (key[0] == kAggEdge || key[0] == kAggTotal) {
    return key.size() >= 9 ? get_be64(key.data() + 1) : 0;
  }
  return key.size() >= 9 ? get_be64(key.data() + key.size() - 8) : 0;
}

// Earliest span start of a spans value (0 when malformed).
inline uint64_t span_value_time(std::string_view value) {
  return value.size() >= kSpanHeaderMin ? get_le64(value.data()) : 0;
}

}  // namespace hodos::store::keys
