// A small line chart without axes (uPlot on a canvas) over a fixed time range, so that the
// sparklines of one table line up. The figure it stands for is printed next to it; the chart's
// label says the range of values for screen readers.
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

import { Series } from '../lib/metrics';

interface Props {
  series: Series | undefined;
  range: [number, number]; // x, Unix seconds
  color: string;
  label: string; // what the values are, e.g. "requests per second"
  format: (v: number) => string;
  minTop?: number; // the y axis shows at least up to this value (a flat 0 stays at the bottom)
  width?: number;
  height?: number;
}

export function Sparkline({ series, range, color, label, format, minTop = 0, width = 150, height = 34 }: Props) {
  const host = useRef<HTMLDivElement>(null);
  const points = series?.t.length ?? 0;

  useEffect(() => {
    const el = host.current;
    if (!el || !series || points === 0) return;
    const opts: uPlot.Options = {
      width,
      height,
      legend: { show: false },
      cursor: { show: false },
      select: { show: false, left: 0, top: 0, width: 0, height: 0 },
      axes: [{ show: false }, { show: false }],
      scales: {
        x: { time: true, range: () => range },
        y: { range: (_u, _min, max) => [0, Math.max(max, minTop) * 1.1 || 1] },
      },
      series: [
        {},
        { stroke: color, width: 1.5, fill: `${color}22`, points: { show: points === 1, size: 4, fill: color } },
      ],
    };
    const plot = new uPlot(opts, [series.t, series.v], el);
    return () => plot.destroy();
  }, [series, range[0], range[1], color]);

  if (points === 0) return <span class="sparkline empty muted small-text" data-points="0">no data</span>;
  const lo = Math.min(...series!.v);
  const hi = Math.max(...series!.v);
  return <div ref={host} class="sparkline" role="img" data-points={points}
    aria-label={`${label} over the window: from ${format(lo)} to ${format(hi)}`} />;
}
