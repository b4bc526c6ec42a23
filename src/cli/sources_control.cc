#include "cli/sources_control.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <set>
#include <stdexcept>
#include <vector>

namespace hodos::cli {

namespace {

using nlohmann::json;

// A scan takes ~25 ms on a small host; a busy one gets more room before the answer says "saved,
// not applied yet".
constexpr auto kApplyTimeout = std::chrono::seconds(10);

json override_json(const agent::SourceOverride& o) {
  json out = json::object();
  if (o.enabled) out["enabled"] = *o.enabled;
  if (!o.name.empty()) out["name"] = o.name;
  return out;
}

json source_json(const agent::DiscoveredSource& s, const agent::SourceOverrides& saved,
                 const agent::Agent& agent) {
  std::set<uint16_t> ports;
  for (const agent::ListeningSocket& l : s.process.listening) ports.insert(l.port);
  json j = {
      {"service", s.service.name},
      {"discovered_service", s.discovered_name},
      {"pid", s.process.pid()},
      {"executable", s.process.exe_path},
      {"runtime", agent::runtime_name(s.runtime.runtime)},
      {"runtime_version", s.runtime.version},
      {"ports", json(std::vector<uint16_t>(ports.begin(), ports.end()))},
      {"traced", s.traced},
      {"why_not", s.traced ? json(nullptr) : json(agent::not_traced_reason_name(s.why_not))},
      {"why_not_detail", s.why_not_detail},
      {"selected_by", s.selected_by},
      {"trace_context", agent.trace_context(s)},
      {"tls", agent.tls_state(static_cast<uint32_t>(s.process.pid()))},
      {"go", agent.go_state(static_cast<uint32_t>(s.process.pid()))},
  };
  if (auto it = saved.find(s.discovered_name); it != saved.end()) {
    j["override"] = override_json(it->second);
  } else {
    j["override"] = nullptr;
  }
  return j;
}

std::vector<agent::DiscoveredSource> sorted(std::vector<agent::DiscoveredSource> sources) {
  std::sort(sources.begin(), sources.end(), [](const auto& a, const auto& b) {
    if (a.service.name != b.service.name) return a.service.name < b.service.name;
    return a.process.pid() < b.process.pid();
  });
  return sources;
}

api::ControlAnswer failure(int status, std::string message) {
  return {status, json{{"message", std::move(message)}}};
}

}  // namespace

AgentSourcesControl::AgentSourcesControl(std::shared_ptr<agent::SourceRegistry> registry)
    : registry_(std::move(registry)) {}

void AgentSourcesControl::set_agent(agent::Agent* agent, std::string off_reason) {
  std::lock_guard lock(mu_);
  state_ = AgentState{agent, std::move(off_reason)};
}

AgentSourcesControl::AgentState AgentSourcesControl::state() const {
  std::lock_guard lock(mu_);
  return state_;
}

api::ControlAnswer AgentSourcesControl::list() {
  const AgentState st = state();
  const agent::SourceOverrides saved = registry_->overrides();
  json agent_state = {{"running", st.agent != nullptr}};
  if (st.agent == nullptr) {
    agent_state["reason"] = st.off_reason;
  } else {
    agent_state["injection"] = {{"on", st.agent->injection().on},
                                {"detail", st.agent->injection().detail}};
  }
  json sources = json::array();
  if (st.agent != nullptr) {
    for (const agent::DiscoveredSource& s : sorted(st.agent->sources())) {
      sources.push_back(source_json(s, saved, *st.agent));
    }
  }
  json saved_json = json::object();
  for (const auto& [discovered, o] : saved) saved_json[discovered] = override_json(o);
  return {200, json{{"agent", std::move(agent_state)},
                    {"sources", std::move(sources)},
                    {"saved", std::move(saved_json)}}};
}

template <typename Apply>
api::ControlAnswer AgentSourcesControl::change(const std::string& name, const Apply& apply) {
  const AgentState st = state();
  std::vector<agent::SourceNames> live;
  if (st.agent != nullptr) {
    for (const agent::DiscoveredSource& s : st.agent->sources()) {
      live.push_back({s.discovered_name, s.service.name});
    }
  }
  const std::vector<std::string> keys =
      agent::resolve_source_name(name, live, registry_->overrides());
  if (keys.empty()) {
    if (st.agent == nullptr) {
      return failure(404, fmt::format("no saved choice for a source named '{}', and the agent is "
                                      "not running ({}), so no running source can be named",
                                      name, st.off_reason));
    }
    return failure(404, fmt::format("no source named '{}' (`hodos sources list` or GET "
                                    "/api/v1/sources shows them)",
                                    name));
  }
  try {
    for (const std::string& key : keys) apply(key);
  } catch (const std::invalid_argument& e) {
    return failure(400, e.what());
  } catch (const agent::SourceRegistryError& e) {
    return failure(500, fmt::format("the choice was not saved: {}", e.what()));
  }
  bool applied = false;
  if (st.agent != nullptr)
    applied = st.agent->apply_overrides(registry_->overrides(), kApplyTimeout);

  const agent::SourceOverrides saved = registry_->overrides();
  json sources = json::array();
  if (st.agent != nullptr) {
    for (const agent::DiscoveredSource& s : sorted(st.agent->sources())) {
      if (std::find(keys.begin(), keys.end(), s.discovered_name) != keys.end()) {
        sources.push_back(source_json(s, saved, *st.agent));
      }
    }
  }
  json out = {{"changed", keys}, {"applied", applied}, {"sources", std::move(sources)}};
  if (!applied) {
    out["message"] = st.agent == nullptr
                         ? fmt::format(
                               "saved; the agent is not running ({}), so it applies "
                               "from its next start",
                               st.off_reason)
                         : "saved; the agent has not rescanned yet, so it applies from its next "
                           "scan";
  }
  return {200, std::move(out)};
}

api::ControlAnswer AgentSourcesControl::set_enabled(const std::string& name, bool enabled) {
  return change(name, [&](const std::string& key) { registry_->set_enabled(key, enabled); });
}

api::ControlAnswer AgentSourcesControl::rename(const std::string& name,
                                               const std::string& new_name) {
  if (auto why = agent::invalid_service_name(new_name)) {
    return failure(400, fmt::format("cannot rename to '{}': {}", new_name, *why));
  }
  return change(name, [&](const std::string& key) { registry_->rename(key, new_name); });
}

}  // namespace hodos::cli
