// Stream fan-out on loopback: 100 WebSocket clients subscribed to trades of one instrument at a
// fixed trade rate. Ours: a producer FeedServer (standing in for data-capture) → the stream service
// (its FeedClient input, hub, per-client queues) → 100 clients. Baseline: a bare `ws` server
// broadcasting the same messages (one frame per event-loop turn, the same JSON array of
// {channel, seq, data}) to 100 bare clients. Producer and server run in this process, as the stream
// would; the clients run in a worker thread (they would saturate the server's core otherwise).
// Latency is publish → client, from a wall-clock stamp (performance.timeOrigin + now) in each trade.
// Uses the built service (dist/).
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import Fastify from 'fastify';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { WebSocket, WebSocketServer } from 'ws';
import {
  freePort,
  interleaved,
  machine,
  publishAtRate,
  quantile,
  ROOT,
  ratio,
  round3,
  tempHome,
  waitUntil,
} from './lib.mjs';

const RATE = Number(process.env.BENCH_STREAM_RATE ?? 10_000);
const CLIENTS = Number(process.env.BENCH_STREAM_CLIENTS ?? 100);
const DIST = path.join(ROOT, 'dist');
const CHANNEL = 'trades:WINZ26';
/** Clients whose every message is parsed for latency; the others count messages only. */
const TIMED_CLIENTS = 10;

const OURS = `stream hub, ${CLIENTS} clients`;
const BARE = `baseline: bare ws broadcast, ${CLIENTS} clients`;

const wallNow = () => performance.timeOrigin + performance.now();

export async function run({ rounds = 3, durationS = 5 } = {}) {
  const targets = { [OURS]: oursTarget, [BARE]: bareTarget };
  const results = await interleaved(Object.keys(targets), rounds, async (name) =>
    measure(name, await targets[name](), durationS),
  );
  return {
    machine: machine(),
    rounds,
    durationS,
    rate: RATE,
    clients: CLIENTS,
    results,
    ratios: {
      [`${OURS} / ${BARE}`]: ratio(results[OURS], results[BARE]),
    },
  };
}

/** A captured trade as data-capture publishes it, stamped with its publish time in `recvTs`. */
const trade = (seq) => ({
  kind: 'trade',
  seq,
  recvTs: wallNow(),
  backfilled: false,
  ticker: 'WINZ26',
  exchange: 'F',
  ts: Date.now(),
  tradeId: seq,
  price: 128_450 + (seq % 40) * 5,
  qty: 1 + (seq % 7),
  aggressor: seq % 2 ? 'BUY' : 'SELL',
  buyAgent: 3,
  sellAgent: 308,
});

/** Publishes RATE trades/s for durationS; the worker's clients report what they got. */
async function measure(name, target, durationS) {
  const clients = new Worker(new URL(import.meta.url), {
    workerData: { url: target.url, headers: target.headers, clients: CLIENTS, subscribe: target.subscribe },
  });
  const message = (type) =>
    new Promise((resolve, reject) => {
      const on = (m) => {
        if (m.type === type) {
          clients.off('message', on);
          resolve(m);
        }
      };
      clients.on('message', on);
      clients.once('error', reject);
    });
  await message('ready');
  await target.ready?.();
  const { sent, elapsed } = await publishAtRate(RATE, durationS, target.publish);
  await new Promise((r) => setTimeout(r, 1_000)); // what is in flight arrives
  if (process.env.BENCH_DEBUG) console.error(name, await target.debug?.());
  clients.postMessage({ type: 'report' });
  const report = await message('report');
  await clients.terminate();
  await target.stop();
  const expected = sent * CLIENTS;
  if (process.env.BENCH_DEBUG) console.error(name, { frames: report.frames, messages: report.messages });
  return {
    rps: report.messages / elapsed,
    delivered: round3(report.messages / expected),
    p50: report.p50,
    p99: report.p99,
    name,
  };
}

async function oursTarget() {
  const { FeedServer } = await import(pathToFileURL(path.join(DIST, 'kernel', 'feed', 'index.js')).href);
  const { loadConfig } = await import(pathToFileURL(path.join(DIST, 'config.js')).href);
  const { buildService } = await import(pathToFileURL(path.join(DIST, 'kernel', 'service.js')).href);
  const { streamService } = await import(
    pathToFileURL(path.join(DIST, 'services', 'stream', 'service.js')).href
  );
  const { KeyStore } = await import(pathToFileURL(path.join(DIST, 'kernel', 'auth', 'keys.js')).href);

  // The producer: a FeedServer whose history regenerates records (kept out of the comparison).
  let n = 0;
  const history = { read: () => [], lastSeq: () => n };
  const producer = Fastify();
  const feed = new FeedServer({
    name: 'market',
    history,
    logger: pino({ level: 'warn' }),
    registry: new Registry(),
  });
  feed.attach(producer, '/feed/market');
  await producer.listen({ host: '127.0.0.1', port: 0 });

  const home = tempHome('ts-bench-stream-');
  const config = loadConfig({
    env: {
      TRADINGSYSTEM_HOME: home,
      TRADINGSYSTEM__LOG__LEVEL: 'warn',
      TRADINGSYSTEM__SERVICES__DATA_CAPTURE__PORT: String(producer.server.address().port),
      TRADINGSYSTEM__SERVICES__ORDER_MANAGER__PORT: String(await freePort()),
      TRADINGSYSTEM__SERVICES__STREAM__MAX_CLIENTS: String(CLIENTS + 10),
      // One key from one address for every client: the per-key and per-IP caps must let them all in.
      TRADINGSYSTEM__SERVICES__STREAM__MAX_CLIENTS_PER_KEY: String(CLIENTS + 10),
      TRADINGSYSTEM__SERVICES__STREAM__MAX_CLIENTS_PER_IP: String(CLIENTS + 10),
      TRADINGSYSTEM__SERVICES__STREAM__HEALTH_INTERVAL_MS: '60000',
    },
    cwd: home,
  });
  const ctx = await buildService(streamService, { config });
  await ctx.app.listen({ host: '127.0.0.1', port: 0 });
  const key = (await KeyStore.at(home).create('bench', 'viewer')).key;
  return {
    url: `ws://127.0.0.1:${ctx.app.server.address().port}/ws`,
    headers: { 'x-api-key': key },
    subscribe: true,
    ready: () => waitUntil(() => feed.clientCount === 1),
    publish: (seq) => {
      n = seq;
      feed.publish({ seq, data: trade(seq) });
    },
    debug: async () => {
      const s = (await ctx.app.inject('/api/status')).json();
      return {
        counters: s.counters,
        records: s.inputs.market.records,
        sent: n,
        clients: s.clients.slice(0, 3),
      };
    },
    stop: async () => {
      await ctx.app.close();
      await producer.close();
    },
  };
}

async function bareTarget() {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  await new Promise((r) => wss.once('listening', r));
  let pending = [];
  const flush = () => {
    const frame = Buffer.from(`[${pending.join(',')}]`);
    pending = [];
    for (const ws of wss.clients) ws.send(frame, { binary: false });
  };
  return {
    url: `ws://127.0.0.1:${wss.address().port}/`,
    headers: {},
    subscribe: false,
    publish: (seq) => {
      const msg = `{"channel":"${CHANNEL}","seq":${seq},"data":${JSON.stringify(trade(seq))}}`;
      if (pending.push(msg) === 1) setImmediate(flush);
    },
    stop: async () => {
      for (const ws of wss.clients) ws.terminate();
      await new Promise((r) => wss.close(r));
    },
  };
}

/** The worker: CLIENTS WebSocket clients; the first TIMED_CLIENTS parse every message for latency. */
async function clientsWorker({ url, headers, clients, subscribe }) {
  let messages = 0;
  let frames = 0;
  const lat = [];
  const MARK = '{"channel":';
  const sockets = await Promise.all(
    Array.from({ length: clients }, (_, i) => {
      const ws = new WebSocket(url, { headers, perMessageDeflate: false });
      const timed = i < TIMED_CLIENTS;
      let subscribed = !subscribe;
      ws.on('message', (raw) => {
        const text = raw.toString();
        frames++;
        if (!subscribed) {
          if (text.includes('"type":"subscribed"')) subscribed = true;
          return;
        }
        if (timed) {
          const now = wallNow();
          for (const m of JSON.parse(text)) {
            if (m.channel !== CHANNEL) continue;
            messages++;
            if (lat.length < 2_000_000) lat.push(now - m.data.recvTs);
          }
          return;
        }
        for (let at = text.indexOf(MARK); at >= 0; at = text.indexOf(MARK, at + MARK.length)) messages++;
      });
      return new Promise((resolve) =>
        ws.once('open', () => {
          if (subscribe) ws.send(JSON.stringify({ op: 'subscribe', channels: [CHANNEL] }));
          resolve(ws);
        }),
      );
    }),
  );
  // Wait for every subscription to be acknowledged (bare clients need none).
  await new Promise((r) => setTimeout(r, 300));
  parentPort.postMessage({ type: 'ready' });
  parentPort.on('message', (m) => {
    if (m.type !== 'report') return;
    const sorted = Float64Array.from(lat).sort();
    const pct = (q) => round3(quantile(sorted, q) ?? Number.NaN);
    parentPort.postMessage({ type: 'report', messages, frames, p50: pct(0.5), p99: pct(0.99) });
    for (const ws of sockets) ws.terminate();
  });
}

if (!isMainThread && workerData?.url) {
  await clientsWorker(workerData);
} else if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const out = await run({
    rounds: Number(process.env.BENCH_ROUNDS ?? 3),
    durationS: Number(process.env.BENCH_SECONDS ?? 5),
  });
  console.log(JSON.stringify(out, null, 2));
}
