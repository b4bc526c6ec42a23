import { describe, expect, it } from 'vitest';

import { MetricFamily, formatPercent, formatRate, healthOf, lastValues, lookbackMs, nodeSize, seriesByService, stepFor } from './metrics';

// As GET /api/metrics/calls answers (docs/api.md).
const calls: MetricFamily = {
  name: 'service_call_rate',
  type: 'GAUGE',
  help: 'calls/sec, grouped by service',
  metrics: [
    {
      labels: [{ name: 'service_name', value: 'frontend' }],
      metricPoints: [
        { gaugeValue: { doubleValue: 0.5 }, timestamp: '2026-11-30T23:17:16.528Z' },
        { gaugeValue: { doubleValue: 0.25 }, timestamp: '2026-11-30T23:16:16.528Z' },
      ],
    },
    { labels: [{ name: 'service_name', value: 'payments' }], metricPoints: [] },
  ],
};

describe('metrics helpers', () => {
  it('reads lookbacks', () => {
    expect(lookbackMs('15m')).toBe(900_000);
    expect(lookbackMs('1h')).toBe(3_600_000);
    expect(lookbackMs('2d')).toBe(172_800_000);
    expect(lookbackMs('1.5h')).toBe(5_400_000);
    expect(lookbackMs('soon')).toBeNull();
    expect(lookbackMs('0h')).toBeNull();
  });

  it('steps are whole minutes, at least one', () => {
    expect(stepFor(900_000)).toBe(60_000);
    expect(stepFor(3_600_000)).toBe(120_000);
    expect(stepFor(86_400_000)).toBe(2_880_000);
    expect(stepFor(3_600_000, 1)).toBe(3_600_000);
  });

  it('groups points by service in time order, in seconds', () => {
    const s = seriesByService(calls);
    expect(s.get('frontend')).toEqual({ t: [1796080576.528, 1796080636.528], v: [0.25, 0.5] });
    expect(s.get('payments')).toEqual({ t: [], v: [] });
    expect(lastValues(calls)).toEqual(new Map([['frontend', 0.5]]));
    expect(seriesByService({ ...calls, metrics: [] }).size).toBe(0);
  });

  it('classifies health', () => {
    expect(healthOf(0, undefined)).toBe('idle');
    expect(healthOf(undefined, 0.5)).toBe('idle');
    expect(healthOf(10, 0)).toBe('ok');
    expect(healthOf(10, undefined)).toBe('ok');
    expect(healthOf(10, 0.01)).toBe('degraded');
    expect(healthOf(10, 0.05)).toBe('failing');
    expect(healthOf(1, 1)).toBe('failing');
  });

  it('sizes nodes by the square root of traffic', () => {
    expect(nodeSize(0, 100)).toBe(34);
    expect(nodeSize(100, 100)).toBe(90);
    expect(nodeSize(25, 100)).toBe(62);
    expect(nodeSize(500, 100)).toBe(90);
    expect(nodeSize(5, 0)).toBe(34);
  });

  it('formats rates and percentages', () => {
    expect(formatRate(12.34)).toBe('12/s');
    expect(formatRate(0.5)).toBe('0.5/s');
    expect(formatRate(0.05)).toBe('3/min');
    expect(3 / 3600).toBeCloseTo(0.000833, 5);
    expect(formatRate(3 / 3600)).toBe('3/h');
    expect(formatRate(0)).toBe('0/s');
    expect(formatRate(undefined)).toBe('–');
    expect(formatPercent(0)).toBe('0%');
    expect(formatPercent(0.004)).toBe('0.4%');
    expect(formatPercent(0.1234)).toBe('12%');
    expect(formatPercent(1)).toBe('100%');
    expect(formatPercent(0.0000001)).toBe('<0.1%');
    expect(formatPercent(undefined)).toBe('–');
  });
});

describe('buildServiceMap', () => {
  it('makes nodes of linked and busy services, sized by calls, coloured by health; edges labelled', async () => {
    const { buildServiceMap } = await import('./serviceMap');
    const map = buildServiceMap(
      [{ parent: 'frontend', child: 'payments', callCount: 1 }, { parent: 'frontend', child: 'inventory', callCount: 4 }],
      new Map([['frontend', 100], ['payments', 25], ['batch', 3], ['idle', 0]]),
      new Map([['frontend', 0], ['payments', 1], ['batch', 0.01]]));
    expect(map.nodes.map((n) => [n.id, n.calls, n.health, n.size])).toEqual([
      // inventory has no calls of its own in the window: its callers' count it.
      ['batch', 3, 'degraded', 44], ['frontend', 100, 'ok', 90], ['inventory', 4, 'ok', 45], ['payments', 25, 'failing', 62],
    ]);
    expect(map.edges.map((e) => [e.id, e.label, e.health])).toEqual([
      ['frontend->inventory', '4 calls', 'ok'],
      ['frontend->payments', '1 call · 100% err', 'failing'],
    ]);
    expect(map.edges[1].color).toBe('#c62828');
    expect(map.edges[0].width).toBe(6);
  });

  it('measures a node without spans of its own (a database) by the calls made to it', async () => {
    const { buildServiceMap } = await import('./serviceMap');
    const map = buildServiceMap(
      [{ parent: 'shop', child: 'postgresql', callCount: 6, errorCount: 3 },
       { parent: 'admin', child: 'postgresql', callCount: 2, errorCount: 1 },
       { parent: 'shop', child: 'redis', callCount: 5 }],
      new Map([['shop', 10], ['admin', 2]]),
      new Map([['shop', 0], ['admin', 0]]));
    const node = (id: string) => map.nodes.find((n) => n.id === id)!;
    expect([node('postgresql').calls, node('postgresql').errorRate, node('postgresql').health]).toEqual([8, 0.5, 'failing']);
    // Jaeger's API gives no errorCount: the rate is unknown, not zero.
    expect([node('redis').calls, node('redis').errorRate, node('redis').health]).toEqual([5, undefined, 'ok']);
  });

  it("uses the edge's own errorCount when the API gives it, not the callee's rate", async () => {
    const { buildServiceMap } = await import('./serviceMap');
    // payments fails half its calls overall, but none of those from frontend.
    const map = buildServiceMap(
      [{ parent: 'frontend', child: 'payments', callCount: 4, errorCount: 0 },
       { parent: 'batch', child: 'payments', callCount: 4, errorCount: 4 }],
      new Map([['payments', 8]]),
      new Map([['payments', 0.5]]));
    expect(map.edges.map((e) => [e.id, e.label, e.health])).toEqual([
      ['batch->payments', '4 calls · 100% err', 'failing'],
      ['frontend->payments', '4 calls', 'ok'],
    ]);
  });
});
