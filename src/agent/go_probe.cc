#include "agent/go_probe.h"

#include <bpf/libbpf.h>
#include <fmt/format.h>
#include <sys/stat.h>

#include <fmt/ranges.h>

#include <cerrno>
#include <cstring>
#include <iterator>
#include <utility>

#include "agent/libbpf_log.h"
#include "agent/socket_probe.h"

namespace hodos::agent {

namespace {

constexpr const char* kNewproc1 = "runtime.newproc1";
constexpr const char* kRoundTrip = "net/http.(*persistConn).roundTrip";
constexpr const char* kRequestWrite = "net/http.(*Request).write";
constexpr const char* kGoid = "runtime.g.goid";
constexpr const char* kStack = "runtime.g.stack";

// grpc-go's transport (google.golang.org/grpc/internal/transport), its HTTP/2 frames
// (golang.org/x/net/http2) and the net.Conn under it: bpf/go_grpc.bpf.h. Offsets from DWARF only:
// grpc-go's structs change between its releases, and a stripped binary does not say which one
// it holds.
constexpr const char* kOperateHeaders =
    "google.golang.org/grpc/internal/transport.(*http2Server).operateHeaders";
constexpr const char* kHandleStream = "google.golang.org/grpc.(*Server).handleStream";
constexpr const char* kNewStream = "google.golang.org/grpc/internal/transport.(*http2Client).NewStream";
constexpr const char* kServerConn = "google.golang.org/grpc/internal/transport.http2Server.conn";
constexpr const char* kClientConn = "google.golang.org/grpc/internal/transport.http2Client.conn";
constexpr const char* kStreamId = "google.golang.org/grpc/internal/transport.Stream.id";
constexpr const char* kStreamClient = "google.golang.org/grpc/internal/transport.Stream.ct";
constexpr const char* kFrameHeaders = "golang.org/x/net/http2.MetaHeadersFrame.HeadersFrame";
constexpr const char* kFrameFields = "golang.org/x/net/http2.MetaHeadersFrame.Fields";
constexpr const char* kFrameHeader = "golang.org/x/net/http2.HeadersFrame.FrameHeader";
constexpr const char* kFrameStreamId = "golang.org/x/net/http2.FrameHeader.StreamID";
constexpr const char* kFieldName = "golang.org/x/net/http2/hpack.HeaderField.Name";
constexpr const char* kFieldValue = "golang.org/x/net/http2/hpack.HeaderField.Value";
constexpr const char* kFieldSensitive = "golang.org/x/net/http2/hpack.HeaderField.Sensitive";
constexpr const char* kTcpConnConn = "net.TCPConn.conn";
constexpr const char* kConnFd = "net.conn.fd";
constexpr const char* kNetFdPfd = "net.netFD.pfd";
constexpr const char* kFdSysfd = "internal/poll.FD.Sysfd";
constexpr const char* kGrpcFields[] = {
    kServerConn,   kClientConn, kStreamId,   kStreamClient,   kFrameHeaders,
    kFrameFields,  kFrameHeader, kFrameStreamId, kFieldName,  kFieldValue,
    kFieldSensitive, kTcpConnConn, kConnFd,  kNetFdPfd,       kFdSysfd};

// crypto/tls: its plaintext, at Read and Write (bpf/go_tls.bpf.h). Offsets from DWARF or the
// table: these fields have sat first (Sysfd after the 16-byte fdMutex) in every Go 1.x.
constexpr const char* kTlsRead = "crypto/tls.(*Conn).Read";
constexpr const char* kTlsWrite = "crypto/tls.(*Conn).Write";
constexpr const char* kTlsConn = "crypto/tls.Conn.conn";

// What the TLS probes need of `b` (HODOS_GO_TLS in `go.probes`); "" when they can go on, or the
// binary has no crypto/tls at all (`present` says which), else why not.
std::string plan_tls(const GoBinary& b, hodos_go_process& go, bool& present) {
  present = b.functions.contains(kTlsRead) || b.functions.contains(kTlsWrite);
  if (!present) return "";
  for (const char* function : {kTlsRead, kTlsWrite}) {
    auto it = b.functions.find(function);
    if (it == b.functions.end() || it->second.return_offsets.empty()) {
      return fmt::format("{} (or its return) was not found", function);
    }
  }
  std::map<std::string, uint32_t> at;
  for (const char* field : {kTlsConn, kTcpConnConn, kConnFd, kNetFdPfd, kFdSysfd}) {
    auto it = b.offsets.find(field);
    if (it == b.offsets.end()) {
      return fmt::format("the place of {} in {} is not known without DWARF", field, b.go_version);
    }
    at[field] = static_cast<uint32_t>(it->second);
  }
  go.tls_conn = at[kTlsConn];
  go.tcp_conn_fd = at[kTcpConnConn] + at[kConnFd];
  go.net_fd_sysfd = at[kNetFdPfd] + at[kFdSysfd];
  go.probes |= HODOS_GO_TLS;
  return "";
}

// What the gRPC probes need of `b` (HODOS_GO_GRPC_* bits in `go.probes`), or why they cannot be
// attached ("" when grpc-go is not in the binary at all).
std::string plan_grpc(const GoBinary& b, hodos_go_process& go) {
  const bool server = b.functions.contains(kOperateHeaders);
  const bool client = b.functions.contains(kNewStream);
  if (!server && !client) return "";
  std::map<std::string, uint32_t> at;
  for (const char* field : kGrpcFields) {
    auto it = b.offsets.find(field);
    auto source = b.offset_sources.find(field);
    if (it == b.offsets.end() || source == b.offset_sources.end() || source->second != "dwarf") {
      return "grpc-go without DWARF: its calls are joined by stitching only (build without "
             "-ldflags=-w to follow them)";
    }
    at[field] = static_cast<uint32_t>(it->second);
  }
  go.server_conn = at[kServerConn];
  go.client_conn = at[kClientConn];
  go.stream_id = at[kStreamId];
  go.stream_client = at[kStreamClient];
  go.frame_headers = at[kFrameHeaders];
  go.frame_fields = at[kFrameFields];
  go.frame_stream_id = at[kFrameHeader] + at[kFrameStreamId];
  go.field_name = at[kFieldName];
  go.field_value = at[kFieldValue];
  go.field_size = (at[kFieldSensitive] + 1 + 7) / 8 * 8;  // a bool last, the struct 8-aligned
  go.tcp_conn_fd = at[kTcpConnConn] + at[kConnFd];
  go.net_fd_sysfd = at[kNetFdPfd] + at[kFdSysfd];
  if (server && !b.functions.at(kOperateHeaders).return_offsets.empty()) {
    go.probes |= HODOS_GO_GRPC_SERVER;
  }
  if (client && !b.functions.at(kNewStream).return_offsets.empty()) go.probes |= HODOS_GO_GRPC_CLIENT;
  return "";
}

// The architecture the kernel programs were built for: they read that ABI's registers.
#if defined(__x86_64__)
constexpr const char* kHostArch = "amd64";
#elif defined(__aarch64__)
constexpr const char* kHostArch = "arm64";
#else
constexpr const char* kHostArch = "";
#endif

std::string describe(const GoBinary& binary) {
  if (binary.dwarf) return binary.go_version + ", DWARF";
  std::string source;
  if (auto it = binary.offset_sources.find(kGoid); it != binary.offset_sources.end()) {
    source = ", offsets from the " + it->second;
  }
  return fmt::format("{}, {}{}", binary.go_version,
                     binary.symtab ? "no DWARF" : "stripped: functions from pclntab", source);
}

}  // namespace

void GoProbe::LinkDeleter::operator()(bpf_link* link) const { bpf_link__destroy(link); }

GoProbe::GoProbe(SocketProbe& probe, bool tls, std::string proc_root)
    : probe_(probe), tls_(tls), proc_root_(std::move(proc_root)) {}

GoProbe::~GoProbe() {
  // The kernel's state goes with the links: a process left in goroutine-context mode without
  // its uprobes would keep contexts nobody hands on.
  for (const auto& [pid, attached] : attached_) probe_.clear_goroutine_context(pid);
}

std::shared_ptr<const GoProbe::Plan> GoProbe::plan_for(const std::string& path,
                                                        const Executable& executable) {
  {
    std::lock_guard lock(mu_);
    if (auto it = plans_.find(executable); it != plans_.end()) return it->second;
  }
  auto plan = std::make_shared<Plan>();
  std::string error;
  std::vector<std::string> fields = {kGoid, kStack, kTlsConn};
  fields.insert(fields.end(), std::begin(kGrpcFields), std::end(kGrpcFields));
  plan->binary = analyze_go_binary(
      path,
      {kNewproc1, kRoundTrip, kRequestWrite, kOperateHeaders, kHandleStream, kNewStream, kTlsRead,
       kTlsWrite},
      fields, &error);
  if (!plan->binary) {
    plan->error = error;
  } else {
    const GoBinary& b = *plan->binary;
    plan->target = describe(b);
    const auto version = parse_go_version(b.go_version);
    const auto newproc1 = b.functions.find(kNewproc1);
    const auto goid = b.offsets.find(kGoid);
    const auto stack = b.offsets.find(kStack);
    if (b.arch != kHostArch) {
      plan->error = fmt::format("a {} binary on a {} agent", b.arch, kHostArch);
    } else if (!version || version->second < 18) {
      plan->error = fmt::format("{} is not supported (Go 1.18 or newer is)", b.go_version);
    } else if (goid == b.offsets.end() || stack == b.offsets.end()) {
      // A Go newer than the table, without DWARF: a guessed offset would read garbage.
      plan->error = fmt::format("the goroutine id's place in {} is not known without DWARF "
                                "(build without -ldflags=-w, or upgrade Hodos)",
                                b.go_version);
    } else if (newproc1 == b.functions.end() || newproc1->second.return_offsets.empty()) {
      plan->error = "runtime.newproc1 (or its return) was not found in the executable";
    } else {
      plan->go.goid_offset = static_cast<uint32_t>(goid->second);
      plan->go.stack_offset = static_cast<uint32_t>(stack->second);
      std::vector<std::string> caveats;
      if (!b.functions.contains(kRoundTrip) || !b.functions.contains(kRequestWrite)) {
        caveats.emplace_back(
            "no net/http client in the executable: its outgoing calls get no traceparent");
      }
      if (std::string grpc = plan_grpc(b, plan->go); !grpc.empty()) caveats.push_back(grpc);
      if (plan->go.probes & (HODOS_GO_GRPC_SERVER | HODOS_GO_GRPC_CLIENT)) {
        plan->target += ", grpc-go followed";
      }
      bool tls = false;
      if (std::string why = plan_tls(b, plan->go, tls); !why.empty()) {
        plan->tls_state = "not seen: " + why;
      } else if (tls) {
        plan->tls_state = fmt::format("plaintext from Go crypto/tls ({})", b.go_version);
      }
      plan->caveat = fmt::format("{}", fmt::join(caveats, "; "));
    }
  }
  std::lock_guard lock(mu_);
  return plans_.try_emplace(executable, std::move(plan)).first->second;
}

GoAttachResult GoProbe::attach(uint32_t pid) {
  const std::string path = fmt::format("{}/{}/exe", proc_root_, pid);
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) {
    detach(pid);
    return {false, "", fmt::format("cannot read its executable: {}", std::strerror(errno)), ""};
  }
  const Executable executable{st.st_dev, st.st_ino};
  const std::shared_ptr<const Plan> plan = plan_for(path, executable);
  if (!plan->error.empty()) {
    detach(pid);
    return {false, plan->target, plan->error, ""};
  }
  bool kept = false;
  {
    std::lock_guard lock(mu_);
    auto it = attached_.find(pid);
    kept = it != attached_.end() && !(it->second.executable < executable) &&
           !(executable < it->second.executable);
  }
  if (!kept) {
    detach(pid);
    const SocketProbe::GoPrograms p = probe_.go_programs();
    const GoBinary& b = *plan->binary;
    struct Point {
      const char* function;
      bpf_program* program;
      bool at_returns;
    };
    const bool grpc_server = (plan->go.probes & HODOS_GO_GRPC_SERVER) != 0;
    const bool grpc_client = (plan->go.probes & HODOS_GO_GRPC_CLIENT) != 0;
    const bool tls = tls_ && (plan->go.probes & HODOS_GO_TLS) != 0;
    const Point points[] = {
        {kNewproc1, p.newproc1, false},
        {kNewproc1, p.newproc1_return, true},
        {kRoundTrip, p.round_trip, false},
        {kRequestWrite, p.request_write, false},
        {grpc_server ? kOperateHeaders : nullptr, p.grpc_server_headers, false},
        {grpc_server ? kOperateHeaders : nullptr, p.grpc_context_done, true},
        {grpc_server ? kHandleStream : nullptr, p.grpc_context_done, true},
        {grpc_client ? kNewStream : nullptr, p.grpc_new_stream_return, true},
        {tls ? kTlsRead : nullptr, p.tls_read, false},
        {tls ? kTlsRead : nullptr, p.tls_return, true},
        {tls ? kTlsWrite : nullptr, p.tls_write, false},
        {tls ? kTlsWrite : nullptr, p.tls_return, true}};
    LibbpfLogCapture log;
    Attached attached{executable, {}};
    for (const Point& point : points) {
      if (point.function == nullptr) continue;  // grpc-go not followed (caveat)
      auto function = b.functions.find(point.function);
      if (function == b.functions.end()) continue;  // the client side is optional (caveat)
      std::vector<uint64_t> offsets = point.at_returns ? function->second.return_offsets
                                                       : std::vector{function->second.entry_offset};
      for (uint64_t offset : offsets) {
        LIBBPF_OPTS(bpf_uprobe_opts, opts, .retprobe = false);
        bpf_link* link = bpf_program__attach_uprobe_opts(point.program, static_cast<pid_t>(pid),
                                                         path.c_str(), offset, &opts);
        if (link == nullptr) {
          const int err = errno;
          return {false, plan->target,
                  fmt::format("the kernel refused a uprobe on {}+{:#x}: {}", point.function,
                              offset - function->second.entry_offset, std::strerror(err)), ""};
        }
        attached.links.emplace_back(link);
      }
    }
    std::lock_guard lock(mu_);
    attached_.insert_or_assign(pid, std::move(attached));
  }
  // Again each time: exec (into the same file) and a change of mode clear it in the kernel.
  try {
    hodos_go_process go = plan->go;
    if (!tls_) go.probes &= ~HODOS_GO_TLS;  // agent.capture.tls: false
    probe_.set_goroutine_context(pid, go);
  } catch (const std::exception& e) {
    detach(pid);
    return {false, plan->target, e.what(), ""};
  }
  return {true, plan->target, plan->caveat, tls_ ? plan->tls_state : ""};
}

void GoProbe::detach(uint32_t pid) {
  Attached gone;
  {
    std::lock_guard lock(mu_);
    auto it = attached_.find(pid);
    if (it == attached_.end()) return;
    gone = std::move(it->second);
    attached_.erase(it);
  }
  probe_.clear_goroutine_context(pid);
  // The links go with `gone`, outside the lock: detaching a uprobe waits for the kernel.
}

bool GoProbe::is_attached(uint32_t pid) const {
  std::lock_guard lock(mu_);
  return attached_.contains(pid);
}

size_t GoProbe::processes() const {
  std::lock_guard lock(mu_);
  return attached_.size();
}

}  // namespace hodos::agent
