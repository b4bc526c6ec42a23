#include "processors/attributes.h"

#include <fmt/format.h>
#include <openssl/evp.h>
#include <re2/re2.h>

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstring>
#include <optional>
#include <string>

#include "core/ids.h"
#include "core/span_batch.h"

namespace hodos::processors {

using core::AnyValue;
using core::Arena;
using core::AttrList;
using core::KeyValue;
using core::ValueType;
using pipeline::ConfigError;
using pipeline::ConfigNode;

// ---------------------------------------------------------------------------------------------
// Config helpers

void reject_keys_except(const ConfigNode& node, std::initializer_list<std::string_view> known) {
  const YAML::Node& yaml = node.yaml();
  if (!yaml || !yaml.IsMap()) return;
  for (const auto& item : yaml) {
    const std::string key = item.first.Scalar();
    bool ok = false;
    for (std::string_view k : known) ok = ok || k == key;
    if (ok) continue;
    std::string list;
    for (std::string_view k : known) list += fmt::format("{}{}", list.empty() ? "" : ", ", k);
    throw ConfigError(node.path_of(key), "unknown key; valid keys are: " + list);
  }
}

namespace {

bool is_plain(const YAML::Node& node) { return node.Tag() == "?"; }

std::optional<int64_t> parse_int(std::string_view s, int base = 10) {
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  if (s.empty() || s.front() == '+') return std::nullopt;
  int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v, base);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<double> parse_double(std::string_view s) {
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  if (s.empty() || s.front() == '+') return std::nullopt;
  double v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

// YAML 1.2 core-schema resolution of a plain scalar, as the Collector's YAML reader does it.
AnyValue resolve_plain_scalar(const std::string& s, Arena& arena) {
  if (s == "true" || s == "True" || s == "TRUE") return AnyValue::boolean(true);
  if (s == "false" || s == "False" || s == "FALSE") return AnyValue::boolean(false);
  std::string_view v = s;
  bool negative = !v.empty() && v.front() == '-';
  std::string_view digits = (negative || (!v.empty() && v.front() == '+')) ? v.substr(1) : v;
  if (digits.size() > 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'o')) {
    if (auto i = parse_int(digits.substr(2), digits[1] == 'x' ? 16 : 8)) {
      return AnyValue::integer(negative ? -*i : *i);
    }
  }
  if (auto i = parse_int(v)) return AnyValue::integer(*i);
  if (digits == ".inf" || digits == ".Inf" || digits == ".INF") {
    return AnyValue::floating(negative ? -HUGE_VAL : HUGE_VAL);
  }
  if (v == ".nan" || v == ".NaN" || v == ".NAN") return AnyValue::floating(std::nan(""));
  // Only things that look like numbers: from_chars alone would also take "inf" and "nan".
  if (!digits.empty() &&
      (std::isdigit(static_cast<unsigned char>(digits[0])) || digits[0] == '.')) {
    if (auto d = parse_double(v)) return AnyValue::floating(*d);
  }
  return AnyValue::string(arena.copy(s));
}

}  // namespace

AnyValue yaml_to_value(const YAML::Node& node, Arena& arena) {
  if (!node || node.IsNull()) return AnyValue();
  if (node.IsScalar()) {
    if (is_plain(node)) return resolve_plain_scalar(node.Scalar(), arena);
    return AnyValue::string(arena.copy(node.Scalar()));
  }
  if (node.IsSequence()) {
    core::ArenaVector<AnyValue> values;
    values.reserve(arena, node.size());
    for (const auto& item : node) values.push_back(arena, yaml_to_value(item, arena));
    return AnyValue::array_of(values);
  }
  AttrList kvs;
  kvs.reserve(arena, node.size());
  for (const auto& item : node) {
    kvs.push_back(arena,
                  KeyValue{arena.copy(item.first.Scalar()), yaml_to_value(item.second, arena)});
  }
  return AnyValue::kvlist_of(kvs);
}

namespace {

std::unique_ptr<re2::RE2> compile_regex(const ConfigNode& node, std::string_view key,
                                        const std::string& pattern) {
  re2::RE2::Options options;
  options.set_log_errors(false);
  auto re = std::make_unique<re2::RE2>(pattern, options);
  if (!re->ok()) {
    node.fail(key, fmt::format("invalid regular expression '{}': {}", pattern, re->error()));
  }
  return re;
}

bool partial_match(const re2::RE2& re, std::string_view s) {
  return re2::RE2::PartialMatch(re2::StringPiece(s.data(), s.size()), re);
}

// ---------------------------------------------------------------------------------------------
// Value transformations

// SHA-256 as the Collector's hash action computes it: strings by their bytes, bools as one byte,
// ints and doubles as 8 little-endian bytes; other types (and the empty string) become "".
void hash_value(Arena& arena, AnyValue& v) {
  unsigned char scratch[8];
  std::string_view input;
  auto little_endian = [&](uint64_t u) {
    for (int i = 0; i < 8; ++i) scratch[i] = static_cast<unsigned char>(u >> (8 * i));
    input = {reinterpret_cast<const char*>(scratch), 8};
  };
  switch (v.type) {
    case ValueType::kString:
      input = v.str;
      break;
    case ValueType::kBool:
      scratch[0] = v.bool_value ? 1 : 0;
      input = {reinterpret_cast<const char*>(scratch), 1};
      break;
    case ValueType::kInt:
      little_endian(static_cast<uint64_t>(v.int_value));
      break;
    case ValueType::kDouble: {
      uint64_t bits;
      std::memcpy(&bits, &v.double_value, sizeof bits);
      little_endian(bits);
      break;
    }
    default:
      break;
  }
  if (input.empty()) {
    v = AnyValue::string({});
    return;
  }
  // Fetched once: with EVP_sha256() OpenSSL 3 looks the algorithm up again on every digest,
  // which cost as much as hashing a short value.
  static EVP_MD* const sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  EVP_Digest(input.data(), input.size(), digest, &digest_len, sha256 ? sha256 : EVP_sha256(),
             nullptr);
  char* hex = arena.allocate_array<char>(digest_len * 2);
  core::hex_encode(digest, digest_len, hex);
  v = AnyValue::string({hex, digest_len * 2});
}

enum class ConvertTo { kInt, kDouble, kString };

// The Collector's convert action: values that cannot be converted are left as they are.
void convert_value(Arena& arena, AnyValue& v, ConvertTo to) {
  switch (to) {
    case ConvertTo::kString:
      if (v.type != ValueType::kString) v = AnyValue::string(arena.copy(v.to_string()));
      break;
    case ConvertTo::kInt:
      switch (v.type) {
        case ValueType::kDouble:
          // Out-of-range doubles have no int64 value; leave them rather than invoke UB.
          if (std::isfinite(v.double_value) && std::fabs(v.double_value) < 9.2e18) {
            v = AnyValue::integer(static_cast<int64_t>(v.double_value));
          }
          break;
        case ValueType::kBool:
          v = AnyValue::integer(v.bool_value ? 1 : 0);
          break;
        case ValueType::kString:
          if (auto i = parse_int(v.str)) v = AnyValue::integer(*i);
          break;
        default:
          break;
      }
      break;
    case ConvertTo::kDouble:
      switch (v.type) {
        case ValueType::kInt:
          v = AnyValue::floating(static_cast<double>(v.int_value));
          break;
        case ValueType::kBool:
          v = AnyValue::floating(v.bool_value ? 1 : 0);
          break;
        case ValueType::kString:
          if (auto d = parse_double(v.str)) v = AnyValue::floating(*d);
          break;
        default:
          break;
      }
      break;
  }
}

enum class ActionType { kInsert, kUpdate, kUpsert, kDelete, kHash, kExtract, kConvert };

constexpr std::string_view kActionNames = "insert, update, upsert, delete, hash, extract, convert";

std::optional<ActionType> parse_action_type(std::string name) {
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (name == "insert") return ActionType::kInsert;
  if (name == "update") return ActionType::kUpdate;
  if (name == "upsert") return ActionType::kUpsert;
  if (name == "delete") return ActionType::kDelete;
  if (name == "hash") return ActionType::kHash;
  if (name == "extract") return ActionType::kExtract;
  if (name == "convert") return ActionType::kConvert;
  return std::nullopt;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// AttributeActions

struct AttributeActions::Action {
  ActionType type = ActionType::kUpsert;
  std::string key;
  std::string from_attribute;
  bool has_value = false;
  AnyValue value;  // in config_arena_
  std::unique_ptr<re2::RE2> regex;
  std::vector<std::string> group_names;  // extract: the key for capture group i+1
  ConvertTo convert_to = ConvertTo::kString;
};

AttributeActions::AttributeActions() : config_arena_(std::make_unique<Arena>(1024)) {}
AttributeActions::AttributeActions(AttributeActions&&) noexcept = default;
AttributeActions& AttributeActions::operator=(AttributeActions&&) noexcept = default;
AttributeActions::~AttributeActions() = default;

size_t AttributeActions::size() const { return actions_.size(); }

AttributeActions AttributeActions::parse(std::vector<ConfigNode> items) {
  AttributeActions out;
  for (ConfigNode& item : items) {
    reject_keys_except(item, {"key", "value", "pattern", "from_attribute", "from_context",
                              "converted_type", "action"});
    Action a;
    const std::string action_name = item.get_string("action", "");
    if (action_name.empty()) item.fail("action", fmt::format("required; use {}", kActionNames));
    auto type = parse_action_type(action_name);
    if (!type) {
      item.fail("action", fmt::format("unknown action '{}'; use {}", action_name, kActionNames));
    }
    a.type = *type;
    std::string name = action_name;
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    a.key = item.get_string("key", "");
    a.from_attribute = item.get_string("from_attribute", "");
    const std::string pattern = item.get_string("pattern", "");
    const std::string converted_type = item.get_string("converted_type", "");
    const YAML::Node value = item.has("value") ? item.yaml()["value"] : YAML::Node();
    a.has_value = value && !value.IsNull();
    if (item.has("from_context")) {
      item.fail("from_context",
                "not supported: Hodos receivers pass no client metadata; use value or "
                "from_attribute");
    }
    auto not_used = [&](std::string_view key) {
      item.fail(key, fmt::format("not used by action '{}'; remove it", name));
    };

    switch (a.type) {
      case ActionType::kInsert:
      case ActionType::kUpdate:
      case ActionType::kUpsert:
        if (a.key.empty()) item.fail("key", fmt::format("required for action '{}'", name));
        if (!a.has_value && a.from_attribute.empty()) {
          item.fail("value", fmt::format("required for action '{}' (or set from_attribute)", name));
        }
        if (a.has_value && !a.from_attribute.empty()) {
          item.fail("from_attribute", "set either value or from_attribute, not both");
        }
        if (!pattern.empty()) not_used("pattern");
        if (!converted_type.empty()) not_used("converted_type");
        if (a.has_value) a.value = yaml_to_value(value, *out.config_arena_);
        break;
      case ActionType::kDelete:
      case ActionType::kHash:
        if (a.key.empty() && pattern.empty()) {
          item.fail("key", fmt::format("required for action '{}' (or set pattern)", name));
        }
        if (a.has_value) not_used("value");
        if (!a.from_attribute.empty()) not_used("from_attribute");
        if (!converted_type.empty()) not_used("converted_type");
        if (!pattern.empty()) a.regex = compile_regex(item, "pattern", pattern);
        break;
      case ActionType::kExtract: {
        if (a.key.empty()) item.fail("key", "required for action 'extract'");
        if (a.has_value) not_used("value");
        if (!a.from_attribute.empty()) not_used("from_attribute");
        if (!converted_type.empty()) not_used("converted_type");
        if (pattern.empty()) {
          item.fail("pattern",
                    "required for action 'extract': a regex with named groups such "
                    "as '^/api/(?P<version>v[0-9]+)/'");
        }
        a.regex = compile_regex(item, "pattern", pattern);
        const int groups = a.regex->NumberOfCapturingGroups();
        if (groups == 0) {
          item.fail("pattern", "has no named groups; name each group like (?P<name>...)");
        }
        const auto& names = a.regex->CapturingGroupNames();
        for (int g = 1; g <= groups; ++g) {
          auto it = names.find(g);
          if (it == names.end()) {
            item.fail("pattern", fmt::format("group {} has no name; name every group like "
                                             "(?P<name>...)",
                                             g));
          }
          a.group_names.push_back(it->second);
        }
        break;
      }
      case ActionType::kConvert:
        if (a.key.empty()) item.fail("key", "required for action 'convert'");
        if (a.has_value) not_used("value");
        if (!a.from_attribute.empty()) not_used("from_attribute");
        if (!pattern.empty()) not_used("pattern");
        if (converted_type == "int") {
          a.convert_to = ConvertTo::kInt;
        } else if (converted_type == "double") {
          a.convert_to = ConvertTo::kDouble;
        } else if (converted_type == "string") {
          a.convert_to = ConvertTo::kString;
        } else if (converted_type.empty()) {
          item.fail("converted_type", "required for action 'convert'; use int, double or string");
        } else {
          item.fail("converted_type",
                    fmt::format("unknown type '{}'; use int, double or string", converted_type));
        }
        break;
    }
    out.actions_.push_back(std::move(a));
  }
  return out;
}

AttributeActions::Bound AttributeActions::bind(Arena& arena) const {
  Bound b;
  b.constants_.reserve(actions_.size());
  b.group_names_.resize(actions_.size());
  for (size_t i = 0; i < actions_.size(); ++i) {
    const Action& a = actions_[i];
    b.constants_.push_back(
        KeyValue{arena.copy(a.key), a.has_value ? a.value.copy_into(arena) : AnyValue()});
    for (const std::string& g : a.group_names) b.group_names_[i].push_back(arena.copy(g));
  }
  return b;
}

namespace {

void put(Arena& arena, AttrList& attrs, std::string_view bound_key, const AnyValue& value) {
  if (AnyValue* existing = core::find_attribute(attrs, bound_key)) {
    *existing = value;
  } else {
    attrs.push_back(arena, KeyValue{bound_key, value});
  }
}

}  // namespace

void AttributeActions::apply(const Bound& bound, Arena& arena, AttrList& attrs) const {
  for (size_t i = 0; i < actions_.size(); ++i) {
    const Action& a = actions_[i];
    const KeyValue& constant = bound.constants_[i];
    switch (a.type) {
      case ActionType::kInsert:
      case ActionType::kUpdate:
      case ActionType::kUpsert: {
        AnyValue source;
        if (a.has_value) {
          source = constant.value;
        } else {
          const AnyValue* from = core::find_attribute(attrs, a.from_attribute);
          if (!from) continue;
          source = *from;  // its data already lives in this batch's arenas
        }
        AnyValue* existing = core::find_attribute(attrs, a.key);
        if (existing) {
          if (a.type != ActionType::kInsert) *existing = source;
        } else if (a.type != ActionType::kUpdate) {
          attrs.push_back(arena, KeyValue{constant.key, source});
        }
        break;
      }
      case ActionType::kDelete:
        if (!a.key.empty()) core::erase_attribute(attrs, a.key);
        if (a.regex)
          attrs.erase_if([&](const KeyValue& kv) { return partial_match(*a.regex, kv.key); });
        break;
      case ActionType::kHash:
        if (!a.key.empty()) {
          if (AnyValue* v = core::find_attribute(attrs, a.key)) hash_value(arena, *v);
        }
        if (a.regex) {
          for (KeyValue& kv : attrs) {
            // The exact key was hashed above already; do not hash the hash.
            if (kv.key != a.key && partial_match(*a.regex, kv.key)) hash_value(arena, kv.value);
          }
        }
        break;
      case ActionType::kExtract: {
        const AnyValue* v = core::find_attribute(attrs, a.key);
        if (!v || v->type != ValueType::kString) break;
        const std::string_view text = v->str;
        const size_t n = a.group_names.size() + 1;
        re2::StringPiece stack_groups[16];
        std::vector<re2::StringPiece> heap_groups;
        re2::StringPiece* groups = stack_groups;
        if (n > std::size(stack_groups)) {
          heap_groups.resize(n);
          groups = heap_groups.data();
        }
        if (!a.regex->Match(re2::StringPiece(text.data(), text.size()), 0, text.size(),
                            re2::RE2::UNANCHORED, groups, static_cast<int>(n))) {
          break;
        }
        for (size_t g = 1; g < n; ++g) {
          // The captured text is a slice of a value already in this batch: no copy needed.
          put(arena, attrs, bound.group_names_[i][g - 1],
              AnyValue::string(std::string_view(groups[g].data(), groups[g].size())));
        }
        break;
      }
      case ActionType::kConvert:
        if (AnyValue* v = core::find_attribute(attrs, a.key))
          convert_value(arena, *v, a.convert_to);
        break;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// include / exclude

namespace {

std::string_view span_kind_string(core::SpanKind kind) {
  switch (kind) {
    case core::SpanKind::kInternal:
      return "SPAN_KIND_INTERNAL";
    case core::SpanKind::kServer:
      return "SPAN_KIND_SERVER";
    case core::SpanKind::kClient:
      return "SPAN_KIND_CLIENT";
    case core::SpanKind::kProducer:
      return "SPAN_KIND_PRODUCER";
    case core::SpanKind::kConsumer:
      return "SPAN_KIND_CONSUMER";
    default:
      return "SPAN_KIND_UNSPECIFIED";
  }
}

// Matches a string against a list of items: exact strings (strict) or unanchored regexes, as the
// Collector's filterset does.
class StringFilter {
 public:
  StringFilter() = default;
  StringFilter(const ConfigNode& node, std::string_view key, const std::vector<std::string>& items,
               bool regexp) {
    active_ = !items.empty();
    for (size_t i = 0; i < items.size(); ++i) {
      if (regexp) {
        regexes_.push_back(compile_regex(node, fmt::format("{}[{}]", key, i), items[i]));
      } else {
        strings_.push_back(items[i]);
      }
    }
  }
  bool active() const { return active_; }
  bool matches(std::string_view s) const {
    for (const std::string& item : strings_) {
      if (item == s) return true;
    }
    for (const auto& re : regexes_) {
      if (partial_match(*re, s)) return true;
    }
    return false;
  }

 private:
  bool active_ = false;
  std::vector<std::string> strings_;
  std::vector<std::unique_ptr<re2::RE2>> regexes_;
};

// The string form the Collector's regexp attribute matching uses; nullopt for arrays and maps.
std::optional<std::string> match_string(const AnyValue& v) {
  switch (v.type) {
    case ValueType::kString:
      return std::string(v.str);
    case ValueType::kBool:
    case ValueType::kInt:
    case ValueType::kDouble:
      return v.to_string();
    default:
      return std::nullopt;
  }
}

struct AttributeMatcher {
  std::string key;
  bool has_value = false;
  AnyValue value;  // strict: compared by type and value
  std::unique_ptr<re2::RE2> regex;

  bool matches(const AttrList& attrs) const {
    const AnyValue* v = core::find_attribute(attrs, key);
    if (!v) return false;
    if (regex) {
      if (v->type == ValueType::kString) return partial_match(*regex, v->str);
      auto s = match_string(*v);
      return s && partial_match(*regex, *s);
    }
    return !has_value || *v == value;
  }
};

struct LibraryMatcher {
  StringFilter name;
  std::optional<StringFilter> version;
};

class MatchProperties {
 public:
  explicit MatchProperties(ConfigNode& node) {
    const std::string match_type = node.get_string("match_type", "");
    bool regexp_present = false;
    ConfigNode regexp_opts = node.child("regexp", &regexp_present);
    regexp_opts.get_bool("cacheenabled", false);  // caching is a Go optimisation; accepted
    regexp_opts.get_int("cachemaxnumentries", 0, 0);
    regexp_opts.reject_unknown_keys();
    const auto services = node.get_string_list("services");
    const auto span_names = node.get_string_list("span_names");
    const auto span_kinds = node.get_string_list("span_kinds");
    auto attributes = node.child_list("attributes");
    auto resources = node.child_list("resources");
    auto libraries = node.child_list("libraries");
    node.reject_unknown_keys();

    if (match_type.empty()) node.fail("match_type", "required; use strict or regexp");
    if (match_type != "strict" && match_type != "regexp") {
      node.fail("match_type",
                fmt::format("unknown match_type '{}'; use strict or regexp", match_type));
    }
    const bool regexp = match_type == "regexp";
    if (services.empty() && span_names.empty() && span_kinds.empty() && attributes.empty() &&
        resources.empty() && libraries.empty()) {
      throw ConfigError(node.path(),
                        "set at least one of services, span_names, span_kinds, attributes, "
                        "resources or libraries");
    }
    if (!regexp) {
      for (size_t i = 0; i < span_kinds.size(); ++i) {
        const std::string& k = span_kinds[i];
        if (k != "SPAN_KIND_INTERNAL" && k != "SPAN_KIND_SERVER" && k != "SPAN_KIND_CLIENT" &&
            k != "SPAN_KIND_PRODUCER" && k != "SPAN_KIND_CONSUMER") {
          node.fail(fmt::format("span_kinds[{}]", i),
                    fmt::format("unknown span kind '{}'; use SPAN_KIND_CLIENT, SPAN_KIND_CONSUMER, "
                                "SPAN_KIND_INTERNAL, SPAN_KIND_PRODUCER or SPAN_KIND_SERVER",
                                k));
        }
      }
    }
    services_ = StringFilter(node, "services", services, regexp);
    span_names_ = StringFilter(node, "span_names", span_names, regexp);
    span_kinds_ = StringFilter(node, "span_kinds", span_kinds, regexp);
    attributes_ = read_attributes(attributes, regexp);
    resources_ = read_attributes(resources, regexp);
    for (ConfigNode& lib : libraries) {
      reject_keys_except(lib, {"name", "version"});
      LibraryMatcher m;
      m.name = StringFilter(lib, "name", {lib.require_string("name")}, regexp);
      if (lib.has("version")) {
        m.version = StringFilter(lib, "version", {lib.get_string("version", "")}, regexp);
      }
      libraries_.push_back(std::move(m));
    }
  }

  bool matches(const core::Span& span) const {
    if (services_.active()) {
      const AnyValue* svc = core::find_attribute(span.resource->attributes, "service.name");
      if (!svc) {
        if (!services_.matches("<nil-service-name>")) return false;
      } else if (svc->type == ValueType::kString) {
        if (!services_.matches(svc->str)) return false;
      } else if (!services_.matches(svc->to_string())) {
        return false;
      }
    }
    if (span_names_.active() && !span_names_.matches(span.name)) return false;
    if (span_kinds_.active() && !span_kinds_.matches(span_kind_string(span.kind))) return false;
    for (const LibraryMatcher& lib : libraries_) {
      if (!lib.name.matches(span.scope->name)) return false;
      if (lib.version && !lib.version->matches(span.scope->version)) return false;
    }
    for (const AttributeMatcher& m : resources_) {
      if (!m.matches(span.resource->attributes)) return false;
    }
    for (const AttributeMatcher& m : attributes_) {
      if (!m.matches(span.attributes)) return false;
    }
    return true;
  }

 private:
  std::vector<AttributeMatcher> read_attributes(std::vector<ConfigNode>& items, bool regexp) {
    std::vector<AttributeMatcher> out;
    for (ConfigNode& item : items) {
      reject_keys_except(item, {"key", "value"});
      AttributeMatcher m;
      m.key = item.require_string("key");
      const YAML::Node value = item.has("value") ? item.yaml()["value"] : YAML::Node();
      if (value && !value.IsNull()) {
        m.has_value = true;
        m.value = yaml_to_value(value, arena_);
        if (regexp) {
          if (m.value.type != ValueType::kString) {
            item.fail("value", "match_type regexp takes a string pattern; quote the value");
          }
          m.regex = compile_regex(item, "value", std::string(m.value.str));
        }
      }
      out.push_back(std::move(m));
    }
    return out;
  }

  Arena arena_{1024};  // typed values to compare with
  StringFilter services_;
  StringFilter span_names_;
  StringFilter span_kinds_;
  std::vector<AttributeMatcher> attributes_;
  std::vector<AttributeMatcher> resources_;
  std::vector<LibraryMatcher> libraries_;
};

// ---------------------------------------------------------------------------------------------
// The processor

class AttributesProcessor : public pipeline::Processor {
 public:
  AttributesProcessor(AttributeActions actions, std::unique_ptr<MatchProperties> include,
                      std::unique_ptr<MatchProperties> exclude, pipeline::TracesConsumer& next)
      : actions_(std::move(actions)),
        include_(std::move(include)),
        exclude_(std::move(exclude)),
        next_(next) {}

  bool mutates_data() const override { return true; }

  pipeline::Status consume(core::SpanBatch batch) override {
    if (!batch.empty()) {
      Arena& arena = batch.arena();
      const AttributeActions::Bound bound = actions_.bind(arena);
      for (core::Span& span : batch.spans()) {
        if (include_ && !include_->matches(span)) continue;
        if (exclude_ && exclude_->matches(span)) continue;
        actions_.apply(bound, arena, span.attributes);
      }
    }
    return next_.consume(std::move(batch));
  }

 private:
  const AttributeActions actions_;
  const std::unique_ptr<MatchProperties> include_;
  const std::unique_ptr<MatchProperties> exclude_;
  pipeline::TracesConsumer& next_;
};

class AttributesProcessorFactory : public pipeline::ProcessorFactory {
 public:
  std::string_view type() const override { return "attributes"; }

  std::unique_ptr<pipeline::Processor> create(const pipeline::CreateContext& /*ctx*/,
                                              ConfigNode& config,
                                              pipeline::TracesConsumer& next) const override {
    auto items = config.child_list("actions");
    std::unique_ptr<MatchProperties> include, exclude;
    bool present = false;
    ConfigNode include_node = config.child("include", &present);
    if (present) include = std::make_unique<MatchProperties>(include_node);
    ConfigNode exclude_node = config.child("exclude", &present);
    if (present) exclude = std::make_unique<MatchProperties>(exclude_node);
    config.reject_unknown_keys();
    if (items.empty()) {
      config.fail("actions",
                  "required; list at least one action, e.g. "
                  "[{key: env, value: prod, action: upsert}]");
    }
    return std::make_unique<AttributesProcessor>(AttributeActions::parse(std::move(items)),
                                                 std::move(include), std::move(exclude), next);
  }
};

}  // namespace

std::unique_ptr<pipeline::ProcessorFactory> make_attributes_processor_factory() {
  return std::make_unique<AttributesProcessorFactory>();
}

}  // namespace hodos::processors
