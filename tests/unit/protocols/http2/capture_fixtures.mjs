// Captures real HTTP/2 and gRPC conversations for the matcher's tests and writes them to
// fixtures.h beside this script. Each scenario runs a real server and a real client (Node's
// http2 module, @grpc/grpc-js with @grpc/proto-loader, and optionally grpc-go through
// go_peer/) through a TCP relay that records every read of each direction, in arrival order:
// the bytes the traced process would have read or written, chunked as a socket delivers them.
//
//   node tests/unit/protocols/http2/capture_fixtures.mjs        (from the repository root)
//
// The header is committed; nothing here runs during the tests. The grpc packages come from
// tests/e2e/node/node_modules (npm ci there first). The Go peer is used when `go` and Debian's
// golang-google-grpc-dev are installed (GOPATH=/usr/share/gocode, GO111MODULE=off).
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import http2 from 'node:http2';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../../../..');
const require = createRequire(path.join(root, 'tests/e2e/node/package.json'));
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const { HTTP2_HEADER_STATUS: STATUS, HTTP2_HEADER_CONTENT_TYPE: CONTENT_TYPE } =
    http2.constants;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// A TCP relay in front of `targetPort`: records each 'data' event of both directions.
async function startRelay(targetPort) {
  const chunks = [];
  const sockets = new Set();
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.setNoDelay(true);
      s.on('error', () => {});
    }
    client.on('data', (d) => { chunks.push({ fromClient: true, bytes: Buffer.from(d) }); upstream.write(d); });
    upstream.on('data', (d) => { chunks.push({ fromClient: false, bytes: Buffer.from(d) }); client.write(d); });
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: server.address().port,
    chunks,
    async close() {
      await sleep(100);  // the last frames (GOAWAY) in flight
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

async function listen(server) {
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server.address().port;
}

function closeServer(server) {
  return new Promise((resolve) => server.close(() => resolve()));
}

// One request on `session`; resolves with the status, the body and the trailers.
function request(session, headers, body, options = {}) {
  return new Promise((resolve, reject) => {
    const req = session.request(headers, options);
    const chunks = [];
    let status = 0;
    let trailers = {};
    req.on('response', (h) => { status = h[STATUS]; });
    req.on('trailers', (t) => { trailers = t; });
    req.on('data', (d) => chunks.push(d));
    req.on('end', () => resolve({ status, body: Buffer.concat(chunks), trailers }));
    req.on('close', () => resolve({ status, body: Buffer.concat(chunks), rstCode: req.rstCode }));
    req.on('error', (e) => reject(e));
    if (body !== undefined) req.end(body); else req.end();
  });
}

// Runs an HTTP/2 scenario: `handler` answers streams, `client(session)` drives the requests.
async function h2Scenario({ serverOptions = {}, clientOptions = {}, handler, client, onServer }) {
  const server = http2.createServer(serverOptions);
  server.on('stream', handler);
  if (onServer) onServer(server);
  const port = await listen(server);
  const relay = await startRelay(port);
  const session = http2.connect(`http://127.0.0.1:${relay.port}`, clientOptions);
  session.on('error', () => {});
  await client(session);
  await new Promise((resolve) => session.close(resolve));
  await relay.close();
  await closeServer(server);
  return relay.chunks;
}

const kCommonRequest = {
  'user-agent': 'hodos-fixture/1.0',
  traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
  tracestate: 'vendor=opaque',
  authorization: 'Bearer secret-token-123',
  cookie: 'session=topsecret',
};

const scenarios = [];
function scenario(name, description, run) { scenarios.push({ name, description, run }); }

scenario('h2c_get', 'GET /hello?x=1 answered 200 with a 13-byte text body; the request carries ' +
    'user-agent, traceparent, tracestate, authorization and cookie', () => h2Scenario({
  handler: (stream) => {
    stream.respond({ [STATUS]: 200, [CONTENT_TYPE]: 'text/plain' });
    stream.end('hello, world\n');
  },
  client: async (s) => {
    await request(s, { ':method': 'GET', ':path': '/hello?x=1', ...kCommonRequest });
  },
}));

scenario('h2c_post', 'POST /items with a 40000-byte JSON body (several DATA frames, ' +
    'WINDOW_UPDATEs) answered 201 with an 18-byte body', () => h2Scenario({
  handler: (stream) => {
    let n = 0;
    stream.on('data', (d) => { n += d.length; });
    stream.on('end', () => {
      stream.respond({ [STATUS]: 201, [CONTENT_TYPE]: 'application/json' });
      stream.end(JSON.stringify({ received: n }));
    });
  },
  client: async (s) => {
    const body = JSON.stringify({ data: 'x'.repeat(39988) });
    await request(s, { ':method': 'POST', ':path': '/items', 'content-type': 'application/json',
      'user-agent': 'hodos-fixture/1.0' }, body);
  },
}));

scenario('h2c_concurrent', 'four GET /slow/<n> at once on streams 1,3,5,7, answered in reverse ' +
    'order with bodies of n*1000 bytes written in two parts, so frames of the streams interleave',
    () => h2Scenario({
  handler: async (stream, headers) => {
    const n = Number(headers[':path'].split('/').pop());
    await sleep((5 - n) * 20);
    stream.respond({ [STATUS]: 200, [CONTENT_TYPE]: 'application/octet-stream' });
    stream.write(Buffer.alloc(n * 500, 'a'));
    await sleep(30);
    stream.end(Buffer.alloc(n * 500, 'b'));
  },
  client: async (s) => {
    await Promise.all([1, 2, 3, 4].map((n) =>
      request(s, { ':method': 'GET', ':path': `/slow/${n}`, 'user-agent': 'hodos-fixture/1.0' })));
  },
}));

scenario('h2c_continuation', 'GET /big with a 20000-byte x-large header (HEADERS + ' +
    'CONTINUATION frames) answered 200 with a 20000-byte x-echo header (CONTINUATION back)',
    () => h2Scenario({
  serverOptions: { maxSendHeaderBlockLength: 100000, settings: { maxHeaderListSize: 100000 } },
  clientOptions: { maxSendHeaderBlockLength: 100000, settings: { maxHeaderListSize: 100000 } },
  handler: (stream, headers) => {
    stream.respond({ [STATUS]: 200, 'x-echo': headers['x-large'], [CONTENT_TYPE]: 'text/plain' });
    stream.end('ok\n');
  },
  client: async (s) => {
    await request(s, { ':method': 'GET', ':path': '/big', 'x-large': 'L'.repeat(20000),
      'user-agent': 'hodos-fixture/1.0' });
  },
}));

scenario('h2c_dynamic_table', 'three GETs one after the other with the same headers: the ' +
    'second and third are mostly indexed entries of the dynamic table', () => h2Scenario({
  handler: (stream, headers) => {
    stream.respond({ [STATUS]: 200, [CONTENT_TYPE]: 'text/plain', 'x-tenant': headers['x-tenant'] });
    stream.end(`item ${headers[':path']}\n`);
  },
  client: async (s) => {
    for (const path of ['/items/1', '/items/2', '/items/3']) {
      await request(s, { ':method': 'GET', ':path': path, 'x-tenant': 'acme-corporation',
        'user-agent': 'hodos-fixture/1.0', 'accept': 'application/json' });
    }
  },
}));

scenario('h2c_table_size', 'server SETTINGS_HEADER_TABLE_SIZE 128 from the start; the client ' +
    'shrinks its table to 0 between the first and second GET and grows it to 4096 before the ' +
    'third (dynamic table size updates in the responses)', () => h2Scenario({
  serverOptions: { settings: { headerTableSize: 128 } },
  handler: (stream, headers) => {
    stream.respond({ [STATUS]: 200, [CONTENT_TYPE]: 'text/plain', 'x-served-by': 'fixture-server-1' });
    stream.end(`${headers[':path']}\n`);
  },
  client: async (s) => {
    const headers = (p) => ({ ':method': 'GET', ':path': p, 'user-agent': 'hodos-fixture/1.0',
      'x-request-kind': 'table-size-test' });
    await request(s, headers('/t/1'));
    await new Promise((resolve) => s.settings({ headerTableSize: 0 }, resolve));
    await request(s, headers('/t/2'));
    await new Promise((resolve) => s.settings({ headerTableSize: 4096 }, resolve));
    await request(s, headers('/t/3'));
  },
}));

scenario('h2c_rst_stream', 'GET /refused reset by the server (RST_STREAM REFUSED_STREAM) ' +
    'without a response; GET /stream cancelled by the client (RST_STREAM CANCEL) after the ' +
    'response headers and some data; then GET /after answered 200', () => h2Scenario({
  handler: async (stream, headers) => {
    const p = headers[':path'];
    stream.on('error', () => {});
    if (p === '/refused') {
      stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
      return;
    }
    stream.respond({ [STATUS]: 200, [CONTENT_TYPE]: 'text/plain' });
    if (p === '/after') { stream.end('after\n'); return; }
    for (let i = 0; i < 50 && !stream.destroyed; ++i) {
      stream.write(Buffer.alloc(100, 'z'));
      await sleep(10);
    }
    if (!stream.destroyed) stream.end();
  },
  client: async (s) => {
    await request(s, { ':method': 'GET', ':path': '/refused' }).catch(() => {});
    await new Promise((resolve) => {
      const req = s.request({ ':method': 'GET', ':path': '/stream' });
      req.on('error', () => {});
      req.once('data', async () => {
        await sleep(20);
        req.close(http2.constants.NGHTTP2_CANCEL);
      });
      req.on('close', resolve);
      req.end();
    });
    await sleep(50);
    await request(s, { ':method': 'GET', ':path': '/after' });
  },
}));

scenario('h2c_padded_priority_ping', 'frames padded to the maximum (PADDING_STRATEGY_MAX) on ' +
    'both sides, a request with priority fields (weight 42), a PING and its ACK; GET /padded ' +
    'answered 200 with a 7-byte body and trailers (x-checksum)', () => h2Scenario({
  serverOptions: { paddingStrategy: http2.constants.PADDING_STRATEGY_MAX },
  clientOptions: { paddingStrategy: http2.constants.PADDING_STRATEGY_MAX },
  handler: (stream) => {
    stream.respond({ [STATUS]: 200, [CONTENT_TYPE]: 'text/plain' }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'x-checksum': 'abc123' }));
    stream.end('padded\n');
  },
  client: async (s) => {
    await new Promise((resolve) => s.once('connect', resolve));  // a PING before it is not sent
    await new Promise((resolve) => s.ping(Buffer.from('hodos!!!'), resolve));
    await request(s, { ':method': 'GET', ':path': '/padded' }, undefined,
      { weight: 42, exclusive: false });
  },
}));

scenario('h2c_push_promise', 'GET /page answered 200 (11-byte body) after the server pushed ' +
    '/style.css (PUSH_PROMISE on stream 1, pushed response 200 with a 9-byte body on stream 2)',
    () => h2Scenario({
  handler: (stream, headers) => {
    if (headers[':path'] !== '/page') return;
    stream.pushStream({ ':path': '/style.css' }, (err, push) => {
      if (!err) {
        push.on('error', () => {});
        push.respond({ [STATUS]: 200, [CONTENT_TYPE]: 'text/css' });
        push.end('body { }\n');
      }
      stream.respond({ [STATUS]: 200, [CONTENT_TYPE]: 'text/html' });
      stream.end('<html></html>'.slice(0, 11));
    });
  },
  client: async (s) => {
    const pushed = new Promise((resolve) => {
      s.on('stream', (push) => {
        push.on('data', () => {});
        push.on('end', resolve);
        push.on('error', resolve);
      });
    });
    await request(s, { ':method': 'GET', ':path': '/page' });
    await Promise.race([pushed, sleep(500)]);
  },
}));

// --- gRPC (grpc-js) ---------------------------------------------------------------------------

const kProto = `syntax = "proto3";
package hodos.test;
message Item { string name = 1; int32 count = 2; }
service Inventory {
  rpc GetItem (Item) returns (Item);
  rpc ListItems (Item) returns (stream Item);
  rpc AddItems (stream Item) returns (Item);
  rpc Exchange (stream Item) returns (stream Item);
}
`;

function loadInventory() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hodos-h2-'));
  const file = path.join(dir, 'inventory.proto');
  fs.writeFileSync(file, kProto);
  const def = protoLoader.loadSync(file, { keepCase: true });
  return grpc.loadPackageDefinition(def).hodos.test.Inventory;
}

const Inventory = loadInventory();
const kItem = { name: 'widget', count: 3 };

const inventoryService = {
  GetItem(call, callback) {
    const name = call.request.name;
    if (name === 'missing') {
      // Headers first, then trailers with the status: not a Trailers-Only response.
      call.sendMetadata(new grpc.Metadata());
      setTimeout(() => callback({ code: grpc.status.NOT_FOUND, details: 'item missing not found' }), 5);
      return;
    }
    if (name === 'slow') { setTimeout(() => callback(null, kItem), 300); return; }
    callback(null, { name, count: 7 });
  },
  ListItems(call) {
    for (let i = 0; i < 3; ++i) call.write({ name: `item-${i}`, count: i });
    call.end();
  },
  AddItems(call, callback) {
    let count = 0;
    call.on('data', (item) => { count += item.count; });
    call.on('end', () => callback(null, { name: 'total', count }));
  },
  Exchange(call) {
    call.on('data', (item) => call.write({ name: `echo-${item.name}`, count: item.count }));
    call.on('end', () => call.end());
  },
};

async function grpcScenario(client) {
  const server = new grpc.Server();
  server.addService(Inventory.service, inventoryService);
  const port = await new Promise((resolve, reject) => server.bindAsync('127.0.0.1:0',
    grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  const relay = await startRelay(port);
  const stub = new Inventory(`127.0.0.1:${relay.port}`, grpc.credentials.createInsecure());
  await client(stub);
  stub.close();
  await relay.close();
  await new Promise((resolve) => server.tryShutdown(resolve));
  return relay.chunks;
}

const unary = (stub, item, options = {}) => new Promise((resolve) =>
  stub.GetItem(item, new grpc.Metadata(), options, (err, reply) => resolve({ err, reply })));

scenario('grpc_unary_ok', 'grpc-js unary /hodos.test.Inventory/GetItem with a 5 s deadline ' +
    '(grpc-timeout) and a traceparent, answered OK (grpc-status 0 in trailers)', () =>
  grpcScenario(async (stub) => {
    const md = new grpc.Metadata();
    md.set('traceparent', kCommonRequest.traceparent);
    await new Promise((resolve) => stub.GetItem(kItem, md, { deadline: Date.now() + 5000 },
      resolve));
  }));

scenario('grpc_not_found', 'grpc-js unary GetItem answered with response headers, then ' +
    'trailers grpc-status 5 (NOT_FOUND) and a grpc-message', () =>
  grpcScenario((stub) => unary(stub, { name: 'missing' })));

scenario('grpc_server_streaming', 'grpc-js ListItems: one request message, three response ' +
    'messages, grpc-status 0', () => grpcScenario((stub) => new Promise((resolve) => {
  const call = stub.ListItems(kItem);
  call.on('data', () => {});
  call.on('end', resolve);
  call.on('error', resolve);
})));

scenario('grpc_client_streaming', 'grpc-js AddItems: three request messages, one response, ' +
    'grpc-status 0', () => grpcScenario((stub) => new Promise((resolve) => {
  const call = stub.AddItems((err, reply) => resolve({ err, reply }));
  for (let i = 1; i <= 3; ++i) call.write({ name: `add-${i}`, count: i });
  call.end();
})));

scenario('grpc_trailers_only', 'grpc-js calls /hodos.test.Inventory/Missing, which the server ' +
    'does not implement: a Trailers-Only response (one HEADERS with :status 200, grpc-status 12 ' +
    'UNIMPLEMENTED and END_STREAM)', () => grpcScenario((stub) => new Promise((resolve) => {
  const client = new grpc.Client(stub.getChannel().getTarget(), grpc.credentials.createInsecure(),
    { channelOverride: stub.getChannel() });
  client.makeUnaryRequest('/hodos.test.Inventory/Missing', (x) => x, (x) => x,
    Buffer.from([0x0a, 0x01, 0x61]), (err) => resolve(err));
})));

scenario('grpc_deadline', 'grpc-js unary GetItem with a 100 ms deadline the server misses: ' +
    'the client resets the stream (RST_STREAM CANCEL) and reports DEADLINE_EXCEEDED; then a ' +
    'bidi-streaming Exchange with two messages each way', () =>
  grpcScenario(async (stub) => {
    await unary(stub, { name: 'slow' }, { deadline: Date.now() + 100 });
    await new Promise((resolve) => {
      const call = stub.Exchange();
      call.on('data', () => {});
      call.on('end', resolve);
      call.on('error', resolve);
      call.write({ name: 'a', count: 1 });
      call.write({ name: 'b', count: 2 });
      call.end();
    });
  }));

// --- gRPC (grpc-go through go_peer/) ------------------------------------------------------------

function goAvailable() {
  try {
    execFileSync('go', ['version'], { stdio: 'ignore' });
    return fs.existsSync('/usr/share/gocode/src/google.golang.org/grpc');
  } catch {
    return false;
  }
}

let goBinary = null;
function buildGoPeer() {
  if (goBinary) return goBinary;
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'hodos-h2-go-')), 'go_peer');
  execFileSync('go', ['build', '-o', out, path.join(here, 'go_peer', 'main.go')], {
    env: { ...process.env, GOPATH: '/usr/share/gocode', GO111MODULE: 'off', GOFLAGS: '-mod=mod',
      GOCACHE: path.join(os.tmpdir(), 'hodos-go-cache') },
    stdio: 'inherit',
  });
  goBinary = out;
  return out;
}

// Starts the Go gRPC server; resolves with its port and a stop function.
async function startGoServer() {
  const child = spawn(buildGoPeer(), ['serve'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise((resolve, reject) => {
    child.stdout.once('data', (d) => resolve(Number(String(d).trim())));
    child.once('exit', (code) => reject(new Error(`go_peer serve exited ${code}`)));
  });
  return { port, stop: () => child.kill() };
}

// Asynchronous: the relay and the server run in this process's event loop.
function runGoClient(port, what) {
  const child = spawn(buildGoPeer(), ['call', `127.0.0.1:${port}`, what], { stdio: 'inherit' });
  return new Promise((resolve, reject) => child.once('exit', (code) =>
    (code === 0 ? resolve() : reject(new Error(`go_peer call exited ${code}`)))));
}

if (goAvailable()) {
  scenario('grpc_go_server', 'grpc-js client against a grpc-go 1.33 server: unary GetItem OK, ' +
      'then GetItem "missing" (grpc-status 5 NOT_FOUND, Trailers-Only from grpc-go), then ' +
      'ListItems with three response messages', async () => {
    const go = await startGoServer();
    const relay = await startRelay(go.port);
    const stub = new Inventory(`127.0.0.1:${relay.port}`, grpc.credentials.createInsecure());
    await unary(stub, kItem);
    await unary(stub, { name: 'missing' });
    await new Promise((resolve) => {
      const call = stub.ListItems(kItem);
      call.on('data', () => {});
      call.on('end', resolve);
      call.on('error', resolve);
    });
    stub.close();
    await relay.close();
    go.stop();
    return relay.chunks;
  });

  scenario('grpc_go_client', 'grpc-go 1.33 client against the grpc-js server: unary GetItem ' +
      'OK and AddItems with three request messages (client streaming)', async () => {
    const server = new grpc.Server();
    server.addService(Inventory.service, inventoryService);
    const port = await new Promise((resolve, reject) => server.bindAsync('127.0.0.1:0',
      grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
    const relay = await startRelay(port);
    await runGoClient(relay.port, 'unary+client-stream');
    await relay.close();
    await new Promise((resolve) => server.tryShutdown(resolve));
    return relay.chunks;
  });
} else {
  console.error('capture_fixtures: go or golang-google-grpc-dev missing, no grpc-go captures');
}

// --- the header -------------------------------------------------------------------------------

// Bytes as a C++ string literal: printable ASCII as is, the rest as 3-digit octal escapes
// (which, unlike \x, never swallow a following digit).
function literal(buf) {
  let out = '';
  for (const b of buf) {
    if (b === 0x22) out += '\\"';
    else if (b === 0x5c) out += '\\\\';
    else if (b === 0x3f) out += '\\?';  // no trigraphs
    else if (b >= 0x20 && b < 0x7f) out += String.fromCharCode(b);
    else out += '\\' + b.toString(8).padStart(3, '0');
  }
  return out;
}

function segmentLines(chunks) {
  const lines = [];
  for (const { fromClient, bytes } of chunks) {
    const parts = [];
    for (let i = 0; i < bytes.length; i += 60) parts.push(bytes.subarray(i, i + 60));
    const text = parts.map((p) => `"${literal(p)}"`).join('\n             ');
    lines.push(`          {${fromClient ? 'kClient' : 'kServer'}, ${text}sv},`);
  }
  return lines.join('\n');
}

// With --frames: the frames of each direction, to check what a scenario produced.
const kFrameTypes = ['DATA', 'HEADERS', 'PRIORITY', 'RST_STREAM', 'SETTINGS', 'PUSH_PROMISE',
  'PING', 'GOAWAY', 'WINDOW_UPDATE', 'CONTINUATION'];
function listFrames(chunks, fromClient) {
  let bytes = Buffer.concat(chunks.filter((c) => c.fromClient === fromClient).map((c) => c.bytes));
  const out = [];
  if (fromClient) bytes = bytes.subarray(24);  // the preface
  while (bytes.length >= 9) {
    const length = bytes.readUIntBE(0, 3);
    const type = kFrameTypes[bytes[3]] ?? `type${bytes[3]}`;
    const flags = bytes[4].toString(16);
    const stream = bytes.readUInt32BE(5) & 0x7fffffff;
    let extra = '';
    if (type === 'SETTINGS') {
      for (let i = 9; i + 6 <= 9 + length; i += 6) extra += ` ${bytes.readUInt16BE(i)}=${bytes.readUInt32BE(i + 2)}`;
    }
    if (type === 'RST_STREAM' || type === 'GOAWAY') extra = ` code=${bytes.readUInt32BE(9 + length - 4)}`;
    out.push(`${type}(s${stream},f${flags},${length}${extra})`);
    bytes = bytes.subarray(9 + length);
  }
  return out.join(' ');
}

const results = [];
for (const s of scenarios) {
  const chunks = await s.run();
  if (process.argv.includes('--frames')) {
    console.error(`${s.name}\n  client: ${listFrames(chunks, true)}\n  server: ${listFrames(chunks, false)}`);
  }
  const c2s = chunks.filter((c) => c.fromClient).reduce((n, c) => n + c.bytes.length, 0);
  const s2c = chunks.filter((c) => !c.fromClient).reduce((n, c) => n + c.bytes.length, 0);
  console.error(`${s.name}: ${chunks.length} chunks, ${c2s} bytes from the client, ${s2c} back`);
  results.push({ ...s, chunks });
}

const header = `// Generated by capture_fixtures.mjs (node ${process.version}, @grpc/grpc-js ${
  require('@grpc/grpc-js/package.json').version}); do not edit, re-run the script.
// Real HTTP/2 and gRPC conversations between real clients and servers, recorded by a TCP relay:
// each segment is one read of one direction, in the order the relay saw them.
#pragma once

#include <string_view>
#include <vector>

namespace hodos::protocols::http2::testing {

using namespace std::string_view_literals;

enum Sender : bool { kServer = false, kClient = true };

struct Segment {
  Sender sender;
  std::string_view bytes;
};

struct Fixture {
  std::string_view name;
  std::string_view description;
  std::vector<Segment> segments;
};

inline const std::vector<Fixture>& captured_fixtures() {
  static const std::vector<Fixture> kFixtures = {
${results.map((r) => `      {"${r.name}",
       "${literal(Buffer.from(r.description))}",
       {
${segmentLines(r.chunks)}
       }},`).join('\n')}
  };
  return kFixtures;
}

inline const Fixture& fixture(std::string_view name) {
  for (const Fixture& f : captured_fixtures()) {
    if (f.name == name) return f;
  }
  return captured_fixtures().front();  // tests check the name
}

}  // namespace hodos::protocols::http2::testing
`;
fs.writeFileSync(path.join(here, 'fixtures.h'), header);
console.error(`wrote ${path.join(here, 'fixtures.h')}`);
process.exit(0);
