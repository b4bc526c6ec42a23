// Restarting the agent while applications serve traffic: a steady load over keep-alive connections
// to a real python3 -m http.server goes on while `hodos up` is stopped (SIGTERM) and started again
// on the same data dir. Every request must succeed with its body intact, and the restarted agent
// must trace new requests on the connections opened before it started.
// Needs root (CI runs as root); skipped with the reason otherwise.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { makeTempDir, waitFor } from './lib/collector.mjs';
import { HodosUp } from './lib/hodos_up.mjs';
import {
  everyTraceText, needsRoot, request, spansOf, startServer, stopServer, tag, waitForSpans, waitUntilTraced,
} from './lib/servers.mjs';

const skip = needsRoot;
const SECRET = 'Bearer hodos-restart-secret-51d';
const QUERY = 'token=hodos-restart-query-c3a';
const SERVICE = 'agent-restart-load';
const CONNECTIONS = 4;

let tmp;
let up;
let server;
const bodies = [];  // what /items/N serves, per N

before(async () => {
  if (skip) return;
  tmp = makeTempDir('agent-restart');
  const www = path.join(tmp.dir, 'www');
  fs.mkdirSync(path.join(www, 'items'), { recursive: true });
  for (let i = 0; i < CONNECTIONS; ++i) {
    // One body larger than a capture (4 KiB) and a socket write, the others small.
    bodies.push(crypto.randomBytes(i === 0 ? 200 * 1024 : 1000 + i));
    fs.writeFileSync(path.join(www, 'items', String(i)), bodies[i]);
  }
  up = new HodosUp({ dir: tmp.dir, agent: true });
  await up.start();
  server = await startServer('python http.server', 'python3',
                             ['-u', '-m', 'http.server', '0', '--bind', '127.0.0.1', '--directory', www,
                              '--protocol', 'HTTP/1.1'],
                             { cwd: tmp.dir, env: { OTEL_SERVICE_NAME: SERVICE } });
  await waitUntilTraced(up, server.child.pid);
});

after(async () => {
  if (server) stopServer(server);
  if (up?.running) assert.equal((await up.stop()).code, 0, up.tail());
  tmp?.remove();
});

// CONNECTIONS loops, each sending GET /items/N one after the other over a shared keep-alive pool,
// a request every ~50 ms each: steady traffic, not a benchmark.
function startLoad() {
  // fifo: free sockets are reused in turn, so every connection keeps carrying requests (lifo, the
  // default, can leave one idle for seconds, and the test waits for spans on each).
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS, scheduling: 'fifo' });
  const load = { ok: 0, errors: [], localPorts: new Set(), stopped: false };
  const loop = async (i) => {
    while (!load.stopped) {
      try {
        const r = await request(server.port, `/items/${i}?${QUERY}`, { agent, headers: { authorization: SECRET } });
        if (r.status !== 200) load.errors.push(`/items/${i}: status ${r.status}`);
        else if (!r.body.equals(bodies[i])) load.errors.push(`/items/${i}: the body differs (${r.body.length} bytes)`);
        else ++load.ok;
        load.localPorts.add(r.localPort);
      } catch (e) {
        load.errors.push(`/items/${i}: ${e.message}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  const loops = Promise.all(Array.from({ length: CONNECTIONS }, (_, i) => loop(i)));
  load.stop = async () => {
    load.stopped = true;
    await loops;
    agent.destroy();
  };
  return load;
}

test('an agent restart breaks no request, and the connections opened before it are traced', { skip }, async () => {
  const load = startLoad();
  try {
    // Before: the agent traces the load.
    await waitFor('the load to open its connections', () => load.localPorts.size === CONNECTIONS && load.ok >= 40);
    const connections = new Set(load.localPorts);
    await waitForSpans(up, SERVICE, 'spans of the load before the restart', (spans) =>
      [...connections].every((port) => spans.some((s) => tag(s, 'network.peer.port') === port)));

    const okAtStop = load.ok;
    const stoppedAt = Date.now();
    const exit = await up.stop();
    assert.equal(exit.code, 0, up.tail());
    // The traffic goes on without the agent.
    await waitFor('requests while the agent is down', () => load.ok >= okAtStop + 40);
    assert.deepEqual(load.errors, [], 'requests failed while the agent stopped');

    const restartedAt = Date.now();
    await up.start();
    assert.match(up.stdout, /agent: +tracing \d+ process/, `the agent did not start again:\n${up.tail()}`);

    // After: requests on every connection opened before the agent started get their spans.
    const { spans } = await waitForSpans(up, SERVICE, 'spans of requests after the restart on every old connection',
      (after) => [...connections].every((port) => after.some((s) => tag(s, 'network.peer.port') === port)),
      { params: { start: restartedAt * 1000 } });
    for (const s of spans) {
      assert.equal(tag(s, 'span.kind'), 'server');
      assert.equal(s.operationName, 'GET /items/{id}');
      assert.match(tag(s, 'url.path'), /^\/items\/\d$/);
      assert.equal(tag(s, 'http.response.status_code'), 200);
      assert.equal(tag(s, 'server.port'), server.port);
      assert.equal(tag(s, 'network.peer.address'), '127.0.0.1');
    }
    // The spans stored before the stop are still there (same data dir).
    const { spans: kept } = await spansOf(up, SERVICE, { end: stoppedAt * 1000 });
    assert.ok(kept.length > 0, 'the spans from before the restart are gone');

    await load.stop();
    assert.deepEqual(load.errors, [], 'requests failed across the restart');
    assert.deepEqual([...load.localPorts].sort(), [...connections].sort(),
                     'the load opened new connections: the old ones were not kept alive across the restart');
    assert.ok(load.ok > okAtStop + 40);

    const { text } = await everyTraceText(up);
    for (const secret of [SECRET, 'hodos-restart-secret-51d', QUERY, 'hodos-restart-query-c3a']) {
      assert.ok(!text.includes(secret), `${secret} reached the API`);
    }
  } finally {
    await load.stop();
  }
});
