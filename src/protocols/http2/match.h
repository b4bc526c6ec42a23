// Turns the captured reads and writes of one HTTP/2 connection (h2c, or h2 read in plaintext by
// the TLS probes) into exchanges, one per stream: a frame reader per direction that follows
// frames across chunks, an HPACK decoder per direction (header blocks assembled from HEADERS and
// CONTINUATION frames), and the streams between their request headers and their END_STREAM or
// RST_STREAM.
//
// The capture is lossy. Bytes missed inside a DATA payload are skipped by length. Bytes missed
// in a header block break that direction's HPACK table for good, and bytes missed where a frame
// header was lose the frame boundaries: the matcher then gives up on the connection (counted).
// HPACK state cannot be picked up in the middle either: a connection whose start was not seen
// (no client preface, or a first frame that is not SETTINGS) is counted undecodable and never
// guessed at.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocols/grpc/message.h"
#include "protocols/http2/frame.h"
#include "protocols/http2/hpack.h"
#include "protocols/http2/types.h"
#include "protocols/stream.h"

namespace hodos::protocols::http2 {

using Chunk = protocols::Chunk;
using Direction = protocols::Direction;

// Which side of the connection the traced process is. kUnknown decides from the first bytes:
// the direction that starts with the client preface is the client's.
enum class Role : uint8_t { kUnknown, kServer, kClient };

// Whether bytes could be the start of a client's connection: the preface, or a non-empty prefix
// of it when fewer bytes were captured.
bool starts_with_client_preface(std::string_view first_bytes);

struct MatchLimits {
  size_t max_streams = 128;  // streams open at once; a new one beyond drops the oldest (counted)
  // Of one header block, the headers read (RFC 7541 list size: name + value + 32 each). Later
  // ones are still decoded, which the HPACK table needs, but not looked at.
  size_t max_header_list_bytes = 64 * 1024;
  size_t max_value_bytes = 2048;  // a kept value (path, user-agent...) is cut beyond, on UTF-8
  // The largest HPACK table a decoder grants, whatever SETTINGS_HEADER_TABLE_SIZE asked for: an
  // encoder that uses more makes decoding fail (counted in hpack_errors).
  uint32_t max_header_table_size = 64 * 1024;
};

struct MatchCounters {
  uint64_t frames = 0;             // frame headers read, both ways
  uint64_t requests = 0;           // request header blocks (and PUSH_PROMISEs) that opened a stream
  uint64_t responses = 0;          // final response header blocks
  uint64_t interim_responses = 0;  // 1xx header blocks
  uint64_t exchanges = 0;          // handed to the sink
  uint64_t resets = 0;             // tracked streams ended by RST_STREAM
  uint64_t unmatched_requests = 0;   // streams that got no response before the end or a give-up
  uint64_t unmatched_responses = 0;  // header blocks from the server on streams never opened
  uint64_t evicted_streams = 0;      // dropped for MatchLimits::max_streams (also unmatched)
  uint64_t truncated = 0;            // exchanges with uncaptured body bytes or cut header lists
  uint64_t skipped_bytes = 0;        // uncaptured bytes, skipped by length
  // Why the matcher gave up; at most one is set for a connection, so that sums over connections
  // count connections.
  uint64_t undecodable = 0;     // first seen mid-stream, or not HTTP/2 (never guessed at)
  uint64_t headers_lost = 0;    // the capture missed bytes of a header block: HPACK state gone
  uint64_t framing_lost = 0;    // the capture missed a frame header: frame boundaries gone
  uint64_t hpack_errors = 0;    // a header block that did not decode
  uint64_t invalid_frames = 0;  // a frame breaking RFC 9113's layout or sequence rules
};

class ConnectionMatcher {
 public:
  using Sink = std::function<void(Exchange&&)>;

  ConnectionMatcher(Role role, Sink sink, MatchLimits limits = {});
  ConnectionMatcher(const ConnectionMatcher&) = delete;  // the decoders' callbacks hold `this`
  ConnectionMatcher& operator=(const ConnectionMatcher&) = delete;

  // Chunks of one direction must come in order; the two directions interleave by time.
  void feed(Direction direction, const Chunk& chunk);
  // The connection closed, or stops being tracked while open: streams that had their response
  // headers are handed on as StreamEnd::kIncomplete, the others counted unmatched.
  void close();
  void abandon() { close(); }

  // Optional: told when a stream's request header block is complete (the stream opened; its
  // exchange holds the request and start_ns) and when its final response header block is, before
  // the exchange ends: what a tracker needs to know which requests are being served meanwhile.
  struct StreamObserver {
    std::function<void(const Exchange&)> request_opened;
    std::function<void(uint32_t stream_id)> response_started;
  };
  void set_observer(StreamObserver observer) { observer_ = std::move(observer); }

  // False once the connection stopped being parsed (closed, or gave up).
  bool active() const { return !stopped_; }
  Role role() const { return role_; }
  const MatchCounters& counters() const { return counters_; }

 private:
  enum class Phase : uint8_t {
    kPreface,      // the client's side, before its 24-byte preface ended
    kFrameHeader,  // between frames, or inside a frame's 9-byte header
    kPrefix,       // inside the pad length / priority / promised stream fields
    kContent,      // inside the content (see frame.h PayloadLayout)
    kPadding,
  };

  // A header block being read (HEADERS or PUSH_PROMISE, then CONTINUATIONs), and the few headers
  // it holds that matter. Reused between blocks to keep the strings' capacity.
  struct HeaderBlock {
    uint32_t stream_id = 0;  // 0: no block open
    bool push = false;
    uint32_t promised_stream_id = 0;
    bool end_stream = false;
    uint64_t start_ns = 0;
    size_t list_bytes = 0;
    bool truncated = false;
    Request request;  // the request fields; content_type serves responses too
    uint16_t status = 0;
    int32_t grpc_status = -1;
    bool grpc_message = false;
  };

  // One direction: its reader state and the decoder of the header blocks it carries.
  struct Side {
    bool client = false;  // carries the client's frames (requests)
    Phase phase = Phase::kFrameHeader;
    size_t preface_seen = 0;
    bool first_frame = true;  // the next frame is the first: it must be SETTINGS
    char header_bytes[kFrameHeaderSize] = {};
    size_t header_have = 0;
    FrameHeader frame;
    uint64_t frame_start_ns = 0;
    char prefix_bytes[6] = {};
    size_t prefix_have = 0;
    PayloadLayout layout;
    uint64_t content_left = 0;
    uint64_t padding_left = 0;
    uint64_t content_seen = 0;  // of the current frame, captured or not
    char control[8] = {};       // a control frame's payload (a SETTINGS entry at a time)
    size_t control_have = 0;
    bool control_lost = false;                 // the capture missed part of the control payload
    std::optional<uint32_t> frame_table_size;  // SETTINGS_HEADER_TABLE_SIZE in this SETTINGS
    HeaderDecoder decoder;
    HeaderBlock block;
    // This side's SETTINGS_HEADER_TABLE_SIZE values (or none) awaiting the peer's ACK, oldest
    // first: the peer's encoder must respect one only once it acknowledged it.
    std::deque<std::optional<uint32_t>> unacked_table_sizes;
    uint64_t last_ns = 0;
  };

  struct Stream {
    uint32_t id = 0;
    Exchange exchange;
    bool response_started = false;  // final response headers seen
    bool grpc = false;
    grpc::MessageCounter request_messages;
    grpc::MessageCounter response_messages;
  };

  Side& side(Direction d) { return sides_[d == Direction::kEgress ? 0 : 1]; }
  Side& peer(const Side& s) { return &s == &sides_[0] ? sides_[1] : sides_[0]; }
  void decide_role(Direction d, std::string_view first_bytes);
  void read(Side& s, std::string_view data, uint64_t ts);
  void lose(Side& s, uint64_t gap, uint64_t ts, bool length_only);
  bool read_preface(Side& s, std::string_view* data);
  void begin_frame(Side& s);
  void begin_content(Side& s);
  void settle(Side& s, uint64_t ts);
  void on_content(Side& s, std::string_view bytes);
  void on_content_gap(Side& s, uint64_t n, bool length_only);
  void on_control_byte(Side& s, char c);
  void end_content(Side& s);
  void end_frame(Side& s, uint64_t ts);
  void on_header(Side& s, std::string_view name, std::string_view value);
  void end_block(Side& s, uint64_t ts);
  void on_settings(Side& s, Setting setting);
  void on_settings_ack(Side& s);
  void on_data_end(Side& s, uint64_t ts);
  void on_rst_stream(Side& s, uint32_t error_code, uint64_t ts);
  Stream* find(uint32_t id);
  Stream& open_stream(uint32_t id);
  void finish(Stream& stream, StreamEnd end, uint64_t end_ns);
  void erase(uint32_t id);
  void give_up(uint64_t& reason);

  Role role_;
  Sink sink_;
  StreamObserver observer_;
  MatchLimits limits_;
  MatchCounters counters_;
  Side sides_[2];
  std::vector<Stream> streams_;      // oldest first
  uint32_t last_client_stream_ = 0;  // highest stream the client opened: lower untracked ones ended
  bool stopped_ = false;
  HeaderDecoder::OnHeader on_header_[2];
};

}  // namespace hodos::protocols::http2
