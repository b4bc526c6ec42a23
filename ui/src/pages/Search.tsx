// /search: the form (service, operation, tags, duration range, lookback, limit) lives in the URL;
// a URL with a service runs the search at once. Results: a scatter plot and a sortable list.
import { useLocation } from 'preact-iso';
import { useEffect, useMemo, useState } from 'preact/hooks';

import { ServiceChip } from '../components/ServiceChip';
import { ScatterPlot } from '../components/ScatterPlot';
import { EmptyState } from '../components/EmptyState';
import * as api from '../lib/api';
import { formatAge, formatDuration, formatTimestamp, parseGoDuration } from '../lib/format';
import { LOOKBACKS, SearchParams, TagSyntaxError, apiQuery, paramsFromUrl, parseTags, urlFromParams } from '../lib/search';
import { TraceSummary, summarizeTrace } from '../lib/tree';

type SortKey = 'recent' | 'longest' | 'shortest' | 'spans' | 'errors';
const SORTS: [SortKey, string][] = [
  ['recent', 'Most recent'], ['longest', 'Longest first'], ['shortest', 'Shortest first'],
  ['spans', 'Most spans'], ['errors', 'Most errors'],
];

function sortTraces(list: TraceSummary[], key: SortKey): TraceSummary[] {
  const out = [...list];
  const cmp: Record<SortKey, (a: TraceSummary, b: TraceSummary) => number> = {
    recent: (a, b) => b.startTime - a.startTime,
    longest: (a, b) => b.duration - a.duration,
    shortest: (a, b) => a.duration - b.duration,
    spans: (a, b) => b.spanCount - a.spanCount,
    errors: (a, b) => b.errorCount - a.errorCount || b.startTime - a.startTime,
  };
  return out.sort(cmp[key]);
}

type Results =
  | { state: 'idle' }
  | { state: 'loading' }
  | { state: 'error'; message: string }
  | { state: 'done'; traces: TraceSummary[] };

export function SearchPage() {
  const location = useLocation();
  const urlParams = useMemo(() => paramsFromUrl(new URLSearchParams(location.url.split('?')[1] ?? '')), [location.url]);
  const [form, setForm] = useState<SearchParams>(urlParams);
  const [services, setServices] = useState<string[] | null>(null);
  const [servicesError, setServicesError] = useState('');
  const [operations, setOperations] = useState<string[]>([]);
  const [results, setResults] = useState<Results>({ state: 'idle' });
  const [formError, setFormError] = useState('');
  const [sort, setSort] = useState<SortKey>('recent');

  useEffect(() => setForm(urlParams), [urlParams]);

  // While nothing is stored (the first-run page), look again every few seconds.
  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    let live = true;
    const load = () => api.services().then((list) => {
      if (!live) return;
      setServices(list);
      setServicesError('');
      if (list.length === 0) timer = setTimeout(load, 3000);
    }, (e: Error) => {
      if (!live) return;
      setServices([]);
      setServicesError(e.message);
    });
    load();
    return () => { live = false; clearTimeout(timer); };
  }, []);

  // With no service in the URL, preselect one so that "Find traces" works at once.
  useEffect(() => {
    if (services && services.length > 0) setForm((f) => (f.service ? f : { ...f, service: services[0] }));
  }, [services]);

  useEffect(() => {
    if (!form.service) return setOperations([]);
    let live = true;
    api.operations(form.service).then((ops) => live && setOperations(ops), () => live && setOperations([]));
    return () => { live = false; };
  }, [form.service]);

  // The URL is the search: run it whenever the URL names a service.
  useEffect(() => {
    if (!urlParams.service) return setResults({ state: 'idle' });
    let query: URLSearchParams;
    try {
      query = apiQuery(urlParams);
    } catch (e) {
      return setResults({ state: 'error', message: (e as Error).message });
    }
    let live = true;
    setResults({ state: 'loading' });
    api.searchTraces(query).then(
      (traces) => live && setResults({ state: 'done', traces: traces.map(summarizeTrace) }),
      (e: Error) => live && setResults({ state: 'error', message: e.message }));
    return () => { live = false; };
  }, [urlParams]);

  const submit = (e: Event) => {
    e.preventDefault();
    try {
      parseTags(form.tags);
    } catch (err) {
      if (err instanceof TagSyntaxError) return setFormError(err.message);
      throw err;
    }
    for (const [name, value] of [['Min duration', form.minDuration], ['Max duration', form.maxDuration]]) {
      if (parseGoDuration(value) === null) return setFormError(`${name} "${value}" is not a duration (e.g. 1.2s, 500ms, 100us)`);
    }
    setFormError('');
    location.route(urlFromParams(form));
  };

  const set = (key: keyof SearchParams) => (e: Event) =>
    setForm((f) => ({ ...f, [key]: (e.target as HTMLInputElement).value, ...(key === 'service' ? { operation: '' } : {}) }));

  if (services !== null && services.length === 0 && !servicesError) {
    return <main class="page"><EmptyState /></main>;
  }

  const open = (id: string) => location.route(`/trace/${id}`);
  const sorted = results.state === 'done' ? sortTraces(results.traces, sort) : [];
  const maxDuration = Math.max(1, ...sorted.map((t) => t.duration));

  return (
    <main class="page search-page">
      <form class="search-form" onSubmit={submit} aria-label="Find traces">
        <label>Service
          <select name="service" value={form.service} onChange={set('service')} required>
            {!form.service && <option value="">Choose a service</option>}
            {form.service && services && !services.includes(form.service) && <option value={form.service}>{form.service}</option>}
            {(services ?? []).map((s) => <option value={s}>{s}</option>)}
          </select>
        </label>
        <label>Operation
          <select name="operation" value={form.operation} onChange={set('operation')}>
            <option value="">All operations</option>
            {form.operation && !operations.includes(form.operation) && <option value={form.operation}>{form.operation}</option>}
            {operations.map((o) => <option value={o}>{o}</option>)}
          </select>
        </label>
        <label class="wide">Tags
          <input name="tags" type="text" value={form.tags} onInput={set('tags')} placeholder='error=true http.route="/a b"'
            spellcheck={false} />
        </label>
        <label>Min duration
          <input name="minDuration" type="text" value={form.minDuration} onInput={set('minDuration')} placeholder="e.g. 100ms" size={8} />
        </label>
        <label>Max duration
          <input name="maxDuration" type="text" value={form.maxDuration} onInput={set('maxDuration')} placeholder="e.g. 2s" size={8} />
        </label>
        <label>Lookback
          <select name="lookback" value={form.lookback} onChange={set('lookback')}>
            {!LOOKBACKS.some(([v]) => v === form.lookback) && <option value={form.lookback}>{form.lookback}</option>}
            {LOOKBACKS.map(([v, label]) => <option value={v}>{label}</option>)}
          </select>
        </label>
        <label>Limit
          <input name="limit" type="number" min={1} max={10000} value={form.limit} onInput={set('limit')} size={5} />
        </label>
        <button type="submit" class="primary">Find traces</button>
        {(formError || servicesError) && <p class="form-error" role="alert">{formError || servicesError}</p>}
      </form>

      {results.state === 'idle' && <p class="hint">Choose a service and press “Find traces”.</p>}
      {results.state === 'loading' && <p class="hint" aria-live="polite">Searching…</p>}
      {results.state === 'error' && <p class="error-box" role="alert">{results.message}</p>}
      {results.state === 'done' && results.traces.length === 0 && (
        <p class="hint">No traces of <b>{urlParams.service}</b> match in the last {urlParams.lookback}. Widen the lookback or remove filters.</p>
      )}
      {results.state === 'done' && results.traces.length > 0 && (
        <section aria-label="Results">
          <ScatterPlot traces={results.traces} onOpen={open} />
          <div class="results-bar">
            <span>{results.traces.length} trace{results.traces.length === 1 ? '' : 's'}</span>
            <label>Sort
              <select value={sort} onChange={(e) => setSort((e.target as HTMLSelectElement).value as SortKey)}>
                {SORTS.map(([k, label]) => <option value={k}>{label}</option>)}
              </select>
            </label>
          </div>
          <ol class="trace-list">
            {sorted.map((t) => (
              <li class="trace-row" data-trace-id={t.traceID}>
                <a href={`/trace/${t.traceID}`} class="trace-link">
                  <div class="trace-row-head">
                    <span class="trace-title"><b>{t.rootService}</b>: {t.rootOperation}</span>
                    {t.errorCount > 0 && <span class="badge error">{t.errorCount} error{t.errorCount === 1 ? '' : 's'}</span>}
                    <span class="trace-duration">{formatDuration(t.duration)}</span>
                  </div>
                  <div class="duration-bar" style={{ width: `${(100 * t.duration) / maxDuration}%` }} />
                  <div class="trace-row-meta">
                    <span class="chips">{t.services.map((s) => <ServiceChip service={s.service} count={s.count} />)}</span>
                    <span class="muted">{t.spanCount} span{t.spanCount === 1 ? '' : 's'}</span>
                    <span class="muted" title={formatTimestamp(t.startTime)}>{formatTimestamp(t.startTime)} ({formatAge(t.startTime)})</span>
                    <code class="muted">{t.traceID.slice(0, 8)}</code>
                  </div>
                </a>
              </li>
            ))}
          </ol>
        </section>
      )}
    </main>
  );
}
