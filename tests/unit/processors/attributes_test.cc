#include "processors/attributes.h"

#include <gtest/gtest.h>

#include "processor_test_util.h"

namespace hodos::processors {
namespace {

using core::AnyValue;
using core::ValueType;
using testing::Harness;
using testing::make_batch;
using testing::RecordingSink;

// A batch of one span ("GET /users", server kind, service "shop") with some typed attributes.
core::SpanBatch one_span(std::string_view service = "shop", std::string_view name = "GET /users") {
  core::SpanBatch b = make_batch(1, service);
  core::Arena& a = b.arena();
  core::Span& s = b.spans()[0];
  s.name = a.copy(name);
  s.kind = core::SpanKind::kServer;
  core::upsert_attribute(a, s.attributes, "http.url", AnyValue::string("/api/v1/users/123"));
  core::upsert_attribute(a, s.attributes, "user.email", AnyValue::string("abc"));
  core::upsert_attribute(a, s.attributes, "user.phone", AnyValue::string("555"));
  core::upsert_attribute(a, s.attributes, "http.status_code", AnyValue::integer(42));
  core::upsert_attribute(a, s.attributes, "count", AnyValue::string("123"));
  core::upsert_attribute(a, s.attributes, "ratio", AnyValue::string("1.5"));
  core::upsert_attribute(a, s.attributes, "flag", AnyValue::boolean(true));
  core::upsert_attribute(a, s.attributes, "weight", AnyValue::floating(1.5));
  return b;
}

class AttributesTest : public ::testing::Test {
 protected:
  // Runs `yaml` over `batch` and returns the processed batch.
  core::SpanBatch run(const std::string& yaml, core::SpanBatch batch) {
    RecordingSink sink;
    auto p = h_.create(*factory_, yaml, sink);
    EXPECT_TRUE(p->mutates_data());
    EXPECT_TRUE(p->consume(std::move(batch)).is_ok());
    EXPECT_EQ(sink.batches().size(), 1u);
    return std::move(sink.batches()[0]);
  }
  core::SpanBatch run(const std::string& yaml) { return run(yaml, one_span()); }

  static const AnyValue* attr(const core::Span& s, std::string_view key) {
    return core::find_attribute(s.attributes, key);
  }
  static std::string str(const core::Span& s, std::string_view key) {
    const AnyValue* v = attr(s, key);
    if (!v) return "<absent>";
    EXPECT_EQ(v->type, ValueType::kString) << key;
    return std::string(v->str);
  }

  Harness h_;
  std::unique_ptr<pipeline::ProcessorFactory> factory_ = make_attributes_processor_factory();
};

TEST_F(AttributesTest, InsertUpdateUpsert) {
  auto b = run(R"(
actions:
  - {key: env, value: prod, action: insert}
  - {key: http.url, value: replaced, action: insert}
  - {key: user.email, value: hidden, action: update}
  - {key: missing, value: x, action: update}
  - {key: user.phone, value: none, action: UPSERT}
  - {key: region, value: eu, action: upsert}
)");
  const core::Span& s = b.spans()[0];
  EXPECT_EQ(str(s, "env"), "prod");
  EXPECT_EQ(str(s, "http.url"), "/api/v1/users/123") << "insert never overwrites";
  EXPECT_EQ(str(s, "user.email"), "hidden");
  EXPECT_EQ(attr(s, "missing"), nullptr) << "update never creates";
  EXPECT_EQ(str(s, "user.phone"), "none");
  EXPECT_EQ(str(s, "region"), "eu");
}

TEST_F(AttributesTest, FromAttribute) {
  auto b = run(R"(
actions:
  - {key: url.copy, from_attribute: http.url, action: insert}
  - {key: never, from_attribute: no.such.key, action: upsert}
)");
  EXPECT_EQ(str(b.spans()[0], "url.copy"), "/api/v1/users/123");
  EXPECT_EQ(attr(b.spans()[0], "never"), nullptr);
}

TEST_F(AttributesTest, TypedValuesFromYaml) {
  auto b = run(R"(
actions:
  - {key: i, value: 42, action: insert}
  - {key: neg, value: -7, action: insert}
  - {key: hex, value: 0x1F, action: insert}
  - {key: d, value: 4.5, action: insert}
  - {key: b, value: true, action: insert}
  - {key: quoted, value: "42", action: insert}
  - {key: s, value: abc, action: insert}
  - {key: arr, value: [1, "a"], action: insert}
  - {key: map, value: {x: 1}, action: insert}
)");
  const core::Span& s = b.spans()[0];
  ASSERT_EQ(attr(s, "i")->type, ValueType::kInt);
  EXPECT_EQ(attr(s, "i")->int_value, 42);
  EXPECT_EQ(attr(s, "neg")->int_value, -7);
  EXPECT_EQ(attr(s, "hex")->int_value, 31);
  ASSERT_EQ(attr(s, "d")->type, ValueType::kDouble);
  EXPECT_EQ(attr(s, "d")->double_value, 4.5);
  ASSERT_EQ(attr(s, "b")->type, ValueType::kBool);
  EXPECT_TRUE(attr(s, "b")->bool_value);
  EXPECT_EQ(str(s, "quoted"), "42");
  EXPECT_EQ(str(s, "s"), "abc");
  ASSERT_EQ(attr(s, "arr")->type, ValueType::kArray);
  EXPECT_EQ(attr(s, "arr")->to_string(), R"([1,"a"])");
  ASSERT_EQ(attr(s, "map")->type, ValueType::kKvList);
  EXPECT_EQ(attr(s, "map")->to_string(), R"({"x":1})");
}

TEST_F(AttributesTest, DeleteByKeyAndByPattern) {
  auto b = run(R"(
actions:
  - {key: http.url, action: delete}
  - {pattern: ^user\., action: delete}
)");
  const core::Span& s = b.spans()[0];
  EXPECT_EQ(attr(s, "http.url"), nullptr);
  EXPECT_EQ(attr(s, "user.email"), nullptr);
  EXPECT_EQ(attr(s, "user.phone"), nullptr);
  EXPECT_NE(attr(s, "count"), nullptr);
  EXPECT_EQ(s.attributes.size(), 5u);
}

TEST_F(AttributesTest, HashIsSha256HexLikeTheCollector) {
  auto b = run(R"(
actions:
  - {key: user.email, action: hash}
  - {key: http.status_code, action: hash}
  - {key: flag, action: hash}
  - {key: weight, action: hash}
  - {pattern: phone$, action: hash}
)");
  const core::Span& s = b.spans()[0];
  // sha256("abc")
  EXPECT_EQ(str(s, "user.email"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // ints and doubles as 8 little-endian bytes, bools as one byte (the Collector's sha2Hasher)
  EXPECT_EQ(str(s, "http.status_code"),
            "ed049108bc18f2c64369e8d0ea42850bdd1a7d1dd340cfde716315579702a76c");
  EXPECT_EQ(str(s, "flag"), "4bf5122f344554c53bde2ebb8cd2b7e3d1600ad631c385a5d7cce23c7785459a");
  EXPECT_EQ(str(s, "weight"), "e163f8cb0f7067a7fc78ca859a77f849aea3214f38fb75b884e4a16be725c905");
  EXPECT_EQ(str(s, "user.phone").size(), 64u);
  EXPECT_NE(str(s, "user.phone"), "555");
}

TEST_F(AttributesTest, ExtractNamedGroups) {
  auto b = run(R"(
actions:
  - key: http.url
    pattern: ^/api/(?P<api_version>v\d+)/users/(?P<user_id>\d+)$
    action: extract
)");
  const core::Span& s = b.spans()[0];
  EXPECT_EQ(str(s, "api_version"), "v1");
  EXPECT_EQ(str(s, "user_id"), "123");
  EXPECT_EQ(str(s, "http.url"), "/api/v1/users/123");
}

TEST_F(AttributesTest, Convert) {
  auto b = run(R"(
actions:
  - {key: count, converted_type: int, action: convert}
  - {key: ratio, converted_type: double, action: convert}
  - {key: http.status_code, converted_type: string, action: convert}
  - {key: user.email, converted_type: int, action: convert}
  - {key: weight, converted_type: int, action: convert}
  - {key: flag, converted_type: double, action: convert}
)");
  const core::Span& s = b.spans()[0];
  ASSERT_EQ(attr(s, "count")->type, ValueType::kInt);
  EXPECT_EQ(attr(s, "count")->int_value, 123);
  ASSERT_EQ(attr(s, "ratio")->type, ValueType::kDouble);
  EXPECT_EQ(attr(s, "ratio")->double_value, 1.5);
  EXPECT_EQ(str(s, "http.status_code"), "42");
  EXPECT_EQ(str(s, "user.email"), "abc") << "unconvertible values stay as they are";
  ASSERT_EQ(attr(s, "weight")->type, ValueType::kInt);
  EXPECT_EQ(attr(s, "weight")->int_value, 1);
  ASSERT_EQ(attr(s, "flag")->type, ValueType::kDouble);
  EXPECT_EQ(attr(s, "flag")->double_value, 1.0);
}

TEST_F(AttributesTest, ActionsRunInOrder) {
  auto b = run(R"(
actions:
  - {key: copy, from_attribute: user.email, action: insert}
  - {key: user.email, action: hash}
  - {key: copy, action: delete}
)");
  EXPECT_EQ(attr(b.spans()[0], "copy"), nullptr);
  EXPECT_EQ(str(b.spans()[0], "user.email").size(), 64u);
}

core::SpanBatch mixed_batch() {
  core::SpanBatch b = one_span("shop", "GET /users");
  b.append(one_span("shop", "health"));
  b.append(one_span("billing", "GET /users"));
  return b;
}

TEST_F(AttributesTest, IncludeServicesStrict) {
  auto b = run(R"(
include: {match_type: strict, services: [shop]}
actions: [{key: touched, value: true, action: insert}]
)",
               mixed_batch());
  EXPECT_NE(attr(b.spans()[0], "touched"), nullptr);
  EXPECT_NE(attr(b.spans()[1], "touched"), nullptr);
  EXPECT_EQ(attr(b.spans()[2], "touched"), nullptr);
}

TEST_F(AttributesTest, IncludeThenExcludeSpanNamesRegexp) {
  auto b = run(R"(
include: {match_type: strict, services: [shop]}
exclude: {match_type: regexp, span_names: ["^heal"]}
actions: [{key: touched, value: true, action: insert}]
)",
               mixed_batch());
  EXPECT_NE(attr(b.spans()[0], "touched"), nullptr);
  EXPECT_EQ(attr(b.spans()[1], "touched"), nullptr);
  EXPECT_EQ(attr(b.spans()[2], "touched"), nullptr);
}

TEST_F(AttributesTest, IncludeAttributesKindsAndResources) {
  auto b = run(R"(
include:
  match_type: strict
  span_kinds: [SPAN_KIND_SERVER]
  attributes: [{key: http.status_code, value: 42}]
  resources: [{key: service.name, value: billing}]
actions: [{key: touched, value: true, action: insert}]
)",
               mixed_batch());
  EXPECT_EQ(attr(b.spans()[0], "touched"), nullptr);
  EXPECT_NE(attr(b.spans()[2], "touched"), nullptr);

  auto typed = run(R"(
include: {match_type: strict, attributes: [{key: http.status_code, value: "42"}]}
actions: [{key: touched, value: true, action: insert}]
)");
  EXPECT_EQ(attr(typed.spans()[0], "touched"), nullptr) << "strict compares types: 42 != \"42\"";

  auto regexp = run(R"(
include: {match_type: regexp, attributes: [{key: http.url, value: "users/[0-9]+"}]}
actions: [{key: touched, value: true, action: insert}]
)");
  EXPECT_NE(attr(regexp.spans()[0], "touched"), nullptr);
}

TEST_F(AttributesTest, EditsLiveInTheBatchNotTheProcessor) {
  RecordingSink sink;
  {
    auto p = h_.create(*factory_, R"(
actions:
  - {key: env, value: production, action: upsert}
  - {key: list, value: [a, b], action: upsert}
  - {key: user.email, action: hash}
)",
                       sink);
    ASSERT_TRUE(p->consume(one_span()).is_ok());
  }  // the processor and its config arena are gone; AddressSanitizer flags any dangling view
  const core::Span& s = sink.batches()[0].spans()[0];
  EXPECT_EQ(str(s, "env"), "production");
  EXPECT_EQ(attr(s, "list")->to_string(), R"(["a","b"])");
  EXPECT_EQ(str(s, "user.email").size(), 64u);
}

TEST_F(AttributesTest, ConfigErrorsNameTheKeyPath) {
  EXPECT_EQ(h_.config_error(*factory_, R"(
actions:
  - {key: a, value: 1, action: insert}
  - {key: b, value: 2, action: upsrt}
)"),
            "processors.attributes.actions[1].action: unknown action 'upsrt'; use insert, update, "
            "upsert, delete, hash, extract, convert");
  EXPECT_EQ(h_.config_error(*factory_, "actions: [{key: a, action: insert}]"),
            "processors.attributes.actions[0].value: required for action 'insert' (or set "
            "from_attribute)");
  EXPECT_EQ(h_.config_error(*factory_, "actions: [{value: 1, action: upsert}]"),
            "processors.attributes.actions[0].key: required for action 'upsert'");
  EXPECT_EQ(h_.config_error(*factory_, "actions: [{key: a, action: delete, value: 1}]"),
            "processors.attributes.actions[0].value: not used by action 'delete'; remove it");
  EXPECT_EQ(
      h_.config_error(*factory_, "actions: [{pattern: '(', action: delete}]")
          .rfind("processors.attributes.actions[0].pattern: invalid regular expression '('", 0),
      0u);
  EXPECT_EQ(h_.config_error(*factory_, "actions: [{key: a, pattern: '(x)', action: extract}]"),
            "processors.attributes.actions[0].pattern: group 1 has no name; name every group like "
            "(?P<name>...)");
  EXPECT_EQ(
      h_.config_error(*factory_, "actions: [{key: a, converted_type: bool, action: convert}]"),
      "processors.attributes.actions[0].converted_type: unknown type 'bool'; use int, "
      "double or string");
  EXPECT_EQ(h_.config_error(*factory_, "actions: [{key: a, valeu: 1, action: insert}]"),
            "processors.attributes.actions[0].valeu: unknown key; valid keys are: key, value, "
            "pattern, from_attribute, from_context, converted_type, action");
  EXPECT_EQ(h_.config_error(*factory_, ""),
            "processors.attributes.actions: required; list at least one action, e.g. [{key: env, "
            "value: prod, action: upsert}]");
  EXPECT_EQ(h_.config_error(*factory_, R"(
include: {services: [a]}
actions: [{key: a, value: 1, action: insert}]
)"),
            "processors.attributes.include.match_type: required; use strict or regexp");
  EXPECT_EQ(h_.config_error(*factory_, R"(
include: {match_type: strict}
actions: [{key: a, value: 1, action: insert}]
)"),
            "processors.attributes.include: set at least one of services, span_names, span_kinds, "
            "attributes, resources or libraries");
  EXPECT_EQ(
      h_.config_error(*factory_, R"(
exclude: {match_type: strict, span_kinds: [server]}
actions: [{key: a, value: 1, action: insert}]
)")
          .rfind("processors.attributes.exclude.span_kinds[0]: unknown span kind 'server'", 0),
      0u);
  EXPECT_EQ(
      h_.config_error(*factory_, R"(
exclude: {match_type: regexp, span_names: ["[z-a]"]}
actions: [{key: a, value: 1, action: insert}]
)")
          .rfind("processors.attributes.exclude.span_names[0]: invalid regular expression", 0),
      0u);
}

}  // namespace
}  // namespace hodos::processors
