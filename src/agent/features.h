// What this kernel lets the agent do, found by trying: each probe loads a tiny program, creates a
// map or attaches a link, then releases it. `hodos diagnose` prints the result; the agent decides
// from it whether it can run and what it must do without.
#pragma once

#include <string>
#include <vector>

namespace hodos::agent {

struct FeatureProbe {
  std::string name;  // short and stable: "tp_btf", "ringbuf", "sockops+sk_msg"
  bool available = false;
  bool required = false;    // the agent cannot run without it
  std::string detail;       // what was tried, or why it failed
  std::string consequence;  // what the user loses while it is missing
};

struct FeatureReport {
  std::vector<FeatureProbe> features;

  // True when every required feature is available.
  bool agent_can_run() const;
  const FeatureProbe* find(const std::string& name) const;
};

// Root, or the capabilities that loading and attaching the agent's programs needs.
FeatureProbe probe_privileges();

// Every probe, privileges first. Never throws: a probe that cannot run reports the feature
// missing with the reason.
FeatureReport probe_kernel_features();

}  // namespace hodos::agent
