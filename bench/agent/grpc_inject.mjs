// What traceparent injection into grpc-go's HTTP/2 calls costs in the kernel: a grpc-go server
// (tests/e2e/apps/grpc_go) calling a @grpc/grpc-js leaf for every call it serves, under `hodos up`
// with the agent, driven by the Go app's client (CALLS calls, 8 at a time). Reports, from BPF
// run-time stats (kernel.bpf_stats_enabled, switched on for the run), the runs and nanoseconds
// per call of the two grpc-go probes that stage each call's ids (newStream returns,
// originateStream entry) and of the sk_msg program that follows the frames and writes the field,
// and the agent's inject counters. Needs root, Go with Debian's grpc-go, and a built hodos.
//   sudo HODOS_BIN=build/hodos [CALLS=4000] node bench/agent/grpc_inject.mjs
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { makeTempDir } from '../../tests/e2e/lib/collector.mjs';
import { HodosUp } from '../../tests/e2e/lib/hodos_up.mjs';
import { APPS, buildGrpcGo, execFileP, startServer, tearDown, waitUntilTraced } from '../../tests/e2e/lib/servers.mjs';

const PROGRAMS = ['on_go_grpc_stream_made', 'on_go_grpc_originate_stream', 'inject_traceparent'];
const calls = Number(process.env.CALLS ?? 4000);

// run_cnt and run_time_ns of the programs above (bpftool shows names cut to 15 characters).
function programStats() {
  const out = {};
  for (const p of JSON.parse(execFileSync('bpftool', ['prog', 'show', '--json']).toString())) {
    const name = PROGRAMS.find((n) => p.name && n.startsWith(p.name));
    if (!name) continue;
    out[name] ??= { runs: 0, ns: 0 };
    out[name].runs += p.run_cnt ?? 0;
    out[name].ns += p.run_time_ns ?? 0;
  }
  return out;
}

const statsFile = '/proc/sys/kernel/bpf_stats_enabled';
const statsBefore = fs.readFileSync(statsFile, 'utf8').trim();
const tmp = makeTempDir('grpc-inject-bench');
const up = new HodosUp({ dir: tmp.dir, agent: true });
const servers = {};
try {
  fs.writeFileSync(statsFile, '1');
  const [go] = await Promise.all([buildGrpcGo(tmp.dir), up.start()]);
  if (go.reason) throw new Error(`the Go gRPC app could not be built: ${go.reason}`);
  servers.leaf = await startServer('leaf', process.execPath, [path.join(APPS, 'grpc_node.mjs')],
                                   { cwd: tmp.dir, env: { OTEL_SERVICE_NAME: 'bench-leaf' } });
  servers.front = await startServer('front', go.bin, [String(servers.leaf.port)],
                                    { cwd: tmp.dir, env: { OTEL_SERVICE_NAME: 'bench-front' } });
  await waitUntilTraced(up, servers.leaf.child.pid, servers.front.child.pid);
  // Calls made before the agent attached grpc-go's probes get nothing: wait until it says so.
  for (let i = 0; i < 200 && !/Go goroutines followed \(.*grpc-go followed/.test(up.output); ++i) {
    await new Promise((r) => setTimeout(r, 50));
  }
  const before = programStats();
  const started = Date.now();
  await execFileP(go.bin, ['client', String(servers.front.port), '-calls', String(calls), '-concurrency', '8'],
                  { timeout: 300000, maxBuffer: 64 << 20 });
  const ms = Date.now() - started;
  const after = programStats();
  console.log(`${calls} calls through the Go front in ${ms} ms`);
  for (const name of PROGRAMS) {
    const a = after[name] ?? { runs: 0, ns: 0 };
    const b = before[name] ?? { runs: 0, ns: 0 };
    const runs = a.runs - b.runs;
    const ns = a.ns - b.ns;
    console.log(`${name}: ${(runs / calls).toFixed(2)} runs per call, ${runs ? Math.round(ns / runs) : 0} ns ` +
                `per run, ${(ns / calls / 1000).toFixed(2)} µs per call`);
  }
  // The agent publishes its counters every second.
  await new Promise((r) => setTimeout(r, 2500));
  const text = await (await fetch(`${up.apiUrl}/metrics`)).text();
  console.log(text.split('\n').filter((l) => /^hodos_agent_inject_total\{/.test(l) && !/ 0$/.test(l)).join('\n'));
} finally {
  fs.writeFileSync(statsFile, statsBefore);
  tearDown({ servers, up, tmp });
}
