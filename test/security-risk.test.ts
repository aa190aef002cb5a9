// Finding 7: `1e309` as a risk limit. The API refuses it naming the field and the limits stay as
// they were; a journal holding an invalid limit (null, as JSON writes Infinity) makes the order
// manager refuse every order with /health down naming the problem, until valid limits are put back.
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { buildService, type ServiceContext } from '../src/kernel/service.js';
import { orderManagerService } from '../src/services/order-manager/service.js';
import { freePort, tempHome, waitFor } from './helpers/cli.js';
import { call, win } from './helpers/orders.js';

const running: ServiceContext[] = [];
afterEach(async () => {
  for (const ctx of running.splice(0)) await ctx.app.close();
});

async function start(home: string) {
  const config = loadConfig({
    env: {
      TRADINGSYSTEM_HOME: home,
      TRADINGSYSTEM__LOG__LEVEL: 'fatal',
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

describe('risk limits', () => {
  it('refuses 1e309 (and any limit past its ceiling) naming the field; the limits stay and orders are still checked', async () => {
    const app = await start(tempHome('ts-sec-risk-'));
    const before = (await call(app, 'GET', '/api/risk/limits')).body.data;
    for (const [field, raw] of [
      ['dailyLossLimit', '1e309'],
      ['maxOpenOrders', '1e309'],
      ['haltLossMultiplier', '-1e309'],
      ['future', '{"maxOrderQty":1e309}'],
    ] as const) {
      const text = JSON.stringify({ ...before, [field]: '@@' }).replace('"@@"', raw);
      const res = await app.inject({
        method: 'PUT',
        url: '/api/risk/limits',
        headers: { 'content-type': 'application/json' },
        payload: text,
      });
      expect(res.statusCode, res.body).toBe(400);
      expect(res.json().error.details.field).toMatch(new RegExp(`^${field}`));
    }
    const huge = await call(app, 'PUT', '/api/risk/limits', { ...before, dailyLossLimit: 1e300 });
    expect(huge.status).toBe(400);
    expect(huge.body.error.details.field).toBe('dailyLossLimit');
    expect((await call(app, 'GET', '/api/risk/limits')).body.data).toEqual(before);
    // Still checked: an order above maxOrderQty is refused by risk.
    const tooBig = await call(app, 'POST', '/api/orders', win({ quantity: before.future.maxOrderQty + 1 }));
    expect(tooBig.status).toBe(422);
    expect(tooBig.body.error.code).toBe('RISK_MAX_ORDER_QTY');
  });

  it('a journal holding an invalid limit refuses every order, reports /health down with the reason, until fixed', async () => {
    const home = tempHome('ts-sec-risk-journal-');
    let app = await start(home);
    const limits = (await call(app, 'GET', '/api/risk/limits')).body.data;
    for (const ctx of running.splice(0)) await ctx.app.close();

    // As main journaled `1e309` (JSON.stringify writes Infinity as null), and a hand edit might.
    const db = new Database(path.join(home, 'db', 'orders.sqlite'));
    const seq = (db.prepare('SELECT COALESCE(MAX(seq), 0) + 1 AS s FROM events').get() as { s: number }).s;
    db.prepare('INSERT INTO events (seq, ts, type, order_id, data) VALUES (?, ?, ?, NULL, ?)').run(
      seq,
      Date.now(),
      'risk.limits',
      JSON.stringify({ limits: { ...limits, dailyLossLimit: null } }),
    );
    db.close();

    app = await start(home);
    const health = await app.inject('/health');
    expect(health.statusCode).toBe(503);
    const risk = health.json().checks.risk;
    expect(risk.status).toBe('down');
    expect(risk.detail).toContain('dailyLossLimit');
    expect(risk.runbook).toBe('runbooks/risk-limits-invalid');
    const refused = await call(app, 'POST', '/api/orders', win());
    expect(refused.status).toBe(422);
    expect(refused.body.error.code).toBe('RISK_LIMITS_INVALID');
    expect(refused.body.error.message).toContain('dailyLossLimit');
    // Never "R$null": the limits in force are the last valid ones.
    expect((await call(app, 'GET', '/api/risk/limits')).body.data.dailyLossLimit).toBe(limits.dailyLossLimit);

    // The runbook's fix: put valid limits back; trading resumes without a restart.
    expect((await call(app, 'PUT', '/api/risk/limits', limits)).status).toBe(200);
    expect((await app.inject('/health')).json().checks.risk.status).toBe('ok');
    expect((await call(app, 'POST', '/api/orders', win())).status).toBe(201);
  }, 60_000);
});
