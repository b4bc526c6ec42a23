// libFuzzer target: decode_zipkin_json on arbitrary bytes must never crash, and what it accepts
// must survive encode_zipkin_json and a second decode (see fuzz_roundtrip.h).
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "fuzz_roundtrip.h"
#include "otlp/zipkin_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::string failure = hodos::fuzz::check_round_trip(input, hodos::otlp::decode_zipkin_json,
                                                      hodos::otlp::encode_zipkin_json, false);
  if (!failure.empty()) {
    std::fprintf(stderr, "zipkin_json_fuzz: %s\n", failure.c_str());
    std::abort();
  }
  return 0;
}
