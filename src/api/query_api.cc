#include "api/query_api.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

#include "api/jaeger_json.h"
#include "api/params.h"
#include "api/spm.h"
#include "otlp/otlp_codec.h"

namespace hodos::api {

namespace {

using nlohmann::json;

net::HttpResponse json_response(int status, const json& body) {
  return net::HttpResponse::json(status, dump_json(body));
}

net::HttpResponse jaeger_error(int status, std::string_view message) {
  return json_response(status, error_response(status, message));
}

// Jaeger v2's api_v3 HTTP gateway error body.
net::HttpResponse v3_error(int status, std::string_view message) {
  return json_response(status, json{{"error", json{{"httpCode", status}, {"message", message}}}});
}

// Compares in time independent of where the strings first differ.
bool equal_constant_time(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  }
  return diff == 0;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

void append_metric(std::string& out, std::string_view name, std::string_view type,
                   std::string_view help, double value) {
  fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n{} {}\n", name, help, name,
                 type, name, value);
}

}  // namespace

std::string store_stats_prometheus(const store::StoreStats& s) {
  std::string out;
  auto d = [](uint64_t v) { return static_cast<double>(v); };
  append_metric(out, "hodos_store_spans_ingested_total", "counter",
                "Spans written to the trace store.", d(s.spans_ingested));
  append_metric(out, "hodos_store_spans_rejected_total", "counter",
                "Spans the store refused (invalid ids, or older than the retention cutoff).",
                d(s.spans_rejected));
  append_metric(out, "hodos_store_bytes_ingested_total", "counter",
                "Encoded bytes written (spans, indexes and aggregates).", d(s.bytes_ingested));
  append_metric(out, "hodos_store_write_batches_total", "counter",
                "Atomic writes to the store.", d(s.write_batches));
  append_metric(out, "hodos_store_retention_runs_total", "counter",
                "Times retention was enforced.", d(s.retention_runs));
  append_metric(out, "hodos_store_retention_cutoff_seconds", "gauge",
                "Data starting before this Unix time has been removed.",
                d(s.retention_cutoff_ns) / 1e9);
  append_metric(out, "hodos_store_disk_bytes", "gauge", "Bytes of live data files on disk.",
                d(s.disk_bytes));
  return out;
}

bool is_loopback_host(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return iequals(host, "localhost") || host == "::1" || host.starts_with("127.");
}

struct QueryApi::Impl {
  std::shared_ptr<const store::TraceStore> store;
  const pipeline::Metrics* metrics = nullptr;
  QueryApiOptions options;
  std::shared_ptr<spdlog::logger> logger;
  std::unique_ptr<net::HttpServer> server;
  std::vector<std::string> get_patterns;  // the read-only routes, for 405 answers

  using Handler = net::HttpResponse (Impl::*)(net::HttpRequest&);

  uint64_t now() const { return options.clock(); }

  void add(const std::string& pattern, Handler handler, bool needs_auth = true) {
    get_patterns.push_back(pattern);
    server->route("GET", pattern, [this, handler, needs_auth](net::HttpRequest& request) {
      return guarded(request, handler, needs_auth);
    });
  }

  bool authorized(const net::HttpRequest& request) const {
    if (options.auth_token.empty()) return true;
    const std::string* header = request.header("authorization");
    if (header == nullptr || header->size() < 7 || !iequals(header->substr(0, 7), "bearer ")) {
      return false;
    }
    return equal_constant_time(std::string_view(*header).substr(7), options.auth_token);
  }

  net::HttpResponse guarded(net::HttpRequest& request, Handler handler, bool needs_auth) {
    return guarded_call(request, [&] { return (this->*handler)(request); }, needs_auth);
  }

  template <typename Call>
  net::HttpResponse guarded_call(net::HttpRequest& request, const Call& call, bool needs_auth) {
    if (needs_auth && !authorized(request)) {
      net::HttpResponse r = jaeger_error(
          401, "this API needs a bearer token: send 'Authorization: Bearer <token>' (hodos up "
               "printed the token at start, or was given one with --auth-token)");
      r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"hodos\"");
      return r;
    }
    net::HttpResponse response;
    try {
      response = call();
    } catch (const ParamError& e) {
      response = jaeger_error(400, e.what());
    } catch (const std::exception& e) {
      logger->error("api: {} {}: {}", request.method, request.target, e.what());
      response = jaeger_error(500, e.what());
    }
    pretty_print_if_asked(request, response);
    return response;
  }

  // Jaeger's `prettyPrint` parameter: any value but "false" indents the JSON by four spaces.
  static void pretty_print_if_asked(const net::HttpRequest& request, net::HttpResponse& response) {
    std::string pretty = request.query_param("prettyPrint").value_or("");
    if (pretty.empty() || pretty == "false" || !response.content_type.starts_with("application/json")) {
      return;
    }
    json body = json::parse(response.body, nullptr, /*allow_exceptions=*/false);
    if (!body.is_discarded()) response.body = body.dump(4, ' ', false, json::error_handler_t::replace);
  }

  // An unknown service is a 404 naming it rather than an empty answer, so a typo is not mistaken
  // for "no traces". A known service with nothing in the time range still answers 200 and [].
  std::optional<net::HttpResponse> unknown_service(const std::string& service) {
    std::vector<std::string> names = store->services();
    if (std::find(names.begin(), names.end(), service) != names.end()) return std::nullopt;
    return jaeger_error(404, fmt::format("service '{}' not found: no spans of it are stored "
                                         "(GET /api/services lists the known ones)",
                                         service));
  }

  net::HttpResponse services(net::HttpRequest&) {
    std::vector<std::string> names = store->services();
    size_t n = names.size();
    return json_response(200, structured_response(std::move(names), n));
  }

  // /api/services/{service}/operations; the path arrives percent-decoded, so a service name may
  // contain '/'.
  net::HttpResponse service_operations(net::HttpRequest& request) {
    std::string_view path = request.path;
    constexpr std::string_view kPrefix = "/api/services/";
    constexpr std::string_view kSuffix = "/operations";
    if (!path.ends_with(kSuffix) || path.size() <= kPrefix.size() + kSuffix.size()) {
      return jaeger_error(404, fmt::format("no such route: {} (use /api/services/{{service}}/"
                                           "operations)",
                                           request.path));
    }
    std::string service(path.substr(kPrefix.size(), path.size() - kPrefix.size() - kSuffix.size()));
    if (auto missing = unknown_service(service)) return *missing;
    std::vector<std::string> names;
    for (const store::Operation& op : store->operations(service)) {
      if (names.empty() || names.back() != op.name) names.push_back(op.name);
    }
    size_t n = names.size();
    return json_response(200, structured_response(std::move(names), n));
  }

  net::HttpResponse operations(net::HttpRequest& request) {
    std::string service = request.query_param("service").value_or("");
    if (service.empty()) throw ParamError("parameter 'service' is required");
    if (auto missing = unknown_service(service)) return *missing;
    std::optional<core::SpanKind> kind;
    if (std::string k = request.query_param("spanKind").value_or(""); !k.empty()) {
      kind = parse_span_kind(k);
      if (!kind) {
        throw ParamError(fmt::format(
            "unable to parse param 'spanKind': unsupported span kind '{}' (use server, client, "
            "producer, consumer, internal or unspecified)",
            k));
      }
    }
    json data = json::array();
    for (const store::Operation& op : store->operations(service, kind)) {
      data.push_back(json{{"name", op.name},
                          {"spanKind", op.kind == core::SpanKind::kUnspecified
                                           ? std::string_view()
                                           : core::span_kind_name(op.kind)}});
    }
    size_t n = data.size();
    return json_response(200, structured_response(std::move(data), n));
  }

  net::HttpResponse search(net::HttpRequest& request) {
    TraceSearchParams p = parse_trace_search(request, now());
    json data = json::array();
    json errors = json::array();
    if (!p.trace_ids.empty()) {
      for (const core::TraceId& id : p.trace_ids) {
        core::SpanBatch trace = store->find_trace(id);
        if (trace.empty()) {
          errors.push_back(json{{"msg", "trace not found"}, {"traceID", id.hex()}});
        } else {
          data.push_back(trace_to_json(trace));
        }
      }
    } else {
      if (auto missing = unknown_service(p.query.service)) return *missing;
      for (const core::TraceId& id : store->search(p.query)) {
        core::SpanBatch trace = store->find_trace(id);
        if (!trace.empty()) data.push_back(trace_to_json(trace));  // expired in between
      }
    }
    json body = structured_response(std::move(data));
    if (!errors.empty()) body["errors"] = std::move(errors);
    return json_response(200, body);
  }

  std::optional<core::TraceId> trace_id_from_path(const net::HttpRequest& request,
                                                  std::string_view prefix) {
    return parse_trace_id(std::string_view(request.path).substr(prefix.size()));
  }

  net::HttpResponse trace(net::HttpRequest& request) {
    constexpr std::string_view kPrefix = "/api/traces/";
    std::optional<core::TraceId> id = trace_id_from_path(request, kPrefix);
    if (!id) {
      throw ParamError(fmt::format("unable to parse param 'traceID': '{}' is not a trace id (up to "
                                   "32 hex digits)",
                                   request.path.substr(kPrefix.size())));
    }
    core::SpanBatch trace = store->find_trace(*id);
    if (trace.empty()) return jaeger_error(404, "trace not found");
    return json_response(200, structured_response(json::array({trace_to_json(trace)})));
  }

  net::HttpResponse trace_v3(net::HttpRequest& request) {
    constexpr std::string_view kPrefix = "/api/v3/traces/";
    std::optional<core::TraceId> id = trace_id_from_path(request, kPrefix);
    if (!id) {
      return v3_error(400, fmt::format("malformed parameter trace_id: '{}' is not a trace id (up "
                                       "to 32 hex digits)",
                                       request.path.substr(kPrefix.size())));
    }
    core::SpanBatch trace = store->find_trace(*id);
    if (trace.empty()) return v3_error(404, "trace not found");
    std::string body = "{\"result\":";
    body += otlp::encode_json(trace);
    body.push_back('}');
    return net::HttpResponse::json(200, std::move(body));
  }

  net::HttpResponse dependencies(net::HttpRequest& request) {
    DependenciesParams p = parse_dependencies(request, now());
    return json_response(200, structured_response(dependencies_json(
                                  store->dependencies(p.end_ns, p.lookback_ns), p.service)));
  }

  net::HttpResponse metrics_route(net::HttpRequest& request) {
    std::string_view which = std::string_view(request.path).substr(sizeof("/api/metrics/") - 1);
    if (which == "minstep") {
      return json_response(200, structured_response(kMinMetricsStepNs / kNanosPerMilli));
    }
    SpmMetric metric;
    if (which == "calls") {
      metric = SpmMetric::kCalls;
    } else if (which == "errors") {
      metric = SpmMetric::kErrors;
    } else if (which == "latencies") {
      metric = SpmMetric::kLatencies;
    } else {
      return jaeger_error(404, fmt::format("no such route: {} (use /api/metrics/calls, errors, "
                                           "latencies or minstep)",
                                           request.path));
    }
    MetricsParams p = parse_metrics(request, now(), metric == SpmMetric::kLatencies);
    return json_response(200, spm_metric_family(*store, p, metric));
  }

  net::HttpResponse health(net::HttpRequest&) {
    return json_response(200, json{{"status", "ok"}});
  }

  net::HttpResponse prometheus(net::HttpRequest&) {
    std::string text = metrics != nullptr ? metrics->render_prometheus() : std::string();
    text += store_stats_prometheus(store->stats());
    net::HttpResponse r = net::HttpResponse::text(200, std::move(text));
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    return r;
  }

  // A GET route asked with another method is 405 with Allow, not "no such route".
  net::HttpResponse unknown_api_route(net::HttpRequest& request) {
    for (const std::string& pattern : get_patterns) {
      const bool matches = pattern.ends_with("/*")
                               ? request.path.starts_with(pattern.substr(0, pattern.size() - 1)) &&
                                     request.path.size() > pattern.size() - 1
                               : request.path == pattern;
      if (!matches) continue;
      net::HttpResponse r = jaeger_error(
          405, fmt::format("method {} not allowed on {}: it is read with GET", request.method,
                           request.path));
      r.headers.emplace_back("Allow", "GET");
      return r;
    }
    return jaeger_error(404, fmt::format("no such route: {} {}", request.method, request.path));
  }
};

QueryApi::QueryApi(std::shared_ptr<const store::TraceStore> store, const pipeline::Metrics* metrics,
                   QueryApiOptions options, std::shared_ptr<spdlog::logger> logger)
    : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.store = std::move(store);
  m.metrics = metrics;
  m.options = std::move(options);
  m.logger = logger ? std::move(logger) : spdlog::default_logger();
  net::HttpServerOptions server_options;
  server_options.address = m.options.address;
  server_options.threads = m.options.threads;
  server_options.max_body_bytes = 1 << 20;  // every route is a GET
  server_options.name = "api";
  m.server = std::make_unique<net::HttpServer>(server_options);

  m.add("/api/services", &Impl::services);
  m.add("/api/services/*", &Impl::service_operations);
  m.add("/api/operations", &Impl::operations);
  m.add("/api/traces", &Impl::search);
  m.add("/api/traces/*", &Impl::trace);
  m.add("/api/dependencies", &Impl::dependencies);
  m.add("/api/metrics/*", &Impl::metrics_route);
  m.add("/api/v3/traces/*", &Impl::trace_v3);
  m.add("/api/health", &Impl::health, /*needs_auth=*/false);
  m.add("/metrics", &Impl::prometheus);
  // Any other /api path, whatever the method: Jaeger's error shape rather than a bare 404.
  Impl* self = &m;
  m.server->route("", "/api/*", [self](net::HttpRequest& request) {
    return self->guarded(request, &Impl::unknown_api_route, true);
  });
  if (m.options.fallback) m.server->set_fallback(m.options.fallback);
}

QueryApi::~QueryApi() { stop(); }

void QueryApi::add_route(std::string method, std::string pattern, net::HttpHandler handler) {
  Impl* self = impl_.get();
  impl_->server->route(std::move(method), std::move(pattern),
                       [self, handler = std::move(handler)](net::HttpRequest& request) {
                         return self->guarded_call(request, [&] { return handler(request); }, true);
                       });
}

std::optional<std::string> QueryApi::start() { return impl_->server->start(); }

void QueryApi::stop() { impl_->server->stop(); }

uint16_t QueryApi::port() const { return impl_->server->port(); }

}  // namespace hodos::api
