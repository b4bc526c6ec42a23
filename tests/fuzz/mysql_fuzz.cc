// libFuzzer target for the MySQL matcher (protocols/mysql/). The input is a conversation of
// records (direction, whether the capture cuts it, bytes); the checks in
// tests/unit/protocols/mysql/fuzz_check.h feed it cut into chunks, some captured short.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "../unit/protocols/mysql/fuzz_check.h"
#include "protocols/mysql/packet.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::string failure = hodos::protocols::mysql::fuzz::check_input(input);
  // The recognisers and field readers on the raw bytes: they must not read past them.
  (void)hodos::protocols::mysql::looks_like_mysql_server_greeting(input);
  (void)hodos::protocols::mysql::looks_like_mysql_client(input);
  (void)hodos::protocols::mysql::parse_greeting(input);
  (void)hodos::protocols::mysql::parse_handshake_response(input);
  (void)hodos::protocols::mysql::status_flags(input);
  if (!failure.empty()) {
    std::fprintf(stderr, "mysql_fuzz: %s\n", failure.c_str());
    std::abort();
  }
  return 0;
}
