#include "protocols/grpc/call.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "../http2/replay.h"
#include "../http2/wire.h"
#include "protocols/grpc/message.h"

namespace hodos::protocols::grpc {
namespace {

using http2::Exchange;
using http2::Role;
using http2::testing::fixture;
using http2::testing::replay;

Exchange only_exchange(std::string_view name, size_t index = 0) {
  auto run = replay(fixture(name), Role::kServer);
  EXPECT_GT(run.exchanges.size(), index) << name;
  return run.exchanges.at(index);
}

TEST(GrpcCall, UnaryOk) {
  Exchange e = only_exchange("grpc_unary_ok");
  std::optional<Call> call = to_call(e);
  ASSERT_TRUE(call);
  EXPECT_EQ(Call::kSystem, "grpc");
  EXPECT_EQ(call->service, "hodos.test.Inventory");
  EXPECT_EQ(call->method, "GetItem");
  EXPECT_EQ(call->span_name(), "hodos.test.Inventory/GetItem");
  EXPECT_EQ(call->status_code, 0);
  EXPECT_EQ(call->status_source, StatusSource::kTrailers);
  EXPECT_FALSE(call->timeout.empty());
  EXPECT_EQ(call->request_messages, 1u);
  EXPECT_EQ(call->response_messages, 1u);
  EXPECT_FALSE(call->client_streaming());
  EXPECT_FALSE(call->server_streaming());
  EXPECT_FALSE(is_error(*call, SpanKind::kClient));
  EXPECT_FALSE(is_error(*call, SpanKind::kServer));
}

TEST(GrpcCall, NotFoundInTrailers) {
  Exchange exchange = only_exchange("grpc_not_found");
  std::optional<Call> call = to_call(exchange);
  ASSERT_TRUE(call);
  EXPECT_EQ(call->status_code, 5);
  EXPECT_EQ(call->status_source, StatusSource::kTrailers);
  EXPECT_TRUE(call->has_message);
  EXPECT_EQ(status_name(call->status_code), "NOT_FOUND");
  EXPECT_TRUE(is_error(*call, SpanKind::kClient));
  EXPECT_FALSE(is_error(*call, SpanKind::kServer));  // the caller's mistake, not the server's
}

TEST(GrpcCall, TrailersOnly) {
  Exchange exchange = only_exchange("grpc_trailers_only");
  std::optional<Call> call = to_call(exchange);
  ASSERT_TRUE(call);
  EXPECT_EQ(call->method, "Missing");
  EXPECT_EQ(call->status_code, 12);
  EXPECT_EQ(call->status_source, StatusSource::kTrailersOnly);
  EXPECT_TRUE(is_error(*call, SpanKind::kServer));
  // grpc-go answers NOT_FOUND the same way.
  Exchange go_exchange = only_exchange("grpc_go_server", 1);
  std::optional<Call> go = to_call(go_exchange);
  ASSERT_TRUE(go);
  EXPECT_EQ(go->status_code, 5);
  EXPECT_EQ(go->status_source, StatusSource::kTrailersOnly);
}

TEST(GrpcCall, Streaming) {
  Exchange streaming = only_exchange("grpc_server_streaming");
  std::optional<Call> server = to_call(streaming);
  ASSERT_TRUE(server);
  EXPECT_TRUE(server->server_streaming());
  EXPECT_FALSE(server->client_streaming());
  EXPECT_EQ(server->response_messages, 3u);
  Exchange uploading = only_exchange("grpc_client_streaming");
  std::optional<Call> client = to_call(uploading);
  ASSERT_TRUE(client);
  EXPECT_TRUE(client->client_streaming());
  EXPECT_FALSE(client->server_streaming());
  EXPECT_EQ(client->request_messages, 3u);
  Exchange bidi_exchange = only_exchange("grpc_deadline", 1);
  std::optional<Call> bidi = to_call(bidi_exchange);
  ASSERT_TRUE(bidi);
  EXPECT_EQ(bidi->method, "Exchange");
  EXPECT_TRUE(bidi->client_streaming() && bidi->server_streaming());
  EXPECT_TRUE(bidi->messages_exact);
}

TEST(GrpcCall, ResetByTheClient) {
  Exchange e = only_exchange("grpc_deadline");
  ASSERT_EQ(e.end, http2::StreamEnd::kReset);
  // The fixture's timestamps are chunk numbers: far below its 100 ms deadline, so a CANCEL.
  std::optional<Call> call = to_call(e);
  ASSERT_TRUE(call);
  EXPECT_EQ(call->status_source, StatusSource::kReset);
  EXPECT_EQ(call->status_code, 1);  // CANCELLED
  EXPECT_FALSE(is_error(*call, SpanKind::kServer));
  // At its deadline the client reports DEADLINE_EXCEEDED, and so does the span.
  std::optional<uint64_t> timeout = parse_timeout_ns(e.request.grpc_timeout);
  ASSERT_TRUE(timeout) << e.request.grpc_timeout;
  e.end_ns = e.start_ns + *timeout;
  EXPECT_EQ(to_call(e)->status_code, 4);
  EXPECT_TRUE(is_error(to_call(e)->status_code, SpanKind::kServer));
  e.end_ns = e.start_ns + *timeout / 2;
  EXPECT_EQ(to_call(e)->status_code, 1);
  e.reset_by_client = false;  // a server cancelling is just that
  e.end_ns = e.start_ns + *timeout;
  EXPECT_EQ(to_call(e)->status_code, 1);
}

TEST(GrpcCall, StatusFromResetsAndHttpStatuses) {
  Exchange e = only_exchange("grpc_unary_ok");
  e.response.grpc_status = -1;
  e.response.status = 503;
  EXPECT_EQ(to_call(e)->status_code, 14);
  EXPECT_EQ(to_call(e)->status_source, StatusSource::kHttpStatus);
  e.response.status = 200;
  EXPECT_EQ(to_call(e)->status_code, -1);  // ended without a status
  EXPECT_EQ(to_call(e)->status_source, StatusSource::kNone);
  EXPECT_FALSE(is_error(*to_call(e), SpanKind::kClient));
  e.end = http2::StreamEnd::kReset;
  e.reset_error_code = 7;  // REFUSED_STREAM
  EXPECT_EQ(to_call(e)->status_code, 14);

  EXPECT_EQ(status_for_reset(8), StatusCode::kCancelled);
  EXPECT_EQ(status_for_reset(0xb), StatusCode::kResourceExhausted);
  EXPECT_EQ(status_for_reset(0xc), StatusCode::kPermissionDenied);
  EXPECT_EQ(status_for_reset(2), StatusCode::kInternal);
  EXPECT_EQ(status_for_http(400), StatusCode::kInternal);
  EXPECT_EQ(status_for_http(401), StatusCode::kUnauthenticated);
  EXPECT_EQ(status_for_http(403), StatusCode::kPermissionDenied);
  EXPECT_EQ(status_for_http(404), StatusCode::kUnimplemented);
  EXPECT_EQ(status_for_http(429), StatusCode::kUnavailable);
  EXPECT_EQ(status_for_http(504), StatusCode::kUnavailable);
  EXPECT_EQ(status_for_http(500), StatusCode::kUnknown);
}

TEST(GrpcCall, ErrorRulesPerSpanKind) {
  const std::set<int32_t> server_errors = {2, 4, 12, 13, 14, 15};
  for (int32_t code = 0; code <= 16; ++code) {
    EXPECT_EQ(is_error(code, SpanKind::kClient), code != 0) << code;
    EXPECT_EQ(is_error(code, SpanKind::kServer), server_errors.count(code) == 1) << code;
    EXPECT_FALSE(status_name(code).empty()) << code;
  }
  EXPECT_FALSE(is_error(-1, SpanKind::kClient));
  EXPECT_TRUE(is_error(17, SpanKind::kClient));
  EXPECT_FALSE(is_error(17, SpanKind::kServer));
  EXPECT_EQ(status_name(17), "");
  EXPECT_EQ(status_name(-1), "");
  EXPECT_EQ(status_name(16), "UNAUTHENTICATED");
}

TEST(GrpcCall, NotGrpc) {
  Exchange get = only_exchange("h2c_get");
  EXPECT_FALSE(to_call(get));
  Exchange post = only_exchange("h2c_post");
  EXPECT_FALSE(to_call(post));
}

TEST(GrpcCall, SplitPath) {
  std::string_view service, method;
  EXPECT_TRUE(split_path("/pkg.Service/Method", &service, &method));
  EXPECT_EQ(service, "pkg.Service");
  EXPECT_EQ(method, "Method");
  EXPECT_TRUE(split_path("/Svc/M", &service, &method));
  for (std::string_view bad :
       {"", "/", "//", "/Svc", "/Svc/", "//Method", "Svc/Method", "/a/b/c", "/Svc/M?x=1"}) {
    EXPECT_FALSE(split_path(bad, &service, &method)) << bad;
  }
  Exchange e = only_exchange("grpc_unary_ok");
  e.request.path = "/not-a-method";
  std::optional<Call> call = to_call(e);
  ASSERT_TRUE(call);  // still gRPC, but no service or method to name
  EXPECT_EQ(call->service, "");
  EXPECT_EQ(call->method, "");
}

TEST(GrpcCall, Timeout) {
  EXPECT_EQ(parse_timeout_ns("100m"), 100'000'000u);
  EXPECT_EQ(parse_timeout_ns("5S"), 5'000'000'000u);
  EXPECT_EQ(parse_timeout_ns("2M"), 120'000'000'000u);
  EXPECT_EQ(parse_timeout_ns("1H"), 3'600'000'000'000u);
  EXPECT_EQ(parse_timeout_ns("7u"), 7'000u);
  EXPECT_EQ(parse_timeout_ns("9n"), 9u);
  EXPECT_EQ(parse_timeout_ns("99999999H"), UINT64_MAX);
  for (std::string_view bad : {"", "m", "100", "10x", "-1S", "123456789S", "1.5S"}) {
    EXPECT_FALSE(parse_timeout_ns(bad)) << bad;
  }
}

TEST(GrpcMessage, ContentTypes) {
  for (std::string_view yes :
       {"application/grpc", "application/grpc+proto", "application/grpc+json", "Application/GRPC",
        "application/grpc; charset=utf-8"}) {
    EXPECT_TRUE(is_grpc_content_type(yes)) << yes;
  }
  for (std::string_view no : {"", "application/grpc-web", "application/grpc-web+proto",
                              "application/json", "application/grp", "text/grpc"}) {
    EXPECT_FALSE(is_grpc_content_type(no)) << no;
  }
}

TEST(GrpcMessage, CountsPrefixesInAnyPieces) {
  std::string stream = http2::testing::Wire::grpc_message(3) +
                       http2::testing::Wire::grpc_message(0) +
                       http2::testing::Wire::grpc_message(300);
  for (size_t piece = 1; piece <= stream.size(); ++piece) {
    MessageCounter counter;
    for (size_t at = 0; at < stream.size(); at += piece) {
      counter.feed(std::string_view(stream).substr(at, piece));
      EXPECT_LE(counter.messages(), 3u);
    }
    EXPECT_EQ(counter.messages(), 3u) << piece;
    EXPECT_TRUE(counter.at_boundary());
  }
}

TEST(GrpcMessage, SkippedBytes) {
  std::string message = http2::testing::Wire::grpc_message(100);
  MessageCounter inside;
  inside.feed(std::string_view(message).substr(0, 10));
  inside.skip(95);  // the rest of the payload
  inside.feed(message);
  EXPECT_EQ(inside.messages(), 2u);
  EXPECT_TRUE(inside.exact());
  EXPECT_TRUE(inside.at_boundary());

  MessageCounter over;
  over.feed(std::string_view(message).substr(0, 10));
  over.skip(96);  // one byte into the next prefix
  over.feed(message);
  EXPECT_EQ(over.messages(), 1u);
  EXPECT_FALSE(over.exact());

  MessageCounter in_prefix;
  in_prefix.feed(std::string_view(message).substr(0, 2));
  in_prefix.skip(1);
  EXPECT_FALSE(in_prefix.exact());
}

}  // namespace
}  // namespace hodos::protocols::grpc
