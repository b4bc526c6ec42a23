// libFuzzer target for the PostgreSQL matcher and client detection. The input is a captured
// conversation (records of direction, length, bytes); the checks in
// tests/unit/protocols/postgres/fuzz_check.h feed it to the matcher whole, re-chunked and with
// capture cuts, and check the calls it reports.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "../unit/protocols/postgres/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::string failure = hodos::protocols::postgres::fuzz::check_input(input);
  if (!failure.empty()) {
    std::fprintf(stderr, "postgres_fuzz: %s\n", failure.c_str());
    std::abort();
  }
  return 0;
}
