// The only file that includes gRPC server code: the TraceService behind the `otlp` receiver.
#include "receivers/otlp_receiver.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/dynamic_message.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <thread>
#include <unordered_map>
#include <vector>

#include "net/http_server.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.grpc.pb.h"
#include "otlp/otlp_codec.h"
#include "pipeline/obs.h"
#include "receivers/otlp_tls.h"
#include "receivers/receiver_http.h"

namespace hodos::receivers {

namespace {

// "127.0.0.1:0" → "127.0.0.1:41237": the address as bound, for the log line.
std::string with_bound_port(const std::string& endpoint, uint16_t port) {
  auto colon = endpoint.rfind(':');
  return (colon == std::string::npos ? endpoint : endpoint.substr(0, colon)) + ":" + std::to_string(port);
}

namespace pb_collector = opentelemetry::proto::collector::trace::v1;
using pipeline::Status;

// google.rpc.Code values used in error bodies.
constexpr int kInvalidArgument = 3;
constexpr int kResourceExhausted = 8;
constexpr int kUnavailable = 14;
constexpr int kUnauthenticated = 16;

// OTLP: an all-zero trace or span id is invalid, and such a span belongs to no trace. Dropped
// here (the store could never show it) and reported to the sender as a partial success.
size_t drop_spans_without_ids(core::SpanBatch& batch) {
  return std::erase_if(batch.spans(), [](const core::Span& s) {
    return !s.trace_id.valid() || !s.span_id.valid();
  });
}

std::string invalid_ids_message(size_t rejected) {
  return fmt::format("{} span(s) dropped: traceId and spanId must be present and not all zero",
                     rejected);
}

// Spans a request lost without failing: dropped here for invalid ids, or downstream (a partial
// success of the pipeline, such as the store's retention cutoff).
struct Rejected {
  size_t count = 0;
  std::string message;
  void add(size_t n, const std::string& why) {
    if (n == 0) return;
    count += n;
    message += (message.empty() ? "" : "; ") + why;
  }
};

// ExportTraceServiceResponse: empty when nothing was rejected, else its partial_success.
pb_collector::ExportTraceServiceResponse export_response(const Rejected& rejected) {
  pb_collector::ExportTraceServiceResponse response;
  if (rejected.count > 0) {
    response.mutable_partial_success()->set_rejected_spans(static_cast<int64_t>(rejected.count));
    response.mutable_partial_success()->set_error_message(rejected.message);
  }
  return response;
}

struct GrpcSettings {
  std::string endpoint = "127.0.0.1:4317";
  int64_t max_recv_msg_size_mib = 4;
  std::optional<ReceiverTls> tls;
  std::optional<std::string> bearer_token;
};

struct HttpSettings {
  HttpReceiverSettings server;
  std::string traces_url_path = "/v1/traces";
  std::optional<ReceiverTls> tls;
  std::optional<std::string> bearer_token;
};

struct Settings {
  std::optional<GrpcSettings> grpc;
  std::optional<HttpSettings> http;
};

// The Collector cleans the path and makes it absolute ("v1/traces" -> "/v1/traces").
std::string absolute_path(std::string path) {
  if (path.empty() || path.front() != '/') path.insert(path.begin(), '/');
  return path;
}

Settings read_settings(pipeline::ConfigNode& config) {
  Settings s;
  bool has_protocols = false;
  pipeline::ConfigNode protocols = config.child("protocols", &has_protocols);
  bool has_grpc = false;
  bool has_http = false;
  pipeline::ConfigNode grpc = protocols.child("grpc", &has_grpc);
  pipeline::ConfigNode http = protocols.child("http", &has_http);
  protocols.reject_unknown_keys();
  if (!has_grpc && !has_http) {
    config.fail("protocols", "enable at least one protocol, e.g. protocols: {grpc: {endpoint: "
                             "127.0.0.1:4317}, http: {endpoint: 127.0.0.1:4318}}");
  }
  if (has_grpc) {
    GrpcSettings g;
    g.endpoint = grpc.get_string("endpoint", g.endpoint);
    validate_endpoint(grpc, "endpoint", g.endpoint);
    g.max_recv_msg_size_mib = grpc.get_int("max_recv_msg_size_mib", g.max_recv_msg_size_mib, 1,
                                           2047);  // gRPC's limit is an int of bytes
    g.tls = read_receiver_tls(grpc);
    if (g.tls && g.tls->tls13_only) {
      // This gRPC's server credentials cannot raise the minimum; it always refuses below 1.2.
      grpc.child("tls").fail("min_version", "\"1.3\" is not supported on grpc (it always "
                                            "requires TLS 1.2 or newer); use \"1.2\" or omit it");
    }
    g.bearer_token = read_bearer_token(grpc);
    grpc.reject_unknown_keys();
    s.grpc = std::move(g);
  }
  if (has_http) {
    HttpSettings h;
    h.server = read_http_settings(http, "127.0.0.1:4318");
    h.traces_url_path = absolute_path(http.get_string("traces_url_path", h.traces_url_path));
    // Accepted so that Collector configs load unchanged; Hodos receives traces only.
    http.get_string("logs_url_path", "");
    http.get_string("metrics_url_path", "");
    h.tls = read_receiver_tls(http);
    h.bearer_token = read_bearer_token(http);
    http.reject_unknown_keys();
    s.http = std::move(h);
  }
  config.reject_unknown_keys();
  return s;
}

// google.rpc.Status is not among protobuf's bundled types; describe it at run time (fields 1
// and 2 of googleapis' status.proto) and let protobuf do the encoding.
const google::protobuf::Message& rpc_status_prototype() {
  static const google::protobuf::Message* prototype = [] {
    namespace gp = google::protobuf;
    static gp::DescriptorPool pool;
    gp::FileDescriptorProto file;
    file.set_name("hodos/google_rpc_status.proto");
    file.set_package("google.rpc");
    file.set_syntax("proto3");
    gp::DescriptorProto* msg = file.add_message_type();
    msg->set_name("Status");
    gp::FieldDescriptorProto* code = msg->add_field();
    code->set_name("code");
    code->set_number(1);
    code->set_type(gp::FieldDescriptorProto::TYPE_INT32);
    code->set_label(gp::FieldDescriptorProto::LABEL_OPTIONAL);
    gp::FieldDescriptorProto* message = msg->add_field();
    message->set_name("message");
    message->set_number(2);
    message->set_type(gp::FieldDescriptorProto::TYPE_STRING);
    message->set_label(gp::FieldDescriptorProto::LABEL_OPTIONAL);
    const gp::FileDescriptor* fd = pool.BuildFile(file);
    static gp::DynamicMessageFactory factory(&pool);
    return factory.GetPrototype(fd->FindMessageTypeByName("Status"));
  }();
  return *prototype;
}

std::string rpc_status_proto(int code, const std::string& message) {
  std::unique_ptr<google::protobuf::Message> m(rpc_status_prototype().New());
  const auto* d = m->GetDescriptor();
  const auto* r = m->GetReflection();
  r->SetInt32(m.get(), d->FindFieldByNumber(1), code);
  r->SetString(m.get(), d->FindFieldByNumber(2), message);
  return m->SerializeAsString();
}

std::chrono::system_clock::time_point to_system(pipeline::Deadline deadline) {
  auto left = deadline - std::chrono::steady_clock::now();
  return std::chrono::system_clock::now() +
         std::chrono::duration_cast<std::chrono::system_clock::duration>(
             std::max(left, std::chrono::steady_clock::duration::zero()));
}

// gRPC wants "[::]:4317" for all interfaces and brackets around IPv6 literals.
std::string grpc_address(const std::string& endpoint) {
  auto hp = net::split_host_port(endpoint);
  if (!hp || hp->first.empty()) return fmt::format("[::]:{}", hp ? hp->second : 0);
  if (hp->first.find(':') != std::string::npos) return fmt::format("[{}]:{}", hp->first, hp->second);
  return endpoint;
}

// Export with the request as raw bytes, so that malformed protobuf reaches our decoder (and
// becomes INVALID_ARGUMENT with its message) instead of gRPC's generic INTERNAL, and so that
// otlp::decode_proto reads the bytes straight into the span model. Served with the async API
// on our own completion-queue threads, which may block in the pipeline without stalling gRPC's
// pollers.
using RawTraceService =
    pb_collector::TraceService::WithRawMethod_Export<pb_collector::TraceService::Service>;

// One Export call: requested, then handled and finished on the same completion-queue thread.
struct GrpcCall {
  grpc::ServerContext context;
  grpc::ByteBuffer request;
  grpc::ByteBuffer response;
  grpc::ServerAsyncResponseWriter<grpc::ByteBuffer> responder{&context};
  bool finishing = false;
  Rejected rejected;  // spans dropped (partial success)
};

class OtlpReceiverImpl final : public OtlpReceiver {
 public:
  OtlpReceiverImpl(const pipeline::CreateContext& ctx, Settings settings,
                   pipeline::TracesConsumer& next)
      : name_("receivers." + ctx.id.str()),
        settings_(std::move(settings)),
        next_(next),
        logger_(ctx.logger ? ctx.logger : spdlog::default_logger()),
        grpc_obs_(ctx.metrics, ctx.id, "grpc"),
        http_obs_(ctx.metrics, ctx.id, "http") {}

  ~OtlpReceiverImpl() override { shutdown(std::chrono::steady_clock::now()); }

  Status start() override {
    if (settings_.grpc) {
      if (auto err = start_grpc()) return Status::permanent(name_ + ": " + *err);
    }
    if (settings_.http) {
      if (auto err = start_http()) {
        shutdown(std::chrono::steady_clock::now());
        return Status::permanent(name_ + ": " + *err);
      }
    }
    return Status::ok();
  }

  void shutdown(pipeline::Deadline deadline) override {
    // gRPC first: its Shutdown lets in-flight calls finish until the deadline, then cancels.
    if (grpc_server_) {
      grpc_server_->Shutdown(to_system(deadline));
      // Only after the server: the queues drain the cancelled requests, then the threads end.
      for (auto& cq : grpc_queues_) cq->Shutdown();
      for (auto& t : grpc_threads_) t.join();
      grpc_threads_.clear();
      grpc_server_.reset();
      grpc_queues_.clear();
    }
    if (http_server_) {
      http_server_->stop();
      http_server_.reset();
    }
  }

  uint16_t grpc_port() const override { return grpc_port_; }
  uint16_t http_port() const override { return http_server_ ? http_server_->port() : 0; }

 private:
  grpc::Status export_grpc(GrpcCall& call) {
    if (const auto& token = settings_.grpc->bearer_token) {
      const auto& metadata = call.context.client_metadata();
      auto it = metadata.find("authorization");
      std::string_view given;
      if (it != metadata.end()) given = {it->second.data(), it->second.size()};
      if (!bearer_token_matches(given, *token)) {
        std::string why = it == metadata.end() ? "no authorization metadata"
                                               : "wrong bearer token in authorization metadata";
        grpc_obs_.bad_request();
        log_bad_request(*logger_, log_limiter_,
                        fmt::format("{}: refused an OTLP/gRPC request from {}: {}", name_,
                                    call.context.peer(), why));
        return {grpc::StatusCode::UNAUTHENTICATED,
                why + "; send authorization: Bearer <the receiver's auth.bearer_token>"};
      }
    }
    // Usually one slice, read in place; several only for large or decompressed messages.
    grpc::Slice single;
    std::string joined;
    std::string_view bytes;
    if (call.request.TrySingleSlice(&single).ok()) {
      bytes = {reinterpret_cast<const char*>(single.begin()), single.size()};
    } else {
      std::vector<grpc::Slice> slices;
      if (!call.request.Dump(&slices).ok()) {
        return {grpc::StatusCode::INTERNAL, "could not read the request message"};
      }
      joined.reserve(call.request.Length());
      for (const auto& slice : slices) {
        joined.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
      }
      bytes = joined;
    }
    core::SpanBatch batch;
    if (auto err = otlp::decode_proto(bytes, batch)) {
      grpc_obs_.bad_request();
      log_bad_request(*logger_, log_limiter_,
                      fmt::format("{}: refused an OTLP/gRPC request from {}: {}", name_,
                                  call.context.peer(), *err));
      return {grpc::StatusCode::INVALID_ARGUMENT, *err};
    }
    const size_t invalid = reject_invalid_ids(batch, grpc_obs_, call.context.peer());
    call.rejected.add(invalid, invalid_ids_message(invalid));
    Status st = deliver(std::move(batch), grpc_obs_);
    call.rejected.add(st.rejected(), st.message());
    if (st.is_ok()) return grpc::Status::OK;
    if (st.is_retryable()) return {grpc::StatusCode::UNAVAILABLE, st.message()};
    return {grpc::StatusCode::INVALID_ARGUMENT, st.message()};
  }

  // Keeps one Export requested on `cq` and handles each call that arrives, in this thread.
  void serve_grpc(grpc::ServerCompletionQueue& cq) {
    std::unordered_map<GrpcCall*, std::unique_ptr<GrpcCall>> calls;
    auto request_next = [&] {
      auto call = std::make_unique<GrpcCall>();
      GrpcCall* tag = call.get();
      calls.emplace(tag, std::move(call));
      service_->RequestExport(&tag->context, &tag->request, &tag->responder, &cq, &cq, tag);
    };
    request_next();
    void* tag = nullptr;
    bool ok = false;
    while (cq.Next(&tag, &ok)) {
      auto* call = static_cast<GrpcCall*>(tag);
      if (call->finishing || !ok) {  // finished, or a request cancelled by shutdown
        calls.erase(call);
        continue;
      }
      request_next();
      call->finishing = true;
      grpc::Status st;
      try {
        st = export_grpc(*call);
      } catch (const std::exception& e) {
        logger_->error("{}: OTLP/gRPC export failed: {}", name_, e.what());
        st = grpc::Status(grpc::StatusCode::INTERNAL, e.what());
      }
      if (st.ok()) {
        // Without partial_success the response message has no bytes.
        grpc::Slice bytes(export_response(call->rejected).SerializeAsString());
        call->response = grpc::ByteBuffer(&bytes, 1);
        call->responder.Finish(call->response, st, call);
      } else {
        call->responder.FinishWithError(st, call);
      }
    }
  }

  // Drops the spans with invalid ids, counted as refused and logged; returns how many.
  size_t reject_invalid_ids(core::SpanBatch& batch, pipeline::ReceiverObs& obs,
                            const std::string& peer) {
    const size_t rejected = drop_spans_without_ids(batch);
    if (rejected == 0) return 0;
    obs.refused(rejected);
    log_bad_request(*logger_, log_limiter_,
                    fmt::format("{}: from {}: {}", name_, peer, invalid_ids_message(rejected)));
    return rejected;
  }

  Status deliver(core::SpanBatch batch, pipeline::ReceiverObs& obs) {
    size_t n = batch.size();
    if (n == 0) return Status::ok();
    Status st = next_.consume(std::move(batch));
    if (st.is_ok()) {
      obs.accepted(n - std::min(n, st.rejected()));
      if (st.rejected() > 0) {
        obs.refused(std::min(n, st.rejected()));
        log_bad_request(*logger_, log_limiter_, fmt::format("{}: {}", name_, st.message()));
      }
    } else {
      obs.refused(n);
    }
    return st;
  }

  // gRPC logs a multi-line error and returns no reason when it cannot bind; binding the same
  // address ourselves first gives the one-line reason ("address already in use") instead.
  static std::optional<std::string> bind_problem(const std::string& endpoint) {
    net::HttpServerOptions probe_options;
    probe_options.address = endpoint;
    probe_options.threads = 1;
    net::HttpServer probe(probe_options);
    return probe.start();
  }

  static std::shared_ptr<grpc::ServerCredentials> grpc_credentials(const GrpcSettings& g) {
    if (!g.tls) return grpc::InsecureServerCredentials();
    grpc::SslServerCredentialsOptions options(
        g.tls->client_ca_pem.empty() ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                                     : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    options.pem_root_certs = g.tls->client_ca_pem;
    options.pem_key_cert_pairs.push_back({g.tls->key_pem, g.tls->cert_pem});
    return grpc::SslServerCredentials(options);
  }

  std::optional<std::string> start_grpc() {
    const GrpcSettings& g = *settings_.grpc;
    if (auto why = bind_problem(g.endpoint)) return *why;
    service_ = std::make_unique<RawTraceService>();
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort(grpc_address(g.endpoint), grpc_credentials(g), &port);
    builder.SetMaxReceiveMessageSize(static_cast<int>(g.max_recv_msg_size_mib << 20));
    // gRPC sets SO_REUSEPORT by default, which lets a second collector silently share the port.
    builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
    builder.RegisterService(service_.get());
    size_t threads = std::max(4u, std::thread::hardware_concurrency());
    for (size_t i = 0; i < threads; ++i) grpc_queues_.push_back(builder.AddCompletionQueue());
    grpc_server_ = builder.BuildAndStart();
    if (!grpc_server_ || port == 0) {
      grpc_server_.reset();
      grpc_queues_.clear();  // never served: destroying them is enough
      if (auto why = bind_problem(g.endpoint)) return *why;
      return g.endpoint + ": gRPC could not listen there (see its log line above)";
    }
    grpc_port_ = static_cast<uint16_t>(port);
    for (auto& cq : grpc_queues_) {
      grpc_threads_.emplace_back([this, q = cq.get()] { serve_grpc(*q); });
    }
    logger_->info("{}: OTLP/gRPC on {}{}{}", name_, with_bound_port(g.endpoint, grpc_port_),
                  tls_note(g.tls), g.bearer_token ? ", bearer token required" : "");
    return std::nullopt;
  }

  std::optional<std::string> start_http() {
    const HttpSettings& h = *settings_.http;
    net::HttpServerOptions options;
    options.address = h.server.endpoint;
    options.max_body_bytes = h.server.max_request_body_size;
    options.threads = static_cast<int>(std::max(2u, std::thread::hardware_concurrency()));
    options.name = name_;
    if (h.tls) {
      options.tls = net::HttpServerTls{h.tls->cert_pem, h.tls->key_pem, h.tls->client_ca_pem,
                                       h.tls->tls13_only};
    }
    options.on_refused = [this](int status, const std::string& remote) {
      http_obs_.bad_request();
      log_bad_request(*logger_, log_limiter_,
                      fmt::format("{}: refused an OTLP/HTTP request from {} ({})", name_, remote,
                                  status == 413 ? "body over max_request_body_size"
                                                : "malformed HTTP"));
    };
    http_server_ = std::make_unique<net::HttpServer>(options);
    http_server_->route("POST", h.traces_url_path,
                        [this](net::HttpRequest& req) { return export_http(req); });
    add_cors_preflight(*http_server_, h.traces_url_path, h.server.cors);
    if (auto err = http_server_->start()) {
      http_server_.reset();
      return err;
    }
    logger_->info("{}: OTLP/HTTP on {}{}{}{}", name_,
                  with_bound_port(h.server.endpoint, http_server_->port()), h.traces_url_path,
                  tls_note(h.tls), h.bearer_token ? ", bearer token required" : "");
    return std::nullopt;
  }

  net::HttpResponse export_http(net::HttpRequest& req) {
    net::HttpResponse res = handle_http(req);
    add_cors_headers(req, settings_.http->server.cors, res);
    return res;
  }

  static std::string tls_note(const std::optional<ReceiverTls>& tls) {
    if (!tls) return "";
    return tls->client_ca_pem.empty() ? " (TLS)" : " (TLS, client certificates required)";
  }

  net::HttpResponse handle_http(net::HttpRequest& req) {
    if (const auto& token = settings_.http->bearer_token) {
      const std::string* given = req.header("authorization");
      if (!bearer_token_matches(given ? *given : std::string_view{}, *token)) {
        net::HttpResponse res = refuse(
            req, media_type(req) == "application/json", 401, kUnauthenticated,
            fmt::format("{}; send Authorization: Bearer <the receiver's auth.bearer_token>",
                        given ? "wrong bearer token in Authorization" : "no Authorization header"));
        res.headers.emplace_back("WWW-Authenticate", "Bearer");
        return res;
      }
    }
    std::string type = media_type(req);
    bool json = type == "application/json";
    if (!json && type != "application/x-protobuf" && type != "application/protobuf") {
      return refuse(req, false, 415, kInvalidArgument,
                    fmt::format("unsupported Content-Type '{}'; send application/x-protobuf or "
                                "application/json",
                                req.header("content-type") ? *req.header("content-type") : ""),
                    /*encoded=*/false);
    }
    if (auto err = decode_content_encoding(req, settings_.http->server.max_request_body_size)) {
      net::HttpResponse res =
          refuse(req, json, err->http_status,
                 err->http_status == 413 ? kResourceExhausted : kInvalidArgument, err->message);
      if (err->http_status == 415) res.headers.emplace_back("Accept-Encoding", kAcceptEncoding);
      return res;
    }
    core::SpanBatch batch;
    auto err = json ? otlp::decode_json(req.body, batch) : otlp::decode_proto(req.body, batch);
    if (err) return refuse(req, json, 400, kInvalidArgument, *err);

    Rejected rejected;
    const size_t invalid = reject_invalid_ids(batch, http_obs_, req.remote_address);
    rejected.add(invalid, invalid_ids_message(invalid));
    Status st = deliver(std::move(batch), http_obs_);
    if (st.is_ok()) {
      rejected.add(st.rejected(), st.message());
      if (json) {
        if (rejected.count == 0) return net::HttpResponse::json(200, "{}");
        // OTLP/JSON: 64-bit integers as strings.
        nlohmann::json body = {{"partialSuccess",
                                {{"rejectedSpans", std::to_string(rejected.count)},
                                 {"errorMessage", rejected.message}}}};
        return net::HttpResponse::json(200, body.dump());
      }
      net::HttpResponse res;
      res.content_type = "application/x-protobuf";
      res.body = export_response(rejected).SerializeAsString();
      return res;
    }
    if (st.is_retryable()) {
      net::HttpResponse res = error_response(json, 503, kUnavailable, st.message());
      res.headers.emplace_back("Retry-After", std::to_string(retry_after_seconds(st)));
      return res;
    }
    return error_response(json, 400, kInvalidArgument, st.message());
  }

  net::HttpResponse refuse(const net::HttpRequest& req, bool json, int http_status, int rpc_code,
                           const std::string& message, bool encoded = true) {
    http_obs_.bad_request();
    log_bad_request(*logger_, log_limiter_,
                    fmt::format("{}: refused an OTLP/HTTP request from {} ({}): {}", name_,
                                req.remote_address, http_status, message));
    if (!encoded) return net::HttpResponse::text(http_status, message + "\n");
    return error_response(json, http_status, rpc_code, message);
  }

  // OTLP/HTTP error bodies are a google.rpc.Status in the request's encoding.
  static net::HttpResponse error_response(bool json, int http_status, int rpc_code,
                                          const std::string& message) {
    if (json) {
      nlohmann::json body = {{"code", rpc_code}, {"message", message}};
      return net::HttpResponse::json(http_status, body.dump(-1, ' ', false,
                                                            nlohmann::json::error_handler_t::replace));
    }
    net::HttpResponse res;
    res.status = http_status;
    res.content_type = "application/x-protobuf";
    res.body = rpc_status_proto(rpc_code, message);
    return res;
  }

  std::string name_;
  Settings settings_;
  pipeline::TracesConsumer& next_;
  std::shared_ptr<spdlog::logger> logger_;
  pipeline::ReceiverObs grpc_obs_;
  pipeline::ReceiverObs http_obs_;
  LogLimiter log_limiter_;
  std::unique_ptr<RawTraceService> service_;
  std::vector<std::unique_ptr<grpc::ServerCompletionQueue>> grpc_queues_;
  std::unique_ptr<grpc::Server> grpc_server_;
  std::vector<std::thread> grpc_threads_;
  uint16_t grpc_port_ = 0;
  std::unique_ptr<net::HttpServer> http_server_;
};

class OtlpReceiverFactory final : public pipeline::ReceiverFactory {
 public:
  std::string_view type() const override { return "otlp"; }
  std::unique_ptr<pipeline::Receiver> create(const pipeline::CreateContext& ctx,
                                             pipeline::ConfigNode& config,
                                             pipeline::TracesConsumer& next) const override {
    return std::make_unique<OtlpReceiverImpl>(ctx, read_settings(config), next);
  }
};

}  // namespace

std::unique_ptr<pipeline::ReceiverFactory> make_otlp_receiver_factory() {
  return std::make_unique<OtlpReceiverFactory>();
}

}  // namespace hodos::receivers
