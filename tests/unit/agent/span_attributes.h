// Reading the attributes of a built span in the agent's tests.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/span.h"

namespace hodos::agent::testing {

// A string attribute as it is, any other as text; "<absent>" when the span does not have it.
inline std::string attr_text(const core::Span& s, std::string_view key) {
  const core::AnyValue* v = core::find_attribute(s.attributes, key);
  if (v == nullptr) return "<absent>";
  return v->type == core::ValueType::kString ? std::string(v->str) : v->to_string();
}

// An integer attribute; -1 when absent or not an integer.
inline int64_t attr_int(const core::Span& s, std::string_view key) {
  const core::AnyValue* v = core::find_attribute(s.attributes, key);
  return v != nullptr && v->type == core::ValueType::kInt ? v->int_value : -1;
}

}  // namespace hodos::agent::testing
