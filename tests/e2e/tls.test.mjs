// TLS without keys, end to end: real HTTPS services traced by `hodos up`'s agent through uprobes on
// the OpenSSL they link (Debian's libssl.so.3): a thread-per-request Python service (http.server +
// ssl) that calls a Node `https` service with http.client and Redis over plain TCP; the Node
// service calls nginx over HTTPS with a keep-alive agent (Node does its socket I/O itself, through
// memory buffers); curl talks to nginx too; two Go net/http services over HTTPS (crypto/tls: no
// TLS library, uprobes on Go's own Read and Write) call nginx over HTTPS, twice from the handler
// and twice at once from goroutines it starts, one with HTTP/1.1, one with HTTP/2 (and serving
// HTTP/2 too); gnutls-serv (GnuTLS, not OpenSSL) answers HTTPS requests. Checked: one trace
// across the three services (server
// span → TLS client span → the callee's server span, joined by stitching since a traceparent
// cannot be inserted into encrypted bytes), the Redis call under the request that made it, the
// HTTP conventions with url.scheme https, bodies intact, and no header value leaving the agent.
// Needs root (CI runs as root); skipped with the reason otherwise.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http2 from 'node:http2';
import https from 'node:https';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { makeTempDir, runHodos, waitFor } from './lib/collector.mjs';
import { startRedis } from './lib/databases.mjs';
import { HodosUp } from './lib/hodos_up.mjs';
import {
  APPS, buildGoServer, describeSpans, everyTraceText, execFileP, makeCertificate, metric, needsRoot, nginxConfig, startServer,
  stopServer, tag, unusedPort, waitForSpans, waitUntilTraced,
} from './lib/servers.mjs';

const skip = needsRoot;
const GATEWAY = `tls-e2e-gateway-${process.pid}`;
const PAYMENTS = `tls-e2e-payments-${process.pid}`;
const EDGE = `tls-e2e-edge-${process.pid}`;
const GO = `tls-e2e-go-${process.pid}`;
const GO_H2 = `tls-e2e-go-h2-${process.pid}`;
const GNUTLS = `tls-e2e-gnutls-${process.pid}`;
const SECRET = 'Bearer client-secret-8841';  // sent by the test; gateway-secret-5521 by the gateway

let tmp;
let up;
let redis;
let cert;
let goMissing;
const s = {};


// GET over HTTPS from this (untraced) test process, trusting the test certificate.
function httpsGet(port, urlPath, headers = {}) {
  return new Promise((resolve, reject) => {
    https.get({ host: '127.0.0.1', port, path: urlPath, ca: cert.pem, servername: 'localhost', headers, agent: false },
      (res) => {
        const chunks = [];
        res.on('data', (d) => chunks.push(d));
        res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks) }));
      }).on('error', reject);
  });
}

// The same over HTTP/2 (ALPN h2), on a connection of its own.
function h2Get(port, urlPath, headers = {}) {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`https://127.0.0.1:${port}`, { ca: cert.pem, servername: 'localhost' });
    session.on('error', reject);
    const req = session.request({ ':path': urlPath, ...headers });
    const chunks = [];
    let status = 0;
    req.on('response', (h) => { status = h[':status']; });
    req.on('data', (d) => chunks.push(d));
    req.on('end', () => { session.close(); resolve({ status, body: Buffer.concat(chunks) }); });
    req.on('error', reject);
    req.end();
  });
}

before(async () => {
  if (skip) return;
  tmp = makeTempDir('tls');
  cert = await makeCertificate(tmp.dir);
  redis = await startRedis('redis');
  s.redis = redis.server;
  up = new HodosUp({ dir: tmp.dir, agent: true });
  const [go] = await Promise.all([buildGoServer(tmp.dir), up.start()]);
  assert.match(up.stdout, /agent: +tracing \d+ process/, `the agent did not start:\n${up.tail()}`);

  // GnuTLS's own test server: HTTP/1.0 answers describing the session, whatever the path; nginx
  // proxies /upstream/ to it over TLS.
  const gnutlsPort = await unusedPort();
  s.gnutls = await startServer('gnutls-serv', 'gnutls-serv',
    ['--http', '-p', String(gnutlsPort), '--x509certfile', cert.certFile, '--x509keyfile', cert.keyFile],
    { env: { OTEL_SERVICE_NAME: GNUTLS } });
  // Found without a listen(): the agent would trace this process from it.
  const edgePort = await unusedPort();
  let edgeH2Port = await unusedPort();
  while (edgeH2Port === edgePort) edgeH2Port = await unusedPort();
  const prefix = path.join(tmp.dir, 'nginx');
  const conf = nginxConfig(prefix, { PORT: edgePort, H2PORT: edgeH2Port, CERT: cert.certFile, KEY: cert.keyFile,
                                     TLS_BACKEND_PORT: gnutlsPort }, 'nginx_tls.conf');
  fs.writeFileSync(path.join(prefix, 'large.txt'), 'x'.repeat(200000) + '\nend\n');
  s.edge = await startServer('nginx', 'nginx', ['-p', prefix, '-c', conf], {
    port: edgePort, env: { OTEL_SERVICE_NAME: EDGE } });
  s.payments = await startServer('tls_payments.mjs', 'node',
    [path.join(APPS, 'tls_payments.mjs'), cert.certFile, cert.keyFile, String(edgePort), String(redis.port)],
    { env: { OTEL_SERVICE_NAME: PAYMENTS } });
  s.gateway = await startServer('tls_gateway.py', 'python3',
    ['-u', path.join(APPS, 'tls_gateway.py'), cert.certFile, cert.keyFile, String(s.payments.port), String(redis.port)],
    { env: { OTEL_SERVICE_NAME: GATEWAY } });
  goMissing = go.reason;
  if (!goMissing) {
    const tlsEnv = { HODOS_TEST_TLS_CERT: cert.certFile, HODOS_TEST_TLS_KEY: cert.keyFile };
    // Two NEXTs, both nginx: two calls one after the other, then two at once (HTTP/2: two streams
    // of one connection, each named by the goroutine that writes its HEADERS).
    const twice = (port) => [`https://127.0.0.1:${port}`, `https://127.0.0.1:${port}`];
    s.go = await startServer('go_server (TLS)', go.bin, [tmp.dir, ...twice(edgePort)], {
      env: { OTEL_SERVICE_NAME: GO, ...tlsEnv } });
    s.goH2 = await startServer('go_server (TLS, HTTP/2 client)', go.bin, [tmp.dir, ...twice(edgeH2Port)], {
      env: { OTEL_SERVICE_NAME: GO_H2, HODOS_TEST_H2: '1', ...tlsEnv } });
    s.edge.h2Port = edgeH2Port;
  }
  await waitUntilTraced(up, ...Object.values(s).filter((x) => x !== s.redis).map((x) => x.child.pid));
});

after(async () => {
  for (const server of Object.values(s)) stopServer(server);
  redis?.server.cleanup?.();
  if (up) {
    const exit = await up.stop();
    assert.equal(exit.code, 0, up.tail());
  }
  tmp?.remove();
});

const kind = (x) => tag(x, 'span.kind');

test('the agent says which processes it sees TLS plaintext of', { skip }, async () => {
  // The probes are attached just after a process is listed.
  let sources;
  await waitFor('the TLS state of the three services', async () => {
    ({ sources } = await up.json('/api/v1/sources'));
    return [s.edge, s.payments, s.gateway].every((x) => sources.find((y) => y.pid === x.child.pid)?.tls);
  }, { describe: () => JSON.stringify(sources) });
  for (const pid of [s.edge.child.pid, s.payments.child.pid, s.gateway.child.pid]) {
    const source = sources.find((x) => x.pid === pid);
    // Debian's libssl, or (a nodejs.org Node) the OpenSSL linked into the executable.
    assert.match(source?.tls ?? '', /^plaintext from (libssl\.so\.3 \(OpenSSL 3|OpenSSL 3\.\d+\.\d+ linked into the executable)/,
                 JSON.stringify(source));
  }
  const r = await runHodos(['sources', 'list', '--api', up.apiUrl]);
  assert.equal(r.code, 0, r.stderr);
  const row = r.stdout.split('\n').find((l) => l.startsWith(`${GATEWAY} `));
  assert.match(row ?? '', / seen /, r.stdout);
});

test('HTTPS across Python, Node and nginx is one trace, with the Redis call under its request', { skip }, async () => {
  const answer = await httpsGet(s.gateway.port, '/order/7', { authorization: SECRET });
  assert.equal(answer.status, 200, answer.body.toString());
  // The bytes went through untouched: every hop's answer is in the body.
  const doc = JSON.parse(answer.body);
  assert.equal(doc.order, '7');
  assert.equal(doc.payments.paid, '7');
  assert.equal(doc.payments.receipt, 'receipt for /receipt/7\n');
  assert.equal(doc.redis, '$-1\r\n');
  assert.equal(doc.payments.cached, '$-1\r\n');

  const server = (x) => kind(x) === 'server' && x.operationName === 'GET /order/{id}';
  const { spans } = await waitForSpans(up, GATEWAY, 'the order trace across three services', (all) => {
    const root = all.find(server);
    return root && all.filter((x) => x.traceID === root.traceID).length >= 7;
  }, { timeoutMs: 20000 });
  const root = spans.find(server);
  const trace = spans.filter((x) => x.traceID === root.traceID);
  const by = (service, k, urlPath) => trace.find((x) => x.process.serviceName === service && kind(x) === k &&
                                                   (urlPath === undefined || tag(x, 'url.path') === urlPath));
  const gatewayCall = by(GATEWAY, 'client', '/pay/7');
  const redisOf = (service) => trace.find((x) => x.process.serviceName === service && tag(x, 'db.system.name') === 'redis');
  const redisCall = redisOf(GATEWAY);
  const paymentsRedis = redisOf(PAYMENTS);
  const paymentsServer = by(PAYMENTS, 'server', '/pay/7');
  const paymentsCall = by(PAYMENTS, 'client', '/receipt/7');
  const edgeServer = by(EDGE, 'server', '/receipt/7');
  const all = describeSpans(trace);
  for (const [what, span] of Object.entries({ gatewayCall, redisCall, paymentsServer, paymentsRedis, paymentsCall, edgeServer })) {
    assert.ok(span, `${what} is missing from the trace:${all}`);
  }
  const parent = (x) => x.references.map((r) => r.spanID);
  assert.deepEqual(parent(root), [], all);
  assert.deepEqual(parent(gatewayCall), [root.spanID], all);
  assert.deepEqual(parent(redisCall), [root.spanID], all);
  assert.deepEqual(parent(paymentsServer), [gatewayCall.spanID], all);
  assert.deepEqual(parent(paymentsRedis), [paymentsServer.spanID], all);
  assert.deepEqual(parent(paymentsCall), [paymentsServer.spanID], all);
  // Its TLS session began right after the Redis answer was read: it is on the edge's socket.
  assert.equal(tag(paymentsCall, 'network.peer.port'), s.edge.port, all);
  assert.equal(tag(paymentsRedis, 'network.peer.port'), redis.port, all);
  assert.deepEqual(parent(edgeServer), [paymentsCall.spanID], all);

  // The HTTP conventions, as for plaintext, with the scheme of the wire.
  for (const x of [root, paymentsServer, edgeServer]) {
    assert.equal(tag(x, 'url.scheme'), 'https', x.operationName);
    assert.equal(tag(x, 'http.response.status_code'), 200, x.operationName);
    assert.equal(tag(x, 'http.request.method'), 'GET', x.operationName);
  }
  assert.equal(tag(root, 'server.port'), s.gateway.port);
  assert.equal(tag(gatewayCall, 'url.full'), `https://127.0.0.1:${s.payments.port}/pay/7`);
  assert.equal(tag(paymentsCall, 'url.full'), `https://127.0.0.1:${s.edge.port}/receipt/7`);
  assert.equal(tag(redisCall, 'db.operation.name'), 'GET');
  // Counters are published on a timer.
  await waitFor('hodos_agent_tls_connections_total to count the sessions',
                async () => await metric(up, 'hodos_agent_tls_connections_total') >= 4);
});

// Go links no TLS library: the agent reads crypto/tls's plaintext at (*Conn).Read and Write, and
// the goroutine serving the request names the calls it makes (one from a goroutine it starts):
// over HTTP/1.1 by the requests it writes, over HTTP/2 by the HEADERS frames that open them.
async function assertGoHttpsTrace(t, { server, service, edgePort, protocol, served = '1.1', id }) {
  if (goMissing) {
    t.skip(`the Go app could not be built: ${goMissing}`);
    return;
  }
  let sources;
  await waitFor(`the TLS state of ${service}`, async () => {
    ({ sources } = await up.json('/api/v1/sources'));
    return sources.find((y) => y.pid === server.child.pid)?.tls;
  }, { describe: () => JSON.stringify(sources) });
  assert.match(sources.find((y) => y.pid === server.child.pid).tls, /^plaintext from Go crypto\/tls \(go1\.\d+/);

  const answer = await (served === '2' ? h2Get : httpsGet)(server.port, `/chain/${id}`, { authorization: SECRET });
  assert.equal(answer.status, 200, answer.body.toString());
  const doc = JSON.parse(answer.body);
  const hops = [`/seq/${id}`, `/seq/${id}`, `/par/${id}`, `/par/${id}`];
  assert.deepEqual(doc.calls.map((c) => [c.status, c.answer]), hops.map((hop) => [200, `hop ${hop}\n`]),
                   'the bytes went through untouched');

  const root = (x) => kind(x) === 'server' && tag(x, 'url.path') === `/chain/${id}`;
  const { spans } = await waitForSpans(up, service, `${service}'s trace`, (all) => {
    const r = all.find(root);
    return r && all.filter((x) => x.traceID === r.traceID).length >= 9;
  }, { timeoutMs: 20000 });
  const request = spans.find(root);
  const trace = spans.filter((x) => x.traceID === request.traceID);
  const all = describeSpans(trace);
  const parent = (x) => x.references.map((r) => r.spanID);
  assert.deepEqual(parent(request), [], all);
  assert.equal(tag(request, 'url.scheme'), 'https', all);
  assert.equal(tag(request, 'http.response.status_code'), 200, all);
  assert.equal(tag(request, 'network.protocol.version'), served, all);
  for (const hop of [`/seq/${id}`, `/par/${id}`]) {
    const calls = trace.filter((x) => x.process.serviceName === service && kind(x) === 'client' && tag(x, 'url.path') === hop);
    const edges = trace.filter((x) => x.process.serviceName === EDGE && kind(x) === 'server' && tag(x, 'url.path') === hop);
    assert.equal(calls.length, 2, `${hop}: the two Go CLIENT spans are in the trace:${all}`);
    for (const call of calls) {
      assert.deepEqual(parent(call), [request.spanID], `${hop}: a child of the request that made it:${all}`);
      assert.equal(tag(call, 'url.full'), `https://127.0.0.1:${edgePort}${hop}`, all);
      assert.equal(tag(call, 'network.protocol.version'), protocol, all);
      assert.equal(edges.filter((x) => parent(x)[0] === call.spanID).length, 1,
                   `${hop}: one nginx SERVER span joined under each call (stitched):${all}`);
    }
  }
}

test('a Go HTTPS service: crypto/tls plaintext, its calls the children of its request', { skip }, async (t) => {
  await assertGoHttpsTrace(t, { server: s.go, service: GO, edgePort: s.edge.port, protocol: '1.1', id: 9 });
});

test('a Go HTTPS service calling over HTTP/2: each call the child of its request', { skip }, async (t) => {
  await assertGoHttpsTrace(t, { server: s.goH2, service: GO_H2, edgePort: s.edge.h2Port, protocol: '2', id: 10 });
});

// net/http's HTTP/2 server starts each handler from its serve goroutine: the handler gets the
// context its request's HEADERS made there (uprobes on processHeaders).
test('a Go HTTPS service serving HTTP/2: the calls of its handler are children of the request', { skip }, async (t) => {
  await assertGoHttpsTrace(t, { server: s.goH2, service: GO_H2, edgePort: s.edge.h2Port, protocol: '2', served: '2',
                                id: 11 });
});

test('curl over TLS to nginx: a large body arrives intact and its span is right', { skip }, async () => {
  const { stdout } = await execFileP('curl', ['-sS', '--cacert', cert.certFile, '-H', `Authorization: ${SECRET}`,
                                              `https://localhost:${s.edge.port}/large`], { maxBuffer: 1 << 22 });
  assert.equal(stdout, 'x'.repeat(200000) + '\nend\n');
  const { spans } = await waitForSpans(up, EDGE, 'GET /large', (all) => all.some((x) => tag(x, 'url.path') === '/large'));
  const span = spans.find((x) => tag(x, 'url.path') === '/large');
  assert.equal(tag(span, 'url.scheme'), 'https');
  assert.equal(tag(span, 'http.response.status_code'), 200);
  assert.equal(tag(span, 'server.address'), 'localhost');
});

test('a GnuTLS server (gnutls-serv): its HTTPS requests are spans from GnuTLS\'s plaintext', { skip }, async () => {
  let source;
  await waitFor('gnutls-serv to be probed', async () => {
    const { sources } = await up.json('/api/v1/sources');
    source = sources.find((x) => x.pid === s.gnutls.child.pid);
    return Boolean(source?.tls);
  }, { describe: () => JSON.stringify(source) });
  assert.match(source.tls, /^plaintext from libgnutls\.so\.30[.\d]* \(GnuTLS\)$/, JSON.stringify(source));
  const answers = [];
  for (const id of [41, 42]) answers.push(await httpsGet(s.gnutls.port, `/orders/${id}`, { authorization: SECRET }));
  for (const r of answers) {
    assert.equal(r.status, 200);
    assert.match(r.body.toString(), /This is <a href="http:\/\/www\.gnu\.org\/software\/gnutls">GnuTLS/);
  }
  const { spans } = await waitForSpans(up, GNUTLS, 'GET /orders/41 and /orders/42', (all) =>
    ['/orders/41', '/orders/42'].every((p) => all.some((x) => tag(x, 'url.path') === p)));
  for (const p of ['/orders/41', '/orders/42']) {
    const span = spans.find((x) => tag(x, 'url.path') === p);
    assert.equal(kind(span), 'server', describeSpans([span]));
    assert.equal(tag(span, 'http.request.method'), 'GET');
    assert.equal(tag(span, 'url.scheme'), 'https');
    assert.equal(tag(span, 'http.response.status_code'), 200);
    assert.equal(tag(span, 'server.port'), s.gnutls.port);
  }
});

// nginx is followed per connection (uprobe on ngx_http_upstream_init): an upstream connection it
// opens over TLS is bound to the request it proxies, and its TLS plaintext calls name that request
// as their parent, with 16 requests in flight; the callee (gnutls-serv) is joined by stitching.
test('nginx proxying over TLS, 16 requests at once: each upstream call the child of its request', { skip }, async () => {
  const rids = Array.from({ length: 16 }, (_, i) => `tls-up-${i}`);
  const answers = await Promise.all(rids.map((rid) => httpsGet(s.edge.port, `/upstream/${rid}`)));
  for (const r of answers) assert.equal(r.status, 200, String(r.body));
  const calls = (all) => all.filter((x) => kind(x) === 'client' && (tag(x, 'url.path') ?? '').startsWith('/tls-up-'));
  const { spans } = await waitForSpans(up, EDGE, 'nginx\'s 16 requests and their upstream calls',
                                       (all) => calls(all).length >= 16, { timeoutMs: 20000 });
  for (const rid of rids) {
    const request = spans.find((x) => kind(x) === 'server' && tag(x, 'url.path') === `/upstream/${rid}`);
    const call = spans.find((x) => kind(x) === 'client' && tag(x, 'url.path') === `/${rid}`);
    assert.ok(request && call, `${rid}:${describeSpans(spans.filter((x) => (tag(x, 'url.path') ?? '').endsWith(rid)))}`);
    assert.equal(tag(call, 'url.scheme'), 'https');
    assert.equal(tag(call, 'server.port'), s.gnutls.port);
    assert.equal(call.traceID, request.traceID, `${rid}: the call is in its request's trace`);
    assert.deepEqual(call.references.map((r) => r.spanID), [request.spanID],
                     `${rid}: the call is the child of its request:${describeSpans([request, call])}`);
  }
});

test('no header value sent over TLS leaves the agent', { skip }, async () => {
  const { text } = await everyTraceText(up);
  for (const secret of ['client-secret-8841', 'gateway-secret-5521']) {
    assert.ok(!text.includes(secret), `${secret} reached the API`);
  }
});
