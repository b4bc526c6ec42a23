// What the captured fixtures (fixtures.h) give when replayed whole, from either side.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "replay.h"

namespace hodos::protocols::http2::testing {

// What every fixture gives, seen from either side.
inline const std::map<std::string_view, std::vector<std::string>>& expected_exchanges() {
  static const std::map<std::string_view, std::vector<std::string>> kExpected = {
      {"h2c_get", {"#1 GET /hello?x=1 -> 200 req=0 resp=13"}},
      {"h2c_post", {"#1 POST /items -> 201 req=39999 resp=18"}},
      {"h2c_concurrent",
       {"#7 GET /slow/4 -> 200 req=0 resp=4000", "#5 GET /slow/3 -> 200 req=0 resp=3000",
        "#3 GET /slow/2 -> 200 req=0 resp=2000", "#1 GET /slow/1 -> 200 req=0 resp=1000"}},
      {"h2c_continuation", {"#1 GET /big -> 200 req=0 resp=3"}},
      {"h2c_dynamic_table",
       {"#1 GET /items/1 -> 200 req=0 resp=14", "#3 GET /items/2 -> 200 req=0 resp=14",
        "#5 GET /items/3 -> 200 req=0 resp=14"}},
      {"h2c_table_size",
       {"#1 GET /t/1 -> 200 req=0 resp=5", "#3 GET /t/2 -> 200 req=0 resp=5",
        "#5 GET /t/3 -> 200 req=0 resp=5"}},
      {"h2c_rst_stream",
       {"#1 GET /refused -> 0 req=0 resp=0 reset-by-server=REFUSED_STREAM",
        "#3 GET /stream -> 200 req=0 resp=200 reset-by-client=CANCEL",
        "#5 GET /after -> 200 req=0 resp=6"}},
      {"h2c_padded_priority_ping", {"#1 GET /padded -> 200 req=0 resp=7 trailers"}},
      {"h2c_push_promise",
       {"#1 GET /page -> 200 req=0 resp=11", "#2 GET /style.css -> 200 req=0 resp=9 pushed"}},
      {"grpc_unary_ok",
       {"#1 POST /hodos.test.Inventory/GetItem -> 200 req=15 resp=15 msgs=1/1 grpc=0 trailers"}},
      {"grpc_not_found",
       {"#1 POST /hodos.test.Inventory/GetItem -> 200 req=14 resp=0 msgs=1/0 grpc=5 trailers"}},
      {"grpc_server_streaming",
       {"#1 POST /hodos.test.Inventory/ListItems -> 200 req=15 resp=45 msgs=1/3 grpc=0 "
        "trailers"}},
      {"grpc_client_streaming",
       {"#1 POST /hodos.test.Inventory/AddItems -> 200 req=42 resp=14 msgs=3/1 grpc=0 "
        "trailers"}},
      {"grpc_trailers_only",
       {"#1 POST /hodos.test.Inventory/Missing -> 200 req=8 resp=0 msgs=1/0 grpc=12"}},
      {"grpc_deadline",
       {"#1 POST /hodos.test.Inventory/GetItem -> 0 req=11 resp=0 msgs=1/0 "
        "reset-by-client=CANCEL",
        "#3 POST /hodos.test.Inventory/Exchange -> 200 req=20 resp=30 msgs=2/2 grpc=0 "
        "trailers"}},
      {"grpc_go_server",
       {"#1 POST /hodos.test.Inventory/GetItem -> 200 req=15 resp=15 msgs=1/1 grpc=0 trailers",
        "#3 POST /hodos.test.Inventory/GetItem -> 200 req=14 resp=0 msgs=1/0 grpc=5",
        "#5 POST /hodos.test.Inventory/ListItems -> 200 req=15 resp=43 msgs=1/3 grpc=0 "
        "trailers"}},
      {"grpc_go_client",
       {"#1 POST /hodos.test.Inventory/GetItem -> 200 req=15 resp=15 msgs=1/1 grpc=0 trailers",
        "#3 POST /hodos.test.Inventory/AddItems -> 200 req=42 resp=14 msgs=3/1 grpc=0 "
        "trailers"}},
  };
  return kExpected;
}

inline uint64_t gave_up(const MatchCounters& c) {
  return c.undecodable + c.headers_lost + c.framing_lost + c.hpack_errors + c.invalid_frames;
}

// The counters of a clean run: nothing lost, nothing left over.
inline void expect_clean(const Replayed& run, std::string_view name) {
  const MatchCounters& c = run.counters;
  EXPECT_EQ(gave_up(c), 0u) << name;
  EXPECT_EQ(c.skipped_bytes, 0u) << name;
  EXPECT_EQ(c.truncated, 0u) << name;
  EXPECT_EQ(c.unmatched_requests, 0u) << name;
  EXPECT_EQ(c.exchanges, run.exchanges.size()) << name;
  EXPECT_EQ(c.requests, run.exchanges.size()) << name;
}

}  // namespace hodos::protocols::http2::testing
