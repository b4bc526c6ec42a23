// The `filter` processor: drops spans and span events that match OTTL conditions, configured as
// the OpenTelemetry Collector's filterprocessor for traces.
//
// Supported keys: error_mode (what a condition that fails at run time, e.g. dividing by 0, does:
// ignore = no match and a warning per batch, silent = no match, propagate (default) = the batch
// is refused with a permanent error), traces.span and traces.spanevent (lists of conditions; a
// span or event matching ANY is dropped; dropping a span drops its events and links with it; an
// emptied batch is not sent on).
// Not supported: metrics and logs (Hodos pipelines carry traces only), the legacy
// spans.include/exclude matching (write it as a traces.span condition instead); in conditions:
// parenthesised math, editors, other converters, trace_id/span_id and `.string` paths.
//
// The OTTL subset (see docs/configuration.md "### filter"):
//   condition  := term ("or" term)*          term := factor ("and" factor)*
//   factor     := "not" factor | "(" condition ")" | value [op value]    op := == != < <= > >=
//   value      := product (("+" | "-") product)*     product := primary (("*" | "/") primary)*
//   primary    := "string" | int | float | true | false | nil | ENUM | path | Converter(args)
// Math takes ints with ints or doubles with doubles (else a run-time error, as in OTTL); ints wrap.
// Paths (span context): name, kind, status.code, status.message, trace_state,
//   start_time_unix_nano, end_time_unix_nano, attributes["k"], resource.attributes["k"],
//   instrumentation_scope.name, instrumentation_scope.version,
//   instrumentation_scope.attributes["k"].
// Paths (spanevent context): name, time_unix_nano, attributes["k"], resource.*,
//   instrumentation_scope.*, and span.<any span path>. Keys may be chained: attributes["m"]["k"].
// Enums: SPAN_KIND_* and STATUS_CODE_* (ints, as in OTTL). Converters: IsMatch(target, "re2"),
//   IsString, IsInt, IsDouble, IsBool, IsMap, IsList. Values compare by OTTL's comparison rules
//   (ints and doubles as numbers, different types are only ever "!=", a missing attribute is nil).
//
// Metrics, labelled processor="<id>": hodos_processor_filter_spans_dropped_total,
// hodos_processor_filter_span_events_dropped_total, hodos_processor_filter_condition_errors_total.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "core/span.h"
#include "pipeline/factory.h"

namespace hodos::processors {

std::unique_ptr<pipeline::ProcessorFactory> make_filter_processor_factory();

// One parsed OTTL condition. Exposed so that tests can evaluate expressions directly.
class FilterCondition {
 public:
  enum class Context { kSpan, kSpanEvent };

  // What went wrong where: `column` is 1-based, counted in bytes of the condition text.
  struct ParseError {
    size_t column;
    std::string message;
  };

  // Throws ParseError.
  static FilterCondition parse(std::string_view text, Context context);

  FilterCondition(FilterCondition&&) noexcept;
  FilterCondition& operator=(FilterCondition&&) noexcept;
  ~FilterCondition();

  struct Outcome {
    bool matched = false;
    const char* error = nullptr;  // a run-time error (static text): the condition is undecided
  };
  // For a kSpan condition `event` is ignored; a kSpanEvent condition needs one.
  Outcome evaluate(const core::Span& span, const core::Event* event = nullptr) const;
  // True when it matched without an error.
  bool matches(const core::Span& span, const core::Event* event = nullptr) const {
    const Outcome o = evaluate(span, event);
    return o.matched && !o.error;
  }

  struct Program;  // opaque: the parsed expression tree

 private:
  explicit FilterCondition(std::unique_ptr<Program> program);
  std::unique_ptr<Program> program_;
};

}  // namespace hodos::processors
