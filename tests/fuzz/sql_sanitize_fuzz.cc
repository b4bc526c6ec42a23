// libFuzzer target for the SQL sanitizer (protocols/sql/sanitize.h). The input is taken as SQL
// text as it is, and as the seed of generated SQL whose literals and comments hold secrets; the
// checks in tests/unit/protocols/sql/fuzz_check.h say what must hold for both.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "../unit/protocols/sql/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::string failure = hodos::protocols::sql::fuzz::check_input(input);
  if (!failure.empty()) {
    std::fprintf(stderr, "sql_sanitize_fuzz: %s\n", failure.c_str());
    std::abort();
  }
  return 0;
}
