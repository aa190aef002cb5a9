import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { buildService, type ServiceContext } from '../src/kernel/service.js';
import { dataCaptureService } from '../src/services/data-capture/service.js';
import { orderManagerService } from '../src/services/order-manager/service.js';
import { freePort, type JsonBody, tempHome, waitFor } from './helpers/cli.js';
import { type App, call } from './helpers/orders.js';

let running: ServiceContext[] = [];
afterEach(async () => {
  // The order manager first: its feed client would otherwise retry a closed data-capture.
  for (const ctx of running.splice(0).reverse()) await ctx.app.close();
});

/** The order manager in this process on the simulator; `env` adds config (no data-capture unless given). */
async function start(env: Record<string, string> = {}, home = tempHome('ts-om-sig-')) {
  const config = loadConfig({
    env: {
      TRADINGSYSTEM_HOME: home,
      TRADINGSYSTEM__LOG__LEVEL: 'warn',
      TRADINGSYSTEM__SERVICES__DATA_CAPTURE__PORT: String(await freePort()),
      ...env,
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

const signal = (over: Record<string, unknown> = {}) => ({
  symbol: 'WINZ26',
  direction: 'BUY',
  confidence: 0.8,
  source: 'model-a',
  ...over,
});

async function send(app: App, body: object) {
  const r = await call(app, 'POST', '/api/signals', body);
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body.data as JsonBody;
}

const orderCount = async (app: App) => (await call(app, 'GET', '/api/orders')).body.total as number;

describe('signals', () => {
  it('turns a confident BUY/SELL into a MARKET order through risk; ignores weak ones and HOLD', async () => {
    const { app } = await start();
    const buy = await send(app, signal({ price: 128_000 }));
    expect(buy).toMatchObject({ decision: 'executed', signal: { decision: 'executed', price: 128_000 } });
    expect(buy.order).toMatchObject({ type: 'MARKET', side: 'BUY', quantity: 1, strategyId: 'model-a' });
    expect(buy.order.clientOrderId).toBe(`sig-${buy.signal.id}`);
    const filled = await waitFor('signal order filled', async () => {
      const o = (await call(app, 'GET', `/api/orders/${buy.order.id}`)).body.data;
      return o.status === 'FILLED' ? o : null;
    });
    expect(filled.filledQty).toBe(1);

    const atThreshold = await send(app, signal({ direction: 'SELL', confidence: 0.65, quantity: 2 }));
    expect(atThreshold).toMatchObject({ decision: 'executed', order: { side: 'SELL', quantity: 2 } });
    const weak = await send(app, signal({ confidence: 0.6499 }));
    expect(weak).toMatchObject({ decision: 'ignored', reason: expect.stringMatching(/below the threshold/) });
    expect(weak.order).toBeUndefined();
    const hold = await send(app, signal({ direction: 'HOLD', confidence: 1 }));
    expect(hold).toMatchObject({ decision: 'ignored', reason: 'HOLD places no order' });
    expect(await orderCount(app)).toBe(2);

    const audit = (await call(app, 'GET', '/api/audit?action=signal.receive')).body.data as JsonBody[];
    expect(audit.map((e) => e.result)).toEqual(['ignored', 'ignored', 'executed', 'executed']);
    expect(audit[3]).toMatchObject({ actor: 'api', details: { orderId: buy.order.id, source: 'model-a' } });
    const metrics = (await app.inject('/metrics')).body;
    expect(metrics).toMatch(/tradingsystem_order_manager_signals_total\{decision="executed"\} 2/);
    // Signals from the API have no triggering trade: no tick-to-order observation.
    expect(metrics).toMatch(/tradingsystem_order_manager_tick_to_order_seconds_count 0/);
  });

  it('only stores signals while auto-execution is off', async () => {
    const { app } = await start({ TRADINGSYSTEM__SERVICES__ORDER_MANAGER__AUTO_EXECUTE_SIGNALS: 'false' });
    const r = await send(app, signal({ confidence: 0.99 }));
    expect(r).toMatchObject({ decision: 'ignored', reason: 'auto-execution is off' });
    expect(await orderCount(app)).toBe(0);
    expect((await call(app, 'GET', '/api/signals')).body.count).toBe(1);
  });

  it('answers a risk refusal as decision rejected with the code', async () => {
    const { app } = await start({
      TRADINGSYSTEM__SERVICES__ORDER_MANAGER__SIGNAL_CONFIDENCE_THRESHOLD: '0.7',
    });
    const limits = (await call(app, 'GET', '/api/risk/limits')).body.data;
    expect(limits.minSignalConfidence).toBe(0.7);

    const tooBig = await send(app, signal({ quantity: 6 }));
    expect(tooBig).toMatchObject({
      decision: 'rejected',
      code: 'RISK_MAX_ORDER_QTY',
      signal: { code: 'RISK_MAX_ORDER_QTY' },
    });
    expect(tooBig.order).toBeUndefined();

    // An operator raising the risk floor above the routing threshold: risk has the last word.
    await call(app, 'PUT', '/api/risk/limits', { ...limits, minSignalConfidence: 0.9 });
    const belowFloor = await send(app, signal({ confidence: 0.8 }));
    expect(belowFloor).toMatchObject({ decision: 'rejected', code: 'RISK_SIGNAL_CONFIDENCE' });

    await call(app, 'POST', '/api/risk/kill-switch', { reason: 'drill' });
    const killed = await send(app, signal({ confidence: 0.95 }));
    expect(killed).toMatchObject({ decision: 'rejected', code: 'RISK_KILL_SWITCH' });
    expect(await orderCount(app)).toBe(0);
    const listed = (await call(app, 'GET', '/api/signals')).body.data as JsonBody[];
    expect(listed.map((s) => s.code)).toEqual([
      'RISK_KILL_SWITCH',
      'RISK_SIGNAL_CONFIDENCE',
      'RISK_MAX_ORDER_QTY',
    ]);
  });

  it('answers hostile bodies with 400 naming the field, and stores nothing', async () => {
    const { app } = await start();
    const cases: [object, string][] = [
      [signal({ confidence: 1.5 }), 'confidence'],
      [signal({ confidence: -0.1 }), 'confidence'],
      [signal({ confidence: '0.9' }), 'confidence'],
      [signal({ confidence: null }), 'confidence'],
      [signal({ direction: 'STRONG_BUY' }), 'direction'],
      [signal({ direction: 'buy' }), 'direction'],
      [signal({ symbol: 'winz26' }), 'symbol'],
      [signal({ symbol: "WIN'; DROP TABLE" }), 'symbol'],
      [signal({ quantity: 0 }), 'quantity'],
      [signal({ quantity: -1 }), 'quantity'],
      [signal({ quantity: 1.5 }), 'quantity'],
      [signal({ quantity: 1e308 }), 'quantity'],
      [signal({ price: -1 }), 'price'],
      [signal({ price: 1e308 }), 'price'],
      [signal({ source: '<script>alert(1)</script>' }), 'source'],
      [signal({ source: 'x'.repeat(65) }), 'source'],
      [signal({ leverage: 10 }), 'leverage'],
      [{ symbol: 'WINZ26', direction: 'BUY', confidence: 0.9 }, 'source'],
    ];
    for (const [body, field] of cases) {
      const r = await call(app, 'POST', '/api/signals', body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.error.details.field, JSON.stringify(r.body)).toBe(field);
    }
    const malformed = await app.inject({
      method: 'POST',
      url: '/api/signals',
      headers: { 'content-type': 'application/json' },
      payload: '{"symbol":"WINZ26","confidence":NaN}',
    });
    expect(malformed.statusCode).toBe(400);
    expect((await call(app, 'GET', '/api/signals?limit=0')).status).toBe(400);
    expect((await call(app, 'GET', '/api/signals')).body.count).toBe(0);
    expect(await orderCount(app)).toBe(0);
  });

  it('lists the latest signals newest first, by symbol, and keeps them across a restart', async () => {
    const { app, ctx, home } = await start();
    await send(app, signal({ confidence: 0.1 }));
    await send(app, signal({ symbol: 'PETR4', direction: 'HOLD' }));
    const executed = await send(app, signal({ direction: 'SELL' }));
    const all = (await call(app, 'GET', '/api/signals')).body;
    expect(all.count).toBe(3);
    expect(all.data.map((s: JsonBody) => [s.symbol, s.direction])).toEqual([
      ['WINZ26', 'SELL'],
      ['PETR4', 'HOLD'],
      ['WINZ26', 'BUY'],
    ]);
    expect((await call(app, 'GET', '/api/signals?limit=1')).body.data[0].id).toBe(executed.signal.id);
    const petr = (await call(app, 'GET', '/api/signals?symbol=PETR4')).body.data as JsonBody[];
    expect(petr.map((s) => s.direction)).toEqual(['HOLD']);

    await ctx.app.close();
    running = running.filter((c) => c !== ctx);
    const { app: again } = await start({}, home);
    expect((await call(again, 'GET', '/api/signals')).body).toEqual(all);
    expect(all.data[0]).toMatchObject({ decision: 'executed', orderId: executed.order.id });
  });
});

describe('strategies', () => {
  it('refuses to start with an unknown strategy id', async () => {
    const home = tempHome('ts-om-strat-');
    const env = { TRADINGSYSTEM_HOME: home, TRADINGSYSTEM__SERVICES__ORDER_MANAGER__STRATEGIES: '["nope"]' };
    const config = loadConfig({ env, cwd: home });
    await expect(buildService(orderManagerService, { config })).rejects.toThrow(/unknown strategy 'nope'/);
  });

  it('runs momentum on the live feed from data-capture: strategy orders through risk, tick-to-order measured', async () => {
    const home = tempHome('ts-om-strat-');
    const sim = {
      TRADINGSYSTEM__SIM__TRADES_PER_SECOND: '40',
      TRADINGSYSTEM__SIM__OPEN_AT: new Date(Date.now() - 500).toISOString(),
      TRADINGSYSTEM__LOG__LEVEL: 'warn',
    };
    const dcConfig = loadConfig({ env: { TRADINGSYSTEM_HOME: `${home}/dc`, ...sim }, cwd: home });
    const dc = await buildService(dataCaptureService, { config: dcConfig });
    running.push(dc);
    await dc.app.listen({ host: '127.0.0.1', port: 0 });
    const dcPort = (dc.app.server.address() as AddressInfo).port;

    const { app } = await start(
      {
        ...sim,
        TRADINGSYSTEM__SERVICES__DATA_CAPTURE__PORT: String(dcPort),
        TRADINGSYSTEM__SERVICES__ORDER_MANAGER__STRATEGIES: '["momentum"]',
        TRADINGSYSTEM__SERVICES__ORDER_MANAGER__MOMENTUM__CONSECUTIVE_TRADES: '2',
        TRADINGSYSTEM__SERVICES__ORDER_MANAGER__MOMENTUM__COOLDOWN_MS: '300',
        TRADINGSYSTEM__SERVICES__ORDER_MANAGER__MOMENTUM__SYMBOLS: '["WINZ26","WDOZ26"]',
      },
      `${home}/om`,
    );
    const orders = await waitFor(
      'a momentum order filled',
      async () => {
        const list = (await call(app, 'GET', '/api/orders')).body.data as JsonBody[];
        return list.some((o) => o.status === 'FILLED') ? list : null;
      },
      8_000,
    );
    for (const o of orders) {
      expect(o).toMatchObject({ strategyId: 'momentum', type: 'MARKET', quantity: 1 });
      expect(['WINZ26', 'WDOZ26']).toContain(o.symbol);
    }
    const audit = (await call(app, 'GET', '/api/audit?action=order.submit')).body.data as JsonBody[];
    expect(audit.some((e) => e.actor === 'strategy:momentum' && e.result === 'accepted')).toBe(true);
    for (const p of (await call(app, 'GET', '/api/positions')).body.data as JsonBody[]) {
      expect(Math.abs(p.quantity)).toBeLessThanOrEqual(1);
    }

    const metrics = (await app.inject('/metrics')).body;
    const count = (name: string) =>
      Number(metrics.match(new RegExp(`tradingsystem_order_manager_${name}_seconds_count (\\d+)`))?.[1]);
    const sum = (name: string) =>
      Number(metrics.match(new RegExp(`tradingsystem_order_manager_${name}_seconds_sum (\\S+)`))?.[1]);
    expect(count('tick_to_order')).toBeGreaterThanOrEqual(1);
    expect(count('signal_to_order')).toBe(count('tick_to_order'));
    // Loose bounds, a loaded CI machine included: capture to order well under a second.
    expect(sum('tick_to_order') / count('tick_to_order')).toBeLessThan(1);
    // The in-process part is inside the whole; recvTs has ms resolution, hence the slack per order.
    expect(sum('signal_to_order')).toBeLessThanOrEqual(sum('tick_to_order') + count('tick_to_order') * 0.001);
  });
});
