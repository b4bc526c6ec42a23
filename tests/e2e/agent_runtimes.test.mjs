// The eBPF agent against real, unmodified servers of each runtime, all started after one shared
// `hodos up`: a Flask app (Werkzeug, a thread per request) calling out with urllib, a Node `http`
// server calling out with fetch, a Java HttpServer calling out with java.net.http.HttpClient, nginx
// serving files with sendfile and proxying, a Go net/http server built with the installed Go, and
// python3 -m http.server as the backend they call. Clients: curl (keep-alive across URLs), raw
// pipelined requests, Node's http. Checked: the SERVER and CLIENT spans with the HTTP conventions,
// the resource per runtime, parents on thread-per-request servers, keep-alive, pipelining, chunked
// and large bodies, 4xx/5xx, bodies byte for byte, and no credential or query string anywhere.
// Needs root (CI runs as root); skipped with the reason otherwise.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { makeTempDir } from './lib/collector.mjs';
import { HodosUp } from './lib/hodos_up.mjs';
import {
  APPS, buildGoServer, describeSpans, everyTraceText, execFileP, needsRoot, nginxConfig, processTag,
  rawExchange, request, sha256, startServer, stopServer, tag, unusedPort, waitForSpans, waitUntilTraced,
} from './lib/servers.mjs';

const skip = needsRoot;

// Sent with every request; none may reach the API.
const SECRET = 'Bearer hodos-secret-4f1c9';
const COOKIE = 'session=hodos-cookie-9a2b7';
const QUERY = 'token=hodos-query-77e1d';
const CREDENTIALS = { authorization: SECRET, cookie: COOKIE };
const CHUNKED_BODY = Array.from({ length: 5 }, (_, i) => `part ${i} of a chunked body\n`).join('');

let tmp;
let up;
let www;
let upload;  // 1 MiB of random bytes to POST
const s = {};  // the servers by name
let unixSocket;  // the path of the server nginx proxies /local/ to
let goMissing;  // why the Go server could not be built, if it could not

// `curl` with the credentials, one connection reused across `paths` (curl's keep-alive); resolves
// with, per URL, the status and the local port of the connection it used.
async function curl(port, paths) {
  const args = ['-sS', '-H', `Authorization: ${SECRET}`, '-H', `Cookie: ${COOKIE}`,
                '-w', '%{http_code} %{local_port}\\n'];
  for (const p of paths) args.push('-o', '/dev/null', `http://127.0.0.1:${port}${p}`);
  const { stdout } = await execFileP('curl', args);
  return stdout.trim().split('\n').map((line) => {
    const [status, localPort] = line.split(' ').map(Number);
    return { status, localPort };
  });
}

// POSTs `upload` with curl; returns the body the server answered (its sha256 of what it got).
async function curlUpload(port, urlPath) {
  const file = path.join(tmp.dir, 'upload.bin');
  const { stdout } = await execFileP('curl', ['-sS', '--fail', '-H', `Authorization: ${SECRET}`,
                                              '-H', 'Content-Type: application/octet-stream',
                                              '--data-binary', `@${file}`, `http://127.0.0.1:${port}${urlPath}`]);
  return stdout.trim();
}

// Two requests for /items/A and /items/B in one write (pipelining), then the connection closes;
// resolves with the local port of that connection once both answers came back in order.
async function pipeline(port, a, b) {
  const { bytes, localPort } = await rawExchange(port,
    `GET /items/${a} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: ${SECRET}\r\n\r\n` +
    `GET /items/${b}?${QUERY} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`);
  const answers = bytes.toString('latin1');
  // (A body need not end with a newline: the second status line can follow it directly.)
  assert.equal(answers.match(/HTTP\/1\.1 200 OK\r\n/g)?.length, 2, answers);
  assert.ok(answers.indexOf(`"${a}"`) < answers.indexOf(`"${b}"`), answers);
  return localPort;
}

// The pipelined pair: two SERVER spans on one connection, in the order sent.
function assertPipelined(spans, port, localPort, a, b) {
  const [first, second] = [a, b].map((id) => find(spans, 'server', 'GET /items/{id}', `/items/${id}`));
  assertServerSpan(first, { port, urlPath: `/items/${a}`, status: 200, peerPort: localPort });
  assertServerSpan(second, { port, urlPath: `/items/${b}`, status: 200, peerPort: localPort });
  assert.ok(first.startTime <= second.startTime, describeSpans([first, second]));
}

function find(spans, kind, name, urlPath) {
  return spans.find((x) => tag(x, 'span.kind') === kind && x.operationName === name &&
                           (urlPath === undefined || tag(x, 'url.path') === urlPath));
}

const has = (kind, name, urlPath) => (spans) => find(spans, kind, name, urlPath) !== undefined;
const hasAll = (...checks) => (spans) => checks.every((c) => c(spans));

// The HTTP conventions of a SERVER span (docs/agent.md, "The spans").
function assertServerSpan(span, { port, method = 'GET', urlPath, status, peerPort }) {
  const what = `${span.operationName} (${urlPath})`;
  assert.equal(tag(span, 'span.kind'), 'server', what);
  assert.equal(tag(span, 'http.request.method'), method, what);
  assert.equal(tag(span, 'url.path'), urlPath, what);
  assert.equal(tag(span, 'url.scheme'), 'http', what);
  assert.equal(tag(span, 'http.response.status_code'), status, what);
  assert.equal(tag(span, 'server.port'), port, what);
  assert.equal(tag(span, 'network.peer.address'), '127.0.0.1', what);
  assert.equal(tag(span, 'client.address'), '127.0.0.1', what);
  assert.equal(tag(span, 'network.protocol.version'), '1.1', what);
  if (peerPort !== undefined) {
    assert.equal(tag(span, 'network.peer.port'), peerPort, `${what}: the client's connection`);
  }
  assertStatus(span, status >= 500, what);
}

// The SERVER span named `name` for `expected.urlPath`, checked like assertServerSpan.
function expectServer(spans, name, expected) {
  const span = find(spans, 'server', name, expected.urlPath);
  assert.ok(span, `no SERVER span ${name} for ${expected.urlPath}:${describeSpans(spans)}`);
  assertServerSpan(span, expected);
}

function expectClient(spans, name, expected) {
  const span = find(spans, 'client', name, expected.urlPath);
  assert.ok(span, `no CLIENT span ${name} for ${expected.urlPath}:${describeSpans(spans)}`);
  assertClientSpan(span, expected);
}

function assertClientSpan(span, { port, urlPath, status }) {
  const what = `client ${span.operationName} (${urlPath})`;
  assert.equal(tag(span, 'span.kind'), 'client', what);
  assert.equal(tag(span, 'http.request.method'), 'GET', what);
  assert.equal(tag(span, 'url.path'), urlPath, what);
  assert.equal(tag(span, 'url.full'), `http://127.0.0.1:${port}${urlPath}`, what);
  assert.equal(tag(span, 'http.response.status_code'), status, what);
  assert.equal(tag(span, 'server.port'), port, what);
  assert.equal(tag(span, 'network.peer.address'), '127.0.0.1', what);
  assert.equal(tag(span, 'network.peer.port'), port, what);
  assert.equal(tag(span, 'network.protocol.version'), '1.1', what);
  // A client sees 4xx as a failure too.
  assertStatus(span, status >= 400, what);
}

function assertStatus(span, isError, what) {
  if (isError) {
    assert.equal(tag(span, 'error'), true, `${what} is an error`);
    assert.equal(tag(span, 'otel.status_code'), 'ERROR', what);
    assert.equal(tag(span, 'error.type'), String(tag(span, 'http.response.status_code')), what);
  } else {
    assert.equal(tag(span, 'error'), undefined, `${what} is not an error`);
    assert.notEqual(tag(span, 'otel.status_code'), 'ERROR', what);
  }
}

function assertResource(span, server, { service, runtime }) {
  assert.equal(span.process.serviceName, service);
  assert.equal(processTag(span, 'process.runtime.name'), runtime);
  assert.equal(Number(processTag(span, 'process.pid')), server.child.pid);
  assert.equal(processTag(span, 'telemetry.sdk.name'), 'hodos');
}

function assertChildOf(child, parent) {
  assert.equal(child.traceID, parent.traceID, `${child.operationName} is in the trace of ${parent.operationName}`);
  assert.deepEqual(child.references.map((r) => [r.refType, r.spanID]), [['CHILD_OF', parent.spanID]]);
  assert.ok(child.startTime >= parent.startTime, 'the child starts within its parent');
  // (Microseconds in the API: one for rounding.)
  assert.ok(child.startTime + child.duration <= parent.startTime + parent.duration + 1,
            'the child ends within its parent');
}

before(async () => {
  if (skip) return;
  tmp = makeTempDir('runtimes');
  www = path.join(tmp.dir, 'www');
  fs.mkdirSync(path.join(www, 'items'), { recursive: true });
  // Larger than any capture and than a socket buffer, with an odd size.
  fs.writeFileSync(path.join(www, 'data.bin'), crypto.randomBytes(3 * 1024 * 1024 + 7));
  for (const id of [7, 8, 9]) fs.writeFileSync(path.join(www, 'items', String(id)), `{"id":${id}}\n`);
  upload = crypto.randomBytes(1024 * 1024);
  fs.writeFileSync(path.join(tmp.dir, 'upload.bin'), upload);

  up = new HodosUp({ dir: tmp.dir, agent: true });
  await up.start();
  assert.match(up.stdout, /agent: +tracing \d+ process/, `the agent did not start:\n${up.tail()}`);

  // Build while the backend starts, then every server at once: all start after the agent.
  const [go] = await Promise.all([
    buildGoServer(tmp.dir),
    execFileP('javac', ['-d', tmp.dir, path.join(APPS, 'HttpClientCall.java')]),
    startServer('python backend', 'python3', ['-u', '-m', 'http.server', '0', '--bind', '127.0.0.1',
                                              '--directory', www, '--protocol', 'HTTP/1.1'], { cwd: tmp.dir })
      .then((b) => { s.backend = b; }),
  ]);
  goMissing = go.reason;
  const nginxPort = await unusedPort(); // no listen(): the agent would trace this process
  const nginxPrefix = path.join(tmp.dir, 'nginx');
  const nginxConf = nginxConfig(nginxPrefix, { PORT: nginxPort, ROOT: www, BACKEND_PORT: s.backend.port });
  const starts = {
    flask: () => startServer('flask', 'python3', ['-u', path.join(APPS, 'flask_app.py'), String(s.backend.port)],
                             { cwd: tmp.dir }),
    node: () => startServer('node', process.execPath, [path.join(APPS, 'node_server.mjs'), www, String(s.backend.port)],
                            { cwd: tmp.dir }),
    java: () => startServer('java', 'java', ['-cp', tmp.dir, 'HttpClientCall', String(s.backend.port)],
                            { cwd: tmp.dir }),
    nginx: () => startServer('nginx', 'nginx', ['-p', nginxPrefix, '-c', nginxConf, '-e', 'stderr'],
                             { cwd: tmp.dir, port: nginxPort }),
  };
  if (go.bin) starts.go = () => startServer('go', go.bin, [www], { cwd: tmp.dir });
  await Promise.all(Object.entries(starts).map(async ([name, start]) => { s[name] = await start(); }));
  await waitUntilTraced(up, ...Object.values(s).map((server) => server.child.pid));
  // nginx's /local/ upstream: a server on a Unix socket (a source once nginx's call reaches it).
  unixSocket = path.join(nginxPrefix, 'app.sock');
  s.unix = await startServer('unix http server', 'python3', ['-u', path.join(APPS, 'unix_http_server.py'), unixSocket],
                             { cwd: tmp.dir, ready: /^serving /m });
});

after(async () => {
  for (const server of Object.values(s)) stopServer(server);
  if (up) {
    const exit = await up.stop();
    assert.equal(exit.code, 0, up.tail());
  }
  tmp?.remove();
});

test('Flask (Werkzeug, a thread per request): SERVER spans, a urllib call the CLIENT child', { skip }, async () => {
  const paths = [`/items/42?${QUERY}`, `/proxy/7?${QUERY}`, '/fail', '/no/such/page', '/chunked'];
  const got = await curl(s.flask.port, paths);
  assert.deepEqual(got.map((r) => r.status), [200, 200, 500, 404, 200]);
  assert.equal(await curlUpload(s.flask.port, '/upload'), sha256(upload));

  const { spans } = await waitForSpans(up, 'flask_app', 'every request and call', hasAll(
    has('server', 'GET /items/{id}'), has('server', 'GET /proxy/{id}', '/proxy/7'), has('server', 'GET /fail'),
    has('server', 'GET /no/such/page'), has('server', 'GET /chunked'), has('server', 'POST /upload'),
    has('client', 'GET /items/{id}', '/items/7'), has('server', 'GET /items/{id}', '/items/7')));
  const port = s.flask.port;
  // (The answer holds whole traces: the backend's stitched /items/7 span is in it too.)
  const item = find(spans, 'server', 'GET /items/{id}', '/items/42');
  assertServerSpan(item, { port, urlPath: '/items/42', status: 200, peerPort: got[0].localPort });
  assert.match(tag(item, 'user_agent.original'), /^curl\//);
  assertResource(item, s.flask, { service: 'flask_app', runtime: 'cpython' });
  expectServer(spans, 'GET /fail', { port, urlPath: '/fail', status: 500, peerPort: got[2].localPort });
  expectServer(spans, 'GET /no/such/page', { port, urlPath: '/no/such/page', status: 404, peerPort: got[3].localPort });
  expectServer(spans, 'GET /chunked', { port, urlPath: '/chunked', status: 200, peerPort: got[4].localPort });
  expectServer(spans, 'POST /upload', { port, method: 'POST', urlPath: '/upload', status: 200 });

  // The call made on the serving thread: the CLIENT child of the request being served.
  const proxy = find(spans, 'server', 'GET /proxy/{id}', '/proxy/7');
  assertServerSpan(proxy, { port, urlPath: '/proxy/7', status: 200, peerPort: got[1].localPort });
  const call = find(spans, 'client', 'GET /items/{id}', '/items/7');
  assertClientSpan(call, { port: s.backend.port, urlPath: '/items/7', status: 200 });
  assertChildOf(call, proxy);
  // The backend's SERVER span for that call, on the other end of its connection, is stitched
  // into the same trace as the call's child.
  const served = find(spans, 'server', 'GET /items/{id}', '/items/7');
  assert.ok(served, 'the backend span was not joined to the Flask trace');
  assert.equal(served.process.serviceName, 'http.server');
  assertChildOf(served, call);
});

// The proxy passes the backend's 404 on: an ERROR for the calling client, not for the server.
test('Flask: a urllib call answered 404 is a CLIENT ERROR span under a SERVER span that is not', { skip }, async () => {
  const [r] = await curl(s.flask.port, ['/proxy/404']);
  assert.equal(r.status, 404);

  const { spans } = await waitForSpans(up, 'flask_app', 'the failed call', hasAll(
    has('server', 'GET /proxy/{id}', '/proxy/404'), has('client', 'GET /items/{id}', '/items/404')));
  const proxy = find(spans, 'server', 'GET /proxy/{id}', '/proxy/404');
  assertServerSpan(proxy, { port: s.flask.port, urlPath: '/proxy/404', status: 404, peerPort: r.localPort });
  const call = find(spans, 'client', 'GET /items/{id}', '/items/404');
  assertClientSpan(call, { port: s.backend.port, urlPath: '/items/404', status: 404 });
  assertChildOf(call, proxy);
});

test('Node http server: SERVER spans, pipelining, chunked and large bodies, 4xx/5xx', { skip }, async () => {
  const port = s.node.port;
  const paths = [`/items/42?${QUERY}`, '/chunked', '/fail', '/files/data.bin', '/files/nothing.bin'];
  const got = await curl(port, paths);
  assert.deepEqual(got.map((r) => r.status), [200, 200, 500, 200, 404]);
  assert.equal(await curlUpload(port, '/upload'), sha256(upload));
  const pipelined = await pipeline(port, 5, 6);

  const { spans } = await waitForSpans(up, 'node_server', 'every request', hasAll(
    has('server', 'GET /items/{id}', '/items/42'), has('server', 'GET /chunked'), has('server', 'GET /fail'),
    has('server', 'GET /files/data.bin'), has('server', 'GET /files/nothing.bin'), has('server', 'POST /upload'),
    has('server', 'GET /items/{id}', '/items/5'), has('server', 'GET /items/{id}', '/items/6')));
  const item = find(spans, 'server', 'GET /items/{id}', '/items/42');
  assertServerSpan(item, { port, urlPath: '/items/42', status: 200, peerPort: got[0].localPort });
  assertResource(item, s.node, { service: 'node_server', runtime: 'nodejs' });
  expectServer(spans, 'GET /chunked', { port, urlPath: '/chunked', status: 200, peerPort: got[1].localPort });
  expectServer(spans, 'GET /fail', { port, urlPath: '/fail', status: 500, peerPort: got[2].localPort });
  expectServer(spans, 'GET /files/data.bin', { port, urlPath: '/files/data.bin', status: 200 });
  expectServer(spans, 'GET /files/nothing.bin', { port, urlPath: '/files/nothing.bin', status: 404 });
  expectServer(spans, 'POST /upload', { port, method: 'POST', urlPath: '/upload', status: 200 });
  assertPipelined(spans, port, pipelined, 5, 6);
});

// A process is traced when it listens, so fetch is exercised from inside the traced Node server.
test('Node fetch, called from a traced Node server: a CLIENT span', { skip }, async () => {
  const [r] = await curl(s.node.port, [`/call/8?${QUERY}`]);
  assert.equal(r.status, 200);

  const { spans } = await waitForSpans(up, 'node_server', 'the fetch call',
                                      has('client', 'GET /items/{id}', '/items/8'));
  const call = find(spans, 'client', 'GET /items/{id}', '/items/8');
  assertClientSpan(call, { port: s.backend.port, urlPath: '/items/8', status: 200 });
  assert.match(tag(call, 'user_agent.original') ?? '', /node|undici/i);
  assertResource(call, s.node, { service: 'node_server', runtime: 'nodejs' });
  // An event loop: the parent is a hint only (docs/agent.md), so it is not checked; the request
  // that made the call has its SERVER span.
  const served = await waitForSpans(up, 'node_server', 'the request that made the call',
                                    has('server', 'GET /call/{id}'));
  expectServer(served.spans, 'GET /call/{id}',
               { port: s.node.port, urlPath: '/call/8', status: 200, peerPort: r.localPort });
});

test('Java HttpServer calling out with java.net.http.HttpClient: SERVER and CLIENT spans', { skip }, async () => {
  const [r] = await curl(s.java.port, [`/call/9?${QUERY}`]);
  assert.equal(r.status, 200);

  const { spans } = await waitForSpans(up, 'HttpClientCall', 'the request and its call', hasAll(
    has('server', 'GET /call/{id}'), has('client', 'GET /items/{id}', '/items/9')));
  const front = find(spans, 'server', 'GET /call/{id}');
  assertServerSpan(front, { port: s.java.port, urlPath: '/call/9', status: 200, peerPort: r.localPort });
  assertResource(front, s.java, { service: 'HttpClientCall', runtime: 'java' });
  const call = find(spans, 'client', 'GET /items/{id}', '/items/9');
  assertClientSpan(call, { port: s.backend.port, urlPath: '/items/9', status: 200 });
  // HttpClient writes from its own executor: docs/agent.md promises a root today; a parent, when
  // there is one, can only be the request being served.
  if (call.references.length > 0) assertChildOf(call, front);
});

test('nginx: a large file sent with sendfile, a 404, and a reverse-proxied call', { skip }, async () => {
  const port = s.nginx.port;
  const got = await curl(port, ['/files/data.bin', '/files/nothing.bin', `/api/items/9?${QUERY}`]);
  assert.deepEqual(got.map((r) => r.status), [200, 404, 200]);

  const { spans } = await waitForSpans(up, 'nginx', 'the file, the 404 and the proxied call', hasAll(
    has('server', 'GET /files/data.bin'), has('server', 'GET /files/nothing.bin'),
    has('server', 'GET /api/items/{id}'), has('client', 'GET /items/{id}', '/items/9')));
  const file = find(spans, 'server', 'GET /files/data.bin');
  assertServerSpan(file, { port, urlPath: '/files/data.bin', status: 200, peerPort: got[0].localPort });
  assertResource(file, s.nginx, { service: 'nginx', runtime: 'nginx' });
  expectServer(spans, 'GET /files/nothing.bin', { port, urlPath: '/files/nothing.bin', status: 404 });
  expectServer(spans, 'GET /api/items/{id}', { port, urlPath: '/api/items/9', status: 200 });
  // nginx's upstream connection is its own CLIENT span (an event loop: the parent is a hint).
  expectClient(spans, 'GET /items/{id}', { port: s.backend.port, urlPath: '/items/9', status: 200 });
});

test('nginx proxying to a server on a Unix socket: the call names the path, the server joins its trace', { skip }, async () => {
  const got = await curl(s.nginx.port, ['/local/items/5', '/local/items/6']);
  assert.deepEqual(got.map((r) => r.status), [200, 200]);
  const unixPid = s.unix.child.pid;
  const isCall = (x) => tag(x, 'span.kind') === 'client' && tag(x, 'network.transport') === 'unix';
  const isServed = (x) => tag(x, 'span.kind') === 'server' && x.process.tags.some((t) => t.key === 'process.pid' && t.value === unixPid);
  // The server's spans join nginx's traces once the stitch stage paired them.
  const { spans } = await waitForSpans(up, 'nginx', 'the requests proxied to the Unix socket, with their server spans', (all) =>
    all.filter(isCall).length >= 2 && all.filter(isServed).length >= 2);
  const calls = spans.filter(isCall);
  for (const call of calls.slice(0, 2)) {
    const all = describeSpans(spans);
    assert.equal(call.operationName, 'GET /items/{id}', all);
    assert.equal(tag(call, 'network.peer.address'), unixSocket, all);
    assert.equal(tag(call, 'http.response.status_code'), 200, all);
    assert.equal(tag(call, 'server.port'), undefined, all);
    assert.equal(tag(call, 'network.peer.port'), undefined, all);
    // nginx is followed per connection: the call is the child of the request it proxies.
    const parent = spans.find((x) => x.spanID === call.references[0]?.spanID);
    assert.ok(parent, `the call has no parent among nginx's spans:${all}`);
    assert.equal(tag(parent, 'span.kind'), 'server', all);
    assert.equal(tag(parent, 'url.path'), `/local${tag(call, 'url.path')}`, all);
    // The server on the path became a source when nginx's connection reached it (it listens on no
    // TCP port); its span is the child of nginx's call, in nginx's trace, paired by the socket.
    const served = spans.find((x) => isServed(x) && x.references[0]?.spanID === call.spanID);
    assert.ok(served, `no server span of pid ${unixPid} under the call ${call.spanID}:${all}`);
    assert.equal(served.traceID, call.traceID, all);
    assert.equal(tag(served, 'url.path'), tag(call, 'url.path'), all);
    assert.equal(tag(served, 'network.transport'), 'unix', all);
    assert.equal(tag(served, 'http.response.status_code'), 200, all);
    assert.equal(tag(served, 'client.address'), undefined, all);
    assert.equal(tag(served, 'server.port'), undefined, all);
  }
  const listed = (await up.json('/api/v1/sources')).sources.find((x) => x.pid === unixPid);
  assert.ok(listed?.traced, JSON.stringify(listed));
  assert.equal(listed.selected_by, `serves a traced process on Unix socket ${unixSocket}`);
});

test('Go net/http (built with the installed Go): SERVER spans, keep-alive, pipelining, 500', { skip }, async (t) => {
  if (goMissing) {
    t.skip(`Go server not built: ${goMissing}`);
    return;
  }
  const port = s.go.port;
  const got = await curl(port, ['/items/1', `/items/2?${QUERY}`, '/fail', '/chunked']);
  assert.deepEqual(got.map((r) => r.status), [200, 200, 500, 200]);
  assert.equal(new Set(got.map((r) => r.localPort)).size, 1, 'curl reused its connection');
  assert.equal(await curlUpload(port, '/upload'), sha256(upload));
  const pipelined = await pipeline(port, 3, 4);

  const { spans } = await waitForSpans(up, 'go_server', 'every request', hasAll(
    ...[1, 2, 3, 4].map((id) => has('server', 'GET /items/{id}', `/items/${id}`)),
    has('server', 'GET /fail'), has('server', 'GET /chunked'), has('server', 'POST /upload')));
  const item = (id) => find(spans, 'server', 'GET /items/{id}', `/items/${id}`);
  assertServerSpan(item(1), { port, urlPath: '/items/1', status: 200, peerPort: got[0].localPort });
  assertServerSpan(item(2), { port, urlPath: '/items/2', status: 200, peerPort: got[0].localPort });
  assertResource(item(1), s.go, { service: 'go_server', runtime: 'go' });
  expectServer(spans, 'GET /fail', { port, urlPath: '/fail', status: 500, peerPort: got[0].localPort });
  expectServer(spans, 'GET /chunked', { port, urlPath: '/chunked', status: 200, peerPort: got[0].localPort });
  expectServer(spans, 'POST /upload', { port, method: 'POST', urlPath: '/upload', status: 200 });
  assertPipelined(spans, port, pipelined, 3, 4);
  // No traceparent came with them: each request is the root of its own trace.
  assert.notEqual(item(1).traceID, item(2).traceID);
});

test('Go net/http: a large file sent with sendfile gets its span', { skip }, async (t) => {
  if (goMissing) {
    t.skip(`Go server not built: ${goMissing}`);
    return;
  }
  const [r] = await curl(s.go.port, ['/files/data.bin']);
  assert.equal(r.status, 200);
  const { spans } = await waitForSpans(up, 'go_server', 'the file', has('server', 'GET /files/data.bin'));
  assertServerSpan(find(spans, 'server', 'GET /files/data.bin'),
                   { port: s.go.port, urlPath: '/files/data.bin', status: 200, peerPort: r.localPort });
});

test('the traffic is untouched: bodies byte for byte through every traced server', { skip }, async () => {
  const onDisk = fs.readFileSync(path.join(www, 'data.bin'));
  const fileRoutes = [[s.backend, '/data.bin'], [s.node, '/files/data.bin'], [s.nginx, '/files/data.bin'],
                      [s.nginx, '/api/data.bin'], ...(s.go ? [[s.go, '/files/data.bin']] : [])];
  for (const [server, route] of fileRoutes) {
    const r = await request(server.port, `${route}?${QUERY}`, { headers: CREDENTIALS });
    assert.equal(r.status, 200, `${server.name} ${route}`);
    assert.equal(r.body.length, onDisk.length, `${server.name} ${route}: length`);
    assert.equal(sha256(r.body), sha256(onDisk), `${server.name} ${route}: the bytes differ from the file`);
  }
  for (const server of [s.flask, s.node, ...(s.go ? [s.go] : [])]) {
    const r = await request(server.port, '/chunked', { headers: CREDENTIALS });
    assert.equal(r.headers['transfer-encoding'], 'chunked', `${server.name} answers chunked`);
    assert.equal(r.body.toString(), CHUNKED_BODY, `${server.name} /chunked`);
    const posted = await request(server.port, '/upload', {
      method: 'POST', body: upload, headers: { ...CREDENTIALS, 'content-type': 'application/octet-stream' },
    });
    assert.equal(posted.body.toString(), sha256(upload), `${server.name} received the 1 MiB body intact`);
  }
  for (const [server, route] of [[s.flask, '/proxy/7'], [s.node, '/call/7'], [s.java, '/call/7']]) {
    const r = await request(server.port, `${route}?${QUERY}`, { headers: CREDENTIALS });
    assert.equal(r.body.toString(), '{"id":7}\n', `${server.name} ${route} passes the backend's body on`);
  }
});

test('a server started after the agent is traced from its first request', { skip }, async () => {
  const late = await startServer('late python', 'python3', ['-u', '-m', 'http.server', '0', '--bind', '127.0.0.1',
                                                            '--directory', www, '--protocol', 'HTTP/1.1'],
                                 { cwd: tmp.dir, env: { OTEL_SERVICE_NAME: 'late-starter' } });
  try {
    // At once: no wait for the agent's next /proc scan.
    const [r] = await curl(late.port, ['/items/7']);
    assert.equal(r.status, 200);
    await waitForSpans(up, 'late-starter', 'the first request', has('server', 'GET /items/{id}'));
  } finally {
    stopServer(late);
  }
});

test('no credential header value or query string appears anywhere in the API', { skip }, async () => {
  const { services, text } = await everyTraceText(up);
  // Not vacuous: the runtimes' spans are there.
  for (const name of ['flask_app', 'http.server']) assert.ok(services.includes(name), `${name} in ${services}`);
  assert.ok(text.length > 10000, 'the traces were read');
  const secrets = [SECRET, 'hodos-secret-4f1c9', COOKIE, 'hodos-cookie-9a2b7', QUERY, 'hodos-query-77e1d', '?token'];
  for (const secret of secrets) {
    assert.ok(!text.includes(secret), `${secret} reached the API`);
  }
});
