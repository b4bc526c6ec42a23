// PostgreSQL wire protocol (v3) framing of untrusted captured bytes: message headers, the few
// message bodies the matcher needs a field from, and recognising a client's first bytes. Every
// function reads only inside the view it is given; nothing allocates.
#pragma once

#include <cstdint>
#include <string_view>

namespace hodos::protocols::postgres {

// The untagged messages a client may open a connection with: int32 length, int32 code.
inline constexpr uint32_t kProtocolV3 = 196608;  // 3.0: a StartupMessage
inline constexpr uint32_t kCancelRequestCode = 80877102;
inline constexpr uint32_t kSslRequestCode = 80877103;
inline constexpr uint32_t kGssEncRequestCode = 80877104;
// The server refuses longer start-up packets (MAX_STARTUP_PACKET_LENGTH).
inline constexpr uint32_t kMaxStartupLength = 10000;
// No message may exceed 1 GB (the server's own limit on any message it reads or writes).
inline constexpr uint32_t kMaxMessageLength = 0x3fffffff;

enum class ParseState : uint8_t { kSuccess, kNeedsMoreData, kInvalid };

inline uint32_t read_be32(std::string_view b) {
  return (uint32_t{static_cast<uint8_t>(b[0])} << 24) |
         (uint32_t{static_cast<uint8_t>(b[1])} << 16) |
         (uint32_t{static_cast<uint8_t>(b[2])} << 8) | uint32_t{static_cast<uint8_t>(b[3])};
}

// The 5-byte header of a tagged message. `length` counts itself, not the tag (so >= 4).
struct MessageHeader {
  char tag = 0;
  uint32_t length = 0;
  uint64_t body_length() const { return length - 4; }
};

// Which way a message goes: the same tag means different messages each way ('D' is Describe
// from the client, DataRow from the server).
enum class Sender : uint8_t { kFrontend, kBackend };

// kSuccess consumes the 5 header bytes; kInvalid when the tag is not a message the sender may
// send or its length cannot be that message's (see plausible_length).
ParseState parse_header(std::string_view* buf, Sender sender, MessageHeader* out);
bool plausible_length(Sender sender, char tag, uint32_t length);

// The untagged first message: length and code (kProtocolV3 or a request code).
struct StartupHeader {
  uint32_t length = 0;
  uint32_t code = 0;
};
// kSuccess consumes the 8 header bytes. kInvalid when the code is none of the known ones or the
// length does not fit it.
ParseState parse_startup_header(std::string_view* buf, StartupHeader* out);

// A NUL-terminated string at the front of *body; consumes it and its NUL. False when no NUL.
bool read_cstring(std::string_view* body, std::string_view* out);

// The database a StartupMessage's parameters (after the code) name; the server's default when
// absent is the user name, taken only from a `complete` list (a cut one may have lost the
// database). Empty when unknown. Other parameters are not looked at.
std::string_view startup_database(std::string_view params, bool complete = true);

// The SQLSTATE (field 'C') of an ErrorResponse body; empty when the body (possibly cut) does not
// hold it. No other field (the message 'M' quotes values) is returned.
std::string_view error_sqlstate(std::string_view body);

// Whether the first bytes a client wrote on a connection are PostgreSQL: a StartupMessage,
// SSLRequest, GSSENCRequest or CancelRequest, or (a connection first seen after its start-up)
// a run of well-formed frontend messages. The bytes may be a capture-cut prefix.
bool looks_like_postgres_client(std::string_view first_egress_bytes);

}  // namespace hodos::protocols::postgres
