// Actions and sampling end to end: a collector whose traces pipeline filters health checks,
// masks personal data, templates URLs and tail-samples, fed real OTLP/HTTP requests; the file it
// writes must hold exactly what the rules say: no health check, no email or card number, templated
// names, every error trace and every slow trace whole, and about the configured share of the rest.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { Collector, freePorts, makeTempDir, waitFor } from './lib/collector.mjs';
import { otlpReceiver, telemetry } from './lib/configs.mjs';
import { SpanKind, StatusCode, post, randomHex, readJsonLines } from './lib/otlp.mjs';

const tmp = makeTempDir('actions');
const out = tmp.file('out.jsonl');
let collector;
let httpPort;
let metricsPort;

const EMAIL = 'jane.doe@example.com';
const CARD = '4111 1111 1111 1111';

before(async () => {
  [httpPort, metricsPort] = await freePorts(2);
  collector = new Collector({
    name: 'actions', dir: tmp.dir, metricsPort, waitPorts: [httpPort],
    config: {
      receivers: { otlp: otlpReceiver({ httpPort }) },
      processors: {
        filter: { error_mode: 'ignore', traces: { span: ['attributes["url.path"] == "/health"'] } },
        redaction: { allow_all_keys: true, builtin_patterns: ['email', 'credit_card'] },
        span_template: { rules: [{ match: { span_kinds: ['server'] }, url_templates: ['/users/{user}/orders/{order}'] }] },
        tail_sampling: {
          decision_wait: '1s',
          policies: [
            { name: 'errors', type: 'status_code', status_code: { status_codes: ['ERROR'] } },
            { name: 'slow', type: 'latency', latency: { threshold_ms: 500 } },
            { name: 'some', type: 'probabilistic', probabilistic: { sampling_percentage: 20 } },
          ],
        },
      },
      exporters: { file: { path: out } },
      service: {
        telemetry: telemetry(metricsPort),
        pipelines: {
          traces: { receivers: ['otlp'], processors: ['filter', 'redaction', 'span_template', 'tail_sampling'],
                    exporters: ['file'] },
        },
      },
    },
  });
  await collector.start();
});

after(async () => {
  if (collector) assert.deepEqual(await collector.stop(), { code: 0, signal: null });
  tmp.remove();
});

const str = (key, value) => ({ key, value: { stringValue: value } });
const int = (key, value) => ({ key, value: { intValue: String(value) } });

// One trace as a service would send it: a SERVER span for `path` and a CLIENT span under it.
function trace({ path, status = 200, durationMs = 20, email = false }) {
  const traceId = randomHex(16);
  const root = randomHex(8);
  const start = BigInt(Date.now()) * 1000000n;
  const end = start + BigInt(durationMs) * 1000000n;
  const error = status >= 500;
  return {
    traceId,
    spans: [
      {
        traceId, spanId: root, name: `GET ${path}`, kind: SpanKind.SERVER,
        startTimeUnixNano: String(start), endTimeUnixNano: String(end),
        attributes: [str('http.request.method', 'GET'), str('url.path', path), int('http.response.status_code', status),
                     ...(email ? [str('user.email', EMAIL), str('payment.note', `card ${CARD} on file`)] : [])],
        status: error ? { code: StatusCode.ERROR } : {},
      },
      {
        traceId, spanId: randomHex(8), parentSpanId: root, name: 'SELECT orders', kind: SpanKind.CLIENT,
        startTimeUnixNano: String(start + 1000000n), endTimeUnixNano: String(start + 2000000n),
        attributes: [str('db.system.name', 'postgresql'), str('db.query.text', 'SELECT * FROM orders WHERE id = ?')],
      },
    ],
  };
}

async function send(traces) {
  const body = {
    resourceSpans: [{
      resource: { attributes: [str('service.name', 'shop')] },
      scopeSpans: [{ scope: { name: 'e2e' }, spans: traces.flatMap((t) => t.spans) }],
    }],
  };
  const r = await post(`http://127.0.0.1:${httpPort}/v1/traces`, body);
  assert.equal(r.status, 200, r.text);
}

test('filter, redaction, URL templates and tail sampling shape what is stored', async () => {
  const health = Array.from({ length: 20 }, () => trace({ path: '/health' }));
  const errors = Array.from({ length: 20 }, (_, i) => trace({ path: `/users/${i}/orders/${i * 7}`, status: 503, email: true }));
  const slow = Array.from({ length: 20 }, (_, i) => trace({ path: `/users/${i}/orders/1`, durationMs: 800 }));
  const normal = Array.from({ length: 400 }, (_, i) => trace({ path: `/users/${i}/orders/2` }));
  for (let i = 0; i < normal.length; i += 100) {
    await send([...normal.slice(i, i + 100), ...(i === 0 ? [...health, ...errors, ...slow] : [])]);
  }

  // Every error and slow trace whole; the decision comes after decision_wait.
  const mustKeep = [...errors, ...slow].flatMap((t) => t.spans.map((s) => s.spanId));
  let spans = [];
  await waitFor('the error and slow traces in the output', () => {
    spans = readJsonLines(out).flatMap((l) => l.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans)));
    const ids = new Set(spans.map((s) => s.spanId));
    return mustKeep.every((id) => ids.has(id));
  }, { timeoutMs: 20000, describe: () => `${spans.length} spans so far` });
  // Let the decisions of the normal traces (sent last) land as well.
  await waitFor('every trace decided', async () => {
    const m = await collector.metric('hodos_processor_tail_sampling_traces_total', { processor: 'tail_sampling', decision: 'sampled' }).catch(() => 0);
    const n = await collector.metric('hodos_processor_tail_sampling_traces_total', { processor: 'tail_sampling', decision: 'not_sampled' }).catch(() => 0);
    return m + n >= 440;
  });
  spans = readJsonLines(out).flatMap((l) => l.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans)));
  const text = readJsonLines(out).map((l) => JSON.stringify(l)).join('\n');

  // filter: no health check at all (neither span of those traces: the SERVER span is dropped by the
  // filter and the lone CLIENT span, a fast trace, goes with the probabilistic share or not).
  assert.ok(!spans.some((s) => s.name === 'GET /health'), 'a health check was stored');
  // redaction: the personal data is gone, the rest of the attributes stay.
  assert.ok(!text.includes(EMAIL), 'an email address was stored');
  assert.ok(!text.includes(CARD), 'a card number was stored');
  const errorRoot = spans.find((s) => s.spanId === errors[0].spans[0].spanId);
  const attr = (s, key) => s.attributes.find((a) => a.key === key)?.value;
  assert.match(attr(errorRoot, 'user.email').stringValue, /\*\*\*\*/);
  assert.equal(attr(errorRoot, 'db.system.name'), undefined);
  assert.equal(attr(errorRoot, 'http.request.method').stringValue, 'GET');
  // span_template: server spans are named by the route.
  assert.equal(errorRoot.name, 'GET /users/{user}/orders/{order}');
  assert.equal(attr(errorRoot, 'http.route').stringValue, '/users/{user}/orders/{order}');

  // tail sampling: whole traces only, and about 20% of the normal ones.
  const byTrace = new Map();
  for (const s of spans) byTrace.set(s.traceId, (byTrace.get(s.traceId) ?? 0) + 1);
  const keptNormal = normal.filter((t) => byTrace.has(t.traceId));
  for (const t of keptNormal) assert.equal(byTrace.get(t.traceId), 2, 'a sampled trace lost a span');
  assert.ok(keptNormal.length >= 40 && keptNormal.length <= 120,
            `${keptNormal.length} of 400 normal traces kept at 20%`);
  assert.ok(await collector.metric('hodos_processor_filter_spans_dropped_total', { processor: 'filter' }) >= 20);
  assert.ok(await collector.metric('hodos_processor_redaction_masked_total', { processor: 'redaction', kind: 'value' }) >= 40);
});
