// Destinations end to end: a second real `hodos up` is the destination of the first. Added with
// `hodos destinations add`, spans sent to the first land in the second too; `test` does a real
// round trip (ok against it, "connection refused" against a closed port, an auth diagnosis from
// a node OTLP receiver that demands a token, and ok with the token); bad input is a 400 naming
// the field; secrets never come back in full (and destinations.json is 0600); `hodos status`
// shows the components and the destination's health; the destination down for a while never
// holds up the store, and gets the queued spans once back; a restart keeps the destinations;
// `remove` stops the spans.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';

import { HODOS_BIN, freePort, makeTempDir, waitFor } from './lib/collector.mjs';
import { HodosUp, query } from './lib/hodos_up.mjs';
import { makeJsonRequest, post } from './lib/otlp.mjs';

// `hodos ARGS` without blocking the event loop: {code, stdout, stderr}.
function hodos(args) {
  return new Promise((resolve) => {
    execFile(HODOS_BIN, args, { timeout: 30000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (error.code ?? 1) : 0, stdout, stderr });
    });
  });
}

// How many spans of `service` `up`'s store holds.
async function spanCount(up, service) {
  const r = await up.get(`/api/traces${query({ service, limit: 100, lookback: '1h' })}`);
  if (r.status === 404) return 0;
  assert.equal(r.status, 200, r.text);
  return r.body.data.reduce((n, t) => n + t.spans.length, 0);
}

function waitForSpans(up, service, n) {
  let last = 0;
  return waitFor(`${n} spans of ${service} in ${up.name}`, async () => {
    last = await spanCount(up, service);
    return last >= n;
  }, { timeoutMs: 20000, intervalMs: 100, describe: () => `${last} spans\n${up.tail(10)}` });
}

async function sendSpans(up, service, n) {
  const { json } = makeJsonRequest({ n, service });
  const t0 = Date.now();
  const r = await post(`http://127.0.0.1:${up.ports.otlpHttp}/v1/traces`, json);
  assert.equal(r.status, 200, r.text);
  return Date.now() - t0;
}

// A plain node OTLP/HTTP receiver that wants `Authorization: Bearer <token>`.
function startTokenReceiver(token) {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      server.requests.push(req.headers.authorization ?? '');
      const ok = req.url === '/v1/traces' && req.headers.authorization === `Bearer ${token}`;
      res.writeHead(ok ? 200 : 401, { 'content-type': 'application/json' });
      res.end(ok ? '{}' : '{"message":"missing or bad token"}');
    });
  });
  server.requests = [];
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

describe('hodos destinations', () => {
  const tmp = makeTempDir('destinations');
  const main = new HodosUp({ name: 'main', dir: tmp.dir });
  const dest = new HodosUp({ name: 'dest', dir: tmp.dir });
  let api;
  let destUrl;
  let tokenServer;
  const tag = `${process.pid}`;

  before(async () => {
    await Promise.all([main.start(), dest.start()]);
    api = ['--api', main.apiUrl];
    destUrl = `http://127.0.0.1:${dest.ports.otlpHttp}`;
    tokenServer = await startTokenReceiver('s3cret-token-value');
  });

  after(async () => {
    tokenServer?.close();
    for (const up of [main, dest]) {
      if (up.running) {
        const exit = await up.stop();
        assert.deepEqual(exit, { code: 0, signal: null }, `${up.name} exits 0 on SIGTERM:\n${up.tail()}`);
      }
    }
    tmp.remove();
  });

  it('kinds lists the generic kinds and the vendor presets with their fields (no hodos up needed)', async () => {
    const r = await hodos(['destinations', 'kinds']);
    assert.equal(r.code, 0, r.stderr);
    for (const k of ['otlp', 'otlphttp', 'zipkin', 'grafana-cloud', 'tempo', 'honeycomb', 'datadog', 'newrelic',
                     'elastic', 'dynatrace', 'splunk', 'lightstep', 'jaeger']) {
      assert.match(r.stdout, new RegExp(`^${k}: `, 'm'), k);
    }
    assert.match(r.stdout, /--field api_key=\.\.\. +An ingest API key of the environment \(required, secret\)/);
    const json = JSON.parse((await hodos(['destinations', 'kinds', '--json'])).stdout);
    assert.equal(json.find((k) => k.name === 'splunk').endpoint, 'https://ingest.{realm}.signalfx.com/v2/trace/otlp');
  });

  it('add: spans sent to hodos up land in the destination too; list shows it healthy', async () => {
    assert.match((await hodos(['destinations', 'list', ...api])).stdout, /no destinations/);
    const add = await hodos(['destinations', 'add', 'otlphttp', '--name', 'backup', '--field', `endpoint=${destUrl}`,
                             ...api]);
    assert.equal(add.code, 0, add.stderr);
    assert.match(add.stdout, new RegExp(`added backup \\(otlphttp\\): spans go to ${destUrl}/v1/traces`));

    await sendSpans(main, `first-${tag}`, 3);
    await waitForSpans(main, `first-${tag}`, 3);
    await waitForSpans(dest, `first-${tag}`, 3);

    const list = await waitFor('backup healthy with 3 sent', async () => {
      const r = await main.json('/api/v1/destinations');
      const d = r.destinations.find((x) => x.name === 'backup');
      return d && d.health === 'ok' && d.sent >= 3 ? r : false;
    });
    assert.equal(list.destinations[0].endpoint, `${destUrl}/v1/traces`);
    const text = await hodos(['destinations', 'list', ...api]);
    assert.match(text.stdout, /^NAME +KIND +ENDPOINT +HEALTH +SENT +FAILED +DROPPED +QUEUED$/m);
    assert.match(text.stdout, /^backup +otlphttp +http:\/\/127\.0\.0\.1:\d+\/v1\/traces +ok +3 +0 +0 +0$/m);
  });

  it('test: a real round trip, with a one-line diagnosis when it fails', async () => {
    const ok = await hodos(['destinations', 'test', 'backup', ...api]);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /^ok: the destination accepted a test span/);

    const closed = await freePort();
    const refused = await hodos(['destinations', 'test', '--kind', 'otlphttp', '--field',
                                 `endpoint=http://127.0.0.1:${closed}`, ...api]);
    assert.equal(refused.code, 1);
    assert.match(refused.stdout, /^failed \(connection_refused\): connection refused/);

    const tokenUrl = `http://127.0.0.1:${tokenServer.address().port}`;
    const auth = await hodos(['destinations', 'test', '--kind', 'otlphttp', '--field', `endpoint=${tokenUrl}`, ...api]);
    assert.equal(auth.code, 1);
    assert.match(auth.stdout, /^failed \(auth\): HTTP 401: the destination refused the credentials/);
    const withToken = await hodos(['destinations', 'test', '--kind', 'otlphttp', '--field', `endpoint=${tokenUrl}`,
                                   '--field', 'token=s3cret-token-value', ...api]);
    assert.equal(withToken.code, 0, withToken.stdout);
    assert.equal(tokenServer.requests.at(-1), 'Bearer s3cret-token-value');

    const missing = await hodos(['destinations', 'test', 'nope', ...api]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no destination named 'nope'/);
  });

  it('bad input is a 400 naming the field; secrets are masked in every answer and kept 0600 on disk', async () => {
    const bad = async (body) => {
      const r = await fetch(`${main.apiUrl}/api/v1/destinations`, { method: 'POST', body: JSON.stringify(body) });
      assert.equal(r.status, 400);
      return (await r.json()).errors[0].msg;
    };
    assert.match(await bad({ name: 'x', kind: 'honeycomb', fields: {} }), /^fields\.api_key: required/);
    assert.match(await bad({ name: 'x', kind: 'nope' }), /^kind: 'nope' is not a kind/);
    assert.match(await bad({ name: 'a b', kind: 'jaeger' }), /^name: /);
    assert.match(await bad({ name: 'x', kind: 'otlphttp', fields: { endpoint: 'ftp://x' } }),
                 /^fields\.endpoint: 'ftp:\/\/x' must start with http/);
    const cli = await hodos(['destinations', 'add', 'honeycomb', '--name', 'hc', ...api]);
    assert.equal(cli.code, 2);
    assert.match(cli.stderr, /fields\.api_key: required/);
    const dup = await hodos(['destinations', 'add', 'jaeger', '--name', 'backup', ...api]);
    assert.equal(dup.code, 1);
    assert.match(dup.stderr, /a destination named 'backup' exists/);

    const secret = 'hcaik_01234567890abcdefSECRET';
    const add = await fetch(`${main.apiUrl}/api/v1/destinations`, {
      method: 'POST',
      body: JSON.stringify({ name: 'hc', kind: 'honeycomb', fields: { api_key: secret, endpoint: `127.0.0.1:${await freePort()}` } }),
    });
    assert.equal(add.status, 201);
    const answers = [await add.text(), (await main.get('/api/v1/destinations')).text,
                     (await main.get('/api/v1/status')).text,
                     (await hodos(['destinations', 'list', '--json', ...api])).stdout];
    for (const a of answers) {
      assert.ok(!a.includes(secret), a);
    }
    assert.match(answers[1], /"api_key":"hc\*\*\*\*ET"/);
    const file = `${main.dataDir}/destinations.json`;
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.ok(fs.readFileSync(file, 'utf8').includes(secret), 'the key is kept for the next start');
    assert.equal((await hodos(['destinations', 'remove', 'hc', ...api])).code, 0);
  });

  it('status: receivers with ports, agent, store, destinations with health, counters', async () => {
    const r = await hodos(['status', '--json', ...api]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const s = JSON.parse(r.stdout);
    assert.equal(s.status, 'ok');
    assert.deepEqual(s.components.receivers.map((x) => x.address),
                     [`127.0.0.1:${main.ports.grpc}`, `127.0.0.1:${main.ports.otlpHttp}`]);
    assert.equal(s.components.agent.running, false);
    assert.match(s.components.agent.reason, /--no-agent/);
    assert.equal(s.components.store.data_dir, main.dataDir);
    assert.ok(s.components.store.spans_ingested >= 3);
    assert.equal(s.components.store.retention, '7d');
    assert.deepEqual(s.components.destinations.map((d) => [d.name, d.health]), [['backup', 'ok']]);
    assert.ok(s.counters.spans_received >= 3, JSON.stringify(s.counters));
    const text = await hodos(['status', ...api]);
    assert.equal(text.code, 0, text.stdout);
    assert.match(text.stdout, /^hodos \S+: ok/);
    assert.match(text.stdout, /^ {2}destination backup \(otlphttp\) \S+: ok, \d+ sent/m);
  });

  it('a destination down for a while never holds up the store, and gets the queued spans once back', async () => {
    await dest.stop();
    // The answer to the client does not wait for the destination.
    const ms = await sendSpans(main, `while-down-${tag}`, 4);
    assert.ok(ms < 2000, `the OTLP answer took ${ms} ms`);
    await waitForSpans(main, `while-down-${tag}`, 4);
    await waitFor('backup failing with a connection error', async () => {
      const d = (await main.json('/api/v1/destinations')).destinations[0];
      return d.health === 'failing' && /connect|refused/i.test(d.last_error ?? '');
    }, { timeoutMs: 15000, intervalMs: 100 });
    const status = JSON.parse((await hodos(['status', '--json', ...api])).stdout);
    assert.equal(status.status, 'degraded');

    await dest.start({ ports: dest.ports });
    await waitForSpans(dest, `while-down-${tag}`, 4);
    await waitFor('backup ok again', async () =>
      (await main.json('/api/v1/destinations')).destinations[0].health === 'ok');
  });

  it('a restart with the same --data-dir keeps the destinations; remove stops the spans', async () => {
    await main.stop();
    await main.start({ ports: main.ports });
    assert.match(main.stdout, /destinations: 1 \(hodos destinations list\)/);
    const list = await main.json('/api/v1/destinations');
    assert.deepEqual(list.destinations.map((d) => [d.name, d.endpoint]), [['backup', `${destUrl}/v1/traces`]]);
    await sendSpans(main, `after-restart-${tag}`, 2);
    await waitForSpans(dest, `after-restart-${tag}`, 2);

    const rm = await hodos(['destinations', 'remove', 'backup', ...api]);
    assert.equal(rm.code, 0, rm.stderr);
    assert.match(rm.stdout, /removed backup/);
    assert.deepEqual((await main.json('/api/v1/destinations')).destinations, []);
    await sendSpans(main, `after-remove-${tag}`, 2);
    await waitForSpans(main, `after-remove-${tag}`, 2);
    // The OTLP answer came after every destination's queue took the batch; a removed one would
    // deliver within milliseconds, so a second is a generous window to see nothing arrive.
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(await spanCount(dest, `after-remove-${tag}`), 0);
    const rmAgain = await hodos(['destinations', 'remove', 'backup', ...api]);
    assert.equal(rmAgain.code, 1);
    assert.match(rmAgain.stderr, /no destination named 'backup'/);
  });
});
