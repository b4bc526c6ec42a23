// The search page's state lives in its URL (/search?service=&operation=&tags=&minDuration=&
// maxDuration=&lookback=&limit=), so that a search is a link. These turn that URL into the query
// API's parameters.

export interface SearchParams {
  service: string;
  operation: string; // '' = all
  tags: string; // `key=value key2="a value"`
  minDuration: string; // Go durations: 1.2s, 500ms
  maxDuration: string;
  lookback: string; // 1h, 6h, 2d...
  limit: string;
}

export const DEFAULT_LOOKBACK = '1h';
export const DEFAULT_LIMIT = '20';

export const LOOKBACKS: [string, string][] = [
  ['5m', 'Last 5 minutes'], ['15m', 'Last 15 minutes'], ['1h', 'Last hour'], ['2h', 'Last 2 hours'],
  ['6h', 'Last 6 hours'], ['12h', 'Last 12 hours'], ['24h', 'Last 24 hours'], ['2d', 'Last 2 days'],
  ['7d', 'Last 7 days'],
];

export function paramsFromUrl(query: URLSearchParams): SearchParams {
  return {
    service: query.get('service') ?? '',
    operation: query.get('operation') ?? '',
    tags: query.get('tags') ?? '',
    minDuration: query.get('minDuration') ?? '',
    maxDuration: query.get('maxDuration') ?? '',
    lookback: query.get('lookback') || DEFAULT_LOOKBACK,
    limit: query.get('limit') || DEFAULT_LIMIT,
  };
}

// The page URL for a search: empty fields and defaults are left out to keep links short.
export function urlFromParams(p: SearchParams): string {
  const q = new URLSearchParams();
  if (p.service) q.set('service', p.service);
  if (p.operation) q.set('operation', p.operation);
  if (p.tags.trim()) q.set('tags', p.tags.trim());
  if (p.minDuration.trim()) q.set('minDuration', p.minDuration.trim());
  if (p.maxDuration.trim()) q.set('maxDuration', p.maxDuration.trim());
  if (p.lookback && p.lookback !== DEFAULT_LOOKBACK) q.set('lookback', p.lookback);
  if (p.limit && p.limit !== DEFAULT_LIMIT) q.set('limit', p.limit);
  const s = q.toString();
  return s ? `/search?${s}` : '/search';
}

export class TagSyntaxError extends Error {}

// `key=value` pairs separated by spaces; a value with spaces in double quotes
// (`error=true http.route="/a b"`). Throws TagSyntaxError naming the bad part.
export function parseTags(text: string): [string, string][] {
  const out: [string, string][] = [];
  const re = /\s*([^\s=]+)=(?:"((?:[^"\\]|\\.)*)"|([^\s"]*))\s*/y;
  let pos = 0;
  const t = text.trim();
  while (pos < t.length) {
    re.lastIndex = pos;
    const m = re.exec(t);
    if (!m || m.index !== pos) {
      const rest = t.slice(pos).split(/\s+/)[0];
      throw new TagSyntaxError(`tag "${rest}" is not key=value (quote values with spaces: key="a b")`);
    }
    out.push([m[1], m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[3]]);
    pos = re.lastIndex;
  }
  return out;
}

// The /api/traces query for a search (tags as repeated `tag=key:value`).
export function apiQuery(p: SearchParams): URLSearchParams {
  const q = new URLSearchParams();
  q.set('service', p.service);
  if (p.operation) q.set('operation', p.operation);
  for (const [k, v] of parseTags(p.tags)) q.append('tag', `${k}:${v}`);
  if (p.minDuration.trim()) q.set('minDuration', p.minDuration.trim());
  if (p.maxDuration.trim()) q.set('maxDuration', p.maxDuration.trim());
  q.set('lookback', p.lookback || DEFAULT_LOOKBACK);
  q.set('limit', p.limit || DEFAULT_LIMIT);
  return q;
}
