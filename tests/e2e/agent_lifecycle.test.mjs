// Which processes the agent traces, decided in the kernel: a server started after `hodos up` is
// ready is traced from its very first request (the process sends it to itself right after
// listen(), long before any /proc rescan), its spans carry the identity discovery reads for it, a
// process that serves one request and exits at once still has its span, and a process that is not
// to be traced (its own OpenTelemetry SDK exports its spans) leaves no span even though the kernel
// followed it until discovery decided. Needs root (CI runs as root); skipped with the reason
// otherwise.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { makeTempDir, waitFor } from './lib/collector.mjs';
import { HodosUp } from './lib/hodos_up.mjs';
import {
  everyTraceText, metric, needsRoot, processTag, request, spansOf, startServer, stopServer, tag, waitForSpans,
} from './lib/servers.mjs';

const skip = needsRoot;
let tmp;
let up;
let script;
const servers = [];

// Listens, then at once requests /first/1 from itself (before printing its port), then serves
// until killed; with "once", exits right after that first request.
const SERVER = `
import http.server, sys, threading, urllib.request
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    def do_GET(self):
        body = b'hello from ' + self.path.encode()
        self.send_response(200)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
port = server.server_address[1]
threading.Thread(target=server.serve_forever, daemon=True).start()
first = sys.argv[1]
with urllib.request.urlopen(f'http://127.0.0.1:{port}{first}') as r:
    assert r.read() == b'hello from ' + first.encode()
print(f'port {port}', flush=True)
if sys.argv[2:] == ['once']:
    server.shutdown()
    sys.exit(0)
threading.Event().wait()
`;

async function start(name, first, env, extra = []) {
  const s = await startServer(name, 'python3', ['-u', script, first, ...extra],
                              { cwd: tmp.dir, env });
  servers.push(s);
  return s;
}

before(async () => {
  if (skip) return;
  tmp = makeTempDir('agent-lifecycle');
  script = path.join(tmp.dir, 'self_request_server.py');
  fs.writeFileSync(script, SERVER);
  up = new HodosUp({ dir: tmp.dir, agent: true });
  await up.start();
});

after(async () => {
  for (const s of servers) stopServer(s);
  if (up?.running) assert.equal((await up.stop()).code, 0, up.tail());
  tmp?.remove();
});

test('a server started after the agent is traced from its first request', { skip }, async () => {
  const scansBefore = await metric(up, 'hodos_agent_discovery_scans_total');
  const server = await start('new server', '/first/1', { OTEL_SERVICE_NAME: 'lifecycle-new' });
  const { spans } = await waitForSpans(up, 'lifecycle-new', 'the SERVER span of the first request',
    (spans) => spans.some((s) => tag(s, 'span.kind') === 'server' && tag(s, 'url.path') === '/first/1'));
  const first = spans.find((s) => tag(s, 'span.kind') === 'server' && tag(s, 'url.path') === '/first/1');
  assert.equal(first.operationName, 'GET /first/{id}');
  assert.equal(tag(first, 'http.response.status_code'), 200);
  // The identity discovery read (not a fallback from the pid alone).
  assert.equal(processTag(first, 'process.pid'), server.child.pid);
  assert.equal(processTag(first, 'process.runtime.name'), 'cpython');
  // Its own client call to itself is there too, a child of nothing (it is not inside a request).
  assert.ok(spans.some((s) => tag(s, 'span.kind') === 'client' && tag(s, 'url.path') === '/first/1'));

  // The span did not wait for a rescan: at most the scans that ran meanwhile by the clock, and
  // the request itself came before any of them could (it was sent within ms of listen()).
  const r = await request(server.port, '/second/2');
  assert.equal(r.status, 200);
  await waitForSpans(up, 'lifecycle-new', 'the second request',
    (spans) => spans.some((s) => tag(s, 'url.path') === '/second/2'));
  assert.ok((await metric(up, 'hodos_agent_discovery_scans_total')) >= scansBefore);
});

test('a process that serves one request and exits at once keeps its span', { skip }, async () => {
  const server = await start('short-lived server', '/short/1', { OTEL_SERVICE_NAME: 'lifecycle-short' },
                             ['once']);
  await waitFor('the short-lived server to exit', () => server.child.exitCode !== null);
  assert.equal(server.child.exitCode, 0, server.output);
  // Discovery may have read it before it exited (its service name) or found it gone (the name the
  // kernel gave: python3); either way the span is there, with its pid.
  await waitFor('the short-lived server\'s span', async () => {
    for (const service of ['lifecycle-short', 'python3']) {
      const { spans } = await spansOf(up, service);
      const span = spans.find((s) => tag(s, 'span.kind') === 'server' && tag(s, 'url.path') === '/short/1');
      if (span) {
        assert.equal(processTag(span, 'process.pid'), server.child.pid);
        return true;
      }
    }
    return false;
  }, { timeoutMs: 15000, intervalMs: 200 });
});

test('a process with its own SDK is never traced, from its first request on', { skip }, async () => {
  const sdk = await start('server with an SDK', '/sdk/1', {
    OTEL_SERVICE_NAME: 'lifecycle-sdk',
    OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:1',
  });
  const r = await request(sdk.port, '/sdk/2');
  assert.equal(r.status, 200);
  // A traced server's request made after these is seen: everything before it was handled too.
  const witness = await start('witness', '/witness/1', { OTEL_SERVICE_NAME: 'lifecycle-witness' });
  assert.equal((await request(witness.port, '/witness/2')).status, 200);
  await waitForSpans(up, 'lifecycle-witness', 'the witness request',
    (spans) => spans.some((s) => tag(s, 'url.path') === '/witness/2'));
  const { services, text } = await everyTraceText(up);
  assert.ok(!services.includes('lifecycle-sdk'), `services: ${services.join(', ')}`);
  assert.ok(!text.includes('/sdk/'), 'no span of the SDK process under any name');
});
