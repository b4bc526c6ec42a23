// `hodos up` end to end: the real OpenTelemetry JS SDK sends a known set of traces (see
// lib/shop_traces.mjs) over OTLP gRPC, HTTP/protobuf and HTTP/JSON into the embedded store, and
// every route of the Jaeger-compatible query API must answer with Jaeger's exact JSON shapes:
// services, operations, trace by id (references, processes, derived tags, logs), search by every
// parameter (a table), dependencies, SPM metrics, the OTLP-native v3 route, health and /metrics;
// malformed parameters are 400s naming the parameter, never 500s.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { makeTempDir, parsePrometheus, metricValue } from './lib/collector.mjs';
import { HodosUp, query } from './lib/hodos_up.mjs';
import { canonical, jsonToProtoObject, makeJsonRequest, post, randomHex } from './lib/otlp.mjs';
import { MS, sendShopTraces } from './lib/shop_traces.mjs';

// Jaeger's ui.Span fields (model/json): required ones and the optional ones it may omit.
const SPAN_REQUIRED = ['traceID', 'spanID', 'operationName', 'references', 'startTime', 'duration', 'tags', 'logs',
  'processID', 'warnings'];
const SPAN_OPTIONAL = ['flags', 'parentSpanID', 'process'];
const TAG_TYPES = new Set(['string', 'bool', 'int64', 'float64', 'binary']);

function tag(key, value, type) {
  type ??= typeof value === 'boolean' ? 'bool' : typeof value === 'number' ? 'int64' : 'string';
  return { key, type, value };
}

function findTag(span, key) {
  return span.tags.find((t) => t.key === key);
}

describe('hodos up: store and Jaeger query API', () => {
  const tmp = makeTempDir('store-api');
  const up = new HodosUp({ name: 'store-api', dir: tmp.dir });
  let shop;
  let letterOf; // trace id → 'A'..'D'

  before(async () => {
    await up.start();
    shop = await sendShopTraces({ grpcPort: up.ports.grpc, httpPort: up.ports.otlpHttp });
    letterOf = new Map(['A', 'B', 'C', 'D'].map((l) => [shop[l].traceId, l]));
  });

  after(async () => {
    const exit = await up.stop();
    assert.deepEqual(exit, { code: 0, signal: null }, `hodos up exits 0 on SIGTERM:\n${up.tail()}`);
    assert.match(up.stdout, /hodos up: stopped/);
    tmp.remove();
  });

  // The letters of the traces in a search answer, in answer order; unknown ids as themselves.
  const letters = (body) => body.data.map((t) => letterOf.get(t.traceID) ?? t.traceID);

  it('GET /api/health answers 200 and the ready lines name every endpoint', async () => {
    assert.deepEqual(await up.json('/api/health'), { status: 'ok' });
    // Started with port 0 everywhere: the lines show the ports actually bound.
    for (const p of Object.values(up.ports)) assert.ok(p > 0, JSON.stringify(up.ports));
    assert.match(up.stdout, new RegExp(`UI/API: +http://127\\.0\\.0\\.1:${up.ports.http}`));
    assert.match(up.stdout, new RegExp(`OTLP gRPC: +127\\.0\\.0\\.1:${up.ports.grpc}`));
    assert.match(up.stdout, new RegExp(`OTLP HTTP: +http://127\\.0\\.0\\.1:${up.ports.otlpHttp}/v1/traces`));
    assert.ok(up.stdout.includes(`data:      ${up.dataDir}`), up.stdout);
    assert.match(up.stdout, /\n  agent: +off \(--no-agent\)\n/);
    assert.doesNotMatch(up.stdout, /auth:/, 'no token on loopback');
  });

  it('GET /api/services lists every service once, sorted', async () => {
    assert.deepEqual(await up.json('/api/services'), {
      data: ['frontend', 'inventory', 'payments'], total: 3, limit: 0, offset: 0, errors: null,
    });
  });

  it('prettyPrint indents the same JSON by four spaces, as Jaeger does', async () => {
    const plain = await up.get('/api/services');
    const pretty = await up.get('/api/services?prettyPrint=true');
    assert.doesNotMatch(plain.text, /\n/);
    assert.match(pretty.text, /^{\n {4}"data": \[\n {8}"frontend",/);
    assert.deepEqual(pretty.body, plain.body);
    assert.equal((await up.get('/api/services?prettyPrint=false')).text, plain.text);
  });

  it('GET /api/services/{service}/operations lists unique operation names', async () => {
    const body = await up.json('/api/services/frontend/operations');
    assert.deepEqual({ ...body, data: [...body.data].sort() }, {
      data: ['GET /checkout', 'GET /health', 'GET /stock', 'POST /pay', 'render'],
      total: 5, limit: 0, offset: 0, errors: null,
    });
    // POST /pay is both a frontend client and a payments server operation: each list has it once.
    assert.deepEqual([...(await up.json('/api/services/payments/operations')).data].sort(), ['POST /pay', 'SELECT payments']);
  });

  it('GET /api/operations?service=&spanKind= answers {name, spanKind} objects, filtered by kind', async () => {
    const sortOps = (ops) => [...ops].sort((a, b) => `${a.name}/${a.spanKind}`.localeCompare(`${b.name}/${b.spanKind}`));
    const all = await up.json(`/api/operations${query({ service: 'frontend' })}`);
    assert.deepEqual({ ...all, data: sortOps(all.data) }, {
      data: [
        { name: 'GET /checkout', spanKind: 'server' },
        { name: 'GET /health', spanKind: 'server' },
        { name: 'GET /stock', spanKind: 'server' },
        { name: 'POST /pay', spanKind: 'client' },
        { name: 'render', spanKind: 'internal' },
      ],
      total: 5, limit: 0, offset: 0, errors: null,
    });
    const servers = await up.json(`/api/operations${query({ service: 'frontend', spanKind: 'server' })}`);
    assert.deepEqual(sortOps(servers.data).map((o) => o.name), ['GET /checkout', 'GET /health', 'GET /stock']);
    assert.deepEqual((await up.json(`/api/operations${query({ service: 'frontend', spanKind: 'client' })}`)).data,
      [{ name: 'POST /pay', spanKind: 'client' }]);
    assert.deepEqual(sortOps((await up.json(`/api/operations${query({ service: 'payments' })}`)).data), [
      { name: 'POST /pay', spanKind: 'server' },
      { name: 'SELECT payments', spanKind: 'client' },
    ]);
    assert.deepEqual((await up.json(`/api/operations${query({ service: 'payments', spanKind: 'producer' })}`)).data, []);
  });

  it('GET /api/traces/{id} answers the trace in Jaeger\'s shape: references, processes, tags, logs', async () => {
    const A = shop.A;
    const body = await up.json(`/api/traces/${A.traceId}`);
    assert.deepEqual(Object.keys(body).sort(), ['data', 'errors', 'limit', 'offset', 'total']);
    assert.equal(body.errors, null);
    assert.equal(body.data.length, 1);
    const t = body.data[0];
    assert.deepEqual(Object.keys(t).sort(), ['processes', 'spans', 'traceID', 'warnings']);
    assert.equal(t.traceID, A.traceId);
    assert.equal(t.warnings, null);
    assert.equal(t.spans.length, 5);

    // processes: p1, p2, ... one per distinct resource; the service name is not repeated as a tag.
    for (const [pid, p] of Object.entries(t.processes)) {
      assert.match(pid, /^p\d+$/);
      assert.deepEqual(Object.keys(p).sort(), ['serviceName', 'tags']);
      assert.ok(!p.tags.some((x) => x.key === 'service.name'), `${pid} repeats service.name`);
    }
    assert.equal(Object.keys(t.processes).length, 2);
    const byId = new Map(t.spans.map((s) => [s.spanID, s]));
    const processOf = (s) => t.processes[s.processID];

    const expected = [
      [A.spans.root, 'frontend', 'server'],
      [A.spans.payClient, 'frontend', 'client'],
      [A.spans.payServer, 'payments', 'server'],
      [A.spans.db, 'payments', 'client'],
      [A.spans.render, 'frontend', 'internal'],
    ];
    for (const [want, service, kind] of expected) {
      const s = byId.get(want.spanId);
      assert.ok(s, `span ${want.name} (${want.spanId}) is in the trace`);
      const keys = Object.keys(s);
      for (const k of SPAN_REQUIRED) assert.ok(keys.includes(k), `${want.name}: has ${k}`);
      for (const k of keys) assert.ok(SPAN_REQUIRED.includes(k) || SPAN_OPTIONAL.includes(k), `${want.name}: unexpected ${k}`);
      assert.equal(s.traceID, A.traceId);
      assert.equal(s.operationName, want.name);
      assert.equal(s.startTime, want.startUs, `${want.name}: startTime in µs`);
      assert.equal(s.duration, want.durationUs, `${want.name}: duration in µs`);
      assert.equal(s.warnings, null);
      assert.deepEqual(s.references, want.parentSpanId
        ? [{ refType: 'CHILD_OF', traceID: A.traceId, spanID: want.parentSpanId }]
        : []);
      assert.equal(processOf(s).serviceName, service);
      assert.deepEqual(findTag(s, 'span.kind'), tag('span.kind', kind), `${want.name}: span.kind`);
      assert.deepEqual(findTag(s, 'otel.scope.name'), tag('otel.scope.name', 'shop.instrumentation'));
      assert.deepEqual(findTag(s, 'otel.scope.version'), tag('otel.scope.version', '1.4.0'));
      for (const x of s.tags) {
        assert.deepEqual(Object.keys(x).sort(), ['key', 'type', 'value']);
        assert.ok(TAG_TYPES.has(x.type), `${want.name}: tag type ${x.type}`);
      }
    }
    assert.deepEqual(processOf(byId.get(A.spans.root.spanId)).tags.sort((a, b) => a.key.localeCompare(b.key)), [
      tag('deployment.environment.name', 'prod'), tag('host.name', 'shop-1'),
    ]);
    assert.deepEqual(processOf(byId.get(A.spans.payServer.spanId)).tags.sort((a, b) => a.key.localeCompare(b.key)), [
      tag('deployment.environment.name', 'prod'), tag('host.name', 'pay-1'),
    ]);
    // Spans of one resource share one process.
    assert.equal(byId.get(A.spans.root.spanId).processID, byId.get(A.spans.render.spanId).processID);

    // The failing span: error=true, status code and description, attributes typed, events as logs.
    const pay = byId.get(A.spans.payServer.spanId);
    assert.deepEqual(findTag(pay, 'error'), tag('error', true));
    assert.deepEqual(findTag(pay, 'otel.status_code'), tag('otel.status_code', 'ERROR'));
    assert.deepEqual(findTag(pay, 'otel.status_description'), tag('otel.status_description', 'card declined'));
    assert.deepEqual(findTag(pay, 'http.response.status_code'), tag('http.response.status_code', 500));
    assert.deepEqual(findTag(pay, 'http.request.method'), tag('http.request.method', 'POST'));
    assert.deepEqual(pay.logs, [
      { timestamp: shop.times.A + 40 * MS, fields: [tag('event', 'retry'), tag('attempt', 2)] },
      {
        timestamp: shop.times.A + 70 * MS,
        fields: [tag('event', 'exception'), tag('exception.type', 'CardError'), tag('exception.message', 'card declined')],
      },
    ]);
    // Unset status: neither error nor otel.status_code.
    const root = byId.get(A.spans.root.spanId);
    assert.equal(findTag(root, 'error'), undefined);
    assert.equal(findTag(root, 'otel.status_code'), undefined);
    assert.deepEqual(root.logs, []);
    // Spans come in start order.
    const starts = t.spans.map((s) => s.startTime);
    assert.deepEqual(starts, [...starts].sort((a, b) => a - b));

    // OK status: otel.status_code=OK and no error tag.
    const b = (await up.json(`/api/traces/${shop.B.traceId}`)).data[0].spans[0];
    assert.deepEqual(findTag(b, 'otel.status_code'), tag('otel.status_code', 'OK'));
    assert.equal(findTag(b, 'error'), undefined);
    // The same service on another resource is another process.
    const c = (await up.json(`/api/traces/${shop.C.traceId}`)).data[0];
    assert.deepEqual(Object.values(c.processes).map((p) => [p.serviceName, p.tags.find((x) => x.key === 'deployment.environment.name').value]),
      [['frontend', 'staging']]);
  });

  it('GET /api/traces/{id} of an unknown trace is a 404 with Jaeger\'s errors array', async () => {
    const r = await up.get(`/api/traces/${randomHex(16)}`);
    assert.equal(r.status, 404);
    assert.match(r.headers.get('content-type'), /application\/json/);
    assert.deepEqual(r.body, { data: null, total: 0, limit: 0, offset: 0, errors: [{ code: 404, msg: 'trace not found' }] });
  });

  it('GET /api/v3/traces/{id} answers {"result": OTLP TracesData} equal to what the SDK sent', async () => {
    const A = shop.A.traceId;
    const body = await up.json(`/api/v3/traces/${A}`);
    assert.deepEqual(Object.keys(body), ['result']);
    // Strict OTLP JSON (hex ids, integer enums, 64-bit integers as strings), then compared as
    // protobuf with every span of trace A the SDK exported.
    const got = canonical([jsonToProtoObject(body.result)]);
    const want = canonical(shop.requests, (span) => span.traceId === A);
    assert.deepEqual(got, want);

    const missing = await up.get(`/api/v3/traces/${randomHex(16)}`);
    assert.equal(missing.status, 404);
    assert.equal(missing.body.error.httpCode, 404);
    assert.match(missing.body.error.message, /not found/);
  });

  // [description, params (pairs), expected traces in order or as a set]
  const t = () => shop.times;
  const SEARCHES = [
    ['service alone: every trace with a span of it', [['service', 'frontend']], 'ABCD'],
    ['a service reached only as a child', [['service', 'payments']], 'A'],
    ['a service with nothing in range', [['service', 'inventory'], ['lookback', '1h']], ''],
    ['operation', [['service', 'frontend'], ['operation', 'GET /checkout']], 'AC'],
    ['operation of a child span', [['service', 'payments'], ['operation', 'SELECT payments']], 'A'],
    ['an unknown operation', [['service', 'frontend'], ['operation', 'DELETE /cart']], ''],
    ['minDuration', [['service', 'frontend'], ['minDuration', '1s']], 'C'],
    ['minDuration is inclusive', [['service', 'frontend'], ['minDuration', '1.5s']], 'C'],
    ['minDuration above every span', [['service', 'frontend'], ['minDuration', '1501ms']], ''],
    ['maxDuration is inclusive', [['service', 'frontend'], ['maxDuration', '2ms']], 'B'],
    ['maxDuration in µs', [['service', 'frontend'], ['maxDuration', '1999us']], ''],
    ['maxDuration with the µ sign', [['service', 'frontend'], ['maxDuration', '2000µs']], 'B'],
    ['min and max on the same span', [['service', 'frontend'], ['minDuration', '50ms'], ['maxDuration', '200ms']], 'A'],
    ['Go durations with fractions and several units', [['service', 'frontend'], ['minDuration', '0.05s'], ['maxDuration', '1m30s']], 'AC'],
    ['start and end (µs) around one trace', () => [['service', 'frontend'], ['start', t().D - 60e6], ['end', t().D + 60e6]], 'D'],
    ['end is inclusive', () => [['service', 'frontend'], ['end', t().B]], 'ABD'],
    ['start is inclusive', () => [['service', 'frontend'], ['start', t().C]], 'C'],
    ['start alone', () => [['service', 'frontend'], ['start', t().A - 1]], 'ABC'],
    ['lookback 1h', [['service', 'frontend'], ['lookback', '1h']], 'ABC'],
    ['lookback 4h', [['service', 'frontend'], ['lookback', '4h']], 'ABCD'],
    ['lookback in days', [['service', 'frontend'], ['lookback', '2d']], 'ABCD'],
    ['lookback=custom uses start and end', () => [['service', 'frontend'], ['lookback', 'custom'], ['start', t().D - 1], ['end', t().D + 1]], 'D'],
    ['limit keeps the newest', [['service', 'frontend'], ['limit', '1']], ['C']],
    ['limit 2, newest first', [['service', 'frontend'], ['limit', '2']], ['C', 'B']],
    ['limit 0 is the default', [['service', 'frontend'], ['limit', '0']], 'ABCD'],
    // Tags: span attributes.
    ['tag on a span attribute', [['service', 'frontend'], ['tag', 'http.response.status_code:500']], 'A'],
    ['a tag value with "/"', [['service', 'frontend'], ['tag', 'url.path:/checkout']], 'A'],
    ['tag=key:value splits at the first ":"', [['service', 'frontend'], ['tag', 'url.full:http://payments:8443/pay']], 'A'],
    ['tags JSON with a number', [['service', 'frontend'], ['tags', '{"http.response.status_code":500}']], 'A'],
    ['tags JSON, two conditions on one span', [['service', 'frontend'], ['tags', '{"http.response.status_code":"500","span.kind":"client"}']], 'A'],
    ['tag and tags together', [['service', 'frontend'], ['tag', 'span.kind:client'], ['tags', '{"http.response.status_code":"500"}']], 'A'],
    ['two conditions true only on different spans do not match', [['service', 'frontend'], ['tag', 'http.response.status_code:500'], ['tag', 'span.kind:server']], ''],
    ['a condition nobody has', [['service', 'frontend'], ['tag', 'http.response.status_code:404']], ''],
    // Tags derived from kind and status.
    ['error=true', [['service', 'payments'], ['tag', 'error:true']], 'A'],
    ['error=true with span.kind of that span', [['service', 'payments'], ['tags', '{"error":"true","span.kind":"server"}']], 'A'],
    ['error=true with span.kind of another span', [['service', 'payments'], ['tag', 'error:true'], ['tag', 'span.kind:client']], ''],
    ['error=true on a service without errors', [['service', 'frontend'], ['tag', 'error:true']], ''],
    ['otel.status_code=ERROR', [['service', 'payments'], ['tag', 'otel.status_code:ERROR']], 'A'],
    ['otel.status_code=OK', [['service', 'frontend'], ['tag', 'otel.status_code:OK']], 'B'],
    ['otel.status_description', [['service', 'payments'], ['tag', 'otel.status_description:card declined']], 'A'],
    ['span.kind', [['service', 'frontend'], ['tag', 'span.kind:internal']], 'A'],
    // Process (resource) tags, alone and with span tags on the same span.
    ['process tag', [['service', 'frontend'], ['tag', 'deployment.environment.name:staging']], 'C'],
    ['process tag shared by several traces', [['service', 'frontend'], ['tag', 'deployment.environment.name:prod']], 'ABD'],
    ['process tag and span tag', [['service', 'frontend'], ['tag', 'host.name:shop-1'], ['tag', 'http.response.status_code:200']], 'AB'],
    ['process tag and span tag (JSON)', [['service', 'frontend'], ['tags', '{"deployment.environment.name":"staging","user.tier":"gold"}']], 'C'],
    ['process tag of one resource, span tag of another', [['service', 'frontend'], ['tag', 'host.name:shop-2'], ['tag', 'http.response.status_code:500']], ''],
    ['process tag of another service', [['service', 'frontend'], ['tag', 'host.name:pay-1']], ''],
    // Log (event) fields.
    ['log field', [['service', 'payments'], ['tag', 'exception.type:CardError']], 'A'],
    ['event name as the log field "event"', [['service', 'payments'], ['tag', 'event:retry']], 'A'],
    ['integer log field', [['service', 'payments'], ['tag', 'attempt:2']], 'A'],
    ['log field and span tag on the same span', [['service', 'payments'], ['tag', 'exception.message:card declined'], ['tag', 'span.kind:server']], 'A'],
    ['log field and span tag of different spans', [['service', 'payments'], ['tag', 'exception.type:CardError'], ['tag', 'db.system:postgresql']], ''],
    // Everything at once.
    ['operation + tags + process tag + durations + time range + limit', () => [
      ['service', 'frontend'], ['operation', 'GET /checkout'], ['tags', '{"user.tier":"gold"}'],
      ['tag', 'deployment.environment.name:staging'], ['minDuration', '1s'], ['maxDuration', '2s'],
      ['start', t().A], ['end', t().C + 1], ['limit', '5']], 'C'],
    ['operation + process tag', [['service', 'frontend'], ['operation', 'GET /checkout'], ['tag', 'deployment.environment.name:prod']], 'A'],
    ['operation + minDuration', [['service', 'frontend'], ['operation', 'render'], ['minDuration', '10ms']], 'A'],
    ['operation + span.kind', [['service', 'frontend'], ['operation', 'POST /pay'], ['tag', 'span.kind:client']], 'A'],
    ['operation + log field + error', [['service', 'payments'], ['operation', 'POST /pay'], ['tag', 'event:exception'], ['tag', 'error:true']], 'A'],
    ['operation + a tag of a sibling span', [['service', 'payments'], ['operation', 'SELECT payments'], ['tag', 'error:true']], ''],
  ];

  it('GET /api/traces searches by every parameter and combination (table)', async () => {
    const failures = [];
    for (const [what, params, want] of SEARCHES) {
      const pairs = typeof params === 'function' ? params() : params;
      const r = await up.get(`/api/traces${query(pairs)}`);
      if (r.status !== 200) {
        failures.push(`${what}: ${r.status} ${r.text}`);
        continue;
      }
      assert.deepEqual(Object.keys(r.body).sort(), ['data', 'errors', 'limit', 'offset', 'total']);
      assert.equal(r.body.errors, null);
      const got = letters(r.body);
      // A string lists the traces as a set; an array is the exact order (newest first).
      const ok = Array.isArray(want)
        ? JSON.stringify(got) === JSON.stringify(want)
        : JSON.stringify([...got].sort()) === JSON.stringify([...want].sort());
      if (!ok) failures.push(`${what}: ${query(pairs)} → ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
      for (const trace of r.body.data) assert.deepEqual(Object.keys(trace).sort(), ['processes', 'spans', 'traceID', 'warnings']);
    }
    assert.deepEqual(failures, [], `searches that answered wrong:\n${failures.join('\n')}`);
  });

  it('GET /api/traces?traceID=... loads those traces and reports the missing ones', async () => {
    const unknown = randomHex(16);
    const r = await up.json(`/api/traces${query([['traceID', shop.B.traceId], ['traceID', unknown], ['traceID', shop.C.traceId]])}`);
    assert.deepEqual([...letters(r)].sort(), ['B', 'C']);
    assert.deepEqual(r.errors, [{ msg: 'trace not found', traceID: unknown }]);
  });

  it('service names with "/", spaces and non-ASCII work in paths and parameters', async () => {
    const service = 'edge/gw ✓ 1';
    const req = makeJsonRequest({ n: 1, service, name: 'GET /edge' });
    const r = await post(`http://127.0.0.1:${up.ports.otlpHttp}/v1/traces`, req.json);
    assert.equal(r.status, 200, r.text);
    assert.ok((await up.json('/api/services')).data.includes(service));
    assert.deepEqual((await up.json(`/api/services/${encodeURIComponent(service)}/operations`)).data, ['GET /edge-0']);
    assert.deepEqual((await up.json(`/api/operations${query({ service })}`)).data.map((o) => o.name), ['GET /edge-0']);
    const found = await up.json(`/api/traces${query({ service })}`);
    assert.equal(found.data.length, 1);
    assert.equal(found.data[0].traceID, req.traceId);
  });

  it('a span older than the retention is answered as a partial success, the rest of the request stored', async () => {
    // Two spans of one trace; the second started 8 days ago (default --retention 7d), as from
    // a sender whose clock is a week behind.
    const req = makeJsonRequest({ n: 2, service: 'old-clock', name: 'GET /tick' });
    const spans = req.json.resourceSpans[0].scopeSpans[0].spans;
    const eightDays = 8n * 24n * 3600n * 1000000000n;
    spans[1].startTimeUnixNano = String(BigInt(spans[1].startTimeUnixNano) - eightDays);
    spans[1].endTimeUnixNano = String(BigInt(spans[1].endTimeUnixNano) - eightDays);
    const r = await post(`http://127.0.0.1:${up.ports.otlpHttp}/v1/traces`, req.json);
    assert.equal(r.status, 200, r.text);
    const partial = JSON.parse(r.text).partialSuccess;
    assert.equal(partial?.rejectedSpans, '1', r.text);
    assert.match(partial.errorMessage, /retention/, r.text);
    const trace = await up.json(`/api/traces/${req.traceId}`);
    assert.deepEqual(trace.data[0].spans.map((s) => s.operationName), ['GET /tick-0']);
  });

  it('GET /api/dependencies answers Jaeger DependencyLinks within endTs/lookback (ms)', async () => {
    const sortLinks = (d) => [...d].sort((a, b) => a.child.localeCompare(b.child));
    const all = await up.json('/api/dependencies');
    assert.deepEqual({ ...all, data: sortLinks(all.data) }, {
      data: [
        { parent: 'frontend', child: 'inventory', callCount: 1, errorCount: 0 },
        { parent: 'frontend', child: 'payments', callCount: 1, errorCount: 1 },
        // A database is a node too, named by the db.system.name of the calls to it.
        { parent: 'payments', child: 'postgresql', callCount: 1, errorCount: 0 },
      ],
      total: 0, limit: 0, offset: 0, errors: null,
    });
    assert.deepEqual(sortLinks((await up.json(`/api/dependencies${query({ endTs: Date.now(), lookback: 3600000 })}`)).data),
      [{ parent: 'frontend', child: 'payments', callCount: 1, errorCount: 1 },
       { parent: 'payments', child: 'postgresql', callCount: 1, errorCount: 0 }]);
    const endD = Math.floor(shop.times.D / 1000) + 60000;
    assert.deepEqual((await up.json(`/api/dependencies${query({ endTs: endD, lookback: 120000 })}`)).data,
      [{ parent: 'frontend', child: 'inventory', callCount: 1, errorCount: 0 }]);
    assert.deepEqual(sortLinks((await up.json(`/api/dependencies${query({ service: 'payments' })}`)).data),
      [{ parent: 'frontend', child: 'payments', callCount: 1, errorCount: 1 },
       { parent: 'payments', child: 'postgresql', callCount: 1, errorCount: 0 }]);
    assert.deepEqual((await up.json(`/api/dependencies${query({ endTs: Math.floor(shop.times.D / 1000) - 3600000 })}`)).data, []);
  });

  describe('service performance monitoring: /api/metrics/*', () => {
    // One point at endTs whose 30-minute window covers traces A, B and C but not D.
    const WINDOW = 30 * 60 * 1000;
    let endTs;
    before(() => {
      endTs = Date.now();
    });
    const oneWindow = (extra) => query([['endTs', endTs], ['lookback', WINDOW], ['step', WINDOW], ['ratePer', WINDOW], ...extra]);
    const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$/;

    // Jaeger's MetricFamily JSON (OpenMetrics proto via jsonpb).
    function checkFamily(body, name, help) {
      assert.deepEqual(Object.keys(body).sort(), ['help', 'metrics', 'name', 'type']);
      assert.equal(body.name, name);
      assert.equal(body.type, 'GAUGE');
      assert.equal(body.help, help);
      for (const m of body.metrics) {
        assert.deepEqual(Object.keys(m).sort(), ['labels', 'metricPoints']);
        for (const l of m.labels) assert.deepEqual(Object.keys(l).sort(), ['name', 'value']);
        for (const p of m.metricPoints) {
          assert.deepEqual(Object.keys(p).sort(), ['gaugeValue', 'timestamp']);
          assert.deepEqual(Object.keys(p.gaugeValue), ['doubleValue']);
          assert.equal(typeof p.gaugeValue.doubleValue, 'number');
          assert.match(p.timestamp, RFC3339);
        }
      }
    }
    // {"service[/operation]": [value, ...]} of a family.
    function series(body) {
      const out = {};
      for (const m of body.metrics) {
        const labels = Object.fromEntries(m.labels.map((l) => [l.name, l.value]));
        const key = labels.operation !== undefined ? `${labels.service_name}/${labels.operation}` : labels.service_name;
        out[key] = m.metricPoints.map((p) => p.gaugeValue.doubleValue);
        for (const p of m.metricPoints) assert.equal(Date.parse(p.timestamp), endTs, 'the point is at endTs');
      }
      return out;
    }
    const close = (a, b) => Math.abs(a - b) < 1e-9;

    it('calls: calls/s over ratePer, per service or per operation, by span kind', async () => {
      const calls = await up.json(`/api/metrics/calls${oneWindow([['service', 'frontend']])}`);
      checkFamily(calls, 'service_call_rate', 'calls/sec, grouped by service');
      assert.deepEqual(calls.metrics[0].labels, [{ name: 'service_name', value: 'frontend' }]);
      const s = series(calls);
      assert.deepEqual(Object.keys(s), ['frontend']);
      assert.ok(close(s.frontend[0], 3 / 1800), `3 server spans in 30 min, got ${s.frontend[0]}`);

      const grouped = await up.json(`/api/metrics/calls${oneWindow([['service', 'frontend'], ['service', 'payments'], ['groupByOperation', 'true']])}`);
      checkFamily(grouped, 'service_operation_call_rate', 'calls/sec, grouped by service & operation');
      const g = series(grouped);
      assert.deepEqual(Object.keys(g).sort(), ['frontend/GET /checkout', 'frontend/GET /health', 'payments/POST /pay']);
      assert.ok(close(g['frontend/GET /checkout'][0], 2 / 1800));
      assert.ok(close(g['frontend/GET /health'][0], 1 / 1800));
      assert.ok(close(g['payments/POST /pay'][0], 1 / 1800));

      for (const kind of ['client', 'SPAN_KIND_CLIENT']) {
        const clients = series(await up.json(`/api/metrics/calls${oneWindow([['service', 'frontend'], ['spanKind', kind]])}`));
        assert.ok(close(clients.frontend[0], 1 / 1800), `spanKind=${kind}: the one client span`);
      }
      const none = await up.json(`/api/metrics/calls${oneWindow([['service', 'nobody']])}`);
      assert.deepEqual(none.metrics, []);
    });

    it('errors: the fraction of calls that failed', async () => {
      const errors = await up.json(`/api/metrics/errors${oneWindow([['service', 'payments'], ['service', 'frontend']])}`);
      checkFamily(errors, 'service_error_rate', 'error rate, computed as a fraction of errors/sec over calls/sec, grouped by service');
      assert.deepEqual(series(errors), { frontend: [0], payments: [1] });
    });

    it('latencies: the quantile in milliseconds', async () => {
      const lat = await up.json(`/api/metrics/latencies${oneWindow([['service', 'payments'], ['quantile', '0.95']])}`);
      checkFamily(lat, 'service_latencies', '0.95th quantile latency, grouped by service');
      const v = series(lat).payments[0];
      // One 60 ms server span; the histogram's buckets grow by √2, so the answer is within one.
      assert.ok(v >= 60 / Math.SQRT2 && v <= 60 * Math.SQRT2, `p95 ≈ 60 ms, got ${v}`);
      const grouped = await up.json(`/api/metrics/latencies${oneWindow([['service', 'frontend'], ['quantile', '0.5'], ['groupByOperation', 'true']])}`);
      checkFamily(grouped, 'service_operation_latencies', '0.50th quantile latency, grouped by service & operation');
      const g = series(grouped);
      assert.ok(g['frontend/GET /health'][0] >= 2 / Math.SQRT2 && g['frontend/GET /health'][0] <= 2 * Math.SQRT2);
    });

    it('defaults: one point per minute over the last hour; minstep', async () => {
      const body = await up.json(`/api/metrics/calls${query({ service: 'frontend', endTs })}`);
      const points = body.metrics[0].metricPoints;
      assert.equal(points.length, 60);
      const times = points.map((p) => Date.parse(p.timestamp));
      assert.equal(times.at(-1), endTs);
      for (let i = 1; i < times.length; i++) assert.equal(times[i] - times[i - 1], 60000);
      assert.deepEqual(await up.json('/api/metrics/minstep'), { data: 60000, total: 0, limit: 0, offset: 0, errors: null });
    });
  });

  it('GET /metrics on the same address: the pipeline\'s and the store\'s counters', async () => {
    const r = await up.get('/metrics');
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type'), /^text\/plain/);
    const samples = parsePrometheus(r.text);
    const ingested = metricValue(samples, 'hodos_store_spans_ingested_total');
    const accepted = metricValue(samples, 'otelcol_receiver_accepted_spans_total', { receiver: 'otlp' });
    const sentToStore = metricValue(samples, 'otelcol_exporter_sent_spans_total', { exporter: 'store' });
    assert.ok(ingested >= 9, `store ingested ${ingested}`);
    assert.equal(accepted, ingested, 'every accepted span is stored');
    assert.equal(sentToStore, ingested);
    assert.ok(metricValue(samples, 'otelcol_receiver_accepted_spans_total', { transport: 'grpc' }) > 0);
    assert.ok(metricValue(samples, 'otelcol_receiver_accepted_spans_total', { transport: 'http' }) > 0);
    for (const name of ['hodos_store_spans_rejected_total', 'hodos_store_disk_bytes', 'hodos_store_write_batches_total']) {
      assert.notEqual(metricValue(samples, name), undefined, `${name} is exported`);
    }
  });

  // [path, the parameter the 400 must name]
  const BAD = [
    ['/api/traces', 'service'],
    ['/api/traces?service=frontend&minDuration=abc', 'minDuration'],
    ['/api/traces?service=frontend&maxDuration=10', 'maxDuration'],
    ['/api/traces?service=frontend&minDuration=-1s', 'minDuration'],
    ['/api/traces?service=frontend&minDuration=1s&maxDuration=1ms', 'maxDuration'],
    ['/api/traces?service=frontend&start=yesterday', 'start'],
    ['/api/traces?service=frontend&end=-5', 'end'],
    ['/api/traces?service=frontend&start=2000&end=1000', 'end'],
    ['/api/traces?service=frontend&end=99999999999999999999999', 'end'],
    ['/api/traces?service=frontend&limit=many', 'limit'],
    ['/api/traces?service=frontend&limit=-1', 'limit'],
    ['/api/traces?service=frontend&lookback=forever', 'lookback'],
    ['/api/traces?service=frontend&tags=%7Bnot%20json', 'tags'],
    ['/api/traces?service=frontend&tags=%5B1%2C2%5D', 'tags'],
    ['/api/traces?service=frontend&tags=%7B%22a%22%3A%7B%22b%22%3A1%7D%7D', 'tags'],
    ['/api/traces?service=frontend&tag=novalue', 'tag'],
    ['/api/traces?traceID=xyz', 'traceID'],
    ['/api/traces/xyz', 'traceID'],
    [`/api/traces/${'a'.repeat(33)}`, 'traceID'],
    ['/api/operations', 'service'],
    ['/api/operations?service=frontend&spanKind=sideways', 'spanKind'],
    ['/api/dependencies?endTs=soon', 'endTs'],
    ['/api/dependencies?lookback=-1', 'lookback'],
    ['/api/metrics/calls', 'service'],
    ['/api/metrics/calls?service=frontend&groupByOperation=maybe', 'groupByOperation'],
    ['/api/metrics/calls?service=frontend&step=0', 'step'],
    ['/api/metrics/calls?service=frontend&step=1&lookback=100000000000', 'step'],
    ['/api/metrics/calls?service=frontend&ratePer=abc', 'ratePer'],
    ['/api/metrics/calls?service=frontend&endTs=x', 'endTs'],
    ['/api/metrics/calls?service=frontend&lookback=0', 'lookback'],
    ['/api/metrics/calls?service=frontend&spanKind=bogus', 'spanKind'],
    ['/api/metrics/latencies?service=frontend', 'quantile'],
    ['/api/metrics/latencies?service=frontend&quantile=1.5', 'quantile'],
    ['/api/metrics/latencies?service=frontend&quantile=abc', 'quantile'],
    ['/api/metrics/errors?service=frontend&lookback=1x', 'lookback'],
  ];

  it('malformed parameters are 400s naming the parameter in Jaeger\'s errors array, never 500s', async () => {
    const failures = [];
    for (const [path, param] of BAD) {
      const r = await up.get(path);
      const msg = r.body?.errors?.[0]?.msg ?? '';
      if (r.status !== 400 || r.body?.errors?.[0]?.code !== 400 || !msg.includes(param) || r.body.data !== null) {
        failures.push(`${path}: ${r.status} ${r.text}`);
      }
    }
    assert.deepEqual(failures, [], `wrong answers:\n${failures.join('\n')}`);

    const v3 = await up.get('/api/v3/traces/xyz');
    assert.equal(v3.status, 400);
    assert.equal(v3.body.error.httpCode, 400);
    assert.match(v3.body.error.message, /trace_id/);

    // Unknown services are 404s naming the service, so a typo is not mistaken for "no traces".
    for (const path of ['/api/traces?service=nobody', '/api/services/nobody/operations',
      '/api/operations?service=nobody']) {
      const r = await up.get(path);
      assert.equal(r.status, 404, `${path}: ${r.text}`);
      assert.equal(r.body.errors[0].code, 404, path);
      assert.match(r.body.errors[0].msg, /service 'nobody' not found/, path);
    }

    const unknownRoute = await up.get('/api/nope');
    assert.equal(unknownRoute.status, 404);
    assert.equal(unknownRoute.body.errors[0].code, 404);
    // A read-only route asked with another method: 405 naming the method, with Allow.
    for (const path of ['/api/services', '/api/traces/0123456789abcdef0123456789abcdef']) {
      const r = await fetch(`${up.apiUrl}${path}`, { method: 'POST', body: '{}' });
      assert.equal(r.status, 405, path);
      assert.equal(r.headers.get('allow'), 'GET', path);
      assert.match((await r.json()).errors[0].msg, /method POST not allowed/, path);
    }
    // Still alive and answering after all of that.
    assert.equal((await up.get('/api/services')).status, 200);
  });
});
