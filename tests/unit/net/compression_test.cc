#include "net/compression.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <string>

namespace hodos::net {
namespace {

std::string sample(size_t n) {
  std::string s;
  for (size_t i = 0; s.size() < n; ++i) s += "span-" + std::to_string(i % 97) + ";";
  s.resize(n);
  return s;
}

TEST(CompressionTest, GzipRoundTrip) {
  std::string in = sample(100'000);
  std::string gz = gzip_compress(in);
  ASSERT_GE(gz.size(), 2u);
  EXPECT_EQ(static_cast<unsigned char>(gz[0]), 0x1f);  // gzip magic, not zlib
  EXPECT_EQ(static_cast<unsigned char>(gz[1]), 0x8b);
  EXPECT_LT(gz.size(), in.size());
  bool too_large = true;
  auto out = gzip_decompress(gz, in.size(), &too_large);
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(*out, in);
  EXPECT_FALSE(too_large);
}

TEST(CompressionTest, EmptyInputRoundTrips) {
  auto out = gzip_decompress(gzip_compress(""), 10);
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(*out, "");
}

TEST(CompressionTest, InflatesZlibWrappedDeflate) {
  std::string in = sample(5000);
  uLongf len = compressBound(in.size());
  std::string z(len, '\0');
  ASSERT_EQ(compress2(reinterpret_cast<Bytef*>(z.data()), &len,
                      reinterpret_cast<const Bytef*>(in.data()), in.size(), 6),
            Z_OK);
  z.resize(len);
  auto out = gzip_decompress(z, 1 << 20);
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(*out, in);
}

TEST(CompressionTest, ConcatenatedGzipMembersAreOneStream) {
  auto out = gzip_decompress(gzip_compress("hello ") + gzip_compress("world"), 100);
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(*out, "hello world");
}

TEST(CompressionTest, CorruptAndTruncatedInputFail) {
  std::string gz = gzip_compress(sample(10'000));
  bool too_large = true;
  EXPECT_FALSE(gzip_decompress("definitely not gzip", 1 << 20, &too_large).has_value());
  EXPECT_FALSE(too_large);
  EXPECT_FALSE(gzip_decompress(gz.substr(0, gz.size() / 2), 1 << 20, &too_large).has_value());
  EXPECT_FALSE(too_large);
  EXPECT_FALSE(gzip_decompress(gz + "trailing", 1 << 20).has_value());
  EXPECT_FALSE(gzip_decompress("", 1 << 20).has_value());
}

TEST(CompressionTest, BombStopsAtLimit) {
  // 64 MiB of zeros compress to ~64 KiB; inflating must stop at the limit, not allocate 64 MiB.
  std::string zeros(64u << 20, '\0');
  std::string gz = gzip_compress(zeros);
  zeros.clear();
  zeros.shrink_to_fit();
  ASSERT_LT(gz.size(), 256u << 10);
  bool too_large = false;
  EXPECT_FALSE(gzip_decompress(gz, 1u << 20, &too_large).has_value());
  EXPECT_TRUE(too_large);
}

TEST(CompressionTest, OutputExactlyAtLimitIsAccepted) {
  std::string in = sample(4096);
  bool too_large = true;
  auto out = gzip_decompress(gzip_compress(in), in.size(), &too_large);
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(out->size(), in.size());
  EXPECT_FALSE(too_large);
  EXPECT_FALSE(gzip_decompress(gzip_compress(in), in.size() - 1, &too_large).has_value());
  EXPECT_TRUE(too_large);
}

}  // namespace
}  // namespace hodos::net
