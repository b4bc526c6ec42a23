// Shared by the OTLP/JSON and Zipkin decoders: parse a request body with simdjson and decode it
// into a batch that is appended only when the whole body was valid.
#pragma once

#include <fmt/format.h>
#include <simdjson.h>

#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "core/span_batch.h"

namespace hodos::otlp {

// `decode(root, batch)` throws `Error` (with a `message`) on invalid content. Returns the error
// text, or nullopt once the spans are appended to `batch`.
template <class Error, class Decode>
std::optional<std::string> decode_json_document(std::string_view json, core::SpanBatch& batch,
                                                Decode&& decode) {
  // The thread's parser keeps its buffers between requests; a huge body gets a parser of its own
  // so that its memory is not pinned afterwards.
  constexpr size_t kMaxReusedParserBytes = 4 << 20;
  thread_local simdjson::dom::parser reused;
  std::optional<simdjson::dom::parser> own;
  simdjson::dom::parser& parser = json.size() > kMaxReusedParserBytes ? own.emplace() : reused;
  simdjson::dom::element root;
  if (auto err = parser.parse(json.data(), json.size()).get(root)) {
    return fmt::format("invalid JSON: {}", simdjson::error_message(err));
  }
  core::SpanBatch decoded;
  try {
    decode(root, decoded);
  } catch (Error& e) {
    return std::move(e.message);
  }
  batch.append(std::move(decoded));
  return std::nullopt;
}

}  // namespace hodos::otlp
