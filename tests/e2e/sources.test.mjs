// Sources end to end: `hodos up` with the agent lists a real `python3 -m http.server` (runtime,
// port), `hodos sources disable|enable|rename` act on the spans at once and persist across a
// restart on the same --data-dir, a process with its own OpenTelemetry SDK is listed but left to
// it, the agent: section of --config keeps a process out and opts in to query strings, and a
// wrong agent: key is a config error (exit 2) naming it.
// The agent needs root (CI runs as root); those tests are skipped with the reason otherwise.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { HODOS_BIN, makeTempDir, runHodos, waitFor } from './lib/collector.mjs';
import { HodosUp, query } from './lib/hodos_up.mjs';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const skip = isRoot ? false : 'the eBPF agent needs root (CAP_BPF, CAP_PERFMON): run as root, as CI does';

// Names unique to this run: other tests on the host may run http.server too.
const tag = `${process.pid}`;
const servers = [];
let tmp;

before(() => {
  tmp = makeTempDir('sources');
});

after(() => {
  for (const s of servers) s.child.kill('SIGKILL');
  tmp?.remove();
});

// `python3 -m http.server` on a free port with `env`; resolves once it listens.
async function startHttpServer(name, env = {}) {
  const child = spawn('python3', ['-u', '-m', 'http.server', '0', '--bind', '127.0.0.1',
                                  '--directory', tmp.dir], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const server = { name, child, output: '', port: 0 };
  servers.push(server);
  child.stdout.on('data', (d) => { server.output += d; });
  child.stderr.on('data', (d) => { server.output += d; });
  await waitFor(`${name} to listen`, () => {
    if (child.exitCode !== null) {
      throw Object.assign(new Error(`${name} exited: ${server.output}`), { fatal: true });
    }
    const m = /port (\d+)/.exec(server.output);
    if (m) server.port = Number(m[1]);
    return server.port !== 0;
  }, { intervalMs: 20, describe: () => server.output });
  return server;
}

// `hodos ARGS` without blocking the event loop: {code, stdout, stderr}.
function hodos(args) {
  return new Promise((resolve) => {
    execFile(HODOS_BIN, args, { timeout: 30000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (error.code ?? 1) : 0, stdout, stderr });
    });
  });
}

// GET on a new connection (closed after), so that each request is accepted anew.
function get(port, pathAndQuery) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: pathAndQuery, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', reject);
  });
}

function spanTag(span, key) {
  return span.tags.find((t) => t.key === key)?.value;
}

// The spans of `service` in `up`'s store (every trace of the last hour).
async function spansOf(up, service) {
  const r = await up.get(`/api/traces${query({ service, limit: 1000, lookback: '1h' })}`);
  if (r.status === 404) return [];  // no span of it stored yet
  assert.equal(r.status, 200, r.text);
  return r.body.data.flatMap((t) => t.spans.map((s) => ({ ...s, process: t.processes[s.processID] })));
}

function waitForSpan(up, service, operation) {
  let last = [];
  return waitFor(`a '${operation}' span of ${service}`, async () => {
    last = await spansOf(up, service);
    return last.find((s) => s.operationName === operation);
  }, { timeoutMs: 20000, intervalMs: 100, describe: () => last.map((s) => s.operationName).join(', ') });
}

// The source entry of `pid` in GET /api/v1/sources, once the agent has listed it.
function waitForSource(up, pid, check = () => true) {
  let last;
  return waitFor(`pid ${pid} in /api/v1/sources`, async () => {
    last = await up.json('/api/v1/sources');
    const s = last.sources.find((x) => x.pid === pid);
    return s && check(s) ? s : false;
  }, { timeoutMs: 20000, intervalMs: 100, describe: () => JSON.stringify(last) });
}

describe('agent: configuration errors', () => {
  test('an unknown agent key is a config error naming it (exit 2), for hodos up and hodos agent', async () => {
    const bad = tmp.file('bad-agent.yaml');
    fs.writeFileSync(bad, 'agent:\n  sources:\n    exclde:\n      - names: [x]\n');
    const up = runHodos(['up', '--data-dir', tmp.file('bad-data'), '--no-agent', '--http', '127.0.0.1:0',
                         '--otlp-grpc', '127.0.0.1:0', '--otlp-http', '127.0.0.1:0', '--config', bad]);
    assert.equal(up.code, 2, up.stderr);
    assert.match(up.stderr, /agent\.sources\.exclde: unknown key; valid keys are: exclude, include, listening_processes, trace_processes_with_sdk/);

    const agent = runHodos(['agent', '--endpoint', 'http://127.0.0.1:1', '--config', bad, '--metrics', 'none']);
    assert.equal(agent.code, 2, agent.stderr);
    assert.match(agent.stderr, /agent\.sources\.exclde: unknown key/);

    const port = tmp.file('bad-port.yaml');
    fs.writeFileSync(port, 'agent:\n  sources:\n    include:\n      - ports: [http]\n');
    const r = runHodos(['up', '--data-dir', tmp.file('bad-data'), '--no-agent', '--config', port]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /agent\.sources\.include\[0\]\.ports: 'http' is not a TCP port/);
  });

  test('hodos sources without a running hodos up says where it looked', async () => {
    const r = await hodos(['sources', 'list', '--api', '127.0.0.1:1']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /cannot reach the API at http:\/\/127\.0\.0\.1:1/);
  });
});

describe('control API without the agent, off loopback', () => {
  test('the sources routes need the token; without the agent, the list says why', async () => {
    const up = new HodosUp({ name: 'no-agent', dir: tmp.dir, httpHost: '0.0.0.0' });
    await up.start();
    try {
      const token = up.printedToken();
      assert.ok(token, up.stdout);
      assert.equal((await up.get('/api/v1/sources')).status, 401);
      const denied = await fetch(`${up.apiUrl}/api/v1/sources/x/disable`, { method: 'POST' });
      assert.equal(denied.status, 401);

      const body = await up.json('/api/v1/sources', { token });
      assert.deepEqual(body, { agent: { running: false, reason: 'hodos up runs with --no-agent' },
                               sources: [], saved: {} });
      const list = await hodos(['sources', 'list', '--api', up.apiUrl, '--token', token]);
      assert.equal(list.code, 0, list.stderr);
      assert.match(list.stdout, /^the agent is not running: hodos up runs with --no-agent$/m);
      const noToken = await hodos(['sources', 'list', '--api', up.apiUrl]);
      assert.equal(noToken.code, 1);
      assert.match(noToken.stderr, /needs a token: pass --token/);
      const missing = await hodos(['sources', 'disable', 'x', '--api', up.apiUrl, '--token', token]);
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /the agent is not running \(hodos up runs with --no-agent\)/);
    } finally {
      assert.equal((await up.stop()).code, 0, up.tail());
    }
  });
});

describe('hodos sources: run-time choices', { skip }, () => {
  let up;
  let web;
  const service = `sources-e2e-web-${tag}`;
  const renamed = `sources-e2e-renamed-${tag}`;
  const dataDir = () => path.join(tmp.dir, 'choices-data');
  const api = () => ['--api', up.apiUrl];

  before(async () => {
    if (skip) return;
    web = await startHttpServer('web', { OTEL_SERVICE_NAME: service });
    up = new HodosUp({ name: 'choices', dir: tmp.dir, dataDir: dataDir(), agent: true });
    await up.start();
    assert.match(up.stdout, /agent: +tracing \d+ process/, `the agent did not start:\n${up.tail()}`);
  });

  after(async () => {
    if (up?.running) assert.equal((await up.stop()).code, 0, up.tail());
  });

  test('list shows the server: runtime cpython, its port, traced', async () => {
    const source = await waitForSource(up, web.child.pid);
    assert.equal(source.service, service);
    assert.equal(source.discovered_service, service);
    assert.equal(source.runtime, 'cpython');
    assert.match(source.runtime_version, /^3\.\d+$/);
    assert.deepEqual(source.ports, [web.port]);
    assert.equal(source.traced, true);
    assert.equal(source.why_not, null);
    assert.equal(source.selected_by, `listens on TCP port ${web.port}`);
    assert.match(source.executable, /python3/);
    // CPython serves a request per thread: the kernel keeps its requests' context (injection is
    // on unless another Hodos agent on the host injects).
    assert.match(source.trace_context, /^(traceparent injected|kernel ids \(injection off\))$/);

    const r = await hodos(['sources', 'list', ...api()]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split('\n');
    assert.match(lines[0], /^SERVICE +PID +RUNTIME +PORTS +TRACED +WHY +TLS +CONTEXT$/);
    // http.server imports ssl, so its libssl is probed (found by the scan at the agent's start,
    // before the process was listed).
    assert.match(source.tls, /^plaintext from libssl\.so/, source.tls);
    const tlsCell = 'seen';
    const row = lines.find((l) => l.startsWith(`${service} `));
    assert.ok(row, r.stdout);
    assert.match(row, new RegExp(`^${service} +${web.child.pid} +cpython 3\\.\\d+ +${web.port} +yes +listens on TCP port ` +
                                 `${web.port} +${tlsCell} +${source.trace_context.replace(/[()]/g, '\\$&')}$`));

    const json = await hodos(['sources', 'list', '--json', ...api()]);
    assert.equal(json.code, 0, json.stderr);
    assert.equal(JSON.parse(json.stdout).agent.running, true);
  });

  test('a process with its own OpenTelemetry SDK is listed, not traced, with the reason', async () => {
    const sdkService = `sources-e2e-sdk-${tag}`;
    const sdk = await startHttpServer('sdk', { OTEL_SERVICE_NAME: sdkService,
                                               OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' });
    const source = await waitForSource(up, sdk.child.pid);
    assert.equal(source.traced, false);
    assert.equal(source.why_not, 'sdk');
    assert.equal(source.why_not_detail, 'OTEL_EXPORTER_OTLP_ENDPOINT is set');
    const r = await hodos(['sources', 'list', ...api()]);
    const row = r.stdout.split('\n').find((l) => l.startsWith(`${sdkService} `));
    assert.match(row, / no +sdk: OTEL_EXPORTER_OTLP_ENDPOINT is set$/);

    // Its requests make no span: the request made after it is traced, so had this one been, it
    // would be stored by then.
    assert.equal(await get(sdk.port, '/sdk-request'), 404);
    assert.equal(await get(web.port, '/after-sdk-request'), 404);
    await waitForSpan(up, service, 'GET /after-sdk-request');
    assert.deepEqual(await spansOf(up, sdkService), []);
  });

  test('disable stops the spans at once; enable brings them back', async () => {
    assert.equal(await get(web.port, '/before-disable'), 404);
    await waitForSpan(up, service, 'GET /before-disable');

    const off = await hodos(['sources', 'disable', service, ...api()]);
    assert.equal(off.code, 0, off.stderr);
    assert.match(off.stdout, new RegExp(`^disabled ${service}\\n.*not traced, disabled`, 's'));
    const listed = await up.json('/api/v1/sources');
    const entry = listed.sources.find((s) => s.pid === web.child.pid);
    assert.equal(entry.traced, false);
    assert.equal(entry.why_not, 'disabled');

    for (let i = 0; i < 3; ++i) assert.equal(await get(web.port, '/while-disabled'), 404);

    const on = await hodos(['sources', 'enable', service, ...api()]);
    assert.equal(on.code, 0, on.stderr);
    assert.equal((await waitForSource(up, web.child.pid)).traced, true);
    assert.equal(await get(web.port, '/after-enable'), 404);
    await waitForSpan(up, service, 'GET /after-enable');
    const names = (await spansOf(up, service)).map((s) => s.operationName);
    assert.ok(!names.includes('GET /while-disabled'), `spans while disabled: ${names}`);
  });

  test('rename: new spans carry the new service.name; unknown names and bad input are refused', async () => {
    const r = await hodos(['sources', 'rename', service, renamed, ...api()]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await get(web.port, '/after-rename'), 404);
    const span = await waitForSpan(up, renamed, 'GET /after-rename');
    assert.equal(span.process.serviceName, renamed);
    assert.ok(span.process.tags.some((t) => t.key === 'process.pid' && Number(t.value) === web.child.pid));
    assert.ok(!(await spansOf(up, service)).some((s) => s.operationName === 'GET /after-rename'));

    const missing = await hodos(['sources', 'disable', `no-such-service-${tag}`, ...api()]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no source named 'no-such-service-\d+'/);
    const empty = await hodos(['sources', 'rename', renamed, '', ...api()]);
    assert.equal(empty.code, 2);
    assert.match(empty.stderr, /cannot rename to '': a service name cannot be empty/);
    const bad = await fetch(`${up.apiUrl}/api/v1/sources/${renamed}/rename`, { method: 'POST', body: 'nope' });
    assert.equal(bad.status, 400);
    assert.match((await bad.json()).errors[0].msg, /the body must be JSON/);
  });

  test('the rename persists when hodos up restarts on the same --data-dir', async () => {
    assert.equal((await up.stop()).code, 0, up.tail());
    const saved = JSON.parse(fs.readFileSync(path.join(dataDir(), 'sources.json'), 'utf8'));
    assert.deepEqual(saved.sources[service], { enabled: true, name: renamed });

    await up.start();
    const source = await waitForSource(up, web.child.pid);
    assert.equal(source.service, renamed);
    assert.equal(source.discovered_service, service);
    assert.equal(source.traced, true);
    assert.equal(await get(web.port, '/after-restart'), 404);
    await waitForSpan(up, renamed, 'GET /after-restart');
  });
});

describe('agent: section of --config: exclude rules and the query string opt-in', { skip }, () => {
  let up;
  let kept;
  let open;
  const keptService = `sources-e2e-kept-out-${tag}`;
  const openService = `sources-e2e-open-${tag}`;

  before(async () => {
    if (skip) return;
    kept = await startHttpServer('kept-out', { OTEL_SERVICE_NAME: keptService });
    open = await startHttpServer('open', { OTEL_SERVICE_NAME: openService });
    const config = tmp.file('agent.yaml');
    fs.writeFileSync(config, [
      'agent:',
      '  sources:',
      '    exclude:',
      '      - names: ["sources-e2e-kept-*"]',
      '  capture:',
      '    query_string: true',
      '',
    ].join('\n'));
    up = new HodosUp({ name: 'rules', dir: tmp.dir, agent: true, args: ['--config', config] });
    await up.start();
    assert.match(up.stdout, /agent: +tracing \d+ process.*every process listening on TCP or serving a traced one on a Unix socket, 1 exclude rule/);
  });

  after(async () => {
    if (up?.running) assert.equal((await up.stop()).code, 0, up.tail());
  });

  test('an exclude rule keeps a process out, and the list says which rule', async () => {
    const source = await waitForSource(up, kept.child.pid);
    assert.equal(source.traced, false);
    assert.equal(source.why_not, 'excluded');
    assert.equal(source.why_not_detail, 'exclude rule 1');
    assert.equal(await get(kept.port, '/excluded'), 404);
    assert.equal(await get(open.port, '/after-excluded'), 404);
    await waitForSpan(up, openService, 'GET /after-excluded');
    assert.deepEqual(await spansOf(up, keptService), []);
  });

  test('query_string: true records url.query, never in the span name', async () => {
    await waitForSource(up, open.child.pid);
    assert.equal(await get(open.port, '/search?color=red&size=9'), 404);
    const span = await waitForSpan(up, openService, 'GET /search');
    assert.equal(spanTag(span, 'url.query'), 'color=red&size=9');
    assert.equal(spanTag(span, 'url.path'), '/search');
    assert.ok(!span.operationName.includes('?'));
  });
});
