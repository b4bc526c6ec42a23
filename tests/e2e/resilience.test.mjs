// The destination is late, then goes away for a while: collector A queues and retries, and
// every span reaches B. With sending_queue.storage, what A queued survives `kill -9` of A.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';

import { Collector, freePorts, makeTempDir, waitFor } from './lib/collector.mjs';
import { otlpExporter, otlpReceiver, telemetry } from './lib/configs.mjs';
import { makeJsonRequest, post, readJsonLines, spanIdsInJson, waitForSpansInFile } from './lib/otlp.mjs';

const tmp = makeTempDir('resilience');
after(() => tmp.remove());

function destination(name, { grpcPort, metricsPort, file }) {
  return new Collector({
    name, dir: tmp.dir, metricsPort, waitPorts: [grpcPort],
    config: {
      receivers: { otlp: otlpReceiver({ grpcPort }) },
      exporters: { file: { path: file } },
      service: { telemetry: telemetry(metricsPort), pipelines: { traces: { receivers: ['otlp'], exporters: ['file'] } } },
    },
  });
}

function gateway(name, { httpPort, metricsPort, destGrpcPort, queue }) {
  return new Collector({
    name, dir: tmp.dir, metricsPort, waitPorts: [httpPort],
    // Draining towards a destination that is down must not hold the test for the default 10s.
    args: ['--shutdown-timeout', '2'],
    config: {
      receivers: { otlp: otlpReceiver({ httpPort }) },
      exporters: { otlp: otlpExporter(destGrpcPort, { sending_queue: { enabled: true, queue_size: 1000, ...queue } }) },
      service: { telemetry: telemetry(metricsPort), pipelines: { traces: { receivers: ['otlp'], exporters: ['otlp'] } } },
    },
  });
}

// Sends `requests` OTLP/JSON requests of `spans` spans each; every one must be accepted.
async function send(httpPort, requests, spans) {
  const ids = [];
  for (let i = 0; i < requests; i++) {
    const req = makeJsonRequest({ n: spans, service: 'resilience' });
    const r = await post(`http://127.0.0.1:${httpPort}/v1/traces`, req.json);
    assert.equal(r.status, 200, `request ${i} accepted: ${r.text}`);
    ids.push(...req.ids);
  }
  return ids;
}

async function queueSize(c) {
  const m = await c.metrics();
  const s = m.filter((x) => x.name === 'otelcol_exporter_queue_size' && x.labels.exporter === 'otlp');
  return s.length ? s.reduce((n, x) => n + x.value, 0) : undefined;
}

async function waitQueued(c) {
  let last;
  await waitFor(`${c.name}'s /metrics to show data in otelcol_exporter_queue_size{exporter="otlp"}`, async () => {
    last = await queueSize(c);
    return last >= 1;
  }, { describe: async () => `queue size ${last}; queue series: ${JSON.stringify(
    (await c.metrics()).filter((s) => s.name.includes('queue')))}` });
}

describe('retry: destination late, then down for a while', () => {
  const cs = [];
  after(async () => {
    for (const c of cs) await c.stop();
  });

  it('every span is delivered, none lost', async () => {
    const [aHttp, aMetrics, bGrpc, bMetrics] = await freePorts(4);
    const a = gateway('a', { httpPort: aHttp, metricsPort: aMetrics, destGrpcPort: bGrpc, queue: { num_consumers: 2 } });
    cs.push(a);
    await a.start();

    // 1. B is not running yet: A accepts, queues and retries.
    const first = await send(aHttp, 5, 10);
    await waitQueued(a);
    const b1 = destination('b-first', { grpcPort: bGrpc, metricsPort: bMetrics, file: tmp.file('b-first.jsonl') });
    cs.push(b1);
    await b1.start();
    await waitForSpansInFile(tmp.file('b-first.jsonl'), first);

    // 2. B dies without a goodbye; A keeps accepting and holding the data.
    await b1.kill9();
    const second = await send(aHttp, 5, 10);
    await waitQueued(a);

    // 3. B comes back on the same address: the held data arrives.
    const b2 = destination('b-again', { grpcPort: bGrpc, metricsPort: bMetrics, file: tmp.file('b-again.jsonl') });
    cs.push(b2);
    await b2.start();
    await waitForSpansInFile(tmp.file('b-again.jsonl'), second);

    const delivered = new Set([
      ...spanIdsInJson(readJsonLines(tmp.file('b-first.jsonl'))),
      ...spanIdsInJson(readJsonLines(tmp.file('b-again.jsonl'))),
    ]);
    for (const id of [...first, ...second]) assert.ok(delivered.has(id), `span ${id} delivered`);
    assert.equal(await a.metric('otelcol_exporter_send_failed_spans_total', { exporter: 'otlp' }) ?? 0, 0,
      'nothing counted as failed');
    assert.equal(await a.metric('otelcol_exporter_enqueue_failed_spans_total', { exporter: 'otlp' }) ?? 0, 0,
      'nothing refused by the queue');
    await waitFor('A to report an empty queue', async () => (await queueSize(a)) === 0);
    assert.deepEqual(await a.stop(), { code: 0, signal: null });
    assert.deepEqual(await b2.stop(), { code: 0, signal: null });
  });
});

describe('persistent queue: sending_queue.storage survives kill -9', () => {
  const cs = [];
  after(async () => {
    for (const c of cs) await c.stop();
  });

  it('spans queued before kill -9 are delivered after restart', async () => {
    const [aHttp, aMetrics, bGrpc, bMetrics] = await freePorts(4);
    const storage = tmp.file('queue-storage');
    const a = gateway('a-persistent', {
      httpPort: aHttp, metricsPort: aMetrics, destGrpcPort: bGrpc, queue: { num_consumers: 1, storage },
    });
    cs.push(a);
    await a.start();

    const ids = await send(aHttp, 4, 10);
    await waitQueued(a);
    const killed = await a.kill9();
    assert.equal(killed.signal, 'SIGKILL');

    const b = destination('b-persistent', { grpcPort: bGrpc, metricsPort: bMetrics, file: tmp.file('b-persistent.jsonl') });
    cs.push(b);
    await b.start();
    await a.start();  // same config, same storage directory
    await waitForSpansInFile(tmp.file('b-persistent.jsonl'), ids);
    await waitFor('A to report an empty queue after delivering', async () => (await queueSize(a)) === 0);
    assert.deepEqual(await a.stop(), { code: 0, signal: null });
    assert.deepEqual(await b.stop(), { code: 0, signal: null });
  });
});
