#include "otlp/zipkin_codec.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <deque>
#include <limits>
#include <map>
#include <optional>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "otlp/json_document.h"
#include "otlp/json_writer.h"

// The mapping, after the OpenTelemetry Collector's zipkinv2 translator, with current semantic
// convention names for the endpoints (the Collector still writes the pre-1.21 net.* names; those
// are read on encode too):
//   localEndpoint.serviceName  <-> resource service.name (one Resource per distinct name)
//   localEndpoint.ipv4/ipv6    <-> network.local.address  (encode also reads net.host.ip)
//   localEndpoint.port         <-> network.local.port     (encode also reads net.host.port)
//   remoteEndpoint.serviceName <-> peer.service
//   remoteEndpoint.ipv4/ipv6   <-> network.peer.address   (encode also reads net.peer.ip and
//                                                          net.sock.peer.addr)
//   remoteEndpoint.port        <-> network.peer.port      (encode also reads net.peer.port)
//   tags                       <-> string attributes (encode: AnyValue::to_string of any type)
//   tag error                  <-> status ERROR; its value is the message unless "true"
//   tags otel.status_code, otel.status_description <-> status code and message
//   tags otel.scope.name/version (decode also otel.library.*) <-> instrumentation scope
//   tag w3c.tracestate         <-> trace state
//   tag span.kind=internal     <-> kind INTERNAL (Zipkin has no such kind)
//   tags otlp.link.<i>         <-> links, as "traceid|spanid|tracestate|{attrs json}|dropped"
//   annotations                <-> events; "name|{attrs json}|dropped" when the event has
//                                  attributes, else just the name
//   debug / shared: true       <-> bool attributes zipkin.debug / zipkin.shared (OTLP has no
//                                  equivalent; debug also sets the W3C sampled flag)
//   timestamp, duration (µs)   <-> start and end time (ns)
// Other resource attributes become tags on encode (Zipkin has no resource), as in the Collector.

namespace hodos::otlp {

namespace {

using core::AnyValue;
using core::Arena;
using core::AttrList;
using core::KeyValue;
using simdjson::dom::element;
using simdjson::dom::element_type;

constexpr std::string_view kServiceName = "service.name";
constexpr std::string_view kLocalAddress = "network.local.address";
constexpr std::string_view kLocalPort = "network.local.port";
constexpr std::string_view kPeerService = "peer.service";
constexpr std::string_view kPeerAddress = "network.peer.address";
constexpr std::string_view kPeerPort = "network.peer.port";
constexpr std::string_view kDebug = "zipkin.debug";
constexpr std::string_view kShared = "zipkin.shared";
constexpr std::string_view kScopeName = "otel.scope.name";
constexpr std::string_view kScopeVersion = "otel.scope.version";
constexpr std::string_view kLibraryName = "otel.library.name";
constexpr std::string_view kLibraryVersion = "otel.library.version";
constexpr std::string_view kStatusCode = "otel.status_code";
constexpr std::string_view kStatusDescription = "otel.status_description";
constexpr std::string_view kTraceState = "w3c.tracestate";
constexpr std::string_view kSpanKindTag = "span.kind";
constexpr std::string_view kErrorTag = "error";
constexpr std::string_view kLinkTagPrefix = "otlp.link.";
constexpr uint32_t kSampledFlag = 0x01;

// Views of an element already known to be an object / array. (Range-for over the temporary
// simdjson_result would dangle.)
simdjson::dom::object as_object(element e) { return e.get_object().value_unsafe(); }

struct ZipkinError {
  std::string message;
};

// Hex ids are left-padded with zeros: Zipkin allows 64-bit trace ids and drops leading zeros.
template <class Id>
bool padded_id(std::string_view hex, Id& out) {
  if (hex.empty() || hex.size() > 2 * Id::kSize) return false;
  char buf[2 * Id::kSize];
  size_t pad = 2 * Id::kSize - hex.size();
  std::fill(buf, buf + pad, '0');
  std::copy(hex.begin(), hex.end(), buf + pad);
  return core::hex_decode({buf, sizeof(buf)}, out.bytes.data(), Id::kSize);
}

// The value of an attributes JSON object inside an annotation or link tag (the Collector writes
// pcommon's AsRaw() there).
AnyValue raw_json_value(element e, Arena& arena) {
  switch (e.type()) {
    case element_type::STRING:
      return AnyValue::string(arena.copy(e.get_string().value_unsafe()));
    case element_type::INT64:
      return AnyValue::integer(e.get_int64().value_unsafe());
    case element_type::UINT64:
      return AnyValue::floating(static_cast<double>(e.get_uint64().value_unsafe()));
    case element_type::DOUBLE:
      return AnyValue::floating(e.get_double().value_unsafe());
    case element_type::BOOL:
      return AnyValue::boolean(e.get_bool().value_unsafe());
    case element_type::ARRAY: {
      simdjson::dom::array array = e.get_array().value_unsafe();
      core::ArenaVector<AnyValue> values;
      values.reserve(arena, array.size());
      for (element item : array) values.push_back(arena, raw_json_value(item, arena));
      return AnyValue::array_of(values);
    }
    case element_type::OBJECT: {
      AttrList values;
      for (auto [key, value] : as_object(e)) {
        values.push_back(arena, KeyValue{arena.copy(key), raw_json_value(value, arena)});
      }
      return AnyValue::kvlist_of(values);
    }
    case element_type::NULL_VALUE:
      break;
  }
  return AnyValue{};
}

// Parses "{json}|dropped" (what follows the name or ids); false if it is not in that form.
bool parse_attrs_and_dropped(std::string_view text, Arena& arena, AttrList& attrs,
                             uint32_t& dropped) {
  size_t bar = text.rfind('|');
  if (bar == std::string_view::npos || text.empty() || text.front() != '{') return false;
  std::string_view count = text.substr(bar + 1);
  auto res = std::from_chars(count.data(), count.data() + count.size(), dropped);
  if (res.ec != std::errc() || res.ptr != count.data() + count.size()) return false;
  // A parser of its own: the request's parser still holds the document being decoded.
  thread_local simdjson::dom::parser parser;
  simdjson::dom::object object;
  std::string_view json = text.substr(0, bar);
  if (parser.parse(json.data(), json.size()).get(object)) return false;
  AttrList parsed;
  for (auto [key, value] : object) {
    parsed.push_back(arena, KeyValue{arena.copy(key), raw_json_value(value, arena)});
  }
  attrs = parsed;
  return true;
}

class ZipkinDecoder {
 public:
  explicit ZipkinDecoder(core::SpanBatch& batch) : batch_(batch), arena_(batch.arena()) {}

  void decode(element root) {
    if (root.type() != element_type::ARRAY) fail_at("request", "expected a JSON array of spans");
    simdjson::dom::array spans = root.get_array().value_unsafe();
    batch_.spans().reserve(spans.size());
    for (element span : spans) {
      decode_span(span);
      ++index_;
    }
  }

 private:
  [[noreturn]] void fail(std::string_view field, std::string_view problem) const {
    if (annotation_ >= 0) {
      fail_at(fmt::format("spans[{}].annotations[{}].{}", index_, annotation_, field), problem);
    }
    fail_at(fmt::format("spans[{}].{}", index_, field), problem);
  }
  [[noreturn]] static void fail_at(std::string_view where, std::string_view problem) {
    throw ZipkinError{fmt::format("{}: {}", where, problem)};
  }

  std::string_view string_of(element e, std::string_view field) const {
    if (e.type() != element_type::STRING) fail(field, "expected a string");
    return e.get_string().value_unsafe();
  }
  // Zipkin times are microseconds; fractions are allowed (the OpenTelemetry Zipkin exporter spec
  // mentions them), so a double is accepted too.
  uint64_t nanos_of(element e, std::string_view field) const {
    constexpr uint64_t kMaxMicros = std::numeric_limits<uint64_t>::max() / 1000;
    switch (e.type()) {
      case element_type::INT64: {
        int64_t v = e.get_int64().value_unsafe();
        if (v < 0) fail(field, "must not be negative");
        if (static_cast<uint64_t>(v) > kMaxMicros) fail(field, "out of range");
        return static_cast<uint64_t>(v) * 1000;
      }
      case element_type::UINT64: {
        uint64_t v = e.get_uint64().value_unsafe();
        if (v > kMaxMicros) fail(field, "out of range");
        return v * 1000;
      }
      case element_type::DOUBLE: {
        double d = e.get_double().value_unsafe();
        if (!(d >= 0)) fail(field, "must not be negative");
        if (d >= 1.8e16) fail(field, "out of range");
        return static_cast<uint64_t>(d * 1000);
      }
      default:
        fail(field, "expected a number of microseconds");
    }
  }

  struct Endpoint {
    std::string_view service_name, ipv4, ipv6;
    int64_t port = 0;
    bool present = false;
  };
  Endpoint endpoint_of(element e, std::string_view field) const {
    Endpoint ep;
    if (e.type() == element_type::NULL_VALUE) return ep;
    if (e.type() != element_type::OBJECT) fail(field, "expected an object");
    ep.present = true;
    for (auto [key, value] : as_object(e)) {
      if (value.is_null()) continue;
      if (key == "serviceName") {
        ep.service_name = string_of(value, field);
      } else if (key == "ipv4") {
        ep.ipv4 = string_of(value, field);
      } else if (key == "ipv6") {
        ep.ipv6 = string_of(value, field);
      } else if (key == "port") {
        if (value.type() != element_type::INT64) fail(field, "port: expected an integer");
        ep.port = value.get_int64().value_unsafe();
      }
    }
    return ep;
  }

  void add_string(AttrList& attrs, std::string_view key, std::string_view value) {
    attrs.push_back(arena_, KeyValue{arena_.copy(key), AnyValue::string(arena_.copy(value))});
  }

  void add_endpoint_attrs(core::Span& s, const Endpoint& ep, std::string_view address_key,
                          std::string_view port_key) {
    std::string_view ip = !ep.ipv4.empty() ? ep.ipv4 : ep.ipv6;
    if (!ip.empty()) add_string(s.attributes, address_key, ip);
    if (ep.port > 0) {
      s.attributes.push_back(arena_, KeyValue{port_key, AnyValue::integer(ep.port)});
    }
  }

  const core::Resource* resource_for(std::string_view service_name) {
    auto [it, inserted] = resources_.try_emplace(service_name, nullptr);
    if (inserted) {
      core::Resource* r = batch_.new_resource();
      if (!service_name.empty()) add_string(r->attributes, kServiceName, service_name);
      it->second = r;
    }
    return it->second;
  }

  const core::Scope* scope_for(const core::Resource* resource, std::string_view name,
                               std::string_view version) {
    auto [it, inserted] = scopes_.try_emplace({resource, name, version}, nullptr);
    if (inserted) {
      core::Scope* sc = batch_.new_scope();
      sc->name = arena_.copy(name);
      sc->version = arena_.copy(version);
      it->second = sc;
    }
    return it->second;
  }

  // "traceid|spanid|tracestate|{attrs}|dropped", as the Collector writes links into tags.
  bool parse_link(std::string_view text, core::Link& link) {
    size_t a = text.find('|');
    if (a == std::string_view::npos) return false;
    size_t b = text.find('|', a + 1);
    if (b == std::string_view::npos) return false;
    size_t c = text.find('|', b + 1);
    if (c == std::string_view::npos) return false;
    std::string_view trace = text.substr(0, a), span = text.substr(a + 1, b - a - 1);
    if (!trace.empty() && !padded_id(trace, link.trace_id)) return false;
    if (!span.empty() && !padded_id(span, link.span_id)) return false;
    link.trace_state = arena_.copy(text.substr(b + 1, c - b - 1));
    return parse_attrs_and_dropped(text.substr(c + 1), arena_, link.attributes,
                                   link.dropped_attributes_count);
  }

  void decode_tag(core::Span& s, std::string_view key, std::string_view value,
                  std::string_view& scope_name, std::string_view& scope_version,
                  std::string_view& status_description, bool& internal_kind) {
    if (key == kErrorTag) {
      if (value == "false") return;
      s.status.code = core::StatusCode::kError;
      if (value != "true" && !value.empty() && s.status.message.empty()) {
        s.status.message = arena_.copy(value);
      }
    } else if (key == kStatusCode) {
      if (value == "ERROR" || value == "STATUS_CODE_ERROR") {
        s.status.code = core::StatusCode::kError;
      } else if ((value == "OK" || value == "STATUS_CODE_OK") &&
                 s.status.code != core::StatusCode::kError) {
        s.status.code = core::StatusCode::kOk;
      }
    } else if (key == kStatusDescription) {
      status_description = value;
    } else if (key == kScopeName || key == kLibraryName) {
      scope_name = value;
    } else if (key == kScopeVersion || key == kLibraryVersion) {
      scope_version = value;
    } else if (key == kTraceState) {
      s.trace_state = arena_.copy(value);
    } else if (key == kSpanKindTag && value == "internal") {
      internal_kind = true;
    } else {
      core::Link link;
      if (key.starts_with(kLinkTagPrefix) && parse_link(value, link)) {
        s.links.push_back(arena_, link);
      } else {
        add_string(s.attributes, key, value);
      }
    }
  }

  void decode_span(element e) {
    if (e.type() != element_type::OBJECT)
      fail_at(fmt::format("spans[{}]", index_), "expected an object");
    core::Span& s = batch_.spans().emplace_back();
    bool has_trace_id = false, has_id = false, has_timestamp = false;
    uint64_t duration_ns = 0;
    std::string_view parent_hex, kind;
    Endpoint local, remote;
    element tags, annotations;
    bool has_tags = false, has_annotations = false, debug = false, shared = false;
    for (auto [key, value] : as_object(e)) {
      if (value.is_null()) continue;
      if (key == "traceId") {
        if (!padded_id(string_of(value, key), s.trace_id)) {
          fail(key, "expected 16 or 32 hex digits");
        }
        has_trace_id = true;
      } else if (key == "id") {
        if (!padded_id(string_of(value, key), s.span_id)) fail(key, "expected 16 hex digits");
        has_id = true;
      } else if (key == "parentId") {
        parent_hex = string_of(value, key);
      } else if (key == "name") {
        s.name = arena_.copy(string_of(value, key));
      } else if (key == "kind") {
        kind = string_of(value, key);
      } else if (key == "timestamp") {
        s.start_time_unix_nano = nanos_of(value, key);
        has_timestamp = true;
      } else if (key == "duration") {
        duration_ns = nanos_of(value, key);
      } else if (key == "localEndpoint") {
        local = endpoint_of(value, key);
      } else if (key == "remoteEndpoint") {
        remote = endpoint_of(value, key);
      } else if (key == "tags") {
        tags = value;
        has_tags = true;
      } else if (key == "annotations") {
        annotations = value;
        has_annotations = true;
      } else if (key == "debug") {
        if (value.type() != element_type::BOOL) fail(key, "expected true or false");
        debug = value.get_bool().value_unsafe();
      } else if (key == "shared") {
        if (value.type() != element_type::BOOL) fail(key, "expected true or false");
        shared = value.get_bool().value_unsafe();
      }
    }
    if (!has_trace_id) fail("traceId", "required");
    if (!has_id) fail("id", "required");
    if (!parent_hex.empty()) {
      if (!padded_id(parent_hex, s.parent_span_id)) fail("parentId", "expected 16 hex digits");
      if (s.parent_span_id == s.span_id) s.parent_span_id = {};  // some tracers do this at roots
    }
    if (has_timestamp || duration_ns > 0) {
      if (duration_ns > std::numeric_limits<uint64_t>::max() - s.start_time_unix_nano) {
        fail("duration", "out of range");
      }
      s.end_time_unix_nano = s.start_time_unix_nano + duration_ns;
    }

    if (kind == "SERVER") {
      s.kind = core::SpanKind::kServer;
    } else if (kind == "CLIENT") {
      s.kind = core::SpanKind::kClient;
    } else if (kind == "PRODUCER") {
      s.kind = core::SpanKind::kProducer;
    } else if (kind == "CONSUMER") {
      s.kind = core::SpanKind::kConsumer;
    } else if (!kind.empty()) {
      fail("kind", "expected CLIENT, SERVER, PRODUCER or CONSUMER");
    }

    std::string_view scope_name, scope_version, status_description;
    bool internal_kind = false;
    if (has_tags) {
      if (tags.type() != element_type::OBJECT) fail("tags", "expected an object");
      simdjson::dom::object object = as_object(tags);
      s.attributes.reserve(arena_, object.size() + 4);
      for (auto [key, value] : object) {
        std::string_view v;
        if (value.type() == element_type::STRING) {
          v = value.get_string().value_unsafe();
        } else if (value.type() == element_type::ARRAY || value.type() == element_type::OBJECT) {
          fail(fmt::format("tags.{}", key), "expected a string");
        } else if (value.is_null()) {
          continue;
        } else {
          // A tag sent as a number or boolean (lenient): in the arena, since decode_tag may keep
          // it past this iteration (otel.scope.name, otel.status_description...).
          v = arena_.copy(simdjson::minify(value));
        }
        decode_tag(s, key, v, scope_name, scope_version, status_description, internal_kind);
      }
    }
    if (!status_description.empty()) s.status.message = arena_.copy(status_description);
    if (internal_kind && s.kind == core::SpanKind::kUnspecified) {
      s.kind = core::SpanKind::kInternal;
    }

    add_endpoint_attrs(s, local, kLocalAddress, kLocalPort);
    if (!remote.service_name.empty()) add_string(s.attributes, kPeerService, remote.service_name);
    add_endpoint_attrs(s, remote, kPeerAddress, kPeerPort);
    if (debug) {
      s.flags |= kSampledFlag;
      s.attributes.push_back(arena_, KeyValue{kDebug, AnyValue::boolean(true)});
    }
    if (shared) s.attributes.push_back(arena_, KeyValue{kShared, AnyValue::boolean(true)});

    if (has_annotations) decode_annotations(s, annotations);

    s.resource = resource_for(local.service_name);
    s.scope = scope_for(s.resource, scope_name, scope_version);
  }

  void decode_annotations(core::Span& s, element annotations) {
    if (annotations.type() != element_type::ARRAY) fail("annotations", "expected an array");
    simdjson::dom::array array = annotations.get_array().value_unsafe();
    s.events.reserve(arena_, array.size());
    annotation_ = 0;
    for (element a : array) {
      if (a.type() != element_type::OBJECT) {
        annotation_ = -1;
        fail(fmt::format("annotations[{}]", s.events.size()), "expected an object");
      }
      core::Event ev;
      for (auto [key, value] : as_object(a)) {
        if (value.is_null()) continue;
        if (key == "timestamp") {
          ev.time_unix_nano = nanos_of(value, key);
        } else if (key == "value") {
          std::string_view text = string_of(value, key);
          size_t bar = text.find('|');
          if (bar != std::string_view::npos &&
              parse_attrs_and_dropped(text.substr(bar + 1), arena_, ev.attributes,
                                      ev.dropped_attributes_count)) {
            ev.name = arena_.copy(text.substr(0, bar));
          } else {
            ev.name = arena_.copy(text);
          }
        }
      }
      s.events.push_back(arena_, ev);
      ++annotation_;
    }
    annotation_ = -1;
  }

  core::SpanBatch& batch_;
  Arena& arena_;
  size_t index_ = 0;
  int64_t annotation_ = -1;  // the annotation being decoded, for error messages
  // Keys are views into the JSON parser's buffers, valid for the whole decode.
  std::unordered_map<std::string_view, const core::Resource*> resources_;
  std::map<std::tuple<const core::Resource*, std::string_view, std::string_view>,
           const core::Scope*>
      scopes_;
};

// ---------------------------------------------------------------------------------------------
// Encoding

// Attribute values inside an annotation or link tag, as plain JSON (pcommon's AsRaw form).
void append_raw_value(std::string& out, const AnyValue& v) {
  switch (v.type) {
    case core::ValueType::kEmpty:
      out.append("null");
      break;
    case core::ValueType::kString:
      json::append_string(out, v.str);
      break;
    case core::ValueType::kBytes:
      json::append_base64(out, v.str);
      break;
    case core::ValueType::kBool:
      out.append(v.bool_value ? "true" : "false");
      break;
    case core::ValueType::kInt:
      json::append_int(out, v.int_value);
      break;
    case core::ValueType::kDouble:
      json::append_double(out, v.double_value);
      break;
    case core::ValueType::kArray: {
      out.push_back('[');
      json::Separator sep;
      for (const AnyValue& e : v.array) {
        sep.next(out);
        append_raw_value(out, e);
      }
      out.push_back(']');
      break;
    }
    case core::ValueType::kKvList: {
      out.push_back('{');
      json::Separator sep;
      for (const KeyValue& kv : v.kvlist) {
        sep.next(out);
        json::append_string(out, kv.key);
        out.push_back(':');
        append_raw_value(out, kv.value);
      }
      out.push_back('}');
      break;
    }
  }
}

std::string attrs_json(const AttrList& attrs) {
  std::string out = "{";
  json::Separator sep;
  for (const KeyValue& kv : attrs) {
    sep.next(out);
    json::append_string(out, kv.key);
    out.push_back(':');
    append_raw_value(out, kv.value);
  }
  out.push_back('}');
  return out;
}

bool is_ip(std::string_view s, bool& v6) {
  char buf[INET6_ADDRSTRLEN + 1];
  if (s.empty() || s.size() >= sizeof(buf)) return false;
  std::copy(s.begin(), s.end(), buf);
  buf[s.size()] = '\0';
  unsigned char addr[16];
  if (inet_pton(AF_INET, buf, addr) == 1) {
    v6 = false;
    return true;
  }
  if (inet_pton(AF_INET6, buf, addr) == 1) {
    v6 = true;
    return true;
  }
  return false;
}

class ZipkinEncoder {
 public:
  explicit ZipkinEncoder(std::string& out) : out_(out) {}

  void span(const core::Span& s) {
    tags_.clear();
    consumed_.clear();
    link_keys_.clear();
    out_.push_back('{');
    json::append_key(out_, "traceId");
    json::append_hex(out_, s.trace_id.bytes.data(), s.trace_id.kSize);
    out_.push_back(',');
    json::append_key(out_, "id");
    json::append_hex(out_, s.span_id.bytes.data(), s.span_id.kSize);
    if (s.parent_span_id.valid()) {
      out_.push_back(',');
      json::append_key(out_, "parentId");
      json::append_hex(out_, s.parent_span_id.bytes.data(), s.parent_span_id.kSize);
    }
    if (!s.name.empty()) {
      out_.push_back(',');
      json::append_key(out_, "name");
      json::append_string(out_, s.name);
    }
    std::string_view kind;
    switch (s.kind) {
      case core::SpanKind::kServer:
        kind = "SERVER";
        break;
      case core::SpanKind::kClient:
        kind = "CLIENT";
        break;
      case core::SpanKind::kProducer:
        kind = "PRODUCER";
        break;
      case core::SpanKind::kConsumer:
        kind = "CONSUMER";
        break;
      default:
        break;
    }
    if (!kind.empty()) {
      out_.append(",\"kind\":\"");
      out_.append(kind);
      out_.push_back('"');
    }
    if (s.start_time_unix_nano != 0) {
      out_.push_back(',');
      json::append_key(out_, "timestamp");
      json::append_uint(out_, s.start_time_unix_nano / 1000);
    }
    if (s.end_time_unix_nano > s.start_time_unix_nano) {
      // Zipkin has no sub-microsecond durations; round those up so the span keeps a duration.
      uint64_t micros =
          std::max<uint64_t>(1, (s.end_time_unix_nano - s.start_time_unix_nano) / 1000);
      out_.push_back(',');
      json::append_key(out_, "duration");
      json::append_uint(out_, micros);
    }
    endpoints(s);
    if (bool_attribute(s.attributes, kDebug)) out_.append(",\"debug\":true");
    if (bool_attribute(s.attributes, kShared)) out_.append(",\"shared\":true");
    annotations(s);
    collect_tags(s);
    if (!tags_.empty()) {
      out_.append(",\"tags\":{");
      json::Separator sep;
      for (const auto& [key, value] : tags_) {
        sep.next(out_);
        json::append_string(out_, key);
        out_.push_back(':');
        json::append_string(out_, value);
      }
      out_.push_back('}');
    }
    out_.push_back('}');
  }

 private:
  static const AnyValue* find_any(const AttrList& attrs,
                                  std::initializer_list<std::string_view> keys,
                                  std::string_view* found) {
    for (std::string_view key : keys) {
      if (const AnyValue* v = core::find_attribute(attrs, key)) {
        *found = key;
        return v;
      }
    }
    return nullptr;
  }
  static bool bool_attribute(const AttrList& attrs, std::string_view key) {
    const AnyValue* v = core::find_attribute(attrs, key);
    return v && v->type == core::ValueType::kBool && v->bool_value;
  }

  // Writes ,"<name>":{...} and marks the attributes it used so they do not become tags too.
  void endpoint(std::string_view name, std::string_view service_name, const AttrList& attrs,
                std::initializer_list<std::string_view> address_keys,
                std::initializer_list<std::string_view> port_keys) {
    std::string_view ip_key, port_key;
    const AnyValue* ip = find_any(attrs, address_keys, &ip_key);
    const AnyValue* port = find_any(attrs, port_keys, &port_key);
    bool v6 = false;
    bool ip_ok = ip && ip->type == core::ValueType::kString && is_ip(ip->str, v6);
    int64_t port_number = 0;
    if (port && port->type == core::ValueType::kInt && port->int_value > 0 &&
        port->int_value <= 65535) {
      port_number = port->int_value;
    }
    if (service_name.empty() && !ip_ok && port_number == 0) return;
    out_.push_back(',');
    json::append_key(out_, name);
    out_.push_back('{');
    json::Separator sep;
    if (!service_name.empty()) {
      sep.next(out_);
      json::append_key(out_, "serviceName");
      json::append_string(out_, service_name);
    }
    if (ip_ok) {
      sep.next(out_);
      json::append_key(out_, v6 ? "ipv6" : "ipv4");
      json::append_string(out_, ip->str);
      consumed_.push_back(ip_key);
    }
    if (port_number != 0) {
      sep.next(out_);
      json::append_key(out_, "port");
      json::append_int(out_, port_number);
      consumed_.push_back(port_key);
    }
    out_.push_back('}');
  }

  void endpoints(const core::Span& s) {
    std::string_view service_name;
    if (const AnyValue* v = core::find_attribute(s.resource->attributes, kServiceName)) {
      service_name_buf_ = v->to_string();
      service_name = service_name_buf_;
    }
    endpoint("localEndpoint", service_name, s.attributes, {kLocalAddress, "net.host.ip"},
             {kLocalPort, "net.host.port"});
    std::string_view peer;
    if (const AnyValue* v = core::find_attribute(s.attributes, kPeerService)) {
      peer_buf_ = v->to_string();
      peer = peer_buf_;
      consumed_.push_back(kPeerService);
    }
    endpoint("remoteEndpoint", peer, s.attributes,
             {kPeerAddress, "net.peer.ip", "net.sock.peer.addr"}, {kPeerPort, "net.peer.port"});
  }

  void annotations(const core::Span& s) {
    if (s.events.empty()) return;
    out_.append(",\"annotations\":[");
    json::Separator sep;
    for (const core::Event& e : s.events) {
      sep.next(out_);
      out_.append("{\"timestamp\":");
      json::append_uint(out_, e.time_unix_nano / 1000);
      out_.append(",\"value\":");
      if (e.attributes.empty() && e.dropped_attributes_count == 0) {
        json::append_string(out_, e.name);
      } else {
        json::append_string(out_, fmt::format("{}|{}|{}", e.name, attrs_json(e.attributes),
                                              e.dropped_attributes_count));
      }
      out_.push_back('}');
    }
    out_.push_back(']');
  }

  // Later tags replace earlier ones with the same key (span attributes win over resource ones).
  void put_tag(std::string_view key, std::string value) {
    for (auto& [k, v] : tags_) {
      if (k == key) {
        v = std::move(value);
        return;
      }
    }
    tags_.emplace_back(key, std::move(value));
  }

  void collect_tags(const core::Span& s) {
    for (const KeyValue& kv : s.resource->attributes) {
      if (kv.key != kServiceName) put_tag(kv.key, kv.value.to_string());
    }
    if (!s.scope->name.empty()) put_tag(kScopeName, std::string(s.scope->name));
    if (!s.scope->version.empty()) put_tag(kScopeVersion, std::string(s.scope->version));
    for (const KeyValue& kv : s.attributes) {
      if (kv.key == kDebug || kv.key == kShared) continue;
      if (std::find(consumed_.begin(), consumed_.end(), kv.key) != consumed_.end()) continue;
      put_tag(kv.key, kv.value.to_string());
    }
    if (!s.trace_state.empty()) put_tag(kTraceState, std::string(s.trace_state));
    if (s.kind == core::SpanKind::kInternal) put_tag(kSpanKindTag, "internal");
    for (size_t i = 0; i < s.links.size(); ++i) {
      const core::Link& l = s.links[i];
      link_keys_.push_back(fmt::format("{}{}", kLinkTagPrefix, i));
      put_tag(link_keys_.back(),
              fmt::format("{}|{}|{}|{}|{}", l.trace_id.valid() ? l.trace_id.hex() : "",
                          l.span_id.valid() ? l.span_id.hex() : "", l.trace_state,
                          attrs_json(l.attributes), l.dropped_attributes_count));
    }
    if (s.status.code == core::StatusCode::kError) {
      put_tag(kErrorTag, s.status.message.empty() ? "true" : std::string(s.status.message));
      put_tag(kStatusCode, "ERROR");
    } else {
      // Zipkin treats any span with an error tag as failed: drop a leftover one.
      std::erase_if(tags_, [](const auto& t) { return t.first == kErrorTag; });
      if (s.status.code == core::StatusCode::kOk) put_tag(kStatusCode, "OK");
    }
    if (s.status.code != core::StatusCode::kUnset && !s.status.message.empty()) {
      put_tag(kStatusDescription, std::string(s.status.message));
    }
  }

  std::string& out_;
  std::vector<std::pair<std::string_view, std::string>> tags_;
  std::vector<std::string_view> consumed_;
  std::deque<std::string> link_keys_;  // stable storage for the otlp.link.<i> keys
  std::string service_name_buf_, peer_buf_;
};

}  // namespace

std::optional<std::string> decode_zipkin_json(std::string_view json, core::SpanBatch& batch) {
  return decode_json_document<ZipkinError>(json, batch, [](element root, core::SpanBatch& out) {
    ZipkinDecoder(out).decode(root);
  });
}

std::string encode_zipkin_json(const core::SpanBatch& batch) {
  std::string out;
  out.reserve(2 + batch.size() * 512);
  out.push_back('[');
  ZipkinEncoder encoder(out);
  json::Separator sep;
  for (const core::Span& s : batch.spans()) {
    sep.next(out);
    encoder.span(s);
  }
  out.push_back(']');
  return out;
}

}  // namespace hodos::otlp
