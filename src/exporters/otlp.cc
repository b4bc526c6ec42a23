#include "exporters/otlp.h"

#include <fmt/format.h>
#include <google/protobuf/any.pb.h>
#include <google/protobuf/duration.pb.h>
#include <google/protobuf/unknown_field_set.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/security/tls_certificate_verifier.h>
#include <grpcpp/security/tls_credentials_options.h>

#include <algorithm>
#include <cctype>
#include <condition_variable>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>

#include "exporters/http_common.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "otlp/otlp_codec.h"
#include "pipeline/exporter_helper.h"
#include "protocols/grpc/call.h"

namespace hodos::exporters {

namespace {

using opentelemetry::proto::collector::trace::v1::ExportTraceServiceResponse;
using pipeline::Status;

constexpr const char* kExportMethod = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

struct OtlpGrpcSettings {
  std::string target;  // host:port for gRPC
  bool use_tls = true;
  bool insecure_skip_verify = false;
  std::string ca_file, cert_file, key_file;
  std::vector<std::pair<std::string, std::string>> metadata;
  bool gzip = true;
};

OtlpGrpcSettings read_settings(pipeline::ConfigNode& config) {
  OtlpGrpcSettings s;
  std::string endpoint = config.require_string("endpoint");
  net::TlsSettings tls = read_tls_settings(config);
  bool insecure = tls.insecure;
  s.insecure_skip_verify = tls.insecure_skip_verify;
  s.ca_file = std::move(tls.ca_file);
  s.cert_file = std::move(tls.cert_file);
  s.key_file = std::move(tls.key_file);

  // As in the Collector: an http:// scheme means plaintext, https:// means TLS, and a bare
  // host:port uses TLS unless tls.insecure is set.
  s.use_tls = !insecure;
  std::string rest = endpoint;
  if (rest.rfind("http://", 0) == 0) {
    s.use_tls = false;
    rest = rest.substr(7);
  } else if (rest.rfind("https://", 0) == 0) {
    s.use_tls = true;
    rest = rest.substr(8);
  } else if (rest.find("://") != std::string::npos) {
    config.fail("endpoint", fmt::format("'{}': use host:port, http://host:port or "
                                        "https://host:port",
                                        endpoint));
  }
  while (rest.ends_with('/')) rest.pop_back();
  size_t colon = rest.rfind(':');
  if (rest.empty() || colon == std::string::npos || colon + 1 == rest.size() ||
      rest.find('/') != std::string::npos) {
    config.fail("endpoint", fmt::format("'{}' is not host:port; e.g. collector:4317", endpoint));
  }
  s.target = rest;

  std::string compression = config.get_string("compression", "gzip");
  if (compression == "none" || compression.empty()) {
    s.gzip = false;
  } else if (compression != "gzip") {
    config.fail("compression", fmt::format("'{}' is not supported; use gzip or none", compression));
  }
  for (auto& [k, v] : config.get_string_map("headers")) {
    // gRPC metadata keys must be lowercase.
    std::string key = k;
    std::transform(key.begin(), key.end(), key.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    s.metadata.emplace_back(std::move(key), v);
  }
  return s;
}

std::optional<std::string> read_file(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fmt::format("cannot read {}", path);
  std::stringstream buf;
  buf << in.rdbuf();
  *out = buf.str();
  return std::nullopt;
}

// The retry delay of a google.rpc.RetryInfo in the status details, as the Collector honours it.
// google.rpc.Status is not among our compiled protos, so its few fields are read generically.
std::chrono::milliseconds retry_delay(const grpc::Status& status) {
  const std::string& details = status.error_details();
  if (details.empty()) return std::chrono::milliseconds{0};
  google::protobuf::UnknownFieldSet fields;
  if (!fields.ParseFromString(details)) return std::chrono::milliseconds{0};
  for (int i = 0; i < fields.field_count(); ++i) {
    const auto& f = fields.field(i);
    if (f.number() != 3 || f.type() != google::protobuf::UnknownField::TYPE_LENGTH_DELIMITED) {
      continue;  // google.rpc.Status.details = 3
    }
    google::protobuf::Any any;
    if (!any.ParseFromString(f.length_delimited())) continue;
    if (!any.type_url().ends_with("google.rpc.RetryInfo")) continue;
    google::protobuf::UnknownFieldSet info;
    if (!info.ParseFromString(any.value())) continue;
    for (int j = 0; j < info.field_count(); ++j) {
      const auto& d = info.field(j);
      if (d.number() != 1 || d.type() != google::protobuf::UnknownField::TYPE_LENGTH_DELIMITED) {
        continue;  // RetryInfo.retry_delay = 1
      }
      google::protobuf::Duration delay;
      if (!delay.ParseFromString(d.length_delimited())) continue;
      return std::chrono::milliseconds(delay.seconds() * 1000 + delay.nanos() / 1'000'000);
    }
  }
  return std::chrono::milliseconds{0};
}

// The Collector's retry policy for gRPC status codes (exporter/otlpexporter shouldRetry);
// RESOURCE_EXHAUSTED is retried too (memory limiters answer with it).
bool retryable(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::CANCELLED:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::ABORTED:
    case grpc::StatusCode::OUT_OF_RANGE:
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DATA_LOSS:
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return true;
    default:
      return false;
  }
}

std::string_view code_name(grpc::StatusCode code) {
  const std::string_view name = protocols::grpc::status_name(static_cast<int32_t>(code));
  return name.empty() ? "UNKNOWN" : name;
}

// A ByteBuffer that takes over `bytes` instead of copying them.
grpc::ByteBuffer byte_buffer_of(std::string bytes) {
  auto owned = std::make_unique<std::string>(std::move(bytes));
  void* data = owned->data();
  size_t size = owned->size();
  grpc::Slice slice(data, size, [](void* p) { delete static_cast<std::string*>(p); },
                    owned.release());
  return grpc::ByteBuffer(&slice, 1);
}

class OtlpGrpcSender : public pipeline::BatchSender {
 public:
  OtlpGrpcSender(OtlpGrpcSettings settings, std::shared_ptr<spdlog::logger> logger, std::string id)
      : s_(std::move(settings)), logger_(std::move(logger)), id_(std::move(id)) {}

  Status start() override {
    std::shared_ptr<grpc::ChannelCredentials> creds;
    if (!s_.use_tls) {
      creds = grpc::InsecureChannelCredentials();
    } else {
      std::string ca, cert, key;
      for (auto [path, out] : {std::pair{&s_.ca_file, &ca}, std::pair{&s_.cert_file, &cert},
                               std::pair{&s_.key_file, &key}}) {
        if (path->empty()) continue;
        if (auto err = read_file(*path, out)) {
          return Status::permanent(fmt::format("exporter {}: tls: {}", id_, *err));
        }
      }
      if (s_.insecure_skip_verify) {
        // Accept any server certificate (tests, self-signed labs): gRPC's TLS options API.
        std::vector<grpc::experimental::IdentityKeyCertPair> pairs;
        if (!cert.empty()) pairs.push_back({key, cert});
        grpc::experimental::TlsChannelCredentialsOptions options;
        if (!ca.empty() || !pairs.empty()) {
          options.set_certificate_provider(
              std::make_shared<grpc::experimental::StaticDataCertificateProvider>(ca, pairs));
          if (!ca.empty()) options.watch_root_certs();
          if (!pairs.empty()) options.watch_identity_key_cert_pairs();
        }
        options.set_verify_server_certs(false);
        options.set_check_call_host(false);
        options.set_certificate_verifier(
            std::make_shared<grpc::experimental::NoOpCertificateVerifier>());
        creds = grpc::experimental::TlsCredentials(options);
      } else {
        grpc::SslCredentialsOptions options;
        options.pem_root_certs = ca;  // empty: the system's roots
        options.pem_private_key = key;
        options.pem_cert_chain = cert;
        creds = grpc::SslCredentials(options);
      }
      if (!creds) return Status::permanent(fmt::format("exporter {}: cannot set up TLS", id_));
    }
    grpc::ChannelArguments args;
    args.SetUserAgentPrefix("hodos");
    args.SetMaxReceiveMessageSize(-1);
    // The helper retries with its own policy and metrics; gRPC's transparent retries would hide
    // failures from it.
    args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
    // gRPC's own reconnect backoff grows to 120 s by default, so a destination that comes back
    // would sit unused long after the helper's retry asks again; cap it near the retry interval.
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 250);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 250);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
    channel_ = grpc::CreateCustomChannel(s_.target, creds, args);
    stub_ = std::make_unique<grpc::GenericStub>(channel_);
    return Status::ok();
  }

  Status send(const core::SpanBatch& batch, pipeline::Deadline deadline) override {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + pipeline::time_left(deadline));
    for (const auto& [k, v] : s_.metadata) context.AddMetadata(k, v);
    if (s_.gzip) context.set_compression_algorithm(GRPC_COMPRESS_GZIP);

    // The request is encoded straight from the batch (otlp::encode_proto) and sent as bytes,
    // which skips building the generated message tree.
    grpc::ByteBuffer request = byte_buffer_of(otlp::encode_proto(batch));
    grpc::ByteBuffer response;
    grpc::Status st = export_call(context, request, response);
    if (st.ok()) {
      ExportTraceServiceResponse reply;
      // A reply that does not parse still means the spans were accepted.
      if (grpc::SerializationTraits<ExportTraceServiceResponse>::Deserialize(&response, &reply)
              .ok() &&
          reply.has_partial_success() &&
          (reply.partial_success().rejected_spans() > 0 ||
           !reply.partial_success().error_message().empty())) {
        logger_->warn("exporter {}: destination rejected {} spans: {}", id_,
                      reply.partial_success().rejected_spans(),
                      reply.partial_success().error_message());
      }
      return Status::ok();
    }
    std::string message =
        fmt::format("{}: {}: {}", s_.target, code_name(st.error_code()), st.error_message());
    if (retryable(st.error_code())) return Status::retryable(std::move(message), retry_delay(st));
    return Status::permanent(std::move(message));
  }

  void shutdown() override {
    stub_.reset();
    channel_.reset();
  }

 private:
  // One unary Export, waited for. The completion state is shared with the callback so that it
  // outlives the callback's last touch of it.
  grpc::Status export_call(grpc::ClientContext& context, const grpc::ByteBuffer& request,
                           grpc::ByteBuffer& response) {
    struct Completion {
      std::mutex mu;
      std::condition_variable cv;
      bool done = false;
      grpc::Status status;
    };
    auto completion = std::make_shared<Completion>();
    stub_->UnaryCall(&context, kExportMethod, grpc::StubOptions(), &request, &response,
                     [completion](grpc::Status status) {
                       std::lock_guard lock(completion->mu);
                       completion->status = std::move(status);
                       completion->done = true;
                       completion->cv.notify_one();
                     });
    std::unique_lock lock(completion->mu);
    completion->cv.wait(lock, [&] { return completion->done; });
    return std::move(completion->status);
  }

  OtlpGrpcSettings s_;
  std::shared_ptr<spdlog::logger> logger_;
  std::string id_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<grpc::GenericStub> stub_;
};


}  // namespace

std::unique_ptr<pipeline::ExporterFactory> make_otlp_exporter_factory() {
  pipeline::ExporterHelperSettings defaults;
  defaults.timeout = std::chrono::seconds(5);
  return pipeline::make_sender_exporter_factory(
      "otlp", defaults, [](const pipeline::CreateContext& ctx, pipeline::ConfigNode& config) {
        return std::make_unique<OtlpGrpcSender>(read_settings(config), ctx.logger, ctx.id.str());
      });
}

}  // namespace hodos::exporters
