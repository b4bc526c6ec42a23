#include "core/ids.h"

#include <gtest/gtest.h>

#include <set>

namespace hodos::core {
namespace {

TEST(Ids, HexRoundTripIsLowercase) {
  auto id = TraceId::from_hex("0AF7651916CD43DD8448EB211C80319C");
  ASSERT_TRUE(id.has_value());
  EXPECT_EQ(id->hex(), "0af7651916cd43dd8448eb211c80319c");
  EXPECT_EQ(id->bytes[0], 0x0a);
  EXPECT_EQ(id->bytes[15], 0x9c);
}

TEST(Ids, RejectsWrongLengthAndNonHex) {
  EXPECT_FALSE(TraceId::from_hex("0af7").has_value());
  EXPECT_FALSE(SpanId::from_hex("b7ad6b716920333g").has_value());
  EXPECT_FALSE(SpanId::from_bytes("abc").has_value());
  auto empty = SpanId::from_bytes("");
  ASSERT_TRUE(empty.has_value());
  EXPECT_FALSE(empty->valid());
}

TEST(Ids, RandomIdsAreValidAndDistinct) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    TraceId id = TraceId::random();
    EXPECT_TRUE(id.valid());
    seen.insert(id.hex());
  }
  EXPECT_EQ(seen.size(), 1000u);
}

}  // namespace
}  // namespace hodos::core
