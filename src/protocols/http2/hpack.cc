#include "protocols/http2/hpack.h"

#include <nghttp2/nghttp2.h>

#include <utility>

namespace hodos::protocols::http2 {

void HeaderDecoder::Free::operator()(nghttp2_hd_inflater* inflater) const {
  nghttp2_hd_inflate_del(inflater);
}

HeaderDecoder::HeaderDecoder() {
  nghttp2_hd_inflater* inflater = nullptr;
  if (nghttp2_hd_inflate_new(&inflater) != 0) {
    failed_ = true;
    return;
  }
  inflater_.reset(inflater);
}

HeaderDecoder::~HeaderDecoder() = default;
HeaderDecoder::HeaderDecoder(HeaderDecoder&&) noexcept = default;
HeaderDecoder& HeaderDecoder::operator=(HeaderDecoder&&) noexcept = default;

bool HeaderDecoder::feed(std::string_view bytes, bool last, const OnHeader& on_header) {
  if (failed_) return false;
  in_block_ = true;
  const auto* in = reinterpret_cast<const uint8_t*>(bytes.data());
  size_t left = bytes.size();
  for (;;) {
    nghttp2_nv nv;
    int inflate_flags = 0;
    ssize_t used =
        nghttp2_hd_inflate_hd2(inflater_.get(), &nv, &inflate_flags, in, left, last ? 1 : 0);
    if (used < 0) {
      failed_ = true;
      in_block_ = false;
      return false;
    }
    in += used;
    left -= static_cast<size_t>(used);
    if ((inflate_flags & NGHTTP2_HD_INFLATE_EMIT) != 0) {
      on_header(std::string_view(reinterpret_cast<const char*>(nv.name), nv.namelen),
                std::string_view(reinterpret_cast<const char*>(nv.value), nv.valuelen));
    }
    if ((inflate_flags & NGHTTP2_HD_INFLATE_FINAL) != 0) {
      nghttp2_hd_inflate_end_headers(inflater_.get());
      in_block_ = false;
      if (table_size_pending_) apply_table_size();
      return !failed_;
    }
    if ((inflate_flags & NGHTTP2_HD_INFLATE_EMIT) == 0 && left == 0) return true;
  }
}

void HeaderDecoder::set_max_table_size(uint32_t size) {
  max_table_size_ = size;
  table_size_pending_ = true;
  if (!in_block_) apply_table_size();
}

void HeaderDecoder::apply_table_size() {
  table_size_pending_ = false;
  if (failed_) return;
  if (nghttp2_hd_inflate_change_table_size(inflater_.get(), max_table_size_) != 0) failed_ = true;
}

}  // namespace hodos::protocols::http2
