// The one place that lists every pipeline component this binary knows.
#pragma once

#include "pipeline/registry.h"

namespace hodos::components {

void register_all(pipeline::Registry& registry);

}  // namespace hodos::components
