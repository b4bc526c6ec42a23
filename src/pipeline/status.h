// The outcome of handing data to a consumer. Permanent errors mean bad data (drop and count);
// retryable errors mean "not now" (destination down, memory limit): senders back off and retry.
#pragma once

#include <chrono>
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

  bool is_ok() const { return kind_ == Kind::kOk; }
  bool is_permanent() const { return kind_ == Kind::kPermanent; }
  bool is_retryable() const { return kind_ == Kind::kRetryable; }
  Kind kind() const { return kind_; }
  const std::string& message() const { return message_; }
  // A destination's hint (HTTP Retry-After, gRPC RetryInfo); zero when none was given.
  std::chrono::milliseconds retry_after() const { return retry_after_; }

 private:
  Status(Kind kind, std::string message, std::chrono::milliseconds retry_after)
      : kind_(kind), message_(std::move(message)), retry_after_(retry_after) {}

  Kind kind_ = Kind::kOk;
  std::string message_;
  std::chrono::milliseconds retry_after_{0};
};

}  // namespace hodos::pipeline
