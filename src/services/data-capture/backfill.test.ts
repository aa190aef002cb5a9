import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { GapTracker, type SessionInfo } from '../../domain/gaps.js';
import type { Trade } from '../../domain/market-data.js';
import { ManualClock } from '../../kernel/clock.js';
import type { MarketDataClient } from '../../ports/broker.js';
import { Backfiller } from './backfill.js';
import type { Capture } from './capture.js';

const sessionOf = (ts: number): SessionInfo => {
  const day = new Date(ts).toISOString().slice(0, 10);
  const startTs = Date.parse(`${day}T00:00:00Z`);
  return { key: day, startTs, endTs: startTs + 86_400_000 };
};
const T0 = Date.parse('2026-03-16T13:00:00Z');
const trade = (tradeId: number): Trade =>
  ({ ticker: 'WINZ26', exchange: 'F', tradeId, ts: T0 + tradeId }) as unknown as Trade;

describe('Backfiller tail check', () => {
  it('says it is checking from the moment it is asked until the broker has answered', async () => {
    const tracker = new GapTracker(sessionOf);
    for (const n of [1, 2, 3]) tracker.observe(trade(n), 0);
    // The broker's history answers only when the test lets it.
    // The broker has two trades we never got. Its first answer (the tail check's) waits for the test.
    const history = [trade(4), trade(5)];
    const asked: ((trades: Trade[]) => void)[] = [];
    const adapter = {
      requestTradeHistory: () =>
        asked.length === 0
          ? new Promise<Trade[]>((resolve) => asked.push(resolve))
          : Promise.resolve(history),
    } as unknown as MarketDataClient;
    const capture = {
      trade: (t: Trade) => tracker.observe(t, 1) === 'backfill',
      gapsTouched: () => {},
    } as unknown as Capture;
    const backfiller = new Backfiller({
      tracker,
      adapter,
      capture,
      logger: pino({ level: 'silent' }),
      ready: () => true,
      subscriptions: () => [{ ticker: 'WINZ26', exchange: 'F' }],
      sessionOf,
      initialBackfillMs: 60_000,
      clock: new ManualClock(T0 + 10),
    });
    expect(backfiller.checkingTails).toBe(false);
    backfiller.checkTails();
    expect(backfiller.checkingTails).toBe(true);
    await new Promise((r) => setImmediate(r));
    expect(asked.length, 'the last trade asked of the broker').toBe(1);
    expect(backfiller.checkingTails, 'still checking while the broker has not answered').toBe(true);
    expect(tracker.openGaps()).toEqual([]);

    asked[0]?.(history);
    for (let i = 0; i < 20 && tracker.all().length === 0; i++) await new Promise((r) => setImmediate(r));
    expect(backfiller.checkingTails).toBe(false);
    await backfiller.stop();
    // The tail gap it opened was filled from the same history.
    expect(tracker.all()).toMatchObject([{ reason: 'tail', fromTradeId: 4, toTradeId: 5 }]);
    expect(tracker.openGaps()).toEqual([]);
    expect(tracker.cursor('WINZ26')?.lastTradeId).toBe(5);
  });
});
