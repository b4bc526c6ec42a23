import { describe, expect, it } from 'vitest';

import { criticalPath } from './criticalPath';
import { Span, Trace } from './jaeger';
import { buildTraceModel } from './tree';

const T = 'a3fadd69c4b9d1998b4785d8afd181c0';
const BASE = 1_000_000;

// start and duration in µs relative to BASE.
function span(id: string, start: number, duration: number, parent?: string): Span {
  return {
    traceID: T,
    spanID: id,
    operationName: id,
    references: parent ? [{ refType: 'CHILD_OF', traceID: T, spanID: parent }] : [],
    startTime: BASE + start,
    duration,
    tags: [],
    logs: [],
    processID: 'p1',
    warnings: null,
  };
}

function trace(spans: Span[]): Trace {
  return { traceID: T, spans, processes: { p1: { serviceName: 'svc', tags: [] } }, warnings: null };
}

// The path as [span, start, end] relative to BASE, in time order.
function path(spans: Span[]): [string, number, number][] {
  return criticalPath(buildTraceModel(trace(spans))).sections.map((s) => [s.key, s.start - BASE, s.end - BASE]);
}

// Whatever the shape, the sections tile the root: no gap, no overlap, root start to root end.
function expectTiles(spans: Span[]) {
  const model = buildTraceModel(trace(spans));
  const root = model.roots.find((r) => !r.orphan)!;
  const { sections } = criticalPath(model);
  expect(sections[0].start).toBe(root.span.startTime);
  expect(sections[sections.length - 1].end).toBe(root.span.startTime + root.span.duration);
  for (let i = 1; i < sections.length; i++) expect(sections[i].start).toBe(sections[i - 1].end);
}

describe('criticalPath', () => {
  it('a single span is its own path', () => {
    expect(path([span('root', 0, 50)])).toEqual([['root', 0, 50]]);
  });

  it('an empty trace has no path', () => {
    expect(criticalPath(buildTraceModel(trace([]))).sections).toEqual([]);
  });

  it('follows nesting: each level keeps the time its child does not cover', () => {
    const spans = [span('root', 0, 100), span('a', 10, 80, 'root'), span('b', 20, 50, 'a'), span('c', 30, 10, 'b')];
    expect(path(spans)).toEqual([
      ['root', 0, 10], ['a', 10, 20], ['b', 20, 30], ['c', 30, 40], ['b', 40, 70], ['a', 70, 90], ['root', 90, 100],
    ]);
    expectTiles(spans);
  });

  it('sequential children are all on the path, with the parent\'s time between them', () => {
    const spans = [span('root', 0, 100), span('a', 10, 20, 'root'), span('b', 40, 30, 'root')];
    expect(path(spans)).toEqual([['root', 0, 10], ['a', 10, 30], ['root', 30, 40], ['b', 40, 70], ['root', 70, 100]]);
  });

  it('of overlapping children, the one ending last wins; an earlier one counts only until the later starts', () => {
    // a: 10-60, b: 30-80, c: 35-45 (inside b's time, ends before b: never on the path).
    const spans = [span('root', 0, 100), span('a', 10, 50, 'root'), span('b', 30, 50, 'root'), span('c', 35, 10, 'root')];
    expect(path(spans)).toEqual([['root', 0, 10], ['a', 10, 30], ['b', 30, 80], ['root', 80, 100]]);
    expectTiles(spans);
  });

  it('parallel children ending together: one of them, not both', () => {
    const spans = [span('root', 0, 100), span('a', 10, 90, 'root'), span('b', 20, 80, 'root')];
    const p = path(spans);
    expect(p.filter(([k]) => k === 'a' || k === 'b').length).toBeGreaterThan(0);
    expectTiles(spans);
    const total = p.reduce((sum, [, s, e]) => sum + (e - s), 0);
    expect(total).toBe(100);
  });

  it('an async child that ends after its parent counts only up to the parent\'s end', () => {
    // "fire" starts at 60 and runs until 250, long after root (0-100) answered.
    const spans = [span('root', 0, 100), span('work', 10, 40, 'root'), span('fire', 60, 190, 'root')];
    expect(path(spans)).toEqual([['root', 0, 10], ['work', 10, 50], ['root', 50, 60], ['fire', 60, 100]]);
    expectTiles(spans);
  });

  it('descendants of a clipped async child are clipped too', () => {
    const spans = [span('root', 0, 100), span('fire', 50, 200, 'root'), span('late', 120, 10, 'fire'), span('early', 60, 30, 'fire')];
    expect(path(spans)).toEqual([['root', 0, 50], ['fire', 50, 60], ['early', 60, 90], ['fire', 90, 100]]);
  });

  it('a child that starts before its parent (clock skew) counts from the parent\'s start', () => {
    const spans = [span('root', 0, 100), span('skewed', -20, 50, 'root')];
    expect(path(spans)).toEqual([['skewed', 0, 30], ['root', 30, 100]]);
  });

  it('the shop checkout trace: root, POST /pay client and server, the query, render', () => {
    const spans = [
      span('root', 0, 100_000), span('payClient', 10_000, 70_000, 'root'), span('payServer', 15_000, 60_000, 'payClient'),
      span('db', 20_000, 10_000, 'payServer'), span('render', 85_000, 10_000, 'root'),
    ];
    const cp = criticalPath(buildTraceModel(trace(spans)));
    expect([...cp.keys].sort()).toEqual(['db', 'payClient', 'payServer', 'render', 'root']);
    expect(cp.byKey.get('root')!.map((s) => [s.start - BASE, s.end - BASE])).toEqual([[0, 10_000], [80_000, 85_000], [95_000, 100_000]]);
  });

  it('ignores orphans and follows the main root', () => {
    const spans = [span('orphan', 0, 500, 'missing'), span('root', 100, 50)];
    expect(path(spans)).toEqual([['root', 100, 150]]);
  });

  it('a chain 10,000 spans deep does not overflow the stack', () => {
    const spans = [span('s0', 0, 20_000)];
    for (let i = 1; i < 10_000; i++) spans.push(span(`s${i}`, i, 20_000 - 2 * i, `s${i - 1}`));
    const cp = criticalPath(buildTraceModel(trace(spans)));
    expect(cp.keys.size).toBe(10_000);
    expectTiles(spans);
  });
});
