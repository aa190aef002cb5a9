// Finding 9: any trader could name any account on an order. A key now trades for its accounts
// only (the configured one by default); another account is refused 403 naming it, before the order
// manager sees the order.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { KeyStore } from '../src/kernel/auth/keys.js';
import { loadConfig } from '../src/kernel/config.js';
import { buildService, type ServiceContext } from '../src/kernel/service.js';
import { gatewayService } from '../src/services/gateway/service.js';
import { tempHome } from './helpers/cli.js';

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
