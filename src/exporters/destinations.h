// Destinations: the backends `hodos up` sends spans to besides its own store, chosen at run time
// (`hodos destinations add`, the control API, the UI) and kept in destinations.json in the data
// directory. A destination is a kind (generic otlp/otlphttp/zipkin, or a vendor preset over OTLP)
// plus a few fields; it becomes an exporter made by the registry's own factories, so each one
// has its own sending queue and retry and a slow or down destination never holds up the store
// or the others. The `destinations` exporter in hodos up's pipeline fans every batch out to them.
#pragma once

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/factory.h"
#include "pipeline/registry.h"

namespace hodos::exporters {

// A field a kind takes, as the CLI (`--field name=value`), the API and the UI's form show it.
struct DestinationField {
  std::string name;
  std::string help;
  bool required = false;
  bool secret = false;        // masked whenever it is shown back
  std::string default_value;  // shown as the placeholder; empty: none
};

struct DestinationKind {
  std::string name;               // "honeycomb"
  std::string title;              // "Honeycomb"
  std::string exporter;           // the exporter type it becomes: otlp, otlphttp or zipkin
  std::string endpoint_template;  // for docs and the UI: where spans go
  std::string auth;               // how it authenticates, in a few words
  std::vector<DestinationField> fields;
};

// Every kind, in the order `hodos destinations kinds` lists them.
const std::vector<DestinationKind>& destination_kinds();
const DestinationKind* find_destination_kind(std::string_view name);

// A bad name, kind or field: `field` names it ("kind", "name", "fields.api_key"), for a 400.
class DestinationError : public std::runtime_error {
 public:
  DestinationError(std::string field, const std::string& message)
      : std::runtime_error(field + ": " + message), field_(std::move(field)) {}
  const std::string& field() const { return field_; }

 private:
  std::string field_;
};

struct DestinationSpec {
  std::string name;
  std::string kind;
  // Field values as given. Headers are fields named "header.<Name>".
  std::map<std::string, std::string> fields;

  bool operator==(const DestinationSpec&) const = default;
};

// Checks the name, the kind and the fields (required ones present, unknown ones refused, values
// of the right shape). Throws DestinationError.
void validate_destination(const DestinationSpec& spec);

// The exporter config the spec becomes, in the Collector's shape (endpoint, headers,
// compression, tls, sending_queue, retry_on_failure, timeout). Validates first.
YAML::Node destination_exporter_config(const DestinationSpec& spec);
// Where the spans go, for listings (the endpoint of the exporter config, no secrets in it).
std::string destination_endpoint(const DestinationSpec& spec);

// "abcd…wxyz" style: enough to tell two keys apart, never enough to use one.
std::string mask_secret(std::string_view value);
// The spec with every secret field (and every header value) masked.
DestinationSpec masked(const DestinationSpec& spec);
bool is_secret_field(const DestinationKind& kind, std::string_view field);

// destinations.json's text, and back (exposed for tests). decode throws DestinationError.
std::string encode_destinations(const std::vector<DestinationSpec>& specs);
std::vector<DestinationSpec> decode_destinations(std::string_view text);

// The outcome of a test export: ok, or a category and a one-line diagnosis a user can act on.
struct DestinationTestResult {
  bool ok = false;
  std::string category;   // ok, dns, connection_refused, tls, auth, not_found, timeout, rejected,
                          // config, error
  std::string diagnosis;  // one line
  std::string detail;     // the destination's own words
  std::chrono::milliseconds elapsed{0};
};
// The category and one-line diagnosis of a failed send's message (exposed for tests).
DestinationTestResult diagnose_send_failure(const std::string& message);

enum class DestinationHealth { kUnknown, kOk, kFailing };
std::string_view health_name(DestinationHealth health);

struct DestinationState {
  DestinationSpec spec;  // masked
  std::string exporter;  // otlp, otlphttp, zipkin
  std::string endpoint;
  DestinationHealth health = DestinationHealth::kUnknown;
  std::string last_error;  // when failing
  uint64_t sent = 0;       // spans the destination accepted
  uint64_t failed = 0;     // spans given up on (refused, or retried too long)
  uint64_t dropped = 0;    // spans refused because its queue was full
  uint64_t queued = 0;     // batches waiting in its queue
};

// The run-time set of destinations. Thread-safe: the pipeline calls consume() from the receivers'
// threads while the API adds, removes and lists.
class Destinations {
 public:
  // Loads `path` (destinations.json) when it exists; an empty path keeps them in memory only.
  // `registry` (its otlp, otlphttp and zipkin factories) must outlive this object. Throws
  // DestinationError naming the file when it is not a destinations file.
  Destinations(const pipeline::Registry& registry, std::string path);
  ~Destinations();
  Destinations(const Destinations&) = delete;
  Destinations& operator=(const Destinations&) = delete;

  const std::string& path() const { return path_; }

  // Given by the pipeline (the destinations exporter's create()): where the exporters' metrics
  // go and the log they write to. Until then, nothing is created.
  void attach(pipeline::Metrics& metrics, std::shared_ptr<spdlog::logger> logger);
  // Creates and starts an exporter for every saved destination; one that cannot start is listed
  // as failing with the reason, and the others run.
  void start();
  // Drains every destination's queue until `deadline`.
  void shutdown(pipeline::Deadline deadline);

  // Hands the batch to every destination's queue; never fails (each counts its own refusals).
  void consume(core::SpanBatch batch);

  std::vector<DestinationState> list() const;
  // Validates, saves the file, then starts sending. Throws DestinationError (bad input, a name in
  // use) or std::runtime_error (the file cannot be written).
  DestinationState add(const DestinationSpec& spec);
  // False when there is no such destination. Saved first, then the exporter stops.
  bool remove(const std::string& name);
  std::optional<DestinationSpec> find(const std::string& name) const;

  // One span exported to the destination, waited for (at most `timeout`): a real round trip.
  DestinationTestResult test(const DestinationSpec& spec,
                             std::chrono::milliseconds timeout = std::chrono::seconds(10)) const;

 private:
  struct Live;
  std::shared_ptr<Live> make_live(const DestinationSpec& spec);  // not started
  // Has the exporter's factory read the config; throws DestinationError naming the field.
  void check_with_factory(const DestinationSpec& spec) const;
  void save(const std::vector<DestinationSpec>& specs);  // mu_ held
  DestinationState state_of(const Live& live) const;

  const pipeline::Registry& registry_;
  std::string path_;
  mutable std::mutex mu_;
  std::vector<DestinationSpec> specs_;
  std::vector<std::shared_ptr<Live>> live_;  // same order as specs_, once started
  pipeline::Metrics* metrics_ = nullptr;
  std::shared_ptr<spdlog::logger> logger_;
  bool running_ = false;
};

// The `destinations` exporter of hodos up's pipeline, feeding `destinations`.
std::unique_ptr<pipeline::ExporterFactory> make_destinations_exporter_factory(
    std::shared_ptr<Destinations> destinations);

}  // namespace hodos::exporters
