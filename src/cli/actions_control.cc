#include "cli/actions_control.h"

#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <set>
#include <string>

#include "core/clock.h"
#include "pipeline/config_node.h"

namespace hodos::cli {

namespace {

using nlohmann::json;
using processors::RuleError;

constexpr size_t kDefaultPreviewSpans = 200;
constexpr size_t kMaxPreviewSpans = 1000;

api::ControlAnswer fail(int status, const std::string& message) {
  return {status, json{{"message", message}}};
}

// Runs a change; a RuleError is the user's (400, 404 or 409), anything else a file that could
// not be written (500, nothing changed).
api::ControlAnswer answer(const std::function<api::ControlAnswer()>& change) {
  try {
    return change();
  } catch (const RuleError& e) {
    switch (e.kind()) {
      case RuleError::Kind::kNotFound:
        return fail(404, e.what());
      case RuleError::Kind::kConflict:
        return fail(409, e.what());
      case RuleError::Kind::kInvalid:
        break;
    }
    return fail(400, e.what());
  } catch (const std::exception& e) {
    return fail(500, fmt::format("cannot save the change: {}", e.what()));
  }
}

json settings_json(const processors::SamplingSettings& s) {
  return {{"decision_wait", s.decision_wait}, {"num_traces", s.num_traces}};
}

}  // namespace

json action_state_json(const processors::ActionState& s) {
  json j = processors::rule_json(s.action);
  j["status"] = {{"spans_in", s.counts.spans_in},
                 {"spans_out", s.counts.spans_out},
                 {"spans_dropped", s.counts.spans_dropped}};
  return j;
}

json rule_types_json(const std::vector<processors::RuleType>& types) {
  json out = json::array();
  for (const processors::RuleType& t : types) {
    out.push_back({{"type", t.type}, {"title", t.title}, {"help", t.help}, {"example", t.example}});
  }
  return out;
}

core::SpanBatch recent_spans(const store::TraceStore& store, size_t limit, uint64_t since_ns) {
  core::SpanBatch out;
  if (limit == 0) return out;
  // Each service's newest traces, taken in turns so that a busy service does not hide the rest.
  std::vector<std::vector<core::TraceId>> per_service;
  for (const std::string& service : store.services()) {
    store::TraceQuery q;
    q.service = service;
    q.start_time_min_ns = since_ns;
    q.limit = limit;
    per_service.push_back(store.search(q));
  }
  std::set<std::string> seen;
  size_t traces = 0;
  for (size_t round = 0; traces < limit; ++round) {
    bool any = false;
    for (const auto& ids : per_service) {
      if (round >= ids.size() || traces >= limit) continue;
      any = true;
      const core::TraceId& id = ids[round];
      if (!seen.insert(id.hex()).second) continue;
      ++traces;
      core::SpanBatch trace = store.find_trace(id);
      auto& spans = trace.spans();
      spans.erase(
          std::remove_if(spans.begin(), spans.end(),
                         [&](const core::Span& s) { return s.start_time_unix_nano < since_ns; }),
          spans.end());
      out.append(std::move(trace));
    }
    if (!any) break;
  }
  auto& spans = out.spans();
  std::stable_sort(spans.begin(), spans.end(), [](const core::Span& a, const core::Span& b) {
    return a.start_time_unix_nano > b.start_time_unix_nano;
  });
  if (spans.size() > limit) spans.resize(limit);
  return out;
}

api::ControlAnswer UpActionsControl::list_actions() {
  json list = json::array();
  for (const processors::ActionState& s : actions_->list()) list.push_back(action_state_json(s));
  return {200, json{{"actions", std::move(list)}}};
}

api::ControlAnswer UpActionsControl::action_types() {
  return {200, json{{"types", rule_types_json(processors::action_types())}}};
}

api::ControlAnswer UpActionsControl::add_action(const json& body) {
  return answer([&]() -> api::ControlAnswer {
    processors::ActionState s =
        actions_->add(processors::parse_rule(body, processors::action_types(), "action"));
    return {201, json{{"action", action_state_json(s)}}};
  });
}

api::ControlAnswer UpActionsControl::replace_action(const std::string& name, const json& body) {
  return answer([&]() -> api::ControlAnswer {
    processors::ActionState s =
        actions_->replace(name, processors::parse_rule(body, processors::action_types(), "action",
                                                       /*name_required=*/false));
    return {200, json{{"action", action_state_json(s)}}};
  });
}

api::ControlAnswer UpActionsControl::remove_action(const std::string& name) {
  return answer([&]() -> api::ControlAnswer {
    actions_->remove(name);
    return {200, json{{"removed", name}}};
  });
}

api::ControlAnswer UpActionsControl::enable_action(const std::string& name, bool enabled) {
  return answer([&]() -> api::ControlAnswer {
    return {200, json{{"action", action_state_json(actions_->set_enabled(name, enabled))}}};
  });
}

api::ControlAnswer UpActionsControl::preview_action(const json& body) {
  return answer([&]() -> api::ControlAnswer {
    size_t limit = kDefaultPreviewSpans;
    std::chrono::milliseconds lookback = std::chrono::hours(1);
    const json* action = nullptr;
    for (const auto& [key, value] : body.items()) {
      if (key == "action") {
        action = &value;
      } else if (key == "limit") {
        if (!value.is_number_integer() || value.get<int64_t>() < 1) {
          throw RuleError("limit", "must be a whole number of spans, 1 to 1000");
        }
        if (value.get<int64_t>() > static_cast<int64_t>(kMaxPreviewSpans)) {
          throw RuleError("limit", fmt::format("{} is more than 1000 spans; ask for fewer",
                                               value.get<int64_t>()));
        }
        limit = value.get<size_t>();
      } else if (key == "lookback") {
        auto d =
            value.is_string() ? pipeline::parse_duration(value.get<std::string>()) : std::nullopt;
        if (!d || d->count() <= 0) {
          throw RuleError("lookback", "must be a duration such as \"1h\" or \"15m\"");
        }
        lookback = *d;
      } else {
        throw RuleError(key, "unknown field; a preview has action, limit and lookback");
      }
    }
    if (action == nullptr) {
      throw RuleError("action", "required: the action to try, {\"type\": ..., \"config\": {...}}");
    }
    processors::ProcessingRule rule;
    try {
      rule = processors::parse_rule(*action, processors::action_types(), "action",
                                    /*name_required=*/false);
    } catch (const RuleError& e) {
      throw processors::nest_rule_error(e, "action");
    }
    const uint64_t now = core::now_unix_nano();
    const auto back = static_cast<uint64_t>(lookback.count()) * 1'000'000ULL;
    core::SpanBatch spans = recent_spans(*store_, limit, back < now ? now - back : 0);
    processors::ActionPreview p;
    try {
      p = actions_->preview(rule, spans);
    } catch (const RuleError& e) {
      throw processors::nest_rule_error(e, "action");
    }
    return {200, json{{"examined", p.examined},
                      {"changed", p.changed},
                      {"dropped", p.dropped},
                      {"examples", std::move(p.examples)}}};
  });
}

api::ControlAnswer UpActionsControl::sampling() {
  processors::SamplingState s = sampling_->state();
  json rules = json::array();
  for (const processors::ProcessingRule& r : s.rules) rules.push_back(processors::rule_json(r));
  return {
      200,
      json{{"settings", settings_json(s.settings)},
           {"rules", std::move(rules)},
           {"counts",
            {{"traces_sampled", s.traces_sampled}, {"traces_not_sampled", s.traces_not_sampled}}}}};
}

api::ControlAnswer UpActionsControl::set_sampling_settings(const json& body) {
  return answer([&]() -> api::ControlAnswer {
    return {200, json{{"settings", settings_json(sampling_->set_settings(body))}}};
  });
}

api::ControlAnswer UpActionsControl::add_rule(const json& body) {
  return answer([&]() -> api::ControlAnswer {
    processors::ProcessingRule r =
        sampling_->add(processors::parse_rule(body, processors::sampling_rule_types(), "rule"));
    return {201, json{{"rule", processors::rule_json(r)}}};
  });
}

api::ControlAnswer UpActionsControl::replace_rule(const std::string& name, const json& body) {
  return answer([&]() -> api::ControlAnswer {
    processors::ProcessingRule r = sampling_->replace(
        name, processors::parse_rule(body, processors::sampling_rule_types(), "rule",
                                     /*name_required=*/false));
    return {200, json{{"rule", processors::rule_json(r)}}};
  });
}

api::ControlAnswer UpActionsControl::remove_rule(const std::string& name) {
  return answer([&]() -> api::ControlAnswer {
    sampling_->remove(name);
    return {200, json{{"removed", name}}};
  });
}

api::ControlAnswer UpActionsControl::enable_rule(const std::string& name, bool enabled) {
  return answer([&]() -> api::ControlAnswer {
    return {200, json{{"rule", processors::rule_json(sampling_->set_enabled(name, enabled))}}};
  });
}

}  // namespace hodos::cli
