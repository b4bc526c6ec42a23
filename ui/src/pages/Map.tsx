// /map?lookback=: the services that called each other in the window (GET /api/dependencies), each
// node sized by the calls it handled and coloured by its share of failed calls (the SPM routes),
// each edge labelled with its calls and its error rate. A click on a node opens its
// search. Refreshed every 30 seconds; the same data is in two tables below the graph.
import { useLocation } from 'preact-iso';
import { useEffect, useState } from 'preact/hooks';

import { ServiceGraph } from '../components/ServiceGraph';
import { WindowPicker, searchUrl, useWindow } from '../components/WindowPicker';
import * as api from '../lib/api';
import { HEALTH_COLORS, HEALTH_LABELS, Health, formatPercent, formatRate, lastValues, lookbackMs } from '../lib/metrics';
import { ServiceMap, buildServiceMap } from '../lib/serviceMap';

const REFRESH_MS = 30_000;

type Loaded =
  | { state: 'loading' }
  | { state: 'error'; message: string }
  | { state: 'done'; map: ServiceMap; services: number; at: number; windowMs: number };

export async function loadServiceMap(lookback: number): Promise<{ map: ServiceMap; services: number }> {
  const endTs = Date.now();
  const [links, services] = await Promise.all([api.dependencies(endTs, lookback), api.services()]);
  if (services.length === 0) return { map: { nodes: [], edges: [] }, services: 0 };
  // One point per service covering the whole window.
  const q = { services, endTs, lookback, step: lookback, ratePer: lookback };
  const [rates, errors] = await Promise.all([api.metrics('calls', q), api.metrics('errors', q)]);
  const calls = new Map([...lastValues(rates)].map(([s, perSecond]) => [s, Math.round(perSecond * lookback / 1000)]));
  return { map: buildServiceMap(links, calls, lastValues(errors)), services: services.length };
}

export function MapPage() {
  const { route } = useLocation();
  const [lookback, setLookback] = useWindow();
  const [loaded, setLoaded] = useState<Loaded>({ state: 'loading' });
  const [tick, setTick] = useState(0);
  const windowMs = lookbackMs(lookback);

  useEffect(() => {
    if (windowMs === null) return;
    let live = true;
    loadServiceMap(windowMs).then(
      ({ map, services }) => live && setLoaded({ state: 'done', map, services, at: Date.now(), windowMs }),
      (e: Error) => live && setLoaded({ state: 'error', message: e.message }));
    const timer = setTimeout(() => setTick((t) => t + 1), REFRESH_MS);
    return () => { live = false; clearTimeout(timer); };
  }, [windowMs, tick]);

  const open = (service: string) => route(searchUrl(service, lookback));

  return (
    <main class="page map-page">
      <div class="page-head">
        <h1>Service map</h1>
        <WindowPicker value={lookback} onChange={setLookback} />
        <button type="button" class="small" onClick={() => setTick((t) => t + 1)}>Refresh</button>
        {loaded.state === 'done' && <span class="muted small-text" aria-live="polite">as of {new Date(loaded.at).toLocaleTimeString()}</span>}
      </div>
      {windowMs === null && <p class="error-box" role="alert">Unknown window "{lookback}": use 15m, 1h, 2d…</p>}
      {loaded.state === 'loading' && windowMs !== null && <p class="hint">Loading the map…</p>}
      {loaded.state === 'error' && <p class="error-box" role="alert">{loaded.message}</p>}
      {loaded.state === 'done' && loaded.map.nodes.length === 0 && (
        <p class="notice">
          {loaded.services === 0 ? 'No traces are stored yet. ' : 'No service handled a call in this window. '}
          <a href="/search">Search</a> for older traces, or choose a wider window.
        </p>
      )}
      {loaded.state === 'done' && loaded.map.nodes.length > 0 && (
        <>
          <Legend />
          <ServiceGraph map={loaded.map} onOpen={open} />
          <MapTables map={loaded.map} lookback={lookback} windowMs={loaded.windowMs} />
        </>
      )}
    </main>
  );
}

function Legend() {
  const items: Health[] = ['ok', 'degraded', 'failing', 'idle'];
  return (
    <ul class="legend" aria-label="Colours">
      {items.map((h) => <li><span class="dot" style={{ background: HEALTH_COLORS[h] }} />{HEALTH_LABELS[h]}</li>)}
      <li class="muted">size: calls handled · click a service to search its traces</li>
    </ul>
  );
}

function MapTables({ map, lookback, windowMs }: { map: ServiceMap; lookback: string; windowMs: number }) {
  return (
    <div class="map-tables">
      <table class="data-table" aria-label="Services on the map">
        <caption>Services</caption>
        <thead><tr><th scope="col">Service</th><th scope="col">Calls</th><th scope="col">Rate</th><th scope="col">Errors</th><th scope="col">Health</th></tr></thead>
        <tbody>
          {map.nodes.map((n) => (
            <tr data-service={n.id}>
              <th scope="row"><a href={searchUrl(n.id, lookback)}>{n.id}</a></th>
              <td class="num">{n.calls}</td>
              <td class="num">{formatRate(n.calls / (windowMs / 1000))}</td>
              <td class="num">{n.calls ? formatPercent(n.errorRate ?? 0) : '–'}</td>
              <td><span class="dot" style={{ background: n.color }} />{n.health}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <table class="data-table" aria-label="Calls between services">
        <caption>Calls between services</caption>
        <thead><tr><th scope="col">Caller</th><th scope="col">Callee</th><th scope="col">Calls</th><th scope="col">Errors</th></tr></thead>
        <tbody>
          {map.edges.map((e) => (
            <tr data-edge={e.id}>
              <td>{e.parent}</td>
              <td>{e.child}</td>
              <td class="num">{e.calls}</td>
              <td class="num">{formatPercent(e.errorRate)}</td>
            </tr>
          ))}
          {map.edges.length === 0 && <tr><td colSpan={4} class="muted">No service called another in this window.</td></tr>}
        </tbody>
      </table>
    </div>
  );
}
