import { describe, expect, it } from 'vitest';
import { isOnTick } from '../../../domain/instruments.js';
import { DEFAULT_INSTRUMENTS } from '../../../kernel/config.js';
import { Tape, type TapeOptions } from './tape.js';

const T0 = Date.parse('2026-03-16T12:00:00Z'); // 09:00 in São Paulo
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

function tape(overrides: Partial<TapeOptions> = {}): Tape {
  return new Tape({
    seed: 42,
    tradesPerSecond: 20,
    burstFactor: 3,
    realHours: false,
    instruments: DEFAULT_INSTRUMENTS,
    timeZone: 'America/Sao_Paulo',
    ...overrides,
  });
}

describe('Tape determinism', () => {
  it('gives identical trades for the same seed in separate instances', () => {
    const a = tape().tradesBetween('WINZ26', T0, T0 + MINUTE);
    const b = tape().tradesBetween('WINZ26', T0, T0 + MINUTE);
    expect(a.length).toBeGreaterThan(100);
    expect(b).toEqual(a);
  });

  it('differs for another seed', () => {
    const a = tape().tradesBetween('WINZ26', T0, T0 + MINUTE);
    const b = tape({ seed: 43 }).tradesBetween('WINZ26', T0, T0 + MINUTE);
    expect(b).not.toEqual(a);
  });

  it('gives each instrument its own flow', () => {
    const t = tape();
    const win = t.tradesBetween('WINZ26', T0, T0 + 10_000).map((x) => x.ts);
    const wdo = t.tradesBetween('WDOZ26', T0, T0 + 10_000).map((x) => x.ts);
    expect(wdo).not.toEqual(win);
  });
});

describe('Tape trade numbers', () => {
  it('numbers trades 1..N without gaps from the start of the local day', () => {
    const t = tape();
    const dayStart = Date.parse('2026-03-16T03:00:00Z'); // local midnight, UTC-3
    const trades = t.tradesBetween('PETR4', dayStart - 1, dayStart + 2 * MINUTE);
    expect(trades[0]?.tradeId).toBe(1);
    expect(trades.map((x) => x.tradeId)).toEqual(trades.map((_, i) => i + 1));
    expect(t.tradeCount('PETR4', dayStart - 1)).toBeGreaterThan(0); // the previous day's count
    expect(t.tradeCount('PETR4', dayStart + 2 * MINUTE)).toBe(trades.length);
  });

  it('restarts at 1 on the next local day and keeps time order across midnight', () => {
    const t = tape();
    const midnight = Date.parse('2026-03-17T03:00:00Z');
    const trades = t.tradesBetween('WINZ26', midnight - 5_000, midnight + 5_000);
    const firstOfDay = trades.findIndex((x) => x.ts >= midnight);
    expect(firstOfDay).toBeGreaterThan(0);
    expect(trades[firstOfDay]?.tradeId).toBe(1);
    expect(trades[firstOfDay - 1]?.tradeId).toBe(t.tradeCount('WINZ26', midnight - 1));
    for (let i = 1; i < trades.length; i++) {
      expect(trades[i]?.ts).toBeGreaterThanOrEqual(trades[i - 1]?.ts ?? 0);
    }
  });

  it('reports the last trade at or before an instant', () => {
    const t = tape();
    const trades = t.tradesBetween('VALE3', T0, T0 + 5_000);
    const last = trades.at(-1);
    expect(t.lastTradeAt('VALE3', T0 + 5_000)).toEqual({ tradeId: last?.tradeId, ts: last?.ts });
    expect(t.lastTradeAt('VALE3', last?.ts ?? 0)?.tradeId).toBe(last?.tradeId);
  });
});

describe('Tape prices and sizes', () => {
  it('prints positive prices on the tick grid and sizes in lots', () => {
    const t = tape();
    for (const instrument of DEFAULT_INSTRUMENTS) {
      const trades = t.tradesBetween(instrument.symbol, T0, T0 + 10 * MINUTE);
      const offGrid = trades.filter(
        (x) =>
          !(
            x.price > 0 &&
            isOnTick(x.price, instrument.tickSize) &&
            x.qty > 0 &&
            x.qty % instrument.lotSize === 0
          ),
      );
      expect(offGrid).toEqual([]);
      expect(new Set(trades.map((x) => x.exchange))).toEqual(new Set([instrument.exchange]));
      const prices = trades.map((x) => x.price);
      const spread = (Math.max(...prices) - Math.min(...prices)) / instrument.referencePrice;
      expect(spread).toBeLessThan(0.05);
    }
  });

  it('keeps a top of book one or two ticks wide around the last trade', () => {
    const t = tape();
    const quote = t.quoteAt('WDOZ26', T0);
    const last = t.tradesBetween('WDOZ26', T0 - 1_000, T0).at(-1);
    expect(last).toBeDefined();
    expect([0.5, 1]).toContain(quote.askPrice - quote.bidPrice);
    expect(quote.bidPrice <= (last?.price ?? 0) && (last?.price ?? 0) <= quote.askPrice).toBe(true);
    expect(quote.bidQty).toBeGreaterThan(0);
    expect(quote.askQty).toBeGreaterThan(0);
  });
});

describe('Tape rate and sessions', () => {
  it('averages tradesPerSecond over a few minutes without bursts', () => {
    const t = tape({ burstFactor: 1 });
    const count = t.tradeCount('WINZ26', T0 + 5 * MINUTE) - t.tradeCount('WINZ26', T0);
    expect(count / 300).toBeGreaterThan(20 * 0.75);
    expect(count / 300).toBeLessThan(20 * 1.25);
  });

  it('averages tradesPerSecond over hours with bursts, which peak above the average', () => {
    const t = tape({ burstFactor: 3 });
    const count = t.tradeCount('WINZ26', T0 + 2 * HOUR) - t.tradeCount('WINZ26', T0);
    expect(count / 7200).toBeGreaterThan(20 * 0.75);
    expect(count / 7200).toBeLessThan(20 * 1.25);
    let busiest = 0;
    for (let s = 0; s < 7200; s++) {
      const at = T0 + s * 1000;
      busiest = Math.max(busiest, t.tradeCount('WINZ26', at + 999) - t.tradeCount('WINZ26', at - 1));
    }
    expect(busiest).toBeGreaterThan(20 * 2);
  });

  it('trades only inside session hours with realHours', () => {
    const t = tape({ realHours: true });
    const open = Date.parse('2026-03-16T13:00:00Z'); // PETR4 opens 10:00 local
    const close = Date.parse('2026-03-16T20:00:00Z'); // and closes 17:00
    expect(t.isOpen('PETR4', open - 1)).toBe(false);
    expect(t.isOpen('PETR4', open)).toBe(true);
    expect(t.isOpen('PETR4', close)).toBe(false);
    expect(t.tradesBetween('PETR4', open - HOUR, open - 1)).toEqual([]);
    expect(t.tradesBetween('PETR4', close - 1, close + HOUR)).toEqual([]);
    const first = t.tradesBetween('PETR4', open - 1, open + 10_000)[0];
    expect(first?.tradeId).toBe(1);
    expect(t.lastTradeAt('PETR4', open - 1)).toBeNull();
    expect(t.tradeCount('PETR4', close + HOUR)).toBe(t.tradeCount('PETR4', close - 1));
  });

  it('is open all local day by default', () => {
    const t = tape();
    expect(t.isOpen('PETR4', Date.parse('2026-03-16T03:00:00Z'))).toBe(true);
    expect(t.isOpen('PETR4', Date.parse('2026-03-17T02:59:59.999Z'))).toBe(true);
  });

  it('opens the session at openAt, numbering its trades from 1', () => {
    const openAt = T0 + 10_250;
    const t = tape({ openAt });
    expect(t.tradeCount('WINZ26', openAt - 1)).toBe(0);
    expect(t.isOpen('WINZ26', openAt - 1)).toBe(false);
    const trades = t.tradesBetween('WINZ26', openAt - 1, openAt + 20_000);
    expect(trades.length).toBeGreaterThan(0);
    expect(trades[0]?.tradeId).toBe(1);
    expect(trades.every((x) => x.ts >= openAt)).toBe(true);
    expect(trades.map((x) => x.tradeId)).toEqual(trades.map((_, i) => i + 1));
  });

  it('ends the tape at closeAt, then and on later days', () => {
    const closeAt = T0 + 30_500;
    const t = tape({ closeAt });
    const trades = t.tradesBetween('WINZ26', T0, T0 + 2 * 86_400_000);
    expect(trades.length).toBeGreaterThan(0);
    expect(trades.every((x) => x.ts < closeAt)).toBe(true);
    expect(tape().tradesBetween('WINZ26', T0, closeAt - 1)).toEqual(trades);
    expect(t.isOpen('WINZ26', closeAt)).toBe(false);
    expect(t.tradeCount('WINZ26', closeAt + HOUR)).toBe(t.tradeCount('WINZ26', closeAt - 1));
  });
});

describe('Tape windows', () => {
  it('concatenates adjacent windows to the big window, even with many trades per ms', () => {
    const t = tape({ tradesPerSecond: 2_000 });
    const whole = t.tradesBetween('WINZ26', T0, T0 + 3_000);
    const perMs = new Map<number, number>();
    for (const x of whole) perMs.set(x.ts, (perMs.get(x.ts) ?? 0) + 1);
    expect(Math.max(...perMs.values())).toBeGreaterThan(2);
    for (const step of [1, 7, 250]) {
      const pieces = [];
      for (let from = T0; from < T0 + 3_000; from += step) {
        pieces.push(...t.tradesBetween('WINZ26', from, Math.min(from + step, T0 + 3_000)));
      }
      expect(pieces.map((x) => x.tradeId)).toEqual(whole.map((x) => x.tradeId));
    }
  });

  it('answers the same from a fresh instance in any order of questions (cache is not state)', () => {
    const a = tape();
    a.tradesBetween('WINZ26', T0 + 86_400_000, T0 + 86_400_000 + 1_000);
    a.tradesBetween('WINZ26', T0 + 2 * 86_400_000, T0 + 2 * 86_400_000 + 1_000);
    expect(a.tradesBetween('WINZ26', T0, T0 + 5_000)).toEqual(tape().tradesBetween('WINZ26', T0, T0 + 5_000));
  });

  it('throws for a symbol it does not trade', () => {
    expect(() => tape().tradesBetween('ABCD3', T0, T0 + 1)).toThrow(/unknown symbol ABCD3/);
  });
});
