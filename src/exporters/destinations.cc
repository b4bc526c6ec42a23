#include "exporters/destinations.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/atomic_file.h"
#include "core/clock.h"
#include "otlp/json_writer.h"
#include "pipeline/config_node.h"

namespace hodos::exporters {

namespace {

using nlohmann::json;
using Fields = std::map<std::string, std::string>;

constexpr int kFormatVersion = 1;
constexpr std::string_view kHeaderPrefix = "header.";
constexpr size_t kMaxNameBytes = 64;

// ---- kinds ------------------------------------------------------------------------------------

const DestinationField kEndpointOverride{
    "endpoint", "Override the preset's endpoint (a proxy, another region, an on-premises install)",
    false, false, ""};

std::string field_or(const Fields& f, const std::string& name, const std::string& fallback = "") {
  auto it = f.find(name);
  return it == f.end() || it->second.empty() ? fallback : it->second;
}

std::string base64(std::string_view bytes) {
  std::string quoted;
  otlp::json::append_base64(quoted, bytes);
  return quoted.substr(1, quoted.size() - 2);
}

// What a kind turns into: the exporter config before the common queue/retry settings.
using Builder = std::function<void(const Fields&, YAML::Node&)>;

struct KindDef {
  DestinationKind kind;
  Builder build;
};

void add_headers(const Fields& f, YAML::Node& c) {
  for (const auto& [name, value] : f) {
    if (name.starts_with(kHeaderPrefix)) c["headers"][name.substr(kHeaderPrefix.size())] = value;
  }
  if (auto token = field_or(f, "token"); !token.empty()) {
    c["headers"]["Authorization"] = "Bearer " + token;
  }
}

const DestinationField kToken{"token", "Sent as Authorization: Bearer <token>", false, true, ""};
const DestinationField kHeaders{"header.<Name>",
                                "Any extra header, e.g. --field header.X-Api-Key=... (values are "
                                "treated as secrets)",
                                false, true, ""};

std::vector<KindDef> make_kinds() {
  std::vector<KindDef> k;
  // Generic kinds: the exporters' own keys, in a few fields.
  k.push_back({{"otlp",
                "OTLP over gRPC",
                "otlp",
                "<endpoint> (host:port)",
                "optional token/headers",
                {{"endpoint", "host:port (TLS), http://host:port (plaintext) or https://host:port",
                  true, false, "collector.example.com:4317"},
                 {"insecure", "true: plaintext for a bare host:port", false, false, "false"},
                 {"compression", "gzip or none", false, false, "gzip"},
                 kToken,
                 kHeaders}},
               [](const Fields& f, YAML::Node& c) {
                 c["endpoint"] = field_or(f, "endpoint");
                 if (field_or(f, "insecure") == "true") c["tls"]["insecure"] = true;
                 c["compression"] = field_or(f, "compression", "gzip");
                 add_headers(f, c);
               }});
  k.push_back({{"otlphttp",
                "OTLP over HTTP",
                "otlphttp",
                "<endpoint>/v1/traces",
                "optional token/headers",
                {{"endpoint", "Base URL; spans go to <endpoint>/v1/traces", true, false,
                  "http://collector.example.com:4318"},
                 {"compression", "gzip or none", false, false, "gzip"},
                 {"encoding", "proto or json", false, false, "proto"},
                 kToken,
                 kHeaders}},
               [](const Fields& f, YAML::Node& c) {
                 c["endpoint"] = field_or(f, "endpoint");
                 c["compression"] = field_or(f, "compression", "gzip");
                 c["encoding"] = field_or(f, "encoding", "proto");
                 add_headers(f, c);
               }});
  k.push_back({{"zipkin",
                "Zipkin (JSON v2)",
                "zipkin",
                "<endpoint>",
                "optional token/headers",
                {{"endpoint", "Full URL of the spans API", true, false,
                  "http://zipkin.example.com:9411/api/v2/spans"},
                 kToken,
                 kHeaders}},
               [](const Fields& f, YAML::Node& c) {
                 c["endpoint"] = field_or(f, "endpoint");
                 add_headers(f, c);
               }});

  // Vendor presets: OTLP with the vendor's endpoint and auth header filled in from a few fields.
  k.push_back({{"grafana-cloud",
                "Grafana Cloud (Tempo)",
                "otlphttp",
                "https://otlp-gateway-{zone}.grafana.net/otlp",
                "Authorization: Basic base64(instance_id:api_token)",
                {{"zone", "Your stack's zone, from its OpenTelemetry card (e.g. prod-us-east-0)",
                  false, false, "prod-us-east-0"},
                 {"instance_id", "The OTLP instance ID (numeric) from the OpenTelemetry card", true,
                  false, ""},
                 {"api_token", "An access policy token with traces:write", true, true, ""},
                 kEndpointOverride}},
               [](const Fields& f, YAML::Node& c) {
                 c["endpoint"] = field_or(
                     f, "endpoint",
                     fmt::format("https://otlp-gateway-{}.grafana.net/otlp", field_or(f, "zone")));
                 c["headers"]["Authorization"] =
                     "Basic " + base64(field_or(f, "instance_id") + ":" + field_or(f, "api_token"));
                 c["compression"] = "gzip";
               }});
  k.push_back({{"tempo",
                "Grafana Tempo (self-hosted, OTLP/HTTP)",
                "otlphttp",
                "<endpoint>/v1/traces",
                "none, or a bearer token; tenant as X-Scope-OrgID",
                {{"endpoint", "Tempo's OTLP/HTTP receiver", true, false, "http://tempo:4318"},
                 {"tenant", "Multi-tenant Tempo: sent as X-Scope-OrgID", false, false, ""},
                 kToken}},
               [](const Fields& f, YAML::Node& c) {
                 c["endpoint"] = field_or(f, "endpoint");
                 if (auto t = field_or(f, "tenant"); !t.empty()) c["headers"]["X-Scope-OrgID"] = t;
                 add_headers(f, c);
                 c["compression"] = "gzip";
               }});
  k.push_back(
      {{"honeycomb",
        "Honeycomb",
        "otlp",
        "api.honeycomb.io:443 (EU: api.eu1.honeycomb.io:443)",
        "x-honeycomb-team: <api_key>",
        {{"api_key", "An ingest API key of the environment", true, true, ""},
         {"region", "us or eu", false, false, "us"},
         {"dataset", "Honeycomb Classic only: sent as x-honeycomb-dataset", false, false, ""},
         kEndpointOverride}},
       [](const Fields& f, YAML::Node& c) {
         c["endpoint"] = field_or(
             f, "endpoint",
             field_or(f, "region") == "eu" ? "api.eu1.honeycomb.io:443" : "api.honeycomb.io:443");
         c["headers"]["x-honeycomb-team"] = field_or(f, "api_key");
         if (auto d = field_or(f, "dataset"); !d.empty()) {
           c["headers"]["x-honeycomb-dataset"] = d;
         }
         c["compression"] = "gzip";
       }});
  k.push_back({{"datadog",
                "Datadog (OTLP traces intake)",
                "otlphttp",
                "https://otlp.{site}/v1/traces",
                "dd-api-key: <api_key>",
                {{"api_key", "A Datadog API key", true, true, ""},
                 {"site", "Your Datadog site (datadoghq.com, datadoghq.eu, us3.datadoghq.com, ...)",
                  false, false, "datadoghq.com"},
                 kEndpointOverride}},
               [](const Fields& f, YAML::Node& c) {
                 c["endpoint"] =
                     field_or(f, "endpoint",
                              fmt::format("https://otlp.{}", field_or(f, "site", "datadoghq.com")));
                 c["headers"]["dd-api-key"] = field_or(f, "api_key");
                 c["headers"]["dd-protocol"] = "otlp";
                 c["compression"] = "gzip";
               }});
  k.push_back({{"newrelic",
                "New Relic",
                "otlphttp",
                "https://otlp.nr-data.net (EU: https://otlp.eu01.nr-data.net)",
                "api-key: <license_key>",
                {{"license_key", "An ingest license key of the account", true, true, ""},
                 {"region", "us or eu", false, false, "us"},
                 kEndpointOverride}},
               [](const Fields& f, YAML::Node& c) {
                 c["endpoint"] =
                     field_or(f, "endpoint",
                              field_or(f, "region") == "eu" ? "https://otlp.eu01.nr-data.net"
                                                            : "https://otlp.nr-data.net");
                 c["headers"]["api-key"] = field_or(f, "license_key");
                 c["compression"] = "gzip";
               }});
  k.push_back({{"elastic",
                "Elastic APM / Elastic Observability",
                "otlphttp",
                "<endpoint>/v1/traces",
                "Authorization: Bearer <secret_token> or ApiKey <api_key>",
                {{"endpoint", "The APM Server (or managed OTLP) URL of the deployment", true, false,
                  "https://my-deployment.apm.us-east-1.aws.cloud.es.io:443"},
                 {"secret_token", "The APM Server secret token", false, true, ""},
                 {"api_key", "An API key (instead of secret_token)", false, true, ""}}},
               [](const Fields& f, YAML::Node& c) {
                 c["endpoint"] = field_or(f, "endpoint");
                 if (auto key = field_or(f, "api_key"); !key.empty()) {
                   c["headers"]["Authorization"] = "ApiKey " + key;
                 } else {
                   c["headers"]["Authorization"] = "Bearer " + field_or(f, "secret_token");
                 }
                 c["compression"] = "gzip";
               }});
  k.push_back(
      {{"dynatrace",
        "Dynatrace",
        "otlphttp",
        "https://{environment_id}.live.dynatrace.com/api/v2/otlp/v1/traces",
        "Authorization: Api-Token <api_token>",
        {{"environment_id", "The environment ID (the first label of its URL)", false, false, ""},
         {"api_token", "An access token with the openTelemetryTrace.ingest scope", true, true, ""},
         {"endpoint",
          "Instead of environment_id: an ActiveGate or Managed base URL ending in "
          "/api/v2/otlp",
          false, false, ""}}},
       [](const Fields& f, YAML::Node& c) {
         c["endpoint"] = field_or(f, "endpoint",
                                  fmt::format("https://{}.live.dynatrace.com/api/v2/otlp",
                                              field_or(f, "environment_id")));
         c["headers"]["Authorization"] = "Api-Token " + field_or(f, "api_token");
         c["compression"] = "gzip";
       }});
  k.push_back({{"splunk",
                "Splunk Observability Cloud",
                "otlphttp",
                "https://ingest.{realm}.signalfx.com/v2/trace/otlp",
                "X-SF-Token: <access_token>",
                {{"realm", "Your organisation's realm (us0, us1, eu0, ...)", true, false, "us0"},
                 {"access_token", "An access token with ingest permission", true, true, ""},
                 kEndpointOverride}},
               [](const Fields& f, YAML::Node& c) {
                 // Splunk's OTLP/HTTP path is not /v1/traces, so the full URL is given.
                 c["traces_endpoint"] =
                     field_or(f, "endpoint",
                              fmt::format("https://ingest.{}.signalfx.com/v2/trace/otlp",
                                          field_or(f, "realm")));
                 c["headers"]["X-SF-Token"] = field_or(f, "access_token");
                 c["compression"] = "gzip";
               }});
  k.push_back({{"lightstep",
                "ServiceNow Cloud Observability (Lightstep)",
                "otlp",
                "ingest.lightstep.com:443",
                "lightstep-access-token: <access_token>",
                {{"access_token", "A project access token", true, true, ""}, kEndpointOverride}},
               [](const Fields& f, YAML::Node& c) {
                 c["endpoint"] = field_or(f, "endpoint", "ingest.lightstep.com:443");
                 c["headers"]["lightstep-access-token"] = field_or(f, "access_token");
                 c["compression"] = "gzip";
               }});
  k.push_back({{"jaeger",
                "Jaeger (OTLP/HTTP)",
                "otlphttp",
                "<endpoint>/v1/traces",
                "none",
                {{"endpoint", "Jaeger's OTLP/HTTP receiver (Jaeger 1.35 or later)", false, false,
                  "http://localhost:4318"}}},
               [](const Fields& f, YAML::Node& c) {
                 c["endpoint"] = field_or(f, "endpoint", "http://localhost:4318");
                 c["compression"] = "gzip";
               }});
  return k;
}

const std::vector<KindDef>& kind_defs() {
  static const std::vector<KindDef> defs = make_kinds();
  return defs;
}

const KindDef* find_def(std::string_view name) {
  for (const KindDef& d : kind_defs()) {
    if (d.kind.name == name) return &d;
  }
  return nullptr;
}

std::string field_names(const DestinationKind& kind) {
  std::string out;
  for (const DestinationField& f : kind.fields) out += (out.empty() ? "" : ", ") + f.name;
  return out;
}

bool takes_headers(const DestinationKind& kind) {
  return std::any_of(kind.fields.begin(), kind.fields.end(),
                     [](const DestinationField& f) { return f.name == "header.<Name>"; });
}

bool valid_header_name(std::string_view name) {
  if (name.empty()) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
  });
}

// ---- the destination's log: health from what the exporter helper says ------------------------

// The exporter helper logs every failed attempt ("send failed, retrying in ...", "dropping ...");
// this sink keeps the last one for the destination's health and passes lines on to hodos's log
// at its own level.
class HealthSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  struct Failure {
    std::string message;
    uint64_t at_unix_nano = 0;
    uint64_t sent_at = 0;  // the sent counter then: a success since moves it past this
  };

  // Reads the destination's sent-spans counter.
  explicit HealthSink(std::function<uint64_t()> read_sent) : read_sent_(std::move(read_sent)) {}

  std::optional<Failure> last_failure() {
    std::lock_guard lock(state_mu_);
    return last_;
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    const std::string_view text(msg.payload.data(), msg.payload.size());
    const bool failure = text.find("send failed") != std::string_view::npos ||
                         text.find("dropping") != std::string_view::npos;
    if (failure) {
      // "exporter destination/x: send failed, retrying in 812ms: <what the destination said>"
      std::string_view why = text;
      if (size_t p = why.find("ms: "); p != std::string_view::npos && why.find("retrying") < p) {
        why.remove_prefix(p + 4);
      } else if (size_t q = why.find(": "); q != std::string_view::npos) {
        why.remove_prefix(q + 2);
      }
      const uint64_t sent = read_sent_();
      std::lock_guard lock(state_mu_);
      last_ = Failure{std::string(why), core::now_unix_nano(), sent};
    }
    auto out = spdlog::default_logger();
    if (out && msg.level >= out->level()) out->log(msg.level, text);
  }
  void flush_() override {}

 private:
  std::mutex state_mu_;
  std::function<uint64_t()> read_sent_;
  std::optional<Failure> last_;
};

pipeline::ComponentId destination_id(const std::string& name) { return {"destination", name}; }

const YAML::Node& as_const(const YAML::Node& n) { return n; }

// A config error from the exporter's factory ("exporters.destination/x.endpoint: ...") as a
// field of the destination.
DestinationError field_error(const pipeline::ConfigError& e, const std::string& prefix) {
  std::string path = e.path();
  if (path.starts_with(prefix)) path = path.substr(prefix.size());
  std::string what = e.what();
  if (what.starts_with(e.path() + ": ")) what = what.substr(e.path().size() + 2);
  if (path == "traces_endpoint") path = "endpoint";
  if (path.starts_with("headers")) path = "header";
  return DestinationError("fields." + (path.empty() ? std::string("endpoint") : path), what);
}

std::string errno_text(int err) { return std::strerror(err); }


// The one span a connection test sends: recognisable, and harmless in any backend.
core::SpanBatch test_batch() {
  core::SpanBatch b;
  core::Arena& a = b.arena();
  core::Resource* r = b.new_resource();
  core::upsert_attribute(a, r->attributes, "service.name", core::AnyValue::string("hodos"));
  core::upsert_attribute(a, r->attributes, "telemetry.sdk.name", core::AnyValue::string("hodos"));
  core::Scope* scope = b.new_scope();
  scope->name = a.copy("hodos.destinations");
  core::Span s;
  s.trace_id = core::TraceId::random();
  s.span_id = core::SpanId::random();
  s.name = a.copy("hodos destination test");
  s.kind = core::SpanKind::kInternal;
  s.end_time_unix_nano = core::now_unix_nano();
  s.start_time_unix_nano = s.end_time_unix_nano - 1000;
  s.resource = r;
  s.scope = scope;
  b.spans().push_back(s);
  return b;
}

bool contains(std::string_view text, std::string_view what) {
  auto it = std::search(text.begin(), text.end(), what.begin(), what.end(), [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) ==
           std::tolower(static_cast<unsigned char>(y));
  });
  return it != text.end();
}

}  // namespace

// ---- kinds, validation, config ----------------------------------------------------------------

const std::vector<DestinationKind>& destination_kinds() {
  static const std::vector<DestinationKind> kinds = [] {
    std::vector<DestinationKind> out;
    for (const KindDef& d : kind_defs()) out.push_back(d.kind);
    return out;
  }();
  return kinds;
}

const DestinationKind* find_destination_kind(std::string_view name) {
  const KindDef* d = find_def(name);
  return d ? &d->kind : nullptr;
}

bool is_secret_field(const DestinationKind& kind, std::string_view field) {
  if (field.starts_with(kHeaderPrefix)) return true;
  for (const DestinationField& f : kind.fields) {
    if (f.name == field) return f.secret;
  }
  return false;
}

void validate_destination(const DestinationSpec& spec) {
  if (spec.name.empty()) throw DestinationError("name", "required, e.g. honeycomb-prod");
  if (spec.name.size() > kMaxNameBytes) {
    throw DestinationError("name", fmt::format("at most {} characters", kMaxNameBytes));
  }
  const bool name_ok = std::all_of(spec.name.begin(), spec.name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
  if (!name_ok || spec.name.front() == '.') {
    throw DestinationError("name",
                           fmt::format("'{}': use letters, digits, '-', '_' and '.'", spec.name));
  }
  if (spec.name == "kinds" || spec.name == "test") {
    throw DestinationError("name", fmt::format("'{}' is reserved; choose another name", spec.name));
  }
  const DestinationKind* kind = find_destination_kind(spec.kind);
  if (kind == nullptr) {
    std::string names;
    for (const DestinationKind& k : destination_kinds())
      names += (names.empty() ? "" : ", ") + k.name;
    throw DestinationError(
        "kind", spec.kind.empty() ? "required; one of " + names
                                  : fmt::format("'{}' is not a kind; one of {}", spec.kind, names));
  }
  for (const auto& [name, value] : spec.fields) {
    if (name.starts_with(kHeaderPrefix) && takes_headers(*kind)) {
      if (!valid_header_name(name.substr(kHeaderPrefix.size()))) {
        throw DestinationError("fields." + name, "a header name is letters, digits, '-' and '_'");
      }
      continue;
    }
    // (A structured binding cannot be captured by clang 14's lambdas.)
    const std::string& field = name;
    const bool known = std::any_of(kind->fields.begin(), kind->fields.end(),
                                   [&](const DestinationField& f) { return f.name == field; });
    if (!known) {
      throw DestinationError("fields." + name, fmt::format("{} takes no such field; its fields: {}",
                                                           kind->name, field_names(*kind)));
    }
    if (value.find_first_of("\r\n") != std::string::npos) {
      throw DestinationError("fields." + name, "must be one line");
    }
  }
  for (const DestinationField& f : kind->fields) {
    if (f.required && field_or(spec.fields, f.name).empty()) {
      throw DestinationError("fields." + f.name,
                             fmt::format("required for {}: {}", kind->name, f.help));
    }
  }
  auto one_of = [&](const std::string& field, std::initializer_list<std::string_view> allowed) {
    auto it = spec.fields.find(field);
    if (it == spec.fields.end() || it->second.empty()) return;
    if (std::find(allowed.begin(), allowed.end(), it->second) == allowed.end()) {
      std::string list;
      for (auto a : allowed) list += (list.empty() ? "" : " or ") + std::string(a);
      throw DestinationError("fields." + field, fmt::format("'{}': use {}", it->second, list));
    }
  };
  one_of("region", {"us", "eu"});
  one_of("compression", {"gzip", "none"});
  one_of("encoding", {"proto", "json"});
  one_of("insecure", {"true", "false"});
  // Presets whose endpoint comes from a field (or the override) need one of the two.
  auto need_one = [&](const char* a, const char* b) {
    if (field_or(spec.fields, a).empty() && field_or(spec.fields, b).empty()) {
      throw DestinationError(std::string("fields.") + a,
                             fmt::format("required for {} (or give {})", kind->name, b));
    }
  };
  if (spec.kind == "grafana-cloud") need_one("zone", "endpoint");
  if (spec.kind == "dynatrace") need_one("environment_id", "endpoint");
  if (spec.kind == "elastic") need_one("secret_token", "api_key");
  for (const char* host_field : {"zone", "environment_id", "realm", "site"}) {
    const std::string v = field_or(spec.fields, host_field);
    const bool host_ok = std::all_of(v.begin(), v.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.';
    });
    if (!host_ok) {
      throw DestinationError(std::string("fields.") + host_field,
                             fmt::format("'{}' is not a host name part", v));
    }
  }
}

YAML::Node destination_exporter_config(const DestinationSpec& spec) {
  validate_destination(spec);
  YAML::Node c;
  find_def(spec.kind)->build(spec.fields, c);
  // Its own queue and retry, so that it never holds up the store or the other destinations;
  // bounded (500 batches), and a destination that comes back within 5 minutes gets what queued.
  c["sending_queue"]["enabled"] = true;
  c["sending_queue"]["num_consumers"] = 2;
  c["sending_queue"]["queue_size"] = 500;
  c["retry_on_failure"]["enabled"] = true;
  c["retry_on_failure"]["initial_interval"] = "1s";
  c["retry_on_failure"]["max_interval"] = "10s";
  c["retry_on_failure"]["max_elapsed_time"] = "5m";
  c["timeout"] = "10s";
  return c;
}

std::string destination_endpoint(const DestinationSpec& spec) {
  YAML::Node c;
  try {
    c = destination_exporter_config(spec);
  } catch (const DestinationError&) {
    return field_or(spec.fields, "endpoint");
  }
  const YAML::Node& cc = as_const(c);
  std::string url = cc["traces_endpoint"] ? cc["traces_endpoint"].as<std::string>()
                                          : cc["endpoint"].as<std::string>("");
  const std::string& exporter = find_def(spec.kind)->kind.exporter;
  if (exporter == "otlphttp" && !cc["traces_endpoint"]) {
    while (url.ends_with('/')) url.pop_back();
    url += "/v1/traces";
  }
  return url;
}

std::string mask_secret(std::string_view value) {
  if (value.empty()) return "";
  if (value.size() < 12) return "****";
  return std::string(value.substr(0, 2)) + "****" + std::string(value.substr(value.size() - 2));
}

DestinationSpec masked(const DestinationSpec& spec) {
  DestinationSpec out = spec;
  const DestinationKind* kind = find_destination_kind(spec.kind);
  for (auto& [name, value] : out.fields) {
    const bool secret = kind ? is_secret_field(*kind, name) : true;
    if (secret) value = mask_secret(value);
  }
  return out;
}

std::string encode_destinations(const std::vector<DestinationSpec>& specs) {
  json list = json::array();
  for (const DestinationSpec& s : specs) {
    list.push_back({{"name", s.name}, {"kind", s.kind}, {"fields", s.fields}});
  }
  json doc = {{"version", kFormatVersion}, {"destinations", std::move(list)}};
  return doc.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

std::vector<DestinationSpec> decode_destinations(std::string_view text) {
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    throw DestinationError("",
                           "not valid JSON (expected {\"version\": 1, \"destinations\": [...]})");
  }
  if (!doc.contains("version") || !doc["version"].is_number_integer() ||
      doc["version"].get<int>() != kFormatVersion) {
    throw DestinationError("version", "must be 1 (written by a newer Hodos?)");
  }
  std::vector<DestinationSpec> out;
  if (!doc.contains("destinations")) return out;
  if (!doc["destinations"].is_array()) throw DestinationError("destinations", "must be a list");
  for (const json& d : doc["destinations"]) {
    const std::string where = fmt::format("destinations[{}]", out.size());
    if (!d.is_object() || !d.contains("name") || !d["name"].is_string() || !d.contains("kind") ||
        !d["kind"].is_string()) {
      throw DestinationError(where, "expected {\"name\": ..., \"kind\": ..., \"fields\": {...}}");
    }
    DestinationSpec s;
    s.name = d["name"].get<std::string>();
    s.kind = d["kind"].get<std::string>();
    if (d.contains("fields")) {
      if (!d["fields"].is_object()) throw DestinationError(where + ".fields", "must be an object");
      for (const auto& [k, v] : d["fields"].items()) {
        if (!v.is_string()) throw DestinationError(where + ".fields." + k, "must be a string");
        s.fields[k] = v.get<std::string>();
      }
    }
    for (const DestinationSpec& prev : out) {
      if (prev.name == s.name) throw DestinationError(where + ".name", "'" + s.name + "' twice");
    }
    out.push_back(std::move(s));
  }
  return out;
}

// ---- diagnosis --------------------------------------------------------------------------------

DestinationTestResult diagnose_send_failure(const std::string& message) {
  DestinationTestResult r;
  r.detail = message;
  auto set = [&](const char* category, std::string diagnosis) {
    r.category = category;
    r.diagnosis = std::move(diagnosis);
    return r;
  };
  // HTTP answers first: "<url>: HTTP 401: ..." (exporters/http_common.cc).
  if (size_t p = message.find(": HTTP "); p != std::string::npos) {
    const int code = std::atoi(message.c_str() + p + 7);
    if (code == 401 || code == 403) {
      return set("auth", fmt::format("HTTP {}: the destination refused the credentials; check the "
                                     "API key or token (and that it may write traces)",
                                     code));
    }
    if (code == 404) {
      return set("not_found",
                 "HTTP 404: nothing receives traces at that URL; check the endpoint "
                 "(its path, region or site)");
    }
    if (code == 413)
      return set("rejected", "HTTP 413: the destination finds the request too large");
    if (code == 429)
      return set("rejected",
                 "HTTP 429: the destination is rate-limiting; it will be "
                 "retried");
    return set("rejected", fmt::format("HTTP {}: the destination refused the spans", code));
  }
  // gRPC status codes (exporters/otlp.cc: "<target>: CODE: message").
  if (contains(message, "UNAUTHENTICATED") || contains(message, "PERMISSION_DENIED")) {
    return set("auth",
               "the destination refused the credentials (gRPC UNAUTHENTICATED or "
               "PERMISSION_DENIED); check the API key or token");
  }
  if (contains(message, "UNIMPLEMENTED")) {
    return set("not_found",
               "the server at that address does not take OTLP traces over gRPC "
               "(UNIMPLEMENTED); check the endpoint and port");
  }
  // Transport errors, from libcurl or gRPC.
  if (contains(message, "resolve") || contains(message, "DNS") ||
      contains(message, "Name or service not known")) {
    return set("dns", "the destination's host name does not resolve (DNS); check the endpoint");
  }
  if (contains(message, "refused") || contains(message, "Couldn't connect") ||
      contains(message, "Failed to connect")) {
    return set("connection_refused",
               "connection refused: nothing listens at that host and port; "
               "check the endpoint and that the destination is running");
  }
  if (contains(message, "SSL") || contains(message, "TLS") || contains(message, "certificate") ||
      contains(message, "handshake")) {
    return set("tls",
               "TLS failed (certificate or protocol); check https:// versus http:// and the "
               "certificate");
  }
  if (contains(message, "timed out") || contains(message, "Timeout") ||
      contains(message, "DEADLINE_EXCEEDED")) {
    return set("timeout", "no answer in time: the destination (or a firewall) is not answering");
  }
  if (contains(message, "Empty reply") || contains(message, "Received HTTP/0.9") ||
      contains(message, "Connection reset") || contains(message, "unexpected")) {
    return set("error",
               "the server at that address did not answer as an OTLP receiver; check the "
               "endpoint, its port and its protocol (gRPC or HTTP)");
  }
  return set("error", "sending failed: " + message);
}

std::string_view health_name(DestinationHealth health) {
  switch (health) {
    case DestinationHealth::kOk:
      return "ok";
    case DestinationHealth::kFailing:
      return "failing";
    case DestinationHealth::kUnknown:
      break;
  }
  return "unknown";
}

// ---- the run-time set -------------------------------------------------------------------------

struct Destinations::Live {
  DestinationSpec spec;
  std::string exporter_type;
  std::shared_ptr<HealthSink> sink;
  std::unique_ptr<pipeline::Exporter> exporter;
  std::string start_error;  // not empty: it never ran
  // Counters start where a destination of the same name left them (the metrics outlive it).
  uint64_t sent_base = 0, failed_base = 0, dropped_base = 0;
  bool started = false;

  ~Live() {
    if (exporter && started) exporter->shutdown(std::chrono::steady_clock::now());
  }
};

Destinations::Destinations(const pipeline::Registry& registry, std::string path)
    : registry_(registry), path_(std::move(path)) {
  if (path_.empty()) return;
  std::error_code ec;
  if (!std::filesystem::exists(path_, ec) && !ec) return;
  std::ifstream in(path_, std::ios::binary);
  if (!in) throw DestinationError(path_, "cannot read: " + errno_text(errno));
  std::stringstream text;
  text << in.rdbuf();
  try {
    specs_ = decode_destinations(text.str());
  } catch (const DestinationError& e) {
    throw DestinationError(path_, std::string(e.what()) + "; fix it or remove the file");
  }
  // It holds secrets: tighten a file someone loosened.
  ::chmod(path_.c_str(), 0600);
}

Destinations::~Destinations() = default;

void Destinations::attach(pipeline::Metrics& metrics, std::shared_ptr<spdlog::logger> logger) {
  std::lock_guard lock(mu_);
  metrics_ = &metrics;
  logger_ = std::move(logger);
}

std::shared_ptr<Destinations::Live> Destinations::make_live(const DestinationSpec& spec) {
  auto live = std::make_shared<Live>();
  live->spec = spec;
  const KindDef* def = find_def(spec.kind);
  live->exporter_type = def ? def->kind.exporter : "";
  const pipeline::ComponentId id = destination_id(spec.name);
  const pipeline::Labels labels{{"exporter", id.str()}};
  pipeline::Metrics* metrics = metrics_;
  live->sink = std::make_shared<HealthSink>([metrics, labels] {
    return static_cast<uint64_t>(metrics->value("otelcol_exporter_sent_spans_total", labels));
  });
  live->sent_base =
      static_cast<uint64_t>(metrics_->value("otelcol_exporter_sent_spans_total", labels));
  live->failed_base =
      static_cast<uint64_t>(metrics_->value("otelcol_exporter_send_failed_spans_total", labels));
  live->dropped_base =
      static_cast<uint64_t>(metrics_->value("otelcol_exporter_enqueue_failed_spans_total", labels));
  try {
    const pipeline::ExporterFactory* factory = registry_.exporter(live->exporter_type);
    if (factory == nullptr)
      throw DestinationError("kind", "no " + live->exporter_type + " exporter");
    auto logger = std::make_shared<spdlog::logger>(id.str(), live->sink);
    logger->set_level(std::min(spdlog::level::info, spdlog::default_logger()->level()));
    pipeline::CreateContext ctx{id, *metrics_, logger};
    const std::string prefix = "exporters." + id.str() + ".";
    try {
      pipeline::ConfigNode node(destination_exporter_config(spec), "exporters." + id.str());
      live->exporter = factory->create(ctx, node);
    } catch (const pipeline::ConfigError& e) {
      throw field_error(e, prefix);
    }
  } catch (const DestinationError& e) {
    live->start_error = e.what();
  }
  return live;
}

void Destinations::start() {
  std::lock_guard lock(mu_);
  if (running_ || metrics_ == nullptr) return;
  running_ = true;
  live_.clear();
  for (const DestinationSpec& spec : specs_) {
    std::shared_ptr<Live> live = make_live(spec);
    if (live->exporter) {
      pipeline::Status st = live->exporter->start();
      if (st.is_ok()) {
        live->started = true;
      } else {
        live->start_error = st.message();
      }
    }
    if (!live->start_error.empty()) {
      spdlog::warn("destination {}: cannot start: {}", spec.name, live->start_error);
    }
    live_.push_back(std::move(live));
  }
}

void Destinations::shutdown(pipeline::Deadline deadline) {
  std::vector<std::shared_ptr<Live>> live;
  {
    std::lock_guard lock(mu_);
    running_ = false;
    live.swap(live_);
  }
  for (auto& l : live) {
    if (l->exporter && l->started) {
      l->exporter->shutdown(deadline);
      l->started = false;
    }
  }
}

void Destinations::consume(core::SpanBatch batch) {
  std::vector<std::shared_ptr<Live>> live;
  {
    std::lock_guard lock(mu_);
    live = live_;
  }
  for (size_t i = 0; i < live.size(); ++i) {
    Live& l = *live[i];
    if (!l.started) continue;
    // Exporters only read spans: every queue shares the batch's arenas.
    (void)l.exporter->consume(i + 1 == live.size() ? std::move(batch) : batch.share());
  }
}

DestinationState Destinations::state_of(const Live& l) const {
  DestinationState s;
  s.spec = masked(l.spec);
  s.exporter = l.exporter_type;
  s.endpoint = destination_endpoint(l.spec);
  const pipeline::Labels labels{{"exporter", destination_id(l.spec.name).str()}};
  auto counter = [&](const char* name, uint64_t base) {
    const auto v = static_cast<uint64_t>(metrics_ ? metrics_->value(name, labels) : 0);
    return v >= base ? v - base : 0;
  };
  s.sent = counter("otelcol_exporter_sent_spans_total", l.sent_base);
  s.failed = counter("otelcol_exporter_send_failed_spans_total", l.failed_base);
  s.dropped = counter("otelcol_exporter_enqueue_failed_spans_total", l.dropped_base);
  s.queued =
      static_cast<uint64_t>(metrics_ ? metrics_->value("otelcol_exporter_queue_size", labels) : 0);
  if (!l.start_error.empty()) {
    s.health = DestinationHealth::kFailing;
    s.last_error = "cannot start: " + l.start_error;
    return s;
  }
  // The last word wins: a failure after the last success is failing, a success after it is ok.
  // Successes are not logged, so "after" is told by the sent counter having moved since.
  std::optional<HealthSink::Failure> failure = l.sink->last_failure();
  if (failure) {
    if (s.sent + l.sent_base > failure->sent_at) {
      s.health = DestinationHealth::kOk;
    } else {
      s.health = DestinationHealth::kFailing;
      s.last_error = failure->message;
    }
  } else {
    s.health = s.sent > 0 ? DestinationHealth::kOk : DestinationHealth::kUnknown;
  }
  return s;
}

std::vector<DestinationState> Destinations::list() const {
  std::lock_guard lock(mu_);
  std::vector<DestinationState> out;
  for (const DestinationSpec& spec : specs_) {
    auto it = std::find_if(live_.begin(), live_.end(),
                           [&](const auto& l) { return l->spec.name == spec.name; });
    if (it != live_.end()) {
      out.push_back(state_of(**it));
    } else {
      DestinationState s;
      s.spec = masked(spec);
      s.exporter =
          find_destination_kind(spec.kind) ? find_destination_kind(spec.kind)->exporter : "";
      s.endpoint = destination_endpoint(spec);
      out.push_back(std::move(s));
    }
  }
  return out;
}

std::optional<DestinationSpec> Destinations::find(const std::string& name) const {
  std::lock_guard lock(mu_);
  for (const DestinationSpec& s : specs_) {
    if (s.name == name) return s;
  }
  return std::nullopt;
}

void Destinations::save(const std::vector<DestinationSpec>& specs) {
  if (!path_.empty()) core::write_private_file_atomically(path_, encode_destinations(specs));
}

DestinationState Destinations::add(const DestinationSpec& spec) {
  validate_destination(spec);
  std::lock_guard lock(mu_);
  for (const DestinationSpec& s : specs_) {
    if (s.name == spec.name) {
      throw DestinationError("name", fmt::format("a destination named '{}' exists; remove it first "
                                                 "or choose another name",
                                                 spec.name));
    }
  }
  // A config the exporter refuses is the user's input: nothing is saved.
  check_with_factory(spec);
  std::shared_ptr<Live> live;
  if (metrics_ != nullptr) live = make_live(spec);
  std::vector<DestinationSpec> next = specs_;
  next.push_back(spec);
  save(next);
  specs_ = std::move(next);
  if (live && running_) {
    pipeline::Status st = live->exporter->start();
    if (st.is_ok()) {
      live->started = true;
    } else {
      live->start_error = st.message();
    }
    live_.push_back(live);
  }
  if (live && running_) return state_of(*live);
  DestinationState s;
  s.spec = masked(spec);
  s.endpoint = destination_endpoint(spec);
  return s;
}

bool Destinations::remove(const std::string& name) {
  std::shared_ptr<Live> gone;
  {
    std::lock_guard lock(mu_);
    auto it = std::find_if(specs_.begin(), specs_.end(),
                           [&](const DestinationSpec& s) { return s.name == name; });
    if (it == specs_.end()) return false;
    std::vector<DestinationSpec> next = specs_;
    next.erase(next.begin() + (it - specs_.begin()));
    save(next);
    specs_ = std::move(next);
    auto lit = std::find_if(live_.begin(), live_.end(),
                            [&](const auto& l) { return l->spec.name == name; });
    if (lit != live_.end()) {
      gone = *lit;
      live_.erase(lit);
    }
  }
  // Removed means no more spans: what is queued is given up at once, not drained.
  if (gone && gone->started) {
    gone->exporter->shutdown(std::chrono::steady_clock::now());
    gone->started = false;
  }
  return true;
}

void Destinations::check_with_factory(const DestinationSpec& spec) const {
  YAML::Node config = destination_exporter_config(spec);
  const KindDef* def = find_def(spec.kind);
  const pipeline::ExporterFactory* factory = registry_.exporter(def->kind.exporter);
  if (factory == nullptr)
    throw DestinationError("kind", "this hodos has no " + def->kind.exporter + " exporter");
  pipeline::Metrics scratch;
  auto quiet = std::make_shared<spdlog::logger>("destination-check",
                                                std::make_shared<spdlog::sinks::null_sink_mt>());
  const pipeline::ComponentId id = destination_id(spec.name);
  try {
    pipeline::ConfigNode node(config, "exporters." + id.str());
    (void)factory->create({id, scratch, quiet}, node);  // parses only; binds nothing
  } catch (const pipeline::ConfigError& e) {
    throw field_error(e, "exporters." + id.str() + ".");
  }
}

DestinationTestResult Destinations::test(const DestinationSpec& spec,
                                         std::chrono::milliseconds timeout) const {
  const auto began = std::chrono::steady_clock::now();
  auto finish = [&](DestinationTestResult r) {
    r.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - began);
    return r;
  };
  YAML::Node config = destination_exporter_config(spec);  // throws DestinationError
  // One attempt, on this thread, no queue: the answer is the destination's own.
  config["sending_queue"]["enabled"] = false;
  config["retry_on_failure"]["enabled"] = false;
  config["timeout"] = fmt::format("{}ms", timeout.count());
  const KindDef* def = find_def(spec.kind);
  const pipeline::ExporterFactory* factory = registry_.exporter(def->kind.exporter);
  if (factory == nullptr) {
    return finish(
        {false, "config", "this hodos has no " + def->kind.exporter + " exporter", "", {}});
  }
  pipeline::Metrics scratch;  // a test's sends are not the destination's counts
  auto quiet = std::make_shared<spdlog::logger>("destination-test",
                                                std::make_shared<spdlog::sinks::null_sink_mt>());
  const pipeline::ComponentId id{"destination-test", spec.name};
  std::unique_ptr<pipeline::Exporter> exporter;
  try {
    pipeline::ConfigNode node(config, "exporters." + id.str());
    exporter = factory->create({id, scratch, quiet}, node);
  } catch (const pipeline::ConfigError& e) {
    throw field_error(e, "exporters." + id.str() + ".");
  }
  pipeline::Status st = exporter->start();
  if (st.is_ok()) st = exporter->consume(test_batch());
  exporter->shutdown(std::chrono::steady_clock::now() + std::chrono::seconds(1));
  if (st.is_ok()) {
    return finish({true, "ok", "the destination accepted a test span", "", {}});
  }
  return finish(diagnose_send_failure(st.message()));
}

// ---- the pipeline component -------------------------------------------------------------------

namespace {

class DestinationsExporter final : public pipeline::Exporter {
 public:
  explicit DestinationsExporter(std::shared_ptr<Destinations> d) : d_(std::move(d)) {}
  pipeline::Status start() override {
    d_->start();
    return pipeline::Status::ok();
  }
  void shutdown(pipeline::Deadline deadline) override { d_->shutdown(deadline); }
  pipeline::Status consume(core::SpanBatch batch) override {
    d_->consume(std::move(batch));
    return pipeline::Status::ok();
  }

 private:
  std::shared_ptr<Destinations> d_;
};

class DestinationsExporterFactory final : public pipeline::ExporterFactory {
 public:
  explicit DestinationsExporterFactory(std::shared_ptr<Destinations> d) : d_(std::move(d)) {}
  std::string_view type() const override { return "destinations"; }
  std::unique_ptr<pipeline::Exporter> create(const pipeline::CreateContext& ctx,
                                             pipeline::ConfigNode& config) const override {
    config.reject_unknown_keys();  // everything is in destinations.json
    d_->attach(ctx.metrics, ctx.logger);
    return std::make_unique<DestinationsExporter>(d_);
  }

 private:
  std::shared_ptr<Destinations> d_;
};

}  // namespace

std::unique_ptr<pipeline::ExporterFactory> make_destinations_exporter_factory(
    std::shared_ptr<Destinations> destinations) {
  return std::make_unique<DestinationsExporterFactory>(std::move(destinations));
}

}  // namespace hodos::exporters
