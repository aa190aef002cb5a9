import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { KeyStore, type Role } from '../src/kernel/auth/keys.js';
import { buildService, type ServiceContext, type ServiceDefinition } from '../src/kernel/service.js';
import { COMPAT_IN_GROUPS, COMPAT_ROUTES, registerCompatRoutes } from '../src/services/gateway/compat.js';
import { ROUTE_GROUPS } from '../src/services/gateway/routes.js';
import { gatewayService } from '../src/services/gateway/service.js';
import { ideaBankService } from '../src/services/idea-bank/service.js';
import { orderManagerService } from '../src/services/order-manager/service.js';
import { freePort, tempHome, waitFor } from './helpers/cli.js';

// biome-ignore lint/suspicious/noExplicitAny: test reads of JSON bodies
type Json = any;
type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
type App = ServiceContext['app'];

const running: ServiceContext[] = [];
const ports: Record<string, number> = {};

async function upstream(def: ServiceDefinition, env: Record<string, string> = {}) {
  const home = tempHome('ts-gwo-up-');
  const config = loadConfig({
    env: { TRADINGSYSTEM_HOME: home, TRADINGSYSTEM__LOG__LEVEL: 'warn', ...env },
    cwd: home,
  });
  const ctx = await buildService(def, { config });
  running.push(ctx);
  await ctx.app.listen({ host: '127.0.0.1', port: 0 });
  return { ctx, port: (ctx.app.server.address() as AddressInfo).port };
}

/** A gateway in this process pointed at the order manager and the idea bank; `env` overrides. */
async function gateway(env: Record<string, string> = {}) {
  const home = tempHome('ts-gwo-');
  const config = loadConfig({
    env: {
      TRADINGSYSTEM_HOME: home,
      TRADINGSYSTEM__LOG__LEVEL: 'warn',
      TRADINGSYSTEM__SERVICES__ORDER_MANAGER__PORT: String(ports['order-manager']),
      TRADINGSYSTEM__SERVICES__IDEA_BANK__PORT: String(ports['idea-bank']),
      TRADINGSYSTEM__SERVICES__GATEWAY__AUTH_FAILURES_PER_MINUTE: '1000',
      TRADINGSYSTEM__SERVICES__GATEWAY__UPSTREAM_TIMEOUT_MS: '2000',
      ...env,
    },
    cwd: home,
  });
  const ctx = await buildService(gatewayService, { config });
  running.push(ctx);
  const store = KeyStore.at(home);
  const key = async (role: Role, name = `${role} test`) => (await store.create(name, role)).key;
  const keys = { viewer: await key('viewer'), trader: await key('trader'), admin: await key('admin') };
  const call = async (method: Method, url: string, k: string | undefined, payload?: object) => {
    const res = await ctx.app.inject({
      method,
      url,
      ...(payload !== undefined && { payload }),
      headers: k === undefined ? {} : { 'x-api-key': k },
    });
    return { status: res.statusCode, body: (res.body ? res.json() : null) as Json, raw: res.body };
  };
  return { app: ctx.app as App, key, keys, call };
}

const farLimit = {
  symbol: 'WINZ26',
  side: 'BUY',
  type: 'LIMIT',
  quantity: 1,
  price: 100_000,
  timeInForce: 'GTC',
};

beforeAll(async () => {
  const om = await upstream(orderManagerService, {
    // Not running: no last prices, so no price band; the simulator still fills.
    TRADINGSYSTEM__SERVICES__DATA_CAPTURE__PORT: String(await freePort()),
  });
  ports['order-manager'] = om.port;
  await waitFor(
    'broker routing',
    async () => (await om.ctx.app.inject('/health')).json().checks.broker.status === 'ok',
  );
  // Room for many orders; maxOrderQty (5 for futures) stays, for the risk rejection.
  const limits = (await om.ctx.app.inject('/api/risk/limits')).json().data;
  const relaxed = {
    ...limits,
    future: { ...limits.future, maxPosition: 1_000, maxNotional: 1e9 },
    maxOrdersPerWindow: 10_000,
    maxOpenOrders: 10_000,
    duplicateWindowMs: 0,
  };
  const put = await om.ctx.app.inject({ method: 'PUT', url: '/api/risk/limits', payload: relaxed });
  expect(put.statusCode, put.body).toBe(200);
  ports['idea-bank'] = (await upstream(ideaBankService)).port;
});
afterAll(async () => {
  for (const ctx of running.reverse()) await ctx.app.close();
});

async function until(
  call: Awaited<ReturnType<typeof gateway>>['call'],
  k: string,
  id: string,
  status: string,
) {
  return waitFor(`order ${id} ${status}`, async () => {
    const o = (await call('GET', `/api/v1/orders/${id}`, k)).body.data;
    return o.status === status ? o : null;
  });
}

const ROLES: Role[] = ['viewer', 'trader', 'admin'];
const below = (role: Role) => ROLES.slice(0, ROLES.indexOf(role));

describe('gateway: order manager routes', () => {
  it('answers every order route 401 without a key, 403 for a lower role, and passes the right role through', async () => {
    const { keys, call } = await gateway();
    const placed = async (body: object) => {
      const r = await call('POST', '/api/v1/orders', keys.trader, body);
      expect(r.status, r.raw).toBe(201);
      return until(call, keys.trader, r.body.data.id, body === farLimit ? 'ACCEPTED' : 'FILLED');
    };
    const toModify = await placed(farLimit);
    const toCancel = await placed(farLimit);
    await placed({ symbol: 'WINZ26', side: 'BUY', type: 'MARKET', quantity: 1 });
    const limits = (await call('GET', '/api/v1/risk/limits', keys.viewer)).body.data;
    const signal = { symbol: 'WINZ26', direction: 'HOLD', confidence: 0.5, source: 'matrix' };
    const execute = { symbol: 'WINZ26', side: 'BUY', quantity: 1, price: 100_000 };

    // [method, route template, concrete url, role, body, expected status]; kill switch before its reset.
    const matrix: [Method, string, string, Role, object | undefined, number][] = [
      ['GET', '/api/v1/orders', '/api/v1/orders?status=ACCEPTED&limit=5', 'viewer', undefined, 200],
      ['GET', '/api/v1/orders/:id', `/api/v1/orders/${toModify.id}`, 'viewer', undefined, 200],
      ['POST', '/api/v1/orders', '/api/v1/orders', 'trader', farLimit, 201],
      ['PATCH', '/api/v1/orders/:id', `/api/v1/orders/${toModify.id}`, 'trader', { price: 100_005 }, 200],
      ['DELETE', '/api/v1/orders/:id', `/api/v1/orders/${toCancel.id}`, 'trader', undefined, 200],
      ['GET', '/api/v1/positions', '/api/v1/positions', 'viewer', undefined, 200],
      ['GET', '/api/v1/positions/:symbol', '/api/v1/positions/WINZ26', 'viewer', undefined, 200],
      ['GET', '/api/v1/pnl', '/api/v1/pnl', 'viewer', undefined, 200],
      ['GET', '/api/v1/risk/limits', '/api/v1/risk/limits', 'viewer', undefined, 200],
      ['PUT', '/api/v1/risk/limits', '/api/v1/risk/limits', 'admin', limits, 200],
      ['GET', '/api/v1/risk/state', '/api/v1/risk/state', 'viewer', undefined, 200],
      [
        'PUT',
        '/api/v1/risk/state',
        '/api/v1/risk/state',
        'admin',
        { state: 'ACTIVE', reason: 'matrix' },
        200,
      ],
      ['POST', '/api/v1/signals', '/api/v1/signals', 'trader', signal, 201],
      ['GET', '/api/v1/signals', '/api/v1/signals?symbol=WINZ26&limit=5', 'viewer', undefined, 200],
      ['GET', '/api/v1/signals/latest', '/api/v1/signals/latest?limit=5', 'viewer', undefined, 200],
      ['POST', '/api/v1/execute', '/api/v1/execute', 'trader', execute, 202],
      ['GET', '/api/v1/audit', '/api/v1/audit?limit=5', 'viewer', undefined, 200],
      ['POST', '/api/v1/risk/kill-switch', '/api/v1/risk/kill-switch', 'trader', { reason: 'matrix' }, 200],
      [
        'POST',
        '/api/v1/risk/kill-switch/reset',
        '/api/v1/risk/kill-switch/reset',
        'admin',
        { reason: 'ok' },
        200,
      ],
      ['POST', '/api/v1/orders/cancel-all', '/api/v1/orders/cancel-all', 'trader', { reason: 'matrix' }, 200],
      // Reaches the order manager, which refuses to settle an order that is not UNKNOWN.
      [
        'POST',
        '/api/v1/orders/:id/settle',
        `/api/v1/orders/${toModify.id}/settle`,
        'admin',
        { status: 'CANCELED', reason: 'matrix' },
        409,
      ],
      ['GET', '/api/v1/reconciliation', '/api/v1/reconciliation', 'viewer', undefined, 200],
      ['POST', '/api/v1/reconciliation', '/api/v1/reconciliation', 'admin', {}, 200],
    ];
    const declared = ROUTE_GROUPS.filter((g) => g.service === 'order-manager').flatMap((g) =>
      g.routes.map((r) => `${r.method} ${g.from}${r.path}`),
    );
    const compat = Object.values(COMPAT_ROUTES).map((r) => `${r.method} ${r.path}`);
    expect(matrix.map(([m, t]) => `${m} ${t}`).sort()).toEqual([...declared, ...compat].sort());

    for (const [method, , url, role, payload, status] of matrix) {
      const what = `${method} ${url}`;
      for (const k of [undefined, '', 'tsk_0123456789abcdef_nope', `${keys.admin}x`]) {
        const res = await call(method, url, k, payload);
        expect(res.status, `${what} key=${k}`).toBe(401);
        expect(res.body.error.code).toBe('UNAUTHORIZED');
      }
      for (const lower of below(role)) {
        const res = await call(method, url, keys[lower], payload);
        expect(res.status, `${what} as ${lower}`).toBe(403);
        expect(res.body.error).toMatchObject({ code: 'FORBIDDEN', details: { required: role } });
      }
      const res = await call(method, url, keys[role], payload);
      expect(res.status, `${what} as ${role}: ${res.raw}`).toBe(status);
      if (method === 'GET') expect((await call(method, url, keys.admin)).status, what).toBe(status);
    }
    const state = await call('GET', '/api/v1/risk/state', keys.viewer);
    expect(state.body.data).toMatchObject({ tradingState: 'ACTIVE', killSwitch: { active: false } });
  });

  it("records the key's name and id as the actor, whatever x-actor header the client sends", async () => {
    const { app, key, keys, call } = await gateway();
    const desk = await key('trader', 'desk bot');
    const res = await app.inject({
      method: 'POST',
      url: '/api/v1/orders',
      payload: farLimit,
      headers: { 'x-api-key': desk, 'x-actor': 'someone-else' },
    });
    expect(res.statusCode, res.body).toBe(201);
    const id = res.json().data.id as string;
    const audit = (await call('GET', '/api/v1/audit?action=order.submit&limit=1000', keys.viewer)).body.data;
    expect(audit.filter((e: Json) => e.target === id)).toEqual([
      expect.objectContaining({ actor: `key:desk bot#${desk.slice(4, 20)}`, action: 'order.submit' }),
    ]);
    expect(JSON.stringify(audit)).not.toContain('someone-else');

    // A name that is not plain text is named by the key id.
    const odd = await key('trader', 'mesa de operações');
    await until(call, keys.viewer, id, 'ACCEPTED');
    const id2 = (await call('DELETE', `/api/v1/orders/${id}`, odd)).body.data.id as string;
    const cancels = (await call('GET', '/api/v1/audit?action=order.cancel&limit=1000', keys.viewer)).body
      .data;
    const entry = cancels.find((e: Json) => e.target === id2);
    expect(entry.actor).toMatch(/^key:[0-9a-f]{16}$/);
  });

  it('executes market and limit orders in the original shape: 202, 403 on a risk rejection, 400 on a bad body', async () => {
    const { keys, call } = await gateway();
    const exec = (body: object) => call('POST', '/api/v1/execute', keys.trader, body);
    const market = await exec({ symbol: 'WINZ26', side: 'BUY', quantity: 1, price: -1 });
    expect(market.status, market.raw).toBe(202);
    expect(Object.keys(market.body).sort()).toEqual(['message', 'orderId', 'status']);
    expect(market.body).toMatchObject({ orderId: expect.any(String), status: 'PENDING_NEW' });
    const mo = (await call('GET', `/api/v1/orders/${market.body.orderId}`, keys.viewer)).body.data;
    expect(mo).toMatchObject({ type: 'MARKET', side: 'BUY', quantity: 1 });
    expect(mo.price ?? null).toBeNull();

    const limit = await exec({ symbol: 'WINZ26', side: 'SELL', quantity: 2, price: 200_000 });
    expect(limit.status, limit.raw).toBe(202);
    const lo = (await call('GET', `/api/v1/orders/${limit.body.orderId}`, keys.viewer)).body.data;
    expect(lo).toMatchObject({ type: 'LIMIT', side: 'SELL', quantity: 2, price: 200_000 });
    const typed = await exec({
      symbol: 'WINZ26',
      side: 'BUY',
      quantity: 1,
      price: 128_000,
      orderType: 'MARKET',
    });
    const to = (await call('GET', `/api/v1/orders/${typed.body.orderId}`, keys.viewer)).body.data;
    expect(to.type).toBe('MARKET');

    const risky = await exec({ symbol: 'WINZ26', side: 'BUY', quantity: 6, price: -1 });
    expect(risky.status, risky.raw).toBe(403);
    expect(risky.body).toEqual({
      code: 'RISK_LIMIT_EXCEEDED',
      message: expect.stringContaining('exceeds the maximum of 5'),
      riskCode: 'RISK_MAX_ORDER_QTY',
      details: expect.any(Object),
    });
    const tick = await exec({ symbol: 'WINZ26', side: 'BUY', quantity: 1, price: 100_001 });
    expect(tick.status).toBe(403);
    expect(tick.body.riskCode).toBe('RISK_TICK_SIZE');

    for (const bad of [
      { symbol: 'WINZ26', side: 'BUY', quantity: 1 },
      { symbol: 'WINZ26', side: 'BUY', quantity: 1, price: 0 },
      { symbol: 'WINZ26', side: 'BUY', quantity: 1, price: -2 },
      { symbol: 'WINZ26', side: 'HOLD', quantity: 1, price: -1 },
      { symbol: 'WINZ26', side: 'BUY', quantity: '1', price: -1 },
      { symbol: 'WINZ26', side: 'BUY', quantity: 1, price: -1, orderType: 'STOP' },
      { symbol: 'WINZ26', side: 'BUY', quantity: 1, price: -1, extra: true },
    ]) {
      const res = await exec(bad);
      expect(res.status, JSON.stringify(bad)).toBe(400);
      expect(res.body.error.code).toBe('VALIDATION_ERROR');
    }
  });

  it('answers one position by symbol, 404 when flat or unknown', async () => {
    const { keys, call } = await gateway();
    for (const side of ['BUY', 'SELL']) {
      const r = await call('POST', '/api/v1/execute', keys.trader, {
        symbol: 'WDOZ26',
        side,
        quantity: 1,
        price: -1,
      });
      expect(r.status, r.raw).toBe(202);
      await until(call, keys.viewer, r.body.orderId, 'FILLED');
    }
    await call('POST', '/api/v1/execute', keys.trader, {
      symbol: 'WINZ26',
      side: 'BUY',
      quantity: 1,
      price: -1,
    });
    const win = await waitFor('WINZ26 position', async () => {
      const r = await call('GET', '/api/v1/positions/WINZ26', keys.viewer);
      return r.status === 200 ? r.body : null;
    });
    const all = (await call('GET', '/api/v1/positions', keys.viewer)).body.data;
    expect(win.data).toEqual(all.find((p: Json) => p.symbol === 'WINZ26'));
    expect(all.find((p: Json) => p.symbol === 'WDOZ26')).toMatchObject({ quantity: 0 });
    for (const symbol of ['WDOZ26', 'PETR4']) {
      const r = await call('GET', `/api/v1/positions/${symbol}`, keys.viewer);
      expect(r.status, symbol).toBe(404);
      expect(r.body.error).toMatchObject({ code: 'NOT_FOUND', details: { symbol } });
    }
    expect((await call('GET', '/api/v1/positions/WINZ26?account=OTHER', keys.viewer)).status).toBe(404);
    expect((await call('GET', '/api/v1/positions/winz26', keys.viewer)).status).toBe(400);
  });

  it('asks which account when several hold the symbol, and reports an unreadable upstream answer', async () => {
    let body = '';
    const fake = http.createServer((_req, res) =>
      res.writeHead(200, { 'content-type': 'application/json' }).end(body),
    );
    await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve));
    try {
      const port = String((fake.address() as AddressInfo).port);
      const { keys, call } = await gateway({ TRADINGSYSTEM__SERVICES__ORDER_MANAGER__PORT: port });
      const held = (account: string, quantity: number) => ({ account, symbol: 'WINZ26', quantity });
      body = JSON.stringify({ data: [held('A', 1), held('B', -2), held('C', 0)] });
      const both = await call('GET', '/api/v1/positions/WINZ26', keys.viewer);
      expect(both.status).toBe(409);
      expect(both.body.error).toMatchObject({
        code: 'AMBIGUOUS_POSITION',
        details: { accounts: ['A', 'B'] },
      });
      const one = await call('GET', '/api/v1/positions/WINZ26?account=B', keys.viewer);
      expect(one).toMatchObject({ status: 200, body: { data: held('B', -2) } });
      expect((await call('GET', '/api/v1/positions/WINZ26?account=C', keys.viewer)).status).toBe(404);
      body = 'not json';
      const bad = await call('GET', '/api/v1/positions/WINZ26', keys.viewer);
      expect(bad.status).toBe(502);
      expect(bad.body.error).toMatchObject({
        code: 'UPSTREAM_BAD_ANSWER',
        details: { service: 'order-manager' },
      });
    } finally {
      fake.close();
    }
  });

  it('answers the latest signals with the same data as the signals list', async () => {
    const { keys, call } = await gateway();
    const signal = { symbol: 'PETR4', direction: 'HOLD', confidence: 0.3, source: 'latest-test' };
    const sent = await call('POST', '/api/v1/signals', keys.trader, signal);
    expect(sent.status, sent.raw).toBe(201);
    const latest = await call('GET', '/api/v1/signals/latest?limit=1&symbol=PETR4', keys.viewer);
    expect(latest.status).toBe(200);
    expect(latest.body.data).toEqual([
      expect.objectContaining({
        id: sent.body.data.signal.id,
        actor: expect.stringMatching(/^key:trader test#[0-9a-f]{16}$/),
      }),
    ]);
    expect(latest.body).toEqual(
      (await call('GET', '/api/v1/signals?limit=1&symbol=PETR4', keys.viewer)).body,
    );
    const bad = await call('GET', '/api/v1/signals/latest?limit=0', keys.viewer);
    expect(bad.status).toBe(400);
  });

  it('names a down order manager in a 503 on every order route while the idea bank still answers', async () => {
    const { keys, call } = await gateway({
      TRADINGSYSTEM__SERVICES__ORDER_MANAGER__PORT: String(await freePort()),
    });
    const down: [Method, string, object?][] = [
      ['GET', '/api/v1/orders'],
      ['POST', '/api/v1/orders', farLimit],
      ['POST', '/api/v1/risk/kill-switch', { reason: 'down' }],
      ['GET', '/api/v1/positions/WINZ26'],
      ['GET', '/api/v1/signals/latest'],
      ['POST', '/api/v1/execute', { symbol: 'WINZ26', side: 'BUY', quantity: 1, price: -1 }],
    ];
    for (const [method, url, body] of down) {
      const started = Date.now();
      const res = await call(method, url, keys.admin, body);
      expect(Date.now() - started, url).toBeLessThan(1_000);
      expect(res.status, `${method} ${url}`).toBe(503);
      expect(res.body.error).toMatchObject({
        code: 'UPSTREAM_UNAVAILABLE',
        message: 'order-manager is not answering',
        details: { service: 'order-manager' },
      });
    }
    expect((await call('GET', '/api/v1/ideas', keys.viewer)).status).toBe(200);
  });

  it('lists the order routes and the compatibility routes in the OpenAPI document, each once', async () => {
    const { app } = await gateway();
    const doc = (await app.inject('/api/v1/openapi.json')).json();
    const paths = [
      ...ROUTE_GROUPS.filter((g) => g.service === 'order-manager').flatMap((g) =>
        g.routes.map((r) => [r.method, g.from + r.path] as const),
      ),
      ...Object.values(COMPAT_ROUTES).map((r) => [r.method, r.path] as const),
    ];
    for (const [method, p] of paths) {
      const op = doc.paths[p.replace(/:(\w+)/g, '{$1}')]?.[method.toLowerCase()];
      expect(op, `${method} ${p}`).toBeDefined();
      expect(op.security).toEqual([{ apiKey: [] }, { session: [] }]);
    }
    expect(doc.paths['/api/v1/execute'].post.tags).toEqual(['compatibility']);
    // The original gateway's paths that are plain group routes are declared there, once.
    const declared = ROUTE_GROUPS.flatMap((g) => g.routes.map((r) => `${r.method} ${g.from}${r.path}`));
    for (const r of COMPAT_IN_GROUPS)
      expect(
        declared.filter((d) => d === r),
        r,
      ).toHaveLength(1);
    expect(() =>
      registerCompatRoutes(
        undefined as never,
        undefined as never,
        { read: 1, order: 1 },
        undefined as never,
        [],
      ),
    ).toThrow(/missing from the route groups/);
  });
});
