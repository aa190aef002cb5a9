import { describe, expect, it } from 'vitest';
import { LiveBar } from './bars.js';

describe('LiveBar', () => {
  it('folds trades into OHLCV with vwap, orders open/close by exchange time, starts and refuses buckets', () => {
    const bar = new LiveBar(60_000, 0.2);
    expect(bar.add({ ts: 120_500, price: 100, qty: 1 })).toBe('started');
    expect(bar.add({ ts: 121_000, price: 110, qty: 3 })).toBe('updated');
    expect(bar.add({ ts: 120_100, price: 95, qty: 1 })).toBe('updated'); // backfilled: earlier in the bucket
    expect(bar.bar).toEqual({
      time: 120_000,
      open: 95,
      high: 110,
      low: 95,
      close: 110,
      volume: 5,
      financialVolume: (100 + 330 + 95) * 0.2,
      vwap: (100 + 330 + 95) / 5,
      trades: 3,
    });
    expect(bar.add({ ts: 60_000, price: 1, qty: 1 })).toBe('late');
    expect(bar.add({ ts: 180_000, price: 120, qty: 2 })).toBe('started');
    expect(bar.bar).toMatchObject({ time: 180_000, open: 120, close: 120, volume: 2, trades: 1 });
  });
});
