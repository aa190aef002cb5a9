import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  addDays,
  isWholeHourZone,
  localDate,
  localDayOf,
  localWallMs,
  msUntilNextLocalDay,
  partsIn,
  zonedInstant,
  zoneOffsetAt,
} from './time.js';

const at = (iso: string) => Date.parse(iso);
const SP = 'America/Sao_Paulo';
const HOUR = 3_600_000;
/** The wall clock `localWallMs` gives, as `YYYY-MM-DDTHH:MM`. */
const wall = (timeZone: string, iso: string) =>
  new Date(localWallMs(timeZone, at(iso))).toISOString().slice(0, 16);

describe('localDayOf', () => {
  it('bounds a São Paulo day at local midnight (UTC-3 today)', () => {
    const day = localDayOf(SP, at('2026-03-16T12:00:00Z'));
    expect(day.date).toBe('2026-03-16');
    expect(day.startTs).toBe(at('2026-03-16T03:00:00Z'));
    expect(day.endTs).toBe(at('2026-03-17T03:00:00Z'));
    expect(localDayOf(SP, at('2026-03-17T02:59:59.999Z')).date).toBe('2026-03-16');
  });

  it('follows the zone rules on days the offset changes, not a fixed offset', () => {
    const springForward = localDayOf('America/New_York', at('2026-03-08T12:00:00Z'));
    expect(springForward.startTs).toBe(at('2026-03-08T05:00:00Z'));
    expect(springForward.endTs).toBe(at('2026-03-09T04:00:00Z'));
    // São Paulo's 2018 daylight saving began at midnight: that day started at 01:00 local (-02).
    const skippedMidnight = localDayOf(SP, at('2018-11-04T12:00:00Z'));
    expect(skippedMidnight.startTs).toBe(at('2018-11-04T03:00:00Z'));
    expect(localDayOf(SP, at('2018-11-03T12:00:00Z')).endTs).toBe(skippedMidnight.startTs);
  });

  it('starts a day at a skipped midnight east of UTC too (Cairo, 2024-04-26 began at 01:00 +03)', () => {
    const day = localDayOf('Africa/Cairo', at('2024-04-26T12:00:00Z'));
    expect(day.startTs).toBe(at('2024-04-25T22:00:00Z'));
    expect(localDate('Africa/Cairo', at('2024-04-25T21:30:00Z'))).toBe('2024-04-25');
  });

  it('starts a day at the first of two midnights (Amman, 2021-10-29: 01:00 +03 went back to 00:00 +02)', () => {
    const day = localDayOf('Asia/Amman', at('2021-10-29T12:00:00Z'));
    expect(day.startTs).toBe(at('2021-10-28T21:00:00Z'));
    expect(day.endTs - day.startTs).toBe(25 * HOUR);
    expect(localDate('Asia/Amman', at('2021-10-28T20:59:59.999Z'))).toBe('2021-10-28');
  });
});

describe('São Paulo daylight-saving years (before 2019)', () => {
  it('2018-11-04: midnight skipped, clocks to 01:00 -02; a 23-hour day', () => {
    expect(localDate(SP, at('2018-11-04T02:59:59.999Z'))).toBe('2018-11-03');
    expect(localDate(SP, at('2018-11-04T03:00:00Z'))).toBe('2018-11-04');
    const day = localDayOf(SP, at('2018-11-04T15:00:00Z'));
    expect(day.endTs - day.startTs).toBe(23 * HOUR);
    expect(wall(SP, '2018-11-04T02:59:00Z')).toBe('2018-11-03T23:59');
    expect(wall(SP, '2018-11-04T03:00:00Z')).toBe('2018-11-04T01:00');
    expect(wall(SP, '2018-11-04T15:00:00Z')).toBe('2018-11-04T13:00');
  });

  it('2018-02-18: midnight -02 back to 23:00 -03; 2018-02-17 lasts 25 hours', () => {
    const day = localDayOf(SP, at('2018-02-17T12:00:00Z'));
    expect(day.startTs).toBe(at('2018-02-17T02:00:00Z'));
    expect(day.endTs).toBe(at('2018-02-18T03:00:00Z'));
    // 23:30 happens twice: both belong to the 17th.
    expect(localDate(SP, at('2018-02-18T01:30:00Z'))).toBe('2018-02-17');
    expect(localDate(SP, at('2018-02-18T02:30:00Z'))).toBe('2018-02-17');
    expect(localDate(SP, at('2018-02-18T03:00:00Z'))).toBe('2018-02-18');
    expect(wall(SP, '2018-02-18T01:30:00Z')).toBe('2018-02-17T23:30');
    expect(wall(SP, '2018-02-18T02:30:00Z')).toBe('2018-02-17T23:30');
    expect(wall(SP, '2018-02-18T12:00:00Z')).toBe('2018-02-18T09:00');
  });

  it('a summer day of 2017 is -02, a winter one -03', () => {
    expect(wall(SP, '2017-01-10T12:00:00Z')).toBe('2017-01-10T10:00');
    expect(wall(SP, '2017-07-10T12:00:00Z')).toBe('2017-07-10T09:00');
  });
});

describe('Asia/Kolkata (UTC+05:30)', () => {
  const IN = 'Asia/Kolkata';

  it('turns the date at 18:30 UTC', () => {
    expect(localDate(IN, at('2026-03-15T18:29:59.999Z'))).toBe('2026-03-15');
    expect(localDate(IN, at('2026-03-15T18:30:00Z'))).toBe('2026-03-16');
    const day = localDayOf(IN, at('2026-03-16T12:00:00Z'));
    expect(day.startTs).toBe(at('2026-03-15T18:30:00Z'));
    expect(day.endTs).toBe(at('2026-03-16T18:30:00Z'));
  });

  it('gives the half-hour wall clock and instants', () => {
    expect(wall(IN, '2026-03-16T03:30:00Z')).toBe('2026-03-16T09:00');
    expect(zonedInstant(IN, Date.UTC(2026, 2, 16) / 86_400_000, 9 * 60)).toBe(at('2026-03-16T03:30:00Z'));
    expect(msUntilNextLocalDay(IN, at('2026-03-15T18:00:00Z'))).toBe(30 * 60_000);
  });
});

describe('crossing midnight', () => {
  it('changes the date at the first millisecond of the new day, and the wall clock runs on', () => {
    const midnight = at('2026-03-17T03:00:00Z');
    expect(localDate(SP, midnight - 1)).toBe('2026-03-16');
    expect(localDate(SP, midnight)).toBe('2026-03-17');
    expect(localWallMs(SP, midnight) - localWallMs(SP, midnight - 1)).toBe(1);
    expect(wall(SP, '2026-03-17T03:00:00Z')).toBe('2026-03-17T00:00');
  });

  it('answers the same at the cached day’s exact edges, whichever day was asked before', () => {
    const day = localDayOf(SP, at('2026-04-08T12:00:00Z'));
    expect(localDate(SP, day.endTs)).toBe('2026-04-09');
    expect(localDate(SP, day.endTs - 1)).toBe('2026-04-08');
    expect(localDate(SP, day.startTs)).toBe('2026-04-08');
    expect(localDate(SP, day.startTs - 1)).toBe('2026-04-07');
    expect(localDate(SP, day.endTs)).toBe('2026-04-09');
    expect(localDayOf(SP, day.endTs).startTs).toBe(day.endTs);
  });

  it('counts down to midnight, at most an hour at a time', () => {
    expect(msUntilNextLocalDay(SP, at('2026-03-17T02:30:00Z'))).toBe(30 * 60_000);
    expect(msUntilNextLocalDay(SP, at('2026-03-16T12:00:00Z'))).toBe(HOUR);
  });
});

describe('timestamps out of order', () => {
  afterEach(() => vi.restoreAllMocks());

  it('after a later day, an earlier one is still right', () => {
    expect(localDate(SP, at('2026-05-20T12:00:00Z'))).toBe('2026-05-20');
    expect(localDate(SP, at('2026-05-12T02:59:59.999Z'))).toBe('2026-05-11');
    expect(localDate(SP, at('2026-05-12T03:00:00Z'))).toBe('2026-05-12');
    expect(localDate(SP, at('2026-05-20T02:00:00Z'))).toBe('2026-05-19');
    expect(localDate(SP, at('2026-05-11T12:00:00Z'))).toBe('2026-05-11');
    expect(wall(SP, '2026-05-11T12:00:00Z')).toBe('2026-05-11T09:00');
  });

  it('keeps every day it computed: going back over them asks Intl nothing', () => {
    const zone = 'Europe/Lisbon';
    const instants = Array.from({ length: 30 }, (_, i) => at('2025-01-01T12:00:00Z') + i * 86_400_000);
    const first = instants.map((t) => localDayOf(zone, t));
    const intl = vi.spyOn(Intl.DateTimeFormat.prototype, 'formatToParts');
    const again = [...instants].reverse().map((t) => localDayOf(zone, t));
    expect(again.reverse()).toEqual(first);
    expect(again[0]).toBe(first[0]);
    expect(intl).not.toHaveBeenCalled();
  });

  it('agrees with Intl on instants in random order, across zones and daylight-saving changes', () => {
    let seed = 7;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
      return seed / 2_147_483_648;
    };
    const from = at('2016-01-01T00:00:00Z');
    const to = at('2020-01-01T00:00:00Z');
    for (const zone of [SP, 'Asia/Kolkata', 'Australia/Lord_Howe', 'Europe/Berlin', 'Africa/Cairo']) {
      for (let i = 0; i < 400; i++) {
        let t = Math.floor(from + random() * (to - from));
        // Half of them within 2 ms of a local midnight.
        if (i % 2) t = localDayOf(zone, t).endTs + Math.floor(random() * 4) - 2;
        const p = partsIn(zone, t);
        expect(localDate(zone, t), `${zone} ${new Date(t).toISOString()}`).toBe(
          `${p.year}-${p.month}-${p.day}`,
        );
        expect(Math.floor(localWallMs(zone, t) / 1000)).toBe(Math.floor((t + zoneOffsetAt(zone, t)) / 1000));
      }
    }
  });
});

describe('zonedInstant', () => {
  const day = (date: string) => Date.parse(`${date}T00:00:00Z`) / 86_400_000;

  it('takes the first of a wall time repeated by a backward shift', () => {
    // Berlin 2026-10-25: 03:00 +02 went back to 02:00 +01, so 02:30 happened twice.
    expect(zonedInstant('Europe/Berlin', day('2026-10-25'), 150)).toBe(at('2026-10-25T00:30:00Z'));
    expect(zonedInstant(SP, day('2018-02-17'), 23 * 60 + 30)).toBe(at('2018-02-18T01:30:00Z'));
  });

  it('gives the shift itself for the first skipped wall time', () => {
    // Berlin 2026-03-29: 02:00 +01 became 03:00 +02.
    expect(zonedInstant('Europe/Berlin', day('2026-03-29'), 120)).toBe(at('2026-03-29T01:00:00Z'));
    expect(zonedInstant(SP, day('2018-11-04'), 0)).toBe(at('2018-11-04T03:00:00Z'));
  });
});

describe('isWholeHourZone', () => {
  it('accepts the zones a whole number of hours from UTC, São Paulo with its past daylight saving too', () => {
    for (const zone of [SP, 'UTC', 'Europe/Berlin', 'Asia/Tokyo', 'Pacific/Kiritimati', 'Etc/GMT+12']) {
      expect(isWholeHourZone(zone), zone).toBe(true);
    }
  });

  it('refuses half and three-quarter hours, now or in past years', () => {
    for (const zone of ['Asia/Kolkata', 'Asia/Kathmandu', 'Australia/Lord_Howe', 'America/Caracas']) {
      expect(isWholeHourZone(zone), zone).toBe(false);
    }
  });
});

describe('the ends of the range a query may name (1970 to 9999 UTC)', () => {
  it('answers there too, east and west of UTC', () => {
    const last = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
    expect(localDate('Asia/Tokyo', last)).toBe('10000-01-01');
    expect(localDate(SP, last)).toBe('9999-12-31');
    expect(localDate(SP, 0)).toBe('1969-12-31');
    expect(wall('Asia/Tokyo', '1970-01-01T00:00:00Z')).toBe('1970-01-01T09:00');
  });
});

describe('addDays', () => {
  it('moves calendar dates across months and years', () => {
    expect(addDays('2026-02-28', 1)).toBe('2026-03-01');
    expect(addDays('2026-01-01', -1)).toBe('2025-12-31');
  });
});
