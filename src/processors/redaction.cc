#include "processors/redaction.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <openssl/evp.h>
#include <re2/re2.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/ids.h"
#include "core/span_batch.h"
#include "pipeline/metrics.h"

namespace hodos::processors {

bool luhn_valid(std::string_view text) {
  int sum = 0;
  int digits = 0;
  for (size_t i = text.size(); i-- > 0;) {
    const char c = text[i];
    if (c == ' ' || c == '-') continue;
    if (c < '0' || c > '9') return false;
    int d = c - '0';
    if (digits % 2 == 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    ++digits;
  }
  return digits > 0 && sum % 10 == 0;
}

namespace {

using core::AnyValue;
using core::Arena;
using core::AttrList;
using core::KeyValue;
using core::ValueType;
using pipeline::ConfigNode;

constexpr std::string_view kMask = "****";
// Deeper than this a nested value is masked whole rather than walked: fail closed.
constexpr int kMaxDepth = 16;
// Passes of all value patterns over one value at most (see mask_text).
constexpr int kMaxRounds = 4;

// The summary attributes, named as the Collector names them.
constexpr std::string_view kRedactedKeys = "redaction.redacted.keys";
constexpr std::string_view kRedactedCount = "redaction.redacted.count";
constexpr std::string_view kMaskedKeys = "redaction.masked.keys";
constexpr std::string_view kMaskedCount = "redaction.masked.count";
constexpr std::string_view kAllowedKeys = "redaction.allowed.keys";
constexpr std::string_view kAllowedCount = "redaction.allowed.count";
constexpr std::string_view kIgnoredCount = "redaction.ignored.count";

enum class Summary { kSilent, kInfo, kDebug };

re2::StringPiece piece(std::string_view s) { return {s.data(), s.size()}; }

bool partial_match(const re2::RE2& re, std::string_view s) {
  return re2::RE2::PartialMatch(piece(s), re);
}

bool is_word_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// ---------------------------------------------------------------------------------------------
// Value patterns: a regex that finds candidates and an optional check that confirms one (and
// says which part of it to mask), for what a regex cannot say alone (Luhn, address syntax).

using Range = std::pair<size_t, size_t>;  // [begin, end) in the text
using Check = std::optional<Range> (*)(std::string_view text, Range candidate);

struct ValuePattern {
  std::string name;  // for error messages and the prefilter
  std::unique_ptr<re2::RE2> regex;
  Check check = nullptr;
  bool mask_group1 = false;  // mask only the first capture group (the token after "Bearer")
};

// 13 to 19 digits whose first digit is 2-6 (the major-industry identifiers of Mastercard, Amex,
// Diners, JCB, Visa, Discover and UnionPay) and that pass Luhn. The first-digit rule keeps epoch
// timestamps in ms and ns (which start with 1) out. When the whole run fails, shorter runs that
// end at a separator are tried: "4111 1111 1111 1111 12" still hides the card.
std::optional<Range> check_card(std::string_view text, Range c) {
  auto digits_in = [&](size_t end) {
    size_t n = 0;
    for (size_t i = c.first; i < end; ++i) n += text[i] >= '0' && text[i] <= '9';
    return n;
  };
  size_t end = c.second;
  while (end > c.first) {
    const size_t n = digits_in(end);
    if (n < 13) break;
    if (n <= 19 && luhn_valid(text.substr(c.first, end - c.first))) return Range{c.first, end};
    // Back off to the previous separator.
    size_t sep = end;
    while (sep > c.first && text[sep - 1] != ' ' && text[sep - 1] != '-') --sep;
    if (sep == c.first) break;
    end = sep - 1;
    while (end > c.first && (text[end - 1] == ' ' || text[end - 1] == '-')) --end;
  }
  return std::nullopt;
}

// Four octets not inside a longer dotted run ("1.2.3.4.5" is a version or an OID).
std::optional<Range> check_ipv4(std::string_view text, Range c) {
  if (c.first > 0 && text[c.first - 1] == '.') return std::nullopt;
  if (c.second + 1 < text.size() && text[c.second] == '.' &&
      std::isdigit(static_cast<unsigned char>(text[c.second + 1]))) {
    return std::nullopt;
  }
  return c;
}

// The candidate must stand alone ("std::string" holds "::") and parse as an IPv6 address.
std::optional<Range> check_ipv6(std::string_view text, Range c) {
  auto joins = [](char ch) { return is_word_char(ch) || ch == ':' || ch == '.'; };
  if (c.first > 0 && joins(text[c.first - 1])) return std::nullopt;
  if (c.second < text.size() && (is_word_char(text[c.second]) || text[c.second] == ':')) {
    return std::nullopt;
  }
  const std::string_view s = text.substr(c.first, c.second - c.first);
  if (s.size() >= INET6_ADDRSTRLEN) return std::nullopt;
  if (std::none_of(s.begin(), s.end(),
                   [](char ch) { return std::isxdigit(static_cast<unsigned char>(ch)) != 0; })) {
    return std::nullopt;
  }
  char buf[INET6_ADDRSTRLEN];
  std::copy(s.begin(), s.end(), buf);
  buf[s.size()] = '\0';
  unsigned char addr[16];
  if (inet_pton(AF_INET6, buf, addr) != 1) return std::nullopt;
  return c;
}

struct BuiltinPattern {
  std::string_view name;
  std::string_view regex;
  Check check;
  bool mask_group1;
};

constexpr std::string_view kBuiltinNames = "credit_card, email, ipv4, ipv6, bearer_token, jwt";

constexpr std::array<BuiltinPattern, 6> kBuiltins{{
    {"credit_card", R"(\b[2-6](?:[ -]?[0-9]){12,18}\b)", check_card, false},
    // "%40" is an encoded "@", as emails appear in query strings.
    {"email", R"([A-Za-z0-9._%+-]+(?:@|%40)[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})",
     nullptr, false},
    {"ipv4",
     R"(\b(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3})"
     R"((?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\b)",
     check_ipv4, false},
    // The dotted tail comes first so that "::ffff:10.0.0.1" is one candidate.
    {"ipv6", R"((?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9]{1,3}(?:\.[0-9]{1,3}){3}|[0-9A-Fa-f]{1,4})?)",
     check_ipv6, false},
    // At least 8 token characters, so that "the bearer of bad news" is left alone.
    {"bearer_token", R"((?i)\bbearer\s+([A-Za-z0-9._~+/-]{8,}=*))", nullptr, true},
    // A JWS: base64url header (always `{"` → "eyJ"), payload and (possibly empty) signature.
    {"jwt", R"(\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)", nullptr, false},
}};

std::unique_ptr<re2::RE2> compile(const ConfigNode& node, const std::string& key,
                                  const std::string& pattern) {
  re2::RE2::Options options;
  options.set_log_errors(false);
  auto re = std::make_unique<re2::RE2>(pattern, options);
  if (!re->ok()) {
    node.fail(key, fmt::format("invalid regular expression '{}': {}", pattern, re->error()));
  }
  return re;
}

std::vector<std::unique_ptr<re2::RE2>> compile_list(const ConfigNode& node, std::string_view key,
                                                    const std::vector<std::string>& patterns) {
  std::vector<std::unique_ptr<re2::RE2>> out;
  for (size_t i = 0; i < patterns.size(); ++i) {
    out.push_back(compile(node, fmt::format("{}[{}]", key, i), patterns[i]));
  }
  return out;
}

bool any_match(const std::vector<std::unique_ptr<re2::RE2>>& list, std::string_view s) {
  for (const auto& re : list) {
    if (partial_match(*re, s)) return true;
  }
  return false;
}

template <class T>
core::ArenaVector<T> clone(Arena& arena, const core::ArenaVector<T>& src) {
  core::ArenaVector<T> out;
  out.reserve(arena, src.size());
  for (const T& e : src) out.push_back(arena, e);
  return out;
}

struct EvpMdFree {
  void operator()(EVP_MD* md) const { EVP_MD_free(md); }
};

struct Options {
  bool allow_all_keys = false;
  std::vector<std::string> allowed_keys;
  std::vector<std::string> ignored_keys;
  std::vector<std::unique_ptr<re2::RE2>> ignored_key_patterns;
  std::vector<std::unique_ptr<re2::RE2>> blocked_key_patterns;
  std::vector<std::unique_ptr<re2::RE2>> allowed_values;
  std::vector<ValuePattern> value_patterns;  // blocked_values, then builtin_patterns
  bool redact_all_types = false;
  bool redact_span_names = false;
  // Fetched once: OpenSSL 3 would look the algorithm up again on every digest. Null: "****".
  std::unique_ptr<EVP_MD, EvpMdFree> digest;
  Summary summary = Summary::kSilent;
};

// ---------------------------------------------------------------------------------------------
// The processor

class RedactionProcessor : public pipeline::Processor {
 public:
  RedactionProcessor(const pipeline::CreateContext& ctx, Options o, pipeline::TracesConsumer& next)
      : o_(std::move(o)),
        next_(next),
        masked_key_(ctx.metrics.counter("hodos_processor_redaction_masked_total",
                                        "Attributes (and span names) masked by the redaction "
                                        "processor, by what matched: the key or the value.",
                                        {{"processor", ctx.id.str()}, {"kind", "key"}})),
        masked_value_(ctx.metrics.counter("hodos_processor_redaction_masked_total", "",
                                          {{"processor", ctx.id.str()}, {"kind", "value"}})),
        removed_(ctx.metrics.counter("hodos_processor_redaction_removed_total",
                                     "Attributes removed by the redaction processor because "
                                     "their key is not allowed.",
                                     {{"processor", ctx.id.str()}})) {
    allowed_.insert(o_.allowed_keys.begin(), o_.allowed_keys.end());
    // The processor's own summary keys survive a second redaction processor, as in the Collector.
    for (std::string_view k : {kRedactedKeys, kRedactedCount, kMaskedKeys, kMaskedCount,
                               kAllowedKeys, kAllowedCount, kIgnoredCount}) {
      allowed_.emplace(k);
    }
    ignored_.insert(o_.ignored_keys.begin(), o_.ignored_keys.end());
    // One pass of a combined regex tells most values that nothing will match.
    if (!o_.value_patterns.empty()) {
      std::string all;
      for (const ValuePattern& p : o_.value_patterns) {
        all += fmt::format("{}(?:{})", all.empty() ? "" : "|", p.regex->pattern());
      }
      re2::RE2::Options options;
      options.set_log_errors(false);
      prefilter_ = std::make_unique<re2::RE2>(all, options);
      if (!prefilter_->ok()) prefilter_.reset();  // e.g. too big: every pattern runs instead
    }
  }

  bool mutates_data() const override { return true; }

  pipeline::Status consume(core::SpanBatch batch) override {
    if (!batch.empty()) redact(batch);
    return next_.consume(std::move(batch));
  }

 private:
  // Per-batch working memory, reused across the batch's attributes.
  struct Scratch {
    std::string buf[2];
    std::string text;  // a non-string value rendered for redact_all_types
    std::vector<std::string_view> redacted, masked, allowed;
    size_t ignored = 0;
    uint64_t masked_by_key = 0, masked_by_value = 0, removed = 0;
  };

  void redact(core::SpanBatch& batch) {
    Arena& arena = batch.arena();
    Scratch s;
    // Resources and scopes are shared by many spans (and by other batches after a split):
    // redact a copy in this batch's arena, once per distinct one, and only when it changes.
    std::vector<std::pair<const core::Resource*, const core::Resource*>> resources;
    std::vector<std::pair<const core::Scope*, const core::Scope*>> scopes;
    for (core::Span& span : batch.spans()) {
      span.resource = shared_copy(resources, span.resource, arena, s);
      span.scope = shared_copy(scopes, span.scope, arena, s);
      redact_list(span.attributes, arena, s, /*dry_run=*/false);
      for (core::Event& e : span.events) redact_list(e.attributes, arena, s, false);
      if (o_.redact_span_names && !any_match(o_.allowed_values, span.name)) {
        if (auto masked = mask_text(span.name, s)) {
          span.name = arena.copy(*masked);
          ++s.masked_by_value;
        }
      }
    }
    if (s.masked_by_key) masked_key_.add(s.masked_by_key);
    if (s.masked_by_value) masked_value_.add(s.masked_by_value);
    if (s.removed) removed_.add(s.removed);
  }

  template <class T>
  const T* shared_copy(std::vector<std::pair<const T*, const T*>>& done, const T* in, Arena& arena,
                       Scratch& s) {
    for (const auto& [from, to] : done) {
      if (from == in) return to;
    }
    const T* out = in;
    if (redact_list(const_cast<AttrList&>(in->attributes), arena, s, /*dry_run=*/true)) {
      T* copy = arena.make<T>(*in);
      copy->attributes = clone(arena, in->attributes);
      redact_list(copy->attributes, arena, s, false);
      out = copy;
    }
    done.emplace_back(in, out);
    return out;
  }

  bool ignored(std::string_view key) const {
    return ignored_.count(key) > 0 || any_match(o_.ignored_key_patterns, key);
  }
  bool removed(std::string_view key) const {
    return !o_.allow_all_keys && allowed_.count(key) == 0 && !ignored(key);
  }

  // Redacts one attribute list in place, the Collector's processAttrs. With `dry_run` nothing is
  // written (`attrs` may be shared) and the answer is whether anything would change.
  bool redact_list(AttrList& attrs, Arena& arena, Scratch& s, bool dry_run) {
    s.redacted.clear();
    s.masked.clear();
    s.allowed.clear();
    s.ignored = 0;
    for (KeyValue& kv : attrs) {
      if (ignored(kv.key)) {
        ++s.ignored;
        continue;
      }
      if (removed(kv.key)) {
        if (dry_run) return true;
        s.redacted.push_back(kv.key);
        continue;
      }
      const bool container =
          kv.value.type == ValueType::kArray || kv.value.type == ValueType::kKvList;
      const std::optional<std::string_view> text = container ? std::nullopt : as_text(kv.value, s);
      if (text && any_match(o_.allowed_values, *text)) {
        s.allowed.push_back(kv.key);
        continue;
      }
      if (any_match(o_.blocked_key_patterns, kv.key)) {
        if (dry_run) return true;
        kv.value = mask_whole(kv.value, arena, s);
        s.masked.push_back(kv.key);
        ++s.masked_by_key;
        continue;
      }
      if (container) {
        bool key_hit = false;
        AnyValue v = kv.value;
        if (redact_nested(v, arena, s, 1, key_hit, dry_run)) {
          if (dry_run) return true;
          kv.value = v;
          s.masked.push_back(kv.key);
          ++(key_hit ? s.masked_by_key : s.masked_by_value);
        }
      } else if (text) {
        if (auto masked = mask_text(*text, s)) {
          if (dry_run) return true;
          kv.value = AnyValue::string(arena.copy(*masked));
          s.masked.push_back(kv.key);
          ++s.masked_by_value;
        }
      }
    }
    if (o_.summary != Summary::kSilent && (s.ignored > 0 || !s.allowed.empty())) {
      if (dry_run) return true;
    }
    if (dry_run) return false;
    if (!s.redacted.empty()) {
      s.removed += s.redacted.size();
      attrs.erase_if([&](const KeyValue& kv) { return removed(kv.key); });
    }
    add_summary(attrs, arena, s.redacted, kRedactedKeys, kRedactedCount);
    add_summary(attrs, arena, s.masked, kMaskedKeys, kMaskedCount);
    add_summary(attrs, arena, s.allowed, kAllowedKeys, kAllowedCount);
    if (o_.summary != Summary::kSilent && s.ignored > 0) {
      add_count(attrs, arena, kIgnoredCount, static_cast<int64_t>(s.ignored));
    }
    return true;
  }

  // Strings inside arrays and maps (a Hodos addition: the Collector looks at strings only).
  // Containers are copied before they change: they may belong to a shared resource.
  bool redact_nested(AnyValue& v, Arena& arena, Scratch& s, int depth, bool& key_hit,
                     bool dry_run) {
    switch (v.type) {
      case ValueType::kArray:
      case ValueType::kKvList:
        break;
      default: {
        const std::optional<std::string_view> text = as_text(v, s);
        if (!text || any_match(o_.allowed_values, *text)) return false;
        auto masked = mask_text(*text, s);
        if (!masked) return false;
        if (!dry_run) v = AnyValue::string(arena.copy(*masked));
        return true;
      }
    }
    if (depth > kMaxDepth) {
      if (!dry_run) v = mask_whole(v, arena, s);
      return true;
    }
    bool changed = false;
    if (v.type == ValueType::kArray) {
      core::ArenaVector<AnyValue> out;
      for (size_t i = 0; i < v.array.size(); ++i) {
        AnyValue e = v.array[i];
        if (!redact_nested(e, arena, s, depth + 1, key_hit, dry_run)) continue;
        if (dry_run) return true;
        if (!changed) out = clone(arena, v.array);
        changed = true;
        out[i] = e;
      }
      if (changed) v = AnyValue::array_of(out);
    } else {
      core::ArenaVector<KeyValue> out;
      for (size_t i = 0; i < v.kvlist.size(); ++i) {
        KeyValue kv = v.kvlist[i];
        if (any_match(o_.blocked_key_patterns, kv.key)) {
          if (dry_run) return true;
          kv.value = mask_whole(kv.value, arena, s);
          key_hit = true;
        } else if (!redact_nested(kv.value, arena, s, depth + 1, key_hit, dry_run)) {
          continue;
        }
        if (dry_run) return true;
        if (!changed) out = clone(arena, v.kvlist);
        changed = true;
        out[i] = kv;
      }
      if (changed) v = AnyValue::kvlist_of(out);
    }
    return changed;
  }

  // The text value patterns look at: strings, and with redact_all_types other scalars too.
  std::optional<std::string_view> as_text(const AnyValue& v, Scratch& s) const {
    if (v.type == ValueType::kString) return v.str;
    if (!o_.redact_all_types) return std::nullopt;
    if (v.type != ValueType::kBool && v.type != ValueType::kInt && v.type != ValueType::kDouble) {
      return std::nullopt;
    }
    s.text = v.to_string();
    return std::string_view(s.text);
  }

  // A blocked key's value: "****", or the hash of its text.
  AnyValue mask_whole(const AnyValue& v, Arena& arena, Scratch& s) const {
    if (!o_.digest) return AnyValue::string(kMask);
    std::string& out = s.buf[0];
    out.clear();
    if (v.type == ValueType::kString) {
      append_mask(v.str, out);
    } else {
      const std::string text = v.to_string();
      append_mask(text, out);
    }
    return AnyValue::string(arena.copy(out));
  }

  void append_mask(std::string_view match, std::string& out) const {
    if (!o_.digest) {
      out += kMask;
      return;
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(match.data(), match.size(), md, &len, o_.digest.get(), nullptr);
    const size_t at = out.size();
    out.resize(at + 2 * len);
    core::hex_encode(md, len, out.data() + at);
  }

  // Applies blocked_values then the builtin patterns; the masked text (in `s`), or nullopt when
  // nothing matched.
  std::optional<std::string_view> mask_text(std::string_view in, Scratch& s) const {
    if (o_.value_patterns.empty()) return std::nullopt;
    if (prefilter_ && !partial_match(*prefilter_, in)) return std::nullopt;
    std::string_view current = in;
    int current_buf = -1;  // which of s.buf holds `current`; -1 = the input
    // A mask can expose a match a pattern earlier in the list missed ("a@b.io4111111111111111":
    // the card gets its word boundary once the email is gone), so repeat until nothing changes.
    for (int round = 0; round < kMaxRounds; ++round) {
      bool changed = false;
      for (const ValuePattern& p : o_.value_patterns) {
        const int out_buf = current_buf == 0 ? 1 : 0;
        if (mask_matches(p, current, s.buf[out_buf])) {
          current_buf = out_buf;
          current = s.buf[out_buf];
          changed = true;
        }
      }
      if (!changed) break;
    }
    if (current_buf < 0) return std::nullopt;
    return current;
  }

  // Writes `in` with every confirmed match of `p` masked into `out`; false when none.
  bool mask_matches(const ValuePattern& p, std::string_view in, std::string& out) const {
    re2::StringPiece groups[2];
    const int ngroups = p.mask_group1 ? 2 : 1;
    size_t pos = 0, copied = 0;
    bool changed = false;
    while (pos <= in.size() &&
           p.regex->Match(piece(in), pos, in.size(), re2::RE2::UNANCHORED, groups, ngroups)) {
      const size_t begin = static_cast<size_t>(groups[0].data() - in.data());
      const size_t end = begin + groups[0].size();
      std::optional<Range> mask = Range{begin, end};
      if (p.mask_group1 && groups[1].data()) {
        const size_t g = static_cast<size_t>(groups[1].data() - in.data());
        mask = Range{g, g + groups[1].size()};
      }
      if (p.check) mask = p.check(in, {begin, end});
      if (!mask || mask->second == mask->first) {
        // Not confirmed (or empty): a candidate may still start inside this one.
        pos = begin + 1;
        continue;
      }
      if (!changed) out.clear();
      changed = true;
      out.append(in.substr(copied, mask->first - copied));
      append_mask(in.substr(mask->first, mask->second - mask->first), out);
      copied = mask->second;
      pos = end;
    }
    if (changed) out.append(in.substr(copied));
    return changed;
  }

  void add_summary(AttrList& attrs, Arena& arena, std::vector<std::string_view>& keys,
                   std::string_view keys_attr, std::string_view count_attr) const {
    if (keys.empty() || o_.summary == Summary::kSilent) return;
    if (o_.summary == Summary::kDebug) {
      // Merged with what an earlier redaction processor wrote, sorted, as the Collector does.
      std::vector<std::string_view> all = keys;
      if (const AnyValue* prev = core::find_attribute(attrs, keys_attr);
          prev && prev->type == ValueType::kString) {
        std::string_view rest = prev->str;
        while (!rest.empty()) {
          const size_t comma = rest.find(',');
          all.push_back(rest.substr(0, comma));
          rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
        }
      }
      std::sort(all.begin(), all.end());
      std::string joined;
      for (std::string_view k : all) {
        if (!joined.empty()) joined += ',';
        joined += k;
      }
      put(attrs, arena, keys_attr, AnyValue::string(arena.copy(joined)));
    }
    add_count(attrs, arena, count_attr, static_cast<int64_t>(keys.size()));
  }

  static void add_count(AttrList& attrs, Arena& arena, std::string_view key, int64_t n) {
    if (const AnyValue* prev = core::find_attribute(attrs, key);
        prev && prev->type == ValueType::kInt) {
      n += prev->int_value;
    }
    put(attrs, arena, key, AnyValue::integer(n));
  }

  // `key` is one of the static summary names, so it needs no copy.
  static void put(AttrList& attrs, Arena& arena, std::string_view key, const AnyValue& v) {
    if (AnyValue* existing = core::find_attribute(attrs, key)) {
      *existing = v;
    } else {
      attrs.push_back(arena, KeyValue{key, v});
    }
  }

  const Options o_;
  std::set<std::string, std::less<>> allowed_;
  std::set<std::string, std::less<>> ignored_;
  std::unique_ptr<re2::RE2> prefilter_;
  pipeline::TracesConsumer& next_;
  pipeline::Counter& masked_key_;
  pipeline::Counter& masked_value_;
  pipeline::Counter& removed_;
};

class RedactionProcessorFactory : public pipeline::ProcessorFactory {
 public:
  std::string_view type() const override { return "redaction"; }

  std::unique_ptr<pipeline::Processor> create(const pipeline::CreateContext& ctx,
                                              ConfigNode& config,
                                              pipeline::TracesConsumer& next) const override {
    for (std::string_view key : {"url_sanitizer", "db_sanitizer"}) {
      if (config.has(key)) {
        config.fail(key,
                    "not supported by Hodos; mask what matters in URLs and queries with "
                    "blocked_values or builtin_patterns");
      }
    }
    Options o;
    o.allow_all_keys = config.get_bool("allow_all_keys", false);
    o.allowed_keys = config.get_string_list("allowed_keys");
    o.ignored_keys = config.get_string_list("ignored_keys");
    o.ignored_key_patterns = compile_list(config, "ignored_key_patterns",
                                          config.get_string_list("ignored_key_patterns"));
    o.blocked_key_patterns = compile_list(config, "blocked_key_patterns",
                                          config.get_string_list("blocked_key_patterns"));
    o.allowed_values =
        compile_list(config, "allowed_values", config.get_string_list("allowed_values"));
    const auto blocked_values = config.get_string_list("blocked_values");
    for (size_t i = 0; i < blocked_values.size(); ++i) {
      ValuePattern p;
      p.name = fmt::format("blocked_values[{}]", i);
      p.regex = compile(config, p.name, blocked_values[i]);
      o.value_patterns.push_back(std::move(p));
    }
    const auto builtins = config.get_string_list("builtin_patterns");
    std::set<std::string> seen;
    for (size_t i = 0; i < builtins.size(); ++i) {
      const auto* b = std::find_if(kBuiltins.begin(), kBuiltins.end(),
                                   [&](const BuiltinPattern& x) { return x.name == builtins[i]; });
      const std::string key = fmt::format("builtin_patterns[{}]", i);
      if (b == kBuiltins.end()) {
        config.fail(key, fmt::format("unknown pattern '{}'; use {}", builtins[i], kBuiltinNames));
      }
      if (!seen.insert(builtins[i]).second) continue;
      ValuePattern p;
      p.name = builtins[i];
      p.regex = compile(config, key, std::string(b->regex));
      p.check = b->check;
      p.mask_group1 = b->mask_group1;
      o.value_patterns.push_back(std::move(p));
    }
    o.redact_all_types = config.get_bool("redact_all_types", false);
    o.redact_span_names = config.get_bool("redact_span_names", false);
    const std::string hash = config.get_string("hash_function", "none");
    const std::string summary = config.get_string("summary", "silent");
    config.reject_unknown_keys();

    const char* algorithm = nullptr;
    if (hash == "md5") {
      algorithm = "MD5";
    } else if (hash == "sha1") {
      algorithm = "SHA1";
    } else if (hash == "sha3") {
      algorithm = "SHA3-256";
    } else if (hash != "none" && !hash.empty()) {
      config.fail("hash_function",
                  fmt::format("unknown hash function '{}'; use none, md5, sha1 or sha3", hash));
    }
    if (algorithm) {
      o.digest.reset(EVP_MD_fetch(nullptr, algorithm, nullptr));
      // E.g. MD5 under an OpenSSL FIPS configuration.
      if (!o.digest) {
        config.fail("hash_function",
                    fmt::format("{} is not available in this OpenSSL; use another", hash));
      }
    }
    if (summary == "silent" || summary.empty()) {
      o.summary = Summary::kSilent;
    } else if (summary == "info") {
      o.summary = Summary::kInfo;
    } else if (summary == "debug") {
      o.summary = Summary::kDebug;
    } else {
      config.fail("summary",
                  fmt::format("unknown summary '{}'; use debug, info or silent", summary));
    }

    // Failing closed is the Collector's design, but it surprises: say so once at start.
    auto logger = ctx.logger ? ctx.logger : spdlog::default_logger();
    if (!o.allow_all_keys) {
      if (o.allowed_keys.empty() && o.ignored_keys.empty() && o.ignored_key_patterns.empty()) {
        logger->warn(
            "{}: allow_all_keys is false and allowed_keys is empty: every attribute (resource "
            "attributes included) will be removed; set allow_all_keys: true to only mask values",
            ctx.id.str());
      } else if (std::find(o.allowed_keys.begin(), o.allowed_keys.end(), "service.name") ==
                     o.allowed_keys.end() &&
                 std::find(o.ignored_keys.begin(), o.ignored_keys.end(), "service.name") ==
                     o.ignored_keys.end()) {
        logger->warn("{}: service.name is not in allowed_keys: spans will lose their service",
                     ctx.id.str());
      }
    }
    return std::make_unique<RedactionProcessor>(ctx, std::move(o), next);
  }
};

}  // namespace

std::unique_ptr<pipeline::ProcessorFactory> make_redaction_processor_factory() {
  return std::make_unique<RedactionProcessorFactory>();
}

}  // namespace hodos::processors
