// The UI's file serving, on a small asset table: content types, caching, ETag, gzip and the
// single-page app's fallback (page routes answer index.html; missing files do not).
#include "api/ui_assets.h"

#include <gtest/gtest.h>

#include <string>

namespace hodos::api {
namespace {

const UiAsset kAssets[] = {
    {"/index.html", "<!doctype html>index", "", "\"i1\""},
    {"/assets/index-abc123.js", "console.log(1)", "GZ-JS", "\"j1\""},
    {"/assets/index-abc123.css", "body{}", "", "\"c1\""},
    {"/robots.txt", "User-agent: *", "", ""},
};

net::HttpRequest get(std::string path, std::vector<std::pair<std::string, std::string>> headers = {}) {
  net::HttpRequest r;
  r.method = "GET";
  r.target = path;
  r.path = std::move(path);
  r.headers = std::move(headers);
  return r;
}

std::string header(const net::HttpResponse& r, std::string_view name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name) return v;
  }
  return "";
}

TEST(UiAssets, ServesFilesWithTheirTypeAndCaching) {
  auto handler = make_ui_handler(kAssets);
  auto req = get("/assets/index-abc123.js");
  net::HttpResponse js = handler(req);
  EXPECT_EQ(js.status, 200);
  EXPECT_EQ(js.content_type, "text/javascript; charset=utf-8");
  EXPECT_EQ(js.body, "console.log(1)");
  EXPECT_EQ(header(js, "Cache-Control"), "public, max-age=31536000, immutable");
  EXPECT_EQ(header(js, "Vary"), "Accept-Encoding");

  auto root = get("/");
  net::HttpResponse index = handler(root);
  EXPECT_EQ(index.body, "<!doctype html>index");
  EXPECT_EQ(index.content_type, "text/html; charset=utf-8");
  EXPECT_EQ(header(index, "Cache-Control"), "no-cache");
  EXPECT_NE(header(index, "Content-Security-Policy"), "");

  auto robots = get("/robots.txt");
  EXPECT_EQ(handler(robots).content_type, "text/plain; charset=utf-8");
}

TEST(UiAssets, GzipOnlyWhenAcceptedAndRevalidationByEtag) {
  auto handler = make_ui_handler(kAssets);
  auto gz = get("/assets/index-abc123.js", {{"accept-encoding", "gzip, deflate, br"}});
  net::HttpResponse r = handler(gz);
  EXPECT_EQ(r.body, "GZ-JS");
  EXPECT_EQ(header(r, "Content-Encoding"), "gzip");
  auto refused = get("/assets/index-abc123.js", {{"accept-encoding", "gzip;q=0"}});
  EXPECT_EQ(handler(refused).body, "console.log(1)");
  // No gzip copy: plain whatever the client accepts.
  auto css = get("/assets/index-abc123.css", {{"accept-encoding", "gzip"}});
  EXPECT_EQ(header(handler(css), "Content-Encoding"), "");

  auto again = get("/search", {{"if-none-match", "\"i1\""}});
  net::HttpResponse not_modified = handler(again);
  EXPECT_EQ(not_modified.status, 304);
  EXPECT_EQ(not_modified.body, "");
  auto changed = get("/search", {{"if-none-match", "\"old\""}});
  EXPECT_EQ(handler(changed).status, 200);
}

TEST(UiAssets, PageRoutesFallBackToIndexMissingFilesDoNot) {
  auto handler = make_ui_handler(kAssets);
  for (std::string route : {"/search", "/trace/4bf92f3577b34da6a3ce929d0e0e4736", "/sources", "/no/such/page"}) {
    auto req = get(route);
    net::HttpResponse r = handler(req);
    EXPECT_EQ(r.status, 200) << route;
    EXPECT_EQ(r.body, "<!doctype html>index") << route;
  }
  for (std::string missing : {"/assets/index-old.js", "/assets/page", "/favicon.ico", "/x/y.png"}) {
    auto req = get(missing);
    EXPECT_EQ(handler(req).status, 404) << missing;
  }
  net::HttpRequest post = get("/search");
  post.method = "POST";
  net::HttpResponse r = handler(post);
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(header(r, "Allow"), "GET");
}

TEST(UiAssets, ContentTypes) {
  EXPECT_EQ(content_type_for("/a.HTML"), "text/html; charset=utf-8");
  EXPECT_EQ(content_type_for("/a.css"), "text/css; charset=utf-8");
  EXPECT_EQ(content_type_for("/a.svg"), "image/svg+xml");
  EXPECT_EQ(content_type_for("/a.woff2"), "font/woff2");
  EXPECT_EQ(content_type_for("/a.bin"), "application/octet-stream");
  EXPECT_EQ(content_type_for("/js"), "application/octet-stream");
}

}  // namespace
}  // namespace hodos::api
