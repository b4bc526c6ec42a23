#include "store/dependency_tracker.h"

#include <gtest/gtest.h>

namespace hodos::store {
namespace {

using Ref = DependencyTracker::SpanRef;

std::vector<DependencyTracker::Edge> observe(DependencyTracker& t, std::vector<Ref> refs) {
  std::vector<DependencyTracker::Edge> edges;
  t.observe(refs, &edges);
  return edges;
}

TEST(DependencyTracker, ParentInSameEarlierOrLaterBatch) {
  DependencyTracker t(1024);
  // Same batch, child listed before its parent.
  auto e = observe(t, {{2, 1, /*service=*/7, /*minute=*/100, true}, {1, 0, 5, 100, false}});
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].parent_service, 5u);
  EXPECT_EQ(e[0].child_service, 7u);
  EXPECT_EQ(e[0].minute, 100u);
  EXPECT_TRUE(e[0].error);
  // Parent seen in an earlier batch.
  e = observe(t, {{3, 1, 8, 101, false}});
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].child_service, 8u);
  // Children first, parent later: both children are resolved when it arrives.
  EXPECT_TRUE(observe(t, {{10, 9, 3, 102, false}, {11, 9, 4, 102, false}}).empty());
  e = observe(t, {{9, 0, 2, 103, false}});
  ASSERT_EQ(e.size(), 2u);
  EXPECT_EQ(e[0].parent_service, 2u);
  EXPECT_EQ(e[0].minute, 102u);  // the child's time
  // ...and only once.
  EXPECT_TRUE(observe(t, {{9, 0, 2, 103, false}}).empty());
}

// A sender that retries a request which got through sends the same spans again.
TEST(DependencyTracker, ASpanSentAgainCompletesNoEdgeAgain) {
  DependencyTracker t(1024);
  std::vector<DependencyTracker::Edge> edges;
  std::vector<uint8_t> repeated;
  std::vector<Ref> batch = {{1, 0, 5, 0, false}, {2, 1, 7, 0, false}};
  t.observe(batch, &edges, &repeated);
  EXPECT_EQ(edges.size(), 1u);
  EXPECT_EQ(repeated, (std::vector<uint8_t>{0, 0}));
  edges.clear();
  batch.push_back({3, 1, 8, 0, false});  // new with the resent ones
  t.observe(batch, &edges, &repeated);
  ASSERT_EQ(edges.size(), 1u);
  EXPECT_EQ(edges[0].child_service, 8u);
  EXPECT_EQ(repeated, (std::vector<uint8_t>{1, 1, 0}));
  // Twice in one batch: the second copy is the repeat.
  edges.clear();
  t.observe(std::vector<Ref>{{4, 1, 9, 0, false}, {4, 1, 9, 0, false}}, &edges, &repeated);
  EXPECT_EQ(edges.size(), 1u);
  EXPECT_EQ(repeated, (std::vector<uint8_t>{0, 1}));
}

TEST(DependencyTracker, SameServiceIsNoEdge) {
  DependencyTracker t(1024);
  EXPECT_TRUE(observe(t, {{1, 0, 5, 0, false}, {2, 1, 5, 0, false}}).empty());
}

TEST(DependencyTracker, StaysBoundedAndForgetsOldestSpans) {
  DependencyTracker t(64);
  std::vector<Ref> many;
  for (uint64_t id = 1; id <= 10'000; ++id) many.push_back({id, 0, 1, 0, false});
  observe(t, many);
  // The newest spans are still known; the first ones were evicted.
  EXPECT_EQ(observe(t, {{20'000, 10'000, 2, 0, false}}).size(), 1u);
  EXPECT_TRUE(observe(t, {{20'001, 1, 2, 0, false}}).empty());
}

}  // namespace
}  // namespace hodos::store
