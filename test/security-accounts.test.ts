// Finding 9: any trader could name any account on an order. A key now trades for its accounts
// only (the configured one by default); another account is refused 403 naming it, before the order
// manager sees the order.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { KeyStore } from '../src/kernel/auth/keys.js';
import { buildService, type ServiceContext } from '../src/kernel/service.js';
import { gatewayService } from '../src/services/gateway/service.js';
import { orderManagerService } from '../src/services/order-manager/service.js';
import { freePort, tempHome, waitFor } from './helpers/cli.js';

const closers: (() => unknown)[] = [];
afterAll(async () => {
  for (const close of closers.reverse()) await close();
});

async function upstream() {
  const seen: string[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      seen.push(`${req.method} ${req.url} ${body}`);
      res.statusCode = req.method === 'POST' ? 201 : 200;
      res.setHeader('content-type', 'application/json');
      res.end('{"data":{}}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(() => server.close());
  return { seen, port: String((server.address() as AddressInfo).port) };
}

async function gateway(env: Record<string, string> = {}) {
  const ups = [await upstream(), await upstream(), await upstream(), await upstream()];
  const home = tempHome('ts-sec-acct-');
  const config = loadConfig({
    env: {
      TRADINGSYSTEM_HOME: home,
      TRADINGSYSTEM__LOG__LEVEL: 'fatal',
      TRADINGSYSTEM__SERVICES__DATA_CAPTURE__PORT: ups[0]?.port ?? '',
      TRADINGSYSTEM__SERVICES__IDEA_BANK__PORT: ups[1]?.port ?? '',
      TRADINGSYSTEM__SERVICES__DOCS__PORT: ups[2]?.port ?? '',
      TRADINGSYSTEM__SERVICES__ORDER_MANAGER__PORT: ups[3]?.port ?? '',
      TRADINGSYSTEM__SERVICES__ORDER_MANAGER__ACCOUNT: 'ACC-MAIN',
      TRADINGSYSTEM__SERVICES__STREAM__ENABLED: 'false',
      ...env,
    },
    cwd: home,
  });
  const ctx: ServiceContext = await buildService(gatewayService, { config });
  closers.push(() => ctx.app.close());
  await ctx.app.ready();
  return { app: ctx.app, keys: KeyStore.at(home), om: ups[3], ideas: ups[1] };
}

const order = (account?: string) => ({
  symbol: 'WINZ26',
  side: 'BUY',
  type: 'MARKET',
  quantity: 1,
  ...(account && { account }),
});

describe('accounts per key', () => {
  it('a trader key orders for its own account and is refused 403 naming another', async () => {
    const gw = await gateway();
    const trader = (await gw.keys.create('trader one', 'trader')).key;
    const post = (url: string, payload: object, key = trader) =>
      gw.app.inject({ method: 'POST', url, headers: { 'x-api-key': key }, payload });

    const other = await post('/api/v1/orders', order('ACC-OTHER'));
    expect(other.statusCode, other.body).toBe(403);
    expect(other.json().error).toMatchObject({
      code: 'ACCOUNT_FORBIDDEN',
      details: { field: 'account', account: 'ACC-OTHER', allowed: ['ACC-MAIN'] },
    });
    expect(other.json().error.message).toContain('ACC-OTHER');
    expect(gw.om?.seen).toEqual([]);

    expect((await post('/api/v1/orders', order('ACC-MAIN'))).statusCode).toBe(201);
    expect((await post('/api/v1/orders', order())).statusCode).toBe(201);
    expect(gw.om?.seen).toHaveLength(2);
  });

  it('a key given other accounts uses those only; * (admins) may use any; keys files without the field get the configured one', async () => {
    const gw = await gateway();
    const desk = (await gw.keys.create('desk', 'trader', ['ACC-DESK'])).key;
    const admin = (await gw.keys.create('boss', 'admin', ['*'])).key;
    const legacy = (await gw.keys.create('old admin', 'admin')).key; // as written before accounts existed
    const post = (payload: object, key: string, url = '/api/v1/orders') =>
      gw.app.inject({ method: 'POST', url, headers: { 'x-api-key': key }, payload });

    expect((await post(order('ACC-DESK'), desk)).statusCode).toBe(201);
    // Its orders without an account, execute and signals trade on the configured account: refused.
    expect((await post(order(), desk)).json().error.details.account).toBe('ACC-MAIN');
    expect(
      (await post({ symbol: 'WINZ26', side: 'BUY', quantity: 1, price: -1 }, desk, '/api/v1/execute'))
        .statusCode,
    ).toBe(403);
    expect((await post(order('ACC-ANY'), admin)).statusCode).toBe(201);
    expect((await post(order('ACC-ANY'), legacy)).statusCode).toBe(403);
    expect((await post(order('ACC-MAIN'), legacy)).statusCode).toBe(201);

    await expect(gw.keys.setAccounts('nope', ['X'])).resolves.toBe(false);
    await expect(gw.keys.create('bad', 'trader', ['*', 'ACC-1'])).rejects.toThrow(/stands alone/);
  });
});

/**
 * The gateway in front of a real order manager on the simulator, which holds one account (SIM-001,
 * the configured one): orders for any other account are rejected by the venue and never work.
 */
async function gatewayWithOrderManager() {
  const omHome = tempHome('ts-sec-acct-om-');
  const omConfig = loadConfig({
    env: {
      TRADINGSYSTEM_HOME: omHome,
      TRADINGSYSTEM__LOG__LEVEL: 'fatal',
      // Not running: no last prices, so no price band; the simulator still accepts limits.
      TRADINGSYSTEM__SERVICES__DATA_CAPTURE__PORT: String(await freePort()),
    },
    cwd: omHome,
  });
  const om = await buildService(orderManagerService, { config: omConfig });
  closers.push(() => om.app.close());
  await om.app.listen({ host: '127.0.0.1', port: 0 });
  await waitFor(
    'broker routing',
    async () => (await om.app.inject('/health')).json().checks.broker.status === 'ok',
  );
  const home = tempHome('ts-sec-acct-gw-');
  const config = loadConfig({
    env: {
      TRADINGSYSTEM_HOME: home,
      TRADINGSYSTEM__LOG__LEVEL: 'fatal',
      TRADINGSYSTEM__SERVICES__ORDER_MANAGER__PORT: String((om.app.server.address() as AddressInfo).port),
      TRADINGSYSTEM__SERVICES__STREAM__ENABLED: 'false',
    },
    cwd: home,
  });
  const gw = await buildService(gatewayService, { config });
  closers.push(() => gw.app.close());
  await gw.app.ready();
  const call = async (
    key: string,
    method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
    url: string,
    payload?: object,
  ) => {
    const res = await gw.app.inject({
      method,
      url,
      headers: { 'x-api-key': key },
      ...(payload && { payload }),
    });
    return { status: res.statusCode, body: res.json() };
  };
  return { keys: KeyStore.at(home), call };
}

describe('accounts per key: changing and cancelling orders (real order manager)', () => {
  it("a key can neither change nor cancel another account's order, and cancel-all cancels its own accounts' only", async () => {
    const { keys, call } = await gatewayWithOrderManager();
    const admin = (await keys.create('boss', 'admin', ['*'])).key;
    const trader = (await keys.create('main desk', 'trader')).key; // the configured account, SIM-001
    const desk = (await keys.create('other desk', 'trader', ['ACC-DESK'])).key;
    const working = async (price: number) => {
      const placed = await call(trader, 'POST', '/api/v1/orders', {
        ...order(),
        type: 'LIMIT',
        price,
        timeInForce: 'GTC',
      });
      expect(placed.status, JSON.stringify(placed.body)).toBe(201);
      const id: string = placed.body.data.id;
      return waitFor(`order ${id} working`, async () => {
        const o = (await call(trader, 'GET', `/api/v1/orders/${id}`)).body.data;
        return o.status === 'ACCEPTED' ? id : null;
      });
    };
    const [first, second, third] = [await working(100_000), await working(100_005), await working(100_010)];

    // Another account's order: refused 403 naming the account, and the order is untouched.
    const modify = await call(desk, 'PATCH', `/api/v1/orders/${first}`, { price: 99_000 });
    expect(modify.status).toBe(403);
    expect(modify.body.error).toMatchObject({
      code: 'ACCOUNT_FORBIDDEN',
      details: { account: 'SIM-001', allowed: ['ACC-DESK'] },
    });
    const cancel = await call(desk, 'DELETE', `/api/v1/orders/${first}`);
    expect(cancel.status).toBe(403);
    expect(cancel.body.error.code).toBe('ACCOUNT_FORBIDDEN');
    expect((await call(admin, 'GET', `/api/v1/orders/${first}`)).body.data).toMatchObject({
      status: 'ACCEPTED',
      price: 100_000,
    });
    // An order that does not exist is the order manager's 404.
    expect((await call(desk, 'DELETE', '/api/v1/orders/no-such-order')).status).toBe(404);

    // cancel-all: naming another account is refused; unnamed, it is narrowed to the key's accounts.
    const named = await call(desk, 'POST', '/api/v1/orders/cancel-all', { accounts: ['SIM-001'] });
    expect(named.status).toBe(403);
    expect(named.body.error.details.account).toBe('SIM-001');
    expect((await call(desk, 'POST', '/api/v1/orders/cancel-all')).status).toBe(400); // no body
    const mine = await call(desk, 'POST', '/api/v1/orders/cancel-all', {});
    expect(mine.status).toBe(200);
    expect(mine.body.count).toBe(0);
    for (const id of [first, second, third]) {
      expect((await call(admin, 'GET', `/api/v1/orders/${id}`)).body.data.status).toBe('ACCEPTED');
    }

    // The account's own key changes and cancels; its cancel-all takes the rest.
    expect((await call(trader, 'PATCH', `/api/v1/orders/${first}`, { price: 99_000 })).status).toBe(200);
    expect((await call(trader, 'DELETE', `/api/v1/orders/${first}`)).status).toBe(200);
    const rest = await call(trader, 'POST', '/api/v1/orders/cancel-all', {});
    expect(rest.body.data.map((o: { id: string }) => o.id).sort()).toEqual([second, third].sort());
  });
});
