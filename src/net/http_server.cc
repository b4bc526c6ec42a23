// HttpServer on Boost.Beast. This is the only file that includes Beast/Asio: they are heavy to
// compile, and nothing outside needs them.
#include "net/http_server.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cctype>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>
#include <type_traits>
#include <unordered_map>

namespace hodos::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

// A keep-alive connection may sit idle this long before we close it.
constexpr auto kIdleTimeout = std::chrono::seconds(60);
// Time allowed for a whole request body or response to move once it started.
constexpr auto kTransferTimeout = std::chrono::seconds(60);
// After refusing a request we read (and drop) what the client still sends for a while before
// closing, so that the client reads our answer instead of a connection reset.
constexpr auto kLingerTimeout = std::chrono::seconds(2);
constexpr size_t kLingerMaxBytes = 8u << 20;
constexpr size_t kHeaderLimit = 64u << 10;
// stop() waits this long for in-flight requests before cutting connections.
constexpr auto kStopGrace = std::chrono::seconds(10);
// A TLS client has this long to finish its handshake.
constexpr auto kHandshakeTimeout = std::chrono::seconds(10);

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Malformed escapes are kept literally: a path is matched, not trusted.
std::string percent_decode(std::string_view in, bool plus_is_space) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%' && i + 2 < in.size()) {
      int hi = hex_value(in[i + 1]);
      int lo = hex_value(in[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(plus_is_space && c == '+' ? ' ' : c);
  }
  return out;
}

template <typename F>
void for_each_query_param(std::string_view query, F&& f) {
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view item = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (item.empty()) continue;
    size_t eq = item.find('=');
    std::string_view key = item.substr(0, eq);
    std::string_view value = eq == std::string_view::npos ? std::string_view{} : item.substr(eq + 1);
    f(key, value);
  }
}

std::string lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// asio's messages start upper-case ("Address already in use"); our one-line errors do not.
std::string error_text(const boost::system::error_code& ec) {
  std::string m = ec.message();
  if (!m.empty()) m[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(m[0])));
  return m;
}

}  // namespace

// --- request/response helpers ------------------------------------------------------------------

const std::string* HttpRequest::header(std::string_view lowercase_name) const {
  for (const auto& [k, v] : headers) {
    if (k == lowercase_name) return &v;
  }
  return nullptr;
}

std::optional<std::string> HttpRequest::query_param(std::string_view name) const {
  std::optional<std::string> out;
  for_each_query_param(query, [&](std::string_view k, std::string_view v) {
    if (!out && percent_decode(k, true) == name) out = percent_decode(v, true);
  });
  return out;
}

std::vector<std::string> HttpRequest::query_params(std::string_view name) const {
  std::vector<std::string> out;
  for_each_query_param(query, [&](std::string_view k, std::string_view v) {
    if (percent_decode(k, true) == name) out.push_back(percent_decode(v, true));
  });
  return out;
}

HttpResponse HttpResponse::text(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

HttpResponse HttpResponse::json(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.content_type = "application/json";
  r.body = std::move(body);
  return r;
}

std::optional<std::pair<std::string, uint16_t>> split_host_port(std::string_view address) {
  std::string_view host;
  std::string_view port;
  if (!address.empty() && address.front() == '[') {
    size_t close = address.find(']');
    if (close == std::string_view::npos || close + 1 >= address.size() ||
        address[close + 1] != ':') {
      return std::nullopt;
    }
    host = address.substr(1, close - 1);
    if (host.empty()) return std::nullopt;
    port = address.substr(close + 2);
  } else {
    size_t colon = address.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host = address.substr(0, colon);
    // A bare IPv6 address without brackets is ambiguous ("::1:4317").
    if (host.find(':') != std::string_view::npos) return std::nullopt;
    port = address.substr(colon + 1);
  }
  if (port.empty() || port.size() > 5) return std::nullopt;
  unsigned value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc() || end != port.data() + port.size() || value > 65535) return std::nullopt;
  return std::pair<std::string, uint16_t>{std::string(host), static_cast<uint16_t>(value)};
}

// --- the server --------------------------------------------------------------------------------

namespace {
// What the server needs of a connection, plain or TLS (Session<Stream> below).
class SessionBase {
 public:
  virtual ~SessionBase() = default;
  // Runs on the session's strand when the server stops: idle connections close now, a request
  // that has started (headers read) finishes and then closes.
  virtual void on_server_stop() = 0;
  virtual asio::any_io_executor executor() = 0;
};

std::string_view sv(beast::string_view s) { return {s.data(), s.size()}; }

// The server's state. A namespace-level struct (HttpServer::Impl only wraps it) so that the
// sessions below can reach it.
struct ServerCore {
  struct Route {
    std::string method;
    std::string prefix;  // the pattern without its trailing '*'
    bool is_prefix = false;
    HttpHandler handler;
  };

  explicit ServerCore(HttpServerOptions o) : options(std::move(o)) {}

  HttpResponse dispatch(HttpRequest& request);
  void accept();
  void register_session(const std::shared_ptr<SessionBase>& s);
  void unregister_session(SessionBase* s);
  std::optional<std::string> make_ssl_context();

  HttpServerOptions options;
  std::vector<Route> routes;
  HttpHandler fallback;

  // Declared before the io_context: sessions destroyed with its pending handlers unregister here.
  std::mutex mu;
  std::condition_variable sessions_gone;
  std::unordered_map<SessionBase*, std::weak_ptr<SessionBase>> sessions;
  bool stopping = false;  // guarded by mu
  std::atomic<bool> stopping_flag{false};

  std::optional<asio::ssl::context> ssl;  // set when options.tls is
  asio::io_context ioc{std::max(1, options.threads)};
  tcp::acceptor acceptor{asio::make_strand(ioc)};
  // Keeps the threads running while stop() still posts to sessions that have no pending I/O.
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::vector<std::thread> threads;
  std::atomic<uint16_t> bound_port{0};
  bool started = false;
  bool stopped = false;
};

// One connection. Stream is beast::tcp_stream, or beast::ssl_stream over it for HTTPS.
template <typename Stream>
class Session : public SessionBase, public std::enable_shared_from_this<Session<Stream>> {
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

 public:
  template <typename... TlsContext>
  Session(tcp::socket socket, ServerCore& server, TlsContext&... tls)
      : stream_(std::move(socket), tls...), server_(server) {
    boost::system::error_code ec;
    auto ep = tcp_stream().socket().remote_endpoint(ec);
    if (!ec) {
      remote_ = ep.address().is_v6() ? "[" + ep.address().to_string() + "]" : ep.address().to_string();
      remote_ += ":" + std::to_string(ep.port());
    }
  }
  ~Session() { server_.unregister_session(this); }

  void run() {
    if constexpr (kTls) {
      asio::dispatch(stream_.get_executor(),
                     beast::bind_front_handler(&Session::handshake, this->shared_from_this()));
    } else {
      asio::dispatch(stream_.get_executor(),
                     beast::bind_front_handler(&Session::read_request,
                                               this->shared_from_this()));
    }
  }

  void on_server_stop() override {
    if (busy_) return;
    close();
  }

  asio::any_io_executor executor() override { return stream_.get_executor(); }

 private:
  beast::tcp_stream& tcp_stream() { return beast::get_lowest_layer(stream_); }

  // A failed handshake (plain HTTP on the TLS port, no or an untrusted client certificate) has no
  // HTTP request to answer: it is logged at debug and the connection closed.
  void handshake() {
    tcp_stream().expires_after(kHandshakeTimeout);
    stream_.async_handshake(asio::ssl::stream_base::server,
                            [self = this->shared_from_this()](beast::error_code ec) {
                              if (ec) {
                                spdlog::debug("{}: TLS handshake with {} failed: {}",
                                              self->server_.options.name, self->remote_,
                                              error_text(ec));
                                return self->close();
                              }
                              self->read_request();
                            });
  }

  void read_request() {
    if (server_.stopping_flag.load()) return close();
    parser_.emplace();
    parser_->header_limit(kHeaderLimit);
    parser_->body_limit(server_.options.max_body_bytes);
    tcp_stream().expires_after(kIdleTimeout);
    http::async_read_header(stream_, buffer_, *parser_,
                            beast::bind_front_handler(&Session::on_header,
                                                      this->shared_from_this()));
  }

  void on_header(beast::error_code ec, size_t) {
    if (ec) return on_read_error(ec);
    busy_ = true;  // a request has started: stop() lets it finish
    auto& req = parser_->get();
    if (beast::iequals(req[http::field::expect], "100-continue")) {
      // Clients that ask first (curl does for large bodies) get a go-ahead; an oversized
      // Content-Length was already refused by the parser above without reading the body.
      auto cont = std::make_shared<http::response<http::empty_body>>(http::status::continue_,
                                                                     req.version());
      tcp_stream().expires_after(kTransferTimeout);
      http::async_write(stream_, *cont,
                        [self = this->shared_from_this(), cont](beast::error_code wec, size_t) {
                          if (wec) return self->close();
                          self->read_body();
                        });
      return;
    }
    read_body();
  }

  void read_body() {
    tcp_stream().expires_after(kTransferTimeout);
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&Session::on_body, this->shared_from_this()));
  }

  void on_read_error(beast::error_code ec) {
    if (ec == http::error::body_limit) {
      return refuse(413, "request body is larger than the limit of " +
                             std::to_string(server_.options.max_body_bytes) + " bytes\n");
    }
    if (ec == http::error::header_limit) {
      return refuse(431, "request header fields too large\n");
    }
    if (ec.category() == http::make_error_code(http::error::bad_target).category() &&
        ec != http::error::end_of_stream && ec != http::error::partial_message) {
      return refuse(400, "malformed HTTP request: " + ec.message() + "\n");
    }
    close();  // closed by the peer, timed out, or aborted by stop()
  }

  void refuse(int status, std::string message) {
    if (server_.options.on_refused) {
      try {
        server_.options.on_refused(status, remote_);
      } catch (const std::exception& e) {
        spdlog::error("{}: on_refused failed: {}", server_.options.name, e.what());
      }
    }
    HttpResponse res = HttpResponse::text(status, std::move(message));
    busy_ = true;
    unread_input_ = true;
    write(std::move(res), /*keep_alive=*/false, parser_->get().version() ? parser_->get().version()
                                                                         : 11);
  }

  void on_body(beast::error_code ec, size_t) {
    if (ec) return on_read_error(ec);
    busy_ = true;
    auto req = parser_->release();
    HttpRequest request;
    request.method = std::string(req.method_string());
    request.target = std::string(req.target());
    std::string_view target = sv(req.target());
    size_t q = target.find('?');
    request.path = percent_decode(target.substr(0, q), /*plus_is_space=*/false);
    if (q != std::string_view::npos) request.query = std::string(target.substr(q + 1));
    request.headers.reserve(std::distance(req.begin(), req.end()));
    for (const auto& field : req) {
      request.headers.emplace_back(lowercase(sv(field.name_string())), std::string(field.value()));
    }
    request.body = std::move(req.body());
    request.remote_address = remote_;
    bool keep_alive = req.keep_alive() && !server_.stopping_flag.load();
    HttpResponse response = server_.dispatch(request);
    write(std::move(response), keep_alive, req.version());
  }

  void write(HttpResponse response, bool keep_alive, unsigned version) {
    auto res = std::make_shared<http::response<http::string_body>>();
    res->version(version);
    res->result(static_cast<unsigned>(response.status));
    res->set(http::field::server, "hodos");
    if (!response.content_type.empty()) res->set(http::field::content_type, response.content_type);
    for (auto& [k, v] : response.headers) res->insert(k, v);
    res->body() = std::move(response.body);
    res->keep_alive(keep_alive);
    res->prepare_payload();
    tcp_stream().expires_after(kTransferTimeout);
    http::async_write(stream_, *res,
                      [self = this->shared_from_this(), res,
                       keep_alive](beast::error_code ec, size_t) {
                        self->busy_ = false;
                        if (ec) return self->close();
                        if (!keep_alive || self->server_.stopping_flag.load()) {
                          // A refused request may still be arriving: let the client read our
                          // answer before the connection goes.
                          return self->unread_input_ ? self->linger_close() : self->close();
                        }
                        self->read_request();
                      });
  }

  // Half-closes, then drops whatever the client still sends until it closes too (bounded).
  void linger_close() {
    beast::error_code ec;
    tcp_stream().socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec) return close();
    lingered_ = 0;
    tcp_stream().expires_after(kLingerTimeout);
    drain();
  }

  void drain() {
    buffer_.consume(buffer_.size());
    stream_.async_read_some(buffer_.prepare(64u << 10),
                            [self = this->shared_from_this()](beast::error_code ec, size_t n) {
                              self->lingered_ += n;
                              if (ec || self->lingered_ > kLingerMaxBytes) return self->close();
                              self->drain();
                            });
  }

  void close() {
    beast::error_code ec;
    tcp_stream().socket().shutdown(tcp::socket::shutdown_both, ec);
    tcp_stream().close();
  }

  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  ServerCore& server_;
  std::string remote_;
  bool busy_ = false;
  bool unread_input_ = false;
  size_t lingered_ = 0;
};

}  // namespace

struct HttpServer::Impl : ServerCore {
  using ServerCore::ServerCore;
};

HttpResponse ServerCore::dispatch(HttpRequest& request) {
  const Route* best = nullptr;
  bool path_known = false;
  std::string allowed;
  size_t best_len = 0;
  bool best_exact = false;
  for (const auto& route : routes) {
    bool match = route.is_prefix ? request.path.starts_with(route.prefix)
                                 : request.path == route.prefix;
    if (!match) continue;
    path_known = true;
    if (!route.method.empty() && route.method != request.method) {
      if (allowed.find(route.method) == std::string::npos) {
        allowed += (allowed.empty() ? "" : ", ") + route.method;
      }
      continue;
    }
    // Longest pattern wins; on equal length an exact path beats a prefix.
    size_t len = route.prefix.size();
    bool exact = !route.is_prefix;
    if (!best || len > best_len || (len == best_len && exact && !best_exact)) {
      best = &route;
      best_len = len;
      best_exact = exact;
    }
  }
  const HttpHandler* handler = nullptr;
  if (best) {
    handler = &best->handler;
  } else if (path_known) {
    HttpResponse r = HttpResponse::text(
        405, "method " + request.method + " is not allowed on " + request.path + "; use " +
                 allowed + "\n");
    r.headers.emplace_back("Allow", allowed);
    return r;
  } else if (fallback) {
    handler = &fallback;
  } else {
    return HttpResponse::text(404, "no such path: " + request.path + "\n");
  }
  try {
    return (*handler)(request);
  } catch (const std::exception& e) {
    spdlog::error("{}: handler for {} {} failed: {}", options.name, request.method, request.path,
                  e.what());
    return HttpResponse::text(500, std::string("internal error: ") + e.what() + "\n");
  } catch (...) {
    spdlog::error("{}: handler for {} {} failed with an unknown exception", options.name,
                  request.method, request.path);
    return HttpResponse::text(500, "internal error\n");
  }
}

void ServerCore::register_session(const std::shared_ptr<SessionBase>& s) {
  sessions.emplace(s.get(), s);
}

void ServerCore::unregister_session(SessionBase* s) {
  std::lock_guard lock(mu);
  sessions.erase(s);
  if (sessions.empty()) sessions_gone.notify_all();
}

void ServerCore::accept() {
  acceptor.async_accept(asio::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
    if (ec) {
      // Out of file descriptors and the like: keep serving the connections we have.
      spdlog::warn("{}: accept failed: {}", options.name, error_text(ec));
    } else {
      // Started after the lock is released: a session that ends at once is destroyed by the
      // last reference, here, and unregisters under the same lock.
      std::function<void()> run;
      {
        std::lock_guard lock(mu);
        if (stopping) return;
        if (ssl) {
          auto session = std::make_shared<Session<beast::ssl_stream<beast::tcp_stream>>>(
              std::move(socket), *this, *ssl);
          register_session(session);
          run = [session] { session->run(); };
        } else {
          auto session = std::make_shared<Session<beast::tcp_stream>>(std::move(socket), *this);
          register_session(session);
          run = [session] { session->run(); };
        }
      }
      run();
    }
    accept();
  });
}

std::optional<std::string> ServerCore::make_ssl_context() {
  if (!options.tls) return std::nullopt;
  const HttpServerTls& t = *options.tls;
  asio::ssl::context ctx(asio::ssl::context::tls_server);
  auto no_old = asio::ssl::context::no_sslv2 | asio::ssl::context::no_sslv3 |
                asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1 |
                asio::ssl::context::default_workarounds | asio::ssl::context::single_dh_use;
  if (t.tls13_only) no_old |= asio::ssl::context::no_tlsv1_2;
  beast::error_code ec;
  ctx.set_options(no_old, ec);
  if (!ec) ctx.use_certificate_chain(asio::buffer(t.cert_pem), ec);
  if (ec) return "TLS certificate: " + error_text(ec);
  ctx.use_private_key(asio::buffer(t.key_pem), asio::ssl::context::pem, ec);
  if (ec) return "TLS private key: " + error_text(ec);
  if (!t.client_ca_pem.empty()) {
    ctx.add_certificate_authority(asio::buffer(t.client_ca_pem), ec);
    if (ec) return "TLS client CA: " + error_text(ec);
    ctx.set_verify_mode(asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert, ec);
    if (ec) return "TLS client verification: " + error_text(ec);
  }
  ssl.emplace(std::move(ctx));
  return std::nullopt;
}

HttpServer::HttpServer(HttpServerOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}

HttpServer::~HttpServer() { stop(); }

void HttpServer::route(std::string method, std::string pattern, HttpHandler handler) {
  ServerCore::Route r;
  r.method = std::move(method);
  if (!pattern.empty() && pattern.back() == '*') {
    r.is_prefix = true;
    pattern.pop_back();
  }
  r.prefix = std::move(pattern);
  r.handler = std::move(handler);
  impl_->routes.push_back(std::move(r));
}

void HttpServer::set_fallback(HttpHandler handler) { impl_->fallback = std::move(handler); }

std::optional<std::string> HttpServer::start() {
  Impl& s = *impl_;
  const std::string& address = s.options.address;
  if (s.started) return address + ": server already started";
  auto hp = split_host_port(address);
  if (!hp) return address + ": not a valid address; write it as host:port, [v6addr]:port or :port";
  if (auto err = s.make_ssl_context()) return address + ": " + *err;

  std::vector<tcp::endpoint> candidates;
  beast::error_code ec;
  if (hp->first.empty()) {
    // All interfaces: dual-stack where the host has IPv6, IPv4 otherwise.
    candidates.emplace_back(tcp::v6(), hp->second);
    candidates.emplace_back(tcp::v4(), hp->second);
  } else {
    auto ip = asio::ip::make_address(hp->first, ec);
    if (!ec) {
      candidates.emplace_back(ip, hp->second);
    } else {
      tcp::resolver resolver(s.ioc);
      auto results = resolver.resolve(hp->first, std::to_string(hp->second), ec);
      if (ec) return address + ": cannot resolve " + hp->first + ": " + error_text(ec);
      for (const auto& r : results) candidates.push_back(r.endpoint());
      if (candidates.empty()) return address + ": cannot resolve " + hp->first;
    }
  }

  beast::error_code last;
  for (const auto& ep : candidates) {
    beast::error_code e;
    s.acceptor.open(ep.protocol(), e);
    if (!e && ep.address().is_v6() && ep.address().is_unspecified()) {
      s.acceptor.set_option(asio::ip::v6_only(false), e);
    }
    if (!e) s.acceptor.set_option(asio::socket_base::reuse_address(true), e);
    if (!e) s.acceptor.bind(ep, e);
    if (!e) s.acceptor.listen(asio::socket_base::max_listen_connections, e);
    if (!e) {
      last = {};
      break;
    }
    last = e;
    beast::error_code ignored;
    s.acceptor.close(ignored);
  }
  if (last) return address + ": " + error_text(last);

  s.bound_port = s.acceptor.local_endpoint(ec).port();
  s.started = true;
  s.work.emplace(s.ioc.get_executor());
  s.accept();
  int n = std::max(1, s.options.threads);
  s.threads.reserve(n);
  for (int i = 0; i < n; ++i) {
    s.threads.emplace_back([&s] {
      // A handler's exception is caught in dispatch(); anything reaching here is a bug in this
      // file, and keeping the thread alive is better than taking the process down.
      for (;;) {
        try {
          s.ioc.run();
          return;
        } catch (const std::exception& e) {
          spdlog::error("{}: unexpected error in the server loop: {}", s.options.name, e.what());
        }
      }
    });
  }
  return std::nullopt;
}

void HttpServer::stop() {
  Impl& s = *impl_;
  if (!s.started || s.stopped) return;
  s.stopped = true;
  std::vector<std::shared_ptr<SessionBase>> live;
  {
    std::lock_guard lock(s.mu);
    s.stopping = true;
    s.stopping_flag = true;
    for (auto& [ptr, weak] : s.sessions) {
      if (auto sp = weak.lock()) live.push_back(std::move(sp));
    }
  }
  // The acceptor belongs to its strand; close it there, and wait so no new connection slips in.
  std::promise<void> closed;
  asio::post(s.acceptor.get_executor(), [&s, &closed] {
    beast::error_code ec;
    s.acceptor.close(ec);
    closed.set_value();
  });
  closed.get_future().wait();
  for (auto& session : live) {
    asio::post(session->executor(), [session] { session->on_server_stop(); });
  }
  live.clear();
  {
    std::unique_lock lock(s.mu);
    if (!s.sessions_gone.wait_for(lock, kStopGrace, [&s] { return s.sessions.empty(); })) {
      spdlog::warn("{}: {} connection(s) still busy after {}s; closing them", s.options.name,
                   s.sessions.size(), kStopGrace.count());
    }
  }
  s.work.reset();
  s.ioc.stop();
  for (auto& t : s.threads) t.join();
  s.threads.clear();
}

uint16_t HttpServer::port() const { return impl_->bound_port.load(); }

}  // namespace hodos::net
