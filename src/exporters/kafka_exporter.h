// The `kafka` exporter: spans as OTLP protobuf or OTLP JSON messages (one ExportTraceServiceRequest
// each) to a Kafka topic, through librdkafka.
//
// With `partition_traces_by_id` (the default) a batch is split per trace and each message is keyed
// by its trace id in hex, so every span of a trace lands on the same partition and a consumer of
// one partition sees whole traces. A batch counts as sent only when the brokers acknowledged every
// message of it; otherwise the exporter helper retries the whole batch (at-least-once).
#pragma once

#include <memory>

#include "pipeline/factory.h"

namespace hodos::exporters {

std::unique_ptr<pipeline::ExporterFactory> make_kafka_exporter_factory();

}  // namespace hodos::exporters
