import { existsSync } from 'node:fs';
import path from 'node:path';
import { DuckDBInstance, type JS } from '@duckdb/node-api';

/** Reads SQL with a fresh DuckDB, as any outside reader of the Parquet files would. */
export async function duck(sql: string): Promise<Record<string, JS>[]> {
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  try {
    return (await conn.runAndReadAll(sql)).getRowObjectsJS();
  } finally {
    conn.closeSync();
    db.closeSync();
  }
}

export interface TradeNumbers {
  rows: number;
  distinct: number;
  min: number;
  max: number;
}

/** Per ticker: how many trades Parquet holds, how many distinct trade numbers, and their range. */
export async function tradeNumbersInParquet(home: string): Promise<Record<string, TradeNumbers>> {
  const glob = path.join(home, 'parquet', 'trades', '*', '*', '*.parquet');
  if (!existsSync(path.join(home, 'parquet', 'trades'))) return {};
  const rows = await duck(
    `SELECT ticker, count(*) AS n, count(DISTINCT trade_id) AS d, min(trade_id) AS lo, max(trade_id) AS hi
     FROM read_parquet('${glob}', hive_partitioning = true, union_by_name = true) GROUP BY ticker`,
  );
  return Object.fromEntries(
    rows.map((r) => [
      String(r.ticker),
      { rows: Number(r.n), distinct: Number(r.d), min: Number(r.lo), max: Number(r.hi) },
    ]),
  );
}

export interface Truth {
  asOf: string;
  instruments: Record<string, { lastTradeId: number; ts: string } | null>;
}

export async function getJson<T>(url: string, init?: RequestInit): Promise<T> {
  const res = await fetch(url, init);
  return (await res.json()) as T;
}
