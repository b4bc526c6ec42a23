// Which database, cache or queue protocol a client connection speaks, told from the first bytes seen on
// it, and the matcher for it. A connection first seen mid-stream is recognised by a command
// message too, so pooled connections opened before the agent started are followed.
#pragma once

#include <memory>
#include <string_view>

#include "protocols/db_call.h"

namespace hodos::protocols {

enum class DbProtocol : uint8_t { kNone, kPostgres, kMySql, kRedis, kKafka };

// kNone when the bytes are no known database protocol's (HTTP, TLS, anything else). Each
// recogniser rejects the others' messages, so the order does not decide.
DbProtocol detect_db_client(Direction direction, std::string_view first_bytes);

// `from_start`: the connection was seen from its first byte (its connect()), not mid-stream.
std::unique_ptr<DbMatcher> make_db_matcher(DbProtocol protocol, DbMatcher::Sink sink,
                                           const DbMatchOptions& options, bool from_start);

// "postgresql", "mysql", "redis" (db.system.name), "kafka" (messaging.system); "" for kNone.
std::string_view db_system_name(DbProtocol protocol);

}  // namespace hodos::protocols
