// /services?lookback=: every service with its request rate, error rate and p50/p99 duration over
// the window (the SPM routes, server and consumer spans), each as a figure for the whole window
// and a sparkline over time; a service's name opens its search.
import { useEffect, useState } from 'preact/hooks';

import { Sparkline } from '../components/Sparkline';
import { WindowPicker, searchUrl, useWindow } from '../components/WindowPicker';
import * as api from '../lib/api';
import { serviceColor } from '../lib/colors';
import { formatDuration } from '../lib/format';
import { HEALTH_COLORS, MetricFamily, Series, formatPercent, formatRate, healthOf, lastValues, lookbackMs, seriesByService, stepFor } from '../lib/metrics';

interface Overview {
  services: string[];
  range: [number, number]; // Unix seconds
  windowMs: number;
  total: { calls: Map<string, number>; errors: Map<string, number>; p50: Map<string, number>; p99: Map<string, number> };
  over: { calls: Map<string, Series>; errors: Map<string, Series>; p50: Map<string, Series>; p99: Map<string, Series> };
}

async function loadOverview(lookback: number): Promise<Overview> {
  const endTs = Date.now();
  const services = await api.services();
  const range: [number, number] = [(endTs - lookback) / 1000, endTs / 1000];
  const empty = { calls: new Map(), errors: new Map(), p50: new Map(), p99: new Map() };
  if (services.length === 0) return { services, range, windowMs: lookback, total: empty, over: empty };
  const step = stepFor(lookback);
  // The whole window as one point, and the same over time (each point covers one step).
  const whole = { services, endTs, lookback, step: lookback, ratePer: lookback };
  const series = { services, endTs, lookback, step, ratePer: step };
  const four = (q: api.MetricQuery): Promise<MetricFamily[]> => Promise.all([
    api.metrics('calls', q), api.metrics('errors', q),
    api.metrics('latencies', { ...q, quantile: 0.5 }), api.metrics('latencies', { ...q, quantile: 0.99 }),
  ]);
  const [[c, e, p50, p99], [sc, se, s50, s99]] = await Promise.all([four(whole), four(series)]);
  return {
    services,
    range,
    windowMs: lookback,
    total: { calls: lastValues(c), errors: lastValues(e), p50: lastValues(p50), p99: lastValues(p99) },
    over: { calls: seriesByService(sc), errors: seriesByService(se), p50: seriesByService(s50), p99: seriesByService(s99) },
  };
}

type Loaded = { state: 'loading' } | { state: 'error'; message: string } | { state: 'done'; data: Overview };

const ms = (v: number) => formatDuration(v * 1000);

export function ServicesPage() {
  const [lookback, setLookback] = useWindow();
  const [loaded, setLoaded] = useState<Loaded>({ state: 'loading' });
  const [tick, setTick] = useState(0);
  const windowMs = lookbackMs(lookback);

  useEffect(() => {
    if (windowMs === null) return;
    let live = true;
    loadOverview(windowMs).then(
      (data) => live && setLoaded({ state: 'done', data }),
      (e: Error) => live && setLoaded({ state: 'error', message: e.message }));
    return () => { live = false; };
  }, [windowMs, tick]);

  return (
    <main class="page services-page">
      <div class="page-head">
        <h1>Services</h1>
        <WindowPicker value={lookback} onChange={setLookback} />
        <button type="button" class="small" onClick={() => setTick((t) => t + 1)}>Refresh</button>
      </div>
      {windowMs === null && <p class="error-box" role="alert">Unknown window "{lookback}": use 15m, 1h, 2d…</p>}
      {loaded.state === 'loading' && windowMs !== null && <p class="hint">Loading services…</p>}
      {loaded.state === 'error' && <p class="error-box" role="alert">{loaded.message}</p>}
      {loaded.state === 'done' && loaded.data.services.length === 0 && (
        <p class="notice">No traces are stored yet: see <a href="/search">Search</a> for how they arrive.</p>
      )}
      {loaded.state === 'done' && loaded.data.services.length > 0 && <ServicesTable data={loaded.data} lookback={lookback} />}
      <p class="muted small-text">
        Calls are the server and consumer spans each service handled; figures cover the whole window, the
        charts show it over time (one point per {formatDuration(stepFor(windowMs ?? 3_600_000) * 1000)}).
      </p>
    </main>
  );
}

function ServicesTable({ data, lookback }: { data: Overview; lookback: string }) {
  const seconds = data.windowMs / 1000;
  return (
    <table class="data-table services-table" aria-label="Services">
      <thead>
        <tr>
          <th scope="col">Service</th>
          <th scope="col" colSpan={2}>Requests</th>
          <th scope="col" colSpan={2}>Errors</th>
          <th scope="col" colSpan={2}>p50 duration</th>
          <th scope="col" colSpan={2}>p99 duration</th>
        </tr>
      </thead>
      <tbody>
        {data.services.map((s) => {
          const rate = data.total.calls.get(s);
          const calls = rate === undefined ? 0 : Math.round(rate * seconds);
          const errorRate = data.total.errors.get(s);
          const health = healthOf(calls, errorRate);
          return (
            <tr data-service={s} data-health={health}>
              <th scope="row">
                <span class="svc-swatch" style={{ background: serviceColor(s) }} />
                <a href={searchUrl(s, lookback)}>{s}</a>
              </th>
              {calls === 0
                ? <td colSpan={8} class="muted">no calls in this window</td>
                : <>
                  <td class="num" data-metric="calls" data-value={calls}>{formatRate(rate)}<div class="muted small-text">{calls} call{calls === 1 ? "" : "s"}</div></td>
                  <td><Sparkline series={data.over.calls.get(s)} range={data.range} color="#3b7dd8" label="requests per second" format={formatRate} /></td>
                  <td class="num" data-metric="errors" data-value={errorRate ?? 0} style={{ color: health === 'ok' ? undefined : HEALTH_COLORS[health] }}>{formatPercent(errorRate ?? 0)}</td>
                  <td><Sparkline series={data.over.errors.get(s)} range={data.range} color="#c62828" label="error rate" format={formatPercent} minTop={0.05} /></td>
                  <td class="num" data-metric="p50" data-value={data.total.p50.get(s)}>{data.total.p50.has(s) ? ms(data.total.p50.get(s)!) : '–'}</td>
                  <td><Sparkline series={data.over.p50.get(s)} range={data.range} color="#2e7d32" label="median duration" format={ms} /></td>
                  <td class="num" data-metric="p99" data-value={data.total.p99.get(s)}>{data.total.p99.has(s) ? ms(data.total.p99.get(s)!) : '–'}</td>
                  <td><Sparkline series={data.over.p99.get(s)} range={data.range} color="#8a63d2" label="99th percentile duration" format={ms} /></td>
                </>}
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}
