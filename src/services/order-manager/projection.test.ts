import { describe, expect, it } from 'vitest';
import type { JournalEvent } from '../../domain/order-events.js';
import { createOrder, type OrderEvent } from '../../domain/orders.js';
import { DEFAULT_INSTRUMENTS } from '../../kernel/config.js';
import { emptyState, forgetClosed, leavesKey, type OrderState, project } from './projection.js';

const instruments = new Map(DEFAULT_INSTRUMENTS.map((i) => [i.symbol, i]));
let seq = 0;
const ev = (type: string, orderId: string | null, data: unknown): JournalEvent => ({
  seq: ++seq,
  ts: 1_000 + seq,
  type,
  orderId,
  data,
});

/** What the risk check used to compute by scanning every open order. */
function scanned(state: OrderState, account: string, symbol: string, side: string) {
  const mine = [...state.open.values()].filter((o) => o.account === account);
  const same = mine.filter((o) => o.symbol === symbol && o.side === side);
  return { count: mine.length, leaves: same.reduce((sum, o) => sum + o.leavesQty, 0) };
}

describe('projection: open-order tally', () => {
  it('keeps the per-account tally equal to a scan of the open orders', () => {
    const state = emptyState(false);
    const apply = (e: JournalEvent) => project(state, e, instruments, 'America/Sao_Paulo');
    const spec = { account: 'A', symbol: 'WINZ26', side: 'BUY', type: 'LIMIT', timeInForce: 'DAY' } as const;
    const o1 = createOrder({ ...spec, id: 'o1', clientOrderId: 'c1', quantity: 5, price: 100_000 }, 1);
    const o2 = createOrder({ ...spec, id: 'o2', clientOrderId: 'c2', quantity: 3, price: 100_000 }, 1);
    const o3 = createOrder({ ...spec, id: 'o3', clientOrderId: 'c3', account: 'B', quantity: 1 }, 1);
    for (const order of [o1, o2, o3]) apply(ev('order.submitted', order.id, { order }));
    const event = (id: string, e: OrderEvent) => apply(ev('order.event', id, { event: e }));
    event('o1', { type: 'accepted', ts: 2, brokerOrderId: 'b1' });
    event('o1', { type: 'partially_filled', ts: 3, tradeId: 't1', qty: 2, price: 100_000 });
    event('o2', { type: 'accepted', ts: 2, brokerOrderId: 'b2' });
    event('o2', { type: 'canceled', ts: 4 });

    const check = () => {
      for (const account of ['A', 'B']) {
        const t = state.openTally.get(account);
        const want = scanned(state, account, 'WINZ26', 'BUY');
        expect({ count: t?.count ?? 0, leaves: t?.leaves.get(leavesKey('WINZ26', 'BUY')) ?? 0 }).toEqual(
          want,
        );
      }
    };
    check();
    expect(state.openTally.get('A')).toMatchObject({ count: 1 });
    event('o1', { type: 'filled', ts: 5, tradeId: 't2', qty: 3, price: 100_000 });
    check();
    expect(state.openTally.get('A')?.count).toBe(0);
  });
});

describe('projection: closed orders leave memory', () => {
  it('forgets the oldest closed orders beyond the bound, never an open one or one closed after the commit', () => {
    const state = emptyState(false);
    const apply = (e: JournalEvent) => project(state, e, instruments, 'America/Sao_Paulo');
    const spec = { account: 'A', symbol: 'WINZ26', type: 'MARKET', timeInForce: 'DAY', quantity: 1 } as const;
    const closedAt: number[] = [];
    for (let i = 0; i < 6; i++) {
      const order = createOrder(
        { ...spec, side: i % 2 ? 'SELL' : 'BUY', id: `o${i}`, clientOrderId: `c${i}` },
        1,
      );
      apply(ev('order.submitted', order.id, { order }));
      if (i === 2) continue; // stays open
      const fill = ev('order.event', order.id, {
        event: { type: 'filled', ts: 2, tradeId: `t${i}`, qty: 1, price: 100_000 },
      });
      apply(fill);
      closedAt.push(fill.seq);
    }
    // Committed up to the third close: only the first three closed may go.
    forgetClosed(state, 1, closedAt[2] as number);
    expect([...state.orders.keys()]).toEqual(['o2', 'o4', 'o5']);
    expect([...state.byClientId.keys()]).toEqual(['c2', 'c4', 'c5']);
    forgetClosed(state, 1, Number.POSITIVE_INFINITY);
    expect([...state.orders.keys()]).toEqual(['o2', 'o5']);
    // Every fill still counts: BUY o0, o4 and SELL o1, o3, o5 (o2 open, unfilled).
    expect(state.filledNet.get('A')?.get('WINZ26')).toBe(-1);
    // An event for a forgotten order changes nothing.
    apply(ev('order.event', 'o0', { event: { type: 'canceled', ts: 3 } }));
    expect(state.orders.has('o0')).toBe(false);
  });
});

describe('projection: where the trading state came from', () => {
  const MON_22H = Date.parse('2026-06-16T01:00:00Z'); // Monday 2026-06-15, 22:00 in São Paulo
  const TUE_00H = Date.parse('2026-06-16T03:00:00Z'); // Tuesday 00:00 in São Paulo
  const at = (ts: number, data: unknown): JournalEvent => ({
    seq: ++seq,
    ts,
    type: 'risk.state',
    orderId: null,
    data,
  });
  const fold = (...events: JournalEvent[]) => {
    const state = emptyState(false);
    for (const e of events) project(state, e, instruments, 'America/Sao_Paulo');
    return state;
  };

  it('keeps the session of a daily-loss state and clears it on the new-session event', () => {
    const halted = at(MON_22H, { state: 'HALTED', reason: 'loss', cause: 'daily-loss' });
    expect(fold(halted)).toMatchObject({
      tradingState: 'HALTED',
      chosenTradingState: 'ACTIVE',
      lossLimitSession: '2026-06-15',
    });
    const lifted = at(TUE_00H, { state: 'ACTIVE', reason: 'new session', cause: 'new-session' });
    expect(fold(halted, lifted)).toMatchObject({ tradingState: 'ACTIVE', lossLimitSession: null });
  });

  it('reads a journal written before causes were recorded by the daily-loss reason it gave', () => {
    const byLoss = at(MON_22H, { state: 'REDUCING', reason: 'daily P&L R$-5200 reached the loss limit' });
    expect(fold(byLoss)).toMatchObject({ tradingState: 'REDUCING', lossLimitSession: '2026-06-15' });
    const byPerson = at(MON_22H, { state: 'HALTED', reason: 'desk review' });
    expect(fold(byPerson)).toMatchObject({
      tradingState: 'HALTED',
      chosenTradingState: 'HALTED',
      lossLimitSession: null,
    });
  });
});
