import { describe, expect, it } from 'vitest';
import { GapTracker, type SessionInfo, type TailCursor } from './gaps.js';

// Sessions are UTC days here; the service passes São Paulo days.
const sessionOf = (ts: number): SessionInfo => {
  const day = new Date(ts).toISOString().slice(0, 10);
  const startTs = Date.parse(`${day}T00:00:00Z`);
  return { key: day, startTs, endTs: startTs + 86_400_000 };
};
const T0 = Date.parse('2026-03-16T13:00:00Z');
const t = (tradeId: number, ts = T0 + tradeId) => ({ ticker: 'WINZ26', exchange: 'F', tradeId, ts });
const WIN = [{ ticker: 'WINZ26', exchange: 'F' }];

describe('GapTracker', () => {
  it('accepts a contiguous sequence with no gap', () => {
    const g = new GapTracker(sessionOf);
    expect([1, 2, 3].map((n) => g.observe(t(n), 0))).toEqual(['new', 'new', 'new']);
    expect(g.all()).toEqual([]);
    expect(g.cursor('WINZ26')?.lastTradeId).toBe(3);
  });

  it('opens a gap on a jump with the missing numbers and their time window, and fills it by backfill', () => {
    const g = new GapTracker(sessionOf);
    g.observe(t(1), 0);
    g.observe(t(2), 0);
    expect(g.observe(t(6), 10)).toBe('gap');
    const [gap] = g.openGaps();
    expect(gap).toMatchObject({
      fromTradeId: 3,
      toTradeId: 5,
      fromTs: T0 + 2,
      toTs: T0 + 6,
      reason: 'jump',
      missing: [[3, 5]],
    });
    expect(g.observe(t(4), 11)).toBe('backfill');
    expect(g.observe(t(4), 11)).toBe('duplicate');
    expect(g.openGaps()[0]?.missing).toEqual([
      [3, 3],
      [5, 5],
    ]);
    expect(g.observe(t(3), 12)).toBe('backfill');
    expect(g.observe(t(5), 13)).toBe('backfill');
    expect(g.openGaps()).toEqual([]);
    expect(g.all()[0]).toMatchObject({ state: 'filled', filled: 3, closedAt: 13, missing: [] });
    expect(g.observe(t(5), 14)).toBe('duplicate');
    expect(g.observe(t(2), 14)).toBe('duplicate');
  });

  it('treats the first trade of a session after number 1 as missing the start of the session', () => {
    const g = new GapTracker(sessionOf);
    g.observe(t(40), 0);
    expect(g.openGaps()[0]).toMatchObject({
      fromTradeId: 1,
      toTradeId: 39,
      reason: 'capture-start',
      fromTs: sessionOf(T0).startTs,
    });
  });

  it('starts numbering again in a new session and ignores trades from an older one', () => {
    const g = new GapTracker(sessionOf);
    g.observe(t(1), 0);
    g.observe(t(2), 0);
    const nextDay = T0 + 86_400_000;
    expect(g.observe(t(1, nextDay), 0)).toBe('new');
    expect(g.cursor('WINZ26')).toMatchObject({ session: '2026-03-17', lastTradeId: 1 });
    expect(g.observe(t(3), 0)).toBe('stale');
    expect(g.openGaps()).toEqual([]);
  });

  it('gives up on what history cannot deliver, and survives a snapshot round trip', () => {
    const g = new GapTracker(sessionOf);
    g.observe(t(1), 0);
    g.observe(t(10), 0);
    g.observe(t(5), 1);
    const copy = new GapTracker(sessionOf, JSON.parse(JSON.stringify(g.snapshot())));
    expect(copy.observe(t(5), 2)).toBe('duplicate');
    expect(copy.observe(t(6), 2)).toBe('backfill');
    const id = copy.openGaps()[0]?.id as string;
    copy.giveUp(id, 3);
    expect(copy.openGaps()).toEqual([]);
    expect(copy.all()[0]).toMatchObject({ state: 'skipped', filled: 2 });
    expect(copy.observe(t(11), 4)).toBe('new');
    expect(copy.observe(t(13), 4)).toBe('gap');
    expect(copy.openGaps()[0]?.id).not.toBe(id);
  });

  it('opens a tail gap up to the broker’s last trade, fills it by backfill, and keeps the cursor past it', () => {
    const g = new GapTracker(sessionOf);
    for (const n of [1, 2, 3]) g.observe(t(n), 0);
    const [tail] = g.tails(WIN, T0 + 10);
    expect(tail).toMatchObject({ ticker: 'WINZ26', session: '2026-03-16', lastTradeId: 3 });
    expect(g.closeTail(tail as TailCursor, { tradeId: 3, ts: T0 + 3 }, 1)).toBeNull();
    const gap = g.closeTail(tail as TailCursor, { tradeId: 7, ts: T0 + 7 }, 2);
    expect(gap).toMatchObject({ reason: 'tail', fromTradeId: 4, toTradeId: 7, fromTs: T0 + 3, toTs: T0 + 7 });
    expect(g.cursor('WINZ26')?.lastTradeId).toBe(7);
    for (const n of [4, 5, 6, 7]) expect(g.observe(t(n), 3)).toBe('backfill');
    expect(g.openGaps()).toEqual([]);
    expect(g.observe(t(8), 4)).toBe('new');
  });

  it('checks the end of a session left behind, and backfills it after the next session began', () => {
    const g = new GapTracker(sessionOf);
    for (const n of [1, 2]) g.observe(t(n), 0);
    const nextDay = T0 + 86_400_000;
    expect(g.observe(t(1, nextDay), 0)).toBe('new');
    const tails = g.tails(WIN, nextDay);
    expect(tails.map((c) => [c.session, c.lastTradeId])).toEqual([
      ['2026-03-16', 2],
      ['2026-03-17', 1],
    ]);
    const copy = new GapTracker(sessionOf, JSON.parse(JSON.stringify(g.snapshot())));
    const gap = copy.closeTail(copy.tails(WIN, nextDay)[0] as TailCursor, { tradeId: 4, ts: T0 + 4 }, 1);
    expect(gap).toMatchObject({ session: '2026-03-16', fromTradeId: 3, toTradeId: 4 });
    expect(copy.observe(t(3), 2)).toBe('backfill');
    expect(copy.observe(t(4), 2)).toBe('backfill');
    expect(copy.observe(t(4), 2)).toBe('stale');
    expect(copy.tails(WIN, nextDay).map((c) => c.session)).toEqual(['2026-03-17']);
    expect(copy.cursor('WINZ26')).toMatchObject({ session: '2026-03-17', lastTradeId: 1 });
  });

  it('checks a session it holds nothing of from its start: a start after the close still finds the day', () => {
    const g = new GapTracker(sessionOf);
    const [tail] = g.tails(WIN, T0 + 500);
    expect(tail).toMatchObject({ session: '2026-03-16', lastTradeId: 0, lastTs: sessionOf(T0).startTs });
    expect(g.closeTail(tail as TailCursor, null, 1)).toBeNull();
    expect(g.cursor('WINZ26')).toBeUndefined();
    const gap = g.closeTail(tail as TailCursor, { tradeId: 40, ts: T0 + 40 }, 2);
    expect(gap).toMatchObject({ reason: 'capture-start', fromTradeId: 1, toTradeId: 40 });
    expect(g.cursor('WINZ26')).toMatchObject({ session: '2026-03-16', lastTradeId: 40 });
    expect(g.observe(t(3), 3)).toBe('backfill');
    expect(g.observe(t(41), 3)).toBe('new');
    // Yesterday's cursor and nothing of today: both are checked, and today's start retires yesterday.
    const nextDay = T0 + 86_400_000;
    const tails = g.tails(WIN, nextDay);
    expect(tails.map((c) => [c.session, c.lastTradeId])).toEqual([
      ['2026-03-16', 41],
      ['2026-03-17', 0],
    ]);
    g.closeTail(tails[1] as TailCursor, { tradeId: 5, ts: nextDay + 5 }, 4);
    expect(g.cursor('WINZ26')).toMatchObject({ session: '2026-03-17', lastTradeId: 5 });
    expect(g.tails(WIN, nextDay).map((c) => [c.session, c.lastTradeId])).toEqual([
      ['2026-03-16', 41],
      ['2026-03-17', 5],
    ]);
  });

  it('puts trades that could not be kept back among the missing, one gap per ticker and session', () => {
    const g = new GapTracker(sessionOf);
    g.observe(t(1), 0);
    for (const n of [2, 3, 4]) {
      expect(g.observe(t(n), 0)).toBe('new');
      g.markUnpersisted(t(n), 1);
    }
    g.observe(t(5), 0);
    g.observe(t(6), 0);
    g.markUnpersisted(t(6), 1);
    const [gap] = g.openGaps();
    expect(g.openGaps()).toHaveLength(1);
    expect(gap).toMatchObject({
      reason: 'unpersisted',
      fromTradeId: 2,
      toTradeId: 6,
      fromTs: T0 + 2,
      toTs: T0 + 6,
    });
    expect(gap?.missing).toEqual([
      [2, 4],
      [6, 6],
    ]);
    for (const n of [2, 3, 4, 6]) expect(g.observe(t(n), 2)).toBe('backfill');
    expect(g.openGaps()).toEqual([]);
  });
});
