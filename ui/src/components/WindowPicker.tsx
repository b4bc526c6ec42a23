// The time window of the map and services pages: `?lookback=` in the URL (default 1h), so that a
// window is a link and survives a reload.
import { useLocation } from 'preact-iso';

import { LOOKBACKS } from '../lib/search';

export const DEFAULT_WINDOW = '1h';

export function useWindow(): [string, (next: string) => void] {
  const location = useLocation();
  const lookback = location.query.lookback || DEFAULT_WINDOW;
  const set = (next: string) => {
    const q = new URLSearchParams(location.query);
    if (next === DEFAULT_WINDOW) q.delete('lookback');
    else q.set('lookback', next);
    const s = q.toString();
    location.route(`${location.path}${s ? `?${s}` : ''}`);
  };
  return [lookback, set];
}

export function WindowPicker({ value, onChange }: { value: string; onChange: (v: string) => void }) {
  const known = LOOKBACKS.some(([v]) => v === value);
  return (
    <label class="window-picker">
      Window{' '}
      <select name="lookback" value={value} onChange={(e) => onChange((e.target as HTMLSelectElement).value)}>
        {!known && <option value={value}>Last {value}</option>}
        {LOOKBACKS.map(([v, label]) => <option value={v}>{label}</option>)}
      </select>
    </label>
  );
}

// The search of one service over the same window.
export function searchUrl(service: string, lookback: string): string {
  const q = new URLSearchParams({ service });
  if (lookback !== '1h') q.set('lookback', lookback);
  return `/search?${q}`;
}
