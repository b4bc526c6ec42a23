// Duration over time for the traces a search found: one point per trace (errors in red); a click
// near a point opens that trace. uPlot draws on a canvas, so each point's position is also
// written to `data-points` (id@x,y in CSS pixels of the plot area) for tools and tests.
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

import { formatDuration } from '../lib/format';
import { TraceSummary } from '../lib/tree';

interface Props {
  traces: TraceSummary[];
  onOpen: (traceID: string) => void;
}

const HIT_RADIUS_PX = 12;

export function ScatterPlot({ traces, onOpen }: Props) {
  const host = useRef<HTMLDivElement>(null);
  const openRef = useRef(onOpen);
  openRef.current = onOpen;

  useEffect(() => {
    const el = host.current;
    if (!el || traces.length === 0) return;
    // uPlot wants ascending x; errors and successes are two series over the same x values.
    const sorted = [...traces].sort((a, b) => a.startTime - b.startTime);
    const xs = sorted.map((t) => t.startTime / 1e6);
    const ok = sorted.map((t) => (t.errorCount === 0 ? t.duration / 1000 : null));
    const failed = sorted.map((t) => (t.errorCount > 0 ? t.duration / 1000 : null));
    const noLine = () => null;
    const opts: uPlot.Options = {
      width: Math.max(300, el.clientWidth),
      height: 220,
      legend: { show: false },
      cursor: { drag: { x: false, y: false }, points: { show: false } },
      // Padded on every side, so that no point sits on an edge where it is hard to click.
      scales: {
        x: { time: true, range: (_u, min, max) => { const pad = Math.max((max - min) * 0.04, 1); return [min - pad, max + pad]; } },
        y: { range: (_u, _min, max) => { const top = Math.max(max * 1.15, 1); return [-top * 0.06, top]; } },
      },
      axes: [
        { stroke: '#444' },
        { stroke: '#444', size: 70, values: (_u, ticks) => ticks.map((v) => (v < 0 ? '' : v === 0 ? '0' : formatDuration(v * 1000))) },
      ],
      series: [
        {},
        { label: 'ok', stroke: '#3b7dd8', fill: '#3b7dd8', paths: noLine, points: { show: true, size: 9, fill: '#3b7dd8' } },
        { label: 'error', stroke: '#c62828', fill: '#c62828', paths: noLine, points: { show: true, size: 9, fill: '#c62828' } },
      ],
    };
    const pointPositions = (u: uPlot) =>
      sorted.map((t, i) => ({
        id: t.traceID,
        x: u.valToPos(xs[i], 'x'),
        y: u.valToPos(t.duration / 1000, 'y'),
      }));
    // After each draw: only then are the scales (and so the positions) known.
    const publish = (u: uPlot) => {
      el.dataset.points = pointPositions(u).map((p) => `${p.id}@${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(' ');
    };
    opts.hooks = { draw: [publish] };
    const plot = new uPlot(opts, [xs, ok, failed], el);

    const over = plot.over;
    // Listens on the whole chart: a point near the plot's border may be under an axis.
    const root = plot.root;
    const nearest = (e: MouseEvent) => {
      const rect = over.getBoundingClientRect();
      const mx = e.clientX - rect.left;
      const my = e.clientY - rect.top;
      let best: { id: string; d: number } | null = null;
      for (const p of pointPositions(plot)) {
        const d = Math.hypot(p.x - mx, p.y - my);
        if (d <= HIT_RADIUS_PX && (!best || d < best.d)) best = { id: p.id, d };
      }
      return best?.id;
    };
    const onClick = (e: MouseEvent) => {
      const id = nearest(e);
      if (id) openRef.current(id);
    };
    const onMove = (e: MouseEvent) => {
      root.style.cursor = nearest(e) ? 'pointer' : 'default';
    };
    root.addEventListener('click', onClick);
    root.addEventListener('mousemove', onMove);
    const resize = new ResizeObserver(() => {
      plot.setSize({ width: Math.max(300, el.clientWidth), height: 220 });
    });
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
  }, [traces]);

  return <div ref={host} class="scatter" role="img"
    aria-label={`Duration over time of ${traces.length} traces; the list below opens them too`} />;
}
