// Issue 13, finding 8 on the stream hub: revocation reaches open WebSockets (a key's own and the
// ones opened with a stream token the gateway issued for it), a browser session's end closes the
// stream it opened, and one key or one address cannot take every slot. Real gateway and stream in
// this process, real sockets on 127.0.0.x (the source address picks the client IP).
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { loadConfig } from '../src/config.js';
import { KeyStore } from '../src/kernel/auth/keys.js';
import { buildService, type ServiceContext, type ServiceDefinition } from '../src/kernel/service.js';
import { gatewayService } from '../src/services/gateway/service.js';
import { streamService } from '../src/services/stream/service.js';
import { freePort, tempHome } from './helpers/cli.js';

const running: ServiceContext[] = [];
const sockets: WebSocket[] = [];
afterAll(async () => {
  for (const ws of sockets) ws.terminate();
  for (const ctx of running.reverse()) await ctx.app.close();
});

let home: string;
let streamPort: number;
let gateway: ServiceContext['app'];
const store = () => KeyStore.at(home);

async function start(def: ServiceDefinition, env: Record<string, string>) {
  const config = loadConfig({
    env: {
      TRADINGSYSTEM_HOME: home,
      TRADINGSYSTEM__LOG__LEVEL: 'warn',
      // Upstreams are not started: the feeds point at closed ports.
      TRADINGSYSTEM__SERVICES__DATA_CAPTURE__PORT: String(await freePort()),
      TRADINGSYSTEM__SERVICES__ORDER_MANAGER__PORT: String(await freePort()),
      TRADINGSYSTEM__SERVICES__STREAM__MAX_CLIENTS_PER_KEY: '3',
      TRADINGSYSTEM__SERVICES__STREAM__MAX_CLIENTS_PER_IP: '4',
      // 127.0.0.40 stands for a TLS proxy in front of the stream.
      TRADINGSYSTEM__SERVICES__STREAM__TRUSTED_PROXIES: '["127.0.0.40"]',
      TRADINGSYSTEM__SERVICES__GATEWAY__SESSION_TTL_MS: '1500',
      ...env,
    },
    cwd: home,
  });
  const ctx = await buildService(def, { config });
  running.push(ctx);
  await ctx.app.listen({ host: '127.0.0.1', port: 0 });
  return ctx;
}

interface Opened {
  ws: WebSocket;
  closed: Promise<{ code: number; reason: string; at: number }>;
}

/** Opens a connection; resolves once the hub said hello, or rejects with the HTTP status that refused it. */
function connect(
  auth: { key: string } | { token: string },
  from = '127.0.0.1',
  headers: Record<string, string> = {},
): Promise<Opened> {
  const query = 'token' in auth ? `?token=${encodeURIComponent(auth.token)}` : '';
  const ws = new WebSocket(`ws://127.0.0.1:${streamPort}/ws${query}`, {
    localAddress: from,
    headers: { ...('key' in auth && { 'x-api-key': auth.key }), ...headers },
  });
  sockets.push(ws);
  const closed = new Promise<{ code: number; reason: string; at: number }>((resolve) =>
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString(), at: performance.now() })),
  );
  return new Promise((resolve, reject) => {
    ws.once('message', () => resolve({ ws, closed }));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d) => {
        body += d;
      });
      res.on('end', () =>
        reject(Object.assign(new Error(`refused ${res.statusCode}`), { status: res.statusCode, body })),
      );
    });
    ws.once('error', reject);
  });
}

/** The refusal of a connection that should not get in: its status and error code. */
async function refusal(p: Promise<Opened>): Promise<{ status: number; code: string }> {
  try {
    await p;
  } catch (err) {
    const e = err as { status?: number; body?: string };
    return { status: e.status ?? 0, code: JSON.parse(e.body ?? '{}').error?.code };
  }
  throw new Error('the connection was let in');
}

/** The connection still works: a ping gets its pong. */
function pong(o: Opened): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), 3_000);
    o.ws.on('message', (data) => {
      if (String(data).includes('"pong"')) {
        clearTimeout(timer);
        resolve(true);
      }
    });
    o.ws.send(JSON.stringify({ op: 'ping', id: 1 }));
  });
}

/** Viewer keys, one after the other: two writers of the keys file at once would lose one. */
async function createKeys(...names: string[]): Promise<string[]> {
  const keys: string[] = [];
  for (const n of names) keys.push((await store().create(n, 'viewer')).key);
  return keys;
}

const close = async (o: Opened) => {
  o.ws.close();
  await o.closed;
};

beforeAll(async () => {
  home = tempHome('ts-sec-stream-');
  const st = await start(streamService, {});
  streamPort = (st.app.server.address() as AddressInfo).port;
  gateway = (await start(gatewayService, { TRADINGSYSTEM__SERVICES__STREAM__PORT: String(streamPort) })).app;
}, 30_000);

/** A stream token from the real gateway's POST /api/v1/stream/token, for `key`. */
async function streamToken(key: string): Promise<string> {
  const res = await gateway.inject({
    method: 'POST',
    url: '/api/v1/stream/token',
    headers: { 'x-api-key': key },
  });
  expect(res.statusCode).toBe(200);
  return res.json().token;
}

describe('finding 8: the stream hub', () => {
  it('closes every connection of a revoked key within 2 s with 4401, its stream-token ones too, and no other', async () => {
    const doomed = await store().create('doomed', 'viewer');
    const other = (await store().create('bystander', 'viewer')).key;
    const byKey = await connect({ key: doomed.key });
    const byToken = await connect({ token: await streamToken(doomed.key) }, '127.0.0.2');
    const bystander = await connect({ key: other }, '127.0.0.3');

    const revokedAt = performance.now();
    expect(await store().revoke(doomed.record.id)).toBe(true); // what `tradingsystem keys revoke` does
    for (const o of [byKey, byToken]) {
      const { code, reason, at } = await o.closed;
      expect({ code, reason }).toEqual({ code: 4401, reason: 'key revoked' });
      expect(at - revokedAt).toBeLessThan(2_000);
    }
    expect(await pong(bystander)).toBe(true);
    // And it cannot come back.
    expect((await refusal(connect({ key: doomed.key }, '127.0.0.4'))).status).toBe(401);
    await close(bystander);
  });

  it('closes a stream opened through a browser session when the session expires', async () => {
    const { key } = await store().create('browser user', 'viewer');
    const login = await gateway.inject({
      method: 'POST',
      url: '/api/v1/session',
      payload: { key },
    });
    expect(login.statusCode).toBe(200);
    const cookie = String(login.headers['set-cookie']).split(';')[0] as string;
    const issued = await gateway.inject({
      method: 'POST',
      url: '/api/v1/stream/token',
      headers: { cookie, 'x-csrf-token': login.json().csrfToken },
    });
    expect(issued.statusCode).toBe(200);
    const started = performance.now();
    const o = await connect({ token: issued.json().token }, '127.0.0.5');
    const { code, reason, at } = await o.closed;
    expect({ code, reason }).toEqual({ code: 4401, reason: 'session expired' });
    // The session lasted 1.5 s from the login, and the hub looks every second (slack for a busy machine).
    expect(at - started).toBeGreaterThan(500);
    expect(at - started).toBeLessThan(4_000);
  });

  it('refuses a key its 4th connection (from any address) with 429, while its 3 others keep working', async () => {
    const { key } = await store().create('greedy', 'viewer');
    const open = [
      await connect({ key }, '127.0.0.10'),
      await connect({ key }, '127.0.0.11'),
      await connect({ token: await streamToken(key) }, '127.0.0.12'),
    ];
    expect(await refusal(connect({ key }, '127.0.0.13'))).toEqual({
      status: 429,
      code: 'TOO_MANY_CONNECTIONS_PER_KEY',
    });
    expect(await refusal(connect({ token: await streamToken(key) }, '127.0.0.14'))).toMatchObject({
      status: 429,
    });
    for (const o of open) expect(await pong(o)).toBe(true);
    // A closed connection frees its slot.
    await close(open[0] as Opened);
    const again = await connect({ key }, '127.0.0.13');
    expect(await pong(again)).toBe(true);
    for (const o of [again, ...open.slice(1)]) await close(o);
  });

  it('refuses an address its 5th connection (any key) with 429, while other addresses get in', async () => {
    const keys = await createKeys('ip one', 'ip two');
    const [a, b] = keys as [string, string];
    const open = await Promise.all([a, a, b, b].map((key) => connect({ key }, '127.0.0.20')));
    const c = (await store().create('ip three', 'viewer')).key;
    expect(await refusal(connect({ key: c }, '127.0.0.20'))).toEqual({
      status: 429,
      code: 'TOO_MANY_CONNECTIONS_PER_IP',
    });
    const elsewhere = await connect({ key: c }, '127.0.0.21');
    for (const o of [...open, elsewhere]) expect(await pong(o)).toBe(true);
    for (const o of [...open, elsewhere]) await close(o);
  });

  it('counts clients behind a trusted proxy by their forwarded address, and ignores X-Forwarded-For from anyone else', async () => {
    const keys = await createKeys('fwd one', 'fwd two', 'fwd three');
    const [a, b, c] = keys as [string, string, string];
    const via = (client: string) => ({ 'x-forwarded-for': client });
    // Through the proxy: 4 for one client, and that client is full...
    const open = await Promise.all(
      [a, a, b, b].map((key) => connect({ key }, '127.0.0.40', via('203.0.113.7'))),
    );
    expect((await refusal(connect({ key: c }, '127.0.0.40', via('203.0.113.7')))).code).toBe(
      'TOO_MANY_CONNECTIONS_PER_IP',
    );
    // ...but another client behind the same proxy is not.
    const other = await connect({ key: c }, '127.0.0.40', via('203.0.113.8'));
    // Not from the proxy: the header is ignored, so a client cannot pose as many addresses.
    const direct = await Promise.all(
      [a, b, c, c].map((key, i) => connect({ key }, '127.0.0.41', via(`198.51.100.${i}`))),
    );
    expect((await refusal(connect({ key: c }, '127.0.0.41', via('198.51.100.99')))).code).toBe(
      'TOO_MANY_CONNECTIONS_PER_IP',
    );
    for (const o of [...open, other, ...direct]) await close(o);
  });
});
