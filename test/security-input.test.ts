// Finding 7 and 9 of the security review: non-finite numbers, JSON nested thousands deep and
// oversized values on every route of every service (the chaos catalogue), an absolute-form request
// target, and query dates outside the supported range. Each attack must get a 4xx naming the field,
// never a 5xx or a stack trace, and leave the service healthy.
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GATEWAY_ROUTES, INTERNAL_ROUTES, type RouteCase } from '../chaos/lib/malformed.js';
import { loadConfig } from '../src/config.js';
import { KeyStore } from '../src/kernel/auth/keys.js';
import { buildService, type ServiceContext, type ServiceDefinition } from '../src/kernel/service.js';
import { dataCaptureService } from '../src/services/data-capture/service.js';
import { docsService } from '../src/services/docs/service.js';
import { ROUTE_GROUPS } from '../src/services/gateway/routes.js';
import { gatewayService } from '../src/services/gateway/service.js';
import { ideaBankService } from '../src/services/idea-bank/service.js';
import { orderManagerService } from '../src/services/order-manager/service.js';
import { freePort, ROOT, tempHome, waitFor } from './helpers/cli.js';

const running: ServiceContext[] = [];
const apps = new Map<string, ServiceContext['app']>();
const servers: http.Server[] = [];

async function inProcess(def: ServiceDefinition, env: Record<string, string> = {}) {
  const home = tempHome('ts-sec-in-');
  const config = loadConfig({
    env: {
      TRADINGSYSTEM_HOME: home,
      TRADINGSYSTEM__LOG__LEVEL: 'fatal',
      TRADINGSYSTEM__SERVICES__DOCS__DIR: path.join(ROOT, 'docs'),
      TRADINGSYSTEM__SERVICES__DATA_CAPTURE__PORT: String(await freePort()),
      ...env,
    },
    cwd: home,
  });
  const ctx = await buildService(def, { config });
  running.push(ctx);
  await ctx.app.ready();
  return ctx;
}

beforeAll(async () => {
  apps.set('order-manager', (await inProcess(orderManagerService)).app);
  apps.set('idea-bank', (await inProcess(ideaBankService)).app);
  apps.set('docs', (await inProcess(docsService)).app);
  const dc = await inProcess(dataCaptureService, {
    TRADINGSYSTEM__SIM__OPEN_AT: new Date(Date.now() - 500).toISOString(),
  });
  apps.set('data-capture', dc.app);
  await waitFor(
    'broker active',
    async () => (await dc.app.inject('/api/status')).json().broker?.state === 'Active',
  );
}, 60_000);
afterAll(async () => {
  for (const ctx of running.reverse()) await ctx.app.close();
  for (const s of servers) s.close();
});

const DEEP = `${'['.repeat(5_000)}${']'.repeat(5_000)}`;
const NON_FINITE = ['1e309', '-1e309'];

/** Raw JSON bodies: each field of the example replaced by an attack (text spliced after stringify). */
function bodyAttacks(route: RouteCase): { body: string; field: string; what: string }[] {
  const example = route.body ?? {};
  const out: { body: string; field: string; what: string }[] = [];
  for (const field of Object.keys(example).length ? Object.keys(example) : ['zz']) {
    const marked = JSON.stringify({ ...example, [field]: '@@ATTACK@@' });
    for (const n of NON_FINITE) out.push({ body: marked.replace('"@@ATTACK@@"', n), field, what: n });
    // "NaN" is text: only a number field must refuse it.
    if (typeof example[field] === 'number')
      out.push({ body: marked.replace('"@@ATTACK@@"', '"NaN"'), field, what: '"NaN"' });
    out.push({ body: marked.replace('"@@ATTACK@@"', DEEP), field, what: 'deep' });
    out.push({
      body: marked.replace('"@@ATTACK@@"', JSON.stringify('x'.repeat(200_000))),
      field,
      what: 'oversized',
    });
  }
  return out;
}

function urlOf(route: RouteCase, query: Record<string, string> = {}): string {
  let url = route.path;
  for (const [name, value] of Object.entries(route.params ?? {}))
    url = url.replace(name === '*' ? '*' : `:${name}`, value);
  const q = new URLSearchParams(
    Object.fromEntries(Object.entries(route.query ?? {}).map(([k, [v]]) => [k, v])),
  );
  for (const [k, v] of Object.entries(query)) q.set(k, v);
  return q.size ? `${url}?${q}` : url;
}

function expectRefused(status: number, text: string, field: string | null, what: string) {
  expect(status, `${what}: ${text.slice(0, 300)}`).toBeGreaterThanOrEqual(400);
  expect(status, `${what}: ${text.slice(0, 300)}`).toBeLessThan(500);
  // Never a stack trace or an internal path in an answer.
  expect(text).not.toMatch(/\bat .+:\d+:\d+|node_modules|\.ts:\d+/);
  if (status === 400 && field) {
    const named = JSON.parse(text).error?.details?.field as string | undefined;
    expect(named?.split(/[.[]/)[0], `${what}: ${text.slice(0, 300)}`).toBe(field);
  }
}

describe('every internal route refuses non-finite, deeply nested and oversized input', () => {
  it('answers 4xx naming the field, never 5xx, and stays healthy', async () => {
    const healthBefore = new Map<string, number>();
    for (const [name, app] of apps) healthBefore.set(name, (await app.inject('/health')).statusCode);
    let tried = 0;
    // The catalogue's risk-limits body is filled with the live limits at run time.
    const limits = (await apps.get('order-manager')?.inject('/api/risk/limits'))?.json().data;
    const routes = INTERNAL_ROUTES.map((r) =>
      r.path === '/api/risk/limits' && r.body ? { ...r, body: limits } : r,
    );
    for (const route of routes) {
      const app = apps.get(route.service);
      if (!app) continue; // the stream service: one GET without input
      if (route.body) {
        for (const a of bodyAttacks(route)) {
          const res = await app.inject({
            method: route.method,
            url: urlOf(route),
            headers: { 'content-type': 'application/json' },
            payload: a.body,
          });
          // A body that is too large for the service is a 413 without a field; a string too long, a 400 with it.
          expectRefused(
            res.statusCode,
            res.body,
            res.statusCode === 400 ? a.field : null,
            `${route.method} ${route.path} ${a.field}=${a.what}`,
          );
          tried++;
        }
      } else if (route.method !== 'GET') {
        const res = await app.inject({
          method: route.method,
          url: urlOf(route),
          headers: { 'content-type': 'application/json' },
          payload: `{"a":${DEEP}}`,
        });
        expectRefused(res.statusCode, res.body, 'a', `${route.method} ${route.path} deep`);
        tried++;
      }
      for (const name of Object.keys(route.query ?? {})) {
        for (const bad of ['1e309', '-1e309', 'Infinity', 'NaN', '9'.repeat(400)]) {
          const res = await app.inject({ method: route.method, url: urlOf(route, { [name]: bad }) });
          // Text fields may take any text: only a number field must refuse these.
          if (res.statusCode < 400) {
            expect(route.query?.[name]?.[1], `${route.path}?${name}=${bad} accepted`).toMatch(
              /text|enum|ticker|time/,
            );
            continue;
          }
          expectRefused(
            res.statusCode,
            res.body,
            name,
            `${route.method} ${route.path}?${name}=${bad.slice(0, 20)}`,
          );
          tried++;
        }
      }
    }
    expect(tried).toBeGreaterThan(200);
    for (const [name, app] of apps)
      expect((await app.inject('/health')).statusCode, name).toBe(healthBefore.get(name));
  }, 120_000);

  it('refuses a query date outside the supported range naming the field (data-capture, order-manager)', async () => {
    const dc = apps.get('data-capture');
    const om = apps.get('order-manager');
    if (!dc || !om) throw new Error('not started');
    for (const from of ['-010000-01-01T00:00:00Z', '+275760-09-13T00:00:00Z', '1969-12-31T23:59:59Z']) {
      const res = await dc.inject(`/api/trades?ticker=WINZ26&from=${encodeURIComponent(from)}`);
      expect(res.statusCode, res.body).toBe(400);
      expect(res.json().error.details.field).toBe('from');
      const bars = await dc.inject(`/api/bars?ticker=WINZ26&interval=1m&to=${encodeURIComponent(from)}`);
      expect(bars.json().error.details.field).toBe('to');
      const orders = await om.inject(`/api/orders?from=${encodeURIComponent(from)}`);
      expect(orders.statusCode, orders.body).toBe(400);
      expect(orders.json().error.details.field).toBe('from');
    }
    expect((await dc.inject('/api/trades?ticker=WINZ26&from=2026-01-01T00:00:00Z')).statusCode).toBe(200);
  });
});

/** An upstream that records the path of every request it gets. */
async function recorder() {
  const seen: string[] = [];
  const server = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    req.resume();
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      res.end('{"data":[]}');
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { seen, port: String((server.address() as AddressInfo).port) };
}

async function gatewayOnRecorders() {
  const [dc, ib, docs, om] = [await recorder(), await recorder(), await recorder(), await recorder()];
  const home = tempHome('ts-sec-gw-');
  const config = loadConfig({
    env: {
      TRADINGSYSTEM_HOME: home,
      TRADINGSYSTEM__LOG__LEVEL: 'fatal',
      TRADINGSYSTEM__SERVICES__DATA_CAPTURE__PORT: dc.port,
      TRADINGSYSTEM__SERVICES__IDEA_BANK__PORT: ib.port,
      TRADINGSYSTEM__SERVICES__DOCS__PORT: docs.port,
      TRADINGSYSTEM__SERVICES__ORDER_MANAGER__PORT: om.port,
      TRADINGSYSTEM__SERVICES__STREAM__ENABLED: 'false',
    },
    cwd: home,
  });
  const ctx = await buildService(gatewayService, { config });
  running.push(ctx);
  await ctx.app.listen({ host: '127.0.0.1', port: 0 });
  const key = (await KeyStore.at(home).create('sec admin', 'admin', ['*'])).key;
  return {
    app: ctx.app,
    port: (ctx.app.server.address() as AddressInfo).port,
    key,
    seen: { dc, ib, docs, om },
  };
}

describe('the gateway', () => {
  it('refuses deep nesting and non-finite numbers on every proxied and own route with a 400 before any upstream', async () => {
    const gw = await gatewayOnRecorders();
    const routes: { method: string; url: string }[] = [
      ...ROUTE_GROUPS.flatMap((g) =>
        g.routes
          .filter((r) => r.body)
          .map((r) => ({ method: r.method, url: (g.from + r.path).replace(/:\w+/g, 'x') })),
      ),
      ...GATEWAY_ROUTES.filter((r) => r.body).map((r) => ({ method: r.method, url: urlOf(r) })),
    ];
    expect(routes.length).toBeGreaterThan(15);
    const upstreamCalls = () => Object.values(gw.seen).reduce((n, s) => n + s.seen.length, 0);
    const before = upstreamCalls();
    for (const r of routes) {
      for (const [payload, field] of [
        [`{"a":${DEEP}}`, 'a'],
        ['{"a":1e309}', 'a'],
        ['{"a":{"b":-1e309}}', 'a'],
      ] as const) {
        const res = await gw.app.inject({
          method: r.method as 'POST',
          url: r.url,
          headers: { 'content-type': 'application/json', 'x-api-key': gw.key },
          payload,
        });
        expectRefused(res.statusCode, res.body, field, `${r.method} ${r.url} ${payload.slice(0, 12)}`);
      }
    }
    expect(upstreamCalls()).toBe(before);
    expect((await gw.app.inject('/health')).statusCode).toBeLessThan(500);
  }, 60_000);

  it('forwards an absolute-form target to the path of the route it matched', async () => {
    const gw = await gatewayOnRecorders();
    const raw = (target: string) =>
      new Promise<string>((resolve, reject) => {
        const socket = net.connect(gw.port, '127.0.0.1', () =>
          socket.write(
            `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nx-api-key: ${gw.key}\r\nConnection: close\r\n\r\n`,
          ),
        );
        let text = '';
        socket.on('data', (c) => {
          text += c;
        });
        socket.on('end', () => resolve(text));
        socket.on('error', reject);
      });
    const answer = await raw('https://status/api/v1/subscriptions');
    const status = Number(answer.split(' ')[1]);
    if (status === 400) return; // refused outright: also safe
    expect(status, answer.slice(0, 200)).toBe(200);
    // The route checked was GET /api/v1/subscriptions (viewer); the upstream saw its path, not /api/status...
    expect(gw.seen.dc.seen).toEqual(['GET /api/subscriptions']);
    await raw('http://x/api/v1/ideas/abc?limit=5');
    expect(gw.seen.ib.seen).toEqual(['GET /api/items/abc?limit=5']);
  });
});
