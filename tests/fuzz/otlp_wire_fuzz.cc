// libFuzzer target: the wire codec against the generated protobuf classes on
// arbitrary bytes (see otlp_wire_fuzz.h). Seeds: tests/fuzz/corpus/otlp_proto.
#include "otlp_wire_fuzz.h"

#include <google/protobuf/stubs/logging.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>

// Invalid UTF-8 in a string field makes libprotobuf log an error per input:
// silence it.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::string failure = hodos::fuzz::check_wire_matches_generated(input);
  if (!failure.empty()) {
    std::fprintf(stderr, "otlp_wire_fuzz: %s\n", failure.c_str());
    std::abort();
  }
  return 0;
}
