// The service map and the services overview read the store's per-minute aggregates through the
// SPM routes (/api/metrics/{calls,errors,latencies}) and the dependency links (/api/dependencies),
// docs/api.md. These helpers turn their answers into what the pages draw.

export interface MetricPoint {
  gaugeValue: { doubleValue: number };
  timestamp: string; // RFC 3339
}

export interface MetricFamily {
  name: string;
  type: string;
  help: string;
  metrics: { labels: { name: string; value: string }[]; metricPoints: MetricPoint[] }[];
}

export interface DependencyLink {
  parent: string;
  child: string;
  callCount: number;
  errorCount?: number;  // Hodos's addition: calls whose child span failed (absent from Jaeger)
}

// A series over time: x in Unix seconds (uPlot's unit), y as the route gives it.
export interface Series {
  t: number[];
  v: number[];
}

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

// "15m", "1h", "2d" (the lookbacks the pages offer) in milliseconds; null when unreadable.
export function lookbackMs(text: string): number | null {
  const m = /^(\d+(?:\.\d+)?)(s|m|h|d)$/.exec(text.trim());
  if (!m) return null;
  const ms = Number(m[1]) * UNIT_MS[m[2]];
  return ms > 0 ? ms : null;
}

// The step between sparkline points: about `points` of them over the lookback, in whole minutes
// (the aggregates' resolution, and the API's smallest step).
export function stepFor(lookback: number, points = 30): number {
  return Math.max(60_000, Math.ceil(lookback / points / 60_000) * 60_000);
}

// One series per service (the `service_name` label).
export function seriesByService(family: MetricFamily): Map<string, Series> {
  const out = new Map<string, Series>();
  for (const m of family.metrics ?? []) {
    const service = m.labels.find((l) => l.name === 'service_name')?.value;
    if (service === undefined) continue;
    const points = m.metricPoints
      .map((p) => ({ t: Date.parse(p.timestamp) / 1000, v: p.gaugeValue.doubleValue }))
      .filter((p) => Number.isFinite(p.t) && Number.isFinite(p.v))
      .sort((a, b) => a.t - b.t);
    out.set(service, { t: points.map((p) => p.t), v: points.map((p) => p.v) });
  }
  return out;
}

// The value of each service's last point: with step = ratePer = lookback, the whole window's figure.
export function lastValues(family: MetricFamily): Map<string, number> {
  const out = new Map<string, number>();
  for (const [service, s] of seriesByService(family)) {
    if (s.v.length > 0) out.set(service, s.v[s.v.length - 1]);
  }
  return out;
}

export type Health = 'ok' | 'degraded' | 'failing' | 'idle';

// Above this share of failed calls a service is "failing" (red); any failure makes it "degraded".
export const FAILING_ERROR_RATE = 0.05;

export function healthOf(calls: number | undefined, errorRate: number | undefined): Health {
  if (!calls) return 'idle';
  if (!errorRate) return 'ok';
  return errorRate >= FAILING_ERROR_RATE ? 'failing' : 'degraded';
}

export const HEALTH_COLORS: Record<Health, string> = {
  ok: '#2e7d32',
  degraded: '#b26a00',
  failing: '#c62828',
  idle: '#78828f',
};

export const HEALTH_LABELS: Record<Health, string> = {
  ok: 'no errors',
  degraded: `some errors (under ${FAILING_ERROR_RATE * 100}%)`,
  failing: `${FAILING_ERROR_RATE * 100}% errors or more`,
  idle: 'no calls in this window',
};

// Node diameter in px for a service's calls: the area grows with traffic (square root), from
// MIN for no calls to MAX for the busiest service on the map.
export function nodeSize(calls: number, maxCalls: number, min = 34, max = 90): number {
  if (!(calls > 0) || !(maxCalls > 0)) return min;
  return Math.round(min + (max - min) * Math.sqrt(Math.min(calls, maxCalls) / maxCalls));
}

// "0%", "0.4%", "12%", "100%".
export function formatPercent(fraction: number | undefined): string {
  if (fraction === undefined || !Number.isFinite(fraction)) return '–';
  const p = fraction * 100;
  if (p === 0) return '0%';
  if (p < 0.1) return '<0.1%';
  return `${p < 10 ? Number(p.toFixed(1)) : Math.round(p)}%`;
}

// Requests per second, readable at any scale: "12.3/s", "0.5/s", "3/min", "2/h".
export function formatRate(perSecond: number | undefined): string {
  if (perSecond === undefined || !Number.isFinite(perSecond)) return '–';
  if (perSecond === 0) return '0/s';
  const sig = (v: number) => String(Number(v.toPrecision(v >= 100 ? 3 : 2)));
  if (perSecond >= 0.1) return `${sig(perSecond)}/s`;
  if (perSecond * 60 >= 0.1) return `${sig(perSecond * 60)}/min`;
  return `${sig(perSecond * 3600)}/h`;
}
