// Real servers for the agent's end-to-end tests (python, Flask, Node, Java, nginx, Go): start and
// stop them, wait for the agent to trace them, read their spans back from the query API, and a few
// raw HTTP clients whose bytes the tests control.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';

import { REPO_ROOT } from './deps.mjs';
import { waitFor } from './collector.mjs';
import { query } from './hodos_up.mjs';

export const execFileP = promisify(execFile);
export const APPS = path.join(REPO_ROOT, 'tests', 'e2e', 'apps');
export const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
export const needsRoot = isRoot ? false : 'the eBPF agent needs root (CAP_BPF, CAP_PERFMON): run as root, as CI does';

// Every server started here is killed when the test process exits, even on a crash.
const live = new Set();
process.on('exit', () => {
  for (const s of live) s.child.kill('SIGKILL');
});

// Starts `command args` in `cwd` and resolves once it printed "port N" (or, with `port`, once that
// port accepts connections: for servers that print nothing, such as nginx).
// `ready`: a pattern of its output that says it is serving, for a server without a TCP port.
export async function startServer(name, command, args, { cwd, env = {}, port, ready } = {}) {
  const child = spawn(command, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const server = { name, child, output: '', port: port ?? 0 };
  live.add(server);
  child.on('exit', () => live.delete(server));
  child.on('error', (e) => { server.output += `cannot run ${command}: ${e.message}\n`; });
  child.stdout.on('data', (d) => { server.output += d; });
  child.stderr.on('data', (d) => { server.output += d; });
  await waitFor(`${name} to listen`, async () => {
    if (child.exitCode !== null || child.pid === undefined) {
      throw Object.assign(new Error(`${name} exited: ${server.output}`), { fatal: true });
    }
    if (port) return accepts(port);
    if (ready) return ready.test(server.output);
    const m = /port (\d+)/.exec(server.output);
    if (m) server.port = Number(m[1]);
    return server.port !== 0;
  }, { intervalMs: 20, describe: () => server.output });
  return server;
}

export function stopServer(server) {
  server.child.kill('SIGKILL');
}

function accepts(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
    s.on('error', () => resolve(false));
  });
}

// A Prometheus series from `up`'s /metrics, written as on the page (`name` or
// `name{label="value"}`); 0 when absent.
export async function metric(up, name) {
  const r = await fetch(`${up.apiUrl}/metrics`);
  const text = await r.text();
  const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const m = new RegExp(`^${escaped} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

// Returns once the agent lists every one of `pids` as traced (GET /api/v1/sources). The kernel
// traces a server from its first listen(); this waits for discovery to have read who it is (its
// service name), which the spans would otherwise wait for. The full /proc rescan is rare (30 s):
// nothing here waits for it.
export async function waitUntilTraced(up, ...pids) {
  let last;
  await waitFor(`the agent to trace pid ${pids.join(', ')}`, async () => {
    last = await up.json('/api/v1/sources');
    return pids.every((pid) => last.sources.some((s) => s.pid === pid && s.traced));
  }, { intervalMs: 50, describe: () => JSON.stringify(last?.sources?.map((s) => [s.pid, s.service, s.traced, s.why_not])) });
}

export function tag(span, key) {
  return span.tags.find((t) => t.key === key)?.value;
}

export function processTag(span, key) {
  return span.process.tags.find((t) => t.key === key)?.value;
}

// The spans of `service` (each with its `process`) and the raw JSON they came in; `params` adds to
// the query (e.g. `start`/`end` in microseconds).
export async function spansOf(up, service, params = {}) {
  const r = await up.get(`/api/traces${query({ service, limit: 1000, lookback: '1h', ...params })}`);
  if (r.status !== 200) throw new Error(`GET /api/traces answered ${r.status}: ${r.text.slice(0, 300)}`);
  const spans = r.body.data.flatMap((t) => t.spans.map((s) => ({ ...s, process: t.processes[s.processID] })));
  return { spans, text: r.text };
}

// Polls the API until `check(spans, text)` holds for `service`; the last spans seen (name, kind,
// status, parent) and the agent's non-zero counters are in the error message, to tell what the
// agent did see and what it lost.
export async function waitForSpans(up, service, what, check, { timeoutMs = 15000, params } = {}) {
  let last = [];
  return waitFor(`${service}: ${what}`, async () => {
    const got = await spansOf(up, service, params);
    last = got.spans;
    return check(got.spans, got.text) ? got : false;
  }, { timeoutMs, intervalMs: 200, describe: async () => `${describeSpans(last)}\n${await agentCounters(up)}` });
}

async function agentCounters(up) {
  try {
    const text = await (await fetch(`${up.apiUrl}/metrics`)).text();
    return text.split('\n').filter((l) => l.startsWith('hodos_agent_') && !/ 0$/.test(l)).join('\n');
  } catch (e) {
    return `(no /metrics: ${e.message})`;
  }
}

export function describeSpans(spans) {
  if (spans.length === 0) return '(no spans)';
  return spans.map((s) => {
    const parent = s.references.map((r) => r.spanID).join(',') || '-';
    return `\n  ${tag(s, 'span.kind')} ${s.operationName} status=${tag(s, 'http.response.status_code')}` +
           ` path=${tag(s, 'url.path')} peer=${tag(s, 'network.peer.address')}:${tag(s, 'network.peer.port')}` +
           ` trace=${s.traceID} span=${s.spanID} parent=${parent}${tag(s, 'error') ? ' ERROR' : ''}`;
  }).join('');
}

// The full JSON of every trace of every service the API knows.
export async function everyTraceText(up) {
  const services = (await up.json('/api/services')).data;
  let text = JSON.stringify(services);
  for (const service of services) text += (await spansOf(up, service)).text;
  return { services, text };
}

export function sha256(bytes) {
  return crypto.createHash('sha256').update(bytes).digest('hex');
}

// One HTTP request over `agent` (a keep-alive agent, or undefined for a new connection); resolves
// with the status, the headers, the body bytes, whether the socket was reused and its local port.
export function request(port, pathAndQuery, { method = 'GET', headers = {}, body, agent } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: pathAndQuery, method, headers, agent }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks),
                                    reused: req.reusedSocket, localPort: req.socket.localPort }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

// Writes `raw` (several requests at once: pipelining) on one new connection, half-closes it and
// resolves with every byte the server sent back until it closed.
export function rawExchange(port, raw) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    const s = net.connect(port, '127.0.0.1', () => s.end(raw));
    s.on('data', (c) => chunks.push(c));
    s.on('end', () => resolve({ bytes: Buffer.concat(chunks), localPort: s.localPort }));
    s.on('error', reject);
  });
}

// Builds tests/e2e/apps/go_server with the installed `go` into `outDir`; resolves with the binary's
// path, or with undefined and the reason when no Go toolchain is installed. `stripped`: without
// symbol table and DWARF (-ldflags='-s -w'), as release builds often are.
export async function buildGoServer(outDir, { stripped = false } = {}) {
  const bin = path.join(outDir, stripped ? 'go_server_stripped' : 'go_server');
  try {
    await execFileP('go', ['version']);
  } catch {
    return { reason: 'no `go` on PATH (scripts/setup.sh installs golang-go)' };
  }
  // Standard library only: no module proxy, caches in the test's temp dir.
  await execFileP('go', ['build', ...(stripped ? ['-ldflags=-s -w'] : []), '-o', bin, 'main.go'], {
    cwd: path.join(APPS, 'go_server'),
    env: { ...process.env, GO111MODULE: 'off', GOPROXY: 'off', GOPATH: path.join(outDir, 'gopath'),
           GOCACHE: path.join(outDir, 'gocache') },
  });
  return { bin };
}

// Fills in an nginx config template of tests/e2e/apps and returns the config's path.
export function nginxConfig(prefix, vars, template = 'nginx.conf') {
  let conf = fs.readFileSync(path.join(APPS, template), 'utf8');
  for (const [k, v] of Object.entries({ PREFIX: prefix, ...vars })) conf = conf.replaceAll(`@${k}@`, String(v));
  fs.mkdirSync(prefix, { recursive: true });
  const file = path.join(prefix, 'nginx.conf');
  fs.writeFileSync(file, conf);
  return file;
}

// A port nobody listens on, found without listening (a listen() would make the agent trace the
// test process).
export async function unusedPort() {
  const { stdout } = await execFileP('python3', ['-c', 'import socket; s = socket.socket(); ' +
                                                 's.bind(("127.0.0.1", 0)); print(s.getsockname()[1])']);
  return Number(stdout);
}

// The end of a test file with servers under one `hodos up` (and, when it took one, the injector
// lock): stops the servers, checks that `up` exits cleanly, removes the temp dir.
export async function tearDown({ servers, up, tmp, lock }) {
  for (const server of Object.values(servers)) stopServer(server);
  if (up?.running) {
    const exit = await up.stop();
    assert.equal(exit.code, 0, up.tail());
  }
  tmp?.remove();
  lock?.kill();
}

// Builds tests/e2e/apps/grpc_go (hodos.test.Chain over grpc-go) into `outDir` with the installed
// `go` and Debian's golang-google-grpc-dev, offline; resolves with { bin }, or { reason } when
// either is missing. The build cache is shared between runs (grpc-go takes ~30 s to compile cold).
export async function buildGrpcGo(outDir) {
  const gopath = '/usr/share/gocode';
  try {
    await execFileP('go', ['version']);
  } catch {
    return { reason: 'no `go` on PATH (scripts/setup.sh installs golang-go)' };
  }
  if (!fs.existsSync(path.join(gopath, 'src', 'google.golang.org', 'grpc'))) {
    return { reason: `no grpc-go in ${gopath} (scripts/setup.sh installs golang-google-grpc-dev)` };
  }
  const bin = path.join(outDir, 'grpc_go');
  // GOPATH mode on the distribution's sources: no module, no proxy, nothing downloaded.
  await execFileP('go', ['build', '-o', bin, '.'], {
    cwd: path.join(APPS, 'grpc_go'),
    env: { ...process.env, GO111MODULE: 'off', GOPROXY: 'off', GOFLAGS: '', GOPATH: gopath,
           GOCACHE: process.env.GOCACHE ?? path.join(process.env.TMPDIR ?? '/tmp', 'hodos-go-cache') },
  });
  return { bin };
}

// A certificate for localhost and 127.0.0.1 in `dir` (cert.pem, key.pem), made by the openssl
// command line tool.
export async function makeCertificate(dir) {
  const certFile = path.join(dir, 'cert.pem');
  const keyFile = path.join(dir, 'key.pem');
  await execFileP('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
                              '-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', '/CN=localhost',
                              '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1']);
  return { certFile, keyFile, pem: fs.readFileSync(certFile) };
}
