// The `loadbalancing` exporter, shaped like the OpenTelemetry Collector's: it sends every span of
// a trace to the same backend, so that tail sampling works when several gateways run.
//
//   exporters:
//     loadbalancing:
//       routing_key: traceID          # the default; or `service` (the resource's service.name)
//       protocol:
//         otlp:                       # the otlp exporter's own config, without endpoint
//           tls: {insecure: true}
//           sending_queue: {queue_size: 5000}
//       resolver:
//         static:
//           hostnames: [gateway-1:4317, gateway-2:4317]
//
// Each backend gets a real `otlp` exporter made by the registry's factory, with its own sending
// queue and retry, so a slow or down backend holds up only the traces that hash to it. Spans are
// placed on a consistent hash ring, so adding or removing a backend moves only about 1/N of the
// traces. A batch is split into one batch per backend (resources and scopes kept); when a backend
// refuses its part, consume() returns that refusal and the other parts stay sent, so a retrying
// sender may deliver those again (as with the Collector's exporter).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/ids.h"
#include "pipeline/factory.h"
#include "pipeline/registry.h"

namespace hodos::exporters {

// A consistent hash ring over backends named by their endpoints. The ring depends only on the
// set of names (not their order), and a key maps to the first point at or after its hash.
class HashRing {
 public:
  static constexpr int kPointsPerBackend = 200;

  explicit HashRing(const std::vector<std::string>& backends,
                    int points_per_backend = kPointsPerBackend);

  // Index into the constructor's `backends`. The ring must not be empty.
  size_t backend_for(uint64_t key_hash) const;
  size_t backend_for_trace(const core::TraceId& id) const {
    return backend_for(hash_bytes(id.as_view()));
  }

  // A stable 64-bit hash (FNV-1a, then a finalizer that spreads close inputs apart): the same
  // on every build and host, so every load balancer of a tier agrees.
  static uint64_t hash_bytes(std::string_view bytes);

 private:
  std::vector<std::pair<uint64_t, uint32_t>> points_;  // (hash, backend index), sorted
};

// `registry` (its otlp factory) must outlive the factory and every exporter it makes.
std::unique_ptr<pipeline::ExporterFactory> make_loadbalancing_exporter_factory(
    const pipeline::Registry& registry);

}  // namespace hodos::exporters
