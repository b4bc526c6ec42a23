// libFuzzer target for the RESP decoder and the Redis client matcher. The input is a captured
// conversation (what the client wrote, a "====" line, what it read); the checks in
// tests/unit/protocols/redis/fuzz_check.h decode it whole and in pieces, and feed it to the
// matcher in chunks both ways, some shortened as the eBPF capture shortens them.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "../unit/protocols/redis/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::string failure = hodos::protocols::redis::fuzz::check_input(input);
  if (!failure.empty()) {
    std::fprintf(stderr, "redis_fuzz: %s\n", failure.c_str());
    std::abort();
  }
  return 0;
}
