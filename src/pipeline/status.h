// The outcome of handing data to a consumer. Permanent errors mean bad data (drop and count);
// retryable errors mean "not now" (destination down, memory limit): senders back off and retry.
// A partial success is ok with some spans dropped as unusable (OTLP's partial_success): the
// sender is told how many and why, and does not retry.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <utility>

namespace hodos::pipeline {

class Status {
 public:
  enum class Kind { kOk, kPermanent, kRetryable };

  Status() = default;
  static Status ok() { return {}; }
  static Status permanent(std::string message) { return {Kind::kPermanent, std::move(message), {}}; }
  static Status retryable(std::string message,
                          std::chrono::milliseconds retry_after = std::chrono::milliseconds{0}) {
    return {Kind::kRetryable, std::move(message), retry_after};
  }
  static Status partial(size_t rejected, std::string message) {
    Status st{Kind::kOk, std::move(message), {}};
    st.rejected_ = rejected;
    return st;
  }

  bool is_ok() const { return kind_ == Kind::kOk; }
  bool is_permanent() const { return kind_ == Kind::kPermanent; }
  bool is_retryable() const { return kind_ == Kind::kRetryable; }
  Kind kind() const { return kind_; }
  const std::string& message() const { return message_; }
  // A destination's hint (HTTP Retry-After, gRPC RetryInfo); zero when none was given.
  std::chrono::milliseconds retry_after() const { return retry_after_; }
  // Spans an ok consumer dropped (a partial success; message() says why); 0 otherwise.
  size_t rejected() const { return rejected_; }

 private:
  Status(Kind kind, std::string message, std::chrono::milliseconds retry_after)
      : kind_(kind), message_(std::move(message)), retry_after_(retry_after) {}

  Kind kind_ = Kind::kOk;
  std::string message_;
  std::chrono::milliseconds retry_after_{0};
  size_t rejected_ = 0;
};

}  // namespace hodos::pipeline
