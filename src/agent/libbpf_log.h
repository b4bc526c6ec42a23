// Routes libbpf's messages to spdlog, and lets a loader collect them (CO-RE relocation errors,
// the verifier log of a rejected program) to put them in the error it reports.
#pragma once

#include <stdexcept>
#include <string>

namespace hodos::agent {

// A BPF object could not be opened, loaded or attached; what() holds libbpf's explanation,
// including the verifier log when the kernel rejected a program.
class BpfError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// While alive, libbpf's warnings on this thread are collected here instead of being logged (one
// collector per thread at a time). Debug chatter is dropped either way.
class LibbpfLogCapture {
 public:
  LibbpfLogCapture();
  ~LibbpfLogCapture();
  LibbpfLogCapture(const LibbpfLogCapture&) = delete;
  LibbpfLogCapture& operator=(const LibbpfLogCapture&) = delete;

  const std::string& text() const { return text_; }
  void append(const std::string& message) { text_ += message; }

 private:
  std::string text_;
  LibbpfLogCapture* previous_;
};

// Installs the libbpf print callback (once per process); the capture and every loader call it.
void install_libbpf_logging();

}  // namespace hodos::agent
