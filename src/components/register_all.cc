#include "components/register_all.h"

// receivers
#include "receivers/otlp_receiver.h"
#include "receivers/zipkin_receiver.h"
// processors
#include "processors/attributes.h"
#include "processors/batch.h"
#include "processors/filter.h"
#include "processors/memory_limiter.h"
#include "processors/probabilistic_sampler.h"
#include "processors/redaction.h"
#include "processors/resource.h"
#include "processors/span_template.h"
#include "processors/stitch.h"
#include "processors/tail_sampling.h"
// connectors
#include "connectors/spanmetrics.h"
// exporters
#include "exporters/debug.h"
#include "exporters/file.h"
#include "exporters/kafka_exporter.h"
#include "exporters/loadbalancing.h"
#include "exporters/otlp.h"
#include "exporters/otlphttp.h"
#include "exporters/prometheus.h"
#include "exporters/prometheus_remote_write.h"
#include "exporters/s3_exporter.h"
#include "exporters/store.h"
#include "exporters/zipkin.h"

namespace hodos::components {

void register_all(pipeline::Registry& registry) {
  // receivers
  registry.add(receivers::make_otlp_receiver_factory());
  registry.add(receivers::make_zipkin_receiver_factory());
  // processors
  registry.add(processors::make_attributes_processor_factory());
  registry.add(processors::make_batch_processor_factory());
  registry.add(processors::make_filter_processor_factory());
  registry.add(processors::make_memory_limiter_processor_factory());
  registry.add(processors::make_probabilistic_sampler_processor_factory());
  registry.add(processors::make_redaction_processor_factory());
  registry.add(processors::make_resource_processor_factory());
  registry.add(processors::make_span_template_processor_factory());
  registry.add(processors::make_stitch_processor_factory());
  registry.add(processors::make_tail_sampling_processor_factory());
  // exporters
  registry.add(exporters::make_debug_exporter_factory());
  registry.add(exporters::make_file_exporter_factory());
  registry.add(exporters::make_kafka_exporter_factory());
  registry.add(exporters::make_loadbalancing_exporter_factory(registry));
  registry.add(exporters::make_otlp_exporter_factory());
  registry.add(exporters::make_otlphttp_exporter_factory());
  registry.add(exporters::make_s3_exporter_factory());
  // `hodos up` replaces this one with a factory holding its store (exporters/store.h).
  registry.add(exporters::make_store_exporter_factory());
  registry.add(exporters::make_zipkin_exporter_factory());
  // metrics exporters, fed by connectors
  registry.add(exporters::make_prometheus_exporter_factory());
  registry.add(exporters::make_prometheus_remote_write_exporter_factory());
  // connectors
  registry.add(connectors::make_spanmetrics_connector_factory());
  (void)registry;
}

}  // namespace hodos::components
