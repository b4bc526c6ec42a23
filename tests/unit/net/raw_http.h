// A raw HTTP/1.1 exchange over a plain socket, for tests that need what HttpClient hides:
// response headers, chunked bodies, malformed requests.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <string>

namespace hodos::net::testing {

// Sends `bytes` on a fresh connection and returns everything the server answers until it closes
// (send "Connection: close" in the request).
inline std::string raw_exchange(uint16_t port, const std::string& bytes) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  EXPECT_GE(fd, 0);
  timeval tv{30, 0};  // a guard against hanging the suite, not a timing assertion
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  size_t sent = 0;
  while (sent < bytes.size()) {
    ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;  // the server may close early after refusing
    sent += static_cast<size_t>(n);
  }
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

// The value of header `name` (case-sensitive as the server wrote it) in a raw response; "" if
// absent.
inline std::string raw_header(const std::string& response, const std::string& name) {
  size_t end = response.find("\r\n\r\n");
  std::string head = response.substr(0, end);
  std::string key = "\r\n" + name + ": ";
  size_t at = head.find(key);
  if (at == std::string::npos) return "";
  size_t start = at + key.size();
  return head.substr(start, head.find("\r\n", start) - start);
}

}  // namespace hodos::net::testing
