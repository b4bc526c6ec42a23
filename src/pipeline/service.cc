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
class DiscardConsumer : public TracesConsumer {
 public:
  Status consume(core::SpanBatch) override { return Status::ok(); }
};

struct PipelineDef {
  std::string name;
  std::vector<ComponentId> receivers, processors, exporters;
};

std::string join_types(const std::vector<std::string>& v) {
  return v.empty() ? "(none)" : fmt::format("{}", fmt::join(v, ", "));
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
  std::map<std::string, YAML::Node> receiver_cfg, processor_cfg, exporter_cfg;
  std::vector<PipelineDef> defs;

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
  void parse_pipelines(const YAML::Node& service);
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
                 (kind == ComponentKind::kExporter && registry.exporter(id->type));
    if (!known) {
      std::string singular = section.substr(0, section.size() - 1);
      throw ConfigError(path, fmt::format("unknown {} type '{}'; known types: {}", singular,
                                          id->type, join_types(registry.types(kind))));
    }
    out[key] = item.second;
  }
}

void Service::Impl::parse_pipelines(const YAML::Node& service) {
  YAML::Node pipes = service["pipelines"];
  if (!pipes || !pipes.IsMap() || pipes.size() == 0) {
    throw ConfigError("service.pipelines", "required; define at least one traces pipeline");
  }
  for (const auto& item : pipes) {
    const std::string name = item.first.Scalar();
    const std::string path = "service.pipelines." + name;
    auto id = ComponentId::parse(name);
    if (!id) throw ConfigError(path, "invalid pipeline id; write it as traces or traces/name");
    if (id->type == "metrics" || id->type == "logs") {
      logger->warn("{}: Hodos handles traces only; this pipeline is ignored", path);
      continue;
    }
    if (id->type != "traces") {
      throw ConfigError(path, fmt::format("unknown pipeline type '{}'; use traces", id->type));
    }
    if (!item.second.IsMap()) {
      throw ConfigError(path, "expected receivers, processors and exporters lists");
    }
    PipelineDef def;
    def.name = name;
    for (const auto& key : item.second) {
      const std::string k = key.first.Scalar();
      if (k != "receivers" && k != "processors" && k != "exporters") {
        throw ConfigError(path + "." + k, "unknown key; valid keys are: exporters, processors, receivers");
      }
    }
    auto read_list = [&](const char* key, const std::map<std::string, YAML::Node>& defined,
                         std::vector<ComponentId>& out, bool required) {
      const std::string lpath = path + "." + key;
      YAML::Node list = item.second[key];
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
        if (!defined.count(ref)) {
          std::vector<std::string> names;
          for (const auto& [n, _] : defined) names.push_back(n);
          throw ConfigError(ipath, fmt::format("'{}' is not defined under {}; defined: {}", ref,
                                               key, join_types(names)));
        }
        if (!seen.insert(ref).second) {
          throw ConfigError(ipath, fmt::format("'{}' is listed twice", ref));
        }
        out.push_back(*ComponentId::parse(ref));
      }
    };
    read_list("receivers", receiver_cfg, def.receivers, !options.allow_pipelines_without_receivers);
    read_list("processors", processor_cfg, def.processors, false);
    read_list("exporters", exporter_cfg, def.exporters, true);
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
  if (root["connectors"] && root["connectors"].size() > 0) {
    throw ConfigError("connectors", "not supported by Hodos yet; remove the section");
  }
  parse_section(registry, root, ComponentKind::kReceiver, receiver_cfg);
  parse_section(registry, root, ComponentKind::kProcessor, processor_cfg);
  parse_section(registry, root, ComponentKind::kExporter, exporter_cfg);
  YAML::Node service = root["service"];
  if (!service || !service.IsMap()) throw ConfigError("service", "required; it lists the pipelines");
  for (const auto& item : service) {
    const std::string key = item.first.Scalar();
    if (key != "pipelines" && key != "telemetry" && key != "extensions") {
      throw ConfigError("service." + key, "unknown key; valid keys are: extensions, pipelines, telemetry");
    }
  }
  parse_pipelines(service);
  parse_telemetry(service);
}

void Service::Impl::create(const Registry& registry) {
  std::set<std::string> used_exporters, used_receivers, used_processors;
  for (const auto& def : defs) {
    for (const auto& id : def.exporters) used_exporters.insert(id.str());
    for (const auto& id : def.receivers) used_receivers.insert(id.str());
    for (const auto& id : def.processors) used_processors.insert(id.str());
  }
  // Exporters: one instance per id, shared by the pipelines that list it.
  for (auto& [key, node] : exporter_cfg) {
    ComponentId id = *ComponentId::parse(key);
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
  // Exporters first, then each pipeline's processors from last to first, then receivers, so
  // nothing is sent into a component that is not running yet.
  for (auto& [key, e] : m.exporters) {
    if (Status st = start_one("exporters." + key, e.get()); !st.is_ok()) return st;
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
  return out;
}

}  // namespace hodos::pipeline
