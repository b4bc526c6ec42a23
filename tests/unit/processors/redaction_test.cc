#include "processors/redaction.h"

#include <gtest/gtest.h>

#include "processor_test_util.h"

namespace hodos::processors {
namespace {

using core::AnyValue;
using core::ValueType;
using testing::Harness;
using testing::make_batch;
using testing::RecordingSink;

void put_str(core::Arena& a, core::AttrList& attrs, std::string_view key, std::string_view v) {
  core::upsert_attribute(a, attrs, key, AnyValue::string(v));
}

// An HTTP server span as the agent emits it, with a user's email in the query and an attribute.
core::SpanBatch http_server_span() {
  core::SpanBatch b = make_batch(1, "shop");
  core::Arena& a = b.arena();
  core::Span& s = b.spans()[0];
  s.name = a.copy("GET /api/users");
  s.kind = core::SpanKind::kServer;
  put_str(a, s.attributes, "http.request.method", "GET");
  put_str(a, s.attributes, "url.path", "/api/users");
  put_str(a, s.attributes, "url.full",
          "https://shop.example.com/api/users?email=jane.doe%40example.com&ref=mail");
  put_str(a, s.attributes, "user.email", "jane.doe@example.com");
  core::upsert_attribute(a, s.attributes, "http.response.status_code", AnyValue::integer(200));
  put_str(a, s.attributes, "server.address", "shop.example.com");
  return b;
}

// A database client span whose query text holds `literal`.
core::SpanBatch db_client_span(std::string_view literal) {
  core::SpanBatch b = make_batch(1, "billing");
  core::Arena& a = b.arena();
  core::Span& s = b.spans()[0];
  s.name = a.copy("SELECT orders");
  s.kind = core::SpanKind::kClient;
  put_str(a, s.attributes, "db.system.name", "postgresql");
  put_str(a, s.attributes, "db.query.text",
          a.copy("SELECT id FROM orders WHERE card = '" + std::string(literal) + "' AND id = 42"));
  put_str(a, s.attributes, "server.address", "db.internal");
  return b;
}

class RedactionTest : public ::testing::Test {
 protected:
  core::SpanBatch run(const std::string& yaml, core::SpanBatch batch) {
    RecordingSink sink;
    auto p = h_.create(*factory_, yaml, sink);
    EXPECT_TRUE(p->mutates_data());
    EXPECT_TRUE(p->consume(std::move(batch)).is_ok());
    EXPECT_EQ(sink.batches().size(), 1u);
    return std::move(sink.batches()[0]);
  }

  // The value after redacting one string attribute with `yaml`.
  std::string redact_string(const std::string& yaml, std::string_view value) {
    core::SpanBatch b = make_batch(1);
    put_str(b.arena(), b.spans()[0].attributes, "note", b.arena().copy(value));
    core::SpanBatch out = run(yaml, std::move(b));
    return str(out.spans()[0], "note");
  }

  static const AnyValue* attr(const core::Span& s, std::string_view key) {
    return core::find_attribute(s.attributes, key);
  }
  static std::string str(const core::Span& s, std::string_view key) {
    const AnyValue* v = attr(s, key);
    if (!v) return "<absent>";
    if (v->type != ValueType::kString) return "<not a string: " + v->to_string() + ">";
    return std::string(v->str);
  }
  static int64_t int_attr(const core::Span& s, std::string_view key) {
    const AnyValue* v = attr(s, key);
    if (!v || v->type != ValueType::kInt) return -1;
    return v->int_value;
  }
  double masked(std::string_view kind) {
    return h_.metrics.value("hodos_processor_redaction_masked_total",
                            {{"processor", "redaction"}, {"kind", std::string(kind)}});
  }
  double removed() {
    return h_.metrics.value("hodos_processor_redaction_removed_total",
                            {{"processor", "redaction"}});
  }

  Harness h_;
  std::unique_ptr<pipeline::ProcessorFactory> factory_ = make_redaction_processor_factory();
};

// ---------------------------------------------------------------------------------------------
// Luhn and the credit-card pattern

TEST(LuhnTest, Table) {
  struct Case {
    std::string_view text;
    bool valid;
  } cases[] = {
      {"4111111111111111", true},     // Visa test number
      {"4111 1111 1111 1111", true},  // grouped with spaces
      {"4111-1111-1111-1111", true},  // grouped with dashes
      {"5555555555554444", true},     // Mastercard
      {"2223003122003222", true},     // Mastercard 2-series
      {"378282246310005", true},      // Amex, 15 digits
      {"6011111111111117", true},     // Discover
      {"3530111333300000", true},     // JCB
      {"4222222222222", true},        // 13-digit Visa
      {"79927398713", true},          // the textbook example
      {"4111111111111112", false},    // last digit off by one
      {"4111111111111121", false},    // second-to-last digit changed
      {"79927398710", false},
      {"1234567812345678", false},
      {"", false},
      {"- -", false},                 // no digits at all
      {"4111x1111111111111", false},  // not only digits and separators
  };
  for (const Case& c : cases) EXPECT_EQ(luhn_valid(c.text), c.valid) << c.text;
}

TEST_F(RedactionTest, CreditCardsAreLuhnChecked) {
  const std::string yaml = "allow_all_keys: true\nbuiltin_patterns: [credit_card]";
  struct Case {
    std::string_view in;
    std::string_view out;
  } cases[] = {
      {"card 4111111111111111 ok", "card **** ok"},
      {"card 4111 1111 1111 1111 ok", "card **** ok"},
      {"card 4111-1111-1111-1111", "card ****"},
      {"amex 3782 822463 10005", "amex ****"},
      {"two 5555555555554444,6011111111111117", "two ****,****"},
      {"card 4111111111111112 fails Luhn", "card 4111111111111112 fails Luhn"},
      {"card 4111 1111 1111 1112", "card 4111 1111 1111 1112"},
      // A trailing group that breaks the check is not part of the card.
      {"card 4111 1111 1111 1111 12", "card **** 12"},
      // A leading group that breaks the check is not part of it either.
      {"ref 234-4111111111111111", "ref 234-****"},
      // Too short, too long, inside a word, or an epoch timestamp (starts with 1).
      {"pin 411111111111", "pin 411111111111"},
      {"id 41111111111111111111111", "id 41111111111111111111111"},
      {"sku A4111111111111111", "sku A4111111111111111"},
      {"ts 1700000000000000000", "ts 1700000000000000000"},
      {"phone +1 555-867-5309", "phone +1 555-867-5309"},
      {"date 2024-01-15 12:30:00", "date 2024-01-15 12:30:00"},
  };
  for (const Case& c : cases) EXPECT_EQ(redact_string(yaml, c.in), c.out) << c.in;
}

TEST_F(RedactionTest, QueryTextWithCardNumber) {
  const std::string yaml = "allow_all_keys: true\nbuiltin_patterns: [credit_card]";
  core::SpanBatch out = run(yaml, db_client_span("4111-1111-1111-1111"));
  EXPECT_EQ(str(out.spans()[0], "db.query.text"),
            "SELECT id FROM orders WHERE card = '****' AND id = 42");
  EXPECT_EQ(str(out.spans()[0], "db.system.name"), "postgresql");
  EXPECT_EQ(masked("value"), 1);

  out = run(yaml, db_client_span("4111-1111-1111-1112"));
  EXPECT_EQ(str(out.spans()[0], "db.query.text"),
            "SELECT id FROM orders WHERE card = '4111-1111-1111-1112' AND id = 42");
  EXPECT_EQ(masked("value"), 1) << "a number failing Luhn is not counted";
}

// ---------------------------------------------------------------------------------------------
// Builtin patterns

TEST_F(RedactionTest, EmailsInUrlAndAttributes) {
  core::SpanBatch out = run("allow_all_keys: true\nbuiltin_patterns: [email]", http_server_span());
  const core::Span& s = out.spans()[0];
  EXPECT_EQ(str(s, "url.full"), "https://shop.example.com/api/users?email=****&ref=mail");
  EXPECT_EQ(str(s, "user.email"), "****");
  EXPECT_EQ(str(s, "url.path"), "/api/users");
  EXPECT_EQ(str(s, "server.address"), "shop.example.com");
  EXPECT_EQ(int_attr(s, "http.response.status_code"), 200);
  EXPECT_EQ(s.attributes.size(), 6u) << "no summary attributes by default (silent)";
  EXPECT_EQ(masked("value"), 2);
  EXPECT_EQ(masked("key"), 0);
  EXPECT_EQ(removed(), 0);
}

TEST_F(RedactionTest, BuiltinTable) {
  struct Case {
    std::string_view pattern, in, out;
  } cases[] = {
      {"email", "from a.b+tag@mail.example.co.uk to ops", "from **** to ops"},
      {"email", "no at sign here", "no at sign here"},
      {"email", "user@localhost", "user@localhost"},
      {"ipv4", "client 10.1.2.3 connected", "client **** connected"},
      {"ipv4", "peer 255.255.255.255:443", "peer ****:443"},
      {"ipv4", "peer 192.168.0.1.", "peer ****."},
      {"ipv4", "version 1.2.3.4.5", "version 1.2.3.4.5"},
      {"ipv4", "not an address 256.1.1.1", "not an address 256.1.1.1"},
      {"ipv6", "addr 2001:db8::1 port 80", "addr **** port 80"},
      {"ipv6", "[fe80::1ff:fe23:4567:890a]:8080", "[****]:8080"},
      {"ipv6", "mapped ::ffff:10.0.0.1", "mapped ****"},
      {"ipv6", "loopback ::1", "loopback ****"},
      {"ipv6", "std::string and Cache::add", "std::string and Cache::add"},
      {"ipv6", "at 12:30:45", "at 12:30:45"},
      {"ipv6", "mac 00:1a:2b:3c:4d:5e", "mac 00:1a:2b:3c:4d:5e"},
      {"bearer_token", "Authorization: Bearer abc123.def-ghi_jkl=", "Authorization: Bearer ****"},
      {"bearer_token", "authorization=bearer  tok/en+1", "authorization=bearer  ****"},
      {"bearer_token", "the bearer of bad news", "the bearer of bad news"},
      {"bearer_token", "Basic dXNlcjpwYXNz", "Basic dXNlcjpwYXNz"},
      {"jwt",
       "token=eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0In0.SflKxwRJSMeKKF2QT4fwpM&x=1",
       "token=****&x=1"},
      {"jwt", "alg none eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.", "alg none ****"},
      {"jwt", "host api.example.com", "host api.example.com"},
  };
  for (const Case& c : cases) {
    const std::string yaml =
        "allow_all_keys: true\nbuiltin_patterns: [" + std::string(c.pattern) + "]";
    EXPECT_EQ(redact_string(yaml, c.in), c.out) << c.pattern << ": " << c.in;
  }
}

TEST_F(RedactionTest, BearerJwtTogether) {
  EXPECT_EQ(redact_string("allow_all_keys: true\nbuiltin_patterns: [jwt, bearer_token, email]",
                          "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln for x@y.io"),
            "Bearer **** for ****");
}

TEST_F(RedactionTest, PatternOrderDoesNotLeak) {
  // The card only has a word boundary once the email before it is masked.
  for (std::string_view order : {"[credit_card, email]", "[email, credit_card]"}) {
    EXPECT_EQ(redact_string("allow_all_keys: true\nbuiltin_patterns: " + std::string(order),
                            "to a@b.io4111111111111111"),
              "to ********")
        << order;
  }
}

// Random text with known secrets planted at random places: none survives, nothing crashes, and
// redacting the output again changes nothing.
TEST_F(RedactionTest, PlantedSecretsNeverSurvive) {
  const std::string yaml =
      "allow_all_keys: true\nbuiltin_patterns: [credit_card, email, ipv4, ipv6, bearer_token, "
      "jwt]";
  const std::string_view secrets[] = {"4111 1111 1111 1111", "5555-5555-5555-4444",
                                      "378282246310005",     "jane.doe@example.com",
                                      "10.20.30.40",         "2001:db8::7",
                                      "Bearer abcdefgh123",  "eyJhbGciOi.eyJzdWIi.c2ln"};
  const std::string_view alphabet = "abcXYZ0123456789 .-:@/_=&?%*";
  uint64_t seed = 42;
  auto next = [&] {
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<size_t>(seed >> 33);
  };
  RecordingSink sink;
  auto p = h_.create(*factory_, yaml, sink);
  for (int round = 0; round < 300; ++round) {
    std::string text;
    std::vector<std::string_view> planted;
    const size_t pieces = 1 + next() % 6;
    for (size_t i = 0; i < pieces; ++i) {
      for (size_t n = next() % 12; n > 0; --n) text += alphabet[next() % alphabet.size()];
      const std::string_view secret = secrets[next() % std::size(secrets)];
      text += ' ';
      text += secret;
      text += ' ';
      planted.push_back(secret);
    }
    core::SpanBatch b = make_batch(1);
    put_str(b.arena(), b.spans()[0].attributes, "note", b.arena().copy(text));
    ASSERT_TRUE(p->consume(std::move(b)).is_ok());
    const std::string once = str(sink.batches().back().spans()[0], "note");
    for (std::string_view secret : planted) {
      // The bearer pattern keeps the word "Bearer"; the token must go.
      const std::string_view core = secret.substr(0, 7) == "Bearer " ? secret.substr(7) : secret;
      EXPECT_EQ(once.find(core), std::string::npos) << text << " -> " << once;
    }
    core::SpanBatch again = make_batch(1);
    put_str(again.arena(), again.spans()[0].attributes, "note", again.arena().copy(once));
    ASSERT_TRUE(p->consume(std::move(again)).is_ok());
    EXPECT_EQ(str(sink.batches().back().spans()[0], "note"), once) << text;
  }
}

// ---------------------------------------------------------------------------------------------
// Keys: allowed, ignored, blocked

TEST_F(RedactionTest, DefaultRemovesKeysNotAllowedIncludingResource) {
  core::SpanBatch in = http_server_span();
  const core::Resource* original = in.spans()[0].resource;
  core::SpanBatch out = run("allowed_keys: [http.request.method, url.path]", std::move(in));
  const core::Span& s = out.spans()[0];
  EXPECT_EQ(s.attributes.size(), 2u);
  EXPECT_EQ(str(s, "http.request.method"), "GET");
  EXPECT_EQ(str(s, "url.path"), "/api/users");
  EXPECT_EQ(attr(s, "user.email"), nullptr);
  // Resource attributes obey the same list (the Collector's behaviour): service.name goes too,
  // on a copy: the resource the receiver built is not edited.
  EXPECT_NE(s.resource, original);
  EXPECT_TRUE(s.resource->attributes.empty());
  EXPECT_NE(core::find_attribute(original->attributes, "service.name"), nullptr);
  EXPECT_EQ(removed(), 5);  // 4 span attributes, service.name
}

TEST_F(RedactionTest, EmptyAllowListRemovesEverything) {
  core::SpanBatch out = run("", http_server_span());
  EXPECT_TRUE(out.spans()[0].attributes.empty());
  EXPECT_TRUE(out.spans()[0].resource->attributes.empty());
  EXPECT_EQ(removed(), 7);
}

TEST_F(RedactionTest, AllowIgnoreBlockInterplay) {
  core::SpanBatch b = make_batch(1);
  core::Arena& a = b.arena();
  core::AttrList& attrs = b.spans()[0].attributes;
  put_str(a, attrs, "secret_raw", "4111111111111111");  // ignored: untouched
  put_str(a, attrs, "api_token", "abc");                // not allowed: removed first
  put_str(a, attrs, "session_token", "abc");            // allowed, blocked key: masked
  core::upsert_attribute(a, attrs, "retry_token", AnyValue::integer(7));  // non-string too
  put_str(a, attrs, "note", "card 4111111111111111 end");             // blocked value: part masked
  put_str(a, attrs, "contact", "ops@corp.example 4111111111111111");  // allowed value wins
  put_str(a, attrs, "other", "x");                                    // not allowed: removed
  core::SpanBatch out = run(R"(
allowed_keys: [service.name, session_token, retry_token, note, contact]
ignored_keys: [secret_raw]
blocked_key_patterns: [".*token.*"]
blocked_values: ["4[0-9]{15}"]
allowed_values: ['.+@corp\.example']
summary: debug
)",
                            std::move(b));
  const core::Span& s = out.spans()[0];
  EXPECT_EQ(str(s, "secret_raw"), "4111111111111111");
  EXPECT_EQ(attr(s, "api_token"), nullptr);
  EXPECT_EQ(str(s, "session_token"), "****");
  EXPECT_EQ(str(s, "retry_token"), "****");
  EXPECT_EQ(str(s, "note"), "card **** end");
  EXPECT_EQ(str(s, "contact"), "ops@corp.example 4111111111111111");
  EXPECT_EQ(attr(s, "other"), nullptr);
  EXPECT_EQ(str(s, "redaction.redacted.keys"), "api_token,other");
  EXPECT_EQ(int_attr(s, "redaction.redacted.count"), 2);
  EXPECT_EQ(str(s, "redaction.masked.keys"), "note,retry_token,session_token");
  EXPECT_EQ(int_attr(s, "redaction.masked.count"), 3);
  EXPECT_EQ(str(s, "redaction.allowed.keys"), "contact");
  EXPECT_EQ(int_attr(s, "redaction.allowed.count"), 1);
  EXPECT_EQ(int_attr(s, "redaction.ignored.count"), 1);
  EXPECT_EQ(masked("key"), 2);
  EXPECT_EQ(masked("value"), 1);
  EXPECT_EQ(removed(), 2);
}

TEST_F(RedactionTest, IgnoredKeyPatterns) {
  core::SpanBatch b = make_batch(1);
  put_str(b.arena(), b.spans()[0].attributes, "debug.raw", "a@b.io");
  put_str(b.arena(), b.spans()[0].attributes, "user.email", "a@b.io");
  core::SpanBatch out =
      run("allowed_keys: [user.email, service.name]\nignored_key_patterns: ['^debug\\.']\n"
          "builtin_patterns: [email]",
          std::move(b));
  EXPECT_EQ(str(out.spans()[0], "debug.raw"), "a@b.io");
  EXPECT_EQ(str(out.spans()[0], "user.email"), "****");
}

TEST_F(RedactionTest, SummaryLevels) {
  const std::string base =
      "allowed_keys: [user.email, url.full]\nignored_keys: [url.path]\nbuiltin_patterns: [email]\n";
  core::SpanBatch out = run(base + "summary: info", http_server_span());
  const core::Span& info = out.spans()[0];
  EXPECT_EQ(int_attr(info, "redaction.masked.count"), 2);
  EXPECT_EQ(int_attr(info, "redaction.redacted.count"), 3);
  EXPECT_EQ(int_attr(info, "redaction.ignored.count"), 1);
  EXPECT_EQ(attr(info, "redaction.masked.keys"), nullptr) << "info gives counts, not names";
  EXPECT_EQ(attr(info, "redaction.redacted.keys"), nullptr);

  out = run(base + "summary: debug", http_server_span());
  EXPECT_EQ(str(out.spans()[0], "redaction.masked.keys"), "url.full,user.email");
  EXPECT_EQ(str(out.spans()[0], "redaction.redacted.keys"),
            "http.request.method,http.response.status_code,server.address");

  out = run(base + "summary: silent", http_server_span());
  EXPECT_EQ(out.spans()[0].attributes.size(), 3u);
}

TEST_F(RedactionTest, SummaryOnResources) {
  // Only an ignored key on the resource: with a summary, it still gets its count.
  core::SpanBatch out =
      run("allow_all_keys: true\nignored_keys: [service.name]\nsummary: info", make_batch(1));
  const AnyValue* count =
      core::find_attribute(out.spans()[0].resource->attributes, "redaction.ignored.count");
  ASSERT_NE(count, nullptr);
  EXPECT_EQ(count->int_value, 1);
  out = run("allow_all_keys: true\nignored_keys: [service.name]", make_batch(1));
  EXPECT_EQ(out.spans()[0].resource->attributes.size(), 1u);
}

TEST_F(RedactionTest, SummaryMergesWithAnEarlierProcessor) {
  // Two redaction processors in a row: the second keeps and extends the first one's summary.
  core::SpanBatch once =
      run("allow_all_keys: true\nblocked_key_patterns: [password]\nsummary: debug", [] {
        core::SpanBatch b = make_batch(1);
        put_str(b.arena(), b.spans()[0].attributes, "password", "hunter2");
        put_str(b.arena(), b.spans()[0].attributes, "user.email", "a@b.io");
        return b;
      }());
  core::SpanBatch twice =
      run("allowed_keys: [password, user.email]\nbuiltin_patterns: [email]\nsummary: debug",
          std::move(once));
  const core::Span& s = twice.spans()[0];
  EXPECT_EQ(str(s, "redaction.masked.keys"), "password,user.email");
  EXPECT_EQ(int_attr(s, "redaction.masked.count"), 2);
}

// ---------------------------------------------------------------------------------------------
// Arrays, maps, resources, events, span names, other types

TEST_F(RedactionTest, ArraysAndMaps) {
  core::SpanBatch b = make_batch(1);
  core::Arena& a = b.arena();
  core::AttrList& attrs = b.spans()[0].attributes;
  core::ArenaVector<AnyValue> emails;
  emails.push_back(a, AnyValue::string("a@b.io"));
  emails.push_back(a, AnyValue::string("plain"));
  emails.push_back(a, AnyValue::integer(3));
  core::upsert_attribute(a, attrs, "user.emails", AnyValue::array_of(emails));
  core::AttrList inner;
  inner.push_back(a, core::KeyValue{"note", AnyValue::string("mail c@d.io")});
  core::AttrList headers;
  headers.push_back(a, core::KeyValue{"authorization", AnyValue::string("Basic dXNlcg==")});
  headers.push_back(a, core::KeyValue{"user-agent", AnyValue::string("curl/8.5")});
  headers.push_back(a, core::KeyValue{"nested", AnyValue::kvlist_of(inner)});
  core::upsert_attribute(a, attrs, "http.request.header", AnyValue::kvlist_of(headers));
  core::SpanBatch out =
      run("allow_all_keys: true\nblocked_key_patterns: ['(?i)^authorization$']\n"
          "builtin_patterns: [email]",
          std::move(b));
  const core::Span& s = out.spans()[0];
  const AnyValue* list = attr(s, "user.emails");
  ASSERT_TRUE(list && list->type == ValueType::kArray);
  ASSERT_EQ(list->array.size(), 3u);
  EXPECT_EQ(list->array[0].str, "****");
  EXPECT_EQ(list->array[1].str, "plain");
  EXPECT_EQ(list->array[2].int_value, 3);
  const AnyValue* h = attr(s, "http.request.header");
  ASSERT_TRUE(h && h->type == ValueType::kKvList);
  EXPECT_EQ(core::find_attribute(h->kvlist, "authorization")->str, "****");
  EXPECT_EQ(core::find_attribute(h->kvlist, "user-agent")->str, "curl/8.5");
  const AnyValue* nested = core::find_attribute(h->kvlist, "nested");
  ASSERT_TRUE(nested && nested->type == ValueType::kKvList);
  EXPECT_EQ(core::find_attribute(nested->kvlist, "note")->str, "mail ****");
  // The header map matched a blocked key inside; the email list matched a value.
  EXPECT_EQ(masked("key"), 1);
  EXPECT_EQ(masked("value"), 1);
}

TEST_F(RedactionTest, ResourceRedactedOnceOnACopy) {
  core::SpanBatch b = make_batch(3, "shop");
  core::Resource* r = const_cast<core::Resource*>(b.spans()[0].resource);
  put_str(b.arena(), r->attributes, "host.ip", "10.0.0.5");
  // An array shares its storage with the original resource: it must be copied, not edited.
  core::ArenaVector<AnyValue> ips;
  ips.push_back(b.arena(), AnyValue::string("10.0.0.6"));
  ips.push_back(b.arena(), AnyValue::string("fe80::1"));
  r->attributes.push_back(b.arena(), core::KeyValue{"host.ips", AnyValue::array_of(ips)});
  core::SpanBatch out = run("allow_all_keys: true\nbuiltin_patterns: [ipv4]", std::move(b));
  const core::Resource* copy = out.spans()[0].resource;
  EXPECT_NE(copy, r);
  EXPECT_EQ(out.spans()[1].resource, copy);
  EXPECT_EQ(out.spans()[2].resource, copy);
  EXPECT_EQ(core::find_attribute(copy->attributes, "host.ip")->str, "****");
  EXPECT_EQ(core::find_attribute(copy->attributes, "service.name")->str, "shop");
  EXPECT_EQ(core::find_attribute(copy->attributes, "host.ips")->array[0].str, "****");
  EXPECT_EQ(core::find_attribute(copy->attributes, "host.ips")->array[1].str, "fe80::1");
  EXPECT_EQ(core::find_attribute(r->attributes, "host.ip")->str, "10.0.0.5");
  EXPECT_EQ(core::find_attribute(r->attributes, "host.ips")->array[0].str, "10.0.0.6");
  EXPECT_EQ(masked("value"), 2) << "one resource, redacted once";
}

TEST_F(RedactionTest, ScopeAttributesOnACopy) {
  core::SpanBatch b = make_batch(2);
  core::Scope* scope = b.new_scope();
  scope->name = "io.hodos.agent";
  put_str(b.arena(), scope->attributes, "owner", "team@corp.example");
  for (core::Span& s : b.spans()) s.scope = scope;
  core::SpanBatch out = run("allow_all_keys: true\nbuiltin_patterns: [email]", std::move(b));
  EXPECT_NE(out.spans()[0].scope, scope);
  EXPECT_EQ(out.spans()[1].scope, out.spans()[0].scope);
  EXPECT_EQ(out.spans()[0].scope->name, "io.hodos.agent");
  EXPECT_EQ(core::find_attribute(out.spans()[0].scope->attributes, "owner")->str, "****");
  EXPECT_EQ(core::find_attribute(scope->attributes, "owner")->str, "team@corp.example");
}

TEST_F(RedactionTest, EventAttributes) {
  core::SpanBatch b = make_batch(1);
  core::Arena& a = b.arena();
  core::Event e;
  e.name = "exception";
  put_str(a, e.attributes, "exception.message", "no user x@y.io");
  b.spans()[0].events.push_back(a, e);
  core::SpanBatch out = run("allow_all_keys: true\nbuiltin_patterns: [email]", std::move(b));
  EXPECT_EQ(core::find_attribute(out.spans()[0].events[0].attributes, "exception.message")->str,
            "no user ****");
}

TEST_F(RedactionTest, SpanNamesOnlyWhenAsked) {
  auto batch = [] {
    core::SpanBatch b = make_batch(1);
    b.spans()[0].name = b.arena().copy("GET /users/jane@example.com");
    return b;
  };
  const std::string yaml = "allow_all_keys: true\nbuiltin_patterns: [email]";
  EXPECT_EQ(run(yaml, batch()).spans()[0].name, "GET /users/jane@example.com");
  EXPECT_EQ(run(yaml + "\nredact_span_names: true", batch()).spans()[0].name, "GET /users/****");
  EXPECT_EQ(masked("value"), 1);
  EXPECT_EQ(
      run(yaml + "\nredact_span_names: true\nallowed_values: ['^GET ']", batch()).spans()[0].name,
      "GET /users/jane@example.com");
}

TEST_F(RedactionTest, RedactAllTypes) {
  auto batch = [] {
    core::SpanBatch b = make_batch(1);
    core::upsert_attribute(b.arena(), b.spans()[0].attributes, "card",
                           AnyValue::integer(4111111111111111));
    return b;
  };
  const std::string yaml = "allow_all_keys: true\nbuiltin_patterns: [credit_card]";
  core::SpanBatch kept = run(yaml, batch());
  const AnyValue* v = attr(kept.spans()[0], "card");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->type, ValueType::kInt) << "only strings without redact_all_types";
  core::SpanBatch out = run(yaml + "\nredact_all_types: true", batch());
  EXPECT_EQ(str(out.spans()[0], "card"), "****");
}

TEST_F(RedactionTest, HashFunctions) {
  struct Case {
    std::string_view function, hex;
  } cases[] = {
      {"md5", "900150983cd24fb0d6963f7d28e17f72"},
      {"sha1", "a9993e364706816aba3e25717850c26c9cd0d89d"},
      {"sha3", "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532"},
  };
  for (const Case& c : cases) {
    const std::string yaml =
        "allow_all_keys: true\nblocked_values: [abc]\nhash_function: " + std::string(c.function);
    EXPECT_EQ(redact_string(yaml, "x abc y abc"),
              "x " + std::string(c.hex) + " y " + std::string(c.hex))
        << c.function;
  }
  // A blocked key hashes the whole value.
  EXPECT_EQ(redact_string("allow_all_keys: true\nblocked_key_patterns: [note]\nhash_function: md5",
                          "abc"),
            "900150983cd24fb0d6963f7d28e17f72");
}

TEST_F(RedactionTest, NothingToRedactLeavesBatchUntouched) {
  core::SpanBatch in = http_server_span();
  core::SpanBatch expected = in.deep_copy();
  const core::Resource* resource = in.spans()[0].resource;
  const size_t bytes = in.arena_bytes();
  core::SpanBatch out = run(R"(
allow_all_keys: true
blocked_key_patterns: [password]
blocked_values: ['4[0-9]{15}']
builtin_patterns: [credit_card, ipv4, ipv6, bearer_token, jwt]
redact_span_names: true
)",
                            std::move(in));
  const core::Span& s = out.spans()[0];
  EXPECT_EQ(s.resource, resource);
  EXPECT_EQ(s.name, expected.spans()[0].name);
  ASSERT_EQ(s.attributes.size(), expected.spans()[0].attributes.size());
  for (size_t i = 0; i < s.attributes.size(); ++i) {
    EXPECT_EQ(s.attributes[i], expected.spans()[0].attributes[i]) << i;
  }
  EXPECT_EQ(out.arena_bytes(), bytes) << "nothing allocated";
  EXPECT_EQ(masked("key") + masked("value") + removed(), 0);
}

TEST_F(RedactionTest, ManySpansCountEach) {
  core::SpanBatch b = make_batch(50);
  for (core::Span& s : b.spans()) put_str(b.arena(), s.attributes, "user.email", "a@b.io");
  core::SpanBatch out = run("allow_all_keys: true\nbuiltin_patterns: [email]", std::move(b));
  for (const core::Span& s : out.spans()) EXPECT_EQ(str(s, "user.email"), "****");
  EXPECT_EQ(masked("value"), 50);
}

// ---------------------------------------------------------------------------------------------
// Config errors

TEST_F(RedactionTest, ConfigErrors) {
  EXPECT_EQ(h_.config_error(*factory_, "blocked_values: ['ok', '(unclosed']"),
            "processors.redaction.blocked_values[1]: invalid regular expression '(unclosed': "
            "missing ): (unclosed");
  EXPECT_NE(h_.config_error(*factory_, "blocked_key_patterns: ['a**']")
                .find("processors.redaction.blocked_key_patterns[0]: invalid regular expression "
                      "'a**'"),
            std::string::npos);
  EXPECT_NE(h_.config_error(*factory_, "allowed_values: ['[z-a]']")
                .find("processors.redaction.allowed_values[0]: invalid regular expression"),
            std::string::npos);
  EXPECT_EQ(h_.config_error(*factory_, "builtin_patterns: [email, ssn]"),
            "processors.redaction.builtin_patterns[1]: unknown pattern 'ssn'; use credit_card, "
            "email, ipv4, ipv6, bearer_token, jwt");
  EXPECT_EQ(h_.config_error(*factory_, "hash_function: sha512"),
            "processors.redaction.hash_function: unknown hash function 'sha512'; use none, md5, "
            "sha1 or sha3");
  EXPECT_EQ(h_.config_error(*factory_, "summary: verbose"),
            "processors.redaction.summary: unknown summary 'verbose'; use debug, info or silent");
  EXPECT_NE(h_.config_error(*factory_, "url_sanitizer: {enabled: true}")
                .find("processors.redaction.url_sanitizer: not supported by Hodos"),
            std::string::npos);
  const std::string unknown = h_.config_error(*factory_, "allowed_key: [a]");
  EXPECT_NE(unknown.find("processors.redaction.allowed_key"), std::string::npos) << unknown;
  EXPECT_EQ(h_.config_error(*factory_, "allow_all_keys: true\nbuiltin_patterns: [email]"), "");
}

}  // namespace
}  // namespace hodos::processors
