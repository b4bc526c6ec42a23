// Kafka client connections: recognising one from the first request the client writes, and pairing
// Produce and Fetch requests with their responses (by correlation id) into calls with the
// OpenTelemetry messaging conventions.
//
// What a call says:
//  * operation "send" (a Produce) or "poll" (a Fetch that returned records); system "kafka".
//  * destination: the topic, when the call concerns exactly one; partition: the partition id,
//    when exactly one; message_count: records sent or received, counted from the record batch
//    headers (absent when one was not captured); offset: a send's base offset to one partition.
//  * client_id: the request header's client id.
//  * errors: the first partition (or top-level) error code, by its Kafka name
//    ("NOT_LEADER_OR_FOLLOWER"), or its number when the name is not in the table.
//  * Fetches that returned no records (a consumer's idle long polls) are counted, never calls;
//    so are every other API (Metadata, heartbeats, offsets): only their correlation ids are kept.
//  * Produce with acks=0 has no response: its call ends with the request.
//  * Message keys, values and headers are never read.
//  * Fetch and Produce v13 and later name topics by id (KIP-516): the names come from the
//    Metadata answers (v10+) of any connection of the same process (DbMatchOptions::
//    kafka_topic_names); an id no answer named leaves the destination empty.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "protocols/db_call.h"

namespace hodos::protocols::kafka {

// Topic ids (16 bytes, KIP-516) to topic names, learnt from one client process's Metadata answers;
// its connections to every broker share it (the event thread only). Bounded: when full, it starts
// again empty (the client's next Metadata refresh names its topics again).
class TopicNames {
 public:
  static constexpr size_t kMaxTopics = 10000;
  void learn(std::string_view id, std::string_view name);
  std::optional<std::string_view> name_of(std::string_view id) const;
  size_t size() const { return names_.size(); }

 private:
  std::unordered_map<std::string, std::string> names_;
};

// From the first bytes the client wrote: a request header (size, a known API key, a plausible
// version, a client id of printable characters or null) whose size fits. HTTP, TLS, the
// PostgreSQL, MySQL and Redis client messages are not.
bool looks_like_kafka_client(std::string_view first_egress_bytes);

// `from_start`: the matcher sees the connection from its first byte. Otherwise its reads are
// skipped until one starts with the answer to a request it saw.
std::unique_ptr<DbMatcher> make_kafka_matcher(DbMatcher::Sink sink, DbMatchOptions options = {},
                                              bool from_start = true);

// "NOT_LEADER_OR_FOLLOWER" for 6; the number as text for codes not in the table.
std::string error_name(int16_t code);

}  // namespace hodos::protocols::kafka
