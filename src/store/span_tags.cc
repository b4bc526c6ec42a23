#include "store/span_tags.h"

namespace hodos::store {

namespace {
bool list_has(const core::AttrList& attrs, std::string_view key, std::string_view text) {
  for (const core::KeyValue& kv : attrs) {
    if (kv.key == key && value_equals_text(kv.value, text)) return true;
  }
  return false;
}
}  // namespace

std::string_view service_name(const core::Resource& resource) {
  const core::AnyValue* v = core::find_attribute(resource.attributes, "service.name");
  if (v == nullptr || v->type != core::ValueType::kString || v->str.empty()) {
    return kUnknownService;
  }
  return v->str;
}

bool value_equals_text(const core::AnyValue& value, std::string_view text) {
  if (value.type == core::ValueType::kString) return value.str == text;  // no copy on the hot path
  return value.to_string() == text;
}

bool span_has_tag(const core::Span& span, std::string_view key, std::string_view text) {
  if (list_has(span.attributes, key, text) || list_has(span.resource->attributes, key, text)) {
    return true;
  }
  for (const core::Event& e : span.events) {
    // Jaeger turns an event into a log whose fields are its attributes plus event=<name>.
    if (list_has(e.attributes, key, text) || (key == "event" && e.name == text)) return true;
  }
  bool found = false;
  for_each_derived_tag(span, [&](std::string_view k, std::string_view v) {
    if (k == key && v == text) found = true;
  });
  return found;
}

}  // namespace hodos::store
