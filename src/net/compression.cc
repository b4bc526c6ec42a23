// gzip/deflate with zlib.
#include "net/compression.h"

#include <zlib.h>

#include <memory>

namespace hodos::net {

namespace {

struct DeflateStream {
  z_stream z{};
  bool ok = false;
  DeflateStream() {
    // 15 + 16: a gzip header and trailer rather than zlib's.
    ok = deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK;
  }
  ~DeflateStream() {
    if (ok) deflateEnd(&z);
  }
};

struct InflateStream {
  z_stream z{};
  bool ok = false;
  InflateStream() {
    // 15 + 32: detect gzip or zlib from the header.
    ok = inflateInit2(&z, 15 + 32) == Z_OK;
  }
  ~InflateStream() {
    if (ok) inflateEnd(&z);
  }
};

}  // namespace

std::string gzip_compress(std::string_view data) {
  DeflateStream d;
  if (!d.ok) return {};
  std::string out;
  out.resize(deflateBound(&d.z, data.size()));
  d.z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  d.z.avail_in = static_cast<uInt>(data.size());
  d.z.next_out = reinterpret_cast<Bytef*>(out.data());
  d.z.avail_out = static_cast<uInt>(out.size());
  // deflateBound guarantees one call with Z_FINISH completes (inputs here are < 4 GiB).
  int rc = deflate(&d.z, Z_FINISH);
  if (rc != Z_STREAM_END) return {};
  out.resize(d.z.total_out);
  return out;
}

std::optional<std::string> gzip_decompress(std::string_view data, size_t max_output,
                                           bool* too_large) {
  if (too_large) *too_large = false;
  InflateStream inf;
  if (!inf.ok) return std::nullopt;
  std::string out;
  // Compressed telemetry is typically 5-10x smaller; start there and grow.
  out.resize(std::min(max_output, std::max<size_t>(data.size() * 4, 4096)) + 1);
  size_t produced = 0;
  inf.z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  inf.z.avail_in = static_cast<uInt>(data.size());
  for (;;) {
    if (produced == out.size()) {
      if (produced > max_output) break;
      out.resize(std::min(out.size() * 2, max_output + 1));
    }
    inf.z.next_out = reinterpret_cast<Bytef*>(out.data() + produced);
    inf.z.avail_out = static_cast<uInt>(out.size() - produced);
    int rc = inflate(&inf.z, Z_NO_FLUSH);
    produced = out.size() - inf.z.avail_out;
    if (produced > max_output) break;
    if (rc == Z_STREAM_END) {
      // Concatenated gzip members form one stream (RFC 1952); anything else trailing is corrupt.
      if (inf.z.avail_in == 0) {
        out.resize(produced);
        return out;
      }
      if (inflateReset(&inf.z) != Z_OK) return std::nullopt;
      continue;
    }
    if (rc == Z_BUF_ERROR && inf.z.avail_in == 0) return std::nullopt;  // truncated
    if (rc != Z_OK && rc != Z_BUF_ERROR) return std::nullopt;
  }
  if (too_large) *too_large = true;
  return std::nullopt;
}

}  // namespace hodos::net
