import { describe, expect, it } from 'vitest';

import { Span, Trace } from './jaeger';
import { buildTraceModel, summarizeTrace, visibleNodes } from './tree';

const T = 'a3fadd69c4b9d1998b4785d8afd181c0';

function span(id: string, name: string, start: number, duration: number, opts: { parent?: string; pid?: string; error?: boolean; links?: string[] } = {}): Span {
  return {
    traceID: T,
    spanID: id,
    operationName: name,
    references: [
      ...(opts.parent ? [{ refType: 'CHILD_OF' as const, traceID: T, spanID: opts.parent }] : []),
      ...(opts.links ?? []).map((l) => ({ refType: 'FOLLOWS_FROM' as const, traceID: T, spanID: l })),
    ],
    startTime: 1_000_000 + start,
    duration,
    tags: opts.error ? [{ key: 'otel.status_code', type: 'string', value: 'ERROR' }, { key: 'error', type: 'bool', value: true }] : [],
    logs: [],
    processID: opts.pid ?? 'p1',
    warnings: null,
  };
}

function trace(spans: Span[]): Trace {
  return {
    traceID: T,
    spans,
    processes: { p1: { serviceName: 'frontend', tags: [] }, p2: { serviceName: 'payments', tags: [] } },
    warnings: null,
  };
}

// The checkout trace of tests/e2e/lib/shop_traces.mjs, spans in an order the API could send.
const checkout = trace([
  span('render', 'render', 85_000, 10_000, { parent: 'root' }),
  span('db', 'SELECT payments', 20_000, 10_000, { parent: 'payServer', pid: 'p2' }),
  span('root', 'GET /checkout', 0, 100_000),
  span('payServer', 'POST /pay', 15_000, 60_000, { parent: 'payClient', pid: 'p2', error: true }),
  span('payClient', 'POST /pay', 10_000, 70_000, { parent: 'root' }),
]);

describe('buildTraceModel', () => {
  it('orders spans depth-first with children in start order, and knows each depth', () => {
    const m = buildTraceModel(checkout);
    expect(m.nodes.map((n) => [n.span.spanID, n.depth])).toEqual([
      ['root', 0], ['payClient', 1], ['payServer', 2], ['db', 3], ['render', 1],
    ]);
    expect(m.roots.map((r) => r.key)).toEqual(['root']);
    expect(m.byKey.get('db')!.parent!.key).toBe('payServer');
    expect(m.byKey.get('root')!.descendants).toBe(4);
    expect(m.byKey.get('payClient')!.descendants).toBe(2);
  });

  it('computes the header numbers: duration, depth, span count, services, errors', () => {
    const m = buildTraceModel(checkout);
    expect(m.startTime).toBe(1_000_000);
    expect(m.duration).toBe(100_000);
    expect(m.depth).toBe(4);
    expect(m.nodes).toHaveLength(5);
    expect(m.services).toEqual([
      { service: 'frontend', count: 3, errors: 0 },
      { service: 'payments', count: 2, errors: 1 },
    ]);
    expect(m.errorCount).toBe(1);
    expect(m.nodes.filter((n) => n.error).map((n) => n.key)).toEqual(['payServer']);
  });

  it('takes the parent from CHILD_OF only: a FOLLOWS_FROM link does not nest', () => {
    const m = buildTraceModel(trace([span('a', 'a', 0, 10), span('b', 'b', 5, 10, { links: ['a'] })]));
    expect(m.roots.map((r) => r.key)).toEqual(['a', 'b']);
    expect(m.depth).toBe(1);
  });

  it('makes a span whose parent is missing a root marked orphan', () => {
    const m = buildTraceModel(trace([span('x', 'late', 50, 10, { parent: 'gone' }), span('r', 'root', 0, 100)]));
    expect(m.nodes.map((n) => [n.key, n.depth, n.orphan])).toEqual([['r', 0, false], ['x', 0, true]]);
    expect(summarizeTrace(trace([span('x', 'late', 0, 10, { parent: 'gone' }), span('r', 'root', 5, 100)])).rootOperation).toBe('root');
  });

  it('shows every span once when references form a cycle, and repeated span ids apart', () => {
    const m = buildTraceModel(trace([
      span('a', 'a', 0, 10, { parent: 'b' }), span('b', 'b', 1, 10, { parent: 'a' }), span('a', 'a again', 2, 10),
    ]));
    expect(m.nodes).toHaveLength(3);
    expect(new Set(m.nodes.map((n) => n.key)).size).toBe(3);
    expect(m.byKey.has('a~1')).toBe(true);
  });

  it('handles an empty trace and a missing process', () => {
    const empty = buildTraceModel(trace([]));
    expect([empty.duration, empty.depth, empty.nodes.length]).toEqual([0, 0, 0]);
    const m = buildTraceModel(trace([span('a', 'a', 0, 10, { pid: 'p9' })]));
    expect(m.nodes[0].service).toBe('unknown_service');
  });

  it('builds a 10,000-span trace quickly', () => {
    const spans: Span[] = [span('s0', 'root', 0, 10_000_000)];
    for (let i = 1; i < 10_000; i++) spans.push(span(`s${i}`, `op${i % 17}`, i * 100, 50, { parent: `s${Math.floor((i - 1) / 4)}` }));
    const t0 = performance.now();
    const m = buildTraceModel(trace(spans));
    expect(performance.now() - t0).toBeLessThan(500);
    expect(m.nodes).toHaveLength(10_000);
    expect(m.byKey.get('s0')!.descendants).toBe(9_999);
  });
});

describe('visibleNodes', () => {
  it('hides the descendants of collapsed spans only', () => {
    const m = buildTraceModel(checkout);
    expect(visibleNodes(m, new Set()).map((n) => n.key)).toEqual(['root', 'payClient', 'payServer', 'db', 'render']);
    expect(visibleNodes(m, new Set(['payClient'])).map((n) => n.key)).toEqual(['root', 'payClient', 'render']);
    expect(visibleNodes(m, new Set(['payClient', 'payServer'])).map((n) => n.key)).toEqual(['root', 'payClient', 'render']);
    expect(visibleNodes(m, new Set(['root'])).map((n) => n.key)).toEqual(['root']);
    expect(visibleNodes(m, new Set(['db'])).map((n) => n.key)).toEqual(['root', 'payClient', 'payServer', 'db', 'render']);
  });
});

describe('summarizeTrace', () => {
  it('names the root span, its services with span counts, duration and errors', () => {
    expect(summarizeTrace(checkout)).toEqual({
      traceID: T,
      rootService: 'frontend',
      rootOperation: 'GET /checkout',
      startTime: 1_000_000,
      duration: 100_000,
      spanCount: 5,
      errorCount: 1,
      services: [{ service: 'frontend', count: 3, errors: 0 }, { service: 'payments', count: 2, errors: 1 }],
    });
  });
});
