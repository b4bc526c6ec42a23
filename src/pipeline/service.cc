#include "pipeline/service.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <map>
#include <set>

#include "net/http_server.h"
#include "pipeline/fanout.h"

namespace hodos::pipeline {

namespace {

// Accepts data nobody will read: the consumer of components that are only validated.
class DiscardConsumer : public TracesConsumer, public MetricsConsumer {
 public:
  Status consume(core::SpanBatch) override { return Status::ok(); }
  Status consume_metrics(const core::MetricBatch&) override { return Status::ok(); }
};

// A traces pipeline; its exporters may be connectors.
struct PipelineDef {
  std::string name;
  std::vector<ComponentId> receivers, processors, exporters;
};

// A metrics pipeline: connectors in, metrics exporters out (Hodos receives no metrics itself).
struct MetricsPipelineDef {
  std::string name;
  std::vector<ComponentId> connectors, exporters;
};

std::string join_types(const std::vector<std::string>& v) {
  return v.empty() ? "(none)" : fmt::format("{}", fmt::join(v, ", "));
}

std::vector<std::string> metrics_exporter_types(const Registry& registry) {
  std::vector<std::string> out;
  for (const auto& t : registry.types(ComponentKind::kExporter)) {
    if (registry.metrics_exporter(t)) out.push_back(t);
  }
  return out;
}

std::string join_ids(const std::vector<ComponentId>& v) {
  std::vector<std::string> s;
  for (const auto& id : v) s.push_back(id.str());
  return fmt::format("[{}]", fmt::join(s, ", "));
}

}  // namespace

struct Service::Impl {
  std::shared_ptr<spdlog::logger> logger;
  ServiceOptions options;
  Metrics* metrics = nullptr;

  // Section contents by id string, in config order.
  std::map<std::string, YAML::Node> receiver_cfg, processor_cfg, exporter_cfg, connector_cfg;
  std::vector<PipelineDef> defs;
  std::vector<MetricsPipelineDef> metrics_defs;

  // Metrics side, built first: exporters, then each metrics pipeline's fan-out to them, then
  // each connector's fan-out to the pipelines that list it.
  std::map<std::string, std::unique_ptr<MetricsExporter>> metrics_exporters;
  std::vector<std::unique_ptr<MetricsFanout>> metrics_pipelines;  // parallel to metrics_defs
  std::map<std::string, std::unique_ptr<MetricsFanout>> connector_fanouts;
  // Traces exporters and connectors (a connector is the exporter of its traces pipelines).
  std::map<std::string, std::unique_ptr<Exporter>> exporters;
  struct BuiltPipeline {
    std::string name;
    std::unique_ptr<FanoutConsumer> exporter_fanout;
    std::vector<std::unique_ptr<Processor>> processors;  // in config order
    TracesConsumer* entry = nullptr;
  };
  std::vector<BuiltPipeline> pipelines;
  std::map<std::string, std::unique_ptr<FanoutConsumer>> receiver_fanouts;
  std::vector<std::pair<std::string, std::unique_ptr<Receiver>>> receivers;
  DiscardConsumer discard;

  std::string telemetry_address;  // "" = disabled
  std::unique_ptr<net::HttpServer> telemetry_server;
  std::vector<Component*> started;  // for rollback, in start order

  void parse(const Registry& registry, YAML::Node root);
  void parse_section(const Registry& registry, const YAML::Node& root, ComponentKind kind,
                     std::map<std::string, YAML::Node>& out);
  void parse_pipelines(const Registry& registry, const YAML::Node& service);
  bool is_metrics_exporter(const Registry& registry, const std::string& id) const {
    auto it = exporter_cfg.find(id);
    return it != exporter_cfg.end() && registry.metrics_exporter(ComponentId::parse(id)->type);
  }
  void parse_telemetry(const YAML::Node& service);
  void create(const Registry& registry);
  CreateContext context(const ComponentId& id) const {
    return CreateContext{id, *metrics, logger};
  }
};

void Service::Impl::parse_section(const Registry& registry, const YAML::Node& root,
                                  ComponentKind kind, std::map<std::string, YAML::Node>& out) {
  const std::string section(component_kind_plural(kind));
  YAML::Node node = root[section];
  if (!node || node.IsNull()) return;
  if (!node.IsMap()) throw ConfigError(section, "expected a mapping of component ids to settings");
  for (const auto& item : node) {
    const std::string key = item.first.Scalar();
    const std::string path = section + "." + key;
    auto id = ComponentId::parse(key);
    if (!id) throw ConfigError(path, "invalid component id; write it as type or type/name");
    bool known = (kind == ComponentKind::kReceiver && registry.receiver(id->type)) ||
                 (kind == ComponentKind::kProcessor && registry.processor(id->type)) ||
                 (kind == ComponentKind::kExporter &&
                  (registry.exporter(id->type) || registry.metrics_exporter(id->type))) ||
                 (kind == ComponentKind::kConnector && registry.connector(id->type));
    if (!known) {
      std::string singular = section.substr(0, section.size() - 1);
      throw ConfigError(path, fmt::format("unknown {} type '{}'; known types: {}", singular,
                                          id->type, join_types(registry.types(kind))));
    }
    out[key] = item.second;
  }
}

void Service::Impl::parse_pipelines(const Registry& registry, const YAML::Node& service) {
  YAML::Node pipes = service["pipelines"];
  if (!pipes || !pipes.IsMap() || pipes.size() == 0) {
    throw ConfigError("service.pipelines", "required; define at least one traces pipeline");
  }
  using Sections = std::vector<std::pair<const char*, const std::map<std::string, YAML::Node>*>>;
  // Reads one list of component ids, each defined in one of `sections`.
  auto read_list = [](const YAML::Node& pipeline, const std::string& path, const char* key,
                      const Sections& sections, std::vector<ComponentId>& out, bool required) {
    const std::string lpath = path + "." + key;
    YAML::Node list = pipeline[key];
    if (!list || list.IsNull() || (list.IsSequence() && list.size() == 0)) {
      if (required) throw ConfigError(lpath, "required; list at least one component");
      return;
    }
    if (!list.IsSequence()) throw ConfigError(lpath, "expected a list of component ids");
    std::set<std::string> seen;
    for (size_t i = 0; i < list.size(); ++i) {
      const std::string ipath = fmt::format("{}[{}]", lpath, i);
      if (!list[i].IsScalar()) throw ConfigError(ipath, "expected a component id");
      const std::string ref = list[i].Scalar();
      bool defined = false;
      std::vector<std::string> names;
      std::vector<std::string> where;
      for (const auto& [section, map] : sections) {
        defined = defined || map->count(ref);
        for (const auto& [n, _] : *map) names.push_back(n);
        // A second section is named only when it has something in it.
        if (where.empty() || !map->empty()) where.push_back(section);
      }
      if (!defined) {
        throw ConfigError(ipath, fmt::format("'{}' is not defined under {}; defined: {}", ref,
                                             fmt::join(where, " or "), join_types(names)));
      }
      if (!seen.insert(ref).second) {
        throw ConfigError(ipath, fmt::format("'{}' is listed twice", ref));
      }
      out.push_back(*ComponentId::parse(ref));
    }
  };
  for (const auto& item : pipes) {
    const std::string name = item.first.Scalar();
    const std::string path = "service.pipelines." + name;
    auto id = ComponentId::parse(name);
    if (!id) throw ConfigError(path, "invalid pipeline id; write it as traces or traces/name");
    if (id->type == "logs") {
      logger->warn("{}: Hodos handles traces only; this pipeline is ignored", path);
      continue;
    }
    if (id->type != "traces" && id->type != "metrics") {
      throw ConfigError(path, fmt::format("unknown pipeline type '{}'; use traces (or metrics "
                                          "fed by a connector)", id->type));
    }
    if (!item.second.IsMap()) {
      throw ConfigError(path, "expected receivers, processors and exporters lists");
    }
    for (const auto& key : item.second) {
      const std::string k = key.first.Scalar();
      if (k != "receivers" && k != "processors" && k != "exporters") {
        throw ConfigError(path + "." + k, "unknown key; valid keys are: exporters, processors, receivers");
      }
    }
    if (id->type == "metrics") {
      // Metrics pipelines copied from a Collector config (otlp in, otlp out) carry data Hodos
      // never receives: ignored, as before connectors existed. One fed by a connector is ours.
      std::vector<ComponentId> inputs;
      read_list(item.second, path, "receivers", {{"receivers", &receiver_cfg}, {"connectors", &connector_cfg}},
                inputs, true);
      MetricsPipelineDef def;
      def.name = name;
      for (const auto& in : inputs) {
        if (connector_cfg.count(in.str())) {
          def.connectors.push_back(in);
        } else {
          logger->warn("{}.receivers: '{}' receives no metrics in Hodos; ignored here", path,
                       in.str());
        }
      }
      if (def.connectors.empty()) {
        logger->warn("{}: Hodos receives traces only; a metrics pipeline needs a connector such "
                     "as spanmetrics as its receiver; this pipeline is ignored", path);
        continue;
      }
      YAML::Node procs = item.second["processors"];
      if (procs && procs.IsSequence() && procs.size() > 0) {
        throw ConfigError(path + ".processors",
                          "metrics pipelines take no processors in Hodos; remove the list");
      }
      read_list(item.second, path, "exporters", {{"exporters", &exporter_cfg}}, def.exporters, true);
      for (size_t i = 0; i < def.exporters.size(); ++i) {
        if (!is_metrics_exporter(registry, def.exporters[i].str())) {
          throw ConfigError(fmt::format("{}.exporters[{}]", path, i),
                            fmt::format("'{}' exports traces, not metrics; metrics exporters: {}",
                                        def.exporters[i].str(),
                                        join_types(metrics_exporter_types(registry))));
        }
      }
      metrics_defs.push_back(std::move(def));
      continue;
    }
    PipelineDef def;
    def.name = name;
    read_list(item.second, path, "receivers", {{"receivers", &receiver_cfg}}, def.receivers,
              !options.allow_pipelines_without_receivers);
    read_list(item.second, path, "processors", {{"processors", &processor_cfg}}, def.processors, false);
    read_list(item.second, path, "exporters", {{"exporters", &exporter_cfg}, {"connectors", &connector_cfg}},
              def.exporters, true);
    for (size_t i = 0; i < def.exporters.size(); ++i) {
      if (is_metrics_exporter(registry, def.exporters[i].str())) {
        throw ConfigError(fmt::format("{}.exporters[{}]", path, i),
                          fmt::format("'{}' exports metrics; list it in a metrics pipeline whose "
                                      "receiver is a connector such as spanmetrics",
                                      def.exporters[i].str()));
      }
    }
    defs.push_back(std::move(def));
  }
  if (defs.empty()) {
    throw ConfigError("service.pipelines", "define at least one traces pipeline");
  }
}

void Service::Impl::parse_telemetry(const YAML::Node& service) {
  telemetry_address = "127.0.0.1:8888";
  ConfigNode telemetry(service["telemetry"], "service.telemetry");
  ConfigNode logs = telemetry.child("logs");
  // Only a level written in the config overrides the one the command line chose (--log-level).
  if (logs.has("level")) {
    std::string level = logs.get_string("level", "info");
    static const std::set<std::string> kLevels = {"debug", "info", "warn", "error"};
    if (!kLevels.count(level)) logs.fail("level", "use debug, info, warn or error");
    logger->set_level(spdlog::level::from_str(level));
  }
  logs.get_string("encoding", "console");
  logs.reject_unknown_keys();

  ConfigNode metrics_cfg = telemetry.child("metrics");
  std::string mlevel = metrics_cfg.get_string("level", "normal");
  static const std::set<std::string> kMetricLevels = {"none", "basic", "normal", "detailed"};
  if (!kMetricLevels.count(mlevel)) {
    metrics_cfg.fail("level", "use none, basic, normal or detailed");
  }
  // The Collector's legacy form: `address: host:port`.
  std::string address = metrics_cfg.get_string("address", "");
  // Its current form: readers: [{pull: {exporter: {prometheus: {host, port}}}}].
  auto readers = metrics_cfg.child_list("readers");
  for (auto& reader : readers) {
    ConfigNode pull = reader.child("pull");
    ConfigNode exporter = pull.child("exporter");
    bool has_prom = false;
    ConfigNode prom = exporter.child("prometheus", &has_prom);
    if (!has_prom) {
      exporter.fail("prometheus", "required; Hodos serves self-metrics as a Prometheus pull endpoint");
    }
    std::string host = prom.get_string("host", "127.0.0.1");
    int64_t port = prom.get_int("port", 8888, 0, 65535);
    prom.get_bool("without_scope_info", false);
    prom.get_bool("without_type_suffix", false);
    prom.get_bool("without_units", false);
    prom.reject_unknown_keys();
    exporter.reject_unknown_keys();
    pull.reject_unknown_keys();
    reader.reject_unknown_keys();
    if (!address.empty()) {
      metrics_cfg.fail("readers", "use either address or readers, not both");
    }
    address = (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
              std::to_string(port);
  }
  metrics_cfg.reject_unknown_keys();
  telemetry.child("traces").get_string("level", "");
  telemetry.child("resource");
  telemetry.reject_unknown_keys();
  if (!address.empty()) {
    if (!net::split_host_port(address)) {
      throw ConfigError("service.telemetry.metrics.address",
                        fmt::format("'{}' is not host:port", address));
    }
    telemetry_address = address;
  }
  if (mlevel == "none") telemetry_address.clear();
}

void Service::Impl::parse(const Registry& registry, YAML::Node root) {
  if (!root || root.IsNull()) throw ConfigError("", "the config is empty");
  if (!root.IsMap()) throw ConfigError("", "the config must be a mapping (receivers, exporters, service...)");
  static const std::set<std::string> kTop = {"receivers", "processors", "exporters", "service",
                                             "extensions", "connectors"};
  for (const auto& item : root) {
    const std::string key = item.first.Scalar();
    if (!kTop.count(key)) {
      throw ConfigError(key, "unknown key; valid keys are: connectors, exporters, extensions, "
                             "processors, receivers, service");
    }
  }
  if (root["extensions"] && root["extensions"].size() > 0) {
    logger->warn("extensions: not supported by Hodos; ignored");
  }
  parse_section(registry, root, ComponentKind::kReceiver, receiver_cfg);
  parse_section(registry, root, ComponentKind::kProcessor, processor_cfg);
  parse_section(registry, root, ComponentKind::kExporter, exporter_cfg);
  parse_section(registry, root, ComponentKind::kConnector, connector_cfg);
  for (const auto& [key, _] : connector_cfg) {
    if (exporter_cfg.count(key)) {
      throw ConfigError("connectors." + key, "an exporter has the same id; rename one of them "
                                             "(e.g. spanmetrics/red)");
    }
  }
  YAML::Node service = root["service"];
  if (!service || !service.IsMap()) throw ConfigError("service", "required; it lists the pipelines");
  for (const auto& item : service) {
    const std::string key = item.first.Scalar();
    if (key != "pipelines" && key != "telemetry" && key != "extensions") {
      throw ConfigError("service." + key, "unknown key; valid keys are: extensions, pipelines, telemetry");
    }
  }
  parse_pipelines(registry, service);
  parse_telemetry(service);
}

void Service::Impl::create(const Registry& registry) {
  std::set<std::string> used_exporters, used_receivers, used_processors;
  for (const auto& def : defs) {
    for (const auto& id : def.exporters) used_exporters.insert(id.str());
    for (const auto& id : def.receivers) used_receivers.insert(id.str());
    for (const auto& id : def.processors) used_processors.insert(id.str());
  }
  for (const auto& def : metrics_defs) {
    for (const auto& id : def.exporters) used_exporters.insert(id.str());
  }
  // Metrics exporters, then the metrics pipelines' fan-outs to them.
  for (auto& [key, node] : exporter_cfg) {
    ComponentId id = *ComponentId::parse(key);
    const MetricsExporterFactory* factory = registry.metrics_exporter(id.type);
    if (!factory) continue;
    ConfigNode cfg(node, "exporters." + key);
    auto exporter = factory->create(context(id), cfg);
    cfg.reject_unknown_keys();
    if (used_exporters.count(key)) {
      metrics_exporters[key] = std::move(exporter);
    } else {
      logger->warn("exporters.{}: defined but not used in any pipeline", key);
    }
  }
  for (const auto& def : metrics_defs) {
    std::vector<MetricsConsumer*> outs;
    for (const auto& id : def.exporters) outs.push_back(metrics_exporters.at(id.str()).get());
    metrics_pipelines.push_back(std::make_unique<MetricsFanout>(outs));
  }
  // Connectors: one instance each, feeding every metrics pipeline that lists it; it must also
  // be the exporter of a traces pipeline, or it would never see a span.
  for (auto& [key, node] : connector_cfg) {
    ComponentId id = *ComponentId::parse(key);
    ConfigNode cfg(node, "connectors." + key);
    std::vector<MetricsConsumer*> outs;
    for (size_t i = 0; i < metrics_defs.size(); ++i) {
      for (const auto& cid : metrics_defs[i].connectors) {
        if (cid.str() == key) outs.push_back(metrics_pipelines[i].get());
      }
    }
    const bool feeds = !outs.empty(), fed = used_exporters.count(key) > 0;
    if (!feeds && !fed) {
      registry.connector(id.type)->create(context(id), cfg, discard);
      cfg.reject_unknown_keys();
      logger->warn("connectors.{}: defined but not used in any pipeline", key);
      continue;
    }
    if (!feeds) {
      throw ConfigError("connectors." + key,
                        fmt::format("no metrics pipeline lists it under receivers; add "
                                    "service.pipelines.metrics with receivers: [{}]", key));
    }
    if (!fed) {
      throw ConfigError("connectors." + key,
                        fmt::format("no traces pipeline lists it under exporters, so it would "
                                    "never see a span; add it to a traces pipeline's exporters"));
    }
    auto fanout = std::make_unique<MetricsFanout>(outs);
    auto connector = registry.connector(id.type)->create(context(id), cfg, *fanout);
    cfg.reject_unknown_keys();
    connector_fanouts[key] = std::move(fanout);
    exporters[key] = std::move(connector);
  }
  // Traces exporters: one instance per id, shared by the pipelines that list it.
  for (auto& [key, node] : exporter_cfg) {
    ComponentId id = *ComponentId::parse(key);
    if (!registry.exporter(id.type)) continue;  // a metrics exporter, made above
    ConfigNode cfg(node, "exporters." + key);
    auto exporter = registry.exporter(id.type)->create(context(id), cfg);
    cfg.reject_unknown_keys();
    if (used_exporters.count(key)) {
      exporters[key] = std::move(exporter);
    } else {
      logger->warn("exporters.{}: defined but not used in any pipeline", key);
    }
  }
  // Processors: one instance per pipeline, chained back to front.
  for (const auto& def : defs) {
    BuiltPipeline p;
    p.name = def.name;
    std::vector<TracesConsumer*> outs;
    for (const auto& id : def.exporters) outs.push_back(exporters.at(id.str()).get());
    p.exporter_fanout = std::make_unique<FanoutConsumer>(outs);
    TracesConsumer* next = p.exporter_fanout.get();
    std::vector<std::unique_ptr<Processor>> chain(def.processors.size());
    for (size_t i = def.processors.size(); i-- > 0;) {
      const ComponentId& id = def.processors[i];
      ConfigNode cfg(processor_cfg.at(id.str()), "processors." + id.str());
      chain[i] = registry.processor(id.type)->create(context(id), cfg, *next);
      cfg.reject_unknown_keys();
      next = chain[i].get();
    }
    p.processors = std::move(chain);
    p.entry = next;
    pipelines.push_back(std::move(p));
  }
  for (auto& [key, node] : processor_cfg) {
    if (used_processors.count(key)) continue;
    ComponentId id = *ComponentId::parse(key);
    ConfigNode cfg(node, "processors." + key);
    registry.processor(id.type)->create(context(id), cfg, discard);
    cfg.reject_unknown_keys();
    logger->warn("processors.{}: defined but not used in any pipeline", key);
  }
  // Receivers: one instance each, fanning out to every pipeline that lists it.
  for (auto& [key, node] : receiver_cfg) {
    ComponentId id = *ComponentId::parse(key);
    ConfigNode cfg(node, "receivers." + key);
    std::vector<TracesConsumer*> entries;
    for (size_t i = 0; i < defs.size(); ++i) {
      for (const auto& rid : defs[i].receivers) {
        if (rid.str() == key) entries.push_back(pipelines[i].entry);
      }
    }
    if (entries.empty()) {
      registry.receiver(id.type)->create(context(id), cfg, discard);
      cfg.reject_unknown_keys();
      logger->warn("receivers.{}: defined but not used in any pipeline", key);
      continue;
    }
    auto fanout = std::make_unique<FanoutConsumer>(entries);
    auto receiver = registry.receiver(id.type)->create(context(id), cfg, *fanout);
    cfg.reject_unknown_keys();
    receiver_fanouts[key] = std::move(fanout);
    receivers.emplace_back(key, std::move(receiver));
  }
}

Service::Service(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Service::~Service() {
  if (impl_ && !impl_->started.empty()) shutdown(std::chrono::steady_clock::now());
  // Receivers reference fan-outs, processors and exporters: destroy them first.
  if (impl_) {
    impl_->telemetry_server.reset();
    impl_->receivers.clear();
    impl_->pipelines.clear();
    impl_->exporters.clear();
    impl_->connector_fanouts.clear();
    impl_->metrics_pipelines.clear();
    impl_->metrics_exporters.clear();
  }
}

std::unique_ptr<Service> Service::build(const Registry& registry, YAML::Node config,
                                        std::shared_ptr<spdlog::logger> logger,
                                        ServiceOptions options) {
  // Metrics outlive the components (declared first, destroyed last), even when build throws.
  auto metrics = std::make_unique<Metrics>();
  auto impl = std::make_unique<Impl>();
  impl->logger = logger ? logger : spdlog::default_logger();
  impl->options = options;
  impl->metrics = metrics.get();
  impl->parse(registry, config);
  impl->create(registry);
  std::unique_ptr<Service> service(new Service(std::move(impl)));
  service->metrics_ = std::move(metrics);
  return service;
}

Status Service::start() {
  Impl& m = *impl_;
  auto start_one = [&](const std::string& what, Component* c) -> Status {
    Status st = c->start();
    if (!st.is_ok()) {
      shutdown(std::chrono::steady_clock::now());
      // Components usually name themselves already; say it once.
      std::string_view message = st.message();
      if (message.starts_with(what + ": ")) return Status::permanent(std::string(message));
      return Status::permanent(fmt::format("{}: {}", what, message));
    }
    m.started.push_back(c);
    return st;
  };
  // Metrics exporters first, then exporters and connectors, then each pipeline's processors from
  // last to first, then receivers, so nothing is sent into a component that is not running yet.
  for (auto& [key, e] : m.metrics_exporters) {
    if (Status st = start_one("exporters." + key, e.get()); !st.is_ok()) return st;
  }
  for (auto& [key, e] : m.exporters) {
    const char* section = m.connector_cfg.count(key) ? "connectors." : "exporters.";
    if (Status st = start_one(section + key, e.get()); !st.is_ok()) return st;
  }
  for (auto& p : m.pipelines) {
    for (size_t i = p.processors.size(); i-- > 0;) {
      if (Status st = start_one("processors in " + p.name, p.processors[i].get()); !st.is_ok()) {
        return st;
      }
    }
  }
  for (auto& [key, r] : m.receivers) {
    if (Status st = start_one("receivers." + key, r.get()); !st.is_ok()) return st;
  }
  if (m.options.serve_own_telemetry && !m.telemetry_address.empty()) {
    net::HttpServerOptions opts;
    opts.address = m.telemetry_address;
    opts.threads = 1;
    opts.name = "telemetry";
    m.telemetry_server = std::make_unique<net::HttpServer>(opts);
    Metrics* metrics = metrics_.get();
    m.telemetry_server->route("GET", "/metrics", [metrics](net::HttpRequest&) {
      net::HttpResponse r = net::HttpResponse::text(200, metrics->render_prometheus());
      r.content_type = "text/plain; version=0.0.4; charset=utf-8";
      return r;
    });
    if (auto err = m.telemetry_server->start()) {
      shutdown(std::chrono::steady_clock::now());
      return Status::permanent(fmt::format(
          "service.telemetry.metrics: {} (change the address under service.telemetry.metrics)", *err));
    }
  }
  return Status::ok();
}

void Service::shutdown(Deadline deadline) {
  Impl& m = *impl_;
  // Stop in start order reversed: receivers first, so nothing new arrives while queues drain.
  for (auto it = m.started.rbegin(); it != m.started.rend(); ++it) (*it)->shutdown(deadline);
  m.started.clear();
  if (m.telemetry_server) m.telemetry_server->stop();
}

std::string Service::telemetry_address() const {
  if (!impl_->options.serve_own_telemetry || !impl_->telemetry_server) return "";
  auto hp = net::split_host_port(impl_->telemetry_address);
  if (!hp) return impl_->telemetry_address;
  return fmt::format("{}:{}", hp->first, impl_->telemetry_server->port());
}

TracesConsumer* Service::pipeline_entry(const std::string& name) const {
  for (const auto& p : impl_->pipelines) {
    if (p.name == name) return p.entry;
  }
  return nullptr;
}

std::vector<std::string> Service::pipeline_names() const {
  std::vector<std::string> out;
  for (const auto& p : impl_->pipelines) out.push_back(p.name);
  return out;
}

std::vector<std::string> Service::describe() const {
  std::vector<std::string> out;
  for (const auto& def : impl_->defs) {
    out.push_back(fmt::format("pipeline {}: receivers {} -> processors {} -> exporters {}", def.name,
                              join_ids(def.receivers), join_ids(def.processors),
                              join_ids(def.exporters)));
  }
  for (const auto& def : impl_->metrics_defs) {
    out.push_back(fmt::format("pipeline {}: connectors {} -> exporters {}", def.name,
                              join_ids(def.connectors), join_ids(def.exporters)));
  }
  return out;
}

}  // namespace hodos::pipeline
