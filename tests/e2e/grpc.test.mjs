// gRPC through the eBPF agent: real grpc-go and @grpc/grpc-js servers of hodos.test.Chain
// (apps/chain.proto; apps/grpc_go, apps/grpc_node.mjs), started after one `hodos up`, in two
// chains whose first server passes every call on to the second:
//   A: Node client → Go server → Node server
//   B: Go client → Node server → Go server
// The clients (each app's client mode) never listen, so the agent does not trace them: the first
// server's SERVER span is the root of each call (or, for a call carrying a traceparent as an
// instrumented caller sends it, continues that trace). Checked, per chain: sequential unary calls, 16
// unary calls 8 at a time over one connection (once all OK, once each asking for its own status,
// so that a SERVER span joined to the wrong CLIENT span shows), a server-streaming and a
// client-streaming call, and calls failing with NOT_FOUND, INTERNAL and DATA_LOSS (the last after
// three replies of a stream). Each call has three spans: the front's SERVER span, its CLIENT span,
// the leaf's SERVER span (the CLIENT span's child, joined by the agent's stitching of the two ends
// of the connection, stream by stream), with the OpenTelemetry RPC conventions on each (see
// assertRpcSpan). The Go front's calls also carry a traceparent the agent wrote into their
// HEADERS frames, naming their CLIENT span, which the Node leaf prints (INJECTS). Whether the front's CLIENT span is
// also the child of its SERVER span (one trace per call) is INNER_PARENT. Needs root (CI runs as
// root) and Go with Debian's grpc-go; skipped with the reason otherwise.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { makeTempDir, runHodos, waitFor } from './lib/collector.mjs';
import { HodosUp } from './lib/hodos_up.mjs';
import {
  APPS, buildGrpcGo, execFileP, metric, needsRoot, processTag, spansOf, startServer, tag, tearDown, waitUntilTraced,
} from './lib/servers.mjs';

const skip = needsRoot;

const GRPC_NODE = path.join(APPS, 'grpc_node.mjs');
const RPC_SERVICE = 'hodos.test.Chain';
// gRPC status codes used here.
const OK = 0;
const NOT_FOUND = 5;
const INTERNAL = 13;
const DATA_LOSS = 15;

// The servers: OTEL_SERVICE_NAME (which the agent reads from their environment) and runtime.
const SERVER = {
  goFront: { service: 'grpc-go-front', runtime: 'go' },
  nodeLeaf: { service: 'grpc-node-leaf', runtime: 'node' },
  nodeFront: { service: 'grpc-node-front', runtime: 'node' },
  goLeaf: { service: 'grpc-go-leaf', runtime: 'go' },
};
const CHAINS = [
  { name: 'Node client → Go → Node', client: 'node', front: 'goFront', leaf: 'nodeLeaf' },
  { name: 'Go client → Node → Go', client: 'go', front: 'nodeFront', leaf: 'goLeaf' },
];

// --- what the agent should produce (adjust here) ------------------------------------------------

// Whether a front's CLIENT span is expected to be the child of the SERVER span of the request that
// made the call (a parent inside one process), per runtime. Without it, a call is not one trace:
// the CLIENT span must then be a root or that child, and the calls are counted by CLIENT span.
// Go: always (grpc-go's goroutine serving a call gets its context from the kernel, and its calls
// their ids: bpf/go_http2.bpf.h). Node: when the front serves one call at a time ('sequential'):
// an event loop serving several at once leaves its calls roots rather than guess.
const INNER_PARENT = { go: true, node: 'sequential' };

// Whether a front's calls carry a traceparent the agent wrote (bpf/inject.bpf.c) naming their
// CLIENT span, per runtime: grpc-go's HEADERS frames get one from the ids its probes staged before
// the writer goroutine wrote them (bpf/go_http2.bpf.h); a Node front's calls go without (no
// per-stream ids for grpc-js), joined by stitching. Checked where the leaf is the Node server,
// which prints the traceparent each call came with.
const INJECTS = { go: true, node: false };

// OpenTelemetry: a SERVER span is an error only for the statuses that mean the server failed; a
// CLIENT span for every status but OK.
// UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS:
const SERVER_ERRORS = new Set([2, 4, 12, 13, 14, 15]);
const isRpcError = (code, kind) => (kind === 'client' ? code !== OK : SERVER_ERRORS.has(code));

// The RPC conventions on a span of a call of `method` that ended with `code`; a CLIENT span also
// names the server it called (`serverPort` on 127.0.0.1).
function assertRpcSpan(span, { kind, method, code, serverPort }) {
  const what = `${span.process.serviceName} ${kind} ${span.operationName} (code ${code})`;
  assert.equal(kindOf(span), kind, what);
  assert.equal(span.operationName, `${RPC_SERVICE}/${method}`, what);
  assert.equal(tag(span, 'rpc.system'), 'grpc', what);
  assert.equal(tag(span, 'rpc.service'), RPC_SERVICE, what);
  assert.equal(tag(span, 'rpc.method'), method, what);
  assert.equal(tag(span, 'rpc.grpc.status_code'), code, what);
  assert.equal(tag(span, 'network.protocol.name'), 'http', what);
  assert.equal(tag(span, 'network.protocol.version'), '2', what);
  if (kind === 'client') {
    assert.equal(tag(span, 'server.address'), '127.0.0.1', what);
    assert.equal(tag(span, 'server.port'), serverPort, what);
  }
  if (isRpcError(code, kind)) {
    assert.equal(tag(span, 'error'), true, `${what} is an error`);
    assert.equal(tag(span, 'otel.status_code'), 'ERROR', what);
  } else {
    assert.equal(tag(span, 'error'), undefined, `${what} is not an error`);
    assert.notEqual(tag(span, 'otel.status_code'), 'ERROR', what);
  }
}

// The three spans of one call through `chain` (a front relays the leaf's status unchanged).
function assertCall(chain, { front, call, leaf }, { method, code }) {
  const f = s[chain.front];
  const l = s[chain.leaf];
  if (front) {
    assertRpcSpan(front, { kind: 'server', method, code });
    assertProcess(front, f);
  }
  assertRpcSpan(call, { kind: 'client', method, code, serverPort: l.port });
  assertProcess(call, f);
  assertRpcSpan(leaf, { kind: 'server', method, code });
  assertProcess(leaf, l);
  // Each end is timed where its bytes pass, on one host's clock: the callee's span lies within
  // the call's, and the call within the request that made it.
  assertNested(leaf, call);
  if (front) assertNested(call, front);
}

function assertProcess(span, server) {
  assert.equal(span.process.serviceName, server.service, `${span.operationName}: the service`);
  assert.equal(Number(processTag(span, 'process.pid')), server.child.pid, `${span.operationName}: the pid`);
}

// --- the spans of a chain ---------------------------------------------------------------------

let tmp;
let up;
let goBin;
let goMissing;  // why the Go app could not be built, if it could not
const s = {};  // the servers by name, each with its service and runtime

const kindOf = (span) => tag(span, 'span.kind');
const parentIds = (span) => span.references.filter((r) => r.refType === 'CHILD_OF').map((r) => r.spanID);

function describeRpc(spans) {
  if (spans.length === 0) return ' (no spans)';
  return spans.map((x) => `\n  ${x.process.serviceName} ${kindOf(x)} ${x.operationName}` +
                          ` code=${tag(x, 'rpc.grpc.status_code')} port=${tag(x, 'server.port')}` +
                          ` trace=${x.traceID} span=${x.spanID} parent=${parentIds(x).join(',') || '-'}` +
                          `${tag(x, 'error') ? ' ERROR' : ''}`).join('');
}

// Every span of every trace holding a span of `chain`'s servers, each once (none for a service
// the API does not know yet: it answers 404 for those).
async function chainSpans(chain) {
  const known = (await up.json('/api/services')).data;
  const byId = new Map();
  for (const name of [chain.front, chain.leaf]) {
    if (!known.includes(SERVER[name].service)) continue;
    for (const span of (await spansOf(up, SERVER[name].service)).spans) byId.set(span.spanID, span);
  }
  return [...byId.values()];
}

// The ids of the spans already there: what a test finds is what came after.
async function spanIdsNow(chain) {
  return new Set((await chainSpans(chain)).map((x) => x.spanID));
}

// Polls until at least `count` spans that are not in `seen` are there; returns them. On a
// timeout, the spans seen and the agent's non-zero counters tell what it saw and what it lost.
async function waitForNewSpans(chain, seen, count, { timeoutMs = 15000 } = {}) {
  let fresh = [];
  return waitFor(`${count} new spans of ${chain.name}`, async () => {
    fresh = (await chainSpans(chain)).filter((x) => !seen.has(x.spanID));
    return fresh.length >= count ? fresh : false;
  }, {
    timeoutMs, intervalMs: 250,
    describe: async () => `${fresh.length} spans:${describeRpc(fresh)}\n${await agentCounters()}`,
  });
}

async function agentCounters() {
  try {
    const text = await (await fetch(`${up.apiUrl}/metrics`)).text();
    return text.split('\n').filter((l) => l.startsWith('hodos_agent_') && !/ 0$/.test(l)).join('\n');
  } catch (e) {
    return `(no /metrics: ${e.message})`;
  }
}

// Where the leaf's output is now: what it prints after is what a test's calls made it print.
const outputMark = (chain) => s[chain.leaf].output.length;

// The traceparent each call the leaf of `chain` served since `mark` came with ("-": none).
function receivedTraceparents(chain, mark) {
  return [...s[chain.leaf].output.slice(mark).matchAll(/^received \w+ traceparent (\S+)$/gm)].map((m) => m[1]);
}

// Splits `spans`, those of `n` calls through `chain`, into calls and checks the structure of each
// (see the top of the file); returns [{ front, call, leaf }]. `incoming`: the calls carried this
// traceparent ({ traceId, spanId }), which the front's SERVER spans continue. `since`: the leaf's
// output mark from before the calls, to check the traceparents the agent wrote into them.
function assertCallTraces(chain, spans, n, { sequential = false, incoming = null, since } = {}) {
  const frontService = s[chain.front].service;
  const of = (service, kind) => spans.filter((x) => x.process.serviceName === service && kindOf(x) === kind);
  const fronts = of(frontService, 'server');
  const calls = of(frontService, 'client');
  const leaves = of(s[chain.leaf].service, 'server');
  const all = describeRpc(spans);
  assert.equal(calls.length, n, `${n} CLIENT spans of ${frontService}:${all}`);
  assert.equal(leaves.length, n, `${n} SERVER spans of ${s[chain.leaf].service}:${all}`);
  assert.equal(fronts.length, n, `${n} SERVER spans of ${frontService}:${all}`);
  assert.equal(spans.length, 3 * n, `nothing but these ${3 * n} spans:${all}`);

  const expected = INNER_PARENT[s[chain.front].runtime];
  const inner = expected === true || (expected === 'sequential' && sequential);
  const found = calls.map((call) => {
    const leaf = leaves.filter((x) => parentIds(x)[0] === call.spanID);
    assert.equal(leaf.length, 1, `one SERVER span of the leaf is the child of each CLIENT span (stitched):` +
                                 describeRpc([call, ...leaf]));
    assert.deepEqual(parentIds(leaf[0]), [call.spanID]);
    assert.equal(leaf[0].traceID, call.traceID,
                 `the leaf's SERVER span is in its caller's trace:${describeRpc([call, leaf[0]])}`);
    const [parent] = parentIds(call);
    const front = fronts.find((x) => x.spanID === parent);
    if (inner) {
      assert.ok(front, `the CLIENT span is the child of a SERVER span of the front:${describeRpc([call, ...fronts])}`);
    } else {
      assert.ok(parent === undefined || front, `the CLIENT span is a root or the child of a SERVER span of the front:` +
                                               describeRpc([call, ...fronts]));
    }
    if (front) {
      assert.equal(call.traceID, front.traceID, `a child is in its parent's trace:${describeRpc([front, call])}`);
    }
    return { front, call, leaf: leaf[0] };
  });
  for (const front of fronts) {
    if (incoming) {
      assert.deepEqual([front.traceID, ...parentIds(front)], [incoming.traceId, incoming.spanId],
                       `the front's SERVER span continues the call's traceparent:${describeRpc([front])}`);
    } else {
      assert.deepEqual(parentIds(front), [],
                       `the front's SERVER span is a root (the client is not traced):${describeRpc([front])}`);
    }
  }
  if (since !== undefined && INJECTS[s[chain.front].runtime] && s[chain.leaf].runtime === 'node') {
    // Each call arrived with its CLIENT span's ids: the leaf would be joined without stitching
    // (on another host).
    const sent = calls.map((call) => `00-${call.traceID}-${call.spanID}-01`);
    assert.deepEqual(receivedTraceparents(chain, since).sort(), sent.sort(),
                     `the traceparents the leaf received are those of the front's CLIENT spans:${all}`);
  }
  if (inner) {
    assert.equal(new Set(found.map((x) => x.front.spanID)).size, n,
                 `each SERVER span of the front made one call:${all}`);
    const traces = new Set(found.map((x) => x.call.traceID));
    assert.equal(traces.size, n, `one trace per call:${all}`);
    for (const x of found) {
      const trace = spans.filter((y) => y.traceID === x.call.traceID);
      assert.equal(trace.length, 3, `a call's trace holds its three spans only:${describeRpc(trace)}`);
    }
  }
  return found;
}

// The child starts and ends within its parent (the API has microseconds: one for rounding).
function assertNested(child, parent) {
  const what = `${child.process.serviceName} ${kindOf(child)} within ${parent.process.serviceName} ${kindOf(parent)}`;
  assert.ok(child.startTime >= parent.startTime, `${what}: starts${describeRpc([parent, child])}`);
  assert.ok(child.startTime + child.duration <= parent.startTime + parent.duration + 1,
            `${what}: ends${describeRpc([parent, child])}`);
}

// --- the clients --------------------------------------------------------------------------------

// Runs `chain`'s client (see apps/grpc_go/main.go for the flags) against its front; returns the
// outcome of every call, after checking that each went through both servers or failed as asked.
async function callChain(chain, flags) {
  const port = String(s[chain.front].port);
  const [command, args] = chain.client === 'go' ? [goBin, ['client', port, ...flags]]
                                                : [process.execPath, [GRPC_NODE, 'client', port, ...flags]];
  const { stdout } = await execFileP(command, args, { timeout: 60000 });
  const { calls } = JSON.parse(stdout);
  const hops = [chain.front, chain.leaf].map((name) => `${s[name].runtime}:${s[name].port}`);
  for (const c of calls) {
    if (c.code === OK) assert.deepEqual(c.hops, hops, `${c.method} ${c.id} went through both servers`);
  }
  return calls;
}

before(async () => {
  if (skip) return;
  tmp = makeTempDir('grpc');
  up = new HodosUp({ dir: tmp.dir, agent: true });
  const [go] = await Promise.all([buildGrpcGo(tmp.dir), up.start()]);
  assert.match(up.stdout, /agent: +tracing \d+ process/, `the agent did not start:\n${up.tail()}`);
  goMissing = go.reason;
  if (goMissing) return;
  goBin = go.bin;

  // All after the agent, leaves first (the fronts connect to them at start).
  const start = async (name, ...next) => {
    const { service, runtime } = SERVER[name];
    const [command, args] = runtime === 'go' ? [goBin, next.map(String)]
                                             : [process.execPath, [GRPC_NODE, ...next.map(String)]];
    const server = await startServer(name, command, args, { cwd: tmp.dir, env: { OTEL_SERVICE_NAME: service } });
    s[name] = Object.assign(server, { service, runtime });
  };
  await Promise.all([start('nodeLeaf'), start('goLeaf')]);
  await Promise.all([start('goFront', s.nodeLeaf.port), start('nodeFront', s.goLeaf.port)]);
  await waitUntilTraced(up, ...Object.values(s).map((server) => server.child.pid));
});

after(() => tearDown({ servers: s, up, tmp }));

// Runs `body` for `chain` unless the Go app could not be built.
function chainTest(chain, title, body) {
  test(`${chain.name}: ${title}`, { skip }, async (t) => {
    if (goMissing) {
      t.skip(`the Go gRPC app could not be built: ${goMissing}`);
      return;
    }
    await body();
  });
}

// What made the Go front's calls children: grpc-go's probes (bpf/go_http2.bpf.h), which
// `hodos describe` names and the agent counts.
test('the Go servers: grpc-go followed (hodos describe), and every call counted by the kernel', { skip }, async (t) => {
  if (goMissing) {
    t.skip(`the Go gRPC app could not be built: ${goMissing}`);
    return;
  }
  for (const name of ['goFront', 'goLeaf']) {
    const described = (await runHodos(['describe', String(s[name].child.pid), '--api', up.apiUrl])).stdout;
    assert.match(described, /^ {2}go +goroutines followed \(go1\.\d+[.\d]*, DWARF, grpc-go followed\)/m, described);
  }
  const SERVED = 'hodos_agent_go_http2_calls_total{side="server"}';
  const MADE = 'hodos_agent_go_http2_calls_total{side="client"}';
  const INJECTED = 'hodos_agent_inject_total{result="http2_injected"}';
  // First of all tests: no call was made before, so nothing is still to be published (the agent
  // publishes its counters every second).
  const [served, made, injected] = [await metric(up, SERVED), await metric(up, MADE), await metric(up, INJECTED)];
  const chain = CHAINS.find((c) => c.front === 'goFront');
  const seen = await spanIdsNow(chain);
  assert.ok((await callChain(chain, ['-calls', '4'])).every((c) => c.code === OK));
  await waitForNewSpans(chain, seen, 12);
  await waitFor(`${MADE} counts 4 calls`, async () => await metric(up, MADE) - made >= 4);
  // Each call the Go front served got a context, and each call it made its ids, once (an entry
  // probe that fires twice as the stack grows counts once).
  assert.equal(await metric(up, SERVED) - served, 4, SERVED);
  assert.equal(await metric(up, MADE) - made, 4, MADE);
  // Each call the Go front made had a traceparent written into its HEADERS, and `hodos status`
  // counts them with the requests injected.
  await waitFor(`${INJECTED} counts 4 calls`, async () => await metric(up, INJECTED) - injected >= 4);
  assert.equal(await metric(up, INJECTED) - injected, 4, INJECTED);
  const status = JSON.parse((await runHodos(['status', '--json', '--api', up.apiUrl])).stdout);
  assert.ok(status.components.agent.injected >= 4, JSON.stringify(status.components.agent));
});

for (const chain of CHAINS) {
  chainTest(chain, 'sequential unary calls, each callee joined under its call (one trace per call through a Node front)', async () => {
    const [seen, since] = [await spanIdsNow(chain), outputMark(chain)];
    const calls = await callChain(chain, ['-calls', '5']);
    assert.deepEqual(calls.map((c) => c.code), [OK, OK, OK, OK, OK]);
    const found = assertCallTraces(chain, await waitForNewSpans(chain, seen, 15), 5, { sequential: true, since });
    for (const x of found) assertCall(chain, x, { method: 'Get', code: OK });
  });

  chainTest(chain, '16 unary calls 8 at a time on one connection, each callee joined under its call', async () => {
    const [seen, since] = [await spanIdsNow(chain), outputMark(chain)];
    const calls = await callChain(chain, ['-calls', '16', '-concurrency', '8']);
    assert.ok(calls.every((c) => c.code === OK), JSON.stringify(calls));
    const found = assertCallTraces(chain, await waitForNewSpans(chain, seen, 48), 16, { since });
    for (const x of found) assertCall(chain, x, { method: 'Get', code: OK });
  });

  // As from an instrumented caller: the front continues the trace, its call and the leaf join it.
  chainTest(chain, 'a call carrying a traceparent continues its trace through both servers', async () => {
    const hex = (bytes) => crypto.randomBytes(bytes).toString('hex').replace(/^./, 'a');
    const incoming = { traceId: hex(16), spanId: hex(8) };
    const [seen, since] = [await spanIdsNow(chain), outputMark(chain)];
    const calls = await callChain(chain, ['-calls', '1', '-traceparent', `00-${incoming.traceId}-${incoming.spanId}-01`]);
    assert.deepEqual(calls.map((c) => c.code), [OK]);
    const [x] = assertCallTraces(chain, await waitForNewSpans(chain, seen, 3), 1, { sequential: true, incoming, since });
    assertCall(chain, x, { method: 'Get', code: OK });
  });

  // Each call ends with its status, the same on its three spans: a leaf's SERVER span stitched to
  // the CLIENT span of another stream of the connection would carry another status.
  chainTest(chain, '16 concurrent unary calls, each with its own status: each span in its own call', async () => {
    const codes = [OK, 3, NOT_FOUND, 7, 9, INTERNAL, 11, DATA_LOSS];
    const [seen, since] = [await spanIdsNow(chain), outputMark(chain)];
    const calls = await callChain(chain, ['-calls', '16', '-concurrency', '8', '-codes', codes.join(',')]);
    assert.deepEqual(calls.map((c) => c.code), [...codes, ...codes]);
    const found = assertCallTraces(chain, await waitForNewSpans(chain, seen, 48), 16, { since });
    const byCall = found.map((x) => tag(x.leaf, 'rpc.grpc.status_code'));
    assert.deepEqual(byCall.sort((a, b) => a - b), [...codes, ...codes].sort((a, b) => a - b),
                     'the statuses of the leaf SERVER spans');
    for (const x of found) assertCall(chain, x, { method: 'Get', code: tag(x.leaf, 'rpc.grpc.status_code') });
  });

  chainTest(chain, 'a server-streaming and a client-streaming call', async () => {
    const [seen, since] = [await spanIdsNow(chain), outputMark(chain)];
    const calls = await callChain(chain, ['-calls', '0', '-list', '5', '-sum', '3']);
    assert.deepEqual(calls.map((c) => [c.method, c.code, c.replies, c.seq]), [['List', OK, 5, 4], ['Sum', OK, 1, 3]]);
    const found = assertCallTraces(chain, await waitForNewSpans(chain, seen, 6), 2, { sequential: true, since });
    const method = (x) => tag(x.leaf, 'rpc.method');
    assert.deepEqual(found.map(method).sort(), ['List', 'Sum'], describeRpc(found.map((x) => x.leaf)));
    for (const x of found) assertCall(chain, x, { method: method(x), code: OK });
  });

  // NOT_FOUND is the caller's fault: an error for the CLIENT span only. INTERNAL and DATA_LOSS
  // are the server's: every span is an error. The List one fails after three replies (the status
  // in trailers after DATA frames; the failing Gets answer with a Trailers-Only response).
  chainTest(chain, 'failing calls: NOT_FOUND, INTERNAL, and DATA_LOSS at the end of a stream', async () => {
    const [seen, since] = [await spanIdsNow(chain), outputMark(chain)];
    const calls = [
      ...await callChain(chain, ['-calls', '0', '-fail', String(NOT_FOUND),
                                 '-list', '3', '-list-fail', String(DATA_LOSS)]),
      ...await callChain(chain, ['-calls', '0', '-fail', String(INTERNAL)]),
    ];
    assert.deepEqual(calls.map((c) => [c.method, c.code, c.replies]),
                     [['Get', NOT_FOUND, 0], ['List', DATA_LOSS, 3], ['Get', INTERNAL, 0]]);
    const found = assertCallTraces(chain, await waitForNewSpans(chain, seen, 9), 3, { sequential: true, since });
    const key = (x) => `${tag(x.leaf, 'rpc.method')} ${tag(x.leaf, 'rpc.grpc.status_code')}`;
    assert.deepEqual(found.map(key).sort(), [`Get ${NOT_FOUND}`, `Get ${INTERNAL}`, `List ${DATA_LOSS}`].sort(),
                     describeRpc(found.map((x) => x.leaf)));
    for (const x of found) {
      assertCall(chain, x, { method: tag(x.leaf, 'rpc.method'), code: tag(x.leaf, 'rpc.grpc.status_code') });
    }
  });
}

