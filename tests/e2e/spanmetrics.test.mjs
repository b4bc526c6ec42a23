// The spanmetrics connector against a real Prometheus (Debian's /usr/bin/prometheus, 2.42): spans
// sent with the OpenTelemetry JS SDK become RED metrics (calls, duration histogram) that reach
// Prometheus twice, pushed by the prometheusremotewrite exporter and scraped from the prometheus
// exporter, with exact counts, buckets, sums and labels on both paths. A remote-write receiver
// that comes up late gets what was queued; a rejected write is counted and logged while the
// collector keeps running; a traces pipeline that lists a metrics exporter is a config error.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { Collector, freePorts, makeTempDir, runHodos, superviseChild, toYaml, waitFor } from './lib/collector.mjs';
import { fastRetry, otlpReceiver, telemetry } from './lib/configs.mjs';
import { api, exporterProto, resources, sdkTraceBase, sdkTraceNode } from './lib/deps.mjs';
import { makeJsonRequest, post } from './lib/otlp.mjs';
import { CapturingExporter, ExportResultCode } from './lib/sdk.mjs';

const PROMETHEUS_BIN = process.env.PROMETHEUS_BIN ?? '/usr/bin/prometheus';

const tmp = makeTempDir('spanmetrics');
after(() => tmp.remove());

// ---------------------------------------------------------------------------------------------
// A real Prometheus server in a temp dir, with the remote-write receiver on.

const proms = new Set();
process.on('exit', () => {
  for (const p of proms) p.child?.kill('SIGKILL');
});

// Not installed is a failure, not a skip: the setup script installs it.
function requirePrometheus() {
  if (!fs.existsSync(PROMETHEUS_BIN)) {
    throw new Error(`${PROMETHEUS_BIN} does not exist: run \`make setup\` (it installs Debian's prometheus ` +
                    'package), or point PROMETHEUS_BIN at a Prometheus 2.x binary');
  }
}

class Prometheus {
  // `scrape` is a list of host:port targets of one job named `hodos-scrape` (may be empty).
  constructor({ name, port, scrape = [] }) {
    this.name = name;
    this.port = port;
    this.url = `http://127.0.0.1:${port}`;
    this.dir = path.join(tmp.dir, name);
    fs.mkdirSync(this.dir, { recursive: true });
    this.configPath = path.join(this.dir, 'prometheus.yml');
    this.logPath = path.join(this.dir, 'prometheus.log');
    fs.writeFileSync(this.configPath, toYaml({
      global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
      scrape_configs: scrape.length ? [{ job_name: 'hodos-scrape', static_configs: [{ targets: scrape }] }] : [],
    }));
    this.child = null;
    this.exit = null;
    this.output = '';
  }

  tail(lines = 15) {
    return this.output.split('\n').slice(-lines - 1).join('\n');
  }

  async start() {
    requirePrometheus();
    const child = spawn(PROMETHEUS_BIN, [
      `--config.file=${this.configPath}`,
      `--storage.tsdb.path=${path.join(this.dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${this.port}`,
      '--web.enable-remote-write-receiver',
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    proms.add(this);
    superviseChild(this, child, PROMETHEUS_BIN);
    await waitFor(`${this.name} to be ready (GET ${this.url}/-/ready)`, async () => {
      if (this.exit) {
        throw Object.assign(new Error(`${this.name} exited during start-up: ${JSON.stringify(this.exit)}\n` +
                                      this.tail()), { fatal: true });
      }
      const r = await fetch(`${this.url}/-/ready`);
      await r.arrayBuffer();
      return r.status === 200;
    }, { timeoutMs: 30000, intervalMs: 50, describe: () => this.tail() });
    return this;
  }

  async stop() {
    if (!this.child) return null;
    if (this.exit === null) this.child.kill('SIGTERM');
    const t = setTimeout(() => this.child.kill('SIGKILL'), 15000);
    try {
      return await this.exited;
    } finally {
      clearTimeout(t);
      proms.delete(this);
    }
  }

  // An instant query: [{metric: {labels}, value: [time, "string"]}].
  async query(q) {
    const r = await fetch(`${this.url}/api/v1/query?query=${encodeURIComponent(q)}`);
    const body = await r.json();
    if (r.status !== 200 || body.status !== 'success') {
      throw new Error(`${this.name}: query ${q} answered ${r.status}: ${JSON.stringify(body)}`);
    }
    return body.data.result;
  }

  // The value of a query that yields one series (undefined when it yields none).
  async scalar(q) {
    const result = await this.query(q);
    if (result.length > 1) throw new Error(`${q} yields ${result.length} series: ${JSON.stringify(result)}`);
    return result.length ? Number(result[0].value[1]) : undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// What the SDK sends, and the metrics it must become.

const CHECKOUT = { service_name: 'checkout', deployment_environment_name: 'prod' };
const INVENTORY = { service_name: 'inventory', deployment_environment_name: 'none' };  // the dimension's default
const CART = { ...CHECKOUT, span_name: 'GET /cart', span_kind: 'SPAN_KIND_SERVER', http_route: '/cart' };
const SELECT = { ...INVENTORY, span_name: 'SELECT', span_kind: 'SPAN_KIND_CLIENT' };  // no http.route: no label

// One entry per series: its labels (as Prometheus names them) and the durations (ms) of its spans.
// 10 ms sits exactly on a bound: buckets are upper-inclusive (le = "less or equal").
const SERIES = [
  { labels: { ...CART, status_code: 'STATUS_CODE_UNSET' }, durations: [30, 30, 10] },
  { labels: { ...CART, status_code: 'STATUS_CODE_ERROR' }, durations: [120, 120] },
  { labels: { ...SELECT, status_code: 'STATUS_CODE_UNSET' }, durations: [5, 5] },
  { labels: { ...SELECT, status_code: 'STATUS_CODE_OK' }, durations: [5] },
];
const TOTAL_SPANS = SERIES.reduce((n, s) => n + s.durations.length, 0);  // 8

// The Collector's default explicit buckets, in ms, as Prometheus writes `le`.
const LE = ['2', '4', '6', '8', '10', '50', '100', '200', '400', '800', '1000', '1400', '2000', '5000', '10000',
  '15000', '+Inf'];

const CONNECTOR = {
  metrics_flush_interval: '500ms',
  dimensions: [{ name: 'http.route' }, { name: 'deployment.environment.name', default: 'none' }],
};

// Sends SERIES with the OTel JS SDK (OTLP/HTTP protobuf) from two services, with start and end
// times set so each span lasts exactly its duration.
async function sendRedSpans(httpPort) {
  const { SpanKind, SpanStatusCode } = api;
  const exporters = [];
  const provider = (attributes) => {
    const exp = new CapturingExporter(new exporterProto.OTLPTraceExporter({
      url: `http://127.0.0.1:${httpPort}/v1/traces`, timeoutMillis: 10000,
    }));
    exporters.push(exp);
    return new sdkTraceNode.NodeTracerProvider({
      resource: resources.resourceFromAttributes(attributes),
      spanProcessors: [new sdkTraceBase.BatchSpanProcessor(exp, { scheduledDelayMillis: 20 })],
    });
  };
  const checkout = provider({ 'service.name': 'checkout', 'deployment.environment.name': 'prod' });
  const inventory = provider({ 'service.name': 'inventory' });
  const tracers = { checkout: checkout.getTracer('e2e.spanmetrics'), inventory: inventory.getTracer('e2e.spanmetrics') };
  const kinds = { SPAN_KIND_SERVER: SpanKind.SERVER, SPAN_KIND_CLIENT: SpanKind.CLIENT };
  const statuses = {
    STATUS_CODE_ERROR: { code: SpanStatusCode.ERROR, message: 'out of stock' },
    STATUS_CODE_OK: { code: SpanStatusCode.OK },
  };
  const hr = (ms) => [Math.floor(ms / 1000), (ms % 1000) * 1e6];  // whole ms, so durations are exact
  let start = Date.now() - 10000;
  for (const { labels, durations } of SERIES) {
    for (const ms of durations) {
      start += 200;
      const span = tracers[labels.service_name].startSpan(labels.span_name, {
        kind: kinds[labels.span_kind],
        startTime: hr(start),
        attributes: labels.http_route ? { 'http.route': labels.http_route, 'http.request.method': 'GET' }
          : { 'db.system.name': 'postgresql' },
      });
      if (statuses[labels.status_code]) span.setStatus(statuses[labels.status_code]);
      span.end(hr(start + ms));
    }
  }
  await Promise.all([checkout.forceFlush(), inventory.forceFlush()]);
  await Promise.all([checkout.shutdown(), inventory.shutdown()]);
  const results = exporters.flatMap((e) => e.results);
  assert.ok(results.length > 0, 'the SDK exported');
  for (const r of results) assert.equal(r.code, ExportResultCode.SUCCESS, `SDK export failed: ${r.error?.stack ?? ''}`);
}

// Query results → {"labels as sorted JSON": value}, for deepEqual against what is expected.
function bySeries(result) {
  const out = {};
  for (const { metric, value } of result) {
    const labels = Object.fromEntries(Object.entries(metric).sort());
    out[JSON.stringify(labels)] = Number(value[1]);
  }
  return out;
}

function keyed(entries) {
  const out = {};
  for (const [labels, v] of entries) out[JSON.stringify(Object.fromEntries(Object.entries(labels).sort()))] = v;
  return out;
}

// Waits until Prometheus holds the final RED series carrying `source`, then checks every calls,
// bucket, sum and count series exactly. `extra(series labels)` gives the labels the path adds
// (job, instance, ...) besides `source`.
async function assertRedSeries(prom, source, extra) {
  const sel = `{source="${source}"}`;
  let last;
  await waitFor(`${prom.name}: all ${TOTAL_SPANS} spans counted in the ${source} series`, async () => {
    last = [await prom.scalar(`sum(traces_span_metrics_calls_total${sel})`),
      await prom.scalar(`sum(traces_span_metrics_duration_milliseconds_count${sel})`)];
    return last[0] === TOTAL_SPANS && last[1] === TOTAL_SPANS;
  }, {
    timeoutMs: 30000, intervalMs: 200,
    describe: async () => `sum(calls), sum(count) = ${JSON.stringify(last)}; series: ${JSON.stringify(
      await prom.query(`{__name__=~"traces_span_metrics.*"}`).catch((e) => e.message)).slice(0, 3000)}\n${prom.tail()}`,
  });

  const want = (name, value, more = {}) =>
    SERIES.map((s) => [{ __name__: name, ...s.labels, ...extra(s.labels), source, ...more }, value(s)]);

  // The brief's headline numbers, as PromQL sees them.
  const cart = `service_name="checkout",span_name="GET /cart",source="${source}"`;
  for (const [q, v] of [
    [`traces_span_metrics_calls_total{${cart},status_code="STATUS_CODE_ERROR"}`, 2],
    [`traces_span_metrics_calls_total{${cart},status_code="STATUS_CODE_UNSET"}`, 3],
    [`sum(traces_span_metrics_duration_milliseconds_count{${cart}})`, 5],
    [`sum(traces_span_metrics_duration_milliseconds_bucket{${cart},le="8"})`, 0],
    [`sum(traces_span_metrics_duration_milliseconds_bucket{${cart},le="10"})`, 1],  // the 10 ms span
    [`sum(traces_span_metrics_duration_milliseconds_bucket{${cart},le="50"})`, 3],  // + the two 30 ms ones
    [`sum(traces_span_metrics_duration_milliseconds_bucket{${cart},le="100"})`, 3],
    [`sum(traces_span_metrics_duration_milliseconds_bucket{${cart},le="200"})`, 5],  // + the two 120 ms errors
    [`sum(traces_span_metrics_duration_milliseconds_sum{${cart}})`, 310],
  ]) {
    assert.equal(await prom.scalar(q), v, q);
  }

  // Every series, whole: labels (nothing missing, nothing extra) and values.
  assert.deepEqual(bySeries(await prom.query(`traces_span_metrics_calls_total${sel}`)),
    keyed(want('traces_span_metrics_calls_total', (s) => s.durations.length)), `${source}: calls`);
  assert.deepEqual(bySeries(await prom.query(`traces_span_metrics_duration_milliseconds_count${sel}`)),
    keyed(want('traces_span_metrics_duration_milliseconds_count', (s) => s.durations.length)), `${source}: _count`);
  assert.deepEqual(bySeries(await prom.query(`traces_span_metrics_duration_milliseconds_sum${sel}`)),
    keyed(want('traces_span_metrics_duration_milliseconds_sum', (s) => s.durations.reduce((a, b) => a + b, 0))),
    `${source}: _sum (ms)`);
  const buckets = [];
  for (const le of LE) {
    buckets.push(...want('traces_span_metrics_duration_milliseconds_bucket',
      (s) => s.durations.filter((d) => le === '+Inf' || d <= Number(le)).length, { le }));
  }
  assert.deepEqual(bySeries(await prom.query(`traces_span_metrics_duration_milliseconds_bucket${sel}`)),
    keyed(buckets), `${source}: _bucket, every le of the default buckets`);
}

// The collector's own log lines that contain every one of `parts`.
function logLines(c, ...parts) {
  return c.output.split('\n').filter((l) => parts.every((p) => (p instanceof RegExp ? p.test(l) : l.includes(p))));
}

function redCollector(name, { httpPort, metricsPort, remoteWrite, scrapePort }) {
  const exporters = {
    prometheusremotewrite: {
      endpoint: remoteWrite,
      external_labels: { source: 'rw' },
      headers: { 'X-Scope-OrgID': 'e2e' },
      remote_write_queue: { queue_size: 1000 },
      retry_on_failure: fastRetry(),
      timeout: '5s',
    },
  };
  if (scrapePort) exporters.prometheus = { endpoint: `127.0.0.1:${scrapePort}`, const_labels: { source: 'scrape' } };
  return new Collector({
    name, dir: tmp.dir, metricsPort, waitPorts: [httpPort, ...(scrapePort ? [scrapePort] : [])],
    // A remote-write destination that is down must not hold the stop for the default 10s.
    args: ['--shutdown-timeout', '3'],
    config: {
      receivers: { otlp: otlpReceiver({ httpPort }) },
      connectors: { spanmetrics: CONNECTOR },
      exporters,
      service: {
        telemetry: telemetry(metricsPort),
        pipelines: {
          traces: { receivers: ['otlp'], exporters: ['spanmetrics'] },
          metrics: { receivers: ['spanmetrics'], exporters: Object.keys(exporters) },
        },
      },
    },
  });
}

// Collectors first (their last flush still reaches Prometheus), then Prometheus, whatever fails.
async function stopAll(collectors, prometheuses) {
  const errors = [];
  try {
    for (const c of collectors) {
      if (!c?.child) continue;
      try {
        const exit = await c.stop();
        if (exit.code !== 0 || exit.signal !== null) errors.push(`${c.name} exited ${JSON.stringify(exit)}:\n${c.tail()}`);
      } catch (e) {
        errors.push(e.message);
      }
    }
  } finally {
    for (const p of prometheuses) if (p) await p.stop();
  }
  assert.deepEqual(errors, [], 'collectors exit 0 on SIGTERM');
}

// ---------------------------------------------------------------------------------------------

describe('spanmetrics → prometheusremotewrite and prometheus → a real Prometheus', () => {
  let prom, c, rejected, ports;

  before(async () => {
    const [promPort, httpPort, metricsPort, scrapePort, badHttp, badMetrics] = await freePorts(6);
    ports = { promPort, httpPort, metricsPort, scrapePort, badHttp, badMetrics };
    prom = new Prometheus({ name: 'prometheus', port: promPort, scrape: [`127.0.0.1:${scrapePort}`] });
    await prom.start();
    c = redCollector('red', {
      httpPort, metricsPort, scrapePort, remoteWrite: `${prom.url}/api/v1/write`,
    });
    await c.start();
  });

  after(() => stopAll([c, rejected], [prom]));

  it('remote-written series: exact calls, buckets, sums and counts, job from service.name, no instance', async () => {
    await sendRedSpans(ports.httpPort);
    await c.waitMetric('otelcol_receiver_accepted_spans_total', { receiver: 'otlp' }, (v) => v === TOTAL_SPANS,
      { expect: TOTAL_SPANS });
    await c.waitMetric('hodos_connector_spans_total', { connector: 'spanmetrics' }, (v) => v === TOTAL_SPANS,
      { expect: TOTAL_SPANS });
    await assertRedSeries(prom, 'rw', (labels) => ({ job: labels.service_name }));
  });

  // (The spans are those the first test sent.)
  it('scraped series: the same values; Prometheus sets job/instance and keeps ours as exported_job', async () => {
    // Without honor_labels the target's job wins and the exposed job becomes exported_job.
    await assertRedSeries(prom, 'scrape', (labels) => ({
      job: 'hodos-scrape', instance: `127.0.0.1:${ports.scrapePort}`, exported_job: labels.service_name,
    }));
    assert.equal(await prom.scalar(`up{job="hodos-scrape"}`), 1);
    // The scraped series are not also remote-written, nor the other way round.
    assert.deepEqual(await prom.query('traces_span_metrics_calls_total{source="rw",instance!=""}'), []);
    assert.deepEqual(await prom.query('traces_span_metrics_calls_total{source="scrape",exported_job=""}'), []);
  });

  it('the collector counts what it sent, and no failures', async () => {
    await c.waitMetric('otelcol_exporter_sent_metric_points_total', { exporter: 'prometheusremotewrite' },
      (v) => v > 0, { expect: '> 0' });
    for (const name of ['otelcol_exporter_send_failed_metric_points_total',
      'otelcol_exporter_enqueue_failed_metric_points_total']) {
      assert.equal(await c.metric(name, { exporter: 'prometheusremotewrite' }) ?? 0, 0, name);
    }
    assert.equal(await c.metric('hodos_connector_spans_total', { connector: 'spanmetrics' }), TOTAL_SPANS);
  });

  it('a rejected write (HTTP 404) is counted as failed and logged; the collector keeps running', async () => {
    const url = `${prom.url}/api/v1/wrong`;
    rejected = redCollector('rejected', { httpPort: ports.badHttp, metricsPort: ports.badMetrics, remoteWrite: url });
    await rejected.start();
    const send = async (service) => {
      const r = await post(`http://127.0.0.1:${ports.badHttp}/v1/traces`, makeJsonRequest({ n: 2, service }).json);
      assert.equal(r.status, 200, r.text);
    };
    await send('rejected-svc');
    const failed = await rejected.waitMetric('otelcol_exporter_send_failed_metric_points_total',
      { exporter: 'prometheusremotewrite' }, (v) => v > 0, { timeoutMs: 15000, expect: '> 0' });
    assert.equal(await rejected.metric('otelcol_exporter_sent_metric_points_total',
      { exporter: 'prometheusremotewrite' }) ?? 0, 0, 'nothing counted as sent');
    const lines = await waitFor('a log line naming the exporter and HTTP 404', () => {
      const l = logLines(rejected, 'prometheusremotewrite', /\bHTTP 404\b/, url);
      return l.length ? l : false;
    }, { timeoutMs: 5000 });
    assert.match(lines[0], /exporters\.prometheusremotewrite: dropped a remote-write request: /);
    assert.ok(!logLines(rejected, 'prometheusremotewrite', 'retrying').length, 'a 404 is not retried');

    // Still running: more spans are accepted and counted, and later flushes fail again.
    assert.ok(rejected.running, `the collector exited: ${JSON.stringify(rejected.exit)}`);
    await send('rejected-svc');
    await rejected.waitMetric('hodos_connector_spans_total', { connector: 'spanmetrics' }, (v) => v === 4, { expect: 4 });
    await rejected.waitMetric('otelcol_exporter_send_failed_metric_points_total',
      { exporter: 'prometheusremotewrite' }, (v) => v > failed, { timeoutMs: 15000, expect: `> ${failed}` });
    assert.equal(await rejected.metric('otelcol_exporter_queue_size', { exporter: 'prometheusremotewrite' }) ?? 0, 0,
      'rejected requests do not stay queued');
    assert.ok(rejected.running);
    assert.deepEqual(await prom.query('{service_name="rejected-svc"}'), [], 'nothing reached Prometheus');
  });
});

describe('remote-write receiver down, then up', () => {
  let prom, c;
  after(() => stopAll([c], [prom]));

  it('the collector queues and retries; once Prometheus is up every series arrives with exact values', async () => {
    requirePrometheus();
    const [promPort, httpPort, metricsPort] = await freePorts(3);
    const url = `http://127.0.0.1:${promPort}/api/v1/write`;
    c = redCollector('late-prom', { httpPort, metricsPort, remoteWrite: url });
    await c.start();
    await sendRedSpans(httpPort);
    await c.waitMetric('hodos_connector_spans_total', { connector: 'spanmetrics' }, (v) => v === TOTAL_SPANS,
      { expect: TOTAL_SPANS });

    // Flushes go on while nobody listens: requests pile up in the queue, none counted sent or failed.
    await c.waitMetric('otelcol_exporter_queue_size', { exporter: 'prometheusremotewrite' }, (v) => v >= 3,
      { timeoutMs: 15000, expect: '>= 3 (requests)' });
    for (const name of ['otelcol_exporter_sent_metric_points_total', 'otelcol_exporter_send_failed_metric_points_total',
      'otelcol_exporter_enqueue_failed_metric_points_total']) {
      assert.equal(await c.metric(name, { exporter: 'prometheusremotewrite' }) ?? 0, 0, name);
    }
    await waitFor('a log line saying the exporter retries', () =>
      logLines(c, 'prometheusremotewrite', url, 'retrying').length > 0, { timeoutMs: 5000 });

    prom = new Prometheus({ name: 'late-prometheus', port: promPort });
    await prom.start();
    await assertRedSeries(prom, 'rw', (labels) => ({ job: labels.service_name }));
    await c.waitMetric('otelcol_exporter_queue_size', { exporter: 'prometheusremotewrite' }, (v) => v <= 1,
      { timeoutMs: 15000, expect: 'drained (<= 1)' });
    await c.waitMetric('otelcol_exporter_sent_metric_points_total', { exporter: 'prometheusremotewrite' },
      (v) => v > 0, { expect: '> 0' });
    for (const name of ['otelcol_exporter_send_failed_metric_points_total',
      'otelcol_exporter_enqueue_failed_metric_points_total']) {
      assert.equal(await c.metric(name, { exporter: 'prometheusremotewrite' }) ?? 0, 0, `${name}: nothing lost`);
    }
    await waitFor('a log line saying Prometheus accepts metrics again', () =>
      logLines(c, 'prometheusremotewrite', 'accepts metrics again').length > 0, { timeoutMs: 5000 });
  });
});

describe('config: metrics exporters belong in metrics pipelines', () => {
  const config = (pipelines) => ({
    receivers: { otlp: otlpReceiver({ httpPort: 14318 }) },
    connectors: { spanmetrics: {} },
    exporters: { prometheusremotewrite: { endpoint: 'http://127.0.0.1:9090/api/v1/write' }, debug: {} },
    service: { telemetry: telemetry(18888), pipelines },
  });
  const CASES = [
    {
      name: 'a traces pipeline that lists prometheusremotewrite',
      pipelines: {
        traces: { receivers: ['otlp'], exporters: ['prometheusremotewrite', 'spanmetrics'] },
        metrics: { receivers: ['spanmetrics'], exporters: ['prometheusremotewrite'] },
      },
      want: [/service\.pipelines\.traces\.exporters\[0\]/, /'prometheusremotewrite' exports metrics/],
    },
    {
      name: 'a metrics pipeline that lists a traces exporter',
      pipelines: {
        traces: { receivers: ['otlp'], exporters: ['spanmetrics'] },
        metrics: { receivers: ['spanmetrics'], exporters: ['prometheusremotewrite', 'debug'] },
      },
      want: [/service\.pipelines\.metrics\.exporters\[1\]/, /'debug' exports traces, not metrics/],
    },
  ];
  for (const bad of CASES) {
    it(`${bad.name} is refused, naming the key`, () => {
      const file = tmp.file(`bad-${bad.name.replace(/\W+/g, '-')}.yaml`);
      fs.writeFileSync(file, toYaml(config(bad.pipelines)));
      for (const args of [['collector', 'validate', '--config', file], ['collector', '--config', file]]) {
        const r = runHodos(args, { timeoutMs: 15000 });
        const out = `${r.stderr}${r.stdout}`;
        assert.equal(r.code, 2, `hodos ${args.join(' ')} exits 2 (got ${r.code}, signal ${r.signal}):\n${out}`);
        for (const w of bad.want) assert.match(r.stderr, w, `hodos ${args.slice(0, -2).join(' ')}:\n${out}`);
      }
    });
  }

  it('the same components wired right validate', () => {
    const file = tmp.file('good.yaml');
    fs.writeFileSync(file, toYaml(config({
      traces: { receivers: ['otlp'], exporters: ['spanmetrics', 'debug'] },
      metrics: { receivers: ['spanmetrics'], exporters: ['prometheusremotewrite'] },
    })));
    const r = runHodos(['collector', 'validate', '--config', file]);
    assert.equal(r.code, 0, `${r.stderr}${r.stdout}`);
  });
});
