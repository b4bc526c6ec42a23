#include "processors/resource.h"

#include <gtest/gtest.h>

#include <set>

#include "processor_test_util.h"

namespace hodos::processors {
namespace {

using core::AnyValue;
using testing::Harness;
using testing::make_batch;
using testing::RecordingSink;

std::string resource_attr(const core::Span& s, std::string_view key) {
  const AnyValue* v = core::find_attribute(s.resource->attributes, key);
  return v ? v->to_string() : "<absent>";
}

constexpr const char* kConfig = R"(
attributes:
  - {key: deployment.environment, value: prod, action: upsert}
  - {key: service.name, action: hash}
)";

TEST(ResourceProcessor, EditsEachDistinctResourceOnce) {
  Harness h;
  RecordingSink sink;
  auto factory = make_resource_processor_factory();
  auto p = h.create(*factory, kConfig, sink);
  EXPECT_TRUE(p->mutates_data());
  core::SpanBatch b = make_batch(3, "shop");
  b.append(make_batch(3, "billing"));
  ASSERT_TRUE(p->consume(std::move(b)).is_ok());
  const auto& spans = sink.batches()[0].spans();
  std::set<const core::Resource*> distinct;
  for (const auto& s : spans) {
    EXPECT_EQ(resource_attr(s, "deployment.environment"), "prod");
    EXPECT_EQ(resource_attr(s, "service.name").size(), 64u);
    distinct.insert(s.resource);
  }
  EXPECT_EQ(distinct.size(), 2u) << "spans that shared a resource still share one";
  EXPECT_EQ(spans[0].resource, spans[2].resource);
  EXPECT_NE(resource_attr(spans[0], "service.name"), resource_attr(spans[3], "service.name"));
}

TEST(ResourceProcessor, CopyOnWriteLeavesOtherBatchesUntouched) {
  Harness h;
  RecordingSink sink;
  auto factory = make_resource_processor_factory();
  auto p = h.create(*factory, kConfig, sink);
  core::SpanBatch rest = make_batch(4, "shop");
  const core::Resource* original = rest.spans()[0].resource;
  core::SpanBatch front = rest.take_front(2);  // both halves now point at `original`
  core::SpanBatch shared = rest.share();
  ASSERT_TRUE(p->consume(std::move(front)).is_ok());

  EXPECT_EQ(resource_attr(sink.batches()[0].spans()[0], "deployment.environment"), "prod");
  EXPECT_NE(sink.batches()[0].spans()[0].resource, original);
  for (const core::SpanBatch* other : {&rest, &shared}) {
    for (const auto& s : other->spans()) {
      EXPECT_EQ(s.resource, original);
      EXPECT_EQ(resource_attr(s, "service.name"), "shop");
      EXPECT_EQ(resource_attr(s, "deployment.environment"), "<absent>");
    }
  }
  EXPECT_EQ(original->attributes.size(), 1u);
}

TEST(ResourceProcessor, ConfigErrorsNameTheKeyPath) {
  Harness h;
  auto factory = make_resource_processor_factory();
  EXPECT_EQ(h.config_error(*factory, ""),
            "processors.resource.attributes: required; list at least one action, e.g. [{key: "
            "deployment.environment, value: prod, action: upsert}]");
  EXPECT_EQ(h.config_error(*factory, "attributes: [{key: a, value: 1, action: upsrt}]"),
            "processors.resource.attributes[0].action: unknown action 'upsrt'; use insert, update, "
            "upsert, delete, hash, extract, convert");
  EXPECT_EQ(h.config_error(*factory, "actions: [{key: a, value: 1, action: upsert}]")
                .rfind("processors.resource.actions: unknown key", 0),
            0u);
}

}  // namespace
}  // namespace hodos::processors
