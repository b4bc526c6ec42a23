// libFuzzer target for the filter processor's OTTL condition parser and evaluator: any text
// either parses or is refused with a column inside it (plus one, for "expected more"), and a
// condition that parses evaluates against spans of every value type without crashing, in both
// the span and the span-event context.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "core/span_batch.h"
#include "processors/filter.h"

namespace {

using hodos::core::AnyValue;
using hodos::processors::FilterCondition;

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "filter_condition_fuzz: %s\n", what);
  std::abort();
}

// One span with a value of each kind, an event, and a resource and scope with attributes.
struct Spans {
  hodos::core::SpanBatch batch;
  Spans() {
    hodos::core::Arena& a = batch.arena();
    hodos::core::Resource* r = batch.new_resource();
    hodos::core::upsert_attribute(a, r->attributes, "service.name", AnyValue::string("shop"));
    hodos::core::Scope* scope = batch.new_scope();
    scope->name = "hodos.agent";
    hodos::core::Span s;
    s.trace_id.bytes[0] = 1;
    s.span_id.bytes[0] = 2;
    s.name = "GET /users/{id}";
    s.kind = hodos::core::SpanKind::kServer;
    s.resource = r;
    s.scope = scope;
    s.start_time_unix_nano = 1'700'000'000'000'000'000ull;
    s.end_time_unix_nano = s.start_time_unix_nano + 1'500'000;
    s.status.code = hodos::core::StatusCode::kError;
    hodos::core::upsert_attribute(a, s.attributes, "url.path", AnyValue::string("/users/42"));
    hodos::core::upsert_attribute(a, s.attributes, "http.response.status_code",
                                  AnyValue::integer(503));
    hodos::core::upsert_attribute(a, s.attributes, "ratio", AnyValue::floating(0.25));
    hodos::core::upsert_attribute(a, s.attributes, "retry", AnyValue::boolean(true));
    hodos::core::Event e;
    e.name = "exception";
    e.time_unix_nano = s.start_time_unix_nano + 10;
    hodos::core::upsert_attribute(a, e.attributes, "exception.type", AnyValue::string("IOError"));
    s.events.push_back(a, e);
    batch.spans().push_back(s);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const Spans spans;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const hodos::core::Span& span = spans.batch.spans().front();
  for (auto context : {FilterCondition::Context::kSpan, FilterCondition::Context::kSpanEvent}) {
    try {
      FilterCondition c = FilterCondition::parse(text, context);
      const hodos::core::Event* event =
          context == FilterCondition::Context::kSpanEvent ? &span.events[0] : nullptr;
      (void)c.evaluate(span, event);
    } catch (const FilterCondition::ParseError& e) {
      if (e.column == 0 || e.column > size + 1) fail("a parse error's column lies outside the text");
      if (e.message.empty()) fail("a parse error without a message");
    }
  }
  return 0;
}
