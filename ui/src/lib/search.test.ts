import { describe, expect, it } from 'vitest';

import { TagSyntaxError, apiQuery, paramsFromUrl, parseTags, urlFromParams } from './search';

describe('search URL ↔ API query', () => {
  it('fills the defaults (lookback 1h, limit 20) and keeps links short', () => {
    const p = paramsFromUrl(new URLSearchParams('service=frontend'));
    expect(p).toMatchObject({ service: 'frontend', operation: '', lookback: '1h', limit: '20' });
    expect(urlFromParams(p)).toBe('/search?service=frontend');
    expect(apiQuery(p).toString()).toBe('service=frontend&lookback=1h&limit=20');
  });

  it('turns every field into the query API parameters, tags as repeated tag=key:value', () => {
    const p = paramsFromUrl(new URLSearchParams(
      'service=frontend&operation=GET+%2Fcheckout&tags=error%3Dtrue+http.route%3D%22%2Fa+b%22&minDuration=1ms&maxDuration=2s&lookback=6h&limit=5'));
    expect([...apiQuery(p)]).toEqual([
      ['service', 'frontend'], ['operation', 'GET /checkout'], ['tag', 'error:true'], ['tag', 'http.route:/a b'],
      ['minDuration', '1ms'], ['maxDuration', '2s'], ['lookback', '6h'], ['limit', '5'],
    ]);
    expect(paramsFromUrl(new URLSearchParams(urlFromParams(p).split('?')[1]))).toEqual(p);
  });

  it('reads tags as key=value with quoted values, and names a bad one', () => {
    expect(parseTags('')).toEqual([]);
    expect(parseTags(' a=1  b="x \\"y\\"" c=k:v ')).toEqual([['a', '1'], ['b', 'x "y"'], ['c', 'k:v']]);
    expect(() => parseTags('a=1 oops')).toThrow(TagSyntaxError);
    expect(() => parseTags('a=1 oops')).toThrow(/"oops"/);
  });
});
