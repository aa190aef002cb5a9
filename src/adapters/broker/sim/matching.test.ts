import { describe, expect, it } from 'vitest';
import type { BrokerOrderRequest, BrokerOrderUpdate } from '../../../domain/execution.js';
import { roundToTick } from '../../../domain/instruments.js';
import { connectFully, manualSim, simOrder, T0, turns } from './test-support.js';

const WIN_TICK = 5;
const order = simOrder;

const statuses = (updates: BrokerOrderUpdate[]) => updates.map((u) => u.status);
const fills = (updates: BrokerOrderUpdate[]) =>
  updates.flatMap((u) => (u.fill ? [{ ts: u.ts, price: u.fill.price, qty: u.fill.qty }] : []));

async function connectedSim(options: Parameters<typeof manualSim>[0] = {}, startAt = T0) {
  const sim = manualSim(options, startAt);
  await connectFully(sim.adapter, sim.recorder);
  const send = async (request: BrokerOrderRequest) => {
    const { brokerOrderId } = await sim.adapter.sendOrder(request);
    await turns();
    return {
      brokerOrderId,
      updates: () => sim.recorder.updates.filter((u) => u.brokerOrderId === brokerOrderId),
    };
  };
  /** Runs the market forward in one-second ticks. */
  const run = (ms: number) => {
    for (let t = 0; t < ms; t += 1_000) sim.advance(Math.min(1_000, ms - t));
  };
  return { ...sim, send, run };
}

describe('matching: market orders', () => {
  it('fills at the touch in full: buys at the ask, sells at the bid, and positions follow', async () => {
    const { adapter, send } = await connectedSim();
    const quote = adapter.tape.quoteAt('WINZ26', T0);
    const buy = await send(order({ type: 'MARKET', quantity: 3 }));
    expect(statuses(buy.updates())).toEqual(['ACCEPTED', 'FILLED']);
    expect(buy.updates()[1]).toMatchObject({
      filledQty: 3,
      leavesQty: 0,
      fill: { tradeId: `SIM-${buy.brokerOrderId}-1`, price: quote.askPrice, qty: 3 },
    });
    const sell = await send(order({ type: 'MARKET', side: 'SELL', quantity: 1 }));
    expect(sell.updates()[1]?.fill?.price).toBe(quote.bidPrice);
    expect(await adapter.positions('SIM-001')).toEqual([
      { account: 'SIM-001', symbol: 'WINZ26', quantity: 2, averagePrice: quote.askPrice },
    ]);
    expect(await adapter.openOrders('SIM-001')).toEqual([]);
  });

  it('rejects a market order while the market is closed', async () => {
    const { send } = await connectedSim({ realHours: true }, Date.parse('2026-03-16T11:00:00Z'));
    const early = await send(order({ type: 'MARKET' }));
    expect(early.updates()).toMatchObject([{ status: 'REJECTED', reason: 'market closed for WINZ26' }]);
  });
});

describe('matching: limit orders', () => {
  it('rests, then fills at its limit as prints trade through it, partially up to each print size', async () => {
    const { adapter, send, run } = await connectedSim();
    const quote = adapter.tape.quoteAt('WINZ26', T0);
    const ahead = adapter.tape.tradesBetween('WINZ26', T0, T0 + 60_000);
    const limit = Math.min(...ahead.map((t) => t.price));
    expect(limit).toBeLessThan(quote.askPrice);

    const { brokerOrderId, updates } = await send(order({ price: limit, quantity: 200 }));
    expect(statuses(updates())).toEqual(['ACCEPTED']);
    run(60_000);

    let leaves = 200;
    const expected = [];
    for (const print of ahead) {
      if (print.price > limit || leaves === 0) continue;
      const qty = Math.min(leaves, print.qty);
      leaves -= qty;
      expected.push({ ts: print.ts, price: limit, qty });
    }
    expect(expected.length).toBeGreaterThan(0);
    expect(fills(updates())).toEqual(expected);
    expect(updates().at(-1)).toMatchObject({
      status: 'PARTIALLY_FILLED',
      leavesQty: leaves,
      filledQty: 200 - leaves,
    });
    expect(await adapter.openOrders('SIM-001')).toMatchObject([{ brokerOrderId, leavesQty: leaves }]);
  });

  it('fills on arrival when it crosses the touch, at the touch price', async () => {
    const { adapter, send } = await connectedSim();
    const quote = adapter.tape.quoteAt('WINZ26', T0);
    const { updates } = await send(order({ side: 'SELL', price: quote.bidPrice - 10 * WIN_TICK }));
    expect(statuses(updates())).toEqual(['ACCEPTED', 'FILLED']);
    expect(fills(updates())).toEqual([{ ts: T0, price: quote.bidPrice, qty: 1 }]);
  });

  it('IOC: takes what the touch offers and cancels the rest', async () => {
    const { adapter, send } = await connectedSim();
    const quote = adapter.tape.quoteAt('WINZ26', T0);
    const { updates } = await send(
      order({ price: quote.askPrice, quantity: quote.askQty + 5, timeInForce: 'IOC' }),
    );
    expect(statuses(updates())).toEqual(['ACCEPTED', 'PARTIALLY_FILLED', 'CANCELED']);
    expect(fills(updates())).toEqual([{ ts: T0, price: quote.askPrice, qty: quote.askQty }]);
    expect(updates().at(-1)).toMatchObject({ filledQty: quote.askQty, leavesQty: 0 });

    const away = await send(order({ price: quote.askPrice - 20 * WIN_TICK, timeInForce: 'IOC' }));
    expect(statuses(away.updates())).toEqual(['ACCEPTED', 'CANCELED']);
  });

  it('FOK: fills all at once or cancels without a fill', async () => {
    const { adapter, send } = await connectedSim();
    const quote = adapter.tape.quoteAt('WINZ26', T0);
    const tooBig = await send(
      order({ price: quote.askPrice, quantity: quote.askQty + 1, timeInForce: 'FOK' }),
    );
    expect(statuses(tooBig.updates())).toEqual(['ACCEPTED', 'CANCELED']);
    const fits = await send(order({ price: quote.askPrice, quantity: quote.askQty, timeInForce: 'FOK' }));
    expect(statuses(fits.updates())).toEqual(['ACCEPTED', 'FILLED']);
  });
});

describe('matching: stop orders', () => {
  it('STOP becomes market when a print reaches the stop, filling at the touch after that print', async () => {
    const { adapter, send, run } = await connectedSim();
    const ahead = adapter.tape.tradesBetween('WINZ26', T0, T0 + 60_000);
    const stop = Math.max(...ahead.map((t) => t.price));
    expect(stop).toBeGreaterThan(adapter.tape.quoteAt('WINZ26', T0).askPrice);
    const { updates } = await send(order({ type: 'STOP', stopPrice: stop, quantity: 2 }));
    run(60_000);
    const trigger = ahead.find((t) => t.price >= stop);
    const touch = trigger ? adapter.tape.quoteAfter(trigger).askPrice : Number.NaN;
    expect(statuses(updates())).toEqual(['ACCEPTED', 'FILLED']);
    expect(fills(updates())).toEqual([{ ts: trigger?.ts, price: touch, qty: 2 }]);
  });

  it('STOP_LIMIT becomes a limit when a print reaches the stop', async () => {
    const { adapter, send, run } = await connectedSim();
    const ahead = adapter.tape.tradesBetween('WINZ26', T0, T0 + 60_000);
    const stop = Math.min(...ahead.map((t) => t.price));
    const { updates } = await send(
      order({ side: 'SELL', type: 'STOP_LIMIT', stopPrice: stop, price: stop - 10 * WIN_TICK }),
    );
    run(60_000);
    const trigger = ahead.find((t) => t.price <= stop);
    const touch = trigger ? adapter.tape.quoteAfter(trigger).bidPrice : Number.NaN;
    expect(fills(updates())).toEqual([{ ts: trigger?.ts, price: touch, qty: 1 }]);
  });
});

describe('matching: order lifetime', () => {
  it('expires DAY orders at the end of the session; GTC stays', async () => {
    const { send, run, adapter } = await connectedSim({ tradesPerSecond: 1 });
    const far = roundToTick(64_000, WIN_TICK);
    const day = await send(order({ price: far }));
    const gtc = await send(order({ price: far, timeInForce: 'GTC' }));
    run(16 * 3_600_000);
    const localMidnight = Date.parse('2026-03-17T03:00:00Z');
    expect(day.updates().at(-1)).toMatchObject({ status: 'EXPIRED', ts: localMidnight, leavesQty: 0 });
    expect(statuses(gtc.updates())).toEqual(['ACCEPTED']);
    expect((await adapter.openOrders('SIM-001')).map((o) => o.brokerOrderId)).toEqual([gtc.brokerOrderId]);
  });

  it('expires DAY orders at the instrument close with real session hours', async () => {
    const { send, run } = await connectedSim({ realHours: true, tradesPerSecond: 1 });
    const day = await send(order({ price: 64_000 }));
    run(10 * 3_600_000);
    expect(day.updates().at(-1)).toMatchObject({ status: 'EXPIRED', ts: Date.parse('2026-03-16T21:25:00Z') });
  });

  it('modifies an open order: REPLACED, then it trades at its new price', async () => {
    const { adapter, send } = await connectedSim();
    const quote = adapter.tape.quoteAt('WINZ26', T0);
    const { brokerOrderId, updates } = await send(
      order({ price: quote.askPrice - 40 * WIN_TICK, quantity: 2 }),
    );
    await adapter.modifyOrder(brokerOrderId, { price: quote.askPrice });
    expect(statuses(updates())).toEqual(['ACCEPTED', 'REPLACED', 'FILLED']);
    expect(updates()[1]).toMatchObject({ price: quote.askPrice, quantity: 2, leavesQty: 2 });
    await expect(adapter.modifyOrder(brokerOrderId, { price: quote.askPrice })).rejects.toThrow(
      /closed \(FILLED\)/,
    );
  });

  it('refuses a modify that is invalid or aimed at an unknown order', async () => {
    const { adapter, send } = await connectedSim();
    const { brokerOrderId } = await send(order({ price: 64_000, quantity: 3 }));
    await expect(adapter.modifyOrder(brokerOrderId, { price: 64_001 })).rejects.toThrow(/tick grid/);
    await expect(adapter.modifyOrder(brokerOrderId, { stopPrice: 64_000 })).rejects.toThrow(/no stop price/);
    await expect(adapter.modifyOrder(brokerOrderId, { quantity: 0 })).rejects.toThrow(/positive integer/);
    await expect(adapter.modifyOrder('nope', { quantity: 1 })).rejects.toThrow(/unknown order nope/);
    await adapter.modifyOrder(brokerOrderId, { quantity: 5 });
    expect(await adapter.openOrders('SIM-001')).toMatchObject([{ brokerOrderId, leavesQty: 5 }]);
  });

  it('cancels an open order once; a second cancel is refused', async () => {
    const { adapter, send } = await connectedSim();
    const { brokerOrderId, updates } = await send(order({ price: 64_000 }));
    await adapter.cancelOrder(brokerOrderId);
    expect(updates().at(-1)).toMatchObject({ status: 'CANCELED', filledQty: 0, leavesQty: 0 });
    await expect(adapter.cancelOrder(brokerOrderId)).rejects.toThrow(/closed \(CANCELED\)/);
    expect(await adapter.openOrders('SIM-001')).toEqual([]);
  });

  it('rejects bad orders with a reason instead of throwing', async () => {
    const { send } = await connectedSim();
    const cases: Array<[Partial<BrokerOrderRequest>, RegExp]> = [
      [{ symbol: 'ABCD3' }, /unknown symbol ABCD3/],
      [{ exchange: 'B' }, /exchange F, not B/],
      [{ account: 'OTHER-9' }, /unknown account OTHER-9/],
      [{ quantity: 0, price: 64_000 }, /positive integer/],
      [{ symbol: 'PETR4', exchange: 'B', quantity: 50, price: 30 }, /multiple of the lot size 100/],
      [{ price: 128_002 }, /tick grid/],
      [{ price: undefined }, /price must be a positive number/],
      [{ type: 'STOP', stopPrice: undefined }, /stopPrice must be/],
    ];
    for (const [overrides, reason] of cases) {
      const { updates } = await send(order({ price: 64_000, ...overrides }));
      expect(statuses(updates()), JSON.stringify(overrides)).toEqual(['REJECTED']);
      expect(updates()[0]?.reason).toMatch(reason);
    }
  });

  it('refuses orders while routing is down', async () => {
    const { adapter } = manualSim();
    await expect(adapter.sendOrder(order({ price: 64_000 }))).rejects.toThrow(/routing is not connected/);
  });
});
