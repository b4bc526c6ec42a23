#include "otlp/zipkin_codec.h"

#include <gtest/gtest.h>

#include "batch_testing.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "otlp/otlp_codec.h"
#include "samples.h"

namespace hodos::otlp {
namespace {

using core::find_attribute;

using testing::kZipkinPayload;

TEST(ZipkinJson, DecodesARealisticPayload) {
  core::SpanBatch b;
  auto err = decode_zipkin_json(kZipkinPayload, b);
  ASSERT_FALSE(err) << *err;
  ASSERT_EQ(b.size(), 3u);

  const core::Span& server = b.spans()[0];
  EXPECT_EQ(server.trace_id.hex(), "00000000000000005af7183fb1d4cf5f");
  EXPECT_EQ(server.span_id.hex(), "352bff9a74ca9ad2");
  EXPECT_EQ(server.parent_span_id.hex(), "6b221d5bc9e6496c");
  EXPECT_EQ(server.kind, core::SpanKind::kServer);
  EXPECT_EQ(server.name, "get /api");
  EXPECT_EQ(server.start_time_unix_nano, 1556604172355737000ULL);
  EXPECT_EQ(server.end_time_unix_nano, 1556604172355737000ULL + 1431000);
  EXPECT_EQ(find_attribute(server.attributes, "http.method")->str, "GET");
  EXPECT_EQ(find_attribute(server.attributes, "http.status_code")->str, "200");
  EXPECT_EQ(find_attribute(server.attributes, "network.local.address")->str, "192.168.99.1");
  EXPECT_EQ(find_attribute(server.attributes, "network.local.port")->int_value, 3306);
  EXPECT_EQ(find_attribute(server.attributes, "network.peer.address")->str, "172.19.0.2");
  EXPECT_EQ(find_attribute(server.attributes, "network.peer.port")->int_value, 58648);
  EXPECT_EQ(find_attribute(server.attributes, "otel.scope.name"), nullptr);
  EXPECT_EQ(server.scope->name, "brave");
  EXPECT_EQ(server.scope->version, "5.13");
  EXPECT_EQ(server.status.code, core::StatusCode::kUnset);
  EXPECT_EQ(find_attribute(server.resource->attributes, "service.name")->str, "backend");

  const core::Span& client = b.spans()[1];
  EXPECT_EQ(client.trace_id.hex(), "463ac35c9f6413ad48485a3953bb6124");
  EXPECT_TRUE(client.is_root());
  EXPECT_EQ(client.kind, core::SpanKind::kClient);
  EXPECT_EQ(client.status.code, core::StatusCode::kError);
  EXPECT_EQ(client.status.message, "connection refused");
  EXPECT_EQ(find_attribute(client.attributes, "error"), nullptr);
  EXPECT_EQ(find_attribute(client.attributes, "peer.note")->str, "x|y");
  EXPECT_EQ(find_attribute(client.attributes, "network.local.address")->str, "2001:db8::c001");
  EXPECT_EQ(find_attribute(client.attributes, "peer.service")->str, "backend");
  EXPECT_EQ(find_attribute(client.attributes, "network.peer.port")->int_value, 9000);
  EXPECT_TRUE(find_attribute(client.attributes, "zipkin.debug")->bool_value);
  EXPECT_EQ(client.flags & 1u, 1u);
  ASSERT_EQ(client.events.size(), 2u);
  EXPECT_EQ(client.events[0].name, "ws");
  EXPECT_EQ(client.events[0].time_unix_nano, 1556604172356000000ULL);
  EXPECT_EQ(find_attribute(client.resource->attributes, "service.name")->str, "frontend");

  const core::Span& shared = b.spans()[2];
  EXPECT_EQ(shared.status.code, core::StatusCode::kError);
  EXPECT_EQ(shared.status.message, "");
  EXPECT_TRUE(find_attribute(shared.attributes, "zipkin.shared")->bool_value);

  // One Resource per service name; scopes split by scope name within it.
  EXPECT_NE(server.resource, client.resource);
  EXPECT_EQ(server.resource, shared.resource);
  EXPECT_NE(server.scope, shared.scope);

  // And the result is valid OTLP: two ResourceSpans.
  ExportRequest request;
  to_proto(b, &request);
  EXPECT_EQ(request.resource_spans_size(), 2);
}

TEST(ZipkinJson, EncodeThenDecodeKeepsWhatZipkinCanCarry) {
  core::SpanBatch original = testing::make_full_batch();
  std::string json = encode_zipkin_json(original);
  core::SpanBatch back;
  auto err = decode_zipkin_json(json, back);
  ASSERT_FALSE(err) << *err << "\n" << json;
  ASSERT_EQ(back.size(), original.size());

  const core::Span& a = original.spans()[0];
  const core::Span& s = back.spans()[0];
  EXPECT_EQ(s.trace_id, a.trace_id);
  EXPECT_EQ(s.span_id, a.span_id);
  EXPECT_EQ(s.parent_span_id, a.parent_span_id);
  EXPECT_EQ(s.name, a.name);
  EXPECT_EQ(s.kind, a.kind);
  EXPECT_EQ(s.trace_state, a.trace_state);
  // Microsecond precision on the wire.
  EXPECT_EQ(s.start_time_unix_nano, a.start_time_unix_nano);
  EXPECT_EQ(s.end_time_unix_nano, a.end_time_unix_nano - 123);
  EXPECT_EQ(s.status.code, core::StatusCode::kError);
  EXPECT_EQ(s.status.message, "upstream timed out");
  EXPECT_EQ(find_attribute(s.resource->attributes, "service.name")->str, "checkout");
  EXPECT_EQ(s.scope->name, "io.opentelemetry.http");
  EXPECT_EQ(s.scope->version, "1.2.3");
  // Tags are strings; other resource attributes come back as span attributes.
  EXPECT_EQ(find_attribute(s.attributes, "int")->str, "-9223372036854775808");
  EXPECT_EQ(find_attribute(s.attributes, "bool")->str, "true");
  EXPECT_EQ(find_attribute(s.attributes, "host.cores")->str, "8");
  EXPECT_EQ(find_attribute(s.attributes, "string")->str,
            find_attribute(a.attributes, "string")->str);
  // Events keep their attributes through the "name|{json}|dropped" annotation form.
  ASSERT_EQ(s.events.size(), 2u);
  EXPECT_EQ(s.events[0].name, "exception");
  EXPECT_EQ(s.events[0].time_unix_nano, a.events[0].time_unix_nano);
  EXPECT_EQ(find_attribute(s.events[0].attributes, "exception.type")->str, "IOError");
  EXPECT_FALSE(find_attribute(s.events[0].attributes, "exception.escaped")->bool_value);
  EXPECT_EQ(s.events[0].dropped_attributes_count, 2u);
  EXPECT_EQ(s.events[1].name, "retry");
  EXPECT_TRUE(s.events[1].attributes.empty());
  // Links travel as otlp.link.<i> tags.
  ASSERT_EQ(s.links.size(), 2u);
  EXPECT_EQ(s.links[0].trace_id, a.links[0].trace_id);
  EXPECT_EQ(s.links[0].span_id, a.links[0].span_id);
  EXPECT_EQ(s.links[0].trace_state, "vendor=x");
  EXPECT_EQ(find_attribute(s.links[0].attributes, "link.kind")->str, "follows");
  EXPECT_EQ(s.links[0].dropped_attributes_count, 1u);

  EXPECT_EQ(back.spans()[1].status.code, core::StatusCode::kOk);
  EXPECT_EQ(back.spans()[2].trace_id, original.spans()[2].trace_id);
  EXPECT_EQ(find_attribute(back.spans()[3].resource->attributes, "service.name")->str, "payments");
  EXPECT_EQ(back.spans()[2].resource, back.spans()[3].resource);
}

TEST(ZipkinJson, EncodesEndpointsKindAndErrorTheZipkinWay) {
  core::SpanBatch b;
  ASSERT_FALSE(decode_zipkin_json(kZipkinPayload, b));
  std::string json = encode_zipkin_json(b);
  for (const char* expected : {
           R"("traceId":"00000000000000005af7183fb1d4cf5f","id":"352bff9a74ca9ad2")",
           R"("parentId":"6b221d5bc9e6496c","name":"get /api","kind":"SERVER")",
           R"("timestamp":1556604172355737,"duration":1431)",
           R"("localEndpoint":{"serviceName":"backend","ipv4":"192.168.99.1","port":3306})",
           R"("remoteEndpoint":{"ipv4":"172.19.0.2","port":58648})",
           R"("localEndpoint":{"serviceName":"frontend","ipv6":"2001:db8::c001"})",
           R"("remoteEndpoint":{"serviceName":"backend","ipv4":"192.168.99.1","port":9000})",
           R"("debug":true)",
           R"("shared":true)",
           R"("annotations":[{"timestamp":1556604172356000,"value":"ws"})",
           R"("error":"connection refused")",
           R"("otel.scope.name":"brave")",
       }) {
    EXPECT_NE(json.find(expected), std::string::npos)
        << "missing: " << expected << "\nin: " << json;
  }
  EXPECT_EQ(json.find("network.local.address"), std::string::npos) << json;
  EXPECT_EQ(json.find("zipkin.debug"), std::string::npos) << json;
}

// Tags sent as numbers or booleans are taken as text, also the ones that name the scope and the
// status (which outlive the tag being read: a fuzzer found them pointing at freed stack).
TEST(ZipkinJson, ScopeAndStatusTagsSentAsNumbers) {
  core::SpanBatch b;
  ASSERT_EQ(decode_zipkin_json(
                R"([{"traceId":"1","id":"2","tags":{"otel.scope.name":123,"otel.scope.version":4.5,)"
                R"("otel.status_description":true,"otel.status_code":"ERROR"}}])",
                b),
            std::nullopt);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b.spans()[0].scope->name, "123");
  EXPECT_EQ(b.spans()[0].scope->version, "4.5");
  EXPECT_EQ(b.spans()[0].status.message, "true");
}

TEST(ZipkinJson, ErrorsNameTheSpanAndField) {
  auto error = [](std::string_view json) {
    core::SpanBatch b;
    auto err = decode_zipkin_json(json, b);
    EXPECT_TRUE(b.empty());
    return err.value_or("<no error>");
  };
  EXPECT_EQ(error(R"([{"traceId":"1","id":"2"},{"traceId":"xyz","id":"2"}])"),
            "spans[1].traceId: expected 16 or 32 hex digits");
  EXPECT_EQ(error(R"([{"traceId":"1","id":"00000000000000001"}])"),
            "spans[0].id: expected 16 hex digits");
  EXPECT_EQ(error(R"([{"traceId":"1"}])"), "spans[0].id: required");
  EXPECT_EQ(error(R"([{"traceId":"1","id":"2","kind":"INTERNAL"}])"),
            "spans[0].kind: expected CLIENT, SERVER, PRODUCER or CONSUMER");
  EXPECT_EQ(error(R"([{"traceId":"1","id":"2","timestamp":"now"}])"),
            "spans[0].timestamp: expected a number of microseconds");
  EXPECT_EQ(error(R"([{"traceId":"1","id":"2","annotations":[{"value":"a"},{"value":1}]}])"),
            "spans[0].annotations[1].value: expected a string");
  EXPECT_EQ(error(R"([{"traceId":"1","id":"2","tags":{"a":{"b":"c"}}}])"),
            "spans[0].tags.a: expected a string");
  EXPECT_EQ(error(R"({"traceId":"1"})"), "request: expected a JSON array of spans");
  EXPECT_EQ(error(R"([{"traceId":"1")").rfind("invalid JSON: ", 0), 0u);
}

TEST(ZipkinJson, EveryTruncatedPrefixIsAnError) {
  std::string json = kZipkinPayload;
  for (size_t n = 0; n < json.size(); ++n) {
    core::SpanBatch out;
    EXPECT_TRUE(decode_zipkin_json(std::string_view(json).substr(0, n), out)) << "prefix " << n;
    EXPECT_TRUE(out.empty());
  }
}

}  // namespace
}  // namespace hodos::otlp
