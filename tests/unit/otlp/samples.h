// Hand-written wire samples shared by the codec tests and the fuzz seed writer.
#pragma once

namespace hodos::otlp::testing {

// The trace example from the OTLP specification (opentelemetry-proto/examples/trace.json),
// including its uppercase hex ids, plus a few more attribute types and an unknown field.
inline constexpr const char* kSpecExampleJson = R"({
  "resourceSpans": [
    {
      "resource": {
        "attributes": [
          { "key": "service.name", "value": { "stringValue": "my.service" } }
        ]
      },
      "scopeSpans": [
        {
          "scope": {
            "name": "my.library",
            "version": "1.0.0",
            "attributes": [
              { "key": "my.scope.attribute", "value": { "stringValue": "some scope attribute" } }
            ]
          },
          "spans": [
            {
              "traceId": "5B8EFFF798038103D269B633813FC60C",
              "spanId": "EEE19B7EC3C1B174",
              "parentSpanId": "EEE19B7EC3C1B173",
              "name": "I'm a server span",
              "startTimeUnixNano": "1544712660000000000",
              "endTimeUnixNano": "1544712661000000000",
              "kind": 2,
              "attributes": [
                { "key": "my.span.attr", "value": { "stringValue": "some value" } },
                { "key": "count", "value": { "intValue": "-42" } },
                { "key": "ratio", "value": { "doubleValue": 0.5 } },
                { "key": "ok", "value": { "boolValue": true } }
              ],
              "status": { "code": 1 },
              "unknownFieldFromTheFuture": { "ignored": [1, 2, 3] }
            }
          ]
        }
      ]
    }
  ]
})";

// What Brave / zipkin-js send: a server span with a 64-bit trace id, a client span of another
// service with annotations and an error, and a shared (join) span.
inline constexpr const char* kZipkinPayload = R"([
  {
    "traceId": "5af7183fb1d4cf5f",
    "parentId": "6b221d5bc9e6496c",
    "id": "352bff9a74ca9ad2",
    "kind": "SERVER",
    "name": "get /api",
    "timestamp": 1556604172355737,
    "duration": 1431,
    "localEndpoint": { "serviceName": "backend", "ipv4": "192.168.99.1", "port": 3306 },
    "remoteEndpoint": { "ipv4": "172.19.0.2", "port": 58648 },
    "tags": { "http.method": "GET", "http.path": "/api", "http.status_code": "200",
              "otel.scope.name": "brave", "otel.scope.version": "5.13" }
  },
  {
    "traceId": "463ac35c9f6413ad48485a3953bb6124",
    "id": "a2fb4a1d1a96d312",
    "kind": "CLIENT",
    "name": "post",
    "timestamp": 1556604172355000,
    "duration": 20000,
    "localEndpoint": { "serviceName": "frontend", "ipv6": "2001:db8::c001" },
    "remoteEndpoint": { "serviceName": "backend", "ipv4": "192.168.99.1", "port": 9000 },
    "annotations": [
      { "timestamp": 1556604172356000, "value": "ws" },
      { "timestamp": 1556604172357000, "value": "wr" }
    ],
    "tags": { "error": "connection refused", "peer.note": "x|y" },
    "debug": true
  },
  {
    "traceId": "5af7183fb1d4cf5f",
    "id": "6b221d5bc9e6496c",
    "kind": "SERVER",
    "name": "get",
    "timestamp": 1556604172355100,
    "duration": 2000,
    "localEndpoint": { "serviceName": "backend" },
    "tags": { "error": "true" },
    "shared": true
  }
])";

}  // namespace hodos::otlp::testing
