// Who a process is, in OpenTelemetry's terms: its service name (as its own SDK would choose it,
// else a name from its runtime's entry point), the resource its spans carry, and whether it
// already exports its own spans through an OpenTelemetry SDK (then Hodos leaves them to it).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "agent/k8s_pods.h"
#include "agent/process_info.h"
#include "agent/runtime_detect.h"

namespace hodos::agent {

struct ServiceName {
  std::string name;
  // Where it came from: "OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES", "script", "module",
  // "jar", "main class", "assembly", "executable".
  std::string source;
};

// OTEL_SERVICE_NAME, then service.name in OTEL_RESOURCE_ATTRIBUTES, then the runtime's entry point
// (python app.py → "app", python -m http.server → "http.server", java -jar shop.jar → "shop", java
// com.example.Shop → "Shop", node server.js → "server", node dir/index.js → "dir", dotnet Shop.dll
// → "Shop"), else the executable's name.
ServiceName service_name(const ProcessInfo& process, const RuntimeInfo& runtime);

// The key=value pairs of OTEL_RESOURCE_ATTRIBUTES (comma-separated, percent-decoded, trimmed), in
// order; malformed entries are skipped.
std::vector<std::pair<std::string, std::string>> parse_resource_attributes(std::string_view text);

struct SdkDetection {
  bool has_otel_sdk = false;
  std::string reason;  // "OTEL_EXPORTER_OTLP_ENDPOINT is set", "-javaagent: opentelemetry", ...
};

// An SDK configured to export traces: OTEL_TRACES_EXPORTER other than "none", an OTLP endpoint,
// the OpenTelemetry Java agent (JAVA_TOOL_OPTIONS or the command line), Node's
// @opentelemetry auto-instrumentations (NODE_OPTIONS or --require), Python's
// opentelemetry-instrument, .NET's startup hook. OTEL_SDK_DISABLED=true or
// OTEL_TRACES_EXPORTER=none mean no SDK spans, so Hodos traces the process.
SdkDetection detect_otel_sdk(const ProcessInfo& process);

using AttributeValue = std::variant<std::string, int64_t>;
struct ResourceAttribute {
  std::string key;
  AttributeValue value;
};

// The resource of the process's spans: service.name, process.pid, process.executable.name,
// process.executable.path, process.command_line (redacted), process.runtime.name/version (when
// known), host.name, telemetry.sdk.name=hodos, telemetry.sdk.language (when known), container.id
// and k8s.pod.uid (from the cgroup path, k8s_cgroup.h) with k8s.node.name (the agent's
// K8S_NODE_NAME) for pods, and when `pods` knows the pod: k8s.pod.name, k8s.namespace.name, the
// owning workload (k8s.deployment.name, ...), k8s.container.name, container.image.name and
// .tag; then the process's own OTEL_RESOURCE_ATTRIBUTES for keys not already set.
std::vector<ResourceAttribute> resource_attributes(const ProcessInfo& process,
                                                   const RuntimeInfo& runtime,
                                                   const ServiceName& service,
                                                   std::string_view host_name,
                                                   const PodDirectory* pods = nullptr);

// gethostname(), or "" when it fails.
std::string local_host_name();

const AttributeValue* find_attribute(const std::vector<ResourceAttribute>& attributes,
                                     std::string_view key);

}  // namespace hodos::agent
