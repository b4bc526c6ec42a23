// Feeding conversations to the PostgreSQL matcher, shared by the unit tests and the fuzz checks.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "captures.h"
#include "protocols/db_call.h"
#include "protocols/postgres/match.h"

namespace hodos::protocols::postgres::testing {

struct Run {
  std::vector<DbCall> calls;
  DbMatchCounters counters;
  bool active = true;
};

// Turn i gets timestamp 1000 * (i + 1).
inline uint64_t turn_ns(size_t i) { return 1000 * (i + 1); }

inline Run replay(const std::vector<Turn>& turns, DbMatchOptions options = {}, bool close = true) {
  Run run;
  auto matcher = make_postgres_matcher(
      [&run](DbCall&& call) { run.calls.push_back(std::move(call)); }, options);
  for (size_t i = 0; i < turns.size(); ++i) {
    matcher->feed(turns[i].direction, {turns[i].captured, turns[i].length, turn_ns(i)});
  }
  run.active = matcher->active();
  if (close) matcher->close();
  run.counters = matcher->counters();
  return run;
}

// What a span shows of a call, without its timestamps: "SELECT users", "INSERT users !23505",
// "? x3" (no operation, three statements), "~" when truncated.
inline std::string describe(const DbCall& c) {
  std::string out = c.operation.empty() ? "?" : c.operation;
  if (!c.collection.empty()) out += " " + c.collection;
  if (c.error) out += " !" + c.status_code;
  if (c.batch_size > 0) out += " x" + std::to_string(c.batch_size);
  if (c.truncated) out += " ~";
  return out;
}

inline std::vector<std::string> describe(const std::vector<DbCall>& calls) {
  std::vector<std::string> out;
  for (const DbCall& c : calls) out.push_back(describe(c));
  return out;
}

// Values the captured conversations carry in literals, bound parameters, rows, error messages,
// notifications and authentication: none may reach a call when literals are not kept.
inline const std::vector<std::string_view>& secrets() {
  static const std::vector<std::string_view> all = {"alice@example.com",
                                                    "mallory",
                                                    "secret-value",
                                                    "payload-secret",
                                                    "hp-secret-pw",
                                                    "Key (id)",
                                                    "duplicate",
                                                    "eve@example",
                                                    "x@example.com",
                                                    "division",
                                                    "carol",
                                                    "99.5",
                                                    "postgres",
                                                    "SCRAM",
                                                    "hello",
                                                    "100000",
                                                    "100.5",
                                                    "missing_table\" does"};
  return all;
}

// Empty when no field of the call holds a secret, else the first one found.
inline std::string leaked_secret(const DbCall& c) {
  for (std::string_view secret : secrets()) {
    for (const std::string* field :
         {&c.namespace_name, &c.operation, &c.collection, &c.query_text, &c.status_code}) {
      if (field->find(secret) != std::string::npos) return std::string(secret);
    }
  }
  return "";
}

}  // namespace hodos::protocols::postgres::testing
