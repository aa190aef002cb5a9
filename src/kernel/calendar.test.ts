import { describe, expect, it } from 'vitest';
import { localDayOf } from './calendar.js';

const at = (iso: string) => Date.parse(iso);

describe('localDayOf', () => {
  it('bounds a São Paulo day at local midnight (UTC-3 today)', () => {
    const day = localDayOf('America/Sao_Paulo', at('2026-03-16T12:00:00Z'));
    expect(day.date).toBe('2026-03-16');
    expect(day.startTs).toBe(at('2026-03-16T03:00:00Z'));
    expect(day.endTs).toBe(at('2026-03-17T03:00:00Z'));
    expect(localDayOf('America/Sao_Paulo', at('2026-03-17T02:59:59.999Z')).date).toBe('2026-03-16');
  });

  it('follows the zone rules on days the offset changes, not a fixed offset', () => {
    const springForward = localDayOf('America/New_York', at('2026-03-08T12:00:00Z'));
    expect(springForward.startTs).toBe(at('2026-03-08T05:00:00Z'));
    expect(springForward.endTs).toBe(at('2026-03-09T04:00:00Z'));
    // São Paulo's 2018 daylight saving began at midnight: that day started at 01:00 local (-02).
    const skippedMidnight = localDayOf('America/Sao_Paulo', at('2018-11-04T12:00:00Z'));
    expect(skippedMidnight.startTs).toBe(at('2018-11-04T03:00:00Z'));
    expect(localDayOf('America/Sao_Paulo', at('2018-11-03T12:00:00Z')).endTs).toBe(skippedMidnight.startTs);
  });
});
