#include "receivers/receiver_http.h"

#include <gtest/gtest.h>

#include "net/compression.h"

namespace hodos::receivers {
namespace {

net::HttpRequest with_headers(std::vector<std::pair<std::string, std::string>> headers,
                              std::string body = "") {
  net::HttpRequest r;
  r.headers = std::move(headers);
  r.body = std::move(body);
  return r;
}

TEST(ReceiverHttpTest, MediaTypeDropsParametersAndCase) {
  EXPECT_EQ(media_type(with_headers({{"content-type", "Application/JSON; charset=utf-8"}})),
            "application/json");
  EXPECT_EQ(media_type(with_headers({{"content-type", " application/x-protobuf "}})),
            "application/x-protobuf");
  EXPECT_EQ(media_type(with_headers({})), "");
}

TEST(ReceiverHttpTest, ContentEncoding) {
  auto req = with_headers({{"content-encoding", "gzip"}}, net::gzip_compress("hello"));
  EXPECT_EQ(decode_content_encoding(req, 100), std::nullopt);
  EXPECT_EQ(req.body, "hello");

  req = with_headers({{"content-encoding", "identity"}}, "as is");
  EXPECT_EQ(decode_content_encoding(req, 100), std::nullopt);
  EXPECT_EQ(req.body, "as is");

  req = with_headers({{"content-encoding", "gzip"}}, net::gzip_compress(std::string(101, 'a')));
  auto err = decode_content_encoding(req, 100);
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->http_status, 413);

  req = with_headers({{"content-encoding", "gzip"}}, "junk");
  err = decode_content_encoding(req, 100);
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->http_status, 400);

  req = with_headers({{"content-encoding", "snappy"}}, "x");
  err = decode_content_encoding(req, 100);
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->http_status, 415);
  EXPECT_NE(err->message.find("snappy"), std::string::npos);
}

TEST(ReceiverHttpTest, RetryAfterRoundsUpToWholeSeconds) {
  EXPECT_EQ(retry_after_seconds(pipeline::Status::retryable("x")), 1);
  EXPECT_EQ(retry_after_seconds(pipeline::Status::retryable("x", std::chrono::milliseconds(1))),
            1);
  EXPECT_EQ(
      retry_after_seconds(pipeline::Status::retryable("x", std::chrono::milliseconds(5000))), 5);
  EXPECT_EQ(
      retry_after_seconds(pipeline::Status::retryable("x", std::chrono::milliseconds(5001))), 6);
}

TEST(ReceiverHttpTest, LogLimiterCountsWhatItHoldsBack) {
  LogLimiter limiter(std::chrono::hours(1));
  uint64_t suppressed = 99;
  EXPECT_TRUE(limiter.allow(&suppressed));
  EXPECT_EQ(suppressed, 0u);
  EXPECT_FALSE(limiter.allow(&suppressed));
  EXPECT_FALSE(limiter.allow(&suppressed));

  LogLimiter every_time(std::chrono::seconds(0));
  EXPECT_TRUE(every_time.allow(&suppressed));
  EXPECT_TRUE(every_time.allow(&suppressed));
  EXPECT_EQ(suppressed, 0u);
}

}  // namespace
}  // namespace hodos::receivers
