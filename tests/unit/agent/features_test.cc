#include "agent/features.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "agent/libbpf_log.h"
#include "agent/socket_probe.h"

namespace hodos::agent {
namespace {

TEST(FeaturesTest, ReportsEveryFeatureOnceWithAReasonAndAConsequence) {
  FeatureReport report = probe_kernel_features();
  std::set<std::string> names;
  for (const FeatureProbe& f : report.features) {
    SCOPED_TRACE(f.name);
    EXPECT_TRUE(names.insert(f.name).second) << "reported twice";
    EXPECT_FALSE(f.detail.empty());
    EXPECT_FALSE(f.consequence.empty());
  }
  for (const char* expected : {"privileges", "btf", "ringbuf", "tp_btf", "raw_tp", "fentry",
                               "uprobes", "uprobe_multi", "sockops+sk_msg", "kprobes", "probe_write_user"}) {
    EXPECT_NE(report.find(expected), nullptr) << expected;
  }
  for (const char* required : {"privileges", "btf", "ringbuf", "tp_btf"}) {
    EXPECT_TRUE(report.find(required)->required) << required;
  }
}

TEST(FeaturesTest, AgentCanRunExactlyWhenEveryRequiredFeatureIsThere) {
  FeatureReport report;
  report.features = {{"a", true, true, "d", "c"}, {"b", false, false, "d", "c"}};
  EXPECT_TRUE(report.agent_can_run());
  report.features[0].available = false;
  EXPECT_FALSE(report.agent_can_run());
}

// The probes must agree with what actually loads: when the socket program loads and attaches,
// every feature it uses is reported available, and the agent is said to be able to run.
TEST(FeaturesTest, AgreesWithTheSocketProgram) {
  if (!probe_privileges().available)
    GTEST_SKIP() << "BPF unavailable: " << probe_privileges().detail;
  FeatureReport report = probe_kernel_features();
  bool loaded = false;
  try {
    SocketProbe::open({}, [](const SocketEvent&) {});
    loaded = true;
  } catch (const BpfError& e) {
    ADD_FAILURE() << e.what();
  }
  EXPECT_EQ(report.agent_can_run(), loaded);
  for (const char* used : {"btf", "ringbuf", "tp_btf"}) {
    EXPECT_EQ(report.find(used)->available, loaded) << used << ": " << report.find(used)->detail;
  }
}

}  // namespace
}  // namespace hodos::agent
