// The OpenTelemetry JS SDK sends spans with every field kind to collector A over gRPC,
// HTTP/protobuf and HTTP/JSON; A forwards them over OTLP gRPC (otlp exporter) to B1 and over
// OTLP/HTTP (otlphttp exporter) to B2; each B writes a file. Every span, id, attribute, event,
// link and status must arrive equal, compared as canonical protobuf.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { Collector, freePorts, makeTempDir } from './lib/collector.mjs';
import { otlpExporter, otlphttpExporter, otlpReceiver, telemetry } from './lib/configs.mjs';
import {
  canonical, countSpans, jsonToProtoObject, makeJsonRequest, post, spanIdsInJson, waitForSpansInFile,
} from './lib/otlp.mjs';
import { ExportResultCode, PROTOCOLS, sendSpansWithSdk } from './lib/sdk.mjs';

describe('OTLP end to end: SDK → collector A → collectors B1, B2 → files', () => {
  const tmp = makeTempDir('otlp');
  const files = { b1: tmp.file('b1.jsonl'), b2: tmp.file('b2.jsonl') };
  let a, b1, b2, ports;

  before(async () => {
    const [aGrpc, aHttp, aMetrics, b1Grpc, b1Metrics, b2Http, b2Metrics] = await freePorts(7);
    ports = { grpcPort: aGrpc, httpPort: aHttp };
    b1 = new Collector({
      name: 'b1', dir: tmp.dir, metricsPort: b1Metrics, waitPorts: [b1Grpc],
      config: {
        receivers: { otlp: otlpReceiver({ grpcPort: b1Grpc }) },
        exporters: { file: { path: files.b1 }, debug: {} },
        service: {
          telemetry: telemetry(b1Metrics),
          pipelines: { traces: { receivers: ['otlp'], exporters: ['file', 'debug'] } },
        },
      },
    });
    b2 = new Collector({
      name: 'b2', dir: tmp.dir, metricsPort: b2Metrics, waitPorts: [b2Http],
      config: {
        receivers: { otlp: otlpReceiver({ httpPort: b2Http }) },
        exporters: { file: { path: files.b2 } },
        service: {
          telemetry: telemetry(b2Metrics),
          pipelines: { traces: { receivers: ['otlp'], exporters: ['file'] } },
        },
      },
    });
    a = new Collector({
      name: 'a', dir: tmp.dir, metricsPort: aMetrics, waitPorts: [aGrpc, aHttp],
      config: {
        receivers: { otlp: otlpReceiver({ grpcPort: aGrpc, httpPort: aHttp }) },
        processors: {
          memory_limiter: { check_interval: '1s', limit_mib: 1024, spike_limit_mib: 256 },
          batch: { timeout: '100ms', send_batch_size: 50 },
        },
        exporters: { otlp: otlpExporter(b1Grpc), otlphttp: otlphttpExporter(b2Http) },
        service: {
          telemetry: telemetry(aMetrics),
          pipelines: {
            traces: { receivers: ['otlp'], processors: ['memory_limiter', 'batch'], exporters: ['otlp', 'otlphttp'] },
          },
        },
      },
    });
    await Promise.all([b1.start(), b2.start()]);
    await a.start();
  });

  after(async () => {
    const exits = {};
    for (const c of [a, b1, b2]) if (c) exits[c.name] = await c.stop();
    for (const [name, exit] of Object.entries(exits)) {
      if (exit) assert.deepEqual(exit, { code: 0, signal: null }, `${name} exits 0 on SIGTERM`);
    }
    tmp.remove();
  });

  // Waits for every span the client sent in both files, then compares canonical forms.
  async function assertArrivedEqual(expected, traceIds) {
    const keep = (span) => traceIds.has(span.traceId);
    const want = countSpans(expected);
    const wantIds = expected.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans.map((sp) => `${sp.traceId}/${sp.spanId}`)));
    assert.equal(wantIds.length, want);
    for (const [name, file] of Object.entries(files)) {
      const lines = await waitForSpansInFile(file, wantIds);
      const got = canonical(lines.map((l, i) => {
        try {
          return jsonToProtoObject(l);
        } catch (e) {
          throw new Error(`${file} line ${i + 1} is not OTLP JSON as the spec maps it: ${e.message}`);
        }
      }), keep);
      const ids = spanIdsInJson(lines).filter((id) => traceIds.has(id.split('/')[0]));
      assert.equal(ids.length, want, `${name}: each span written once (no duplicates)`);
      assert.deepStrictEqual(got, expected, `${name}: spans arrive equal`);
    }
  }

  for (const protocol of PROTOCOLS) {
    it(`SDK OTLP ${protocol} exporter: every span arrives equal`, async () => {
      const sent = await sendSpansWithSdk(protocol, ports);
      assert.ok(sent.results.length > 0, 'the SDK exported');
      for (const r of sent.results) {
        assert.equal(r.code, ExportResultCode.SUCCESS, `SDK export succeeded: ${r.error?.stack ?? ''}`);
      }
      const expected = canonical(sent.requests);
      assert.equal(countSpans(expected), 15);
      await assertArrivedEqual(expected, sent.traceIds);
    });
  }

  it('raw OTLP/JSON with maps, bytes, nested arrays and 64-bit extremes arrives equal', async () => {
    const { json, traceId } = makeJsonRequest({ n: 2, service: 'e2e-raw' });
    const span = json.resourceSpans[0].scopeSpans[0].spans[0];
    span.attributes.push(
      { key: 'int.max', value: { intValue: '9223372036854775807' } },
      { key: 'int.min', value: { intValue: '-9223372036854775808' } },
      { key: 'bytes', value: { bytesValue: Buffer.from([0, 255, 16, 32]).toString('base64') } },
      { key: 'empty.value', value: {} },
      { key: 'map', value: { kvlistValue: { values: [
        { key: 'a', value: { arrayValue: { values: [{ intValue: '1' }, { stringValue: 'two' }, { arrayValue: { values: [{ boolValue: true }] } }] } } },
        { key: 'b', value: { kvlistValue: { values: [{ key: 'c', value: { doubleValue: 0.1 } }] } } },
      ] } } },
      { key: 'array.mixed', value: { arrayValue: { values: [{ stringValue: 's' }, { intValue: '2' }, { doubleValue: 2.5 }, { boolValue: false }] } } },
    );
    span.flags = 0x301;
    span.traceState = 'k1=v1';
    span.status = { code: 2, message: 'failed' };
    json.resourceSpans[0].resource.droppedAttributesCount = 3;
    json.resourceSpans[0].schemaUrl = 'https://opentelemetry.io/schemas/1.21.0';
    json.resourceSpans[0].scopeSpans[0].scope = {
      name: 'raw', version: 'v1', attributes: [{ key: 'scope.attr', value: { stringValue: 'x' } }], droppedAttributesCount: 1,
    };
    const r = await post(`http://127.0.0.1:${ports.httpPort}/v1/traces`, json);
    assert.equal(r.status, 200, r.text);
    const expected = canonical([jsonToProtoObject(json)]);
    await assertArrivedEqual(expected, new Set([traceId]));
  });

  it('A counts what it accepted and sent', async () => {
    const accepted = await a.waitMetric('otelcol_receiver_accepted_spans_total', { receiver: 'otlp' },
      (v) => v >= 3 * 15 + 2);
    for (const exporter of ['otlp', 'otlphttp']) {
      await a.waitMetric('otelcol_exporter_sent_spans_total', { exporter }, (v) => v === accepted);
      assert.equal(await a.metric('otelcol_exporter_send_failed_spans_total', { exporter }) ?? 0, 0);
    }
  });
});
