// The MySQL/MariaDB client-server protocol's framing and the few fields the matcher reads: every
// message is a packet (3-byte little-endian payload length, 1-byte sequence id, payload); a
// payload of 0xffffff bytes or more is sent as 0xffffff-byte packets followed by the rest.
// Numbers and names from the protocol documentation (dev.mysql.com "Client/Server Protocol",
// mariadb.com "Clientserver protocol").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "protocols/stream.h"

namespace hodos::protocols::mysql {

// Capability flags (the handshake's, ANDed between client and server).
inline constexpr uint32_t kClientConnectWithDb = 0x00000008;
inline constexpr uint32_t kClientCompress = 0x00000020;
inline constexpr uint32_t kClientProtocol41 = 0x00000200;
inline constexpr uint32_t kClientSsl = 0x00000800;
inline constexpr uint32_t kClientSecureConnection = 0x00008000;
inline constexpr uint32_t kClientMultiResults = 0x00020000;
inline constexpr uint32_t kClientPluginAuthLenencData = 0x00200000;
inline constexpr uint32_t kClientDeprecateEof = 0x01000000;
inline constexpr uint32_t kClientOptionalResultsetMetadata = 0x02000000;
inline constexpr uint32_t kClientZstdCompression = 0x04000000;
inline constexpr uint32_t kClientQueryAttributes = 0x08000000;
// MariaDB's extended capabilities (bits 32..63, sent in bytes MySQL leaves reserved).
inline constexpr uint32_t kMariaDbCacheMetadata = 1u << 4;

// Server status flags in OK and EOF packets.
inline constexpr uint16_t kServerMoreResultsExist = 0x0008;
inline constexpr uint16_t kServerCursorExists = 0x0040;

// Command bytes (the first byte of a request payload).
enum Command : uint8_t {
  kComQuit = 0x01,
  kComInitDb = 0x02,
  kComQuery = 0x03,
  kComFieldList = 0x04,
  kComStatistics = 0x09,
  kComPing = 0x0e,
  kComChangeUser = 0x11,
  kComStmtPrepare = 0x16,
  kComStmtExecute = 0x17,
  kComStmtSendLongData = 0x18,
  kComStmtClose = 0x19,
  kComStmtReset = 0x1a,
  kComSetOption = 0x1b,
  kComStmtFetch = 0x1c,
  kComResetConnection = 0x1f,
};

// Answer headers.
inline constexpr uint8_t kOk = 0x00;
inline constexpr uint8_t kEof = 0xfe;  // also the OK that ends a result set (CLIENT_DEPRECATE_EOF)
inline constexpr uint8_t kErr = 0xff;
inline constexpr uint8_t kLocalInfile = 0xfb;

inline constexpr uint32_t kMaxPacketPayload = 0xffffff;

// A packet as the reader hands it out: the payload's first bytes (up to the reader's keep limit;
// fewer when the capture missed some), and what the header said.
struct Packet {
  uint8_t seq = 0;       // sequence id of the first (or only) wire packet
  uint8_t last_seq = 0;  // of the last wire packet, when a long payload spanned several
  uint64_t length = 0;   // the payload's length on the wire, all parts together
  std::string_view payload;
  bool truncated = false;  // bytes of it went by uncaptured (payload holds what was seen)
  uint64_t start_ns = 0;   // timestamp of the chunk holding the first header byte
  uint64_t end_ns = 0;     // of the chunk holding the last byte
};

// Cuts one direction's chunks into packets. Bytes the capture missed inside a payload are
// skipped by length; bytes missed where a header was expected lose the framing, and nothing is
// handed out until resync() says a packet starts at the next chunk.
class PacketReader {
 public:
  explicit PacketReader(size_t keep) : keep_(keep) {}

  enum class Event : uint8_t { kPacket, kNeedMore, kLost };

  // Feeds a chunk; call next() until it stops returning kPacket before feeding another.
  void feed(const Chunk& chunk);
  Event next(Packet* packet);

  bool lost() const { return lost_; }
  // True between packets (nothing of a next one seen yet).
  bool at_boundary() const { return header_have_ == 0 && !in_payload_ && !continuing_; }
  // Forget everything: the next chunk fed starts a packet.
  void resync();
  // Framing lost by the caller's judgement (the bytes made no sense): wait for resync().
  void lose();
  uint64_t skipped_bytes() const { return skipped_; }
  uint64_t truncated_packets() const { return truncated_packets_; }

 private:
  size_t keep_;
  std::string_view chunk_;  // what is left of the captured bytes of the chunk being read
  uint64_t gap_ = 0;        // uncaptured bytes after chunk_
  uint64_t chunk_ts_ = 0;

  uint8_t header_[4] = {};
  size_t header_have_ = 0;
  bool in_payload_ = false;
  uint64_t payload_left_ = 0;  // of the current wire packet
  bool continuing_ = false;    // the previous wire packet was 0xffffff long: this one goes on
  Packet packet_;
  std::string payload_;
  bool lost_ = false;
  uint64_t skipped_ = 0;
  uint64_t truncated_packets_ = 0;
};

// Length-encoded integer at the front of `*s` (consumed); nullopt when it is cut or invalid.
std::optional<uint64_t> read_lenenc(std::string_view* s);
// Little-endian fixed-size integers; nullopt when `s` is too short.
std::optional<uint32_t> read_le(std::string_view s, size_t offset, size_t bytes);

// The status flags of an OK packet (header 0x00 or 0xfe) or a 4.1 EOF packet; 0 when cut.
uint16_t status_flags(std::string_view payload);

// What the matcher keeps from the server greeting (HandshakeV10).
struct Greeting {
  uint32_t capabilities = 0;
  uint32_t mariadb_capabilities = 0;  // extended, when the server is MariaDB
};
std::optional<Greeting> parse_greeting(std::string_view payload);

// What it keeps from the client's HandshakeResponse41 (or SSLRequest): never the user or the
// authentication data.
struct HandshakeResponse {
  uint32_t capabilities = 0;
  uint32_t mariadb_capabilities = 0;
  std::string database;  // with CLIENT_CONNECT_WITH_DB; empty otherwise or when cut
};
std::optional<HandshakeResponse> parse_handshake_response(std::string_view payload);

}  // namespace hodos::protocols::mysql
