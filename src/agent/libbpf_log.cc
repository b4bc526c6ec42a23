#include "agent/libbpf_log.h"

#include <bpf/libbpf.h>
#include <spdlog/spdlog.h>

#include <cstdarg>
#include <cstdio>
#include <mutex>
#include <string>

namespace hodos::agent {

namespace {

thread_local LibbpfLogCapture* current_capture = nullptr;

int print_libbpf_message(enum libbpf_print_level level, const char* format, va_list args) {
  if (level == LIBBPF_DEBUG) return 0;
  va_list copy;
  va_copy(copy, args);
  int length = std::vsnprintf(nullptr, 0, format, copy);
  va_end(copy);
  if (length <= 0) return 0;
  std::string message(static_cast<size_t>(length), '\0');
  std::vsnprintf(message.data(), message.size() + 1, format, args);
  if (current_capture != nullptr && level == LIBBPF_WARN) {
    current_capture->append(message);
    return length;
  }
  while (!message.empty() && message.back() == '\n') message.pop_back();
  if (level == LIBBPF_WARN) {
    spdlog::warn("libbpf: {}", message);
  } else {
    spdlog::debug("libbpf: {}", message);
  }
  return length;
}

}  // namespace

void install_libbpf_logging() {
  static std::once_flag once;
  std::call_once(once, [] { libbpf_set_print(print_libbpf_message); });
}

LibbpfLogCapture::LibbpfLogCapture() : previous_(current_capture) {
  install_libbpf_logging();
  current_capture = this;
}

LibbpfLogCapture::~LibbpfLogCapture() { current_capture = previous_; }

}  // namespace hodos::agent
