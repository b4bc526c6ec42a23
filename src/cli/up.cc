// `hodos up`: everything on one host. OTLP gRPC/HTTP receivers → the embedded trace store (plus
// any exporter the user adds with --config), the Jaeger-compatible query API and /metrics on
// --http, and the eBPF agent feeding the same pipeline, with the control API's sources routes
// (choices saved in the data directory), and the run-time destinations (destinations.json there)
// with the destinations and status routes, and the run-time actions and sampling rules
// (actions.json, sampling.json there) with the actions and sampling routes.
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <fcntl.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <random>
#include <string>

#include "cli/actions_control.h"
#include "cli/agent_start.h"
#include "agent/agent_config.h"
#include "agent/discovery.h"
#include "agent/source_registry.h"
#include "api/actions_api.h"
#include "api/destinations_api.h"
#include "api/query_api.h"
#include "api/sources_api.h"
#include "api/status_api.h"
#include "api/ui_assets.h"
#include "cli/commands.h"
#include "cli/destinations_control.h"
#include "cli/run_support.h"
#include "cli/signals.h"
#include "cli/sources_control.h"
#include "cli/up_status.h"
#include "components/register_all.h"
#include "core/ids.h"
#include "exporters/destinations.h"
#include "exporters/store.h"
#include "net/http_server.h"
#include "pipeline/config_node.h"
#include "pipeline/service.h"
#include "processors/actions.h"
#include "processors/sampling_rules.h"
#include "receivers/otlp_receiver.h"
#include "store/trace_store.h"

namespace hodos::cli {

namespace {

namespace fs = std::filesystem;

struct UpOptions {
  std::string data_dir;
  std::string http = "127.0.0.1:16686";
  std::string otlp_grpc = "127.0.0.1:4317";
  std::string otlp_http = "127.0.0.1:4318";
  bool no_agent = false;
  std::string config_path;
  std::string auth_token;
  std::string retention = "7d";
  std::string retention_size = "10GiB";
  std::string log_level = "warn";
  double shutdown_timeout_s = 10;
};

[[noreturn]] void fail(int code, const std::string& message) {
  std::fprintf(stderr, "hodos up: %s\n", message.c_str());
  throw ExitCode{code};
}

struct DataDir {
  std::string path;
  std::string note;  // why it is not the usual place, when it is not
};

// ~/.local/share/hodos (the XDG data home); HOME is often unset in CI and service managers.
DataDir resolve_data_dir(const std::string& flag) {
  if (!flag.empty()) return {flag, ""};
  if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg != nullptr && *xdg != '\0') {
    return {(fs::path(xdg) / "hodos").string(), ""};
  }
  if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
    return {(fs::path(home) / ".local" / "share" / "hodos").string(), ""};
  }
  std::error_code ec;
  fs::create_directories("/var/lib/hodos", ec);
  if (!ec && ::access("/var/lib/hodos", W_OK) == 0) {
    return {"/var/lib/hodos", "HOME is not set, so data goes to /var/lib/hodos (choose with --data-dir)"};
  }
  std::string local = fs::absolute(".hodos", ec).string();
  return {local, "HOME is not set and /var/lib/hodos is not writable, so data goes to " + local +
                     " (choose with --data-dir)"};
}

std::string random_token() {
  std::random_device rd;
  std::string raw;
  for (int i = 0; i < 6; ++i) {
    uint32_t v = rd();
    raw.append(reinterpret_cast<const char*>(&v), sizeof v);
  }
  std::string hex(raw.size() * 2, '0');
  core::hex_encode(reinterpret_cast<const uint8_t*>(raw.data()), raw.size(), hex.data());
  return hex;
}

struct ApiToken {
  std::string value;   // empty: the API needs none
  std::string origin;  // how it was chosen, for the ready line
};

// Loopback needs no token; any other address does, so the API is never open to the network. A
// generated token is kept in the data directory, so that clients configured with it (Grafana, the
// CLI) keep working across restarts.
ApiToken api_token(const UpOptions& o, const std::string& data_dir) {
  if (!o.auth_token.empty()) return {o.auth_token, ""};
  if (api::is_loopback_host(net::split_host_port(o.http)->first)) return {};
  const std::string path = (fs::path(data_dir) / "api-token").string();
  if (std::FILE* f = std::fopen(path.c_str(), "r")) {
    char buf[256] = {};
    const size_t n = std::fread(buf, 1, sizeof buf - 1, f);
    std::fclose(f);
    std::string saved(buf, n);
    while (!saved.empty() && std::isspace(static_cast<unsigned char>(saved.back()))) {
      saved.pop_back();
    }
    if (!saved.empty()) {
      return {saved, fmt::format(" (kept in {}; set your own with --auth-token)", path)};
    }
  }
  ApiToken token{random_token(), ""};
  // Only the owner may read it: it opens the API.
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  const std::string line = token.value + "\n";
  if (fd >= 0 && ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size())) {
    token.origin = fmt::format(" (generated, kept in {}; set your own with --auth-token)", path);
  } else {
    token.origin = fmt::format(" (generated; not saved to {}: {}; set your own with --auth-token)",
                               path, std::strerror(errno));
  }
  if (fd >= 0) ::close(fd);
  return token;
}

// host:port for display and URLs: brackets for IPv6, 0.0.0.0 for "all interfaces".
std::string display_address(const std::string& address, uint16_t port) {
  auto hp = net::split_host_port(address);
  std::string host = hp ? hp->first : address;
  if (host.empty()) host = "0.0.0.0";
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return host + ":" + std::to_string(port ? port : (hp ? hp->second : 0));
}

YAML::Node builtin_config(const UpOptions& o) {
  YAML::Node root;
  root["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"] = o.otlp_grpc;
  root["receivers"]["otlp"]["protocols"]["http"]["endpoint"] = o.otlp_http;
  // No batch processor: the store exporter writes on the receiver's thread, so an OTLP success
  // answer means the spans are on disk (WAL), which a batching queue would break.
  root["exporters"]["store"] = YAML::Node(YAML::NodeType::Map);
  // The destinations chosen at run time (`hodos destinations add`), each with its own queue.
  root["exporters"]["destinations"] = YAML::Node(YAML::NodeType::Map);
  // The actions and sampling rules chosen at run time (`hodos actions`, `hodos sampling`). With
  // none enabled they hand batches straight on, so the store still writes on the receiver's
  // thread; enabled sampling rules hold each trace for decision_wait (processors/sampling_rules.h).
  root["processors"]["actions"] = YAML::Node(YAML::NodeType::Map);
  root["processors"]["sampling"] = YAML::Node(YAML::NodeType::Map);
  YAML::Node pipeline;
  pipeline["receivers"].push_back("otlp");
  pipeline["processors"].push_back("actions");
  pipeline["processors"].push_back("sampling");
  pipeline["exporters"].push_back("store");
  pipeline["exporters"].push_back("destinations");
  root["service"]["pipelines"]["traces"] = pipeline;
  return root;
}

// The otlp receiver factory, keeping hodos up's own receiver so that the ready lines show the
// ports it bound (the flags may ask for port 0).
class OwnOtlpReceiverFactory final : public pipeline::ReceiverFactory {
 public:
  explicit OwnOtlpReceiverFactory(receivers::OtlpReceiver** own)
      : inner_(receivers::make_otlp_receiver_factory()), own_(own) {}
  std::string_view type() const override { return inner_->type(); }
  std::unique_ptr<pipeline::Receiver> create(const pipeline::CreateContext& ctx,
                                             pipeline::ConfigNode& config,
                                             pipeline::TracesConsumer& next) const override {
    std::unique_ptr<pipeline::Receiver> r = inner_->create(ctx, config, next);
    if (ctx.id.str() == "otlp") *own_ = dynamic_cast<receivers::OtlpReceiver*>(r.get());
    return r;
  }

 private:
  std::unique_ptr<pipeline::ReceiverFactory> inner_;
  receivers::OtlpReceiver** own_;
};

void append_ids(YAML::Node list, const std::vector<std::string>& ids) {
  for (const std::string& id : ids) list.push_back(id);
}

// The user's file adds components to the built-in pipeline (see docs/api.md, "hodos up --config"):
// every receiver, processor and exporter it defines joins the built-in `traces` pipeline, unless
// the file has service.pipelines: then a pipeline named `traces` is merged into the built-in one
// (its receivers and exporters added, its processors used) and any other pipeline is added as is.
void merge_user_config(YAML::Node& root, const YAML::Node& user, const std::string& path) {
  if (!user || user.IsNull()) return;
  if (!user.IsMap()) {
    throw pipeline::ConfigError("", path + ": expected a mapping (receivers, processors, "
                                           "exporters, service)");
  }
  std::map<std::string, std::vector<std::string>> added;  // kind → ids, in file order
  for (const auto& section : user) {
    const std::string key = section.first.Scalar();
    if (key == "receivers" || key == "processors" || key == "exporters" ||
        key == "extensions" || key == "connectors") {
      if (section.second.IsNull()) continue;
      if (!section.second.IsMap()) throw pipeline::ConfigError(key, "expected a mapping of components");
      for (const auto& component : section.second) {
        const std::string id = component.first.Scalar();
        const YAML::Node& existing = static_cast<const YAML::Node&>(root)[key];
        if (existing && existing[id]) {
          throw pipeline::ConfigError(
              key + "." + id,
              id == "otlp"           ? "is hodos up's own receiver (set it with --otlp-grpc and "
                                       "--otlp-http); give yours another name, e.g. otlp/extra"
              : id == "destinations" ? "is hodos up's own exporter (the run-time destinations "
                                       "of `hodos destinations`); give yours another name"
              : id == "actions"      ? "is hodos up's own processor (the run-time actions of "
                                       "`hodos actions`); give yours another name"
              : id == "sampling"     ? "is hodos up's own processor (the run-time sampling rules "
                                       "of `hodos sampling`); give yours another name"
                                     : "is hodos up's own exporter (the store of --data-dir); "
                                       "give yours another name, e.g. store/archive");
        }
        root[key][id] = YAML::Clone(component.second);
        added[key].push_back(id);
      }
    } else if (key != "service" && key != "agent") {  // agent: read by run_up
      root[key] = YAML::Clone(section.second);  // the service reports keys it does not know
    }
  }
  const YAML::Node service = user["service"];
  if (service && !service.IsNull()) {
    if (!service.IsMap()) throw pipeline::ConfigError("service", "expected a mapping");
    for (const auto& item : service) {
      const std::string key = item.first.Scalar();
      if (key != "pipelines") {
        root["service"][key] = YAML::Clone(item.second);
        continue;
      }
      if (!item.second.IsMap()) throw pipeline::ConfigError("service.pipelines", "expected a mapping");
      for (const auto& p : item.second) {
        const std::string name = p.first.Scalar();
        if (name != "traces") {
          root["service"]["pipelines"][name] = YAML::Clone(p.second);
          continue;
        }
        if (!p.second.IsMap()) {
          throw pipeline::ConfigError("service.pipelines.traces", "expected receivers, processors "
                                                                  "and exporters lists");
        }
        YAML::Node builtin = root["service"]["pipelines"]["traces"];
        for (const auto& list : p.second) {
          const std::string lkey = list.first.Scalar();
          if (lkey == "receivers" || lkey == "exporters") {
            if (!list.second.IsSequence()) {
              throw pipeline::ConfigError("service.pipelines.traces." + lkey,
                                          "expected a list of component ids");
            }
            for (const auto& id : list.second) builtin[lkey].push_back(YAML::Clone(id));
          } else if (lkey == "processors" && list.second.IsSequence()) {
            // After the run-time actions and sampling, which see every span first.
            for (const auto& id : list.second) builtin[lkey].push_back(YAML::Clone(id));
          } else {
            builtin[lkey] = YAML::Clone(list.second);  // unknown keys reported later
          }
        }
      }
    }
    if (service["pipelines"]) return;
  }
  if (!added["connectors"].empty()) {
    throw pipeline::ConfigError(
        "connectors." + added["connectors"].front(),
        "needs service.pipelines in the file: list it under traces: {exporters: [...]} and as "
        "the receiver of a metrics pipeline (see docs/configuration.md, spanmetrics)");
  }
  YAML::Node builtin = root["service"]["pipelines"]["traces"];
  append_ids(builtin["receivers"], added["receivers"]);
  if (!added["processors"].empty()) append_ids(builtin["processors"], added["processors"]);
  append_ids(builtin["exporters"], added["exporters"]);
}

void check_address(const char* flag, const std::string& value) {
  if (!net::split_host_port(value)) {
    fail(2, fmt::format("{} {}: expected host:port, e.g. 127.0.0.1:4317 (or :4317 for every "
                        "interface)",
                        flag, value));
  }
}

// "receivers.otlp: 127.0.0.1:4317: address already in use" → one line naming the flag to change.
std::string explain_start_failure(const std::string& message, const UpOptions& o) {
  std::string_view rest = message;
  constexpr std::string_view kReceiver = "receivers.otlp: ";
  if (rest.starts_with(kReceiver)) {
    rest.remove_prefix(kReceiver.size());
    auto explain = [&](const char* flag, const std::string& address) -> std::optional<std::string> {
      if (!rest.starts_with(address + ": ")) return std::nullopt;
      const bool in_use = rest.find("in use") != std::string_view::npos;
      return fmt::format("{} {}; {} with {}", flag, rest, in_use ? "pick another" : "change it",
                         flag);
    };
    if (auto line = explain("--otlp-grpc", o.otlp_grpc)) return *line;
    if (auto line = explain("--otlp-http", o.otlp_http)) return *line;
  }
  return message;
}

void run_up(const UpOptions& o) {
  // Children of hodos (and anything started from its environment) are never traced.
  ::setenv(std::string(agent::kSelfMarkerEnv).c_str(), "1", 1);
  if (auto err = apply_log_level(o.log_level)) fail(2, *err);
  limit_malloc_arenas();

  check_address("--http", o.http);
  check_address("--otlp-grpc", o.otlp_grpc);
  check_address("--otlp-http", o.otlp_http);
  // Port 0 (any free port) may be given to all three.
  auto same = [](const std::string& a, const std::string& b) {
    return a == b && net::split_host_port(a)->second != 0;
  };
  if (same(o.otlp_grpc, o.otlp_http) || same(o.http, o.otlp_grpc) || same(o.http, o.otlp_http)) {
    fail(2, "--http, --otlp-grpc and --otlp-http must be different addresses");
  }
  std::optional<uint64_t> retention = exporters::parse_retention_age(o.retention);
  if (!retention) fail(2, "--retention " + o.retention + ": expected a duration like 7d, 36h or 0 (off)");
  std::optional<uint64_t> retention_size = exporters::parse_byte_size(o.retention_size);
  if (!retention_size) {
    fail(2, "--retention-size " + o.retention_size + ": expected a size like 10GiB, 500MB or 0 (off)");
  }
  const DataDir data_dir = resolve_data_dir(o.data_dir);

  YAML::Node config = builtin_config(o);
  agent::AgentConfig agent_config;
  if (!o.config_path.empty()) {
    YAML::Node user;
    try {
      user = pipeline::load_config_file(o.config_path);
      merge_user_config(config, user, o.config_path);
    } catch (const pipeline::ConfigError& e) {
      fail(2, fmt::format("config error: {}", e.what()));
    }
    try {
      const YAML::Node& file = user;  // const: reading must not add the key
      if (file.IsMap()) agent_config = agent::parse_agent_config(file["agent"]);
    } catch (const pipeline::ConfigError& e) {
      fail(2, fmt::format("config error in {}: {}", o.config_path, e.what()));
    }
  }

  SignalWaiter signals;  // before any thread starts (the store's, the servers'), so all inherit it

  store::StoreOptions store_options;
  store_options.data_dir = data_dir.path;
  store_options.retention_age_ns = *retention;
  store_options.retention_bytes = *retention_size;
  std::shared_ptr<store::TraceStore> store;
  try {
    store = store::TraceStore::open(store_options);
  } catch (const store::StoreError& e) {
    fail(1, e.what());
  }
  // After the store took the directory's lock, so that no other instance writes the token file.
  const ApiToken token = api_token(o, data_dir.path);
  // `hodos sources enable|disable|rename` choices, kept next to the traces.
  std::shared_ptr<agent::SourceRegistry> source_registry;
  try {
    source_registry = std::make_shared<agent::SourceRegistry>(
        (fs::path(data_dir.path) / "sources.json").string());
  } catch (const agent::SourceRegistryError& e) {
    fail(1, e.what());
  }

  pipeline::Registry registry;
  components::register_all(registry);
  registry.add(exporters::make_store_exporter_factory(store));  // replaces the data_dir-only one
  receivers::OtlpReceiver* otlp = nullptr;
  registry.add(std::make_unique<OwnOtlpReceiverFactory>(&otlp));
  // `hodos destinations add|remove` choices, kept next to the traces (with their secrets, 0600).
  std::shared_ptr<exporters::Destinations> destinations;
  try {
    destinations = std::make_shared<exporters::Destinations>(
        registry, (fs::path(data_dir.path) / "destinations.json").string());
  } catch (const exporters::DestinationError& e) {
    fail(1, e.what());
  }
  registry.add(exporters::make_destinations_exporter_factory(destinations));
  // `hodos actions` and `hodos sampling` choices, kept next to the traces.
  std::shared_ptr<processors::RuntimeActions> actions;
  std::shared_ptr<processors::SamplingRules> sampling;
  try {
    actions = std::make_shared<processors::RuntimeActions>(
        registry, (fs::path(data_dir.path) / "actions.json").string());
    sampling = std::make_shared<processors::SamplingRules>(
        registry, (fs::path(data_dir.path) / "sampling.json").string());
  } catch (const processors::RuleError& e) {
    fail(1, e.what());
  }
  registry.add(processors::make_actions_processor_factory(actions));
  registry.add(processors::make_sampling_processor_factory(sampling));
  pipeline::ServiceOptions service_options;
  service_options.serve_own_telemetry = false;  // /metrics is served on --http
  service_options.allow_pipelines_without_receivers = true;
  std::unique_ptr<pipeline::Service> service;
  try {
    service = pipeline::Service::build(registry, config, spdlog::default_logger(), service_options);
  } catch (const pipeline::ConfigError& e) {
    fail(2, fmt::format("config error{}: {}", o.config_path.empty() ? "" : " in " + o.config_path,
                        e.what()));
  }

  // The pipeline starts first, so that once /api/health answers, OTLP is accepted too.
  if (pipeline::Status st = service->start(); !st.is_ok()) {
    fail(1, explain_start_failure(st.message(), o));
  }
  api::QueryApiOptions api_options;
  api_options.address = o.http;
  api_options.auth_token = token.value;
  api_options.fallback = api::make_ui_handler(api::embedded_ui_assets());  // the web UI
  api::QueryApi api(store, &service->metrics(), api_options);
  auto sources_control = std::make_shared<AgentSourcesControl>(source_registry);
  api::add_sources_routes(api, sources_control);
  api::add_destinations_routes(api, std::make_shared<UpDestinationsControl>(destinations));
  api::add_actions_routes(api, std::make_shared<UpActionsControl>(actions, sampling, store));
  auto status = std::make_shared<UpStatusSlot>();  // filled once the ports are known
  api::add_status_route(api, [status] { return status->snapshot(); });
  if (auto err = api.start()) {
    service->shutdown(std::chrono::steady_clock::now());
    const bool in_use = err->find("in use") != std::string::npos;
    fail(1, fmt::format("--http {}; {} with --http", *err, in_use ? "pick another" : "change it"));
  }

  AgentStart agent_start;
  if (o.no_agent) {
    sources_control->set_agent(nullptr, "hodos up runs with --no-agent");
  } else {
    agent_start = start_agent(*service,
                              agent_options(agent_config, source_registry->overrides()));
    sources_control->set_agent(agent_start.agent.get(), agent_start.line);
  }

  {
    UpStatusSources in;
    in.version = HODOS_VERSION;
    in.started = std::chrono::system_clock::now();
    in.api = "http://" + display_address(o.http, api.port());
    in.otlp_grpc = display_address(o.otlp_grpc, otlp != nullptr ? otlp->grpc_port() : 0);
    in.otlp_http = display_address(o.otlp_http, otlp != nullptr ? otlp->http_port() : 0);
    in.data_dir = data_dir.path;
    in.retention = o.retention;
    in.retention_size = o.retention_size;
    in.store = store;
    in.metrics = &service->metrics();
    in.destinations = destinations;
    in.sources = [sources_control] { return sources_control->list().body; };
    status->set(std::move(in));
  }

  std::printf("hodos up: ready\n");
  std::printf("  UI/API:    http://%s (Jaeger query API under /api, Prometheus metrics at /metrics)\n",
              display_address(o.http, api.port()).c_str());
  std::printf("  OTLP gRPC: %s\n",
              display_address(o.otlp_grpc, otlp != nullptr ? otlp->grpc_port() : 0).c_str());
  std::printf("  OTLP HTTP: http://%s/v1/traces\n",
              display_address(o.otlp_http, otlp != nullptr ? otlp->http_port() : 0).c_str());
  std::printf("  data:      %s (retention %s or %s)\n", data_dir.path.c_str(), o.retention.c_str(),
              o.retention_size.c_str());
  if (!data_dir.note.empty()) std::printf("  note:      %s\n", data_dir.note.c_str());
  if (!token.value.empty()) {
    std::printf("  auth:      bearer token %s%s\n", token.value.c_str(), token.origin.c_str());
  }
  if (const size_t n = destinations->list().size(); n > 0) {
    std::printf("  destinations: %zu (hodos destinations list)\n", n);
  }
  if (const size_t n = actions->list().size(); n > 0) {
    std::printf("  actions:   %zu (hodos actions list)\n", n);
  }
  if (const size_t n = sampling->state().rules.size(); n > 0) {
    std::printf("  sampling:  %zu rule%s (hodos sampling list)\n", n, n == 1 ? "" : "s");
  }
  if (o.no_agent) {
    std::printf("  agent:     off (--no-agent)\n");
  } else {
    std::printf("  agent:     %s\n", agent_start.line.c_str());
  }
  std::fflush(stdout);

  const pipeline::Deadline deadline = wait_for_stop(signals, o.shutdown_timeout_s);
  // The agent feeds the pipeline, so it stops first (as receivers do).
  sources_control->set_agent(nullptr, "hodos up is stopping");
  agent_start.shutdown(deadline);  // it feeds the pipeline, so it stops first
  service->shutdown(deadline);
  api.stop();
  std::printf("hodos up: stopped\n");
  std::fflush(stdout);
}

}  // namespace

void add_up_command(CLI::App& app) {
  auto o = std::make_shared<UpOptions>();
  CLI::App* cmd = app.add_subcommand(
      "up", "Run everything on this host: OTLP receivers, trace store, query API (and the agent)");
  cmd->add_option("--data-dir", o->data_dir,
                  "Trace store directory (default ~/.local/share/hodos; /var/lib/hodos or ./.hodos "
                  "when HOME is unset)");
  cmd->add_option("--http", o->http, "Query API, UI and /metrics address")->capture_default_str();
  cmd->add_option("--otlp-grpc", o->otlp_grpc, "OTLP/gRPC receiver address")->capture_default_str();
  cmd->add_option("--otlp-http", o->otlp_http, "OTLP/HTTP receiver address")->capture_default_str();
  cmd->add_flag("--no-agent", o->no_agent, "Do not start the eBPF agent");
  cmd->add_option("--config", o->config_path,
                  "Collector-shaped YAML with extra components (e.g. a second exporter) and an "
                  "agent: section (sources, capture); see docs/configuration.md");
  cmd->add_option("--auth-token", o->auth_token,
                  "Bearer token the API requires (off loopback, one is generated and kept in the "
                  "data directory)");
  cmd->add_option("--retention", o->retention, "Keep traces this long (e.g. 7d, 36h; 0: no limit)")
      ->capture_default_str();
  cmd->add_option("--retention-size", o->retention_size,
                  "Keep at most this much on disk (e.g. 10GiB; 0: no limit)")
      ->capture_default_str();
  cmd->add_option("--log-level", o->log_level, "trace, debug, info, warn, error, off")
      ->capture_default_str();
  cmd->add_option("--shutdown-timeout", o->shutdown_timeout_s,
                  "Seconds to drain on SIGTERM before giving up")
      ->check(non_negative_seconds())
      ->capture_default_str();
  cmd->callback([o] { run_up(*o); });
}

}  // namespace hodos::cli
