import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { JS } from '@duckdb/node-api';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { duck } from '../../../test/helpers/market.js';
import type { CapturedEvent, CapturedQuote, CapturedTrade } from '../../domain/market-data.js';
import { Registry } from '../../kernel/metrics.js';
import { MarketStore } from './market-store.js';
import { registerDuckdbMemory } from './metrics.js';

const POINT_VALUES = { WINZ26: 0.2, PETR4: 1 };
const at = (iso: string) => Date.parse(iso);

function trade(seq: number, ts: number, over: Partial<CapturedTrade> = {}): CapturedTrade {
  return {
    kind: 'trade',
    seq,
    recvTs: ts + 7,
    backfilled: false,
    ticker: 'PETR4',
    exchange: 'B',
    ts,
    tradeId: 1000 + seq,
    price: 38.5,
    qty: 100,
    aggressor: 'BUY',
    buyAgent: 3,
    sellAgent: 72,
    ...over,
  };
}

function quote(seq: number, ts: number, over: Partial<CapturedQuote> = {}): CapturedQuote {
  return {
    kind: 'quote',
    seq,
    recvTs: ts + 5,
    ticker: 'PETR4',
    exchange: 'B',
    ts,
    bidPrice: 38.49,
    bidQty: 500,
    askPrice: 38.51,
    askQty: 300,
    ...over,
  };
}

async function filesUnder(dir: string): Promise<string[]> {
  if (!existsSync(dir)) return [];
  const names = await readdir(dir, { recursive: true });
  return names.filter((n) => n.includes('.parquet')).sort();
}

let home: string;
let store: MarketStore;
let trades: string;

beforeEach(async () => {
  home = await mkdtemp(path.join(os.tmpdir(), 'market-store-'));
  trades = path.join(home, 'parquet', 'trades');
  store = await MarketStore.open({ home, pointValues: POINT_VALUES, timeZone: 'America/Sao_Paulo' });
});

afterEach(async () => {
  await store.close();
  await rm(home, { recursive: true, force: true });
});

describe('writeSegment', () => {
  // 02:59:59.500Z is 23:59:59 on the 9th in São Paulo; 03:00:00.500Z is past local midnight.
  const segment: CapturedEvent[] = [
    trade(1, at('2026-03-10T02:59:59.500Z'), { price: 38.1 }),
    quote(2, at('2026-03-10T02:59:59.600Z')),
    trade(3, at('2026-03-10T03:00:00.500Z'), { price: 38.2, aggressor: 'SELL', backfilled: true }),
    trade(4, at('2026-03-10T03:00:01.000Z'), {
      ticker: 'WINZ26',
      exchange: 'F',
      price: 128_005,
      qty: 3,
      aggressor: 'NONE',
    }),
  ];

  it('partitions by the configured zone’s date: the same trades under UTC fall on the 10th', async () => {
    await store.close();
    store = await MarketStore.open({ home, pointValues: POINT_VALUES, timeZone: 'UTC' });
    const result = await store.writeSegment('0000000000000001', segment);
    expect(result.files.map((f) => path.relative(home, f)).sort()).toEqual([
      'parquet/quotes/date=2026-03-10/ticker=PETR4/seg-0000000000000001.parquet',
      'parquet/trades/date=2026-03-10/ticker=PETR4/seg-0000000000000001.parquet',
      'parquet/trades/date=2026-03-10/ticker=WINZ26/seg-0000000000000001.parquet',
    ]);
    const [daily] = await store.queryBars({ ticker: 'PETR4', interval: '1d' });
    expect(daily?.time).toBe(Date.parse('2026-03-10T00:00:00Z'));
  });

  it('partitions by São Paulo date and ticker, readable by a fresh DuckDB', async () => {
    const result = await store.writeSegment('0000000000000001', segment);
    expect(result.trades).toBe(3);
    expect(result.quotes).toBe(1);
    expect(result.files.map((f) => path.relative(home, f)).sort()).toEqual([
      'parquet/quotes/date=2026-03-09/ticker=PETR4/seg-0000000000000001.parquet',
      'parquet/trades/date=2026-03-09/ticker=PETR4/seg-0000000000000001.parquet',
      'parquet/trades/date=2026-03-10/ticker=PETR4/seg-0000000000000001.parquet',
      'parquet/trades/date=2026-03-10/ticker=WINZ26/seg-0000000000000001.parquet',
    ]);
    const rows = await duck(
      `SELECT epoch_ms(ts)::DOUBLE AS ts, epoch_ms(recv_ts)::DOUBLE AS recv_ts, ticker, exchange, trade_id,
         price, qty, volume, aggressor, buy_agent, sell_agent, seq, backfilled, strftime("date", '%Y-%m-%d') AS d
       FROM read_parquet('${trades}/*/*/*.parquet', hive_partitioning = true) ORDER BY seq`,
    );
    expect(rows).toEqual([
      row(1, '2026-03-10T02:59:59.500Z', 'PETR4', 'B', 38.1, 100, 3810, 'BUY', false, '2026-03-09'),
      row(3, '2026-03-10T03:00:00.500Z', 'PETR4', 'B', 38.2, 100, 3820, 'SELL', true, '2026-03-10'),
      row(
        4,
        '2026-03-10T03:00:01.000Z',
        'WINZ26',
        'F',
        128_005,
        3,
        128_005 * 3 * 0.2,
        'NONE',
        false,
        '2026-03-10',
      ),
    ]);
  });

  it('converts a segment given slice by slice (as the converter streams it) like the whole segment', async () => {
    const whole = await store.writeSegment('0000000000000001', segment);
    const wholeRows = await duck(`SELECT * FROM read_parquet('${trades}/*/*/*.parquet') ORDER BY seq`);
    await rm(path.join(home, 'parquet'), { recursive: true });
    await mkdir(trades, { recursive: true });
    async function* slices() {
      for (let i = 0; i < segment.length; i += 3) yield segment.slice(i, i + 3);
    }
    expect(await store.writeSegment('0000000000000001', slices())).toEqual(whole);
    expect(await duck(`SELECT * FROM read_parquet('${trades}/*/*/*.parquet') ORDER BY seq`)).toEqual(
      wholeRows,
    );
  });

  it('stores the documented column types', async () => {
    await store.writeSegment('0000000000000001', segment);
    const schema = await duck(
      `SELECT column_name AS name, column_type AS type FROM (DESCRIBE SELECT * FROM
         read_parquet('${trades}/*/*/*.parquet', hive_partitioning = true, union_by_name = true))`,
    );
    expect(Object.fromEntries(schema.map((c) => [c.name, c.type]))).toEqual({
      ts: 'TIMESTAMP',
      recv_ts: 'TIMESTAMP',
      ticker: 'VARCHAR',
      exchange: 'VARCHAR',
      trade_id: 'BIGINT',
      price: 'DOUBLE',
      qty: 'DOUBLE',
      volume: 'DOUBLE',
      aggressor: 'VARCHAR',
      buy_agent: 'INTEGER',
      sell_agent: 'INTEGER',
      seq: 'BIGINT',
      backfilled: 'BOOLEAN',
      date: 'DATE',
    });
  });

  it('writes quotes under parquet/quotes', async () => {
    await store.writeSegment('0000000000000001', segment);
    const rows = await duck(
      `SELECT * EXCLUDE (ts, recv_ts), epoch_ms(ts)::DOUBLE AS ts_ms FROM
         read_parquet('${home}/parquet/quotes/*/*/*.parquet', hive_partitioning = true)`,
    );
    expect(rows).toEqual([
      {
        ticker: 'PETR4',
        exchange: 'B',
        bid_price: 38.49,
        bid_qty: 500,
        ask_price: 38.51,
        ask_qty: 300,
        seq: 2n,
        date: new Date('2026-03-09T00:00:00Z'),
        ts_ms: at('2026-03-10T02:59:59.600Z'),
      },
    ]);
  });

  it('converting the same segment twice leaves one copy', async () => {
    await store.writeSegment('0000000000000001', segment);
    await store.writeSegment('0000000000000001', segment);
    const [count] = await duck(`SELECT count(*)::INTEGER AS n FROM read_parquet('${trades}/*/*/*.parquet')`);
    expect(count?.n).toBe(3);
    expect(await store.queryTrades({ ticker: 'PETR4', limit: 100 })).toHaveLength(2);
  });

  it('writes nothing for an empty segment', async () => {
    expect(await store.writeSegment('0000000000000009', [])).toEqual({ trades: 0, quotes: 0, files: [] });
    expect(await filesUnder(path.join(home, 'parquet'))).toEqual([]);
  });

  it('rejects when the trades directory cannot be created, leaves no file, and a retry succeeds', async () => {
    await rm(trades, { recursive: true });
    await writeFile(trades, 'not a directory');
    await expect(store.writeSegment('0000000000000001', segment)).rejects.toThrow(
      /converting segment 0000000000000001 failed/,
    );
    expect(await filesUnder(path.join(home, 'parquet'))).toEqual([]);

    await rm(trades);
    const retry = await store.writeSegment('0000000000000001', segment);
    expect(retry.files).toHaveLength(4);
    expect(await store.queryTrades({ ticker: 'PETR4', limit: 10 })).toHaveLength(2);
  });

  it('a failure on a later partition removes the files already staged for the segment', async () => {
    const blocked = path.join(trades, 'date=2026-03-10', 'ticker=WINZ26');
    await mkdir(path.dirname(blocked), { recursive: true });
    await writeFile(blocked, 'in the way');
    await expect(store.writeSegment('0000000000000001', segment)).rejects.toThrow(/failed/);
    expect(await filesUnder(path.join(home, 'parquet'))).toEqual([]);
  });
});

function row(
  seq: number,
  iso: string,
  ticker: string,
  exchange: string,
  price: number,
  qty: number,
  volume: number,
  aggressor: string,
  backfilled: boolean,
  d: string,
): Record<string, JS> {
  const ts = Date.parse(iso);
  const tradeId = BigInt(1000 + seq);
  return {
    ts,
    recv_ts: ts + 7,
    ticker,
    exchange,
    trade_id: tradeId,
    price,
    qty,
    volume,
    aggressor,
    buy_agent: 3,
    sell_agent: 72,
    seq: BigInt(seq),
    backfilled,
    d,
  };
}

describe('open', () => {
  it('removes stale .tmp files a crash left behind', async () => {
    await store.close();
    const dir = path.join(trades, 'date=2026-03-10', 'ticker=PETR4');
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'seg-0000000000000001.parquet.tmp'), 'half a file');
    store = await MarketStore.open({ home, pointValues: POINT_VALUES, timeZone: 'America/Sao_Paulo' });
    expect(await filesUnder(trades)).toEqual([]);
    expect(await store.queryTrades({ ticker: 'PETR4', limit: 10 })).toEqual([]);
  });

  it('rejects work after close', async () => {
    await store.close();
    await expect(store.queryTrades({ ticker: 'PETR4', limit: 10 })).rejects.toThrow(/closed/);
  });

  it('answers [] on an empty store', async () => {
    expect(await store.queryTrades({ ticker: 'PETR4', limit: 10 })).toEqual([]);
    expect(await store.queryBars({ ticker: 'PETR4', interval: '1m' })).toEqual([]);
  });
});

describe('tail', () => {
  const t0 = at('2026-03-10T13:00:00Z');
  const events = [trade(1, t0), trade(2, t0 + 1000), quote(3, t0 + 1500), trade(4, t0 + 2000)];
  const seqs = async () => (await store.queryTrades({ ticker: 'PETR4', limit: 100 })).map((t) => t.seq);

  it('makes tail trades visible at once, and never twice around a conversion', async () => {
    store.appendTail(events);
    expect(await seqs()).toEqual([1, 2, 4]);
    await store.writeSegment('0000000000000001', events.slice(0, 3));
    expect(await seqs()).toEqual([1, 2, 4]);
    store.dropTailThrough(3);
    expect(await seqs()).toEqual([1, 2, 4]);
    store.appendTail([trade(5, t0 + 3000)]);
    expect(await seqs()).toEqual([1, 2, 4, 5]);
  });

  it('gives back the memory of converted tail trades (DuckDB keeps that of deleted rows)', async () => {
    const SEGMENT = 100_000;
    const inMemoryTables = async () => (await store.duckdbMemory()).IN_MEMORY_TABLE ?? 0;
    // Operators see the same figure in /metrics.
    const registry = new Registry();
    registerDuckdbMemory(registry, store);
    const exported = async () => {
      const line = (await registry.metrics()).split('\n').find((l) => l.includes('tag="IN_MEMORY_TABLE"'));
      return Number(line?.split(' ').at(-1));
    };
    const loaded: number[] = [];
    for (let s = 0; s < 6; s++) {
      const segment = Array.from({ length: SEGMENT }, (_, i) => {
        const seq = s * SEGMENT + i + 1;
        return trade(seq, t0 + seq, { ticker: seq % 2 ? 'PETR4' : 'WINZ26' });
      });
      store.appendTail(segment);
      await store.queryTrades({ ticker: 'PETR4', limit: 1 }); // loads the tail into DuckDB
      loaded.push(await inMemoryTables());
      expect(await exported()).toBe(loaded.at(-1));
      await store.writeSegment(String(s * SEGMENT + 1).padStart(16, '0'), segment);
      store.dropTailThrough((s + 1) * SEGMENT);
    }
    // With DELETE the in-memory tables only grew, segment after segment; rebuilt, the tail table
    // holds one segment at most, and nothing once that is converted.
    const first = loaded[0] ?? 0;
    expect(first).toBeGreaterThan(0);
    for (const bytes of loaded) expect(bytes).toBeLessThanOrEqual(first * 1.5);
    expect(await inMemoryTables()).toBeLessThan(first / 2);
    expect(await store.queryTrades({ ticker: 'PETR4', limit: 10_000 })).toHaveLength(10_000);
  }, 120_000); // 600,000 rows through DuckDB: minutes on a loaded 2-core host

  it('does not duplicate tail trades that are already in Parquet', async () => {
    await store.writeSegment('0000000000000001', events);
    store.appendTail(events);
    expect(await seqs()).toEqual([1, 2, 4]);
  });

  it('a query issued during a conversion sees each trade once', async () => {
    store.appendTail(events);
    const writing = store.writeSegment('0000000000000001', events);
    const during = seqs();
    await writing;
    expect(await during).toEqual([1, 2, 4]);
  });

  it('returns the full trade row', async () => {
    store.appendTail([trade(7, t0, { backfilled: true, aggressor: 'SELL' })]);
    expect(await store.queryTrades({ ticker: 'PETR4', limit: 1 })).toEqual([
      {
        seq: 7,
        ts: '2026-03-10T13:00:00.000Z',
        recvTs: '2026-03-10T13:00:00.007Z',
        ticker: 'PETR4',
        exchange: 'B',
        tradeId: 1007,
        price: 38.5,
        qty: 100,
        volume: 3850,
        aggressor: 'SELL',
        buyAgent: 3,
        sellAgent: 72,
        backfilled: true,
      },
    ]);
  });
});

describe('queryTrades', () => {
  const t0 = at('2026-03-10T13:00:00Z');

  beforeEach(async () => {
    // Seq 1..6 one second apart, seq 7 shares seq 6's ts; another ticker and another day around them.
    const list = [1, 2, 3, 4, 5, 6].map((s) => trade(s, t0 + (s - 1) * 1000));
    list.push(trade(7, t0 + 5000), trade(8, t0 + 2500, { ticker: 'VALE3' }));
    list.push(trade(9, at('2026-03-11T13:00:00Z')));
    await store.writeSegment('0000000000000001', list.slice(0, 5));
    store.appendTail(list.slice(5));
  });

  const seqs = async (q: Partial<Parameters<MarketStore['queryTrades']>[0]>) =>
    (await store.queryTrades({ ticker: 'PETR4', limit: 100, ...q })).map((t) => t.seq);

  it('filters by ticker and inclusive from/to', async () => {
    expect(await seqs({})).toEqual([1, 2, 3, 4, 5, 6, 7, 9]);
    expect(await seqs({ from: t0 + 1000, to: t0 + 3000 })).toEqual([2, 3, 4]);
    expect(await seqs({ from: t0 + 5000 })).toEqual([6, 7, 9]);
    expect(await seqs({ to: t0 })).toEqual([1]);
    expect(await seqs({ ticker: 'VALE3' })).toEqual([8]);
    expect(await seqs({ ticker: 'ABCD3' })).toEqual([]);
  });

  it('orders by ts then seq and applies the limit after ordering', async () => {
    expect(await seqs({ order: 'desc', limit: 3 })).toEqual([9, 7, 6]);
    expect(await seqs({ order: 'asc', limit: 2 })).toEqual([1, 2]);
    expect(await seqs({ to: t0 + 5000, order: 'desc', limit: 2 })).toEqual([7, 6]);
    expect(await seqs({ limit: 0 })).toEqual([]);
  });
});

describe('queryBars', () => {
  const m = (hhmmss: string) => at(`2026-03-10T${hhmmss}Z`);
  const list = [
    trade(1, m('13:00:05'), { price: 10, qty: 100 }),
    trade(2, m('13:00:30'), { price: 12, qty: 200 }),
    trade(3, m('13:00:59'), { price: 11, qty: 100 }),
    trade(4, m('13:01:10'), { price: 13, qty: 300 }),
    trade(5, m('13:01:20'), { price: 9, qty: 100 }),
    // Same ts as seq 5: the higher seq is the later trade, so it is the close.
    trade(6, m('13:01:20'), { price: 10, qty: 100 }),
    trade(7, at('2026-03-11T14:00:00Z'), { price: 20, qty: 50 }),
  ];

  beforeEach(async () => {
    await store.writeSegment('0000000000000001', list.slice(0, 3));
    store.appendTail(list.slice(3));
  });

  it('builds 1m bars across Parquet and the tail', async () => {
    const bars = await store.queryBars({ ticker: 'PETR4', interval: '1m', to: m('23:59:59') });
    expect(bars).toEqual([
      bar(m('13:00:00'), 10, 12, 10, 11, 400, 4500, 3),
      bar(m('13:01:00'), 13, 13, 9, 10, 500, 5800, 3),
    ]);
  });

  it('builds 1d bars on São Paulo days and keeps the newest with a limit', async () => {
    const bars = await store.queryBars({ ticker: 'PETR4', interval: '1d' });
    expect(bars).toEqual([
      bar(at('2026-03-10T03:00:00Z'), 10, 13, 9, 10, 900, 10_300, 6),
      bar(at('2026-03-11T03:00:00Z'), 20, 20, 20, 20, 50, 1000, 1),
    ]);
    const newest = await store.queryBars({ ticker: 'PETR4', interval: '1d', limit: 1 });
    expect(newest.map((b) => b.time)).toEqual([at('2026-03-11T03:00:00Z')]);
  });

  it('respects from for hourly bars', async () => {
    const bars = await store.queryBars({ ticker: 'PETR4', interval: '1h', from: m('13:01:00') });
    expect(bars.map((b) => [b.time, b.trades])).toEqual([
      [m('13:00:00'), 3],
      [at('2026-03-11T14:00:00Z'), 1],
    ]);
  });
});

function bar(
  time: number,
  open: number,
  high: number,
  low: number,
  close: number,
  volume: number,
  fin: number,
  n: number,
) {
  return { time, open, high, low, close, volume, financialVolume: fin, vwap: fin / volume, trades: n };
}

describe('applyRetention', () => {
  it('removes date partitions older than the window, trades and quotes alike', async () => {
    const days = ['2026-01-01', '2026-02-13', '2026-03-10'];
    const events = days.flatMap((d, i) => [
      trade(i * 2 + 1, at(`${d}T15:00:00Z`)),
      quote(i * 2 + 2, at(`${d}T15:00:01Z`)),
    ]);
    await store.writeSegment('0000000000000001', events);
    // Today is 2026-03-15 in São Paulo; 30 days back is 2026-02-13, which is kept.
    const { removed } = await store.applyRetention(30, at('2026-03-15T15:00:00Z'), 'America/Sao_Paulo');
    expect(removed.map((r) => path.relative(home, r)).sort()).toEqual([
      'parquet/quotes/date=2026-01-01',
      'parquet/trades/date=2026-01-01',
    ]);
    expect((await store.queryTrades({ ticker: 'PETR4', limit: 10 })).map((t) => t.seq)).toEqual([3, 5]);
  });

  it('leaves queries working when every partition is gone', async () => {
    await store.writeSegment('0000000000000001', [trade(1, at('2026-01-01T15:00:00Z'))]);
    await store.applyRetention(1, at('2026-03-15T15:00:00Z'), 'America/Sao_Paulo');
    expect(await store.queryTrades({ ticker: 'PETR4', limit: 10 })).toEqual([]);
  });
});

describe('throughput', () => {
  it('converts 200,000 trades (rate printed, not asserted)', async () => {
    const t0 = at('2026-03-10T13:00:00Z');
    const events = Array.from({ length: 200_000 }, (_, i) =>
      trade(i + 1, t0 + i * 50, {
        ticker: i % 3 === 0 ? 'PETR4' : 'WINZ26',
        price: 128_000 + (i % 40) * 5,
        qty: 1 + (i % 5),
      }),
    );
    const started = performance.now();
    await store.writeSegment('0000000000000001', events);
    const seconds = (performance.now() - started) / 1000;
    console.log(
      `market-store: converted 200000 trades in ${seconds.toFixed(2)} s = ${Math.round(200_000 / seconds)} trades/s`,
    );
    const [count] = await duck(`SELECT count(*)::INTEGER AS n FROM read_parquet('${trades}/*/*/*.parquet')`);
    expect(count?.n).toBe(200_000);
  });
});
