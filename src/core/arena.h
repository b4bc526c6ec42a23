// Bump allocation for span data: a batch's strings, attribute arrays, events and links live in
// arenas the batch owns, so decoding a span costs no heap allocation per attribute.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory_resource>
#include <string_view>
#include <type_traits>

namespace hodos::core {

class Arena {
 public:
  explicit Arena(size_t initial_bytes = 16 * 1024) : resource_(initial_bytes) {}
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  void* allocate(size_t bytes, size_t align) {
    allocated_ += bytes;
    return resource_.allocate(bytes, align);
  }
  template <class T>
  T* allocate_array(size_t n) {
    static_assert(std::is_trivially_copyable_v<T>, "arena objects are never destroyed");
    return static_cast<T*>(allocate(sizeof(T) * n, alignof(T)));
  }
  template <class T, class... Args>
  T* make(Args&&... args) {
    static_assert(std::is_trivially_destructible_v<T>, "arena objects are never destroyed");
    return new (allocate(sizeof(T), alignof(T))) T{std::forward<Args>(args)...};
  }
  // Copies `s` into the arena; the result lives as long as the arena.
  std::string_view copy(std::string_view s) {
    if (s.empty()) return {};
    char* p = static_cast<char*>(allocate(s.size(), 1));
    std::memcpy(p, s.data(), s.size());
    return {p, s.size()};
  }
  size_t bytes_allocated() const { return allocated_; }

 private:
  std::pmr::monotonic_buffer_resource resource_;
  size_t allocated_ = 0;
};

// A growable array whose storage is in an Arena. Trivially copyable (a view plus sizes), so
// copying one shares the elements; growth needs the arena that owns the batch being edited.
template <class T>
class ArenaVector {
 public:
  ArenaVector() = default;

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  T* begin() { return data_; }
  T* end() { return data_ + size_; }
  const T* begin() const { return data_; }
  const T* end() const { return data_ + size_; }
  T& operator[](size_t i) { return data_[i]; }
  const T& operator[](size_t i) const { return data_[i]; }
  T& back() { return data_[size_ - 1]; }
  T* data() { return data_; }
  const T* data() const { return data_; }

  void reserve(Arena& arena, size_t n) {
    if (n <= cap_) return;
    T* fresh = arena.allocate_array<T>(n);
    if (size_ > 0) std::memcpy(static_cast<void*>(fresh), data_, sizeof(T) * size_);
    data_ = fresh;
    cap_ = static_cast<uint32_t>(n);
  }
  T& push_back(Arena& arena, const T& v) {
    if (size_ == cap_) reserve(arena, cap_ == 0 ? 4 : cap_ * 2);
    data_[size_] = v;
    return data_[size_++];
  }
  void erase_at(size_t i) {
    std::memmove(static_cast<void*>(data_ + i), data_ + i + 1, sizeof(T) * (size_ - i - 1));
    --size_;
  }
  template <class Pred>
  void erase_if(Pred pred) {
    size_t out = 0;
    for (size_t i = 0; i < size_; ++i) {
      if (!pred(data_[i])) data_[out++] = data_[i];
    }
    size_ = static_cast<uint32_t>(out);
  }
  void clear() { size_ = 0; }

 private:
  T* data_ = nullptr;
  uint32_t size_ = 0;
  uint32_t cap_ = 0;
};

}  // namespace hodos::core
