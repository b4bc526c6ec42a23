// How long the trace page of a 10,000-span trace takes to show in Chromium: a real
// `hodos up --no-agent` is fed one such trace over OTLP/HTTP (JSON), then Debian's chromium
// (driven by playwright-core) opens /trace/{id} several times and reads, from the page itself:
//   painted   navigation start → the frame after the timeline's first rows were committed
//             (the UI's `hodos:timeline-painted` performance mark: header, rows and bars on screen)
//   api       the GET /api/traces/{id} request (server: store read + JSON of 10,000 spans; transfer)
//   client    from the API answer to the paint: JSON parse, span tree, critical path, render
// Each run is a fresh browser context (nothing cached), so `painted` includes loading the UI files.
// Prints each run and the medians; exits non-zero when the median misses BENCH_UI_GOAL_MS.
//
// Environment: BUILD_DIR (default build), BENCH_UI_SPANS (10000), BENCH_UI_RUNS (7),
// BENCH_UI_GOAL_MS (1000), HODOS_CHROMIUM (/usr/bin/chromium), BENCH_UI_SCREENSHOT (a .png path:
// the page of the last run).
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
process.env.HODOS_BIN ??= path.join(path.resolve(repo, process.env.BUILD_DIR || 'build'), 'hodos');
const { makeTempDir, waitFor } = await import('../../tests/e2e/lib/collector.mjs');
const { HodosUp } = await import('../../tests/e2e/lib/hodos_up.mjs');

const SPANS = Number(process.env.BENCH_UI_SPANS || 10000);
const RUNS = Number(process.env.BENCH_UI_RUNS || 7);
const GOAL_MS = Number(process.env.BENCH_UI_GOAL_MS || 1000);
const CHROMIUM = process.env.HODOS_CHROMIUM ?? '/usr/bin/chromium';
const SERVICES = ['gateway', 'frontend', 'cart', 'checkout', 'payments', 'inventory', 'shipping', 'users', 'search', 'recommend'];
const BATCH = 1000; // spans per OTLP request

// A deterministic pseudo-random tree: each span's parent is an earlier span (recent ones more
// likely, so the tree is both wide and deep), its time inside its parent's, one service per subtree
// hop now and then, a few attributes each and an event on some.
function makeTrace(count) {
  let seed = 42;
  const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const hex = (n, len) => n.toString(16).padStart(len, '0');
  const traceId = hex(0xc0ffee, 16) + hex(Date.now(), 16);
  const startNs = BigInt(Date.now() - 60_000) * 1_000_000n;
  const spans = [{ id: hex(1, 16), parent: '', service: 0, start: 0, dur: 4_000_000_000, depth: 0 }];
  for (let i = 1; i < count; i++) {
    const r = rand();
    const p = spans[Math.max(0, i - 1 - Math.floor(r * r * Math.min(i, 400)))];
    const start = p.start + Math.floor(rand() * p.dur * 0.7);
    const dur = Math.max(1000, Math.floor((p.start + p.dur - start) * (0.1 + rand() * 0.8)));
    const service = rand() < 0.15 ? Math.floor(rand() * SERVICES.length) : p.service;
    spans.push({ id: hex(i + 1, 16), parent: p.id, service, start, dur, depth: p.depth + 1 });
  }
  const otlp = (s, i) => ({
    traceId,
    spanId: s.id,
    parentSpanId: s.parent,
    name: `${['GET', 'POST', 'SELECT', 'call'][i % 4]} /op/${i % 97}`,
    kind: s.parent ? 3 : 2,
    startTimeUnixNano: String(startNs + BigInt(s.start)),
    endTimeUnixNano: String(startNs + BigInt(s.start + s.dur)),
    attributes: [
      { key: 'http.request.method', value: { stringValue: 'GET' } },
      { key: 'url.path', value: { stringValue: `/op/${i % 97}` } },
      { key: 'http.response.status_code', value: { intValue: i % 53 === 0 ? '500' : '200' } },
    ],
    events: i % 10 === 0 ? [{ timeUnixNano: String(startNs + BigInt(s.start)), name: 'checkpoint', attributes: [] }] : [],
    status: i % 53 === 0 ? { code: 2, message: 'failed' } : {},
  });
  return { traceId, spans, otlp, maxDepth: Math.max(...spans.map((s) => s.depth)) };
}

async function ingest(up, trace) {
  for (let from = 0; from < trace.spans.length; from += BATCH) {
    const bySvc = new Map();
    trace.spans.slice(from, from + BATCH).forEach((s, k) => {
      if (!bySvc.has(s.service)) bySvc.set(s.service, []);
      bySvc.get(s.service).push(trace.otlp(s, from + k));
    });
    const body = {
      resourceSpans: [...bySvc].map(([svc, spans]) => ({
        resource: { attributes: [{ key: 'service.name', value: { stringValue: SERVICES[svc] } }] },
        scopeSpans: [{ scope: { name: 'bench' }, spans }],
      })),
    };
    const r = await fetch(`http://127.0.0.1:${up.ports.otlpHttp}/v1/traces`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
    });
    if (!r.ok) throw new Error(`OTLP export: ${r.status} ${await r.text()}`);
  }
  await waitFor(`the ${trace.spans.length} spans to be stored`, async () => {
    const r = await fetch(`${up.apiUrl}/api/traces/${trace.traceId}`);
    return r.ok && (await r.json()).data[0].spans.length === trace.spans.length;
  }, { timeoutMs: 60000, intervalMs: 250 });
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main() {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: run \`make setup\` (apt-get install chromium)`);
  const { chromium } = createRequire(path.join(repo, 'tests', 'e2e', 'node', 'package.json'))('playwright-core');
  const tmp = makeTempDir('bench-ui');
  const up = new HodosUp({ name: 'bench-ui', dir: tmp.dir });
  let browser;
  try {
    await up.start();
    const trace = makeTrace(SPANS);
    const t0 = Date.now();
    await ingest(up, trace);
    const ingestMs = Date.now() - t0;
    const jsonBytes = (await (await fetch(`${up.apiUrl}/api/traces/${trace.traceId}`)).arrayBuffer()).byteLength;
    console.log(`trace ${trace.traceId}: ${SPANS} spans, ${SERVICES.length} services, depth ${trace.maxDepth + 1}; ` +
                `ingested and readable in ${ingestMs} ms; the API's JSON: ${(jsonBytes / 1e6).toFixed(1)} MB`);
    console.log(`machine: ${os.cpus().length} cores, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    const runs = [];
    for (let i = 0; i < RUNS; i++) {
      const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
      const page = await context.newPage();
      await page.goto(`${up.apiUrl}/trace/${trace.traceId}`);
      await page.waitForFunction(() => performance.getEntriesByName('hodos:timeline-painted').length > 0, null, { timeout: 30000 });
      const m = await page.evaluate(() => {
        const api = performance.getEntriesByType('resource').find((e) => e.name.includes('/api/traces/'));
        return {
          painted: performance.getEntriesByName('hodos:timeline-painted')[0].startTime,
          apiStart: api.startTime,
          apiEnd: api.responseEnd,
          spans: document.querySelector('[data-testid=trace-span-count]').textContent,
          rows: document.querySelectorAll('.span-row').length,
        };
      });
      if (m.spans !== String(SPANS) || m.rows === 0) throw new Error(`the page shows ${m.spans} spans and ${m.rows} rows`);
      const run = { painted: m.painted, api: m.apiEnd - m.apiStart, client: m.painted - m.apiEnd, rows: m.rows };
      runs.push(run);
      console.log(`run ${i + 1}: painted ${run.painted.toFixed(0)} ms (api ${run.api.toFixed(0)} ms, client ${run.client.toFixed(0)} ms; ${run.rows} rows in the DOM)`);
      if (i === RUNS - 1 && process.env.BENCH_UI_SCREENSHOT) await page.screenshot({ path: process.env.BENCH_UI_SCREENSHOT });
      await context.close();
    }
    const med = (k) => median(runs.map((r) => r[k]));
    console.log(`median of ${RUNS}: painted ${med('painted').toFixed(0)} ms (api ${med('api').toFixed(0)} ms, client ${med('client').toFixed(0)} ms); goal < ${GOAL_MS} ms: ${med('painted') < GOAL_MS ? 'met' : 'MISSED'}`);
    if (med('painted') >= GOAL_MS) process.exitCode = 1;
  } finally {
    await browser?.close();
    await up.stop();
    tmp.remove();
  }
}

await main();
