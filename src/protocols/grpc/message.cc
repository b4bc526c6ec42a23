#include "protocols/grpc/message.h"

#include <algorithm>

namespace hodos::protocols::grpc {

bool is_grpc_content_type(std::string_view content_type) {
  static constexpr std::string_view kGrpc = "application/grpc";
  if (content_type.size() < kGrpc.size()) return false;
  for (size_t i = 0; i < kGrpc.size(); ++i) {
    char c = content_type[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != kGrpc[i]) return false;
  }
  if (content_type.size() == kGrpc.size()) return true;
  char next = content_type[kGrpc.size()];
  return next == '+' || next == ';' || next == ' ';
}

void MessageCounter::feed(std::string_view data) {
  while (!data.empty() && !lost_) {
    if (payload_left_ > 0) {
      uint64_t take = std::min<uint64_t>(payload_left_, data.size());
      payload_left_ -= take;
      data.remove_prefix(take);
      continue;
    }
    prefix_[prefix_have_++] = static_cast<uint8_t>(data.front());
    data.remove_prefix(1);
    if (prefix_have_ == kPrefixSize) {
      prefix_have_ = 0;
      ++messages_;
      payload_left_ =
          static_cast<uint64_t>(prefix_[1]) << 24 | prefix_[2] << 16 | prefix_[3] << 8 | prefix_[4];
    }
  }
}

void MessageCounter::skip(uint64_t n) {
  if (n == 0 || lost_) return;
  if (prefix_have_ == 0 && n <= payload_left_) {
    payload_left_ -= n;
    return;
  }
  lost_ = true;
}

}  // namespace hodos::protocols::grpc
