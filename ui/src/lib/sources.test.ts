import { describe, expect, it } from 'vitest';

import type { SourceEntry } from './api';
import { describeChoice, savedNotRunning } from './sources';

const live = (discovered: string, service = discovered) => ({ discovered_service: discovered, service }) as SourceEntry;

describe('savedNotRunning', () => {
  it('lists the saved choices no running source matches, by discovered name, sorted', () => {
    const got = savedNotRunning({
      saved: { 'http.server': { enabled: false }, app: { name: 'web' }, api: { enabled: false } },
      sources: [live('app', 'web')],
    });
    expect(got).toEqual([
      { discovered: 'api', enabled: false, name: undefined },
      { discovered: 'http.server', enabled: false, name: undefined },
    ]);
  });

  it('lists every saved choice while the agent is off', () => {
    expect(savedNotRunning({ saved: { a: { enabled: true } }, sources: [] }).map((c) => c.discovered)).toEqual(['a']);
  });

  it('copes with an answer without saved choices', () => {
    expect(savedNotRunning({ saved: {}, sources: [live('a')] })).toEqual([]);
  });
});

describe('describeChoice', () => {
  it('says what was chosen', () => {
    expect(describeChoice({ discovered: 'a', enabled: false })).toBe('disabled');
    expect(describeChoice({ discovered: 'a', enabled: true })).toBe('enabled');
    expect(describeChoice({ discovered: 'a', name: 'web' })).toBe('renamed to web');
    expect(describeChoice({ discovered: 'a', enabled: false, name: 'web' })).toBe('disabled, renamed to web');
  });
});
