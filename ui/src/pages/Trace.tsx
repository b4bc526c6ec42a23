// /trace/{traceID}[?span=spanID]: header (duration, services, depth, span count, copy id, download
// JSON), the timeline (collapsible span tree with bars on the trace's time axis, the critical path
// marked; rows virtualized so that a 10,000-span trace stays smooth) and the selected span's detail.
import { useLocation, useRoute } from 'preact-iso';
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks';

import { CopyButton } from '../components/CopyButton';
import { ServiceChip } from '../components/ServiceChip';
import { SpanDetail } from '../components/SpanDetail';
import * as api from '../lib/api';
import { downloadJson } from '../lib/clipboard';
import { CriticalPath, criticalPath } from '../lib/criticalPath';
import { serviceColor } from '../lib/colors';
import { formatDuration, formatTimestamp } from '../lib/format';
import { Trace } from '../lib/jaeger';
import { TraceModel, TreeNode, buildTraceModel, visibleNodes } from '../lib/tree';

type Loaded = { state: 'loading' } | { state: 'error'; message: string; status: number } | { state: 'done'; trace: Trace };

export function TracePage() {
  const { params } = useRoute();
  const id = params.id ?? '';
  const [loaded, setLoaded] = useState<Loaded>({ state: 'loading' });

  useEffect(() => {
    let live = true;
    setLoaded({ state: 'loading' });
    api.traceById(id).then(
      (trace) => live && setLoaded({ state: 'done', trace }),
      (e: api.ApiError) => live && setLoaded({ state: 'error', message: e.message, status: e.status }));
    return () => { live = false; };
  }, [id]);

  if (loaded.state === 'loading') return <main class="page"><p class="hint" aria-live="polite">Loading trace {id}…</p></main>;
  if (loaded.state === 'error') {
    return (
      <main class="page">
        <h1>Trace {id}</h1>
        <p class="error-box" role="alert">{loaded.status === 404 ? 'No trace with this id is stored (it may be older than the retention).' : loaded.message}</p>
        <p><a href="/search">Search traces</a></p>
      </main>
    );
  }
  return <TraceView key={loaded.trace.traceID} trace={loaded.trace} />;
}

function TraceView({ trace }: { trace: Trace }) {
  const location = useLocation();
  const model = useMemo(() => buildTraceModel(trace), [trace]);
  const critical = useMemo(() => criticalPath(model), [model]);
  const selectedKey = location.query.span && model.byKey.has(location.query.span) ? location.query.span : null;
  const select = (key: string | null) => {
    const base = `/trace/${trace.traceID}`;
    location.route(key ? `${base}?span=${encodeURIComponent(key)}` : base, true);
  };
  const root = model.roots.find((r) => !r.orphan) ?? model.roots[0];
  const selected = selectedKey ? model.byKey.get(selectedKey)! : null;

  return (
    <main class="page trace-page">
      <header class="trace-header">
        <h1>
          {root && <><span class="svc-swatch" style={{ background: serviceColor(root.service) }} />{root.service}: {root.span.operationName}</>}
        </h1>
        <div class="trace-id-line">
          <code data-testid="trace-id">{trace.traceID}</code>
          <CopyButton text={trace.traceID} label="Copy trace id" />
          <button type="button" class="small" onClick={() => downloadJson(`trace-${trace.traceID}.json`, { data: [trace] })}>
            Download JSON
          </button>
        </div>
        <dl class="trace-stats">
          <div><dt>Start</dt><dd>{formatTimestamp(model.startTime)}</dd></div>
          <div><dt>Duration</dt><dd data-testid="trace-duration">{formatDuration(model.duration)}</dd></div>
          <div><dt>Services</dt><dd>{model.services.length}</dd></div>
          <div><dt>Depth</dt><dd data-testid="trace-depth">{model.depth}</dd></div>
          <div><dt>Spans</dt><dd data-testid="trace-span-count">{model.nodes.length}</dd></div>
          {model.errorCount > 0 && <div><dt>Errors</dt><dd class="error-text">{model.errorCount}</dd></div>}
        </dl>
        <div class="chips">{model.services.map((s) => <ServiceChip service={s.service} count={s.count} />)}</div>
      </header>
      <div class={`trace-body ${selected ? 'with-detail' : ''}`}>
        <Timeline model={model} critical={critical} selectedKey={selectedKey} onSelect={select} />
        {selected && <SpanDetail node={selected} model={model} onClose={() => select(null)} />}
      </div>
    </main>
  );
}

const ROW_HEIGHT = 28;
const OVERSCAN = 12;
const INDENT_PX = 14;

interface TimelineProps {
  model: TraceModel;
  critical: CriticalPath;
  selectedKey: string | null;
  onSelect: (key: string | null) => void;
}

function Timeline({ model, critical, selectedKey, onSelect }: TimelineProps) {
  const [collapsed, setCollapsed] = useState<ReadonlySet<string>>(new Set());
  const [showCritical, setShowCritical] = useState(true);
  const rows = useMemo(() => visibleNodes(model, collapsed), [model, collapsed]);
  const scroller = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [viewport, setViewport] = useState(600);

  // The first rows are on screen once the frame after this commit is painted: a mark for the
  // render benchmark (bench/ui/trace_render.mjs) and for anyone profiling the page.
  useEffect(() => {
    requestAnimationFrame(() => setTimeout(() => performance.mark('hodos:timeline-painted'), 0));
  }, []);

  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el) return;
    const observer = new ResizeObserver(() => setViewport(el.clientHeight));
    observer.observe(el);
    setViewport(el.clientHeight);
    return () => observer.disconnect();
  }, []);

  const toggle = (node: TreeNode) => {
    if (node.children.length === 0) return;
    const next = new Set(collapsed);
    if (next.has(node.key)) next.delete(node.key);
    else next.add(node.key);
    setCollapsed(next);
  };

  // Keeps the selected row in view when the keyboard moves it.
  const reveal = (index: number) => {
    const el = scroller.current;
    if (!el) return;
    const top = index * ROW_HEIGHT;
    if (top < el.scrollTop) el.scrollTop = top;
    else if (top + ROW_HEIGHT > el.scrollTop + el.clientHeight) el.scrollTop = top + ROW_HEIGHT - el.clientHeight;
  };

  const activeIndex = selectedKey ? rows.findIndex((r) => r.key === selectedKey) : -1;

  // A deep link to a span deep in a big trace scrolls to it once.
  useEffect(() => {
    if (activeIndex >= 0) reveal(activeIndex);
  }, [model]);

  const onKeyDown = (e: KeyboardEvent) => {
    const current = activeIndex >= 0 ? rows[activeIndex] : null;
    let target = -1;
    switch (e.key) {
      case 'ArrowDown': target = Math.min(rows.length - 1, activeIndex + 1); break;
      case 'ArrowUp': target = Math.max(0, activeIndex - 1); break;
      case 'Home': target = 0; break;
      case 'End': target = rows.length - 1; break;
      case 'PageDown': target = Math.min(rows.length - 1, Math.max(0, activeIndex) + Math.floor(viewport / ROW_HEIGHT)); break;
      case 'PageUp': target = Math.max(0, activeIndex - Math.floor(viewport / ROW_HEIGHT)); break;
      case 'ArrowRight':
        if (current && collapsed.has(current.key)) toggle(current);
        else if (current && current.children.length > 0) target = activeIndex + 1;
        break;
      case 'ArrowLeft':
        if (current && current.children.length > 0 && !collapsed.has(current.key)) toggle(current);
        else if (current?.parent) target = rows.indexOf(current.parent);
        break;
      case 'Enter':
      case ' ':
        if (current) toggle(current);
        break;
      case 'Escape':
        onSelect(null);
        break;
      default:
        return;
    }
    e.preventDefault();
    if (target >= 0 && rows[target]) {
      onSelect(rows[target].key);
      reveal(target);
    }
  };

  const first = Math.max(0, Math.floor(scrollTop / ROW_HEIGHT) - OVERSCAN);
  const last = Math.min(rows.length, Math.ceil((scrollTop + viewport) / ROW_HEIGHT) + OVERSCAN);
  const span = Math.max(1, model.duration);
  const ticks = [0, 0.25, 0.5, 0.75, 1];

  return (
    <section class="timeline" aria-label="Timeline">
      <div class="timeline-tools">
        <label title="The spans that decide when the trace ends: at each moment, the span the work waited on">
          <input type="checkbox" name="critical-path" checked={showCritical}
            onChange={(e) => setShowCritical((e.target as HTMLInputElement).checked)} />
          Critical path
        </label>
        {showCritical && <span class="muted small-text">{critical.keys.size} of {model.nodes.length} spans: names in bold, the dark line under a bar is the time on the path</span>}
      </div>
      <div class="timeline-head" aria-hidden="true">
        <div class="span-name">Service: operation</div>
        <div class="ruler">
          {ticks.map((f) => (
            <span class="tick" style={{ left: `${f * 100}%` }}>{f === 0 ? '0' : formatDuration(model.duration * f)}</span>
          ))}
        </div>
      </div>
      <div class="timeline-rows" ref={scroller} role="tree" tabIndex={0} aria-label="Spans"
        aria-activedescendant={activeIndex >= 0 ? `row-${rows[activeIndex].key}` : undefined}
        onScroll={(e) => setScrollTop((e.target as HTMLDivElement).scrollTop)} onKeyDown={onKeyDown}>
        <div style={{ height: `${rows.length * ROW_HEIGHT}px`, position: 'relative' }}>
          {rows.slice(first, last).map((node, i) => {
            const s = node.span;
            const left = ((s.startTime - model.startTime) / span) * 100;
            const width = Math.max((s.duration / span) * 100, 0.15);
            const isCollapsed = collapsed.has(node.key);
            const color = serviceColor(node.service);
            const sections = showCritical ? critical.byKey.get(node.key) : undefined;
            return (
              <div
                id={`row-${node.key}`}
                key={node.key}
                role="treeitem"
                aria-level={node.depth + 1}
                aria-expanded={node.children.length > 0 ? !isCollapsed : undefined}
                aria-selected={node.key === selectedKey}
                class={`span-row${node.key === selectedKey ? ' selected' : ''}${node.error ? ' error' : ''}${sections ? ' critical' : ''}`}
                data-span-id={s.spanID}
                data-depth={node.depth}
                style={{ top: `${(first + i) * ROW_HEIGHT}px`, height: `${ROW_HEIGHT}px` }}
                onClick={() => onSelect(node.key === selectedKey ? null : node.key)}
              >
                <div class="span-name" style={{ paddingLeft: `${4 + Math.min(node.depth, 40) * INDENT_PX}px` }}>
                  {node.children.length > 0
                    ? <button type="button" class="toggle" tabIndex={-1}
                        aria-label={`${isCollapsed ? 'Expand' : 'Collapse'} ${node.descendants} spans`}
                        onClick={(e) => { e.stopPropagation(); toggle(node); }}>{isCollapsed ? '▸' : '▾'}</button>
                    : <span class="toggle" />}
                  <span class="svc-swatch" style={{ background: color }} />
                  <span class="svc">{node.service}</span>
                  <span class="op">{s.operationName}</span>
                  {node.error && <span class="error-mark" title="This span failed (status ERROR)" aria-label="error">!</span>}
                  {sections && <span class="sr-only">, on the critical path</span>}
                  {isCollapsed && <span class="muted"> +{node.descendants}</span>}
                </div>
                <div class="span-bar-cell">
                  <div class="span-bar" style={{ left: `${left}%`, width: `${width}%`, background: node.error ? '#c62828' : color }} />
                  {sections?.map((c) => (
                    <div class="cp-section" style={{
                      left: `${((c.start - model.startTime) / span) * 100}%`,
                      width: `${Math.max(((c.end - c.start) / span) * 100, 0.1)}%`,
                    }} />
                  ))}
                  <span class="bar-label" style={left > 70 ? { right: `${100 - left + 0.5}%` } : { left: `calc(${left + width}% + 4px)` }}>
                    {formatDuration(s.duration)}
                  </span>
                </div>
              </div>
            );
          })}
        </div>
      </div>
    </section>
  );
}
