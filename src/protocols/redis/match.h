// Redis client connections: recognising one from the first bytes the client writes, and pairing
// each command with its reply (RESP2 and RESP3, pipelines, transactions, pushes) into DbCalls.
//
// What a call says:
//  * operation: the command, upper case; container commands keep their subcommand
//    ("CLIENT SETNAME", "CONFIG GET"). query_text: the operation and one `?` per argument, or with
//    keep_literals the arguments as sent (quoted and escaped like redis-cli when not plain ASCII).
//    AUTH, HELLO, MIGRATE, ACL and CONFIG SET arguments are never kept: they carry passwords.
//  * namespace_name: the database index, "0" from the connection's start, following every
//    SELECT the server accepted; empty when the connection was first seen mid-stream (until a
//    SELECT), or when a SELECT's outcome was lost.
//  * error replies: status_code is the error's first word ("ERR", "WRONGTYPE") when it is an
//    upper-case code; the message is never kept.
//  * MULTI/EXEC: every command is its own call (queued ones end at their +QUEUED); the EXEC call
//    carries batch_size, the commands it ran (when two or more).
//  * RESP3 pushes ('>') answer no command; nor do SUBSCRIBE-family commands on a RESP3
//    connection (their confirmations are pushes): those count as requests, never as calls or
//    unmatched. On a RESP2 connection a SUBSCRIBE (or MONITOR)
//    turns the replies into a message stream: its call is emitted, then the matcher gives up.
//  * Lost framing (bytes the capture missed outside a bulk payload, or garbage): the requests
//    waiting are counted unmatched, and pairing resumes only on a reply chunk that, read from its
//    first byte, holds at most as many replies as commands were sent since; otherwise those are
//    dropped too. A client that writes its next command only after reading the previous reply (a
//    pooled connection) always resynchronises correctly; one that keeps reading the tail of an
//    old reply after writing new commands could only be misled if that tail parses as exactly a
//    whole number of replies, which is why a chunk with a gap never resynchronises.
//  * Chunk::length_only bytes are handled like uncaptured ones (a client does not sendfile).
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>

#include "protocols/db_call.h"

namespace hodos::protocols::redis {

// From the first bytes the client wrote on a connection: a RESP array of bulk strings whose first
// element is a command-like word, or an inline line naming one of a few commands (PING, INFO...).
// Any command is accepted, so a connection first seen mid-stream is recognised too. HTTP, TLS,
// the PostgreSQL and MySQL client messages and binary data are not.
bool looks_like_redis_client(std::string_view first_egress_bytes);

// Whether the matcher sees the connection from its first byte (the database index is then
// known to be 0 and the protocol RESP2 until HELLO 3) or from somewhere in the middle.
enum class ConnectionStart : uint8_t { kFromStart, kMidStream };

std::unique_ptr<DbMatcher> make_redis_matcher(DbMatcher::Sink sink, DbMatchOptions options = {});
std::unique_ptr<DbMatcher> make_redis_matcher(DbMatcher::Sink sink, DbMatchOptions options,
                                              ConnectionStart start);

}  // namespace hodos::protocols::redis
