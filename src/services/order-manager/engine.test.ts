import { describe, expect, it } from 'vitest';
import type { SubmitResult } from './results.js';
import { ACK_TIMEOUT_MS, orderAfter, placed, setUp, T0, win } from './test-support.js';

/** The risk code of a denied submit. */
function denied(r: SubmitResult): string | undefined {
  return r.kind === 'denied' ? r.rejection.code : undefined;
}

describe('OrderEngine', () => {
  it('sends a new order before its commit, and commits it together with the broker answer', async () => {
    const { engine, store, broker, published, types } = await setUp();
    broker.sendAnswer = 'id-only';
    const order = placed(engine.submit(win(), 'trader'));
    expect(order.status).toBe('PENDING_NEW');
    expect(broker.sent.map((r) => r.clientOrderId)).toEqual([order.clientOrderId]);
    expect(store.events).toHaveLength(0); // nothing durable yet, nothing published
    await store.commit();
    expect(types()).toEqual(['order.submitted', 'order.sent']);
    expect(published.map((e) => e.seq)).toEqual([1, 2]);
    expect(store.audits.map((a) => a.result)).toEqual(['accepted']);
    expect(engine.get(order.id).brokerOrderId).toBe('B-1');
  });

  it('answers a repeated clientOrderId with the order it made, and sends it once', async () => {
    const { engine, store, broker } = await setUp();
    const first = placed(engine.submit(win({ clientOrderId: 'c-1' }), 'trader'));
    await store.commit();
    const again = engine.submit(win({ clientOrderId: 'c-1', quantity: 3 }), 'trader');
    expect(again).toMatchObject({ kind: 'duplicate', order: { id: first.id, quantity: 1 } });
    expect(broker.sent).toHaveLength(1);
  });

  it('refuses an order the risk engine denies, with the code, journaled as risk.rejected with its audit', async () => {
    const { engine, store, broker, types } = await setUp();
    expect(engine.submit(win({ quantity: 6 }), 'trader')).toMatchObject({
      kind: 'denied',
      rejection: { code: 'RISK_MAX_ORDER_QTY' },
    });
    await store.commit();
    expect(types()).toEqual(['risk.rejected']);
    expect(store.audits[0]).toMatchObject({ action: 'order.submit', result: 'RISK_MAX_ORDER_QTY' });
    expect(broker.sent).toHaveLength(0);
  });

  it('refuses every order while routing is down or a reconciliation runs', async () => {
    const { engine, broker } = await setUp();
    await broker.disconnect();
    expect(denied(engine.submit(win(), 'trader'))).toBe('RISK_BROKER_NOT_READY');
    await broker.connect();
    engine.reconciling = true;
    expect(denied(engine.submit(win(), 'trader'))).toBe('RISK_BROKER_NOT_READY');
    engine.reconciling = false;
    expect(engine.submit(win(), 'trader').kind).toBe('accepted');
  });

  it('makes an order UNKNOWN when the broker does not answer within the ack timeout', async () => {
    const { engine, store, broker, clock, types } = await setUp();
    broker.sendAnswer = 'lose';
    const order = placed(engine.submit(win(), 'trader'));
    const committing = store.commit(); // held until the broker answers, ACK_TIMEOUT_MS at most
    await clock.advanceAsync(ACK_TIMEOUT_MS - 1);
    expect(engine.get(order.id).status).toBe('PENDING_NEW');
    await clock.advanceAsync(1);
    await committing;
    await store.commit();
    expect(engine.get(order.id).status).toBe('UNKNOWN');
    expect(types()).toEqual(['order.submitted', 'timed_out']);
  });

  it('holds a cancel asked for before the broker acknowledged, and sends it once the id arrives', async () => {
    const { engine, store, broker } = await setUp();
    broker.sendAnswer = 'take-silently';
    const order = placed(engine.submit(win(), 'trader'));
    expect(orderAfter(engine.cancel(order.id, 'trader')).status).toBe('PENDING_CANCEL');
    const committing = store.commit(); // held until the broker answers
    await Promise.resolve();
    expect(broker.cancels).toEqual([]); // no broker id yet: nothing to cancel
    broker.accept(order.clientOrderId);
    await committing;
    expect(broker.cancels).toEqual(['B-1']);
    await store.commit();
    expect(engine.get(order.id).status).toBe('CANCELED');
  });

  it('sends a cancel only after the commit holding its request', async () => {
    const { engine, store, broker } = await setUp();
    const order = placed(engine.submit(win(), 'trader'));
    await store.commit();
    engine.cancel(order.id, 'trader');
    expect(broker.cancels).toEqual([]);
    await store.commit();
    expect(broker.cancels).toEqual(['B-1']);
    expect(engine.get(order.id).status).toBe('CANCELED');
    // Cancelling again is answered as it is; a filled order cannot be cancelled.
    expect(orderAfter(engine.cancel(order.id, 'trader')).status).toBe('CANCELED');
  });

  it('refuses to cancel a closed order, and says when there is no such order', async () => {
    const { engine, store, broker } = await setUp();
    const order = placed(engine.submit(win(), 'trader'));
    await store.commit();
    broker.fill(order.clientOrderId, 1, 129_990);
    await store.commit();
    expect(engine.cancel(order.id, 'trader')).toMatchObject({ kind: 'closed', order: { status: 'FILLED' } });
    expect(engine.cancel('no-such-order', 'trader')).toEqual({ kind: 'not_found', id: 'no-such-order' });
  });

  it('keeps the order as it was when the broker refuses a replace', async () => {
    const { engine, store, broker } = await setUp();
    const order = placed(engine.submit(win({ price: 129_000 }), 'trader'));
    await store.commit();
    broker.modifyAnswer = 'reject';
    expect(orderAfter(engine.modify(order.id, { price: 129_100 }, 'trader')).status).toBe('PENDING_REPLACE');
    await store.commit();
    await store.commit();
    const after = engine.get(order.id);
    expect(after.status).toBe('ACCEPTED');
    expect(after.price).toBe(129_000);
    broker.modifyAnswer = 'confirm';
    engine.modify(order.id, { price: 129_100 }, 'trader');
    await store.commit();
    expect(engine.get(order.id)).toMatchObject({ status: 'ACCEPTED', price: 129_100 });
  });

  it('checks a replace as the order it becomes', async () => {
    const { engine, store, broker } = await setUp();
    const order = placed(engine.submit(win({ quantity: 1 }), 'trader'));
    await store.commit();
    expect(engine.modify(order.id, { quantity: 6 }, 'trader')).toMatchObject({
      kind: 'denied',
      rejection: { code: 'RISK_MAX_ORDER_QTY' },
    });
    expect(broker.modifies).toEqual([]);
    expect(engine.get(order.id).quantity).toBe(1);
  });

  it('with the kill switch on, cancels an UNKNOWN order the broker turns out to be working', async () => {
    const { engine, store, broker, controls, unanswered } = await setUp();
    const order = await unanswered();
    expect(order.status).toBe('UNKNOWN');
    controls.activateKillSwitch('drill', true, 'risk-officer');
    await store.commit();
    expect(broker.cancels).toEqual([]); // an UNKNOWN order has no id to cancel
    broker.accept(order.clientOrderId); // it was working after all
    await store.commit();
    await store.commit();
    expect(broker.cancels).toEqual(['B-1']);
    expect(engine.get(order.id).status).toBe('CANCELED');
  });

  it('rebuilds the state from what is committed when a commit fails, and says so', async () => {
    const { engine, store, broker, rebuilt } = await setUp();
    const kept = placed(engine.submit(win(), 'trader'));
    await store.commit();
    store.failNextCommit();
    const lost = placed(engine.submit(win(), 'trader'));
    expect(engine.state.orders.has(lost.id)).toBe(true);
    await store.commit();
    expect(rebuilt()).toBe(1);
    expect(engine.state.orders.has(lost.id)).toBe(false);
    expect(engine.state.orders.get(kept.id)?.status).toBe('ACCEPTED');
    // The lost order reached the broker: the reconciliation that follows a rebuild adopts it.
    expect(broker.sent).toHaveLength(2);
  });

  it('lifts a HALT the daily-loss limit set once a new session starts, at local midnight', async () => {
    const { engine, store, clock } = await setUp();
    engine.setTradingState('HALTED', 'daily loss', 'risk-engine', 'daily-loss');
    await store.commit();
    expect(denied(engine.submit(win(), 'trader'))).toBe('RISK_TRADING_HALTED');
    // 10:00 to 23:59 the same day: still halted.
    await clock.advanceAsync(14 * 3_600_000 - 60_000);
    expect(engine.state.tradingState).toBe('HALTED');
    await clock.advanceAsync(60_000);
    expect(engine.state.tradingState).toBe('ACTIVE');
    await store.commit();
    expect(store.audits.at(-1)).toMatchObject({ actor: 'system', target: 'ACTIVE' });
  });

  it('reads a closed order back from the journal once it left memory', async () => {
    const { engine, store, broker } = await setUp({ closedOrdersInMemory: 0 });
    const order = placed(engine.submit(win(), 'trader'));
    await store.commit();
    broker.fill(order.clientOrderId, 1, 129_990);
    await store.commit();
    expect(engine.state.orders.has(order.id)).toBe(false);
    expect(engine.get(order.id)).toMatchObject({ status: 'FILLED', filledQty: 1 });
    expect(engine.orderIdOf(order.clientOrderId)).toBe(order.id);
  });

  it('journals the trading state a fill causes in the same commit as the fill', async () => {
    const { engine, store, broker, types } = await setUp();
    const buy = placed(engine.submit(win({ type: 'MARKET', price: undefined }), 'trader'));
    await store.commit();
    broker.fill(buy.clientOrderId, 1, 130_000);
    await store.commit();
    const sell = placed(engine.submit(win({ type: 'MARKET', price: undefined, side: 'SELL' }), 'trader'));
    await store.commit();
    const before = store.events.length;
    // 30,000 points × R$0.20 = R$6,000 lost: past the R$5,000 daily limit, so only reducing orders.
    broker.fill(sell.clientOrderId, 1, 100_000);
    await store.commit();
    expect(types().slice(before)).toEqual(['filled', 'risk.state']);
    expect(engine.state.tradingState).toBe('REDUCING');
  });

  it('keeps going when a subscriber to its news fails', async () => {
    const { engine, store, broker, bus, handlerErrors } = await setUp();
    bus.on('order.changed', () => {
      throw new Error('a broken strategy');
    });
    const order = placed(engine.submit(win(), 'trader'));
    await store.commit();
    broker.fill(order.clientOrderId, 1, 129_990);
    await store.commit();
    expect(engine.get(order.id).status).toBe('FILLED');
    expect(handlerErrors.length).toBeGreaterThan(0);
  });

  it('reports broker news for an order it does not know, for a reconciliation to adopt', async () => {
    const { engine, broker, bus } = await setUp();
    const unmatched: string[] = [];
    bus.on('broker.unmatched', (u) => unmatched.push(u.clientOrderId));
    broker.emit({
      clientOrderId: 'elsewhere',
      brokerOrderId: 'B-99',
      status: 'ACCEPTED',
      ts: T0,
      filledQty: 0,
      leavesQty: 1,
    });
    expect(unmatched).toEqual(['elsewhere']);
    expect(engine.state.orders.size).toBe(0);
  });
});
