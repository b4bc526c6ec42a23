#include "exporters/loadbalancing.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <set>

#include "core/attributes.h"
#include "pipeline/config_node.h"
#include "pipeline/metrics.h"

namespace hodos::exporters {

HashRing::HashRing(const std::vector<std::string>& backends, int points_per_backend) {
  points_.reserve(backends.size() * static_cast<size_t>(points_per_backend));
  for (size_t b = 0; b < backends.size(); ++b) {
    for (int i = 0; i < points_per_backend; ++i) {
      points_.emplace_back(hash_bytes(fmt::format("{}#{}", backends[b], i)),
                           static_cast<uint32_t>(b));
    }
  }
  // Ties (vanishingly rare) are broken by name, so the ring never depends on the list's order.
  std::sort(points_.begin(), points_.end(), [&](const auto& a, const auto& b) {
    return a.first != b.first ? a.first < b.first : backends[a.second] < backends[b.second];
  });
}

size_t HashRing::backend_for(uint64_t key_hash) const {
  auto it = std::lower_bound(points_.begin(), points_.end(), key_hash,
                             [](const auto& point, uint64_t h) { return point.first < h; });
  if (it == points_.end()) it = points_.begin();  // past the last point: wrap around
  return it->second;
}

uint64_t HashRing::hash_bytes(std::string_view bytes) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  // MurmurHash3's fmix64: FNV alone leaves labels like "gw:4317#1" and "#2" close together.
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

namespace {

using pipeline::ConfigNode;
using pipeline::Status;

constexpr std::string_view kDefaultOtlpPort = "4317";

enum class RoutingKey { kTraceId, kService };

struct Backend {
  std::string endpoint;
  std::unique_ptr<pipeline::Exporter> exporter;
  pipeline::Counter* spans = nullptr;
  bool started = false;
};

class LoadBalancingExporter : public pipeline::Exporter {
 public:
  LoadBalancingExporter(std::string id, RoutingKey routing, std::vector<Backend> backends)
      : id_(std::move(id)), routing_(routing), backends_(std::move(backends)), ring_(endpoints()) {}

  Status start() override {
    for (Backend& b : backends_) {
      Status st = b.exporter->start();
      if (!st.is_ok()) {
        shutdown(std::chrono::steady_clock::now());
        return Status::permanent(
            fmt::format("exporter {}: backend {}: {}", id_, b.endpoint, st.message()));
      }
      b.started = true;
    }
    return Status::ok();
  }

  // The backends drain in parallel (each has its own consumers), all until the same deadline.
  void shutdown(pipeline::Deadline deadline) override {
    for (Backend& b : backends_) {
      if (b.started) b.exporter->shutdown(deadline);
      b.started = false;
    }
  }

  Status consume(core::SpanBatch batch) override {
    if (batch.empty()) return Status::ok();
    const std::vector<core::Span>& spans = batch.spans();
    std::vector<uint32_t> target(spans.size());
    std::vector<size_t> count(backends_.size(), 0);
    const core::Resource* last_resource = nullptr;
    uint32_t last_service_target = 0;
    for (size_t i = 0; i < spans.size(); ++i) {
      if (routing_ == RoutingKey::kTraceId) {
        target[i] = static_cast<uint32_t>(ring_.backend_for_trace(spans[i].trace_id));
      } else {
        // Spans of one resource sit together, so the service is looked up once per run.
        if (spans[i].resource != last_resource) {
          last_resource = spans[i].resource;
          last_service_target = static_cast<uint32_t>(
              ring_.backend_for(HashRing::hash_bytes(service_name(*last_resource))));
        }
        target[i] = last_service_target;
      }
      ++count[target[i]];
    }

    const uint32_t first = target[0];
    if (count[first] == spans.size()) return hand_over(backends_[first], std::move(batch));

    // take_front(0) gives an empty batch sharing this batch's arenas, which own the spans'
    // names, attributes, resources and scopes: the parts copy only the span structs.
    std::vector<core::SpanBatch> parts(backends_.size());
    for (size_t b = 0; b < backends_.size(); ++b) {
      if (count[b] == 0) continue;
      parts[b] = batch.take_front(0);
      parts[b].spans().reserve(count[b]);
    }
    for (size_t i = 0; i < spans.size(); ++i) parts[target[i]].spans().push_back(spans[i]);

    Status result;
    for (size_t b = 0; b < backends_.size(); ++b) {
      if (count[b] == 0) continue;
      Status st = hand_over(backends_[b], std::move(parts[b]));
      if (!st.is_ok() && result.is_ok()) result = std::move(st);
    }
    return result;
  }

 private:
  std::vector<std::string> endpoints() const {
    std::vector<std::string> out;
    for (const Backend& b : backends_) out.push_back(b.endpoint);
    return out;
  }

  static std::string_view service_name(const core::Resource& resource) {
    const core::AnyValue* v = core::find_attribute(resource.attributes, "service.name");
    return v != nullptr && v->type == core::ValueType::kString ? v->str : std::string_view();
  }

  Status hand_over(Backend& backend, core::SpanBatch part) {
    const size_t n = part.size();
    backend.spans->add(n);
    Status st = backend.exporter->consume(std::move(part));
    if (st.is_ok()) return st;
    std::string message = fmt::format("backend {}: {}", backend.endpoint, st.message());
    return st.is_retryable() ? Status::retryable(std::move(message), st.retry_after())
                             : Status::permanent(std::move(message));
  }

  std::string id_;
  RoutingKey routing_;
  std::vector<Backend> backends_;
  HashRing ring_;
};

// "host:port", or "host" meaning the OTLP/gRPC port; anything else names the entry and the fix.
std::string read_hostname(ConfigNode& config, const std::string& entry) {
  auto bad = [&](const std::string& why) {
    config.fail("hostnames", fmt::format("'{}' {}; e.g. gateway-1:4317", entry, why));
  };
  if (entry.empty()) bad("is empty");
  if (entry.find("://") != std::string::npos) {
    bad("has a scheme; write host:port (plaintext is protocol.otlp.tls.insecure: true)");
  }
  if (entry.find('/') != std::string::npos ||
      std::any_of(entry.begin(), entry.end(),
                  [](unsigned char c) { return std::isspace(c) != 0; })) {
    bad("is not host:port");
  }
  const bool bracketed = entry.front() == '[';  // [::1]:4317
  size_t colon = entry.rfind(':');
  if (colon == std::string::npos || (bracketed && entry.back() == ']')) {
    return entry + ":" + std::string(kDefaultOtlpPort);
  }
  if (!bracketed && entry.find(':') != colon) bad("is an IPv6 address without brackets");
  std::string port = entry.substr(colon + 1);
  if (colon == 0 || port.empty() || port.size() > 5 ||
      !std::all_of(port.begin(), port.end(), [](unsigned char c) { return std::isdigit(c); }) ||
      std::stoi(port) == 0 || std::stoi(port) > 65535) {
    bad("is not host:port");
  }
  return entry;
}

class LoadBalancingExporterFactory : public pipeline::ExporterFactory {
 public:
  explicit LoadBalancingExporterFactory(const pipeline::Registry& registry) : registry_(registry) {}

  std::string_view type() const override { return "loadbalancing"; }

  std::unique_ptr<pipeline::Exporter> create(const pipeline::CreateContext& ctx,
                                             ConfigNode& config) const override {
    std::string key = config.get_string("routing_key", "traceID");
    RoutingKey routing = RoutingKey::kTraceId;
    if (key == "service") {
      routing = RoutingKey::kService;
    } else if (key != "traceID") {
      config.fail("routing_key", fmt::format("'{}' is not supported for traces; use traceID (the "
                                             "default) or service",
                                             key));
    }

    std::vector<std::string> hostnames = read_resolver(config);

    ConfigNode protocol = config.child("protocol");
    ConfigNode otlp = protocol.child("otlp");
    protocol.reject_unknown_keys();
    if (otlp.has("endpoint")) {
      otlp.fail("endpoint", "is set for each backend from resolver.static.hostnames; remove it");
    }
    const pipeline::ExporterFactory* otlp_factory = registry_.exporter("otlp");
    if (otlp_factory == nullptr) {
      throw pipeline::ConfigError(otlp.path(), "this build has no otlp exporter");
    }
    config.reject_unknown_keys();

    std::vector<Backend> backends;
    for (const std::string& endpoint : hostnames) {
      // Each backend reads its own copy of protocol.otlp, so errors name the user's key path.
      YAML::Node yaml =
          otlp.yaml().IsMap() ? YAML::Clone(otlp.yaml()) : YAML::Node(YAML::NodeType::Map);
      yaml["endpoint"] = endpoint;
      ConfigNode backend_config(yaml, otlp.path());
      // Its own id, so that queue, retry and send metrics (and persisted queues) are per backend.
      pipeline::ComponentId sub_id{ctx.id.type,
                                   ctx.id.name.empty() ? endpoint : ctx.id.name + "/" + endpoint};
      pipeline::CreateContext sub_ctx{sub_id, ctx.metrics, ctx.logger};
      Backend b;
      b.endpoint = endpoint;
      b.exporter = otlp_factory->create(sub_ctx, backend_config);
      b.spans = &ctx.metrics.counter("hodos_exporter_loadbalancing_spans_total",
                                     "Spans a loadbalancing exporter routed to each backend.",
                                     {{"exporter", ctx.id.str()}, {"backend", endpoint}});
      backends.push_back(std::move(b));
    }
    return std::make_unique<LoadBalancingExporter>(ctx.id.str(), routing, std::move(backends));
  }

 private:
  static std::vector<std::string> read_resolver(ConfigNode& config) {
    bool has_resolver = false;
    ConfigNode resolver = config.child("resolver", &has_resolver);
    if (!has_resolver) {
      config.fail("resolver",
                  "required; list the backends, e.g. resolver: {static: {hostnames: "
                  "[gateway-1:4317, gateway-2:4317]}}");
    }
    for (std::string_view dynamic : {"dns", "k8s", "aws_cloud_map"}) {
      if (resolver.has(dynamic)) {
        resolver.fail(dynamic,
                      "is not supported yet; list the backends with "
                      "resolver.static.hostnames: [host:port, ...]");
      }
    }
    ConfigNode fixed = resolver.child("static");
    resolver.reject_unknown_keys();
    std::vector<std::string> hostnames;
    std::set<std::string> seen;
    for (const std::string& entry : fixed.get_string_list("hostnames")) {
      std::string endpoint = read_hostname(fixed, entry);
      if (!seen.insert(endpoint).second) {
        fixed.fail("hostnames", fmt::format("'{}' is listed twice", entry));
      }
      hostnames.push_back(std::move(endpoint));
    }
    fixed.reject_unknown_keys();
    if (hostnames.empty()) {
      fixed.fail("hostnames", "required: at least one backend, e.g. [gateway-1:4317]");
    }
    return hostnames;
  }

  const pipeline::Registry& registry_;
};

}  // namespace

std::unique_ptr<pipeline::ExporterFactory> make_loadbalancing_exporter_factory(
    const pipeline::Registry& registry) {
  return std::make_unique<LoadBalancingExporterFactory>(registry);
}

}  // namespace hodos::exporters
