#include "agent/go_plan.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <map>
#include <utility>

namespace hodos::agent {

namespace {

constexpr const char* kNewproc1 = "runtime.newproc1";
constexpr const char* kRoundTrip = "net/http.(*persistConn).roundTrip";
constexpr const char* kRequestWrite = "net/http.(*Request).write";
constexpr const char* kGoid = "runtime.g.goid";
constexpr const char* kStack = "runtime.g.stack";

// The net.Conn under a connection, down to its socket's fd (also in the table).
constexpr const char* kTcpConnConn = "net.TCPConn.conn";
constexpr const char* kConnFd = "net.conn.fd";
constexpr const char* kNetFdPfd = "net.netFD.pfd";
constexpr const char* kFdSysfd = "internal/poll.FD.Sysfd";

// crypto/tls (bpf/go_tls.bpf.h).
constexpr const char* kTlsRead = "crypto/tls.(*Conn).Read";
constexpr const char* kTlsWrite = "crypto/tls.(*Conn).Write";
constexpr const char* kTlsConn = "crypto/tls.Conn.conn";

// grpc-go's transport (bpf/go_http2.bpf.h).
constexpr const char* kGrpc = "google.golang.org/grpc/internal/transport.";
constexpr const char* kOperateHeaders =
    "google.golang.org/grpc/internal/transport.(*http2Server).operateHeaders";
constexpr const char* kHandleStream = "google.golang.org/grpc.(*Server).handleStream";
constexpr const char* kNewStream =
    "google.golang.org/grpc/internal/transport.(*http2Client).NewStream";
// ... and the writer pair: a call's stream made on the caller's goroutine, taken up by the
// connection's writer goroutine before its HEADERS are written.
constexpr const char* kMakeStream =
    "google.golang.org/grpc/internal/transport.(*http2Client).newStream";
constexpr const char* kOriginateStream =
    "google.golang.org/grpc/internal/transport.(*loopyWriter).originateStream";

// net/http's HTTP/2 server (its bundled copy of golang.org/x/net/http2).
constexpr const char* kProcessHeaders = "net/http.(*http2serverConn).processHeaders";
constexpr const char* kRunHandler = "net/http.(*http2serverConn).runHandler";
// ... and client (no uprobe: its presence says the HEADERS its goroutines write name their calls).
constexpr const char* kClientWriteHeaders = "net/http.(*http2ClientConn).writeHeaders";

// The types an HTTP/2 server's headers probe reads, in one copy of golang.org/x/net/http2.
struct Http2Types {
  std::string receiver_conn;  // "pkg.Type.conn" of the receiver
  std::string meta_headers;   // "pkg.MetaHeadersFrame"
  std::string embedded_headers;  // its embedded *HeadersFrame's member name
  std::string headers;           // "pkg.HeadersFrame"
  std::string embedded_frame_header;
  std::string frame_header;  // "pkg.FrameHeader"
  std::string header_field;  // "hpack.HeaderField"
  std::vector<std::string> fields() const {
    return {receiver_conn,
            meta_headers + "." + embedded_headers,
            meta_headers + ".Fields",
            headers + "." + embedded_frame_header,
            frame_header + ".StreamID",
            header_field + ".Name",
            header_field + ".Value",
            header_field + ".Sensitive"};
  }
};

const Http2Types& grpc_types() {
  static const Http2Types types{std::string(kGrpc) + "http2Server.conn",
                                "golang.org/x/net/http2.MetaHeadersFrame",
                                "HeadersFrame",
                                "golang.org/x/net/http2.HeadersFrame",
                                "FrameHeader",
                                "golang.org/x/net/http2.FrameHeader",
                                "golang.org/x/net/http2/hpack.HeaderField"};
  return types;
}

const Http2Types& net_http_types() {
  static const Http2Types types{"net/http.http2serverConn.conn",
                                "net/http.http2MetaHeadersFrame",
                                "http2HeadersFrame",
                                "net/http.http2HeadersFrame",
                                "http2FrameHeader",
                                "net/http.http2FrameHeader",
                                "vendor/golang.org/x/net/http2/hpack.HeaderField"};
  return types;
}

const std::vector<std::string>& grpc_client_fields() {
  static const std::vector<std::string> fields = {std::string(kGrpc) + "http2Client.conn",
                                                  std::string(kGrpc) + "Stream.id",
                                                  std::string(kGrpc) + "Stream.ct"};
  return fields;
}

const std::vector<std::string>& grpc_writer_fields() {
  static const std::vector<std::string> fields = {std::string(kGrpc) + "Stream.wq",
                                                  std::string(kGrpc) + "outStream.id",
                                                  std::string(kGrpc) + "outStream.wq"};
  return fields;
}

const std::vector<std::string>& net_conn_fields() {
  static const std::vector<std::string> fields = {kTcpConnConn, kConnFd, kNetFdPfd, kFdSysfd};
  return fields;
}

// The offsets of `fields`, or nullopt when one is missing (or, with `dwarf_only`, came from the
// table).
std::optional<std::vector<uint32_t>> offsets_of(const GoBinary& b,
                                                const std::vector<std::string>& fields,
                                                bool dwarf_only) {
  std::vector<uint32_t> out;
  for (const std::string& field : fields) {
    auto it = b.offsets.find(field);
    if (it == b.offsets.end()) return std::nullopt;
    if (dwarf_only) {
      auto source = b.offset_sources.find(field);
      if (source == b.offset_sources.end() || source->second != "dwarf") return std::nullopt;
    }
    out.push_back(static_cast<uint32_t>(it->second));
  }
  return out;
}

bool has_returns(const GoBinary& b, const char* function) {
  auto it = b.functions.find(function);
  return it != b.functions.end() && !it->second.return_offsets.empty();
}

// Whether `function`'s second parameter (after the receiver) is `name`: where the headers probes
// read their frame (the second argument register). grpc-go 1.60 put a context first, for one.
bool frame_is_first_argument(const GoBinary& b, const char* function, const char* name) {
  auto it = b.functions.find(function);
  return it != b.functions.end() && it->second.parameters.size() >= 2 &&
         it->second.parameters[1] == name;
}

// Fills `go.tcp_conn_fd` and `go.net_fd_sysfd`; false when the fields are not known.
bool plan_net_conn(const GoBinary& b, hodos_go_process& go, bool dwarf_only) {
  auto at = offsets_of(b, net_conn_fields(), dwarf_only);
  if (!at) return false;
  go.tcp_conn_fd = (*at)[0] + (*at)[1];
  go.net_fd_sysfd = (*at)[2] + (*at)[3];
  return true;
}

// An HTTP/2 server's headers probe: the offsets of `types`; false when they are not in DWARF.
bool plan_h2_server(const GoBinary& b, const Http2Types& types, hodos_go_h2_server& out) {
  auto at = offsets_of(b, types.fields(), true);
  if (!at) return false;
  const std::vector<uint32_t>& o = *at;
  out.conn = o[0];
  out.frame_headers = o[1];
  out.frame_fields = o[2];
  out.frame_stream_id = o[3] + o[4];
  out.field_name = o[5];
  out.field_value = o[6];
  out.field_size = (o[7] + 1 + 7) / 8 * 8;  // a bool last, the struct 8-aligned
  return true;
}

std::string describe(const GoBinary& binary) {
  if (binary.dwarf) return binary.go_version + ", DWARF";
  std::string source;
  if (auto it = binary.offset_sources.find(kGoid); it != binary.offset_sources.end()) {
    source = ", offsets from the " + it->second;
  }
  return fmt::format("{}, {}{}", binary.go_version,
                     binary.symtab ? "no DWARF" : "stripped: functions from pclntab", source);
}

// The always-on part: goroutines and net/http's HTTP/1.x client; "" or why nothing can be done.
std::string plan_goroutines(const GoBinary& b, const std::string& host_arch, GoProbePlan& plan) {
  const auto version = parse_go_version(b.go_version);
  const auto goid = b.offsets.find(kGoid);
  const auto stack = b.offsets.find(kStack);
  if (b.arch != host_arch) return fmt::format("a {} binary on a {} agent", b.arch, host_arch);
  if (!version || version->second < 18) {
    return fmt::format("{} is not supported (Go 1.18 or newer is)", b.go_version);
  }
  if (goid == b.offsets.end() || stack == b.offsets.end()) {
    // A Go newer than the table, without DWARF: a guessed offset would read garbage.
    return fmt::format("the goroutine id's place in {} is not known without DWARF "
                       "(build without -ldflags=-w, or upgrade Hodos)",
                       b.go_version);
  }
  if (!has_returns(b, kNewproc1)) {
    return "runtime.newproc1 (or its return) was not found in the executable";
  }
  plan.go.goid_offset = static_cast<uint32_t>(goid->second);
  plan.go.stack_offset = static_cast<uint32_t>(stack->second);
  plan.sites.push_back({GoProgram::kNewproc1, kNewproc1, false});
  plan.sites.push_back({GoProgram::kNewproc1Return, kNewproc1, true});
  if (b.functions.contains(kRoundTrip) && b.functions.contains(kRequestWrite)) {
    plan.sites.push_back({GoProgram::kRoundTrip, kRoundTrip, false});
    plan.sites.push_back({GoProgram::kRequestWrite, kRequestWrite, false});
  }
  return "";
}

// crypto/tls: sets plan.tls_state when the binary has it.
void plan_tls(const GoBinary& b, GoProbePlan& plan) {
  if (!b.functions.contains(kTlsRead) && !b.functions.contains(kTlsWrite)) return;
  if (!has_returns(b, kTlsRead) || !has_returns(b, kTlsWrite)) {
    plan.tls_state = "not seen: crypto/tls's Read or Write (or their returns) were not found";
    return;
  }
  auto at = offsets_of(b, {kTlsConn}, false);
  if (!at || !plan_net_conn(b, plan.go, false)) {
    plan.tls_state = fmt::format("not seen: the place of crypto/tls's connection in {} is not "
                                 "known without DWARF",
                                 b.go_version);
    return;
  }
  plan.go.tls_conn = (*at)[0];
  plan.go.probes |= HODOS_GO_TLS;
  plan.tls_state = fmt::format("plaintext from Go crypto/tls ({})", b.go_version);
  plan.sites.push_back({GoProgram::kTlsRead, kTlsRead, false});
  plan.sites.push_back({GoProgram::kTlsReturn, kTlsRead, true});
  plan.sites.push_back({GoProgram::kTlsWrite, kTlsWrite, false});
  plan.sites.push_back({GoProgram::kTlsReturn, kTlsWrite, true});
}

// grpc-go and net/http's HTTP/2 server; returns what the binary has but cannot be followed.
std::vector<std::string> plan_http2(const GoBinary& b, GoProbePlan& plan) {
  std::vector<std::string> caveats;
  const bool grpc = b.functions.contains(kOperateHeaders) || b.functions.contains(kNewStream);
  if (grpc && !plan_net_conn(b, plan.go, true)) {
    caveats.emplace_back("grpc-go without DWARF: its calls are joined by stitching only (build "
                         "without -ldflags=-w to follow them)");
  } else if (grpc) {
    if (has_returns(b, kOperateHeaders) && has_returns(b, kHandleStream) &&
        frame_is_first_argument(b, kOperateHeaders, "frame") &&
        plan_h2_server(b, grpc_types(), plan.go.grpc_server)) {
      plan.go.probes |= HODOS_GO_GRPC_SERVER;
      plan.sites.push_back({GoProgram::kGrpcServerHeaders, kOperateHeaders, false});
      plan.sites.push_back({GoProgram::kH2ContextDone, kOperateHeaders, true});
      plan.sites.push_back({GoProgram::kH2ContextDone, kHandleStream, true});
    }
    if (auto at = offsets_of(b, grpc_client_fields(), true); at && has_returns(b, kNewStream)) {
      plan.go.client_conn = (*at)[0];
      plan.go.stream_id = (*at)[1];
      plan.go.stream_client = (*at)[2];
      plan.go.probes |= HODOS_GO_GRPC_CLIENT;
      plan.sites.push_back({GoProgram::kGrpcNewStreamReturn, kNewStream, true});
      if (auto writer = offsets_of(b, grpc_writer_fields(), true);
          writer && has_returns(b, kMakeStream) && b.functions.contains(kOriginateStream) &&
          frame_is_first_argument(b, kOriginateStream, "str")) {
        plan.go.stream_wq = (*writer)[0];
        plan.go.out_stream_id = (*writer)[1];
        plan.go.out_stream_wq = (*writer)[2];
        plan.go.probes |= HODOS_GO_GRPC_CLIENT_WRITER;
        plan.sites.push_back({GoProgram::kGrpcStreamMade, kMakeStream, true});
        plan.sites.push_back({GoProgram::kGrpcOriginateStream, kOriginateStream, false});
      }
    }
    if (!(plan.go.probes & (HODOS_GO_GRPC_SERVER | HODOS_GO_GRPC_CLIENT))) {
      caveats.emplace_back("this grpc-go's functions and structures are not the ones Hodos knows "
                           "(verified: grpc-go 1.33): its calls are joined by stitching only");
    } else {
      plan.target += ", grpc-go followed";
    }
  }
  if (b.functions.contains(kClientWriteHeaders) && !grpc) plan.go.probes |= HODOS_GO_HTTP2_CLIENT;
  if (b.functions.contains(kProcessHeaders)) {
    // The TLS fields too: an HTTPS server's connection is a *tls.Conn.
    if (plan_net_conn(b, plan.go, true) && offsets_of(b, {kTlsConn}, false) &&
        has_returns(b, kProcessHeaders) && has_returns(b, kRunHandler) &&
        frame_is_first_argument(b, kProcessHeaders, "f") &&
        plan_h2_server(b, net_http_types(), plan.go.http_server)) {
      plan.go.tls_conn = (*offsets_of(b, {kTlsConn}, false))[0];
      plan.go.probes |= HODOS_GO_HTTP2_SERVER;
      plan.sites.push_back({GoProgram::kHttp2ServerHeaders, kProcessHeaders, false});
      plan.sites.push_back({GoProgram::kH2ContextDone, kProcessHeaders, true});
      plan.sites.push_back({GoProgram::kH2ContextDone, kRunHandler, true});
    } else if (!b.dwarf) {
      caveats.emplace_back("no DWARF: the handlers of net/http's HTTP/2 server get no context");
    }
  }
  return caveats;
}

}  // namespace

const std::vector<std::string>& go_probe_functions() {
  static const std::vector<std::string> functions = {
      kNewproc1,  kRoundTrip,      kRequestWrite, kTlsRead,        kTlsWrite, kOperateHeaders,
      kHandleStream, kNewStream, kMakeStream, kOriginateStream, kProcessHeaders, kRunHandler,
      kClientWriteHeaders};
  return functions;
}

const std::vector<std::string>& go_probe_fields() {
  static const std::vector<std::string> fields = [] {
    std::vector<std::string> all = {kGoid, kStack, kTlsConn};
    for (const auto* list : {&net_conn_fields(), &grpc_client_fields(), &grpc_writer_fields()}) {
      all.insert(all.end(), list->begin(), list->end());
    }
    for (const Http2Types* types : {&grpc_types(), &net_http_types()}) {
      const std::vector<std::string> f = types->fields();
      all.insert(all.end(), f.begin(), f.end());
    }
    return all;
  }();
  return fields;
}

GoProbePlan plan_go_probes(GoBinary binary, const std::string& host_arch) {
  GoProbePlan plan;
  plan.target = describe(binary);
  if (std::string why = plan_goroutines(binary, host_arch, plan); !why.empty()) {
    plan.error = std::move(why);
    plan.sites.clear();
    plan.binary = std::move(binary);
    return plan;
  }
  std::vector<std::string> caveats;
  if (!binary.functions.contains(kRoundTrip) || !binary.functions.contains(kRequestWrite)) {
    caveats.emplace_back(
        "no net/http client in the executable: its outgoing HTTP/1.x calls get no traceparent");
  }
  plan_tls(binary, plan);
  for (std::string& caveat : plan_http2(binary, plan)) caveats.push_back(std::move(caveat));
  plan.caveat = fmt::format("{}", fmt::join(caveats, "; "));
  plan.binary = std::move(binary);
  return plan;
}

}  // namespace hodos::agent
