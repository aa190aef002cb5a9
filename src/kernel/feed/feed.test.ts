import { mkdtempSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { loadConfig } from '../../config.js';
import { buildService } from '../service.js';
import { FeedClient, type FeedClientOptions, type FeedClientState } from './client.js';
import { MemoryFeedHistory } from './memory-history.js';
import type { FeedRecord } from './protocol.js';
import { FeedServer, type FeedServerOptions } from './server.js';

interface Tick {
  px: number;
  pad?: string;
}

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

async function startFeed(
  history: MemoryFeedHistory<Tick>,
  opts: Partial<FeedServerOptions<Tick>> = {},
  port = 0,
) {
  const home = mkdtempSync(path.join(os.tmpdir(), 'ts-feed-'));
  const config = loadConfig({ env: { TRADINGSYSTEM_HOME: home }, cwd: home });
  let feed: FeedServer<Tick> | undefined;
  const ctx = await buildService(
    {
      name: 'feed-test',
      setup({ app, logger, metrics }) {
        feed = new FeedServer<Tick>({ name: 'test', history, logger, registry: metrics.registry, ...opts });
        feed.attach(app, '/feed/test');
      },
    },
    { config },
  );
  await ctx.app.listen({ host: '127.0.0.1', port });
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await ctx.app.close();
  };
  cleanups.push(close);
  const bound = (ctx.app.server.address() as AddressInfo).port;
  if (!feed) throw new Error('setup did not run');
  return { app: ctx.app, feed, port: bound, url: `ws://127.0.0.1:${bound}/feed/test`, close };
}

/** A FeedClient that records every delivered seq (and the states it went through). */
function collect(url: string, opts: Partial<FeedClientOptions<Tick>> = {}) {
  const seqs: number[] = [];
  const states: FeedClientState[] = [];
  const client = new FeedClient<Tick>({
    url,
    backoffInitialMs: 20,
    backoffMaxMs: 200,
    onRecords: (rs) => {
      for (const r of rs) seqs.push(r.seq);
    },
    onState: (s) => states.push(s),
    ...opts,
  });
  client.start();
  cleanups.push(() => client.stop());
  return { client, seqs, states };
}

/** Appends to the history (the journal comes first) then publishes, `perTurn` records per turn. */
async function produce(feed: FeedServer<Tick>, history: MemoryFeedHistory<Tick>, n: number, perTurn = 500) {
  for (let i = 0; i < n; i++) {
    feed.publish(history.append({ px: i }));
    if ((i + 1) % perTurn === 0) await new Promise((r) => setImmediate(r));
  }
}

async function until(what: string, cond: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Undefined when `seqs` is exactly first..last; else where it goes wrong (short, for a failure message). */
function notRange(seqs: readonly number[], first: number, last: number): string | undefined {
  if (seqs.length !== last - first + 1) return `length ${seqs.length}, expected ${last - first + 1}`;
  const bad = seqs.findIndex((s, i) => s !== first + i);
  return bad < 0 ? undefined : `index ${bad}: seq ${seqs[bad]}, expected ${first + bad}`;
}

/** Upgrade request by hand, to see the HTTP answer to a refused handshake. */
function rawUpgrade(port: number, pathAndQuery: string): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1',
      port,
      path: pathAndQuery,
      headers: {
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-version': '13',
        'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
      },
    });
    req.on('upgrade', () => reject(new Error('upgrade was accepted')));
    req.on('response', (res) => {
      let text = '';
      res.on('data', (c: Buffer) => {
        text += c.toString();
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** A bare ws client (no FeedClient logic) that records the batches it gets. */
function rawClient(url: string, opts: { autoPong?: boolean } = {}) {
  const ws = new WebSocket(url, { perMessageDeflate: false, ...opts });
  const seqs: number[] = [];
  let closeCode: number | undefined;
  ws.on('message', (data) => {
    const msg = JSON.parse(String(data)) as { t: string; records?: FeedRecord<Tick>[] };
    for (const r of msg.records ?? []) seqs.push(r.seq);
  });
  ws.on('error', () => {});
  ws.on('close', (code) => {
    closeCode = code;
  });
  cleanups.push(() => ws.terminate());
  const opened = new Promise<void>((resolve) => ws.once('open', () => resolve()));
  return { ws, seqs, opened, closeCode: () => closeCode };
}

describe('feed server and client', () => {
  it('delivers live records in order, starting after the last seq for a live-only client', async () => {
    const history = new MemoryFeedHistory<Tick>();
    const { feed, url } = await startFeed(history);
    for (let i = 0; i < 50; i++) feed.publish(history.append({ px: i }));
    const { client, seqs, states } = collect(url);
    await until('connected', () => feed.clientCount === 1 && client.lastSeq === 50);
    await produce(feed, history, 2_000, 300);
    await until('all delivered', () => seqs.length >= 2_000);
    expect(notRange(seqs, 51, 2_050)).toBeUndefined();
    expect(states).toEqual(['connecting', 'open']);
    expect(client.stats).toMatchObject({ reconnects: 0, duplicatesDropped: 0, gapsDetected: 0 });
  });

  it('resumes from the ring with exactly the missed records, then live', async () => {
    const history = new MemoryFeedHistory<Tick>();
    const { feed, url, app } = await startFeed(history);
    await produce(feed, history, 500);
    const { seqs } = collect(url, { from: 200 });
    await until('caught up', () => seqs.length === 300);
    await produce(feed, history, 100);
    await until('live', () => seqs.length === 400);
    expect(notRange(seqs, 201, 600)).toBeUndefined();
    expect(feed.stats().connections[0]).toMatchObject({ historyReads: 0, mode: 'live', sentSeq: 600 });
    const metrics = (await app.inject('/metrics')).body;
    expect(metrics).toContain('tradingsystem_feed_clients{feed="test"} 1');
    expect(metrics).toContain('tradingsystem_feed_records_sent_total{feed="test"} 400');
    expect(metrics).toContain('tradingsystem_feed_lag_records{feed="test"} 0');
  });

  it('resumes from the history when the ring is too small, while records keep coming', async () => {
    const history = new MemoryFeedHistory<Tick>();
    const { feed, url, app } = await startFeed(history, { ringSize: 16, maxBatchRecords: 50 });
    await produce(feed, history, 1_000);
    const a = collect(url, { from: 100 });
    const b = collect(url, { from: 0 });
    await produce(feed, history, 1_000, 20); // published during their catch-up
    await until('both caught up', () => a.seqs.length === 1_900 && b.seqs.length === 2_000);
    expect(notRange(a.seqs, 101, 2_000)).toBeUndefined();
    expect(notRange(b.seqs, 1, 2_000)).toBeUndefined();
    const conns = feed.stats().connections;
    expect(conns.every((c) => c.historyReads > 0 && c.mode === 'live')).toBe(true);
    expect((await app.inject('/metrics')).body).toMatch(
      /tradingsystem_feed_history_reads_total\{feed="test"\} [1-9]/,
    );
  });

  it('refuses a bad from with 400 and the error envelope, and an unknown path with 404', async () => {
    const history = new MemoryFeedHistory<Tick>();
    const { feed, port } = await startFeed(history);
    await produce(feed, history, 10);
    for (const q of ['from=-1', 'from=abc', 'from=1.5', 'from=11', 'from=1&from=2']) {
      const res = await rawUpgrade(port, `/feed/test?${q}`);
      expect(res.status, q).toBe(400);
      expect(res.body, q).toMatchObject({ error: { code: 'INVALID_FROM', message: expect.any(String) } });
    }
    const missing = await rawUpgrade(port, '/feed/nope?from=0');
    expect(missing).toMatchObject({ status: 404, body: { error: { code: 'NOT_FOUND' } } });
    // A FeedClient ahead of the server keeps retrying (with backoff) and delivers nothing.
    const ahead = collect(`ws://127.0.0.1:${port}/feed/test`, { from: 11 });
    await until('two refusals', () => ahead.client.stats.reconnects >= 2);
    expect(ahead.client.lastError).toContain('400');
    expect(ahead.seqs).toEqual([]);
    expect(feed.clientCount).toBe(0);
  });

  it('survives a server restart: the client reconnects and resumes without loss or duplicates', async () => {
    const history = new MemoryFeedHistory<Tick>();
    const first = await startFeed(history);
    const { client, seqs, states } = collect(first.url, { from: 0 });
    const raw = rawClient(first.url);
    await raw.opened;
    await produce(first.feed, history, 100);
    await until('first 100', () => seqs.length === 100);
    await first.close();
    expect(raw.closeCode()).toBe(1001);
    for (let i = 0; i < 50; i++) history.append({ px: i }); // journaled while the feed was down
    const second = await startFeed(history, {}, first.port);
    await until('resumed', () => seqs.length === 150);
    await produce(second.feed, history, 50);
    await until('live again', () => seqs.length === 200);
    expect(notRange(seqs, 1, 200)).toBeUndefined();
    expect(client.stats.reconnects).toBeGreaterThanOrEqual(1);
    expect(client.stats.duplicatesDropped).toBe(0);
    expect(states.slice(0, 3)).toEqual(['connecting', 'open', 'closed']);
    expect(states.at(-1)).toBe('open');
  });

  it('keeps a consumer that does not read within a bounded buffer, without slowing the others', async () => {
    const history = new MemoryFeedHistory<Tick>();
    const maxBufferedBytes = 256 * 1024;
    const { feed, url } = await startFeed(history, {
      ringSize: 10_000,
      maxBufferedBytes,
      maxBatchRecords: 500,
      pingIntervalMs: 0,
    });
    const slow = rawClient(`${url}?from=0`);
    await slow.opened;
    slow.ws.pause(); // stops reading its socket: the kernel buffers fill, then the server's
    const fast = collect(url, { from: 0 });
    await until('both connected', () => feed.clientCount === 2);
    const pad = 'x'.repeat(400); // ~450 bytes a record, 45 MB in all: far more than socket buffers
    let maxSeenBuffered = 0;
    for (let i = 0; i < 100_000; i++) {
      feed.publish(history.append({ px: i, pad }));
      if ((i + 1) % 1_000 === 0) {
        await new Promise((r) => setImmediate(r));
        const s = feed.stats().connections.find((c) => c.sentSeq < 100_000 && c.id === 1);
        maxSeenBuffered = Math.max(maxSeenBuffered, s?.bufferedAmount ?? 0);
      }
    }
    await until('fast consumer has everything', () => fast.seqs.length === 100_000, 30_000);
    expect(notRange(fast.seqs, 1, 100_000)).toBeUndefined();

    const slowStats = feed.stats().connections.find((c) => c.id === 1);
    if (!slowStats) throw new Error('slow connection gone');
    // The documented bound: the socket buffer never exceeds maxBufferedBytes plus one frame
    // (≤ maxBatchRecords records, plus its ≤ 10-byte WebSocket header); nothing else is queued.
    const bound = maxBufferedBytes + slowStats.maxFrameBytes + 10;
    expect(slowStats.maxBufferedAmount).toBeLessThanOrEqual(bound);
    expect(maxSeenBuffered).toBeLessThanOrEqual(bound);
    expect(slowStats.maxFrameBytes).toBeLessThan(500 * 500);
    expect(slowStats.slowEvents).toBeGreaterThanOrEqual(1);
    expect(slowStats.sentSeq).toBeLessThan(100_000); // it really is behind

    slow.ws.resume();
    await until('slow consumer has everything', () => slow.seqs.length === 100_000, 30_000);
    expect(notRange(slow.seqs, 1, 100_000)).toBeUndefined();
    const after = feed.stats().connections.find((c) => c.id === 1);
    expect(after?.historyReads).toBeGreaterThan(0); // it fell out of the 10,000-record ring
    expect(after?.mode).toBe('live');
  });

  it('terminates a peer that stops answering pings and keeps the healthy one', async () => {
    const history = new MemoryFeedHistory<Tick>();
    const { feed, url } = await startFeed(history, { pingIntervalMs: 250 });
    const dead = rawClient(url, { autoPong: false });
    await dead.opened;
    const healthy = collect(url);
    await until('dead peer terminated', () => dead.closeCode() !== undefined, 5_000);
    expect(dead.closeCode()).toBe(1006); // cut off, no close handshake
    await new Promise((r) => setTimeout(r, 600)); // a few more heartbeats
    expect(feed.clientCount).toBe(1);
    expect(healthy.client.currentState).toBe('open');
    expect(healthy.client.stats.reconnects).toBe(0);
  });
});

describe('feed client against a misbehaving server', () => {
  async function fakeServer(onConnection: (ws: WebSocket, from: string | null, n: number) => void) {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise((r) => wss.once('listening', r));
    let n = 0;
    wss.on('connection', (ws, req) => {
      onConnection(ws, new URL(req.url ?? '/', 'http://x').searchParams.get('from'), n++);
    });
    cleanups.push(
      () =>
        new Promise((r) => {
          for (const c of wss.clients) c.terminate();
          wss.close(r);
        }),
    );
    return `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/feed`;
  }
  const batch = (...seqs: number[]) =>
    JSON.stringify({ t: 'batch', records: seqs.map((seq) => ({ seq, data: {} })) });

  it('never delivers past a gap: it reconnects from the last delivered seq and drops duplicates', async () => {
    const froms: (string | null)[] = [];
    const url = await fakeServer((ws, from, n) => {
      froms.push(from);
      ws.send(JSON.stringify({ t: 'hello', lastSeq: 5 }));
      ws.send(n === 0 ? batch(1, 2, 4, 5) : batch(2, 3, 4, 5));
    });
    const { client, seqs } = collect(url, { from: 0 });
    await until('recovered', () => seqs.length === 5);
    expect(seqs).toEqual([1, 2, 3, 4, 5]);
    expect(froms.slice(0, 2)).toEqual(['0', '2']);
    expect(client.stats).toMatchObject({
      gapsDetected: 1,
      gapsRecovered: 1,
      duplicatesDropped: 1,
      reconnects: 1,
    });
  });

  it('reconnects when the server goes silent (no data, no pings)', async () => {
    let connections = 0;
    const url = await fakeServer((ws) => {
      connections++;
      ws.send(JSON.stringify({ t: 'hello', lastSeq: 0 }));
    });
    collect(url, { idleTimeoutMs: 100 });
    await until('reconnected', () => connections >= 2, 5_000);
  });
});
