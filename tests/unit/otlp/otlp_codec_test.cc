#include "otlp/otlp_codec.h"

#include <gtest/gtest.h>

#include <cmath>
#include <regex>

#include "batch_testing.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "samples.h"

namespace hodos::otlp {
namespace {

using testing::expect_same_batch;
using testing::make_full_batch;
namespace pb_trace = opentelemetry::proto::trace::v1;

core::SpanBatch decode_proto_ok(std::string_view bytes) {
  core::SpanBatch out;
  auto err = decode_proto(bytes, out);
  EXPECT_FALSE(err) << *err;
  return out;
}

core::SpanBatch decode_json_ok(std::string_view json) {
  core::SpanBatch out;
  auto err = decode_json(json, out);
  EXPECT_FALSE(err) << *err;
  return out;
}

std::string json_error(std::string_view json) {
  core::SpanBatch out;
  auto err = decode_json(json, out);
  EXPECT_TRUE(out.empty()) << "a failed decode must not add spans";
  return err.value_or("<no error>");
}

// One span around the given members, to test one field at a time.
std::string one_span_json(std::string_view members) {
  return std::string(
             R"({"resourceSpans":[{"scopeSpans":[{"spans":[{)"
             R"("traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174")") +
         (members.empty() ? "" : ",") + std::string(members) + "}]}]}]}";
}

TEST(OtlpProto, RoundTripKeepsEveryField) {
  core::SpanBatch original = make_full_batch();
  std::string bytes = encode_proto(original);
  core::SpanBatch decoded = decode_proto_ok(bytes);
  expect_same_batch(original, decoded);
  // Spans that shared a Resource/Scope still share one after decoding.
  EXPECT_EQ(decoded.spans()[0].resource, decoded.spans()[1].resource);
  EXPECT_NE(decoded.spans()[0].scope, decoded.spans()[1].scope);
  EXPECT_EQ(decoded.spans()[2].scope, decoded.spans()[3].scope);
  EXPECT_EQ(encode_proto(decoded), bytes);
}

TEST(OtlpProto, GroupsSpansByResourceAndScopeEvenWhenInterleaved) {
  core::SpanBatch b = make_full_batch();
  // Order: r1/s1, r2/s3, r1/s2, r2/s3, r1/s1.
  std::vector<core::Span> spans = b.spans();
  b.spans() = {spans[0], spans[2], spans[1], spans[3], spans[0]};
  ExportRequest request;
  to_proto(b, &request);
  ASSERT_EQ(request.resource_spans_size(), 2);
  const auto& rs0 = request.resource_spans(0);
  ASSERT_EQ(rs0.scope_spans_size(), 2);
  EXPECT_EQ(rs0.scope_spans(0).scope().name(), "io.opentelemetry.http");
  EXPECT_EQ(rs0.scope_spans(0).spans_size(), 2);
  EXPECT_EQ(rs0.scope_spans(1).scope().name(), "db");
  EXPECT_EQ(rs0.scope_spans(1).spans_size(), 1);
  ASSERT_EQ(request.resource_spans(1).scope_spans_size(), 1);
  EXPECT_EQ(request.resource_spans(1).scope_spans(0).spans_size(), 2);
  EXPECT_EQ(rs0.resource().attributes(0).value().string_value(), "checkout");
  EXPECT_EQ(rs0.schema_url(), "https://opentelemetry.io/schemas/1.21.0");
}

TEST(OtlpProto, AppendsToExistingSpans) {
  core::SpanBatch batch = make_full_batch();
  std::string bytes = encode_proto(batch);
  ASSERT_FALSE(decode_proto(bytes, batch));
  EXPECT_EQ(batch.size(), 8u);
  EXPECT_EQ(batch.spans()[4].name, "GET /api/orders/{id}");
}

TEST(OtlpProto, MalformedBytesAreAnError) {
  core::SpanBatch out;
  auto err = decode_proto("\x0a\x05\x0a\x03", out);  // length prefix beyond the end
  ASSERT_TRUE(err);
  EXPECT_NE(err->find("malformed protobuf"), std::string::npos) << *err;
  EXPECT_TRUE(decode_proto("\xff\xff\xff\xff\xff\xff", out));
  EXPECT_TRUE(out.empty());
  // Empty input is a valid, empty request.
  EXPECT_FALSE(decode_proto("", out));
  EXPECT_TRUE(out.empty());
}

TEST(OtlpProto, WrongIdLengthsNameTheField) {
  ExportRequest request;
  auto* rs = request.add_resource_spans();
  rs->add_scope_spans();
  auto* ss = rs->add_scope_spans();
  for (int i = 0; i < 4; ++i) {
    auto* span = ss->add_spans();
    span->set_trace_id(std::string(16, '\1'));
    span->set_span_id(std::string(8, '\2'));
  }
  ss->mutable_spans(3)->set_trace_id("abcde");
  core::SpanBatch out = make_full_batch();
  auto err = decode_proto(request.SerializeAsString(), out);
  ASSERT_TRUE(err);
  EXPECT_EQ(*err, "resourceSpans[0].scopeSpans[1].spans[3].traceId: must be 16 bytes, got 5");
  EXPECT_EQ(out.size(), 4u) << "the bad request's spans must not be added";

  ss->mutable_spans(3)->set_trace_id(std::string(16, '\1'));
  ss->mutable_spans(1)->clear_span_id();
  err = decode_proto(request.SerializeAsString(), out);
  ASSERT_TRUE(err);
  EXPECT_EQ(*err, "resourceSpans[0].scopeSpans[1].spans[1].spanId: must be 8 bytes, got 0");

  ss->mutable_spans(1)->set_span_id(std::string(8, '\2'));
  ss->mutable_spans(2)->set_parent_span_id("123");
  err = decode_proto(request.SerializeAsString(), out);
  ASSERT_TRUE(err);
  EXPECT_EQ(*err, "resourceSpans[0].scopeSpans[1].spans[2].parentSpanId: must be 8 bytes, got 3");

  ss->mutable_spans(2)->clear_parent_span_id();
  ss->mutable_spans(2)->add_links()->set_span_id("1234567890");
  err = decode_proto(request.SerializeAsString(), out);
  ASSERT_TRUE(err);
  EXPECT_EQ(*err,
            "resourceSpans[0].scopeSpans[1].spans[2].links[0].spanId: must be 8 bytes, got 10");

  ss->mutable_spans(2)->clear_links();
  EXPECT_FALSE(decode_proto(request.SerializeAsString(), out));
  EXPECT_EQ(out.size(), 8u);
}

TEST(OtlpProto, UnknownEnumValuesMapToDefaults) {
  ExportRequest request;
  auto* span = request.add_resource_spans()->add_scope_spans()->add_spans();
  span->set_trace_id(std::string(16, '\1'));
  span->set_span_id(std::string(8, '\2'));
  span->set_kind(static_cast<pb_trace::Span::SpanKind>(42));
  span->mutable_status()->set_code(static_cast<pb_trace::Status::StatusCode>(9));
  core::SpanBatch out;
  ASSERT_FALSE(from_proto(request, out));
  EXPECT_EQ(out.spans()[0].kind, core::SpanKind::kUnspecified);
  EXPECT_EQ(out.spans()[0].status.code, core::StatusCode::kUnset);
}

TEST(OtlpProto, EveryTruncatedPrefixIsAnErrorOrDecodes) {
  std::string bytes = encode_proto(make_full_batch());
  size_t errors = 0;
  for (size_t n = 0; n < bytes.size(); ++n) {
    core::SpanBatch out;
    if (decode_proto(std::string_view(bytes).substr(0, n), out)) {
      EXPECT_TRUE(out.empty()) << "prefix " << n;
      ++errors;
    }
  }
  // Most prefixes cut a length-delimited field and must fail; none may crash.
  EXPECT_GT(errors, bytes.size() / 2);
}

TEST(OtlpJson, RoundTripKeepsEveryField) {
  core::SpanBatch original = make_full_batch();
  std::string json = encode_json(original);
  core::SpanBatch decoded = decode_json_ok(json);
  expect_same_batch(original, decoded);
  EXPECT_EQ(encode_json(decoded), json);
  // And the JSON path agrees with the protobuf path.
  EXPECT_EQ(encode_proto(decoded), encode_proto(original));
}

TEST(OtlpJson, EncodesPerTheOtlpJsonMapping) {
  std::string json = encode_json(make_full_batch());
  for (const char* expected : {
           R"({"resourceSpans":[{"resource":{"attributes":[{"key":"service.name")",
           R"("traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174")",
           R"("parentSpanId":"eee19b7ec3c1b173")",
           R"("traceState":"rojo=00f067aa0ba902b7,congo=t61rcWkgMzE")",
           R"("flags":769,"name":"GET /api/orders/{id}","kind":2)",
           R"("startTimeUnixNano":"1544712660000000000","endTimeUnixNano":"1544712661000000123")",
           R"({"key":"int","value":{"intValue":"-9223372036854775808"}})",
           R"({"key":"double","value":{"doubleValue":-0.125}})",
           R"({"key":"whole_double","value":{"doubleValue":2.0}})",
           R"({"key":"bytes","value":{"bytesValue":"AAH/f0E="}})",
           R"("arrayValue":{"values":[{"stringValue":"one"},{"intValue":"2"})",
           R"({"key":"empty","value":{}})",
           R"("kvlistValue":{"values":[{"key":"k1","value":{"stringValue":"v1"}})",
           R"({"key":"string","value":{"stringValue":"h)"
           "\xc3\xa9"
           R"(llo \"quoted\" \\ \n\t\u0001 )"
           "\xf0\x9f\x98\x80"
           R"("}})",
           R"("droppedAttributesCount":7,"events":[{"timeUnixNano":"1544712660500000000")",
           R"("droppedEventsCount":4,"links":[{"traceId":"0af7651916cd43dd8448eb211c80319c")",
           R"("flags":257})",
           R"("droppedLinksCount":5,"status":{"message":"upstream timed out","code":2}})",
           R"("schemaUrl":"https://opentelemetry.io/schemas/1.21.0")",
           R"("scope":{"name":"io.opentelemetry.http","version":"1.2.3")",
           R"("scope":{},"spans":[{"traceId":"ffffffffffffffffffffffffffffffff")",
           R"("spanId":"ffffffffffffffff","status":{}})",
       }) {
    EXPECT_NE(json.find(expected), std::string::npos)
        << "missing: " << expected << "\nin: " << json;
  }
  EXPECT_EQ(json.find("\"parentSpanId\":\"\""), std::string::npos) << "defaults are omitted";
}

TEST(OtlpJson, NonFiniteDoublesAreStrings) {
  core::SpanBatch b;
  core::Span s;
  s.trace_id = testing::id<core::TraceId>("5b8efff798038103d269b633813fc60c");
  s.span_id = testing::id<core::SpanId>("eee19b7ec3c1b174");
  s.attributes = testing::attrs(b.arena(), {{"nan", core::AnyValue::floating(NAN)},
                                            {"inf", core::AnyValue::floating(INFINITY)},
                                            {"ninf", core::AnyValue::floating(-INFINITY)}});
  b.spans().push_back(s);
  std::string json = encode_json(b);
  EXPECT_NE(json.find(R"({"doubleValue":"NaN"})"), std::string::npos) << json;
  EXPECT_NE(json.find(R"({"doubleValue":"Infinity"})"), std::string::npos) << json;
  EXPECT_NE(json.find(R"({"doubleValue":"-Infinity"})"), std::string::npos) << json;
  core::SpanBatch back = decode_json_ok(json);
  const core::AttrList& a = back.spans()[0].attributes;
  EXPECT_TRUE(std::isnan(a[0].value.double_value));
  EXPECT_EQ(a[1].value.double_value, INFINITY);
  EXPECT_EQ(a[2].value.double_value, -INFINITY);
}

TEST(OtlpJson, InvalidUtf8IsReplacedSoTheOutputStaysJson) {
  core::SpanBatch b;
  core::Span s;
  s.trace_id = testing::id<core::TraceId>("5b8efff798038103d269b633813fc60c");
  s.span_id = testing::id<core::SpanId>("eee19b7ec3c1b174");
  s.name = b.arena().copy("bad \xff\xc3 ok \xc3\xa9");
  b.spans().push_back(s);
  core::SpanBatch back = decode_json_ok(encode_json(b));
  EXPECT_EQ(back.spans()[0].name, "bad \xEF\xBF\xBD\xEF\xBF\xBD ok \xc3\xa9");
}

// Protobuf's JSON mapping lets a field be spelled by its proto name too ("resource_spans",
// "time_unix_nano"), as Python's json_format and the Collector accept: the same batch.
TEST(OtlpJson, FieldsSpelledByTheirProtoNamesDecodeTheSame) {
  core::SpanBatch original = make_full_batch();
  const std::string camel = encode_json(original);
  // Every member name to snake_case (values, attribute keys included, stay as they are).
  std::string snake;
  const std::regex member(R"re("([A-Za-z]+)":)re");
  size_t at = 0, renamed = 0;
  for (std::sregex_iterator it(camel.begin(), camel.end(), member), end; it != end; ++it) {
    snake.append(camel, at, static_cast<size_t>(it->position()) - at);
    std::string name;
    for (char c : (*it)[1].str()) {
      if (c >= 'A' && c <= 'Z') {
        name += '_';
        name += static_cast<char>(c - 'A' + 'a');
      } else {
        name += c;
      }
    }
    renamed += name != (*it)[1].str();
    snake += '"' + name + "\":";
    at = static_cast<size_t>(it->position() + it->length());
  }
  snake.append(camel, at);
  ASSERT_GT(renamed, 10u) << snake.substr(0, 300);
  ASSERT_NE(snake.find("\"resource_spans\":"), std::string::npos);
  core::SpanBatch decoded = decode_json_ok(snake);
  expect_same_batch(original, decoded);
  EXPECT_EQ(encode_proto(decoded), encode_proto(original));
}

TEST(OtlpJson, DecodesTheSpecExample) {
  const char* json = testing::kSpecExampleJson;
  core::SpanBatch b = decode_json_ok(json);
  ASSERT_EQ(b.size(), 1u);
  const core::Span& s = b.spans()[0];
  EXPECT_EQ(s.trace_id.hex(), "5b8efff798038103d269b633813fc60c");
  EXPECT_EQ(s.span_id.hex(), "eee19b7ec3c1b174");
  EXPECT_EQ(s.parent_span_id.hex(), "eee19b7ec3c1b173");
  EXPECT_EQ(s.name, "I'm a server span");
  EXPECT_EQ(s.kind, core::SpanKind::kServer);
  EXPECT_EQ(s.start_time_unix_nano, 1544712660000000000ULL);
  EXPECT_EQ(s.end_time_unix_nano, 1544712661000000000ULL);
  ASSERT_EQ(s.attributes.size(), 4u);
  EXPECT_EQ(s.attributes[0].value.str, "some value");
  EXPECT_EQ(s.attributes[1].value.int_value, -42);
  EXPECT_EQ(s.attributes[2].value.double_value, 0.5);
  EXPECT_TRUE(s.attributes[3].value.bool_value);
  EXPECT_EQ(s.status.code, core::StatusCode::kOk);
  EXPECT_EQ(core::find_attribute(s.resource->attributes, "service.name")->str, "my.service");
  EXPECT_EQ(s.scope->name, "my.library");
  EXPECT_EQ(s.scope->version, "1.0.0");
  EXPECT_EQ(s.scope->attributes[0].value.str, "some scope attribute");
}

TEST(OtlpJson, AcceptsEnumNamesNumbersForInt64sAndNulls) {
  core::SpanBatch b = decode_json_ok(one_span_json(
      R"("kind":"SPAN_KIND_CONSUMER","status":{"code":"STATUS_CODE_ERROR","message":"boom"},)"
      R"("startTimeUnixNano":1544712660000000000,"endTimeUnixNano":1.5447126610e18,)"
      R"("attributes":[{"key":"n","value":{"intValue":7}},{"key":"s","value":{"doubleValue":"2.5"}},)"
      R"({"key":"b","value":{"bytesValue":"-_8"}}],"name":null,"links":[{"traceId":"",)"
      R"("spanId":"","flags":"3"}],"droppedAttributesCount":"2")"));
  const core::Span& s = b.spans()[0];
  EXPECT_EQ(s.kind, core::SpanKind::kConsumer);
  EXPECT_EQ(s.status.code, core::StatusCode::kError);
  EXPECT_EQ(s.status.message, "boom");
  EXPECT_EQ(s.start_time_unix_nano, 1544712660000000000ULL);
  EXPECT_EQ(s.end_time_unix_nano, 1544712661000000000ULL);
  EXPECT_EQ(s.attributes[0].value.int_value, 7);
  EXPECT_EQ(s.attributes[1].value.double_value, 2.5);
  EXPECT_EQ(s.attributes[2].value.str, "\xfb\xff");  // URL-safe, unpadded base64
  EXPECT_EQ(s.name, "");
  EXPECT_FALSE(s.links[0].trace_id.valid());
  EXPECT_EQ(s.links[0].flags, 3u);
  EXPECT_EQ(s.dropped_attributes_count, 2u);
}

TEST(OtlpJson, ErrorsNameTheFieldPathAndTheProblem) {
  EXPECT_EQ(
      json_error(R"({"resourceSpans":[{"scopeSpans":[{"spans":[)"
                 R"({"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174"},)"
                 R"({"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174"},)"
                 R"({"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b"}]}]}]})"),
      "resourceSpans[0].scopeSpans[0].spans[2].spanId: expected 16 hex digits");
  EXPECT_EQ(json_error(one_span_json(R"("traceId":"zz8efff798038103d269b633813fc60c")")),
            "resourceSpans[0].scopeSpans[0].spans[0].traceId: expected 32 hex digits");
  // Base64 ids (protobuf's default JSON for bytes) are not OTLP JSON.
  EXPECT_EQ(json_error(one_span_json(R"("spanId":"7uGbfsPBsXQ=")")),
            "resourceSpans[0].scopeSpans[0].spans[0].spanId: expected 16 hex digits");
  EXPECT_EQ(json_error(one_span_json(R"("parentSpanId":"eee19b7ec3c1b17")")),
            "resourceSpans[0].scopeSpans[0].spans[0].parentSpanId: expected 16 hex digits");
  EXPECT_EQ(json_error(one_span_json(R"("links":[{},{"traceId":"00"}])")),
            "resourceSpans[0].scopeSpans[0].spans[0].links[1].traceId: expected 32 hex digits");
  EXPECT_EQ(
      json_error(
          R"({"resourceSpans":[{"scopeSpans":[{"spans":[{"spanId":"eee19b7ec3c1b174"}]}]}]})"),
      "resourceSpans[0].scopeSpans[0].spans[0].traceId: required");
  EXPECT_EQ(json_error(one_span_json(R"("name":5)")),
            "resourceSpans[0].scopeSpans[0].spans[0].name: expected a string");
  EXPECT_EQ(json_error(one_span_json(R"("startTimeUnixNano":"12x")")),
            "resourceSpans[0].scopeSpans[0].spans[0].startTimeUnixNano: expected an unsigned "
            "64-bit integer (string or number)");
  EXPECT_EQ(json_error(one_span_json(R"("startTimeUnixNano":-1)")),
            "resourceSpans[0].scopeSpans[0].spans[0].startTimeUnixNano: expected an unsigned "
            "64-bit integer (string or number)");
  EXPECT_EQ(json_error(one_span_json(R"("droppedLinksCount":4294967296)")),
            "resourceSpans[0].scopeSpans[0].spans[0].droppedLinksCount: expected an unsigned "
            "32-bit integer");
  EXPECT_EQ(json_error(one_span_json(R"("kind":"SERVER")")),
            "resourceSpans[0].scopeSpans[0].spans[0].kind: unknown enum value \"SERVER\"");
  EXPECT_EQ(json_error(one_span_json(R"("attributes":[{"key":"a","value":{"arrayValue":)"
                                     R"({"values":[{"intValue":"1"},{"boolValue":"yes"}]}}}])")),
            "resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value.arrayValue.values[1]."
            "boolValue: expected true or false");
  EXPECT_EQ(
      json_error(one_span_json(R"("attributes":[{"key":"a","value":{"bytesValue":"@@"}}])")),
      "resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value.bytesValue: expected base64");
  EXPECT_EQ(json_error(R"({"resourceSpans":{}})"), "resourceSpans: expected an array");
  EXPECT_EQ(json_error(R"({"resourceSpans":[{"resource":{"attributes":[{"key":1}]}}]})"),
            "resourceSpans[0].resource.attributes[0].key: expected a string");
  EXPECT_EQ(json_error("[]"), "request: expected an object");
  EXPECT_EQ(json_error(R"({"resourceSpans":[)").rfind("invalid JSON: ", 0), 0u);
  EXPECT_EQ(json_error("").rfind("invalid JSON: ", 0), 0u);
}

TEST(OtlpJson, EveryTruncatedPrefixIsAnError) {
  std::string json = encode_json(make_full_batch());
  for (size_t n = 0; n < json.size(); ++n) {
    core::SpanBatch out;
    EXPECT_TRUE(decode_json(std::string_view(json).substr(0, n), out)) << "prefix " << n;
    EXPECT_TRUE(out.empty());
  }
}

TEST(OtlpJson, EmptyRequestsAreFine) {
  EXPECT_TRUE(decode_json_ok("{}").empty());
  EXPECT_TRUE(decode_json_ok(R"({"resourceSpans":[]})").empty());
  EXPECT_EQ(encode_json(core::SpanBatch{}), R"({"resourceSpans":[]})");
}

}  // namespace
}  // namespace hodos::otlp
