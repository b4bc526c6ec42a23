// The filter processor: OTTL conditions on realistic HTTP/DB spans (paths, enums, IsMatch,
// precedence, OTTL's comparison rules, nil), every parse error, span and span-event dropping,
// untouched pass-through, counters and config errors.
#include "processors/filter.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include <spdlog/sinks/ringbuffer_sink.h>

#include "processor_test_util.h"

namespace hodos::processors {
namespace {

using core::AnyValue;
using core::SpanKind;
using core::StatusCode;
using testing::Harness;
using testing::RecordingSink;
using Context = FilterCondition::Context;

// The spans the agent emits for a small shop: an HTTP server, its health check, its database and
// an outgoing HTTP call; plus a span from a second, noisy service.
struct Fixture {
  core::SpanBatch batch;
  core::Resource* shop = nullptr;
  core::Resource* noisy = nullptr;

  Fixture() {
    core::Arena& a = batch.arena();
    shop = batch.new_resource();
    core::upsert_attribute(a, shop->attributes, "service.name", AnyValue::string("shop"));
    core::upsert_attribute(a, shop->attributes, "deployment.environment.name",
                           AnyValue::string("prod"));
    noisy = batch.new_resource();
    core::upsert_attribute(a, noisy->attributes, "service.name", AnyValue::string("noisy"));
    core::Scope* http_scope = batch.new_scope();
    http_scope->name = "hodos.http";
    http_scope->version = "0.4.0";

    add_http_server("GET /health", "/health", 200, StatusCode::kUnset, http_scope);
    add_http_server("GET /users/{id}", "/users/42", 500, StatusCode::kError, http_scope);
    {
      core::Span& s = add("SELECT shop.users", SpanKind::kClient, shop);
      attr(s, "db.system.name", AnyValue::string("postgresql"));
      attr(s, "db.query.text", AnyValue::string("SELECT * FROM users WHERE id = $1"));
      attr(s, "server.address", AnyValue::string("db.internal"));
      attr(s, "server.port", AnyValue::integer(5432));
    }
    {
      core::Span& s = add("POST", SpanKind::kClient, shop);
      attr(s, "http.request.method", AnyValue::string("POST"));
      attr(s, "server.address", AnyValue::string("payments.example.com"));
      attr(s, "http.response.status_code", AnyValue::integer(201));
      attr(s, "http.request.body.size", AnyValue::floating(1536.5));
      attr(s, "retry", AnyValue::boolean(true));
      s.status.code = StatusCode::kOk;
      add_event(s, "exception", "java.net.SocketTimeoutException");
      add_event(s, "retry", "");
      add_event(s, "exception", "java.io.IOException");
    }
    {
      core::Span& s = add("GET /metrics", SpanKind::kServer, noisy);
      attr(s, "url.path", AnyValue::string("/metrics"));
      attr(s, "http.response.status_code", AnyValue::integer(200));
    }
    add("render", SpanKind::kInternal, shop);
  }

  core::Span& add(std::string_view name, SpanKind kind, const core::Resource* r) {
    core::Span s;
    s.trace_id.bytes[0] = 1;
    s.span_id.bytes[0] = static_cast<uint8_t>(batch.size() + 1);
    s.name = name;
    s.kind = kind;
    s.resource = r;
    s.start_time_unix_nano = 1'700'000'000'000'000'000ull;
    s.end_time_unix_nano = s.start_time_unix_nano + 2'000'000;
    batch.spans().push_back(s);
    return batch.spans().back();
  }
  void add_http_server(std::string_view name, std::string_view path, int64_t status,
                       StatusCode code, const core::Scope* scope) {
    core::Span& s = add(name, SpanKind::kServer, shop);
    attr(s, "http.request.method", AnyValue::string("GET"));
    attr(s, "url.path", AnyValue::string(path));
    attr(s, "http.response.status_code", AnyValue::integer(status));
    s.status.code = code;
    s.scope = scope;
  }
  void attr(core::Span& s, std::string_view key, AnyValue v) {
    core::upsert_attribute(batch.arena(), s.attributes, key, v);
  }
  void add_event(core::Span& s, std::string_view name, std::string_view exception_type) {
    core::Event e;
    e.name = name;
    e.time_unix_nano = s.start_time_unix_nano + 1000 * (s.events.size() + 1);
    if (!exception_type.empty()) {
      core::upsert_attribute(batch.arena(), e.attributes, "exception.type",
                             AnyValue::string(exception_type));
    }
    s.events.push_back(batch.arena(), e);
  }
  const core::Span& span(std::string_view name) const {
    for (const core::Span& s : batch.spans()) {
      if (s.name == name) return s;
    }
    ADD_FAILURE() << "no span " << name;
    return batch.spans().front();
  }
};

// Which of the fixture's spans a condition matches, by name, in batch order.
std::vector<std::string> matching(std::string_view condition) {
  Fixture f;
  FilterCondition c = FilterCondition::parse(condition, Context::kSpan);
  std::vector<std::string> out;
  for (const core::Span& s : f.batch.spans()) {
    if (c.matches(s)) out.emplace_back(s.name);
  }
  return out;
}

using Names = std::vector<std::string>;

TEST(FilterCondition, PathsEnumsAndConverters) {
  struct Case {
    const char* condition;
    Names expected;
  };
  const Case cases[] = {
      {R"(attributes["url.path"] == "/health")", {"GET /health"}},
      {R"(resource.attributes["service.name"] == "noisy")", {"GET /metrics"}},
      {R"(name == "render")", {"render"}},
      {R"(span.name == "render")", {"render"}},
      {R"(IsMatch(name, "^GET /"))", {"GET /health", "GET /users/{id}", "GET /metrics"}},
      {R"(IsMatch(name, "^GET /") == false)", {"SELECT shop.users", "POST", "render"}},
      {R"(IsMatch(attributes["db.query.text"], "(?i)^select"))", {"SELECT shop.users"}},
      {"kind == SPAN_KIND_SERVER", {"GET /health", "GET /users/{id}", "GET /metrics"}},
      {"kind == SPAN_KIND_CLIENT", {"SELECT shop.users", "POST"}},
      {"kind == SPAN_KIND_INTERNAL", {"render"}},
      {"kind == 1", {"render"}},
      {"kind == SPAN_KIND_PRODUCER or kind == SPAN_KIND_CONSUMER", {}},
      {"status.code == STATUS_CODE_ERROR", {"GET /users/{id}"}},
      {"status.code == STATUS_CODE_OK", {"POST"}},
      {"status.code != STATUS_CODE_UNSET", {"GET /users/{id}", "POST"}},
      {R"(instrumentation_scope.name == "hodos.http")", {"GET /health", "GET /users/{id}"}},
      {R"(instrumentation_scope.version == "0.4.0")", {"GET /health", "GET /users/{id}"}},
      {R"(instrumentation_scope.name == "")",
       {"SELECT shop.users", "POST", "GET /metrics", "render"}},
      {"end_time_unix_nano > start_time_unix_nano", Names{"GET /health", "GET /users/{id}",
                                                          "SELECT shop.users", "POST",
                                                          "GET /metrics", "render"}},
      {"start_time_unix_nano < 1700000000000000000", {}},
      {R"(IsString(attributes["server.address"]))", {"SELECT shop.users", "POST"}},
      {R"(IsInt(attributes["server.port"]))", {"SELECT shop.users"}},
      {R"(IsDouble(attributes["http.request.body.size"]))", {"POST"}},
      {R"(IsBool(attributes["retry"]))", {"POST"}},
      {R"(attributes["retry"] == true)", {"POST"}},
      {"true", Names{"GET /health", "GET /users/{id}", "SELECT shop.users", "POST",
                     "GET /metrics", "render"}},
      {"false", {}},
      {"not true", {}},
  };
  for (const Case& c : cases) EXPECT_EQ(matching(c.condition), c.expected) << c.condition;
}

TEST(FilterCondition, AndOrNotPrecedence) {
  struct Case {
    const char* condition;
    Names expected;
  };
  const Case cases[] = {
      // and binds tighter than or: (server and 500) or internal.
      {R"(kind == SPAN_KIND_SERVER and attributes["http.response.status_code"] == 500 or )"
       R"(name == "render")",
       {"GET /users/{id}", "render"}},
      // parentheses regroup: server and (500 or render) -> only the 500.
      {R"(kind == SPAN_KIND_SERVER and (attributes["http.response.status_code"] == 500 or )"
       R"(name == "render"))",
       {"GET /users/{id}"}},
      // or then and on the right: render or (server and 500), same set.
      {R"(name == "render" or kind == SPAN_KIND_SERVER and )"
       R"(attributes["http.response.status_code"] == 500)",
       {"GET /users/{id}", "render"}},
      // not binds tightest: (not server) and client.
      {"not kind == SPAN_KIND_SERVER and kind == SPAN_KIND_CLIENT", {"SELECT shop.users", "POST"}},
      // not of a parenthesised or.
      {"not (kind == SPAN_KIND_SERVER or kind == SPAN_KIND_CLIENT)", {"render"}},
      {"not not kind == SPAN_KIND_INTERNAL", {"render"}},
      // The Collector's documented example shape.
      {R"(not (IsMatch(name, "^GET") and kind > 1))", {"SELECT shop.users", "POST", "render"}},
      {R"(((name == "render")))", {"render"}},
  };
  for (const Case& c : cases) EXPECT_EQ(matching(c.condition), c.expected) << c.condition;
}

TEST(FilterCondition, NumbersStringsAndNil) {
  struct Case {
    const char* condition;
    Names expected;
  };
  const Case cases[] = {
      {R"(attributes["http.response.status_code"] >= 500)", {"GET /users/{id}"}},
      {R"(attributes["http.response.status_code"] < 300)", {"GET /health", "POST",
                                                            "GET /metrics"}},
      // An int attribute equals a double literal of the same value: compared as numbers.
      {R"(attributes["http.response.status_code"] == 200.0)", {"GET /health", "GET /metrics"}},
      {R"(attributes["http.request.body.size"] > 1536)", {"POST"}},
      {R"(attributes["http.request.body.size"] <= 1536.5)", {"POST"}},
      // A number never equals its string form, and ordering across types is always false.
      {R"(attributes["http.response.status_code"] == "200")", {}},
      {R"(attributes["http.response.status_code"] > "100")", {}},
      {R"(attributes["server.port"] != "5432")", Names{"GET /health", "GET /users/{id}",
                                                       "SELECT shop.users", "POST",
                                                       "GET /metrics", "render"}},
      // Strings compare bytewise.
      {R"(attributes["url.path"] < "/i")", {"GET /health"}},
      {R"(attributes["url.path"] >= "/metrics")", {"GET /users/{id}", "GET /metrics"}},
      // A missing attribute is nil: only == nil and != anything hold.
      {R"(attributes["db.system.name"] == nil)",
       {"GET /health", "GET /users/{id}", "POST", "GET /metrics", "render"}},
      {R"(attributes["db.system.name"] != nil)", {"SELECT shop.users"}},
      {R"(attributes["absent"] == "")", {}},
      {R"(attributes["absent"] < 1)", {}},
      {R"(attributes["absent"] >= nil)", {}},
      {R"(attributes["absent"] != 1)", Names{"GET /health", "GET /users/{id}",
                                             "SELECT shop.users", "POST", "GET /metrics",
                                             "render"}},
      {R"(IsMatch(attributes["absent"], ".*"))", {}},
      {R"(IsString(attributes["absent"]))", {}},
      // IsMatch renders a non-string target the way OTTL does.
      {R"(IsMatch(attributes["http.response.status_code"], "^5\\d\\d$"))", {"GET /users/{id}"}},
      {R"(IsMatch(attributes["http.request.body.size"], "^1536\\.5$"))", {"POST"}},
      {R"(IsMatch(attributes["retry"], "true"))", {"POST"}},
      {"nil == nil", Names{"GET /health", "GET /users/{id}", "SELECT shop.users", "POST",
                           "GET /metrics", "render"}},
      {"-1 < 0 and +2 > 1 and 0.5 < 1", Names{"GET /health", "GET /users/{id}",
                                              "SELECT shop.users", "POST", "GET /metrics",
                                              "render"}},
  };
  for (const Case& c : cases) EXPECT_EQ(matching(c.condition), c.expected) << c.condition;
}

TEST(FilterCondition, NestedKeysIntoMapsAndLists) {
  core::SpanBatch b;
  core::Arena& a = b.arena();
  core::Span s;
  core::AttrList inner;
  inner.push_back(a, core::KeyValue{"user", AnyValue::string("alice")});
  core::ArenaVector<AnyValue> list;
  list.push_back(a, AnyValue::string("first"));
  list.push_back(a, AnyValue::integer(2));
  s.attributes.push_back(a, core::KeyValue{"auth", AnyValue::kvlist_of(inner)});
  s.attributes.push_back(a, core::KeyValue{"tags", AnyValue::array_of(list)});
  auto check = [&](const char* condition) {
    return FilterCondition::parse(condition, Context::kSpan).matches(s);
  };
  EXPECT_TRUE(check(R"(attributes["auth"]["user"] == "alice")"));
  EXPECT_FALSE(check(R"(attributes["auth"]["nobody"] != nil)"));
  EXPECT_TRUE(check(R"(attributes["tags"][0] == "first")"));
  EXPECT_TRUE(check(R"(attributes["tags"][1] == 2)"));
  EXPECT_TRUE(check(R"(attributes["tags"][2] == nil)"));
  EXPECT_TRUE(check(R"(attributes["tags"][-1] == nil)"));
  EXPECT_TRUE(check(R"(attributes["auth"][0] == nil)"));
  EXPECT_TRUE(check(R"(IsMap(attributes["auth"]) and IsList(attributes["tags"]))"));
  EXPECT_FALSE(check(R"(IsMap(attributes["tags"]))"));
  EXPECT_TRUE(check(R"(IsMatch(attributes["tags"], "first"))"));  // as JSON
  // Maps and lists only know equality; ordering them is false.
  EXPECT_TRUE(check(R"(attributes["auth"] == attributes["auth"])"));
  EXPECT_FALSE(check(R"(attributes["auth"] != attributes["auth"])"));
  EXPECT_FALSE(check(R"(attributes["auth"] <= attributes["auth"])"));
  EXPECT_FALSE(check(R"(attributes["auth"] == attributes["tags"])"));
}

TEST(FilterCondition, MathOnDurationsAndNumbers) {
  struct Case {
    const char* condition;
    Names expected;
  };
  const Names all = {"GET /health", "GET /users/{id}", "SELECT shop.users", "POST",
                     "GET /metrics", "render"};
  const Case cases[] = {
      // Every fixture span lasts 2 ms.
      {"end_time_unix_nano - start_time_unix_nano < 3000000", all},
      {"end_time_unix_nano - start_time_unix_nano == 2000000", all},
      {"end_time_unix_nano - start_time_unix_nano > 2000000", {}},
      {"kind == SPAN_KIND_SERVER and end_time_unix_nano - start_time_unix_nano >= 2 * 1000000",
       {"GET /health", "GET /users/{id}", "GET /metrics"}},
      // '-' after a value subtracts, also without a space; after an operator it signs.
      {"kind -1 == 0", {"render"}},
      {"kind-1 == -1 + 1", {"render"}},
      {R"(attributes["http.response.status_code"] / 100 == 5)", {"GET /users/{id}"}},
      {R"(attributes["http.request.body.size"] * 2.0 == 3073.0)", {"POST"}},
      // Precedence and associativity: * / before + -, left to right; ints divide as in Go.
      {"1 + 2 * 3 == 7", all},
      {"10 - 2 - 3 == 5", all},
      {"8 / 2 / 2 == 2", all},
      {"7 / 2 == 3", all},
      {"-7 / 2 == -3", all},
      {"0.5 + 0.25 == 0.75", all},
      // int64 wraps as in Go instead of being undefined.
      {"9223372036854775807 + 1 == -9223372036854775808", all},
      {"-9223372036854775808 / -1 == -9223372036854775808", all},
      {"-9223372036854775808 - 1 == 9223372036854775807", all},
  };
  for (const Case& c : cases) EXPECT_EQ(matching(c.condition), c.expected) << c.condition;
}

TEST(FilterCondition, MathErrorsAreReportedNotMatched) {
  Fixture f;
  const core::Span& users = f.span("GET /users/{id}");
  struct Case {
    const char* condition;
    const char* error;
  };
  const Case cases[] = {
      {"1 / 0 == 0", "attempted to divide by 0"},
      {"1.5 / 0.0 == 0.0", "attempted to divide by 0"},
      {R"(attributes["http.response.status_code"] + 1.0 > 0)",
       "math cannot mix ints and doubles (write 2.0 for a double)"},
      {R"(attributes["absent"] + 1 > 0)",
       "math needs ints or doubles; a value was nil, a string, bool, list or map"},
      {"name * 2 == 2", "math needs ints or doubles; a value was nil, a string, bool, list or map"},
      // An error anywhere makes the whole condition undecided, even under `or`.
      {"1 / 0 == 0 or true", "attempted to divide by 0"},
      {"not (1 / 0 == 0)", "attempted to divide by 0"},
  };
  for (const Case& c : cases) {
    FilterCondition cond = FilterCondition::parse(c.condition, Context::kSpan);
    const FilterCondition::Outcome o = cond.evaluate(users);
    ASSERT_NE(o.error, nullptr) << c.condition;
    EXPECT_STREQ(o.error, c.error) << c.condition;
    EXPECT_FALSE(cond.matches(users)) << c.condition;
  }
  // Short-circuiting as in OTTL: what is not evaluated cannot fail.
  const FilterCondition::Outcome o =
      FilterCondition::parse("true or 1 / 0 == 0", Context::kSpan).evaluate(users);
  EXPECT_TRUE(o.matched);
  EXPECT_EQ(o.error, nullptr);
}

TEST(FilterCondition, StringEscapes) {
  core::SpanBatch b;
  core::Span s;
  s.name = "say \"hi\"\\now";
  EXPECT_TRUE(FilterCondition::parse(R"(name == "say \"hi\"\\now")", Context::kSpan).matches(s));
  EXPECT_TRUE(FilterCondition::parse(R"(IsMatch(name, "\\\\n"))", Context::kSpan).matches(s));
  s.name = "a\tb\nc";
  EXPECT_TRUE(FilterCondition::parse(R"(name == "a\tb\nc")", Context::kSpan).matches(s));
}

TEST(FilterCondition, SpanEventContext) {
  Fixture f;
  const core::Span& post = f.span("POST");
  ASSERT_EQ(post.events.size(), 3u);
  auto events_matching = [&](const char* condition) {
    FilterCondition c = FilterCondition::parse(condition, Context::kSpanEvent);
    std::vector<size_t> out;
    for (size_t i = 0; i < post.events.size(); ++i) {
      if (c.matches(post, &post.events[i])) out.push_back(i);
    }
    return out;
  };
  using Idx = std::vector<size_t>;
  EXPECT_EQ(events_matching(R"(name == "exception")"), (Idx{0, 2}));
  EXPECT_EQ(events_matching(R"(spanevent.name == "retry")"), (Idx{1}));
  EXPECT_EQ(events_matching(R"(IsMatch(attributes["exception.type"], "Timeout"))"), (Idx{0}));
  EXPECT_EQ(events_matching(R"(span.name == "POST" and time_unix_nano > )"
                            R"(1700000000000002000)"),
            (Idx{2}));
  EXPECT_EQ(events_matching(R"(span.attributes["server.address"] == "payments.example.com")"),
            (Idx{0, 1, 2}));
  EXPECT_EQ(events_matching(R"(resource.attributes["service.name"] == "shop" and )"
                            R"(span.kind == SPAN_KIND_CLIENT and name == "retry")"),
            (Idx{1}));
  // A span-event condition without an event matches nothing.
  EXPECT_FALSE(FilterCondition::parse("true", Context::kSpanEvent).matches(post));
}

TEST(FilterCondition, ParseErrorsNameColumnAndProblem) {
  struct Case {
    Context context;
    const char* condition;
    size_t column;
    const char* message;
  };
  const Case cases[] = {
      {Context::kSpan, "", 1,
       "expected a value (a path such as attributes[\"url.path\"], a literal or a converter), "
       "found the end of the condition"},
      {Context::kSpan, R"(name = "x")", 6, "'=' is not an operator; compare with '=='"},
      {Context::kSpan, R"(name == "a" && kind == 2)", 13, "'&&' is not an operator; use 'and'"},
      {Context::kSpan, R"(name == "a" || kind == 2)", 13, "'||' is not an operator; use 'or'"},
      {Context::kSpan, R"(! name == "a")", 1, "'!' alone is not an operator; use '!=' or 'not'"},
      {Context::kSpan, "name == 'x'", 9, "strings are written in double quotes: \"...\""},
      {Context::kSpan, "name == \"x", 9, "unterminated string; close it with \""},
      {Context::kSpan, R"(name == "a\d")", 11,
       R"(unknown escape '\d' in string; write \\ for a backslash (a regex \d is "\\d"))"},
      {Context::kSpan, "name == #", 9, "unexpected character '#'"},
      {Context::kSpan, "kind == 99999999999999999999", 9,
       "integer '99999999999999999999' does not fit in 64 bits"},
      {Context::kSpan, R"(attributes["url.path"])", 23,
       "expected a comparison operator (==, !=, <, <=, >, >=), found the end of the condition"},
      {Context::kSpan, R"("/health" and true)", 11,
       "expected a comparison operator (==, !=, <, <=, >, >=), found 'and'"},
      {Context::kSpan, R"(name == "a" kind == 2)", 13,
       "expected 'and', 'or' or the end of the condition, found 'kind'"},
      {Context::kSpan, R"(name == "a"))", 12, "unmatched ')'"},
      {Context::kSpan, R"((name == "a")", 13, "expected ')', found the end of the condition"},
      {Context::kSpan, "name ==", 8,
       "expected a value (a path such as attributes[\"url.path\"], a literal or a converter), "
       "found the end of the condition"},
      {Context::kSpan, "name == and", 9, "expected a value, found the keyword 'and'"},
      {Context::kSpan, R"(nme == "x")", 1,
       "unknown path 'nme'; use name, kind, status.code, status.message, trace_state, "
       "start_time_unix_nano, end_time_unix_nano, attributes, resource.attributes, "
       "instrumentation_scope.name, instrumentation_scope.version, "
       "instrumentation_scope.attributes"},
      {Context::kSpanEvent, "kind == 2", 1,
       "unknown path 'kind'; use name, time_unix_nano, attributes, resource.attributes, "
       "instrumentation_scope.name, instrumentation_scope.version, "
       "instrumentation_scope.attributes, span.name, span.kind, span.status.code, "
       "span.status.message, span.trace_state, span.start_time_unix_nano, "
       "span.end_time_unix_nano, span.attributes"},
      {Context::kSpan, "status. == 1", 9, "expected a field name after '.', found '=='"},
      {Context::kSpan, "kind == SPAN_KIND_SEVRER", 9,
       "unknown enum 'SPAN_KIND_SEVRER'; use SPAN_KIND_UNSPECIFIED, SPAN_KIND_INTERNAL, "
       "SPAN_KIND_SERVER, SPAN_KIND_CLIENT, SPAN_KIND_PRODUCER, SPAN_KIND_CONSUMER, "
       "STATUS_CODE_UNSET, STATUS_CODE_OK, STATUS_CODE_ERROR"},
      {Context::kSpan, R"(IsMach(name, "x"))", 1,
       "unknown function 'IsMach'; conditions can call IsMatch, IsString, IsInt, IsDouble, "
       "IsBool, IsMap, IsList"},
      {Context::kSpan, R"(set(name, "x"))", 1,
       "unknown function 'set'; conditions can call IsMatch, IsString, IsInt, IsDouble, "
       "IsBool, IsMap, IsList"},
      {Context::kSpan, "IsMatch(name)", 13,
       "IsMatch takes 2 arguments (target, \"regex\"), found 1"},
      {Context::kSpan, "IsString()", 10, "IsString takes 1 argument, found 0"},
      {Context::kSpan, R"(IsMatch(name, "a" "b"))", 19, "expected ',' or ')', found '\"b\"'"},
      {Context::kSpan, R"(IsMatch(name, attributes["re"]))", 15,
       "IsMatch's pattern must be a string literal, e.g. \"^GET /health\""},
      {Context::kSpan, R"(IsMatch(name, "(unclosed"))", 15,
       "invalid regular expression \"(unclosed\": missing ): (unclosed"},
      {Context::kSpan, "attributes == nil", 12,
       "'attributes' needs a key, e.g. attributes[\"http.route\"]"},
      {Context::kSpan, "attributes[url] == nil", 12,
       "expected a key in double quotes, e.g. attributes[\"url.path\"], found 'url'"},
      {Context::kSpan, "attributes[0] == nil", 12,
       "expected a key in double quotes, e.g. attributes[\"url.path\"], found '0'"},
      {Context::kSpan, R"(attributes["a" == nil)", 16, "expected ']', found '=='"},
      {Context::kSpan, R"(name["a"] == nil)", 5, "'name' has no keys to index"},
      {Context::kSpan, "1 < 2 < 3", 7,
       "expected 'and', 'or' or the end of the condition, found '<'"},
      {Context::kSpan, "kind + == 1", 8,
       "expected a value (a path such as attributes[\"url.path\"], a literal or a converter), "
       "found '=='"},
      {Context::kSpan, "kind * * 2 == 1", 8,
       "expected a value (a path such as attributes[\"url.path\"], a literal or a converter), "
       "found '*'"},
      {Context::kSpan, "kind + 1", 9,
       "expected a comparison operator (==, !=, <, <=, >, >=), found the end of the condition"},
      // Math takes no parentheses: a '(' groups booleans.
      {Context::kSpan, "(end_time_unix_nano - start_time_unix_nano) > 5", 43,
       "expected a comparison operator (==, !=, <, <=, >, >=), found ')'"},
  };
  for (const Case& c : cases) {
    try {
      FilterCondition::parse(c.condition, c.context);
      ADD_FAILURE() << "parsed: " << c.condition;
    } catch (const FilterCondition::ParseError& e) {
      EXPECT_EQ(e.column, c.column) << c.condition;
      EXPECT_EQ(e.message, c.message) << c.condition;
    }
  }
}

TEST(FilterCondition, DeepNestingIsAnErrorNotACrash) {
  const std::string deep = std::string(10000, '(') + "true" + std::string(10000, ')');
  EXPECT_THROW(FilterCondition::parse(deep, Context::kSpan), FilterCondition::ParseError);
  const std::string nots = [] {
    std::string s;
    for (int i = 0; i < 10000; ++i) s += "not ";
    return s + "true";
  }();
  EXPECT_THROW(FilterCondition::parse(nots, Context::kSpan), FilterCondition::ParseError);
  std::string calls;
  for (int i = 0; i < 10000; ++i) calls += "IsInt(";
  EXPECT_THROW(FilterCondition::parse(calls + "1" + std::string(10000, ')'), Context::kSpan),
               FilterCondition::ParseError);
  const std::string ok = std::string(20, '(') + "true" + std::string(20, ')');
  EXPECT_NO_THROW(FilterCondition::parse(ok, Context::kSpan));
}

TEST(FilterCondition, LongChainsAreBoundedForTheStack) {
  std::string sum = "0";
  for (int i = 0; i < 5000; ++i) sum += " + 1";
  try {
    FilterCondition::parse(sum + " == 5000", Context::kSpan);
    ADD_FAILURE() << "a 10000-part condition parsed";
  } catch (const FilterCondition::ParseError& e) {
    EXPECT_EQ(e.message,
              "condition too long (over 1000 parts); split it into several conditions: any one "
              "that matches drops the span");
  }
  std::string ors = "false";
  for (int i = 0; i < 300; ++i) ors += " or false";
  core::Span s;
  EXPECT_FALSE(FilterCondition::parse(ors, Context::kSpan).matches(s));
  EXPECT_TRUE(FilterCondition::parse(ors + " or true", Context::kSpan).matches(s));
}

// Every prefix of valid conditions either parses or fails with a ParseError inside the text.
TEST(FilterCondition, TruncatedConditionsFailCleanly) {
  const std::string conditions[] = {
      R"(not (IsMatch(attributes["url.path"], "^/health\\b") and kind == SPAN_KIND_SERVER))",
      R"(resource.attributes["service.name"] == "noisy" or status.code != STATUS_CODE_ERROR)",
      R"(attributes["tags"][1] >= -2.5)",
  };
  for (const std::string& full : conditions) {
    EXPECT_NO_THROW(FilterCondition::parse(full, Context::kSpan)) << full;
    for (size_t n = 0; n < full.size(); ++n) {
      const std::string prefix = full.substr(0, n);
      try {
        FilterCondition::parse(prefix, Context::kSpan);
      } catch (const FilterCondition::ParseError& e) {
        EXPECT_GE(e.column, 1u) << prefix;
        EXPECT_LE(e.column, prefix.size() + 1) << prefix;
        EXPECT_FALSE(e.message.empty());
      }
    }
  }
}

// Random sequences of condition tokens (and random bytes): the parser must either accept them or
// throw a ParseError pointing inside the text, and whatever it accepts must evaluate on real spans.
// Deterministic; run under ASan this is a small in-tree fuzzer.
TEST(FilterCondition, RandomTokenSoupNeverCrashes) {
  const std::vector<std::string> vocabulary = {
      "name", "kind", "status.code", "attributes[\"url.path\"]", "attributes[\"tags\"][1]",
      "resource.attributes[\"service.name\"]", "span.name", "instrumentation_scope.name",
      "==", "!=", "<", "<=", ">", ">=", "and", "or", "not", "(", ")", "[", "]", ".", ",",
      "\"x\"", "\"/health\"", "1", "-2", "2.5", "nil", "true", "false", "SPAN_KIND_SERVER",
      "STATUS_CODE_ERROR", "IsMatch(", "IsInt(", "\"^G\"", "\"(\"", "\"", "\\", "=", "!", "&&",
      "+", "-", "*", "/", "0", "end_time_unix_nano",
  };
  std::mt19937 rng(20261201);
  Fixture f;
  size_t parsed = 0;
  for (int round = 0; round < 20000; ++round) {
    std::string text;
    const int n = static_cast<int>(rng() % 12);
    for (int i = 0; i < n; ++i) {
      text += vocabulary[rng() % vocabulary.size()];
      if (rng() % 3 != 0) text += ' ';
    }
    if (rng() % 8 == 0 && !text.empty()) text[rng() % text.size()] = static_cast<char>(rng());
    for (Context context : {Context::kSpan, Context::kSpanEvent}) {
      try {
        FilterCondition c = FilterCondition::parse(text, context);
        ++parsed;
        for (const core::Span& s : f.batch.spans()) {
          c.matches(s, s.events.empty() ? nullptr : &s.events[0]);
        }
      } catch (const FilterCondition::ParseError& e) {
        ASSERT_GE(e.column, 1u) << text;
        ASSERT_LE(e.column, text.size() + 1) << text;
        ASSERT_FALSE(e.message.empty()) << text;
      }
    }
  }
  EXPECT_GT(parsed, 100u) << "the soup should contain some valid conditions";
}

// ---------------------------------------------------------------------------------------------
// The processor

class FilterProcessorTest : public ::testing::Test {
 protected:
  // The names of the spans that reach the next consumer.
  Names run(const std::string& yaml, core::SpanBatch batch) {
    auto p = h_.create(*factory_, yaml, sink_);
    EXPECT_TRUE(p->consume(std::move(batch)).is_ok());
    Names out;
    for (core::SpanBatch& b : sink_.batches()) {
      EXPECT_FALSE(b.empty()) << "an emptied batch is not sent on";
      for (const core::Span& s : b.spans()) out.emplace_back(s.name);
    }
    return out;
  }
  double spans_dropped() {
    return h_.metrics.value("hodos_processor_filter_spans_dropped_total",
                            {{"processor", "filter"}});
  }
  double events_dropped() {
    return h_.metrics.value("hodos_processor_filter_span_events_dropped_total",
                            {{"processor", "filter"}});
  }

  Harness h_;
  RecordingSink sink_;
  std::unique_ptr<pipeline::ProcessorFactory> factory_ = make_filter_processor_factory();
};

TEST_F(FilterProcessorTest, DropsHealthChecks) {
  Fixture f;
  EXPECT_EQ(run(R"(
error_mode: ignore
traces:
  span:
    - 'attributes["url.path"] == "/health"'
)",
                std::move(f.batch)),
            (Names{"GET /users/{id}", "SELECT shop.users", "POST", "GET /metrics", "render"}));
  EXPECT_EQ(spans_dropped(), 1);
  EXPECT_EQ(events_dropped(), 0);
}

TEST_F(FilterProcessorTest, AnyConditionDropsTheSpan) {
  Fixture f;
  EXPECT_EQ(run(R"(
traces:
  span:
    - 'resource.attributes["service.name"] == "noisy"'
    - 'IsMatch(attributes["url.path"], "^/(health|ready)$")'
    - 'kind == SPAN_KIND_INTERNAL'
)",
                std::move(f.batch)),
            (Names{"GET /users/{id}", "SELECT shop.users", "POST"}));
  EXPECT_EQ(spans_dropped(), 3);
}

TEST_F(FilterProcessorTest, DroppingASpanDropsItsEventsAndLinksWithIt) {
  Fixture f;
  core::Span& post = f.batch.spans()[3];
  ASSERT_EQ(post.name, "POST");
  core::Link link;
  link.trace_id.bytes[0] = 9;
  post.links.push_back(f.batch.arena(), link);
  EXPECT_EQ(run(R"(
traces:
  span: ['name == "POST"']
  spanevent: ['name == "exception"']
)",
                std::move(f.batch)),
            (Names{"GET /health", "GET /users/{id}", "SELECT shop.users", "GET /metrics",
                   "render"}));
  EXPECT_EQ(spans_dropped(), 1);
  EXPECT_EQ(events_dropped(), 0) << "events go with their span; the event condition is not run";
}

TEST_F(FilterProcessorTest, NothingMatchesPassesTheBatchUntouched) {
  Fixture f;
  std::vector<core::Span> before = f.batch.spans();
  const core::Event* events_before = f.span("POST").events.data();
  const size_t arena_bytes = f.batch.arena_bytes();
  auto p = h_.create(*factory_, R"(
traces:
  span: ['attributes["url.path"] == "/nothing"', 'status.code == 7']
  spanevent: ['name == "nothing"']
)",
                     sink_);
  ASSERT_TRUE(p->consume(std::move(f.batch)).is_ok());
  ASSERT_EQ(sink_.batches().size(), 1u);
  const core::SpanBatch& out = sink_.batches()[0];
  ASSERT_EQ(out.size(), before.size());
  for (size_t i = 0; i < before.size(); ++i) {
    EXPECT_EQ(out.spans()[i].span_id, before[i].span_id);
    EXPECT_EQ(out.spans()[i].attributes.data(), before[i].attributes.data());
    EXPECT_EQ(out.spans()[i].events.data(), before[i].events.data());
    EXPECT_EQ(out.spans()[i].events.size(), before[i].events.size());
  }
  EXPECT_EQ(out.spans()[3].events.data(), events_before);
  EXPECT_EQ(out.arena_bytes(), arena_bytes) << "nothing was allocated";
  EXPECT_EQ(spans_dropped(), 0);
  EXPECT_EQ(events_dropped(), 0);
}

TEST_F(FilterProcessorTest, EverySpanDroppedSendsNothing) {
  Fixture f;
  EXPECT_EQ(run("traces: {span: ['true']}", std::move(f.batch)), Names{});
  EXPECT_TRUE(sink_.batches().empty());
  EXPECT_EQ(spans_dropped(), 6);
}

TEST_F(FilterProcessorTest, EmptyBatchIsPassedOn) {
  auto p = h_.create(*factory_, "traces: {span: ['true']}", sink_);
  ASSERT_TRUE(p->consume(core::SpanBatch()).is_ok());
  EXPECT_EQ(sink_.batches().size(), 1u) << "as every processor does, an empty batch goes on";
  EXPECT_EQ(spans_dropped(), 0);
}

TEST_F(FilterProcessorTest, DropsSpanEventsWithoutTouchingASharedCopy) {
  Fixture f;
  core::SpanBatch other = f.batch.share();  // what a fan-out hands another consumer
  auto p = h_.create(*factory_, R"(
traces:
  spanevent:
    - 'name == "exception" and IsMatch(attributes["exception.type"], "Timeout")'
    - 'name == "retry"'
)",
                     sink_);
  ASSERT_TRUE(p->consume(std::move(f.batch)).is_ok());
  ASSERT_EQ(sink_.batches().size(), 1u);
  const core::SpanBatch& out = sink_.batches()[0];
  ASSERT_EQ(out.size(), 6u) << "a span whose events were dropped stays";
  const core::Span& post = out.spans()[3];
  ASSERT_EQ(post.events.size(), 1u);
  EXPECT_EQ(post.events[0].name, "exception");
  EXPECT_EQ(core::find_attribute(post.events[0].attributes, "exception.type")->str,
            "java.io.IOException");
  EXPECT_EQ(events_dropped(), 2);
  EXPECT_EQ(spans_dropped(), 0);
  // The shared copy still has all three events, in order.
  const core::Span& shared_post = other.spans()[3];
  ASSERT_EQ(shared_post.events.size(), 3u);
  EXPECT_EQ(shared_post.events[0].name, "exception");
  EXPECT_EQ(shared_post.events[1].name, "retry");
  EXPECT_EQ(shared_post.events[2].name, "exception");
  EXPECT_FALSE(p->mutates_data());
}

TEST_F(FilterProcessorTest, DroppingEveryEventKeepsTheSpan) {
  Fixture f;
  EXPECT_EQ(run("traces: {spanevent: ['true']}", std::move(f.batch)).size(), 6u);
  EXPECT_TRUE(sink_.batches()[0].spans()[3].events.empty());
  EXPECT_EQ(events_dropped(), 3);
}

TEST_F(FilterProcessorTest, CountersAccumulateAcrossBatches) {
  auto p = h_.create(*factory_, "traces: {span: ['kind == SPAN_KIND_SERVER']}", sink_);
  for (int i = 0; i < 3; ++i) {
    Fixture f;
    ASSERT_TRUE(p->consume(std::move(f.batch)).is_ok());
  }
  EXPECT_EQ(spans_dropped(), 9);
  EXPECT_EQ(sink_.span_count(), 9u);
  EXPECT_NE(h_.metrics.render_prometheus().find(
                "hodos_processor_filter_spans_dropped_total{processor=\"filter\"} 9"),
            std::string::npos);
}

// A condition that fails at run time (here: a division by a zero attribute on every span).
constexpr const char* kFailingConditions = R"(
traces:
  span:
    - 'attributes["http.response.status_code"] / attributes["zero"] > 1'
    - 'name == "render"'
)";

TEST_F(FilterProcessorTest, ErrorModePropagateRefusesTheBatch) {
  Fixture f;
  for (core::Span& s : f.batch.spans()) f.attr(s, "zero", AnyValue::integer(0));
  auto p = h_.create(*factory_, kFailingConditions, sink_);
  const pipeline::Status st = p->consume(std::move(f.batch));
  EXPECT_TRUE(st.is_permanent());
  EXPECT_EQ(st.message(),
            "filter: traces.span[0]: attempted to divide by 0 (and 5 more errors in this batch)");
  EXPECT_TRUE(sink_.batches().empty());
  EXPECT_EQ(h_.metrics.value("hodos_processor_filter_condition_errors_total",
                             {{"processor", "filter"}}),
            6);
  EXPECT_EQ(spans_dropped(), 0);
}

TEST_F(FilterProcessorTest, ErrorModeIgnoreAndSilentTreatAnErrorAsNoMatch) {
  for (const char* mode : {"ignore", "silent"}) {
    SCOPED_TRACE(mode);
    auto lines = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(16);
    h_.logger = std::make_shared<spdlog::logger>("filter-test", lines);
    RecordingSink sink;
    auto p = h_.create(*factory_, fmt::format("error_mode: {}{}", mode, kFailingConditions), sink);
    Fixture f;
    for (core::Span& s : f.batch.spans()) f.attr(s, "zero", AnyValue::integer(0));
    ASSERT_TRUE(p->consume(std::move(f.batch)).is_ok());
    ASSERT_EQ(sink.batches().size(), 1u);
    Names names;
    for (const core::Span& s : sink.batches()[0].spans()) names.emplace_back(s.name);
    EXPECT_EQ(names, (Names{"GET /health", "GET /users/{id}", "SELECT shop.users", "POST",
                            "GET /metrics"}))
        << "the failing condition matched nothing; the next one still dropped render";
    const std::vector<std::string> logged = lines->last_formatted();
    if (std::string_view(mode) == "ignore") {
      ASSERT_EQ(logged.size(), 1u) << "one warning per batch, not per span";
      EXPECT_NE(logged[0].find("filter: 6 condition errors in a batch, treated as no match; "
                               "first: traces.span[0]: attempted to divide by 0"),
                std::string::npos)
          << logged[0];
    } else {
      EXPECT_TRUE(logged.empty());
    }
  }
  EXPECT_EQ(h_.metrics.value("hodos_processor_filter_condition_errors_total",
                             {{"processor", "filter"}}),
            12);
  EXPECT_EQ(spans_dropped(), 2);
}

TEST_F(FilterProcessorTest, SpanEventErrorsFollowTheErrorModeToo) {
  Fixture f;
  auto p = h_.create(*factory_, "traces: {spanevent: ['time_unix_nano / 0 > 1']}", sink_);
  const pipeline::Status st = p->consume(std::move(f.batch));
  EXPECT_TRUE(st.is_permanent());
  EXPECT_EQ(st.message(),
            "filter: traces.spanevent[0]: attempted to divide by 0 (and 2 more errors in this "
            "batch)");
}

TEST_F(FilterProcessorTest, ConfigErrors) {
  struct Case {
    const char* yaml;
    const char* error;
  };
  const Case cases[] = {
      {"traces: {span: ['name == \"a\"', 'attributes[\"url.path\"] = \"/health\"']}",
       "processors.filter.traces.span[1]: at column 24: '=' is not an operator; compare with "
       "'=='"},
      {"traces: {spanevent: ['kind == 2']}",
       "processors.filter.traces.spanevent[0]: at column 1: unknown path 'kind'; use name, "
       "time_unix_nano, attributes, resource.attributes, instrumentation_scope.name, "
       "instrumentation_scope.version, instrumentation_scope.attributes, span.name, span.kind, "
       "span.status.code, span.status.message, span.trace_state, span.start_time_unix_nano, "
       "span.end_time_unix_nano, span.attributes"},
      {"error_mode: loud\ntraces: {span: ['true']}",
       "processors.filter.error_mode: unknown error_mode 'loud'; use ignore, propagate or silent"},
      {"", "processors.filter.traces: set at least one condition under traces.span or "
           "traces.spanevent, e.g. span: ['attributes[\"url.path\"] == \"/health\"']"},
      {"traces: {span: []}",
       "processors.filter.traces: set at least one condition under traces.span or "
       "traces.spanevent, e.g. span: ['attributes[\"url.path\"] == \"/health\"']"},
      {"traces: {spans: ['true']}",
       "processors.filter.traces.spans: unknown key; valid keys are: span, spanevent"},
      {"traces: {span: 'true'}", "processors.filter.traces.span: expected a list of strings"},
      {"traces: ['true']", "processors.filter.traces: expected a mapping of settings"},
      {"traces: {span: ['true']}\nextra: 1",
       "processors.filter.extra: unknown key; valid keys are: error_mode, traces"},
      {"spans: {include: {match_type: strict, services: [noisy]}}",
       "processors.filter.spans: the legacy include/exclude matching is not supported; write it "
       "as an OTTL condition under traces.span, e.g. traces: {span: "
       "['resource.attributes[\"service.name\"] == \"noisy\"']}"},
      {"metrics: {metric: ['true']}",
       "processors.filter.metrics: Hodos pipelines carry traces only; use traces.span or "
       "traces.spanevent"},
      {"logs: {log_record: ['true']}",
       "processors.filter.logs: Hodos pipelines carry traces only; use traces.span or "
       "traces.spanevent"},
  };
  for (const Case& c : cases) EXPECT_EQ(h_.config_error(*factory_, c.yaml), c.error) << c.yaml;
  for (const char* mode : {"ignore", "propagate", "silent"}) {
    EXPECT_EQ(h_.config_error(*factory_, fmt::format("error_mode: {}\ntraces: {{span: ['true']}}",
                                                     mode)),
              "")
        << mode;
  }
}

}  // namespace
}  // namespace hodos::processors
