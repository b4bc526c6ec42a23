// gzip/deflate for request and response bodies (zlib behind this interface).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace hodos::net {

std::string gzip_compress(std::string_view data);
// Accepts gzip or zlib-wrapped deflate. nullopt when corrupt; `too_large` is set (and nullopt
// returned) when the output would exceed `max_output` (a decompression bomb is a 413, not an OOM).
std::optional<std::string> gzip_decompress(std::string_view data, size_t max_output,
                                           bool* too_large = nullptr);

}  // namespace hodos::net
