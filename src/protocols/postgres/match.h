// The client side of a PostgreSQL (protocol v3) connection turned into database calls: one per
// simple Query, one per extended-protocol Execute, each with its sanitized statement and its
// answer's outcome (SQLSTATE on error). Start-up is followed only for the database name;
// authentication is passed over unread.
//
// Matching: the server answers in order. A simple Query ends at ReadyForQuery ('Z'). An Execute
// ends at its CommandComplete, EmptyQueryResponse, PortalSuspended or ErrorResponse; after an
// error the server skips to the next Sync, so the Executes before that Sync never get an answer
// (counted unmatched); each Sync ends at its 'Z', so several Sync groups may be in flight.
//
// Timestamps: start_ns of a Query is its chunk's; of an Execute, that of the chunk holding the
// first message sent since the previous Execute or Sync (the Parse/Bind that prepared it, or the
// Execute itself when it reuses a portal). end_ns is the chunk holding the answer's last byte.
#pragma once

#include <memory>

#include "protocols/db_call.h"
#include "protocols/postgres/parse.h"

namespace hodos::protocols::postgres {

std::unique_ptr<DbMatcher> make_postgres_matcher(DbMatcher::Sink sink, DbMatchOptions options = {});

}  // namespace hodos::protocols::postgres
