// data-capture end to end: (a) Parquet conversion rate of a sealed segment beside DuckDB writing
// the same rows straight from a table it already holds; (b) the time from the broker callback
// (the trade's recvTs) to delivery on the live feed over loopback, with the simulator at
// 2,000 trades/s on four instruments, sealing and converting a segment every 2 s meanwhile.
// recvTs has millisecond resolution, so (b) is in whole ms.
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { freePort, machine, median, ROOT, startService, syntheticTrades, tempHome } from './lib.mjs';

const dist = (p) => import(path.join(ROOT, 'dist', p));
const TRADES = 200_000;

async function conversion(rounds) {
  const { MarketStore } = await dist('services/data-capture/market-store.js');
  const events = syntheticTrades(TRADES);
  const ours = [];
  const base = [];
  for (let r = 0; r < rounds; r++) {
    const home = tempHome('bench-parquet-');
    const store = await MarketStore.open({
      home,
      pointValues: { WINZ26: 0.2, WDOZ26: 10, PETR4: 1, VALE3: 1 },
      timeZone: 'America/Sao_Paulo',
    });
    let t = performance.now();
    await store.writeSegment(String(r + 1).padStart(16, '0'), events);
    ours.push(TRADES / ((performance.now() - t) / 1000));
    await store.close();

    // Baseline: DuckDB holds the rows already and only writes Parquet, one file per ticker.
    const db = await DuckDBInstance.create(':memory:');
    const conn = await db.connect();
    await conn.run(
      `CREATE TABLE t AS SELECT (i % 4) AS k, to_timestamp(1773666000 + i / 1000.0) AS ts, 1 + i // 4 AS trade_id,
       128000.0 + 5 * (i % 17) AS price, 1.0 + (i % 9) AS qty, i AS seq FROM range(${TRADES}) r(i)`,
    );
    t = performance.now();
    for (let k = 0; k < 4; k++) {
      await conn.run(
        `COPY (SELECT * FROM t WHERE k = ${k} ORDER BY seq) TO '${home}/base-${k}.parquet' (FORMAT PARQUET, COMPRESSION ZSTD)`,
      );
    }
    base.push(TRADES / ((performance.now() - t) / 1000));
    conn.closeSync();
    db.closeSync();
  }
  return { ours: Math.round(median(ours)), base: Math.round(median(base)) };
}

async function latency(durationS) {
  const { FeedClient } = await dist('kernel/feed/index.js');
  const port = await freePort();
  const svc = await startService('data-capture', {
    TRADINGSYSTEM_HOME: tempHome('bench-capture-'),
    TRADINGSYSTEM__SERVICES__DATA_CAPTURE__PORT: String(port),
    TRADINGSYSTEM__SIM__TRADES_PER_SECOND: '2000',
    // Seal every 2 s, so Parquet conversions run inside the measured window (the worst case).
    TRADINGSYSTEM__SERVICES__DATA_CAPTURE__JOURNAL__SEGMENT_MAX_AGE_MS: '2000',
    TRADINGSYSTEM__SIM__OPEN_AT: new Date(Date.now() - 1_000).toISOString(),
  });
  const lat = [];
  let received = 0;
  const client = new FeedClient({
    url: `ws://127.0.0.1:${port}/feed/market`,
    headers: svc.headers,
    onRecords: (records) => {
      const now = Date.now();
      for (const r of records) {
        if (r.data.kind !== 'trade' || r.data.backfilled) continue;
        received += 1;
        lat.push(now - r.data.recvTs);
      }
    },
  });
  await new Promise((r) => setTimeout(r, 2_000)); // past the start-up backfill
  client.start();
  await new Promise((r) => setTimeout(r, durationS * 1000));
  client.stop();
  await svc.stop();
  lat.sort((a, b) => a - b);
  const pct = (p) => lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))];
  return { rps: Math.round(received / durationS), p50: pct(50), p99: pct(99) };
}

export async function run({ rounds = 3, durationS = 5 } = {}) {
  const conv = await conversion(rounds);
  const lat = await latency(durationS);
  return {
    machine: machine(),
    rounds,
    durationS,
    results: {
      'Parquet conversion of a 200,000-trade segment (trades/s)': { rps: conv.ours },
      'baseline: DuckDB COPY of the same rows it already holds (trades/s)': { rps: conv.base },
      'ratio conversion / baseline': { rps: Math.round((conv.ours / conv.base) * 100) / 100 },
      'callback -> feed delivery, live trades at 4 × 2,000/s (ms)': lat,
    },
  };
}
