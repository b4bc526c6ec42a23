// Actions and sampling rules at run time, end to end: a real `hodos up --no-agent` fed by the
// OpenTelemetry JS SDK. A redaction action added through the API masks the spans that arrive
// after it and leaves the stored ones alone; disabled, new spans are whole again; a filter action
// drops /health spans; sampling rules (status_code ERROR + probabilistic 0%) keep only error
// traces; a preview shows the masking diff for stored spans without changing them; bad input is
// a 400 naming the field (404, 405, 409 likewise); after a restart on the same data directory
// the actions still apply; `hodos actions` and `hodos sampling` add, list and remove.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { HODOS_BIN, makeTempDir, waitFor } from './lib/collector.mjs';
import { api as otelApi, exporterProto, resources, sdkTraceBase, sdkTraceNode } from './lib/deps.mjs';
import { HodosUp } from './lib/hodos_up.mjs';

const { SpanKind, SpanStatusCode, ROOT_CONTEXT } = otelApi;
const EMAIL = 'jane.doe@example.com';

// `hodos ARGS` without blocking the event loop: {code, stdout, stderr}.
function hodos(args) {
  return new Promise((resolve) => {
    execFile(HODOS_BIN, args, { timeout: 30000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (error.code ?? 1) : 0, stdout, stderr });
    });
  });
}

// A control API call: {status, body}.
async function call(up, method, route, body) {
  const r = await fetch(`${up.apiUrl}${route}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : (typeof body === 'string' ? body : JSON.stringify(body)),
  });
  const text = await r.text();
  let parsed;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { status: r.status, body: parsed, text };
}

// Exports one root span per spec ({name, attributes, error}) in one OTLP/HTTP request with the
// SDK's own exporter; returns [{traceId, spanId}] in order.
async function sendWithSdk(up, service, specs) {
  const exporter = new exporterProto.OTLPTraceExporter({
    url: `http://127.0.0.1:${up.ports.otlpHttp}/v1/traces`, timeoutMillis: 10000,
  });
  const provider = new sdkTraceNode.NodeTracerProvider({
    resource: resources.resourceFromAttributes({ 'service.name': service }),
    spanProcessors: [new sdkTraceBase.BatchSpanProcessor(exporter, {
      scheduledDelayMillis: 600000, maxExportBatchSize: 512, maxQueueSize: 2048,
    })],
  });
  const tracer = provider.getTracer('e2e.actions_api');
  const ids = [];
  for (const s of specs) {
    const span = tracer.startSpan(s.name, { kind: SpanKind.SERVER, attributes: s.attributes ?? {} }, ROOT_CONTEXT);
    if (s.error) span.setStatus({ code: SpanStatusCode.ERROR, message: 'boom' });
    span.end();
    ids.push({ traceId: span.spanContext().traceId, spanId: span.spanContext().spanId });
  }
  await provider.forceFlush();
  await provider.shutdown();
  return ids;
}

// The stored span (Jaeger JSON) or undefined.
async function storedSpan(up, { traceId, spanId }) {
  const r = await up.get(`/api/traces/${traceId}`);
  if (r.status !== 200) return undefined;
  return r.body.data[0]?.spans.find((s) => s.spanID === spanId);
}

async function waitForSpan(up, id) {
  let span;
  await waitFor(`span ${id.spanId} in the store`, async () => {
    span = await storedSpan(up, id);
    return span !== undefined;
  }, { timeoutMs: 20000, intervalMs: 50, describe: () => up.tail(10) });
  return span;
}

const tag = (span, key) => span.tags.find((t) => t.key === key)?.value;

const MASK = {
  name: 'mask-pii', type: 'redaction', description: 'emails out',
  config: { allow_all_keys: true, builtin_patterns: ['email'] },
};
const NO_HEALTH = {
  name: 'no-health', type: 'filter',
  config: { error_mode: 'ignore', traces: { span: ['attributes["url.path"] == "/health"'] } },
};

describe('actions and sampling rules at run time', () => {
  const tmp = makeTempDir('actions-api');
  const up = new HodosUp({ name: 'up', dir: tmp.dir });
  const service = `shop-${process.pid}`;
  let before1; // a span stored before any action

  before(async () => {
    await up.start();
  });

  after(async () => {
    if (up.running) assert.deepEqual(await up.stop(), { code: 0, signal: null });
    tmp.remove();
  });

  it('a redaction action masks new spans, not stored ones; disabled, spans are whole again', async () => {
    [before1] = await sendWithSdk(up, service, [{ name: 'GET /a', attributes: { 'user.email': EMAIL } }]);
    assert.equal(tag(await waitForSpan(up, before1), 'user.email'), EMAIL);

    const added = await call(up, 'POST', '/api/v1/actions', MASK);
    assert.equal(added.status, 201, added.text);
    assert.deepEqual(added.body.action.name, 'mask-pii');
    assert.equal(added.body.action.enabled, true);
    assert.deepEqual(added.body.action.config, MASK.config);
    // Saved at once, owner-only.
    const saved = path.join(up.dataDir, 'actions.json');
    assert.equal(fs.statSync(saved).mode & 0o777, 0o600);
    assert.equal(JSON.parse(fs.readFileSync(saved, 'utf8')).actions[0].name, 'mask-pii');

    const [masked] = await sendWithSdk(up, service, [{ name: 'GET /b', attributes: { 'user.email': EMAIL } }]);
    assert.equal(tag(await waitForSpan(up, masked), 'user.email'), '****');
    assert.equal(tag(await storedSpan(up, before1), 'user.email'), EMAIL, 'stored spans are not rewritten');

    const list = await call(up, 'GET', '/api/v1/actions');
    assert.equal(list.status, 200);
    assert.equal(list.body.actions.length, 1);
    assert.equal(list.body.actions[0].description, 'emails out');
    assert.ok(list.body.actions[0].status.spans_in >= 1, JSON.stringify(list.body));
    assert.equal(list.body.actions[0].status.spans_dropped, 0);

    const disabled = await call(up, 'POST', '/api/v1/actions/mask-pii/disable');
    assert.equal(disabled.status, 200, disabled.text);
    assert.equal(disabled.body.action.enabled, false);
    const [whole] = await sendWithSdk(up, service, [{ name: 'GET /c', attributes: { 'user.email': EMAIL } }]);
    assert.equal(tag(await waitForSpan(up, whole), 'user.email'), EMAIL);
  });

  it('a preview shows what an unsaved action would mask in stored spans, and writes nothing', async () => {
    const r = await call(up, 'POST', '/api/v1/actions/preview', {
      action: { type: 'redaction', config: MASK.config }, limit: 200, lookback: '1h',
    });
    assert.equal(r.status, 200, r.text);
    assert.ok(r.body.examined >= 3, r.text);
    assert.ok(r.body.changed >= 2, r.text); // /a and /c carry the email unmasked
    assert.equal(r.body.dropped, 0);
    const ex = r.body.examples.find((e) => e.span_id === before1.spanId);
    assert.ok(ex, r.text);
    assert.equal(ex.trace_id, before1.traceId);
    assert.equal(ex.service, service);
    assert.equal(ex.before.attributes['user.email'], EMAIL);
    assert.equal(ex.after.attributes['user.email'], '****');
    assert.deepEqual(ex.changes, ['attributes.user.email: masked']);
    assert.equal(tag(await storedSpan(up, before1), 'user.email'), EMAIL, 'a preview writes nothing');
    assert.equal((await call(up, 'GET', '/api/v1/actions')).body.actions.length, 1, 'nor saves');

    const bad = await call(up, 'POST', '/api/v1/actions/preview', { action: { type: 'redaction', config: MASK.config }, limit: 5000 });
    assert.equal(bad.status, 400);
    assert.match(bad.body.error, /^limit: /);
  });

  it('a filter action drops /health spans and counts them', async () => {
    const added = await call(up, 'POST', '/api/v1/actions', NO_HEALTH);
    assert.equal(added.status, 201, added.text);
    const [health, orders] = await sendWithSdk(up, service, [
      { name: 'GET /health', attributes: { 'url.path': '/health' } },
      { name: 'GET /orders', attributes: { 'url.path': '/orders' } },
    ]);
    // Both came in one request, so once /orders is stored, /health has been through too.
    await waitForSpan(up, orders);
    assert.equal(await storedSpan(up, health), undefined, '/health must be dropped');
    const list = (await call(up, 'GET', '/api/v1/actions')).body.actions;
    assert.deepEqual(list.map((a) => a.name), ['mask-pii', 'no-health']);
    const status = list[1].status;
    assert.ok(status.spans_dropped >= 1 && status.spans_out >= 1, JSON.stringify(status));
  });

  it('bad input: 400 naming the field, 404, 405, 409', async () => {
    let r = await call(up, 'POST', '/api/v1/actions', { name: 'x', type: 'nope', config: {} });
    assert.equal(r.status, 400);
    assert.match(r.body.error, /^type: unknown type 'nope'; use one of redaction, filter/);
    assert.equal(r.body.errors[0].msg, r.body.error);
    r = await call(up, 'POST', '/api/v1/actions', { name: 'x', type: 'redaction', config: { builtin_patterns: ['ssn'] } });
    assert.equal(r.status, 400);
    assert.match(r.body.error, /^config\.builtin_patterns\[0\]: unknown pattern 'ssn'/);
    r = await call(up, 'POST', '/api/v1/actions', { name: 'Not OK', type: 'filter', config: {} });
    assert.equal(r.status, 400);
    assert.match(r.body.error, /^name: /);
    r = await call(up, 'POST', '/api/v1/actions', 'not json');
    assert.equal(r.status, 400);
    r = await call(up, 'POST', '/api/v1/actions', MASK);
    assert.equal(r.status, 409);
    r = await call(up, 'DELETE', '/api/v1/actions/nope');
    assert.equal(r.status, 404);
    r = await call(up, 'PATCH', '/api/v1/actions');
    assert.equal(r.status, 405);
    r = await call(up, 'GET', '/api/v1/actions/mask-pii/enable');
    assert.equal(r.status, 405);
    r = await call(up, 'POST', '/api/v1/sampling', { name: 'e', type: 'status_code', config: { status_codes: ['FAILED'] } });
    assert.equal(r.status, 400);
    assert.match(r.body.error, /^config\.status_codes: unknown status code 'FAILED'/);
    r = await call(up, 'PUT', '/api/v1/sampling/settings', { decision_wait: 'soon' });
    assert.equal(r.status, 400);
    assert.match(r.body.error, /^decision_wait: /);
    // Nothing of that was saved.
    assert.equal((await call(up, 'GET', '/api/v1/actions')).body.actions.length, 2);
    assert.equal((await call(up, 'GET', '/api/v1/sampling')).body.rules.length, 0);

    const types = await call(up, 'GET', '/api/v1/actions/types');
    assert.deepEqual(types.body.types.map((t) => t.type), ['redaction', 'filter', 'span_template', 'attributes', 'resource']);
    assert.ok(types.body.types.every((t) => t.title && t.help && typeof t.example === 'object'));
  });

  it('sampling rules status_code ERROR + probabilistic 0% keep only error traces', async () => {
    let r = await call(up, 'PUT', '/api/v1/sampling/settings', { decision_wait: '1s' });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.body.settings, { decision_wait: '1s', num_traces: 50000 });
    r = await call(up, 'POST', '/api/v1/sampling', { name: 'errors', type: 'status_code', config: { status_codes: ['ERROR'] } });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.body.rule.name, 'errors');
    r = await call(up, 'POST', '/api/v1/sampling', { name: 'nothing-else', type: 'probabilistic', config: { sampling_percentage: 0 } });
    assert.equal(r.status, 201, r.text);

    const [failed, fine] = await sendWithSdk(up, service, [
      { name: 'POST /pay', error: true },
      { name: 'GET /ok' },
    ]);
    await waitForSpan(up, failed);
    // Both traces arrived together and were decided together: once both decisions are counted,
    // the kept one is stored and the other never will be.
    await waitFor('both sampling decisions', async () => {
      const c = (await call(up, 'GET', '/api/v1/sampling')).body.counts;
      return c.traces_sampled >= 1 && c.traces_not_sampled >= 1;
    }, { timeoutMs: 20000 });
    assert.equal(await storedSpan(up, fine), undefined, 'the non-error trace must be dropped');
    const s = (await call(up, 'GET', '/api/v1/sampling')).body;
    assert.deepEqual(s.rules.map((x) => [x.name, x.enabled]), [['errors', true], ['nothing-else', true]]);
    assert.equal(JSON.parse(fs.readFileSync(path.join(up.dataDir, 'sampling.json'), 'utf8')).rules.length, 2);

    // Disabled, every trace is kept again, at once.
    for (const name of ['errors', 'nothing-else']) {
      r = await call(up, 'POST', `/api/v1/sampling/${name}/disable`);
      assert.equal(r.status, 200, r.text);
      assert.equal(r.body.rule.enabled, false);
    }
    const [kept] = await sendWithSdk(up, service, [{ name: 'GET /ok-again' }]);
    await waitForSpan(up, kept);
  });

  it('after a restart on the same data dir the actions still apply', async () => {
    assert.equal((await call(up, 'POST', '/api/v1/actions/mask-pii/enable')).status, 200);
    assert.deepEqual(await up.stop(), { code: 0, signal: null });
    await up.start();
    assert.match(up.stdout, /actions: +2 \(hodos actions list\)/);
    const list = (await call(up, 'GET', '/api/v1/actions')).body.actions;
    assert.deepEqual(list.map((a) => [a.name, a.enabled]), [['mask-pii', true], ['no-health', true]]);
    const [masked, health] = await sendWithSdk(up, service, [
      { name: 'GET /d', attributes: { 'user.email': EMAIL } },
      { name: 'GET /health', attributes: { 'url.path': '/health' } },
    ]);
    assert.equal(tag(await waitForSpan(up, masked), 'user.email'), '****');
    assert.equal(await storedSpan(up, health), undefined);
    const s = (await call(up, 'GET', '/api/v1/sampling')).body;
    assert.equal(s.settings.decision_wait, '1s');
    assert.deepEqual(s.rules.map((x) => [x.name, x.enabled]), [['errors', false], ['nothing-else', false]]);
  });

  it('hodos actions and hodos sampling: add, list, preview, remove', async () => {
    const api = ['--api', up.apiUrl];
    let r = await hodos(['actions', 'add', 'team', '--type', 'attributes', '--description', 'who owns it',
      '--config', '{"actions": [{"key": "team", "value": "payments", "action": "insert"}]}', ...api]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /added team \(attributes, enabled/);
    r = await hodos(['actions', 'list', ...api]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^NAME +TYPE +ENABLED/m);
    assert.match(r.stdout, /^team +attributes +yes +\d+ +\d+ +\d+ +who owns it$/m);
    const [tagged] = await sendWithSdk(up, service, [{ name: 'GET /e' }]);
    assert.equal(tag(await waitForSpan(up, tagged), 'team'), 'payments');

    r = await hodos(['actions', 'add', 'broken', '--type', 'redaction', '--config', '{"summary": "loud"}', ...api]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /config\.summary: unknown summary 'loud'/);

    r = await hodos(['actions', 'preview', '--type', 'redaction', '--config', JSON.stringify(MASK.config), ...api]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /most recent stored spans: \d+ would change, 0 would be dropped/);
    assert.match(r.stdout, /attributes\.user\.email: masked/);

    r = await hodos(['actions', 'remove', 'team', ...api]);
    assert.equal(r.code, 0, r.stderr);
    r = await hodos(['actions', 'list', '--json', ...api]);
    assert.deepEqual(JSON.parse(r.stdout).actions.map((a) => a.name), ['mask-pii', 'no-health']);

    r = await hodos(['sampling', 'add', 'slow', '--type', 'latency', '--config', '{"threshold_ms": 500}', '--disabled', ...api]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /added slow \(latency, disabled\)/);
    r = await hodos(['sampling', 'settings', '--num-traces', '1000', ...api]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /decision_wait 1s, num_traces 1000/);
    r = await hodos(['sampling', 'list', ...api]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^slow +latency +no +\{"threshold_ms":500\}$/m);
    r = await hodos(['sampling', 'remove', 'slow', ...api]);
    assert.equal(r.code, 0, r.stderr);
    r = await hodos(['sampling', 'list', '--json', ...api]);
    assert.deepEqual(JSON.parse(r.stdout).rules.map((x) => x.name), ['errors', 'nothing-else']);
  });
});
