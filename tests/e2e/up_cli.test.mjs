// `hodos up` as a user meets it: durability across kill -9, one process per data directory,
// ports already in use, the bearer token off loopback, Ctrl-C, --config with a second exporter;
// and `hodos traces list|show` against the API.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { freePort, freePorts, makeTempDir, runHodos, waitFor } from './lib/collector.mjs';
import { HodosUp, query } from './lib/hodos_up.mjs';
import { makeJsonRequest, post, readJsonLines, spanIdsInJson } from './lib/otlp.mjs';
import { sendShopTraces } from './lib/shop_traces.mjs';

const tmp = makeTempDir('up-cli');
after(() => tmp.remove());

async function freshPorts() {
  const [http, grpc, otlpHttp] = await freePorts(3);
  return { http, grpc, otlpHttp };
}

// Holds a port on 127.0.0.1 until closed.
function occupy(port) {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(port, '127.0.0.1', () => resolve(srv));
  });
}

describe('hodos up: durability and the data directory', () => {
  it('spans acknowledged over OTLP survive kill -9 and a restart', async () => {
    const up = new HodosUp({ name: 'durable', dir: tmp.dir });
    await up.start();
    // Many small acknowledged requests, then kill -9 right after the last answer.
    const traces = [];
    for (let i = 0; i < 20; i++) {
      const req = makeJsonRequest({ n: 5, service: `durable-${i % 3}`, name: 'op', attrs: { 'batch.index': i } });
      const r = await post(`http://127.0.0.1:${up.ports.otlpHttp}/v1/traces`, req.json);
      assert.equal(r.status, 200, r.text);
      traces.push(req);
    }
    const shop = await sendShopTraces({ grpcPort: up.ports.grpc, httpPort: up.ports.otlpHttp });
    assert.deepEqual(await up.kill9(), { code: null, signal: 'SIGKILL' });

    await up.start();
    for (const req of traces) {
      const body = await up.json(`/api/traces/${req.traceId}`);
      const got = body.data[0].spans.map((s) => `${s.traceID}/${s.spanID}`).sort();
      assert.deepEqual(got, [...req.ids].sort(), `trace ${req.traceId} is complete after kill -9`);
    }
    assert.equal((await up.json(`/api/traces/${shop.A.traceId}`)).data[0].spans.length, 5);
    // Indexes, lists and aggregates survived with the spans.
    assert.deepEqual((await up.json('/api/services')).data,
      ['durable-0', 'durable-1', 'durable-2', 'frontend', 'inventory', 'payments']);
    assert.deepEqual((await up.json(`/api/traces${query({ service: 'durable-1', tag: 'batch.index:10' })}`)).data.map((t) => t.traceID),
      [traces[10].traceId]);
    assert.deepEqual((await up.json(`/api/traces${query({ service: 'payments', tag: 'error:true' })}`)).data.map((t) => t.traceID),
      [shop.A.traceId]);
    // frontend → inventory, frontend → payments, payments → postgresql (its database call).
    assert.equal((await up.json('/api/dependencies')).data.length, 3);

    // New spans after the restart land next to the old ones.
    const later = makeJsonRequest({ n: 2, service: 'durable-0' });
    assert.equal((await post(`http://127.0.0.1:${up.ports.otlpHttp}/v1/traces`, later.json)).status, 200);
    assert.equal((await up.json(`/api/traces${query({ service: 'durable-0' })}`)).data.length, 8);
    assert.deepEqual(await up.stop(), { code: 0, signal: null });
  });

  it('a second hodos up on the same data directory fails at once with a clear message', async () => {
    const first = new HodosUp({ name: 'owner', dir: tmp.dir });
    await first.start();
    try {
      const second = new HodosUp({ name: 'intruder', dir: tmp.dir, dataDir: first.dataDir });
      second.ports = { http: 0, grpc: 0, otlpHttp: 0 };
      const started = Date.now();
      const r = runHodos(['up', ...second.flags(), '--no-agent'], { timeoutMs: 10000 });
      assert.equal(r.code, 1, `exit code\n${r.stdout}${r.stderr}`);
      assert.equal(r.stderr.trim(),
        `hodos up: data directory ${first.dataDir} is in use by another Hodos process; stop it or use --data-dir`);
      assert.doesNotMatch(r.stdout, /ready/);
      assert.ok(Date.now() - started < 5000, 'fails at once, without waiting for the lock');
      // The first one is unaffected.
      assert.equal((await first.get('/api/services')).status, 200);
    } finally {
      assert.deepEqual(await first.stop(), { code: 0, signal: null });
    }
  });
});

describe('hodos up: start-up errors and stopping', () => {
  for (const flag of ['--http', '--otlp-grpc', '--otlp-http']) {
    it(`a port already in use is a one-line error naming ${flag}, exit non-zero`, async () => {
      const ports = await freshPorts();
      const taken = { '--http': ports.http, '--otlp-grpc': ports.grpc, '--otlp-http': ports.otlpHttp }[flag];
      const blocker = await occupy(taken);
      try {
        const up = new HodosUp({ name: `in-use${flag}`, dir: tmp.dir });
        up.ports = ports;
        const r = runHodos(['up', ...up.flags(), '--no-agent'], { timeoutMs: 15000 });
        assert.notEqual(r.code, 0);
        assert.equal(r.stderr.trim(),
          `hodos up: ${flag} 127.0.0.1:${taken}: address already in use; pick another with ${flag}`);
        assert.doesNotMatch(r.stdout, /ready/);
        // Nothing of it is left listening on the other two addresses.
        for (const p of Object.values(ports).filter((p) => p !== taken)) (await occupy(p)).close();
      } finally {
        blocker.close();
      }
    });
  }

  it('Ctrl-C (SIGINT) stops cleanly with exit 0', async () => {
    const up = new HodosUp({ name: 'sigint', dir: tmp.dir });
    await up.start();
    assert.deepEqual(await up.stop('SIGINT'), { code: 0, signal: null });
    assert.match(up.stdout, /hodos up: stopped\n$/);
    // The directory is free again.
    await up.start();
    assert.deepEqual(await up.stop(), { code: 0, signal: null });
  });

  it('bad flags are exit 2 with the flag named', () => {
    for (const [args, pattern] of [
      [['--http', 'nonsense'], /--http nonsense: expected host:port/],
      [['--retention', 'forever'], /--retention forever/],
      [['--retention-size', 'lots'], /--retention-size lots/],
      [['--config', path.join(tmp.dir, 'missing.yaml')], /cannot read config file/],
    ]) {
      const r = runHodos(['up', '--data-dir', path.join(tmp.dir, 'bad-flags'), '--no-agent', ...args]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, pattern);
    }
  });
});

describe('hodos up: the bearer token off loopback', () => {
  it('a generated token is printed, required on every route but /api/health, and kept across restarts', async () => {
    const up = new HodosUp({ name: 'auth', dir: tmp.dir, httpHost: '0.0.0.0' });
    await up.start();
    try {
      const token = up.printedToken();
      assert.match(token ?? '', /^[0-9a-f]{48}$/, up.stdout);
      assert.match(up.stdout, /generated, kept in .*api-token/);
      assert.equal(fs.statSync(path.join(up.dataDir, 'api-token')).mode & 0o777, 0o600);

      assert.equal((await up.get('/api/health')).status, 200);
      for (const route of ['/api/services', '/api/traces?service=x', '/api/dependencies', '/metrics', '/api/v3/traces/01']) {
        const none = await up.get(route);
        assert.equal(none.status, 401, `${route} without a token`);
        assert.equal(none.headers.get('www-authenticate'), 'Bearer realm="hodos"');
        assert.equal(none.body.errors[0].code, 401);
        assert.equal((await up.get(route, { token: `${token}x` })).status, 401, `${route} with a wrong token`);
        assert.equal((await up.get(route, { headers: { authorization: token } })).status, 401, `${route}: no Bearer`);
        assert.notEqual((await up.get(route, { token })).status, 401, `${route} with the token`);
      }
      assert.equal((await up.get('/api/services', { token })).status, 200);

      // Restarted, the same token still works: clients configured with it keep working.
      assert.deepEqual(await up.stop(), { code: 0, signal: null });
      await up.start();
      assert.equal(up.printedToken(), token);
      assert.match(up.stdout, /kept in .*api-token/);
      assert.equal((await up.get('/api/services', { token })).status, 200);
    } finally {
      await up.stop();
    }
  });

  it('--auth-token sets the token (on loopback too); hodos traces sends it', async () => {
    const up = new HodosUp({ name: 'auth-given', dir: tmp.dir, args: ['--auth-token', 's3cret-token'] });
    await up.start();
    try {
      assert.equal(up.printedToken(), 's3cret-token');
      assert.doesNotMatch(up.stdout, /generated/);
      assert.equal((await up.get('/api/services')).status, 401);
      assert.equal((await up.get('/api/services', { token: 's3cret-token' })).status, 200);

      const api = ['--api', up.apiUrl];
      const denied = runHodos(['traces', 'list', ...api]);
      assert.equal(denied.code, 1);
      assert.match(denied.stderr, /needs a token: pass --token \(or set HODOS_API_TOKEN\).*data directory, file api-token/);
      const wrong = runHodos(['traces', 'list', ...api, '--token', 'guess']);
      assert.equal(wrong.code, 1);
      assert.match(wrong.stderr, /the one sent was refused/);
      const withFlag = runHodos(['traces', 'list', ...api, '--token', 's3cret-token']);
      assert.equal(withFlag.code, 0, withFlag.stderr);
      const withEnv = runHodos(['traces', 'list', ...api], { env: { HODOS_API_TOKEN: 's3cret-token' } });
      assert.equal(withEnv.code, 0, withEnv.stderr);
    } finally {
      assert.deepEqual(await up.stop(), { code: 0, signal: null });
    }
  });
});

describe('hodos up --config: extra pipeline components', () => {
  it('a second exporter gets the same spans as the store', async () => {
    const file = path.join(tmp.dir, 'extra.jsonl');
    const config = path.join(tmp.dir, 'extra.yaml');
    fs.writeFileSync(config, `exporters:\n  file/archive:\n    path: ${JSON.stringify(file)}\n`);
    const up = new HodosUp({ name: 'config', dir: tmp.dir, args: ['--config', config] });
    await up.start();
    try {
      const req = makeJsonRequest({ n: 4, service: 'configured' });
      assert.equal((await post(`http://127.0.0.1:${up.ports.otlpHttp}/v1/traces`, req.json)).status, 200);
      assert.equal((await up.json(`/api/traces/${req.traceId}`)).data[0].spans.length, 4);
      await waitFor('the spans in the file exporter', () => spanIdsInJson(readJsonLines(file)).length === 4);
      assert.deepEqual(spanIdsInJson(readJsonLines(file)).sort(), [...req.ids].sort());
    } finally {
      assert.deepEqual(await up.stop(), { code: 0, signal: null });
    }
  });

  it('a component reusing hodos up\'s own name is a config error naming it', () => {
    const config = path.join(tmp.dir, 'clash.yaml');
    fs.writeFileSync(config, 'exporters:\n  store: {}\n');
    const r = runHodos(['up', '--data-dir', path.join(tmp.dir, 'clash'), '--no-agent', '--config', config]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /exporters\.store: is hodos up's own exporter/);
  });
});

describe('hodos traces list|show', () => {
  const up = new HodosUp({ name: 'traces-cli', dir: tmp.dir });
  let shop;
  let api;
  before(async () => {
    await up.start();
    shop = await sendShopTraces({ grpcPort: up.ports.grpc, httpPort: up.ports.otlpHttp });
    api = ['--api', up.apiUrl];
  });
  after(async () => {
    assert.deepEqual(await up.stop(), { code: 0, signal: null });
  });

  // The table `list` prints: [{id, spans, errors, root}] in printed order.
  function listed(args) {
    const r = runHodos(['traces', 'list', ...api, ...args]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    if (lines.length === 1 && lines[0].startsWith('no traces found')) return [];
    assert.match(lines[0], /^TRACE ID\s+START\s+DURATION\s+SPANS\s+ERRORS\s+ROOT$/);
    return lines.slice(1).map((l) => {
      const m = /^([0-9a-f]{32})\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+(\S+)\s+(\d+)\s+(\d+)\s+(.*)$/.exec(l);
      assert.ok(m, `row: ${l}`);
      return { id: m[1], duration: m[2], spans: Number(m[3]), errors: Number(m[4]), root: m[5] };
    });
  }
  const letter = (id) => ['A', 'B', 'C', 'D'].find((l) => shop[l].traceId === id) ?? id;

  it('list: newest first, with duration, span and error counts and the root span', () => {
    const rows = listed(['--service', 'frontend', '--since', '4h']);
    assert.deepEqual(rows.map((r) => letter(r.id)), ['C', 'B', 'A', 'D']);
    assert.deepEqual(rows.find((r) => r.id === shop.A.traceId),
      { id: shop.A.traceId, duration: '100.00ms', spans: 5, errors: 1, root: 'frontend: GET /checkout' });
    assert.deepEqual(rows.find((r) => r.id === shop.C.traceId),
      { id: shop.C.traceId, duration: '1.50s', spans: 1, errors: 0, root: 'frontend: GET /checkout' });
  });

  it('list: --since, --tag, --min-duration, --operation, --limit, every service by default', () => {
    assert.deepEqual(listed(['--service', 'frontend']).map((r) => letter(r.id)), ['C', 'B', 'A'], 'default --since 1h');
    assert.deepEqual(listed([]).map((r) => letter(r.id)), ['C', 'B', 'A'], 'without --service: every service');
    assert.deepEqual(listed(['--since', '4h']).map((r) => letter(r.id)), ['C', 'B', 'A', 'D']);
    assert.deepEqual(listed(['--service', 'payments', '--tag', 'error=true']).map((r) => letter(r.id)), ['A']);
    assert.deepEqual(listed(['--service', 'frontend', '--tag', 'http.response.status_code=500', '--tag', 'span.kind=client'])
      .map((r) => letter(r.id)), ['A']);
    assert.deepEqual(listed(['--tag', 'deployment.environment.name=staging']).map((r) => letter(r.id)), ['C']);
    assert.deepEqual(listed(['--min-duration', '1s']).map((r) => letter(r.id)), ['C']);
    assert.deepEqual(listed(['--service', 'frontend', '--operation', 'GET /checkout']).map((r) => letter(r.id)), ['C', 'A']);
    assert.deepEqual(listed(['--service', 'frontend', '--limit', '2']).map((r) => letter(r.id)), ['C', 'B']);
    const nobody = runHodos(['traces', 'list', ...api, '--service', 'nobody']);
    assert.equal(nobody.code, 1, 'an unknown service is an error, not an empty list');
    assert.match(nobody.stderr, /no service named 'nobody'/);
    const json = runHodos(['traces', 'list', ...api, '--service', 'payments', '--json']);
    assert.equal(json.code, 0, json.stderr);
    assert.deepEqual(JSON.parse(json.stdout).map((t) => t.traceID), [shop.A.traceId]);
  });

  it('show: the span tree with services, kinds, durations, offsets and errors', () => {
    const r = runHodos(['traces', 'show', ...api, shop.A.traceId]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, [
      `Trace ${shop.A.traceId}  5 spans, 2 services, 100.00ms, 1 error`,
      'GET /checkout  frontend  server  100.00ms  +0µs',
      '├─ POST /pay  frontend  client  70.00ms  +10.00ms',
      '│  └─ POST /pay  payments  server  60.00ms  +15.00ms  ERROR card declined',
      '│     └─ SELECT payments  payments  client  10.00ms  +20.00ms',
      '└─ render  frontend  internal  10.00ms  +85.00ms',
      '',
    ].join('\n'));
    const json = runHodos(['traces', 'show', ...api, '--json', shop.D.traceId]);
    assert.equal(json.code, 0, json.stderr);
    assert.equal(JSON.parse(json.stdout).spans.length, 2);
  });

  it('errors: unknown trace, malformed input, unreachable API', async () => {
    const missing = runHodos(['traces', 'show', ...api, 'abcdef0123']);
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr.trim(), 'hodos traces: trace abcdef0123 not found');
    for (const [args, pattern] of [
      [['show', ...api, 'not-hex'], /not-hex is not a trace id/],
      [['list', ...api, '--tag', 'novalue'], /--tag novalue: expected key=value/],
      [['list', ...api, '--min-duration', '5'], /--min-duration 5: expected a duration/],
      [['list', ...api, '--since', 'forever'], /--since forever: expected a duration/],
      [['list', ...api, '--operation', 'x'], /--operation needs --service/],
    ]) {
      const r = runHodos(['traces', ...args]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, pattern);
    }
    const closed = await freePort();
    const down = runHodos(['traces', 'list', '--api', `http://127.0.0.1:${closed}`]);
    assert.equal(down.code, 1);
    assert.match(down.stderr, /cannot reach the API at .*\(is `hodos up` running\?/);
  });
});
