// Reading processes from /proc: the LISTEN table parser on real kernel text, and read_process on
// this process, a live child, a zombie and a reaped child.
#include "agent/process_info.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>

#include "agent/unique_fd.h"
#include "discovery_test_support.h"

namespace hodos::agent {
namespace {

using testing::ChildProcess;
using testing::TempDir;

// Captured from /proc/net/tcp and tcp6 (a LISTEN socket on 127.0.0.1:8080 and [::]:5432, an
// ESTABLISHED one, a TIME_WAIT one with inode 0).
constexpr std::string_view kTcp4 =
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout "
    "inode\n"
    "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 "
    "41312 1 0000000000000000 100 0 0 10 0\n"
    "   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 "
    "41399 1 0000000000000000 20 4 30 10 -1\n"
    "   2: 0100007F:9C40 0100007F:1F90 06 00000000:00000000 03:00000F2A 00000000     0        0 0 "
    "3 0000000000000000\n"
    "   3: garbage\n";
constexpr std::string_view kTcp6 =
    "  sl  local_address                         remote_address                        st tx_queue "
    "rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    "   0: 00000000000000000000000000000000:1538 00000000000000000000000000000000:0000 0A "
    "00000000:00000000 00:00000000 00000000   105        0 23456 1 0000000000000000 100 0 0 10 0\n"
    "   1: 00000000000000000000000001000000:0050 00000000000000000000000000000000:0000 0A "
    "00000000:00000000 00:00000000 00000000     0        0 23457 1 0000000000000000 100 0 0 10 0\n";

TEST(ListenTableTest, KeepsListenEntriesWithTheirAddresses) {
  ListenTable table;
  parse_listen_table(kTcp4, false, table);
  parse_listen_table(kTcp6, true, table);
  ASSERT_EQ(table.size(), 3u);
  EXPECT_EQ(table.at(41312).address, "127.0.0.1");
  EXPECT_EQ(table.at(41312).port, 8080);
  EXPECT_FALSE(table.at(41312).ipv6);
  EXPECT_EQ(table.at(23456).address, "::");
  EXPECT_EQ(table.at(23456).port, 5432);
  EXPECT_TRUE(table.at(23456).ipv6);
  EXPECT_EQ(table.at(23457).address, "::1");
  EXPECT_EQ(table.at(23457).port, 80);
}

TEST(ListenTableTest, TruncatedTextNeverCrashes) {
  for (size_t n = 0; n <= kTcp4.size(); ++n) {
    ListenTable table;
    parse_listen_table(kTcp4.substr(0, n), false, table);
    EXPECT_LE(table.size(), 1u);
  }
}

TEST(EnvironTest, KeepsOnlyTheAskedKeys) {
  using namespace std::string_view_literals;
  std::string_view text =
      "PATH=/bin\0OTEL_SERVICE_NAME=shop\0DB_PASSWORD=x\0HODOS_SELF=1\0BROKEN\0"sv;
  auto env = parse_environ(text, kDiscoveryEnvironmentKeys);
  EXPECT_EQ(env.size(), 2u);
  EXPECT_EQ(env["OTEL_SERVICE_NAME"], "shop");
  EXPECT_EQ(env["HODOS_SELF"], "1");
}

uint16_t listen_on_loopback(const agent::UniqueFd& fd) {
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) return 0;
  if (::listen(fd.get(), 4) != 0) return 0;
  socklen_t len = sizeof(addr);
  ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len);
  return ntohs(addr.sin_port);
}

TEST(ReadProcessTest, ReadsThisProcessAndItsListeningSocket) {
  UniqueFd server(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  uint16_t port = listen_on_loopback(server);
  ASSERT_NE(port, 0);
  UniqueFd not_listening(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));

  std::optional<ProcessInfo> info = read_process(::getpid());
  ASSERT_TRUE(info);
  EXPECT_EQ(info->pid(), ::getpid());
  EXPECT_GT(info->key.start_time, 0u);
  EXPECT_FALSE(info->kernel_thread);
  EXPECT_EQ(info->exe_name(), "hodos_unit_tests");
  ASSERT_FALSE(info->cmdline.empty());
  EXPECT_TRUE(info->cmdline[0].ends_with("hodos_unit_tests"));
  EXPECT_TRUE(info->maps_file_named("libc.so"));
  EXPECT_FALSE(info->cgroup.empty());
  ASSERT_EQ(info->listening.size(), 1u);
  EXPECT_EQ(info->listening[0].port, port);
  EXPECT_EQ(info->listening[0].address, "127.0.0.1");
}

TEST(ReadProcessTest, ReadsOnlyTheDiscoveryVariablesOfAChild) {
  TempDir dir;
  ChildProcess child({"sleep", "60"}, dir.path(),
                     {{"OTEL_SERVICE_NAME", "sleeper"}, {"DB_PASSWORD", "hunter2"}});
  std::optional<ProcessInfo> info = child.wait_until_running("sleep");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->exe_name(), "sleep");
  EXPECT_EQ(info->cmdline, (std::vector<std::string>{"sleep", "60"}));
  EXPECT_EQ(info->cwd, dir.path());
  ASSERT_NE(info->env("OTEL_SERVICE_NAME"), nullptr);
  EXPECT_EQ(*info->env("OTEL_SERVICE_NAME"), "sleeper");
  EXPECT_EQ(info->env("DB_PASSWORD"), nullptr);  // never read into memory we keep
  EXPECT_EQ(info->env("PATH"), nullptr);
  EXPECT_TRUE(info->listening.empty());
}

TEST(ReadProcessTest, AZombieAndAReapedProcessAreGone) {
  pid_t zombie = ::fork();
  if (zombie == 0) ::_exit(0);
  // Waiting with WNOWAIT leaves the child a zombie, so /proc/<pid> still exists.
  siginfo_t info = {};
  ASSERT_EQ(::waitid(P_PID, static_cast<id_t>(zombie), &info, WEXITED | WNOWAIT), 0);
  ProcessReadStatus status = ProcessReadStatus::kOk;
  EXPECT_FALSE(read_process(zombie, {}, nullptr, &status));
  EXPECT_EQ(status, ProcessReadStatus::kGone);

  ASSERT_EQ(::waitpid(zombie, nullptr, 0), zombie);
  status = ProcessReadStatus::kOk;
  EXPECT_FALSE(read_process(zombie, {}, nullptr, &status));
  EXPECT_EQ(status, ProcessReadStatus::kGone);
}

TEST(ReadProcessTest, ListsPidsIncludingThisOne) {
  std::vector<pid_t> pids = list_pids();
  EXPECT_TRUE(std::binary_search(pids.begin(), pids.end(), ::getpid()));
  EXPECT_TRUE(std::binary_search(pids.begin(), pids.end(), 1));
}

TEST(ReadProcessTest, KernelThreadsAreMarked) {
  // kthreadd is pid 2 wherever the host's pid namespace is visible; skip inside a container.
  std::optional<ProcessInfo> kthreadd = read_process(2);
  if (!kthreadd || kthreadd->comm != "kthreadd")
    GTEST_SKIP() << "no kthreadd in this pid namespace";
  EXPECT_TRUE(kthreadd->kernel_thread);
  EXPECT_TRUE(kthreadd->exe_path.empty());
}

}  // namespace
}  // namespace hodos::agent
