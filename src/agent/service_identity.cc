#include "agent/service_identity.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdlib>

#include "agent/command_line_redaction.h"
#include "agent/k8s_cgroup.h"

namespace hodos::agent {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex_digit(s[i + 1]) >= 0 && hex_digit(s[i + 2]) >= 0) {
      out += static_cast<char>(hex_digit(s[i + 1]) * 16 + hex_digit(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::string_view basename_of(std::string_view path) {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

std::string_view without_suffix(std::string_view name,
                                std::initializer_list<std::string_view> suffixes) {
  for (std::string_view suffix : suffixes) {
    if (name.size() > suffix.size() && name.ends_with(suffix))
      return name.substr(0, name.size() - suffix.size());
  }
  return name;
}

// The directory holding `script` (relative to the process's cwd when the path is relative).
std::string parent_directory_name(const ProcessInfo& process, std::string_view script) {
  size_t slash = script.rfind('/');
  if (slash != std::string_view::npos && slash > 0)
    return std::string(basename_of(script.substr(0, slash)));
  return std::string(basename_of(process.cwd));
}

bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

// Walks argv[1..] skipping options; `takes_value` names the options whose value is the next
// argument. Returns the index of the first operand, or argv.size().
template <typename TakesValue>
size_t first_operand(const std::vector<std::string>& argv, TakesValue takes_value) {
  for (size_t i = 1; i < argv.size(); ++i) {
    const std::string& arg = argv[i];
    if (arg == "--") return i + 1;
    if (!arg.starts_with('-') || arg == "-") return i;
    if (arg.find('=') == std::string::npos && takes_value(arg)) ++i;
  }
  return argv.size();
}

std::optional<ServiceName> python_name(const ProcessInfo& p) {
  const std::vector<std::string>& argv = p.cmdline;
  for (size_t i = 1; i < argv.size(); ++i) {
    std::string_view arg = argv[i];
    if (arg == "-m" && i + 1 < argv.size()) return ServiceName{argv[i + 1], "module"};
    if (arg.starts_with("-m") && arg.size() > 2 && arg[2] != '-') {
      return ServiceName{std::string(arg.substr(2)), "module"};
    }
    if (arg.starts_with("-c") || arg == "-") return std::nullopt;  // inline code or stdin: no name
    if (arg == "-W" || arg == "-X" || arg == "--check-hash-based-pycs") {
      ++i;
      continue;
    }
    if (arg.starts_with('-')) continue;
    std::string_view base = basename_of(arg);
    if (base == "__main__.py") return ServiceName{parent_directory_name(p, arg), "script"};
    return ServiceName{std::string(without_suffix(base, {".py", ".pyz"})), "script"};
  }
  return std::nullopt;
}

// "shop-1.4.2-SNAPSHOT.jar" → "shop": build versions would split one service into many.
std::string jar_service_name(std::string_view jar) {
  std::string_view name = without_suffix(basename_of(jar), {".jar", ".war"});
  for (size_t i = 1; i + 1 < name.size(); ++i) {
    if (name[i] == '-' && name[i + 1] >= '0' && name[i + 1] <= '9')
      return std::string(name.substr(0, i));
  }
  return std::string(name);
}

std::optional<ServiceName> java_name(const ProcessInfo& p) {
  static constexpr std::array<std::string_view, 14> kWithValue = {"-cp",
                                                                  "-classpath",
                                                                  "--class-path",
                                                                  "-p",
                                                                  "--module-path",
                                                                  "--upgrade-module-path",
                                                                  "--add-modules",
                                                                  "--add-opens",
                                                                  "--add-exports",
                                                                  "--add-reads",
                                                                  "--patch-module",
                                                                  "--limit-modules",
                                                                  "--source",
                                                                  "--enable-native-access"};
  const std::vector<std::string>& argv = p.cmdline;
  for (size_t i = 1; i < argv.size(); ++i) {
    std::string_view arg = argv[i];
    if (arg == "-jar" && i + 1 < argv.size())
      return ServiceName{jar_service_name(argv[i + 1]), "jar"};
    if ((arg == "-m" || arg == "--module") && i + 1 < argv.size()) {
      std::string_view module = argv[i + 1];  // module[/mainclass]
      size_t slash = module.find('/');
      std::string_view cls = slash == std::string_view::npos ? module : module.substr(slash + 1);
      size_t dot = cls.rfind('.');
      return ServiceName{std::string(dot == std::string_view::npos ? cls : cls.substr(dot + 1)),
                         "main class"};
    }
    if (std::find(kWithValue.begin(), kWithValue.end(), arg) != kWithValue.end()) {
      ++i;
      continue;
    }
    if (arg.starts_with('-')) continue;
    if (arg.ends_with(".java")) {  // source-file mode
      return ServiceName{std::string(without_suffix(basename_of(arg), {".java"})), "main class"};
    }
    size_t dot = arg.rfind('.');
    return ServiceName{std::string(dot == std::string_view::npos ? arg : arg.substr(dot + 1)),
                       "main class"};
  }
  return std::nullopt;
}

std::optional<ServiceName> node_name(const ProcessInfo& p) {
  static constexpr std::array<std::string_view, 9> kWithValue = {
      "-r",      "--require",  "--import",    "--loader", "--experimental-loader", "--inspect-port",
      "--title", "--env-file", "--conditions"};
  const std::vector<std::string>& argv = p.cmdline;
  for (size_t i = 1; i < argv.size(); ++i) {
    std::string_view arg = argv[i];
    if (arg == "-e" || arg == "--eval" || arg == "-p" || arg == "--print") return std::nullopt;
  }
  size_t i = first_operand(argv, [](std::string_view arg) {
    return std::find(kWithValue.begin(), kWithValue.end(), arg) != kWithValue.end();
  });
  if (i >= argv.size()) return std::nullopt;
  std::string_view script = argv[i];
  std::string_view name = without_suffix(basename_of(script), {".js", ".mjs", ".cjs", ".ts"});
  // "index.js" names nothing; its folder usually names the service.
  if (script == "." || script == "./")
    return ServiceName{std::string(basename_of(p.cwd)), "script"};
  if (name == "index") return ServiceName{parent_directory_name(p, script), "script"};
  return ServiceName{std::string(name), "script"};
}

std::optional<ServiceName> dotnet_name(const ProcessInfo& p) {
  for (size_t i = 1; i < p.cmdline.size(); ++i) {
    if (p.cmdline[i].ends_with(".dll")) {
      return ServiceName{std::string(without_suffix(basename_of(p.cmdline[i]), {".dll"})),
                         "assembly"};
    }
  }
  return std::nullopt;
}

std::optional<ServiceName> script_name(const ProcessInfo& p,
                                       std::initializer_list<std::string_view> with_value,
                                       std::initializer_list<std::string_view> suffixes) {
  const std::vector<std::string>& argv = p.cmdline;
  for (size_t i = 1; i < argv.size(); ++i) {
    if (argv[i] == "-e") return std::nullopt;
  }
  size_t i = first_operand(argv, [&](std::string_view arg) {
    return std::find(with_value.begin(), with_value.end(), arg) != with_value.end();
  });
  if (i >= argv.size()) return std::nullopt;
  return ServiceName{std::string(without_suffix(basename_of(argv[i]), suffixes)), "script"};
}

std::optional<ServiceName> runtime_entry_point(const ProcessInfo& p, const RuntimeInfo& runtime) {
  switch (runtime.runtime) {
    case Runtime::kCPython:
      return python_name(p);
    case Runtime::kJava:
      return java_name(p);
    case Runtime::kNode:
      return node_name(p);
    case Runtime::kDotnet:
      return dotnet_name(p);
    case Runtime::kRuby:
      return script_name(p, {"-r", "-I", "-C", "-E"}, {".rb"});
    case Runtime::kPhp:
      if (p.exe_name().starts_with("php-fpm")) return ServiceName{"php-fpm", "executable"};
      return script_name(p, {"-S", "-t", "-c", "-d", "-f"}, {".php"});
    default:
      return std::nullopt;
  }
}

}  // namespace

std::vector<std::pair<std::string, std::string>> parse_resource_attributes(std::string_view text) {
  std::vector<std::pair<std::string, std::string>> out;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find(',', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view entry = text.substr(pos, end - pos);
    pos = end + 1;
    size_t eq = entry.find('=');
    if (eq == std::string_view::npos) continue;
    std::string key = percent_decode(trim(entry.substr(0, eq)));
    std::string value = percent_decode(trim(entry.substr(eq + 1)));
    if (!key.empty()) out.emplace_back(std::move(key), std::move(value));
  }
  return out;
}

ServiceName service_name(const ProcessInfo& process, const RuntimeInfo& runtime) {
  if (const std::string* name = process.env("OTEL_SERVICE_NAME");
      name != nullptr && !trim(*name).empty()) {
    return {std::string(trim(*name)), "OTEL_SERVICE_NAME"};
  }
  if (const std::string* attrs = process.env("OTEL_RESOURCE_ATTRIBUTES")) {
    for (auto& [key, value] : parse_resource_attributes(*attrs)) {
      if (key == "service.name" && !value.empty()) return {value, "OTEL_RESOURCE_ATTRIBUTES"};
    }
  }
  if (std::optional<ServiceName> name = runtime_entry_point(process, runtime);
      name && !name->name.empty()) {
    return *name;
  }
  return {std::string(process.exe_name()), "executable"};
}

SdkDetection detect_otel_sdk(const ProcessInfo& process) {
  auto env = [&](std::string_view key) -> std::string_view {
    const std::string* v = process.env(key);
    return v == nullptr ? std::string_view() : trim(*v);
  };
  std::string disabled(env("OTEL_SDK_DISABLED"));
  std::transform(disabled.begin(), disabled.end(), disabled.begin(), ::tolower);
  if (disabled == "true") return {};
  std::string_view exporter = env("OTEL_TRACES_EXPORTER");
  if (exporter == "none") return {};
  if (!exporter.empty()) return {true, "OTEL_TRACES_EXPORTER=" + std::string(exporter)};
  for (std::string_view key :
       {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"}) {
    if (!env(key).empty()) return {true, std::string(key) + " is set"};
  }
  auto java_agent = [](std::string_view text) {
    size_t at = text.find("-javaagent:");
    return at != std::string_view::npos && contains(text.substr(at), "opentelemetry");
  };
  for (std::string_view key : {"JAVA_TOOL_OPTIONS", "JDK_JAVA_OPTIONS", "_JAVA_OPTIONS"}) {
    if (java_agent(env(key)))
      return {true, std::string(key) + " loads the OpenTelemetry Java agent"};
  }
  if (contains(env("NODE_OPTIONS"), "@opentelemetry/auto-instrumentations-node")) {
    return {true, "NODE_OPTIONS requires @opentelemetry/auto-instrumentations-node"};
  }
  if (contains(env("PYTHONPATH"), "opentelemetry/instrumentation/auto_instrumentation")) {
    return {true, "PYTHONPATH loads opentelemetry-instrument"};
  }
  if (contains(env("DOTNET_STARTUP_HOOKS"), "OpenTelemetry")) {
    return {true, "DOTNET_STARTUP_HOOKS loads OpenTelemetry"};
  }
  for (size_t i = 1; i < process.cmdline.size(); ++i) {
    std::string_view arg = process.cmdline[i];
    if (arg.starts_with("-javaagent:") && java_agent(arg)) {
      return {true, "the command line loads the OpenTelemetry Java agent"};
    }
    if (contains(arg, "@opentelemetry/auto-instrumentations-node")) {
      return {true, "the command line requires @opentelemetry/auto-instrumentations-node"};
    }
  }
  return {};
}

std::vector<ResourceAttribute> resource_attributes(const ProcessInfo& process,
                                                   const RuntimeInfo& runtime,
                                                   const ServiceName& service,
                                                   std::string_view host_name,
                                                   const PodDirectory* pods) {
  std::vector<ResourceAttribute> out;
  auto add = [&](std::string key, AttributeValue value) {
    if (const std::string* s = std::get_if<std::string>(&value); s != nullptr && s->empty()) return;
    out.push_back({std::move(key), std::move(value)});
  };
  add("service.name", service.name);
  add("process.pid", static_cast<int64_t>(process.pid()));
  add("process.executable.name", std::string(process.exe_name()));
  add("process.executable.path", process.exe_path);
  add("process.command_line", redacted_command_line(process.cmdline));
  add("process.runtime.name", std::string(runtime_name(runtime.runtime)));
  add("process.runtime.version", runtime.version);
  add("host.name", std::string(host_name));
  add("telemetry.sdk.name", std::string("hodos"));
  add("telemetry.sdk.language", std::string(sdk_language(runtime.runtime)));
  // From the whole cgroup file when it was read; tests give a path only.
  std::optional<ContainerIdentity> container =
      process.container ? process.container : container_identity_from_path(process.cgroup);
  if (container) {
    add("container.id", container->container_id);
    add("k8s.pod.uid", container->pod_uid);
    // The node the agent's DaemonSet pod runs on, from the downward API (deploy/kubernetes).
    const char* node = std::getenv("K8S_NODE_NAME");
    if (node != nullptr && !container->pod_uid.empty()) add("k8s.node.name", std::string(node));
    if (pods != nullptr && !container->pod_uid.empty()) {
      if (auto pod = pods->find(container->pod_uid)) {
        add("k8s.pod.name", pod->name);
        add("k8s.namespace.name", pod->namespace_name);
        if (node == nullptr) add("k8s.node.name", pod->node_name);
        for (auto& [key, value] : pod->owners) add(key, value);
        if (auto c = pod->containers.find(container->container_id); c != pod->containers.end()) {
          add("k8s.container.name", c->second.name);
          add("container.image.name", c->second.image_name);
          add("container.image.tag", c->second.image_tag);
        }
      }
    }
  }
  if (const std::string* attrs = process.env("OTEL_RESOURCE_ATTRIBUTES")) {
    for (auto& [key, value] : parse_resource_attributes(*attrs)) {
      if (find_attribute(out, key) == nullptr) add(key, value);
    }
  }
  return out;
}

std::string local_host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof(buf) - 1) != 0) return {};
  return buf;
}

const AttributeValue* find_attribute(const std::vector<ResourceAttribute>& attributes,
                                     std::string_view key) {
  for (const ResourceAttribute& a : attributes) {
    if (a.key == key) return &a.value;
  }
  return nullptr;
}

}  // namespace hodos::agent
