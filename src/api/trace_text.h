// Plain-text views of traces in the Jaeger JSON this API serves, for `hodos traces list|show`:
// a one-line summary per trace and an indented span tree with services, kinds, durations and
// errors (red when colour is on).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace hodos::api {

struct TraceSummary {
  std::string trace_id;
  std::string root_service;    // service of the earliest span without a parent in the trace
  std::string root_operation;
  uint64_t start_us = 0;       // earliest span start
  uint64_t duration_us = 0;    // latest span end - earliest start
  size_t spans = 0;
  size_t services = 0;
  size_t errors = 0;           // spans tagged error=true
};

TraceSummary summarize_trace(const nlohmann::json& trace);

// "850µs", "12.35ms", "2.50s", "3m05s".
std::string format_duration_us(uint64_t micros);

// A header line, then one line per span, children under parents ordered by start:
//   GET /orders  frontend  server  12.35ms  +0µs
//   ├─ SELECT  db  client  3.10ms  +1.20ms
//   └─ charge  payments  client  5.00ms  +4.00ms  ERROR card declined
// Spans whose parent is not in the trace start their own tree.
std::string render_trace_tree(const nlohmann::json& trace, bool color);

}  // namespace hodos::api
