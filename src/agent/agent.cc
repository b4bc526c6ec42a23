#include "agent/agent.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "agent/service_identity.h"
#include "pipeline/obs.h"

namespace hodos::agent {

namespace {

// How often a process reported at listen() is looked at again while /proc does not show it
// listening yet (25 ms, then doubling: under a second in all).
constexpr int kListenRechecks = 5;

constexpr auto kCounterPublishInterval = std::chrono::seconds(1);
constexpr auto kIdleSweepInterval = std::chrono::seconds(10);

ProcessResource to_process_resource(const std::vector<ResourceAttribute>& attributes) {
  ProcessResource out;
  out.reserve(attributes.size());
  for (const ResourceAttribute& a : attributes) {
    if (const auto* s = std::get_if<std::string>(&a.value)) {
      out.push_back({a.key, *s});
    } else {
      out.push_back({a.key, std::get<int64_t>(a.value)});
    }
  }
  return out;
}

// "loopback, private ranges, 203.0.113.0/24" for the log and `hodos status`.
std::string destination_summary(const InjectorOptions& options) {
  std::vector<std::string> parts;
  if (options.loopback) parts.emplace_back("loopback");
  if (options.private_ranges) parts.emplace_back("private ranges");
  parts.insert(parts.end(), options.allow.begin(), options.allow.end());
  return parts.empty() ? std::string("none") : fmt::format("{}", fmt::join(parts, ", "));
}

}  // namespace

// The agent's series on /metrics; counters are published as deltas of the probe's and the
// tracker's running totals (both owned by the event thread).
struct Agent::Published {
  explicit Published(pipeline::Metrics& m)
      : receiver(m, pipeline::ComponentId{"agent", ""}, "ebpf"),
        events(m.counter("hodos_agent_events_total",
                         "Socket events the kernel program sent to the agent.")),
        ringbuf_drops(m.counter("hodos_agent_ringbuf_drops_total",
                                "Socket events lost because the ring buffer was full.")),
        truncations(m.counter("hodos_agent_truncated_captures_total",
                              "Reads and writes longer than the captured bytes.")),
        capture_failures(m.counter("hodos_agent_capture_failures_total",
                                   "Reads and writes whose bytes could not be captured.")),
        pending_overflow(
            m.counter("hodos_agent_pending_overflow_total",
                      "Syscalls not followed: the kernel's in-flight table was full.")),
        decode_errors(m.counter("hodos_agent_decode_errors_total",
                                "Malformed ring buffer records.")),
        spans(m.counter("hodos_agent_spans_total", "Spans the agent built.")),
        spans_refused(m.counter("hodos_agent_spans_refused_total",
                                "Spans the pipeline refused (dropped).")),
        http_parse_errors(m.counter("hodos_agent_http_parse_errors_total",
                                    "Malformed HTTP/1.x bytes on traced connections.")),
        http_truncated(m.counter("hodos_agent_http_truncated_messages_total",
                                 "HTTP/1.x messages the capture cut or whose start it missed.")),
        unmatched_requests(m.counter("hodos_agent_http_unmatched_total",
                                     "HTTP/1.x messages without their other half.",
                                     {{"message", "request"}})),
        unmatched_responses(m.counter("hodos_agent_http_unmatched_total",
                                      "HTTP/1.x messages without their other half.",
                                      {{"message", "response"}})),
        evicted_capacity(m.counter("hodos_agent_connections_evicted_total",
                                   "Connections forgotten to bound memory.",
                                   {{"reason", "capacity"}})),
        evicted_idle(m.counter("hodos_agent_connections_evicted_total",
                               "Connections forgotten to bound memory.", {{"reason", "idle"}})),
        scans(m.counter("hodos_agent_discovery_scans_total", "Completed scans of /proc.")),
        enrolled_late(m.counter("hodos_agent_inject_enrolled_late_total",
                                "Connections a traced process opened before it had a context to "
                                "inject (before the agent started, or before its runtime was "
                                "followed), enrolled for traceparent injection afterwards.")),
        connections(m.gauge("hodos_agent_connections", "Connections the agent is following.")),
        traced(m.gauge("hodos_agent_traced_processes", "Processes the agent traces.")),
        contexts_new(context_counter(m, "new")),
        contexts_adopted(context_counter(m, "traceparent")),
        contexts_full(context_counter(m, "table_full")),
        contexts_not_per_thread(context_counter(m, "not_per_thread")),
        ambiguous_parents(m.counter("hodos_agent_ambiguous_parents_total",
                                    "Client calls left unlinked: their thread was serving several "
                                    "requests at once (an event loop).")),
        continued_traces(m.counter("hodos_agent_continued_traces_total",
                                   "Server spans that continue the trace of an incoming "
                                   "traceparent (an SDK or a Hodos-traced caller).")),
        db_calls(m.counter("hodos_agent_db_calls_total",
                           "Database, cache and Kafka calls (PostgreSQL, MySQL, Redis, Kafka) made into spans.")),
        db_parse_errors(m.counter("hodos_agent_db_parse_errors_total",
                                  "Malformed bytes on database and cache client connections.")),
        db_truncated(m.counter("hodos_agent_db_truncated_messages_total",
                               "Database messages the capture cut or whose start it missed.")),
        db_unmatched_requests(m.counter("hodos_agent_db_unmatched_total",
                                        "Database messages without their other half.",
                                        {{"message", "request"}})),
        db_unmatched_responses(m.counter("hodos_agent_db_unmatched_total",
                                         "Database messages without their other half.",
                                         {{"message", "response"}})),
        db_gave_up(m.counter("hodos_agent_db_connections_given_up_total",
                             "Database client connections no longer followed: TLS was "
                             "negotiated, or the framing was lost.")),
        http2_connections(m.counter("hodos_agent_http2_connections_total",
                                    "HTTP/2 connections (gRPC among them) read from their start.")),
        http2_unmatched(m.counter("hodos_agent_http2_unmatched_total",
                                  "HTTP/2 streams without their response, or responses without "
                                  "their stream.")),
        http2_gave_up(m.counter("hodos_agent_http2_connections_given_up_total",
                                "HTTP/2 connections no longer read: the capture missed part of a "
                                "header block or a frame header, or the bytes broke the "
                                "protocol.")),
        tls_connections(m.counter("hodos_agent_tls_connections_total",
                                  "Connections whose plaintext came from a TLS library (uprobes "
                                  "on OpenSSL).")),
        tls_no_socket(m.counter("hodos_agent_tls_no_socket_total",
                                "TLS reads and writes dropped: the socket of their session was "
                                "not known.")),
        tls_processes(m.gauge("hodos_agent_tls_processes",
                              "Traced processes whose OpenSSL is probed for plaintext.")),
        go_contexts_inherited(go_context_counter(m, "inherited")),
        go_requests_linked(go_context_counter(m, "request_linked")),
        go_no_goroutine(m.counter("hodos_agent_go_no_goroutine_total",
                                  "Syscalls and probes of Go processes where the g register "
                                  "could not be trusted (cgo code): no trace context.")),
        go_h2_served(go_h2_counter(m, "server")),
        go_h2_calls(go_h2_counter(m, "client")),
        go_h2_no_socket(m.counter("hodos_agent_go_http2_no_socket_total",
                                  "HTTP/2 calls served by Go processes whose connection could not "
                                  "be told (not seen from its start, a wrapped net.Conn): no "
                                  "kernel ids, joined by stitching only.")),
        go_h2_unmatched(m.counter("hodos_agent_go_http2_unmatched_total",
                                  "Kernel ids for HTTP/2 calls of Go processes that matched no "
                                  "HTTP/2 stream the agent read.")),
        go_processes(m.gauge("hodos_agent_go_processes",
                             "Traced Go processes whose goroutines are followed (uprobes on the "
                             "Go runtime and net/http).")),
        loop_calls_followed(loop_call_counter(m, "followed")),
        loop_no_context(loop_call_counter(m, "no_context")),
        loop_unreadable(loop_call_counter(m, "unreadable")),
        event_loop_processes(m.gauge("hodos_agent_event_loop_processes",
                                     "Traced event-loop servers (nginx) whose requests are "
                                     "followed per connection (uprobes on the runtime).")) {
    for (int i = 0; i < HODOS_INJECT_COUNTER_COUNT; ++i) {
      const auto which = static_cast<hodos_inject_counter>(i);
      inject.push_back(&m.counter("hodos_agent_inject_total",
                                  "Outgoing writes of traced processes on enrolled connections and "
                                  "what traceparent injection did with them, by result.",
                                  {{"result", std::string(InjectorCounters::name(which))}}));
    }
  }

  static pipeline::Counter& context_counter(pipeline::Metrics& m, const char* origin) {
    return m.counter("hodos_agent_trace_contexts_total",
                     "Requests read by thread-per-request processes, by where the kernel took "
                     "their trace context from (new, traceparent) or why it made none.",
                     {{"origin", origin}});
  }

  static pipeline::Counter& go_context_counter(pipeline::Metrics& m, const char* how) {
    return m.counter("hodos_agent_go_contexts_total",
                     "Trace contexts of Go processes handed from goroutine to goroutine: to a "
                     "goroutine started by one serving a request (inherited), to the writer "
                     "goroutine of an outgoing net/http request (request_linked).",
                     {{"how", how}});
  }

  static pipeline::Counter& loop_call_counter(pipeline::Metrics& m, const char* result) {
    return m.counter("hodos_agent_event_loop_calls_total",
                     "Requests an event-loop server (nginx) began to proxy, by whether their "
                     "upstream call got the request's trace context (followed), had none to "
                     "get (no_context: read before tracing began, or over HTTP/2), or the "
                     "runtime's request could not be read (unreadable).",
                     {{"result", result}});
  }

  static pipeline::Counter& go_h2_counter(pipeline::Metrics& m, const char* side) {
    return m.counter("hodos_agent_go_http2_calls_total",
                     "HTTP/2 calls of Go processes (gRPC included) given kernel ids: calls "
                     "served, whose goroutines carry their context (server), and calls made by a "
                     "goroutine with a context (client).",
                     {{"side", side}});
  }

  static void advance(pipeline::Counter& counter, uint64_t now, uint64_t& last) {
    if (now > last) counter.add(now - last);
    last = now;
  }

  pipeline::ReceiverObs receiver;
  pipeline::Counter& events;
  pipeline::Counter& ringbuf_drops;
  pipeline::Counter& truncations;
  pipeline::Counter& capture_failures;
  pipeline::Counter& pending_overflow;
  pipeline::Counter& decode_errors;
  pipeline::Counter& spans;
  pipeline::Counter& spans_refused;
  pipeline::Counter& http_parse_errors;
  pipeline::Counter& http_truncated;
  pipeline::Counter& unmatched_requests;
  pipeline::Counter& unmatched_responses;
  pipeline::Counter& evicted_capacity;
  pipeline::Counter& evicted_idle;
  pipeline::Counter& scans;
  pipeline::Counter& enrolled_late;
  pipeline::Gauge& connections;
  pipeline::Gauge& traced;
  pipeline::Counter& contexts_new;
  pipeline::Counter& contexts_adopted;
  pipeline::Counter& contexts_full;
  pipeline::Counter& contexts_not_per_thread;
  pipeline::Counter& ambiguous_parents;
  pipeline::Counter& continued_traces;
  pipeline::Counter& db_calls;
  pipeline::Counter& db_parse_errors;
  pipeline::Counter& db_truncated;
  pipeline::Counter& db_unmatched_requests;
  pipeline::Counter& db_unmatched_responses;
  pipeline::Counter& db_gave_up;
  pipeline::Counter& http2_connections;
  pipeline::Counter& http2_unmatched;
  pipeline::Counter& http2_gave_up;
  pipeline::Counter& tls_connections;
  pipeline::Counter& tls_no_socket;
  pipeline::Gauge& tls_processes;
  pipeline::Counter& go_contexts_inherited;
  pipeline::Counter& go_requests_linked;
  pipeline::Counter& go_no_goroutine;
  pipeline::Counter& go_h2_served;
  pipeline::Counter& go_h2_calls;
  pipeline::Counter& go_h2_no_socket;
  pipeline::Counter& go_h2_unmatched;
  pipeline::Gauge& go_processes;
  pipeline::Counter& loop_calls_followed;
  pipeline::Counter& loop_no_context;
  pipeline::Counter& loop_unreadable;
  pipeline::Gauge& event_loop_processes;
  std::vector<pipeline::Counter*> inject;  // by hodos_inject_counter
  SocketProbeCounters last_probe;
  ConnectionTrackerCounters last_tracker;
  InjectorCounters last_inject;
};

Agent::Agent(AgentOptions options, pipeline::TracesConsumer& next, pipeline::Metrics& metrics,
             std::shared_ptr<spdlog::logger> logger)
    : options_(std::move(options)),
      next_(next),
      logger_(std::move(logger)),
      host_name_(options_.discovery.host_name.empty() ? local_host_name()
                                                      : options_.discovery.host_name),
      discovery_(options_.rules, options_.discovery),
      builder_(MonotonicClock(), options_.spans),
      tracker_([this](const TrackedExchange& e) { on_exchange(e); }, options_.tracker),
      published_(std::make_unique<Published>(metrics)) {}

std::unique_ptr<Agent> Agent::start(AgentOptions options, pipeline::TracesConsumer& next,
                                    pipeline::Metrics& metrics,
                                    std::shared_ptr<spdlog::logger> logger) {
  // In a Kubernetes pod (the DaemonSet), this node's pods name the pods the cgroups point at.
  std::shared_ptr<PodWatcher> pod_watcher;
  if (!options.discovery.pods) {
    std::string why_not;
    if (auto pod_options = in_cluster_pod_watcher_options(&why_not)) {
      auto directory = std::make_shared<PodDirectory>();
      pod_watcher = std::make_shared<PodWatcher>(*pod_options, directory, logger);
      options.discovery.pods = directory;
      options.discovery.on_unknown_pod = [w = std::weak_ptr<PodWatcher>(pod_watcher)] {
        if (auto watcher = w.lock()) watcher->refresh();
      };
    } else if (std::getenv("KUBERNETES_SERVICE_HOST") != nullptr) {
      logger->warn("agent: spans will lack k8s.pod.name and k8s.namespace.name: {}", why_not);
    }
  }
  std::unique_ptr<Agent> agent(new Agent(std::move(options), next, metrics, std::move(logger)));
  if (pod_watcher) {
    agent->pod_watcher_ = pod_watcher;
    pod_watcher->start();
  }
  Agent* self = agent.get();
  agent->probe_ = SocketProbe::open(agent->options_.probe,
                                    [self](const SocketEvent& e) { self->on_socket_event(e); });
  // Hodos itself, and (by inheritance at fork) every process it starts, is never traced.
  agent->probe_->never_trace(static_cast<uint32_t>(::getpid()));
  agent->probe_->set_trace_listeners(agent->options_.rules.listening_processes);
  agent->start_injector();
  if (agent->options_.tls) agent->tls_ = std::make_unique<TlsProbe>(*agent->probe_);
  if (agent->options_.goroutines) {
    agent->go_ = std::make_unique<GoProbe>(*agent->probe_, agent->options_.tls);
  }
  if (agent->options_.event_loops) {
    agent->event_loops_ = std::make_unique<EventLoopProbe>(*agent->probe_);
  }
  agent->scan_once();
  agent->batch_started_ = std::chrono::steady_clock::now();
  agent->event_thread_ = std::thread([self] { self->event_loop(); });
  agent->discovery_thread_ = std::thread([self] { self->discovery_loop(); });
  return agent;
}

void Agent::start_injector() {
  if (!options_.inject) {
    injection_ = {false, "off: agent.inject.enabled is false"};
    return;
  }
  InjectorOptions options = options_.injector;
  options.traced_processes_fd = probe_->traced_processes_fd();
  options.thread_contexts_fd = probe_->thread_contexts_fd();
  options.thread_tracestates_fd = probe_->thread_tracestates_fd();
  options.h2_stream_contexts_fd = probe_->h2_stream_contexts_fd();
  try {
    // The records repeat what the capture's events carry (SocketEvent::ids): only counted.
    InjectorStart started = Injector::start(options, [](const InjectionRecord&) {});
    if (!started.injector) {
      injection_ = {false, "off: " + started.reason};
    } else {
      injector_ = std::move(started.injector);
      injection_ = {true, fmt::format("on (destinations: {}; FIONREAD kept right by the {}{})",
                                      destination_summary(options), started.fionread,
                                      started.pin_path.empty() ? "" : ", sockhash pinned")};
      if (started.kept_connections > 0) {
        // After a restart: pooled connections a stopped agent enrolled keep its programs.
        injection_.detail += fmt::format(
            "; {} connection(s) still carry the programs of a stopped agent and get no "
            "traceparent until they close (their calls are joined by stitching)",
            started.kept_connections);
      }
    }
  } catch (const std::exception& e) {
    std::string why = e.what();
    if (auto nl = why.find('\n'); nl != std::string::npos) why.resize(nl);
    injection_ = {false, "off: the kernel refused it: " + why};
  }
  if (injection_.on) {
    logger_->info("agent: traceparent injection {}", injection_.detail);
  } else {
    logger_->warn("agent: traceparent injection {}; services are joined by stitching only",
                  injection_.detail);
  }
}

std::string Agent::trace_context(const DiscoveredSource& source) const {
  if (!source.traced) return "";
  switch (source.trace_mode) {
    case TraceMode::kGoroutines: {
      const auto pid = static_cast<uint32_t>(source.process.pid());
      if (probe_ == nullptr || !probe_->has_goroutine_context(pid)) return "stitching (Go)";
      return injection_.on ? "traceparent injected (goroutines)"
                           : "kernel ids (goroutines; injection off)";
    }
    case TraceMode::kDefault: {
      const auto pid = static_cast<uint32_t>(source.process.pid());
      if (probe_ == nullptr || !probe_->has_connection_context(pid)) return "stitching";
      return injection_.on ? "traceparent injected (event loop, per connection)"
                           : "kernel ids (event loop, per connection; injection off)";
    }
    case TraceMode::kThreadContext:
      break;
  }
  const auto pid = static_cast<uint32_t>(source.process.pid());
  // The kernel takes a process out of thread-context mode when it sees it is an event loop.
  if (probe_ == nullptr || !probe_->has_thread_context(pid)) return "stitching (event loop seen)";
  return injection_.on ? "traceparent injected" : "kernel ids (injection off)";
}

Agent::~Agent() { shutdown(std::chrono::steady_clock::now()); }

void Agent::shutdown(pipeline::Deadline /*deadline*/) {
  if (shut_down_) return;
  shut_down_ = true;
  {
    std::lock_guard lock(wake_mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (discovery_thread_.joinable()) discovery_thread_.join();
  if (event_thread_.joinable()) event_thread_.join();
  if (pod_watcher_) pod_watcher_->stop();
  // The event thread flushed its last batch; the probes detach when destroyed (the injector's
  // sockhash stays pinned while its connections hold data: Injector::start).
  injector_.reset();
  go_.reset();  // clears its processes' state in the probe's maps
  tls_.reset();
  probe_.reset();
  if (published_) published_->traced.set(0);
}

void Agent::rescan() {
  {
    std::lock_guard lock(wake_mu_);
    rescan_requested_ = true;
  }
  wake_.notify_all();
}

void Agent::scan_once() {
  DiscoveryResult result = discovery_.scan();
  const auto self = static_cast<uint32_t>(::getpid());
  std::unordered_map<uint32_t, Source> found;
  std::unordered_set<uint32_t> never;  // listed but not to be traced: the kernel must not start
  for (DiscoveredSource& s : result.sources) {
    const auto pid = static_cast<uint32_t>(s.process.pid());
    if (pid == self) continue;
    if (!s.traced) {
      never.insert(pid);
      continue;
    }
    found[pid] = Source{to_process_resource(s.resource), s.service.name, s.trace_mode,
                        s.runtime};
  }
  for (const DiscoveredSource& s : result.excluded) {
    never.insert(static_cast<uint32_t>(s.process.pid()));
  }
  for (auto it = never_traced_.begin(); it != never_traced_.end();) {
    if (never.contains(*it)) {
      ++it;
      continue;
    }
    probe_->clear_never_trace(*it);  // re-enabled, or gone
    it = never_traced_.erase(it);
  }
  for (uint32_t pid : never) {
    if (never_traced_.insert(pid).second) {
      try {
        probe_->never_trace(pid);
      } catch (const std::exception& e) {
        logger_->warn("agent: {}", e.what());
      }
    }
  }

  std::vector<uint32_t> added;
  std::vector<uint32_t> removed;
  {
    std::lock_guard lock(sources_mu_);
    for (const auto& [pid, source] : found) {
      if (!sources_.contains(pid)) added.push_back(pid);
    }
    retired_.clear();
    for (auto& [pid, source] : sources_) {
      if (!found.contains(pid)) {
        removed.push_back(pid);
        retired_[pid] = std::move(source);
      }
    }
    sources_ = std::move(found);
    traced_count_.store(sources_.size(), std::memory_order_relaxed);
    forgotten_.insert(forgotten_.end(), removed.begin(), removed.end());
    // Spans held for a process the kernel reported can go out now.
    for (uint32_t pid : added) verdicts_.push_back({pid, true, false});
  }
  for (uint32_t pid : added) {
    try {
      probe_->trace_process(pid, sources_.at(pid).trace_mode);
      logger_->info("agent: tracing pid {} ({})", pid, sources_.at(pid).service_name);
    } catch (const std::exception& e) {
      logger_->warn("agent: {}", e.what());
    }
  }
  // Every source, not only new ones: a process may load libssl after it was first seen (Python
  // imports ssl on its first HTTPS call). Attaching again to the same library is a no-op.
  std::vector<ProbeTarget> probe_targets;
  {
    std::lock_guard lock(sources_mu_);  // the event thread erases exited processes
    for (const auto& [pid, source] : sources_) {
      probe_targets.push_back(
          {pid, source.trace_mode == TraceMode::kGoroutines, source.runtime});
    }
  }
  probe_runtimes(probe_targets);
  for (uint32_t pid : removed) {
    probe_->untrace_process(pid);
    detach_probes(pid);
  }
  published_->traced.set(static_cast<double>(traced_count_.load()));
  published_->scans.add();
  scans_.fetch_add(1, std::memory_order_relaxed);
  publish_listing(result);
  // glibc keeps freed pages (in every thread's arena) unless asked: what this scan read (the
  // /proc files of every process, the host's TCP tables) and the spans of a past burst, once
  // sent. Once per scan, and it only returns what is unused.
  malloc_trim(0);
}

void Agent::probe_runtimes(const std::vector<ProbeTarget>& targets) {
  for (const ProbeTarget& target : targets) {
    probe_tls(target.pid, target.runtime);
    if (target.go) {
      probe_go(target.pid);
    } else if (go_) {
      go_->detach(target.pid);  // it ran exec into something else
    }
    probe_event_loop(target.pid, target.runtime);
    enrol_earlier_connections(target.pid);
    // The process may have exited while its probes went on, after the event thread detached
    // what it had: its links would stay until its pid came back.
    bool gone = false;
    {
      std::lock_guard lock(sources_mu_);
      gone = !sources_.contains(target.pid);
    }
    if (gone) detach_probes(target.pid);
  }
}

void Agent::enrol_earlier_connections(uint32_t pid) {
  // sockops marks a connection for injection only when the process connects while it has a
  // context to inject (a thread per request, Go's goroutines followed, an event loop's requests
  // followed): the connections it opened before (a keep-alive pool from before the agent
  // started, grpc-go dialling at start) are enrolled here, once, when it first has one.
  if (!injector_ || !probe_->has_call_context(pid)) return;
  {
    std::lock_guard lock(probe_state_mu_);
    if (!connections_enrolled_.insert(pid).second) return;
  }
  if (const int enrolled = injector_->enrol_existing_connections(pid); enrolled > 0) {
    published_->enrolled_late.add(static_cast<uint64_t>(enrolled));
    logger_->info("agent: pid {}: {} connection(s) it opened before it was traced enrolled for "
                  "traceparent injection (from their next request)",
                  pid, enrolled);
  }
}

void Agent::detach_probes(uint32_t pid) {
  if (tls_) tls_->detach(pid);
  if (go_) go_->detach(pid);
  if (event_loops_) event_loops_->detach(pid);
  std::lock_guard lock(probe_state_mu_);
  tls_states_.erase(pid);
  go_states_.erase(pid);
  event_loop_states_.erase(pid);
  connections_enrolled_.erase(pid);
}

void Agent::probe_tls(uint32_t pid, const RuntimeInfo& runtime) {
  if (!tls_) return;
  const auto started = std::chrono::steady_clock::now();
  // Both, always: a library the process no longer maps (it ran exec) loses its probes.
  TlsAttachResult openssl = tls_->attach(pid, runtime.openssl);
  TlsAttachResult gnutls = tls_->attach(pid, runtime.gnutls);
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
  std::vector<TlsAttachResult> results;
  if (runtime.openssl.linkage != OpensslLinkage::kNone) results.push_back(std::move(openssl));
  if (!runtime.gnutls.library_path.empty()) results.push_back(std::move(gnutls));
  if (results.empty()) return;
  std::string state;
  for (const TlsAttachResult& result : results) {
    if (!state.empty()) state += "; ";
    state += result.attached ? "plaintext from " + result.target : "not seen: " + result.reason;
  }
  std::lock_guard lock(probe_state_mu_);
  std::string& known = tls_states_[pid];
  if (known == state) return;  // every scan comes by: say it once
  for (const TlsAttachResult& result : results) {
    if (result.attached) {
      logger_->info("agent: pid {}: TLS plaintext from {} (probes attached in {} ms)", pid,
                    result.target, took.count());
    } else {
      logger_->warn("agent: pid {}: its TLS traffic is not seen ({})", pid, result.reason);
    }
  }
  known = std::move(state);
}

void Agent::probe_go(uint32_t pid) {
  if (!go_) return;
  const auto started = std::chrono::steady_clock::now();
  const GoAttachResult result = go_->attach(pid);
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
  std::string state = result.attached ? "goroutines followed (" + result.target + ")"
                                      : "not followed: " + result.reason;
  if (result.attached && !result.reason.empty()) state += "; " + result.reason;
  std::lock_guard lock(probe_state_mu_);
  if (!result.tls.empty()) {
    // Go's own TLS: what probe_tls() says of OpenSSL for other processes.
    std::string& tls = tls_states_[pid];
    if (tls != result.tls) {
      logger_->info("agent: pid {}: TLS {}", pid, result.tls);
      tls = result.tls;
    }
  }
  std::string& known = go_states_[pid];
  if (known == state) return;
  if (result.attached) {
    logger_->info("agent: pid {}: Go goroutines followed ({}; probes attached in {} ms){}{}", pid,
                  result.target, took.count(), result.reason.empty() ? "" : ": ", result.reason);
  } else {
    logger_->warn("agent: pid {}: Go requests are joined by stitching only: {}{}", pid,
                  result.reason, result.target.empty() ? "" : " (" + result.target + ")");
  }
  known = std::move(state);
}

void Agent::probe_event_loop(uint32_t pid, const RuntimeInfo& runtime) {
  if (!event_loops_) return;
  const EventLoopAttachResult result = event_loops_->attach(pid, runtime);
  if (result.target.empty()) return;  // not an event loop Hodos follows: nothing to say
  std::string state = result.attached ? "followed: " + result.target : result.reason;
  std::lock_guard lock(probe_state_mu_);
  std::string& known = event_loop_states_[pid];
  if (known == state) return;  // every scan comes by: say it once
  if (result.attached) {
    logger_->info("agent: pid {}: requests followed through {}, so its upstream calls carry "
                  "their context",
                  pid, result.target);
  } else {
    logger_->warn("agent: pid {}: its upstream calls are joined by stitching only: {}", pid,
                  result.reason);
  }
  known = std::move(state);
}

std::string Agent::tls_state(uint32_t pid) const {
  if (!tls_) return "off (agent.capture.tls is false)";
  std::lock_guard lock(probe_state_mu_);
  auto it = tls_states_.find(pid);
  return it == tls_states_.end() ? "" : it->second;
}

std::string Agent::go_state(uint32_t pid) const {
  if (!go_) return "off (agent.capture.goroutines is false)";
  std::lock_guard lock(probe_state_mu_);
  auto it = go_states_.find(pid);
  return it == go_states_.end() ? "" : it->second;
}

void Agent::publish_listing(const DiscoveryResult& result) {
  {
    std::lock_guard lock(listing_mu_);
    listing_ = result.sources;
    listing_.insert(listing_.end(), result.excluded.begin(), result.excluded.end());
    listed_overrides_version_ = std::max(listed_overrides_version_, result.overrides_version);
  }
  listing_cv_.notify_all();
}

void Agent::update_listing(uint32_t pid, const DiscoveryResult& result) {
  std::lock_guard lock(listing_mu_);
  std::erase_if(listing_, [pid](const DiscoveredSource& s) {
    return static_cast<uint32_t>(s.process.pid()) == pid;
  });
  listing_.insert(listing_.end(), result.sources.begin(), result.sources.end());
  listing_.insert(listing_.end(), result.excluded.begin(), result.excluded.end());
}

std::vector<DiscoveredSource> Agent::sources() const {
  std::lock_guard lock(listing_mu_);
  return listing_;
}

bool Agent::apply_overrides(SourceOverrides overrides, std::chrono::milliseconds timeout) {
  const uint64_t version = discovery_.set_overrides(std::move(overrides));
  rescan();
  std::unique_lock lock(listing_mu_);
  return listing_cv_.wait_for(lock, timeout,
                              [&] { return listed_overrides_version_ >= version || stopping_; }) &&
         listed_overrides_version_ >= version;
}

void Agent::discover_new(std::vector<uint32_t> pids) {
  std::vector<ProbeTarget> probe_pending;
  std::sort(pids.begin(), pids.end());
  pids.erase(std::unique(pids.begin(), pids.end()), pids.end());
  const auto self = static_cast<uint32_t>(::getpid());
  for (uint32_t pid : pids) {
    DiscoveryResult result = discovery_.scan_pids({static_cast<pid_t>(pid)});
    const DiscoveredSource* source = result.sources.empty() ? nullptr : &result.sources.front();
    const bool gone = result.stats.vanished > 0;
    const bool traced = source != nullptr && source->traced && pid != self;
    // Definitely not to be traced (Hodos's own, excluded, its own SDK, disabled): the kernel must
    // not start again at its next listen(). Merely not listening (yet) is not definitive.
    const bool never = pid == self || result.stats.own_processes > 0 || !result.excluded.empty() ||
                       (source != nullptr && !source->traced);
    if (!traced && !gone && !never && result.stats.not_selected > 0) {
      // Reported at listen()'s entry, read before the socket listens: look again soon.
      auto seen = std::find_if(rechecks_.begin(), rechecks_.end(),
                               [pid](const Recheck& r) { return r.pid == pid; });
      const int attempt = seen == rechecks_.end() ? 0 : seen->attempt + 1;
      if (seen != rechecks_.end()) rechecks_.erase(seen);
      if (attempt < kListenRechecks) {
        rechecks_.push_back({std::chrono::steady_clock::now() +
                                 std::chrono::milliseconds(25 << attempt),
                             pid, attempt});
        continue;
      }
    }
    if (!traced) detach_probes(pid);
    // After every pid's verdict: attaching reads the library's symbols (Node's executable is
    // 100 MiB), and the process's spans and listing must not wait for it.
    if (traced) {
      probe_pending.push_back(
          {pid, source->trace_mode == TraceMode::kGoroutines, source->runtime});
    }
    if (!traced && !gone) {
      probe_->untrace_process(pid);
      if (never) {
        try {
          probe_->never_trace(pid);
          if (pid != self && result.stats.own_processes == 0) never_traced_.insert(pid);
        } catch (const std::exception& e) {
          logger_->warn("agent: {}", e.what());
        }
      }
    }
    // Listed at once: the next full scan may be far away.
    update_listing(pid, result);
    std::lock_guard lock(sources_mu_);
    if (traced) {
      // The kernel started it in the default mode: set its own now that its runtime is known.
      if (source->trace_mode != TraceMode::kDefault) {
        try {
          probe_->trace_process(pid, source->trace_mode);
        } catch (const std::exception& e) {
          logger_->warn("agent: {}", e.what());
        }
      }
      Source found{to_process_resource(source->resource), source->service.name,
                   source->trace_mode, source->runtime};
      const bool added = sources_.insert_or_assign(pid, std::move(found)).second;
      if (added) logger_->info("agent: tracing pid {} ({})", pid, sources_.at(pid).service_name);
    } else if (auto it = sources_.find(pid); it != sources_.end()) {
      retired_[pid] = std::move(it->second);  // e.g. it ran exec into something else
      sources_.erase(it);
    }
    if (!traced && !gone) forgotten_.push_back(pid);
    traced_count_.store(sources_.size(), std::memory_order_relaxed);
    verdicts_.push_back({pid, traced, gone});
  }
  published_->traced.set(static_cast<double>(traced_count_.load()));
  probe_runtimes(probe_pending);
}

void Agent::discovery_loop() {
  auto next_scan = std::chrono::steady_clock::now() + options_.rescan_interval;
  for (;;) {
    std::vector<uint32_t> reported;
    bool scan = false;
    {
      std::unique_lock lock(wake_mu_);
      auto wake_at = next_scan;
      for (const Recheck& r : rechecks_) wake_at = std::min(wake_at, r.at);
      wake_.wait_until(lock, wake_at, [this] {
        return stopping_.load() || rescan_requested_ || !to_discover_.empty();
      });
      if (stopping_) return;
      reported.swap(to_discover_);
      const auto now = std::chrono::steady_clock::now();
      for (const Recheck& r : rechecks_) {
        if (r.at <= now) reported.push_back(r.pid);
      }
      scan = rescan_requested_ || std::chrono::steady_clock::now() >= next_scan;
      rescan_requested_ = false;
    }
    try {
      // New processes first: their spans wait for this.
      if (!reported.empty()) discover_new(std::move(reported));
      if (scan) {
        scan_once();
        next_scan = std::chrono::steady_clock::now() + options_.rescan_interval;
      }
    } catch (const std::exception& e) {
      logger_->warn("agent: scanning /proc failed: {}", e.what());
    }
  }
}

void Agent::on_socket_event(const SocketEvent& event) {
  if (event.kind != SocketEventKind::kProcess) {
    // A server of a traced process's Unix socket stays a source; now its path is known.
    if (event.kind == SocketEventKind::kAccept && event.unix_peer_followed) {
      discovery_.add_unix_server(static_cast<pid_t>(event.pid), event.local.path);
    }
    tracker_.on_event(event);
    return;
  }
  if (event.syscall == SocketSyscall::kExit) {
    tracker_.on_event(event);  // ends its connections: their last spans are built first
  }
  on_process_event(event);
}

void Agent::on_process_event(const SocketEvent& event) {
  const uint32_t pid = event.pid;
  if (event.syscall == SocketSyscall::kExit) {
    detach_probes(pid);
    discovery_.forget_unix_server(static_cast<pid_t>(pid));
    std::lock_guard lock(sources_mu_);
    if (auto it = sources_.find(pid); it != sources_.end()) {
      retired_[pid] = std::move(it->second);
      sources_.erase(it);
      traced_count_.store(sources_.size(), std::memory_order_relaxed);
    }
    update_listing(pid, DiscoveryResult{});  // not listed until the next scan says otherwise
    return;  // a process still held is settled by its discovery (which finds it gone)
  }
  // The kernel started tracing it (listen, accept, fork of a traced parent) or it ran exec.
  if ((event.syscall == SocketSyscall::kAccept || event.syscall == SocketSyscall::kAccept4) &&
      event.local.is_unix()) {
    // It accepted a traced process's Unix connection: what makes it a source (the ACCEPT event
    // right after names the path).
    discovery_.add_unix_server(static_cast<pid_t>(pid), "");
  } else if (event.syscall == SocketSyscall::kExec) {
    discovery_.forget_unix_server(static_cast<pid_t>(pid));  // another program now
  }
  bool known = false;
  {
    std::lock_guard lock(sources_mu_);
    known = sources_.contains(pid);
  }
  if (!known) {
    auto [it, inserted] = held_.try_emplace(pid);
    if (inserted) it->second.since = std::chrono::steady_clock::now();
    it->second.comm = std::string(event.comm);
  }
  {
    std::lock_guard lock(wake_mu_);
    to_discover_.push_back(pid);
  }
  wake_.notify_all();
}

void Agent::settle_held(uint32_t pid, bool emit, bool gone) {
  auto it = held_.find(pid);
  if (it == held_.end()) return;
  Held& h = it->second;
  if (emit && !h.spans.empty()) {
    ProcessResource resource = known_resource(pid);
    if (resource.empty()) {
      resource = fallback_process_resource(pid, host_name_);
      // Gone before /proc could be read: the kernel's name for it is all there is.
      auto name = std::find_if(resource.begin(), resource.end(),
                               [](const ProcessAttribute& a) { return a.key == "service.name"; });
      const std::string* value =
          name != resource.end() ? std::get_if<std::string>(&name->value) : nullptr;
      if (gone && !h.comm.empty() && value != nullptr && *value == "unknown_service") {
        name->value = h.comm;
        resource.push_back({"process.executable.name", h.comm});
      }
    }
    *h.resource = *make_resource(h.spans, resource);
    if (batch_.empty()) batch_started_ = std::chrono::steady_clock::now();
    batch_.append(std::move(h.spans));
  }
  if (h.dropped > 0) {
    logger_->warn("agent: dropped {} spans of pid {} while waiting for its discovery", h.dropped,
                  pid);
  }
  held_.erase(it);
}

void Agent::event_loop() {
  auto next_publish = std::chrono::steady_clock::now();
  auto next_sweep = next_publish + kIdleSweepInterval;
  while (!stopping_.load()) {
    try {
      probe_->poll(options_.poll_timeout);
      if (injector_) injector_->consume();
    } catch (const std::exception& e) {
      logger_->warn("agent: reading socket events failed: {}", e.what());
    }
    std::vector<uint32_t> forgotten;
    std::vector<Verdict> verdicts;
    {
      std::lock_guard lock(sources_mu_);
      forgotten.swap(forgotten_);
      verdicts.swap(verdicts_);
    }
    for (uint32_t pid : forgotten) tracker_.forget_process(pid);
    for (const Verdict& v : verdicts) settle_held(v.pid, v.traced || v.gone, v.gone);

    const auto now = std::chrono::steady_clock::now();
    // Discovery that takes too long (or an event it never got) does not hold spans forever.
    std::vector<uint32_t> overdue;
    for (const auto& [pid, h] : held_) {
      if (now - h.since >= options_.max_discovery_wait) overdue.push_back(pid);
    }
    for (uint32_t pid : overdue) settle_held(pid, true, true);
    if (batch_.size() >= options_.max_batch_spans ||
        (!batch_.empty() && now - batch_started_ >= options_.max_batch_delay)) {
      flush();
    }
    if (now >= next_sweep) {
      tracker_.evict_idle(MonotonicClock::monotonic_now_ns());
      next_sweep = now + kIdleSweepInterval;
    }
    if (now >= next_publish) {
      publish_counters();
      next_publish = now + kCounterPublishInterval;
    }
  }
  // What is already in the ring buffer becomes spans too.
  try {
    probe_->consume();
  } catch (const std::exception& e) {
    logger_->warn("agent: reading socket events failed: {}", e.what());
  }
  std::vector<uint32_t> held;
  for (const auto& [pid, h] : held_) held.push_back(pid);
  for (uint32_t pid : held) settle_held(pid, true, false);
  flush();
  publish_counters();
}

void Agent::on_exchange(const TrackedExchange& exchange) {
  if (auto held = held_.find(exchange.pid); held != held_.end()) {
    // Who this process is is not known yet: the span waits with a resource filled in later.
    Held& h = held->second;
    if (h.spans.size() >= options_.max_held_spans) {
      ++h.dropped;
      return;
    }
    if (h.resource == nullptr) {
      h.resource = h.spans.new_resource();
      h.scope = make_scope(h.spans);
    }
    builder_.add(h.spans, exchange, h.resource, h.scope);
    return;
  }
  if (batch_.empty()) batch_started_ = std::chrono::steady_clock::now();
  if (batch_scope_ == nullptr) batch_scope_ = make_scope(batch_);
  builder_.add(batch_, exchange, resource_for(exchange.pid), batch_scope_);
  if (batch_.size() >= options_.max_batch_spans) flush();
}

const core::Resource* Agent::resource_for(uint32_t pid) {
  auto [it, inserted] = batch_resources_.try_emplace(pid, nullptr);
  if (!inserted) return it->second;
  ProcessResource resource = known_resource(pid);
  if (resource.empty()) resource = fallback_process_resource(pid, host_name_);
  it->second = make_resource(batch_, resource);
  return it->second;
}

ProcessResource Agent::known_resource(uint32_t pid) {
  std::lock_guard lock(sources_mu_);
  if (auto s = sources_.find(pid); s != sources_.end()) return s->second.resource;
  if (auto r = retired_.find(pid); r != retired_.end()) return r->second.resource;
  return {};
}

void Agent::flush() {
  if (batch_.empty()) return;
  const size_t n = batch_.size();
  core::SpanBatch out = std::move(batch_);
  batch_ = core::SpanBatch();
  batch_resources_.clear();
  batch_scope_ = nullptr;
  published_->spans.add(n);
  pipeline::Status st = next_.consume(std::move(out));
  if (st.is_ok()) {
    published_->receiver.accepted(n);
  } else {
    published_->receiver.refused(n);
    published_->spans_refused.add(n);
    logger_->warn("agent: the pipeline refused {} spans: {}", n, st.message());
  }
}

void Agent::publish_counters() {
  Published& p = *published_;
  const SocketProbeCounters probe = probe_->counters();
  Published::advance(p.events, probe.events, p.last_probe.events);
  Published::advance(p.ringbuf_drops, probe.ringbuf_drops, p.last_probe.ringbuf_drops);
  Published::advance(p.truncations, probe.truncations, p.last_probe.truncations);
  Published::advance(p.capture_failures, probe.capture_failures, p.last_probe.capture_failures);
  Published::advance(p.pending_overflow, probe.pending_overflow, p.last_probe.pending_overflow);
  Published::advance(p.decode_errors, probe.decode_errors, p.last_probe.decode_errors);
  Published::advance(p.contexts_new, probe.contexts_new, p.last_probe.contexts_new);
  Published::advance(p.contexts_adopted, probe.contexts_adopted, p.last_probe.contexts_adopted);
  Published::advance(p.contexts_full, probe.contexts_full, p.last_probe.contexts_full);
  Published::advance(p.contexts_not_per_thread, probe.contexts_not_per_thread,
                     p.last_probe.contexts_not_per_thread);
  if (injector_) {
    const InjectorCounters inject = injector_->counters();
    for (size_t i = 0; i < inject.values.size(); ++i) {
      Published::advance(*p.inject[i], inject.values[i], p.last_inject.values[i]);
    }
  }
  const ConnectionTrackerCounters t = tracker_.counters();
  Published::advance(p.http_parse_errors, t.http_invalid, p.last_tracker.http_invalid);
  Published::advance(p.http_truncated, t.http_truncated, p.last_tracker.http_truncated);
  Published::advance(p.unmatched_requests, t.unmatched_requests, p.last_tracker.unmatched_requests);
  Published::advance(p.unmatched_responses, t.unmatched_responses,
                     p.last_tracker.unmatched_responses);
  Published::advance(p.evicted_capacity, t.evicted_capacity, p.last_tracker.evicted_capacity);
  Published::advance(p.evicted_idle, t.evicted_idle, p.last_tracker.evicted_idle);
  Published::advance(p.ambiguous_parents, t.ambiguous_parents, p.last_tracker.ambiguous_parents);
  Published::advance(p.continued_traces, t.adopted_traceparent, p.last_tracker.adopted_traceparent);
  Published::advance(p.db_calls, t.db_calls, p.last_tracker.db_calls);
  Published::advance(p.db_parse_errors, t.db_invalid, p.last_tracker.db_invalid);
  Published::advance(p.db_truncated, t.db_truncated, p.last_tracker.db_truncated);
  Published::advance(p.db_unmatched_requests, t.db_unmatched_requests,
                     p.last_tracker.db_unmatched_requests);
  Published::advance(p.db_unmatched_responses, t.db_unmatched_responses,
                     p.last_tracker.db_unmatched_responses);
  Published::advance(p.db_gave_up, t.db_gave_up, p.last_tracker.db_gave_up);
  Published::advance(p.http2_connections, t.h2_connections, p.last_tracker.h2_connections);
  Published::advance(p.http2_unmatched, t.h2_unmatched, p.last_tracker.h2_unmatched);
  Published::advance(p.http2_gave_up, t.h2_gave_up, p.last_tracker.h2_gave_up);
  Published::advance(p.tls_connections, t.tls_connections, p.last_tracker.tls_connections);
  Published::advance(p.tls_no_socket, probe.tls_no_socket, p.last_probe.tls_no_socket);
  if (tls_) p.tls_processes.set(static_cast<double>(tls_->counters().processes));
  Published::advance(p.go_contexts_inherited, probe.go_contexts_inherited,
                     p.last_probe.go_contexts_inherited);
  Published::advance(p.go_requests_linked, probe.go_requests_linked,
                     p.last_probe.go_requests_linked);
  Published::advance(p.go_no_goroutine, probe.go_no_goroutine, p.last_probe.go_no_goroutine);
  Published::advance(p.go_h2_served, probe.go_h2_served, p.last_probe.go_h2_served);
  Published::advance(p.go_h2_calls, probe.go_h2_calls, p.last_probe.go_h2_calls);
  Published::advance(p.go_h2_no_socket, probe.go_h2_no_socket, p.last_probe.go_h2_no_socket);
  Published::advance(p.go_h2_unmatched, t.h2_kernel_stream_ids_unmatched,
                     p.last_tracker.h2_kernel_stream_ids_unmatched);
  if (go_) p.go_processes.set(static_cast<double>(go_->processes()));
  Published::advance(p.loop_calls_followed, probe.loop_calls_followed,
                     p.last_probe.loop_calls_followed);
  Published::advance(p.loop_no_context, probe.loop_no_context, p.last_probe.loop_no_context);
  Published::advance(p.loop_unreadable, probe.loop_unreadable, p.last_probe.loop_unreadable);
  if (event_loops_) p.event_loop_processes.set(static_cast<double>(event_loops_->processes()));
  p.connections.set(static_cast<double>(tracker_.connection_count()));
}

}  // namespace hodos::agent
