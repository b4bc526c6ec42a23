#include "protocols/http2/match.h"

#include <algorithm>
#include <cstring>
#include <utility>

namespace hodos::protocols::http2 {
namespace {

constexpr size_t kMaxUnackedSettings = 16;
constexpr size_t kHeaderEntryOverhead = 32;  // RFC 7541 4.1: what each header adds to a list size

bool is_header_block_frame(const FrameHeader& h) {
  return h.is(FrameType::kHeaders) || h.is(FrameType::kPushPromise) ||
         h.is(FrameType::kContinuation);
}

// `value` cut to at most `max` bytes without splitting a UTF-8 sequence.
std::string_view cut_utf8(std::string_view value, size_t max) {
  if (value.size() <= max) return value;
  size_t end = max;
  while (end > 0 && (static_cast<unsigned char>(value[end]) & 0xc0) == 0x80) --end;
  return value.substr(0, end);
}

// A non-negative decimal of at most 9 digits, or -1.
int32_t parse_number(std::string_view digits) {
  if (digits.empty() || digits.size() > 9) return -1;
  int32_t n = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return -1;
    n = n * 10 + (c - '0');
  }
  return n;
}

}  // namespace

bool starts_with_client_preface(std::string_view first_bytes) {
  if (first_bytes.empty()) return false;
  size_t n = std::min(first_bytes.size(), kClientPreface.size());
  return first_bytes.substr(0, n) == kClientPreface.substr(0, n);
}

ConnectionMatcher::ConnectionMatcher(Role role, Sink sink, MatchLimits limits)
    : role_(role), sink_(std::move(sink)), limits_(limits) {
  for (size_t i = 0; i < 2; ++i) {
    on_header_[i] = [this, i](std::string_view name, std::string_view value) {
      on_header(sides_[i], name, value);
    };
  }
  if (role != Role::kUnknown) {
    Direction client = role == Role::kClient ? Direction::kEgress : Direction::kIngress;
    Direction server = role == Role::kClient ? Direction::kIngress : Direction::kEgress;
    side(client).client = true;
    side(client).phase = Phase::kPreface;
    side(server).client = false;
  }
}

void ConnectionMatcher::decide_role(Direction d, std::string_view first_bytes) {
  // Only a client starts with "PRI "; anything else must be the server's first SETTINGS frame,
  // which begin_frame() checks.
  bool from_client = starts_with_client_preface(first_bytes);
  role_ = (d == Direction::kEgress) == from_client ? Role::kClient : Role::kServer;
  Direction other = d == Direction::kEgress ? Direction::kIngress : Direction::kEgress;
  side(d).client = from_client;
  side(other).client = !from_client;
  (from_client ? side(d) : side(other)).phase = Phase::kPreface;
}

void ConnectionMatcher::feed(Direction direction, const Chunk& chunk) {
  if (stopped_) return;
  std::string_view data = chunk.captured;
  uint64_t length = std::max<uint64_t>(chunk.length, data.size());
  if (length == 0) return;
  if (role_ == Role::kUnknown) {
    if (data.empty()) {
      counters_.skipped_bytes += length;
      give_up(counters_.undecodable);  // the connection's first bytes went by unseen
      return;
    }
    decide_role(direction, data);
  }
  Side& s = side(direction);
  s.last_ns = chunk.timestamp_ns;
  read(s, data, chunk.timestamp_ns);
  if (!stopped_ && length > data.size()) {
    lose(s, length - data.size(), chunk.timestamp_ns, chunk.length_only);
  }
}

void ConnectionMatcher::read(Side& s, std::string_view data, uint64_t ts) {
  while (!data.empty() && !stopped_) {
    switch (s.phase) {
      case Phase::kPreface:
        if (!read_preface(s, &data)) return;
        break;
      case Phase::kFrameHeader: {
        if (s.header_have == 0) s.frame_start_ns = ts;
        size_t take = std::min(kFrameHeaderSize - s.header_have, data.size());
        std::memcpy(s.header_bytes + s.header_have, data.data(), take);
        s.header_have += take;
        data.remove_prefix(take);
        if (s.header_have == kFrameHeaderSize) {
          s.header_have = 0;
          s.frame = decode_frame_header(std::string_view(s.header_bytes, kFrameHeaderSize));
          begin_frame(s);
          settle(s, ts);
        }
        break;
      }
      case Phase::kPrefix: {
        size_t take = std::min(s.layout.prefix_size - s.prefix_have, data.size());
        std::memcpy(s.prefix_bytes + s.prefix_have, data.data(), take);
        s.prefix_have += take;
        data.remove_prefix(take);
        if (s.prefix_have == s.layout.prefix_size) {
          std::string_view prefix(s.prefix_bytes, s.prefix_have);
          if (parse_payload_layout(s.frame, prefix, &s.layout) != ParseState::kSuccess) {
            give_up(counters_.invalid_frames);
            return;
          }
          begin_content(s);
          settle(s, ts);
        }
        break;
      }
      case Phase::kContent: {
        size_t take = static_cast<size_t>(std::min<uint64_t>(s.content_left, data.size()));
        s.content_left -= take;
        on_content(s, data.substr(0, take));
        data.remove_prefix(take);
        settle(s, ts);
        break;
      }
      case Phase::kPadding: {
        size_t take = static_cast<size_t>(std::min<uint64_t>(s.padding_left, data.size()));
        s.padding_left -= take;
        data.remove_prefix(take);
        settle(s, ts);
        break;
      }
    }
  }
}

bool ConnectionMatcher::read_preface(Side& s, std::string_view* data) {
  size_t n = std::min(kClientPreface.size() - s.preface_seen, data->size());
  if (data->substr(0, n) != kClientPreface.substr(s.preface_seen, n)) {
    give_up(counters_.undecodable);  // picked up mid-stream, or not HTTP/2
    return false;
  }
  s.preface_seen += n;
  data->remove_prefix(n);
  if (s.preface_seen == kClientPreface.size()) s.phase = Phase::kFrameHeader;
  return true;
}

void ConnectionMatcher::lose(Side& s, uint64_t gap, uint64_t ts, bool length_only) {
  counters_.skipped_bytes += gap;
  while (gap > 0 && !stopped_) {
    switch (s.phase) {
      case Phase::kPreface: {
        // The preface has a fixed size: the frames after it are where they should be.
        uint64_t take = std::min<uint64_t>(kClientPreface.size() - s.preface_seen, gap);
        s.preface_seen += take;
        gap -= take;
        if (s.preface_seen == kClientPreface.size()) s.phase = Phase::kFrameHeader;
        break;
      }
      case Phase::kFrameHeader:
        give_up(counters_.framing_lost);
        return;
      case Phase::kPrefix:
        if (!s.frame.is(FrameType::kData)) {
          give_up(is_header_block_frame(s.frame) ? counters_.headers_lost : counters_.framing_lost);
          return;
        }
        // A padded DATA frame whose pad length went by: the rest counts as data.
        s.layout = {};
        s.layout.content_size = s.frame.length - static_cast<uint32_t>(s.prefix_have);
        begin_content(s);
        break;
      case Phase::kContent: {
        uint64_t take = std::min(s.content_left, gap);
        s.content_left -= take;
        gap -= take;
        on_content_gap(s, take, length_only);
        settle(s, ts);
        break;
      }
      case Phase::kPadding: {
        uint64_t take = std::min(s.padding_left, gap);
        s.padding_left -= take;
        gap -= take;
        settle(s, ts);
        break;
      }
    }
  }
}

void ConnectionMatcher::begin_frame(Side& s) {
  ++counters_.frames;
  const FrameHeader& h = s.frame;
  if (s.first_frame) {
    s.first_frame = false;
    // Each side's first frame is a SETTINGS: anything else means the connection's start was
    // missed (or is not HTTP/2), and HPACK state cannot be picked up in the middle.
    if (!h.is(FrameType::kSettings) || h.has(flags::kAck) || !valid_frame_header(h)) {
      give_up(counters_.undecodable);
      return;
    }
  }
  bool in_block = s.block.stream_id != 0;
  bool continuation = h.is(FrameType::kContinuation);
  // A header block's frames follow each other with nothing in between (RFC 9113 6.10).
  if (!valid_frame_header(h) || in_block != continuation ||
      (continuation && h.stream_id != s.block.stream_id) ||
      (h.is(FrameType::kPushPromise) && s.client)) {
    give_up(counters_.invalid_frames);
    return;
  }
  s.prefix_have = 0;
  s.control_have = 0;
  s.control_lost = false;
  s.frame_table_size.reset();
  s.layout = {};
  s.layout.prefix_size = payload_prefix_size(h);
  if (h.length < s.layout.prefix_size) {
    give_up(counters_.invalid_frames);
    return;
  }
  if (s.layout.prefix_size > 0) {
    s.phase = Phase::kPrefix;
    return;
  }
  parse_payload_layout(h, {}, &s.layout);  // cannot fail without a prefix
  begin_content(s);
}

void ConnectionMatcher::begin_content(Side& s) {
  s.content_left = s.layout.content_size;
  s.padding_left = s.layout.padding;
  s.phase = Phase::kContent;
  const FrameHeader& h = s.frame;
  if (h.is(FrameType::kHeaders) || h.is(FrameType::kPushPromise)) {
    HeaderBlock& b = s.block;
    b.stream_id = h.stream_id;
    b.push = h.is(FrameType::kPushPromise);
    b.promised_stream_id = s.layout.promised_stream_id;
    b.end_stream = h.is(FrameType::kHeaders) && h.has(flags::kEndStream);
    b.start_ns = s.frame_start_ns;
    b.list_bytes = 0;
    b.truncated = false;
    b.request.method.clear();
    b.request.scheme.clear();
    b.request.authority.clear();
    b.request.path.clear();
    b.request.content_type.clear();
    b.request.user_agent.clear();
    b.request.te.clear();
    b.request.grpc_timeout.clear();
    b.request.traceparent.clear();
    b.request.tracestate.clear();
    b.status = 0;
    b.grpc_status = -1;
    b.grpc_message = false;
  }
}

void ConnectionMatcher::settle(Side& s, uint64_t ts) {
  while (!stopped_) {
    if (s.phase == Phase::kContent && s.content_left == 0) {
      end_content(s);
      s.phase = Phase::kPadding;
    } else if (s.phase == Phase::kPadding && s.padding_left == 0) {
      s.phase = Phase::kFrameHeader;
      end_frame(s, ts);
      return;
    } else {
      return;
    }
  }
}

void ConnectionMatcher::on_content(Side& s, std::string_view bytes) {
  if (bytes.empty()) return;
  const FrameHeader& h = s.frame;
  switch (h.frame_type()) {
    case FrameType::kData:
      if (Stream* stream = find(h.stream_id)) {
        Body& body = s.client ? stream->exchange.request.body : stream->exchange.response.body;
        body.bytes += bytes.size();
        if (stream->grpc) {
          (s.client ? stream->request_messages : stream->response_messages).feed(bytes);
        }
      }
      return;
    case FrameType::kHeaders:
    case FrameType::kPushPromise:
    case FrameType::kContinuation:
      if (!s.decoder.feed(bytes, false, on_header_[&s == &sides_[0] ? 0 : 1])) {
        give_up(counters_.hpack_errors);
      }
      return;
    case FrameType::kSettings:
    case FrameType::kPing:
    case FrameType::kRstStream:
    case FrameType::kWindowUpdate:
    case FrameType::kPriority:
    case FrameType::kGoaway:
      for (char c : bytes) on_control_byte(s, c);
      return;
  }
  // An extension frame: ignored.
}

void ConnectionMatcher::on_control_byte(Side& s, char c) {
  if (s.frame.is(FrameType::kSettings)) {
    s.control[s.control_have++] = c;
    if (s.control_have == kSettingSize) {
      s.control_have = 0;
      if (!s.control_lost) on_settings(s, decode_setting(std::string_view(s.control, 6)));
    }
    return;
  }
  if (s.control_have < sizeof(s.control)) s.control[s.control_have++] = c;
}

void ConnectionMatcher::on_content_gap(Side& s, uint64_t n, bool length_only) {
  if (n == 0) return;
  const FrameHeader& h = s.frame;
  if (h.is(FrameType::kData)) {
    if (Stream* stream = find(h.stream_id)) {
      Body& body = s.client ? stream->exchange.request.body : stream->exchange.response.body;
      body.bytes += n;
      if (!length_only) body.uncaptured += n;
      if (stream->grpc) (s.client ? stream->request_messages : stream->response_messages).skip(n);
    }
  } else if (is_header_block_frame(h)) {
    give_up(counters_.headers_lost);
  } else {
    s.control_lost = true;
  }
}

void ConnectionMatcher::end_content(Side& s) {
  if (is_header_block_frame(s.frame) && s.frame.has(flags::kEndHeaders)) {
    if (!s.decoder.feed({}, true, on_header_[&s == &sides_[0] ? 0 : 1])) {
      give_up(counters_.hpack_errors);
    }
  }
}

void ConnectionMatcher::end_frame(Side& s, uint64_t ts) {
  const FrameHeader& h = s.frame;
  switch (h.frame_type()) {
    case FrameType::kData:
      if (h.has(flags::kEndStream)) on_data_end(s, ts);
      return;
    case FrameType::kHeaders:
    case FrameType::kPushPromise:
    case FrameType::kContinuation:
      if (h.has(flags::kEndHeaders)) end_block(s, ts);
      return;
    case FrameType::kRstStream:
      if (!s.control_lost) {
        on_rst_stream(s, rst_stream_error_code(std::string_view(s.control, 4)), ts);
      }
      return;
    case FrameType::kSettings:
      if (h.has(flags::kAck)) {
        on_settings_ack(s);
        return;
      }
      // A lost SETTINGS may have changed the table size: the ACK still pairs with it, and a
      // wrong guess shows as a decoding error later, never as wrong headers.
      s.unacked_table_sizes.push_back(s.frame_table_size);
      if (s.unacked_table_sizes.size() > kMaxUnackedSettings) s.unacked_table_sizes.pop_front();
      return;
    default:
      return;
  }
}

void ConnectionMatcher::on_settings(Side& s, Setting setting) {
  if (setting.id != static_cast<uint16_t>(SettingId::kHeaderTableSize)) return;
  s.frame_table_size = setting.value;
  // A larger table is allowed at once: the peer's encoder may use it as soon as it read the
  // SETTINGS, perhaps before its ACK went out. A smaller one waits for the ACK (on_settings_ack).
  uint32_t size = std::min(setting.value, limits_.max_header_table_size);
  HeaderDecoder& decoder = peer(s).decoder;
  if (size > decoder.max_table_size()) decoder.set_max_table_size(size);
}

void ConnectionMatcher::on_settings_ack(Side& s) {
  // `s` acknowledges the peer's oldest unacknowledged SETTINGS: from now on, the blocks `s`
  // encodes respect its table size.
  Side& other = peer(s);
  if (other.unacked_table_sizes.empty()) return;
  std::optional<uint32_t> size = other.unacked_table_sizes.front();
  other.unacked_table_sizes.pop_front();
  if (size) s.decoder.set_max_table_size(std::min(*size, limits_.max_header_table_size));
}

void ConnectionMatcher::on_header(Side& s, std::string_view name, std::string_view value) {
  HeaderBlock& b = s.block;
  b.list_bytes += name.size() + value.size() + kHeaderEntryOverhead;
  if (b.list_bytes > limits_.max_header_list_bytes) {
    b.truncated = true;
    return;
  }
  auto keep = [&](std::string& field) {
    if (field.empty()) field.assign(cut_utf8(value, limits_.max_value_bytes));
  };
  Request& r = b.request;
  // Names arrive in lower case (RFC 9113 8.2.1). Only these are kept: no credential is among
  // them (http1::is_credential_header), which a test checks.
  if (name == ":method") {
    keep(r.method);
  } else if (name == ":path") {
    keep(r.path);
  } else if (name == ":scheme") {
    keep(r.scheme);
  } else if (name == ":authority") {
    keep(r.authority);
  } else if (name == ":status") {
    int32_t status = parse_number(value);
    if (b.status == 0 && status >= 100 && status <= 999) b.status = static_cast<uint16_t>(status);
  } else if (name == "content-type") {
    keep(r.content_type);
  } else if (name == "user-agent") {
    keep(r.user_agent);
  } else if (name == "te") {
    keep(r.te);
  } else if (name == "grpc-timeout") {
    keep(r.grpc_timeout);
  } else if (name == "traceparent") {
    keep(r.traceparent);
  } else if (name == "tracestate") {
    keep(r.tracestate);
  } else if (name == "grpc-status") {
    if (b.grpc_status < 0) b.grpc_status = parse_number(value);
  } else if (name == "grpc-message") {
    b.grpc_message = true;
  }
}

void ConnectionMatcher::end_block(Side& s, uint64_t ts) {
  HeaderBlock& b = s.block;
  const uint32_t id = b.stream_id;
  b.stream_id = 0;  // the block is over

  if (s.client) {
    if (Stream* stream = find(id)) {  // trailers of a request
      if (b.end_stream) stream->exchange.request.body.complete = true;
      return;
    }
    if (id <= last_client_stream_) return;  // a stream that already ended
    last_client_stream_ = id;
    Stream& stream = open_stream(id);
    Request& r = stream.exchange.request;
    r = std::move(b.request);
    b.request = {};
    r.headers_truncated = b.truncated;
    r.body = {};
    r.body.complete = b.end_stream;
    stream.grpc = grpc::is_grpc_content_type(r.content_type);
    stream.exchange.start_ns = b.start_ns;
    ++counters_.requests;
    if (observer_.request_opened) observer_.request_opened(stream.exchange);
    return;
  }

  if (b.push) {
    // The request the server answers unasked, on the promised stream.
    if (b.promised_stream_id == 0 || find(b.promised_stream_id) != nullptr) return;
    Stream& stream = open_stream(b.promised_stream_id);
    Request& r = stream.exchange.request;
    r = std::move(b.request);
    b.request = {};
    r.headers_truncated = b.truncated;
    r.pushed = true;
    r.body = {};
    r.body.complete = true;
    stream.exchange.start_ns = b.start_ns;
    ++counters_.requests;
    return;
  }

  Stream* stream = find(id);
  if (stream == nullptr) {
    ++counters_.unmatched_responses;
    return;
  }
  Response& r = stream->exchange.response;
  if (!stream->response_started) {
    if (b.status >= 100 && b.status < 200) {
      ++counters_.interim_responses;
      r.interim_status = b.status;
      return;
    }
    stream->response_started = true;
    ++counters_.responses;
    if (observer_.response_started) observer_.response_started(id);
    r.status = b.status;
    r.content_type = b.request.content_type;
    r.grpc_status = b.grpc_status;
    r.has_grpc_message = b.grpc_message;
    r.headers_truncated = b.truncated;
  } else {
    r.has_trailers = true;
    if (b.grpc_status >= 0) r.grpc_status = b.grpc_status;
    r.has_grpc_message = r.has_grpc_message || b.grpc_message;
    r.headers_truncated = r.headers_truncated || b.truncated;
  }
  if (b.end_stream) {
    r.body.complete = true;
    finish(*stream, StreamEnd::kComplete, ts);
  }
}

void ConnectionMatcher::on_data_end(Side& s, uint64_t ts) {
  Stream* stream = find(s.frame.stream_id);
  if (stream == nullptr) return;
  if (s.client) {
    stream->exchange.request.body.complete = true;
    return;
  }
  stream->exchange.response.body.complete = true;
  finish(*stream, StreamEnd::kComplete, ts);
}

void ConnectionMatcher::on_rst_stream(Side& s, uint32_t error_code, uint64_t ts) {
  Stream* stream = find(s.frame.stream_id);
  if (stream == nullptr) return;
  ++counters_.resets;
  stream->exchange.reset_by_client = s.client;
  stream->exchange.reset_error_code = error_code;
  finish(*stream, StreamEnd::kReset, ts);
}

ConnectionMatcher::Stream* ConnectionMatcher::find(uint32_t id) {
  for (Stream& stream : streams_) {
    if (stream.id == id) return &stream;
  }
  return nullptr;
}

ConnectionMatcher::Stream& ConnectionMatcher::open_stream(uint32_t id) {
  if (streams_.size() >= std::max<size_t>(limits_.max_streams, 1)) {
    ++counters_.evicted_streams;
    ++counters_.unmatched_requests;
    streams_.erase(streams_.begin());
  }
  Stream& stream = streams_.emplace_back();
  stream.id = id;
  stream.exchange.stream_id = id;
  return stream;
}

void ConnectionMatcher::finish(Stream& stream, StreamEnd end, uint64_t end_ns) {
  Exchange& e = stream.exchange;
  e.end = end;
  e.end_ns = end_ns;
  if (stream.grpc) {
    e.request.body.messages = stream.request_messages.messages();
    e.request.body.messages_exact = stream.request_messages.exact();
    e.response.body.messages = stream.response_messages.messages();
    e.response.body.messages_exact = stream.response_messages.exact();
  }
  if (e.request.body.uncaptured > 0 || e.response.body.uncaptured > 0 ||
      e.request.headers_truncated || e.response.headers_truncated) {
    ++counters_.truncated;
  }
  ++counters_.exchanges;
  uint32_t id = stream.id;
  sink_(std::move(e));
  erase(id);
}

void ConnectionMatcher::erase(uint32_t id) {
  auto it = std::find_if(streams_.begin(), streams_.end(),
                         [id](const Stream& stream) { return stream.id == id; });
  if (it != streams_.end()) streams_.erase(it);
}

void ConnectionMatcher::give_up(uint64_t& reason) {
  ++reason;
  counters_.unmatched_requests += streams_.size();
  streams_.clear();
  stopped_ = true;
}

void ConnectionMatcher::close() {
  if (stopped_) return;
  stopped_ = true;
  uint64_t last_ns = std::max(sides_[0].last_ns, sides_[1].last_ns);
  std::vector<Stream> open = std::move(streams_);
  streams_.clear();
  for (Stream& stream : open) {
    if (!stream.response_started) {
      ++counters_.unmatched_requests;
      continue;
    }
    streams_.push_back(std::move(stream));
    finish(streams_.back(), StreamEnd::kIncomplete, last_ns);
  }
}

}  // namespace hodos::protocols::http2
