// Injection must never damage traffic: about 20,000 requests through a traced Python front
// (ThreadingHTTPServer) that, for each, calls a traced Python backend with a body checksummed on
// both ends (tests/e2e/apps/integrity_hop.py), in every shape a client writes requests: bodies of
// 0 B to 256 KiB, chunked uploads, GETs, new and kept-alive connections, two calls per request,
// two requests in one write (pipelined) or written back to back, a head split over two writes,
// heads under and over 2 KiB, and a caller's own traceparent. Then 2,000 answers of 8 to 520 KiB
// through a traced nginx reverse proxy (the front's calls to nginx are injected; nginx passes the
// header on, and its own upstream connections are enrolled too: the agent follows nginx per
// connection and updates the forwarded header's parent-id; without the sk_skb verdict nginx's
// FIONREAD reads would stall there: KERNEL-NOTES.md).
//
// Asserted: 0 corrupted bodies, 0 stalls (no answer within the timeout), 0 connection errors;
// every traceparent a backend received is well-formed, alone in its request, in one trace per
// front request and never in another's; none where the documented rules say none (the second
// request of a pipelined write, a split head, a head over 2 KiB; a caller's own header arrives as
// sent); the kernel injected into at least 95% of the calls that should get one (received by the
// backends, and counted on /metrics). Last, a body that itself starts with a request head (the
// kernel follows each connection's request bodies, so it is left alone). Needs root (CI runs as
// root).
//
// The requests are the same on every run (seeded). The client is the test process, which never
// listens, so the agent does not trace it.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { makeTempDir, waitFor } from './lib/collector.mjs';
import { startInjectingUp } from './lib/hodos_up.mjs';
import {
  APPS, metric, needsRoot, nginxConfig, startServer, tearDown, unusedPort,
  waitUntilTraced,
} from './lib/servers.mjs';

const skip = needsRoot;

const HOP = path.join(APPS, 'integrity_hop.py');
const INJECTED = 'hodos_agent_inject_total{result="injected"}';
const ENROLLED = 'hodos_agent_inject_total{result="enrolled"}';
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/;
const CLIENTS = 16;
// A request with no answer within this long is a stall (the front gives each backend call 10 s).
const REQUEST_TIMEOUT_MS = 30000;

let tmp;
let up;
let lock;
const s = {};  // the servers by name

// A small seeded generator (mulberry32): the same requests on every run; a failure names the seed.
function random(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Mostly small bodies, some large: 0..100 B, ..4 KiB, ..64 KiB, ..256 KiB.
function bodySize(rnd) {
  const x = rnd();
  const upTo = x < 0.3 ? 100 : x < 0.6 ? 4096 : x < 0.85 ? 65536 : 262144;
  return Math.floor(rnd() * (upTo + 1));
}

// How often each way of calling the backend comes up (see integrity_hop.py).
const MODES = [['post', 30], ['get', 10], ['chunked', 10], ['fresh', 8], ['twice', 7], ['pipelined', 6],
  ['backtoback', 6], ['split', 4], ['bighead', 7], ['own', 4]];
const MODE_WEIGHT = MODES.reduce((sum, [, w]) => sum + w, 0);

function pickMode(rnd) {
  let x = rnd() * MODE_WEIGHT;
  for (const [mode, w] of MODES) {
    if ((x -= w) < 0) return mode;
  }
  return 'post';
}

// The query of front request `i`.
function frontRequest(rnd, i, mode = pickMode(rnd)) {
  const q = new URLSearchParams({ mode, size: String(bodySize(rnd)), offset: String(Math.floor(rnd() * (1 << 20))) });
  if (mode === 'chunked') q.set('chunks', String(1 + Math.floor(rnd() * 8)));
  // Heads from well under to well over 2 KiB.
  if (mode === 'bighead') q.set('pad', String(Math.floor(rnd() * 2600)));
  return `/r/${mode}-${i}?${q}`;
}

// One GET on the front over `agent`: {verdict} or {stalled} or {error}.
function get(agent, pathAndQuery) {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port: s.front.port, path: pathAndQuery, agent }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        if (res.statusCode !== 200) resolve({ error: `status ${res.statusCode}: ${text.slice(0, 500)}` });
        else resolve({ verdict: JSON.parse(text) });
      });
      res.on('error', (e) => resolve({ error: e.message }));
    });
    req.setTimeout(REQUEST_TIMEOUT_MS, () => {
      resolve({ stalled: true });
      req.destroy();
    });
    req.on('error', (e) => resolve({ error: e.message }));
  });
}

// Sends `paths` to the front from CLIENTS kept-alive connections at once; returns every outcome.
async function drive(paths) {
  const outcomes = new Array(paths.length);
  let next = 0;
  await Promise.all(Array.from({ length: CLIENTS }, async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    while (next < paths.length) {
      const i = next++;
      outcomes[i] = { path: paths[i], ...await get(agent, paths[i]) };
    }
    agent.destroy();
  }));
  return outcomes;
}

// The totals of `outcomes`, and the first few of each kind of problem.
function tally(outcomes) {
  const t = { requests: outcomes.length, corrupted: 0, stalled: 0, connErrors: 0, problems: [], calls: 0,
              expected: 0, injected: 0, byMode: {}, missed: [], unexpected: [], malformed: [], repeated: [],
              mixedTraces: [], sharedTraces: [] };
  const traceOwner = new Map();  // trace id → the front request whose calls carried it
  for (const o of outcomes) {
    if (o.stalled) {
      ++t.stalled;
      t.problems.push(`${o.path}: no answer within ${REQUEST_TIMEOUT_MS} ms`);
      continue;
    }
    if (o.error) {
      ++t.connErrors;
      t.problems.push(`${o.path}: ${o.error}`);
      continue;
    }
    const v = o.verdict;
    const mode = (t.byMode[v.mode] ??= { requests: 0, corrupted: 0, expected: 0, missed: 0 });
    ++mode.requests;
    mode.corrupted += v.corrupted;
    t.corrupted += v.corrupted;
    t.stalled += v.stalled;
    t.connErrors += v.conn_errors;
    for (const p of v.problems) t.problems.push(`${o.path}: ${p}`);
    const traces = new Set();
    for (const call of v.calls) {
      ++t.calls;
      if (call.traceparents.length > 1) t.repeated.push(`${o.path} ${call.what}: ${call.traceparents}`);
      for (const tp of call.traceparents) {
        const m = TRACEPARENT.exec(tp);
        if (!m || /^0+$/.test(m[1]) || /^0+$/.test(m[2])) t.malformed.push(`${o.path} ${call.what}: ${tp}`);
        else if (v.mode !== 'own') traces.add(m[1]);
      }
      if (call.expect_inject) {
        ++t.expected;
        if (call.traceparents.length > 0) ++t.injected;
        else {
          ++mode.missed;
          t.missed.push(`${o.path} ${call.what}`);
        }
        ++mode.expected;
      } else if (call.expect_inject === false && v.mode !== 'own' && call.traceparents.length > 0) {
        t.unexpected.push(`${o.path} ${call.what}: ${call.traceparents}`);
      }
    }
    // All calls made while serving one request are in its trace, and no other request's.
    if (traces.size > 1) t.mixedTraces.push(`${o.path}: ${[...traces]}`);
    for (const trace of traces) {
      if (traceOwner.has(trace)) t.sharedTraces.push(`${o.path} and ${traceOwner.get(trace)}: ${trace}`);
      traceOwner.set(trace, o.path);
    }
  }
  return t;
}

function summary(t) {
  const { problems, missed, unexpected, malformed, repeated, mixedTraces, sharedTraces, ...counts } = t;
  return `${JSON.stringify(counts)}\nnot injected (${missed.length}): ${missed.slice(0, 5)}\n` +
         `injected where it must not be (${unexpected.length}): ${unexpected.slice(0, 5)}\n` +
         `problems (${problems.length}):\n  ${problems.slice(0, 8).join('\n  ')}` +
         `\nmalformed (${malformed.length}): ${malformed.slice(0, 3)}\nrepeated (${repeated.length}): ` +
         `${repeated.slice(0, 3)}\nmixed traces (${mixedTraces.length}): ${mixedTraces.slice(0, 3)}` +
         `\nshared traces (${sharedTraces.length}): ${sharedTraces.slice(0, 3)}`;
}

// The checks common to both parts.
async function assertIntact(t, injectedBefore) {
  assert.equal(t.corrupted, 0, `corrupted bodies\n${summary(t)}`);
  assert.equal(t.stalled, 0, `stalls\n${summary(t)}`);
  assert.equal(t.connErrors, 0, `connection errors\n${summary(t)}`);
  assert.deepEqual(t.problems, [], `problems\n${summary(t)}`);
  assert.deepEqual(t.malformed, [], `malformed traceparents received\n${summary(t)}`);
  // The second request of a pipelined write, a head split over two writes, a head over 2 KiB.
  assert.deepEqual(t.unexpected, [], `injected where the header must not be\n${summary(t)}`);
  assert.deepEqual(t.repeated, [], `calls that arrived with several traceparents\n${summary(t)}`);
  assert.deepEqual(t.mixedTraces, [], `calls of one request in several traces\n${summary(t)}`);
  assert.deepEqual(t.sharedTraces, [], `one trace in several requests\n${summary(t)}`);
  assert.ok(t.injected >= 0.95 * t.expected, `injected into ${t.injected} of ${t.expected} calls\n${summary(t)}`);
  // The agent publishes its counters periodically.
  let counted;
  await waitFor(`${INJECTED} to count >= 95% of ${t.expected} calls`, async () => {
    counted = await metric(up, INJECTED) - injectedBefore;
    return counted >= 0.95 * t.expected;
  }, { timeoutMs: 10000, intervalMs: 200, describe: () => `it went up by ${counted}` });
}

before(async () => {
  if (skip) return;
  tmp = makeTempDir('integrity');
  const www = path.join(tmp.dir, 'www');
  fs.mkdirSync(www);
  ({ up, lock } = await startInjectingUp({ dir: tmp.dir }));

  const env = (service) => ({ cwd: tmp.dir, env: { OTEL_SERVICE_NAME: service } });
  s.backend = await startServer('backend', 'python3', ['-u', HOP, 'backend'], env('integrity-backend'));
  const nginxPort = await unusedPort();
  const nginxPrefix = path.join(tmp.dir, 'nginx');
  // /api/X is proxied to the backend as /X, a new upstream connection per request.
  const nginxConf = nginxConfig(nginxPrefix, { PORT: nginxPort, ROOT: www, BACKEND_PORT: s.backend.port });
  s.nginx = await startServer('nginx', 'nginx', ['-p', nginxPrefix, '-c', nginxConf, '-e', 'stderr'],
                              { ...env('integrity-nginx'), port: nginxPort });
  s.front = await startServer('front', 'python3', ['-u', HOP, 'front', String(s.backend.port), String(nginxPort)],
                              env('integrity-front'));
  await waitUntilTraced(up, ...Object.values(s).map((server) => server.child.pid));
});

after(() => tearDown({ servers: s, up, tmp, lock }));

// One line for the test's log: the counts, by mode.
// What the kernel did, from /metrics (the agent publishes its counters every second): in the
// output, so that a miss can be told from a skip by its reason.
async function kernelCounters() {
  const text = await (await fetch(`${up.apiUrl}/metrics`)).text();
  const lines = text.split('\n').filter((l) => /^hodos_agent_(inject|trace_contexts)_total\{/.test(l) && !/ 0$/.test(l));
  console.log(`# kernel counters: ${lines.join(', ')}`);
}

function report(what, t, ms) {
  console.log(`# ${what}: ${t.requests} requests, ${t.calls} backend calls in ${ms} ms: ${t.injected} of ` +
              `${t.expected} injected, ${t.corrupted} corrupted, ${t.stalled} stalled, ${t.connErrors} connection ` +
              `errors; by mode ${JSON.stringify(t.byMode)}`);
}

test('20,000 requests through injection: no body corrupted, no stall, no connection error', { skip }, async () => {
  const rnd = random(20261201);
  const paths = Array.from({ length: 20000 }, (_, i) => frontRequest(rnd, i));
  const injectedBefore = await metric(up, INJECTED);
  const started = Date.now();
  const t = tally(await drive(paths));
  report('direct', t, Date.now() - started);
  await kernelCounters();
  await assertIntact(t, injectedBefore);
});

test('2,000 large answers through a traced nginx proxy: none corrupted, no stall', { skip }, async () => {
  const rnd = random(4242);
  // 8 KiB .. 520 KiB answers.
  const paths = Array.from({ length: 2000 }, (_, i) => {
    const q = new URLSearchParams({ mode: 'proxy', size: String(8192 + Math.floor(rnd() * (512 << 10))),
                                    offset: String(Math.floor(rnd() * (1 << 20))) });
    return `/r/proxy-${i}?${q}`;
  });
  const injectedBefore = await metric(up, INJECTED);
  const enrolledBefore = await metric(up, ENROLLED);
  const started = Date.now();
  const t = tally(await drive(paths));
  report('through nginx', t, Date.now() - started);
  await assertIntact(t, injectedBefore);
  // nginx's own upstream connections (one per request under /api/: no upstream keepalive there)
  // are enrolled (connection-context mode), so this part is where its FIONREAD reads would stall.
  // The agent publishes its counters every second: the last second's may not be out yet.
  let enrolled = 0;
  await waitFor('nginx\'s upstream connections counted as enrolled', async () => {
    enrolled = await metric(up, ENROLLED) - enrolledBefore;
    return enrolled >= 1900;
  }, { timeoutMs: 5000, describe: () => `${enrolled} connections were enrolled of 2,000` });
  console.log(`# enrolled during the nginx part: ${enrolled} connections`);
  assert.equal(s.nginx.child.exitCode, null, `nginx exited: ${s.nginx.output}`);
});

// A request whose body, written after its head in a write of its own, starts with an HTTP request
// head (an HTTP message carried as a body: message/http, a test harness, a tunnel): the body must
// arrive as written. The sk_msg program sees each write alone; it tells a body from a request by
// following the connection (the Content-Length of the head before it). Before it did, it inserted
// a header into such bodies: the backend read Content-Length bytes of the changed body and took
// the 70 bytes pushed past them for the next request on the connection.
test('a body that starts with an HTTP request head arrives as written', { skip }, async () => {
  const paths = Array.from({ length: 200 }, (_, i) => `/r/httpbody-${i}?mode=httpbody`);
  const injectedBefore = await metric(up, INJECTED);
  const started = Date.now();
  const t = tally(await drive(paths));
  report('HTTP-looking bodies', t, Date.now() - started);
  await assertIntact(t, injectedBefore);
});
