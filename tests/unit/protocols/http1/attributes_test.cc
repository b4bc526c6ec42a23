#include "protocols/http1/attributes.h"

#include <gtest/gtest.h>

#include <string_view>
#include <utility>
#include <vector>

namespace hodos::protocols::http1 {
namespace {

TEST(Http1Attributes, RouteTemplateCollapsesIdentifiers) {
  const std::vector<std::pair<std::string_view, std::string_view>> cases = {
      {"/items/42", "/items/{id}"},
      {"/items/43?x=1&y=2", "/items/{id}"},
      {"/items/42#reviews", "/items/{id}"},
      {"/users/42/orders/1001", "/users/{id}/orders/{id}"},
      {"/users/42/", "/users/{id}/"},
      {"/api/v1/users/7f3b2c1e-9a4d-4e8b-b1c2-3d4e5f6a7b8c", "/api/v1/users/{id}"},
      {"/api/v1/users/7F3B2C1E-9A4D-4E8B-B1C2-3D4E5F6A7B8C/avatar", "/api/v1/users/{id}/avatar"},
      {"/orders/507f1f77bcf86cd799439011/items", "/orders/{id}/items"},  // MongoDB ObjectId
      {"/blobs/e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "/blobs/{id}"},
      {"/traces/0af7651916cd43dd8448eb211c80319c", "/traces/{id}"},
      // Not identifiers: words, versions, short hex, names with digits, hex-letter words.
      {"/api/v2/health", "/api/v2/health"},
      {"/files/report-2024.pdf", "/files/report-2024.pdf"},
      {"/colors/beef", "/colors/beef"},
      {"/x/0x1f", "/x/0x1f"},
      {"/cafebabecafebabecafe", "/cafebabecafebabecafe"},
      {"/items/-1", "/items/-1"},
      {"/a//b", "/a//b"},
      {"/", "/"},
      {"", "/"},
      {"?q=1", "/"},
      {"*", "*"},
  };
  for (auto [path, route] : cases) EXPECT_EQ(route_template(path), route) << path;
}

TEST(Http1Attributes, RouteTemplateGroupsOneOperation) {
  EXPECT_EQ(route_template("/items/42"), route_template("/items/43"));
  EXPECT_NE(route_template("/items/42"), route_template("/items/42/reviews"));
}

TEST(Http1Attributes, CredentialHeaders) {
  for (std::string_view name :
       {"Authorization", "AUTHORIZATION", "proxy-authorization", "Cookie", "set-cookie",
        "X-Api-Key", "X-API-KEY", "x-auth-token", "X-CSRF-Token", "X-Amz-Security-Token",
        "X-Client-Secret", "X-Password", "db_password", "Api_Key", "x-apikey", "Token"}) {
    EXPECT_TRUE(is_credential_header(name)) << name;
  }
  for (std::string_view name :
       {"Host", "Content-Type", "User-Agent", "traceparent", "tracestate", "Accept", "X-Request-Id",
        "X-Forwarded-For", "Keep-Alive", "Content-Length", "Auth", ""}) {
    EXPECT_FALSE(is_credential_header(name)) << name;
  }
}

}  // namespace
}  // namespace hodos::protocols::http1
