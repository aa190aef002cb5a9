import { readdirSync, readFileSync, statSync } from 'node:fs';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { KeyStore, type Role } from '../src/kernel/auth/keys.js';
import { issueInternalToken } from '../src/kernel/internal-auth.js';
import { buildService, type ServiceContext, type ServiceDefinition } from '../src/kernel/service.js';
import { dataCaptureService } from '../src/services/data-capture/service.js';
import { docsService } from '../src/services/docs/service.js';
import { ROUTE_GROUPS } from '../src/services/gateway/routes.js';
import { gatewayService } from '../src/services/gateway/service.js';
import { ideaBankService } from '../src/services/idea-bank/service.js';
import { freePort, ROOT, tempHome, waitFor } from './helpers/cli.js';

const running: ServiceContext[] = [];
const upstreamHome = tempHome('ts-gw-up-');
const ports: Record<string, number> = {};

async function upstream(def: ServiceDefinition, env: Record<string, string> = {}) {
  const config = loadConfig({
    env: {
      TRADINGSYSTEM_HOME: upstreamHome,
      TRADINGSYSTEM__SERVICES__DOCS__DIR: path.join(ROOT, 'docs'),
      TRADINGSYSTEM__SIM__TRADES_PER_SECOND: '20',
      TRADINGSYSTEM__SIM__OPEN_AT: new Date(Date.now() - 500).toISOString(),
      TRADINGSYSTEM__LOG__LEVEL: 'warn',
      ...env,
    },
    cwd: upstreamHome,
  });
  const ctx = await buildService(def, { config });
  running.push(ctx);
  await ctx.app.listen({ host: '127.0.0.1', port: 0 });
  return { ctx, port: (ctx.app.server.address() as AddressInfo).port };
}

/** A gateway in this process pointed at the upstreams; `env` overrides any config key. */
async function gateway(env: Record<string, string> = {}, home = tempHome('ts-gw-')) {
  const config = loadConfig({
    env: {
      TRADINGSYSTEM_HOME: home,
      TRADINGSYSTEM__SERVICES__DATA_CAPTURE__PORT: String(ports['data-capture']),
      TRADINGSYSTEM__SERVICES__IDEA_BANK__PORT: String(ports['idea-bank']),
      TRADINGSYSTEM__SERVICES__DOCS__PORT: String(ports.docs),
      TRADINGSYSTEM__SERVICES__ORDER_MANAGER__ENABLED: 'false',
      TRADINGSYSTEM__SERVICES__STREAM__ENABLED: 'false', // not started here: it would make health 503
      TRADINGSYSTEM__SERVICES__GATEWAY__UPSTREAM_TIMEOUT_MS: '800',
      TRADINGSYSTEM__HTTP__BODY_LIMIT_BYTES: '4096',
      ...env,
    },
    cwd: home,
  });
  const ctx = await buildService(gatewayService, { config });
  running.push(ctx);
  const keys = KeyStore.at(home);
  const key = async (role: Role, name = `${role} test`) => (await keys.create(name, role)).key;
  return { app: ctx.app, home, keys, key };
}

beforeAll(async () => {
  ports['idea-bank'] = (await upstream(ideaBankService)).port;
  ports.docs = (await upstream(docsService)).port;
  const dc = await upstream(dataCaptureService);
  ports['data-capture'] = dc.port;
  await waitFor('broker active', async () => {
    const s = (await (await fetch(`http://127.0.0.1:${dc.port}/api/status`)).json()) as {
      broker: { state: string };
    };
    return s.broker.state === 'Active';
  });
});
afterAll(async () => {
  for (const ctx of running.reverse()) await ctx.app.close();
});

type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';
const ROLES: Role[] = ['viewer', 'trader', 'admin'];
const below = (role: Role) => ROLES.slice(0, ROLES.indexOf(role));

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? filesUnder(path.join(dir, e.name)) : [path.join(dir, e.name)],
  );
}

function rawGet(port: number, url: string, key: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: url, headers: { 'x-api-key': key } }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => {
        body += c.toString();
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('gateway', () => {
  it('answers every route 401 without a valid key, 403 for a lower role, and passes the right role through', async () => {
    const { app, key } = await gateway({
      TRADINGSYSTEM__SERVICES__GATEWAY__AUTH_FAILURES_PER_MINUTE: '1000',
    });
    const keys = { viewer: await key('viewer'), trader: await key('trader'), admin: await key('admin') };
    const idea = { title: 'Gateway idea', description: 'via the gateway', category: 'analise-dados' };
    const created = await app.inject({
      method: 'POST',
      url: '/api/v1/ideas',
      headers: { 'x-api-key': keys.trader },
      payload: idea,
    });
    expect(created.statusCode, created.body).toBe(201);
    const id = created.json().data.id as string;

    // [method, route template, concrete url, role, body, expected status]
    const matrix: [Method, string, string, Role, object | undefined, number][] = [
      ['GET', '/api/v1/trades', '/api/v1/trades?ticker=WINZ26&limit=5', 'viewer', undefined, 200],
      ['GET', '/api/v1/bars', '/api/v1/bars?ticker=WINZ26&interval=1m', 'viewer', undefined, 200],
      ['GET', '/api/v1/subscriptions', '/api/v1/subscriptions', 'viewer', undefined, 200],
      ['GET', '/api/v1/gaps', '/api/v1/gaps', 'viewer', undefined, 200],
      ['POST', '/api/v1/subscriptions', '/api/v1/subscriptions', 'admin', { ticker: 'WINZ26' }, 200],
      ['DELETE', '/api/v1/subscriptions/:ticker', '/api/v1/subscriptions/VALE3', 'admin', undefined, 200],
      ['GET', '/api/v1/ideas', '/api/v1/ideas', 'viewer', undefined, 200],
      ['GET', '/api/v1/ideas/:id', `/api/v1/ideas/${id}`, 'viewer', undefined, 200],
      ['POST', '/api/v1/ideas', '/api/v1/ideas', 'trader', idea, 201],
      ['PUT', '/api/v1/ideas/:id', `/api/v1/ideas/${id}`, 'trader', { priority: 'high' }, 200],
      ['DELETE', '/api/v1/ideas/:id', `/api/v1/ideas/${id}`, 'trader', undefined, 200],
      ['GET', '/api/v1/docs', '/api/v1/docs', 'viewer', undefined, 200],
      ['GET', '/api/v1/docs/search', '/api/v1/docs/search?q=runbook', 'viewer', undefined, 200],
      ['GET', '/api/v1/docs/*', '/api/v1/docs/health', 'viewer', undefined, 200],
      ['GET', '/api/v1/health', '/api/v1/health', 'viewer', undefined, 200],
    ];
    // The order-manager group has its own matrix (gateway-orders.test.ts).
    const declared = ROUTE_GROUPS.filter((g) => g.service !== 'order-manager').flatMap((g) =>
      g.routes.map((r) => `${r.method} ${g.from}${r.path}`),
    );
    expect(matrix.map(([m, t]) => `${m} ${t}`).sort()).toEqual([...declared, 'GET /api/v1/health'].sort());

    for (const [method, , url, role, payload, status] of matrix) {
      const call = (k?: string) =>
        app.inject({ method, url, payload, headers: k === undefined ? {} : { 'x-api-key': k } });
      const what = `${method} ${url}`;
      for (const k of [undefined, '', 'tsk_0123456789abcdef_nope', `${keys.admin}x`]) {
        const res = await call(k);
        expect(res.statusCode, `${what} key=${k}`).toBe(401);
        expect(res.json().error.code).toBe('UNAUTHORIZED');
      }
      for (const lower of below(role)) {
        const res = await call(keys[lower]);
        expect(res.statusCode, `${what} as ${lower}`).toBe(403);
        expect(res.json().error).toMatchObject({ code: 'FORBIDDEN', details: { required: role } });
      }
      const res = await call(keys[role]);
      expect(res.statusCode, `${what} as ${role}: ${res.body}`).toBe(status);
      if (method === 'GET' && role !== 'admin')
        expect((await call(keys.admin)).statusCode, what).toBe(status);
    }
  });

  it('passes upstream error envelopes through with their status', async () => {
    const { app, key } = await gateway();
    const k = await key('viewer');
    const res = await app.inject({ url: '/api/v1/trades?ticker=NOPE11', headers: { 'x-api-key': k } });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('UNKNOWN_TICKER');
    const missing = await app.inject({
      url: '/api/v1/ideas/00000000-0000-4000-8000-000000000000',
      headers: { 'x-api-key': k },
    });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().error.code).toBe('NOT_FOUND');
  });

  it('aggregates every service, the broker state and answers 503 when one is down', async () => {
    const { app, key } = await gateway();
    const k = await key('viewer');
    const res = await app.inject({ url: '/api/v1/health', headers: { 'x-api-key': k } });
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json();
    expect(Object.keys(body.services).sort()).toEqual(['data-capture', 'docs', 'idea-bank']);
    expect(body.broker.state).toBe('Active');

    const down = await gateway({ TRADINGSYSTEM__SERVICES__IDEA_BANK__PORT: String(await freePort()) });
    const dk = await down.key('viewer');
    const res2 = await down.app.inject({ url: '/api/v1/health', headers: { 'x-api-key': dk } });
    expect(res2.statusCode).toBe(503);
    expect(res2.json()).toMatchObject({
      status: 'down',
      services: { 'idea-bank': { status: 'down' }, docs: { status: 'ok' } },
    });
  });

  it('names a stopped upstream in a quick 503 and keeps serving the other routes', async () => {
    const ideas = await upstream(ideaBankService);
    const { app, key } = await gateway({ TRADINGSYSTEM__SERVICES__IDEA_BANK__PORT: String(ideas.port) });
    const k = await key('viewer');
    expect((await app.inject({ url: '/api/v1/ideas', headers: { 'x-api-key': k } })).statusCode).toBe(200);
    await ideas.ctx.app.close();
    const started = Date.now();
    const res = await app.inject({ url: '/api/v1/ideas', headers: { 'x-api-key': k } });
    expect(Date.now() - started).toBeLessThan(500);
    expect(res.statusCode).toBe(503);
    expect(res.json().error).toMatchObject({
      code: 'UPSTREAM_UNAVAILABLE',
      message: 'idea-bank is not answering',
      details: { service: 'idea-bank' },
    });
    expect((await app.inject({ url: '/api/v1/docs', headers: { 'x-api-key': k } })).statusCode).toBe(200);
    expect((await app.inject({ url: '/api/v1/gaps', headers: { 'x-api-key': k } })).statusCode).toBe(200);
  });

  it('gives up on an upstream that never answers within the timeout', async () => {
    const sockets: net.Socket[] = [];
    const silent = net.createServer((s) => sockets.push(s)); // accepts, never answers
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as AddressInfo).port;
    try {
      const { app, key } = await gateway({
        TRADINGSYSTEM__SERVICES__DOCS__PORT: String(port),
        TRADINGSYSTEM__SERVICES__GATEWAY__UPSTREAM_TIMEOUT_MS: '300',
      });
      const k = await key('viewer');
      const started = Date.now();
      const res = await app.inject({ url: '/api/v1/docs', headers: { 'x-api-key': k } });
      expect(Date.now() - started).toBeLessThan(1_000);
      expect(res.statusCode).toBe(504);
      expect(res.json().error).toMatchObject({
        code: 'UPSTREAM_UNAVAILABLE',
        details: { service: 'docs', reason: 'timeout' },
      });
      expect((await app.inject({ url: '/api/v1/ideas', headers: { 'x-api-key': k } })).statusCode).toBe(200);
    } finally {
      for (const s of sockets) s.destroy();
      silent.close();
    }
  });

  it('keeps upstream connections alive, sends only its own headers and passes only the allowed ones back', async () => {
    const seen: http.IncomingHttpHeaders[] = [];
    let connections = 0;
    const fake = http.createServer((req, res) => {
      seen.push(req.headers);
      res
        .writeHead(200, {
          'content-type': 'application/json',
          'retry-after': '7',
          'x-total-count': '42',
          'x-internal': 'secret',
          'set-cookie': 'upstream=1',
        })
        .end('{"data":[]}');
    });
    fake.on('connection', () => connections++);
    await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve));
    try {
      // A home with the supervisor's internal credential: the gateway presents it upstream.
      const home = tempHome('ts-gw-');
      const token = issueInternalToken(home);
      const { app, key } = await gateway(
        { TRADINGSYSTEM__SERVICES__DOCS__PORT: String((fake.address() as AddressInfo).port) },
        home,
      );
      const k = await key('viewer');
      for (let i = 0; i < 3; i++) {
        const res = await app.inject({
          url: '/api/v1/docs?q=1',
          headers: { 'x-api-key': k, 'x-actor': 'someone-else', cookie: 'a=b', 'x-request-id': `req-${i}` },
        });
        expect(res.statusCode).toBe(200);
        expect(res.body).toBe('{"data":[]}');
        expect(res.headers).toMatchObject({ 'retry-after': '7', 'x-total-count': '42' });
        expect(res.headers['content-type']).toContain('application/json');
        expect(res.headers['x-internal']).toBeUndefined();
        expect(res.headers['set-cookie']).toBeUndefined();
      }
      expect(connections).toBe(1);
      expect(Object.keys(seen[0] ?? {}).sort()).toEqual([
        'accept',
        'connection',
        'host',
        'x-actor',
        'x-request-id',
        'x-tradingsystem-internal',
      ]);
      // The key's name and id (tsk_<id>_<secret>) name the actor; the upstream gets the gateway's
      // own request id, never the one a client chose, and the internal credential.
      expect(seen.map((h) => [h['x-actor'], h['x-tradingsystem-internal']])).toEqual(
        [0, 1, 2].map(() => [`key:viewer test#${k.slice(4, 20)}`, token]),
      );
      for (const h of seen) expect(h['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    } finally {
      fake.close();
    }
  });

  it('retries a GET once when the upstream dropped the pooled connection, and times out a body that stalls', async () => {
    const requestsOn = new WeakMap<net.Socket, number>();
    let connections = 0;
    const fake = http.createServer((req, res) => {
      const n = (requestsOn.get(req.socket) ?? 0) + 1;
      requestsOn.set(req.socket, n);
      // The second request on a connection finds it closed, as after an upstream restart.
      if (n === 2) return req.socket.destroy();
      if (req.url?.startsWith('/api/docs/slow')) {
        res.writeHead(200, { 'content-type': 'application/json' }).write('{"data":'); // and nothing more
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"data":[]}');
    });
    fake.on('connection', () => connections++);
    await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve));
    try {
      const { app, key } = await gateway({
        TRADINGSYSTEM__SERVICES__DOCS__PORT: String((fake.address() as AddressInfo).port),
        TRADINGSYSTEM__SERVICES__GATEWAY__UPSTREAM_TIMEOUT_MS: '300',
      });
      const k = await key('viewer');
      const get = (url: string) => app.inject({ url, headers: { 'x-api-key': k } });
      expect((await get('/api/v1/docs')).statusCode).toBe(200);
      expect((await get('/api/v1/docs')).statusCode).toBe(200);
      expect(connections).toBe(2);

      const started = Date.now();
      const slow = await get('/api/v1/docs/slow');
      expect(Date.now() - started).toBeLessThan(1_000);
      expect(slow.statusCode).toBe(504);
      expect(slow.json().error).toMatchObject({ details: { service: 'docs', reason: 'timeout' } });
      const metrics = (await app.inject('/metrics')).body;
      expect(metrics).toMatch(
        /tradingsystem_gateway_upstream_failures_total\{service="docs",reason="timeout"\} 1/,
      );
      expect(metrics).toMatch(
        /tradingsystem_gateway_upstream_duration_seconds_count\{service="docs",status="200"\} 2/,
      );
    } finally {
      fake.closeAllConnections();
      fake.close();
    }
  });

  it('rejects hostile input in the envelope: oversized, invalid JSON, not JSON, unknown route, dot segments', async () => {
    const { app, key } = await gateway();
    const k = await key('trader');
    const post = (payload: string, type = 'application/json') =>
      app.inject({
        method: 'POST',
        url: '/api/v1/ideas',
        payload,
        headers: { 'x-api-key': k, 'content-type': type },
      });
    const big = await post(JSON.stringify({ title: 'x'.repeat(10_000) }));
    expect(big.statusCode).toBe(413);
    expect(big.json().error.code).toBe('PAYLOAD_TOO_LARGE');
    const bad = await post('{"title": ');
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.code).toBe('INVALID_JSON');
    const text = await post('hello', 'text/plain');
    expect(text.statusCode).toBe(415);
    expect(text.json().error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    const array = await post('[1,2]');
    expect(array.statusCode).toBe(400);
    expect(array.json().error.code).toBe('VALIDATION_ERROR');
    const unknown = await app.inject({ url: '/api/v1/nothing', headers: { 'x-api-key': k } });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().error.code).toBe('NOT_FOUND');
    // inject and fetch normalize `..` away; a raw client does not.
    await app.listen({ host: '127.0.0.1', port: 0 });
    const port = (app.server.address() as AddressInfo).port;
    for (const url of ['/api/v1/docs/../../metrics', '/api/v1/docs/%2e%2e/%2E%2E/metrics']) {
      const raw = await rawGet(port, url, k);
      expect(raw.status, url).toBe(400);
      expect(JSON.parse(raw.body).error.code).toBe('INVALID_PATH');
    }
  });

  it('rate limits failed authentications per client IP, and requests per key', async () => {
    const { app, key } = await gateway({
      TRADINGSYSTEM__SERVICES__GATEWAY__AUTH_FAILURES_PER_MINUTE: '3',
      TRADINGSYSTEM__SERVICES__GATEWAY__READS_PER_MINUTE: '5',
    });
    const good = await key('viewer');
    const attempt = (k: string, remoteAddress = '10.0.0.1') =>
      app.inject({ url: '/api/v1/docs', headers: { 'x-api-key': k }, remoteAddress });
    for (let i = 0; i < 3; i++) expect((await attempt(`tsk_0123456789abcdef_${i}`)).statusCode).toBe(401);
    const blocked = await attempt('tsk_0123456789abcdef_x');
    expect(blocked.statusCode).toBe(429);
    expect(blocked.json().error.code).toBe('TOO_MANY_AUTH_FAILURES');
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
    expect((await attempt(good)).statusCode).toBe(429); // no more guesses from there, even good ones
    expect((await attempt(good, '10.0.0.2')).statusCode).toBe(200);

    for (let i = 1; i < 5; i++) expect((await attempt(good, '10.0.0.2')).statusCode).toBe(200);
    const limited = await attempt(good, '10.0.0.3'); // same key from another address: same budget
    expect(limited.statusCode).toBe(429);
    expect(limited.json().error.code).toBe('RATE_LIMITED');
    expect((await attempt(await key('viewer', 'another viewer'), '10.0.0.3')).statusCode).toBe(200);
  });

  it('serves the OpenAPI document and the docs page publicly, with security headers and no CORS', async () => {
    const { app, key } = await gateway();
    // A page of another origin is refused (DNS rebinding, finding 6); the gateway's own is served.
    const foreign = await app.inject({
      url: '/api/v1/openapi.json',
      headers: { origin: 'https://evil.example' },
    });
    expect(foreign.statusCode).toBe(403);
    expect(foreign.json().error.code).toBe('ORIGIN_NOT_ALLOWED');
    const res = await app.inject({
      url: '/api/v1/openapi.json',
      headers: { origin: 'http://localhost' },
    });
    expect(res.statusCode).toBe(200);
    const doc = res.json();
    expect(doc.openapi).toMatch(/^3\./);
    expect(doc.components.securitySchemes.apiKey).toMatchObject({ in: 'header', name: 'X-API-Key' });
    for (const g of ROUTE_GROUPS) {
      for (const r of g.routes) {
        const p = `${g.from}${r.path}`.replace(/:(\w+)/g, '{$1}').replace('/*', '/{*}');
        expect(doc.paths[p]?.[r.method.toLowerCase()], `${r.method} ${p}`).toBeDefined();
      }
    }
    expect(doc.paths['/api/v1/health'].get.security).toEqual([{ apiKey: [] }, { session: [] }]);
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['strict-transport-security']).toBeDefined();
    // The same security headers on every answer: public, refused, proxied.
    const HELMET =
      /^(content-security|strict-transport|cross-origin|origin-agent|referrer|x-(?!request-id|ratelimit))/;
    const security = (h: Record<string, unknown>) =>
      Object.fromEntries(Object.entries(h).filter(([k]) => HELMET.test(k)));
    expect(security(res.headers)).toMatchObject({
      'content-security-policy': expect.stringContaining("default-src 'self'"),
      'x-frame-options': 'SAMEORIGIN',
    });
    const refused = await app.inject({ url: '/api/v1/ideas' });
    expect(refused.statusCode).toBe(401);
    expect(security(refused.headers)).toEqual(security(res.headers));
    const proxied = await app.inject({ url: '/api/v1/ideas', headers: { 'x-api-key': await key('viewer') } });
    expect(proxied.statusCode).toBe(200);
    expect(security(proxied.headers)).toEqual(security(res.headers));
    const page = await app.inject({ url: '/docs/' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toContain('text/html');
  });

  it('writes a first admin key to a 0600 file, logs only where it is, and never stores or logs a key', async () => {
    const { app, home } = await gateway();
    const file = path.join(home, 'gateway', 'initial-admin-key');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(path.join(home, 'gateway', 'keys.json')).mode & 0o777).toBe(0o600);
    const admin = readFileSync(file, 'utf8').trim();
    const res = await app.inject({
      method: 'POST',
      url: '/api/v1/subscriptions',
      payload: { ticker: 'PETR4' },
      headers: { 'x-api-key': admin },
    });
    expect(res.statusCode, res.body).toBeLessThan(300);

    const keys = KeyStore.at(home);
    const viewer = (await keys.create('probe', 'viewer')).key;
    for (const k of [viewer, `${viewer}x`]) {
      await app.inject({
        method: 'POST',
        url: '/api/v1/subscriptions',
        payload: {},
        headers: { 'x-api-key': k },
      });
    }
    await app.inject({ url: '/api/v1/ideas', headers: { 'x-api-key': viewer } });
    const logs = filesUnder(path.join(home, 'logs'))
      .map((f) => readFileSync(f, 'utf8'))
      .join('');
    expect(logs).toContain('gateway.initial_admin_key');
    expect(logs).toContain(file);
    // The logger redacts the header wherever a request's headers reach a line.
    app.log.info({ request: { headers: { 'x-api-key': viewer } } }, 'headers probe');
    const all = filesUnder(home).filter((f) => f !== file);
    for (const f of all) {
      const text = readFileSync(f, 'utf8');
      expect(text.includes(viewer), f).toBe(false);
      expect(text.includes(admin), f).toBe(false);
      expect(text.includes(viewer.slice(-43)), f).toBe(false);
    }
    expect(readFileSync(all.find((f) => f.endsWith('.jsonl')) ?? '', 'utf8')).toContain('[redacted]');
  });

  it('refuses a revoked key within about a second', async () => {
    const { app, key, home } = await gateway();
    const k = await key('viewer');
    const call = () => app.inject({ url: '/api/v1/docs', headers: { 'x-api-key': k } });
    expect((await call()).statusCode).toBe(200);
    const cli = KeyStore.at(home);
    await cli.load();
    const id = cli.list().find((r) => r.name === 'viewer test')?.id ?? '';
    expect(await cli.revoke(id)).toBe(true);
    const started = Date.now();
    await waitFor('revoked key refused', async () => (await call()).statusCode === 401, 3_000, 50);
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});
