#include "protocols/http1/match.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "captures.h"

namespace hodos::protocols::http1 {
namespace {

using testing::request_capture;
using testing::response_capture;

std::string_view req(std::string_view name) { return request_capture(name).bytes; }
std::string_view resp(std::string_view name) { return response_capture(name).bytes; }

// A traced server: it reads requests and writes responses. Every chunk gets the next timestamp.
class Conversation {
 public:
  explicit Conversation(Role role = Role::kServer, MatchLimits limits = {})
      : role_(role),
        matcher_(
            role, [this](Exchange&& e) { exchanges.push_back(std::move(e)); }, limits) {}

  // Returns the chunk's timestamp.
  uint64_t request(std::string_view captured, uint64_t length = 0) {
    return feed(role_ == Role::kClient ? Direction::kEgress : Direction::kIngress, captured,
                length);
  }
  uint64_t response(std::string_view captured, uint64_t length = 0) {
    return feed(role_ == Role::kClient ? Direction::kIngress : Direction::kEgress, captured,
                length);
  }
  uint64_t feed(Direction d, std::string_view captured, uint64_t length = 0) {
    ts_ += 100;
    matcher_.feed(d, {captured, length, ts_});
    return ts_;
  }
  // Bytes the server sent with sendfile/splice: the length only, by design.
  uint64_t response_length_only(uint64_t length) {
    ts_ += 100;
    matcher_.feed(role_ == Role::kClient ? Direction::kIngress : Direction::kEgress,
                  {{}, length, ts_, /*length_only=*/true});
    return ts_;
  }
  void close(uint64_t close_ns = 0) { matcher_.close(close_ns); }
  const MatchCounters& counters() const { return matcher_.counters(); }
  ConnectionMatcher& matcher() { return matcher_; }

  std::vector<Exchange> exchanges;

 private:
  Role role_;
  uint64_t ts_ = 1'000'000;
  ConnectionMatcher matcher_;
};

// What an exchange looks like to a span builder, for comparing runs.
std::string summary(const Exchange& e) {
  return std::string(e.request.method) + " " + std::string(e.request.target) + " -> " +
         std::to_string(e.response.status) + " req_body=" + std::to_string(e.request.body.seen) +
         " resp_body=" + std::to_string(e.response.body.seen) +
         (e.response.body.complete ? "" : " incomplete") +
         (e.response.interim_status ? " interim=" + std::to_string(e.response.interim_status) : "");
}

std::vector<std::string> summaries(const std::vector<Exchange>& exchanges) {
  std::vector<std::string> out;
  for (const Exchange& e : exchanges) out.push_back(summary(e));
  return out;
}

TEST(Http1Match, KeepAliveExchangesWithTimestamps) {
  Conversation c;
  struct Step {
    std::string_view request, response;
  };
  const std::vector<Step> steps = {{"curl_get", "go_200_json"},
                                   {"curl_post_json", "python_200"},
                                   {"curl_head", "nginx_head"},
                                   {"python_requests_get", "nginx_chunked"},
                                   {"go_client_get", "nginx_304"}};
  std::vector<std::pair<uint64_t, uint64_t>> times;
  for (const Step& s : steps) {
    uint64_t start = c.request(req(s.request));
    uint64_t end = c.response(resp(s.response));
    times.push_back({start, end});
  }
  ASSERT_EQ(c.exchanges.size(), steps.size());
  for (size_t i = 0; i < steps.size(); ++i) {
    const Exchange& e = c.exchanges[i];
    EXPECT_EQ(e.request.target, request_capture(steps[i].request).target);
    EXPECT_EQ(e.response.status, response_capture(steps[i].response).status);
    EXPECT_EQ(e.response.body.seen, response_capture(steps[i].response).body_size);
    EXPECT_TRUE(e.response.body.complete);
    EXPECT_EQ(e.start_ns, times[i].first);
    EXPECT_EQ(e.end_ns, times[i].second);
  }
  EXPECT_EQ(c.exchanges[1].request.body.seen, 31u);
  EXPECT_EQ(c.exchanges[0].request.header("host"), "localhost:8080");
  const MatchCounters& n = c.counters();
  EXPECT_EQ(n.requests, 5u);
  EXPECT_EQ(n.responses, 5u);
  EXPECT_EQ(n.exchanges, 5u);
  EXPECT_EQ(
      n.invalid + n.truncated + n.unmatched_requests + n.unmatched_responses + n.skipped_bytes, 0u);
  EXPECT_TRUE(c.matcher().active());
}

TEST(Http1Match, PipelinedRequestsAreAnsweredInOrder) {
  // Three requests in one read; the HEAD in the middle gets a Content-Length and no body, which
  // only the request's method tells apart from a body that would swallow the next response.
  Conversation c;
  std::string requests = std::string(req("curl_get")) + std::string(req("curl_head")) +
                         std::string(req("go_client_get"));
  uint64_t start = c.request(requests);
  std::string responses = std::string(resp("go_200_json")) + std::string(resp("nginx_head")) +
                          std::string(resp("nginx_chunked"));
  uint64_t end = c.response(responses);
  ASSERT_EQ(c.exchanges.size(), 3u);
  EXPECT_EQ(summaries(c.exchanges),
            (std::vector<std::string>{"GET /items/42?verbose=1 -> 200 req_body=0 resp_body=26",
                                      "HEAD /index.html -> 200 req_body=0 resp_body=0",
                                      "GET /api/v1/users/7f3b2c1e-9a4d-4e8b-b1c2-3d4e5f6a7b8c -> "
                                      "200 req_body=0 resp_body=189"}));
  for (const Exchange& e : c.exchanges) {
    EXPECT_EQ(e.start_ns, start);
    EXPECT_EQ(e.end_ns, end);
  }
}

TEST(Http1Match, PipelinedResponsesInSeparateWrites) {
  Conversation c;
  c.request(std::string(req("curl_post_json")) + std::string(req("node_fetch_post")));
  uint64_t first = c.response(resp("envoy_503"));
  uint64_t second = c.response(resp("go_200_json"));
  ASSERT_EQ(c.exchanges.size(), 2u);
  EXPECT_EQ(c.exchanges[0].response.status, 503);
  EXPECT_EQ(c.exchanges[0].end_ns, first);
  EXPECT_EQ(c.exchanges[1].request.target, "/graphql");
  EXPECT_EQ(c.exchanges[1].request.body.seen, 29u);
  EXPECT_EQ(c.exchanges[1].end_ns, second);
}

TEST(Http1Match, ExpectContinueInterimResponse) {
  // Java sends the head, waits for 100 Continue, then the body; the span ends at the 201.
  Conversation c;
  std::string_view request = req("java_expect_continue");
  size_t head = request.find("\r\n\r\n") + 4;
  uint64_t start = c.request(request.substr(0, head));
  c.response(resp("go_100_continue"));
  c.request(request.substr(head));
  EXPECT_TRUE(c.exchanges.empty());
  uint64_t end = c.response(resp("java_201"));
  ASSERT_EQ(c.exchanges.size(), 1u);
  const Exchange& e = c.exchanges[0];
  EXPECT_EQ(e.response.status, 201);
  EXPECT_EQ(e.response.interim_status, 100);
  EXPECT_TRUE(e.request.expect_continue);
  EXPECT_EQ(e.request.body.seen, 16u);
  EXPECT_TRUE(e.request.body.complete);
  EXPECT_EQ(e.start_ns, start);
  EXPECT_EQ(e.end_ns, end);
  EXPECT_EQ(c.counters().interim_responses, 1u);
  EXPECT_EQ(c.counters().responses, 1u);
}

TEST(Http1Match, ChunkedUploadAnsweredByChunkedResponse) {
  Conversation c;
  c.request(req("java_chunked_upload"));
  c.response(resp("chunk_extensions"));
  ASSERT_EQ(c.exchanges.size(), 1u);
  EXPECT_EQ(c.exchanges[0].request.body.seen, 35u);
  EXPECT_EQ(c.exchanges[0].request.body.framing, BodyFraming::kChunked);
  EXPECT_EQ(c.exchanges[0].response.body.seen, 23u);
}

TEST(Http1Match, NoBodyStatusesKeepTheStreamInStep) {
  Conversation c;
  c.request(std::string(req("curl_get")) + std::string(req("go_client_get")) +
            std::string(req("curl_get")));
  // 204 and 304 have no body even with framing headers around; the next response must parse.
  c.response(std::string(resp("go_204")) + std::string(resp("nginx_304")) +
             std::string(resp("go_200_json")));
  ASSERT_EQ(c.exchanges.size(), 3u);
  EXPECT_EQ(c.exchanges[0].response.status, 204);
  EXPECT_EQ(c.exchanges[1].response.status, 304);
  EXPECT_EQ(c.exchanges[2].response.status, 200);
  EXPECT_EQ(c.exchanges[2].response.body.seen, 26u);
}

TEST(Http1Match, ResponseWithoutLengthEndsAtClose) {
  Conversation c;
  uint64_t start = c.request(req("ab_http10"));
  std::string_view response = resp("python_until_close");
  c.response(response.substr(0, 60));
  uint64_t last = c.response(response.substr(60));
  EXPECT_TRUE(c.exchanges.empty());
  c.close();
  ASSERT_EQ(c.exchanges.size(), 1u);
  const Exchange& e = c.exchanges[0];
  EXPECT_EQ(e.response.body.framing, BodyFraming::kUntilClose);
  EXPECT_EQ(e.response.body.seen, 33u);
  EXPECT_TRUE(e.response.body.complete);
  EXPECT_EQ(e.start_ns, start);
  EXPECT_EQ(e.end_ns, last);  // the last byte, not the close
  EXPECT_FALSE(c.matcher().active());
  EXPECT_EQ(c.counters().truncated, 0u);
}

// An evicted connection (idle, or the tracker out of room) is still open: a response whose body
// the client never read is handed on as incomplete, and an until-close body is not complete.
TEST(Http1Match, AbandonHandsOnWhatWasHalfReadAsIncomplete) {
  for (bool until_close : {false, true}) {
    Conversation c(Role::kClient);
    c.request(req("curl_get"));
    std::string_view response = until_close ? resp("python_until_close") : resp("go_200_json");
    c.response(response.substr(0, response.find("\r\n\r\n") + 5));  // the head, one body byte
    EXPECT_TRUE(c.exchanges.empty());
    c.matcher().abandon();
    ASSERT_EQ(c.exchanges.size(), 1u) << until_close;
    EXPECT_FALSE(c.exchanges[0].response.body.complete) << until_close;
    EXPECT_FALSE(c.matcher().active());
  }
}

// A client's calls the connection closed on (refused, reset, timed out): each is handed on
// without a response, ending at the close, so a failing downstream call still has a span.
TEST(Http1Match, ClientRequestsUnansweredAtCloseAreHandedOn) {
  Conversation c(Role::kClient);
  c.request(req("curl_get"));
  c.response(resp("go_200_json"));
  const uint64_t sent = c.request(std::string(req("curl_post_json")) + std::string(req("curl_get")));
  c.close(sent + 2'000'000'000);
  ASSERT_EQ(c.exchanges.size(), 3u);
  EXPECT_FALSE(c.exchanges[0].no_response);
  EXPECT_EQ(c.exchanges[0].response.status, 200);
  for (size_t i : {1u, 2u}) {
    EXPECT_TRUE(c.exchanges[i].no_response);
    EXPECT_EQ(c.exchanges[i].response.status, 0);
    EXPECT_EQ(c.exchanges[i].start_ns, sent);
    EXPECT_EQ(c.exchanges[i].end_ns, sent + 2'000'000'000);
  }
  EXPECT_EQ(c.exchanges[1].request.method, "POST");
  EXPECT_EQ(c.counters().unmatched_requests, 2u);
  EXPECT_EQ(c.counters().unanswered_requests, 2u);

  // The close time unknown (a process gone): the span ends with the request's last byte.
  Conversation gone(Role::kClient);
  const uint64_t at = gone.request(req("curl_get"));
  gone.close();
  ASSERT_EQ(gone.exchanges.size(), 1u);
  EXPECT_EQ(gone.exchanges[0].end_ns, at);

  // Evicted while still open: the answer may yet come, so nothing is handed on.
  Conversation idle(Role::kClient);
  idle.request(req("curl_get"));
  idle.matcher().abandon();
  EXPECT_TRUE(idle.exchanges.empty());
}

TEST(Http1Match, CloseCountsUnansweredRequests) {
  Conversation c;
  c.request(req("curl_get"));
  c.request(req("curl_post_json"));
  c.response(resp("go_200_json"));
  c.close();
  EXPECT_EQ(c.exchanges.size(), 1u);
  EXPECT_EQ(c.counters().unmatched_requests, 1u);
  c.response(resp("go_200_json"));  // after close: ignored
  EXPECT_EQ(c.counters().responses, 1u);
}

TEST(Http1Match, ContentLengthBodyLargerThanTheCapture) {
  // One write of a 100 000-byte response of which the probe kept 4 KiB; the rest is skipped by
  // length, and the next response parses.
  Conversation c;
  c.request(req("curl_get"));
  c.request(req("python_requests_get"));
  std::string big =
      "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
      "Content-Length: 100000\r\n\r\n";
  size_t head = big.size();
  big.append(100000, 'x');
  uint64_t end = c.response(std::string_view(big).substr(0, 4096), big.size());
  c.response(resp("go_200_json"));
  ASSERT_EQ(c.exchanges.size(), 2u);
  const Response& r = c.exchanges[0].response;
  EXPECT_EQ(r.body.seen, 100000u);
  EXPECT_EQ(r.body.skipped, big.size() - 4096);
  EXPECT_TRUE(r.body.complete);
  EXPECT_EQ(c.exchanges[0].end_ns, end);
  EXPECT_EQ(c.exchanges[1].response.body.seen, 26u);
  EXPECT_EQ(c.counters().truncated, 1u);
  EXPECT_EQ(c.counters().skipped_bytes, big.size() - 4096);
  EXPECT_EQ(c.counters().invalid, 0u);
  (void)head;
}

TEST(Http1Match, SendfileBodyKeepsTheStreamInStepWithoutCountingALoss) {
  // nginx serving a static file: the head by writev, the body by sendfile (two calls here), and
  // the next keep-alive exchange parses.
  Conversation c;
  c.request(req("curl_get"));
  c.response("HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: 10000\r\n\r\n");
  c.response_length_only(6000);
  uint64_t end = c.response_length_only(4000);
  c.request(req("python_requests_get"));
  c.response(resp("go_200_json"));
  ASSERT_EQ(c.exchanges.size(), 2u);
  const Response& r = c.exchanges[0].response;
  EXPECT_EQ(r.body.seen, 10000u);
  EXPECT_EQ(r.body.length_only, 10000u);
  EXPECT_EQ(r.body.skipped, 0u);
  EXPECT_TRUE(r.body.complete);
  EXPECT_EQ(c.exchanges[0].end_ns, end);
  EXPECT_EQ(c.exchanges[1].response.status, 200);
  EXPECT_EQ(c.counters().truncated, 0u);
  EXPECT_EQ(c.counters().invalid, 0u);
}

TEST(Http1Match, SendfileInsideAChunkedBody) {
  Conversation c;
  c.request(req("curl_get"));
  c.response("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1000\r\n");
  c.response_length_only(0x1000);
  c.response("\r\n0\r\n\r\n");
  ASSERT_EQ(c.exchanges.size(), 1u);
  EXPECT_EQ(c.exchanges[0].response.body.seen, 0x1000u);
  EXPECT_EQ(c.exchanges[0].response.body.length_only, 0x1000u);
  EXPECT_TRUE(c.exchanges[0].response.body.complete);
  EXPECT_EQ(c.counters().truncated, 0u);
}

TEST(Http1Match, LengthOnlyBytesWhereAHeadShouldStartAreALoss) {
  // A head cannot come by sendfile as far as the matcher can tell: it resynchronises.
  Conversation c;
  c.request(req("curl_get"));
  c.response_length_only(500);
  c.request(req("python_requests_get"));
  c.response(resp("go_200_json"));
  ASSERT_EQ(c.exchanges.size(), 1u);
  EXPECT_EQ(c.counters().truncated, 1u);
}

TEST(Http1Match, LargeBodyOverManyWrites) {
  // The body arrives in 16 KiB writes each captured to 4 KiB.
  Conversation c;
  std::string head = "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 65536\r\n\r\n";
  c.request(head);
  std::string block(16384, 'b');
  uint64_t last = 0;
  for (int i = 0; i < 4; ++i) last = c.request(std::string_view(block).substr(0, 4096), 16384);
  uint64_t end = c.response(resp("java_201"));
  ASSERT_EQ(c.exchanges.size(), 1u);
  EXPECT_EQ(c.exchanges[0].request.body.seen, 65536u);
  EXPECT_EQ(c.exchanges[0].request.body.skipped, 4u * (16384 - 4096));
  EXPECT_TRUE(c.exchanges[0].request.body.complete);
  EXPECT_EQ(c.exchanges[0].request.end_ns, last);
  EXPECT_EQ(c.exchanges[0].end_ns, end);
}

TEST(Http1Match, ChunkedBodyLargerThanTheCapture) {
  // nginx-style: each write holds one whole chunk (size line, data, CRLF), cut by the capture.
  Conversation c;
  c.request(req("curl_get"));
  c.response("HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nTransfer-Encoding: chunked\r\n\r\n");
  std::string chunk = "2000\r\n" + std::string(0x2000, 'c') + "\r\n";
  c.response(std::string_view(chunk).substr(0, 4096), chunk.size());
  c.response(std::string_view(chunk).substr(0, 4096), chunk.size());
  uint64_t end = c.response("0\r\n\r\n");
  ASSERT_EQ(c.exchanges.size(), 1u);
  EXPECT_EQ(c.exchanges[0].response.body.seen, 2u * 0x2000);
  // Payload bytes only: the size line was captured, the CRLF after the data is framing.
  EXPECT_EQ(c.exchanges[0].response.body.skipped, 2u * (0x2000 - (4096 - 6)));
  EXPECT_TRUE(c.exchanges[0].response.body.complete);
  EXPECT_EQ(c.exchanges[0].end_ns, end);
  EXPECT_EQ(c.counters().invalid, 0u);
}

TEST(Http1Match, ChunkedFramingLostEndsAtTheLastChunk) {
  // A write holding the end of one chunk and the start of the next was cut: the sizes are lost,
  // so the body's end is found by the write that ends with the last chunk.
  Conversation c;
  c.request(req("curl_get"));
  std::string body = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1000\r\n" +
                     std::string(0x1000, 'a') + "\r\n1000\r\n" + std::string(0x1000, 'b') + "\r\n";
  c.response(std::string_view(body).substr(0, 4096), body.size());
  c.response(std::string(0x800, 'z'));  // more data the matcher cannot frame
  uint64_t end = c.response("\r\n0\r\n\r\n");
  ASSERT_EQ(c.exchanges.size(), 1u);
  EXPECT_FALSE(c.exchanges[0].response.body.complete);
  EXPECT_EQ(c.exchanges[0].end_ns, end);
  EXPECT_EQ(c.counters().truncated, 1u);

  // Same loss, but the next thing seen is a new response: the lost one ends where it was last seen.
  c.request(req("curl_get"));
  uint64_t lost_end = c.response(std::string_view(body).substr(0, 4096), body.size());
  c.request(req("curl_head"));
  c.response(resp("nginx_head"));
  ASSERT_EQ(c.exchanges.size(), 3u);
  EXPECT_EQ(c.exchanges[1].end_ns, lost_end);
  EXPECT_EQ(c.exchanges[2].request.method, "HEAD");
}

TEST(Http1Match, NextMessageLostInTheGapRealigns) {
  // Two pipelined responses in one write; the second begins after the capture's end. The third
  // response (next write) must answer the third request, not the second.
  Conversation c;
  c.request(std::string(req("curl_get")) + std::string(req("python_requests_get")) +
            std::string(req("go_client_get")));
  std::string two = std::string(resp("go_200_json")) + std::string(resp("envoy_503"));
  c.response(std::string_view(two).substr(0, resp("go_200_json").size() + 10), two.size());
  c.response(resp("nginx_304"));
  ASSERT_EQ(c.exchanges.size(), 2u);
  EXPECT_EQ(c.exchanges[0].request.target, "/items/42?verbose=1");
  EXPECT_EQ(c.exchanges[1].request.target, "/api/v1/users/7f3b2c1e-9a4d-4e8b-b1c2-3d4e5f6a7b8c");
  EXPECT_EQ(c.exchanges[1].response.status, 304);
  EXPECT_EQ(c.counters().unmatched_requests, 1u);
  EXPECT_EQ(c.counters().truncated, 1u);
}

TEST(Http1Match, ARequestLineLongerThanTheCaptureStillMakesASpan) {
  // A 6 KB query string (a search form, a signed URL) in one write, 4 KiB captured: the method and
  // the path are whole, so the request still gets its span.
  Conversation c;
  std::string head = "GET /search?q=" + std::string(6000, 'q') + " HTTP/1.1\r\nHost: shop\r\n\r\n";
  uint64_t start = c.request(std::string_view(head).substr(0, 4096), head.size());
  c.response(resp("go_200_json"));
  ASSERT_EQ(c.exchanges.size(), 1u);
  const Request& r = c.exchanges[0].request;
  EXPECT_TRUE(r.head_truncated);
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.path(), "/search");
  EXPECT_EQ(c.exchanges[0].response.status, 200);
  EXPECT_EQ(c.exchanges[0].start_ns, start);
  c.request(req("curl_get"));
  c.response(resp("go_204"));
  EXPECT_EQ(c.exchanges.size(), 2u) << "the connection goes on";
}

TEST(Http1Match, HeadCutByTheCaptureIsSalvaged) {
  // A 6 KB request head (big cookies) in one write, 4 KiB captured: method, target and the
  // headers before the cut still make a span.
  Conversation c;
  std::string head = "GET /cart HTTP/1.1\r\nHost: shop\r\nCookie: " + std::string(6000, 'k') +
                     "\r\nAccept: */*\r\n\r\n";
  uint64_t start = c.request(std::string_view(head).substr(0, 4096), head.size());
  c.response(resp("go_200_json"));
  ASSERT_EQ(c.exchanges.size(), 1u);
  const Request& r = c.exchanges[0].request;
  EXPECT_TRUE(r.head_truncated);
  EXPECT_EQ(r.target, "/cart");
  EXPECT_EQ(r.header("host"), "shop");
  EXPECT_EQ(c.exchanges[0].start_ns, start);
  EXPECT_EQ(c.counters().truncated, 1u);
  // And the connection goes on.
  c.request(req("curl_get"));
  c.response(resp("go_204"));
  EXPECT_EQ(c.exchanges.size(), 2u);
}

TEST(Http1Match, HeadSpanningChunksStartsAtItsFirstByte) {
  Conversation c;
  std::string_view request = req("java_expect_continue");
  uint64_t start = c.request(request.substr(0, 10));
  c.request(request.substr(10, 50));
  c.request(request.substr(60));
  c.response(resp("java_201"));
  ASSERT_EQ(c.exchanges.size(), 1u);
  EXPECT_EQ(c.exchanges[0].start_ns, start);
  EXPECT_EQ(c.exchanges[0].request.header("user-agent"), "Java/17.0.11");
}

TEST(Http1Match, GarbageAfterHttpResynchronises) {
  Conversation c;
  c.request(req("curl_get"));
  c.response(resp("go_200_json"));
  c.request(std::string("\x00\x01\x02garbage", 10));
  c.request("still not a request");
  c.request(req("curl_head"));
  c.response(resp("nginx_head"));
  ASSERT_EQ(c.exchanges.size(), 2u);
  EXPECT_EQ(c.exchanges[1].request.method, "HEAD");
  EXPECT_EQ(c.counters().invalid, 1u);
  EXPECT_GT(c.counters().skipped_bytes, 0u);
  EXPECT_TRUE(c.matcher().active());
}

TEST(Http1Match, ConnectionThatIsNotHttpStopsCheaply) {
  Conversation c;
  std::string hello("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11);
  std::string server_hello("\x16\x03\x03\x00\x7a\x02\x00\x00\x76\x03\x03", 11);
  c.request(hello);
  c.response(server_hello);
  c.request(hello);
  EXPECT_TRUE(c.matcher().active());
  c.response(server_hello);
  EXPECT_FALSE(c.matcher().active());
  EXPECT_TRUE(c.counters().not_http);
  MatchCounters before = c.counters();
  c.request(req("curl_get"));  // nothing is parsed any more, nothing counted
  EXPECT_EQ(c.counters().requests, 0u);
  EXPECT_EQ(c.counters().skipped_bytes, before.skipped_bytes);
  EXPECT_EQ(c.counters().invalid, 0u);  // not HTTP is not the same as malformed HTTP
}

TEST(Http1Match, Http2PriorKnowledgeIsNotHttp1) {
  MatchLimits limits;
  limits.max_unsynced_invalid = 2;
  Conversation c(Role::kServer, limits);
  c.request("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
  EXPECT_TRUE(c.matcher().active());
  c.response(std::string("\x00\x00\x06\x04\x00\x00\x00\x00\x00\x00\x03\x00\x00\x00\x64", 15));
  EXPECT_FALSE(c.matcher().active());
  EXPECT_TRUE(c.counters().not_http);
}

TEST(Http1Match, PickedUpMidStreamSyncsOnTheNextMessage) {
  // Tracing starts while a keep-alive connection is in the middle of a response body.
  Conversation c;
  c.response("tail of a body the agent never saw the head of");
  c.request(req("curl_get"));
  c.response(resp("go_200_json"));
  ASSERT_EQ(c.exchanges.size(), 1u);
  EXPECT_TRUE(c.matcher().active());
  EXPECT_EQ(c.counters().invalid, 0u);
}

TEST(Http1Match, PickedUpInTheMiddleOfALargeDownload) {
  // Many writes of a body whose head the agent missed: one direction failing is no proof the
  // connection is not HTTP.
  Conversation c;
  std::string block(16384, 'd');
  for (int i = 0; i < 20; ++i) c.response(std::string_view(block).substr(0, 4096), block.size());
  EXPECT_TRUE(c.matcher().active());
  c.request(req("curl_get"));
  c.response(resp("go_200_json"));
  ASSERT_EQ(c.exchanges.size(), 1u);
  EXPECT_FALSE(c.counters().not_http);
  EXPECT_EQ(c.counters().skipped_bytes, 20u * 16384);
}

TEST(Http1Match, ResponseToAnUnseenRequestIsUnmatched) {
  Conversation c;
  c.response(resp("go_200_json"));
  c.request(req("curl_get"));
  c.response(resp("envoy_503"));
  ASSERT_EQ(c.exchanges.size(), 1u);
  EXPECT_EQ(c.exchanges[0].response.status, 503);
  EXPECT_EQ(c.counters().unmatched_responses, 1u);
}

TEST(Http1Match, UpgradeStopsParsing) {
  Conversation c;
  c.request(req("websocket_upgrade"));
  c.response(std::string(resp("websocket_101")) + "\x81\x05hello");
  ASSERT_EQ(c.exchanges.size(), 1u);
  EXPECT_EQ(c.exchanges[0].response.status, 101);
  EXPECT_TRUE(c.counters().upgraded);
  EXPECT_FALSE(c.matcher().active());
  c.request("\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58");  // a masked frame: ignored
  EXPECT_EQ(c.counters().invalid, 0u);
}

TEST(Http1Match, ConnectTunnelStopsParsing) {
  Conversation c(Role::kClient);
  c.request(req("curl_connect"));
  c.response(resp("connect_200"));
  ASSERT_EQ(c.exchanges.size(), 1u);
  EXPECT_EQ(c.exchanges[0].request.path(), "");
  EXPECT_TRUE(c.counters().upgraded);
  c.request("\x16\x03\x01\x02\x00");
  EXPECT_EQ(c.counters().invalid, 0u);
}

TEST(Http1Match, RoleIsInferredFromTheFirstBytes) {
  {
    std::vector<Exchange> out;
    ConnectionMatcher m(Role::kUnknown, [&](Exchange&& e) { out.push_back(std::move(e)); });
    m.feed(Direction::kEgress, {req("curl_get"), 0, 1});
    m.feed(Direction::kIngress, {resp("go_200_json"), 0, 2});
    EXPECT_EQ(m.role(), Role::kClient);
    EXPECT_EQ(out.size(), 1u);
  }
  {
    std::vector<Exchange> out;
    ConnectionMatcher m(Role::kUnknown, [&](Exchange&& e) { out.push_back(std::move(e)); });
    m.feed(Direction::kEgress, {resp("go_100_continue"), 0, 1});  // responses written: server
    EXPECT_EQ(m.role(), Role::kServer);
    m.feed(Direction::kIngress, {req("curl_get"), 0, 2});
    m.feed(Direction::kEgress, {resp("go_204"), 0, 3});
    EXPECT_EQ(out.size(), 1u);
  }
}

TEST(Http1Match, TooManyPendingRequestsDropsTheOldest) {
  MatchLimits limits;
  limits.max_pending_requests = 2;
  Conversation c(Role::kServer, limits);
  for (int i = 0; i < 5; ++i) c.request(req("curl_get"));
  EXPECT_EQ(c.counters().unmatched_requests, 3u);
}

// The conversation every split test replays: chunked bodies with extensions and trailers, HEAD,
// 100-continue, pipelining and a body larger than one read would be.
struct Script {
  std::string requests;
  std::string responses;
};

Script split_script() {
  Script s;
  for (std::string_view name : {"curl_get", "curl_head", "java_chunked_upload", "node_fetch_post",
                                "java_expect_continue", "go_client_get"}) {
    s.requests += req(name);
  }
  for (std::string_view name : {"nginx_chunked", "nginx_head", "chunk_extensions",
                                "go_chunked_trailer", "go_100_continue", "java_201", "nginx_304"}) {
    s.responses += resp(name);
  }
  return s;
}

std::vector<std::string> run_split(const Script& s, size_t request_split, size_t response_split) {
  Conversation c;
  std::string_view rq = s.requests, rs = s.responses;
  c.request(rq.substr(0, request_split));
  c.request(rq.substr(request_split));
  c.response(rs.substr(0, response_split));
  c.response(rs.substr(response_split));
  EXPECT_EQ(c.counters().invalid + c.counters().truncated + c.counters().skipped_bytes, 0u)
      << request_split << "/" << response_split;
  return summaries(c.exchanges);
}

TEST(Http1Match, SplitAtEveryBytePositionAcrossTwoChunks) {
  const Script s = split_script();
  const std::vector<std::string> expected = {
      "GET /items/42?verbose=1 -> 200 req_body=0 resp_body=189",
      "HEAD /index.html -> 200 req_body=0 resp_body=0",
      "POST /ingest -> 200 req_body=35 resp_body=23",
      "POST /graphql -> 200 req_body=29 resp_body=25",
      "POST /upload -> 201 req_body=16 resp_body=0 interim=100",
      "GET /api/v1/users/7f3b2c1e-9a4d-4e8b-b1c2-3d4e5f6a7b8c -> 304 req_body=0 resp_body=0",
  };
  ASSERT_EQ(run_split(s, s.requests.size(), s.responses.size()), expected);
  for (size_t i = 0; i <= s.requests.size(); ++i) {
    ASSERT_EQ(run_split(s, i, s.responses.size()), expected) << "request split at " << i;
  }
  for (size_t i = 0; i <= s.responses.size(); ++i) {
    ASSERT_EQ(run_split(s, s.requests.size(), i), expected) << "response split at " << i;
  }
}

TEST(Http1Match, OneByteChunks) {
  const Script s = split_script();
  Conversation c;
  for (char ch : s.requests) c.request(std::string_view(&ch, 1));
  for (char ch : s.responses) c.response(std::string_view(&ch, 1));
  EXPECT_EQ(c.exchanges.size(), 6u);
  EXPECT_EQ(c.counters().skipped_bytes, 0u);
}

}  // namespace
}  // namespace hodos::protocols::http1
