// Runs `hodos up` for the end-to-end tests: free ports, a temp data dir, readiness from the
// "ready" line and GET /api/health, stop by signal (or kill -9) with the exit checked, and a small
// client for the query API.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { HODOS_BIN, waitFor } from './collector.mjs';

const live = new Set();
process.on('exit', () => {
  for (const u of live) u.child?.kill('SIGKILL');
});

export class HodosUp {
  // `dir` holds the log (and the data dir unless `dataDir` is given). `httpHost` is where the API
  // listens (0.0.0.0 to exercise auth); the API is always reached through 127.0.0.1.
  // `agent` runs the eBPF agent (off by default: it needs root, and pipeline tests must not trace the host).
  constructor({ name = 'up', dir, dataDir, httpHost = '127.0.0.1', args = [], env = {}, agent = false }) {
    this.name = name;
    this.dir = dir;
    this.dataDir = dataDir ?? path.join(dir, `${name}-data`);
    this.httpHost = httpHost;
    this.args = args;
    this.env = env;
    this.agent = agent;
    this.logPath = path.join(dir, `${name}.log`);
    this.child = null;
    this.output = '';
    this.stdout = '';
    this.exit = null;
    this.ports = null;
  }

  tail(lines = 30) {
    return this.output.split('\n').slice(-lines - 1).join('\n');
  }

  get running() {
    return this.child !== null && this.exit === null;
  }

  get apiUrl() {
    return `http://127.0.0.1:${this.ports.http}`;
  }

  // The flags for the current ports and data dir, as `hodos up` takes them.
  flags() {
    return [
      '--data-dir', this.dataDir,
      '--http', `${this.httpHost}:${this.ports.http}`,
      '--otlp-grpc', `127.0.0.1:${this.ports.grpc}`,
      '--otlp-http', `127.0.0.1:${this.ports.otlpHttp}`,
    ];
  }

  // Spawns without waiting; without `ports`, the previous ones (a restart on the same addresses).
  spawn({ ports } = {}) {
    if (this.running) throw new Error(`${this.name} already running`);
    if (!fs.existsSync(HODOS_BIN)) {
      throw new Error(`${HODOS_BIN} does not exist: build it, or point HODOS_BIN at the hodos binary`);
    }
    if (ports) this.ports = ports;
    const args = ['up', ...this.flags(), ...(this.agent ? [] : ['--no-agent']), ...this.args];
    const header = `\n===== ${HODOS_BIN} ${args.join(' ')}\n`;
    this.output += header;
    this.stdout = '';
    fs.appendFileSync(this.logPath, header);
    this.exit = null;
    const child = spawn(HODOS_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...this.env } });
    this.child = child;
    live.add(this);
    child.stdout.on('data', (d) => {
      this.stdout += d.toString();
      this.output += d.toString();
      fs.appendFileSync(this.logPath, d);
    });
    child.stderr.on('data', (d) => {
      this.output += d.toString();
      fs.appendFileSync(this.logPath, d);
    });
    this.exited = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        this.exit = { code, signal };
        live.delete(this);
        resolve(this.exit);
      });
      child.on('error', (e) => {
        this.output += `cannot run ${HODOS_BIN}: ${e.message}\n`;
        this.exit = { code: null, signal: null, error: e.message };
        live.delete(this);
        resolve(this.exit);
      });
    });
    return this;
  }

  // Starts on `ports` (port 0: any free port; the default) and resolves once the ready lines
  // are printed and /api/health answers 200; `this.ports` then holds the bound ports, read from
  // the ready lines.
  async start({ ports = { http: 0, grpc: 0, otlpHttp: 0 }, timeoutMs = 20000 } = {}) {
    this.spawn({ ports });
    await waitFor(`${this.name} to be ready`, async () => {
      if (this.exit) {
        throw Object.assign(new Error(`${this.name} exited during start-up: ${JSON.stringify(this.exit)}\n` +
                                      this.tail()), { fatal: true });
      }
      const ready = /hodos up: ready\n {2}UI\/API: +http:\/\/\S+:(\d+) .*\n {2}OTLP gRPC: +\S+:(\d+)\n {2}OTLP HTTP: +http:\/\/\S+:(\d+)\/v1\/traces\n/
        .exec(this.stdout);
      if (!ready) return false;
      this.ports = { http: Number(ready[1]), grpc: Number(ready[2]), otlpHttp: Number(ready[3]) };
      const r = await fetch(`${this.apiUrl}/api/health`);
      await r.arrayBuffer();
      return r.status === 200;
    }, { timeoutMs, intervalMs: 20, describe: () => this.tail() });
    return this;
  }

  // The bearer token printed at start (generated or given), if any.
  printedToken() {
    const m = /auth:\s+bearer token (\S+)/.exec(this.stdout);
    return m ? m[1] : undefined;
  }

  async stop(signal = 'SIGTERM', { timeoutMs = 30000 } = {}) {
    if (!this.child) return this.exit;
    if (this.exit === null) this.child.kill(signal);
    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${this.name} did not exit within ${timeoutMs} ms after ` +
                                                `${signal}\n${this.tail()}`)), timeoutMs);
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } catch (e) {
      this.child.kill('SIGKILL');
      await this.exited;
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  kill9() {
    return this.stop('SIGKILL');
  }

  // GET on the API: {status, headers, text, body (parsed JSON or undefined)}.
  async get(pathAndQuery, { token, headers = {} } = {}) {
    const h = { ...headers };
    if (token) h.authorization = `Bearer ${token}`;
    const r = await fetch(`${this.apiUrl}${pathAndQuery}`, { headers: h });
    const text = await r.text();
    let body;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    return { status: r.status, headers: r.headers, text, body };
  }

  // GET that must answer 200 with JSON; returns the body.
  async json(pathAndQuery, opts) {
    const r = await this.get(pathAndQuery, opts);
    if (r.status !== 200 || r.body === undefined) {
      throw new Error(`GET ${pathAndQuery} answered ${r.status}: ${r.text.slice(0, 500)}`);
    }
    return r.body;
  }
}

// Query string from an object or a list of [key, value] pairs (repeated keys allowed).
export function query(params) {
  const pairs = Array.isArray(params) ? params : Object.entries(params);
  const sp = new URLSearchParams();
  for (const [k, v] of pairs) if (v !== undefined) sp.append(k, String(v));
  const s = sp.toString();
  return s ? `?${s}` : '';
}

// The injector is host-wide: injector unit tests (tests/unit/agent/injector_test.cc) take turns
// through this lock, and so do the tests that need injection on, when run by hand next to them
// (ctest serialises all of them through RESOURCE_LOCK).
export const INJECTOR_LOCK = '/tmp/hodos-injector-test.lock';

// Starts a `hodos up` with the agent whose traceparent injection is on: takes INJECTOR_LOCK (held
// by a child `flock` until `lock.kill()`, or until this process dies), then starts again while
// another Hodos agent (one that takes no lock) injects and this one stands down. Returns
// { up, lock }.
export async function startInjectingUp({ dir, name = 'up', ...options }) {
  const lock = spawn('flock', [INJECTOR_LOCK, '-c', 'echo locked && exec cat'], { stdio: ['pipe', 'pipe', 'inherit'] });
  let locked = false;
  lock.stdout.on('data', () => { locked = true; });
  await waitFor(`the injector lock ${INJECTOR_LOCK} (held by: fuser -v ${INJECTOR_LOCK})`, () => locked,
                { timeoutMs: 120000, intervalMs: 200 });
  let up;
  let attempt = 0;
  await waitFor('a `hodos up` whose agent injects (another Hodos agent injecting stops it)', async () => {
    if (up?.running) await up.stop();
    up = new HodosUp({ ...options, name: `${name}-${attempt++}`, dir, agent: true });
    await up.start();
    if (!/agent: +tracing \d+ process/.test(up.stdout)) {
      throw Object.assign(new Error(`the agent did not start:\n${up.tail()}`), { fatal: true });
    }
    return /traceparent injection on/.test(up.stdout);
  }, { timeoutMs: 90000, intervalMs: 2000, describe: () => up?.stdout });
  return { up, lock };
}
