// Builders for Kafka requests and responses as the protocol guide lays them out (big-endian
// primitives, classic and flexible encodings), for what the captures do not show: other
// versions, flexible encodings, errors, acks=0, several topics, idle polls.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace hodos::protocols::kafka::testing {

inline std::string be(uint64_t v, size_t bytes) {
  std::string out;
  for (size_t i = bytes; i-- > 0;) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  return out;
}
inline std::string uvarint(uint64_t v) {
  std::string out;
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
  return out;
}
inline std::string str(std::string_view s, bool compact) {
  return (compact ? uvarint(s.size() + 1) : be(s.size(), 2)) + std::string(s);
}
inline std::string null_str(bool compact) { return compact ? uvarint(0) : be(0xffff, 2); }
inline std::string array_len(size_t n, bool compact) { return compact ? uvarint(n + 1) : be(n, 4); }
inline std::string bytes_field(std::string_view b, bool compact) {
  return (compact ? uvarint(b.size() + 1) : be(b.size(), 4)) + std::string(b);
}
inline std::string no_tags() { return std::string(1, '\0'); }

// A v2 record batch of `count` records with `value` as each record's value (the records are not
// laid out exactly; only the header's fields are read).
inline std::string record_batch(int64_t base_offset, int32_t count, std::string_view value) {
  std::string records;
  for (int32_t i = 0; i < count; ++i) records += uvarint(value.size()) + std::string(value);
  std::string after_length = be(0, 4) /*leader epoch*/ + std::string(1, '\2') /*magic*/ +
                             be(0, 4) /*crc*/ + be(0, 2) /*attributes*/ +
                             be(static_cast<uint32_t>(count - 1), 4) + be(1700000000000, 8) +
                             be(1700000000000, 8) + be(~0ULL, 8) + be(0xffff, 2) +
                             be(0xffffffff, 4) + be(static_cast<uint32_t>(count), 4) + records;
  return be(static_cast<uint64_t>(base_offset), 8) + be(after_length.size(), 4) + after_length;
}

inline std::string frame(std::string_view body) { return be(body.size(), 4) + std::string(body); }

inline std::string request(int16_t key, int16_t version, int32_t id, std::string_view client,
                           bool flexible, std::string_view body) {
  std::string h = be(static_cast<uint16_t>(key), 2) + be(static_cast<uint16_t>(version), 2) +
                  be(static_cast<uint32_t>(id), 4) + str(client, false);
  if (flexible) h += no_tags();
  return frame(h + std::string(body));
}
inline std::string response(int32_t id, bool flexible, std::string_view body) {
  return frame(be(static_cast<uint32_t>(id), 4) + (flexible ? no_tags() : "") + std::string(body));
}

struct PartitionRecords {
  int32_t partition;
  std::string records;  // record batches
};
struct TopicRecords {
  std::string topic;
  std::vector<PartitionRecords> partitions;
  std::string id = {};  // v13+: the topic id (16 bytes) goes in place of the name
};

// The topic as a v13+ message names it (its id), or as older ones do (its name).
template <class Topic>
std::string topic_field(const Topic& t, int16_t version, bool flex) {
  return version >= 13 ? t.id : str(t.topic, flex);
}

// Produce v3-v8 (classic) or v9+ (flexible).
inline std::string produce_request(int16_t version, int32_t id, std::string_view client, int16_t acks,
                                   const std::vector<TopicRecords>& topics) {
  const bool flex = version >= 9;
  std::string b = null_str(flex) + be(static_cast<uint16_t>(acks), 2) + be(30000, 4) +
                  array_len(topics.size(), flex);
  for (const auto& t : topics) {
    b += topic_field(t, version, flex) + array_len(t.partitions.size(), flex);
    for (const auto& p : t.partitions) {
      b += be(static_cast<uint32_t>(p.partition), 4) + bytes_field(p.records, flex);
      if (flex) b += no_tags();
    }
    if (flex) b += no_tags();
  }
  if (flex) b += no_tags();
  return request(0, version, id, client, flex, b);
}

struct PartitionResult {
  int32_t partition;
  int16_t error = 0;
  int64_t base_offset = 0;
};
struct TopicResult {
  std::string topic;
  std::vector<PartitionResult> partitions;
  std::string id = {};  // v13+
};

inline std::string produce_response(int16_t version, int32_t id, const std::vector<TopicResult>& topics) {
  const bool flex = version >= 9;
  std::string b = array_len(topics.size(), flex);
  for (const auto& t : topics) {
    b += topic_field(t, version, flex) + array_len(t.partitions.size(), flex);
    for (const auto& p : t.partitions) {
      b += be(static_cast<uint32_t>(p.partition), 4) + be(static_cast<uint16_t>(p.error), 2) +
           be(static_cast<uint64_t>(p.base_offset), 8);
      if (version >= 2) b += be(~0ULL, 8);
      if (version >= 5) b += be(0, 8);
      if (version >= 8) b += array_len(0, flex) + (p.error ? str("the broker's words", flex) : null_str(flex));
      if (flex) b += no_tags();
    }
    if (flex) b += no_tags();
  }
  b += be(0, 4);  // throttle_time_ms
  if (flex) b += no_tags();
  return response(id, flex, b);
}

// Fetch v4-v11 (classic) or v12 (flexible); the request body is not read by the matcher.
inline std::string fetch_request(int16_t version, int32_t id, std::string_view client) {
  const bool flex = version >= 12;
  return request(1, version, id, client, flex, be(0xffffffff, 4) + be(500, 4) + be(1, 4));
}

struct FetchPartition {
  int32_t partition;
  int16_t error = 0;
  std::string records;
};
struct FetchTopic {
  std::string topic;
  std::vector<FetchPartition> partitions;
  std::string id = {};  // v13+
};

inline std::string fetch_response(int16_t version, int32_t id, const std::vector<FetchTopic>& topics,
                                  int16_t top_error = 0) {
  const bool flex = version >= 12;
  std::string b = be(0, 4);                                       // throttle_time_ms
  if (version >= 7) b += be(static_cast<uint16_t>(top_error), 2) + be(0, 4);  // error, session
  b += array_len(topics.size(), flex);
  for (const auto& t : topics) {
    b += topic_field(t, version, flex) + array_len(t.partitions.size(), flex);
    for (const auto& p : t.partitions) {
      b += be(static_cast<uint32_t>(p.partition), 4) + be(static_cast<uint16_t>(p.error), 2) +
           be(100, 8) + be(100, 8);  // high_watermark, last_stable_offset (v4+)
      if (version >= 5) b += be(0, 8);  // log_start_offset
      b += array_len(0, flex);          // aborted_transactions
      if (version >= 11) b += be(0xffffffff, 4);
      b += bytes_field(p.records, flex);
      if (flex) b += no_tags();
    }
    if (flex) b += no_tags();
  }
  if (flex) b += no_tags();
  return response(id, flex, b);
}

// Metadata v9+ (flexible): the request's body is not read by the matcher; the answer names each
// topic with its id (v10+) and one partition led by broker 1.
inline std::string metadata_request(int16_t version, int32_t id, std::string_view client) {
  return request(3, version, id, client, version >= 9, array_len(0, true) + std::string(1, '\1') + no_tags());
}
struct MetadataTopic {
  std::string topic;
  std::string id;  // 16 bytes
};
inline std::string metadata_response(int16_t version, int32_t id, const std::vector<MetadataTopic>& topics) {
  const bool flex = version >= 9;
  std::string b = be(0, 4);  // throttle_time_ms
  b += array_len(1, flex) + be(1, 4) + str("broker-1", flex) + be(9092, 4) + null_str(flex) +
       (flex ? no_tags() : "");
  b += str("cluster-a", flex) + be(1, 4);  // cluster_id, controller_id
  b += array_len(topics.size(), flex);
  for (const auto& t : topics) {
    b += be(0, 2) + str(t.topic, flex);
    if (version >= 10) b += t.id;
    b += std::string(1, '\0');  // is_internal
    b += array_len(1, flex) + be(0, 2) + be(0, 4) + be(1, 4) + be(0, 4) +  // partition 0, leader 1, epoch
         array_len(1, flex) + be(1, 4) + array_len(1, flex) + be(1, 4) + array_len(0, flex) +
         (flex ? no_tags() : "");
    b += be(0, 4);  // topic_authorized_operations
    if (flex) b += no_tags();
  }
  if (flex) b += no_tags();
  return response(id, flex, b);
}

}  // namespace hodos::protocols::kafka::testing
