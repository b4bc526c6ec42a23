// Typed attribute values (OTLP AnyValue) and key/value lists whose strings and arrays live in the
// arena of the batch that holds them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/arena.h"

namespace hodos::core {

struct KeyValue;

enum class ValueType : uint8_t { kEmpty, kString, kBool, kInt, kDouble, kArray, kKvList, kBytes };

struct AnyValue {
  ValueType type = ValueType::kEmpty;
  union {
    bool bool_value;
    int64_t int_value;
    double double_value;
    std::string_view str;  // kString and kBytes (raw bytes, not encoded)
    ArenaVector<AnyValue> array;
    ArenaVector<KeyValue> kvlist;
  };

  AnyValue() : int_value(0) {}

  // `s` must already live in the batch's arena (or be static); see Arena::copy.
  static AnyValue string(std::string_view s) {
    AnyValue v;
    v.type = ValueType::kString;
    v.str = s;
    return v;
  }
  static AnyValue bytes(std::string_view s) {
    AnyValue v;
    v.type = ValueType::kBytes;
    v.str = s;
    return v;
  }
  static AnyValue boolean(bool b) {
    AnyValue v;
    v.type = ValueType::kBool;
    v.bool_value = b;
    return v;
  }
  static AnyValue integer(int64_t i) {
    AnyValue v;
    v.type = ValueType::kInt;
    v.int_value = i;
    return v;
  }
  static AnyValue floating(double d) {
    AnyValue v;
    v.type = ValueType::kDouble;
    v.double_value = d;
    return v;
  }
  static AnyValue array_of(ArenaVector<AnyValue> values) {
    AnyValue v;
    v.type = ValueType::kArray;
    v.array = values;
    return v;
  }
  static AnyValue kvlist_of(ArenaVector<KeyValue> values) {
    AnyValue v;
    v.type = ValueType::kKvList;
    v.kvlist = values;
    return v;
  }

  // A human-readable rendering (strings unquoted, arrays/maps as JSON), e.g. for Zipkin tags.
  std::string to_string() const;
  // Deep copy into `arena` (strings and nested arrays/maps included).
  AnyValue copy_into(Arena& arena) const;
};

struct KeyValue {
  std::string_view key;
  AnyValue value;
};

using AttrList = ArenaVector<KeyValue>;

bool operator==(const AnyValue& a, const AnyValue& b);
inline bool operator==(const KeyValue& a, const KeyValue& b) {
  return a.key == b.key && a.value == b.value;
}

// Linear search: attribute lists are short, and a scan beats hashing below ~30 entries.
const AnyValue* find_attribute(const AttrList& attrs, std::string_view key);
AnyValue* find_attribute(AttrList& attrs, std::string_view key);
// Inserts or replaces `key`; copies key and value into `arena`.
void upsert_attribute(Arena& arena, AttrList& attrs, std::string_view key, const AnyValue& value);
bool erase_attribute(AttrList& attrs, std::string_view key);
AttrList copy_attributes(Arena& arena, const AttrList& attrs);

}  // namespace hodos::core
