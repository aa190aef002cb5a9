// Issue 13, findings 8 (one order budget per key) and 10 (smaller leaks): secrets in logged URLs,
// client-chosen request ids, the gateway's public /health and /metrics, duplicate key names, and
// the trusted-proxy option. Real gateway and order manager in this process; real log files.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { DuplicateKeyNameError, KeyStore } from '../src/kernel/auth/keys.js';
import { buildService, type ServiceContext, type ServiceDefinition } from '../src/kernel/service.js';
import { gatewayService } from '../src/services/gateway/service.js';
import { orderManagerService } from '../src/services/order-manager/service.js';
import { freePort, type JsonBody, runCli, tempHome, waitFor } from './helpers/cli.js';

const running: ServiceContext[] = [];
afterAll(async () => {
  for (const ctx of running.reverse()) await ctx.app.close();
});

async function start(def: ServiceDefinition, home: string, env: Record<string, string> = {}) {
  const config = loadConfig({
    env: {
      TRADINGSYSTEM_HOME: home,
      TRADINGSYSTEM__SERVICES__DATA_CAPTURE__PORT: String(await freePort()),
      ...env,
    },
    cwd: home,
  });
  const ctx = await buildService(def, { config });
  running.push(ctx);
  await ctx.app.listen({ host: '127.0.0.1', port: 0 });
  return { ctx, app: ctx.app, port: (ctx.app.server.address() as AddressInfo).port };
}

/** Every line the service wrote to its log files, parsed. */
function logLines(home: string, service: string): JsonBody[] {
  const dir = path.join(home, 'logs', service);
  return readdirSync(dir).flatMap((f) =>
    readFileSync(path.join(dir, f), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l)),
  );
}

let omPort: number;

beforeAll(async () => {
  const om = await start(orderManagerService, tempHome('ts-sec-leaks-om-'), {
    TRADINGSYSTEM__LOG__LEVEL: 'warn',
  });
  omPort = om.port;
  await waitFor(
    'broker routing',
    async () => (await om.app.inject('/health')).json().checks.broker.status === 'ok',
  );
  const limits = (await om.app.inject('/api/risk/limits')).json().data;
  const relaxed = { ...limits, maxOrdersPerWindow: 10_000, maxOpenOrders: 10_000, duplicateWindowMs: 0 };
  expect((await om.app.inject({ method: 'PUT', url: '/api/risk/limits', payload: relaxed })).statusCode).toBe(
    200,
  );
}, 60_000);

describe('finding 8: one order budget per key', () => {
  it('counts POST orders, execute and signals against one budget: the 7th order of a 6-a-minute key is 429 on every route; cancels and other keys go on', async () => {
    const home = tempHome('ts-sec-budget-');
    const { app } = await start(gatewayService, home, {
      TRADINGSYSTEM__LOG__LEVEL: 'warn',
      TRADINGSYSTEM__SERVICES__ORDER_MANAGER__PORT: String(omPort),
      TRADINGSYSTEM__SERVICES__GATEWAY__ORDERS_PER_MINUTE: '6',
    });
    const store = KeyStore.at(home);
    const trader = (await store.create('budget trader', 'trader')).key;
    const other = (await store.create('other trader', 'trader')).key;
    const call = (url: string, key: string, payload: object, method: 'POST' | 'DELETE' = 'POST') =>
      app.inject({ method, url, headers: { 'x-api-key': key }, ...(method === 'POST' && { payload }) });
    const order = { symbol: 'WINZ26', side: 'BUY', type: 'LIMIT', quantity: 1, price: 100_000 };
    const execute = { symbol: 'WINZ26', side: 'BUY', quantity: 1, price: 100_000 };
    const signal = { symbol: 'WINZ26', direction: 'HOLD', confidence: 0.5, source: 'budget' };
    const routes: [string, object][] = [
      ['/api/v1/orders', order],
      ['/api/v1/execute', execute],
      ['/api/v1/signals', signal],
    ];

    const placed: string[] = [];
    for (const [url, body] of [...routes, ...routes]) {
      const res = await call(url, trader, body);
      expect(res.statusCode, `${url}: ${res.body}`).toBeLessThan(300);
      const id = res.json().data?.id ?? res.json().orderId;
      if (url !== '/api/v1/signals') placed.push(id);
    }
    for (const [url, body] of routes) {
      const res = await call(url, trader, body);
      expect(res.statusCode, url).toBe(429);
      expect(res.json().error).toMatchObject({ code: 'RATE_LIMITED', details: { limit: 6 } });
      expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
    }
    // Another key has its own budget; cancelling has its own, so a key out of orders can still cancel.
    expect((await call('/api/v1/orders', other, order)).statusCode).toBe(201);
    expect((await call(`/api/v1/orders/${placed[0]}`, trader, {}, 'DELETE')).statusCode).toBeLessThan(300);
  });
});

describe('finding 10: smaller leaks', () => {
  let home: string;
  let gw: Awaited<ReturnType<typeof start>>;
  let viewer: string;
  const metricsToken = 'scrape-token-0123456789abcdef';

  beforeAll(async () => {
    home = tempHome('ts-sec-leaks-');
    writeFileSync(path.join(home, 'metrics-token'), `${metricsToken}\n`, { mode: 0o600 });
    gw = await start(gatewayService, home, {
      TRADINGSYSTEM__LOG__LEVEL: 'info',
      TRADINGSYSTEM__SERVICES__ORDER_MANAGER__PORT: String(omPort),
      TRADINGSYSTEM__SERVICES__GATEWAY__AUTH_FAILURES_PER_MINUTE: '3',
      // 127.0.0.1 stands for a TLS proxy in front of the gateway.
      TRADINGSYSTEM__SERVICES__GATEWAY__TRUSTED_PROXIES: '["127.0.0.1"]',
      TRADINGSYSTEM__SERVICES__GATEWAY__METRICS_TOKEN_FILE: 'metrics-token',
    });
    viewer = (await KeyStore.at(home).create('leak viewer', 'viewer')).key;
  });

  it('never writes a key or token from a query string to the log file', async () => {
    const urls = [
      `/api/v1/trades?ticker=WINZ26&apiKey=${viewer}`,
      `/api/v1/orders?api_key=${viewer}&limit=5`,
      `/nowhere?token=${viewer}&access_token=secret-access-123&password=hunter2`,
      `/api/v1/positions?${viewer}`,
    ];
    for (const url of urls) expect((await gw.app.inject({ url })).statusCode).toBeGreaterThanOrEqual(400);
    const text = readdirSync(path.join(home, 'logs', 'gateway'))
      .map((f) => readFileSync(path.join(home, 'logs', 'gateway', f), 'utf8'))
      .join('');
    for (const secret of [viewer, viewer.slice(21), 'secret-access-123', 'hunter2']) {
      expect(text).not.toContain(secret);
    }
    const logged = logLines(home, 'gateway').filter((l) => l.url);
    expect(logged.map((l) => l.url)).toEqual(
      expect.arrayContaining([
        '/api/v1/trades?ticker=WINZ26&apiKey=[redacted]',
        '/nowhere?token=[redacted]&access_token=[redacted]&password=[redacted]',
      ]),
    );
  });

  it('logs its own request id, never the one a client chose (that one only apart, sanitized)', async () => {
    const res = await gw.app.inject({
      url: '/no-such-route-for-ids',
      headers: { 'x-request-id': 'chosen-id-42"}{"level":"fatal' },
    });
    expect(res.statusCode).toBe(404);
    const ours = res.headers['x-request-id'];
    expect(ours).toMatch(/^[0-9a-f-]{36}$/);
    const line = logLines(home, 'gateway').find((l) => l.url === '/no-such-route-for-ids');
    expect(line).toMatchObject({ reqId: ours, clientReqId: 'chosen-id-42level:fatal' });
    expect(logLines(home, 'gateway').some((l) => String(l.reqId).startsWith('chosen'))).toBe(false);
  });

  it('answers /health without a key with the status (and failing check names) only: no keys file, no counts; the details need a key', async () => {
    const anonymous = await gw.app.inject('/health');
    const { checks = {}, ...rest } = anonymous.json();
    expect(rest).toEqual({ status: rest.status, service: 'gateway', pid: process.pid });
    // A failing check would be named, with its status and nothing else.
    for (const c of Object.values(checks)) expect(Object.keys(c as object)).toEqual(['status']);
    const detailed = await gw.app.inject({ url: '/health', headers: { 'x-api-key': viewer } });
    expect(detailed.json().checks.keys).toEqual({ status: 'ok', active: 1 });
    for (const body of [anonymous.body, detailed.body]) expect(body).not.toContain('keys.json');
    expect(anonymous.body).not.toContain(home);
    expect(anonymous.body).not.toContain('active');
    const wrong = await gw.app.inject({
      url: '/health',
      headers: { 'x-api-key': `tsk_0011223344556677_${'x'.repeat(43)}` },
      remoteAddress: '127.0.0.9',
    });
    expect(wrong.statusCode).toBe(401);
  });

  it('answers /metrics to loopback or the scrape token; a client forwarded by the proxy is refused', async () => {
    const get = (headers: Record<string, string>, remoteAddress = '127.0.0.1') =>
      gw.app.inject({ url: '/metrics', headers, remoteAddress });
    expect((await get({})).statusCode).toBe(200); // Prometheus on this host
    const forwarded = await get({ 'x-forwarded-for': '203.0.113.5' });
    expect(forwarded.statusCode).toBe(403);
    expect(forwarded.json().error.code).toBe('METRICS_FORBIDDEN');
    expect((await get({}, '198.51.100.7')).statusCode).toBe(403);
    expect((await get({ authorization: 'Bearer wrong-token-0123456789' }, '198.51.100.7')).statusCode).toBe(
      403,
    );
    const scraped = await get({ authorization: `Bearer ${metricsToken}` }, '198.51.100.7');
    expect(scraped.statusCode).toBe(200);
    expect(scraped.body).toContain('tradingsystem_');
    // Over a real socket too: the peer is loopback, its forwarded client is not.
    const status = (headers: Record<string, string>) =>
      new Promise<number>((resolve, reject) =>
        http
          .get({ host: '127.0.0.1', port: gw.port, path: '/metrics', headers }, (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          })
          .on('error', reject),
      );
    expect(await status({})).toBe(200);
    expect(await status({ 'x-forwarded-for': '203.0.113.5' })).toBe(403);
  });

  it('with trustedProxies, one forwarded client locked out by failed logins does not lock out another', async () => {
    const login = (key: string, client: string, remoteAddress = '127.0.0.1') =>
      gw.app.inject({
        method: 'POST',
        url: '/api/v1/session',
        payload: { key },
        headers: { 'x-forwarded-for': client },
        remoteAddress,
      });
    const bad = `tsk_0011223344556677_${'y'.repeat(43)}`;
    for (let i = 0; i < 3; i++) expect((await login(bad, '203.0.113.1')).statusCode).toBe(401);
    expect((await login(bad, '203.0.113.1')).statusCode).toBe(429);
    expect((await login(viewer, '203.0.113.1')).statusCode).toBe(429);
    expect((await login(viewer, '203.0.113.2')).statusCode).toBe(200);
    // A peer that is not a trusted proxy cannot pick its address with the header.
    for (let i = 0; i < 3; i++) await login(bad, `198.51.100.${i}`, '192.0.2.50');
    expect((await login(viewer, '198.51.100.200', '192.0.2.50')).statusCode).toBe(429);
  });

  it('without trustedProxies, X-Forwarded-For is ignored: the peer is the client', async () => {
    const plainHome = tempHome('ts-sec-noproxy-');
    const { app } = await start(gatewayService, plainHome, {
      TRADINGSYSTEM__LOG__LEVEL: 'warn',
      TRADINGSYSTEM__SERVICES__GATEWAY__AUTH_FAILURES_PER_MINUTE: '3',
    });
    const key = (await KeyStore.at(plainHome).create('plain viewer', 'viewer')).key;
    const login = (k: string, client: string) =>
      app.inject({
        method: 'POST',
        url: '/api/v1/session',
        payload: { key: k },
        headers: { 'x-forwarded-for': client },
      });
    const bad = `tsk_0011223344556677_${'z'.repeat(43)}`;
    for (let i = 0; i < 3; i++) expect((await login(bad, `203.0.113.${i}`)).statusCode).toBe(401);
    expect((await login(key, '203.0.113.99')).statusCode).toBe(429);
    // Nor is a forwarded client let past /metrics' loopback rule on its word.
    expect(
      (
        await app.inject({
          url: '/metrics',
          headers: { 'x-forwarded-for': '127.0.0.1' },
          remoteAddress: '198.51.100.7',
        })
      ).statusCode,
    ).toBe(403);
  });

  it('refuses a second active key with the same name, in the store and through the CLI', async () => {
    const keysHome = tempHome('ts-sec-names-');
    const store = KeyStore.at(keysHome);
    expect(await store.ensureInitialAdmin()).not.toBeNull();
    await expect(store.create('initial-admin', 'trader')).rejects.toThrow(DuplicateKeyNameError);
    await expect(store.create(' Initial-Admin ', 'trader')).rejects.toThrow(/already named/);
    const desk = await store.create('desk', 'trader');
    await expect(store.create('desk', 'viewer')).rejects.toThrow(/already named 'desk'/);
    // A revoked key's name is free again.
    await store.revoke(desk.record.id);
    expect((await store.create('desk', 'viewer')).record.name).toBe('desk');

    const cli = await runCli(['keys', 'create', '--role', 'trader', '--name', 'initial-admin'], {
      ...process.env,
      TRADINGSYSTEM_HOME: keysHome,
    });
    expect(cli.code).toBe(2);
    expect(cli.stderr).toMatch(/already named 'initial-admin'/);
    expect(cli.stdout).not.toMatch(/tsk_/);
    await store.load();
    expect(store.list().filter((k) => k.name === 'initial-admin')).toHaveLength(1);
  });
});
