// Zipkin JSON v2 POSTed to the zipkin receiver comes out of the file exporter as OTLP: names,
// ids, kinds, times, tags, annotations (as events) and the service name (as a resource).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { Collector, freePorts, makeTempDir } from './lib/collector.mjs';
import { otlpReceiver, telemetry } from './lib/configs.mjs';
import {
  SpanKind, StatusCode, flattenSpans, jsonToProtoObject, makeJsonRequest, post, randomHex, waitForSpansInFile,
} from './lib/otlp.mjs';

describe('Zipkin JSON v2 in → OTLP out', () => {
  const tmp = makeTempDir('zipkin');
  const file = tmp.file('out.jsonl');
  let c, url, otlpUrl;

  before(async () => {
    const [zipkinPort, otlpPort, metricsPort] = await freePorts(3);
    url = `http://127.0.0.1:${zipkinPort}/api/v2/spans`;
    otlpUrl = `http://127.0.0.1:${otlpPort}/v1/traces`;
    c = new Collector({
      name: 'zipkin', dir: tmp.dir, metricsPort, waitPorts: [zipkinPort, otlpPort],
      config: {
        receivers: { zipkin: { endpoint: `127.0.0.1:${zipkinPort}` }, otlp: otlpReceiver({ httpPort: otlpPort }) },
        // The zipkin exporter sends back into this collector's own zipkin receiver.
        exporters: { file: { path: file }, zipkin: { endpoint: url } },
        service: {
          telemetry: telemetry(metricsPort),
          pipelines: {
            traces: { receivers: ['zipkin'], exporters: ['file'] },
            'traces/to-zipkin': { receivers: ['otlp'], exporters: ['zipkin'] },
          },
        },
      },
    });
    await c.start();
  });

  after(async () => {
    if (c) assert.deepEqual(await c.stop(), { code: 0, signal: null });
    tmp.remove();
  });

  it('maps every Zipkin field the OTLP model has', async () => {
    const traceId = randomHex(16);
    const shortTraceId = randomHex(8);  // 64-bit Zipkin trace ids are still common
    const ts = (Date.now() - 5000) * 1000;  // microseconds
    const ids = { server: randomHex(8), client: randomHex(8), producer: randomHex(8), consumer: randomHex(8),
      error: randomHex(8), short: randomHex(8) };
    const spans = [
      {
        traceId, id: ids.server, kind: 'SERVER', name: 'get /api/orders', timestamp: ts, duration: 1500,
        localEndpoint: { serviceName: 'frontend', ipv4: '10.0.0.1', port: 8080 },
        remoteEndpoint: { ipv4: '10.0.0.9', port: 51000 },
        tags: { 'http.method': 'GET', 'http.path': '/api/orders', 'http.status_code': '200', custom: 'ünïcode ✓' },
        annotations: [{ timestamp: ts + 10, value: 'wr' }, { timestamp: ts + 1400, value: 'ws' }],
      },
      {
        traceId, id: ids.client, parentId: ids.server, kind: 'CLIENT', name: 'select orders',
        timestamp: ts + 100, duration: 800,
        localEndpoint: { serviceName: 'frontend' }, remoteEndpoint: { serviceName: 'postgres', ipv4: '10.0.0.5', port: 5432 },
        tags: { 'db.system': 'postgresql' },
      },
      {
        traceId, id: ids.producer, parentId: ids.server, kind: 'PRODUCER', name: 'send', timestamp: ts + 200, duration: 50,
        localEndpoint: { serviceName: 'frontend' },
      },
      {
        traceId, id: ids.consumer, parentId: ids.producer, kind: 'CONSUMER', name: 'receive', timestamp: ts + 300,
        duration: 70, localEndpoint: { serviceName: 'worker' },
      },
      {
        traceId, id: ids.error, parentId: ids.server, kind: 'CLIENT', name: 'call payments', timestamp: ts + 400,
        duration: 90, localEndpoint: { serviceName: 'frontend' }, tags: { error: 'connection refused' },
      },
      {
        traceId: shortTraceId, id: ids.short, kind: 'SERVER', name: 'legacy', timestamp: ts, duration: 1,
        localEndpoint: { serviceName: 'legacy-svc' },
      },
    ];
    const r = await post(url, spans);
    assert.ok(r.status >= 200 && r.status < 300, `zipkin POST answered ${r.status}: ${r.text}`);

    const fullTraceShort = `0000000000000000${shortTraceId}`;
    const wanted = [
      ...Object.entries(ids).filter(([k]) => k !== 'short').map(([, id]) => `${traceId}/${id}`),
      `${fullTraceShort}/${ids.short}`,
    ];
    const lines = await waitForSpansInFile(file, wanted);
    for (const l of lines) jsonToProtoObject(l);  // the output is OTLP JSON as the spec maps it
    const byId = new Map(flattenSpans(lines).map((s) => [s.span.spanId, s]));

    const server = byId.get(ids.server);
    assert.equal(server.span.traceId, traceId);
    assert.equal(server.span.name, 'get /api/orders');
    assert.equal(server.span.kind, SpanKind.SERVER);
    assert.equal(server.span.parentSpanId ?? '', '');
    assert.equal(server.span.startTimeUnixNano, String(BigInt(ts) * 1000n));
    assert.equal(server.span.endTimeUnixNano, String(BigInt(ts + 1500) * 1000n));
    assert.deepEqual(server.resource['service.name'], { stringValue: 'frontend' });
    for (const [k, v] of Object.entries(spans[0].tags)) {
      assert.deepEqual(server.attributes[k], { stringValue: v }, `tag ${k}`);
    }
    assert.deepEqual(
      (server.span.events ?? []).map((e) => [e.name, e.timeUnixNano]),
      [['wr', String(BigInt(ts + 10) * 1000n)], ['ws', String(BigInt(ts + 1400) * 1000n)]],
      'annotations become events');

    const client = byId.get(ids.client);
    assert.equal(client.span.kind, SpanKind.CLIENT);
    assert.equal(client.span.parentSpanId, ids.server);
    assert.deepEqual(client.attributes['db.system'], { stringValue: 'postgresql' });
    assert.equal(byId.get(ids.producer).span.kind, SpanKind.PRODUCER);
    assert.equal(byId.get(ids.consumer).span.kind, SpanKind.CONSUMER);
    assert.equal(byId.get(ids.consumer).span.parentSpanId, ids.producer);
    assert.deepEqual(byId.get(ids.consumer).resource['service.name'], { stringValue: 'worker' });
    assert.equal(byId.get(ids.error).span.status?.code, StatusCode.ERROR, 'the error tag sets status ERROR');

    const short = byId.get(ids.short);
    assert.equal(short.span.traceId, fullTraceShort, '64-bit trace ids are left-padded to 128 bits');
    assert.deepEqual(short.resource['service.name'], { stringValue: 'legacy-svc' });

    await c.waitMetric('otelcol_receiver_accepted_spans_total', { receiver: 'zipkin' }, (v) => v === spans.length);
  });

  it('malformed Zipkin JSON → 400 with a message, and the receiver keeps serving', async () => {
    const bad = await post(url, '[{"traceId": "abc", "id": ');
    assert.equal(bad.status, 400, bad.text);
    assert.ok(bad.text.trim().length > 0, 'the 400 says what was wrong');
    const notHex = await post(url, [{ traceId: 'zz', id: 'yy', name: 'x', timestamp: 1, duration: 1 }]);
    assert.equal(notHex.status, 400, `invalid ids → 400: ${notHex.text}`);

    const traceId = randomHex(16);
    const id = randomHex(8);
    const ok = await post(url, [{ traceId, id, name: 'after', timestamp: Date.now() * 1000, duration: 5,
      localEndpoint: { serviceName: 'svc' } }]);
    assert.ok(ok.status >= 200 && ok.status < 300, ok.text);
    await waitForSpansInFile(file, [`${traceId}/${id}`]);
  });

  it('OTLP in → zipkin exporter → zipkin receiver: the span survives the round trip', async () => {
    const req = makeJsonRequest({ n: 2, service: 'roundtrip-svc', name: 'rt', attrs: { 'http.route': '/x' } });
    const parent = req.json.resourceSpans[0].scopeSpans[0].spans[0];
    const child = req.json.resourceSpans[0].scopeSpans[0].spans[1];
    child.parentSpanId = parent.spanId;
    child.kind = SpanKind.CLIENT;
    child.events = [{ timeUnixNano: child.startTimeUnixNano, name: 'retry' }];
    const r = await post(otlpUrl, req.json);
    assert.equal(r.status, 200, r.text);
    const lines = await waitForSpansInFile(file, req.ids);
    const byId = new Map(flattenSpans(lines).map((s) => [s.span.spanId, s]));
    for (const sent of [parent, child]) {
      const got = byId.get(sent.spanId);
      assert.equal(got.span.traceId, sent.traceId);
      assert.equal(got.span.name, sent.name);
      assert.equal(got.span.kind, sent.kind);
      assert.equal(got.span.startTimeUnixNano, sent.startTimeUnixNano);
      assert.equal(got.span.endTimeUnixNano, sent.endTimeUnixNano);
      assert.deepEqual(got.resource['service.name'], { stringValue: 'roundtrip-svc' });
      assert.deepEqual(got.attributes['http.route'], { stringValue: '/x' });
    }
    assert.equal(byId.get(child.spanId).span.parentSpanId, parent.spanId);
    assert.deepEqual((byId.get(child.spanId).span.events ?? []).map((e) => [e.name, e.timeUnixNano]),
      [['retry', child.startTimeUnixNano]]);
  });
});
