#include "core/span_batch.h"

#include <gtest/gtest.h>

namespace hodos::core {
namespace {

SpanBatch make_batch(const std::string& name, int n) {
  SpanBatch b;
  Arena& a = b.arena();
  Resource* r = b.new_resource();
  upsert_attribute(a, r->attributes, "service.name", AnyValue::string("svc"));
  for (int i = 0; i < n; ++i) {
    Span s;
    s.trace_id = TraceId::random();
    s.span_id = SpanId::random();
    s.name = a.copy(name + std::to_string(i));
    s.resource = r;
    upsert_attribute(a, s.attributes, "i", AnyValue::integer(i));
    b.spans().push_back(s);
  }
  return b;
}

TEST(SpanBatch, AppendKeepsDataAliveAfterSourceIsGone) {
  SpanBatch a = make_batch("a", 3);
  {
    SpanBatch b = make_batch("b", 2);
    a.append(std::move(b));
  }
  ASSERT_EQ(a.size(), 5u);
  EXPECT_EQ(a.spans()[4].name, "b1");
  EXPECT_EQ(find_attribute(a.spans()[4].resource->attributes, "service.name")->str, "svc");
}

TEST(SpanBatch, TakeFrontSharesArenasAndWritesGoToFreshArena) {
  SpanBatch a = make_batch("a", 4);
  SpanBatch front = a.take_front(3);
  EXPECT_EQ(front.size(), 3u);
  EXPECT_EQ(a.size(), 1u);
  // Writing into either side must not touch an arena the other side reads.
  Arena* fa = &front.arena();
  Arena* aa = &a.arena();
  EXPECT_NE(fa, aa);
  upsert_attribute(front.arena(), front.spans()[0].attributes, "x", AnyValue::boolean(true));
  EXPECT_EQ(front.spans()[0].attributes.size(), 2u);
  EXPECT_EQ(a.spans()[0].name, "a3");
}

TEST(SpanBatch, DeepCopySharesNothing) {
  SpanBatch a = make_batch("a", 2);
  SpanBatch c = a.deep_copy();
  ASSERT_EQ(c.size(), 2u);
  EXPECT_NE(c.spans()[0].name.data(), a.spans()[0].name.data());
  EXPECT_EQ(c.spans()[0].name, a.spans()[0].name);
  EXPECT_NE(c.spans()[0].resource, a.spans()[0].resource);
  EXPECT_EQ(c.spans()[0].resource, c.spans()[1].resource);  // sharing is preserved
  EXPECT_TRUE(c.spans()[1].attributes[0] == a.spans()[1].attributes[0]);
}

TEST(Attributes, UpsertEraseAndNestedToString) {
  Arena arena;
  AttrList attrs;
  upsert_attribute(arena, attrs, "k", AnyValue::string("v1"));
  upsert_attribute(arena, attrs, "k", AnyValue::string("v2"));
  ASSERT_EQ(attrs.size(), 1u);
  EXPECT_EQ(find_attribute(attrs, "k")->str, "v2");
  ArenaVector<AnyValue> arr;
  arr.push_back(arena, AnyValue::integer(1));
  arr.push_back(arena, AnyValue::string("x\"y"));
  AttrList inner;
  upsert_attribute(arena, inner, "n", AnyValue::floating(1.5));
  arr.push_back(arena, AnyValue::kvlist_of(inner));
  EXPECT_EQ(AnyValue::array_of(arr).to_string(), R"([1,"x\"y",{"n":1.5}])");
  EXPECT_TRUE(erase_attribute(attrs, "k"));
  EXPECT_FALSE(erase_attribute(attrs, "k"));
  EXPECT_TRUE(attrs.empty());
}

}  // namespace
}  // namespace hodos::core
