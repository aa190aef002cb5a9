// The stream hub built in this process against fake upstream feeds (the kernel FeedServer on a
// memory history, so the test decides exactly what is published and when), with real WebSocket
// clients: auth, protocol, hostile input, slow clients and conflation.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { loadConfig } from '../src/config.js';
import type { CapturedEvent } from '../src/domain/market-data.js';
import type { JournalEvent } from '../src/domain/order-events.js';
import { type KeyIdentity, KeyStore } from '../src/kernel/auth/keys.js';
import { TokenSigner } from '../src/kernel/auth/tokens.js';
import { FeedServer, MemoryFeedHistory } from '../src/kernel/feed/index.js';
import { buildService, type ServiceContext } from '../src/kernel/service.js';
import { allChannels } from '../src/services/stream/channels.js';
import { Hub } from '../src/services/stream/hub.js';
import { streamService } from '../src/services/stream/service.js';
import { type JsonBody, tempHome, waitFor } from './helpers/cli.js';

const home = tempHome('ts-stream-');
const running: ServiceContext[] = [];
const sockets: WebSocket[] = [];
afterEach(() => {
  for (const ws of sockets.splice(0)) ws.terminate();
});
afterAll(async () => {
  for (const ctx of running.reverse()) await ctx.app.close();
});

/** A fake upstream: the kernel feed server on a memory history, served like the real service. */
async function fakeUpstream<T>(name: string, feedPath: string, routes?: (ctx: ServiceContext) => void) {
  const history = new MemoryFeedHistory<T>();
  let feed: FeedServer<T> | undefined;
  const config = loadConfig({
    env: { TRADINGSYSTEM_HOME: home, TRADINGSYSTEM__LOG__LEVEL: 'warn' },
    cwd: home,
  });
  const ctx = await buildService(
    {
      name,
      setup(c) {
        feed = new FeedServer<T>({ name, history, logger: c.logger, registry: c.metrics.registry });
        feed.attach(c.app, feedPath);
        routes?.(c);
      },
    },
    { config },
  );
  running.push(ctx);
  await ctx.app.listen({ host: '127.0.0.1', port: 0 });
  if (!feed) throw new Error('setup did not run');
  const server = feed;
  return {
    port: (ctx.app.server.address() as AddressInfo).port,
    publish: (data: T) => server.publish(history.append(data)),
  };
}

let seqOfTrade = 0;
const trade = (ticker = 'WINZ26', price = 128_000, pad = ''): CapturedEvent => ({
  kind: 'trade',
  seq: ++seqOfTrade,
  recvTs: Date.now(),
  backfilled: false,
  ticker,
  exchange: 'F',
  ts: Date.now(),
  tradeId: seqOfTrade,
  price,
  qty: 1,
  aggressor: 'BUY',
  buyAgent: pad.length,
  sellAgent: 2,
});
let orderEventSeq = 0;
const orderEvent = (n: number, padBytes = 200): JournalEvent => ({
  seq: ++orderEventSeq,
  ts: Date.now(),
  type: 'order.submitted',
  orderId: `ord-${n}`,
  data: { order: { id: `ord-${n}`, symbol: 'WINZ26', pad: 'x'.repeat(padBytes) } },
});

let market: Awaited<ReturnType<typeof fakeUpstream<CapturedEvent>>>;
let orders: Awaited<ReturnType<typeof fakeUpstream<JournalEvent>>>;
let streamPort = 0;
let streamApp: ServiceContext['app'];
const keys = KeyStore.at(home);
const key: Record<string, string> = {};
let viewerId = '';

beforeAll(async () => {
  market = await fakeUpstream<CapturedEvent>('data-capture', '/feed/market');
  orders = await fakeUpstream<JournalEvent>('order-manager', '/feed/orders', ({ app }) => {
    app.get('/api/positions', async () => ({ count: 0, data: [] }));
  });
  const viewer = await keys.create('viewer test', 'viewer');
  key.viewer = viewer.key;
  viewerId = viewer.record.id;
  const revoked = await keys.create('revoked test', 'viewer');
  key.revoked = revoked.key;
  await keys.revoke(revoked.record.id);
  const config = loadConfig({
    env: {
      TRADINGSYSTEM_HOME: home,
      TRADINGSYSTEM__LOG__LEVEL: 'warn',
      TRADINGSYSTEM__SERVICES__DATA_CAPTURE__PORT: String(market.port),
      TRADINGSYSTEM__SERVICES__ORDER_MANAGER__PORT: String(orders.port),
      // Only the two fakes are probed for the health channel.
      TRADINGSYSTEM__SERVICES__GATEWAY__ENABLED: 'false',
      TRADINGSYSTEM__SERVICES__IDEA_BANK__ENABLED: 'false',
      TRADINGSYSTEM__SERVICES__DOCS__ENABLED: 'false',
      TRADINGSYSTEM__SERVICES__STREAM__MAX_SUBSCRIPTIONS_PER_CLIENT: '20',
      TRADINGSYSTEM__SERVICES__STREAM__MAX_FRAME_BYTES: '4096',
      TRADINGSYSTEM__SERVICES__STREAM__MAX_BUFFERED_BYTES: '65536',
      TRADINGSYSTEM__SERVICES__STREAM__MAX_QUEUED_BYTES: '262144',
      TRADINGSYSTEM__SERVICES__STREAM__HEALTH_INTERVAL_MS: '500',
    },
    cwd: home,
  });
  const ctx = await buildService(streamService, { config });
  running.push(ctx);
  await ctx.app.listen({ host: '127.0.0.1', port: 0 });
  streamApp = ctx.app;
  streamPort = (ctx.app.server.address() as AddressInfo).port;
  await waitFor('inputs connected', async () => (await streamApp.inject('/health')).json().status === 'ok');
});

interface DataMessage {
  channel: string;
  seq: number;
  data: JsonBody;
}

/** A real WebSocket client that sorts what it gets into replies and data by channel. */
function client(opts: { key?: string; query?: string } = {}) {
  const ws = new WebSocket(`ws://127.0.0.1:${streamPort}/ws${opts.query ?? ''}`, {
    perMessageDeflate: false,
    headers: opts.key ? { 'x-api-key': opts.key } : {},
  });
  sockets.push(ws);
  const replies: JsonBody[] = [];
  const data = new Map<string, DataMessage[]>();
  let close: { code: number; reason: string } | undefined;
  ws.on('message', (raw) => {
    for (const m of JSON.parse(String(raw)) as JsonBody[]) {
      if (m.type) replies.push(m);
      else {
        const list = data.get(m.channel) ?? [];
        list.push(m);
        data.set(m.channel, list);
      }
    }
  });
  ws.on('error', () => {});
  ws.on('close', (code, reason) => {
    close = { code, reason: String(reason) };
  });
  const opened = new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
  });
  const send = (msg: unknown) => ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg));
  const seqs = (channel: string) => (data.get(channel) ?? []).map((m) => m.seq);
  const reply = (pred: (r: JsonBody) => boolean) => waitFor('reply', () => replies.find(pred), 5_000, 10);
  return { ws, replies, data, seqs, opened, send, reply, closed: () => close };
}

async function subscribed(c: ReturnType<typeof client>, channels: string[]) {
  await c.opened;
  const id = Math.random().toString(36).slice(2);
  c.send({ op: 'subscribe', channels, id });
  const r = await c.reply((m) => m.id === id);
  expect(r).toMatchObject({ type: 'subscribed', channels });
  return c;
}

/**
 * The HTTP answer to an upgrade request, read by hand so a refusal's body is visible. `from` is the
 * loopback address to connect from, so a test's failed attempts count against its own client IP.
 */
function upgradeStatus(
  path: string,
  headers: Record<string, string> = {},
  from = '127.0.0.1',
  port = streamPort,
) {
  return new Promise<{ status: number; body: JsonBody; headers: http.IncomingHttpHeaders }>(
    (resolve, reject) => {
      const req = http.request({
        host: '127.0.0.1',
        port,
        localAddress: from,
        path,
        headers: {
          connection: 'Upgrade',
          upgrade: 'websocket',
          'sec-websocket-version': '13',
          'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
          ...headers,
        },
      });
      req.on('upgrade', (res, socket) => {
        socket.destroy();
        resolve({ status: res.statusCode ?? 0, body: null, headers: res.headers });
      });
      req.on('response', (res) => {
        let text = '';
        res.on('data', (c: Buffer) => {
          text += c.toString();
        });
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(text), headers: res.headers }),
        );
      });
      req.on('error', reject);
      req.end();
    },
  );
}

/** True when each seq is one above the one before. */
const contiguous = (seqs: number[]) => seqs.every((s, i) => i === 0 || s === (seqs[i - 1] as number) + 1);

describe('stream auth', () => {
  it('refuses an upgrade with 401 before it completes: no key, a wrong or revoked key, a bad token', async () => {
    const signer = TokenSigner.at(home);
    // The same secret, with a clock a minute behind: its tokens are already expired.
    const secret = readFileSync(path.join(home, 'gateway', 'token-secret'));
    const expiredSigner = new TokenSigner(secret, () => Date.now() - 60_000);
    const cases: [string, string, Record<string, string>][] = [
      ['no credentials', '/ws', {}],
      ['malformed key', '/ws', { 'x-api-key': 'nope' }],
      ['revoked key', '/ws', { 'x-api-key': key.revoked as string }],
      ['session token', `/ws?token=${signer.issue(viewerId, 'session', 60_000).token}`, {}],
      ['expired token', `/ws?token=${expiredSigner.issue(viewerId, 'stream', 1_000).token}`, {}],
      ['forged token', `/ws?token=${signer.issue(viewerId, 'stream', 60_000).token.slice(0, -2)}xx`, {}],
    ];
    for (const [what, path, headers] of cases) {
      const res = await upgradeStatus(path, headers);
      expect(res.status, what).toBe(401);
      expect(res.body.error.code, what).toBe('UNAUTHORIZED');
    }
    // A good token works, and tokens die with their key.
    const temp = await keys.create('short-lived', 'viewer');
    const fresh = () => signer.issue(temp.record.id, 'stream', 60_000).token;
    expect((await upgradeStatus(`/ws?token=${fresh()}`)).status).toBe(101);
    await keys.revoke(temp.record.id);
    // The stream re-reads the key file at most once a second.
    await waitFor(
      'revoked token refused',
      async () => (await upgradeStatus(`/ws?token=${fresh()}`)).status === 401,
    );
    expect((await upgradeStatus('/ws', { 'x-api-key': key.viewer as string })).status).toBe(101);
    expect((await streamApp.inject('/metrics')).body).toMatch(
      /tradingsystem_stream_auth_failures_total [1-9]/,
    );
  });
});

describe('stream auth limits', () => {
  it('accepts a stream token for one connection only: the second use is refused with 401', async () => {
    const token = TokenSigner.at(home).issue(viewerId, 'stream', 60_000).token;
    expect((await upgradeStatus(`/ws?token=${token}`, {}, '127.0.0.3')).status).toBe(101);
    const again = await upgradeStatus(`/ws?token=${token}`, {}, '127.0.0.3');
    expect(again.status).toBe(401);
    expect(again.body.error.code).toBe('UNAUTHORIZED');
    // A new token for the same key still works.
    const next = TokenSigner.at(home).issue(viewerId, 'stream', 60_000).token;
    expect((await upgradeStatus(`/ws?token=${next}`, {}, '127.0.0.3')).status).toBe(101);
  });

  it('answers the 11th failed authentication from one IP with 429 and Retry-After, even with a good key', async () => {
    const from = '127.0.0.2';
    for (let i = 1; i <= 10; i++) {
      const res = await upgradeStatus('/ws', { 'x-api-key': `wrong-key-${i}` }, from);
      expect(res.status, `attempt ${i}`).toBe(401);
    }
    const blocked = await upgradeStatus('/ws', { 'x-api-key': 'wrong-key-11' }, from);
    expect(blocked.status).toBe(429);
    expect(blocked.body.error.code).toBe('TOO_MANY_AUTH_FAILURES');
    const retryAfter = Number(blocked.headers['retry-after']);
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(blocked.body.error.details.retryAfterSeconds).toBe(retryAfter);
    // Refused before any key check: a good key or token from that IP is refused too...
    expect((await upgradeStatus('/ws', { 'x-api-key': key.viewer as string }, from)).status).toBe(429);
    // ...while other clients are not affected.
    expect((await upgradeStatus('/ws', { 'x-api-key': key.viewer as string }, '127.0.0.4')).status).toBe(101);
    expect((await streamApp.inject('/metrics')).body).toMatch(
      /tradingsystem_stream_upgrades_refused_total\{reason="blocked"\} [1-9]/,
    );
  });

  it('refuses handshakes beyond maxPendingUpgrades with 503 while the others are authenticating', async () => {
    const config = loadConfig({
      env: { TRADINGSYSTEM_HOME: home, TRADINGSYSTEM__LOG__LEVEL: 'warn' },
      cwd: home,
    });
    const gates: (() => void)[] = [];
    const identity = { id: 'k1', name: 'gated', role: 'viewer' } as KeyIdentity;
    const ctx = await buildService(
      {
        name: 'hub-test',
        setup(c) {
          new Hub({
            channels: allChannels(['WINZ26']),
            symbols: ['WINZ26'],
            logger: c.logger,
            // Each authentication waits until the test lets it through.
            authenticate: () => new Promise((resolve) => gates.push(() => resolve({ identity }))),
            revokedAmong: async () => new Set(),
            maxClients: 100,
            maxClientsPerKey: 100,
            maxClientsPerIp: 100,
            maxPendingUpgrades: 2,
            authFailuresPerMinute: 10,
            maxSubscriptionsPerClient: 10,
            maxFrameBytes: 4096,
            maxBufferedBytes: 65_536,
            maxQueuedBytes: 262_144,
            heartbeatIntervalMs: 0,
          }).attach(c.app, '/ws');
        },
      },
      { config },
    );
    running.push(ctx);
    await ctx.app.listen({ host: '127.0.0.1', port: 0 });
    const port = (ctx.app.server.address() as AddressInfo).port;
    const first = upgradeStatus('/ws', {}, '127.0.0.1', port);
    const second = upgradeStatus('/ws', {}, '127.0.0.1', port);
    await waitFor('two handshakes pending', () => gates.length === 2, 5_000, 10);
    const third = await upgradeStatus('/ws', {}, '127.0.0.1', port);
    expect(third.status).toBe(503);
    expect(third.body.error.code).toBe('TOO_MANY_HANDSHAKES');
    for (const open of gates.splice(0)) open();
    expect((await first).status).toBe(101);
    expect((await second).status).toBe(101);
    // The slots are free again once those handshakes are done.
    const fourth = upgradeStatus('/ws', {}, '127.0.0.1', port);
    await waitFor('fourth handshake pending', () => gates.length === 1, 5_000, 10);
    for (const open of gates.splice(0)) open();
    expect((await fourth).status).toBe(101);
  });
});

describe('stream protocol', () => {
  it('greets, subscribes, delivers with per-channel seqs, answers ping, and snapshots state channels', async () => {
    const c = client({ key: key.viewer });
    await c.opened;
    await c.reply((m) => m.type === 'hello' && m.role === 'viewer');
    await subscribed(c, ['trades:WINZ26', 'bars:1m:WINZ26', 'orders']);
    for (let i = 0; i < 50; i++) market.publish(trade('WINZ26', 128_000 + 5 * i));
    market.publish(trade('PETR4', 30)); // not subscribed
    orders.publish(orderEvent(1));
    await waitFor(
      '50 trades and an order',
      () => c.seqs('trades:WINZ26').length >= 50 && c.seqs('orders').length >= 1,
    );
    const trades = c.data.get('trades:WINZ26') ?? [];
    expect(contiguous(c.seqs('trades:WINZ26'))).toBe(true);
    expect(trades.at(-1)?.data).toMatchObject({ kind: 'trade', ticker: 'WINZ26', price: 128_245 });
    expect(c.data.has('trades:PETR4')).toBe(false);
    expect(c.data.get('orders')?.[0]?.data).toMatchObject({ type: 'order.submitted', orderId: 'ord-1' });
    const bar = (c.data.get('bars:1m:WINZ26') ?? []).at(-1)?.data;
    expect(bar).toMatchObject({ symbol: 'WINZ26', interval: '1m', close: 128_245, high: 128_245 });

    c.send({ op: 'ping', id: 7 });
    await c.reply((m) => m.type === 'pong' && m.id === 7);

    // A late subscriber gets the latest bar and health map at once, then live messages.
    const late = client({ key: key.viewer });
    await subscribed(late, ['bars:1m:WINZ26', 'health']);
    await waitFor('snapshots', () => late.data.has('bars:1m:WINZ26') && late.data.has('health'));
    expect(late.data.get('bars:1m:WINZ26')?.[0]).toMatchObject({ seq: 50, data: { close: 128_245 } });
    expect(late.data.get('health')?.[0]?.data.services).toMatchObject({
      'data-capture': { status: 'ok' },
      'order-manager': { status: 'ok' },
    });
    late.send({ op: 'unsubscribe', channels: ['bars:1m:WINZ26'] });
    await late.reply((m) => m.type === 'unsubscribed');
    market.publish(trade('WINZ26', 128_500));
    await waitFor('next trade', () => c.seqs('trades:WINZ26').length === 51);
    expect(late.seqs('bars:1m:WINZ26')).toEqual([50]);
  });

  it('answers hostile input with named errors and stays bounded', async () => {
    const hostile = (await keys.create('hostile', 'viewer')).key;
    const c = client({ key: hostile });
    const mine = async () =>
      (await streamApp.inject('/api/status')).json().clients.filter((x: JsonBody) => x.key === 'hostile');
    await c.opened;
    const expectError = async (msg: unknown, code: string) => {
      const before = c.replies.length;
      c.send(msg);
      const r = await waitFor(
        'error reply',
        () => c.replies.slice(before).find((m) => m.type === 'error'),
        5_000,
        10,
      );
      expect(r.code, JSON.stringify(msg).slice(0, 80)).toBe(code);
      expect(r.message).toEqual(expect.any(String));
    };
    await expectError('{not json', 'INVALID_JSON');
    await expectError('[1,2]', 'INVALID_MESSAGE');
    await expectError({ op: 'launch' }, 'UNKNOWN_OP');
    await expectError({ op: 'subscribe' }, 'INVALID_MESSAGE');
    await expectError({ op: 'subscribe', channels: ['trades:WINZ26', 'candles:WINZ26'] }, 'UNKNOWN_CHANNEL');
    await expectError({ op: 'subscribe', channels: ['trades:NOPE3'] }, 'UNKNOWN_INSTRUMENT');
    await expectError({ op: 'subscribe', channels: ['bars:5m:WINZ26'] }, 'UNKNOWN_CHANNEL');
    c.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    await c.reply((m) => m.code === 'BINARY_NOT_SUPPORTED');
    // The bad lists changed nothing.
    expect(await mine()).toMatchObject([{ subscriptions: 0 }]);

    // 10,000 subscriptions: one list is refused whole; the same in 1,000 frames of 10 is refused
    // once the limit (20 here) is reached, answered frame by frame, with nothing allocated per name.
    const many = Array.from({ length: 10_000 }, (_, i) => `trades:X${i}`);
    await expectError({ op: 'subscribe', channels: many.slice(0, 100) }, 'TOO_MANY_SUBSCRIPTIONS');
    const heapBefore = process.memoryUsage().heapUsed;
    for (let i = 0; i < 1_000; i++) c.send({ op: 'subscribe', channels: many.slice(i * 10, i * 10 + 10) });
    await waitFor('1,000 answers', () => c.replies.length >= 1_010, 10_000, 20);
    const errors = c.replies.slice(-1_000);
    expect(errors.every((m) => m.code === 'UNKNOWN_INSTRUMENT')).toBe(true);
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(50 * 1024 * 1024);
    expect(await mine()).toMatchObject([{ subscriptions: 0 }]);

    // Real channels up to the limit, then TOO_MANY_SUBSCRIPTIONS (default instruments: 16 channels).
    const real = ['orders', 'positions', 'risk', 'health'].concat(
      ['WINZ26', 'WDOZ26', 'PETR4', 'VALE3'].flatMap((s) => [`trades:${s}`, `quotes:${s}`, `bars:1m:${s}`]),
    );
    await subscribed(c, real);
    c.send({ op: 'subscribe', channels: real }); // again: idempotent
    await c.reply(
      (m) =>
        m.type === 'subscribed' &&
        m.channels.length === 16 &&
        c.replies.filter((x) => x.type === 'subscribed').length === 2,
    );

    // A frame over maxFrameBytes (4 KiB here) closes the connection with 1009.
    c.send({ op: 'ping', pad: 'x'.repeat(8_000) });
    await waitFor('closed', () => c.closed(), 5_000, 10);
    expect(c.closed()?.code).toBe(1009);
  });
});

describe('stream slow clients', () => {
  it('conflates market data for a client that stops reading, keeps others at rate, and never drops its orders', async () => {
    const slow = await subscribed(client({ key: key.viewer }), ['trades:WINZ26', 'orders']);
    const fast = await Promise.all(
      [1, 2, 3].map(() => subscribed(client({ key: key.viewer }), ['trades:WINZ26', 'orders'])),
    );
    const seq0 = fast[0]?.seqs('trades:WINZ26').length ?? 0;
    slow.ws.pause(); // reads nothing more: the socket buffers fill, then the hub's
    const base = (await streamApp.inject('/api/status')).json().counters.conflated.trades as number;
    const pad = 'p'.repeat(300);
    const orderSeqStart = (fast[0]?.seqs('orders').at(-1) ?? 0) + 1;
    let maxQueued = 0;
    for (let round = 0; round < 40; round++) {
      for (let i = 0; i < 500; i++)
        market.publish({ ...trade('WINZ26', 128_000, pad), exchange: pad } as CapturedEvent);
      orders.publish(orderEvent(round));
      await new Promise((r) => setTimeout(r, 25));
      const s = (await streamApp.inject('/api/status')).json();
      maxQueued = Math.max(maxQueued, ...s.clients.map((x: JsonBody) => x.queuedBytes));
    }
    for (const f of fast) {
      await waitFor(
        'fast clients have everything',
        () => f.seqs('trades:WINZ26').length >= seq0 + 20_000,
        20_000,
      );
      expect(contiguous(f.seqs('trades:WINZ26'))).toBe(true);
      expect(f.seqs('orders').length).toBeGreaterThanOrEqual(40);
    }
    const status = (await streamApp.inject('/api/status')).json();
    expect(status.counters.conflated.trades).toBeGreaterThan(base);
    const slowStats = status.clients.find((x: JsonBody) => x.conflated > 0);
    expect(slowStats).toBeDefined();
    // Bounded: the socket buffer stays near maxBufferedBytes (64 KiB) plus one turn's frame, and
    // the queue (orders only, trades conflated) well under maxQueuedBytes.
    expect(slowStats.maxBufferedAmount).toBeLessThan(65_536 + 1_000_000);
    expect(maxQueued).toBeLessThan(262_144);

    slow.ws.resume();
    await waitFor(
      'slow client caught up on orders',
      () => slow.seqs('orders').includes(orderSeqStart + 39),
      20_000,
    );
    const mine = slow.seqs('orders');
    expect(contiguous(mine)).toBe(true); // not one order event dropped
    const trades = slow.seqs('trades:WINZ26');
    expect(trades.length).toBeLessThan(20_000); // conflated: it did not get every trade
    expect(trades.every((s, i) => i === 0 || s > (trades[i - 1] as number))).toBe(true); // but always in order
    expect((await streamApp.inject('/metrics')).body).toMatch(
      /tradingsystem_stream_conflated_total\{kind="trades"\} [1-9]/,
    );
  });

  it('disconnects a client whose undroppable queue passes the hard limit, with close code 4001 and a reason', async () => {
    const slow = await subscribed(client({ key: key.viewer }), ['orders']);
    const other = await subscribed(client({ key: key.viewer }), ['orders']);
    slow.ws.pause();
    const before = other.seqs('orders').length;
    // 4 KiB an event: 3,000 events (12 MB) are far past what the kernel's socket buffers take,
    // plus 64 KiB of socket buffer and 256 KiB of queue in the hub.
    for (let round = 0; round < 30; round++) {
      for (let i = 0; i < 100; i++) orders.publish(orderEvent(i, 4_096));
      await new Promise((r) => setTimeout(r, 10));
    }
    await waitFor('other has all', () => other.seqs('orders').length >= before + 3_000, 20_000);
    expect(contiguous(other.seqs('orders'))).toBe(true);
    await waitFor(
      'slow disconnect counted',
      async () => (await streamApp.inject('/api/status')).json().counters.disconnects.slow >= 1,
    );
    slow.ws.resume(); // it reads what was buffered, then the close frame
    await waitFor('slow client closed', () => slow.closed(), 10_000);
    expect(slow.closed()).toMatchObject({ code: 4001, reason: expect.stringContaining('slow consumer') });
    expect(other.closed()).toBeUndefined();
    expect((await streamApp.inject('/metrics')).body).toMatch(
      /tradingsystem_stream_disconnects_total\{reason="slow"\} [1-9]/,
    );
  });
});
