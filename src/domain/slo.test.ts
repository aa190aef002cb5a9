import { describe, expect, it } from 'vitest';
import { b3Holidays, easterSunday } from '../kernel/time.js';
import {
  availabilityOf,
  histogramQuantile,
  type MarketHours,
  type MinuteRecord,
  marketMinutes,
  marketSessions,
  mergeRecords,
  orderSuccessOf,
} from './slo.js';

const at = (iso: string) => Date.parse(iso);
const B3: MarketHours = {
  timeZone: 'America/Sao_Paulo',
  openMinute: 9 * 60,
  closeMinute: 18 * 60,
  tradingDays: [1, 2, 3, 4, 5],
  b3Holidays: true,
  holidays: [],
};

const rec = (minute: number, over: Partial<MinuteRecord> = {}): MinuteRecord => ({
  minute,
  service: 'gateway',
  probes: 12,
  ok: 12,
  down: 0,
  worst: 'healthy',
  maxLatencyMs: 2,
  ...over,
});

describe('B3 calendar', () => {
  it('knows Easter and the movable holidays that follow from it', () => {
    expect(easterSunday(2026)).toBe('2026-04-05');
    expect(easterSunday(2025)).toBe('2025-04-20');
    const h = b3Holidays(2026);
    // Carnival Monday and Tuesday, Good Friday, Corpus Christi.
    expect(h).toEqual(expect.arrayContaining(['2026-02-16', '2026-02-17', '2026-04-03', '2026-06-04']));
    expect(h).toEqual(
      expect.arrayContaining(['2026-01-01', '2026-04-21', '2026-11-20', '2026-12-24', '2026-12-31']),
    );
    expect(b3Holidays(2023)).not.toContain('2023-11-20');
  });
});

describe('market-hours windows', () => {
  it('a session is 09:00–18:00 São Paulo, 12:00–21:00 UTC (no daylight saving since 2019)', () => {
    const s = marketSessions(B3, at('2026-03-16T00:00:00Z'), at('2026-03-17T00:00:00Z'));
    expect(s).toEqual([
      { date: '2026-03-16', start: at('2026-03-16T12:00:00Z'), end: at('2026-03-16T21:00:00Z') },
    ]);
    // Same hours in the southern summer: the offset is -03 all year.
    const jan = marketSessions(B3, at('2026-01-14T00:00:00Z'), at('2026-01-15T00:00:00Z'));
    expect(jan[0]?.start).toBe(at('2026-01-14T12:00:00Z'));
  });

  it('skips the weekend and a holiday: Friday 3 April 2026 (Good Friday) to Monday 6 April', () => {
    const from = at('2026-04-02T20:00:00Z'); // Thursday 17:00 local: one hour left
    const to = at('2026-04-06T13:30:00Z'); // Monday 10:30 local: 90 minutes in
    const s = marketSessions(B3, from, to);
    expect(s.map((x) => x.date)).toEqual(['2026-04-02', '2026-04-06']);
    expect(marketMinutes(B3, from, to)).toHaveLength(60 + 90);
  });

  it('a configured extra holiday and other trading days are honoured', () => {
    const week = [at('2026-03-16T00:00:00Z'), at('2026-03-21T00:00:00Z')] as const;
    expect(marketSessions(B3, ...week)).toHaveLength(5);
    expect(marketSessions({ ...B3, holidays: ['2026-03-18'] }, ...week)).toHaveLength(4);
    const allDay = {
      ...B3,
      openMinute: 0,
      closeMinute: 1440,
      tradingDays: [0, 1, 2, 3, 4, 5, 6],
      b3Holidays: false,
    };
    expect(marketMinutes(allDay, at('2026-04-03T00:00:00Z'), at('2026-04-04T00:00:00Z'))).toHaveLength(1440);
  });

  it('window edges inside a minute: a minute counts when it overlaps the window', () => {
    const m = marketMinutes(B3, at('2026-03-16T12:00:30Z'), at('2026-03-16T12:02:10Z'));
    expect(m).toEqual([at('2026-03-16T12:00:00Z'), at('2026-03-16T12:01:00Z'), at('2026-03-16T12:02:00Z')]);
    expect(marketMinutes(B3, at('2026-03-16T22:00:00Z'), at('2026-03-16T12:00:00Z'))).toEqual([]);
  });
});

describe('availability and error budget', () => {
  const day = marketMinutes(B3, at('2026-03-16T00:00:00Z'), at('2026-03-17T00:00:00Z'));
  const now = at('2026-03-17T00:00:00Z');

  it('a full session up is 100% and leaves the whole budget', () => {
    const records = new Map(day.map((m) => [m, rec(m)]));
    const a = availabilityOf('gateway', day, records, now);
    expect(a).toMatchObject({ minutes: 540, up: 540, down: 0, unknown: 0, availability: 1, verdict: 'pass' });
    expect(a.budget).toEqual({ allowedMinutes: 2.7, usedMinutes: 0, leftMinutes: 2.7 });
  });

  it('a minute with one failed probe or a crash is down; a minute with no record is unknown and counts down', () => {
    const records = new Map(day.map((m) => [m, rec(m, { service: 'data-capture' })]));
    const [m0, m1, m2] = day;
    records.set(m0 as number, rec(m0 as number, { ok: 11, worst: 'unhealthy' }));
    records.set(m1 as number, rec(m1 as number, { down: 1, worst: 'backoff' }));
    records.delete(m2 as number);
    const a = availabilityOf('data-capture', day, records, now);
    expect(a).toMatchObject({ objective: 0.999, up: 537, down: 2, unknown: 1, verdict: 'fail' });
    expect(a.availability).toBeCloseTo(537 / 540, 10);
    // 0.1% of 540 minutes is 0.54 minute: 3 used.
    expect(a.budget).toEqual({ allowedMinutes: 0.5, usedMinutes: 3, leftMinutes: -2.5 });
  });

  it('the minute still being recorded is left out until it has a record', () => {
    const minutes = day.slice(0, 10);
    const records = new Map(minutes.slice(0, 9).map((m) => [m, rec(m)]));
    const inProgress = (minutes[9] as number) + 20_000;
    expect(availabilityOf('gateway', minutes, records, inProgress)).toMatchObject({ minutes: 9, unknown: 0 });
    expect(availabilityOf('gateway', minutes, records, inProgress + 60_000)).toMatchObject({
      minutes: 10,
      unknown: 1,
    });
  });

  it('no market minute in the window: no data, not a pass', () => {
    expect(availabilityOf('gateway', [], undefined, now)).toMatchObject({
      availability: null,
      verdict: 'no-data',
    });
  });

  it('records of one minute merge: counts add, the worst state and the slowest probe stay', () => {
    const m = day[0] as number;
    expect(
      mergeRecords(
        rec(m, { probes: 5, ok: 5 }),
        rec(m, { probes: 7, ok: 6, worst: 'unhealthy', maxLatencyMs: 9 }),
      ),
    ).toEqual(rec(m, { probes: 12, ok: 11, worst: 'unhealthy', maxLatencyMs: 9 }));
  });
});

describe('order success and latency', () => {
  it('rate = accepted and not rejected / sent; pending left out; risk rejections excluded', () => {
    const s = orderSuccessOf({
      sent: 1003,
      succeeded: 995,
      brokerRejected: 3,
      unanswered: 2,
      pending: 3,
      riskRejected: 40,
    });
    expect(s.rate).toBeCloseTo(0.995, 10);
    expect(s).toMatchObject({
      verdict: 'pass',
      budget: { allowedFailures: 10, usedFailures: 5, leftFailures: 5 },
    });
    expect(
      orderSuccessOf({
        sent: 100,
        succeeded: 99,
        brokerRejected: 1,
        unanswered: 0,
        pending: 0,
        riskRejected: 0,
      }).verdict,
    ).toBe(
      'fail', // the objective is more than 99%
    );
    expect(
      orderSuccessOf({ sent: 0, succeeded: 0, brokerRejected: 0, unanswered: 0, pending: 0, riskRejected: 5 })
        .verdict,
    ).toBe('no-data');
  });

  it('P95 from cumulative buckets, interpolated as histogram_quantile does', () => {
    const h = {
      buckets: [
        { le: 0.1, count: 50 },
        { le: 0.5, count: 90 },
        { le: 1, count: 100 },
        { le: Number.POSITIVE_INFINITY, count: 100 },
      ],
      count: 100,
      sum: 30,
    };
    expect(histogramQuantile(0.95, h)).toBeCloseTo(0.75, 10);
    expect(histogramQuantile(0.5, h)).toBeCloseTo(0.1, 10);
    expect(histogramQuantile(0.95, { buckets: [], count: 0, sum: 0 })).toBeNull();
    const overflow = {
      buckets: [
        { le: 1, count: 1 },
        { le: Number.POSITIVE_INFINITY, count: 10 },
      ],
      count: 10,
      sum: 50,
    };
    expect(histogramQuantile(0.95, overflow)).toBe(1);
  });
});
