// libFuzzer target for the HTTP/2 frame parser and connection matcher (HPACK by nghttp2). The
// input is a conversation of records (sender, length, bytes); the checks in
// tests/unit/protocols/http2/fuzz_check.h parse its frames whole and cut, and feed it to the
// matcher in chunks both ways, some shortened as the eBPF capture shortens them.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "../unit/protocols/http2/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::string failure = hodos::protocols::http2::fuzz::check_input(input);
  if (!failure.empty()) {
    std::fprintf(stderr, "http2_fuzz: %s\n", failure.c_str());
    std::abort();
  }
  return 0;
}
