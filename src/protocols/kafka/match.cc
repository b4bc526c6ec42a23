#include "protocols/kafka/match.h"

#include <algorithm>
#include <cctype>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace hodos::protocols::kafka {

namespace {

constexpr int16_t kProduce = 0;
constexpr int16_t kFetch = 1;
constexpr int16_t kMetadata = 3;
constexpr size_t kTopicId = 16;  // a UUID (KIP-516)
constexpr int16_t kMaxApiKey = 100;     // Kafka 4.x is in the 90s
constexpr int16_t kMaxApiVersion = 20;  // Fetch, the most revised API, is at 17
constexpr uint32_t kMaxMessage = 100u << 20;  // brokers' default socket.request.max.bytes
constexpr size_t kKeep = 64 << 10;  // message bytes kept for parsing: headers, never payloads
constexpr size_t kMaxTopics = 32;    // topics of one request kept (a call names one, or none)
constexpr size_t kMaxTopicName = 249;  // Kafka's own limit

// The version from which a request (and its response) uses the flexible encoding: compact
// strings and arrays, tagged fields.
bool flexible(int16_t api_key, int16_t version) {
  switch (api_key) {
    case kProduce: return version >= 9;
    case kFetch: return version >= 12;
    case kMetadata: return version >= 9;
    default: return false;  // other bodies are not read
  }
}

// Bounds-checked reading of the Kafka primitive types; once a read runs past the bytes, every
// later read fails too.
class Reader {
 public:
  explicit Reader(std::string_view bytes) : b_(bytes) {}
  bool ok() const { return ok_; }
  size_t remaining() const { return ok_ ? b_.size() - pos_ : 0; }

  template <class T>
  T big_endian(size_t n) {
    if (!need(n)) return 0;
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v = (v << 8) | static_cast<uint8_t>(b_[pos_ + i]);
    pos_ += n;
    return static_cast<T>(v);
  }
  int8_t i8() { return big_endian<int8_t>(1); }
  int16_t i16() { return big_endian<int16_t>(2); }
  int32_t i32() { return big_endian<int32_t>(4); }
  int64_t i64() { return big_endian<int64_t>(8); }
  uint64_t uvarint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (!need(1)) return 0;
      const auto byte = static_cast<uint8_t>(b_[pos_++]);
      v |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) return v;
    }
    ok_ = false;
    return 0;
  }
  void skip(uint64_t n) {
    if (need(n)) pos_ += n;
  }
  std::string_view raw(size_t n) {
    if (!need(n)) return {};
    std::string_view s = b_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  // An ARRAY of fixed-size elements, skipped.
  void skip_array(size_t element, bool compact) {
    const int64_t n = array_length(compact);
    if (n <= 0) return;
    if (static_cast<uint64_t>(n) > remaining() / element) {
      ok_ = false;
      return;
    }
    skip(static_cast<uint64_t>(n) * element);
  }
  // STRING / NULLABLE_STRING (int16 length), or COMPACT_ (uvarint length + 1).
  std::optional<std::string_view> string(bool compact) {
    int64_t len = compact ? static_cast<int64_t>(uvarint()) - 1 : i16();
    if (!ok_ || len < 0) return std::nullopt;
    if (!need(static_cast<uint64_t>(len))) return std::nullopt;
    std::string_view s = b_.substr(pos_, static_cast<size_t>(len));
    pos_ += static_cast<size_t>(len);
    return s;
  }
  // ARRAY / COMPACT_ARRAY length; -1 for null.
  int64_t array_length(bool compact) {
    return compact ? static_cast<int64_t>(uvarint()) - 1 : static_cast<int64_t>(i32());
  }
  // BYTES / RECORDS: the declared length and the part of them present (may be shorter), skipped.
  int64_t bytes(bool compact, std::string_view* present) {
    int64_t len = compact ? static_cast<int64_t>(uvarint()) - 1 : static_cast<int64_t>(i32());
    if (!ok_) return -1;
    if (len <= 0) {
      *present = {};
      return len;
    }
    const size_t have = std::min<uint64_t>(static_cast<uint64_t>(len), b_.size() - pos_);
    *present = b_.substr(pos_, have);
    skip(static_cast<uint64_t>(len));
    return len;
  }
  void tagged_fields() {
    uint64_t n = uvarint();
    for (uint64_t i = 0; ok_ && i < n; ++i) {
      uvarint();  // tag
      skip(uvarint());
    }
  }

 private:
  bool need(uint64_t n) {
    if (ok_ && n <= b_.size() - pos_) return true;
    ok_ = false;
    return false;
  }
  std::string_view b_;
  size_t pos_ = 0;
  bool ok_ = true;
};

// Records in a RECORDS field: the recordsCount of each v2 record batch, walked by batchLength.
// nullopt when a batch header lies beyond the captured bytes or the batches are an older format.
std::optional<int64_t> count_records(std::string_view present, int64_t declared) {
  if (declared <= 0) return 0;
  int64_t total = 0;
  uint64_t at = 0;
  while (at < static_cast<uint64_t>(declared)) {
    // baseOffset(8) batchLength(4) partitionLeaderEpoch(4) magic(1) crc(4) attributes(2)
    // lastOffsetDelta(4) baseTimestamp(8) maxTimestamp(8) producerId(8) producerEpoch(2)
    // baseSequence(4) recordsCount(4)
    // A Fetch may end with a partial batch, which clients drop: so is it here.
    if (at + 61 > static_cast<uint64_t>(declared)) break;
    if (at + 61 > present.size()) return std::nullopt;
    Reader r(present.substr(at, 61));
    r.i64();
    const int32_t batch_length = r.i32();
    r.i32();
    const int8_t magic = r.i8();
    if (magic != 2 || batch_length < 49) return std::nullopt;
    r.skip(4);  // crc
    const int16_t attributes = r.i16();
    r.skip(4 + 8 + 8 + 8 + 2 + 4);
    const int32_t count = r.i32();
    if (!r.ok() || count < 0) return std::nullopt;
    if (at + 12 + static_cast<uint64_t>(batch_length) > static_cast<uint64_t>(declared)) break;
    if ((attributes & 0x20) == 0) total += count;  // control batches (commit markers) hold no messages
    at += 12 + static_cast<uint64_t>(batch_length);
  }
  return total;
}

// Client ids are free text: no control characters (UTF-8 is fine).
bool printable(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u >= 0x20 && u != 0x7f;
  });
}

// A legal topic name ([A-Za-z0-9._-], 1 to 249 characters): anything else is not a topic, and
// never becomes a span name (it could be another protocol's bytes, or a message's).
bool topic_name(std::string_view s) {
  return !s.empty() && s.size() <= kMaxTopicName &&
         std::all_of(s.begin(), s.end(), [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
         });
}

struct RequestHeader {
  uint32_t size = 0;
  int16_t api_key = 0;
  int16_t api_version = 0;
  int32_t correlation_id = 0;
  std::string_view client_id;
  size_t body_at = 0;  // offset of the body in the message (after the size)
};

// A request header at the start of `message` (size included). nullopt when implausible.
std::optional<RequestHeader> parse_request_header(std::string_view message) {
  Reader r(message);
  RequestHeader h;
  h.size = static_cast<uint32_t>(r.i32());
  h.api_key = r.i16();
  h.api_version = r.i16();
  h.correlation_id = r.i32();
  auto client = r.string(false);  // the client id is never compact, even in header v2
  if (!r.ok() || h.size < 8 || h.size > kMaxMessage || h.api_key < 0 || h.api_key > kMaxApiKey ||
      h.api_version < 0 || h.api_version > kMaxApiVersion) {
    return std::nullopt;
  }
  if (client) {
    if (!printable(*client) || client->size() + 10 > h.size) return std::nullopt;
    h.client_id = *client;
  }
  if (flexible(h.api_key, h.api_version)) r.tagged_fields();
  if (!r.ok()) return std::nullopt;
  h.body_at = message.size() - r.remaining();
  return h;
}

// One topic of a Produce request or of a response: its partitions and what they held.
struct TopicCalls {
  std::string name;
  std::vector<int32_t> partitions;
  std::optional<int64_t> records = 0;  // nullopt once a count is unknown
  int16_t error = 0;                   // the first non-zero error code
  int64_t base_offset = -1;
};

void add_records(TopicCalls& t, std::optional<int64_t> n) {
  if (t.records && n) {
    *t.records += *n;
  } else {
    t.records.reset();
  }
}

struct Pending {
  int32_t correlation_id = 0;
  int16_t api_key = 0;
  int16_t api_version = 0;
  std::string client_id;
  uint64_t start_ns = 0;
  bool truncated = false;
  bool parsed = false;             // the body was read to its end
  std::vector<TopicCalls> topics;  // at most kMaxTopics
  // What the message declared, read before any cut: a call names its topic (partition) only when
  // exactly one was declared, not when one was all the capture held.
  int64_t declared_topics = -1;
  int64_t declared_partitions = -1;  // summed over the topics
};

// Reassembles length-prefixed messages from one direction's chunks, keeping at most kKeep bytes
// of each and noting when a byte of it was not captured.
class Framer {
 public:
  struct Message {
    std::string_view bytes;  // size prefix included; a prefix of the message when `cut`
    bool cut = false;
    uint64_t first_ns = 0, last_ns = 0;
  };
  template <class OnMessage, class Resync>
  void feed(const Chunk& chunk, uint64_t* skipped, OnMessage&& on_message, Resync&& resync) {
    const std::string_view captured = chunk.captured;
    const uint64_t total = std::max<uint64_t>(chunk.length, captured.size());
    uint64_t pos = 0;
    if (lost_) {
      // A message start is recognised from its first 8 bytes, which may come in pieces.
      if (!chunk.length_only && captured.size() == total && probe_.size() + total < 8) {
        probe_.append(captured);
        probe_ts_ = probe_.size() == total ? chunk.timestamp_ns : probe_ts_;
        return;
      }
      const std::string held = std::move(probe_);
      probe_.clear();
      const bool with_held = !held.empty() && !chunk.length_only && resync(held + std::string(captured));
      if (!with_held) {
        *skipped += held.size();  // the held pieces started nothing
        if (chunk.length_only || !resync(captured)) {
          *skipped += total;
          return;
        }
      }
      lost_ = false;
      reset();
      if (with_held) {
        // The pieces held back start the message: feed them first, as their own chunk.
        feed(Chunk{held, held.size(), probe_ts_, false}, skipped, on_message, resync);
      }
    }
    while (pos < total) {
      if (!in_body_) {
        if (pos >= captured.size()) {  // a message boundary the capture missed
          lose(total - pos, skipped);
          return;
        }
        if (buf_.empty()) first_ns_ = chunk.timestamp_ns;
        while (buf_.size() < 4 && pos < captured.size()) buf_.push_back(captured[pos++]);
        if (buf_.size() < 4) {
          if (pos < total) lose(total - pos, skipped);
          return;
        }
        const uint32_t size = (static_cast<uint32_t>(static_cast<uint8_t>(buf_[0])) << 24) |
                              (static_cast<uint32_t>(static_cast<uint8_t>(buf_[1])) << 16) |
                              (static_cast<uint32_t>(static_cast<uint8_t>(buf_[2])) << 8) |
                              static_cast<uint8_t>(buf_[3]);
        if (size < 4 || size > kMaxMessage) {
          *skipped += buf_.size();  // the bytes read as a size were not one either
          lose(total - pos, skipped);
          return;
        }
        remaining_ = size;
        in_body_ = true;
        continue;
      }
      const uint64_t n = std::min(remaining_, total - pos);
      const uint64_t have = pos < captured.size() ? std::min<uint64_t>(n, captured.size() - pos) : 0;
      if (!cut_) {
        const uint64_t keep = std::min<uint64_t>(have, kKeep - std::min(kKeep, buf_.size()));
        buf_.append(captured.substr(pos, keep));
        if (keep < n) cut_ = true;
      }
      if (have < n && !chunk.length_only) *skipped += n - have;
      pos += n;
      remaining_ -= n;
      if (remaining_ == 0) {
        on_message(Message{buf_, cut_, first_ns_, chunk.timestamp_ns});
        reset();
      }
    }
  }
  // Framing is unknown until a chunk starts a message again (a response before any request).
  void start_lost() { lost_ = true; }
  bool lost() const { return lost_; }

 private:
  void reset() {
    buf_.clear();
    in_body_ = false;
    cut_ = false;
    remaining_ = 0;
  }
  void lose(uint64_t rest, uint64_t* skipped) {
    *skipped += rest;
    lost_ = true;
    reset();
  }
  std::string buf_;
  std::string probe_;  // while lost: the first bytes of a possible message start, held back
  uint64_t probe_ts_ = 0;
  bool in_body_ = false;
  bool cut_ = false;
  bool lost_ = false;
  uint64_t remaining_ = 0;
  uint64_t first_ns_ = 0;
};

class KafkaMatcher : public DbMatcher {
 public:
  KafkaMatcher(Sink sink, DbMatchOptions options, bool from_start)
      : sink_(std::move(sink)), options_(options) {
    if (!from_start) {
      ingress_.start_lost();
      egress_.start_lost();
    }
  }

  void feed(Direction direction, const Chunk& chunk) override {
    if (closed_) return;
    if (direction == Direction::kEgress) {
      egress_.feed(
          chunk, &counters_.skipped_bytes, [this](const Framer::Message& m) { on_request(m); },
          [](std::string_view bytes) { return looks_like_kafka_client(bytes); });
    } else {
      ingress_.feed(
          chunk, &counters_.skipped_bytes, [this](const Framer::Message& m) { on_response(m); },
          [this](std::string_view bytes) { return starts_known_response(bytes); });
    }
  }

  void close() override {
    if (closed_) return;
    closed_ = true;
    counters_.unmatched_requests += pending_.size();
    pending_.clear();
  }
  bool active() const override { return !closed_; }
  const DbMatchCounters& counters() const override { return counters_; }

 private:
  bool starts_known_response(std::string_view bytes) const {
    if (bytes.size() < 8) return false;
    Reader r(bytes);
    const int32_t size = r.i32();
    const int32_t id = r.i32();
    if (size < 4 || static_cast<uint32_t>(size) > kMaxMessage) return false;
    return std::any_of(pending_.begin(), pending_.end(),
                       [id](const Pending& p) { return p.correlation_id == id; });
  }

  void on_request(const Framer::Message& m) {
    auto header = parse_request_header(m.bytes);
    if (!header) {
      ++counters_.invalid;
      return;
    }
    ++counters_.requests;
    if (m.cut) ++counters_.truncated;
    Pending p;
    p.correlation_id = header->correlation_id;
    p.api_key = header->api_key;
    p.api_version = header->api_version;
    p.client_id = std::string(header->client_id);
    p.start_ns = m.first_ns;
    p.truncated = m.cut;
    if (p.api_key == kProduce) {
      int16_t acks = 1;
      parse_produce_request(m.bytes.substr(header->body_at), p, &acks);
      if (acks == 0 && p.parsed) {  // no response will come
        emit(std::move(p), m.last_ns);
        return;
      }
    }
    if (pending_.size() >= std::max<size_t>(options_.max_pending_requests, 1)) {
      pending_.pop_front();
      ++counters_.unmatched_requests;
    }
    pending_.push_back(std::move(p));
  }

  void on_response(const Framer::Message& m) {
    Reader r(m.bytes);
    r.i32();
    const int32_t id = r.i32();
    if (!r.ok()) {
      ++counters_.invalid;
      return;
    }
    // Brokers answer a connection's requests in order: the ones before this answer's are lost.
    auto it = std::find_if(pending_.begin(), pending_.end(),
                           [id](const Pending& p) { return p.correlation_id == id; });
    if (it == pending_.end()) {
      ++counters_.unmatched_responses;
      return;
    }
    counters_.unmatched_requests += static_cast<uint64_t>(it - pending_.begin());
    Pending p = std::move(*it);
    pending_.erase(pending_.begin(), it + 1);
    if (m.cut) p.truncated = true;
    const bool flex = flexible(p.api_key, p.api_version);
    if (flex) r.tagged_fields();  // response header v1
    const std::string_view body = m.bytes.substr(m.bytes.size() - r.remaining());
    if (p.api_key == kProduce) {
      parse_produce_response(body, p);
      // A Produce the capture cut before its topics still was one; bytes that only parsed as a
      // Produce header (no topic, a bad acks or name) were not.
      if ((p.declared_topics >= 1 && !p.topics.empty()) || (p.truncated && p.declared_topics < 0)) {
        emit(std::move(p), m.last_ns);
      }
    } else if (p.api_key == kFetch) {
      if (parse_fetch_response(body, p)) emit(std::move(p), m.last_ns);
    } else if (p.api_key == kMetadata && p.api_version >= 10 && topic_names_) {
      parse_metadata_response(body, p.api_version);
    }
  }

  // The name of a topic id, from the process's Metadata answers; empty when none named it.
  std::string name_of(std::string_view id) const {
    if (id.size() != kTopicId || !topic_names_) return {};
    const std::optional<std::string_view> name = topic_names_->name_of(id);
    return name ? std::string(*name) : std::string();
  }

  // Learns each topic's id (Metadata v10+): topics are named by id from Fetch and Produce v13 on.
  // Each topic is learnt as soon as its name and id are read, so a capture cut inside a long
  // answer still names the topics before the cut.
  void parse_metadata_response(std::string_view body, int16_t v) {
    const bool flex = flexible(kMetadata, v);
    Reader r(body);
    r.i32();  // throttle_time_ms
    const int64_t brokers = r.array_length(flex);
    for (int64_t b = 0; r.ok() && b < brokers; ++b) {
      r.i32();          // node_id
      r.string(flex);   // host
      r.i32();          // port
      r.string(flex);   // rack
      if (flex) r.tagged_fields();
    }
    r.string(flex);  // cluster_id
    r.i32();         // controller_id
    const int64_t topics = r.array_length(flex);
    for (int64_t t = 0; r.ok() && t < topics; ++t) {
      r.i16();  // error_code
      const std::optional<std::string_view> name = r.string(flex);
      const std::string_view id = r.raw(kTopicId);
      if (!r.ok()) break;
      if (name && topic_name(*name) && id.find_first_not_of('\0') != std::string_view::npos) {
        topic_names_->learn(id, *name);
      }
      r.i8();  // is_internal
      const int64_t partitions = r.array_length(flex);
      for (int64_t i = 0; r.ok() && i < partitions; ++i) {
        r.i16();  // error_code
        r.i32();  // partition_index
        r.i32();  // leader_id
        if (v >= 7) r.i32();  // leader_epoch
        r.skip_array(4, flex);  // replica_nodes
        r.skip_array(4, flex);  // isr_nodes
        if (v >= 5) r.skip_array(4, flex);  // offline_replicas
        if (flex) r.tagged_fields();
      }
      if (v >= 8) r.i32();  // topic_authorized_operations
      if (flex) r.tagged_fields();
    }
  }

  void parse_produce_request(std::string_view body, Pending& p, int16_t* acks) {
    const bool flex = flexible(kProduce, p.api_version);
    Reader r(body);
    if (p.api_version >= 3) r.string(flex);  // transactional_id
    const int16_t a = r.i16();
    if (r.ok()) *acks = a;  // unknown stays 1: wait for an answer
    r.i32();  // timeout
    const int64_t topics = r.array_length(flex);
    if (!r.ok() || topics < 1 || (a != 0 && a != 1 && a != -1)) return;  // not a Produce
    p.declared_topics = topics;
    p.declared_partitions = 0;
    for (int64_t t = 0; r.ok() && t < topics; ++t) {
      TopicCalls topic;
      if (p.api_version >= 13) {
        topic.name = name_of(r.raw(kTopicId));
      } else {
        auto name = r.string(flex);
        if (!name) break;
        if (!topic_name(*name)) return;  // not a topic: the rest is not read
        topic.name = std::string(*name);
      }
      const int64_t partitions = r.array_length(flex);
      if (r.ok() && partitions > 0) p.declared_partitions += partitions;
      for (int64_t i = 0; r.ok() && i < partitions; ++i) {
        const int32_t index = r.i32();
        std::string_view present;
        const int64_t declared = r.bytes(flex, &present);
        if (declared < 0 && !r.ok()) break;
        topic.partitions.push_back(index);
        add_records(topic, count_records(present, declared));
        if (flex) r.tagged_fields();
      }
      if (!r.ok()) add_records(topic, std::nullopt);
      if (flex) r.tagged_fields();
      if (p.topics.size() < kMaxTopics) p.topics.push_back(std::move(topic));
    }
    if (!r.ok()) p.truncated = true;
    p.parsed = r.ok();
  }

  // Adds each partition's error and base offset to the request's topics.
  void parse_produce_response(std::string_view body, Pending& p) {
    const bool flex = flexible(kProduce, p.api_version);
    Reader r(body);
    const int64_t topics = r.array_length(flex);
    for (int64_t t = 0; r.ok() && t < topics; ++t) {
      std::optional<std::string_view> name;
      if (p.api_version >= 13) {
        r.skip(kTopicId);  // topic_id: answers come in the request's order
      } else {
        name = r.string(flex);
      }
      const int64_t partitions = r.array_length(flex);
      TopicCalls* topic = nullptr;
      if (p.api_version >= 13) {
        if (t < static_cast<int64_t>(p.topics.size())) topic = &p.topics[static_cast<size_t>(t)];
      } else {
        for (TopicCalls& tc : p.topics) {
          if (name && tc.name == *name) {
            topic = &tc;
            break;
          }
        }
      }
      for (int64_t i = 0; r.ok() && i < partitions; ++i) {
        r.i32();  // index
        const int16_t error = r.i16();
        const int64_t base_offset = r.i64();
        if (p.api_version >= 2) r.i64();  // log_append_time
        if (p.api_version >= 5) r.i64();  // log_start_offset
        if (p.api_version >= 8) {
          const int64_t errors = r.array_length(flex);
          for (int64_t e = 0; r.ok() && e < errors; ++e) {
            r.i32();
            r.string(flex);
            if (flex) r.tagged_fields();
          }
          r.string(flex);  // error_message: never kept
        }
        if (flex) r.tagged_fields();
        if (!r.ok() || topic == nullptr) continue;
        if (error != 0 && topic->error == 0) topic->error = error;
        topic->base_offset = base_offset;
      }
      if (flex) r.tagged_fields();
    }
    if (!r.ok()) p.truncated = true;
  }

  // Reads what a Fetch returned into p.topics; false for an idle poll (no records, no error).
  bool parse_fetch_response(std::string_view body, Pending& p) {
    const int16_t v = p.api_version;
    const bool flex = flexible(kFetch, v);
    Reader r(body);
    int16_t top_error = 0;
    if (v >= 1) r.i32();  // throttle_time_ms
    if (v >= 7) {
      top_error = r.i16();
      r.i32();  // session_id
    }
    const int64_t topics = r.array_length(flex);
    bool any_bytes = false;
    // The topics and partitions that returned records or an error, counted even past the capture
    // when their headers were read; `unknown` once a partition went unread.
    int64_t active_topics = 0, active_partitions = 0;
    bool unknown = false;
    for (int64_t t = 0; r.ok() && t < topics; ++t) {
      TopicCalls topic;
      if (v >= 13) {
        topic.name = name_of(r.raw(kTopicId));
      } else if (auto name = r.string(flex)) {
        if (!topic_name(*name)) return false;  // not a Fetch answer
        topic.name = std::string(*name);
      }
      const int64_t partitions = r.array_length(flex);
      for (int64_t i = 0; r.ok() && i < partitions; ++i) {
        const int32_t index = r.i32();
        const int16_t error = r.i16();
        r.i64();                      // high_watermark
        if (v >= 4) r.i64();          // last_stable_offset
        if (v >= 5) r.i64();          // log_start_offset
        if (v >= 4) {
          const int64_t aborted = r.array_length(flex);
          for (int64_t a = 0; r.ok() && a < aborted; ++a) {
            r.i64();
            r.i64();
            if (flex) r.tagged_fields();
          }
        }
        if (v >= 11) r.i32();  // preferred_read_replica
        std::string_view present;
        const int64_t declared = r.bytes(flex, &present);
        if (flex) r.tagged_fields();
        if (declared < 0 && !r.ok()) {
          unknown = true;  // this partition's header went unread
          break;
        }
        // The capture ended inside this partition's records: what follows, if anything, is unread.
        if (!r.ok() && (i + 1 < partitions || t + 1 < topics)) unknown = true;
        if (error != 0 && topic.error == 0) topic.error = error;
        if (declared > 0) {
          any_bytes = true;
          topic.partitions.push_back(index);
          add_records(topic, count_records(present, declared));
        } else if (error != 0) {
          topic.partitions.push_back(index);
        }
      }
      if (flex) r.tagged_fields();
      if (!r.ok() && topic.partitions.empty()) unknown = true;  // cut before any partition of it
      if (!topic.partitions.empty()) {
        ++active_topics;
        active_partitions += static_cast<int64_t>(topic.partitions.size());
        if (p.topics.size() < kMaxTopics) p.topics.push_back(std::move(topic));
      }
    }
    if (!r.ok()) p.truncated = true;
    // Only when every partition was read is "one topic" known to be one.
    p.declared_topics = unknown ? -1 : active_topics;
    p.declared_partitions = unknown ? -1 : active_partitions;
    const bool any_error = top_error != 0 || std::any_of(p.topics.begin(), p.topics.end(),
                                                         [](const TopicCalls& tc) { return tc.error != 0; });
    if (top_error != 0 && p.topics.empty()) p.topics.push_back(TopicCalls{"", {}, 0, top_error, -1});
    // An idle long poll (no partition returned records or an error) is no call.
    return any_bytes || any_error;
  }

  void emit(Pending p, uint64_t end_ns) {
    DbCall call;
    call.system = "kafka";
    call.operation = p.api_key == kProduce ? "send" : "poll";
    call.client_id = std::move(p.client_id);
    call.start_ns = p.start_ns;
    call.end_ns = end_ns;
    call.truncated = p.truncated;
    std::optional<int64_t> records = 0;
    std::vector<int32_t> partitions;
    int16_t error = 0;
    for (const TopicCalls& t : p.topics) {
      if (records && t.records) {
        *records += *t.records;
      } else {
        records.reset();
      }
      for (int32_t part : t.partitions) partitions.push_back(part);
      if (error == 0) error = t.error;
    }
    if (p.declared_topics == 1 && p.topics.size() == 1) {
      call.destination = p.topics[0].name;
      if (p.declared_partitions == 1 && partitions.size() == 1) {
        call.partition = std::to_string(partitions[0]);
        if (p.api_key == kProduce && p.topics[0].error == 0) call.offset = p.topics[0].base_offset;
      }
    }
    if (records && !p.truncated) call.message_count = *records;
    if (error != 0) {
      call.error = true;
      call.status_code = error_name(error);
    }
    ++counters_.calls;
    sink_(std::move(call));
  }

  Sink sink_;
  DbMatchOptions options_;
  std::shared_ptr<TopicNames> topic_names_ = options_.kafka_topic_names;
  DbMatchCounters counters_;
  Framer egress_, ingress_;
  std::deque<Pending> pending_;
  bool closed_ = false;
};

}  // namespace

bool looks_like_kafka_client(std::string_view first_egress_bytes) {
  // Other protocols' first messages fail the size bound (HTTP, TLS, RESP, MySQL's little-endian
  // lengths read as big-endian), the API key (PostgreSQL's SSLRequest), the printable client id
  // (PostgreSQL's startup packet reads as Metadata v0 whose client id holds NULs), or the client
  // id being there at all: every Kafka client names itself, while a ZooKeeper ConnectRequest
  // reads as Produce v0 with an empty one.
  auto header = parse_request_header(first_egress_bytes);
  return header.has_value() && !header->client_id.empty();
}

void TopicNames::learn(std::string_view id, std::string_view name) {
  if (names_.size() >= kMaxTopics && !names_.contains(std::string(id))) names_.clear();
  names_.insert_or_assign(std::string(id), std::string(name));
}

std::optional<std::string_view> TopicNames::name_of(std::string_view id) const {
  auto it = names_.find(std::string(id));
  if (it == names_.end()) return std::nullopt;
  return it->second;
}

std::unique_ptr<DbMatcher> make_kafka_matcher(DbMatcher::Sink sink, DbMatchOptions options,
                                              bool from_start) {
  return std::make_unique<KafkaMatcher>(std::move(sink), options, from_start);
}

std::string error_name(int16_t code) {
  static const std::map<int16_t, const char*> kNames = {
      {-1, "UNKNOWN_SERVER_ERROR"},
      {1, "OFFSET_OUT_OF_RANGE"},
      {2, "CORRUPT_MESSAGE"},
      {3, "UNKNOWN_TOPIC_OR_PARTITION"},
      {4, "INVALID_FETCH_SIZE"},
      {5, "LEADER_NOT_AVAILABLE"},
      {6, "NOT_LEADER_OR_FOLLOWER"},
      {7, "REQUEST_TIMED_OUT"},
      {8, "BROKER_NOT_AVAILABLE"},
      {9, "REPLICA_NOT_AVAILABLE"},
      {10, "MESSAGE_TOO_LARGE"},
      {13, "NETWORK_EXCEPTION"},
      {17, "INVALID_TOPIC_EXCEPTION"},
      {18, "RECORD_LIST_TOO_LARGE"},
      {19, "NOT_ENOUGH_REPLICAS"},
      {20, "NOT_ENOUGH_REPLICAS_AFTER_APPEND"},
      {21, "INVALID_REQUIRED_ACKS"},
      {29, "TOPIC_AUTHORIZATION_FAILED"},
      {35, "UNSUPPORTED_VERSION"},
  };
  auto it = kNames.find(code);
  return it == kNames.end() ? std::to_string(code) : it->second;
}

}  // namespace hodos::protocols::kafka
