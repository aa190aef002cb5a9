import { describe, expect, it } from 'vitest';
import type { Trade } from '../../../domain/market-data.js';
import { DEFAULT_INSTRUMENTS } from '../../../kernel/config.js';
import { SimBrokerAdapter } from './sim-adapter.js';
import { connectFully, manualSim, Recorder, T0, turns } from './test-support.js';

const ids = (trades: Trade[]) => trades.map((t) => t.tradeId);

describe('SimBrokerAdapter connection', () => {
  it('reports login, routing and market progress asynchronously, in order', async () => {
    const { adapter, recorder } = manualSim();
    await adapter.connect();
    expect(recorder.events).toEqual([]);
    await turns();
    expect(recorder.events).toEqual([
      { type: 'login', ok: true },
      { type: 'routing', connected: true },
      { type: 'market', state: 'connecting' },
      { type: 'market', state: 'connected' },
    ]);
  });

  it('reports market and routing down on disconnect, and stops delivering', async () => {
    const { adapter, recorder, advance } = manualSim();
    await adapter.subscribeTrades('WINZ26', 'F');
    await connectFully(adapter, recorder);
    await adapter.disconnect();
    expect(recorder.events.slice(-2)).toEqual([
      { type: 'market', state: 'disconnected' },
      { type: 'routing', connected: false },
    ]);
    advance(5_000);
    expect(recorder.trades).toEqual([]);
  });

  it('refuses unknown symbols and wrong exchanges with a clear error', async () => {
    const { adapter, recorder } = manualSim();
    await connectFully(adapter, recorder);
    await expect(adapter.subscribeTrades('ABCD3', 'B')).rejects.toThrow(/unknown symbol ABCD3/);
    await expect(adapter.subscribeQuotes('PETR4', 'F')).rejects.toThrow(/exchange B, not F/);
    await expect(adapter.requestTradeHistory('ABCD3', 'B', T0, T0 + 1)).rejects.toThrow(/unknown symbol/);
  });
});

describe('SimBrokerAdapter live data and history', () => {
  it('delivers live exactly the tape from the moment of subscribing, and history agrees', async () => {
    const { adapter, recorder, advance, clock } = manualSim();
    await connectFully(adapter, recorder);
    const subscribedAt = clock.now();
    await adapter.subscribeTrades('WINZ26', 'F');
    await adapter.subscribeTrades('PETR4', 'B');
    for (let i = 0; i < 40; i++) advance(137);
    const win = recorder.trades.filter((t) => t.ticker === 'WINZ26');
    expect(win.length).toBeGreaterThan(50);
    expect(win[0]?.tradeId).toBe(adapter.tape.tradeCount('WINZ26', subscribedAt) + 1);
    expect(win).toEqual(adapter.tape.tradesBetween('WINZ26', subscribedAt, clock.now()));
    const history = await adapter.requestTradeHistory('WINZ26', 'F', subscribedAt + 1, clock.now());
    expect(history).toEqual(win);
    const petr = recorder.trades.filter((t) => t.ticker === 'PETR4');
    expect(petr).toEqual(await adapter.requestTradeHistory('PETR4', 'B', subscribedAt + 1, clock.now()));
  });

  it('treats history bounds as inclusive even when many trades share the millisecond', async () => {
    const { adapter, recorder } = manualSim({ tradesPerSecond: 3_000 });
    await connectFully(adapter, recorder);
    const all = await adapter.requestTradeHistory('WINZ26', 'F', T0 - 2_000, T0);
    const busyTs = all.find((t, i) => all[i + 1]?.ts === t.ts && all[i + 2]?.ts === t.ts)?.ts ?? Number.NaN;
    const before = await adapter.requestTradeHistory('WINZ26', 'F', T0 - 2_000, busyTs - 1);
    const at = await adapter.requestTradeHistory('WINZ26', 'F', busyTs, busyTs);
    const after = await adapter.requestTradeHistory('WINZ26', 'F', busyTs + 1, T0);
    expect(at.length).toBeGreaterThanOrEqual(3);
    expect([...before, ...at, ...after]).toEqual(all);
  });

  it('does not answer history for trades that have not printed yet', async () => {
    const { adapter, recorder } = manualSim();
    await connectFully(adapter, recorder);
    const history = await adapter.requestTradeHistory('WINZ26', 'F', T0 - 1_000, T0 + 60_000);
    expect(history.length).toBeGreaterThan(0);
    expect(history.every((t) => t.ts <= T0)).toBe(true);
  });

  it('lets a restarted consumer backfill exactly the missed trade numbers', async () => {
    const first = manualSim();
    await first.adapter.subscribeTrades('WDOZ26', 'F');
    await connectFully(first.adapter, first.recorder);
    for (let i = 0; i < 20; i++) first.advance(100);
    const lastSeen = first.recorder.trades.at(-1);
    await first.adapter.disconnect();

    // A new process three seconds later: a fresh adapter on the same seed, live from its subscription.
    const second = manualSim({}, T0 + 5_000);
    await connectFully(second.adapter, second.recorder);
    await second.adapter.subscribeTrades('WDOZ26', 'F');
    for (let i = 0; i < 20; i++) second.advance(100);
    const live = second.recorder.trades;
    expect(live[0]?.tradeId).toBe(second.adapter.tape.tradeCount('WDOZ26', T0 + 5_000) + 1);

    const gap = await second.adapter.requestTradeHistory('WDOZ26', 'F', lastSeen?.ts ?? 0, live[0]?.ts ?? 0);
    const missed = gap.filter(
      (t) => t.tradeId > (lastSeen?.tradeId ?? 0) && t.tradeId < (live[0]?.tradeId ?? 0),
    );
    const all = ids([...first.recorder.trades, ...missed, ...live]);
    const firstId = all[0] ?? 0;
    expect(all).toEqual(all.map((_, i) => firstId + i));
  });

  it('delivers a quote on subscribing and then only when the book changes', async () => {
    const { adapter, recorder, advance } = manualSim();
    await adapter.subscribeQuotes('VALE3', 'B');
    await connectFully(adapter, recorder);
    adapter.emitDue();
    expect(recorder.quotes).toEqual([adapter.tape.quoteAt('VALE3', T0)]);
    adapter.emitDue();
    expect(recorder.quotes).toHaveLength(1);
    advance(10_000);
    expect(recorder.quotes.at(-1)).toEqual(adapter.tape.quoteAt('VALE3', T0 + 10_000));
  });

  it('keeps up with 2,000 trades/s on four instruments on real timers, losing nothing', async () => {
    const recorder = new Recorder();
    const adapter = new SimBrokerAdapter({
      seed: 3,
      tradesPerSecond: 2_000,
      burstFactor: 3,
      realHours: false,
      instruments: DEFAULT_INSTRUMENTS,
      timeZone: 'America/Sao_Paulo',
    });
    recorder.listenTo(adapter);
    await connectFully(adapter, recorder);
    const since = Date.now();
    for (const { symbol, exchange } of DEFAULT_INSTRUMENTS) await adapter.subscribeTrades(symbol, exchange);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await adapter.disconnect();
    for (const { symbol } of DEFAULT_INSTRUMENTS) {
      const live = recorder.trades.filter((t) => t.ticker === symbol);
      const first = live[0];
      const last = live.at(-1);
      expect(first && last && first.ts >= since).toBe(true);
      const tape = adapter.tape.tradesBetween(symbol, (first?.ts ?? 0) - 1, last?.ts ?? 0);
      expect(ids(live)).toEqual(ids(tape.filter((t) => t.tradeId >= (first?.tradeId ?? 0))));
    }
  });
});
