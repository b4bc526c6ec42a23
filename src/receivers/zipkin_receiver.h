// The `zipkin` receiver: Zipkin v2 JSON spans on POST /api/v2/spans (gzip allowed), answered
// with 202 as Zipkin does, configured as the OpenTelemetry Collector's zipkinreceiver:
//
//   receivers:
//     zipkin:
//       endpoint: 127.0.0.1:9411      # loopback by default; ":9411" for all interfaces
//       max_request_body_size: 20971520
//       cors: {allowed_origins: [...], allowed_headers: [...], max_age: 0}
//
// Errors: malformed JSON 400 with the decoder's message (text/plain), Content-Type other than
// application/json (or none, which Zipkin reads as JSON) 415, bodies over the limit 413, a
// pipeline that says "not now" 503 with Retry-After, a permanent pipeline error 400.
#pragma once

#include <cstdint>
#include <memory>

#include "pipeline/factory.h"

namespace hodos::receivers {

std::unique_ptr<pipeline::ReceiverFactory> make_zipkin_receiver_factory();

// What create() returns, for callers that need the bound port (tests, `hodos up`).
class ZipkinReceiver : public pipeline::Receiver {
 public:
  virtual uint16_t port() const = 0;  // after start()
};

}  // namespace hodos::receivers
