// libFuzzer target: decode_proto on arbitrary bytes must never crash, and what it accepts must
// survive encode_proto and a second decode (see fuzz_roundtrip.h).
#include <google/protobuf/stubs/logging.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "fuzz_roundtrip.h"
#include "otlp/otlp_codec.h"

// Invalid UTF-8 in a string field makes libprotobuf log an error per input: silence it.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::string failure = hodos::fuzz::check_round_trip(input, hodos::otlp::decode_proto,
                                                      hodos::otlp::encode_proto, true);
  if (!failure.empty()) {
    std::fprintf(stderr, "otlp_proto_fuzz: %s\n", failure.c_str());
    std::abort();
  }
  return 0;
}
