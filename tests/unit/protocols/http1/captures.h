// Byte captures of real HTTP/1.x traffic, written out from what these clients and servers send
// (header order and spelling as they write them). Shared by the parser and matcher tests and the
// fuzz seeds. When editing, keep Content-Length and chunk sizes true to the bytes:
// Http1Parse.CapturesParseCompletely checks it.
#pragma once

#include <array>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "protocols/http1/types.h"

namespace hodos::protocols::http1::testing {

struct RequestCapture {
  std::string_view name;
  std::string_view bytes;
  std::string_view method;
  std::string_view target;
  BodyFraming framing;
  uint64_t body_size;
};

struct ResponseCapture {
  std::string_view name;
  std::string_view bytes;
  std::string_view answers;  // method of the request it answers
  uint16_t status;
  BodyFraming framing;
  uint64_t body_size;
};

inline constexpr std::array<RequestCapture, 11> kRequests = {{
    // curl 7.88 GET with a query string
    {"curl_get",
     "GET /items/42?verbose=1 HTTP/1.1\r\n"
     "Host: localhost:8080\r\n"
     "User-Agent: curl/7.88.1\r\n"
     "Accept: */*\r\n"
     "\r\n",
     "GET", "/items/42?verbose=1", BodyFraming::kNone, 0},
    // curl -d with -H 'Content-Type: application/json'
    {"curl_post_json",
     "POST /api/orders HTTP/1.1\r\n"
     "Host: localhost:8080\r\n"
     "User-Agent: curl/7.88.1\r\n"
     "Accept: */*\r\n"
     "Content-Type: application/json\r\n"
     "Content-Length: 31\r\n"
     "\r\n"
     "{\"item\":\"book-42\",\"quantity\":2}",
     "POST", "/api/orders", BodyFraming::kContentLength, 31},
    // curl -I
    {"curl_head",
     "HEAD /index.html HTTP/1.1\r\n"
     "Host: localhost\r\n"
     "User-Agent: curl/7.88.1\r\n"
     "Accept: */*\r\n"
     "\r\n",
     "HEAD", "/index.html", BodyFraming::kNone, 0},
    // Go net/http client, traceparent set by an SDK upstream
    {"go_client_get",
     "GET /api/v1/users/7f3b2c1e-9a4d-4e8b-b1c2-3d4e5f6a7b8c HTTP/1.1\r\n"
     "Host: users.internal:9000\r\n"
     "User-Agent: Go-http-client/1.1\r\n"
     "Traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n"
     "Accept-Encoding: gzip\r\n"
     "\r\n",
     "GET", "/api/v1/users/7f3b2c1e-9a4d-4e8b-b1c2-3d4e5f6a7b8c", BodyFraming::kNone, 0},
    // Java 17 HttpURLConnection, fixed-length streaming, Expect set by the app
    {"java_expect_continue",
     "POST /upload HTTP/1.1\r\n"
     "Expect: 100-continue\r\n"
     "Content-Type: application/octet-stream\r\n"
     "User-Agent: Java/17.0.11\r\n"
     "Host: localhost:8080\r\n"
     "Accept: text/html, image/gif, image/jpeg, *; q=.2, */*; q=.2\r\n"
     "Connection: keep-alive\r\n"
     "Content-Length: 16\r\n"
     "\r\n"
     "0123456789abcdef",
     "POST", "/upload", BodyFraming::kContentLength, 16},
    // Java 17 HttpURLConnection.setChunkedStreamingMode
    {"java_chunked_upload",
     "POST /ingest HTTP/1.1\r\n"
     "Content-Type: text/plain\r\n"
     "User-Agent: Java/17.0.11\r\n"
     "Host: localhost:8080\r\n"
     "Accept: text/html, image/gif, image/jpeg, *; q=.2, */*; q=.2\r\n"
     "Connection: keep-alive\r\n"
     "Transfer-Encoding: chunked\r\n"
     "\r\n"
     "9\r\n"
     "line one\n"
     "\r\n"
     "1a\r\n"
     "line two, a little longer\n"
     "\r\n"
     "0\r\n"
     "\r\n",
     "POST", "/ingest", BodyFraming::kChunked, 35},
    // python-requests 2.28
    {"python_requests_get",
     "GET /health HTTP/1.1\r\n"
     "Host: 127.0.0.1:5000\r\n"
     "User-Agent: python-requests/2.28.1\r\n"
     "Accept-Encoding: gzip, deflate\r\n"
     "Accept: */*\r\n"
     "Connection: keep-alive\r\n"
     "\r\n",
     "GET", "/health", BodyFraming::kNone, 0},
    // Node 20 fetch (undici): lower-case header names
    {"node_fetch_post",
     "POST /graphql HTTP/1.1\r\n"
     "host: api.local:4000\r\n"
     "connection: keep-alive\r\n"
     "content-type: application/json\r\n"
     "accept: */*\r\n"
     "accept-language: *\r\n"
     "sec-fetch-mode: cors\r\n"
     "user-agent: undici\r\n"
     "accept-encoding: gzip, deflate\r\n"
     "content-length: 29\r\n"
     "\r\n"
     "{\"query\":\"{ viewer { id } }\"}",
     "POST", "/graphql", BodyFraming::kContentLength, 29},
    // ApacheBench: HTTP/1.0
    {"ab_http10",
     "GET / HTTP/1.0\r\n"
     "Host: localhost:8080\r\n"
     "User-Agent: ApacheBench/2.3\r\n"
     "Accept: */*\r\n"
     "\r\n",
     "GET", "/", BodyFraming::kNone, 0},
    // RFC 6455 opening handshake
    {"websocket_upgrade",
     "GET /chat HTTP/1.1\r\n"
     "Host: localhost:8080\r\n"
     "Upgrade: websocket\r\n"
     "Connection: Upgrade\r\n"
     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
     "Sec-WebSocket-Version: 13\r\n"
     "\r\n",
     "GET", "/chat", BodyFraming::kNone, 0},
    // curl through an HTTP proxy to an https URL
    {"curl_connect",
     "CONNECT example.com:443 HTTP/1.1\r\n"
     "Host: example.com:443\r\n"
     "User-Agent: curl/7.88.1\r\n"
     "Proxy-Connection: Keep-Alive\r\n"
     "\r\n",
     "CONNECT", "example.com:443", BodyFraming::kNone, 0},
}};

inline constexpr std::array<ResponseCapture, 16> kResponses = {{
    // python3 -m http.server (SimpleHTTPRequestHandler, HTTP/1.0)
    {"python_200",
     "HTTP/1.0 200 OK\r\n"
     "Server: SimpleHTTP/0.6 Python/3.11.2\r\n"
     "Date: Tue, 14 May 2024 10:00:00 GMT\r\n"
     "Content-type: text/html\r\n"
     "Content-Length: 41\r\n"
     "Last-Modified: Mon, 13 May 2024 08:30:00 GMT\r\n"
     "\r\n"
     "<html><body><h1>Hello</h1></body></html>\n",
     "GET", 200, BodyFraming::kContentLength, 41},
    // python3 -m http.server send_error
    {"python_404",
     "HTTP/1.0 404 File not found\r\n"
     "Server: SimpleHTTP/0.6 Python/3.11.2\r\n"
     "Date: Tue, 14 May 2024 10:00:00 GMT\r\n"
     "Connection: close\r\n"
     "Content-Type: text/html;charset=utf-8\r\n"
     "Content-Length: 335\r\n"
     "\r\n"
     "<!DOCTYPE HTML>\n"
     "<html lang=\"en\">\n"
     "    <head>\n"
     "        <meta charset=\"utf-8\">\n"
     "        <title>Error response</title>\n"
     "    </head>\n"
     "    <body>\n"
     "        <h1>Error response</h1>\n"
     "        <p>Error code: 404</p>\n"
     "        <p>Message: File not found.</p>\n"
     "        <p>Error code explanation: 404 - Nothing matches the given URI.</p>\n"
     "    </body>\n"
     "</html>\n",
     "GET", 404, BodyFraming::kContentLength, 335},
    // BaseHTTPRequestHandler writing without Content-Length
    {"python_until_close",
     "HTTP/1.0 200 OK\r\n"
     "Server: BaseHTTP/0.6 Python/3.11.2\r\n"
     "Date: Tue, 14 May 2024 10:00:00 GMT\r\n"
     "Content-Type: text/plain\r\n"
     "\r\n"
     "streamed until the server closes\n",
     "GET", 200, BodyFraming::kUntilClose, 33},
    // nginx 1.22 proxying a dynamic page
    {"nginx_chunked",
     "HTTP/1.1 200 OK\r\n"
     "Server: nginx/1.22.1\r\n"
     "Date: Tue, 14 May 2024 10:00:00 GMT\r\n"
     "Content-Type: text/html; charset=UTF-8\r\n"
     "Transfer-Encoding: chunked\r\n"
     "Connection: keep-alive\r\n"
     "\r\n"
     "2e\r\n"
     "<html><head><title>hodos</title></head><body>\n"
     "\r\n"
     "80\r\n"
     "<p>tracing without code changes. tracing without code changes. tracing without code ch"
     "anges. tracing without code changes. </p>\n"
     "\r\n"
     "f\r\n"
     "</body></html>\n"
     "\r\n"
     "0\r\n"
     "\r\n",
     "GET", 200, BodyFraming::kChunked, 189},
    // nginx 1.22 answering HEAD: Content-Length but no body
    {"nginx_head",
     "HTTP/1.1 200 OK\r\n"
     "Server: nginx/1.22.1\r\n"
     "Date: Tue, 14 May 2024 10:00:00 GMT\r\n"
     "Content-Type: text/html\r\n"
     "Content-Length: 615\r\n"
     "Last-Modified: Tue, 11 Apr 2023 01:45:34 GMT\r\n"
     "Connection: keep-alive\r\n"
     "ETag: \"6434bbbe-267\"\r\n"
     "Accept-Ranges: bytes\r\n"
     "\r\n",
     "HEAD", 200, BodyFraming::kNone, 0},
    // nginx 1.22 conditional GET
    {"nginx_304",
     "HTTP/1.1 304 Not Modified\r\n"
     "Server: nginx/1.22.1\r\n"
     "Date: Tue, 14 May 2024 10:00:00 GMT\r\n"
     "Last-Modified: Tue, 11 Apr 2023 01:45:34 GMT\r\n"
     "Connection: keep-alive\r\n"
     "ETag: \"6434bbbe-267\"\r\n"
     "\r\n",
     "GET", 304, BodyFraming::kNone, 0},
    // Go net/http, handler sets Content-Type
    {"go_200_json",
     "HTTP/1.1 200 OK\r\n"
     "Content-Type: application/json\r\n"
     "Date: Tue, 14 May 2024 10:00:00 GMT\r\n"
     "Content-Length: 26\r\n"
     "\r\n"
     "{\"id\":42,\"name\":\"widget\"}\n",
     "GET", 200, BodyFraming::kContentLength, 26},
    // Go net/http streaming with a declared trailer
    {"go_chunked_trailer",
     "HTTP/1.1 200 OK\r\n"
     "Trailer: X-Checksum\r\n"
     "Content-Type: text/plain; charset=utf-8\r\n"
     "Transfer-Encoding: chunked\r\n"
     "Date: Tue, 14 May 2024 10:00:00 GMT\r\n"
     "\r\n"
     "c\r\n"
     "hello world\n"
     "\r\n"
     "d\r\n"
     "second flush\n"
     "\r\n"
     "0\r\n"
     "X-Checksum: 5eb63bbbe01eeed093cb22bb8f5acdc3\r\n"
     "\r\n",
     "GET", 200, BodyFraming::kChunked, 25},
    // Go net/http WriteHeader(204)
    {"go_204",
     "HTTP/1.1 204 No Content\r\n"
     "Date: Tue, 14 May 2024 10:00:00 GMT\r\n"
     "\r\n",
     "DELETE", 204, BodyFraming::kNone, 0},
    // Go net/http answering Expect: 100-continue
    {"go_100_continue",
     "HTTP/1.1 100 Continue\r\n"
     "\r\n",
     "POST", 100, BodyFraming::kNone, 0},
    // com.sun.net.httpserver: lower-case l in Content-length
    {"java_201",
     "HTTP/1.1 201 Created\r\n"
     "Date: Tue, 14 May 2024 10:00:00 GMT\r\n"
     "Content-length: 0\r\n"
     "\r\n",
     "POST", 201, BodyFraming::kContentLength, 0},
    // Node http.createServer with res.end after res.write
    {"node_chunked",
     "HTTP/1.1 200 OK\r\n"
     "Content-Type: text/plain\r\n"
     "Date: Tue, 14 May 2024 10:00:00 GMT\r\n"
     "Connection: keep-alive\r\n"
     "Keep-Alive: timeout=5\r\n"
     "Transfer-Encoding: chunked\r\n"
     "\r\n"
     "d\r\n"
     "Hello, world!\r\n"
     "0\r\n"
     "\r\n",
     "GET", 200, BodyFraming::kChunked, 13},
    // chunk extensions, bad whitespace before ';' and a trailer
    {"chunk_extensions",
     "HTTP/1.1 200 OK\r\n"
     "Content-Type: text/plain\r\n"
     "Transfer-Encoding: chunked\r\n"
     "\r\n"
     "4;name=value\r\n"
     "Wiki\r\n"
     "5 ; ext\r\n"
     "pedia\r\n"
     "e;a=\"quoted;value\"\r\n"
     " in\r\n"
     "\r\n"
     "chunks.\r\n"
     "0\r\n"
     "Expires: Wed, 21 Oct 2015 07:28:00 GMT\r\n"
     "\r\n",
     "GET", 200, BodyFraming::kChunked, 23},
    // RFC 6455 server handshake
    {"websocket_101",
     "HTTP/1.1 101 Switching Protocols\r\n"
     "Upgrade: websocket\r\n"
     "Connection: Upgrade\r\n"
     "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
     "\r\n",
     "GET", 101, BodyFraming::kTunnel, 0},
    // proxy accepting CONNECT
    {"connect_200",
     "HTTP/1.1 200 Connection established\r\n"
     "\r\n",
     "CONNECT", 200, BodyFraming::kTunnel, 0},
    // Envoy without a healthy upstream: lower-case names
    {"envoy_503",
     "HTTP/1.1 503 Service Unavailable\r\n"
     "content-length: 19\r\n"
     "content-type: text/plain\r\n"
     "date: Tue, 14 May 2024 10:00:00 GMT\r\n"
     "server: envoy\r\n"
     "\r\n"
     "no healthy upstream",
     "GET", 503, BodyFraming::kContentLength, 19},
}};

inline const RequestCapture& request_capture(std::string_view name) {
  for (const RequestCapture& c : kRequests) {
    if (c.name == name) return c;
  }
  std::abort();
}

inline const ResponseCapture& response_capture(std::string_view name) {
  for (const ResponseCapture& c : kResponses) {
    if (c.name == name) return c;
  }
  std::abort();
}

}  // namespace hodos::protocols::http1::testing
