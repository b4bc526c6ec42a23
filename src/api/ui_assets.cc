#include "api/ui_assets.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <memory>
#include <string>

namespace hodos::api {

namespace {

// Vite names what it emits under /assets/ after a hash of the content: safe to cache forever.
constexpr std::string_view kImmutable = "public, max-age=31536000, immutable";
// index.html names the current hashed files: the browser must ask again (a 304 when unchanged).
constexpr std::string_view kRevalidate = "no-cache";
// Scripts and styles only from this origin; no framing (the UI has buttons that change sources).
constexpr std::string_view kContentSecurityPolicy =
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

bool ends_with_ci(std::string_view s, std::string_view suffix) {
  if (s.size() < suffix.size()) return false;
  // `suffix` is lowercase.
  return std::equal(suffix.begin(), suffix.end(), s.end() - suffix.size(), [](char lower, char c) {
    return std::tolower(static_cast<unsigned char>(c)) == lower;
  });
}

bool accepts_gzip(const net::HttpRequest& request) {
  const std::string* header = request.header("accept-encoding");
  // "gzip;q=0" refuses it; nobody sends that, but honour it rather than guess.
  return header != nullptr && header->find("gzip") != std::string::npos &&
         header->find("gzip;q=0") == std::string::npos;
}

// A page route (no file extension in the last segment) gets index.html; a missing file does not,
// so that a stale hashed script is a clean 404 rather than HTML parsed as JavaScript.
bool is_page_route(std::string_view path) {
  if (path.starts_with("/assets/")) return false;
  const size_t slash = path.rfind('/');
  return path.substr(slash + 1).find('.') == std::string_view::npos;
}

net::HttpResponse serve(const net::HttpRequest& request, const UiAsset& asset) {
  net::HttpResponse r;
  r.content_type = std::string(content_type_for(asset.path));
  const bool immutable = asset.path.starts_with("/assets/");
  r.headers.emplace_back("Cache-Control", std::string(immutable ? kImmutable : kRevalidate));
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  if (asset.path.ends_with(".html")) {
    r.headers.emplace_back("Content-Security-Policy", std::string(kContentSecurityPolicy));
    r.headers.emplace_back("Referrer-Policy", "no-referrer");
  }
  if (!asset.etag.empty()) {
    r.headers.emplace_back("ETag", std::string(asset.etag));
    const std::string* match = request.header("if-none-match");
    if (match != nullptr && match->find(asset.etag) != std::string::npos) {
      r.status = 304;
      return r;
    }
  }
  if (!asset.gzip.empty()) {
    r.headers.emplace_back("Vary", "Accept-Encoding");
    if (accepts_gzip(request)) {
      r.headers.emplace_back("Content-Encoding", "gzip");
      r.body = std::string(asset.gzip);
      return r;
    }
  }
  r.body = std::string(asset.data);
  return r;
}

}  // namespace

std::string_view content_type_for(std::string_view path) {
  static constexpr std::pair<std::string_view, std::string_view> kTypes[] = {
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},
      {".map", "application/json"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".ico", "image/x-icon"},
      {".woff2", "font/woff2"},
      {".txt", "text/plain; charset=utf-8"},
  };
  for (const auto& [extension, type] : kTypes) {
    if (ends_with_ci(path, extension)) return type;
  }
  return "application/octet-stream";
}

net::HttpHandler make_ui_handler(std::span<const UiAsset> assets) {
  auto by_path = std::make_shared<std::map<std::string, const UiAsset*, std::less<>>>();
  for (const UiAsset& asset : assets) by_path->emplace(std::string(asset.path), &asset);
  return [by_path](net::HttpRequest& request) {
    if (request.method != "GET") {
      net::HttpResponse r = net::HttpResponse::text(405, "only GET is served here\n");
      r.headers.emplace_back("Allow", "GET");
      return r;
    }
    std::string_view path = request.path;
    if (path == "/") path = "/index.html";
    if (auto it = by_path->find(path); it != by_path->end()) return serve(request, *it->second);
    if (is_page_route(path)) {
      if (auto index = by_path->find(std::string_view("/index.html")); index != by_path->end()) {
        return serve(request, *index->second);
      }
    }
    return net::HttpResponse::text(404, "not found: " + request.path + "\n");
  };
}

}  // namespace hodos::api
