// Tail sampling behind several gateways: the OpenTelemetry JS SDK sends 200 traces of 5 spans to
// a `hodos collector` whose `loadbalancing` exporter spreads them over two gateway collectors,
// each writing a file. Every trace must arrive whole at exactly one gateway, and both get some.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';

import { Collector, freePorts, makeTempDir, runHodos, toYaml, waitFor } from './lib/collector.mjs';
import { fastRetry, otlpReceiver, telemetry } from './lib/configs.mjs';
import { api, exporterGrpc, resources, sdkTraceBase, sdkTraceNode } from './lib/deps.mjs';
import { readJsonLines, spanIdsInJson } from './lib/otlp.mjs';

const { ROOT_CONTEXT, trace } = api;
const TRACES = 200;
const SPANS_PER_TRACE = 5;

// Sends TRACES traces of a root and SPANS_PER_TRACE - 1 children with the SDK's OTLP gRPC
// exporter; small export batches so that spans of one trace reach the balancer in different
// requests. Returns the "trace/span" ids sent.
async function sendTraces(grpcPort) {
  const provider = new sdkTraceNode.NodeTracerProvider({
    resource: resources.resourceFromAttributes({ 'service.name': 'e2e-loadbalancing' }),
    spanProcessors: [new sdkTraceBase.BatchSpanProcessor(
      new exporterGrpc.OTLPTraceExporter({ url: `http://127.0.0.1:${grpcPort}`, timeoutMillis: 10000 }),
      { scheduledDelayMillis: 20, maxExportBatchSize: 64, maxQueueSize: 4096 },
    )],
  });
  const tracer = provider.getTracer('e2e.loadbalancing');
  const sent = [];
  for (let t = 0; t < TRACES; t++) {
    const root = tracer.startSpan(`request-${t}`, { kind: api.SpanKind.SERVER });
    const ctx = trace.setSpan(ROOT_CONTEXT, root);
    const children = [];
    for (let c = 1; c < SPANS_PER_TRACE; c++) {
      children.push(tracer.startSpan(`step-${c}`, { kind: api.SpanKind.INTERNAL }, ctx));
    }
    for (const span of [...children, root]) {
      span.end();
      const sc = span.spanContext();
      sent.push(`${sc.traceId}/${sc.spanId}`);
    }
  }
  await provider.forceFlush();
  await provider.shutdown();
  return sent;
}

describe('loadbalancing exporter: SDK → balancer → two gateways', () => {
  const tmp = makeTempDir('lb');
  const files = [tmp.file('gw1.jsonl'), tmp.file('gw2.jsonl')];
  let lb, gateways, lbGrpc, backends;

  before(async () => {
    const [lbPort, lbMetrics, g1Grpc, g1Metrics, g2Grpc, g2Metrics] = await freePorts(6);
    lbGrpc = lbPort;
    backends = [`127.0.0.1:${g1Grpc}`, `127.0.0.1:${g2Grpc}`];
    gateways = [[g1Grpc, g1Metrics], [g2Grpc, g2Metrics]].map(([grpc, metrics], i) => new Collector({
      name: `gw${i + 1}`, dir: tmp.dir, metricsPort: metrics, waitPorts: [grpc],
      config: {
        receivers: { otlp: otlpReceiver({ grpcPort: grpc }) },
        exporters: { file: { path: files[i] } },
        service: {
          telemetry: telemetry(metrics),
          pipelines: { traces: { receivers: ['otlp'], exporters: ['file'] } },
        },
      },
    }));
    lb = new Collector({
      name: 'lb', dir: tmp.dir, metricsPort: lbMetrics, waitPorts: [lbGrpc],
      config: {
        receivers: { otlp: otlpReceiver({ grpcPort: lbGrpc }) },
        processors: { batch: { timeout: '50ms', send_batch_size: 100 } },
        exporters: {
          loadbalancing: {
            routing_key: 'traceID',
            protocol: { otlp: { tls: { insecure: true }, retry_on_failure: fastRetry() } },
            resolver: { static: { hostnames: backends } },
          },
        },
        service: {
          telemetry: telemetry(lbMetrics),
          pipelines: { traces: { receivers: ['otlp'], processors: ['batch'], exporters: ['loadbalancing'] } },
        },
      },
    });
    await Promise.all(gateways.map((g) => g.start()));
    await lb.start();
  });

  after(async () => {
    const exits = {};
    for (const c of [lb, ...(gateways ?? [])]) if (c) exits[c.name] = await c.stop();
    for (const [name, exit] of Object.entries(exits)) {
      if (exit) assert.deepEqual(exit, { code: 0, signal: null }, `${name} exits 0 on SIGTERM`);
    }
    tmp.remove();
  });

  it('every trace arrives whole at exactly one gateway, and both gateways get some', async () => {
    const sent = await sendTraces(lbGrpc);
    assert.equal(sent.length, TRACES * SPANS_PER_TRACE);
    const want = new Set(sent);

    let idsAt = [[], []];
    await waitFor(`${want.size} spans across both gateways' files`, () => {
      idsAt = files.map((f) => spanIdsInJson(readJsonLines(f)));
      const have = new Set(idsAt.flat());
      for (const id of want) if (!have.has(id)) return false;
      return true;
    }, {
      timeoutMs: 30000,
      describe: () => `gw1 ${idsAt[0].length} spans, gw2 ${idsAt[1].length} spans of ${want.size}`,
    });

    const wantTraces = new Set(sent.map((id) => id.split('/')[0]));
    assert.equal(wantTraces.size, TRACES);
    // trace id → spans at each gateway
    const spansAt = idsAt.map((ids) => {
      const m = new Map();
      for (const id of ids) {
        const traceId = id.split('/')[0];
        if (wantTraces.has(traceId)) m.set(traceId, (m.get(traceId) ?? 0) + 1);
      }
      return m;
    });
    for (const traceId of wantTraces) {
      const counts = spansAt.map((m) => m.get(traceId) ?? 0);
      assert.ok((counts[0] === 0) !== (counts[1] === 0), `trace ${traceId} is at exactly one gateway (spans: ${counts})`);
      assert.equal(counts[0] + counts[1], SPANS_PER_TRACE, `trace ${traceId} arrives whole, each span once`);
    }
    assert.ok(spansAt[0].size > 0 && spansAt[1].size > 0,
      `both gateways get traces (gw1 ${spansAt[0].size}, gw2 ${spansAt[1].size})`);

    // The balancer counts what it routed to each backend.
    for (let i = 0; i < 2; i++) {
      const expected = spansAt[i].size * SPANS_PER_TRACE;
      await lb.waitMetric('hodos_exporter_loadbalancing_spans_total',
        { exporter: 'loadbalancing', backend: backends[i] }, (v) => v === expected, { expect: expected });
    }
  });

  it('a dns resolver is refused with the key and the way forward', () => {
    const path = tmp.file('dns.yaml');
    fs.writeFileSync(path, toYaml({
      receivers: { otlp: otlpReceiver({ grpcPort: 4317 }) },
      exporters: { loadbalancing: { resolver: { dns: { hostname: 'gateways.example' } } } },
      service: { pipelines: { traces: { receivers: ['otlp'], exporters: ['loadbalancing'] } } },
    }));
    const r = runHodos(['collector', 'validate', '--config', path]);
    assert.notEqual(r.code, 0, 'validate fails');
    const out = r.stderr + r.stdout;
    assert.match(out, /exporters\.loadbalancing\.resolver\.dns/, out);
    assert.match(out, /resolver\.static\.hostnames/, out);
  });
});
