import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { OrderJournal } from '../src/adapters/storage/order-journal.js';
import { loadConfig } from '../src/config.js';
import { roundBrl } from '../src/domain/positions.js';
import { FeedClient, type FeedRecord } from '../src/kernel/feed/index.js';
import { buildService, type ServiceContext } from '../src/kernel/service.js';
import { orderManagerService } from '../src/services/order-manager/service.js';
import { freePort, type JsonBody, tempHome, waitFor } from './helpers/cli.js';
import { type App, call, place, until, win } from './helpers/orders.js';

let running: ServiceContext[] = [];
afterEach(async () => {
  for (const ctx of running.splice(0)) await ctx.app.close();
});

/** The order manager in this process on the simulator; data-capture is not running (no last prices). */
async function start(home = tempHome('ts-om-')) {
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
  return { app: ctx.app, ctx, home };
}

/** A buy limit far below the simulated market (around 128,000): it rests and never fills. */
const farLimit = (price: number, over: Record<string, unknown> = {}) =>
  win({ type: 'LIMIT', price, ...over });

async function expectRisk(app: App, body: object, code: string) {
  const r = await call(app, 'POST', '/api/orders', body);
  expect(r.status, JSON.stringify(r.body)).toBe(422);
  expect(r.body.error.code).toBe(code);
}

describe('order manager API', () => {
  it('creates, fills, lists, gets, modifies and cancels orders through the simulator', async () => {
    const { app } = await start();
    const market = await place(app, win());
    expect(market.status).toBe('PENDING_NEW');
    const filled = await until(app, market.id, 'FILLED');
    expect(filled.fills).toHaveLength(1);
    expect(filled.fills[0].tradeId).toMatch(/^SIM-/);

    const limit = await place(app, farLimit(100_000, { timeInForce: 'GTC' }));
    await until(app, limit.id, 'ACCEPTED');
    const patched = await call(app, 'PATCH', `/api/orders/${limit.id}`, { price: 100_005 });
    expect(patched.status).toBe(200);
    expect(patched.body.data.status).toBe('PENDING_REPLACE');
    expect((await until(app, limit.id, 'ACCEPTED')).price).toBe(100_005);

    const del = await call(app, 'DELETE', `/api/orders/${limit.id}`);
    expect(del.status).toBe(200);
    await until(app, limit.id, 'CANCELED');
    const again = await call(app, 'DELETE', `/api/orders/${limit.id}`);
    expect(again).toMatchObject({ status: 200, body: { data: { id: limit.id, status: 'CANCELED' } } });
    expect((await call(app, 'DELETE', `/api/orders/${market.id}`)).body.error.code).toBe('ORDER_CLOSED');

    const all = await call(app, 'GET', '/api/orders');
    expect(all.body.total).toBe(2);
    expect(all.body.data.map((o: JsonBody) => o.id)).toEqual([limit.id, market.id]);
    const canceled = await call(app, 'GET', '/api/orders?status=CANCELED&symbol=WINZ26&side=BUY');
    expect(canceled.body.data.map((o: JsonBody) => o.id)).toEqual([limit.id]);
    expect((await call(app, 'GET', '/api/orders?limit=1&offset=1')).body.data[0].id).toBe(market.id);
    expect((await call(app, 'GET', '/api/orders/nope')).status).toBe(404);

    const positions = await call(app, 'GET', '/api/positions');
    expect(positions.body.data).toMatchObject([{ symbol: 'WINZ26', quantity: 1, account: 'SIM-001' }]);
    const metrics = (await app.inject('/metrics')).body;
    expect(metrics).toMatch(/tradingsystem_order_manager_orders_submitted_total 2/);
    expect(metrics).toMatch(/tradingsystem_order_manager_orders_filled_total 1/);
    expect(metrics).toMatch(/tradingsystem_order_manager_open_orders 0/);
    expect(metrics).toMatch(/tradingsystem_order_manager_tick_to_order_seconds_count 0/);
  });

  it('answers a known clientOrderId with the existing order, never a second one', async () => {
    const { app } = await start();
    const first = await call(app, 'POST', '/api/orders', farLimit(100_000, { clientOrderId: 'abc-1' }));
    const second = await call(app, 'POST', '/api/orders', farLimit(100_000, { clientOrderId: 'abc-1' }));
    expect([first.status, second.status]).toEqual([201, 200]);
    expect(second.body.data.id).toBe(first.body.data.id);
    expect((await call(app, 'GET', '/api/orders')).body.total).toBe(1);
  });

  it('rejects with 422 and the risk code, and audits each rejection', async () => {
    const { app } = await start();
    await expectRisk(app, win({ quantity: 6 }), 'RISK_MAX_ORDER_QTY');
    await expectRisk(app, farLimit(100_003), 'RISK_TICK_SIZE');
    await place(app, farLimit(100_000, { quantity: 5 }));
    await expectRisk(app, farLimit(100_100), 'RISK_MAX_POSITION');

    const halt = await call(app, 'PUT', '/api/risk/state', { state: 'HALTED', reason: 'drill' }, 'ops');
    expect(halt.body.data.tradingState).toBe('HALTED');
    expect((await call(app, 'GET', '/health')).body.checks.risk.status).toBe('degraded');
    await expectRisk(
      app,
      farLimit(100_200, { side: 'SELL', type: 'LIMIT', price: 200_000 }),
      'RISK_TRADING_HALTED',
    );
    await call(app, 'PUT', '/api/risk/state', { state: 'ACTIVE', reason: 'drill over' }, 'ops');

    const audit = (await call(app, 'GET', '/api/audit?action=order.submit')).body.data as JsonBody[];
    expect(audit.map((e) => e.result)).toEqual([
      'RISK_TRADING_HALTED',
      'RISK_MAX_POSITION',
      'accepted',
      'RISK_TICK_SIZE',
      'RISK_MAX_ORDER_QTY',
    ]);
    expect(audit[0]).toMatchObject({ actor: 'api', details: { symbol: 'WINZ26', side: 'SELL' } });
    const states = (await call(app, 'GET', '/api/audit?action=risk.state')).body.data as JsonBody[];
    expect(states.map((e) => [e.actor, e.target, e.reason])).toEqual([
      ['ops', 'ACTIVE', 'drill over'],
      ['ops', 'HALTED', 'drill'],
    ]);
  });

  it('kill switch blocks new orders at once and cancels every open one; only a reset re-enables', async () => {
    const { app } = await start();
    const resting = [];
    for (const price of [100_000, 100_005, 100_010]) resting.push(await place(app, farLimit(price)));
    for (const o of resting) await until(app, o.id, 'ACCEPTED');

    const started = Date.now();
    const kill = await call(
      app,
      'POST',
      '/api/risk/kill-switch',
      { reason: 'drill', cancelAll: true },
      'ops',
    );
    expect(kill.status).toBe(200);
    expect(kill.body.data.canceled).toHaveLength(3);
    await expectRisk(app, farLimit(100_015), 'RISK_KILL_SWITCH');
    expect(Date.now() - started).toBeLessThan(1_000);
    for (const o of resting) await until(app, o.id, 'CANCELED');
    expect((await call(app, 'GET', '/health')).body.checks.risk).toMatchObject({ status: 'degraded' });

    expect((await call(app, 'POST', '/api/risk/kill-switch/reset', {})).status).toBe(400);
    const reset = await call(app, 'POST', '/api/risk/kill-switch/reset', { reason: 'drill over' }, 'ops');
    expect(reset.body.data.killSwitch).toEqual({ active: false });
    await place(app, farLimit(100_020));
    const actions = (await call(app, 'GET', '/api/audit')).body.data.map((e: JsonBody) => e.action);
    expect(actions).toContain('risk.kill_switch');
    expect(actions).toContain('risk.kill_switch_reset');
  });

  it('answers hostile bodies with 400 naming the field, and journals no order', async () => {
    const { app } = await start();
    const cases: [object, string][] = [
      [win({ quantity: -1 }), 'quantity'],
      [win({ quantity: 1e308 }), 'quantity'],
      [win({ quantity: 1.5 }), 'quantity'],
      [win({ quantity: '1' }), 'quantity'],
      [win({ side: 'HOLD' }), 'side'],
      [win({ type: 'ICEBERG' }), 'type'],
      [win({ timeInForce: 'FOREVER' }), 'timeInForce'],
      [win({ leverage: 100 }), 'leverage'],
      [win({ symbol: 'winz26' }), 'symbol'],
      [farLimit(1e308), 'price'],
      [win({ type: 'LIMIT', price: '100000' }), 'price'],
      [win({ type: 'LIMIT' }), 'price'],
      [win({ price: 100_000 }), 'price'],
    ];
    for (const [body, field] of cases) {
      const r = await call(app, 'POST', '/api/orders', body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.error.details.field, JSON.stringify(r.body)).toBe(field);
    }
    const malformed = await app.inject({
      method: 'POST',
      url: '/api/orders',
      headers: { 'content-type': 'application/json' },
      payload: '{"symbol":"WINZ26",',
    });
    expect(malformed.statusCode).toBe(400);
    expect(malformed.json().error.code).toBe('INVALID_JSON');
    expect((await call(app, 'PATCH', '/api/orders/x', {})).status).toBe(400);
    expect((await call(app, 'PUT', '/api/risk/limits', { future: {} })).status).toBe(400);
    expect((await call(app, 'GET', '/api/orders')).body.total).toBe(0);
    expect((await call(app, 'GET', '/api/audit')).body.count).toBe(0);
  });

  it('rebuilds the same orders and positions from the journal; a replayed fill changes nothing', async () => {
    const { app, ctx, home } = await start();
    const bought = await place(app, win({ quantity: 2 }));
    const filled = await until(app, bought.id, 'FILLED');
    const resting = await place(app, farLimit(100_000));
    await until(app, resting.id, 'ACCEPTED');
    const limits = (await call(app, 'GET', '/api/risk/limits')).body.data;
    await call(app, 'PUT', '/api/risk/limits', { ...limits, maxOpenOrders: 7 });
    const before = {
      orders: (await call(app, 'GET', '/api/orders')).body,
      positions: (await call(app, 'GET', '/api/positions')).body,
    };
    await ctx.app.close();
    running = running.filter((c) => c !== ctx);

    // The same fill again, as a broker resend after a restart would journal it.
    const journal = OrderJournal.open(home);
    const fill = filled.fills[0];
    journal.append('order.event', bought.id, { event: { type: 'filled', ...fill } }, Date.now());
    await journal.close();

    const { app: again } = await start(home);
    expect((await call(again, 'GET', '/api/orders')).body).toEqual(before.orders);
    expect((await call(again, 'GET', '/api/positions')).body).toEqual(before.positions);
    expect(before.positions.data[0].quantity).toBe(2);
    expect((await call(again, 'GET', '/api/risk/limits')).body.data.maxOpenOrders).toBe(7);
    expect(path.basename(home)).toMatch(/^ts-om-/);
  });

  it('realises a WIN round trip in BRL at R$0.20 per point', async () => {
    const { app } = await start();
    const buy = await until(app, (await place(app, win())).id, 'FILLED');
    const sell = await until(app, (await place(app, win({ side: 'SELL' }))).id, 'FILLED');
    const expected = roundBrl((sell.avgFillPrice - buy.avgFillPrice) * 0.2);
    const pnl = (await call(app, 'GET', '/api/pnl')).body.data;
    expect(pnl).toMatchObject({ currency: 'BRL', realised: expected, unrealised: 0, total: expected });
    expect(pnl.symbols).toMatchObject([{ symbol: 'WINZ26', quantity: 0, realisedPnl: expected }]);
  });

  it('streams journal events on /feed/orders, resumable from a seq', async () => {
    const { app } = await start();
    const order = await place(app, win());
    await until(app, order.id, 'FILLED');
    await app.listen({ host: '127.0.0.1', port: 0 });
    const port = (app.server.address() as AddressInfo).port;
    const got: FeedRecord<JsonBody>[] = [];
    const client = new FeedClient<JsonBody>({
      url: `ws://127.0.0.1:${port}/feed/orders`,
      from: 0,
      onRecords: (r) => got.push(...r),
    });
    client.start();
    try {
      await waitFor('fill on the feed', () => got.some((r) => r.data.data?.event?.type === 'filled'));
    } finally {
      await client.stop();
    }
    expect(got.map((r) => r.seq)).toEqual(got.map((_, i) => i + 1));
    expect(got[0]?.data).toMatchObject({ type: 'order.submitted', orderId: order.id });
  });

  it('reports a corrupt journal as down and serves no orders, leaving the file alone', async () => {
    const home = tempHome('ts-om-');
    mkdirSync(path.join(home, 'db'));
    writeFileSync(path.join(home, 'db', 'orders.sqlite'), 'not a database '.repeat(500));
    const config = loadConfig({
      env: { TRADINGSYSTEM_HOME: home, TRADINGSYSTEM__LOG__LEVEL: 'fatal' },
      cwd: home,
    });
    const ctx = await buildService(orderManagerService, { config });
    running.push(ctx);
    const health = await call(ctx.app, 'GET', '/health');
    expect(health.status).toBe(503);
    expect(health.body.checks.journal).toMatchObject({ status: 'down' });
    const r = await call(ctx.app, 'POST', '/api/orders', win());
    expect(r).toMatchObject({ status: 503, body: { error: { code: 'JOURNAL_UNAVAILABLE' } } });
  });

  it('refuses an emptied journal the data home says existed: down with the runbook, no phantom start', async () => {
    const first = await start();
    await place(first.app, farLimit(100_000));
    await first.ctx.app.close();
    running = [];
    const file = path.join(first.home, 'db', 'orders.sqlite');
    writeFileSync(file, ''); // what a full disk or a bad restore leaves
    const config = loadConfig({
      env: { TRADINGSYSTEM_HOME: first.home, TRADINGSYSTEM__LOG__LEVEL: 'fatal' },
      cwd: first.home,
    });
    const ctx = await buildService(orderManagerService, { config });
    running.push(ctx);
    const health = await call(ctx.app, 'GET', '/health');
    expect(health.status).toBe(503);
    expect(health.body.checks.journal).toMatchObject({
      status: 'down',
      runbook: 'runbooks/data-file-unusable',
    });
    expect(health.body.checks.journal.detail).toContain('empty, but');
    const r = await call(ctx.app, 'GET', '/api/orders');
    expect(r).toMatchObject({ status: 503, body: { error: { code: 'JOURNAL_UNAVAILABLE' } } });
    expect(readFileSync(file)).toHaveLength(0);
  });
});
