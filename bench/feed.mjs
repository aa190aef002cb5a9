// Feed delivery on loopback at a fixed record rate: our FeedServer → FeedClient beside a bare `ws`
// server broadcasting the same JSON records to a bare `ws` client (one frame per record, and one
// frame per event-loop turn as ours batches), in the same run and process. Latency is publish →
// consumer callback (a performance.now() stamp in each record).
// Uses the built feed (dist/); BENCH_FEED_DIST=<outDir> points it at another build.
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import Fastify from 'fastify';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { WebSocket, WebSocketServer } from 'ws';
import { interleaved, machine, publishAtRate, quantile, ROOT, ratio, round3, waitUntil } from './lib.mjs';

const RATE = Number(process.env.BENCH_FEED_RATE ?? 20_000);
const DIST = process.env.BENCH_FEED_DIST ?? path.join(ROOT, 'dist');

const OURS = 'FeedServer → FeedClient';
const BARE_BATCHED = 'baseline: bare ws, one frame per turn';
const BARE_PER_RECORD = 'baseline: bare ws, one frame per record';

export async function run({ rounds = 3, durationS = 5 } = {}) {
  const feed = await import(pathToFileURL(path.join(DIST, 'kernel', 'feed', 'index.js')).href);
  const targets = {
    [OURS]: () => oursTarget(feed),
    [BARE_BATCHED]: () => bareTarget(true),
    [BARE_PER_RECORD]: () => bareTarget(false),
  };
  const results = await interleaved(Object.keys(targets), rounds, async (name) =>
    measure(await targets[name](), durationS),
  );
  return {
    machine: machine(),
    rounds,
    durationS,
    rate: RATE,
    results,
    ratios: {
      [`${OURS} / ${BARE_BATCHED}`]: ratio(results[OURS], results[BARE_BATCHED]),
      [`${OURS} / ${BARE_PER_RECORD}`]: ratio(results[OURS], results[BARE_PER_RECORD]),
    },
  };
}

/** A trade-sized record stamped with its publish time. */
const tick = (seq) => ({
  t: performance.now(),
  sym: 'WINZ26',
  px: 128_450 + (seq % 40) * 5,
  qty: 1 + (seq % 7),
  side: seq % 2 ? 'B' : 'S',
  tradeId: seq,
});

/** Publishes RATE records/s for durationS, then waits for the consumer to have them all. */
async function measure(target, durationS) {
  const lat = new Float64Array(Math.ceil(RATE * durationS * 1.1) + 1_000);
  let received = 0;
  target.onTick((t) => {
    if (received < lat.length) lat[received] = performance.now() - t;
    received++;
  });
  await target.ready;
  const { sent, elapsed } = await publishAtRate(RATE, durationS, target.publish);
  for (const deadline = Date.now() + 10_000; received < sent && Date.now() < deadline; ) {
    await new Promise((r) => setTimeout(r, 5));
  }
  await target.stop();
  if (received !== sent) throw new Error(`${target.name}: received ${received} of ${sent}`);
  const n = Math.min(received, lat.length);
  const sorted = lat.subarray(0, n).sort();
  const pct = (q) => round3(quantile(sorted, q));
  return { rps: received / elapsed, p50: pct(0.5), p99: pct(0.99) };
}

/**
 * The producer's history, kept out of the comparison: it assigns seqs and regenerates records on
 * read (a real producer reads its journal from disk), so the feed retains only what it keeps
 * itself (its ring), as the baseline retains nothing.
 */
class ScratchHistory {
  n = 0;
  append(data) {
    return { seq: ++this.n, data };
  }
  read(afterSeq, max) {
    const out = [];
    for (let s = afterSeq + 1; s <= Math.min(this.n, afterSeq + max); s++)
      out.push({ seq: s, data: tick(s) });
    return out;
  }
  lastSeq() {
    return this.n;
  }
}

async function oursTarget({ FeedServer, FeedClient }) {
  const history = new ScratchHistory();
  const app = Fastify();
  const server = new FeedServer({
    name: 'bench',
    history,
    logger: pino({ level: 'warn' }),
    registry: new Registry(),
  });
  server.attach(app, '/feed/bench');
  await app.listen({ host: '127.0.0.1', port: 0 });
  let handler = () => {};
  let opened;
  const ready = new Promise((r) => {
    opened = r;
  });
  const client = new FeedClient({
    url: `ws://127.0.0.1:${app.server.address().port}/feed/bench`,
    onRecords: (records) => {
      for (const r of records) handler(r.data.t);
    },
    onState: (s) => s === 'open' && opened(),
  });
  client.start();
  return {
    name: OURS,
    ready: ready.then(() => waitUntil(() => server.clientCount === 1)),
    onTick: (fn) => {
      handler = fn;
    },
    publish: (seq) => server.publish(history.append(tick(seq))),
    stop: async () => {
      await client.stop();
      await app.close();
    },
  };
}

async function bareTarget(batched) {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  await new Promise((r) => wss.once('listening', r));
  let pending = [];
  const flush = () => {
    const frame = `{"t":"batch","records":[${pending.join(',')}]}`;
    pending = [];
    for (const ws of wss.clients) ws.send(frame);
  };
  let handler = () => {};
  const ws = new WebSocket(`ws://127.0.0.1:${wss.address().port}/`, { perMessageDeflate: false });
  ws.on('message', (data) => {
    for (const r of JSON.parse(data.toString()).records) handler(r.data.t);
  });
  const ready = new Promise((r) => ws.once('open', r)).then(() => waitUntil(() => wss.clients.size === 1));
  return {
    name: batched ? BARE_BATCHED : BARE_PER_RECORD,
    ready,
    onTick: (fn) => {
      handler = fn;
    },
    publish: (seq) => {
      const json = `{"seq":${seq},"data":${JSON.stringify(tick(seq))}}`;
      if (!batched) {
        const frame = `{"t":"batch","records":[${json}]}`;
        for (const c of wss.clients) c.send(frame);
      } else if (pending.push(json) === 1) setImmediate(flush);
    },
    stop: async () => {
      await new Promise((r) => {
        ws.once('close', r);
        ws.close();
      });
      await new Promise((r) => wss.close(r));
    },
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const out = await run({
    rounds: Number(process.env.BENCH_ROUNDS ?? 3),
    durationS: Number(process.env.BENCH_SECONDS ?? 5),
  });
  console.log(JSON.stringify(out, null, 2));
}
