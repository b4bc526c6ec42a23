// libFuzzer target for the Kafka matcher (protocols/kafka/). The input is a conversation of
// records (direction, whether the capture cuts it, bytes); the checks in
// tests/unit/protocols/kafka/fuzz_check.h feed it cut into chunks, some captured short.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "../unit/protocols/kafka/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::string failure = hodos::protocols::kafka::fuzz::check_input(input);
  // The recogniser on the raw bytes: it must not read past them.
  (void)hodos::protocols::kafka::looks_like_kafka_client(input);
  if (!failure.empty()) {
    std::fprintf(stderr, "kafka_fuzz: %s\n", failure.c_str());
    std::abort();
  }
  return 0;
}
