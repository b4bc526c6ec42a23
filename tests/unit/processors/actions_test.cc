// hodos up's run-time actions and sampling rules (processors/actions.h, sampling_rules.h): the
// saved files survive a reload (owner-only; a bad file is named), bad input names the field (the
// processor's own message for a config it refuses), changes apply to the next batch, enable and
// disable, with no action a batch passes untouched (no copy), a swap under concurrent consume()
// loses and duplicates nothing, a sampling change decides the old rules' held traces, and a
// preview reports what an action would change without changing its input.
#include "processors/actions.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "components/register_all.h"
#include "processor_test_util.h"
#include "processors/sampling_rules.h"

namespace hodos::processors {
namespace {

using nlohmann::json;
using testing::make_batch;
using testing::RecordingSink;
using testing::span_number;

class ScratchDir {
 public:
  ScratchDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "hodos-actions-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_file(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

const pipeline::Registry& registry() {
  static const pipeline::Registry* r = [] {
    auto* reg = new pipeline::Registry;
    components::register_all(*reg);
    return reg;
  }();
  return *r;
}

ProcessingRule action(const std::string& name, const std::string& type, json config,
                      bool enabled = true) {
  return {name, type, enabled, "", std::move(config)};
}

// Masks emails, keeps every key.
ProcessingRule mask_emails(const std::string& name = "mask-pii") {
  return action(name, "redaction",
                json{{"allow_all_keys", true}, {"builtin_patterns", json::array({"email"})}});
}

// Drops spans named drop*.
ProcessingRule drop_named_drop(const std::string& name = "drop") {
  return action(name, "filter",
                json{{"traces", {{"span", json::array({"IsMatch(name, \"^drop\")"})}}}});
}

// `n` spans named prefix0.. each with user.email = jane@example.com.
core::SpanBatch batch_with_email(size_t n, const std::string& prefix = "span") {
  core::SpanBatch b = make_batch(n, "svc", prefix);
  for (core::Span& s : b.spans()) {
    core::upsert_attribute(b.arena(), s.attributes, "user.email",
                           core::AnyValue::string("jane@example.com"));
  }
  return b;
}

std::string email_of(const core::Span& s) {
  const core::AnyValue* v = core::find_attribute(s.attributes, "user.email");
  return v ? std::string(v->str) : "";
}

RuleError error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const RuleError& e) {
    return e;
  }
  ADD_FAILURE() << "no RuleError";
  return RuleError("", "");
}

// A running RuntimeActions in front of a recording sink.
struct Running {
  explicit Running(const std::string& path = "") : actions(registry(), path) {
    actions.attach(sink, metrics);
    actions.start();
  }
  ~Running() { actions.shutdown(); }
  pipeline::Metrics metrics;
  RecordingSink sink;
  RuntimeActions actions;
};

TEST(RuntimeActions, EveryTypeExampleIsAccepted) {
  RuntimeActions actions(registry(), "");
  for (const RuleType& t : action_types()) {
    EXPECT_NO_THROW(actions.add(action("example-" + t.type, t.type, t.example))) << t.type;
  }
  SamplingRules sampling(registry(), "");
  for (const RuleType& t : sampling_rule_types()) {
    EXPECT_NO_THROW(sampling.add(action("example-" + t.type, t.type, t.example))) << t.type;
  }
}

TEST(RuntimeActions, SavedFileRoundTripsOwnerOnly) {
  ScratchDir dir;
  const std::string path = dir.file("actions.json");
  {
    RuntimeActions actions(registry(), path);
    actions.add(mask_emails());
    ProcessingRule d = drop_named_drop();
    d.description = "no health checks";
    actions.add(d);
    actions.set_enabled("mask-pii", false);
  }
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  RuntimeActions reloaded(registry(), path);
  std::vector<ActionState> list = reloaded.list();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].action.name, "mask-pii");
  EXPECT_FALSE(list[0].action.enabled);
  EXPECT_EQ(list[0].action.config, mask_emails().config);
  EXPECT_EQ(list[1].action.description, "no health checks");
  EXPECT_EQ(list[1].action.config, drop_named_drop().config);
}

TEST(RuntimeActions, BadFileIsNamed) {
  ScratchDir dir;
  const std::string path = dir.file("actions.json");
  write_file(path, "{not json");
  RuleError e = error_of([&] { RuntimeActions a(registry(), path); });
  EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  EXPECT_NE(std::string(e.what()).find("not valid JSON"), std::string::npos) << e.what();

  // A config the processor refuses, written by hand: the file, the action and the key.
  write_file(path, R"({"version": 1, "actions": [{"name": "bad", "type": "redaction",
                     "config": {"hash_function": "sha512"}}]})");
  e = error_of([&] { RuntimeActions a(registry(), path); });
  EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  EXPECT_NE(std::string(e.what()).find("actions[0] (bad).config.hash_function"), std::string::npos)
      << e.what();

  const std::string sampling_path = dir.file("sampling.json");
  write_file(sampling_path, R"({"version": 1, "rules": [{"name": "x", "type": "nope"}]})");
  e = error_of([&] { SamplingRules s(registry(), sampling_path); });
  EXPECT_NE(std::string(e.what()).find(sampling_path + ": rules[0].type: unknown type 'nope'"),
            std::string::npos)
      << e.what();
}

TEST(RuntimeActions, BadInputNamesTheFieldAndSavesNothing) {
  ScratchDir dir;
  const std::string path = dir.file("actions.json");
  RuntimeActions actions(registry(), path);
  actions.add(mask_emails());
  const std::string saved = read_file(path);

  RuleError e = error_of([] {
    parse_rule(json{{"name", "x"}, {"type", "nope"}}, action_types(), "action");
  });
  EXPECT_EQ(e.field(), "type");
  EXPECT_NE(std::string(e.what()).find("redaction, filter"), std::string::npos) << e.what();

  e = error_of([] {
    parse_rule(json{{"name", "Bad Name"}, {"type", "filter"}}, action_types(), "action");
  });
  EXPECT_EQ(e.field(), "name");
  e = error_of([] {
    parse_rule(json{{"name", "x"}, {"type", "filter"}, {"colour", 1}}, action_types(), "action");
  });
  EXPECT_EQ(e.field(), "colour");
  e = error_of([&] { actions.add(action("types", "filter", drop_named_drop().config)); });
  EXPECT_EQ(e.field(), "name");

  // The processor's own message, on the config's key.
  e = error_of([&] {
    actions.add(action("strict", "redaction", json{{"builtin_patterns", json::array({"ssn"})}}));
  });
  EXPECT_EQ(e.field(), "config.builtin_patterns[0]");
  EXPECT_NE(std::string(e.what()).find("unknown pattern 'ssn'"), std::string::npos) << e.what();
  e = error_of([&] {
    actions.add(action("f", "filter", json{{"traces", {{"span", json::array({"nme == 1"})}}}}));
  });
  EXPECT_EQ(e.field(), "config.traces.span[0]");
  e = error_of([&] { actions.add(action("f", "filter", json{{"no_such_key", 1}})); });
  EXPECT_EQ(e.field().rfind("config", 0), 0u) << e.what();

  EXPECT_EQ(error_of([&] { actions.add(mask_emails()); }).kind(), RuleError::Kind::kConflict);
  EXPECT_EQ(error_of([&] { actions.remove("nope"); }).kind(), RuleError::Kind::kNotFound);
  EXPECT_EQ(error_of([&] { actions.set_enabled("nope", true); }).kind(),
            RuleError::Kind::kNotFound);
  EXPECT_EQ(read_file(path), saved);
  EXPECT_EQ(actions.list().size(), 1u);
}

TEST(RuntimeActions, NoActionPassesTheBatchItself) {
  Running r;
  core::SpanBatch b = batch_with_email(3);
  const char* name_bytes = b.spans()[0].name.data();
  ASSERT_TRUE(r.actions.consume(std::move(b)).is_ok());
  ASSERT_EQ(r.sink.batches().size(), 1u);
  // The same span data, not a copy.
  EXPECT_EQ(r.sink.batches()[0].spans()[0].name.data(), name_bytes);
  EXPECT_FALSE(r.actions.mutates_data());
}

TEST(RuntimeActions, ChangesApplyToTheNextBatchAndCount) {
  Running r;
  ASSERT_TRUE(r.actions.consume(batch_with_email(2)).is_ok());
  r.actions.add(mask_emails());
  EXPECT_TRUE(r.actions.mutates_data());
  ASSERT_TRUE(r.actions.consume(batch_with_email(2)).is_ok());
  r.actions.set_enabled("mask-pii", false);
  ASSERT_TRUE(r.actions.consume(batch_with_email(2)).is_ok());
  r.actions.set_enabled("mask-pii", true);
  r.actions.add(drop_named_drop());
  ASSERT_TRUE(r.actions.consume(batch_with_email(2, "drop")).is_ok());  // all dropped
  ASSERT_TRUE(r.actions.consume(batch_with_email(3, "keep")).is_ok());

  auto& batches = r.sink.batches();
  ASSERT_EQ(batches.size(), 4u);
  EXPECT_EQ(email_of(batches[0].spans()[0]), "jane@example.com");
  EXPECT_EQ(email_of(batches[1].spans()[0]), "****");
  EXPECT_EQ(email_of(batches[2].spans()[1]), "jane@example.com");  // disabled
  EXPECT_EQ(batches[3].size(), 3u);
  EXPECT_EQ(email_of(batches[3].spans()[2]), "****");

  std::vector<ActionState> list = r.actions.list();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].counts.spans_in, 2u + 2u + 3u);  // not while disabled
  EXPECT_EQ(list[0].counts.spans_out, 7u);
  EXPECT_EQ(list[1].counts.spans_in, 5u);
  EXPECT_EQ(list[1].counts.spans_out, 3u);
  EXPECT_EQ(list[1].counts.spans_dropped, 2u);

  // Replace keeps the position; remove takes it out of the chain.
  r.actions.replace(
      "mask-pii",
      action("mask-pii", "attributes",
             json{{"actions", json::array({json{{"key", "user.email"}, {"action", "delete"}}})}}));
  EXPECT_EQ(r.actions.list()[0].action.type, "attributes");
  ASSERT_TRUE(r.actions.consume(batch_with_email(1)).is_ok());
  EXPECT_EQ(email_of(batches.back().spans()[0]), "");
  r.actions.remove("mask-pii");
  r.actions.remove("drop");
  ASSERT_TRUE(r.actions.consume(batch_with_email(1, "drop")).is_ok());
  EXPECT_EQ(email_of(batches.back().spans()[0]), "jane@example.com");
}

// Several threads push batches while another adds, edits, disables and removes actions: every
// span arrives exactly once, except those the filter (when it is in) drops, which arrive at most
// once.
TEST(RuntimeActions, SwapUnderConcurrentConsumeLosesNothing) {
  Running r;
  constexpr int kThreads = 4;
  constexpr int kRounds = 200;  // of changes, each five swaps
  std::atomic<bool> changes_done{false};
  std::mutex mu;
  std::set<uint64_t> sent_keep, sent_drop;
  std::vector<std::thread> senders;
  for (int t = 0; t < kThreads; ++t) {
    senders.emplace_back([&, t] {
      // Until every change is made (and at least 100 batches each), so they overlap.
      for (int i = 0; i < 100 || !changes_done.load(); ++i) {
        const bool drop = (i + t) % 3 == 0;
        core::SpanBatch b = batch_with_email(4, drop ? "drop" : "keep");
        {
          std::lock_guard lock(mu);
          for (const core::Span& s : b.spans())
            (drop ? sent_drop : sent_keep).insert(span_number(s));
        }
        EXPECT_TRUE(r.actions.consume(std::move(b)).is_ok());
      }
    });
  }
  std::thread changer([&] {
    for (int round = 0; round < kRounds; ++round) {
      r.actions.add(mask_emails("m" + std::to_string(round)));
      r.actions.add(drop_named_drop("d" + std::to_string(round)));
      r.actions.set_enabled("m" + std::to_string(round), false);
      r.actions.remove("d" + std::to_string(round));
      r.actions.remove("m" + std::to_string(round));
    }
    changes_done = true;
  });
  changer.join();
  for (auto& s : senders) s.join();

  std::map<uint64_t, int> seen;
  for (const core::SpanBatch& b : r.sink.batches()) {
    for (const core::Span& s : b.spans()) ++seen[span_number(s)];
  }
  for (uint64_t id : sent_keep) EXPECT_EQ(seen[id], 1) << id;
  for (uint64_t id : sent_drop) EXPECT_LE(seen[id], 1) << id;
  for (const auto& [id, n] : seen) {
    EXPECT_TRUE(sent_keep.count(id) || sent_drop.count(id)) << "never sent: " << id;
  }
  // The changes really happened while spans flowed: some were masked, some not.
  size_t masked = 0, whole = 0;
  for (const core::SpanBatch& b : r.sink.batches()) {
    for (const core::Span& s : b.spans()) ++(email_of(s) == "****" ? masked : whole);
  }
  EXPECT_GT(masked, 0u);
  EXPECT_GT(whole, 0u);
}

TEST(RuntimeActions, PreviewReportsChangesWithoutTouchingTheSpans) {
  RuntimeActions actions(registry(), "");
  core::SpanBatch spans = batch_with_email(3);
  spans.append(make_batch(2, "svc", "plain"));  // nothing to mask
  spans.append(make_batch(1, "svc", "drop"));

  ActionPreview p = actions.preview(mask_emails(), spans);
  EXPECT_EQ(p.examined, 6u);
  EXPECT_EQ(p.changed, 3u);
  EXPECT_EQ(p.dropped, 0u);
  ASSERT_EQ(p.examples.size(), 3u);
  const json& e = p.examples[0];
  EXPECT_EQ(e["service"], "svc");
  EXPECT_EQ(e["before"]["attributes"]["user.email"], "jane@example.com");
  EXPECT_EQ(e["after"]["attributes"]["user.email"], "****");
  EXPECT_EQ(e["changes"], json::array({"attributes.user.email: masked"}));
  EXPECT_EQ(e["span_id"].get<std::string>().size(), 16u);
  EXPECT_EQ(email_of(spans.spans()[0]), "jane@example.com");  // the input is untouched

  p = actions.preview(drop_named_drop(), spans, /*max_examples=*/1);
  EXPECT_EQ(p.dropped, 1u);
  EXPECT_EQ(p.changed, 0u);
  ASSERT_EQ(p.examples.size(), 1u);
  EXPECT_TRUE(p.examples[0]["after"].is_null());
  EXPECT_EQ(spans.size(), 6u);

  // A config the processor refuses is the same error as on add.
  RuleError err = error_of([&] {
    actions.preview(action("", "redaction", json{{"summary", "loud"}}), spans);
  });
  EXPECT_EQ(err.field(), "config.summary");
  EXPECT_TRUE(actions.list().empty());  // nothing saved
}

// ---- sampling ---------------------------------------------------------------------------------

// One trace of `n` spans with a fresh trace id; `error` sets ERROR on its first span.
core::SpanBatch trace(size_t n, bool error, const std::string& prefix = "span") {
  static std::atomic<uint8_t> next{1};
  core::SpanBatch b = make_batch(n, "svc", prefix);
  const uint8_t id = next.fetch_add(1);
  for (core::Span& s : b.spans()) {
    s.trace_id.bytes[0] = 0xAA;
    s.trace_id.bytes[1] = id;
  }
  if (error) b.spans()[0].status.code = core::StatusCode::kError;
  return b;
}

struct RunningSampling {
  explicit RunningSampling(const std::string& path = "") : sampling(registry(), path) {
    sampling.attach(sink, metrics);
    sampling.start();
  }
  ~RunningSampling() { sampling.shutdown(); }
  pipeline::Metrics metrics;
  RecordingSink sink;
  SamplingRules sampling;
};

const ProcessingRule kErrors{"errors", "status_code", true, "",
                             json{{"status_codes", json::array({"ERROR"})}}};
const ProcessingRule kNone{"none", "probabilistic", true, "", json{{"sampling_percentage", 0}}};

TEST(SamplingRules, KeepsOnlyTracesAnEnabledRuleKeeps) {
  RunningSampling r;
  // No rule: straight through, the batch itself (nothing copied or held).
  core::SpanBatch first = trace(2, false);
  const char* name_bytes = first.spans()[0].name.data();
  ASSERT_TRUE(r.sampling.consume(std::move(first)).is_ok());
  EXPECT_EQ(r.sink.span_count(), 2u);
  EXPECT_EQ(r.sink.batches()[0].spans()[0].name.data(), name_bytes);
  // decision_wait long enough that only a change or the shutdown decides.
  r.sampling.set_settings(json{{"decision_wait", "1h"}});
  r.sampling.add(kErrors);
  r.sampling.add(kNone);
  ASSERT_TRUE(r.sampling.consume(trace(3, true, "err")).is_ok());
  ASSERT_TRUE(r.sampling.consume(trace(4, false, "ok")).is_ok());
  EXPECT_EQ(r.sink.span_count(), 2u);  // held
  r.sampling.shutdown();               // decides what it holds
  EXPECT_EQ(r.sink.span_count(), 2u + 3u);
  SamplingState s = r.sampling.state();
  EXPECT_EQ(s.traces_sampled, 1u);
  EXPECT_EQ(s.traces_not_sampled, 1u);
}

TEST(SamplingRules, AChangeDecidesTheHeldTracesAndDisablingPassesAll) {
  RunningSampling r;
  r.sampling.set_settings(json{{"decision_wait", "1h"}});
  r.sampling.add(kErrors);
  ASSERT_TRUE(r.sampling.consume(trace(3, true, "err")).is_ok());
  ASSERT_TRUE(r.sampling.consume(trace(4, false, "ok")).is_ok());
  EXPECT_EQ(r.sink.span_count(), 0u);
  // The old rules decide what they held: the error trace goes on, the other does not.
  r.sampling.add(kNone);
  EXPECT_EQ(r.sink.span_count(), 3u);
  r.sampling.set_enabled("errors", false);
  r.sampling.set_enabled("none", false);
  ASSERT_TRUE(r.sampling.consume(trace(5, false)).is_ok());
  EXPECT_EQ(r.sink.span_count(), 3u + 5u);  // no enabled rule: everything, at once
  EXPECT_EQ(r.sampling.state().traces_sampled, 1u);
  EXPECT_EQ(r.sampling.state().traces_not_sampled, 1u);
}

TEST(SamplingRules, BadInputNamesTheFieldAndTheFileRoundTrips) {
  ScratchDir dir;
  const std::string path = dir.file("sampling.json");
  {
    SamplingRules s(registry(), path);
    s.set_settings(json{{"decision_wait", "2s"}, {"num_traces", 100}});
    s.add(kErrors);
    RuleError e = error_of([&] {
      s.add({"bad", "status_code", true, "", json{{"status_codes", json::array({"FAILED"})}}});
    });
    EXPECT_EQ(e.field(), "config.status_codes");
    EXPECT_NE(std::string(e.what()).find("unknown status code 'FAILED'"), std::string::npos)
        << e.what();
    e = error_of([&] { s.add({"x", "latency", true, "", json::object()}); });
    EXPECT_EQ(e.field(), "config.threshold_ms") << e.what();
    e = error_of([&] { s.add({"x", "always_sample", true, "", json{{"a", 1}}}); });
    EXPECT_EQ(e.field(), "config");
    e = error_of([&] { s.set_settings(json{{"decision_wait", "soon"}}); });
    EXPECT_EQ(e.field(), "decision_wait") << e.what();
    e = error_of([&] { s.set_settings(json{{"num_traces", 0}}); });
    EXPECT_EQ(e.field(), "num_traces") << e.what();
    e = error_of([&] { s.add({"settings", "always_sample", true, "", json::object()}); });
    EXPECT_EQ(e.field(), "name");
    EXPECT_EQ(error_of([&] { s.add(kErrors); }).kind(), RuleError::Kind::kConflict);
    EXPECT_EQ(error_of([&] { s.remove("nope"); }).kind(), RuleError::Kind::kNotFound);
  }
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  SamplingRules reloaded(registry(), path);
  SamplingState s = reloaded.state();
  EXPECT_EQ(s.settings, (SamplingSettings{"2s", 100}));
  ASSERT_EQ(s.rules.size(), 1u);
  EXPECT_EQ(s.rules[0], kErrors);
}

}  // namespace
}  // namespace hodos::processors
