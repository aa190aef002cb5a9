import { describe, expect, it } from 'vitest';
import { placed, setUp, win } from './test-support.js';

describe('Reconciler', () => {
  it('makes an order the broker does not report UNKNOWN, never flat or gone, and says so', async () => {
    const { engine, store, broker, reconciler } = await setUp();
    const order = placed(engine.submit(win(), 'trader'));
    await store.commit();
    broker.hideFromReports(order.clientOrderId);
    const run = await reconciler.full('operator');
    await store.commit();
    expect(engine.get(order.id).status).toBe('UNKNOWN');
    expect(run.mismatches).toEqual([
      expect.objectContaining({ kind: 'missing_at_broker', orderId: order.id }),
    ]);
    expect(reconciler.health()).toMatchObject({ status: 'degraded' });
    expect(broker.sent).toHaveLength(1); // never sent again
  });

  it("brings an order to the broker's report: fills the broker has and we missed are journaled once", async () => {
    const { engine, store, broker, reconciler } = await setUp();
    const order = placed(engine.submit(win({ quantity: 3 }), 'trader'));
    await store.commit();
    broker.fill(order.clientOrderId, 1, 129_990, false); // news lost on the way
    broker.fill(order.clientOrderId, 2, 129_995, false);
    const run = await reconciler.full('reconnect');
    await store.commit();
    expect(run.mismatches).toEqual([]);
    expect(engine.get(order.id)).toMatchObject({ status: 'FILLED', filledQty: 3 });
    expect(engine.state.filledNet.get('SIM-001')?.get('WINZ26')).toBe(3);
    // Run again: nothing more to apply.
    const again = await reconciler.full('operator');
    expect([again.applied, again.mismatches.length]).toEqual([0, 0]);
  });

  it('adopts a broker order our journal lacks, then a confirming run finds nothing and /health is ok again', async () => {
    const { engine, store, broker, reconciler, clock } = await setUp();
    broker.place({
      clientOrderId: 'from-terminal',
      account: 'SIM-001',
      symbol: 'WINZ26',
      exchange: 'F',
      side: 'SELL',
      type: 'LIMIT',
      quantity: 2,
      price: 131_000,
      timeInForce: 'DAY',
    });
    broker.fill('from-terminal', 1, 131_000, false);
    const run = await reconciler.full('start');
    await store.commit();
    expect(run.mismatches).toEqual([
      expect.objectContaining({ kind: 'unknown_order', clientOrderId: 'from-terminal' }),
    ]);
    const adopted = engine.get(engine.orderIdOf('from-terminal') ?? '');
    expect(adopted).toMatchObject({ status: 'PARTIALLY_FILLED', filledQty: 1, side: 'SELL' });
    expect(store.audits.some((a) => a.action === 'order.adopt')).toBe(true);
    expect(reconciler.health().status).toBe('degraded');
    // The confirming run is due 5 s later, on the periodic poll.
    clock.advance(4_999);
    await reconciler.pollUnknown();
    expect(reconciler.lastFull?.reason).toBe('start');
    clock.advance(1);
    await reconciler.pollUnknown();
    expect(reconciler.lastFull?.reason).toBe('confirm-adoption');
    expect(reconciler.health().status).toBe('ok');
  });

  it('reports a position the broker holds and our fills do not explain, after reading it again', async () => {
    const { engine, store, broker, reconciler, clock } = await setUp();
    const order = placed(engine.submit(win(), 'trader'));
    await store.commit();
    broker.fill(order.clientOrderId, 1, 129_990, false);
    broker.hideFromReports(order.clientOrderId); // the report is missing too: nothing explains the position
    const running = reconciler.full('operator');
    await clock.advanceAsync(1_000); // the position is read three times, 200 ms apart
    const run = await running;
    await store.commit();
    expect(run.mismatches.map((m) => m.kind).sort()).toEqual(['missing_at_broker', 'position']);
    expect(run.mismatches.find((m) => m.kind === 'position')?.detail).toBe(
      'WINZ26: our fills sum to 0, the broker holds 1',
    );
  });

  it('settles an UNKNOWN order from the reports on the periodic poll, without blocking new orders', async () => {
    const { engine, store, broker, reconciler, unanswered } = await setUp();
    const order = await unanswered();
    expect(order.status).toBe('UNKNOWN');
    broker.fill(order.clientOrderId, 1, 129_990, false); // filled at the broker; we heard nothing
    const polling = reconciler.pollUnknown();
    expect(engine.reconciling).toBe(false);
    await polling;
    await store.commit();
    expect(engine.get(order.id)).toMatchObject({ status: 'FILLED', filledQty: 1 });
    expect(engine.state.filledNet.get('SIM-001')?.get('WINZ26')).toBe(1);
  });

  it('refuses new orders while a full run applies the broker truth', async () => {
    const { engine, broker, reconciler } = await setUp();
    const running = reconciler.full('reconnect');
    expect(engine.brokerReady).toBe(false);
    await running;
    expect(engine.brokerReady).toBe(true);
    expect(broker.reportReads).toBe(1);
  });

  it('runs a failed full run again (1 s doubling) until the broker answers', async () => {
    const { reconciler, broker, clock } = await setUp();
    broker.reportsFailing = 3;
    await reconciler.full('start');
    expect(reconciler.health()).toMatchObject({
      status: 'degraded',
      detail: expect.stringContaining('last run failed'),
    });
    await clock.advanceAsync(1_000);
    expect(broker.reportReads).toBe(2);
    await clock.advanceAsync(1_999);
    expect(broker.reportReads).toBe(2);
    await clock.advanceAsync(1);
    expect(broker.reportReads).toBe(3);
    await clock.advanceAsync(4_000);
    expect(broker.reportReads).toBe(4);
    expect(reconciler.health()).toMatchObject({ status: 'ok', reason: 'start' });
    await clock.advanceAsync(60_000);
    expect(broker.reportReads).toBe(4);
    reconciler.stop();
  });

  it('runs at once after a failed commit, then backs off (1 s doubling) while commits keep failing', async () => {
    const { reconciler, broker, clock } = await setUp();
    reconciler.afterFailedCommit();
    await clock.advanceAsync(0);
    expect(broker.reportReads).toBe(1);
    // A storm of failures (each order, each run's own events): at most one run waits.
    for (let i = 0; i < 50; i++) reconciler.afterFailedCommit();
    await clock.advanceAsync(999);
    expect(broker.reportReads).toBe(1);
    await clock.advanceAsync(1);
    expect(broker.reportReads).toBe(2);
    reconciler.afterFailedCommit();
    await clock.advanceAsync(1_999);
    expect(broker.reportReads).toBe(2);
    await clock.advanceAsync(1);
    expect(broker.reportReads).toBe(3);
    // Ten seconds of failures run it a handful of times, not hundreds.
    for (let t = 0; t < 10_000; t += 100) {
      reconciler.afterFailedCommit();
      await clock.advanceAsync(100);
    }
    expect(broker.reportReads).toBeLessThanOrEqual(6);
    reconciler.stop();
  });

  it('starts over once a commit has succeeded in between', async () => {
    const { engine, store, reconciler, broker, clock } = await setUp();
    reconciler.afterFailedCommit();
    reconciler.afterFailedCommit();
    await clock.advanceAsync(1_000);
    expect(broker.reportReads).toBe(2);
    placed(engine.submit(win(), 'trader'));
    await store.commit(); // a commit went through: the next failure is a new one, reconciled at once
    reconciler.afterFailedCommit();
    await clock.advanceAsync(0);
    expect(broker.reportReads).toBe(3);
    reconciler.stop();
  });

  it('asks for reports from before the oldest open order, not only from today', async () => {
    const { engine, store, reconciler, clock } = await setUp();
    const order = placed(engine.submit(win({ timeInForce: 'GTC' }), 'trader'));
    await store.commit();
    // Three days later the GTC order still works; the broker last changed it on the first day.
    clock.advance(3 * 86_400_000);
    const run = await reconciler.full('start');
    expect(run.mismatches).toEqual([]);
    expect(engine.get(order.id).status).toBe('ACCEPTED');
  });
});
