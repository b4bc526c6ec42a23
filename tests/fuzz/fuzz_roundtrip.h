// The property every codec fuzz target checks, shared with the unit test that replays the in-tree
// corpora: decoding never crashes; a failed decode adds no spans; whatever decodes re-encodes into
// something that decodes again to as many spans.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/span_batch.h"

namespace hodos::fuzz {

using Decoder = std::optional<std::string> (*)(std::string_view, core::SpanBatch&);
using Encoder = std::string (*)(const core::SpanBatch&);

// Returns an empty string when the property holds, else what broke. `stable` also requires the
// second encoding to equal the first (true for OTLP, whose mapping is lossless; Zipkin's is not).
inline std::string check_round_trip(std::string_view input, Decoder decode, Encoder encode,
                                    bool stable) {
  core::SpanBatch batch;
  if (decode(input, batch)) {
    return batch.empty() ? "" : "a failed decode left spans in the batch";
  }
  std::string encoded = encode(batch);
  core::SpanBatch again;
  if (auto err = decode(encoded, again)) return "re-encoded data does not decode: " + *err;
  if (again.size() != batch.size()) return "span count changed in the round trip";
  if (stable && encode(again) != encoded) return "second encoding differs from the first";
  return "";
}

}  // namespace hodos::fuzz
