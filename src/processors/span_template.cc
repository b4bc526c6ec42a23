#include "processors/span_template.h"

#include <fmt/format.h>
#include <re2/re2.h>

#include <cctype>
#include <cstring>
#include <optional>
#include <vector>

#include "core/span_batch.h"
#include "pipeline/metrics.h"
#include "processors/attributes.h"

namespace hodos::processors {

using core::AnyValue;
using core::ValueType;
using pipeline::ConfigNode;

namespace span_templating {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_word(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '$' || c == '.';
}

// If an `IN` list of two or more placeholders opens at text[open] ('('), the index just past
// its ')'; else 0.
size_t placeholder_list_end(std::string_view text, size_t open) {
  // Only after the keyword IN (any case), so VALUES tuples and function calls keep their shape.
  size_t k = open;
  while (k > 0 && is_space(text[k - 1])) --k;
  if (k < 2 || std::toupper(static_cast<unsigned char>(text[k - 1])) != 'N' ||
      std::toupper(static_cast<unsigned char>(text[k - 2])) != 'I' ||
      (k >= 3 && is_word(text[k - 3]))) {
    return 0;
  }
  size_t i = open + 1, items = 0;
  auto skip_spaces = [&] {
    while (i < text.size() && is_space(text[i])) ++i;
  };
  while (true) {
    skip_spaces();
    if (i >= text.size()) return 0;
    if (text[i] == '?') {
      ++i;
    } else if (text[i] == '$' && i + 1 < text.size() && is_digit(text[i + 1])) {
      i += 2;
      while (i < text.size() && is_digit(text[i])) ++i;
    } else {
      return 0;
    }
    ++items;
    skip_spaces();
    if (i >= text.size()) return 0;
    if (text[i] == ')') return items >= 2 ? i + 1 : 0;
    if (text[i] != ',') return 0;
    ++i;
  }
}

// Writes the collapsed text to `out` (room for text.size() bytes); returns its length, or
// nullopt (writing nothing) when there is nothing to collapse.
std::optional<size_t> collapse_into(std::string_view text, char* out) {
  size_t first = std::string_view::npos, first_end = 0;
  for (size_t i = text.find('('); i != std::string_view::npos; i = text.find('(', i + 1)) {
    if (size_t end = placeholder_list_end(text, i)) {
      first = i;
      first_end = end;
      break;
    }
  }
  if (first == std::string_view::npos) return std::nullopt;
  if (out == nullptr) return 0;
  size_t n = 0, from = 0;
  size_t open = first, end = first_end;
  while (true) {
    std::memcpy(out + n, text.data() + from, open - from);
    n += open - from;
    std::memcpy(out + n, "(?)", 3);
    n += 3;
    from = end;
    open = text.find('(', from);
    while (open != std::string_view::npos && !(end = placeholder_list_end(text, open))) {
      open = text.find('(', open + 1);
    }
    if (open == std::string_view::npos) break;
  }
  std::memcpy(out + n, text.data() + from, text.size() - from);
  return n + text.size() - from;
}

}  // namespace

std::string collapse_placeholder_lists(std::string_view text) {
  if (!collapse_into(text, nullptr)) return {};
  std::string out(text.size(), '\0');
  out.resize(*collapse_into(text, out.data()));
  return out;
}

}  // namespace span_templating

namespace {

// ---------------------------------------------------------------------------------------------
// URL templates

class UrlTemplate {
 public:
  // Throws ConfigError (at `node`.`key`) for a template that could not mean what it says.
  UrlTemplate(const ConfigNode& node, const std::string& key, std::string text)
      : text_(std::move(text)) {
    auto bad = [&](const std::string& why) { node.fail(key, fmt::format("'{}': {}", text_, why)); };
    if (text_.empty() || text_[0] != '/') bad("a template is a path starting with '/'");
    std::string_view rest(text_);
    rest.remove_prefix(1);
    if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
    while (!rest.empty()) {
      const size_t slash = rest.find('/');
      const std::string_view seg = rest.substr(0, slash);
      if (seg.empty()) bad("empty segment ('//')");
      if (rest_) bad("'*' must be the last segment");
      if (seg == "*") {
        rest_ = true;
      } else if (seg.front() == '{') {
        if (seg.size() < 3 || seg.back() != '}' ||
            seg.substr(1, seg.size() - 2).find_first_of("{}/*") != std::string_view::npos) {
          bad(fmt::format("segment '{}' is not a parameter; write {{name}} as a whole segment",
                          seg));
        }
        segments_.push_back({true, {}});
      } else {
        if (seg.find_first_of("{}*") != std::string_view::npos) {
          bad(
              fmt::format("segment '{}' mixes text with {{}} or *; a parameter or '*' is a "
                          "whole segment",
                          seg));
        }
        segments_.push_back({false, std::string(seg)});
      }
      if (slash == std::string_view::npos) break;
      rest.remove_prefix(slash + 1);
    }
  }

  const std::string& text() const { return text_; }

  bool matches(std::string_view path) const {
    path = path.substr(0, path.find_first_of("?#"));
    if (path.empty() || path[0] != '/') return false;
    path.remove_prefix(1);
    if (!path.empty() && path.back() == '/') path.remove_suffix(1);
    for (const Segment& seg : segments_) {
      if (path.empty()) return false;
      const size_t slash = path.find('/');
      const std::string_view got = path.substr(0, slash);
      if (seg.parameter ? got.empty() : got != seg.literal) return false;
      path = slash == std::string_view::npos ? std::string_view() : path.substr(slash + 1);
      // "/a/" with one segment left means an empty segment follows: only '*' takes it.
      if (slash != std::string_view::npos && path.empty()) return rest_;
    }
    return rest_ || path.empty();
  }

 private:
  struct Segment {
    bool parameter;
    std::string literal;
  };
  std::string text_;
  std::vector<Segment> segments_;
  bool rest_ = false;  // ends in '*'
};

// ---------------------------------------------------------------------------------------------
// Rules

struct Rename {
  std::string from_attribute;  // empty: the span name
  std::unique_ptr<re2::RE2> pattern;
  std::string name;
};

struct Match {
  std::vector<std::string> services;
  std::vector<core::SpanKind> kinds;

  bool matches(const core::Span& span) const {
    if (!kinds.empty()) {
      bool found = false;
      for (core::SpanKind k : kinds) found = found || k == span.kind;
      if (!found) return false;
    }
    if (!services.empty()) {
      const AnyValue* svc = core::find_attribute(span.resource->attributes, "service.name");
      if (!svc || svc->type != ValueType::kString) return false;
      bool found = false;
      for (const std::string& s : services) found = found || s == svc->str;
      if (!found) return false;
    }
    return true;
  }
};

struct Rule {
  Match match;
  std::vector<UrlTemplate> url_templates;
  std::vector<Rename> renames;
  bool db_query_templates = false;
};

std::optional<core::SpanKind> parse_kind(std::string name) {
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (name.starts_with("span_kind_")) name.erase(0, 10);
  if (name == "server") return core::SpanKind::kServer;
  if (name == "client") return core::SpanKind::kClient;
  if (name == "internal") return core::SpanKind::kInternal;
  if (name == "producer") return core::SpanKind::kProducer;
  if (name == "consumer") return core::SpanKind::kConsumer;
  return std::nullopt;
}

Rule parse_rule(ConfigNode& node) {
  Rule rule;
  bool has_match = false;
  ConfigNode match = node.child("match", &has_match);
  if (has_match) {
    rule.match.services = match.get_string_list("services");
    const auto kinds = match.get_string_list("span_kinds");
    match.reject_unknown_keys();
    for (size_t i = 0; i < kinds.size(); ++i) {
      auto kind = parse_kind(kinds[i]);
      if (!kind) {
        match.fail(fmt::format("span_kinds[{}]", i),
                   fmt::format("unknown span kind '{}'; use server, client, internal, producer "
                               "or consumer",
                               kinds[i]));
      }
      rule.match.kinds.push_back(*kind);
    }
  }
  const auto templates = node.get_string_list("url_templates");
  for (size_t i = 0; i < templates.size(); ++i) {
    rule.url_templates.emplace_back(node, fmt::format("url_templates[{}]", i), templates[i]);
  }
  for (ConfigNode& item : node.child_list("rename")) {
    Rename r;
    r.from_attribute = item.get_string("from_attribute", "");
    const std::string pattern = item.require_string("pattern");
    r.name = item.require_string("name");
    item.reject_unknown_keys();
    re2::RE2::Options options;
    options.set_log_errors(false);
    r.pattern = std::make_unique<re2::RE2>(pattern, options);
    if (!r.pattern->ok()) {
      item.fail("pattern",
                fmt::format("invalid regular expression '{}': {}", pattern, r.pattern->error()));
    }
    std::string why;
    if (!r.pattern->CheckRewriteString(r.name, &why)) {
      item.fail("name", fmt::format("'{}': {}", r.name, why));
    }
    rule.renames.push_back(std::move(r));
  }
  rule.db_query_templates = node.get_bool("db_query_templates", false);
  node.reject_unknown_keys();
  if (rule.url_templates.empty() && rule.renames.empty() && !rule.db_query_templates) {
    throw pipeline::ConfigError(node.path(),
                                "the rule does nothing; set url_templates, rename or "
                                "db_query_templates: true");
  }
  return rule;
}

// ---------------------------------------------------------------------------------------------
// The processor

class SpanTemplateProcessor : public pipeline::Processor {
 public:
  SpanTemplateProcessor(const pipeline::CreateContext& ctx, std::vector<Rule> rules,
                        pipeline::TracesConsumer& next)
      : next_(next),
        rules_(std::move(rules)),
        renamed_(ctx.metrics.counter("hodos_processor_span_template_renamed_total",
                                     "Spans whose name a span_template rule changed.",
                                     {{"processor", ctx.id.str()}})),
        queries_(ctx.metrics.counter("hodos_processor_span_template_queries_templated_total",
                                     "db.query.text values whose placeholder lists were "
                                     "collapsed.",
                                     {{"processor", ctx.id.str()}})) {}

  bool mutates_data() const override { return true; }

  pipeline::Status consume(core::SpanBatch batch) override {
    if (!batch.empty()) {
      uint64_t renamed = 0, queries = 0;
      core::Arena& arena = batch.arena();
      std::string scratch;  // regex rewrites; reused across the batch's spans
      for (core::Span& span : batch.spans()) {
        const std::string_view before = span.name;
        bool templated = false;
        for (const Rule& rule : rules_) {
          if (!rule.match.matches(span)) continue;
          if (!templated && !rule.url_templates.empty()) {
            templated = apply_url_templates(rule, arena, span);
          }
          if (!rule.renames.empty()) apply_renames(rule, arena, span, scratch);
          if (rule.db_query_templates) queries += template_query(arena, span);
        }
        // Compare views first: an untouched name is the same pointer.
        if (span.name.data() != before.data() && span.name != before) ++renamed;
      }
      if (renamed) renamed_.add(renamed);
      if (queries) queries_.add(queries);
    }
    return next_.consume(std::move(batch));
  }

 private:
  static bool apply_url_templates(const Rule& rule, core::Arena& arena, core::Span& span) {
    const AnyValue* path = core::find_attribute(span.attributes, "url.path");
    if (!path || path->type != ValueType::kString) return false;
    for (const UrlTemplate& t : rule.url_templates) {
      if (!t.matches(path->str)) continue;
      std::string_view method = "HTTP";
      const AnyValue* m = core::find_attribute(span.attributes, "http.request.method");
      if (m && m->type == ValueType::kString && !m->str.empty() && m->str != "_OTHER") {
        method = m->str;
      }
      // One arena string holds the name; the route attribute is a view of its tail.
      const size_t size = method.size() + 1 + t.text().size();
      char* name = arena.allocate_array<char>(size);
      std::memcpy(name, method.data(), method.size());
      name[method.size()] = ' ';
      std::memcpy(name + method.size() + 1, t.text().data(), t.text().size());
      span.name = {name, size};
      const std::string_view route = span.name.substr(method.size() + 1);
      // Static keys: no copy needed (upsert_attribute would copy key and value).
      const std::string_view key =
          span.kind == core::SpanKind::kServer ? "http.route" : "url.template";
      if (AnyValue* existing = core::find_attribute(span.attributes, key)) {
        *existing = AnyValue::string(route);
      } else {
        span.attributes.push_back(arena, core::KeyValue{key, AnyValue::string(route)});
      }
      return true;
    }
    return false;
  }

  static void apply_renames(const Rule& rule, core::Arena& arena, core::Span& span,
                            std::string& scratch) {
    for (const Rename& r : rule.renames) {
      std::string_view subject = span.name;
      if (!r.from_attribute.empty()) {
        const AnyValue* v = core::find_attribute(span.attributes, r.from_attribute);
        if (!v || v->type != ValueType::kString) continue;
        subject = v->str;
      }
      scratch.clear();
      if (!re2::RE2::Extract(re2::StringPiece(subject.data(), subject.size()), *r.pattern, r.name,
                             &scratch)) {
        continue;
      }
      if (scratch != span.name) span.name = arena.copy(scratch);
      return;  // the first rename that matches wins
    }
  }

  static bool template_query(core::Arena& arena, core::Span& span) {
    AnyValue* q = core::find_attribute(span.attributes, "db.query.text");
    if (!q || q->type != ValueType::kString) return false;
    if (!span_templating::collapse_into(q->str, nullptr)) return false;
    // Collapsing only shortens: text.size() bytes are enough.
    char* out = arena.allocate_array<char>(q->str.size());
    const size_t n = *span_templating::collapse_into(q->str, out);
    q->str = {out, n};
    return true;
  }

  pipeline::TracesConsumer& next_;
  const std::vector<Rule> rules_;
  pipeline::Counter& renamed_;
  pipeline::Counter& queries_;
};

class SpanTemplateFactory : public pipeline::ProcessorFactory {
 public:
  std::string_view type() const override { return "span_template"; }

  std::unique_ptr<pipeline::Processor> create(const pipeline::CreateContext& ctx,
                                              ConfigNode& config,
                                              pipeline::TracesConsumer& next) const override {
    auto items = config.child_list("rules");
    config.reject_unknown_keys();
    if (items.empty()) {
      config.fail("rules",
                  "required; list at least one rule, e.g. "
                  "[{url_templates: [\"/users/{id}\"]}]");
    }
    std::vector<Rule> rules;
    for (ConfigNode& item : items) rules.push_back(parse_rule(item));
    return std::make_unique<SpanTemplateProcessor>(ctx, std::move(rules), next);
  }
};

}  // namespace

std::unique_ptr<pipeline::ProcessorFactory> make_span_template_processor_factory() {
  return std::make_unique<SpanTemplateFactory>();
}

}  // namespace hodos::processors
