// Builders for MySQL protocol messages as the protocol documentation lays them out, for fixtures
// the captures do not have (MySQL 8's CLIENT_DEPRECATE_EOF, query attributes, TLS, ...).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "../bytes.h"
#include "captures.h"
#include "fuzz_check.h"
#include "protocols/mysql/packet.h"

namespace hodos::protocols::mysql::testing {

using test_bytes::bin;
using test_bytes::unhex;

inline std::string le(uint64_t v, size_t bytes) {
  std::string out;
  for (size_t i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  return out;
}

inline std::string lenenc(uint64_t v) {
  if (v < 0xfb) return le(v, 1);
  if (v <= 0xffff) return "\xfc" + le(v, 2);
  if (v <= 0xffffff) return "\xfd" + le(v, 3);
  return "\xfe" + le(v, 8);
}
inline std::string lenenc_str(std::string_view s) { return lenenc(s.size()) + std::string(s); }

inline std::string packet(uint8_t seq, std::string_view payload) {
  return le(payload.size(), 3) + le(seq, 1) + std::string(payload);
}

// What a MySQL 8 client and server agree on, before the flags a test is about: CLIENT_MYSQL,
// CONNECT_WITH_DB, PROTOCOL_41, SECURE_CONNECTION, MULTI_STATEMENTS, MULTI_RESULTS, PLUGIN_AUTH,
// PLUGIN_AUTH_LENENC_CLIENT_DATA.
inline constexpr uint32_t kBaseCaps = 0x1 | kClientConnectWithDb | kClientProtocol41 |
                                      kClientSecureConnection | 0x10000 | kClientMultiResults |
                                      0x80000 | kClientPluginAuthLenencData;

inline std::string greeting(uint32_t caps, std::string_view version = "8.0.36") {
  std::string p = "\x0a" + std::string(version) + std::string(1, '\0');
  p += le(7, 4) + "abcdefgh" + std::string(1, '\0');
  p += le(caps & 0xffff, 2) + "\x21" + le(2, 2) + le(caps >> 16, 2) + "\x15";
  p += std::string(10, '\0') + "ijklmnopqrst" + std::string(1, '\0');
  p += "caching_sha2_password" + std::string(1, '\0');
  return packet(0, p);
}

// HandshakeResponse41 from user "root" with 20 bytes of authentication data.
inline std::string handshake_response(uint32_t caps, std::string_view database) {
  std::string p = le(caps, 4) + le(1 << 24, 4) + "\x21" + std::string(23, '\0');
  p += "root" + std::string(1, '\0');
  std::string auth = "secretsecretsecret!!";
  p += (caps & kClientPluginAuthLenencData) ? lenenc_str(auth) : le(auth.size(), 1) + auth;
  if (caps & kClientConnectWithDb) p += std::string(database) + std::string(1, '\0');
  p += "caching_sha2_password" + std::string(1, '\0');
  return packet(1, p);
}

inline std::string ok(uint8_t seq, uint16_t status = 0x0002, uint8_t header = 0x00) {
  return packet(seq, le(header, 1) + lenenc(1) + lenenc(0) + le(status, 2) + le(0, 2));
}
inline std::string eof(uint8_t seq, uint16_t status = 0x0002) {
  return packet(seq, "\xfe" + le(0, 2) + le(status, 2));
}
inline std::string err(uint8_t seq, uint16_t code) {
  return packet(seq, "\xff" + le(code, 2) + "#23000Duplicate entry 'secret' for key 'PRIMARY'");
}
inline std::string column(uint8_t seq, std::string_view name) {
  std::string p = lenenc_str("def") + lenenc_str("shop") + lenenc_str("t") + lenenc_str("t") +
                  lenenc_str(name) + lenenc_str(name) + "\x0c" + le(33, 2) + le(255, 4) + "\xfd" +
                  le(0, 2) + le(0, 1) + le(0, 2);
  return packet(seq, p);
}
inline std::string row(uint8_t seq, std::initializer_list<std::string_view> values) {
  std::string p;
  for (std::string_view v : values) p += lenenc_str(v);
  return packet(seq, p);
}
inline std::string command(uint8_t cmd, std::string_view body) {
  return packet(0, std::string(1, static_cast<char>(cmd)) + std::string(body));
}
inline std::string query(std::string_view text) { return command(kComQuery, text); }

// A conversation as chunks, one per string, with the direction of each.
struct Step {
  Direction direction;
  std::string bytes;
};
inline Step out(std::string bytes) { return {Direction::kEgress, std::move(bytes)}; }
inline Step in(std::string bytes) { return {Direction::kIngress, std::move(bytes)}; }

inline std::vector<Step> captured(const CapturedChunk* begin, const CapturedChunk* end) {
  std::vector<Step> steps;
  for (const CapturedChunk* c = begin; c != end; ++c)
    steps.push_back({c->direction, unhex(c->hex)});
  return steps;
}

inline std::vector<fuzz::Piece> whole_pieces(const std::vector<Step>& steps) {
  std::vector<fuzz::Piece> pieces;
  for (const Step& s : steps) pieces.push_back({s.direction, s.bytes, s.bytes.size()});
  return pieces;
}

inline std::string as_records(const std::vector<Step>& steps) {
  std::vector<fuzz::Record> records;
  for (const Step& s : steps) records.push_back({s.direction, false, s.bytes});
  return fuzz::encode_records(records);
}

}  // namespace hodos::protocols::mysql::testing
