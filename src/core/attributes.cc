#include "core/attributes.h"

#include <fmt/format.h>

#include "core/ids.h"

namespace hodos::core {

namespace {
void append_json_string(std::string& out, std::string_view s) {
  out.push_back('"');
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += fmt::format("\\u{:04x}", static_cast<int>(c));
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

void append_value(std::string& out, const AnyValue& v, bool quote_strings) {
  switch (v.type) {
    case ValueType::kEmpty: out += quote_strings ? "null" : ""; break;
    case ValueType::kString:
      if (quote_strings) {
        append_json_string(out, v.str);
      } else {
        out.append(v.str);
      }
      break;
    case ValueType::kBytes: {
      std::string hex(v.str.size() * 2, '0');
      hex_encode(reinterpret_cast<const uint8_t*>(v.str.data()), v.str.size(), hex.data());
      if (quote_strings) {
        append_json_string(out, hex);
      } else {
        out += hex;
      }
      break;
    }
    case ValueType::kBool: out += v.bool_value ? "true" : "false"; break;
    case ValueType::kInt: out += fmt::format("{}", v.int_value); break;
    case ValueType::kDouble: out += fmt::format("{}", v.double_value); break;
    case ValueType::kArray: {
      out.push_back('[');
      for (size_t i = 0; i < v.array.size(); ++i) {
        if (i) out.push_back(',');
        append_value(out, v.array[i], true);
      }
      out.push_back(']');
      break;
    }
    case ValueType::kKvList: {
      out.push_back('{');
      for (size_t i = 0; i < v.kvlist.size(); ++i) {
        if (i) out.push_back(',');
        append_json_string(out, v.kvlist[i].key);
        out.push_back(':');
        append_value(out, v.kvlist[i].value, true);
      }
      out.push_back('}');
      break;
    }
  }
}
}  // namespace

std::string AnyValue::to_string() const {
  std::string out;
  append_value(out, *this, false);
  return out;
}

AnyValue AnyValue::copy_into(Arena& arena) const {
  switch (type) {
    case ValueType::kString:
    case ValueType::kBytes: {
      AnyValue v = *this;
      v.str = arena.copy(str);
      return v;
    }
    case ValueType::kArray: {
      ArenaVector<AnyValue> values;
      values.reserve(arena, array.size());
      for (const AnyValue& e : array) values.push_back(arena, e.copy_into(arena));
      return array_of(values);
    }
    case ValueType::kKvList: return kvlist_of(copy_attributes(arena, kvlist));
    default: return *this;
  }
}

bool operator==(const AnyValue& a, const AnyValue& b) {
  if (a.type != b.type) return false;
  switch (a.type) {
    case ValueType::kEmpty: return true;
    case ValueType::kString:
    case ValueType::kBytes: return a.str == b.str;
    case ValueType::kBool: return a.bool_value == b.bool_value;
    case ValueType::kInt: return a.int_value == b.int_value;
    case ValueType::kDouble: return a.double_value == b.double_value;
    case ValueType::kArray:
      if (a.array.size() != b.array.size()) return false;
      for (size_t i = 0; i < a.array.size(); ++i) {
        if (!(a.array[i] == b.array[i])) return false;
      }
      return true;
    case ValueType::kKvList:
      if (a.kvlist.size() != b.kvlist.size()) return false;
      for (size_t i = 0; i < a.kvlist.size(); ++i) {
        if (!(a.kvlist[i] == b.kvlist[i])) return false;
      }
      return true;
  }
  return false;
}

const AnyValue* find_attribute(const AttrList& attrs, std::string_view key) {
  for (const KeyValue& kv : attrs) {
    if (kv.key == key) return &kv.value;
  }
  return nullptr;
}

AnyValue* find_attribute(AttrList& attrs, std::string_view key) {
  for (KeyValue& kv : attrs) {
    if (kv.key == key) return &kv.value;
  }
  return nullptr;
}

void upsert_attribute(Arena& arena, AttrList& attrs, std::string_view key, const AnyValue& value) {
  AnyValue copied = value.copy_into(arena);
  if (AnyValue* existing = find_attribute(attrs, key)) {
    *existing = copied;
    return;
  }
  attrs.push_back(arena, KeyValue{arena.copy(key), copied});
}

bool erase_attribute(AttrList& attrs, std::string_view key) {
  size_t before = attrs.size();
  attrs.erase_if([&](const KeyValue& kv) { return kv.key == key; });
  return attrs.size() != before;
}

AttrList copy_attributes(Arena& arena, const AttrList& attrs) {
  AttrList out;
  out.reserve(arena, attrs.size());
  for (const KeyValue& kv : attrs) {
    out.push_back(arena, KeyValue{arena.copy(kv.key), kv.value.copy_into(arena)});
  }
  return out;
}

}  // namespace hodos::core
