// Component interfaces of the pipeline, in the OpenTelemetry Collector's model: receivers turn
// input into SpanBatches and hand them to a consumer; processors and exporters are consumers.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/metric_batch.h"
#include "core/span_batch.h"
#include "pipeline/status.h"

namespace hodos::pipeline {

using Deadline = std::chrono::steady_clock::time_point;

class TracesConsumer {
 public:
  virtual ~TracesConsumer() = default;
  // Takes ownership of the batch whatever the outcome. Called from several threads at once.
  virtual Status consume(core::SpanBatch batch) = 0;
  // True when the consumer edits spans in place, so a fan-out must give it its own copy.
  virtual bool mutates_data() const { return false; }
};

// "type" or "type/name", as in the Collector's config (`otlp`, `otlp/backup`).
struct ComponentId {
  std::string type;
  std::string name;

  std::string str() const { return name.empty() ? type : type + "/" + name; }
  static std::optional<ComponentId> parse(std::string_view text);
  friend bool operator==(const ComponentId&, const ComponentId&) = default;
};

// The metrics side exists for connectors (spanmetrics): metrics made from spans, never received.
class MetricsConsumer {
 public:
  virtual ~MetricsConsumer() = default;
  // `batch` is the producer's whole current state (cumulative); called from its flush thread.
  virtual Status consume_metrics(const core::MetricBatch& batch) = 0;
};

enum class ComponentKind { kReceiver, kProcessor, kExporter, kConnector };
std::string_view component_kind_plural(ComponentKind kind);  // "receivers", ...

class Component {
 public:
  virtual ~Component() = default;
  // Binds ports, starts threads. A failure here stops the whole service with the message.
  virtual Status start() { return Status::ok(); }
  // Stops accepting work and drains what is queued until `deadline`; then gives up and counts.
  virtual void shutdown(Deadline /*deadline*/) {}
};

class Receiver : public Component {};
class Processor : public Component, public TracesConsumer {};
class Exporter : public Component, public TracesConsumer {};
class MetricsExporter : public Component, public MetricsConsumer {};
// Ends traces pipelines (as an exporter there) and starts metrics pipelines (as their receiver),
// as the Collector's connectors do.
class Connector : public Exporter {};

}  // namespace hodos::pipeline
