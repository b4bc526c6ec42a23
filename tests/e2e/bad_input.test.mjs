// Bad requests against a running collector: malformed protobuf/JSON → 400 (HTTP) and
// INVALID_ARGUMENT (gRPC) with a message, wrong content type → 415, oversized body → 413. The
// collector keeps serving good requests and counts every refusal on /metrics.
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import { after, before, describe, it } from 'node:test';

import { Collector, freePorts, makeTempDir } from './lib/collector.mjs';
import { otlpReceiver, telemetry } from './lib/configs.mjs';
import { grpc } from './lib/deps.mjs';
import {
  ExportResponse, encodeRequest, errorMessage, makeJsonRequest, post, waitForSpansInFile,
} from './lib/otlp.mjs';

const EXPORT_METHOD = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';
const MAX_BODY = 16384;

// Bytes that no protobuf parser accepts: field 1 (resource_spans) claims a length far beyond
// the end of the message.
const BAD_PROTOBUF = Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01, 0x02]);

describe('bad input against a running collector', () => {
  const tmp = makeTempDir('badinput');
  const file = tmp.file('out.jsonl');
  let c, url, grpcClient;

  before(async () => {
    const [grpcPort, httpPort, metricsPort] = await freePorts(3);
    url = `http://127.0.0.1:${httpPort}/v1/traces`;
    c = new Collector({
      name: 'badinput', dir: tmp.dir, metricsPort, waitPorts: [grpcPort, httpPort],
      config: {
        receivers: { otlp: otlpReceiver({ grpcPort, httpPort, http: { max_request_body_size: MAX_BODY } }) },
        exporters: { file: { path: file } },
        service: { telemetry: telemetry(metricsPort), pipelines: { traces: { receivers: ['otlp'], exporters: ['file'] } } },
      },
    });
    await c.start();
    grpcClient = new grpc.Client(`127.0.0.1:${grpcPort}`, grpc.credentials.createInsecure());
  });

  after(async () => {
    grpcClient?.close();
    if (c) assert.deepEqual(await c.stop(), { code: 0, signal: null });
    tmp.remove();
  });

  function grpcExport(body) {
    return new Promise((resolve) => {
      grpcClient.makeUnaryRequest(EXPORT_METHOD, (b) => b, (b) => b, body, new grpc.Metadata(),
        { deadline: Date.now() + 10000 }, (err, resp) => resolve({ err, resp }));
    });
  }

  const rejectedCount = () => c.metric('hodos_receiver_rejected_requests_total', { receiver: 'otlp' });

  // Checks the status and message of a refused request, and that /metrics counted it.
  async function expectRefused(send, status, what) {
    const before = (await rejectedCount()) ?? 0;
    const resp = await send();
    const allowed = [status].flat();
    assert.ok(allowed.includes(resp.status),
      `${what}: want HTTP ${allowed.join(' or ')}, got ${resp.status} ${resp.text}`);
    const msg = errorMessage(resp);
    assert.ok(msg && msg.trim().length > 0,
      `${what}: the response says what was wrong (body: ${JSON.stringify(resp.text)})`);
    await c.waitMetric('hodos_receiver_rejected_requests_total', { receiver: 'otlp' }, (v) => v === before + 1,
      { expect: `${before + 1} (the refusal counted)` });
    return msg;
  }

  it('malformed protobuf → 400 with a message', async () => {
    await expectRefused(() => post(url, BAD_PROTOBUF, { contentType: 'application/x-protobuf' }),
      400, 'malformed protobuf');
  });

  it('malformed JSON → 400 with a message', async () => {
    await expectRefused(() => post(url, '{"resourceSpans": [{"scopeSpans": ['), 400, 'malformed JSON');
  });

  it('JSON with an id that is not hex → 400 with a message', async () => {
    const { json } = makeJsonRequest({ n: 1 });
    json.resourceSpans[0].scopeSpans[0].spans[0].traceId = 'not-a-trace-id';
    await expectRefused(() => post(url, json), 400, 'bad trace id');
  });

  it('gzip body that is not gzip → 400', async () => {
    await expectRefused(() => post(url, Buffer.from('definitely not gzip'), {
      contentType: 'application/json', headers: { 'content-encoding': 'gzip' },
    }), 400, 'bad gzip');
  });

  it('wrong content type → 415', async () => {
    await expectRefused(() => post(url, 'hello', { contentType: 'text/plain' }), 415, 'text/plain');
  });

  it('body over max_request_body_size → 413', async () => {
    const { json } = makeJsonRequest({ n: 1, attrs: { padding: 'x'.repeat(MAX_BODY * 4) } });
    await expectRefused(() => post(url, json), 413, 'oversized body');
  });

  // The limit applies to what the body inflates to, or gzip would be a way around it.
  it('gzip body that inflates over max_request_body_size → refused', async () => {
    const { json } = makeJsonRequest({ n: 1, attrs: { padding: 'x'.repeat(MAX_BODY * 8) } });
    const gz = zlib.gzipSync(JSON.stringify(json));
    assert.ok(gz.length < MAX_BODY, 'the compressed body itself is small');
    await expectRefused(() => post(url, gz, { headers: { 'content-encoding': 'gzip' } }), [413, 400], 'gzip bomb');
  });

  it('gRPC: malformed protobuf → INVALID_ARGUMENT with a message', async () => {
    const before = (await rejectedCount()) ?? 0;
    const { err } = await grpcExport(BAD_PROTOBUF);
    assert.ok(err, 'the call fails');
    assert.equal(err.code, grpc.status.INVALID_ARGUMENT,
      `status ${err.code} (${grpc.status[err.code]}): ${err.details}`);
    assert.ok(err.details && err.details.length > 0, 'the status says what was wrong');
    await c.waitMetric('hodos_receiver_rejected_requests_total', { receiver: 'otlp' }, (v) => v === before + 1,
      { expect: `${before + 1} (the refusal counted)` });
  });

  it('gRPC: an empty Export (a valid request without spans) → OK, not an error', async () => {
    const before = (await rejectedCount()) ?? 0;
    const { err, resp } = await grpcExport(Buffer.alloc(0));
    assert.equal(err, null, `status ${err?.code} (${grpc.status[err?.code]}): ${err?.details}`);
    assert.equal(resp.length, 0, 'an empty ExportTraceServiceResponse: nothing rejected');
    assert.equal((await rejectedCount()) ?? 0, before, 'not counted as refused');
  });

  it('still serves good requests: JSON, gzip protobuf and gRPC', async () => {
    const jsonReq = makeJsonRequest({ n: 2 });
    const r1 = await post(url, jsonReq.json);
    assert.equal(r1.status, 200, r1.text);
    assert.match(r1.headers.get('content-type') ?? '', /application\/json/, 'JSON answered with JSON');

    const protoReq = makeJsonRequest({ n: 2 });
    const r2 = await post(url, zlib.gzipSync(encodeRequest(protoReq.json)), {
      contentType: 'application/x-protobuf', headers: { 'content-encoding': 'gzip' },
    });
    assert.equal(r2.status, 200, r2.text);
    assert.match(r2.headers.get('content-type') ?? '', /application\/x-protobuf/, 'protobuf answered with protobuf');
    ExportResponse.decode(r2.body);

    const grpcReq = makeJsonRequest({ n: 2 });
    const { err, resp } = await grpcExport(encodeRequest(grpcReq.json));
    assert.ifError(err);
    ExportResponse.decode(resp);

    await waitForSpansInFile(file, [...jsonReq.ids, ...protoReq.ids, ...grpcReq.ids]);
  });

  it('/metrics counts the accepted spans (each refusal was checked above)', async () => {
    await c.waitMetric('otelcol_receiver_accepted_spans_total', { receiver: 'otlp' }, (v) => v === 6);
  });
});
