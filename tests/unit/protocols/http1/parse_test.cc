#include "protocols/http1/parse.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <memory>
#include <string>
#include <vector>

#include "captures.h"

namespace hodos::protocols::http1 {
namespace {

using testing::kRequests;
using testing::kResponses;
using testing::request_capture;
using testing::response_capture;

// Bytes with NULs in them.
template <size_t N>
std::string bytes(const char (&s)[N]) {
  return std::string(s, N - 1);
}

bool until_close(const testing::ResponseCapture& c) {
  return c.framing == BodyFraming::kUntilClose;
}

TEST(Http1Parse, CapturesParseCompletely) {
  for (const auto& c : kRequests) {
    SCOPED_TRACE(c.name);
    std::string_view buf = c.bytes;
    Request r;
    ASSERT_EQ(parse_request(&buf, &r), ParseState::kSuccess);
    EXPECT_TRUE(buf.empty()) << buf.size() << " bytes left over";
    EXPECT_EQ(r.method, c.method);
    EXPECT_EQ(r.target, c.target);
    EXPECT_EQ(r.body.framing, c.framing);
    EXPECT_EQ(r.body.seen, c.body_size);
    EXPECT_TRUE(r.body.complete);
    EXPECT_EQ(r.raw, c.bytes.substr(0, r.raw.size()));
    EXPECT_TRUE(r.raw.ends_with("\r\n\r\n"));
    EXPECT_EQ(r.headers.size(), r.header_count);
    EXPECT_FALSE(r.head_truncated);
  }
  for (const auto& c : kResponses) {
    SCOPED_TRACE(c.name);
    std::string_view buf = c.bytes;
    Response r;
    ASSERT_EQ(parse_response(&buf, c.answers, &r, until_close(c)), ParseState::kSuccess);
    EXPECT_TRUE(buf.empty()) << buf.size() << " bytes left over";
    EXPECT_EQ(r.status, c.status);
    EXPECT_EQ(r.body.framing, c.framing);
    EXPECT_EQ(r.body.seen, c.body_size);
    EXPECT_TRUE(r.raw.ends_with("\r\n\r\n"));
  }
}

TEST(Http1Parse, EveryTruncatedPrefixNeedsMoreData) {
  Request req;
  for (const auto& c : kRequests) {
    for (size_t n = 0; n < c.bytes.size(); ++n) {
      std::string_view prefix = c.bytes.substr(0, n);
      std::string_view before = prefix;
      ASSERT_EQ(parse_request(&prefix, &req), ParseState::kNeedsMoreData) << c.name << " at " << n;
      ASSERT_EQ(prefix.data(), before.data());
      ASSERT_EQ(prefix.size(), before.size());
    }
  }
  Response resp;
  for (const auto& c : kResponses) {
    for (size_t n = 0; n < c.bytes.size(); ++n) {
      std::string_view prefix = c.bytes.substr(0, n);
      ASSERT_EQ(parse_response(&prefix, c.answers, &resp), ParseState::kNeedsMoreData)
          << c.name << " at " << n;
      ASSERT_EQ(prefix.size(), n);
    }
  }
}

TEST(Http1Parse, EveryPrefixOfAHeadNeedsMoreDataAndTheHeadAloneSucceeds) {
  for (const auto& c : kResponses) {
    Response r;
    std::string_view all = c.bytes;
    ASSERT_EQ(parse_response_head(&all, c.answers, &r), ParseState::kSuccess) << c.name;
    size_t head = c.bytes.size() - all.size();
    EXPECT_EQ(head, r.raw.size());
    for (size_t n = 0; n < head; ++n) {
      std::string_view prefix = c.bytes.substr(0, n);
      ASSERT_EQ(parse_response_head(&prefix, c.answers, &r), ParseState::kNeedsMoreData)
          << c.name << " at " << n;
    }
  }
}

TEST(Http1Parse, RequestFieldsAndHeaderLookup) {
  std::string_view buf = request_capture("curl_get").bytes;
  Request r;
  ASSERT_EQ(parse_request(&buf, &r), ParseState::kSuccess);
  EXPECT_EQ(r.minor_version, 1);
  ASSERT_EQ(r.headers.size(), 3u);
  EXPECT_EQ(r.headers[0].name, "Host");
  EXPECT_EQ(r.headers[0].value, "localhost:8080");
  EXPECT_EQ(r.headers[2].name, "Accept");
  EXPECT_EQ(r.headers[2].value, "*/*");
  EXPECT_EQ(r.header("HOST"), "localhost:8080");
  EXPECT_EQ(r.header("user-agent"), "curl/7.88.1");
  EXPECT_FALSE(r.has_header("Content-Length"));
  EXPECT_EQ(r.path(), "/items/42");
  EXPECT_EQ(r.query(), "verbose=1");
  EXPECT_TRUE(r.keep_alive());

  buf = request_capture("go_client_get").bytes;
  ASSERT_EQ(parse_request(&buf, &r), ParseState::kSuccess);
  EXPECT_EQ(r.header("traceparent"), "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
  EXPECT_EQ(r.query(), "");
}

TEST(Http1Parse, FramingHeadersAreCaseInsensitive) {
  Request r;
  std::string_view buf = request_capture("node_fetch_post").bytes;
  ASSERT_EQ(parse_request(&buf, &r), ParseState::kSuccess);
  EXPECT_TRUE(r.has_content_length);
  EXPECT_EQ(r.content_length, 29u);

  Response resp;
  buf = response_capture("java_201").bytes;  // "Content-length"
  ASSERT_EQ(parse_response(&buf, "POST", &resp), ParseState::kSuccess);
  EXPECT_EQ(resp.body.framing, BodyFraming::kContentLength);
  EXPECT_EQ(resp.body.declared, 0u);
}

TEST(Http1Parse, ExpectContinueAndConnectionFlags) {
  Request r;
  std::string_view buf = request_capture("java_expect_continue").bytes;
  ASSERT_EQ(parse_request(&buf, &r), ParseState::kSuccess);
  EXPECT_TRUE(r.expect_continue);
  EXPECT_TRUE(r.connection_keep_alive);
  EXPECT_EQ(r.header("accept"), "text/html, image/gif, image/jpeg, *; q=.2, */*; q=.2");

  buf = request_capture("ab_http10").bytes;
  ASSERT_EQ(parse_request(&buf, &r), ParseState::kSuccess);
  EXPECT_EQ(r.minor_version, 0);
  EXPECT_FALSE(r.keep_alive());
  EXPECT_FALSE(r.expect_continue);

  Response resp;
  buf = response_capture("python_404").bytes;
  ASSERT_EQ(parse_response(&buf, "GET", &resp), ParseState::kSuccess);
  EXPECT_TRUE(resp.connection_close);
  EXPECT_FALSE(resp.keep_alive());
  EXPECT_EQ(resp.reason, "File not found");
}

TEST(Http1Parse, ResponseFramingDependsOnTheRequest) {
  // nginx answers HEAD with the Content-Length a GET would get, and no body.
  std::string_view head_answer = response_capture("nginx_head").bytes;
  Response r;
  std::string_view buf = head_answer;
  ASSERT_EQ(parse_response(&buf, "HEAD", &r), ParseState::kSuccess);
  EXPECT_EQ(r.body.framing, BodyFraming::kNone);
  EXPECT_EQ(r.content_length, 615u);
  buf = head_answer;
  EXPECT_EQ(parse_response(&buf, "GET", &r), ParseState::kNeedsMoreData);
  EXPECT_EQ(r.body.framing, BodyFraming::kContentLength);

  // "200 Connection established" opens a tunnel only as the answer to CONNECT.
  std::string_view established = response_capture("connect_200").bytes;
  buf = established;
  ASSERT_EQ(parse_response(&buf, "CONNECT", &r), ParseState::kSuccess);
  EXPECT_EQ(r.body.framing, BodyFraming::kTunnel);
  buf = established;
  EXPECT_EQ(parse_response(&buf, "GET", &r), ParseState::kNeedsMoreData);
  EXPECT_EQ(r.body.framing, BodyFraming::kUntilClose);

  buf = response_capture("websocket_101").bytes;
  ASSERT_EQ(parse_response(&buf, "", &r), ParseState::kSuccess);
  EXPECT_EQ(r.body.framing, BodyFraming::kTunnel);

  // Transfer-Encoding wins over Content-Length; a response whose coding is not chunked lasts
  // until close.
  buf =
      "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: "
      "chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
  ASSERT_EQ(parse_response(&buf, "GET", &r), ParseState::kSuccess);
  EXPECT_EQ(r.body.framing, BodyFraming::kChunked);
  EXPECT_TRUE(buf.empty());
  buf = "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n\x1f\x8b";
  ASSERT_EQ(parse_response(&buf, "GET", &r, true), ParseState::kSuccess);
  EXPECT_EQ(r.body.framing, BodyFraming::kUntilClose);
  EXPECT_EQ(r.body.seen, 2u);
}

TEST(Http1Parse, ChunkedBodiesWithExtensionsAndTrailers) {
  Response r;
  std::string_view buf = response_capture("chunk_extensions").bytes;
  ASSERT_EQ(parse_response(&buf, "GET", &r), ParseState::kSuccess);
  EXPECT_EQ(r.body.seen, std::string_view("Wikipedia in\r\n\r\nchunks.").size());
  EXPECT_TRUE(buf.empty());

  // The same body fed to the decoder one byte at a time.
  std::string_view body = response_capture("go_chunked_trailer").bytes;
  body.remove_prefix(body.find("\r\n\r\n") + 4);
  ChunkedDecoder decoder;
  for (size_t i = 0; i < body.size(); ++i) {
    std::string_view one = body.substr(i, 1);
    ParseState st = decoder.feed(&one);
    ASSERT_EQ(st, i + 1 == body.size() ? ParseState::kSuccess : ParseState::kNeedsMoreData) << i;
    ASSERT_TRUE(one.empty());
  }
  EXPECT_EQ(decoder.data_bytes(), 25u);
}

TEST(Http1Parse, ChunkedDecoderStopsAtTheEndOfTheBody) {
  ChunkedDecoder decoder;
  std::string_view buf = "5\r\nhello\r\n0\r\n\r\nHTTP/1.1 200 OK\r\n";
  ASSERT_EQ(decoder.feed(&buf), ParseState::kSuccess);
  EXPECT_EQ(buf, "HTTP/1.1 200 OK\r\n");
  EXPECT_TRUE(decoder.done());
}

TEST(Http1Parse, ChunkedDecoderSkipsUncapturedData) {
  ChunkedDecoder decoder;
  std::string_view buf = "186a0\r\nabc";  // a 100000-byte chunk, 3 bytes captured
  ASSERT_EQ(decoder.feed(&buf), ParseState::kNeedsMoreData);
  EXPECT_TRUE(decoder.skip(99997 + 2));  // the rest of the data and its CRLF
  buf = "0\r\n\r\n";
  EXPECT_EQ(decoder.feed(&buf), ParseState::kSuccess);
  EXPECT_EQ(decoder.data_bytes(), 100000u);

  decoder.reset();
  buf = "10\r\n";
  ASSERT_EQ(decoder.feed(&buf), ParseState::kNeedsMoreData);
  EXPECT_FALSE(decoder.skip(16 + 2 + 1));  // reaches into the next size line: framing lost
}

TEST(Http1Parse, PipelinedMessagesParseOneAfterAnother) {
  std::string requests;
  for (const auto& c : kRequests) requests += c.bytes;
  std::string_view buf = requests;
  Request r;
  for (const auto& c : kRequests) {
    ASSERT_EQ(parse_request(&buf, &r), ParseState::kSuccess) << c.name;
    EXPECT_EQ(r.target, c.target);
  }
  EXPECT_TRUE(buf.empty());

  std::string responses;
  std::vector<const testing::ResponseCapture*> order;
  for (const auto& c : kResponses) {
    if (until_close(c) || c.framing == BodyFraming::kTunnel) continue;
    responses += c.bytes;
    order.push_back(&c);
  }
  buf = responses;
  Response resp;
  for (const auto* c : order) {
    ASSERT_EQ(parse_response(&buf, c->answers, &resp), ParseState::kSuccess) << c->name;
    EXPECT_EQ(resp.status, c->status);
  }
  EXPECT_TRUE(buf.empty());
}

TEST(Http1Parse, TolerantWhereServersAreTolerant) {
  Request r;
  // Empty lines before a request (a client's stray CRLF after a body), bare LF line ends,
  // an obsolete folded header line, no reason phrase.
  std::string_view buf = "\r\nGET /a HTTP/1.1\nHost: x\nX-Long: one\n  two\nAccept: */*\n\n";
  ASSERT_EQ(parse_request(&buf, &r), ParseState::kSuccess);
  EXPECT_TRUE(buf.empty());
  EXPECT_EQ(r.target, "/a");
  EXPECT_EQ(r.header("x-long"), "one");
  EXPECT_EQ(r.header("accept"), "*/*");

  Response resp;
  buf = "HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok";
  ASSERT_EQ(parse_response(&buf, "GET", &resp), ParseState::kSuccess);
  EXPECT_EQ(resp.status, 200);
  EXPECT_EQ(resp.reason, "");

  buf = "HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\nX-Empty:\r\n\r\nok";
  ASSERT_EQ(parse_response(&buf, "GET", &resp), ParseState::kSuccess);
  EXPECT_EQ(resp.body.seen, 2u);
  EXPECT_TRUE(resp.has_header("x-empty"));
  EXPECT_EQ(resp.header("x-empty"), "");
}

TEST(Http1Parse, ManyHeadersAreReadForFramingButOnlySomeKept) {
  std::string head = "POST /bulk HTTP/1.1\r\n";
  for (int i = 0; i < 100; ++i) head += "X-Filler-" + std::to_string(i) + ": v\r\n";
  head += "Content-Length: 4\r\n\r\nbody";
  std::string_view buf = head;
  Request r;
  ASSERT_EQ(parse_request(&buf, &r), ParseState::kSuccess);
  EXPECT_TRUE(buf.empty());
  EXPECT_EQ(r.header_count, 101u);
  EXPECT_EQ(r.headers.size(), MessageHead::kMaxStoredHeaders);
  EXPECT_EQ(r.body.seen, 4u);
}

TEST(Http1Parse, GarbageIsInvalid) {
  struct Case {
    const char* what;
    std::string bytes;
  };
  const std::vector<Case> requests = {
      {"TLS ClientHello", bytes("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")},
      {"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"},
      {"Redis RESP", "*1\r\n$4\r\nPING\r\n"},
      {"Redis inline", "PING\r\n"},
      {"Postgres SSLRequest", bytes("\x00\x00\x00\x08\x04\xd2\x16\x2f")},
      {"SSH banner", "SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n"},
      {"lower-case version", "get / http/1.1\r\n\r\n"},
      {"two spaces", "GET  / HTTP/1.1\r\n\r\n"},
      {"no target", "GET HTTP/1.1\r\n\r\n"},
      {"HTTP/2 version", "GET / HTTP/2.0\r\n\r\n"},
      {"header without colon", "GET / HTTP/1.1\r\nHost localhost\r\n\r\n"},
      {"space before colon", "GET / HTTP/1.1\r\nHost : localhost\r\n\r\n"},
      {"bare CR", "GET / HTTP/1.1\rHost: x\r\n\r\n"},
      {"NUL in a value", bytes("GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n")},
      {"Content-Length not a number", "POST / HTTP/1.1\r\nContent-Length: 12a\r\n\r\n"},
      {"Content-Length negative", "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"},
      {"Content-Length too big", "POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n"},
      {"conflicting Content-Length",
       "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"},
      {"Content-Length list", "POST / HTTP/1.1\r\nContent-Length: 5, 6\r\n\r\n"},
      {"request coding not chunked", "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n"},
      {"method too long", std::string(30, 'A') + " / HTTP/1.1\r\n\r\n"},
      {"too many empty lines", "\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\n\r\n"},
      {"bad chunk size", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"},
      {"chunk without CRLF", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX"},
      {"chunk size overflow",
       "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1ffffffffffffffff\r\n"},
  };
  for (const Case& c : requests) {
    std::string_view buf = c.bytes;
    Request r;
    EXPECT_EQ(parse_request(&buf, &r), ParseState::kInvalid) << c.what;
    EXPECT_EQ(buf.size(), c.bytes.size()) << c.what;
  }
  const std::vector<Case> responses = {
      {"a request", "GET / HTTP/1.1\r\n\r\n"},
      {"SMTP greeting", "220 mail.example.com ESMTP Postfix\r\n"},
      {"HTTP/2", "HTTP/2 200\r\n\r\n"},
      {"two-digit status", "HTTP/1.1 20 OK\r\n\r\n"},
      {"status 099", "HTTP/1.1 099 Odd\r\n\r\n"},
      {"control in reason", std::string("HTTP/1.1 200 O\x01K\r\n\r\n")},
      {"NUL in a trailer",
       bytes("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: \0\r\n\r\n")},
  };
  for (const Case& c : responses) {
    std::string_view buf = c.bytes;
    Response r;
    EXPECT_EQ(parse_response(&buf, "GET", &r), ParseState::kInvalid) << c.what;
  }
}

TEST(Http1Parse, GarbageIsRejectedFromItsFirstBytes) {
  // A connection that is not HTTP must cost a few bytes of parsing, not a buffered head.
  Request r;
  for (std::string_view start : {std::string_view("\x16", 1), std::string_view("\0", 1),
                                 std::string_view("*1\r"), std::string_view("PING\r")}) {
    std::string_view buf = start;
    EXPECT_EQ(parse_request(&buf, &r), ParseState::kInvalid) << start;
  }
  Response resp;
  std::string_view buf = "HTTP/1.1 2x";
  EXPECT_EQ(parse_response(&buf, "GET", &resp), ParseState::kInvalid);
}

TEST(Http1Parse, SalvageKeepsTheStartLineAndCompleteHeaders) {
  std::string_view cut = "GET /search?q=x HTTP/1.1\r\nHost: shop\r\nCookie: session=abcdef";
  Request r;
  ASSERT_TRUE(salvage_request_head(cut, &r));
  EXPECT_TRUE(r.head_truncated);
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.path(), "/search");
  ASSERT_EQ(r.headers.size(), 1u);
  EXPECT_EQ(r.header("host"), "shop");
  EXPECT_EQ(r.body.framing, BodyFraming::kNone);
  EXPECT_FALSE(salvage_request_head("GET /sear", &r)) << "the path itself is cut";
  EXPECT_FALSE(salvage_request_head("\x16\x03\x01", &r));
  EXPECT_FALSE(salvage_request_head("GET ?q=1", &r)) << "no path";
  EXPECT_FALSE(salvage_request_head("G@T /a?q=1", &r));

  // A URL longer than the capture: cut inside its query string, the path is whole.
  const std::string long_url = "GET /search?q=" + std::string(5000, 'x');
  ASSERT_TRUE(salvage_request_head(long_url, &r));
  EXPECT_TRUE(r.head_truncated);
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.target, "/search") << "the cut query is left out";
  EXPECT_EQ(r.path(), "/search");
  EXPECT_EQ(r.query(), "");
  EXPECT_TRUE(r.headers.empty());
  EXPECT_EQ(r.body.framing, BodyFraming::kNone);
  EXPECT_FALSE(salvage_request_head("GET /search?q=a b", &r)) << "a space inside a target";

  Response resp;
  ASSERT_TRUE(salvage_response_head("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nSet-Cookie: a",
                                    "GET", &resp));
  EXPECT_EQ(resp.status, 200);
  EXPECT_EQ(resp.header("content-type"), "text/html");
}

TEST(Http1Parse, OwnedMessagesOutliveTheirBuffer) {
  auto buffer = std::make_unique<std::string>(request_capture("curl_post_json").bytes);
  std::string_view buf = *buffer;
  Request r;
  ASSERT_EQ(parse_request(&buf, &r), ParseState::kSuccess);
  own_bytes(&r);
  Request copy = r;
  std::fill(buffer->begin(), buffer->end(), 'x');
  buffer.reset();
  for (const Request* m : {&r, &copy}) {
    EXPECT_EQ(m->method, "POST");
    EXPECT_EQ(m->target, "/api/orders");
    EXPECT_EQ(m->header("content-type"), "application/json");
    EXPECT_TRUE(m->raw.starts_with("POST /api/orders HTTP/1.1\r\n"));
  }
  EXPECT_EQ(r.storage.get(), copy.storage.get());
  const char* before = r.storage.get();
  own_bytes(&r);  // already owned: no new copy
  EXPECT_EQ(r.storage.get(), before);
}

TEST(Http1Parse, PathOfEveryTargetForm) {
  Request r;
  for (auto [target, path, query] : std::vector<std::array<std::string_view, 3>>{
           {"/a/b?c=d#e", "/a/b", "c=d"},
           {"/", "/", ""},
           {"*", "*", ""},
           {"http://example.com:8080/x/y?z=1", "/x/y", "z=1"},
           {"http://example.com", "/", ""},
           {"http://example.com?q", "/", "q"},
           {"example.com:443", "", ""},
       }) {
    r.target = target;
    EXPECT_EQ(r.path(), path) << target;
    EXPECT_EQ(r.query(), query) << target;
  }
}

}  // namespace
}  // namespace hodos::protocols::http1
