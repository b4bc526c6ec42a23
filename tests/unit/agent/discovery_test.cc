// Discovery over the real /proc: listening processes become sources, Hodos's own processes and
// excluded ones do not (excluded ones are listed apart, with the rule), processes that exit
// mid-scan are counted and skipped, the rules match by name, executable, port and cgroup, and
// run-time overrides (disable, enable, rename) win over the rules.
#include "agent/discovery.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>

#include "agent/unique_fd.h"
#include "discovery_test_support.h"

namespace hodos::agent {
namespace {

using testing::ChildProcess;
using testing::TempDir;

// Rules built field by field (designated initializers that skip fields trip -Werror).
SourceMatch match(std::vector<std::string> names, std::vector<std::string> executables = {},
                  std::vector<uint16_t> ports = {}, std::vector<std::string> cgroup_prefixes = {}) {
  SourceMatch m;
  m.names = std::move(names);
  m.executables = std::move(executables);
  m.ports = std::move(ports);
  m.cgroup_prefixes = std::move(cgroup_prefixes);
  return m;
}

const DiscoveredSource* find_in(const std::vector<DiscoveredSource>& list, pid_t pid) {
  auto it = std::find_if(list.begin(), list.end(),
                         [&](const DiscoveredSource& s) { return s.process.pid() == pid; });
  return it == list.end() ? nullptr : &*it;
}

const DiscoveredSource* find_source(const DiscoveryResult& result, pid_t pid) {
  return find_in(result.sources, pid);
}

size_t accounted(const DiscoveryStats& s) {
  return s.vanished + s.kernel_threads + s.own_processes + s.not_selected + s.excluded + s.sources;
}

std::string string_attribute(const DiscoveredSource& source, std::string_view key) {
  const AttributeValue* v = find_attribute(source.resource, key);
  return v == nullptr ? "<missing>" : std::get<std::string>(*v);
}

class DiscoveryTest : public ::testing::Test {
 protected:
  static constexpr const char* kServer =
      "import http.server\n"
      "http.server.HTTPServer(('127.0.0.1', 0), "
      "http.server.SimpleHTTPRequestHandler).serve_forever()\n";

  void SetUp() override { script_ = dir_.write("app.py", kServer); }

  std::unique_ptr<ChildProcess> start_server(std::map<std::string, std::string> env = {}) {
    auto child = std::make_unique<ChildProcess>(std::vector<std::string>{"python3", "app.py"},
                                                dir_.path(), env);
    return child;
  }

  TempDir dir_;
  std::string script_;
};

// A server listening on several ports is selected by all of them, each named once (a port listened
// on over IPv4 and IPv6 is one port).
TEST_F(DiscoveryTest, ASourceListeningOnSeveralPortsNamesThemAll) {
  dir_.write("ports.py",
             "import socket, time\n"
             "a = socket.create_server(('127.0.0.1', 0))\n"
             "b = socket.create_server(('127.0.0.1', 0))\n"
             "c = socket.create_server(('::1', b.getsockname()[1]), family=socket.AF_INET6)\n"
             "time.sleep(60)\n");
  ChildProcess server({"python3", "ports.py"}, dir_.path());
  ASSERT_TRUE(server.wait_until_listening());
  DiscoveryOptions options;
  options.host_name = "test-host";
  Discovery discovery(SourceRules{}, options);
  std::optional<ProcessInfo> info;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while ((!info || info->listening.size() < 3) && std::chrono::steady_clock::now() < until) {
    info = read_process(server.pid());  // the three sockets listen one after another
  }
  ASSERT_TRUE(info && info->listening.size() == 3);
  std::vector<uint16_t> ports;
  for (const ListeningSocket& socket : info->listening) ports.push_back(socket.port);
  std::sort(ports.begin(), ports.end());
  ports.erase(std::unique(ports.begin(), ports.end()), ports.end());
  ASSERT_EQ(ports.size(), 2u);
  const DiscoveryResult result = discovery.scan();
  const DiscoveredSource* source = find_source(result, server.pid());
  ASSERT_NE(source, nullptr);
  EXPECT_EQ(source->selected_by, "listens on TCP ports " + std::to_string(ports[0]) + ", " +
                                     std::to_string(ports[1]));
}

TEST_F(DiscoveryTest, ListeningProcessesAreSourcesWithTheirResource) {
  auto plain = start_server();
  auto with_sdk = start_server({{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"},
                                {"OTEL_SERVICE_NAME", "instrumented"}});
  auto own = start_server({{"HODOS_SELF", "1"}});
  // Another Hodos (a gateway, another build): an executable named hodos is never a source.
  const std::string other_hodos = dir_.path() + "/hodos";
  std::filesystem::copy_file(std::filesystem::canonical("/usr/bin/python3"), other_hodos);
  ChildProcess another({other_hodos, "app.py"}, dir_.path());
  ChildProcess idle({"sleep", "60"}, dir_.path());
  std::optional<ProcessInfo> plain_info = plain->wait_until_listening();
  ASSERT_TRUE(plain_info && with_sdk->wait_until_listening() && own->wait_until_listening() &&
              another.wait_until_listening());
  ASSERT_TRUE(idle.wait_until_running("sleep"));
  // This test process listens too, and must never be a source.
  UniqueFd self_server(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(self_server.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(self_server.get(), 1), 0);

  DiscoveryOptions options;
  options.host_name = "test-host";
  Discovery discovery(SourceRules{}, options);
  DiscoveryResult result = discovery.scan();
  EXPECT_EQ(accounted(result.stats), result.stats.listed);
  // This process, the HODOS_SELF child and the other hodos.
  EXPECT_GE(result.stats.own_processes, 3u);
  EXPECT_EQ(find_source(result, another.pid()), nullptr);

  const DiscoveredSource* source = find_source(result, plain->pid());
  ASSERT_NE(source, nullptr);
  EXPECT_TRUE(source->traced);
  EXPECT_EQ(source->selected_by,
            "listens on TCP port " + std::to_string(plain_info->listening[0].port));
  EXPECT_EQ(source->runtime.runtime, Runtime::kCPython);
  EXPECT_EQ(source->service.name, "app");
  EXPECT_FALSE(source->sdk.has_otel_sdk);
  EXPECT_EQ(string_attribute(*source, "service.name"), "app");
  EXPECT_EQ(std::get<int64_t>(*find_attribute(source->resource, "process.pid")), plain->pid());
  // argv[0] is whatever the launcher passed (pyenv's shim passes a full path).
  EXPECT_TRUE(string_attribute(*source, "process.command_line").ends_with("python3 app.py"))
      << string_attribute(*source, "process.command_line");
  EXPECT_EQ(string_attribute(*source, "process.runtime.name"), "cpython");
  EXPECT_EQ(string_attribute(*source, "host.name"), "test-host");
  EXPECT_EQ(string_attribute(*source, "telemetry.sdk.name"), "hodos");
  EXPECT_EQ(string_attribute(*source, "telemetry.sdk.language"), "python");

  const DiscoveredSource* sdk = find_source(result, with_sdk->pid());
  ASSERT_NE(sdk, nullptr) << "listed, so `sources list` can say why it is not traced";
  EXPECT_TRUE(sdk->sdk.has_otel_sdk);
  EXPECT_EQ(sdk->sdk.reason, "OTEL_EXPORTER_OTLP_ENDPOINT is set");
  EXPECT_FALSE(sdk->traced);
  EXPECT_EQ(sdk->why_not, NotTracedReason::kSdk);
  EXPECT_EQ(sdk->why_not_detail, "OTEL_EXPORTER_OTLP_ENDPOINT is set");
  EXPECT_EQ(sdk->service.name, "instrumented");
  EXPECT_EQ(source->why_not, NotTracedReason::kNone);
  EXPECT_EQ(source->discovered_name, "app");

  EXPECT_EQ(find_source(result, own->pid()), nullptr);
  EXPECT_EQ(find_source(result, ::getpid()), nullptr);
  EXPECT_EQ(find_source(result, idle.pid()), nullptr);  // not listening, no include rule
}

TEST_F(DiscoveryTest, IncludeAndExcludeRules) {
  auto server = start_server();
  ChildProcess idle({"sleep", "61"}, dir_.path());
  std::optional<ProcessInfo> info = server->wait_until_listening();
  ASSERT_TRUE(info && idle.wait_until_running("sleep"));
  std::vector<pid_t> pids = {server->pid(), idle.pid()};

  SourceRules rules;
  rules.include.push_back(match({}, {"sleep"}));
  DiscoveryResult result = Discovery(rules).scan_pids(pids);
  ASSERT_EQ(result.sources.size(), 2u);
  EXPECT_EQ(find_source(result, idle.pid())->selected_by, "include rule 1");

  rules.exclude.push_back(match({"ap*"}));
  result = Discovery(rules).scan_pids(pids);
  EXPECT_EQ(find_source(result, server->pid()), nullptr);
  EXPECT_EQ(result.stats.excluded, 1u);
  // Listed apart, so that `hodos sources list` can say which rule keeps it out.
  const DiscoveredSource* excluded = find_in(result.excluded, server->pid());
  ASSERT_NE(excluded, nullptr);
  EXPECT_FALSE(excluded->traced);
  EXPECT_EQ(excluded->why_not, NotTracedReason::kExcluded);
  EXPECT_EQ(excluded->why_not_detail, "exclude rule 1");

  // Exclude wins over include; only listeners by default are off.
  rules = SourceRules{};
  rules.listening_processes = false;
  rules.include.push_back(match({}, {}, {info->listening[0].port}));
  rules.include.push_back(match({}, {"*/sleep"}));
  rules.exclude.push_back(match({}, {"sleep"}, {}, {info->cgroup}));
  result = Discovery(rules).scan_pids(pids);
  ASSERT_EQ(result.sources.size(), 1u);
  EXPECT_EQ(result.sources[0].process.pid(), server->pid());
  EXPECT_EQ(result.sources[0].selected_by, "include rule 1");
  EXPECT_EQ(result.stats.excluded, 1u);

  // A process no rule selects is not listed as excluded, even if an exclude rule matches it.
  rules = SourceRules{};
  rules.exclude.push_back(match({}, {"sleep"}));
  result = Discovery(rules).scan_pids(pids);
  EXPECT_TRUE(result.excluded.empty());
  EXPECT_EQ(result.stats.excluded, 0u);
  EXPECT_EQ(result.stats.not_selected, 1u);
}

TEST_F(DiscoveryTest, RunTimeOverridesWinOverTheRules) {
  auto plain = start_server();
  auto with_sdk = start_server({{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"},
                                {"OTEL_SERVICE_NAME", "instrumented"}});
  auto excluded = start_server({{"OTEL_SERVICE_NAME", "kept-out"}});
  ASSERT_TRUE(plain->wait_until_listening() && with_sdk->wait_until_listening() &&
              excluded->wait_until_listening());
  const std::vector<pid_t> pids = {plain->pid(), with_sdk->pid(), excluded->pid()};
  SourceRules rules;
  rules.exclude.push_back(match({"kept-*"}));

  // From the first scan on (DiscoveryOptions::overrides): `app` disabled and renamed.
  DiscoveryOptions options;
  options.overrides["app"].enabled = false;
  options.overrides["app"].name = "web";
  Discovery discovery(rules, options);
  DiscoveryResult result = discovery.scan_pids(pids);
  EXPECT_EQ(result.overrides_version, 0u);
  const DiscoveredSource* app = find_source(result, plain->pid());
  ASSERT_NE(app, nullptr);
  EXPECT_FALSE(app->traced);
  EXPECT_EQ(app->why_not, NotTracedReason::kDisabled);
  EXPECT_EQ(app->service.name, "web");
  EXPECT_EQ(app->discovered_name, "app");
  EXPECT_EQ(string_attribute(*app, "service.name"), "web");

  // Changed at run time: enabled (still renamed); the SDK process and the excluded one are
  // traced once enabled explicitly, the rules notwithstanding.
  SourceOverrides next;
  next["app"].name = "web";
  next["instrumented"].enabled = true;
  next["kept-out"].enabled = true;
  EXPECT_EQ(discovery.set_overrides(next), 1u);
  result = discovery.scan_pids(pids);
  EXPECT_EQ(result.overrides_version, 1u);
  app = find_source(result, plain->pid());
  ASSERT_NE(app, nullptr);
  EXPECT_TRUE(app->traced);
  EXPECT_EQ(app->service.name, "web");
  EXPECT_EQ(string_attribute(*app, "service.name"), "web");
  const DiscoveredSource* sdk = find_source(result, with_sdk->pid());
  ASSERT_NE(sdk, nullptr);
  EXPECT_TRUE(sdk->traced);
  EXPECT_EQ(sdk->selected_by, "enabled with `hodos sources enable`");
  const DiscoveredSource* forced = find_source(result, excluded->pid());
  ASSERT_NE(forced, nullptr) << "enabled: a source again, not in the excluded list";
  EXPECT_TRUE(forced->traced);
  EXPECT_TRUE(result.excluded.empty());

  // No overrides: the rules alone again.
  EXPECT_EQ(discovery.set_overrides({}), 2u);
  result = discovery.scan_pids(pids);
  EXPECT_EQ(find_source(result, plain->pid())->service.name, "app");
  EXPECT_EQ(find_source(result, with_sdk->pid())->why_not, NotTracedReason::kSdk);
  EXPECT_EQ(find_in(result.excluded, excluded->pid())->why_not, NotTracedReason::kExcluded);
}

TEST_F(DiscoveryTest, ProcessesThatExitMidScanAreSkippedAndCounted) {
  auto server = start_server();
  ASSERT_TRUE(server->wait_until_listening());
  ChildProcess exits({"sleep", "62"}, dir_.path());
  ASSERT_TRUE(exits.wait_until_running("sleep"));
  pid_t zombie = ::fork();
  if (zombie == 0) ::_exit(0);
  siginfo_t info = {};
  ASSERT_EQ(::waitid(P_PID, static_cast<id_t>(zombie), &info, WEXITED | WNOWAIT), 0);

  // The pids are listed, then one exits and is reaped before it is read; one is a zombie.
  std::vector<pid_t> listed = {exits.pid(), server->pid(), zombie};
  exits.stop();
  DiscoveryResult result;
  ASSERT_NO_THROW(result = Discovery(SourceRules{}).scan_pids(listed));
  EXPECT_EQ(result.stats.listed, 3u);
  EXPECT_EQ(result.stats.vanished, 2u);
  ASSERT_EQ(result.sources.size(), 1u);
  EXPECT_EQ(result.sources[0].process.pid(), server->pid());
  ::waitpid(zombie, nullptr, 0);
}

TEST(SourceMatchTest, FieldsAreAndedEntriesAreOred) {
  ProcessInfo p;
  p.exe_path = "/usr/local/bin/checkout-api";
  p.cgroup = "/system.slice/checkout.service";
  p.listening.resize(2);
  p.listening[0].port = 8080;
  p.listening[1].port = 9090;

  EXPECT_TRUE(match({}).matches(p, "checkout"));
  EXPECT_TRUE(match({"cart", "check*"}).matches(p, "checkout"));
  EXPECT_FALSE(match({"cart"}).matches(p, "checkout"));
  EXPECT_TRUE(match({}, {"checkout-*"}).matches(p, "x"));        // the name
  EXPECT_TRUE(match({}, {"/usr/local/bin/*"}).matches(p, "x"));  // the path
  EXPECT_FALSE(match({}, {"/usr/bin/*"}).matches(p, "x"));
  EXPECT_TRUE(match({}, {}, {9090}).matches(p, "x"));
  EXPECT_FALSE(match({}, {}, {80}).matches(p, "x"));
  EXPECT_TRUE(match({}, {}, {}, {"/system.slice/"}).matches(p, "x"));
  EXPECT_FALSE(match({}, {}, {}, {"/kubepods"}).matches(p, "x"));
  EXPECT_FALSE(match({"checkout"}, {}, {80}).matches(p, "checkout"));
  EXPECT_TRUE(match({"checkout"}, {}, {80, 8080}).matches(p, "checkout"));
}

}  // namespace
}  // namespace hodos::agent
