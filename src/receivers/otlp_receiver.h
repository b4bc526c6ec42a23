// The `otlp` receiver: OTLP/gRPC (TraceService/Export) and OTLP/HTTP (POST /v1/traces, protobuf
// or JSON, gzip/deflate bodies, CORS), configured exactly as the OpenTelemetry Collector's:
//
//   receivers:
//     otlp:
//       protocols:
//         grpc:                     # enabled because the key is present
//           endpoint: 127.0.0.1:4317
//           max_recv_msg_size_mib: 4
//         http:
//           endpoint: 127.0.0.1:4318
//           traces_url_path: /v1/traces
//           max_request_body_size: 20971520
//           cors: {allowed_origins: ["https://*.example.com"], allowed_headers: [], max_age: 0}
//
// Either protocol also takes `tls: {cert_file, key_file, client_ca_file, min_version}` and
// `auth: {bearer_token}` for a gateway other hosts reach (receivers/otlp_tls.h): a missing or
// wrong token is HTTP 401 / UNAUTHENTICATED and nothing is ingested.
//
// Unlike the Collector's 0.0.0.0 of old, the default endpoints are loopback (127.0.0.1), so a
// collector started with defaults is not reachable from the network; write `:4317` or
// `0.0.0.0:4317` to listen on all interfaces.
//
// Answers: HTTP 200 / gRPC OK when the pipeline took the spans; malformed payloads 400 /
// INVALID_ARGUMENT with the decoder's message (HTTP bodies are a google.rpc.Status in the
// request's encoding); wrong Content-Type or Content-Encoding 415; bodies over the limit 413;
// a pipeline that says "not now" (memory_limiter, full queues) 503 with Retry-After /
// UNAVAILABLE; a permanent pipeline error 400 / INVALID_ARGUMENT.
#pragma once

#include <cstdint>
#include <memory>

#include "pipeline/factory.h"

namespace hodos::receivers {

std::unique_ptr<pipeline::ReceiverFactory> make_otlp_receiver_factory();

// What create() returns, for callers that need the bound ports (tests, `hodos up`).
class OtlpReceiver : public pipeline::Receiver {
 public:
  // Bound ports after start(); 0 when that protocol is not enabled.
  virtual uint16_t grpc_port() const = 0;
  virtual uint16_t http_port() const = 0;
};

}  // namespace hodos::receivers
