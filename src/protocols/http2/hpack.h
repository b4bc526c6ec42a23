// HPACK (RFC 7541) decoding of one direction's header blocks with nghttp2's inflater. HPACK is
// stateful: every block of a direction updates the dynamic table the next ones refer to, so one
// decoder follows one direction from the connection's first block, and a block it misses or
// cannot decode leaves it useless for good.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>

struct nghttp2_hd_inflater;

namespace hodos::protocols::http2 {

class HeaderDecoder {
 public:
  // Called for each header field of a block, in order. The views are valid during the call only.
  using OnHeader = std::function<void(std::string_view name, std::string_view value)>;

  HeaderDecoder();
  ~HeaderDecoder();
  HeaderDecoder(HeaderDecoder&&) noexcept;
  HeaderDecoder& operator=(HeaderDecoder&&) noexcept;

  // Feeds the next bytes of a header block; `last` marks the block's end (an empty `bytes` may
  // end it). False when the block does not decode (or memory ran out): the decoder is then
  // failed() and refuses everything.
  bool feed(std::string_view bytes, bool last, const OnHeader& on_header);

  // The SETTINGS_HEADER_TABLE_SIZE the decoding side announced, once the encoder must respect it.
  // A smaller table makes the encoder start its next block with a size update, which the decoder
  // then requires. Inside a block the change waits for the block's end.
  void set_max_table_size(uint32_t size);
  uint32_t max_table_size() const { return max_table_size_; }

  bool in_block() const { return in_block_; }
  bool failed() const { return failed_; }

 private:
  struct Free {
    void operator()(nghttp2_hd_inflater* inflater) const;
  };
  void apply_table_size();

  std::unique_ptr<nghttp2_hd_inflater, Free> inflater_;
  uint32_t max_table_size_ = 4096;  // the setting in force (or waiting for the block's end)
  bool table_size_pending_ = false;
  bool in_block_ = false;
  bool failed_ = false;
};

}  // namespace hodos::protocols::http2
