// The eBPF agent end to end: `hodos up` with the agent traces a real, unmodified
// `python3 -m http.server` (and a Python server that calls another one with urllib) and the spans
// come out of the query API with the HTTP conventions, no credential or query string anywhere,
// the right parent for a call made on the serving thread, and the traffic itself untouched.
// Needs root (CI runs as root); skipped with the reason otherwise.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { makeTempDir, waitFor } from './lib/collector.mjs';
import { HodosUp } from './lib/hodos_up.mjs';
import { execFileP, metric as metricOf, needsRoot, startServer, stopServer, tag,
         waitForSpans as waitForServiceSpans, waitUntilTraced as waitUntilTracedBy } from './lib/servers.mjs';

const skip = needsRoot;

const SECRET = 's3cret';
const QUERY = 'token=abc';
let tmp;
let up;
let www;

const servers = [];
async function start(name, command, args, env) {
  const server = await startServer(name, command, args, { cwd: tmp.dir, env });
  servers.push(server);
  return server;
}
const startPython = (name, args, env = {}) => start(name, 'python3', ['-u', ...args], env);

// GET on one keep-alive socket; resolves with status, body bytes and whether the socket was reused.
function get(agent, port, pathAndQuery) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: pathAndQuery, agent,
                           headers: { authorization: `Bearer ${SECRET}` } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks),
                                    reused: req.reusedSocket }));
    });
    req.on('error', reject);
  });
}

const waitForSpans = (service, what, check) => waitForServiceSpans(up, service, what, check, { timeoutMs: 20000 });
const metric = (name) => metricOf(up, name);
const waitUntilTraced = (...servers) => waitUntilTracedBy(up, ...servers.map((s) => s.child.pid));

// A Python front (a thread per request), `front.py BACKEND [PATH|-] [TIMEOUT]`, whose every GET
// calls 127.0.0.1:BACKEND with urllib on the serving thread: at PATH, else (-) at its own path;
// 200 with the answer's body, or 504 when the call failed (no answer within TIMEOUT seconds,
// default 10, a closed connection). Written once.
function frontScript() {
  const script = path.join(tmp.dir, 'front.py');
  if (fs.existsSync(script)) return script;
  fs.writeFileSync(script, `
import http.server, sys, urllib.request
backend = int(sys.argv[1])
fixed_path = sys.argv[2] if len(sys.argv) > 2 and sys.argv[2] != '-' else None
timeout = float(sys.argv[3]) if len(sys.argv) > 3 else 10
class Front(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    def do_GET(self):
        # Synchronous, on the thread serving this request.
        try:
            with urllib.request.urlopen(f'http://127.0.0.1:{backend}{fixed_path or self.path}', timeout=timeout) as r:
                status, body = 200, r.read()
        except Exception:
            status, body = 504, b''
        self.send_response(status)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Front)
print('listening on port', server.server_address[1], flush=True)
server.serve_forever()
`);
  return script;
}

before(async () => {
  if (skip) return;
  tmp = makeTempDir('agent');
  www = path.join(tmp.dir, 'www');
  fs.mkdirSync(www);
  fs.writeFileSync(path.join(www, 'file.txt'), 'hello from disk\n'.repeat(100));
  fs.writeFileSync(path.join(www, 'data.bin'), crypto.randomBytes(100 * 1024));  // > one capture
  up = new HodosUp({ dir: tmp.dir, agent: true });
  await up.start();
  assert.match(up.stdout, /agent: +tracing \d+ process/, `the agent did not start:\n${up.tail()}`);
});

after(async () => {
  for (const s of servers) stopServer(s);
  if (up) {
    const exit = await up.stop();
    assert.equal(exit.code, 0, up.tail());
  }
  tmp?.remove();
});

test('python3 -m http.server gets SERVER spans, without credentials or query strings', { skip }, async () => {
  const service = `agent-e2e-files-${process.pid}`;
  const files = await startPython('http.server', ['-m', 'http.server', '0', '--bind', '127.0.0.1',
                                                  '--directory', www, '--protocol', 'HTTP/1.1'],
                                   { OTEL_SERVICE_NAME: service });
  await waitUntilTraced(files);

  // Three keep-alive requests on one connection, then curl (a new connection) and a 404.
  const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const onDisk = fs.readFileSync(path.join(www, 'file.txt'));
  for (let i = 0; i < 3; ++i) {
    const r = await get(keepAlive, files.port, `/file.txt?${QUERY}`);
    assert.equal(r.status, 200);
    assert.ok(r.body.equals(onDisk), 'the body the client got differs from the file on disk');
    if (i > 0) assert.ok(r.reused, 'the keep-alive socket was not reused');
  }
  keepAlive.destroy();
  const out = path.join(tmp.dir, 'data.out');
  await execFileP('curl', ['-sS', '--fail', '-H', `Authorization: Bearer ${SECRET}`, '-o', out,
                           `http://127.0.0.1:${files.port}/data.bin?${QUERY}`]);
  assert.ok(fs.readFileSync(out).equals(fs.readFileSync(path.join(www, 'data.bin'))),
            'curl got other bytes than the file on disk');
  const missing = await get(undefined, files.port, `/missing.txt?${QUERY}`);
  assert.equal(missing.status, 404);

  const { spans, text } = await waitForSpans(service, 'the server spans of http.server', (s) =>
    s.filter((x) => tag(x, 'span.kind') === 'server').length >= 5);
  const server = spans.filter((s) => tag(s, 'span.kind') === 'server');
  const byName = (n) => server.filter((s) => s.operationName === n);

  const fileSpans = byName('GET /file.txt');
  assert.equal(fileSpans.length, 3, `spans: ${server.map((s) => s.operationName)}`);
  for (const s of fileSpans) {
    assert.equal(tag(s, 'http.response.status_code'), 200);
    assert.equal(tag(s, 'http.request.method'), 'GET');
    assert.equal(tag(s, 'url.path'), '/file.txt');
    assert.equal(tag(s, 'url.scheme'), 'http');
    assert.equal(tag(s, 'network.protocol.version'), '1.1');
    assert.equal(tag(s, 'client.address'), '127.0.0.1');
    assert.equal(tag(s, 'server.port'), files.port);
    assert.equal(tag(s, 'error'), undefined);
    assert.ok(s.duration >= 0);
    assert.equal(s.references.length, 0, 'a server span with no caller context is a root');
  }
  // Keep-alive: the three requests came over one connection.
  assert.equal(new Set(fileSpans.map((s) => tag(s, 'network.peer.port'))).size, 1);

  const [bin] = byName('GET /data.bin');
  assert.ok(bin, `no GET /data.bin span: ${server.map((s) => s.operationName)}`);
  assert.equal(tag(bin, 'http.response.status_code'), 200);
  assert.match(tag(bin, 'user_agent.original'), /^curl\//);

  const [notFound] = byName('GET /missing.txt');
  assert.ok(notFound, `no GET /missing.txt span: ${server.map((s) => s.operationName)}`);
  assert.equal(tag(notFound, 'http.response.status_code'), 404);
  // A 404 is the client's mistake: not an error of the server span (HTTP conventions).
  assert.equal(tag(notFound, 'error'), undefined);
  assert.notEqual(tag(notFound, 'otel.status_code'), 'ERROR');

  const proc = fileSpans[0].process;
  assert.equal(proc.serviceName, service);
  assert.ok(proc.tags.some((t) => t.key === 'process.pid' && Number(t.value) === files.child.pid),
            JSON.stringify(proc.tags));

  assert.ok(!text.includes(SECRET), 'the Authorization value reached the API');
  assert.ok(!text.includes(QUERY), 'the query string reached the API');
  assert.ok(!text.includes('?token'), 'the query string reached the API');
});

test('a urllib call made while serving a request is a CLIENT child of its SERVER span', { skip }, async () => {
  const backendService = `agent-e2e-backend-${process.pid}`;
  const frontService = `agent-e2e-front-${process.pid}`;
  const backend = await startPython('backend', ['-m', 'http.server', '0', '--bind', '127.0.0.1',
                                                '--directory', www], { OTEL_SERVICE_NAME: backendService });
  const front = await startPython('front', [frontScript(), String(backend.port), `/file.txt?${QUERY}`],
                                  { OTEL_SERVICE_NAME: frontService });
  await waitUntilTraced(backend, front);

  const r = await get(undefined, front.port, `/proxy?${QUERY}`);
  assert.equal(r.status, 200);
  assert.ok(r.body.equals(fs.readFileSync(path.join(www, 'file.txt'))));

  const { spans, text } = await waitForSpans(frontService, 'the front service spans', (s) =>
    s.some((x) => tag(x, 'span.kind') === 'server') && s.some((x) => tag(x, 'span.kind') === 'client'));
  const server = spans.find((s) => tag(s, 'span.kind') === 'server');
  const client = spans.find((s) => tag(s, 'span.kind') === 'client');
  assert.equal(server.operationName, 'GET /proxy');
  assert.equal(client.operationName, 'GET /file.txt');
  assert.equal(client.traceID, server.traceID);
  assert.deepEqual(client.references.map((x) => [x.refType, x.spanID]), [['CHILD_OF', server.spanID]]);
  assert.equal(tag(client, 'server.port'), backend.port);
  assert.equal(tag(client, 'url.full'), `http://127.0.0.1:${backend.port}/file.txt`);
  assert.equal(tag(client, 'http.response.status_code'), 200);
  // The child lies within its parent.
  assert.ok(client.startTime >= server.startTime, 'the client call starts before its parent');
  // (Microseconds in the API: allow one for rounding.)
  assert.ok(client.startTime + client.duration <= server.startTime + server.duration + 1);
  assert.ok(!text.includes(QUERY));

  // The backend served that call: it continued the traceparent the kernel inserted into the call
  // (the front is a thread-per-request Python server), or, were injection off, the stitch stage
  // moved its SERVER span (the other end of the client span's connection) into the caller's trace.
  // Either way it is the client's child. (A search by service answers whole traces: the caller's
  // spans come with it.)
  const isBack = (x) => tag(x, 'span.kind') === 'server' && x.process.serviceName === backendService;
  const backSpans = await waitForSpans(backendService, 'the backend server span', (s) => s.some(isBack));
  const back = backSpans.spans.find(isBack);
  assert.equal(back.operationName, 'GET /file.txt');
  assert.equal(back.traceID, server.traceID, 'the backend span is not in the caller\'s trace');
  assert.deepEqual(back.references.map((x) => [x.refType, x.traceID, x.spanID]),
                   [['CHILD_OF', server.traceID, client.spanID]]);
  assert.equal(tag(back, 'network.peer.port'), tag(client, 'network.local.port'));
  // The whole trace, read by id: front server -> client -> backend server, one trace.
  const whole = await up.get(`/api/traces/${server.traceID}`);
  assert.equal(whole.status, 200);
  const ids = whole.body.data[0].spans.map((x) => x.spanID);
  for (const s of [server, client, back]) assert.ok(ids.includes(s.spanID), `missing ${s.operationName}`);
  // The agent publishes its counters every few hundred milliseconds, so they may trail the spans.
  let injected = 0;
  let stitched = 0;
  await waitFor('the call to be counted as injected or stitched', async () => {
    injected = Number(await metric('hodos_agent_inject_total{result="injected"}'));
    stitched = Number(await metric('hodos_processor_stitch_stitched_total{processor="stitch/agent"}'));
    return injected + stitched >= 1;
  }, { describe: () => `joined by neither injection (${injected}) nor stitching (${stitched})` });
});

// A call that gets no answer is what a user opens a trace for: a backend that closes the
// connection on the request, one that resets it, and one that never answers (the caller's urllib
// times out after 1 s). Each call is a CLIENT span under its request, an error with
// error.type=no_response and no status code, ending at the close; the front answers 504.
test('a call whose connection closes without an answer is a CLIENT error span under its request', { skip }, async () => {
  const frontService = `agent-e2e-no-answer-${process.pid}`;
  const backendScript = path.join(tmp.dir, 'no_answer.py');
  fs.writeFileSync(backendScript, `
import socket, socketserver, struct, time
class NoAnswer(socketserver.BaseRequestHandler):
    def handle(self):
        line = self.request.recv(4096).split(b'\\r\\n')[0]
        if b'/reset' in line:
            # SO_LINGER 0: the close sends a reset.
            self.request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
        elif b'/hang' in line:
            time.sleep(3)
server = socketserver.ThreadingTCPServer(('127.0.0.1', 0), NoAnswer)
server.daemon_threads = True
print('listening on port', server.server_address[1], flush=True)
server.serve_forever()
`);
  const backend = await startPython('no-answer backend', [backendScript]);
  const front = await startPython('no-answer front', [frontScript(), String(backend.port), '-', '1'],
                                  { OTEL_SERVICE_NAME: frontService });
  await waitUntilTraced(front);

  const paths = ['/close', '/reset', '/hang'];
  for (const p of paths) assert.equal((await get(undefined, front.port, p)).status, 504, p);

  const isClient = (x) => tag(x, 'span.kind') === 'client';
  const { spans } = await waitForSpans(frontService, 'a CLIENT span for each call', (s) =>
    paths.every((p) => s.some((x) => isClient(x) && tag(x, 'url.path') === p)));
  for (const p of paths) {
    const request = spans.find((x) => tag(x, 'span.kind') === 'server' && tag(x, 'url.path') === p);
    const call = spans.find((x) => isClient(x) && tag(x, 'url.path') === p);
    assert.ok(request, `${p}: no SERVER span`);
    assert.equal(tag(request, 'http.response.status_code'), 504, p);
    assert.equal(call.operationName, `GET ${p}`);
    assert.equal(call.traceID, request.traceID, p);
    assert.deepEqual(call.references.map((x) => [x.refType, x.spanID]), [['CHILD_OF', request.spanID]], p);
    assert.equal(tag(call, 'error.type'), 'no_response', p);
    assert.equal(tag(call, 'otel.status_code'), 'ERROR', p);
    assert.equal(tag(call, 'http.response.status_code'), undefined, `${p}: a status code nobody sent`);
    assert.equal(tag(call, 'server.port'), backend.port, p);
    // It ends at the close, within its request: at the timeout for /hang.
    assert.ok(call.startTime + call.duration <= request.startTime + request.duration + 1, p);
    if (p === '/hang') assert.ok(call.duration >= 900000, `${p}: ${call.duration} µs, not the client's 1 s timeout`);
  }
});

// A Java app (com.sun.net.httpserver, one dispatcher thread per server) whose /proxy handler calls
// a second server in the same JVM with HttpURLConnection on the serving thread: both SERVER spans
// and the CLIENT span, parented under /proxy; Java's IPv4-mapped IPv6 sockets shown as IPv4.
test('a Java HttpServer calling out with HttpURLConnection: SERVER and CLIENT spans, parented', { skip }, async () => {
  const service = `agent-e2e-java-${process.pid}`;
  const src = path.join(tmp.dir, 'java');
  fs.mkdirSync(src, { recursive: true });
  fs.writeFileSync(path.join(src, 'Shop.java'), `
import com.sun.net.httpserver.HttpServer;
import java.io.OutputStream;
import java.net.HttpURLConnection;
import java.net.InetSocketAddress;
import java.net.URL;

public class Shop {
  public static void main(String[] args) throws Exception {
    HttpServer back = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    back.createContext("/", ex -> {
      byte[] b = ("item " + ex.getRequestURI().getPath()).getBytes();
      ex.sendResponseHeaders(200, b.length);
      try (OutputStream o = ex.getResponseBody()) { o.write(b); }
    });
    back.start();
    HttpServer front = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    front.createContext("/proxy", ex -> {
      URL u = new URL("http://127.0.0.1:" + back.getAddress().getPort() + "/items/42?${QUERY}");
      HttpURLConnection c = (HttpURLConnection) u.openConnection();
      c.setRequestProperty("Authorization", "Bearer ${SECRET}");
      byte[] b = c.getInputStream().readAllBytes();
      ex.sendResponseHeaders(200, b.length);
      try (OutputStream o = ex.getResponseBody()) { o.write(b); }
    });
    front.start();
    System.out.println("port " + front.getAddress().getPort());
  }
}
`);
  await execFileP('javac', ['-d', src, path.join(src, 'Shop.java')]);
  const shop = await start('java shop', 'java', ['-cp', src, 'Shop'], { OTEL_SERVICE_NAME: service });
  await waitUntilTraced(shop);

  const r = await get(undefined, shop.port, `/proxy?${QUERY}`);
  assert.equal(r.status, 200);
  assert.equal(r.body.toString(), 'item /items/42', 'the app answered what it always answers');

  const { spans, text } = await waitForSpans(service, 'the Java spans', (s) =>
    s.some((x) => x.operationName === 'GET /proxy') &&
    s.some((x) => tag(x, 'span.kind') === 'client') &&
    s.some((x) => tag(x, 'span.kind') === 'server' && x.operationName === 'GET /items/{id}'));
  const front = spans.find((x) => x.operationName === 'GET /proxy');
  const client = spans.find((x) => tag(x, 'span.kind') === 'client');
  const back = spans.find((x) => tag(x, 'span.kind') === 'server' && x.operationName === 'GET /items/{id}');
  assert.equal(tag(front, 'span.kind'), 'server');
  assert.equal(client.operationName, 'GET /items/{id}');
  assert.equal(client.traceID, front.traceID);
  assert.deepEqual(client.references.map((x) => [x.refType, x.spanID]), [['CHILD_OF', front.spanID]]);
  assert.equal(tag(back, 'url.path'), '/items/42');
  assert.equal(tag(front, 'network.peer.address'), '127.0.0.1', 'IPv4-mapped peers are shown as IPv4');
  assert.equal(front.process.serviceName, service);
  assert.ok(front.process.tags.some((t) => t.key === 'process.runtime.name' && t.value === 'java'));
  assert.ok(!text.includes(SECRET), 'no credential leaves the agent');
  assert.ok(!text.includes(QUERY), 'no query string leaves the agent');
});
