// Test helpers for the codecs: a batch that uses every field of the model, and a deep comparison of
// two batches (span by span, including resource and scope contents).
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "core/span_batch.h"

namespace hodos::otlp::testing {

inline core::AnyValue str(core::Arena& a, std::string_view s) {
  return core::AnyValue::string(a.copy(s));
}

inline core::AttrList attrs(
    core::Arena& a, std::initializer_list<std::pair<std::string_view, core::AnyValue>> kvs) {
  core::AttrList out;
  for (const auto& [k, v] : kvs) out.push_back(a, core::KeyValue{a.copy(k), v});
  return out;
}

template <class Id>
Id id(std::string_view hex) {
  return *Id::from_hex(hex);
}

// Every AnyValue type, nested arrays and maps, bytes with zeros and high bytes.
inline core::AttrList every_value_kind(core::Arena& a) {
  core::ArenaVector<core::AnyValue> inner;
  inner.push_back(a, core::AnyValue::integer(-1));
  inner.push_back(a, str(a, "x"));
  core::ArenaVector<core::AnyValue> array;
  array.push_back(a, str(a, "one"));
  array.push_back(a, core::AnyValue::integer(2));
  array.push_back(a, core::AnyValue::floating(3.5));
  array.push_back(a, core::AnyValue::boolean(false));
  array.push_back(a, core::AnyValue::array_of(inner));
  array.push_back(a, core::AnyValue{});
  core::AttrList nested = attrs(a, {{"deep", core::AnyValue::array_of(inner)}});
  core::AttrList kvlist = attrs(a, {{"k1", str(a, "v1")},
                                    {"k2", core::AnyValue::integer(42)},
                                    {"k3", core::AnyValue::kvlist_of(nested)}});
  static const char kBytes[] = {'\0', '\x01', '\xff', '\x7f', 'A'};
  return attrs(a, {{"string", str(a, "h\u00e9llo \"quoted\" \\ \n\t\x01 \xf0\x9f\x98\x80")},
                   {"bool", core::AnyValue::boolean(true)},
                   {"int", core::AnyValue::integer(-9223372036854775807LL - 1)},
                   {"big", core::AnyValue::integer(9223372036854775807LL)},
                   {"double", core::AnyValue::floating(-0.125)},
                   {"whole_double", core::AnyValue::floating(2.0)},
                   {"tiny", core::AnyValue::floating(5e-324)},
                   {"bytes", core::AnyValue::bytes(a.copy({kBytes, sizeof(kBytes)}))},
                   {"array", core::AnyValue::array_of(array)},
                   {"kvlist", core::AnyValue::kvlist_of(kvlist)},
                   {"empty", core::AnyValue{}},
                   {"", str(a, "empty key")}});
}

// Two resources, three scopes, four spans, every span field set somewhere.
inline core::SpanBatch make_full_batch() {
  core::SpanBatch b;
  core::Arena& a = b.arena();
  core::Resource* r1 = b.new_resource();
  r1->attributes =
      attrs(a, {{"service.name", str(a, "checkout")}, {"host.cores", core::AnyValue::integer(8)}});
  r1->dropped_attributes_count = 3;
  r1->schema_url = a.copy("https://opentelemetry.io/schemas/1.21.0");
  core::Resource* r2 = b.new_resource();
  r2->attributes = attrs(a, {{"service.name", str(a, "payments")}});

  core::Scope* s1 = b.new_scope();
  s1->name = a.copy("io.opentelemetry.http");
  s1->version = a.copy("1.2.3");
  s1->attributes = attrs(a, {{"scope.attr", core::AnyValue::boolean(true)}});
  s1->dropped_attributes_count = 1;
  s1->schema_url = a.copy("https://opentelemetry.io/schemas/1.20.0");
  core::Scope* s2 = b.new_scope();
  s2->name = a.copy("db");
  core::Scope* s3 = b.new_scope();  // empty scope

  core::Span full;
  full.trace_id = id<core::TraceId>("5b8efff798038103d269b633813fc60c");
  full.span_id = id<core::SpanId>("eee19b7ec3c1b174");
  full.parent_span_id = id<core::SpanId>("eee19b7ec3c1b173");
  full.trace_state = a.copy("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
  full.flags = 0x301;
  full.name = a.copy("GET /api/orders/{id}");
  full.kind = core::SpanKind::kServer;
  full.start_time_unix_nano = 1544712660000000000ULL;
  full.end_time_unix_nano = 1544712661000000123ULL;
  full.attributes = every_value_kind(a);
  full.dropped_attributes_count = 7;
  core::Event e1;
  e1.time_unix_nano = 1544712660500000000ULL;
  e1.name = a.copy("exception");
  e1.attributes = attrs(a, {{"exception.type", str(a, "IOError")},
                            {"exception.escaped", core::AnyValue::boolean(false)}});
  e1.dropped_attributes_count = 2;
  core::Event e2;
  e2.time_unix_nano = 1544712660600000000ULL;
  e2.name = a.copy("retry");
  full.events.push_back(a, e1);
  full.events.push_back(a, e2);
  full.dropped_events_count = 4;
  core::Link l1;
  l1.trace_id = id<core::TraceId>("0af7651916cd43dd8448eb211c80319c");
  l1.span_id = id<core::SpanId>("b7ad6b7169203331");
  l1.trace_state = a.copy("vendor=x");
  l1.attributes = attrs(a, {{"link.kind", str(a, "follows")}});
  l1.dropped_attributes_count = 1;
  l1.flags = 0x101;
  full.links.push_back(a, l1);
  core::Link l2;
  l2.trace_id = id<core::TraceId>("1af7651916cd43dd8448eb211c80319c");
  l2.span_id = id<core::SpanId>("c7ad6b7169203331");
  full.links.push_back(a, l2);
  full.dropped_links_count = 5;
  full.status.code = core::StatusCode::kError;
  full.status.message = a.copy("upstream timed out");
  full.resource = r1;
  full.scope = s1;
  b.spans().push_back(full);

  core::Span child;
  child.trace_id = full.trace_id;
  child.span_id = id<core::SpanId>("0000000000000001");
  child.parent_span_id = full.span_id;
  child.name = a.copy("SELECT orders");
  child.kind = core::SpanKind::kClient;
  child.start_time_unix_nano = 1544712660100000000ULL;
  child.end_time_unix_nano = 1544712660200000000ULL;
  child.status.code = core::StatusCode::kOk;
  child.resource = r1;
  child.scope = s2;
  b.spans().push_back(child);

  core::Span root;  // minimal: only ids
  root.trace_id = id<core::TraceId>("ffffffffffffffffffffffffffffffff");
  root.span_id = id<core::SpanId>("ffffffffffffffff");
  root.resource = r2;
  root.scope = s3;
  b.spans().push_back(root);

  core::Span producer;
  producer.trace_id = id<core::TraceId>("00000000000000000000000000000001");
  producer.span_id = id<core::SpanId>("1000000000000000");
  producer.name = a.copy("publish");
  producer.kind = core::SpanKind::kProducer;
  producer.attributes = attrs(a, {{"messaging.system", str(a, "kafka")}});
  producer.resource = r2;
  producer.scope = s3;
  b.spans().push_back(producer);
  return b;
}

inline void expect_same_attrs(const core::AttrList& a, const core::AttrList& b,
                              const std::string& where) {
  ASSERT_EQ(a.size(), b.size()) << where;
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].key, b[i].key) << where << " attribute " << i;
    EXPECT_TRUE(a[i].value == b[i].value)
        << where << " attribute " << a[i].key << ": " << a[i].value.to_string() << " vs "
        << b[i].value.to_string();
  }
}

inline void expect_same_span(const core::Span& a, const core::Span& b, const std::string& where) {
  EXPECT_EQ(a.trace_id.hex(), b.trace_id.hex()) << where;
  EXPECT_EQ(a.span_id.hex(), b.span_id.hex()) << where;
  EXPECT_EQ(a.parent_span_id.hex(), b.parent_span_id.hex()) << where;
  EXPECT_EQ(a.trace_state, b.trace_state) << where;
  EXPECT_EQ(a.flags, b.flags) << where;
  EXPECT_EQ(a.name, b.name) << where;
  EXPECT_EQ(a.kind, b.kind) << where;
  EXPECT_EQ(a.start_time_unix_nano, b.start_time_unix_nano) << where;
  EXPECT_EQ(a.end_time_unix_nano, b.end_time_unix_nano) << where;
  expect_same_attrs(a.attributes, b.attributes, where);
  EXPECT_EQ(a.dropped_attributes_count, b.dropped_attributes_count) << where;
  ASSERT_EQ(a.events.size(), b.events.size()) << where;
  for (size_t i = 0; i < a.events.size(); ++i) {
    const std::string ew = where + " event " + std::to_string(i);
    EXPECT_EQ(a.events[i].time_unix_nano, b.events[i].time_unix_nano) << ew;
    EXPECT_EQ(a.events[i].name, b.events[i].name) << ew;
    expect_same_attrs(a.events[i].attributes, b.events[i].attributes, ew);
    EXPECT_EQ(a.events[i].dropped_attributes_count, b.events[i].dropped_attributes_count) << ew;
  }
  EXPECT_EQ(a.dropped_events_count, b.dropped_events_count) << where;
  ASSERT_EQ(a.links.size(), b.links.size()) << where;
  for (size_t i = 0; i < a.links.size(); ++i) {
    const std::string lw = where + " link " + std::to_string(i);
    EXPECT_EQ(a.links[i].trace_id, b.links[i].trace_id) << lw;
    EXPECT_EQ(a.links[i].span_id, b.links[i].span_id) << lw;
    EXPECT_EQ(a.links[i].trace_state, b.links[i].trace_state) << lw;
    expect_same_attrs(a.links[i].attributes, b.links[i].attributes, lw);
    EXPECT_EQ(a.links[i].dropped_attributes_count, b.links[i].dropped_attributes_count) << lw;
    EXPECT_EQ(a.links[i].flags, b.links[i].flags) << lw;
  }
  EXPECT_EQ(a.dropped_links_count, b.dropped_links_count) << where;
  EXPECT_EQ(a.status.code, b.status.code) << where;
  EXPECT_EQ(a.status.message, b.status.message) << where;

  expect_same_attrs(a.resource->attributes, b.resource->attributes, where + " resource");
  EXPECT_EQ(a.resource->dropped_attributes_count, b.resource->dropped_attributes_count) << where;
  EXPECT_EQ(a.resource->schema_url, b.resource->schema_url) << where;
  EXPECT_EQ(a.scope->name, b.scope->name) << where;
  EXPECT_EQ(a.scope->version, b.scope->version) << where;
  expect_same_attrs(a.scope->attributes, b.scope->attributes, where + " scope");
  EXPECT_EQ(a.scope->dropped_attributes_count, b.scope->dropped_attributes_count) << where;
  EXPECT_EQ(a.scope->schema_url, b.scope->schema_url) << where;
}

inline void expect_same_batch(const core::SpanBatch& a, const core::SpanBatch& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    expect_same_span(a.spans()[i], b.spans()[i], "span " + std::to_string(i));
  }
}

}  // namespace hodos::otlp::testing
