// SIGTERM drains: spans held by a batch processor (timeout 10s, far from full) are flushed to
// the file exporter before the collector exits 0.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';

import { Collector, freePorts, makeTempDir } from './lib/collector.mjs';
import { otlpReceiver, telemetry } from './lib/configs.mjs';
import { makeJsonRequest, post, readJsonLines, spanIdsInJson } from './lib/otlp.mjs';

describe('graceful shutdown', () => {
  const tmp = makeTempDir('shutdown');
  after(() => tmp.remove());

  it('SIGTERM flushes what the batch processor holds, then exits 0', async () => {
    const [httpPort, metricsPort] = await freePorts(2);
    const file = tmp.file('out.jsonl');
    const c = new Collector({
      name: 'shutdown', dir: tmp.dir, metricsPort, waitPorts: [httpPort],
      config: {
        receivers: { otlp: otlpReceiver({ httpPort }) },
        processors: { batch: { timeout: '10s', send_batch_size: 100000 } },
        exporters: { file: { path: file } },
        service: {
          telemetry: telemetry(metricsPort),
          pipelines: { traces: { receivers: ['otlp'], processors: ['batch'], exporters: ['file'] } },
        },
      },
    });
    await c.start();
    const ids = [];
    for (let i = 0; i < 3; i++) {
      const req = makeJsonRequest({ n: 7 });
      const r = await post(`http://127.0.0.1:${httpPort}/v1/traces`, req.json);
      assert.equal(r.status, 200, r.text);
      ids.push(...req.ids);
    }
    await c.waitMetric('otelcol_receiver_accepted_spans_total', { receiver: 'otlp' }, (v) => v === ids.length);

    const exit = await c.stop('SIGTERM');
    assert.deepEqual(exit, { code: 0, signal: null }, `exit after SIGTERM:\n${c.tail()}`);
    const written = spanIdsInJson(readJsonLines(file));
    assert.deepEqual(new Set(written), new Set(ids), 'every batched span is in the file');
    assert.equal(written.length, ids.length, 'each span written once');
  });
});
