#include "otlp/otlp_codec.h"

#include <fmt/format.h>
#include <google/protobuf/arena.h>
#include <google/protobuf/stubs/strutil.h>
#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "otlp/json_document.h"
#include "otlp/json_writer.h"
#include "otlp/otlp_wire.h"
#include "otlp/span_groups.h"

namespace hodos::otlp {

namespace {

namespace pb_common = opentelemetry::proto::common::v1;
namespace pb_trace = opentelemetry::proto::trace::v1;
namespace pb_resource = opentelemetry::proto::resource::v1;
template <class T>
using Repeated = google::protobuf::RepeatedPtrField<T>;

using core::AnyValue;
using core::Arena;
using core::AttrList;
using core::KeyValue;
using core::ValueType;

// ---------------------------------------------------------------------------------------------
// Protobuf -> model

AnyValue value_from_proto(const pb_common::AnyValue& v, Arena& arena);

AttrList attrs_from_proto(const Repeated<pb_common::KeyValue>& kvs, Arena& arena) {
  AttrList out;
  out.reserve(arena, static_cast<size_t>(kvs.size()));
  for (const pb_common::KeyValue& kv : kvs) {
    out.push_back(arena, KeyValue{arena.copy(kv.key()), value_from_proto(kv.value(), arena)});
  }
  return out;
}

AnyValue value_from_proto(const pb_common::AnyValue& v, Arena& arena) {
  switch (v.value_case()) {
    case pb_common::AnyValue::kStringValue:
      return AnyValue::string(arena.copy(v.string_value()));
    case pb_common::AnyValue::kBoolValue:
      return AnyValue::boolean(v.bool_value());
    case pb_common::AnyValue::kIntValue:
      return AnyValue::integer(v.int_value());
    case pb_common::AnyValue::kDoubleValue:
      return AnyValue::floating(v.double_value());
    case pb_common::AnyValue::kBytesValue:
      return AnyValue::bytes(arena.copy(v.bytes_value()));
    case pb_common::AnyValue::kArrayValue: {
      core::ArenaVector<AnyValue> values;
      values.reserve(arena, static_cast<size_t>(v.array_value().values_size()));
      for (const pb_common::AnyValue& e : v.array_value().values()) {
        values.push_back(arena, value_from_proto(e, arena));
      }
      return AnyValue::array_of(values);
    }
    case pb_common::AnyValue::kKvlistValue:
      return AnyValue::kvlist_of(attrs_from_proto(v.kvlist_value().values(), arena));
    case pb_common::AnyValue::VALUE_NOT_SET:
      break;
  }
  return AnyValue{};
}

// Index path of the span being decoded, for error messages.
struct SpanPath {
  int resource, scope, span;
  std::string prefix() const {
    return fmt::format("resourceSpans[{}].scopeSpans[{}].spans[{}]", resource, scope, span);
  }
};

// `link` is the index of the link the id belongs to, or -1 for the span's own ids.
template <class Id>
std::optional<std::string> id_from_proto(const std::string& raw, bool required, Id& out,
                                         const SpanPath& at, int link, std::string_view field) {
  if (raw.size() == Id::kSize || (!required && raw.empty())) {
    if (!raw.empty()) std::memcpy(out.bytes.data(), raw.data(), Id::kSize);
    return std::nullopt;
  }
  std::string where = at.prefix();
  if (link >= 0) where += fmt::format(".links[{}]", link);
  return fmt::format("{}.{}: must be {} bytes, got {}", where, field, Id::kSize, raw.size());
}

std::optional<std::string> span_from_proto(const pb_trace::Span& p, const SpanPath& at,
                                           Arena& arena, core::Span& s) {
  if (auto err = id_from_proto(p.trace_id(), true, s.trace_id, at, -1, "traceId")) return err;
  if (auto err = id_from_proto(p.span_id(), true, s.span_id, at, -1, "spanId")) return err;
  if (auto err =
          id_from_proto(p.parent_span_id(), false, s.parent_span_id, at, -1, "parentSpanId")) {
    return err;
  }
  s.trace_state = arena.copy(p.trace_state());
  s.flags = p.flags();
  s.name = arena.copy(p.name());
  s.kind = span_kind_from_int(p.kind());
  s.start_time_unix_nano = p.start_time_unix_nano();
  s.end_time_unix_nano = p.end_time_unix_nano();
  s.attributes = attrs_from_proto(p.attributes(), arena);
  s.dropped_attributes_count = p.dropped_attributes_count();

  s.events.reserve(arena, static_cast<size_t>(p.events_size()));
  for (const pb_trace::Span::Event& pe : p.events()) {
    core::Event e;
    e.time_unix_nano = pe.time_unix_nano();
    e.name = arena.copy(pe.name());
    e.attributes = attrs_from_proto(pe.attributes(), arena);
    e.dropped_attributes_count = pe.dropped_attributes_count();
    s.events.push_back(arena, e);
  }
  s.dropped_events_count = p.dropped_events_count();

  s.links.reserve(arena, static_cast<size_t>(p.links_size()));
  for (int i = 0; i < p.links_size(); ++i) {
    const pb_trace::Span::Link& pl = p.links(i);
    core::Link l;
    // Links may leave ids empty (an unknown context), but a present id has the full length.
    if (auto err = id_from_proto(pl.trace_id(), false, l.trace_id, at, i, "traceId")) return err;
    if (auto err = id_from_proto(pl.span_id(), false, l.span_id, at, i, "spanId")) return err;
    l.trace_state = arena.copy(pl.trace_state());
    l.attributes = attrs_from_proto(pl.attributes(), arena);
    l.dropped_attributes_count = pl.dropped_attributes_count();
    l.flags = pl.flags();
    s.links.push_back(arena, l);
  }
  s.dropped_links_count = p.dropped_links_count();
  s.status.code = status_code_from_int(p.status().code());
  s.status.message = arena.copy(p.status().message());
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// Model -> protobuf

void value_to_proto(const AnyValue& v, pb_common::AnyValue* p);

void attrs_to_proto(const AttrList& attrs, Repeated<pb_common::KeyValue>* out) {
  out->Reserve(static_cast<int>(attrs.size()));
  for (const KeyValue& kv : attrs) {
    pb_common::KeyValue* p = out->Add();
    p->set_key(kv.key.data(), kv.key.size());
    // Always present, as the Collector's pdata writes it (KeyValue.value is non-nullable there).
    value_to_proto(kv.value, p->mutable_value());
  }
}

void value_to_proto(const AnyValue& v, pb_common::AnyValue* p) {
  switch (v.type) {
    case ValueType::kEmpty:
      break;
    case ValueType::kString:
      p->set_string_value(v.str.data(), v.str.size());
      break;
    case ValueType::kBytes:
      p->set_bytes_value(v.str.data(), v.str.size());
      break;
    case ValueType::kBool:
      p->set_bool_value(v.bool_value);
      break;
    case ValueType::kInt:
      p->set_int_value(v.int_value);
      break;
    case ValueType::kDouble:
      p->set_double_value(v.double_value);
      break;
    case ValueType::kArray: {
      auto* values = p->mutable_array_value()->mutable_values();
      values->Reserve(static_cast<int>(v.array.size()));
      for (const AnyValue& e : v.array) value_to_proto(e, values->Add());
      break;
    }
    case ValueType::kKvList:
      attrs_to_proto(v.kvlist, p->mutable_kvlist_value()->mutable_values());
      break;
  }
}

void span_to_proto(const core::Span& s, pb_trace::Span* p) {
  p->set_trace_id(s.trace_id.bytes.data(), s.trace_id.kSize);
  p->set_span_id(s.span_id.bytes.data(), s.span_id.kSize);
  if (!s.trace_state.empty()) p->set_trace_state(s.trace_state.data(), s.trace_state.size());
  if (s.parent_span_id.valid()) {
    p->set_parent_span_id(s.parent_span_id.bytes.data(), s.parent_span_id.kSize);
  }
  p->set_flags(s.flags);
  p->set_name(s.name.data(), s.name.size());
  p->set_kind(static_cast<pb_trace::Span::SpanKind>(s.kind));
  p->set_start_time_unix_nano(s.start_time_unix_nano);
  p->set_end_time_unix_nano(s.end_time_unix_nano);
  attrs_to_proto(s.attributes, p->mutable_attributes());
  p->set_dropped_attributes_count(s.dropped_attributes_count);
  p->mutable_events()->Reserve(static_cast<int>(s.events.size()));
  for (const core::Event& e : s.events) {
    pb_trace::Span::Event* pe = p->add_events();
    pe->set_time_unix_nano(e.time_unix_nano);
    pe->set_name(e.name.data(), e.name.size());
    attrs_to_proto(e.attributes, pe->mutable_attributes());
    pe->set_dropped_attributes_count(e.dropped_attributes_count);
  }
  p->set_dropped_events_count(s.dropped_events_count);
  p->mutable_links()->Reserve(static_cast<int>(s.links.size()));
  for (const core::Link& l : s.links) {
    pb_trace::Span::Link* pl = p->add_links();
    if (l.trace_id.valid()) pl->set_trace_id(l.trace_id.bytes.data(), l.trace_id.kSize);
    if (l.span_id.valid()) pl->set_span_id(l.span_id.bytes.data(), l.span_id.kSize);
    pl->set_trace_state(l.trace_state.data(), l.trace_state.size());
    attrs_to_proto(l.attributes, pl->mutable_attributes());
    pl->set_dropped_attributes_count(l.dropped_attributes_count);
    pl->set_flags(l.flags);
  }
  p->set_dropped_links_count(s.dropped_links_count);
  // Always present, as pdata writes it.
  pb_trace::Status* status = p->mutable_status();
  status->set_code(static_cast<pb_trace::Status::StatusCode>(s.status.code));
  status->set_message(s.status.message.data(), s.status.message.size());
}

// ---------------------------------------------------------------------------------------------
// OTLP JSON -> model (simdjson DOM). Failures throw JsonError internally; the message names the
// field path, built from the Guards that are live at the throw.

struct JsonError {
  std::string message;
};

using simdjson::dom::element;
using simdjson::dom::element_type;

class JsonDecoder {
 public:
  explicit JsonDecoder(core::SpanBatch& batch) : batch_(batch), arena_(batch.arena()) {
    path_.reserve(16);
  }

  void decode_request(element root) {
    for (auto [key, value] : fields_of(root)) {
      if (key == "resourceSpans") {
        Guard g(*this, key);
        for_each(value, [&](element rs) { decode_resource_spans(rs); });
      }
    }
  }

 private:
  struct Segment {
    std::string_view key;
    int64_t index;  // -1: a plain member, otherwise an array element
  };
  // Pushes one path segment for the lifetime of the guard.
  class Guard {
   public:
    Guard(JsonDecoder& d, std::string_view key) : d_(d) { d_.path_.push_back({key, -1}); }
    ~Guard() { d_.path_.pop_back(); }
    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;

   private:
    JsonDecoder& d_;
  };

  [[noreturn]] void fail(std::string_view problem) const {
    std::string msg;
    for (const Segment& s : path_) {
      if (!msg.empty()) msg.push_back('.');
      msg.append(s.key);
      if (s.index >= 0) fmt::format_to(std::back_inserter(msg), "[{}]", s.index);
    }
    if (msg.empty()) msg = "request";
    msg += ": ";
    msg += problem;
    throw JsonError{std::move(msg)};
  }

  simdjson::dom::object object_of(element e) const {
    if (e.type() != element_type::OBJECT) fail("expected an object");
    return e.get_object().value_unsafe();
  }

  // An object's members, each field named the way the decoder matches it: protobuf's JSON
  // mapping lets a sender spell a field by its lowerCamelCase JSON name or by its proto name
  // ("trace_id"), as the Collector's pdata accepts too; the latter is turned into the former.
  class Fields {
   public:
    Fields(simdjson::dom::object object, Arena& arena) : object_(object), arena_(arena) {}
    class iterator {
     public:
      iterator(simdjson::dom::object::iterator it, Arena& arena) : it_(it), arena_(&arena) {}
      std::pair<std::string_view, element> operator*() const {
        return {json_name(it_.key(), *arena_), it_.value()};
      }
      iterator& operator++() {
        ++it_;
        return *this;
      }
      bool operator!=(const iterator& other) const { return it_ != other.it_; }

     private:
      simdjson::dom::object::iterator it_;
      Arena* arena_;
    };
    iterator begin() const { return {object_.begin(), arena_}; }
    iterator end() const { return {object_.end(), arena_}; }

   private:
    simdjson::dom::object object_;
    Arena& arena_;
  };
  Fields fields_of(element e) const { return {object_of(e), arena_}; }

  // "time_unix_nano" as "timeUnixNano"; a name without '_' as it is (no copy).
  static std::string_view json_name(std::string_view name, Arena& arena) {
    if (name.find('_') == std::string_view::npos) return name;
    std::string camel;
    camel.reserve(name.size());
    bool upper = false;
    for (char c : name) {
      if (c == '_') {
        upper = true;
        continue;
      }
      camel += upper && c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
      upper = false;
    }
    return arena.copy(camel);
  }

  // Calls fn(element) for each element of an array, with "[index]" on the path. null is [].
  template <class Fn>
  void for_each(element e, Fn&& fn) {
    if (e.type() == element_type::NULL_VALUE) return;
    if (e.type() != element_type::ARRAY) fail("expected an array");
    int64_t i = 0;
    simdjson::dom::array array = e.get_array().value_unsafe();
    for (element child : array) {
      path_.back().index = i++;
      fn(child);
    }
    path_.back().index = -1;
  }

  size_t array_size(element e) const {
    return e.type() == element_type::ARRAY ? e.get_array().value_unsafe().size() : 0;
  }

  std::string_view string_of(element e) const {
    if (e.type() != element_type::STRING) fail("expected a string");
    return e.get_string().value_unsafe();
  }
  std::string_view copy_string(element e) { return arena_.copy(string_of(e)); }

  bool bool_of(element e) const {
    if (e.type() != element_type::BOOL) fail("expected true or false");
    return e.get_bool().value_unsafe();
  }

  // Protobuf JSON: 64-bit integers usually arrive as strings, but numbers are accepted too.
  template <class Int>
  Int integer_of(element e) const {
    switch (e.type()) {
      case element_type::STRING: {
        std::string_view s = e.get_string().value_unsafe();
        Int v{};
        auto res = std::from_chars(s.data(), s.data() + s.size(), v);
        if (res.ec != std::errc() || res.ptr != s.data() + s.size() || s.empty()) break;
        return v;
      }
      case element_type::INT64: {
        int64_t v = e.get_int64().value_unsafe();
        if (v < static_cast<int64_t>(std::numeric_limits<Int>::min())) break;
        if (v >= 0 && static_cast<uint64_t>(v) > std::numeric_limits<Int>::max()) break;
        return static_cast<Int>(v);
      }
      case element_type::UINT64: {
        uint64_t v = e.get_uint64().value_unsafe();
        if (v > static_cast<uint64_t>(std::numeric_limits<Int>::max())) break;
        return static_cast<Int>(v);
      }
      case element_type::DOUBLE: {
        // 1.0 and 1e3 are integers too; anything fractional or out of range is not.
        double d = e.get_double().value_unsafe();
        if (d != std::trunc(d) || d < static_cast<double>(std::numeric_limits<Int>::min()) ||
            d >= std::ldexp(1.0, std::numeric_limits<Int>::digits)) {
          break;
        }
        return static_cast<Int>(d);
      }
      default:
        break;
    }
    if constexpr (std::is_same_v<Int, int64_t>) {
      fail("expected a 64-bit integer (string or number)");
    } else if constexpr (std::is_same_v<Int, uint64_t>) {
      fail("expected an unsigned 64-bit integer (string or number)");
    } else {
      static_assert(std::is_same_v<Int, uint32_t>);
      fail("expected an unsigned 32-bit integer");
    }
  }

  double double_of(element e) const {
    switch (e.type()) {
      case element_type::DOUBLE:
        return e.get_double().value_unsafe();
      case element_type::INT64:
        return static_cast<double>(e.get_int64().value_unsafe());
      case element_type::UINT64:
        return static_cast<double>(e.get_uint64().value_unsafe());
      case element_type::STRING: {
        std::string_view s = e.get_string().value_unsafe();
        if (s == "NaN") return std::numeric_limits<double>::quiet_NaN();
        if (s == "Infinity") return std::numeric_limits<double>::infinity();
        if (s == "-Infinity") return -std::numeric_limits<double>::infinity();
        double d = 0;
        auto res = std::from_chars(s.data(), s.data() + s.size(), d);
        if (res.ec == std::errc() && res.ptr == s.data() + s.size() && !s.empty()) return d;
        break;
      }
      default:
        break;
    }
    fail("expected a number, \"NaN\", \"Infinity\" or \"-Infinity\"");
  }

  // Enums: integers (what the OTLP spec says to send) or the enum value names. Unknown numbers pass
  // through (proto3 enums are open) and map to the default later.
  int64_t enum_of(element e, const std::string_view* names, size_t count) const {
    switch (e.type()) {
      case element_type::STRING: {
        std::string_view s = e.get_string().value_unsafe();
        for (size_t i = 0; i < count; ++i) {
          if (s == names[i]) return static_cast<int64_t>(i);
        }
        fail(fmt::format("unknown enum value \"{}\"", s));
      }
      case element_type::INT64:
        return e.get_int64().value_unsafe();
      case element_type::UINT64:
        return -1;
      default:
        fail("expected an enum number or name");
    }
  }

  // Ids are lowercase hex in OTLP JSON (uppercase is accepted). An empty string is the absent id
  // where that is allowed.
  template <class Id>
  Id id_of(element e, bool required) const {
    std::string_view s = string_of(e);
    Id id;
    if (s.empty() && !required) return id;
    if (!core::hex_decode(s, id.bytes.data(), Id::kSize)) {
      fail(fmt::format("expected {} hex digits", 2 * Id::kSize));
    }
    return id;
  }

  void decode_resource_spans(element rs) {
    // Spans point at the Resource, so members may come in any order.
    core::Resource* resource = batch_.new_resource();
    for (auto [key, value] : fields_of(rs)) {
      if (value.is_null()) continue;
      Guard g(*this, key);
      if (key == "resource") {
        decode_resource(value, *resource);
      } else if (key == "scopeSpans") {
        for_each(value, [&](element ss) { decode_scope_spans(ss, resource); });
      } else if (key == "schemaUrl") {
        resource->schema_url = copy_string(value);
      }
    }
  }

  void decode_resource(element e, core::Resource& r) {
    for (auto [key, value] : fields_of(e)) {
      if (value.is_null()) continue;
      Guard g(*this, key);
      if (key == "attributes") {
        r.attributes = decode_attributes(value);
      } else if (key == "droppedAttributesCount") {
        r.dropped_attributes_count = integer_of<uint32_t>(value);
      }
    }
  }

  void decode_scope_spans(element ss, const core::Resource* resource) {
    core::Scope* scope = batch_.new_scope();
    for (auto [key, value] : fields_of(ss)) {
      if (value.is_null()) continue;
      Guard g(*this, key);
      if (key == "scope") {
        decode_scope(value, *scope);
      } else if (key == "spans") {
        std::vector<core::Span>& all = batch_.spans();
        // Geometric growth: exact reserves per scope would copy every span again for each scope.
        size_t needed = all.size() + array_size(value);
        if (needed > all.capacity()) all.reserve(std::max(needed, 2 * all.capacity()));
        for_each(value, [&](element s) {
          core::Span& span = all.emplace_back();
          span.resource = resource;
          span.scope = scope;
          decode_span(s, span);
        });
      } else if (key == "schemaUrl") {
        scope->schema_url = copy_string(value);
      }
    }
  }

  void decode_scope(element e, core::Scope& scope) {
    for (auto [key, value] : fields_of(e)) {
      if (value.is_null()) continue;
      Guard g(*this, key);
      if (key == "name") {
        scope.name = copy_string(value);
      } else if (key == "version") {
        scope.version = copy_string(value);
      } else if (key == "attributes") {
        scope.attributes = decode_attributes(value);
      } else if (key == "droppedAttributesCount") {
        scope.dropped_attributes_count = integer_of<uint32_t>(value);
      }
    }
  }

  void decode_span(element e, core::Span& s) {
    static constexpr std::string_view kKinds[] = {"SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL",
                                                  "SPAN_KIND_SERVER",      "SPAN_KIND_CLIENT",
                                                  "SPAN_KIND_PRODUCER",    "SPAN_KIND_CONSUMER"};
    bool has_trace_id = false, has_span_id = false;
    for (auto [key, value] : fields_of(e)) {
      if (value.is_null()) continue;
      Guard g(*this, key);
      if (key == "traceId") {
        s.trace_id = id_of<core::TraceId>(value, true);
        has_trace_id = true;
      } else if (key == "spanId") {
        s.span_id = id_of<core::SpanId>(value, true);
        has_span_id = true;
      } else if (key == "parentSpanId") {
        s.parent_span_id = id_of<core::SpanId>(value, false);
      } else if (key == "traceState") {
        s.trace_state = copy_string(value);
      } else if (key == "flags") {
        s.flags = integer_of<uint32_t>(value);
      } else if (key == "name") {
        s.name = copy_string(value);
      } else if (key == "kind") {
        s.kind = span_kind_from_int(enum_of(value, kKinds, std::size(kKinds)));
      } else if (key == "startTimeUnixNano") {
        s.start_time_unix_nano = integer_of<uint64_t>(value);
      } else if (key == "endTimeUnixNano") {
        s.end_time_unix_nano = integer_of<uint64_t>(value);
      } else if (key == "attributes") {
        s.attributes = decode_attributes(value);
      } else if (key == "droppedAttributesCount") {
        s.dropped_attributes_count = integer_of<uint32_t>(value);
      } else if (key == "events") {
        s.events.reserve(arena_, array_size(value));
        for_each(value, [&](element ev) { s.events.push_back(arena_, decode_event(ev)); });
      } else if (key == "droppedEventsCount") {
        s.dropped_events_count = integer_of<uint32_t>(value);
      } else if (key == "links") {
        s.links.reserve(arena_, array_size(value));
        for_each(value, [&](element l) { s.links.push_back(arena_, decode_link(l)); });
      } else if (key == "droppedLinksCount") {
        s.dropped_links_count = integer_of<uint32_t>(value);
      } else if (key == "status") {
        decode_status(value, s.status);
      }
    }
    if (!has_trace_id) {
      Guard g(*this, "traceId");
      fail("required");
    }
    if (!has_span_id) {
      Guard g(*this, "spanId");
      fail("required");
    }
  }

  core::Event decode_event(element e) {
    core::Event ev;
    for (auto [key, value] : fields_of(e)) {
      if (value.is_null()) continue;
      Guard g(*this, key);
      if (key == "timeUnixNano") {
        ev.time_unix_nano = integer_of<uint64_t>(value);
      } else if (key == "name") {
        ev.name = copy_string(value);
      } else if (key == "attributes") {
        ev.attributes = decode_attributes(value);
      } else if (key == "droppedAttributesCount") {
        ev.dropped_attributes_count = integer_of<uint32_t>(value);
      }
    }
    return ev;
  }

  core::Link decode_link(element e) {
    core::Link l;
    for (auto [key, value] : fields_of(e)) {
      if (value.is_null()) continue;
      Guard g(*this, key);
      if (key == "traceId") {
        l.trace_id = id_of<core::TraceId>(value, false);
      } else if (key == "spanId") {
        l.span_id = id_of<core::SpanId>(value, false);
      } else if (key == "traceState") {
        l.trace_state = copy_string(value);
      } else if (key == "attributes") {
        l.attributes = decode_attributes(value);
      } else if (key == "droppedAttributesCount") {
        l.dropped_attributes_count = integer_of<uint32_t>(value);
      } else if (key == "flags") {
        l.flags = integer_of<uint32_t>(value);
      }
    }
    return l;
  }

  void decode_status(element e, core::Status& status) {
    static constexpr std::string_view kCodes[] = {"STATUS_CODE_UNSET", "STATUS_CODE_OK",
                                                  "STATUS_CODE_ERROR"};
    for (auto [key, value] : fields_of(e)) {
      if (value.is_null()) continue;
      Guard g(*this, key);
      if (key == "code") {
        status.code = status_code_from_int(enum_of(value, kCodes, std::size(kCodes)));
      } else if (key == "message") {
        status.message = copy_string(value);
      }
    }
  }

  AttrList decode_attributes(element e) {
    AttrList attrs;
    attrs.reserve(arena_, array_size(e));
    for_each(e, [&](element kv) { attrs.push_back(arena_, decode_key_value(kv)); });
    return attrs;
  }

  KeyValue decode_key_value(element e) {
    KeyValue kv;
    for (auto [key, value] : fields_of(e)) {
      if (value.is_null()) continue;
      Guard g(*this, key);
      if (key == "key") {
        kv.key = copy_string(value);
      } else if (key == "value") {
        kv.value = decode_value(value);
      }
    }
    return kv;
  }

  AnyValue decode_value(element e) {
    AnyValue v;
    // A oneof: when a sender puts several members in, the last one wins.
    for (auto [key, value] : fields_of(e)) {
      if (value.is_null()) continue;
      Guard g(*this, key);
      if (key == "stringValue") {
        v = AnyValue::string(copy_string(value));
      } else if (key == "boolValue") {
        v = AnyValue::boolean(bool_of(value));
      } else if (key == "intValue") {
        v = AnyValue::integer(integer_of<int64_t>(value));
      } else if (key == "doubleValue") {
        v = AnyValue::floating(double_of(value));
      } else if (key == "bytesValue") {
        v = AnyValue::bytes(decode_base64(value));
      } else if (key == "arrayValue") {
        core::ArenaVector<AnyValue> values;
        for (auto [k, list] : object_of(value)) {
          if (k != "values" || list.is_null()) continue;
          Guard gv(*this, k);
          values.reserve(arena_, array_size(list));
          for_each(list, [&](element item) { values.push_back(arena_, decode_value(item)); });
        }
        v = AnyValue::array_of(values);
      } else if (key == "kvlistValue") {
        AttrList values;
        for (auto [k, list] : object_of(value)) {
          if (k != "values" || list.is_null()) continue;
          Guard gv(*this, k);
          values = decode_attributes(list);
        }
        v = AnyValue::kvlist_of(values);
      }
    }
    return v;
  }

  // Standard base64 as protobuf JSON writes it; the URL-safe alphabet is accepted as well.
  std::string_view decode_base64(element e) {
    std::string_view s = string_of(e);
    std::string raw;
    if (!google::protobuf::Base64Unescape(s, &raw) &&
        !google::protobuf::WebSafeBase64Unescape(s, &raw)) {
      fail("expected base64");
    }
    return arena_.copy(raw);
  }

  core::SpanBatch& batch_;
  Arena& arena_;
  std::vector<Segment> path_;
};

// ---------------------------------------------------------------------------------------------
// Model -> OTLP JSON. Default values are omitted as protobuf's JSON printer does, except the
// always-present messages (resource, scope, status, KeyValue.value) that pdata writes too.

class JsonEncoder {
 public:
  explicit JsonEncoder(std::string& out) : out_(out) {}

  void request(const core::SpanBatch& batch) {
    out_.append("{\"resourceSpans\":[");
    json::Separator sep;
    for (const ResourceGroup& rg : group_spans(batch)) {
      sep.next(out_);
      resource_spans(rg);
    }
    out_.append("]}");
  }

 private:
  void resource_spans(const ResourceGroup& rg) {
    const core::Resource& r = *rg.resource;
    out_.append("{\"resource\":{");
    json::Separator rsep;
    attributes(rsep, r.attributes, r.dropped_attributes_count);
    out_.append("},\"scopeSpans\":[");
    json::Separator sep;
    for (const ScopeGroup& sg : rg.scopes) {
      sep.next(out_);
      scope_spans(sg);
    }
    out_.push_back(']');
    if (!r.schema_url.empty()) {
      out_.push_back(',');
      string_field("schemaUrl", r.schema_url);
    }
    out_.push_back('}');
  }

  void scope_spans(const ScopeGroup& sg) {
    const core::Scope& sc = *sg.scope;
    out_.append("{\"scope\":{");
    json::Separator ssep;
    if (!sc.name.empty()) {
      ssep.next(out_);
      string_field("name", sc.name);
    }
    if (!sc.version.empty()) {
      ssep.next(out_);
      string_field("version", sc.version);
    }
    attributes(ssep, sc.attributes, sc.dropped_attributes_count);
    out_.append("},\"spans\":[");
    json::Separator sep;
    for (const core::Span* s : sg.spans) {
      sep.next(out_);
      span(*s);
    }
    out_.push_back(']');
    if (!sc.schema_url.empty()) {
      out_.push_back(',');
      string_field("schemaUrl", sc.schema_url);
    }
    out_.push_back('}');
  }

  void span(const core::Span& s) {
    out_.push_back('{');
    json::append_key(out_, "traceId");
    json::append_hex(out_, s.trace_id.bytes.data(), s.trace_id.kSize);
    out_.push_back(',');
    json::append_key(out_, "spanId");
    json::append_hex(out_, s.span_id.bytes.data(), s.span_id.kSize);
    if (!s.trace_state.empty()) {
      out_.push_back(',');
      string_field("traceState", s.trace_state);
    }
    if (s.parent_span_id.valid()) {
      out_.push_back(',');
      json::append_key(out_, "parentSpanId");
      json::append_hex(out_, s.parent_span_id.bytes.data(), s.parent_span_id.kSize);
    }
    json::Separator sep(
        /*first=*/false);  // traceId and spanId are always written above
    uint_field(sep, "flags", s.flags);
    if (!s.name.empty()) {
      sep.next(out_);
      string_field("name", s.name);
    }
    uint_field(sep, "kind", static_cast<uint32_t>(s.kind));
    u64_field(sep, "startTimeUnixNano", s.start_time_unix_nano);
    u64_field(sep, "endTimeUnixNano", s.end_time_unix_nano);
    attributes(sep, s.attributes, s.dropped_attributes_count);
    if (!s.events.empty()) {
      sep.next(out_);
      json::append_key(out_, "events");
      out_.push_back('[');
      json::Separator esep;
      for (const core::Event& e : s.events) {
        esep.next(out_);
        event(e);
      }
      out_.push_back(']');
    }
    uint_field(sep, "droppedEventsCount", s.dropped_events_count);
    if (!s.links.empty()) {
      sep.next(out_);
      json::append_key(out_, "links");
      out_.push_back('[');
      json::Separator lsep;
      for (const core::Link& l : s.links) {
        lsep.next(out_);
        link(l);
      }
      out_.push_back(']');
    }
    uint_field(sep, "droppedLinksCount", s.dropped_links_count);
    sep.next(out_);
    json::append_key(out_, "status");
    out_.push_back('{');
    json::Separator stsep;
    if (!s.status.message.empty()) {
      stsep.next(out_);
      string_field("message", s.status.message);
    }
    uint_field(stsep, "code", static_cast<uint32_t>(s.status.code));
    out_.append("}}");
  }

  void event(const core::Event& e) {
    out_.push_back('{');
    json::Separator sep;
    u64_field(sep, "timeUnixNano", e.time_unix_nano);
    if (!e.name.empty()) {
      sep.next(out_);
      string_field("name", e.name);
    }
    attributes(sep, e.attributes, e.dropped_attributes_count);
    out_.push_back('}');
  }

  void link(const core::Link& l) {
    out_.push_back('{');
    json::Separator sep;
    if (l.trace_id.valid()) {
      sep.next(out_);
      json::append_key(out_, "traceId");
      json::append_hex(out_, l.trace_id.bytes.data(), l.trace_id.kSize);
    }
    if (l.span_id.valid()) {
      sep.next(out_);
      json::append_key(out_, "spanId");
      json::append_hex(out_, l.span_id.bytes.data(), l.span_id.kSize);
    }
    if (!l.trace_state.empty()) {
      sep.next(out_);
      string_field("traceState", l.trace_state);
    }
    attributes(sep, l.attributes, l.dropped_attributes_count);
    uint_field(sep, "flags", l.flags);
    out_.push_back('}');
  }

  // "attributes" and "droppedAttributesCount", each only when not empty.
  void attributes(json::Separator& sep, const AttrList& attrs, uint32_t dropped) {
    if (!attrs.empty()) {
      sep.next(out_);
      json::append_key(out_, "attributes");
      key_values(attrs);
    }
    uint_field(sep, "droppedAttributesCount", dropped);
  }

  void key_values(const AttrList& attrs) {
    out_.push_back('[');
    json::Separator sep;
    for (const KeyValue& kv : attrs) {
      sep.next(out_);
      out_.append("{\"key\":");
      json::append_string(out_, kv.key);
      out_.append(",\"value\":");
      value(kv.value);
      out_.push_back('}');
    }
    out_.push_back(']');
  }

  void value(const AnyValue& v) {
    out_.push_back('{');
    switch (v.type) {
      case ValueType::kEmpty:
        break;
      case ValueType::kString:
        string_field("stringValue", v.str);
        break;
      case ValueType::kBool:
        json::append_key(out_, "boolValue");
        out_.append(v.bool_value ? "true" : "false");
        break;
      case ValueType::kInt:
        json::append_key(out_, "intValue");
        out_.push_back('"');
        json::append_int(out_, v.int_value);
        out_.push_back('"');
        break;
      case ValueType::kDouble:
        json::append_key(out_, "doubleValue");
        json::append_double(out_, v.double_value);
        break;
      case ValueType::kBytes:
        json::append_key(out_, "bytesValue");
        json::append_base64(out_, v.str);
        break;
      case ValueType::kArray: {
        json::append_key(out_, "arrayValue");
        out_.append("{\"values\":[");
        json::Separator sep;
        for (const AnyValue& e : v.array) {
          sep.next(out_);
          value(e);
        }
        out_.append("]}");
        break;
      }
      case ValueType::kKvList:
        json::append_key(out_, "kvlistValue");
        out_.append("{\"values\":");
        key_values(v.kvlist);
        out_.push_back('}');
        break;
    }
    out_.push_back('}');
  }

  void string_field(std::string_view key, std::string_view value) {
    json::append_key(out_, key);
    json::append_string(out_, value);
  }
  void uint_field(json::Separator& sep, std::string_view key, uint32_t value) {
    if (value == 0) return;
    sep.next(out_);
    json::append_key(out_, key);
    json::append_uint(out_, value);
  }
  // 64-bit integers are strings in protobuf JSON.
  void u64_field(json::Separator& sep, std::string_view key, uint64_t value) {
    if (value == 0) return;
    sep.next(out_);
    json::append_key(out_, key);
    out_.push_back('"');
    json::append_uint(out_, value);
    out_.push_back('"');
  }

  std::string& out_;
};

}  // namespace

std::optional<std::string> from_proto(const ExportRequest& request, core::SpanBatch& batch) {
  core::SpanBatch decoded;
  Arena& arena = decoded.arena();
  size_t total = 0;
  for (const pb_trace::ResourceSpans& rs : request.resource_spans()) {
    for (const pb_trace::ScopeSpans& ss : rs.scope_spans()) total += ss.spans_size();
  }
  decoded.spans().reserve(total);
  for (int ri = 0; ri < request.resource_spans_size(); ++ri) {
    const pb_trace::ResourceSpans& rs = request.resource_spans(ri);
    core::Resource* resource = decoded.new_resource();
    resource->attributes = attrs_from_proto(rs.resource().attributes(), arena);
    resource->dropped_attributes_count = rs.resource().dropped_attributes_count();
    resource->schema_url = arena.copy(rs.schema_url());
    for (int si = 0; si < rs.scope_spans_size(); ++si) {
      const pb_trace::ScopeSpans& ss = rs.scope_spans(si);
      core::Scope* scope = decoded.new_scope();
      scope->name = arena.copy(ss.scope().name());
      scope->version = arena.copy(ss.scope().version());
      scope->attributes = attrs_from_proto(ss.scope().attributes(), arena);
      scope->dropped_attributes_count = ss.scope().dropped_attributes_count();
      scope->schema_url = arena.copy(ss.schema_url());
      for (int pi = 0; pi < ss.spans_size(); ++pi) {
        core::Span& span = decoded.spans().emplace_back();
        span.resource = resource;
        span.scope = scope;
        if (auto err = span_from_proto(ss.spans(pi), SpanPath{ri, si, pi}, arena, span)) {
          return err;
        }
      }
    }
  }
  batch.append(std::move(decoded));
  return std::nullopt;
}

// The generated classes are the reference that decode_wire and encode_wire match byte for byte
// (tests/unit/otlp/otlp_wire_test.cc); the wire path skips building a message tree.
std::optional<std::string> decode_proto(std::string_view bytes, core::SpanBatch& batch) {
  return decode_wire(bytes, batch);
}

void to_proto(const core::SpanBatch& batch, ExportRequest* out) {
  for (const ResourceGroup& rg : group_spans(batch)) {
    pb_trace::ResourceSpans* rs = out->add_resource_spans();
    pb_resource::Resource* resource = rs->mutable_resource();
    attrs_to_proto(rg.resource->attributes, resource->mutable_attributes());
    resource->set_dropped_attributes_count(rg.resource->dropped_attributes_count);
    rs->set_schema_url(rg.resource->schema_url.data(), rg.resource->schema_url.size());
    for (const ScopeGroup& sg : rg.scopes) {
      pb_trace::ScopeSpans* ss = rs->add_scope_spans();
      pb_common::InstrumentationScope* scope = ss->mutable_scope();
      scope->set_name(sg.scope->name.data(), sg.scope->name.size());
      scope->set_version(sg.scope->version.data(), sg.scope->version.size());
      attrs_to_proto(sg.scope->attributes, scope->mutable_attributes());
      scope->set_dropped_attributes_count(sg.scope->dropped_attributes_count);
      ss->set_schema_url(sg.scope->schema_url.data(), sg.scope->schema_url.size());
      ss->mutable_spans()->Reserve(static_cast<int>(sg.spans.size()));
      for (const core::Span* s : sg.spans) span_to_proto(*s, ss->add_spans());
    }
  }
}

std::string encode_proto(const core::SpanBatch& batch) { return encode_wire(batch); }

std::optional<std::string> decode_json(std::string_view json, core::SpanBatch& batch) {
  return decode_json_document<JsonError>(json, batch, [](element root, core::SpanBatch& out) {
    JsonDecoder(out).decode_request(root);
  });
}

std::string encode_json(const core::SpanBatch& batch) {
  std::string out;
  // Roughly what a span with a handful of attributes takes, to avoid most regrowth.
  out.reserve(256 + batch.size() * 512);
  JsonEncoder(out).request(batch);
  return out;
}

}  // namespace hodos::otlp
