import { describe, expect, it } from 'vitest';
import type { CapturedTrade } from '../../../domain/market-data.js';
import { MomentumStrategy } from './momentum.js';
import type { StrategyContext, StrategyOrder } from './strategy.js';

function harness(settings: Partial<ConstructorParameters<typeof MomentumStrategy>[0]> = {}) {
  const strategy = new MomentumStrategy({
    consecutiveTrades: 3,
    cooldownMs: 1_000,
    maxPositionLots: 1,
    symbols: [],
    ...settings,
  });
  const sent: { order: StrategyOrder; triggerRecvTs: number }[] = [];
  const positions = new Map<string, number>();
  let now = 1_000_000;
  const ctx: StrategyContext = {
    submit: (order, meta) => sent.push({ order, triggerRecvTs: meta.triggerRecvTs }),
    position: (s) => positions.get(s) ?? 0,
    lastPrice: () => undefined,
    lotSize: (s) => (s === 'PETR4' ? 100 : 1),
    now: () => now,
  };
  let n = 0;
  const feed = (prices: number[], ticker = 'WINZ26') => {
    for (const price of prices) {
      n++;
      const trade: CapturedTrade = {
        kind: 'trade',
        seq: n,
        recvTs: now,
        backfilled: false,
        ticker,
        exchange: 'F',
        ts: now,
        tradeId: n,
        price,
        qty: 1,
        aggressor: 'NONE',
        buyAgent: 0,
        sellAgent: 0,
      };
      strategy.onTrade(trade, ctx);
    }
  };
  return { sent, positions, feed, advance: (ms: number) => (now += ms) };
}

describe('momentum strategy', () => {
  it('buys one lot after N upticks in a row; flat prices neither extend nor break the run', () => {
    const h = harness();
    h.feed([100, 105, 105, 110]);
    expect(h.sent).toHaveLength(0);
    h.feed([115]);
    expect(h.sent.map((s) => s.order)).toEqual([
      { symbol: 'WINZ26', side: 'BUY', type: 'MARKET', quantity: 1 },
    ]);
    expect(h.sent[0]?.triggerRecvTs).toBeGreaterThan(0);
  });

  it('sells after N downticks; a reversal restarts the count', () => {
    const h = harness();
    h.feed([100, 95, 90, 95, 90, 85]);
    expect(h.sent).toHaveLength(0);
    h.feed([80]);
    expect(h.sent.map((s) => s.order.side)).toEqual(['SELL']);
  });

  it('waits out the cooldown per symbol and never builds past maxPositionLots', () => {
    const h = harness({ cooldownMs: 500 });
    h.feed([100, 101, 102, 103]);
    h.positions.set('WINZ26', 1);
    h.feed([104, 105, 106]);
    h.advance(500);
    h.feed([107, 108, 109]);
    expect(h.sent).toHaveLength(1);
    h.feed([108, 107, 106]);
    expect(h.sent.map((s) => s.order.side)).toEqual(['BUY', 'SELL']);
    h.feed([100, 101, 102, 103], 'PETR4');
    expect(h.sent[2]?.order).toMatchObject({ symbol: 'PETR4', quantity: 100 });
  });

  it('trades only the configured symbols', () => {
    const h = harness({ symbols: ['WDOZ26'] });
    h.feed([1, 2, 3, 4, 5, 6]);
    h.feed([5000, 5001, 5002, 5003], 'WDOZ26');
    expect(h.sent.map((s) => s.order.symbol)).toEqual(['WDOZ26']);
  });
});
