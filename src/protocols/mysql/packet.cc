#include "protocols/mysql/packet.h"

#include <algorithm>

namespace hodos::protocols::mysql {

void PacketReader::feed(const Chunk& chunk) {
  // Whatever the previous chunk left unread is passed over (callers drain next() first).
  skipped_ += chunk_.size() + gap_;
  chunk_ = chunk.captured;
  gap_ = chunk.length > chunk.captured.size() ? chunk.length - chunk.captured.size() : 0;
  chunk_ts_ = chunk.timestamp_ns;
}

void PacketReader::resync() {
  header_have_ = 0;
  in_payload_ = false;
  payload_left_ = 0;
  continuing_ = false;
  lost_ = false;
}

void PacketReader::lose() {
  if (!lost_) ++truncated_packets_;
  lost_ = true;
  skipped_ += chunk_.size() + gap_;
  chunk_ = {};
  gap_ = 0;
}

PacketReader::Event PacketReader::next(Packet* out) {
  while (true) {
    if (lost_) {
      skipped_ += chunk_.size() + gap_;
      chunk_ = {};
      gap_ = 0;
      return Event::kLost;
    }
    if (!in_payload_) {
      if (chunk_.empty()) {
        if (gap_ == 0) return Event::kNeedMore;
        // Bytes went by where a header was due: where the next packet starts is unknown.
        lose();
        return Event::kLost;
      }
      size_t take = std::min(chunk_.size(), 4 - header_have_);
      std::copy_n(chunk_.data(), take, header_ + header_have_);
      if (header_have_ == 0 && !continuing_) packet_.start_ns = chunk_ts_;
      header_have_ += take;
      chunk_.remove_prefix(take);
      if (header_have_ < 4) continue;
      header_have_ = 0;
      uint32_t length = header_[0] | (header_[1] << 8) | (uint32_t{header_[2]} << 16);
      if (!continuing_) {
        uint64_t start = packet_.start_ns;
        packet_ = Packet{};
        packet_.start_ns = start;
        packet_.seq = header_[3];
        payload_.clear();
      }
      packet_.last_seq = header_[3];
      packet_.length += length;
      continuing_ = length == kMaxPacketPayload;
      payload_left_ = length;
      in_payload_ = true;
    }
    if (payload_left_ > 0) {
      if (!chunk_.empty()) {
        uint64_t take = std::min<uint64_t>(payload_left_, chunk_.size());
        // What is kept is a prefix of the payload: nothing after bytes that went by unseen.
        size_t room = keep_ > payload_.size() && !packet_.truncated ? keep_ - payload_.size() : 0;
        payload_.append(chunk_.data(), std::min<uint64_t>(take, room));
        chunk_.remove_prefix(take);
        payload_left_ -= take;
      } else if (gap_ > 0) {
        // Uncaptured payload bytes: skipped by length, the packet keeps its framing.
        uint64_t take = std::min(payload_left_, gap_);
        gap_ -= take;
        payload_left_ -= take;
        skipped_ += take;
        packet_.truncated = true;
      } else {
        return Event::kNeedMore;
      }
      if (payload_left_ > 0) continue;
    }
    in_payload_ = false;
    if (continuing_) continue;  // the next wire packet carries on this payload
    packet_.end_ns = chunk_ts_;
    packet_.payload = payload_;
    if (packet_.truncated) ++truncated_packets_;
    *out = packet_;
    return Event::kPacket;
  }
}

std::optional<uint64_t> read_lenenc(std::string_view* s) {
  if (s->empty()) return std::nullopt;
  uint8_t first = static_cast<uint8_t>((*s)[0]);
  size_t bytes = first < 0xfb ? 0 : first == 0xfc ? 2 : first == 0xfd ? 3 : first == 0xfe ? 8 : 9;
  if (bytes == 9 || s->size() < 1 + bytes) return std::nullopt;  // 0xfb (NULL), 0xff: no number
  uint64_t value = bytes == 0 ? first : 0;
  for (size_t i = 0; i < bytes; ++i) {
    value |= uint64_t{static_cast<uint8_t>((*s)[1 + i])} << (8 * i);
  }
  s->remove_prefix(1 + bytes);
  return value;
}

std::optional<uint32_t> read_le(std::string_view s, size_t offset, size_t bytes) {
  if (offset > s.size() || s.size() - offset < bytes) return std::nullopt;
  uint32_t value = 0;
  for (size_t i = 0; i < bytes; ++i) {
    value |= uint32_t{static_cast<uint8_t>(s[offset + i])} << (8 * i);
  }
  return value;
}

uint16_t status_flags(std::string_view payload) {
  if (payload.empty()) return 0;
  if (static_cast<uint8_t>(payload[0]) == kEof && payload.size() < 7) {
    return static_cast<uint16_t>(read_le(payload, 3, 2).value_or(0));  // EOF: warnings, status
  }
  std::string_view rest = payload.substr(1);
  if (!read_lenenc(&rest) || !read_lenenc(&rest)) return 0;  // affected rows, last insert id
  return static_cast<uint16_t>(read_le(rest, 0, 2).value_or(0));
}

std::optional<Greeting> parse_greeting(std::string_view p) {
  if (p.size() < 2 || p[0] != 10) return std::nullopt;
  size_t nul = p.find('\0', 1);
  if (nul == std::string_view::npos) return std::nullopt;
  size_t at = nul + 1 + 4 + 8 + 1;  // thread id, auth data part 1, filler
  auto low = read_le(p, at, 2);
  if (!low) return std::nullopt;
  Greeting g;
  g.capabilities = *low;
  if (auto high = read_le(p, at + 5, 2)) g.capabilities |= *high << 16;  // after charset, status
  // MariaDB's extended capabilities sit in the last 4 of the 10 reserved bytes, which a server
  // that sets CLIENT_MYSQL (bit 0) leaves as they are.
  if (!(g.capabilities & 1)) g.mariadb_capabilities = read_le(p, at + 7 + 1 + 6, 4).value_or(0);
  return g;
}

std::optional<HandshakeResponse> parse_handshake_response(std::string_view p) {
  auto caps = read_le(p, 0, 4);
  if (!caps || !(*caps & kClientProtocol41) || p.size() < 32) return std::nullopt;
  HandshakeResponse r;
  r.capabilities = *caps;
  if (!(r.capabilities & 1)) r.mariadb_capabilities = read_le(p, 28, 4).value_or(0);
  if (!(r.capabilities & kClientConnectWithDb)) return r;
  // Past the user name and the authentication data (skipped unread) to the database.
  std::string_view rest = p.substr(32);
  size_t nul = rest.find('\0');
  if (nul == std::string_view::npos) return r;
  rest.remove_prefix(nul + 1);
  if (r.capabilities & kClientPluginAuthLenencData) {
    auto n = read_lenenc(&rest);
    if (!n || *n > rest.size()) return r;
    rest.remove_prefix(*n);
  } else if (r.capabilities & kClientSecureConnection) {
    if (rest.empty()) return r;
    size_t n = static_cast<uint8_t>(rest[0]);
    if (n + 1 > rest.size()) return r;
    rest.remove_prefix(n + 1);
  } else {
    nul = rest.find('\0');
    if (nul == std::string_view::npos) return r;
    rest.remove_prefix(nul + 1);
  }
  nul = rest.find('\0');
  if (nul == std::string_view::npos || nul > 256) return r;  // cut, or no database name
  r.database.assign(rest.substr(0, nul));
  return r;
}

}  // namespace hodos::protocols::mysql
