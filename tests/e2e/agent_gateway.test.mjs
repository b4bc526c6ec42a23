// `hodos agent --endpoint`: the agent alone, shipping spans over OTLP/gRPC to a gateway (here a
// `hodos collector` writing a file). A real `python3 -m http.server` is traced with no change to
// it, and its SERVER spans arrive at the gateway with the service's resource. Needs root.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';

import { Collector, HODOS_BIN, freePorts, makeTempDir, waitFor } from './lib/collector.mjs';
import { otlpReceiver, telemetry } from './lib/configs.mjs';
import { flattenSpans, readJsonLines } from './lib/otlp.mjs';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const skip = isRoot ? false : 'the eBPF agent needs root (CAP_BPF, CAP_PERFMON): run as root, as CI does';

function spawnLogged(cmd, args, opts) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  const proc = { child, output: '' };
  child.stdout.on('data', (d) => { proc.output += d; });
  child.stderr.on('data', (d) => { proc.output += d; });
  return proc;
}

function getStatus(port, path) {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    }).on('error', reject);
  });
}

describe('hodos agent → OTLP gateway', { skip }, () => {
  const tmp = makeTempDir('agent-gateway');
  const file = tmp.file('spans.jsonl');
  let gateway, agent, server, serverPort = 0;

  before(async () => {
    const [grpcPort, metricsPort, agentMetricsPort] = await freePorts(3);
    gateway = new Collector({
      name: 'gateway', dir: tmp.dir, metricsPort, waitPorts: [grpcPort],
      config: {
        receivers: { otlp: otlpReceiver({ grpcPort }) },
        exporters: { file: { path: file } },
        service: { telemetry: telemetry(metricsPort), pipelines: { traces: { receivers: ['otlp'], exporters: ['file'] } } },
      },
    });
    await gateway.start();
    fs.writeFileSync(tmp.file('hello.txt'), 'hello from the traced server\n');
    server = spawnLogged('python3', ['-u', '-m', 'http.server', '0', '--bind', '127.0.0.1'], { cwd: tmp.dir });
    await waitFor('python http.server to listen', () => {
      const m = /port (\d+)/.exec(server.output);
      if (m) serverPort = Number(m[1]);
      return serverPort !== 0;
    }, { intervalMs: 20, describe: () => server.output });
    agent = spawnLogged(HODOS_BIN, ['agent', '--endpoint', `http://127.0.0.1:${grpcPort}`,
      '--metrics', `127.0.0.1:${agentMetricsPort}`, '--log-level', 'warn']);
    await waitFor('hodos agent to be ready', () => {
      if (agent.child.exitCode !== null) {
        throw Object.assign(new Error(`hodos agent exited: ${agent.output}`), { fatal: true });
      }
      return agent.output.includes('hodos agent: ready');
    }, { describe: () => agent.output });
  });

  after(async () => {
    server?.child.kill('SIGTERM');
    if (agent && agent.child.exitCode === null) {
      const exited = new Promise((resolve) => agent.child.on('exit', (code, signal) => resolve({ code, signal })));
      agent.child.kill('SIGTERM');
      assert.deepEqual(await exited, { code: 0, signal: null }, `hodos agent exits 0 on SIGTERM\n${agent.output}`);
    }
    if (gateway) await gateway.stop();
    tmp.remove();
  });

  it('prints what it sends to and what it traces', () => {
    assert.match(agent.output, new RegExp(`sending: +OTLP/gRPC to http://127\\.0\\.0\\.1:\\d+`));
    assert.match(agent.output, /agent: +tracing \d+ process/);
  });

  it('SERVER spans of an untouched python http.server reach the gateway', async () => {
    // The server is traced from the agent's next /proc scan on: ask until its spans arrive.
    let spans = [];
    await waitFor('SERVER spans of GET /hello.txt at the gateway', async () => {
      assert.equal(await getStatus(serverPort, '/hello.txt?session=xyz'), 200);
      spans = flattenSpans(readJsonLines(file)).filter((s) => s.span.name === 'GET /hello.txt');
      return spans.length > 0;
    }, { timeoutMs: 30000, intervalMs: 200, describe: () => agent.output });
    const s = spans[0];
    assert.equal(s.span.kind, 2, 'SERVER');
    assert.equal(s.attributes['http.request.method']?.stringValue, 'GET');
    assert.equal(s.attributes['url.path']?.stringValue, '/hello.txt');
    assert.equal(String(s.attributes['http.response.status_code']?.intValue), '200');
    assert.equal(s.resource['service.name']?.stringValue, 'http.server');
    assert.equal(String(s.resource['process.pid']?.intValue), String(server.child.pid));
    assert.ok(!fs.readFileSync(file, 'utf8').includes('session=xyz'), 'no query string leaves the agent');
  });
});
