// Serves the web UI (ui/, built by Vite) from files compiled into the binary: content types,
// caching (content-hashed /assets/* immutable, everything else revalidated by ETag), gzip when the
// client takes it, and the single-page app's fallback: a page route such as /trace/{id} answers
// index.html so that deep links load on reload. /api/* never reaches it (the API's routes answer).
#pragma once

#include <span>
#include <string_view>

#include "net/http_server.h"

namespace hodos::api {

struct UiAsset {
  std::string_view path;  // "/index.html", "/assets/index-Bw2v0r8h.js"
  std::string_view data;
  std::string_view gzip;  // the same bytes gzipped; empty when that is not smaller
  std::string_view etag;  // quoted, e.g. "\"3f2a9c01\""
};

// The files of ui/dist, generated at build time (cmake/embed_ui.mjs); linked into `hodos` only.
std::span<const UiAsset> embedded_ui_assets();

// A handler for QueryApiOptions::fallback. `assets` must outlive it.
net::HttpHandler make_ui_handler(std::span<const UiAsset> assets);

// "text/javascript; charset=utf-8" for "/a/b.js", ...; application/octet-stream when unknown.
std::string_view content_type_for(std::string_view path);

}  // namespace hodos::api
