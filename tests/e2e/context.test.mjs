// Trace context across real services under one `hodos up`: thread-per-request servers (Python
// ThreadingHTTPServer calling out with urllib, a Java HttpServer calling out with
// HttpURLConnection) get a `traceparent` header injected by the kernel into their outgoing
// requests, naming their CLIENT span, and each callee's SERVER span continues that trace. Checked
// per request on a chain client → Python → Java → two Python leaves (a fan-out), with a failing
// leaf, sequentially and with 16 concurrent clients: one trace holding all its spans and nothing
// else, each callee's parent = its caller's CLIENT span, and the header each callee RECEIVED is
// exactly `00-<trace>-<caller's client span>-01` (which stitching alone cannot produce). Also:
// interop both ways with the OpenTelemetry JS SDK (W3C propagator), a Node (event loop) and an
// nginx hop joined by stitching, and `agent.inject.enabled: false` (no header sent at all).
// Needs root (CI runs as root); skipped with the reason otherwise.
//
// The client is the test process, which never listens (nginx's port comes from python's bind()),
// so the agent never traces it: the SDK client below is the only party writing its requests'
// trace context. Java runs as it does by default, on dual-stack IPv6 sockets (its ends are
// IPv4-mapped addresses while the Python ends are plain IPv4).
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { makeTempDir, runHodos, waitFor } from './lib/collector.mjs';
import { api, core, sdkTraceBase } from './lib/deps.mjs';
import { HodosUp, startInjectingUp } from './lib/hodos_up.mjs';
import {
  APPS, buildGoServer, describeSpans, execFileP, metric, needsRoot, nginxConfig, request, spansOf, startServer, stopServer, tag,
  tearDown, unusedPort, waitUntilTraced,
} from './lib/servers.mjs';

const skip = needsRoot;

const HOP_PY = path.join(APPS, 'context_hop.py');
const HOP_NODE = path.join(APPS, 'context_hop.mjs');
// The service of each server (OTEL_SERVICE_NAME, which the agent reads from its environment).
const SERVICE = {
  front: 'ctx-front', java: 'ctx-java', leafC: 'ctx-leaf-c', leafD: 'ctx-leaf-d',
  sdkCaller: 'ctx-sdk-caller', nodeSdk: 'ctx-node-sdk', nodeFront: 'ctx-node-front', nginx: 'ctx-nginx',
  go: 'ctx-go', frontGo: 'ctx-front-go', goStripped: 'ctx-go-stripped', frontGoStripped: 'ctx-front-go-stripped',
  goEarly: 'ctx-go-early',
};
// The services of the chain client → front (Python) → java → leafC, leafD (Python).
const CHAIN = [SERVICE.front, SERVICE.java, SERVICE.leafC, SERVICE.leafD];
const INJECTED = 'hodos_agent_inject_total{result="injected"}';

let tmp;
let up;
let lock;
let goMissing;  // why the Go hop could not be built, if it could not
let goBin;  // the Go hop's binary
const s = {};  // the servers by name

// Starts a hop (see tests/e2e/apps/context_hop.*, ContextHop.java) as SERVICE[name], calling `next`.
const env = (name) => ({ cwd: tmp.dir, env: { OTEL_SERVICE_NAME: SERVICE[name] } });
const py = (name, ...next) => startServer(name, 'python3', ['-u', HOP_PY, ...next.map(String)], env(name));
const node = (name, ...next) => startServer(name, process.execPath, [HOP_NODE, ...next.map(String)], env(name));
const java = (...next) => startServer('java', 'java', ['-cp', tmp.dir, 'ContextHop', ...next.map(String)], env('java'));

// The request id of a span: the last segment of its url.path (every hop keeps it).
const randomHex = (bytes) => crypto.randomBytes(bytes).toString('hex');
const ridOf = (span) => (tag(span, 'url.path') ?? '').split('/').pop();
const kindOf = (span) => tag(span, 'span.kind');
const parentIds = (span) => span.references.filter((r) => r.refType === 'CHILD_OF').map((r) => r.spanID);
const traceparentOf = (traceID, span) => `00-${traceID}-${span.spanID}-01`;

// Every span of every trace holding a span of `services`, each once.
async function spansOfAll(u, services) {
  const byId = new Map();
  for (const service of services) {
    for (const span of (await spansOf(u, service)).spans) byId.set(span.spanID, span);
  }
  return [...byId.values()];
}

function groupBy(spans, key) {
  const groups = new Map();
  for (const span of spans) {
    const k = key(span);
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k).push(span);
  }
  return groups;
}

// Polls until each of `rids` has `perRequest` spans among the traces of `services`; returns the
// spans by request id and by trace id.
async function waitForRequests(u, services, rids, perRequest, { timeoutMs = 30000 } = {}) {
  let byRid = new Map();
  const missing = () => rids.filter((r) => (byRid.get(r)?.length ?? 0) < perRequest);
  return waitFor(`${perRequest} spans for each of ${rids.length} requests`, async () => {
    const spans = await spansOfAll(u, services);
    byRid = groupBy(spans, ridOf);
    return missing().length === 0 ? { byRid, byTrace: groupBy(spans, (x) => x.traceID) } : false;
  }, {
    timeoutMs, intervalMs: 250,
    describe: () => missing().slice(0, 3).map((r) => `\n${r}: ${byRid.get(r)?.length ?? 0} spans` +
                                                     describeSpans(byRid.get(r) ?? [])).join('') +
                    ` (${missing().length} requests incomplete)`,
  });
}

// The spans of request `rid` are all in one trace, which holds nothing else; returns its id.
function assertOneTrace(rid, { byRid, byTrace }, perRequest) {
  const mine = byRid.get(rid);
  assert.equal(mine.length, perRequest, `${rid}: ${perRequest} spans, no more:${describeSpans(mine)}`);
  const traces = new Set(mine.map((x) => x.traceID));
  assert.equal(traces.size, 1, `${rid}: its spans are in ${traces.size} traces:${describeSpans(mine)}`);
  const [traceID] = traces;
  const strangers = byTrace.get(traceID).filter((x) => ridOf(x) !== rid);
  assert.equal(strangers.length, 0, `${rid}: spans of other requests in its trace:${describeSpans(strangers)}`);
  return traceID;
}

// The one span of `spans` of `service` and `kind` (for a client: calling `calleePort`).
function pick(spans, service, kind, calleePort) {
  const found = spans.filter((x) => x.process.serviceName === service && kindOf(x) === kind &&
                                    (calleePort === undefined || tag(x, 'server.port') === calleePort));
  assert.equal(found.length, 1, `one ${kind} span of ${service}${calleePort ? ` calling :${calleePort}` : ''}:` +
                                describeSpans(spans));
  return found[0];
}

function assertParent(child, parent, what) {
  assert.deepEqual(parentIds(child), [parent.spanID], `${what}:${describeSpans([parent, child])}`);
}

function assertStatus(span, status) {
  const what = `${span.process.serviceName} ${kindOf(span)} ${tag(span, 'url.path')}`;
  assert.equal(tag(span, 'http.response.status_code'), status, what);
  if (status >= 500) {
    assert.equal(tag(span, 'error'), true, `${what} is an error`);
    assert.equal(tag(span, 'otel.status_code'), 'ERROR', what);
  } else {
    assert.equal(tag(span, 'error'), undefined, `${what} is not an error`);
  }
}

// One request through the chain: GET /<kind>/<rid> on the front; resolves with its answer.
async function chainRequest(rid, { fail = false } = {}) {
  const r = await request(s.front.port, `/${fail ? 'fail' : 'chain'}/${rid}`);
  const expected = fail ? 500 : 200;
  assert.equal(r.status, expected, `${rid}: ${r.body}`);
  return { rid, fail, answer: JSON.parse(r.body) };
}

// The whole check of one chain request (see the top of the file). The trace structure comes first
// (stitching alone satisfies it), then what each callee received (only injection satisfies it).
function assertChain({ rid, fail, answer }, found, { injected = true } = {}) {
  const traceID = assertOneTrace(rid, found, 7);
  const mine = found.byRid.get(rid);
  const front = pick(mine, SERVICE.front, 'server');
  const frontCall = pick(mine, SERVICE.front, 'client', s.java.port);
  const java = pick(mine, SERVICE.java, 'server');
  const javaCallC = pick(mine, SERVICE.java, 'client', s.leafC.port);
  const javaCallD = pick(mine, SERVICE.java, 'client', s.leafD.port);
  const leafC = pick(mine, SERVICE.leafC, 'server');
  const leafD = pick(mine, SERVICE.leafD, 'server');
  assert.deepEqual(parentIds(front), [], `${rid}: the front's SERVER span is the root (the client is not traced)`);
  assertParent(frontCall, front, `${rid}: the front's call is the child of its request`);
  assertParent(java, frontCall, `${rid}: Java's SERVER span is the child of the front's CLIENT span`);
  assertParent(javaCallC, java, `${rid}: Java's call to C is the child of its request`);
  assertParent(javaCallD, java, `${rid}: Java's call to D is the child of its request`);
  assertParent(leafC, javaCallC, `${rid}: C's SERVER span is the child of Java's CLIENT span to C`);
  assertParent(leafD, javaCallD, `${rid}: D's SERVER span is the child of Java's CLIENT span to D`);
  for (const span of mine) assertStatus(span, fail ? 500 : 200);

  // What each hop received, from the answers passed back up the chain.
  assert.equal(answer.traceparent, null, `${rid}: the client sent no traceparent`);
  const javaGot = answer.calls[0].answer;
  const [cGot, dGot] = javaGot.calls.map((c) => c.answer);
  assert.deepEqual([javaGot.port, cGot.port, dGot.port], [s.java.port, s.leafC.port, s.leafD.port]);
  const received = [javaGot.traceparent, cGot.traceparent, dGot.traceparent];
  if (injected) {
    assert.deepEqual(received, [traceparentOf(traceID, frontCall), traceparentOf(traceID, javaCallC),
                                traceparentOf(traceID, javaCallD)],
                     `${rid}: the traceparent each callee received [Java, C, D] names its caller's CLIENT span`);
  } else {
    assert.deepEqual(received, [null, null, null], `${rid}: no callee received a traceparent`);
  }
}

before(async () => {
  if (skip) return;
  tmp = makeTempDir('context');
  const www = path.join(tmp.dir, 'www');
  fs.mkdirSync(www);
  // Injection on (another Hodos agent injecting on the host would make this one stand down).
  let go, goStripped;
  [{ up, lock }, , go, goStripped] = await Promise.all([
    startInjectingUp({ dir: tmp.dir }), execFileP('javac', ['-d', tmp.dir, path.join(APPS, 'ContextHop.java')]),
    buildGoServer(tmp.dir), buildGoServer(tmp.dir, { stripped: true })]);
  goMissing = go.reason;
  goBin = go.bin;

  // Every server starts after the agent, callees before their callers (which take their ports).
  [s.leafC, s.leafD, s.nodeSdk] = await Promise.all([py('leafC'), py('leafD'), node('nodeSdk')]);
  const nginxPort = await unusedPort();
  const nginxPrefix = path.join(tmp.dir, 'nginx');
  // /api/X is proxied to leaf C as /X.
  const nginxConf = nginxConfig(nginxPrefix, { PORT: nginxPort, ROOT: www, BACKEND_PORT: s.leafC.port });
  [s.java, s.nginx] = await Promise.all([
    java(s.leafC.port, s.leafD.port),
    startServer('nginx', 'nginx', ['-p', nginxPrefix, '-c', nginxConf, '-e', 'stderr'],
                { ...env('nginx'), port: nginxPort }),
  ]);
  [s.front, s.sdkCaller, s.nodeFront] = await Promise.all([
    py('front', s.java.port), py('sdkCaller', s.nodeSdk.port), node('nodeFront', s.nginx.port),
  ]);
  if (!goMissing) {
    const leaves = [String(s.leafC.port), String(s.leafD.port)];
    [s.go, s.goStripped] = await Promise.all([
      startServer('go', go.bin, [www, ...leaves], env('go')),
      startServer('goStripped', goStripped.bin, [www, ...leaves], env('goStripped'))]);
    [s.frontGo, s.frontGoStripped] = await Promise.all([py('frontGo', s.go.port),
                                                        py('frontGoStripped', s.goStripped.port)]);
  }
  await waitUntilTraced(up, ...Object.values(s).map((server) => server.child.pid));
});

after(() => tearDown({ servers: s, up, tmp, lock }));

test('client → Python → Java → two Python leaves, sequential: one trace each, injected', { skip }, async () => {
  const injectedBefore = await metric(up, INJECTED);
  const sent = [];
  for (let i = 0; i < 10; ++i) sent.push(await chainRequest(`seq-${i}`));
  const found = await waitForRequests(up, CHAIN, sent.map((r) => r.rid), 7);
  for (const r of sent) assertChain(r, found);
  // Three calls per request, each injected once (the agent publishes its counters periodically).
  let injected;
  await waitFor(`${INJECTED} to count 30 injections`, async () => {
    injected = await metric(up, INJECTED) - injectedBefore;
    return injected >= 30;
  }, { timeoutMs: 5000, intervalMs: 100, describe: () => `it went up by ${injected}` });
  // The ready line and `hodos status` say that injection is on, and how much it did.
  assert.match(up.stdout, /traceparent injection on \(destinations: loopback, private ranges;/);
  const status = JSON.parse((await runHodos(['status', '--json', '--api', up.apiUrl])).stdout);
  assert.equal(status.components.agent.injection.on, true, JSON.stringify(status.components.agent));
  assert.ok(status.components.agent.injected >= 30, JSON.stringify(status.components.agent));
  const text = (await runHodos(['status', '--api', up.apiUrl])).stdout;
  assert.match(text, /^ {2}context +traceparent injection on \(.*\); \d+ requests injected$/m);
});

test('a failing leaf: 500 and ERROR on every span up the chain, one trace, injected', { skip }, async () => {
  const sent = [];
  for (let i = 0; i < 3; ++i) sent.push(await chainRequest(`fail-${i}`, { fail: true }));
  const found = await waitForRequests(up, CHAIN, sent.map((r) => r.rid), 7);
  for (const r of sent) assertChain(r, found);
});

test('16 concurrent clients × 10 requests: every request one trace, no span in a wrong trace', { skip }, async () => {
  const sent = [];
  await Promise.all(Array.from({ length: 16 }, async (_, client) => {
    for (let i = 0; i < 10; ++i) {
      sent.push(await chainRequest(`c${client}-${i}`, { fail: i % 4 === 3 }));
    }
  }));
  assert.equal(sent.length, 160);
  const found = await waitForRequests(up, CHAIN, sent.map((r) => r.rid), 7, { timeoutMs: 45000 });
  for (const r of sent) assertChain(r, found);
});

test('the OpenTelemetry JS SDK calls a traced Python server, whose SERVER span continues', { skip }, async () => {
  const tracer = new sdkTraceBase.BasicTracerProvider().getTracer('hodos-e2e-context');
  const propagator = new core.W3CTraceContextPropagator();
  const sent = [];
  for (let i = 0; i < 3; ++i) {
    const rid = `sdk-${i}`;
    const span = tracer.startSpan(`GET /sdk/${rid}`, { kind: api.SpanKind.CLIENT });
    const headers = {};
    propagator.inject(api.trace.setSpan(api.ROOT_CONTEXT, span), headers, api.defaultTextMapSetter);
    assert.match(headers.traceparent, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    const r = await request(s.leafC.port, `/sdk/${rid}`, { headers });
    span.end();
    assert.equal(r.status, 200);
    // The caller's own header reaches the server untouched.
    assert.equal(JSON.parse(r.body).traceparent, headers.traceparent);
    sent.push({ rid, context: span.spanContext() });
  }
  const found = await waitForRequests(up, [SERVICE.leafC], sent.map((r) => r.rid), 1);
  for (const { rid, context } of sent) {
    const server = pick(found.byRid.get(rid), SERVICE.leafC, 'server');
    assert.equal(server.traceID, context.traceId, `${rid}: the SERVER span is in the SDK's trace`);
    assert.deepEqual(parentIds(server), [context.spanId],
                     `${rid}: the SERVER span's parent is the SDK's CLIENT span ${context.spanId}:` +
                     describeSpans([server]));
    assertOneTrace(rid, found, 1);
  }
});

// A caller that propagates W3C context (an SDK, another tracer) sends traceparent and tracestate:
// the front continues the trace, and every hop below it receives that trace and the same
// tracestate, which the kernel carries after each traceparent it inserts.
test('an incoming traceparent and tracestate go down the whole chain', { skip }, async () => {
  const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
  const callerSpan = '00f067aa0ba902b7';
  const tracestate = 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7';
  const rid = 'tracestate-0';
  const r = await request(s.front.port, `/chain/${rid}`,
                          { headers: { traceparent: `00-${traceId}-${callerSpan}-01`, tracestate } });
  assert.equal(r.status, 200, r.body);
  const answer = JSON.parse(r.body);
  const javaGot = answer.calls[0].answer;
  const [cGot, dGot] = javaGot.calls.map((c) => c.answer);
  for (const [who, got] of [['Java', javaGot], ['C', cGot], ['D', dGot]]) {
    assert.match(got.traceparent ?? '', new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`), `${who}: ${JSON.stringify(got)}`);
    assert.equal(got.tracestate, tracestate, `${who} received the caller's tracestate`);
  }
  const found = await waitForRequests(up, CHAIN, [rid], 7);
  assert.equal(assertOneTrace(rid, found, 7), traceId, 'the chain continues the caller\'s trace');
  assert.deepEqual(parentIds(pick(found.byRid.get(rid), SERVICE.front, 'server')), [callerSpan]);
});

test('a traced Python server calls a Node server: the SDK propagator there extracts its trace', { skip }, async () => {
  const sent = [];
  for (let i = 0; i < 3; ++i) {
    const rid = `sdkx-${i}`;
    const r = await request(s.sdkCaller.port, `/sdkx/${rid}`);
    assert.equal(r.status, 200, String(r.body));
    sent.push({ rid, got: JSON.parse(r.body).calls[0].answer });
  }
  // The Python hop's SERVER and CLIENT spans and the (traced) Node server's SERVER span.
  const found = await waitForRequests(up, [SERVICE.sdkCaller, SERVICE.nodeSdk], sent.map((r) => r.rid), 3);
  for (const { rid, got } of sent) {
    const traceID = assertOneTrace(rid, found, 3);
    const call = pick(found.byRid.get(rid), SERVICE.sdkCaller, 'client', s.nodeSdk.port);
    assertParent(call, pick(found.byRid.get(rid), SERVICE.sdkCaller, 'server'),
                 `${rid}: the call is the child of its request`);
    assert.deepEqual(got.sdk, { traceId: traceID, spanId: call.spanID },
                     `${rid}: the SDK extracted the Python trace, parent = the Python CLIENT span ` +
                     `(received traceparent: ${got.traceparent})`);
  }
});

test('a Node (event loop) front and an nginx proxy hop: one trace per request, joined by stitching', { skip }, async () => {
  const sent = [];
  for (let i = 0; i < 5; ++i) {
    const rid = `nx-${i}`;
    const r = await request(s.nodeFront.port, `/api/chain/${rid}`);
    assert.equal(r.status, 200, String(r.body));
    sent.push({ rid, answer: JSON.parse(r.body) });
  }
  // Node's SERVER and CLIENT, nginx's SERVER and CLIENT, leaf C's SERVER.
  const found = await waitForRequests(up, [SERVICE.nodeFront, SERVICE.nginx, SERVICE.leafC], sent.map((r) => r.rid), 5);
  for (const { rid, answer } of sent) {
    const traceID = assertOneTrace(rid, found, 5);
    const mine = found.byRid.get(rid);
    const nodeCall = pick(mine, SERVICE.nodeFront, 'client', s.nginx.port);
    const nginxCall = pick(mine, SERVICE.nginx, 'client', s.leafC.port);
    // The joins across processes are exact (by connection), unlike an event loop's inner parent.
    assertParent(pick(mine, SERVICE.nginx, 'server'), nodeCall, `${rid}: nginx's SERVER span under Node's call`);
    assertParent(pick(mine, SERVICE.leafC, 'server'), nginxCall, `${rid}: the leaf's SERVER span under nginx's call`);
    // nginx is followed per connection: its call carried a traceparent naming its CLIENT span.
    // The trace id in it is the one nginx's request started (Node's event loop sent no header),
    // which stitching then joined to Node's trace.
    const got = answer.calls[0].answer.traceparent;
    assert.match(got ?? '', new RegExp(`^00-[0-9a-f]{32}-${nginxCall.spanID}-01$`),
                 `${rid}: the leaf received ${got}, which does not name nginx's call`);
  }
});

// nginx serves every request on one thread: the agent follows its requests per connection
// instead, with a uprobe on ngx_http_upstream_init (the request nginx starts to proxy), so each
// upstream call is the child of the request it proxies and carries a traceparent naming it. 16
// concurrent clients, over kept-alive client connections, through a new upstream connection per
// request (/api/) and kept-alive upstream ones (/keep/); half the requests bring a traceparent.
const LOOP_FOLLOWED = 'hodos_agent_event_loop_calls_total{result="followed"}';
test('an nginx proxy under 16 concurrent clients: each upstream call the child of its request, injected', { skip }, async () => {
  const pid = s.nginx.child.pid;
  const injectedText = 'traceparent injected (event loop, per connection)';
  let source;
  await waitFor('nginx to be followed per connection', async () => {
    const listed = JSON.parse((await runHodos(['sources', 'list', '--json', '--api', up.apiUrl])).stdout);
    source = listed.sources.find((x) => x.pid === pid);
    return source?.trace_context === injectedText;
  }, { timeoutMs: 10000, intervalMs: 200, describe: () => JSON.stringify(source) });
  const described = (await runHodos(['describe', String(pid), '--api', up.apiUrl])).stdout;
  assert.match(described, /^ {2}context +traceparent injected \(event loop, per connection\)$/m, described);
  const followedBefore = await metric(up, LOOP_FOLLOWED);

  const sent = new Map();  // rid → { incoming traceparent (trace id, span id) or null, answer }
  await Promise.all(Array.from({ length: 16 }, async (_, client) => {
    for (let i = 0; i < 6; ++i) {
      const rid = `ngx-c${client}-${i}`;
      const incoming = (client + i) % 2 === 0 ? { traceID: randomHex(16), spanID: randomHex(8) } : null;
      const headers = incoming ? { traceparent: `00-${incoming.traceID}-${incoming.spanID}-01` } : {};
      const r = await request(s.nginx.port, `/${i % 2 ? 'keep' : 'api'}/${rid}`, { headers });
      assert.equal(r.status, 200, `${rid}: ${r.body}`);
      sent.set(rid, { incoming, answer: JSON.parse(r.body) });
    }
  }));
  const found = await waitForRequests(up, [SERVICE.nginx, SERVICE.leafC], [...sent.keys()], 3, { timeoutMs: 45000 });
  for (const [rid, { incoming, answer }] of sent) {
    const traceID = assertOneTrace(rid, found, 3);
    const mine = found.byRid.get(rid);
    const nginxServer = pick(mine, SERVICE.nginx, 'server');
    const nginxCall = pick(mine, SERVICE.nginx, 'client', s.leafC.port);
    const leaf = pick(mine, SERVICE.leafC, 'server');
    if (incoming) {
      assert.equal(traceID, incoming.traceID, `${rid}: nginx continued the client's trace`);
      assert.deepEqual(parentIds(nginxServer), [incoming.spanID], `${rid}: nginx's SERVER span under the client's span`);
    } else {
      assert.deepEqual(parentIds(nginxServer), [], `${rid}: nginx's SERVER span is the root`);
    }
    assertParent(nginxCall, nginxServer, `${rid}: nginx's upstream call is the child of its request`);
    assertParent(leaf, nginxCall, `${rid}: the leaf's SERVER span is the child of nginx's call`);
    assert.equal(answer.traceparent, traceparentOf(traceID, nginxCall),
                 `${rid}: the traceparent the leaf received names nginx's CLIENT span`);
  }
  let followed;
  await waitFor(`${LOOP_FOLLOWED} to count 96 requests`, async () => {
    followed = await metric(up, LOOP_FOLLOWED) - followedBefore;
    return followed >= 96;
  }, { timeoutMs: 5000, intervalMs: 100, describe: () => `it went up by ${followed}` });
});

// Last: replaces the shared `hodos up` with one whose config turns injection off, and the chain's
// servers with new ones started after it (a thread already blocked in a read when an agent starts
// is not seen reading: the first request on a kept-alive connection would lose spans).
// Go runs many goroutines on each thread, and a goroutine moves between threads: the agent follows
// goroutines instead (uprobes on runtime.newproc1 and net/http's client, found in the binary), so a
// Go server's outgoing calls get a traceparent naming their CLIENT span, whether the handler's own
// goroutine makes them or goroutines it starts, over pooled keep-alive connections whose writer
// goroutines serve every caller. A Python front calls Go, which calls leaves C and D one after the
// other from its handler, then both at once from two goroutines it starts; 32 concurrent clients,
// every request exactly one trace with every parent right and the exact header each callee
// received. Twice: a Go binary with its symbols and DWARF, and one built with -ldflags='-s -w'
// (functions from Go's own pclntab, offsets from the agent's table).
// Go's four calls of request `rid` (leaves C and D in sequence, then from two goroutines), told
// apart by their path (/seq/ or /par/): children of Go's SERVER span, each leaf's SERVER span a
// child of its call, and the traceparent each leaf received naming its call (from Go's answer).
function assertGoCalls(rid, mine, goName, goServer, goGot) {
  assert.equal(goGot.calls.length, 4, `${rid}: Go made four calls`);
  const byPath = (prefix) => mine.filter((x) => (tag(x, 'url.path') ?? '').startsWith(`/${prefix}/`));
  for (const [i, prefix, leaf] of [[0, 'seq', 'leafC'], [1, 'seq', 'leafD'], [2, 'par', 'leafC'], [3, 'par', 'leafD']]) {
    const what = `${rid}: Go's ${prefix === 'seq' ? 'sequential call' : 'call from a goroutine'} to ${leaf}`;
    const spans = byPath(prefix);
    const goCall = pick(spans, SERVICE[goName], 'client', s[leaf].port);
    const leafServer = pick(spans, SERVICE[leaf], 'server');
    assertParent(goCall, goServer, `${what} is the request's child`);
    assertParent(leafServer, goCall, `${what}: the leaf's SERVER span is its child`);
    const got = goGot.calls[i];
    assert.deepEqual([got.port, got.status], [s[leaf].port, 200], what);
    assert.equal(got.answer.traceparent, traceparentOf(goServer.traceID, goCall), `${what}: the traceparent the leaf received`);
  }
  for (const span of mine) assertStatus(span, 200);
}

const GO_LINKED = 'hodos_agent_go_contexts_total{how="request_linked"}';
const GO_INHERITED = 'hodos_agent_go_contexts_total{how="inherited"}';
for (const [goName, frontName] of [['go', 'frontGo'], ['goStripped', 'frontGoStripped']]) {
  test(`a Go hop (${SERVICE[goName]}): calls in sequence and from goroutines injected, 32 concurrent clients`, { skip }, async (t) => {
    if (goMissing) {
      t.skip(`the Go hop could not be built: ${goMissing}`);
      return;
    }
    const pid = s[goName].child.pid;
    const listed = JSON.parse((await runHodos(['sources', 'list', '--json', '--api', up.apiUrl])).stdout);
    const source = listed.sources.find((x) => x.pid === pid);
    assert.match(source?.go ?? '', /^goroutines followed \(go1\.\d+/, JSON.stringify(source));
    assert.equal(source.trace_context, 'traceparent injected (goroutines)', JSON.stringify(source));
    // `hodos describe` says what the agent got from the binary.
    const described = (await runHodos(['describe', String(pid), '--api', up.apiUrl])).stdout;
    assert.match(described, goName === 'go' ? /^ {2}go +goroutines followed \(go1\.\d+[.\d]*, DWARF\)/m
                                             : /^ {2}go +goroutines followed \(go1\.\d+[.\d]*, stripped: functions from pclntab, offsets from the table go1\.\d+\)/m,
                 described);
    const linkedBefore = await metric(up, GO_LINKED);
    const inheritedBefore = await metric(up, GO_INHERITED);

    const rids = Array.from({ length: 96 }, (_, i) => `${goName}-${i}`);
    const answers = new Map();
    const queue = [...rids];
    await Promise.all(Array.from({ length: 32 }, async () => {
      for (let rid = queue.shift(); rid; rid = queue.shift()) {
        const r = await request(s[frontName].port, `/chain/${rid}`);
        assert.equal(r.status, 200, `${rid}: ${r.body}`);
        answers.set(rid, JSON.parse(r.body));
      }
    }));
    const services = [SERVICE[frontName], SERVICE[goName], SERVICE.leafC, SERVICE.leafD];
    const found = await waitForRequests(up, services, rids, 11, { timeoutMs: 45000 });
    for (const rid of rids) {
      const traceID = assertOneTrace(rid, found, 11);
      const mine = found.byRid.get(rid);
      const front = pick(mine, SERVICE[frontName], 'server');
      const frontCall = pick(mine, SERVICE[frontName], 'client', s[goName].port);
      const goServer = pick(mine, SERVICE[goName], 'server');
      assertParent(frontCall, front, `${rid}: the front's call is its request's child`);
      assertParent(goServer, frontCall, `${rid}: Go's SERVER span continues the front's traceparent`);
      const goGot = answers.get(rid).calls[0].answer;
      assert.equal(goGot.traceparent, traceparentOf(traceID, frontCall), `${rid}: the traceparent Go received`);
      assertGoCalls(rid, mine, goName, goServer, goGot);
    }

    // Straight to Go over 16 kept-alive connections, each request with a traceparent of its own:
    // Go's server reads a kept-alive connection's next request from two goroutines at times (its
    // background read gets the first byte), which must not lose the request's context.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
    const direct = Array.from({ length: 96 }, (_, i) => ({
      rid: `${goName}-direct-${i}`, trace: randomHex(16), span: randomHex(8),
    }));
    const directQueue = [...direct];
    let reused = 0;
    await Promise.all(Array.from({ length: 16 }, async () => {
      for (let d = directQueue.shift(); d; d = directQueue.shift()) {
        const r = await request(s[goName].port, `/chain/${d.rid}`,
                                { agent, headers: { traceparent: `00-${d.trace}-${d.span}-01` } });
        assert.equal(r.status, 200, `${d.rid}: ${r.body}`);
        if (r.reused) ++reused;
        d.answer = JSON.parse(r.body);
      }
    }));
    agent.destroy();
    assert.ok(reused >= 64, `most requests went over kept-alive connections (${reused} of 96)`);
    const directFound = await waitForRequests(up, [SERVICE[goName], SERVICE.leafC, SERVICE.leafD],
                                              direct.map((d) => d.rid), 9, { timeoutMs: 45000 });
    for (const d of direct) {
      const traceID = assertOneTrace(d.rid, directFound, 9);
      assert.equal(traceID, d.trace, `${d.rid}: the trace the client started`);
      const mine = directFound.byRid.get(d.rid);
      const goServer = pick(mine, SERVICE[goName], 'server');
      assert.deepEqual(parentIds(goServer), [d.span], `${d.rid}: Go's SERVER span continues the client's traceparent`);
      assertGoCalls(d.rid, mine, goName, goServer, d.answer);
    }
    // Every call's context went from its caller's goroutine to a connection's writer goroutine;
    // the parallel calls were made from goroutines that inherited it.
    let linked, inherited;
    await waitFor(`${GO_LINKED} to count ${4 * (rids.length + direct.length)} requests`, async () => {
      linked = await metric(up, GO_LINKED) - linkedBefore;
      inherited = await metric(up, GO_INHERITED) - inheritedBefore;
      return linked >= 4 * (rids.length + direct.length) && inherited >= 2 * (rids.length + direct.length);
    }, { timeoutMs: 5000, intervalMs: 100, describe: () => `linked +${linked}, inherited +${inherited}` });
  });
}

// A Go service that was running before the agent started, its keep-alive connections to its
// callees already open (the usual way Hodos meets a host): sockops never saw them connect. The
// agent enrols them once it follows the process's goroutines, and each finds where its requests
// start at its next request head: calls on them carry their traceparent like any other. Requests
// one at a time, so that Go's pool hands out only the connections opened before (no new one is
// marked meanwhile).
const LATE_FOUND = 'hodos_agent_inject_total{result="http1_head_found"}';
const MARKED = 'hodos_agent_inject_total{result="marked"}';
const ENROLLED_LATE = 'hodos_agent_inject_enrolled_late_total';
test('a Go hop started before the agent: its kept-alive connections opened before get the traceparent', { skip }, async (t) => {
  if (goMissing) {
    t.skip(`the Go hop could not be built: ${goMissing}`);
    return;
  }
  const exit = await up.stop();
  assert.equal(exit.code, 0, up.tail());
  s.goEarly = await startServer('goEarly', goBin, [path.join(tmp.dir, 'www'), String(s.leafC.port), String(s.leafD.port)],
                                env('goEarly'));
  for (let i = 0; i < 2; ++i) {
    const r = await request(s.goEarly.port, `/chain/warm-${i}`);
    assert.equal(r.status, 200, r.body);
  }
  up = new HodosUp({ name: 'up-late', dir: tmp.dir, agent: true });
  await up.start();
  assert.match(up.stdout, /traceparent injection on/, `the agent does not inject:\n${up.tail()}`);
  const pid = s.goEarly.child.pid;
  let source;
  await waitFor('the agent to follow the Go hop started before it', async () => {
    source = (await up.json('/api/v1/sources')).sources.find((x) => x.pid === pid);
    return /^goroutines followed/.test(source?.go ?? '');
  }, { describe: () => JSON.stringify(source) });
  // Its connections to C and D, enrolled right after the probes.
  let enrolled;
  await waitFor(`${ENROLLED_LATE} to count the Go hop's connections`, async () => {
    enrolled = await metric(up, ENROLLED_LATE);
    return enrolled >= 2;
  }, { describe: () => `${enrolled}` });
  const markedBefore = await metric(up, MARKED);
  // A leaf thread already blocked reading one of those connections when the agent started is
  // not seen reading (its read began before the probes): one request first, so that each
  // connection's leaf thread reads again under the agent.
  assert.equal((await request(s.goEarly.port, '/chain/settle')).status, 200);

  const rids = Array.from({ length: 8 }, (_, i) => `early-${i}`);
  const answers = new Map();
  for (const rid of rids) {
    const r = await request(s.goEarly.port, `/chain/${rid}`);
    assert.equal(r.status, 200, `${rid}: ${r.body}`);
    answers.set(rid, JSON.parse(r.body));
  }
  const found = await waitForRequests(up, [SERVICE.goEarly, SERVICE.leafC, SERVICE.leafD], rids, 9, { timeoutMs: 45000 });
  for (const rid of rids) {
    assertOneTrace(rid, found, 9);
    const mine = found.byRid.get(rid);
    const goServer = pick(mine, SERVICE.goEarly, 'server');
    assert.deepEqual(parentIds(goServer), [], `${rid}: Go's SERVER span is the root (the client is not traced)`);
    assertGoCalls(rid, mine, 'goEarly', goServer, answers.get(rid));
  }
  assert.equal(await metric(up, MARKED), markedBefore, 'Go opened new connections: the test did not use the old ones');
  assert.ok(await metric(up, LATE_FOUND) >= 1, `${LATE_FOUND}: no connection enrolled late found its requests`);
});

test('agent.inject.enabled: false: no callee receives a traceparent, stitching still joins', { skip }, async () => {
  const exit = await up.stop();
  assert.equal(exit.code, 0, up.tail());
  for (const name of ['front', 'java', 'leafC', 'leafD']) stopServer(s[name]);
  const config = path.join(tmp.dir, 'inject-off.yaml');
  fs.writeFileSync(config, 'agent:\n  inject:\n    enabled: false\n');
  up = new HodosUp({ name: 'up-off', dir: tmp.dir, agent: true, args: ['--config', config] });
  await up.start();
  assert.match(up.stdout, /agent: +tracing \d+ process/, `the agent did not start:\n${up.tail()}`);
  [s.leafC, s.leafD] = await Promise.all([py('leafC'), py('leafD')]);
  s.java = await java(s.leafC.port, s.leafD.port);
  s.front = await py('front', s.java.port);
  await waitUntilTraced(up, ...[s.front, s.java, s.leafC, s.leafD].map((server) => server.child.pid));

  const sent = [await chainRequest('off-0'), await chainRequest('off-1', { fail: true })];
  const found = await waitForRequests(up, CHAIN, sent.map((r) => r.rid), 7);
  for (const r of sent) assertChain(r, found, { injected: false });
  assert.equal(await metric(up, INJECTED), 0, `${INJECTED} with injection off`);
});
