// The span_template processor: URL templates on the agent's HTTP spans, regex renames, IN-list
// collapsing in db.query.text, rule matching, counters and config errors.
#include "processors/span_template.h"

#include <gtest/gtest.h>

#include "agent/span_builder.h"
#include "processor_test_util.h"

namespace hodos::processors {
namespace {

using core::AnyValue;
using core::SpanKind;
using core::ValueType;
using span_templating::collapse_placeholder_lists;
using testing::Harness;
using testing::RecordingSink;

struct HttpSpec {
  std::string service;
  SpanKind kind;
  std::string method;  // as on the wire
  std::string path;
};

// An HTTP span as the agent's span builder makes it: the name from the agent's own templating,
// http.request.method (or _OTHER), url.path, status, server.address.
core::Span http_span(core::SpanBatch& b, const HttpSpec& spec) {
  core::Arena& a = b.arena();
  core::Resource* r = b.new_resource();
  core::upsert_attribute(a, r->attributes, "service.name", AnyValue::string(spec.service));
  core::Span s;
  s.trace_id.bytes[0] = 1;
  s.span_id.bytes[0] = static_cast<uint8_t>(b.size() + 1);
  s.kind = spec.kind;
  s.name = a.copy(agent::http_span_name(spec.method, spec.path));
  s.resource = r;
  const bool known = spec.method == "GET" || spec.method == "POST" || spec.method == "DELETE";
  core::upsert_attribute(a, s.attributes, "http.request.method",
                         AnyValue::string(known ? spec.method : "_OTHER"));
  core::upsert_attribute(a, s.attributes, "url.path", AnyValue::string(a.copy(spec.path)));
  core::upsert_attribute(a, s.attributes, "http.response.status_code", AnyValue::integer(200));
  core::upsert_attribute(a, s.attributes, "server.address", AnyValue::string("shop.internal"));
  return s;
}

core::Span db_span(core::SpanBatch& b, std::string_view service, std::string_view name,
                   std::string_view query) {
  core::Arena& a = b.arena();
  core::Resource* r = b.new_resource();
  core::upsert_attribute(a, r->attributes, "service.name", AnyValue::string(service));
  core::Span s;
  s.kind = SpanKind::kClient;
  s.name = name;
  s.resource = r;
  core::upsert_attribute(a, s.attributes, "db.system.name", AnyValue::string("postgresql"));
  core::upsert_attribute(a, s.attributes, "db.query.text", AnyValue::string(query));
  return s;
}

class SpanTemplateTest : public ::testing::Test {
 protected:
  core::SpanBatch run(const std::string& yaml, core::SpanBatch batch) {
    RecordingSink sink;
    auto p = h_.create(*factory_, yaml, sink);
    EXPECT_TRUE(p->mutates_data());
    EXPECT_TRUE(p->consume(std::move(batch)).is_ok());
    EXPECT_EQ(sink.batches().size(), 1u);
    return std::move(sink.batches()[0]);
  }
  // The one span that comes out of `yaml` applied to `spec`.
  core::SpanBatch run_one(const std::string& yaml, const HttpSpec& spec) {
    core::SpanBatch b;
    b.spans().push_back(http_span(b, spec));
    return run(yaml, std::move(b));
  }
  static std::string str(const core::Span& s, std::string_view key) {
    const AnyValue* v = core::find_attribute(s.attributes, key);
    if (!v) return "<absent>";
    EXPECT_EQ(v->type, ValueType::kString) << key;
    return std::string(v->str);
  }
  double renamed() {
    return h_.metrics.value("hodos_processor_span_template_renamed_total",
                            {{"processor", "span_template"}});
  }

  Harness h_;
  std::unique_ptr<pipeline::ProcessorFactory> factory_ = make_span_template_processor_factory();
};

const std::string kShopTemplates = R"(
rules:
  - match: {services: [shop], span_kinds: [server, client]}
    url_templates:
      - /users/{id}/orders/{order}
      - /users/{id}/orders/*
      - /users/{id}
      - /static/*
      - /
)";

TEST_F(SpanTemplateTest, UrlTemplatesTable) {
  struct Case {
    HttpSpec spec;
    std::string name;   // expected span name
    std::string route;  // expected http.route / url.template, or <absent>
  };
  const std::vector<Case> cases = {
      {{"shop", SpanKind::kServer, "GET", "/users/123/orders/9"},
       "GET /users/{id}/orders/{order}",
       "/users/{id}/orders/{order}"},
      {{"shop", SpanKind::kServer, "GET", "/users/alice/orders/9/"},
       "GET /users/{id}/orders/{order}",
       "/users/{id}/orders/{order}"},  // one trailing slash ignored
      // First matching template wins: the * template only gets what {order} did not take.
      {{"shop", SpanKind::kServer, "DELETE", "/users/7/orders/9/items/3"},
       "DELETE /users/{id}/orders/*",
       "/users/{id}/orders/*"},
      {{"shop", SpanKind::kServer, "POST", "/users/7"}, "POST /users/{id}", "/users/{id}"},
      {{"shop", SpanKind::kServer, "GET", "/static/css/site.v3.css"}, "GET /static/*", "/static/*"},
      {{"shop", SpanKind::kServer, "GET", "/static"}, "GET /static/*", "/static/*"},
      {{"shop", SpanKind::kServer, "GET", "/"}, "GET /", "/"},
      // A method outside RFC 9110 is _OTHER on the span: named HTTP, as the agent does.
      {{"shop", SpanKind::kServer, "PURGE", "/users/7"}, "HTTP /users/{id}", "/users/{id}"},
      // Client spans get url.template (http.route is a server attribute).
      {{"shop", SpanKind::kClient, "GET", "/users/42"}, "GET /users/{id}", "/users/{id}"},
  };
  for (const Case& c : cases) {
    core::SpanBatch out = run_one(kShopTemplates, c.spec);
    const core::Span& s = out.spans()[0];
    EXPECT_EQ(s.name, c.name) << c.spec.path;
    const bool server = c.spec.kind == SpanKind::kServer;
    EXPECT_EQ(str(s, server ? "http.route" : "url.template"), c.route) << c.spec.path;
    EXPECT_EQ(str(s, server ? "url.template" : "http.route"), "<absent>") << c.spec.path;
    EXPECT_EQ(str(s, "url.path"), c.spec.path) << "url.path is kept as it was";
  }
}

TEST_F(SpanTemplateTest, NoMatchLeavesTheSpanUntouched) {
  const std::vector<HttpSpec> specs = {
      {"shop", SpanKind::kServer, "GET", "/users"},                   // too short for {id}
      {"shop", SpanKind::kServer, "GET", "/users//orders/9"},         // empty segment is no {id}
      {"shop", SpanKind::kServer, "GET", "/users/1/orders/9/x/../"},  // matched by * though
      {"shop", SpanKind::kServer, "GET", "/Users/1"},                 // literals are case-sensitive
      {"shop", SpanKind::kServer, "GET", "/users/1/profile"},         // no template has /profile
      {"billing", SpanKind::kServer, "GET", "/users/1"},              // other service
      {"shop", SpanKind::kInternal, "GET", "/users/1"},               // other kind
  };
  for (size_t i = 0; i < specs.size(); ++i) {
    core::SpanBatch in;
    in.spans().push_back(http_span(in, specs[i]));
    const std::string_view name_before = in.spans()[0].name;
    const size_t attrs_before = in.spans()[0].attributes.size();
    core::SpanBatch out = run(kShopTemplates, std::move(in));
    const core::Span& s = out.spans()[0];
    if (i == 2) {
      EXPECT_EQ(s.name, "GET /users/{id}/orders/*");
      continue;
    }
    EXPECT_EQ(s.name.data(), name_before.data()) << specs[i].path << ": name not even copied";
    EXPECT_EQ(s.attributes.size(), attrs_before) << specs[i].path;
  }
  EXPECT_EQ(renamed(), 1);
}

TEST_F(SpanTemplateTest, FirstMatchingRuleTemplatesAndLaterRulesStillRename) {
  core::SpanBatch b;
  b.spans().push_back(http_span(b, {"shop", SpanKind::kServer, "GET", "/api/v2/items/55"}));
  b.spans().push_back(http_span(b, {"shop", SpanKind::kServer, "GET", "/health"}));
  core::SpanBatch out = run(R"(
rules:
  - url_templates: ['/api/{version}/items/{item}']
  - url_templates: ['/api/*']        # never reached for a span the first rule templated
  - rename:
      - {pattern: '^GET /health$', name: 'health check'}
      - {pattern: '^(\w+) /api/\{version\}/(.*)$', name: '\1 /api/\2'}
)",
                            std::move(b));
  EXPECT_EQ(out.spans()[0].name, "GET /api/items/{item}");
  EXPECT_EQ(str(out.spans()[0], "http.route"), "/api/{version}/items/{item}");
  EXPECT_EQ(out.spans()[1].name, "health check");
  EXPECT_EQ(str(out.spans()[1], "http.route"), "<absent>");
  EXPECT_EQ(renamed(), 2);
}

TEST_F(SpanTemplateTest, RenameFromAttributeAndRestrictedByKind) {
  core::SpanBatch b;
  core::Span rpc = http_span(b, {"shop", SpanKind::kServer, "POST", "/rpc"});
  core::upsert_attribute(b.arena(), rpc.attributes, "rpc.method", AnyValue::string("GetCart"));
  b.spans().push_back(rpc);
  core::Span client = http_span(b, {"shop", SpanKind::kClient, "POST", "/rpc"});
  core::upsert_attribute(b.arena(), client.attributes, "rpc.method", AnyValue::string("Pay"));
  b.spans().push_back(client);
  b.spans().push_back(http_span(b, {"shop", SpanKind::kServer, "POST", "/other"}));
  core::SpanBatch out = run(R"(
rules:
  - match: {span_kinds: [SPAN_KIND_SERVER]}
    rename:
      - {from_attribute: rpc.method, pattern: '^([A-Z]\w*)$', name: 'rpc \1'}
)",
                            std::move(b));
  EXPECT_EQ(out.spans()[0].name, "rpc GetCart");
  EXPECT_EQ(out.spans()[1].name, "POST /rpc") << "client spans are not in the match";
  EXPECT_EQ(out.spans()[2].name, "POST /other") << "no rpc.method attribute";
  EXPECT_EQ(renamed(), 1);
}

TEST(SpanTemplateQueries, CollapsesInListsOfPlaceholders) {
  struct Case {
    const char* in;
    const char* out;  // "" when unchanged
  };
  const Case cases[] = {
      {"SELECT * FROM users WHERE id IN (?, ?, ?)", "SELECT * FROM users WHERE id IN (?)"},
      {"SELECT * FROM t WHERE a in(?,?) AND b NOT IN ( ? , ? ) LIMIT ?",
       "SELECT * FROM t WHERE a in(?) AND b NOT IN (?) LIMIT ?"},
      {"DELETE FROM t WHERE id IN ($1, $2, $3)", "DELETE FROM t WHERE id IN (?)"},
      {"SELECT * FROM t WHERE id IN (?)", ""},          // already one
      {"INSERT INTO t (a, b) VALUES (?, ?)", ""},       // not an IN list
      {"SELECT f(?, ?) FROM t", ""},                    // a call
      {"SELECT * FROM t WHERE id IN (?, 5)", ""},       // not only placeholders
      {"SELECT * FROM t WHERE id IN (?, ?, ?...", ""},  // cut by max length
      {"SELECT * FROM join_in (?, ?)", ""},             // IN inside a word
      {"SELECT * FROM t WHERE id IN (SELECT id FROM u WHERE x IN (?, ?))",
       "SELECT * FROM t WHERE id IN (SELECT id FROM u WHERE x IN (?))"},
  };
  for (const Case& c : cases) EXPECT_EQ(collapse_placeholder_lists(c.in), c.out) << c.in;
  // Every prefix of a collapsible text: never a crash, never a longer text.
  const std::string text = "SELECT a FROM t WHERE id IN ( ?, $12 ,? ) OR b IN (?,?)";
  for (size_t n = 0; n <= text.size(); ++n) {
    EXPECT_LE(collapse_placeholder_lists(text.substr(0, n)).size(), n);
  }
}

TEST_F(SpanTemplateTest, DbQueryTemplatesRewriteTheAttributeOnly) {
  core::SpanBatch b;
  b.spans().push_back(
      db_span(b, "shop", "SELECT users", "SELECT name FROM users WHERE id IN (?, ?, ?, ?)"));
  b.spans().push_back(
      db_span(b, "billing", "SELECT users", "SELECT * FROM users WHERE id IN (?, ?)"));
  b.spans().push_back(db_span(b, "shop", "SELECT users", "SELECT * FROM users WHERE id = ?"));
  core::SpanBatch out = run(R"(
rules:
  - match: {services: [shop]}
    db_query_templates: true
)",
                            std::move(b));
  EXPECT_EQ(str(out.spans()[0], "db.query.text"), "SELECT name FROM users WHERE id IN (?)");
  EXPECT_EQ(out.spans()[0].name, "SELECT users");
  EXPECT_EQ(str(out.spans()[1], "db.query.text"), "SELECT * FROM users WHERE id IN (?, ?)");
  EXPECT_EQ(str(out.spans()[2], "db.query.text"), "SELECT * FROM users WHERE id = ?");
  EXPECT_EQ(renamed(), 0);
  EXPECT_EQ(h_.metrics.value("hodos_processor_span_template_queries_templated_total",
                             {{"processor", "span_template"}}),
            1);
}

TEST_F(SpanTemplateTest, ConfigErrors) {
  struct Case {
    const char* yaml;
    const char* error;
  };
  const Case cases[] = {
      {"{}", "processors.span_template.rules: required"},
      {"rules: [{}]", "the rule does nothing; set url_templates, rename or db_query_templates"},
      {"rules: [{url_templates: ['users/{id}']}]",
       "url_templates[0]: 'users/{id}': a template is "
       "a path starting with '/'"},
      {"rules: [{url_templates: ['/a//b']}]", "empty segment"},
      {"rules: [{url_templates: ['/a/*/b']}]", "'*' must be the last segment"},
      {"rules: [{url_templates: ['/a/{id']}]", "segment '{id' is not a parameter"},
      {"rules: [{url_templates: ['/a/{}']}]", "segment '{}' is not a parameter"},
      {"rules: [{url_templates: ['/a/x{id}']}]", "mixes text with {} or *"},
      {"rules: [{url_templates: ['/a/b*']}]", "mixes text with {} or *"},
      {"rules: [{match: {span_kinds: [server, serve]}, url_templates: [/a]}]",
       "rules[0].match.span_kinds[1]: unknown span kind 'serve'; use server, client"},
      {"rules: [{match: {service: [a]}, url_templates: [/a]}]", "service"},
      {"rules: [{rename: [{pattern: '(a', name: x}]}]", "rename[0].pattern: invalid regular"},
      {"rules: [{rename: [{pattern: 'a', name: '\\1'}]}]", "rename[0].name"},
      {"rules: [{rename: [{name: x}]}]", "pattern"},
      {"rules: [{rename: [{pattern: x}]}]", "name"},
      {"rules: [{url_template: [/a]}]", "url_template"},
      {"rules: [{db_query_templates: maybe}]", "db_query_templates"},
  };
  for (const Case& c : cases) {
    const std::string error = h_.config_error(*factory_, c.yaml);
    EXPECT_NE(error.find(c.error), std::string::npos) << c.yaml << " gave: " << error;
  }
  EXPECT_EQ(h_.config_error(*factory_, kShopTemplates), "");
}

}  // namespace
}  // namespace hodos::processors
