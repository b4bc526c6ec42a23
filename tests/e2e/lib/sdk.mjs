// The OpenTelemetry JS SDK as a real client: spans with every field kind OTLP has, sent with
// one of the SDK's own OTLP exporters, and what it sent captured as protobuf with the SDK's own
// serializer (ProtobufTraceSerializer over the same ReadableSpans).
import {
  api, core, exporterGrpc, exporterHttp, exporterProto, resources, sdkTraceBase, sdkTraceNode, transformer,
} from './deps.mjs';
import { decodeRequest, randomHex } from './otlp.mjs';

const { SpanKind, SpanStatusCode, TraceFlags, ROOT_CONTEXT, trace } = api;

// Wraps an SDK exporter: records the protobuf of every batch it is handed and every result.
export class CapturingExporter {
  constructor(inner) {
    this.inner = inner;
    this.requests = [];
    this.results = [];
  }

  export(spans, done) {
    this.requests.push(transformer.ProtobufTraceSerializer.serializeRequest(spans));
    this.inner.export(spans, (result) => {
      this.results.push(result);
      done(result);
    });
  }

  forceFlush() {
    return this.inner.forceFlush ? this.inner.forceFlush() : Promise.resolve();
  }

  shutdown() {
    return this.inner.shutdown();
  }
}

export const PROTOCOLS = ['grpc', 'http/protobuf', 'http/json'];

function makeExporter(protocol, { grpcPort, httpPort }) {
  switch (protocol) {
    case 'grpc':
      return new exporterGrpc.OTLPTraceExporter({ url: `http://127.0.0.1:${grpcPort}`, timeoutMillis: 10000 });
    case 'http/protobuf':
      // gzip here, so the receiver's gzip request bodies are exercised by a real client.
      return new exporterProto.OTLPTraceExporter({
        url: `http://127.0.0.1:${httpPort}/v1/traces`, timeoutMillis: 10000, compression: 'gzip',
      });
    case 'http/json':
      return new exporterHttp.OTLPTraceExporter({ url: `http://127.0.0.1:${httpPort}/v1/traces`, timeoutMillis: 10000 });
    default:
      throw new Error(`unknown protocol ${protocol}`);
  }
}

// A time with nanoseconds that survive only if nothing rounds through milliseconds.
function hr(offsetMs, nanos) {
  const ms = Date.now() - 60000 + offsetMs;
  return [Math.floor(ms / 1000), (ms % 1000) * 1e6 + nanos];
}

const ALL_TYPES = {
  'attr.string': 'héllo, wörld ✓ "quoted" \\ back\nslash',
  'attr.string.empty': '',
  'attr.bool.true': true,
  'attr.bool.false': false,
  'attr.int': 42,
  'attr.int.negative': -7,
  'attr.int.zero': 0,
  'attr.int.big': 2 ** 53 - 1,
  'attr.double': 3.25,
  'attr.double.negative': -0.000123,
  // (No huge doubles: the SDK sends any integral JS number, 1.5e300 included, as intValue.)
  'attr.double.precise': 0.1 + 0.2,
  'attr.double.tiny': 5e-324,
  'attr.array.string': ['a', '', 'ç'],
  'attr.array.bool': [true, false, true],
  'attr.array.int': [1, -2, 2 ** 40],
  'attr.array.double': [0.5, -1.25, 1e-9],
  'attr.array.empty': [],
};

// Creates every kind of span on two resources and three scopes, exports them with `protocol`
// to the given ports, and returns what the SDK sent, canonicalised, with the ids used.
export async function sendSpansWithSdk(protocol, ports) {
  const exporters = [];
  const makeProvider = (resource) => {
    const exp = new CapturingExporter(makeExporter(protocol, ports));
    exporters.push(exp);
    return new sdkTraceNode.NodeTracerProvider({
      resource,
      // Limits low enough that every dropped_*_count field gets a non-zero value below.
      spanLimits: {
        attributeCountLimit: 40,
        eventCountLimit: 6,
        linkCountLimit: 4,
        attributePerEventCountLimit: 4,
        attributePerLinkCountLimit: 4,
      },
      spanProcessors: [new sdkTraceBase.BatchSpanProcessor(exp, { scheduledDelayMillis: 20, maxExportBatchSize: 7 })],
    });
  };

  const run = randomHex(4);
  const p1 = makeProvider(resources.resourceFromAttributes({
    'service.name': `e2e-sdk-${protocol}`,
    'service.version': '1.2.3',
    'e2e.run': run,
    'deployment.environment.name': 'test',
    'host.cpu.count': 2,
    'e2e.resource.list': ['x', 'y'],
    // The SDK passes resource values through unchecked, so maps and bytes reach the wire too.
    'e2e.resource.map': { inner: 'v', n: 1, nested: { deep: true } },
    'e2e.resource.bytes': new Uint8Array([0, 1, 2, 253, 254, 255]),
  }, { schemaUrl: 'https://opentelemetry.io/schemas/1.26.0' }));
  const p2 = makeProvider(resources.resourceFromAttributes({ 'service.name': `e2e-sdk-${protocol}-other`, 'e2e.run': run }));

  const tracer = p1.getTracer('e2e.scope.main', '0.9.1', { schemaUrl: 'https://example.com/scope-schema' });
  const tracerNoVersion = p1.getTracer('e2e.scope.bare');
  const tracer2 = p2.getTracer('e2e.scope.other', '2.0.0');

  const traceIds = new Set();
  const remember = (span) => {
    traceIds.add(span.spanContext().traceId);
    return span;
  };

  // 1. A root SERVER span with every attribute type, events, and a child of every kind.
  const root = remember(tracer.startSpan('GET /orders/{id}', {
    kind: SpanKind.SERVER, attributes: ALL_TYPES, startTime: hr(0, 123457),
  }));
  root.addEvent('event.no.attrs', hr(1, 1));
  root.addEvent('event.with.attrs', { 'ev.string': 's', 'ev.int': 9, 'ev.bool': true, 'ev.double': 0.25 }, hr(2, 999999));
  root.addEvent('event.with.array', { 'ev.array': ['p', 'q'] }, hr(3, 500));
  root.setStatus({ code: SpanStatusCode.OK });
  const rootCtx = trace.setSpan(ROOT_CONTEXT, root);
  const kinds = [
    ['internal', SpanKind.INTERNAL],
    ['client', SpanKind.CLIENT],
    ['producer', SpanKind.PRODUCER],
    ['consumer', SpanKind.CONSUMER],
    ['server', SpanKind.SERVER],
  ];
  for (const [name, kind] of kinds) {
    const child = tracer.startSpan(`child.${name}`, { kind, startTime: hr(5, 7) }, rootCtx);
    child.setAttribute('child.kind', name);
    const grandchild = tracerNoVersion.startSpan(`grandchild.of.${name}`, { startTime: hr(6, 11) },
                                                 trace.setSpan(ROOT_CONTEXT, child));
    grandchild.end(hr(7, 13));
    child.end(hr(8, 17));
  }

  // 2. A span whose parent is remote and carries trace state; links of every shape; ERROR.
  const remoteTrace = randomHex(16);
  traceIds.add(remoteTrace);
  const remoteParent = trace.setSpanContext(ROOT_CONTEXT, {
    traceId: remoteTrace,
    spanId: randomHex(8),
    traceFlags: TraceFlags.SAMPLED,
    isRemote: true,
    traceState: new core.TraceState('vendor1=abc,vendor2=x:y-z'),
  });
  const linked = remember(tracer.startSpan('process message', {
    kind: SpanKind.CONSUMER,
    startTime: hr(10, 1),
    links: [
      {
        context: {
          traceId: randomHex(16), spanId: randomHex(8), traceFlags: TraceFlags.SAMPLED, isRemote: true,
          traceState: new core.TraceState('link=state,other=1'),
        },
        attributes: { 'link.string': 'l', 'link.int': 3, 'link.double': 2.5, 'link.bool': false, 'link.array': [1, 2] },
      },
      { context: { traceId: randomHex(16), spanId: randomHex(8), traceFlags: TraceFlags.NONE, isRemote: false } },
    ],
  }, remoteParent));
  linked.addLink({
    context: { traceId: root.spanContext().traceId, spanId: root.spanContext().spanId, traceFlags: TraceFlags.SAMPLED },
    attributes: { 'link.added.later': true },
  });
  linked.recordException(new Error('boom: queue closed'), hr(11, 3));
  linked.setStatus({ code: SpanStatusCode.ERROR, message: 'queue closed — ünicode message' });
  linked.end(hr(12, 5));

  // 3. A span over every limit: dropped attribute/event/link counts on span, event and link.
  const over = remember(tracer.startSpan('over.limits', {
    kind: SpanKind.INTERNAL,
    startTime: hr(20, 0),
    links: Array.from({ length: 5 }, (_, i) => ({
      context: { traceId: randomHex(16), spanId: randomHex(8), traceFlags: TraceFlags.SAMPLED },
      attributes: { a: i, b: 'b', c: true, d: 1.5, e: 'dropped' },
    })),
  }));
  for (let i = 0; i < 45; i++) over.setAttribute(`k${String(i).padStart(2, '0')}`, i);
  for (let i = 0; i < 8; i++) over.addEvent(`e${i}`, { a: 1, b: 2, c: 3, d: 4, e: 5 }, hr(21, i));
  over.setStatus({ code: SpanStatusCode.ERROR });
  over.end(hr(22, 0));

  // 4. Unset status, unicode name, a span on the second resource, default times.
  const plain = remember(tracer2.startSpan('ünïcode span ✓', { kind: SpanKind.PRODUCER }));
  plain.setAttribute('only.one', 'attribute');
  plain.end();
  remember(tracer2.startSpan('no attributes at all')).end();

  root.end(hr(30, 654321));

  await Promise.all([p1.forceFlush(), p2.forceFlush()]);
  await Promise.all([p1.shutdown(), p2.shutdown()]);

  const requests = exporters.flatMap((e) => e.requests);
  const results = exporters.flatMap((e) => e.results);
  return { requests: requests.map((b) => decodeRequest(b)), results, traceIds };
}

export const ExportResultCode = core.ExportResultCode;
