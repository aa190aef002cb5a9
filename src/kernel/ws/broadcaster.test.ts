import { mkdtempSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { loadConfig } from '../../config.js';
import { buildService } from '../service.js';
import { Broadcaster, type BroadcasterOptions, Peer } from './broadcaster.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

async function until(what: string, cond: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A broadcaster serving /ws on a service at 127.0.0.1, with what its callbacks saw. */
async function startBroadcaster(opts: Partial<BroadcasterOptions<Peer>> = {}) {
  const seen = { written: 0, closed: [] as { id: number; code: number }[], timedOut: [] as number[] };
  const deliver = { flush: () => {} };
  const b = new Broadcaster<Peer, string, Buffer>({
    maxPayload: 4096,
    maxBufferedBytes: 64 * 1024,
    pingIntervalMs: 0,
    flush: () => deliver.flush(),
    onWritten: () => seen.written++,
    onClose: (p, code) => seen.closed.push({ id: p.id, code }),
    onHeartbeatTimeout: (p) => seen.timedOut.push(p.id),
    ...opts,
  });
  const home = mkdtempSync(path.join(os.tmpdir(), 'ts-ws-'));
  const config = loadConfig({ env: { TRADINGSYSTEM_HOME: home }, cwd: home });
  const ctx = await buildService(
    {
      name: 'ws-test',
      setup({ app }) {
        b.attach(
          app,
          '/ws',
          (req, socket, head) => b.accept(req, socket, head, (ws, id) => b.add(new Peer(id, ws))),
          () => b.closeAll(1001, 'server shutting down', 500),
        );
      },
    },
    { config },
  );
  await ctx.app.listen({ host: '127.0.0.1', port: 0 });
  cleanups.push(() => ctx.app.close());
  const url = `ws://127.0.0.1:${(ctx.app.server.address() as AddressInfo).port}/ws`;
  return { b, url, seen, deliver };
}

/** A bare client that keeps the text of its frames and how it was closed. */
async function connect(url: string, opts: { autoPong?: boolean } = {}) {
  const ws = new WebSocket(url, { perMessageDeflate: false, ...opts });
  const frames: string[] = [];
  const closed: { code?: number; reason?: string } = {};
  ws.on('message', (data) => frames.push(String(data)));
  ws.on('error', () => {});
  ws.on('close', (code, reason) => {
    closed.code = code;
    closed.reason = String(reason);
  });
  cleanups.push(() => ws.terminate());
  await new Promise<void>((resolve) => ws.once('open', () => resolve()));
  return { ws, frames, closed };
}

const newest = (b: Broadcaster<Peer, string, Buffer>): Peer => [...b.peers].at(-1) as Peer;

describe('Broadcaster', () => {
  it('terminates a peer that stops answering pings and keeps the one that answers', async () => {
    const { b, url, seen } = await startBroadcaster({ pingIntervalMs: 100 });
    const dead = await connect(url, { autoPong: false });
    await until('dead joined', () => b.peerCount === 1);
    const deadId = newest(b).id;
    const healthy = await connect(url);
    await until('dead peer terminated', () => dead.closed.code !== undefined);
    expect(dead.closed.code).toBe(1006); // cut off, no close handshake
    expect(seen.timedOut).toEqual([deadId]);
    await until('its close seen', () => seen.closed.length === 1);
    expect(seen.closed[0]?.id).toBe(deadId);
    await new Promise((r) => setTimeout(r, 350)); // a few more heartbeats
    expect(b.peerCount).toBe(1);
    expect(healthy.closed.code).toBeUndefined();
  });

  it('closes with the code and reason, and cuts off a peer that does not read at the timeout', async () => {
    const { b, url, seen } = await startBroadcaster();
    const reader = await connect(url);
    await until('reader joined', () => b.peerCount === 1);
    await b.closePeer(newest(b), 4401, 'key revoked', 5_000);
    await until('reader saw the close', () => reader.closed.code !== undefined);
    expect(reader.closed).toEqual({ code: 4401, reason: 'key revoked' });

    const stalled = await connect(url);
    await until('stalled joined', () => b.peerCount === 1);
    stalled.ws.pause(); // reads nothing more: the close frame waits behind the data it has not read
    const p = newest(b);
    const chunk = Buffer.alloc(64 * 1024, 'x');
    for (let i = 0; i < 2_000 && !b.isBehind(p); i++) b.write(p, chunk, 1);
    expect(b.isBehind(p)).toBe(true);
    const started = Date.now();
    await b.closePeer(p, 4001, 'slow consumer', 300);
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(250);
    expect(took).toBeLessThan(3_000);
    expect(p.closed).toBe(true);
    expect(seen.closed.at(-1)).toEqual({ id: p.id, code: 1006 });
    expect(b.peerCount).toBe(0);
  });

  it('builds each distinct frame once per flush and sends the same bytes to every peer that gets it', async () => {
    const { b, url, seen, deliver } = await startBroadcaster();
    const clients = [await connect(url), await connect(url), await connect(url)];
    await until('all joined', () => b.peerCount === 3);
    const keyOf = (p: Peer) => (p.id % 2 === 0 ? 'even' : 'odd');
    let builds = 0;
    let turn = 0;
    deliver.flush = () => {
      for (const p of b.peers) {
        const key = keyOf(p);
        let frame = b.sharedFrames.get(key);
        if (!frame) {
          builds++;
          frame = Buffer.from(JSON.stringify({ key, turn }));
          b.sharedFrames.set(key, frame);
        }
        b.write(p, frame, 2);
      }
    };
    b.schedule();
    b.schedule(); // one flush per turn however often scheduled
    await until('first frames', () => clients.every((c) => c.frames.length === 1));
    expect(builds).toBe(2);
    expect(b.sharedFrames.size).toBe(0); // nothing kept past the flush
    turn = 1;
    b.schedule();
    await until('second frames', () => clients.every((c) => c.frames.length === 2));
    expect(builds).toBe(4); // a new flush builds its own
    const ids = [...b.peers].map((p) => p.id);
    clients.forEach((c, i) => {
      const key = keyOf({ id: ids[i] } as Peer);
      expect(c.frames).toEqual([JSON.stringify({ key, turn: 0 }), JSON.stringify({ key, turn: 1 })]);
    });
    await until('every write called back', () => seen.written === 6);
    for (const p of b.peers) expect(p).toMatchObject({ framesSent: 2, messagesSent: 4 });
  });

  it('is behind above the high mark and has drained at half of it, not between', () => {
    const b = new Broadcaster<Peer>({
      maxPayload: 4096,
      maxBufferedBytes: 1_001,
      pingIntervalMs: 0,
      flush: () => {},
      onWritten: () => {},
      onClose: () => {},
      onHeartbeatTimeout: () => {},
    });
    const socket = { bufferedAmount: 0 };
    const p = new Peer(1, socket as unknown as WebSocket);
    const at = (bytes: number) => {
      socket.bufferedAmount = bytes;
      return { behind: b.isBehind(p), drained: b.hasDrained(p) };
    };
    expect(at(0)).toEqual({ behind: false, drained: true });
    expect(at(500)).toEqual({ behind: false, drained: true }); // low water: floor(1001 / 2)
    expect(at(501)).toEqual({ behind: false, drained: false });
    expect(at(1_001)).toEqual({ behind: false, drained: false });
    expect(at(1_002)).toEqual({ behind: true, drained: false });
  });
});
