// libFuzzer target: decode_json on arbitrary bytes must never crash, and what it accepts must
// survive encode_json and a second decode (see fuzz_roundtrip.h).
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "fuzz_roundtrip.h"
#include "otlp/otlp_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::string failure = hodos::fuzz::check_round_trip(input, hodos::otlp::decode_json,
                                                      hodos::otlp::encode_json, true);
  if (!failure.empty()) {
    std::fprintf(stderr, "otlp_json_fuzz: %s\n", failure.c_str());
    std::abort();
  }
  return 0;
}
