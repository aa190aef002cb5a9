import { describe, expect, it } from 'vitest';
import type { BrokerFill, BrokerOrderReport } from './execution.js';
import { applyOrderEvent, createOrder, type Order, type OrderEvent } from './orders.js';
import { planOrder } from './reconciliation.js';

const T0 = Date.parse('2026-03-16T13:00:00Z');

function order(status: 'PENDING_NEW' | 'ACCEPTED' | 'UNKNOWN', fills: BrokerFill[] = []): Order {
  let o = createOrder(
    {
      id: 'o-1',
      clientOrderId: 'c-1',
      account: 'SIM-001',
      symbol: 'WINZ26',
      side: 'BUY',
      type: 'LIMIT',
      quantity: 3,
      price: 130_000,
      timeInForce: 'DAY',
    },
    T0,
  );
  const events: OrderEvent[] = [];
  if (status !== 'PENDING_NEW') events.push({ type: 'accepted', ts: T0, brokerOrderId: 'B-1' });
  for (const f of fills) events.push({ type: 'partially_filled', ...f });
  if (status === 'UNKNOWN') events.push({ type: 'timed_out', ts: T0 });
  for (const e of events) {
    const r = applyOrderEvent(o, e);
    if (!r.ok) throw new Error(r.message);
    o = r.order;
  }
  return o;
}

const fill = (n: number, qty = 1): BrokerFill => ({ tradeId: `T-${n}`, price: 129_990, qty, ts: T0 + n });

function report(over: Partial<BrokerOrderReport> & { fills?: BrokerFill[] }): BrokerOrderReport {
  const fills = over.fills ?? [];
  const filledQty = fills.reduce((n, f) => n + f.qty, 0);
  return {
    clientOrderId: 'c-1',
    brokerOrderId: 'B-1',
    request: {
      clientOrderId: 'c-1',
      account: 'SIM-001',
      symbol: 'WINZ26',
      exchange: 'F',
      side: 'BUY',
      type: 'LIMIT',
      quantity: 3,
      price: 130_000,
      timeInForce: 'DAY',
    },
    status: 'ACCEPTED',
    filledQty,
    leavesQty: 3 - filledQty,
    avgPrice: filledQty ? 129_990 : 0,
    fills,
    updatedAt: T0 + 100,
    ...over,
  };
}

const types = (events: OrderEvent[]) => events.map((e) => e.type);

describe('planOrder', () => {
  it('plans nothing while the broker has not decided (PENDING)', () => {
    expect(planOrder(order('PENDING_NEW'), report({ status: 'PENDING' }))).toEqual({ events: [] });
  });

  it('plans the missing acknowledgement of an order the broker accepted', () => {
    const plan = planOrder(order('PENDING_NEW'), report({}));
    expect(types(plan.events)).toEqual(['accepted']);
    expect(plan.mismatch).toBeUndefined();
  });

  it('plans the fills we missed by trade id, then the status they lead to', () => {
    const ours = order('ACCEPTED', [fill(1)]);
    const plan = planOrder(ours, report({ status: 'FILLED', fills: [fill(1), fill(2), fill(3)] }));
    expect(types(plan.events)).toEqual(['partially_filled', 'filled']);
    expect(plan.events.map((e) => (e as { tradeId?: string }).tradeId)).toEqual(['T-2', 'T-3']);
    expect(plan.mismatch).toBeUndefined();
  });

  it('acknowledges an order it holds unacknowledged before the fills the broker made of it, so it has the broker id', () => {
    const plan = planOrder(order('PENDING_NEW'), report({ status: 'FILLED', fills: [fill(1, 3)] }));
    expect(types(plan.events)).toEqual(['accepted', 'filled']);
    expect(plan.events[0]).toEqual({ type: 'accepted', ts: T0 + 100, brokerOrderId: 'B-1' });
    expect(plan.mismatch).toBeUndefined();
  });

  it('plans a replace we never heard of before its fills (REPLACED with and without fills)', () => {
    const replaced = report({
      status: 'REPLACED',
      request: { ...report({}).request, quantity: 2, price: 129_500 },
    });
    expect(types(planOrder(order('ACCEPTED'), replaced).events)).toEqual(['replaced']);
    const withFill = report({
      status: 'REPLACED',
      request: { ...report({}).request, quantity: 2 },
      fills: [fill(1)],
    });
    const plan = planOrder(order('ACCEPTED'), withFill);
    expect(types(plan.events)).toEqual(['replaced', 'partially_filled']);
    expect(plan.mismatch).toBeUndefined();
  });

  it('resolves an UNKNOWN order in one event, with the fills the broker holds', () => {
    const plan = planOrder(order('UNKNOWN'), report({ status: 'CANCELED', fills: [fill(1)] }));
    expect(plan.events).toEqual([
      { type: 'resolved', ts: T0 + 100, status: 'CANCELED', fills: [fill(1)], brokerOrderId: 'B-1' },
    ]);
  });

  it('never undoes a fill we hold that the broker does not report: a fills mismatch', () => {
    const plan = planOrder(order('ACCEPTED', [fill(1)]), report({ fills: [] }));
    expect(plan.events).toEqual([]);
    expect(plan.mismatch).toMatchObject({
      kind: 'fills',
      orderId: 'o-1',
      detail: expect.stringContaining('T-1'),
    });
  });

  it('reports a filled quantity that the fills do not add up to', () => {
    const plan = planOrder(order('ACCEPTED'), report({ fills: [fill(1)], filledQty: 2 }));
    expect(plan.mismatch).toMatchObject({ kind: 'fills' });
  });

  it('plans a cancel, an expiry and a rejection as the broker reports them', () => {
    expect(types(planOrder(order('ACCEPTED'), report({ status: 'CANCELED' })).events)).toEqual(['canceled']);
    expect(types(planOrder(order('ACCEPTED'), report({ status: 'EXPIRED' })).events)).toEqual(['expired']);
    const rejected = planOrder(order('PENDING_NEW'), report({ status: 'REJECTED', reason: 'no margin' }));
    expect(rejected.events).toEqual([{ type: 'rejected', ts: T0 + 100, reason: 'no margin' }]);
  });
});
