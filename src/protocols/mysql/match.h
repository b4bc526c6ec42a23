// MySQL/MariaDB client connections: recognising them from their first bytes, and the matcher
// that pairs each command with its answer into a DbCall (protocols/db_call.h).
//
// What becomes a call: COM_QUERY, COM_STMT_EXECUTE (with the text its COM_STMT_PREPARE sent),
// MariaDB's COM_STMT_BULK_EXECUTE, and a COM_STMT_PREPARE the server refused. Other commands
// (PING, INIT_DB, STMT_CLOSE/RESET, QUIT, ...) are followed so that their answers are not taken
// for another's, and INIT_DB or `USE db` changes the namespace of the calls after it.
// Never read: the user, authentication data, bound parameter values, LOCAL INFILE contents, rows,
// error messages (only the error number is kept).
#pragma once

#include <memory>
#include <string_view>

#include "protocols/db_call.h"

namespace hodos::protocols::mysql {

// The server speaks first: a packet with sequence id 0 holding protocol version 10 and a
// NUL-terminated version string.
bool looks_like_mysql_server_greeting(std::string_view first_ingress_bytes);

// A connection first seen mid-stream: one whole packet with sequence id 0 and the command byte
// of COM_QUERY, COM_STMT_PREPARE, COM_STMT_EXECUTE, COM_PING or COM_INIT_DB.
bool looks_like_mysql_client(std::string_view first_egress_bytes);

std::unique_ptr<DbMatcher> make_mysql_matcher(DbMatcher::Sink sink, DbMatchOptions options = {});

}  // namespace hodos::protocols::mysql
