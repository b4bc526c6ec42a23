// Durations arrive in microseconds (Jaeger's unit); people read them with one unit and at most
// three significant digits: 850µs, 12.3ms, 1.5s, 2m 5s, 1h 2m.

export function formatDuration(us: number): string {
  if (!Number.isFinite(us) || us < 0) return '–';
  if (us < 1) return '0µs';
  // The bounds sit where rounding would print "1000µs" or "60s": those are "1ms" and "1m".
  if (us < 999.5) return `${trim(us)}µs`;
  if (us < 999_500) return `${trim(us / 1000)}ms`;
  const s = us / 1_000_000;
  if (s < 59.95) return `${trim(s)}s`;
  const totalSeconds = Math.round(s);
  const h = Math.floor(totalSeconds / 3600);
  const m = Math.floor((totalSeconds % 3600) / 60);
  const sec = totalSeconds % 60;
  if (h > 0) return m > 0 ? `${h}h ${m}m` : `${h}h`;
  return sec > 0 ? `${m}m ${sec}s` : `${m}m`;
}

// Three significant digits, no trailing zeros: 1.50 → "1.5", 123.4 → "123", 12.34 → "12.3".
function trim(v: number): string {
  const digits = v >= 100 ? 0 : v >= 10 ? 1 : 2;
  return String(Number(v.toFixed(digits)));
}

// Local wall-clock time of a µs timestamp, with milliseconds: "2025-01-31 14:05:09.123".
export function formatTimestamp(us: number): string {
  const d = new Date(us / 1000);
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

// "3 minutes ago"-style age of a µs timestamp relative to `nowMs`.
export function formatAge(us: number, nowMs: number = Date.now()): string {
  const s = Math.max(0, Math.round((nowMs - us / 1000) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

// Go durations for the API's minDuration/maxDuration: accepts what people type ("1.2s",
// "500ms", "100us", "100µs", "1h30m") and bare numbers as milliseconds; undefined when empty,
// null when it cannot be read.
export function parseGoDuration(text: string): number | undefined | null {
  const t = text.trim();
  if (t === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(t)) return Number(t) * 1000;
  const unitUs: Record<string, number> = { ns: 0.001, us: 1, 'µs': 1, ms: 1000, s: 1e6, m: 60e6, h: 3600e6 };
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let consumed = 0;
  for (let m = re.exec(t); m; m = re.exec(t)) {
    total += Number(m[1]) * unitUs[m[2]];
    consumed = re.lastIndex;
  }
  return consumed === t.length ? total : null;
}
