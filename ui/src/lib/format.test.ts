import { describe, expect, it } from 'vitest';

import { formatAge, formatDuration, parseGoDuration } from './format';

describe('formatDuration (µs in)', () => {
  it.each([
    [0, '0µs'], [0.4, '0µs'], [1, '1µs'], [850, '850µs'], [999.4, '999µs'], [999.6, '1ms'],
    [1000, '1ms'], [1500, '1.5ms'], [12_345, '12.3ms'], [100_000, '100ms'], [999_400, '999ms'],
    [999_600, '1s'], [1_000_000, '1s'], [1_500_000, '1.5s'], [59_940_000, '59.9s'], [59_960_000, '1m'],
    [125_000_000, '2m 5s'], [3_600_000_000, '1h'], [3_720_000_000, '1h 2m'],
  ])('%d → %s', (us, text) => {
    expect(formatDuration(us)).toBe(text);
  });

  it('says "–" for what is not a duration', () => {
    expect(formatDuration(NaN)).toBe('–');
    expect(formatDuration(-5)).toBe('–');
  });
});

describe('formatAge', () => {
  it('counts back from now in the largest whole unit', () => {
    const now = 1_700_000_000_000;
    expect(formatAge((now - 5_000) * 1000, now)).toBe('5s ago');
    expect(formatAge((now - 10 * 60_000) * 1000, now)).toBe('10m ago');
    expect(formatAge((now - 3 * 3_600_000) * 1000, now)).toBe('3h ago');
    expect(formatAge((now - 2 * 86_400_000) * 1000, now)).toBe('2d ago');
  });
});

describe('parseGoDuration', () => {
  it.each([
    ['', undefined], ['  ', undefined], ['100us', 100], ['100µs', 100], ['1.2s', 1_200_000], ['500ms', 500_000],
    ['1h30m', 5_400_000_000], ['250', 250_000], ['fast', null], ['10 ms', null], ['1s2', null],
  ])('%j → %j', (text, us) => {
    expect(parseGoDuration(text)).toBe(us);
  });
});
