import { afterEach, describe, expect, it } from 'vitest';
import { OrderJournal } from '../src/adapters/storage/order-journal.js';
import { loadConfig } from '../src/config.js';
import { buildService, type ServiceContext } from '../src/kernel/service.js';
import { orderManagerService } from '../src/services/order-manager/service.js';
import { outcomes } from '../src/services/order-manager/slo-routes.js';
import { freePort, tempHome, waitFor } from './helpers/cli.js';
import { call, place, until, win } from './helpers/orders.js';

const running: ServiceContext[] = [];
afterEach(async () => {
  for (const ctx of running.splice(0)) await ctx.app.close();
});

async function start(home = tempHome('ts-om-slo-')) {
  const config = loadConfig({
    env: {
      TRADINGSYSTEM_HOME: home,
      TRADINGSYSTEM__LOG__LEVEL: 'warn',
      TRADINGSYSTEM__SERVICES__DATA_CAPTURE__PORT: String(await freePort()),
    },
    cwd: home,
  });
  const ctx = await buildService(orderManagerService, { config });
  running.push(ctx);
  await ctx.app.ready();
  await waitFor(
    'broker routing',
    async () => (await ctx.app.inject('/health')).json().checks.broker.status === 'ok',
  );
  return ctx.app;
}

const count = (metrics: string, name: string) =>
  Number(new RegExp(`^${name}_count (\\d+)`, 'm').exec(metrics)?.[1] ?? Number.NaN);

describe('order manager SLO figures', () => {
  it('REST orders feed their own ack histogram (request to broker ack); signal orders and risk refusals do not', async () => {
    const app = await start();
    const t0 = new Date(Date.now() - 1_000).toISOString();
    const a = await place(app, win());
    const b = await place(app, win({ side: 'SELL' }));
    await until(app, a.id, 'FILLED');
    await until(app, b.id, 'FILLED');
    // A retry of the same clientOrderId answers the order it made: not a second observation.
    const c = await place(app, win({ clientOrderId: 'slo-retry', quantity: 2 }));
    expect(
      (await call(app, 'POST', '/api/orders', win({ clientOrderId: 'slo-retry', quantity: 2 }))).status,
    ).toBe(200);
    await until(app, c.id, 'FILLED');
    const refused = await call(app, 'POST', '/api/orders', win({ quantity: 100_000 }));
    expect(refused.status).toBe(422);
    const sig = await call(app, 'POST', '/api/signals', {
      symbol: 'WINZ26',
      direction: 'SELL',
      quantity: 3,
      confidence: 0.9,
      source: 't',
    });
    expect(sig.status).toBe(201);
    await until(app, sig.body.data.order.id, 'FILLED');

    const metrics = (await app.inject('/metrics')).body;
    expect(count(metrics, 'tradingsystem_order_manager_api_order_ack_seconds')).toBe(3);
    expect(count(metrics, 'tradingsystem_order_manager_tick_to_order_seconds')).toBe(0);

    const slo = await call(
      app,
      'GET',
      `/api/slo?from=${t0}&to=${new Date(Date.now() + 1_000).toISOString()}`,
    );
    expect(slo.status).toBe(200);
    expect(slo.body.orders).toEqual({
      sent: 4,
      succeeded: 4,
      brokerRejected: 0,
      unanswered: 0,
      pending: 0,
      riskRejected: 1,
    });
    expect(slo.body.latency.apiOrderAck.count).toBe(3);
    expect(slo.body.latency.apiOrderAck.sum).toBeGreaterThan(0);
    expect(slo.body.latency.tickToOrder.count).toBe(0);

    const bad = await call(app, 'GET', '/api/slo?from=yesterday&to=2026-01-01T00:00:00Z');
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.field).toBe('from');
    expect((await call(app, 'GET', '/api/slo?to=2026-01-01T00:00:00Z')).body.error.details.field).toBe(
      'from',
    );
  });

  it('order outcomes from the journal: accepted, rejected by the broker, unanswered, pending, outside the window', async () => {
    const journal = OrderJournal.open(tempHome('ts-om-slo-journal-'));
    try {
      const t = Date.parse('2026-03-16T13:00:00Z');
      const submit = (id: string, ts: number) =>
        journal.append('order.submitted', id, { order: { id, clientOrderId: id } }, ts);
      const event = (id: string, type: string, ts: number, extra: object = {}) =>
        journal.append('order.event', id, { event: { type, ts, ...extra } }, ts);
      submit('before', t - 60_000);
      submit('ok-sent', t);
      journal.append('order.sent', 'ok-sent', { brokerOrderId: 'B1' }, t + 1);
      submit('ok-ack', t + 10);
      event('ok-ack', 'accepted', t + 11);
      event('ok-ack', 'filled', t + 12);
      submit('refused', t + 20);
      event('refused', 'rejected', t + 21, { reason: 'no margin' });
      submit('lost', t + 30);
      event('lost', 'timed_out', t + 5_030);
      submit('late-ack', t + 40);
      event('late-ack', 'timed_out', t + 5_040);
      event('late-ack', 'resolved', t + 9_000, { status: 'ACCEPTED' });
      submit('waiting', t + 50);
      journal.append('risk.rejected', null, { code: 'RISK_MAX_ORDER_QTY' }, t + 60);
      submit('after', t + 120_000);
      await journal.committed();
      expect(await outcomes(journal, t, t + 60_000)).toEqual({
        sent: 6,
        succeeded: 3,
        brokerRejected: 1,
        unanswered: 1,
        pending: 1,
        riskRejected: 1,
      });
      expect(journal.firstSeqAt(t)).toBe(2);
      expect(journal.firstSeqAt(t + 10 * 60_000)).toBe(journal.lastSeq() + 1);
    } finally {
      await journal.close();
    }
  });
});
