// Runs `hodos collector` for the end-to-end tests: generated config in a temp dir, free ports,
// readiness by polling /metrics, stop by signal with the exit checked, output kept for failures.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

import { REPO_ROOT } from './deps.mjs';

export const HODOS_BIN = path.resolve(process.env.HODOS_BIN ?? path.join(REPO_ROOT, 'build', 'hodos'));

// Every collector started by this process, so that a timeout can show what each one logged and
// a crashed test never leaves one behind.
const live = new Set();
process.on('exit', () => {
  for (const c of live) c.child?.kill('SIGKILL');
});

// A temp dir per test file; kept when HODOS_E2E_KEEP is set (to read configs and logs).
export function makeTempDir(prefix) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `hodos-e2e-${prefix}-`));
  return {
    dir,
    file: (name) => path.join(dir, name),
    remove() {
      if (!process.env.HODOS_E2E_KEEP) fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

// A port nobody listens on right now: bind port 0, read it, release it.
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export async function freePorts(n) {
  const ports = new Set();
  while (ports.size < n) ports.add(await freePort());
  return [...ports];
}

// Polls `check` until it returns a truthy value (returned) or the deadline passes. `describe`
// may return the last observed state for the error message.
export async function waitFor(what, check, { timeoutMs = 20000, intervalMs = 50, describe } = {}) {
  const deadline = Date.now() + timeoutMs;
  let lastError;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
      lastError = undefined;
    } catch (e) {
      if (e.fatal) throw e;
      lastError = e;
    }
    if (Date.now() > deadline) {
      let msg = `timed out after ${timeoutMs} ms waiting for ${what}`;
      if (describe) msg += `\nlast state: ${await describe()}`;
      if (lastError) msg += `\nlast error: ${lastError.stack ?? lastError}`;
      throw new Error(msg + collectorLogs());
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

// The tail of every live collector's output, appended to failure messages.
export function collectorLogs(lines = 30) {
  let out = '';
  for (const c of live) out += `\n--- ${c.name} (${c.dir}) ---\n${c.tail(lines)}`;
  return out;
}

// Config objects are written as YAML (the Collector's format); strings are double-quoted.
export function toYaml(value, indent = 0) {
  const pad = ' '.repeat(indent);
  const scalar = (v) => (typeof v === 'string' ? JSON.stringify(v) : String(v));
  const isScalar = (v) => v === null || typeof v !== 'object';
  if (Array.isArray(value)) {
    if (value.length === 0) return `${pad}[]\n`;
    let out = '';
    for (const item of value) {
      if (isScalar(item)) out += `${pad}- ${scalar(item)}\n`;
      else out += `${pad}-\n${toYaml(item, indent + 2)}`;
    }
    return out;
  }
  let out = '';
  for (const [k, v] of Object.entries(value)) {
    if (v === undefined) continue;
    if (isScalar(v)) out += `${pad}${k}: ${scalar(v)}\n`;
    else if (Array.isArray(v) && v.every(isScalar)) out += `${pad}${k}: [${v.map(scalar).join(', ')}]\n`;
    else if (!Array.isArray(v) && Object.keys(v).length === 0) out += `${pad}${k}: {}\n`;
    else out += `${pad}${k}:\n${toYaml(v, indent + 2)}`;
  }
  return out;
}

// Prometheus text → [{name, labels, value}].
export function parsePrometheus(text) {
  const samples = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    for (const lm of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[lm[1]] = lm[2];
    }
    samples.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return samples;
}

// Sum of the series of `name` whose labels include `labels`; undefined when there is none.
export function metricValue(samples, name, labels = {}) {
  let sum;
  for (const s of samples) {
    if (s.name !== name) continue;
    if (!Object.entries(labels).every(([k, v]) => s.labels[k] === v)) continue;
    sum = (sum ?? 0) + s.value;
  }
  return sum;
}

// Runs `hodos collector validate --config F` or `hodos collector --config F` to completion.
export function runHodos(args, { timeoutMs = 20000, env } = {}) {
  const r = spawnSync(HODOS_BIN, args, {
    encoding: 'utf8',
    timeout: timeoutMs,
    env: { ...process.env, ...env },
  });
  if (r.error) throw r.error;
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

// Follows a child process for its owner: `owner.child`, its output in `owner.output` and appended
// to `owner.logPath`, and `owner.exited`, resolving with `owner.exit` ({code, signal[, error]}).
export function superviseChild(owner, child, command) {
  owner.child = child;
  const onData = (d) => {
    owner.output += d.toString();
    fs.appendFileSync(owner.logPath, d);
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  owner.exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      owner.exit = { code, signal };
      resolve(owner.exit);
    });
    child.on('error', (e) => {
      owner.output += `cannot run ${command}: ${e.message}\n`;
      owner.exit = { code: null, signal: null, error: e.message };
      resolve(owner.exit);
    });
  });
}

export class Collector {
  // `config` is an object (written as YAML) or a YAML string; `metricsPort` is where its
  // service.telemetry.metrics address listens (used for readiness and /metrics).
  constructor({ name, dir, config, metricsPort, waitPorts = [], args = [], env = {} }) {
    this.name = name;
    this.dir = dir;
    this.metricsPort = metricsPort;
    this.waitPorts = waitPorts;
    this.args = args;
    this.env = env;
    this.configPath = path.join(dir, `${name}.yaml`);
    this.logPath = path.join(dir, `${name}.log`);
    fs.writeFileSync(this.configPath, typeof config === 'string' ? config : toYaml(config));
    this.child = null;
    this.output = '';
    this.exit = null;
    this.starts = 0;
  }

  tail(lines = 30) {
    return this.output.split('\n').slice(-lines - 1).join('\n');
  }

  get running() {
    return this.child !== null && this.exit === null;
  }

  // Spawns the collector and resolves once /metrics answers 200 and every waitPort accepts.
  async start({ timeoutMs = 20000 } = {}) {
    if (this.running) throw new Error(`${this.name} already running`);
    if (!fs.existsSync(HODOS_BIN)) {
      throw new Error(`${HODOS_BIN} does not exist: build it, or point HODOS_BIN at the hodos binary`);
    }
    this.starts += 1;
    this.exit = null;
    const header = `\n===== start #${this.starts}: ${HODOS_BIN} collector --config ${this.configPath}\n`;
    this.output += header;
    fs.appendFileSync(this.logPath, header);
    const child = spawn(HODOS_BIN, ['collector', '--config', this.configPath, ...this.args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...this.env },
    });
    live.add(this);
    superviseChild(this, child, HODOS_BIN);
    await waitFor(`${this.name} to be ready (GET /metrics on 127.0.0.1:${this.metricsPort})`, async () => {
      if (this.exit) {
        throw Object.assign(new Error(`${this.name} exited during start-up: ` +
                                      `${JSON.stringify(this.exit)}\n${this.tail()}`), { fatal: true });
      }
      const r = await fetch(`http://127.0.0.1:${this.metricsPort}/metrics`);
      await r.arrayBuffer();
      if (r.status !== 200) return false;
      for (const p of this.waitPorts) await tcpProbe(p);
      return true;
    }, { timeoutMs, intervalMs: 30 });
    return this;
  }

  // SIGTERM (or another signal) and wait for the exit; returns {code, signal}.
  async stop(signal = 'SIGTERM', { timeoutMs = 30000 } = {}) {
    if (!this.child) return this.exit;
    if (this.exit === null) this.child.kill(signal);
    const timer = new Promise((_, reject) => {
      const t = setTimeout(() => reject(new Error(`${this.name} did not exit within ${timeoutMs} ms ` +
                                                  `after ${signal}\n${this.tail()}`)), timeoutMs);
      t.unref();
    });
    try {
      return await Promise.race([this.exited, timer]);
    } catch (e) {
      this.child.kill('SIGKILL');
      await this.exited;
      throw e;
    } finally {
      live.delete(this);
    }
  }

  kill9() {
    return this.stop('SIGKILL');
  }

  async metrics() {
    const r = await fetch(`http://127.0.0.1:${this.metricsPort}/metrics`);
    const text = await r.text();
    if (r.status !== 200) throw new Error(`/metrics answered ${r.status}: ${text}`);
    return parsePrometheus(text);
  }

  async metric(name, labels = {}) {
    return metricValue(await this.metrics(), name, labels);
  }

  // Counters move after the work they count (a span can be in a file a moment before the
  // receiver counts it as accepted), so checks on /metrics wait for the value they expect.
  async waitMetric(name, labels, ok, { timeoutMs = 5000, expect } = {}) {
    let last;
    await waitFor(`${this.name}: ${name}${JSON.stringify(labels)} to be ${expect ?? `such that ${ok}`}`, async () => {
      last = await this.metric(name, labels);
      return ok(last);
    }, { timeoutMs, describe: () => `value ${last}` });
    return last;
  }
}

function tcpProbe(port) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve();
    });
    s.once('error', reject);
  });
}
