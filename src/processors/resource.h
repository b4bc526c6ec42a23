// The `resource` processor: the attribute action list applied to resource attributes, configured
// as the OpenTelemetry Collector's resourceprocessor (`attributes:` list of actions).
#pragma once

#include <memory>

#include "pipeline/factory.h"

namespace hodos::processors {

std::unique_ptr<pipeline::ProcessorFactory> make_resource_processor_factory();

}  // namespace hodos::processors
