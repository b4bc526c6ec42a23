// The `span_template` processor (Hodos's own; the Collector has none): the URL templating and
// span renaming an APM user expects, so that `GET /users/123/orders/9` and its neighbours group
// under one name.
//
//   span_template:
//     rules:
//       - match: {services: [shop], span_kinds: [server, client]}   # optional: all spans
//         url_templates: ["/users/{id}/orders/{order}", "/static/*"]
//         rename:
//           - {pattern: '^GET /v\d+/(.*)$', name: 'GET /{version}/\1'}
//           - {from_attribute: rpc.method, pattern: '^(\w+)$', name: 'rpc \1'}
//         db_query_templates: true
//
// - url_templates: the span's url.path is compared segment by segment; `{x}` matches one
//   non-empty segment, a last `*` the rest of the path (possibly nothing); one trailing `/` is
//   ignored on both sides. The first template that fits (in rule order) wins and no later rule
//   re-templates the span: http.route (server spans) or url.template (other kinds) is set to the
//   template and the name to `METHOD <template>` (`HTTP` when http.request.method is _OTHER or
//   absent).
// - rename: RE2 searched in the span name (or the string attribute from_attribute); on the first
//   item that matches, the name becomes `name` with \0..\9 replaced by the match's groups.
// - db_query_templates: collapses placeholder lists in db.query.text: `IN (?, ?, ?)` and
//   `($1, $2)` become `(?)`, so that queries differing only in list length group together.
// Every matching rule applies, in order. Spans that no rule changes are not touched.
// Metrics, labelled processor="<id>": hodos_processor_span_template_renamed_total (spans whose
// name changed), hodos_processor_span_template_queries_templated_total.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "pipeline/factory.h"

namespace hodos::processors {

std::unique_ptr<pipeline::ProcessorFactory> make_span_template_processor_factory();

namespace span_templating {

// `text` with every parenthesised list of two or more placeholders (`?` or `$n`) collapsed to
// `(?)`; empty when there is nothing to collapse (the common case allocates nothing).
std::string collapse_placeholder_lists(std::string_view text);

}  // namespace span_templating

}  // namespace hodos::processors
