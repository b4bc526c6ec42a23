// libFuzzer target for the HTTP/1.x parsers and the connection matcher. The input is a captured
// conversation (requests, then responses from the first status line on); the checks in
// tests/unit/protocols/http1/fuzz_check.h parse it whole and by prefixes, and feed it to the
// matcher cut into chunks, some shortened as the eBPF capture shortens them.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "../unit/protocols/http1/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::string failure = hodos::protocols::http1::fuzz::check_input(input);
  if (!failure.empty()) {
    std::fprintf(stderr, "http1_fuzz: %s\n", failure.c_str());
    std::abort();
  }
  return 0;
}
