// A small, fully known set of traces made with the real OpenTelemetry JS SDK, for the store and
// query API tests: four services on four resources (two of them the same service in two
// environments), exported over OTLP gRPC, HTTP/protobuf and HTTP/JSON, with exact start times and
// durations so that every search and every derived tag can be predicted.
//
//   A (now-10m)  frontend[prod]  SERVER   GET /checkout    100 ms  status unset, http 200
//                ├─ frontend     CLIENT   POST /pay         70 ms  http 500
//                │  └─ payments  SERVER   POST /pay         60 ms  ERROR "card declined"; events
//                │     │                                            retry{attempt=2}, exception{...}
//                │     └─ payments CLIENT SELECT payments   10 ms  db.system=postgresql
//                └─ frontend     INTERNAL render           10 ms
//   B (now-9m)   frontend[prod]  SERVER   GET /health        2 ms  OK, http 200
//   C (now-8m)   frontend[staging] SERVER GET /checkout   1500 ms  http 200, user.tier=gold
//   D (now-3h)   frontend[prod]  SERVER   GET /stock        40 ms
//                └─ inventory    SERVER   GET /stock/{sku}  30 ms  http 200
import { api, exporterGrpc, exporterHttp, exporterProto, resources, sdkTraceBase, sdkTraceNode } from './deps.mjs';
import { decodeRequest } from './otlp.mjs';
import { CapturingExporter } from './sdk.mjs';

const { SpanKind, SpanStatusCode, ROOT_CONTEXT, trace } = api;

function exporterFor(protocol, { grpcPort, httpPort }) {
  switch (protocol) {
    case 'grpc':
      return new exporterGrpc.OTLPTraceExporter({ url: `http://127.0.0.1:${grpcPort}`, timeoutMillis: 10000 });
    case 'http/protobuf':
      return new exporterProto.OTLPTraceExporter({ url: `http://127.0.0.1:${httpPort}/v1/traces`, timeoutMillis: 10000 });
    case 'http/json':
      return new exporterHttp.OTLPTraceExporter({ url: `http://127.0.0.1:${httpPort}/v1/traces`, timeoutMillis: 10000 });
    default:
      throw new Error(`unknown protocol ${protocol}`);
  }
}

// Microseconds since the epoch → the SDK's HrTime, exact to the microsecond.
function hr(us) {
  return [Math.floor(us / 1e6), (us % 1e6) * 1000];
}

export const MS = 1000; // µs per ms

// Makes a provider per resource, runs `build(tracers, span)` and flushes; resolves to what each
// exporter sent and its results. `span(tracer, name, opts, parent)` creates and ends a span with
// the given times (µs) and returns {span, spanId, traceId, startUs, durationUs}.
export async function withProviders(ports, resourceDefs, build) {
  const exporters = [];
  const providers = {};
  for (const [key, { attributes, protocol }] of Object.entries(resourceDefs)) {
    const exp = new CapturingExporter(exporterFor(protocol, ports));
    exporters.push(exp);
    providers[key] = new sdkTraceNode.NodeTracerProvider({
      resource: resources.resourceFromAttributes(attributes),
      spanProcessors: [new sdkTraceBase.BatchSpanProcessor(exp, { scheduledDelayMillis: 10 })],
    });
  }
  const tracers = Object.fromEntries(Object.entries(providers).map(([k, p]) => [k, p.getTracer('shop.instrumentation', '1.4.0')]));
  await build(tracers);
  await Promise.all(Object.values(providers).map((p) => p.forceFlush()));
  await Promise.all(Object.values(providers).map((p) => p.shutdown()));
  const results = exporters.flatMap((e) => e.results);
  const failed = results.filter((r) => r.code !== 0);
  if (failed.length) throw new Error(`the SDK's export failed: ${failed.map((r) => r.error?.message).join('; ')}`);
  return { requests: exporters.flatMap((e) => e.requests).map((b) => decodeRequest(b)), results };
}

// Starts a span at `startUs` (absolute) and ends it `durationUs` later; `events` are
// [name, attributes, atUs] and `status` {code, message}.
export function makeSpan(tracer, name, { kind, startUs, durationUs, attributes = {}, events = [], status, parent }) {
  const ctx = parent ? trace.setSpan(ROOT_CONTEXT, parent.span) : ROOT_CONTEXT;
  const span = tracer.startSpan(name, { kind, attributes, startTime: hr(startUs) }, ctx);
  for (const [ename, eattrs, atUs] of events) span.addEvent(ename, eattrs, hr(atUs));
  if (status) span.setStatus(status);
  span.end(hr(startUs + durationUs));
  const sc = span.spanContext();
  return { span, name, traceId: sc.traceId, spanId: sc.spanId, startUs, durationUs, parentSpanId: parent?.spanId };
}

export const SHOP_RESOURCES = {
  frontendProd: {
    protocol: 'grpc',
    attributes: { 'service.name': 'frontend', 'deployment.environment.name': 'prod', 'host.name': 'shop-1' },
  },
  frontendStaging: {
    protocol: 'http/protobuf',
    attributes: { 'service.name': 'frontend', 'deployment.environment.name': 'staging', 'host.name': 'shop-2' },
  },
  payments: {
    protocol: 'http/json',
    attributes: { 'service.name': 'payments', 'deployment.environment.name': 'prod', 'host.name': 'pay-1' },
  },
  inventory: {
    protocol: 'grpc',
    attributes: { 'service.name': 'inventory', 'host.name': 'inv-1' },
  },
};

// Sends traces A-D (see the top of this file). `nowUs` anchors the times. Returns
// {A, B, C, D} (each {traceId, spans: {key: span}}), the requests the SDK sent, and the times.
export async function sendShopTraces(ports, { nowUs = Date.now() * 1000 } = {}) {
  const base = Math.floor(nowUs / 1e6) * 1e6 - 10 * 60e6; // whole seconds: readable timestamps
  const t = { A: base, B: base + 60e6, C: base + 120e6, D: base - 170 * 60e6 };
  const out = {};
  const sent = await withProviders(ports, SHOP_RESOURCES, (tr) => {
    const A = {};
    A.root = makeSpan(tr.frontendProd, 'GET /checkout', {
      kind: SpanKind.SERVER, startUs: t.A, durationUs: 100 * MS,
      attributes: { 'http.request.method': 'GET', 'url.path': '/checkout', 'http.response.status_code': 200 },
    });
    A.payClient = makeSpan(tr.frontendProd, 'POST /pay', {
      kind: SpanKind.CLIENT, startUs: t.A + 10 * MS, durationUs: 70 * MS, parent: A.root,
      attributes: {
        'http.request.method': 'POST', 'server.address': 'payments', 'url.full': 'http://payments:8443/pay',
        'http.response.status_code': 500,
      },
    });
    A.payServer = makeSpan(tr.payments, 'POST /pay', {
      kind: SpanKind.SERVER, startUs: t.A + 15 * MS, durationUs: 60 * MS, parent: A.payClient,
      attributes: { 'http.request.method': 'POST', 'http.response.status_code': 500 },
      events: [
        ['retry', { attempt: 2 }, t.A + 40 * MS],
        ['exception', { 'exception.type': 'CardError', 'exception.message': 'card declined' }, t.A + 70 * MS],
      ],
      status: { code: SpanStatusCode.ERROR, message: 'card declined' },
    });
    A.db = makeSpan(tr.payments, 'SELECT payments', {
      kind: SpanKind.CLIENT, startUs: t.A + 20 * MS, durationUs: 10 * MS, parent: A.payServer,
      attributes: { 'db.system': 'postgresql', 'db.query.text': 'SELECT * FROM payments WHERE id = ?' },
    });
    A.render = makeSpan(tr.frontendProd, 'render', {
      kind: SpanKind.INTERNAL, startUs: t.A + 85 * MS, durationUs: 10 * MS, parent: A.root,
    });

    const B = {};
    B.root = makeSpan(tr.frontendProd, 'GET /health', {
      kind: SpanKind.SERVER, startUs: t.B, durationUs: 2 * MS,
      attributes: { 'http.request.method': 'GET', 'http.response.status_code': 200 },
      status: { code: SpanStatusCode.OK },
    });

    const C = {};
    C.root = makeSpan(tr.frontendStaging, 'GET /checkout', {
      kind: SpanKind.SERVER, startUs: t.C, durationUs: 1500 * MS,
      attributes: { 'http.request.method': 'GET', 'http.response.status_code': 200, 'user.tier': 'gold' },
    });

    const D = {};
    D.root = makeSpan(tr.frontendProd, 'GET /stock', { kind: SpanKind.SERVER, startUs: t.D, durationUs: 40 * MS });
    D.inventory = makeSpan(tr.inventory, 'GET /stock/{sku}', {
      kind: SpanKind.SERVER, startUs: t.D + 5 * MS, durationUs: 30 * MS, parent: D.root,
      attributes: { 'http.response.status_code': 200 },
    });
    for (const [name, spans] of Object.entries({ A, B, C, D })) out[name] = { traceId: spans.root.traceId, spans };
  });
  return { ...out, requests: sent.requests, times: t };
}
