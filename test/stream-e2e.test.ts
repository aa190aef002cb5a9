// End to end: a real data-capture on the simulator and a real order manager (in this process), the
// stream as its own process (`tradingsystem run stream`, so it can be killed with -9), and real
// WebSocket clients.
import { mkdirSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { loadConfig } from '../src/config.js';
import { KeyStore } from '../src/kernel/auth/keys.js';
import { buildService, type ServiceContext, type ServiceDefinition } from '../src/kernel/service.js';
import { dataCaptureService } from '../src/services/data-capture/service.js';
import { orderManagerService } from '../src/services/order-manager/service.js';
import {
  configEnv,
  freePort,
  internalFetch,
  type JsonBody,
  type Running,
  spawnCli,
  tempHome,
  waitFor,
} from './helpers/cli.js';

const home = tempHome('ts-stream-e2e-');
const running: ServiceContext[] = [];
const sockets: WebSocket[] = [];
let env: NodeJS.ProcessEnv;
let stream: Running | undefined;
let streamPort = 0;
let dcPort = 0;
let omPort = 0;
let apiKey = '';
/** The simulated tape ends here, so what data-capture holds stops changing and can be compared. */
let closeAt = 0;

async function inProcess(def: ServiceDefinition, port: number) {
  const ctx = await buildService(def, { config: loadConfig({ env, cwd: home }) });
  running.push(ctx);
  await ctx.app.listen({ host: '127.0.0.1', port });
  return (ctx.app.server.address() as AddressInfo).port;
}

function startStream() {
  stream = spawnCli(['run', 'stream'], env);
  return waitFor('stream healthy', async () => {
    const res = await fetch(`http://127.0.0.1:${streamPort}/health`);
    return res.status === 200 && ((await res.json()) as JsonBody).status === 'ok';
  });
}

// The stream runs as its own process: it made the home's internal token and requires it.
const status = async (): Promise<JsonBody> =>
  (await internalFetch(home)(`http://127.0.0.1:${streamPort}/api/status`)).json();

beforeAll(async () => {
  [dcPort, omPort, streamPort] = [await freePort(), await freePort(), await freePort()];
  closeAt = Date.now() + 14_000;
  env = configEnv(home, {
    log: { level: 'warn' },
    sim: {
      tradesPerSecond: 50,
      openAt: new Date(Date.now() - 500).toISOString(),
      closeAt: new Date(closeAt).toISOString(),
    },
    services: {
      'data-capture': { port: dcPort, subscriptions: ['WINZ26', 'PETR4'] },
      'order-manager': { port: omPort },
      stream: { port: streamPort, healthIntervalMs: 500 },
      gateway: { enabled: false },
      'idea-bank': { enabled: false },
      docs: { enabled: false },
    },
  });
  await inProcess(dataCaptureService, dcPort);
  await inProcess(orderManagerService, omPort);
  apiKey = (await KeyStore.at(home).create('e2e', 'viewer')).key;
  // Cursors at 0: the first start reads both feeds from their beginning, so its bars are complete
  // (without a cursor it joins at the tail and each symbol's first bar is marked partial).
  mkdirSync(path.join(home, 'stream'));
  writeFileSync(path.join(home, 'stream', 'cursors.json'), JSON.stringify({ market: 0, orders: 0 }));
  await startStream();
});
afterAll(async () => {
  for (const ws of sockets) ws.terminate();
  if (stream && stream.child.exitCode === null) {
    stream.child.kill('SIGTERM');
    await stream.exited;
  }
  for (const ctx of running.reverse()) await ctx.app.close();
});

function subscriber(channels: string[]) {
  const ws = new WebSocket(`ws://127.0.0.1:${streamPort}/ws`, {
    headers: { 'x-api-key': apiKey },
    perMessageDeflate: false,
  });
  sockets.push(ws);
  const data = new Map<string, JsonBody[]>();
  let acked = false;
  ws.on('open', () => ws.send(JSON.stringify({ op: 'subscribe', channels })));
  ws.on('message', (raw) => {
    for (const m of JSON.parse(String(raw)) as JsonBody[]) {
      if (m.type === 'subscribed') acked = true;
      if (m.channel) data.set(m.channel, [...(data.get(m.channel) ?? []), m]);
    }
  });
  ws.on('error', () => {});
  return { ws, data, acked: () => acked, of: (channel: string) => data.get(channel) ?? [] };
}

describe('stream end to end', () => {
  it('delivers simulator trades from data-capture, and order events and positions from the order manager', async () => {
    const c = subscriber(['trades:WINZ26', 'orders', 'positions']);
    await waitFor('subscribed', () => c.acked());
    await waitFor('20 trades', () => c.of('trades:WINZ26').length >= 20);
    const trades = c.of('trades:WINZ26');
    // The snapshot (latest trade) comes first, then every trade, seq one above the one before.
    expect(trades.every((m, i) => i === 0 || m.seq === trades[i - 1].seq + 1)).toBe(true);
    expect(trades.every((m, i) => i < 2 || m.data.tradeId === trades[i - 1].data.tradeId + 1)).toBe(true);
    expect(trades[0].data).toMatchObject({ kind: 'trade', ticker: 'WINZ26', backfilled: false });

    const res = await fetch(`http://127.0.0.1:${omPort}/api/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ symbol: 'WINZ26', side: 'BUY', type: 'MARKET', quantity: 1 }),
    });
    expect(res.status).toBe(201);
    const order = ((await res.json()) as JsonBody).data;
    await waitFor('order submitted on the stream', () =>
      c.of('orders').find((m) => m.data.type === 'order.submitted' && m.data.orderId === order.id),
    );
    await waitFor('fill on the stream', () =>
      c.of('orders').find((m) => m.data.orderId === order.id && m.data.data?.event?.type === 'filled'),
    );
    const positions = await waitFor('position after the fill', () =>
      c
        .of('positions')
        .find((m) => m.data.positions.some((p: JsonBody) => p.symbol === 'WINZ26' && p.netQty !== 0)),
    );
    expect(positions.data.positions.length).toBeGreaterThan(0);
  });

  it('resumes both inputs from its saved cursors after kill -9, rebuilding the live bar without losing a trade', async () => {
    await new Promise((r) => setTimeout(r, 1_500)); // a cursor save
    const before = await status();
    // 0 is a real cursor: the oldest open bar may start at the first trade the stream saw.
    expect(before.cursors.market).toBeGreaterThanOrEqual(0);
    stream?.child.kill('SIGKILL');
    await stream?.exited;
    // While it is down: trades keep coming, and an order is placed.
    const res = await fetch(`http://127.0.0.1:${omPort}/api/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ symbol: 'WINZ26', side: 'SELL', type: 'MARKET', quantity: 1 }),
    });
    expect(res.status).toBe(201);
    await new Promise((r) => setTimeout(r, 1_000));
    await startStream();
    const after = await status();
    // Resumed from the saved cursor (null would mean it joined the live tail and lost the gap).
    expect(after.inputs.market.resumedFrom).not.toBeNull();
    expect(after.inputs.market.resumedFrom).toBeGreaterThanOrEqual(0);
    expect(after.inputs.market.resumedFrom).toBeLessThanOrEqual(before.cursors.market + 1_000);
    expect(after.inputs.orders.resumedFrom).toBe(before.cursors.orders);

    // The orders input has everything the order manager journaled, the order placed while down included.
    const omHealth = (await (await fetch(`http://127.0.0.1:${omPort}/health`)).json()) as JsonBody;
    await waitFor(
      'orders input caught up',
      async () => (await status()).inputs.orders.lastSeq >= omHealth.checks.journal.lastSeq,
    );

    // Once the tape has ended, the stream's rebuilt 1m bar equals data-capture's bar of that minute.
    await new Promise((r) => setTimeout(r, Math.max(0, closeAt - Date.now() + 1_500)));
    const bars = (await (
      await fetch(`http://127.0.0.1:${dcPort}/api/bars?ticker=WINZ26&interval=1m&limit=1`)
    ).json()) as JsonBody;
    const last = bars.data.at(-1);
    const c = subscriber(['bars:1m:WINZ26']);
    const bar = await waitFor('bar snapshot', () => c.of('bars:1m:WINZ26')[0]);
    expect(bar.data).toMatchObject({
      partial: false,
      time: last.time,
      open: last.open,
      high: last.high,
      low: last.low,
      close: last.close,
      volume: last.volume,
      trades: last.trades,
    });
    expect((await status()).inputs.market.gapsDetected).toBe(0);
  });
});
