// The eBPF agent as one running thing: it decides which processes to trace (the kernel starts
// tracing a process at its first listen() and reports it, discovery then reads who it is; a /proc
// scan at start and every 30 s is the safety net; never Hodos itself), loads the socket
// probe, turns its events into spans (connection tracker → HTTP/1.x matcher → span builder) and
// hands them in batches to a pipeline consumer, like a receiver. Its counters go to /metrics.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <spdlog/logger.h>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "agent/connection_tracker.h"
#include "agent/discovery.h"
#include "agent/injector.h"
#include "agent/socket_probe.h"
#include "agent/span_builder.h"
#include "agent/event_loop_probe.h"
#include "agent/go_probe.h"
#include "agent/tls_probe.h"
#include "pipeline/component.h"
#include "pipeline/metrics.h"

namespace hodos::agent {

struct AgentOptions {
  SocketProbeOptions probe;
  ConnectionTrackerLimits tracker;
  SourceRules rules;
  DiscoveryOptions discovery;  // .overrides: the source registry's choices, from the first scan
  SpanBuilderOptions spans;
  // The kernel reports new listeners (and children of traced processes) at once; the full scan
  // only catches what it cannot (include rules for processes that do not listen, a lost event,
  // an exit) and reads /proc of every process and the host's TCP tables, so it is rare.
  std::chrono::milliseconds rescan_interval{30000};
  // Spans of a process the kernel started tracing wait this long at most for its discovery.
  std::chrono::milliseconds max_discovery_wait{5000};
  size_t max_held_spans = 4096;  // per process waiting for discovery; more are dropped
  size_t max_batch_spans = 512;                   // a batch is handed on when this full...
  std::chrono::milliseconds max_batch_delay{200};  // ...or this old
  // How often the event thread drains the ring buffer: the kernel does not wake it per event
  // (only when the ring is filling), so this is what a span waits at most before it is built.
  std::chrono::milliseconds poll_timeout{20};
  // traceparent injection (bpf/inject.bpf.c) into the requests traced processes send to
  // `injector`'s destinations; the agent fills in the maps it shares with the capture.
  bool inject = true;
  InjectorOptions injector;
  // Plaintext of TLS sessions: uprobes on the OpenSSL each traced process uses (TlsProbe).
  bool tls = true;
  // Trace context for Go services: uprobes on the Go runtime and net/http of each traced Go
  // process (GoProbe), so its requests get kernel ids and its outgoing calls a traceparent.
  bool goroutines = true;
  // Trace context for event-loop servers (nginx): uprobes on the runtime's own functions
  // (EventLoopProbe), so a proxied request's upstream call gets its context and a traceparent.
  bool event_loops = true;
};

// Whether the agent injects traceparent, and the one-line reason (`hodos status`, the log).
struct InjectionState {
  bool on = false;
  std::string detail;
};

class Agent {
 public:
  // Loads the probe, scans /proc once and starts tracing what it selected; spans go to `next`.
  // Throws BpfError (or std::runtime_error) when the kernel refuses: the caller runs without.
  static std::unique_ptr<Agent> start(AgentOptions options, pipeline::TracesConsumer& next,
                                      pipeline::Metrics& metrics,
                                      std::shared_ptr<spdlog::logger> logger);
  ~Agent();
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  // Stops both threads, hands on the spans already built (until `deadline`) and unloads the probe.
  void shutdown(pipeline::Deadline deadline);
  // Asks for a /proc scan now, without waiting for the next period.
  void rescan();
  size_t traced_process_count() const { return traced_count_.load(std::memory_order_relaxed); }
  // Every process the last scan listed, and those the kernel reported since: traced, or not and
  // why (SDK, disabled, excluded).
  std::vector<DiscoveredSource> sources() const;
  // Applies run-time choices (`hodos sources ...`) with a scan now; true once that scan has
  // updated the pid filter (a disabled process is no longer followed), false after `timeout`.
  bool apply_overrides(SourceOverrides overrides, std::chrono::milliseconds timeout);
  uint64_t scans_completed() const { return scans_.load(std::memory_order_relaxed); }
  const InjectionState& injection() const { return injection_; }
  // Whether the process's TLS library is probed, or why not ("OpenSSL 3 (libssl.so.3)", ...),
  // for `hodos sources list`.
  std::string tls_state(uint32_t pid) const;
  // For a Go process: whether its goroutines are followed, or why not.
  std::string go_state(uint32_t pid) const;
  // How the traces of `source` cross to other services, in a few words for `hodos sources list`:
  // "traceparent injected", "traceparent injected (goroutines)", "stitching (event loop seen)",
  // "stitching (Go)", "stitching", ...
  std::string trace_context(const DiscoveredSource& source) const;

 private:
  struct Source {
    ProcessResource resource;
    std::string service_name;
    TraceMode trace_mode = TraceMode::kDefault;
    RuntimeInfo runtime;  // its TLS libraries among it
  };
  struct Published;
  std::shared_ptr<PodWatcher> pod_watcher_;  // in a Kubernetes pod only

  Agent(AgentOptions options, pipeline::TracesConsumer& next, pipeline::Metrics& metrics,
        std::shared_ptr<spdlog::logger> logger);
  void start_injector();
  // A traced process whose runtime gets uprobes: its TLS library, its goroutines when it is Go,
  // its event loop when it is nginx.
  struct ProbeTarget {
    uint32_t pid;
    bool go;
    RuntimeInfo runtime;
  };
  // Attaches (or keeps) the uprobes of processes traced now (discovery thread, after the
  // verdicts: reading a binary takes milliseconds); says once per change what each got.
  void probe_runtimes(const std::vector<ProbeTarget>& targets);
  void probe_tls(uint32_t pid, const RuntimeInfo& runtime);
  void probe_go(uint32_t pid);
  void probe_event_loop(uint32_t pid, const RuntimeInfo& runtime);
  void enrol_earlier_connections(uint32_t pid);
  void detach_probes(uint32_t pid);
  void scan_once();
  void discover_new(std::vector<uint32_t> pids);
  void discovery_loop();
  void on_socket_event(const SocketEvent& event);
  void on_process_event(const SocketEvent& event);
  void settle_held(uint32_t pid, bool emit, bool gone);
  void event_loop();
  void on_exchange(const TrackedExchange& exchange);
  const core::Resource* resource_for(uint32_t pid);
  // The resource discovery found for `pid` (also just after it exited), or empty.
  ProcessResource known_resource(uint32_t pid);
  void flush();
  void publish_counters();
  void publish_listing(const DiscoveryResult& result);
  // The listing of one process discovery read (or found gone) between two scans.
  void update_listing(uint32_t pid, const DiscoveryResult& result);

  AgentOptions options_;
  pipeline::TracesConsumer& next_;
  std::shared_ptr<spdlog::logger> logger_;
  std::string host_name_;

  std::unique_ptr<SocketProbe> probe_;
  std::unique_ptr<Injector> injector_;  // null when injection is off (injection_ says why)
  std::unique_ptr<TlsProbe> tls_;       // null when agent.capture.tls is off
  std::unique_ptr<GoProbe> go_;         // null when agent.capture.goroutines is off
  std::unique_ptr<EventLoopProbe> event_loops_;  // null when agent.capture.event_loops is off
  InjectionState injection_;
  Discovery discovery_;
  SpanBuilder builder_;
  ConnectionTracker tracker_;  // event thread only

  // Sources by pid, written by the discovery thread, read by the event thread.
  std::mutex sources_mu_;
  std::unordered_map<uint32_t, Source> sources_;
  std::unordered_map<uint32_t, Source> retired_;  // gone at the last scan: their last spans
  std::vector<uint32_t> forgotten_;               // pids whose connections the tracker can drop
  // Discovery's verdict on pids the kernel reported: (pid, traced). Read by the event thread.
  struct Verdict {
    uint32_t pid;
    bool traced;
    bool gone;  // exited before it could be read: its spans keep the kernel's name for it
  };
  std::vector<Verdict> verdicts_;
  std::vector<uint32_t> to_discover_;  // under wake_mu_: pids the kernel reported
  // Discovery thread only: pids the kernel reported at their listen() that /proc did not show
  // listening yet (the kernel reports at the syscall's entry), looked at again shortly, a few
  // times, before they are given up until the next scan.
  struct Recheck {
    std::chrono::steady_clock::time_point at;
    uint32_t pid;
    int attempt;
  };
  std::vector<Recheck> rechecks_;
  // What probe_tls() and probe_go() found per pid, for tls_state() and go_state().
  mutable std::mutex probe_state_mu_;
  std::unordered_map<uint32_t, std::string> tls_states_;
  std::unordered_map<uint32_t, std::string> go_states_;
  std::unordered_map<uint32_t, std::string> event_loop_states_;  // said once per change in the log
  std::unordered_set<uint32_t> connections_enrolled_;  // enrol_earlier_connections() done

  // Discovery thread only: pids put in the never-traced set for a reason a later scan can lift.
  std::unordered_set<uint32_t> never_traced_;

  // Spans of processes the kernel started tracing, held until discovery says who they are (or
  // that they are not to be traced, and the spans go). Event thread only.
  struct Held {
    std::string comm;
    std::chrono::steady_clock::time_point since;
    core::SpanBatch spans;
    core::Resource* resource = nullptr;  // filled once known
    const core::Scope* scope = nullptr;
    uint64_t dropped = 0;
  };
  std::unordered_map<uint32_t, Held> held_;

  // The batch being filled (event thread only).
  core::SpanBatch batch_;
  std::unordered_map<uint32_t, const core::Resource*> batch_resources_;
  const core::Scope* batch_scope_ = nullptr;
  std::chrono::steady_clock::time_point batch_started_;

  std::mutex wake_mu_;
  std::condition_variable wake_;
  bool rescan_requested_ = false;
  std::atomic<bool> stopping_{false};
  std::atomic<size_t> traced_count_{0};
  std::atomic<uint64_t> scans_{0};
  std::thread discovery_thread_;
  std::thread event_thread_;
  std::unique_ptr<Published> published_;
  bool shut_down_ = false;

  // The last scan's listing, for sources(); which overrides it applied, for apply_overrides().
  mutable std::mutex listing_mu_;
  std::condition_variable listing_cv_;
  std::vector<DiscoveredSource> listing_;
  uint64_t listed_overrides_version_ = 0;
};

}  // namespace hodos::agent
