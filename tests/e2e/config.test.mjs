// Collector-shaped configs: every error exits 2 with a message naming the key path, from both
// `hodos collector validate --config F` and `hodos collector --config F`; good configs (every
// component, named instances, ${env:VAR}, both telemetry forms) validate and run.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, describe, it } from 'node:test';

import { Collector, freePorts, makeTempDir, runHodos, toYaml } from './lib/collector.mjs';
import { otlpReceiver, telemetry } from './lib/configs.mjs';
import { makeJsonRequest, post, waitForSpansInFile } from './lib/otlp.mjs';

const tmp = makeTempDir('config');
after(() => tmp.remove());

let n = 0;
function write(config) {
  const p = tmp.file(`config-${++n}.yaml`);
  fs.writeFileSync(p, typeof config === 'string' ? config : toYaml(config));
  return p;
}

// A minimal valid config that each bad case breaks in one place.
function base() {
  return {
    receivers: { otlp: otlpReceiver({ grpcPort: 14317, httpPort: 14318 }) },
    processors: { batch: {} },
    exporters: { debug: {} },
    service: {
      telemetry: telemetry(18888),
      pipelines: { traces: { receivers: ['otlp'], processors: ['batch'], exporters: ['debug'] } },
    },
  };
}

const BAD = [
  {
    name: 'unknown component type (lists the known ones)',
    config: () => {
      const c = base();
      c.receivers = { otlpx: {} };
      c.service.pipelines.traces.receivers = ['otlpx'];
      return c;
    },
    want: ['receivers.otlpx', 'otlp', 'zipkin'],
  },
  {
    name: 'missing required key',
    config: () => {
      const c = base();
      c.exporters = { otlphttp: {} };
      c.service.pipelines.traces.exporters = ['otlphttp'];
      return c;
    },
    want: ['exporters.otlphttp.endpoint', 'required'],
  },
  {
    name: 'file exporter without a path',
    config: () => {
      const c = base();
      c.exporters = { file: {} };
      c.service.pipelines.traces.exporters = ['file'];
      return c;
    },
    want: ['exporters.file.path'],
  },
  {
    name: 'bad duration',
    config: () => {
      const c = base();
      c.processors.batch = { timeout: '10 parsecs' };
      return c;
    },
    want: ['processors.batch.timeout', '10 parsecs'],
  },
  {
    name: 'bad integer',
    config: () => {
      const c = base();
      c.exporters = { otlp: { endpoint: '127.0.0.1:1', tls: { insecure: true }, sending_queue: { queue_size: 'lots' } } };
      c.service.pipelines.traces.exporters = ['otlp'];
      return c;
    },
    want: ['exporters.otlp.sending_queue.queue_size'],
  },
  {
    name: 'misspelt key inside a receiver',
    config: () => {
      const c = base();
      c.receivers.otlp.protocols.grpc = { endpoit: '127.0.0.1:14317' };
      return c;
    },
    want: ['receivers.otlp.protocols.grpc.endpoit', 'endpoint'],
  },
  {
    name: 'pipeline names an exporter that is not configured',
    config: () => {
      const c = base();
      c.service.pipelines.traces.exporters = ['debug', 'nope'];
      return c;
    },
    want: ['service.pipelines.traces', 'nope'],
  },
  {
    name: 'pipeline without exporters',
    config: () => {
      const c = base();
      c.service.pipelines.traces.exporters = [];
      return c;
    },
    want: ['service.pipelines.traces'],
  },
  {
    name: 'YAML syntax error',
    config: () => 'receivers:\n  otlp:\n    protocols: [grpc\nexporters: {debug: {}}\n',
    want: ['line'],
  },
  {
    name: 'unterminated ${env:...}',
    config: () => toYaml(base()).replace('"127.0.0.1:14317"', '"127.0.0.1:${env:HODOS_E2E_PORT"'),
    want: ['receivers.otlp.protocols.grpc.endpoint'],
  },
];

describe('bad configs exit 2 and name the key', () => {
  for (const bad of BAD) {
    it(bad.name, () => {
      const path = write(bad.config());
      for (const args of [['collector', 'validate', '--config', path], ['collector', '--config', path]]) {
        const r = runHodos(args, { timeoutMs: 15000 });
        const out = `${r.stderr}${r.stdout}`;
        assert.equal(r.code, 2, `hodos ${args.join(' ')} exits 2 (got ${r.code}, signal ${r.signal}):\n${out}`);
        for (const w of bad.want) {
          assert.ok(r.stderr.includes(w), `hodos ${args.slice(0, -2).join(' ')}: stderr names "${w}":\n${out}`);
        }
      }
    });
  }

  it('a config file that does not exist', () => {
    const r = runHodos(['collector', 'validate', '--config', tmp.file('missing.yaml')]);
    assert.equal(r.code, 2, r.stderr);
    assert.ok(r.stderr.includes('missing.yaml'), r.stderr);
  });
});

describe('good configs', () => {
  it('every component, named instances and several pipelines validate (exit 0)', () => {
    const path = write({
      receivers: {
        otlp: otlpReceiver({ grpcPort: 14317, httpPort: 14318, http: { cors: { allowed_origins: ['http://localhost:3000'] } } }),
        'otlp/internal': otlpReceiver({ grpcPort: 24317 }),
        zipkin: { endpoint: '127.0.0.1:19411' },
      },
      processors: {
        memory_limiter: { check_interval: '1s', limit_mib: 512, spike_limit_mib: 128 },
        batch: { timeout: '200ms', send_batch_size: 512, send_batch_max_size: 1024 },
        attributes: { actions: [
          { key: 'env', value: 'prod', action: 'insert' },
          { key: 'user.email', action: 'hash' },
          { key: 'password', action: 'delete' },
          { pattern: '^tmp\\..*', action: 'delete' },
        ] },
        resource: { attributes: [{ key: 'deployment.environment.name', value: 'test', action: 'upsert' }] },
      },
      exporters: {
        otlp: {
          endpoint: '127.0.0.1:4317', tls: { insecure: true },
          sending_queue: { enabled: true, queue_size: 100, num_consumers: 2, storage: tmp.file('q') },
          retry_on_failure: { enabled: true, initial_interval: '5s', max_interval: '30s', max_elapsed_time: '300s' },
        },
        otlphttp: {
          endpoint: 'https://otlp.example.com', headers: { authorization: 'Bearer ${env:HODOS_E2E_TOKEN}' },
          compression: 'gzip', timeout: '10s',
        },
        zipkin: { endpoint: 'http://127.0.0.1:9411/api/v2/spans' },
        file: { path: tmp.file('out.jsonl') },
        debug: { verbosity: 'detailed' },
      },
      service: {
        telemetry: telemetry(18888),
        pipelines: {
          traces: { receivers: ['otlp', 'zipkin'], processors: ['memory_limiter', 'attributes', 'resource', 'batch'],
            exporters: ['otlp', 'otlphttp', 'file'] },
          'traces/internal': { receivers: ['otlp/internal'], exporters: ['zipkin', 'debug'] },
        },
      },
    });
    const r = runHodos(['collector', 'validate', '--config', path]);
    assert.equal(r.code, 0, `validate exits 0:\n${r.stderr}${r.stdout}`);
    assert.match(r.stdout, /configuration is valid/);
  });

  it('${env:VAR} substitution and the telemetry `readers` form, in a running collector', async () => {
    const [httpPort, metricsPort] = await freePorts(2);
    const file = tmp.file('env.jsonl');
    const c = new Collector({
      name: 'env', dir: tmp.dir, metricsPort, waitPorts: [httpPort],
      env: { HODOS_E2E_HTTP_PORT: String(httpPort), HODOS_E2E_FILE: file },
      config: {
        receivers: { otlp: { protocols: { http: { endpoint: '127.0.0.1:${env:HODOS_E2E_HTTP_PORT}' } } } },
        exporters: { file: { path: '${env:HODOS_E2E_FILE}' } },
        service: {
          telemetry: { metrics: { readers: [{ pull: { exporter: { prometheus: { host: '127.0.0.1', port: metricsPort } } } }] } },
          pipelines: { traces: { receivers: ['otlp'], exporters: ['file'] } },
        },
      },
    });
    await c.start();
    try {
      const req = makeJsonRequest({ n: 3 });
      const r = await post(`http://127.0.0.1:${httpPort}/v1/traces`, req.json);
      assert.equal(r.status, 200, r.text);
      await waitForSpansInFile(file, req.ids);
      await c.waitMetric('otelcol_receiver_accepted_spans_total', { receiver: 'otlp' }, (v) => v === 3);
    } finally {
      assert.deepEqual(await c.stop(), { code: 0, signal: null });
    }
  });
});
