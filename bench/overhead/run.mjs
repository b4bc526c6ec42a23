#!/usr/bin/env node
// Overhead benchmark (docs/BENCHMARKS.md, "Agent overhead"): the same 2-hop Node service
// (node/frontend.js -> node/backend.js over keep-alive HTTP/1.1) under load three ways, in one run:
//   none   no tracing;
//   hodos  the Hodos eBPF agent (`hodos agent`, shipping to the sink; needs root);
//   sdk    the OpenTelemetry JS SDK (--require @opentelemetry/auto-instrumentations-node/register)
//          exporting OTLP/HTTP to the same sink.
// The sink is a `hodos collector` (OTLP in, `debug` exporter out) running through the whole run, so
// export and storage are paid by a separate process and counted separately.
// It measures the uninstrumented capacity first, sets the fixed rate at <= 50% of it, then runs
// rounds with the configurations interleaved (the order rotates each round); each round is one
// closed-loop throughput run and one open-loop fixed-rate run of bench_overhead_loadgen. Prints
// medians with min/max per configuration, the issue's goal checks, and a Markdown summary.
//
// Suite "go" (not in the default list) does the same with a Go service: go/frontend and
// go/backend, plain net/http, built at the start into the run's temporary directory with Debian's
// Go in GOPATH mode (no module proxy); its sdk configuration is the same sources built with
// `-tags otel`, the OpenTelemetry Go SDK of Debian's golang-opentelemetry-otel-dev (see
// go/tracing). Under hodos the agent follows their goroutines (uprobes) and injects traceparent.
//
// Suite "tls-db": the Node service with a TLS hop and a database call.
// The frontend reads item:<id> from a Redis server (ioredis) and calls the backend over HTTPS
// (keep-alive, a test certificate): four spans per request, the TLS client span from Node's OpenSSL
// plaintext (uprobes) under hodos.
//
// Then (suite "chain") the injection chain: a Python thread-per-request frontend and backend, into
// whose calls Hodos inserts a traceparent, with every request body checksummed and every answer
// checked; the same interleaved rounds against Node hops with and without the JS SDK; and one
// counted run of HODOS_BENCH_REQUESTS requests (1,000,000) through Hodos's injection (see the
// chain section below and docs/BENCHMARKS.md).
//
// Environment: BUILD_DIR (default build), BENCH_OVERHEAD_ROUNDS (3), BENCH_OVERHEAD_SECONDS
// (measured seconds per run, 8), BENCH_OVERHEAD_WARMUP (2), BENCH_OVERHEAD_CONNECTIONS (throughput
// connections, 16), BENCH_OVERHEAD_RATE_CONNECTIONS (32), BENCH_OVERHEAD_RATE (fixed rate, default
// the lower of 1000 req/s and 50% of capacity), BENCH_OVERHEAD_CONFIGS (none,hodos,sdk),
// BENCH_OVERHEAD_BPF_STATS (1: kernel.bpf_stats_enabled=1 during hodos rounds),
// BENCH_OVERHEAD_AGENT_SOURCES (default: only the two services are sources when `hodos agent
// --config` exists; `all`: every listening process, the agent's default), BENCH_OVERHEAD_JSON
// (write every raw measurement there), BENCH_OVERHEAD_PROFILE_DIR (hodos rounds: record the agent
// with `perf record --call-graph dwarf` during the fixed-rate run, and save its smaps and per-thread
// CPU times at the end, into that directory), BENCH_OVERHEAD_SUITES (node,tls-db,chain: which
// parts run, of node, tls-db, go, chain; they run in that order), BENCH_OVERHEAD_GO_CACHE (the go suite's GOCACHE,
// default $TMPDIR/hodos-bench-gocache),
// BENCH_OVERHEAD_CHAIN_CONFIGS (py-none,py-hodos,node-none,node-sdk; node-hodos also exists),
// BENCH_OVERHEAD_CHAIN_ROUNDS (the rounds above), BENCH_OVERHEAD_CHAIN_RATE (default the lower of
// 1000 req/s and 50% of the Python chain's capacity), HODOS_BENCH_REQUESTS (requests of the counted
// run through injection, 1000000; 0 skips it), BENCH_OVERHEAD_INJECT_WAIT (seconds a py-hodos or
// go hodos measurement waits for another injector on the host to go, 120).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');
const nodeDir = path.join(here, 'node');
const env = process.env;
const buildDir = path.resolve(repo, env.BUILD_DIR || 'build');
const HODOS = path.join(buildDir, 'hodos');
const LOADGEN = path.join(buildDir, 'bench_overhead_loadgen');

const num = (v, d) => (v === undefined || v === '' ? d : Number(v));
const opts = {
  rounds: num(env.BENCH_OVERHEAD_ROUNDS, 3),
  seconds: num(env.BENCH_OVERHEAD_SECONDS, 8),
  warmup: num(env.BENCH_OVERHEAD_WARMUP, 2),
  connections: num(env.BENCH_OVERHEAD_CONNECTIONS, 16),
  rateConnections: num(env.BENCH_OVERHEAD_RATE_CONNECTIONS, 32),
  rate: env.BENCH_OVERHEAD_RATE ? Number(env.BENCH_OVERHEAD_RATE) : undefined,
  configs: (env.BENCH_OVERHEAD_CONFIGS || 'none,hodos,sdk').split(',').map((s) => s.trim()).filter(Boolean),
  bpfStats: env.BENCH_OVERHEAD_BPF_STATS !== '0',
  json: env.BENCH_OVERHEAD_JSON,
  agentAllSources: env.BENCH_OVERHEAD_AGENT_SOURCES === 'all',
  profileDir: env.BENCH_OVERHEAD_PROFILE_DIR,
  suites: (env.BENCH_OVERHEAD_SUITES || 'node,tls-db,chain').split(',').map((s) => s.trim()).filter(Boolean),
  goCache: env.BENCH_OVERHEAD_GO_CACHE || path.join(os.tmpdir(), 'hodos-bench-gocache'),
  chainConfigs: (env.BENCH_OVERHEAD_CHAIN_CONFIGS || 'py-none,py-hodos,node-none,node-sdk').split(',').map((s) => s.trim()).filter(Boolean),
  chainRounds: num(env.BENCH_OVERHEAD_CHAIN_ROUNDS, num(env.BENCH_OVERHEAD_ROUNDS, 3)),
  chainRate: env.BENCH_OVERHEAD_CHAIN_RATE ? Number(env.BENCH_OVERHEAD_CHAIN_RATE) : undefined,
  chainRequests: num(env.HODOS_BENCH_REQUESTS, 1000000),
  injectWait: num(env.BENCH_OVERHEAD_INJECT_WAIT, 120),
};

const log = (...a) => console.log(...a);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what, cond, { timeoutMs = 20000, intervalMs = 50, describe = () => '' } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${describe()}`);
    await sleep(intervalMs);
  }
}

async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function start(name, cmd, args, options = {}) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  const proc = { name, child, output: '', exited: null };
  const keep = (d) => { proc.output = (proc.output + d).slice(-20000); };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  proc.done = new Promise((resolve) => child.on('exit', (code, signal) => {
    proc.exited = { code, signal };
    resolve(proc.exited);
  }));
  return proc;
}

async function stop(proc) {
  if (!proc || proc.exited) return;
  proc.child.kill('SIGTERM');
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), 15000);
  await proc.done;
  clearTimeout(timer);
}

function get(port, urlPath) {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: urlPath, agent: false }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
    }).on('error', reject);
  });
}

// Sum of every sample of a Prometheus metric (all label sets).
function metricSum(text, name) {
  let sum = 0;
  let found = false;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (m && (m[1] === name || m[1] === `${name}_total`)) {
      sum += Number(m[3]);
      found = true;
    }
  }
  return found ? sum : undefined;
}

function statusCount(pid, tid, field) {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(fs.readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch { return undefined; }
}

function statusField(pid, field) {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch { return undefined; }
}

// RSS of the process's BPF map mappings (the ring buffer, whose data pages are mapped twice so a
// record can wrap around; the kernel counts them as file pages).
function bpfMapRssBytes(pid) {
  try {
    let kb = 0;
    let inMap = false;
    for (const line of fs.readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
      if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) inMap = line.includes('anon_inode:bpf-map');
      else if (inMap && line.startsWith('Rss:')) kb += Number(line.split(/\s+/)[1]);
    }
    return kb * 1024;
  } catch { return undefined; }
}

function runLoadgen(args) {
  return new Promise((resolve, reject) => {
    const p = start('loadgen', LOADGEN, args.map(String));
    p.done.then(({ code }) => {
      if (code !== 0) return reject(new Error(`loadgen exited ${code}: ${p.output}`));
      try { resolve(JSON.parse(p.output.trim().split('\n').pop())); } catch (e) { reject(new Error(`loadgen output: ${p.output}`)); }
    });
  });
}

// ---- the sink ------------------------------------------------------------------------------

async function startSink(dir) {
  const [grpcPort, httpPort, metricsPort] = [await freePort(), await freePort(), await freePort()];
  const config = {
    receivers: { otlp: { protocols: { grpc: { endpoint: `127.0.0.1:${grpcPort}` }, http: { endpoint: `127.0.0.1:${httpPort}` } } } },
    exporters: { debug: { verbosity: 'basic' } },
    service: {
      telemetry: { metrics: { address: `127.0.0.1:${metricsPort}` } },
      pipelines: { traces: { receivers: ['otlp'], exporters: ['debug'] } },
    },
  };
  const configPath = path.join(dir, 'sink.yaml');
  fs.writeFileSync(configPath, JSON.stringify(config, null, 2)); // JSON is YAML
  const proc = start('sink', HODOS, ['collector', '--config', configPath, '--log-level', 'warn']);
  const sink = { proc, grpcPort, httpPort, metricsPort };
  sink.accepted = async () => metricSum((await get(metricsPort, '/metrics')).body, 'otelcol_receiver_accepted_spans') ?? 0;
  await waitFor('the sink collector', async () => {
    if (proc.exited) throw new Error(`hodos collector exited: ${proc.output}`);
    try { return (await get(metricsPort, '/metrics')).status === 200; } catch { return false; }
  }, { describe: () => proc.output });
  return sink;
}

// ---- the services ---------------------------------------------------------------------------

function serviceEnv(extra) {
  // Nothing OTEL_* leaks in from the caller: it would change what the SDK does, or make Hodos
  // leave the process to an SDK it thinks is there.
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OTEL_')));
  return { ...clean, ...extra };
}

// Starts one service process and waits for the "listening N" it prints.
async function startListening(name, cmd, args, { cwd, env: extraEnv } = {}) {
  const proc = start(name, cmd, args, { cwd, env: serviceEnv(extraEnv) });
  await waitFor(`${name} to listen`, () => {
    if (proc.exited) throw new Error(`${name} exited: ${proc.output}`);
    const m = /listening (\d+)/.exec(proc.output);
    if (m) proc.port = Number(m[1]);
    return proc.port !== undefined;
  }, { describe: () => proc.output });
  return proc;
}

// The backend, then the frontend calling it (startOne(name, env)); with checkPath, one request
// through both that must answer 200.
async function startPair(startOne, checkPath) {
  const backend = await startOne('backend', {});
  const frontend = await startOne('frontend', { BACKEND_PORT: String(backend.port) }).catch(async (e) => {
    await stop(backend);
    throw e;
  });
  const svc = { frontend, backend, checked: Boolean(checkPath) };
  if (checkPath) {
    const r = await get(frontend.port, checkPath).catch((e) => ({ status: 0, body: e.message }));
    if (r.status !== 200) {
      await stop(frontend);
      await stop(backend);
      throw new Error(`frontend answered ${r.status}: ${r.body}`);
    }
  }
  return svc;
}

// What an SDK needs to export OTLP/HTTP to the sink.
const otlpEnv = (service, sink) => ({
  OTEL_SERVICE_NAME: service,
  OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${sink.httpPort}`,
});

// The Node service (node/): config sdk loads the OpenTelemetry JS SDK with --require. `env`: more
// environment for each service, by name (the tls-db suite's).
function startNodeServices(config, sink, env = {}) {
  const sdk = config === 'sdk';
  const nodeArgs = sdk ? ['--require', '@opentelemetry/auto-instrumentations-node/register'] : [];
  const otel = (service) => (!sdk ? {} : {
    ...otlpEnv(service, sink),
    OTEL_TRACES_EXPORTER: 'otlp',
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
    OTEL_METRICS_EXPORTER: 'none',
    OTEL_LOGS_EXPORTER: 'none',
    // The cloud detectors probe metadata endpoints that do not exist here.
    OTEL_NODE_RESOURCE_DETECTORS: 'env,host,os,process',
  });
  return startPair((name, extra) => startListening(name, process.execPath, [...nodeArgs, `${name}.js`],
    { cwd: nodeDir, env: { ...otel(name), ...env[name], ...extra } }), '/api/items/1');
}

// The tls-db suite's Redis (redis-server from Debian: no persistence, loopback only) and the
// backend's test certificate (openssl).
async function startRedis() {
  const port = await freePort();
  const proc = start('redis', 'redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '',
    '--appendonly', 'no', '--protected-mode', 'no']);
  await waitFor('redis-server to accept connections', () => {
    if (proc.exited) throw new Error(`redis-server exited: ${proc.output}`);
    return proc.output.includes('Ready to accept connections');
  }, { describe: () => proc.output });
  proc.port = port;
  return proc;
}

function makeCertificate(dir) {
  const cert = path.join(dir, 'backend.crt');
  const key = path.join(dir, 'backend.key');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert,
    '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  return { cert, key };
}

// The Go service (go/), built by buildGo: config sdk runs the binaries built with the SDK. No
// check request before the agent starts (hodos): it would leave the frontend a keep-alive
// connection whose opening the agent never saw, and the calls sent on it get no traceparent.
function startGoServices(bins, config, sink) {
  const sdk = config === 'sdk';
  return startPair((name, extra) => startListening(name, path.join(sdk ? bins.sdk : bins.plain, name), [],
    { env: { ...(sdk ? otlpEnv(name, sink) : {}), ...extra } }), config === 'hodos' ? undefined : '/api/items/1');
}

// Builds go/frontend and go/backend into dir twice: as they are (none, hodos) and with -tags otel
// (sdk, the OpenTelemetry Go SDK). GOPATH mode with Debian's Go packages (/usr/share/gocode) on
// the GOPATH: offline, no module proxy, no go.mod to resolve. Returns the two directories; sdk is
// undefined when that build cannot be made, and sdkWhy says why.
function buildGo(dir) {
  const gopath = path.join(dir, 'gopath');
  fs.mkdirSync(path.join(gopath, 'src'), { recursive: true });
  fs.symlinkSync(path.join(here, 'go'), path.join(gopath, 'src', 'hodosbench'));
  const goEnv = serviceEnv({
    GO111MODULE: 'off', GOPROXY: 'off', GOFLAGS: '', GOPATH: `${gopath}:/usr/share/gocode`, GOCACHE: opts.goCache,
  });
  const build = (tags, out) => {
    const r = spawnSync('go', ['build', ...(tags ? ['-tags', tags] : []), '-o', `${out}/`, 'hodosbench/frontend', 'hodosbench/backend'],
      { cwd: gopath, env: goEnv, encoding: 'utf8' });
    if (r.error) return r.error.code === 'ENOENT' ? 'go is not installed (make setup installs golang-go)' : r.error.message;
    return r.status === 0 ? undefined : `go build${tags ? ` -tags ${tags}` : ''} failed:\n${(r.stderr || r.stdout).trim()}`;
  };
  const t0 = Date.now();
  const bins = { plain: path.join(dir, 'go-plain'), sdk: path.join(dir, 'go-sdk') };
  const plainWhy = build('', bins.plain);
  if (plainWhy) throw new Error(`the Go services: ${plainWhy}`);
  const otelSdk = '/usr/share/gocode/src/go.opentelemetry.io/otel/sdk/trace';
  bins.sdkWhy = !fs.existsSync(otelSdk)
    ? `${otelSdk} is missing: Debian's golang-opentelemetry-otel-dev is not installed (make setup installs it)`
    : build('otel', bins.sdk);
  if (bins.sdkWhy) bins.sdk = undefined;
  let version = '';
  try { version = execFileSync('go', ['version'], { encoding: 'utf8', env: goEnv }).trim(); } catch { /* built: it is there */ }
  log(`go: built the services in ${((Date.now() - t0) / 1000).toFixed(1)} s (${version}; GOCACHE ${opts.goCache})`);
  return bins;
}

// The agent's event thread (ring buffer -> connection tracking -> HTTP parsing -> spans -> batch
// handed to the pipeline) is the one waiting in epoll_wait on the epoll fd that watches the BPF
// ring buffer; its other threads export, scan /proc and serve /metrics.
function findEventThread(pid) {
  const fdDir = `/proc/${pid}/fd`;
  const ringbufs = new Set();
  const epolls = new Map();
  for (const fd of fs.readdirSync(fdDir)) {
    let info;
    try { info = fs.readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'); } catch { continue; }
    if (/^map_type:\s+27$/m.test(info)) ringbufs.add(Number(fd)); // BPF_MAP_TYPE_RINGBUF
    const tfds = [...info.matchAll(/^tfd:\s+(\d+)/gm)].map((m) => Number(m[1]));
    if (tfds.length) epolls.set(Number(fd), tfds);
  }
  const ringEpolls = [...epolls].filter(([, tfds]) => tfds.some((t) => ringbufs.has(t))).map(([fd]) => fd);
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    let sc;
    try { sc = fs.readFileSync(`/proc/${pid}/task/${tid}/syscall`, 'utf8').trim().split(' '); } catch { continue; }
    // x86-64: epoll_wait 232, epoll_pwait 281, epoll_pwait2 441; aarch64: epoll_pwait 22.
    if (['232', '281', '441', '22'].includes(sc[0]) && ringEpolls.includes(parseInt(sc[1], 16))) return Number(tid);
  }
  return undefined;
}

function agentProgIds(pid) {
  const ids = new Set();
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^prog_id:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'));
      if (m) ids.add(Number(m[1]));
    } catch { /* closed meanwhile */ }
  }
  return [...ids];
}

// Whether this hodos has `agent --config` (source rules); without it the agent traces every
// listening process on the host.
let agentConfigSupport;
function agentHasConfig() {
  if (agentConfigSupport === undefined) {
    try {
      agentConfigSupport = /--config/.test(execFileSync(HODOS, ['agent', '--help'], { encoding: 'utf8' }));
    } catch { agentConfigSupport = false; }
  }
  return agentConfigSupport;
}

async function startAgent(sink, services, dir) {
  const metricsPort = await freePort();
  const args = ['agent', '--endpoint', `http://127.0.0.1:${sink.grpcPort}`,
    '--metrics', `127.0.0.1:${metricsPort}`, '--log-level', 'info'];
  if (!opts.agentAllSources && agentHasConfig()) {
    // Only the two services are sources: other servers on a shared machine would add their
    // traffic to the agent's cost. The hooks still run on every syscall of the host.
    const config = path.join(dir, 'agent.yaml');
    fs.writeFileSync(config, JSON.stringify({
      agent: { sources: { listening_processes: false, include: [{ ports: [services.frontend.port, services.backend.port] }] } },
    }));
    args.push('--config', config, '--state-dir', path.join(dir, 'agent-state'));
  }
  const proc = start('agent', HODOS, args);
  await waitFor('hodos agent to be ready', () => {
    if (proc.exited) throw new Error(`hodos agent exited: ${proc.output.trim()}`);
    return proc.output.includes('hodos agent: ready');
  }, { describe: () => proc.output });
  const traced = async () => metricSum((await get(metricsPort, '/metrics')).body, 'hodos_agent_traced_processes') ?? 0;
  await waitFor('the agent to trace the two services', async () => (await traced()) >= 2, { describe: () => proc.output });
  const eventTid = await waitFor('the agent event thread', () => findEventThread(proc.child.pid), { timeoutMs: 5000, intervalMs: 20 })
    .catch(() => undefined);
  return { proc, metricsPort, eventTid, progIds: agentProgIds(proc.child.pid), services };
}

// What the agent traces besides the two services (other servers on the host add to its work).
function tracedProcesses(agent) {
  const names = new Map();
  for (const m of agent.proc.output.matchAll(/tracing pid (\d+) \(([^)]*)\)/g)) names.set(Number(m[1]), m[2]);
  return [...names].map(([pid, name]) => ({ pid, name }));
}

// BPF run time of the agent's programs over `ms` with no load: what the rest of the host's syscalls
// cost while the programs are attached.
async function bpfIdle(progIds, ms) {
  const read = () => progIds.reduce((acc, id) => {
    try {
      const p = JSON.parse(execFileSync('bpftool', ['prog', 'show', 'id', String(id), '-j'], { encoding: 'utf8' }));
      return { ns: acc.ns + (p.run_time_ns ?? 0), cnt: acc.cnt + (p.run_cnt ?? 0) };
    } catch { return acc; }
  }, { ns: 0, cnt: 0 });
  const a = read();
  const t0 = process.hrtime.bigint();
  await sleep(ms);
  const b = read();
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  return { nsPerSecond: (b.ns - a.ns) / s, runsPerSecond: (b.cnt - a.cnt) / s };
}

function setBpfStats(on) {
  const file = '/proc/sys/kernel/bpf_stats_enabled';
  const before = fs.readFileSync(file, 'utf8').trim();
  fs.writeFileSync(file, on ? '1' : '0');
  return before === '1';
}

// ---- one round of one configuration --------------------------------------------------------

async function measure(suite, config, sink, rate, dir) {
  if (config === 'hodos' && suite.injects) await awaitOtherInjector();
  const spansBefore = await sink.accepted();
  const svc = await suite.start(config, sink);
  let agent;
  let statsWere;
  try {
    if (config === 'hodos') {
      agent = await startAgent(sink, svc, dir);
      await suite.agentReady?.(agent);
      if (opts.bpfStats) {
        statsWere = setBpfStats(true);
        agent.idle = await bpfIdle(agent.progIds, 2000);
      }
    }
    const appPids = [svc.frontend.child.pid, svc.backend.child.pid];
    const agentPid = agent?.proc.child.pid;
    const watch = [...appPids, sink.proc.child.pid, ...(agentPid ? [agentPid] : [])];
    const common = ['--port', svc.frontend.port, '--seconds', opts.seconds, '--warmup', opts.warmup,
      ...watch.flatMap((p) => ['--watch-pid', p]),
      ...(agentPid ? ['--watch-threads', agentPid] : []),
      ...(agent?.progIds ?? []).flatMap((id) => ['--bpf-prog-id', id])];
    const injBefore = agent && suite.injects ? await agentInjection(agent) : undefined;
    const thr = await runLoadgen(['--mode', 'throughput', '--connections', opts.connections, ...common]);
    const switches = () => (agent?.eventTid ? statusCount(agentPid, agent.eventTid, 'voluntary_ctxt_switches') : undefined);
    const switchesBefore = switches();
    const perf = agent && opts.profileDir ? startPerf(agentPid) : undefined;
    const fixed = await runLoadgen(['--mode', 'rate', '--rate', rate, '--connections', opts.rateConnections, ...common]);
    const switchesAfter = switches();
    if (perf) {
      perf.child.kill('SIGINT');
      await perf.done;
      saveAgentState(agentPid);
    }
    const result = { config, throughput: summarizeRun(thr, appPids, sink, agent), fixed: summarizeRun(fixed, appPids, sink, agent) };
    result.appHwmBytes = appPids.reduce((s, p) => s + (statusField(p, 'VmHWM') ?? 0), 0);
    if (agent) {
      result.agentRssBytes = statusField(agentPid, 'VmRSS');
      result.agentHwmBytes = statusField(agentPid, 'VmHWM');
      result.agentRssAnonBytes = statusField(agentPid, 'RssAnon');
      result.agentRssBpfMapBytes = bpfMapRssBytes(agentPid);
      result.agentRssFileBytes = statusField(agentPid, 'RssFile') - (result.agentRssBpfMapBytes ?? 0);
      result.tracedProcesses = tracedProcesses(agent);
      result.otherTraced = result.tracedProcesses.filter((p) => !appPids.includes(p.pid));
      result.goFollowed = agent.goFollowed;
      result.bpfIdle = agent.idle;
      result.eventThreadFound = agent.eventTid !== undefined;
    }
    result.requests = thr.total_requests + fixed.total_requests + (svc.checked ? 1 : 0);
    // How often the event thread went to sleep and was woken, per request (warm-up included).
    if (switchesBefore !== undefined && switchesAfter !== undefined) {
      result.fixed.eventWakeupsPerReq = (switchesAfter - switchesBefore) / Math.max(1, fixed.total_requests);
    }
    if (agent) {
      // Events the kernel could not put in the ring buffer (it was full): spans lost to the agent.
      const text = (await get(agent.metricsPort, '/metrics')).body;
      result.ringbufDrops = metricSum(text, 'hodos_agent_ringbuf_drops') ?? 0;
      result.agentEvents = metricSum(text, 'hodos_agent_events') ?? 0;
    }
    if (injBefore) {
      // What injection did with the frontend's calls (the counters are published every second).
      const after = await settledInjection(agent);
      const loadRequests = Math.max(1, thr.total_requests + fixed.total_requests);
      result.injection = injectionState(agent);
      result.injectedPerRequest = ((after.counters.injected ?? 0) - (injBefore.counters.injected ?? 0)) / loadRequests;
      result.goLinkedPerRequest = (after.goLinked - injBefore.goLinked) / loadRequests;
      result.injectCounters = counterDelta(after.counters, injBefore.counters);
    }
    await stop(svc.frontend);
    await stop(svc.backend);
    if (agent) await stop(agent.proc);
    // Everything sent has reached the sink once its count stops moving.
    let last = -1;
    await waitFor('the sink to settle', async () => {
      const now = await sink.accepted();
      const settled = now === last;
      last = now;
      return settled;
    }, { intervalMs: 700, timeoutMs: 15000 }).catch(() => {});
    result.spansPerRequest = (last - spansBefore) / result.requests;
    return result;
  } finally {
    await stop(svc.frontend);
    await stop(svc.backend);
    if (agent) await stop(agent.proc);
    if (statsWere !== undefined) setBpfStats(statsWere);
  }
}

// BENCH_OVERHEAD_PROFILE_DIR: where the agent's time and memory go.
function startPerf(pid) {
  fs.mkdirSync(opts.profileDir, { recursive: true });
  return start('perf', 'perf', ['record', '-F', '1999', '-g', '--call-graph', 'dwarf,16384', '-p', String(pid),
    '-o', path.join(opts.profileDir, `perf-agent-${Date.now()}.data`)]);
}

function saveAgentState(pid) {
  const stamp = Date.now();
  const threads = [];
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const comm = fs.readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
      const syscall = fs.readFileSync(`/proc/${pid}/task/${tid}/syscall`, 'utf8').trim().split(' ')[0];
      threads.push(`${tid} ${comm} utime=${f[11]} stime=${f[12]} syscall=${syscall}`);
    } catch { /* exited meanwhile */ }
  }
  fs.writeFileSync(path.join(opts.profileDir, `threads-${stamp}.txt`), threads.join('\n') + '\n');
  fs.writeFileSync(path.join(opts.profileDir, `smaps-${stamp}.txt`), fs.readFileSync(`/proc/${pid}/smaps`));
  fs.writeFileSync(path.join(opts.profileDir, `status-${stamp}.txt`), fs.readFileSync(`/proc/${pid}/status`));
}

function summarizeRun(r, appPids, sink, agent) {
  const n = Math.max(r.requests, 1);
  const perReqUs = (ns) => ns / n / 1e3;
  const s = {
    rps: r.rps, requests: r.requests, errors: r.errors,
    p50: r.latency_us.p50, p99: r.latency_us.p99, p999: r.latency_us.p999, max: r.latency_us.max,
    sendLagP99: r.send_lag_us?.p99,
    appCpuUs: perReqUs(appPids.reduce((sum, p) => sum + r.pids[p].cpu_ns, 0)),
    sinkCpuUs: perReqUs(r.pids[sink.proc.child.pid].cpu_ns),
    loadgenCores: r.loadgen_cpu_ns / 1e9 / r.window_s,
  };
  if (agent) {
    const pid = agent.proc.child.pid;
    const threads = r.threads[pid] ?? [];
    const event = threads.find((t) => t.tid === agent.eventTid);
    const bpf = Object.values(r.bpf);
    s.agentCpuUs = perReqUs(r.pids[pid].cpu_ns);
    s.agentEventUs = event ? perReqUs(event.cpu_ns) : undefined;
    s.agentOtherUs = event ? perReqUs(r.pids[pid].cpu_ns - event.cpu_ns) : undefined;
    s.bpfUs = bpf.length ? perReqUs(bpf.reduce((sum, b) => sum + b.run_time_ns, 0)) : undefined;
    s.bpfRunsPerReq = bpf.length ? bpf.reduce((sum, b) => sum + b.run_cnt, 0) / n : undefined;
    // The same minus what the host's other syscalls cost with no load (sampled just before).
    if (s.bpfUs !== undefined && agent.idle) s.bpfLoadUs = Math.max(0, s.bpfUs - perReqUs(agent.idle.nsPerSecond * r.window_s));
    s.bpfByProgram = {};
    for (const b of bpf) {
      const p = (s.bpfByProgram[b.name] ??= { runs: 0, ns: 0 });
      p.runs += b.run_cnt;
      p.ns += b.run_time_ns;
    }
    s.bpfNsPerRun = bpf.length ? bpf.reduce((sum, b) => sum + b.run_time_ns, 0) / Math.max(1, bpf.reduce((sum, b) => sum + b.run_cnt, 0)) : undefined;
    // The goal's figure: BPF run time plus the agent's CPU from capture to span handed to the
    // pipeline (its event thread). Export (the other threads) and storage (the sink) are apart.
    s.agentCaptureUs = s.agentEventUs !== undefined && s.bpfUs !== undefined ? s.agentEventUs + s.bpfUs : undefined;
    s.agentCaptureLoadUs = s.agentEventUs !== undefined && s.bpfLoadUs !== undefined ? s.agentEventUs + s.bpfLoadUs : undefined;
  }
  return s;
}

// ---- report ----------------------------------------------------------------------------------

const median = (xs) => {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return undefined;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};
const stat = (xs) => {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x));
  return v.length ? { median: median(v), min: Math.min(...v), max: Math.max(...v), n: v.length } : undefined;
};
const fmtNum = (x, digits) => (x === undefined ? '-' : x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }));
const cell = (st, digits = 0, scale = 1) => (st?.text ?? (st ? `${fmtNum(st.median * scale, digits)} (${fmtNum(st.min * scale, digits)}–${fmtNum(st.max * scale, digits)})` : '-'));

function machine() {
  const cpu = os.cpus()[0]?.model ?? 'unknown';
  return `${os.cpus().length} CPUs (${cpu}), ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM, kernel ${os.release()}, node ${process.version}`;
}

// Per BPF program: runs per request and ns per run at the fixed rate.
function programRows(results, rate) {
  const names = [...new Set(results.flatMap((r) => Object.keys(r.fixed.bpfByProgram ?? {})))].sort();
  return names.flatMap((name) => [
    [`  ${name}: runs per request / ns per run at ${rate} req/s`, (c) => {
      const rs = results.filter((r) => r.config === c && r.fixed.bpfByProgram?.[name]);
      if (!rs.length) return undefined;
      const runs = stat(rs.map((r) => r.fixed.bpfByProgram[name].runs / Math.max(1, r.fixed.requests)));
      const ns = stat(rs.map((r) => r.fixed.bpfByProgram[name].ns / Math.max(1, r.fixed.bpfByProgram[name].runs)));
      return { text: `${fmtNum(runs.median, 1)} / ${fmtNum(ns.median, 0)}` };
    }, 0],
  ]);
}

function report(results, rate, capacity) {
  const configs = opts.configs.filter((c) => results.some((r) => r.config === c));
  const by = (c) => results.filter((r) => r.config === c);
  const S = (c, f) => stat(by(c).map(f));
  const rows = [
    ['throughput, req/s (closed loop, ' + opts.connections + ' connections)', (c) => S(c, (r) => r.throughput.rps), 0],
    [`p50 latency at ${rate} req/s, µs`, (c) => S(c, (r) => r.fixed.p50), 0],
    [`p99 latency at ${rate} req/s, µs`, (c) => S(c, (r) => r.fixed.p99), 0],
    [`p99.9 latency at ${rate} req/s, µs`, (c) => S(c, (r) => r.fixed.p999), 0],
    ['errors (both runs)', (c) => S(c, (r) => r.fixed.errors + r.throughput.errors), 0],
    [`app CPU per request at ${rate} req/s, µs (frontend + backend)`, (c) => S(c, (r) => r.fixed.appCpuUs), 1],
    ['app CPU per request at full throughput, µs', (c) => S(c, (r) => r.throughput.appCpuUs), 1],
    [`agent CPU per request at ${rate} req/s, µs (whole process)`, (c) => S(c, (r) => r.fixed.agentCpuUs), 2],
    ['  of which event thread (capture → span → pipeline), µs', (c) => S(c, (r) => r.fixed.agentEventUs), 2],
    ['  of which other threads (export, discovery, /metrics), µs', (c) => S(c, (r) => r.fixed.agentOtherUs), 2],
    ['BPF run time per request, µs (all syscalls on the host)', (c) => S(c, (r) => r.fixed.bpfUs), 2],
    ['  minus the idle host\'s BPF run time, µs', (c) => S(c, (r) => r.fixed.bpfLoadUs), 2],
    ['  BPF program runs per request', (c) => S(c, (r) => r.fixed.bpfRunsPerReq), 1],
    ['  ns per BPF program run', (c) => S(c, (r) => r.fixed.bpfNsPerRun), 0],
    ...programRows(results, rate),
    [`  event thread wake-ups per request at ${rate} req/s`, (c) => S(c, (r) => r.fixed.eventWakeupsPerReq), 2],
    ['**agent capture cost per request, µs** (event thread + BPF)', (c) => S(c, (r) => r.fixed.agentCaptureUs), 2],
    ['  the same with the idle host\'s BPF run time taken out, µs', (c) => S(c, (r) => r.fixed.agentCaptureLoadUs), 2],
    ['agent capture cost per request at full throughput, µs', (c) => S(c, (r) => r.throughput.agentCaptureUs), 2],
    [`app + agent CPU per request at ${rate} req/s, µs`, (c) => S(c, (r) => r.fixed.appCpuUs + (r.fixed.agentCpuUs ?? 0)), 1],
    [`sink CPU per request at ${rate} req/s, µs (export target, separate)`, (c) => S(c, (r) => r.fixed.sinkCpuUs), 1],
    ['agent RSS at end, MiB', (c) => S(c, (r) => r.agentRssBytes), 1, 1 / 2 ** 20],
    ['agent peak RSS (VmHWM), MiB', (c) => S(c, (r) => r.agentHwmBytes), 1, 1 / 2 ** 20],
    ['  of which anonymous (heap, stacks), MiB', (c) => S(c, (r) => r.agentRssAnonBytes), 1, 1 / 2 ** 20],
    ['  of which BPF ring buffer mapping (data pages mapped twice), MiB', (c) => S(c, (r) => r.agentRssBpfMapBytes), 1, 1 / 2 ** 20],
    ['  of which binary and shared libraries, MiB', (c) => S(c, (r) => r.agentRssFileBytes), 1, 1 / 2 ** 20],
    ['app peak RSS (frontend + backend VmHWM), MiB', (c) => S(c, (r) => r.appHwmBytes), 1, 1 / 2 ** 20],
    ['spans received by the sink per request', (c) => S(c, (r) => r.spansPerRequest), 2],
    // The go suite: what the agent's goroutine tracking and injection did.
    ['Go services whose goroutines the agent followed (uprobes)', (c) => S(c, (r) => r.goFollowed), 0],
    ['  calls whose writer goroutine got the request\'s context, per request', (c) => S(c, (r) => r.goLinkedPerRequest), 3],
    ['  injected by Hodos (inject_total{result="injected"}) per request', (c) => S(c, (r) => r.injectedPerRequest), 3],
    ['ring buffer drops (events lost, both runs)', (c) => S(c, (r) => r.ringbufDrops), 0],
    ['loadgen CPU, cores (throughput run)', (c) => S(c, (r) => r.throughput.loadgenCores), 2],
    [`loadgen send lag p99 at ${rate} req/s, µs`, (c) => S(c, (r) => r.fixed.sendLagP99), 0],
  ];
  const lines = [];
  lines.push(`| median (min–max) of ${opts.rounds} rounds | ${configs.join(' | ')} |`);
  lines.push(`| --- | ${configs.map(() => '---:').join(' | ')} |`);
  for (const [label, f, digits, scale] of rows) {
    const cells = configs.map((c) => cell(f(c), digits, scale));
    if (cells.every((x) => x === '-')) continue;
    lines.push(`| ${label} | ${cells.join(' | ')} |`);
  }
  const p99 = (c) => median(by(c).map((r) => r.fixed.p99));
  const goals = [];
  // Tail latency says nothing about the agent when the machine is busy with other work: the
  // baseline's p99 then swings between rounds and the load generator itself sends late.
  const noneP99 = by('none').map((r) => r.fixed.p99);
  const lag = Math.max(...configs.map((c) => median(by(c).map((r) => r.fixed.sendLagP99)) ?? 0));
  const noisy = Math.max(...noneP99) > 1.5 * Math.min(...noneP99) || lag > 1000;
  const verdict = (ok) => (noisy ? `INCONCLUSIVE (busy machine: baseline p99 ${Math.min(...noneP99).toFixed(0)}–${Math.max(...noneP99).toFixed(0)} µs over the rounds, load generator send lag p99 up to ${lag.toFixed(0)} µs)` : ok ? 'met' : 'NOT met');
  if (configs.includes('none') && configs.includes('hodos')) {
    const added = p99('hodos') - p99('none');
    const pct = (100 * added) / p99('none');
    goals.push(`p99 at ${rate} req/s, hodos vs none: ${pct >= 0 ? '+' : ''}${pct.toFixed(1)}% (goal ≤ +5%): ${verdict(pct <= 5)}`);
    if (configs.includes('sdk')) {
      const sdkAdded = p99('sdk') - p99('none');
      const ratio = sdkAdded > 0 ? added / sdkAdded : NaN;
      goals.push(`added p99: hodos ${added.toFixed(0)} µs, sdk ${sdkAdded.toFixed(0)} µs; hodos/sdk = ${ratio.toFixed(2)} (goal ≤ 0.20): ${verdict(ratio <= 0.2)}`);
    }
    const capture = median(by('hodos').map((r) => r.fixed.agentCaptureUs));
    const captureLoad = median(by('hodos').map((r) => r.fixed.agentCaptureLoadUs));
    if (capture !== undefined) {
      goals.push(`agent capture cost: ${capture.toFixed(2)} µs CPU per request (goal ≤ 1 µs): ${capture <= 1 ? 'met' : 'NOT met'}`
        + (captureLoad !== undefined ? `; ${captureLoad.toFixed(2)} µs without the idle host's BPF run time` : ''));
    }
    else goals.push('agent capture cost: not measured (event thread or BPF stats not found)');
    const hwm = Math.max(...by('hodos').map((r) => r.agentHwmBytes ?? Infinity)) / 2 ** 20;
    goals.push(`agent peak RSS: ${hwm.toFixed(1)} MiB, highest of all rounds (goal < 64 MiB): ${hwm < 64 ? 'met' : 'NOT met'}`);
    const off = by('hodos').filter((r) => r.injection && !r.injection.on);
    if (off.length) goals.push(`injection: OFF in ${off.length} hodos round(s): ${off[0].injection.line}; those rounds measure capture without injection`);
  }
  if (configs.includes('none') && configs.includes('sdk')) {
    const t = (c) => median(by(c).map((r) => r.throughput.rps));
    const cpu = (c) => median(by(c).map((r) => r.fixed.appCpuUs));
    goals.push(`for scale, sdk vs none: throughput ${((100 * (t('sdk') - t('none'))) / t('none')).toFixed(0)}%, CPU per request ×${(cpu('sdk') / cpu('none')).toFixed(2)}, p99 ${((100 * (p99('sdk') - p99('none'))) / p99('none')).toFixed(0)}%`);
  }
  return { table: lines.join('\n'), goals, rate, capacity };
}

// ---- the injection chain ------------------------------------------------------------------------
// loadgen -> frontend -> backend where the frontend serves each request on its own thread, so Hodos
// inserts a traceparent into the frontend's call (docs/how-it-works.md, "Trace context across
// services"); Node is an event loop and gets none. Every request is a POST whose body the backend
// checksums; the load generator checks every answer (--verify). Configurations:
//   py-none, py-hodos   Python http.server ThreadingHTTPServer hops (python/), without / with Hodos;
//   node-none, node-sdk Node hops (node/, POST route), without / with the OpenTelemetry JS SDK,
//                       which propagates traceparent itself: there is no SDK for the Python hops
//                       here (npm only), so the SDK is compared within its own runtime;
//   node-hodos          optional: the Node hops with Hodos (spans, no injection).
// Then one counted run of HODOS_BENCH_REQUESTS requests (1,000,000) through py-hodos.

const chainConfigs = ['py-none', 'py-hodos', 'node-none', 'node-sdk', 'node-hodos'];

// A labelled metric's samples, summed by the value of one label.
function byLabel(text, name, label) {
  const out = {};
  for (const m of text.matchAll(new RegExp(`^${name}\\{[^}]*${label}="([^"]+)"[^}]*\\}\\s+(\\S+)`, 'gm'))) {
    out[m[1]] = (out[m[1]] ?? 0) + Number(m[2]);
  }
  return out;
}

// What counters (by result) moved between two reads.
const counterDelta = (after, before) => Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - (before[k] ?? 0)]));

function startChainServices(config, sink) {
  if (config.startsWith('node-')) return startNodeServices(config === 'node-sdk' ? 'sdk' : 'none', sink);
  const pyDir = path.join(here, 'python');
  return startPair((name, extra) => startListening(`${name}.py`, 'python3', [`${name}.py`], { cwd: pyDir, env: extra }));
}

async function agentInjection(agent) {
  const text = (await get(agent.metricsPort, '/metrics')).body;
  return {
    counters: byLabel(text, 'hodos_agent_inject_total', 'result'), drops: metricSum(text, 'hodos_agent_ringbuf_drops') ?? 0,
    // Go: outgoing net/http requests whose writer goroutine got the handler's context.
    goLinked: byLabel(text, 'hodos_agent_go_contexts_total', 'how').request_linked ?? 0,
  };
}

// The agent publishes its kernel counters periodically: after the load, read until they stop moving.
async function settledInjection(agent) {
  // Two reads more than one publish interval (1 s) apart that agree.
  let now = await agentInjection(agent);
  await waitFor('the agent counters to settle', async () => {
    const last = now;
    await sleep(1200);
    now = await agentInjection(agent);
    return JSON.stringify(now) === JSON.stringify(last);
  }, { intervalMs: 0, timeoutMs: 15000 }).catch(() => {});
  return now;
}

function injectionState(agent) {
  const m = /traceparent injection (on|off)[^\n]*/.exec(agent.proc.output);
  return m ? { on: m[1] === 'on', line: m[0] } : { on: false, line: 'traceparent injection: not reported' };
}

// What a chain run's integrity adds to summarizeRun.
function integrity(r) {
  const i = r.integrity ?? {};
  return { corrupted: i.corrupted ?? 0, stalled: i.stalled ?? 0, failed: i.failed ?? 0, traceparentSeen: i.traceparent_seen ?? 0, sent: r.total_requests + (i.corrupted ?? 0) + (i.stalled ?? 0) + (i.failed ?? 0) };
}

// sock_ops programs loaded on the host: another Hodos agent that injects (or another sockmap user),
// which would make ours stand down.
function otherSockops() {
  try {
    return JSON.parse(execFileSync('bpftool', ['prog', 'show', '-j'], { encoding: 'utf8' }))
      .filter((p) => p.type === 'sock_ops').map((p) => `${p.id} ${p.name ?? ''}`.trim());
  } catch { return []; }
}

// Other `hodos up`/`hodos agent` processes on the host (not this run's): they may trace the
// benchmark's services too.
function otherAgents(ours) {
  const found = [];
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (path.basename(argv[0]) === 'hodos' && ['up', 'agent'].includes(argv[1]) && !ours.includes(Number(pid))) found.push(`${pid} hodos ${argv[1]}`);
    } catch { /* gone */ }
  }
  return found;
}

// Only one agent injects per host; on a shared machine another one usually goes soon.
async function awaitOtherInjector() {
  if (!otherSockops().length) return;
  log(`overhead: waiting up to ${opts.injectWait} s for the host's other injector to go (sock_ops ${otherSockops().join(', ')})`);
  await waitFor('no other injector', () => !otherSockops().length, { timeoutMs: opts.injectWait * 1000, intervalMs: 500 }).catch(() => {});
}

async function withChain(config, sink, dir, fn) {
  if (config === 'py-hodos') await awaitOtherInjector();
  const svc = await startChainServices(config, sink);
  let agent;
  try {
    if (config.endsWith('-hodos')) agent = await startAgent(sink, svc, dir);
    return await fn(svc, agent);
  } finally {
    await stop(svc.frontend);
    await stop(svc.backend);
    if (agent) await stop(agent.proc);
  }
}

function chainLoadgenArgs(svc, sink, agent) {
  const appPids = [svc.frontend.child.pid, svc.backend.child.pid];
  const agentPid = agent?.proc.child.pid;
  const watch = [...appPids, sink.proc.child.pid, ...(agentPid ? [agentPid] : [])];
  return ['--port', svc.frontend.port, '--path-prefix', '/api/check/', '--verify',
    ...watch.flatMap((p) => ['--watch-pid', p])];
}

async function measureChain(config, sink, rate, dir) {
  const spansBefore = await sink.accepted();
  const result = await withChain(config, sink, dir, async (svc, agent) => {
    const appPids = [svc.frontend.child.pid, svc.backend.child.pid];
    const common = [...chainLoadgenArgs(svc, sink, agent), '--seconds', opts.seconds, '--warmup', opts.warmup];
    const injBefore = agent ? await agentInjection(agent) : undefined;
    const others = otherAgents([agent?.proc.child.pid]);
    if (others.length) log(`chain: note: other Hodos processes on the host during ${config}: ${others.join(', ')}`);
    const thr = await runLoadgen(['--mode', 'throughput', '--connections', opts.connections, ...common]);
    const fixed = await runLoadgen(['--mode', 'rate', '--rate', rate, '--connections', opts.rateConnections, ...common]);
    const res = { config, throughput: summarizeRun(thr, appPids, sink, agent), fixed: summarizeRun(fixed, appPids, sink, agent) };
    // ThreadingHTTPServer's threads end with their connections, taking their schedstat with them:
    // the app's CPU comes from utime + stime of the process (exited threads included, tick
    // resolution) instead.
    for (const [s, r] of [[res.throughput, thr], [res.fixed, fixed]]) {
      s.appCpuUs = appPids.reduce((sum, p) => sum + r.pids[p].stat_cpu_ns, 0) / Math.max(1, r.requests) / 1e3;
    }
    const a = integrity(thr);
    const b = integrity(fixed);
    res.integrity = Object.fromEntries(Object.keys(a).map((k) => [k, a[k] + b[k]]));
    res.requests = thr.total_requests + fixed.total_requests;
    if (agent) {
      const injAfter = await settledInjection(agent);
      res.injection = injectionState(agent);
      res.injected = (injAfter.counters.injected ?? 0) - (injBefore.counters.injected ?? 0);
      res.ringbufDrops = injAfter.drops;
      res.agentHwmBytes = statusField(agent.proc.child.pid, 'VmHWM');
      res.injectCounters = injAfter.counters;
    }
    return res;
  });
  let last = -1;
  await waitFor('the sink to settle', async () => {
    const now = await sink.accepted();
    const settled = now === last;
    last = now;
    return settled;
  }, { intervalMs: 700, timeoutMs: 15000 }).catch(() => {});
  result.spansPerRequest = (last - spansBefore) / Math.max(1, result.requests);
  return result;
}

// HODOS_BENCH_REQUESTS requests, closed loop, through py-hodos: every one checked.
async function countedChainRun(sink, dir, requests) {
  return withChain('py-hodos', sink, dir, async (svc, agent) => {
    const injection = injectionState(agent);
    const before = await agentInjection(agent);
    const others = otherAgents([agent.proc.child.pid]);
    if (others.length) log(`chain: note: other Hodos processes on the host at the counted run's start: ${others.join(', ')}`);
    const t0 = Date.now();
    const r = await runLoadgen([...chainLoadgenArgs(svc, sink, agent), '--requests', requests, '--connections', opts.connections]);
    const after = await settledInjection(agent);
    const counters = counterDelta(after.counters, before.counters);
    const pid = agent.proc.child.pid;
    return {
      injection, seconds: (Date.now() - t0) / 1000, requests,
      answered: r.requests, rps: r.rps, p50: r.latency_us.p50, p99: r.latency_us.p99, p999: r.latency_us.p999, max: r.latency_us.max,
      integrity: integrity(r), counters, ringbufDrops: after.drops,
      agentCpuUs: r.pids[pid].cpu_ns / Math.max(1, r.requests) / 1e3,
      appCpuUs: (r.pids[svc.frontend.child.pid].stat_cpu_ns + r.pids[svc.backend.child.pid].stat_cpu_ns) / Math.max(1, r.requests) / 1e3,
      agentHwmBytes: statusField(pid, 'VmHWM'), agentRssBytes: statusField(pid, 'VmRSS'),
    };
  });
}

function chainReport(results, rate, capacity, counted) {
  const configs = opts.chainConfigs.filter((c) => results.some((r) => r.config === c));
  const by = (c) => results.filter((r) => r.config === c);
  const S = (c, f) => stat(by(c).map(f));
  const rows = [
    [`throughput, req/s (closed loop, ${opts.connections} connections)`, (c) => S(c, (r) => r.throughput.rps), 0],
    [`p50 latency at ${rate} req/s, µs`, (c) => S(c, (r) => r.fixed.p50), 0],
    [`p99 latency at ${rate} req/s, µs`, (c) => S(c, (r) => r.fixed.p99), 0],
    [`p99.9 latency at ${rate} req/s, µs`, (c) => S(c, (r) => r.fixed.p999), 0],
    [`loadgen send lag p99 at ${rate} req/s, µs`, (c) => S(c, (r) => r.fixed.sendLagP99), 0],
    [`app CPU per request at ${rate} req/s, µs (frontend + backend)`, (c) => S(c, (r) => r.fixed.appCpuUs), 1],
    [`agent CPU per request at ${rate} req/s, µs (whole process)`, (c) => S(c, (r) => r.fixed.agentCpuUs), 1],
    ['agent peak RSS (VmHWM), MiB', (c) => S(c, (r) => r.agentHwmBytes), 1, 1 / 2 ** 20],
    ['requests checked (both runs, warm-up included)', (c) => S(c, (r) => r.integrity.sent), 0],
    ['  corrupted / stalled / errors', (c) => (by(c).length ? { text: ['corrupted', 'stalled', 'failed'].map((k) => by(c).reduce((s, r) => s + r.integrity[k], 0)).join(' / ') } : undefined), 0],
    ['  answered with a traceparent seen by the backend, %', (c) => S(c, (r) => (100 * r.integrity.traceparentSeen) / Math.max(1, r.integrity.sent)), 1],
    ['  injected by Hodos (inject_total{result="injected"}) per request', (c) => S(c, (r) => (r.injected === undefined ? undefined : r.injected / Math.max(1, r.integrity.sent))), 3],
    ['spans received by the sink per request', (c) => S(c, (r) => r.spansPerRequest), 2],
    ['ring buffer drops', (c) => S(c, (r) => r.ringbufDrops), 0],
  ];
  const lines = !configs.length ? [] : [`| median (min–max) of ${opts.chainRounds} rounds | ${configs.join(' | ')} |`, `| --- | ${configs.map(() => '---:').join(' | ')} |`];
  for (const [label, f, digits, scale] of rows) {
    const cells = configs.map((c) => cell(f(c), digits, scale));
    if (cells.every((x) => x === '-')) continue;
    lines.push(`| ${label} | ${cells.join(' | ')} |`);
  }
  const goals = [];
  const p99 = (c) => median(by(c).map((r) => r.fixed.p99));
  const bad = results.reduce((s, r) => s + r.integrity.corrupted + r.integrity.stalled + r.integrity.failed, 0)
    + (counted ? counted.integrity.corrupted + counted.integrity.stalled + counted.integrity.failed : 0);
  const off = results.filter((r) => r.config === 'py-hodos' && !r.injection?.on);
  // Another tracer on the host (another Hodos agent injecting) reaches the uninstrumented services too.
  const touched = results.filter((r) => r.config.endsWith('-none') && r.integrity.traceparentSeen > 0);
  if (touched.length) goals.push(`baseline NOT clean: the backend saw a traceparent in ${touched.map((r) => r.config).join(', ')} (another tracer on the host injects into these services); their figures include its cost`);
  if (off.length) goals.push(`injection: OFF in ${off.length} py-hodos round(s): ${off[0].injection.line}; the py-hodos figures do not measure injection`);
  // As for the Node service: a busy machine makes tail latency say nothing about the agent.
  const noneP99 = by('py-none').map((r) => r.fixed.p99);
  const lag = Math.max(...configs.map((c) => median(by(c).map((r) => r.fixed.sendLagP99)) ?? 0));
  const noisy = Math.max(...noneP99) > 1.5 * Math.min(...noneP99) || lag > 1000;
  const verdict = (ok) => (noisy ? `INCONCLUSIVE (busy machine: py-none p99 ${Math.min(...noneP99).toFixed(0)}–${Math.max(...noneP99).toFixed(0)} µs over the rounds, load generator send lag p99 up to ${lag.toFixed(0)} µs); as measured: ${ok ? 'met' : 'not met'}` : ok ? 'met' : 'NOT met');
  if (configs.includes('py-none') && configs.includes('py-hodos')) {
    const added = p99('py-hodos') - p99('py-none');
    const pct = (100 * added) / p99('py-none');
    goals.push(`chain p99 at ${rate} req/s, py-hodos vs py-none: ${added >= 0 ? '+' : ''}${pct.toFixed(1)}% (${p99('py-none').toFixed(0)} → ${p99('py-hodos').toFixed(0)} µs; goal ≤ +5%): ${verdict(pct <= 5)}`);
    if (configs.includes('node-none') && configs.includes('node-sdk')) {
      const sdkAdded = p99('node-sdk') - p99('node-none');
      goals.push(`chain added p99: Hodos on the Python hops ${added.toFixed(0)} µs, SDK on the Node hops ${sdkAdded.toFixed(0)} µs; ratio ${(added / sdkAdded).toFixed(2)} (goal ≤ 0.20; different runtimes, see docs/BENCHMARKS.md): ${verdict(added / sdkAdded <= 0.2)}`);
    }
  }
  goals.push(`chain integrity: ${bad} corrupted, stalled or failed requests over every chain run (goal 0): ${bad === 0 ? 'met' : 'NOT met'}`);
  if (counted) {
    const c = counted;
    goals.push(`counted run: ${c.requests.toLocaleString('en-US')} requests through py-hodos in ${c.seconds.toFixed(0)} s (${c.rps.toFixed(0)} req/s, p50 ${c.p50.toFixed(0)} µs, p99 ${c.p99.toFixed(0)} µs, max ${c.max.toFixed(0)} µs); `
      + `corrupted ${c.integrity.corrupted}, stalled ${c.integrity.stalled}, errors ${c.integrity.failed}; traceparent seen by the backend on ${c.integrity.traceparentSeen.toLocaleString('en-US')}; `
      + `injected ${(c.counters.injected ?? 0).toLocaleString('en-US')}; agent ${c.agentCpuUs.toFixed(1)} µs CPU/request, peak RSS ${(c.agentHwmBytes / 2 ** 20).toFixed(1)} MiB; ring drops ${c.ringbufDrops}; ${c.injection.line}`);
    if (c.injection.on) {
      const all = c.integrity.traceparentSeen === c.requests && (c.counters.injected ?? 0) >= c.requests;
      goals.push(`counted run: every request through injection: ${all ? 'yes' : 'NO'} (${c.integrity.traceparentSeen} of ${c.requests} reached the backend with a traceparent; the agent counted ${c.counters.injected ?? 0} injected)`);
    } else goals.push(`counted run: injection OFF (${c.injection.line}): NOT a run through injection`);
    const other = Object.entries(c.counters).filter(([k, v]) => v && !['injected', 'marked', 'enrolled'].includes(k));
    // not_http: http.client writes a request's body apart from its head; that write passes untouched.
    goals.push(`counted run: other injection counters: ${other.length ? other.map(([k, v]) => `${k} ${v}`).join(', ') : 'all 0'}`
      + (c.counters.not_http ? ' (not_http: the body writes, which http.client sends apart from the head)' : ''));
  }
  return { table: lines.join('\n'), goals, bad };
}

async function runChain(sink, dir) {
  const report = { bad: 0 };
  let capacity;
  let rate = opts.chainRate;
  if (opts.chainRounds > 0) {
    const svcCap = await withChain('py-none', sink, dir, (svc) => runLoadgen([...chainLoadgenArgs(svc, sink), '--mode', 'throughput',
      '--connections', opts.connections, '--seconds', opts.seconds, '--warmup', opts.warmup]));
    capacity = svcCap.rps;
    rate ??= Math.min(1000, Math.floor(capacity / 2));
    log(`chain: uninstrumented capacity (python hops): ${capacity.toFixed(0)} req/s; fixed rate ${rate} req/s`);
  }
  const results = [];
  for (let round = 0; round < opts.chainRounds; ++round) {
    const order = opts.chainConfigs.map((_, i) => opts.chainConfigs[(i + round) % opts.chainConfigs.length]);
    for (const config of order) {
      const r = await measureChain(config, sink, rate, dir);
      results.push(r);
      const i = r.integrity;
      log(`chain round ${round + 1} ${config.padEnd(10)}: ${r.throughput.rps.toFixed(0)} req/s; at ${rate} req/s p50 ${r.fixed.p50.toFixed(0)} p99 ${r.fixed.p99.toFixed(0)} µs; `
        + `${i.sent} checked: ${i.corrupted} corrupted, ${i.stalled} stalled, ${i.failed} errors, ${i.traceparentSeen} with traceparent`
        + (r.injected !== undefined ? `, ${r.injected} injected (${r.injection.on ? 'injection on' : r.injection.line})` : ''));
    }
  }
  let counted;
  if (opts.chainRequests > 0) {
    log(`chain: counted run, ${opts.chainRequests} requests through py-hodos (HODOS_BENCH_REQUESTS)`);
    counted = await countedChainRun(sink, dir, opts.chainRequests);
  }
  const rep = chainReport(results, rate, capacity, counted);
  log('');
  log(rep.table);
  log('');
  for (const g of rep.goals) log(`goal: ${g}`);
  report.bad = rep.bad;
  report.results = results;
  report.counted = counted;
  return report;
}

// ---- the service suites -----------------------------------------------------------------------
// The same two-hop service (frontend SERVER + CLIENT, backend SERVER) in one runtime, none vs
// hodos vs sdk, through runServiceSuite; prepare(dir) runs first and sets the configurations.

const serviceSuites = {
  node: {
    name: 'node',
    title: 'Node service: node/frontend.js -> node/backend.js; none vs hodos vs the OpenTelemetry JS SDK',
    prepare() {
      this.configs = opts.configs.filter((c) => c !== 'sdk' || nodeSdkInstalled());
    },
    start: (config, sink) => startNodeServices(config, sink),
  },
  'tls-db': {
    name: 'tls-db',
    title: 'Node service with TLS and a database call: node/frontend.js -> Redis (ioredis) and -> node/backend.js over HTTPS; none vs hodos vs the OpenTelemetry JS SDK',
    jsonSuffix: '-tls-db',
    spansPerRequest: 4,
    async prepare(dir) {
      this.configs = opts.configs.filter((c) => c !== 'sdk' || nodeSdkInstalled());
      this.certificate = makeCertificate(dir);
      this.redis = await startRedis();
    },
    start(config, sink) {
      return startNodeServices(config, sink, {
        backend: { TLS_CERT: this.certificate.cert, TLS_KEY: this.certificate.key },
        frontend: { BACKEND_TLS: '1', REDIS_PORT: String(this.redis.port) },
      });
    },
    async finish() { await stop(this.redis); },
  },
  go: {
    name: 'go',
    title: 'Go service: go/frontend -> go/backend (net/http); none vs hodos vs the OpenTelemetry Go SDK',
    jsonSuffix: '-go',
    // Hodos follows the goroutines (uprobes) and injects traceparent into the frontend's calls.
    injects: true,
    prepare(dir) {
      this.bins = buildGo(dir);
      this.configs = opts.configs.filter((c) => c !== 'sdk' || this.bins.sdk);
      if (opts.configs.includes('sdk') && this.bins.sdkWhy) {
        this.sdkWhy = `the services cannot be built with the OpenTelemetry Go SDK here, so this suite runs ${this.configs.join(' vs ')} only: ${this.bins.sdkWhy}`;
        log(`go: skipping sdk: ${this.sdkWhy}`);
      }
    },
    start(config, sink) { return startGoServices(this.bins, config, sink); },
    // The agent attaches its Go uprobes just after it starts tracing a process.
    async agentReady(agent) {
      const followed = async () => metricSum((await get(agent.metricsPort, '/metrics')).body, 'hodos_agent_go_processes') ?? 0;
      await waitFor('the agent to follow the Go services\' goroutines', async () => (await followed()) >= 2, { timeoutMs: 10000, intervalMs: 100 })
        .catch(() => {});
      agent.goFollowed = await followed();
    },
  },
};

function nodeSdkInstalled() {
  return fs.existsSync(path.join(nodeDir, 'node_modules/@opentelemetry/auto-instrumentations-node'));
}

// ---- main ------------------------------------------------------------------------------------

async function main() {
  for (const [what, file] of [['hodos', HODOS], ['bench_overhead_loadgen', LOADGEN]]) {
    if (!fs.existsSync(file)) throw new Error(`${file} is missing: build ${what} first (scripts/build.sh release ${path.relative(repo, buildDir)} hodos bench_overhead_loadgen)`);
  }
  const suiteNames = ['node', 'tls-db', 'go', 'chain'];
  const unknownSuites = opts.suites.filter((s) => !suiteNames.includes(s));
  if (unknownSuites.length) throw new Error(`BENCH_OVERHEAD_SUITES: unknown ${unknownSuites.join(', ')} (${suiteNames.join(', ')})`);
  const unknownChain = opts.chainConfigs.filter((c) => !chainConfigs.includes(c));
  if (unknownChain.length) throw new Error(`BENCH_OVERHEAD_CHAIN_CONFIGS: unknown ${unknownChain.join(', ')} (${chainConfigs.join(', ')})`);
  const unknown = opts.configs.filter((c) => !['none', 'hodos', 'sdk'].includes(c));
  if (unknown.length) throw new Error(`BENCH_OVERHEAD_CONFIGS: unknown ${unknown.join(', ')} (none, hodos, sdk)`);
  if (!opts.configs.includes('none')) throw new Error('BENCH_OVERHEAD_CONFIGS must include none (the baseline)');
  if (opts.configs.includes('hodos') && process.getuid?.() !== 0) {
    log('overhead: skipping hodos: the eBPF agent needs root (CAP_BPF, CAP_PERFMON); run as root for it. Running none vs sdk.');
    opts.configs = opts.configs.filter((c) => c !== 'hodos');
    opts.chainConfigs = opts.chainConfigs.filter((c) => !c.endsWith('-hodos'));
    opts.chainRequests = 0;
  }
  const nodeWantsSdk = ((opts.suites.includes('node') || opts.suites.includes('tls-db')) && opts.configs.includes('sdk')) || (opts.suites.includes('chain') && opts.chainConfigs.includes('node-sdk'));
  if (nodeWantsSdk && !nodeSdkInstalled()) {
    log('overhead: skipping the Node sdk: bench/overhead/node/node_modules is missing (make setup, or npm ci in bench/overhead/node)');
    opts.chainConfigs = opts.chainConfigs.filter((c) => c !== 'node-sdk');
  }

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hodos-overhead-'));
  const sink = await startSink(dir);
  const cleanup = async () => { await stop(sink.proc); fs.rmSync(dir, { recursive: true, force: true }); };
  let chainBad = 0;
  try {
    log(`machine: ${machine()}; load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
    for (const name of ['node', 'tls-db', 'go'].filter((n) => opts.suites.includes(n))) {
      const suite = serviceSuites[name];
      log('');
      log(`=== ${suite.title} ===`);
      try {
        await suite.prepare(dir);
        await runServiceSuite(suite, sink, dir);
      } finally {
        await suite.finish?.();
      }
    }
    if (opts.suites.includes('chain')) {
      log('');
      log('=== injection chain: loadgen -> frontend -> backend, every body checksummed ===');
      const chain = await runChain(sink, dir);
      chainBad = chain.bad;
      if (opts.json) writeJson('-chain', { results: chain.results, counted: chain.counted });
    }
    log(`load average at the end: ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  } finally {
    await cleanup();
  }
  if (chainBad > 0) throw new Error(`the injection chain had ${chainBad} corrupted, stalled or failed requests`);
}

// BENCH_OVERHEAD_JSON=FILE: FILE for the Node service, FILE-go.json, FILE-chain.json for the others.
function writeJson(suffix, data) {
  const file = suffix ? opts.json.replace(/(\.json)?$/, `${suffix}.json`) : opts.json;
  fs.writeFileSync(file, JSON.stringify({ machine: machine(), opts, ...data }, null, 2));
}

// One service suite: capacity, then the interleaved rounds, then the report (the method at the top).
async function runServiceSuite(suite, sink, dir) {
  // Capacity of the uninstrumented service, to place the fixed rate well below saturation.
  const svc = await suite.start('none', sink);
  let capacity;
  try {
    const cap = await runLoadgen(['--mode', 'throughput', '--connections', opts.connections, '--port', svc.frontend.port,
      '--seconds', opts.seconds, '--warmup', opts.warmup]);
    capacity = cap.rps;
  } finally {
    await stop(svc.frontend);
    await stop(svc.backend);
  }
  const half = Math.floor(capacity / 2);
  const rate = opts.rate ?? Math.min(1000, half);
  if (suite.configs.includes('hodos')) {
    log(`agent sources: ${!opts.agentAllSources && agentHasConfig() ? 'the two services only (agent --config include rule by port)' : 'every process listening on TCP on the host'}`);
  }
  log(`uninstrumented capacity: ${capacity.toFixed(0)} req/s; fixed rate: ${rate} req/s (${((100 * rate) / capacity).toFixed(0)}% of capacity)`);
  if (rate > half) log(`overhead: warning: BENCH_OVERHEAD_RATE=${rate} is above 50% of the measured capacity`);

  const results = [];
  for (let round = 0; round < opts.rounds; ++round) {
    const order = suite.configs.map((_, i) => suite.configs[(i + round) % suite.configs.length]);
    for (const config of order) {
      const r = await measure(suite, config, sink, rate, dir);
      r.round = round + 1;
      results.push(r);
      const extra = r.fixed.agentCaptureUs !== undefined
        ? `, agent ${r.fixed.agentCpuUs.toFixed(2)} µs/req (capture ${r.fixed.agentCaptureUs.toFixed(2)}), RSS ${(r.agentHwmBytes / 2 ** 20).toFixed(1)} MiB` : '';
      const injectOther = Object.entries(r.injectCounters ?? {}).filter(([k, v]) => v && !['injected', 'marked', 'enrolled'].includes(k));
      const injected = r.injectedPerRequest === undefined ? ''
        : `, ${r.injectedPerRequest.toFixed(3)} injected/req (${r.injection.on ? 'injection on' : r.injection.line}${injectOther.map(([k, v]) => `; ${k} ${v}`).join('')})`;
      const others = r.otherTraced ?? [];
      if (others.length) log(`overhead: note: the agent also traced ${others.map((p) => `${p.name} (pid ${p.pid})`).join(', ')}; their traffic adds to its cost`);
      log(`round ${round + 1} ${config.padEnd(5)}: ${r.throughput.rps.toFixed(0)} req/s; at ${rate} req/s p50 ${r.fixed.p50.toFixed(0)} p99 ${r.fixed.p99.toFixed(0)} p99.9 ${r.fixed.p999.toFixed(0)} µs, app ${r.fixed.appCpuUs.toFixed(1)} µs/req${extra}; ${r.spansPerRequest.toFixed(2)} spans/req${injected}; load ${os.loadavg()[0].toFixed(2)}`);
      const expected = suite.spansPerRequest ?? 3;
      if (config !== 'none' && r.spansPerRequest < expected - 0.5) log(`overhead: warning: ${config} delivered only ${r.spansPerRequest.toFixed(2)} spans per request (${expected} expected)`);
      if (config === 'hodos' && !r.eventThreadFound) log('overhead: warning: the agent event thread was not found; capture cost not split');
      if (config === 'hodos' && r.goFollowed !== undefined && r.goFollowed < 2) log(`overhead: warning: the agent followed the goroutines of ${r.goFollowed} of the 2 Go services`);
    }
  }
  const rep = report(results, rate, capacity);
  if (suite.sdkWhy) rep.goals.push(`sdk not measured: ${suite.sdkWhy}`);
  log('');
  log(rep.table);
  log('');
  for (const g of rep.goals) log(`goal: ${g}`);
  if (opts.json) writeJson(suite.jsonSuffix ?? '', { suite: suite.name, capacity, rate, results });
}

main().catch((e) => {
  console.error(`overhead: ${e.stack || e.message}`);
  process.exit(1);
});
