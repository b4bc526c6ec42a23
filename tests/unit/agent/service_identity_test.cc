// Service names, OTEL_RESOURCE_ATTRIBUTES, SDK detection and the resource, on ProcessInfo values as
// read from /proc (the real-process cases are in runtime_detect_test and discovery_test).
#include "agent/service_identity.h"

#include <gtest/gtest.h>

namespace hodos::agent {
namespace {

ProcessInfo process(std::string exe, std::vector<std::string> argv,
                    std::map<std::string, std::string> env = {}) {
  ProcessInfo p;
  p.key.pid = 4242;
  p.exe_path = std::move(exe);
  p.cmdline = std::move(argv);
  p.environ = std::move(env);
  p.cwd = "/srv/catalog";
  return p;
}

RuntimeInfo runtime(Runtime r, std::string version = "") {
  RuntimeInfo info;
  info.runtime = r;
  info.version = std::move(version);
  return info;
}

struct NameCase {
  Runtime runtime;
  std::string exe;
  std::vector<std::string> argv;
  std::string name;
  std::string source;
};

TEST(ServiceNameTest, FromTheRuntimesEntryPoint) {
  const std::vector<NameCase> cases = {
      {Runtime::kCPython, "/usr/bin/python3.11", {"python3", "app.py"}, "app", "script"},
      {Runtime::kCPython,
       "/usr/bin/python3.11",
       {"python3", "-u", "-W", "ignore", "/srv/api/main.py"},
       "main",
       "script"},
      {Runtime::kCPython,
       "/usr/bin/python3.11",
       {"python3", "-m", "http.server", "0"},
       "http.server",
       "module"},
      {Runtime::kCPython, "/usr/bin/python3.11", {"python3", "-mflask", "run"}, "flask", "module"},
      {Runtime::kCPython,
       "/usr/bin/python3.11",
       {"python3", "/srv/web/__main__.py"},
       "web",
       "script"},
      {Runtime::kCPython,
       "/usr/bin/python3.11",
       {"/usr/bin/python3", "/usr/bin/gunicorn", "app:app"},
       "gunicorn",
       "script"},
      {Runtime::kCPython,
       "/usr/bin/python3.11",
       {"python3", "-c", "import x"},
       "python3.11",
       "executable"},
      {Runtime::kJava,
       "/usr/bin/java",
       {"java", "-Xmx1g", "-jar", "/opt/shop-1.4.2-SNAPSHOT.jar"},
       "shop",
       "jar"},
      {Runtime::kJava,
       "/usr/bin/java",
       {"java", "-cp", "a.jar:b.jar", "com.example.Checkout", "--port", "1"},
       "Checkout",
       "main class"},
      {Runtime::kJava,
       "/usr/bin/java",
       {"java", "--module-path", "mods", "-m", "shop/com.example.Main"},
       "Main",
       "main class"},
      {Runtime::kJava, "/usr/bin/java", {"java", "Hello.java"}, "Hello", "main class"},
      {Runtime::kNode,
       "/usr/bin/node",
       {"node", "--require", "./tracing.js", "server.js"},
       "server",
       "script"},
      {Runtime::kNode, "/usr/bin/node", {"node", "dist/orders/index.mjs"}, "orders", "script"},
      {Runtime::kNode,
       "/usr/bin/node",
       {"node", "index.js"},
       "catalog",
       "script"},  // cwd /srv/catalog
      {Runtime::kNode, "/usr/bin/node", {"node", "-e", "1"}, "node", "executable"},
      {Runtime::kDotnet,
       "/usr/bin/dotnet",
       {"dotnet", "exec", "/app/Shop.Api.dll"},
       "Shop.Api",
       "assembly"},
      {Runtime::kRuby, "/usr/bin/ruby3.1", {"ruby", "-I", "lib", "app.rb"}, "app", "script"},
      {Runtime::kPhp,
       "/usr/sbin/php-fpm8.2",
       {"php-fpm: master process (/etc/php/8.2/fpm/php-fpm.conf)"},
       "php-fpm",
       "executable"},
      {Runtime::kGo, "/usr/local/bin/shopd", {"shopd", "-listen", ":80"}, "shopd", "executable"},
      {Runtime::kUnknown, "/usr/sbin/sshd", {"sshd: /usr/sbin/sshd -D"}, "sshd", "executable"},
  };
  for (const NameCase& c : cases) {
    ServiceName name = service_name(process(c.exe, c.argv), runtime(c.runtime));
    EXPECT_EQ(name.name, c.name) << c.argv.back();
    EXPECT_EQ(name.source, c.source) << c.argv.back();
  }
}

TEST(ServiceNameTest, OtelVariablesComeFirst) {
  ProcessInfo p = process(
      "/usr/bin/python3.11", {"python3", "app.py"},
      {{"OTEL_SERVICE_NAME", " checkout "}, {"OTEL_RESOURCE_ATTRIBUTES", "service.name=ignored"}});
  EXPECT_EQ(service_name(p, runtime(Runtime::kCPython)).name, "checkout");
  p.environ = {
      {"OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=prod, service.name=my%20shop%2Cv2"}};
  ServiceName name = service_name(p, runtime(Runtime::kCPython));
  EXPECT_EQ(name.name, "my shop,v2");
  EXPECT_EQ(name.source, "OTEL_RESOURCE_ATTRIBUTES");
  p.environ = {{"OTEL_SERVICE_NAME", ""}, {"OTEL_RESOURCE_ATTRIBUTES", "service.name="}};
  EXPECT_EQ(service_name(p, runtime(Runtime::kCPython)).name, "app");
}

TEST(ResourceAttributesTest, ParsesTheOtelFormat) {
  auto attrs = parse_resource_attributes("a=1,b = two%3D2 ,,broken, c%2Ed=%E2%9C%93,trailing=%4");
  ASSERT_EQ(attrs.size(), 4u);
  EXPECT_EQ(attrs[0], (std::pair<std::string, std::string>{"a", "1"}));
  EXPECT_EQ(attrs[1], (std::pair<std::string, std::string>{"b", "two=2"}));
  EXPECT_EQ(attrs[2], (std::pair<std::string, std::string>{"c.d", "\xE2\x9C\x93"}));
  EXPECT_EQ(attrs[3], (std::pair<std::string, std::string>{"trailing", "%4"}));
  EXPECT_TRUE(parse_resource_attributes("").empty());
}

struct SdkCase {
  std::map<std::string, std::string> env;
  std::vector<std::string> argv;
  bool has_sdk;
};

TEST(SdkDetectionTest, Table) {
  const std::vector<SdkCase> cases = {
      {{}, {"python3", "app.py"}, false},
      {{{"OTEL_SERVICE_NAME", "x"}}, {"python3", "app.py"}, false},  // a name alone exports nothing
      {{{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"}}, {"python3", "app.py"}, true},
      {{{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://c:4318/v1/traces"}}, {"node", "a.js"}, true},
      {{{"OTEL_TRACES_EXPORTER", "otlp"}}, {"python3", "app.py"}, true},
      {{{"OTEL_TRACES_EXPORTER", "none"}, {"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"}},
       {"app"},
       false},
      {{{"OTEL_SDK_DISABLED", "TRUE"}, {"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"}},
       {"app"},
       false},
      {{{"JAVA_TOOL_OPTIONS", "-Xmx1g -javaagent:/otel/opentelemetry-javaagent.jar"}},
       {"java", "Main"},
       true},
      {{{"JAVA_TOOL_OPTIONS", "-javaagent:/opt/other-agent.jar"}}, {"java", "Main"}, false},
      {{}, {"java", "-javaagent:/otel/opentelemetry-javaagent.jar", "-jar", "a.jar"}, true},
      {{{"NODE_OPTIONS", "--require @opentelemetry/auto-instrumentations-node/register"}},
       {"node", "a.js"},
       true},
      {{}, {"node", "-r", "@opentelemetry/auto-instrumentations-node/register", "a.js"}, true},
      {{{"PYTHONPATH",
         "/venv/lib/python3.11/site-packages/opentelemetry/instrumentation/auto_instrumentation:/"
         "app"}},
       {"python3", "app.py"},
       true},
  };
  for (const SdkCase& c : cases) {
    SdkDetection sdk = detect_otel_sdk(process("/x", c.argv, c.env));
    EXPECT_EQ(sdk.has_otel_sdk, c.has_sdk)
        << c.argv[0] << " " << (c.env.empty() ? "" : c.env.begin()->first);
    EXPECT_EQ(sdk.reason.empty(), !c.has_sdk);
  }
}

TEST(ResourceAttributesTest, SemanticConventionKeys) {
  ProcessInfo p =
      process("/usr/bin/python3.11", {"python3", "app.py", "--token", "abc"},
              {{"OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=prod,host.name=spoofed"}});
  RuntimeInfo r = runtime(Runtime::kCPython, "3.11");
  ServiceName name = service_name(p, r);
  std::vector<ResourceAttribute> attrs = resource_attributes(p, r, name, "web-1");
  auto str = [&](std::string_view key) -> std::string {
    const AttributeValue* v = find_attribute(attrs, key);
    return v == nullptr ? "<missing>" : std::get<std::string>(*v);
  };
  EXPECT_EQ(str("service.name"), "app");
  ASSERT_NE(find_attribute(attrs, "process.pid"), nullptr);
  EXPECT_EQ(std::get<int64_t>(*find_attribute(attrs, "process.pid")), 4242);
  EXPECT_EQ(str("process.executable.name"), "python3.11");
  EXPECT_EQ(str("process.executable.path"), "/usr/bin/python3.11");
  EXPECT_EQ(str("process.command_line"), "python3 app.py --token ***");
  EXPECT_EQ(str("process.runtime.name"), "cpython");
  EXPECT_EQ(str("process.runtime.version"), "3.11");
  EXPECT_EQ(str("host.name"), "web-1");  // the agent's, not the process's claim
  EXPECT_EQ(str("telemetry.sdk.name"), "hodos");
  EXPECT_EQ(str("telemetry.sdk.language"), "python");
  EXPECT_EQ(str("deployment.environment"), "prod");

  // Unknown runtime: no runtime or language attributes rather than empty ones.
  attrs = resource_attributes(p, runtime(Runtime::kUnknown), name, "web-1");
  EXPECT_EQ(find_attribute(attrs, "process.runtime.name"), nullptr);
  EXPECT_EQ(find_attribute(attrs, "telemetry.sdk.language"), nullptr);
}

}  // namespace
}  // namespace hodos::agent
