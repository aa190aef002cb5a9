/**
 * The Parquet market store (ARCHITECTURE.md section 4), written and queried through in-process DuckDB.
 *
 *   {home}/parquet/trades/date=YYYY-MM-DD/ticker=XXX/seg-{segment}.parquet   (same for quotes)
 *
 * `date` is the local date of the exchange time in the configured zone (`timezone`, São Paulo by
 * default: B3's trading day) and lives only in the path. `ticker` is
 * both in the path and a column of the file, so a file read on its own still says what it holds;
 * DuckDB's hive reader accepts the overlap. Sealed journal segments are converted whole; the newest
 * trades, journaled but not yet converted, sit in an in-memory tail that queries union in.
 * All DuckDB work runs through one connection, one job at a time.
 */
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import {
  BOOLEAN,
  DOUBLE,
  type DuckDBConnection,
  DuckDBDataChunk,
  DuckDBInstance,
  type DuckDBType,
  type DuckDBValue,
  INTEGER,
  type JS,
  quotedString,
  VARCHAR,
} from '@duckdb/node-api';
import { removeOldPartitions } from '../../adapters/storage/parquet-partitions.js';
import { tradeFinancialVolume } from '../../domain/bars.js';
import type { Aggressor, CapturedEvent, CapturedQuote, CapturedTrade } from '../../domain/market-data.js';
import { localDate } from '../../kernel/time.js';
import { type Bar, type BarInterval, dayStart, INTRADAY_STEP_MS } from './bars.js';

export const MAX_QUERY_ROWS = 10_000;

const CHUNK_ROWS = 512;
const SEGMENT_ID = /^[0-9A-Za-z_-]{1,64}$/;
/** Tickers become directory names: nothing that could climb out of a partition or break hive parsing. */
const SAFE_TICKER = /^[A-Za-z0-9_-]{1,32}$/;

export interface MarketStoreOptions {
  home: string;
  /** Symbol → BRL per point, for financial volume; a symbol missing here counts as 1 (equities). */
  pointValues: Record<string, number>;
  /** DuckDB memory cap, so a conversion cannot starve the trading processes. Default `1GB`. */
  memoryLimit?: string;
  /** Zone of the `date=` partitions and the daily bars: the configured session zone. */
  timeZone: string;
  /** Told of every damaged file set aside (see `setAsideDamaged`). */
  onDamaged?: (damage: DamagedParquet) => void;
}

/** A Parquet file that could not be read, moved out of the store. */
export interface DamagedParquet {
  file: string;
  /** Where it was moved (under `{home}/parquet-damaged/`). */
  keptAs: string;
  reason: string;
  kind: 'trades' | 'quotes';
  date: string;
  ticker: string;
  /** The journal segment it was converted from: converting that again rebuilds it. */
  segmentId: string;
}

/** A query that meets more damaged files than this gives up (and fails) instead of moving more. */
const MAX_DAMAGED_PER_QUERY = 5;
/** Files read one by one to find a damaged one DuckDB's error did not name. */
const MAX_FILES_CHECKED = 2_000;

export interface TradeRow {
  seq: number;
  ts: string;
  recvTs: string;
  ticker: string;
  exchange: string;
  tradeId: number;
  price: number;
  qty: number;
  volume: number;
  aggressor: Aggressor;
  buyAgent: number;
  sellAgent: number;
  backfilled: boolean;
}

export interface TradeQuery {
  ticker: string;
  /** Epoch ms, inclusive. */
  from?: number;
  /** Epoch ms, inclusive. */
  to?: number;
  /** Clamped to MAX_QUERY_ROWS. */
  limit: number;
  order?: 'asc' | 'desc';
}

export interface BarQuery {
  ticker: string;
  interval: BarInterval;
  from?: number;
  to?: number;
  /** The newest `limit` bars (still returned oldest first); default and cap MAX_QUERY_ROWS. */
  limit?: number;
}

export interface SegmentWriteResult {
  trades: number;
  quotes: number;
  files: string[];
}

type Row = Record<string, JS>;
type Params = Record<string, DuckDBValue>;

/**
 * Settings of the store's in-process DuckDB. Its external file cache (DuckDB >= 1.3) keeps blocks of
 * every Parquet file a query read, up to `memory_limit`: the OS page cache does that for local
 * files already, and in a process that runs for weeks the cache only grows it.
 */
export const DUCKDB_SETTINGS = {
  autoinstall_known_extensions: 'false',
  enable_external_file_cache: 'false',
} as const;

interface Column<T> {
  name: string;
  type: DuckDBType;
  value: (e: T) => DuckDBValue;
}

interface Kind<T extends CapturedEvent> {
  dir: 'trades' | 'quotes';
  stage: string;
  columns: Column<T>[];
  /** Staging columns → the Parquet schema (epoch ms → TIMESTAMP, integral doubles → BIGINT). */
  select: string;
}

interface PendingFile {
  tmp: string;
  final: string;
}

const TRADE_SELECT = `epoch_ms(ts::BIGINT) AS ts, epoch_ms(recv_ts::BIGINT) AS recv_ts, ticker, exchange,
  trade_id::BIGINT AS trade_id, price, qty, volume, aggressor, buy_agent, sell_agent, seq::BIGINT AS seq,
  backfilled`;
const QUOTE_SELECT = `epoch_ms(ts::BIGINT) AS ts, epoch_ms(recv_ts::BIGINT) AS recv_ts, ticker, exchange,
  bid_price, bid_qty, ask_price, ask_qty, seq::BIGINT AS seq`;
const SOURCE_COLUMNS =
  'ts, recv_ts, ticker, exchange, trade_id, price, qty, volume, aggressor, buy_agent, sell_agent, seq, backfilled, "date"';

/** Staging columns: doubles for epoch ms and seq (exact below 2^53) avoid a BigInt per value. */
function tradeColumns(dateOf: (ts: number) => string, pointValue: (t: string) => number) {
  const columns: Column<CapturedTrade>[] = [
    { name: 'ts', type: DOUBLE, value: (e) => e.ts },
    { name: 'recv_ts', type: DOUBLE, value: (e) => e.recvTs },
    { name: 'ticker', type: VARCHAR, value: (e) => e.ticker },
    { name: 'exchange', type: VARCHAR, value: (e) => e.exchange },
    { name: 'trade_id', type: DOUBLE, value: (e) => e.tradeId },
    { name: 'price', type: DOUBLE, value: (e) => e.price },
    { name: 'qty', type: DOUBLE, value: (e) => e.qty },
    {
      name: 'volume',
      type: DOUBLE,
      value: (e) => tradeFinancialVolume(e.price, e.qty, pointValue(e.ticker)),
    },
    { name: 'aggressor', type: VARCHAR, value: (e) => e.aggressor },
    { name: 'buy_agent', type: INTEGER, value: (e) => e.buyAgent },
    { name: 'sell_agent', type: INTEGER, value: (e) => e.sellAgent },
    { name: 'seq', type: DOUBLE, value: (e) => e.seq },
    { name: 'backfilled', type: BOOLEAN, value: (e) => e.backfilled },
    { name: 'date', type: VARCHAR, value: (e) => dateOf(e.ts) },
  ];
  return columns;
}

function quoteColumns(dateOf: (ts: number) => string) {
  const columns: Column<CapturedQuote>[] = [
    { name: 'ts', type: DOUBLE, value: (e) => e.ts },
    { name: 'recv_ts', type: DOUBLE, value: (e) => e.recvTs },
    { name: 'ticker', type: VARCHAR, value: (e) => e.ticker },
    { name: 'exchange', type: VARCHAR, value: (e) => e.exchange },
    { name: 'bid_price', type: DOUBLE, value: (e) => e.bidPrice },
    { name: 'bid_qty', type: DOUBLE, value: (e) => e.bidQty },
    { name: 'ask_price', type: DOUBLE, value: (e) => e.askPrice },
    { name: 'ask_qty', type: DOUBLE, value: (e) => e.askQty },
    { name: 'seq', type: DOUBLE, value: (e) => e.seq },
    { name: 'date', type: VARCHAR, value: (e) => dateOf(e.ts) },
  ];
  return columns;
}

export class MarketStore {
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  private pendingTail: CapturedTrade[] = [];
  private tailDropRequested = 0;
  private tailDropApplied = 0;
  /** Rows in DuckDB's tail_trades: exact after each rebuild, counted up by loads (-1: unknown). */
  private tailRows = 0;
  private readonly trades: Kind<CapturedTrade>;
  private readonly quotes: Kind<CapturedQuote>;

  private constructor(
    private readonly parquetDir: string,
    private readonly instance: DuckDBInstance,
    private readonly conn: DuckDBConnection,
    pointValues: Record<string, number>,
    private hasTradeFiles: boolean,
    private readonly timeZone: string,
    private readonly onDamaged: (damage: DamagedParquet) => void,
  ) {
    const dateOf = (ts: number) => localDate(timeZone, ts);
    const pointValue = (ticker: string) => pointValues[ticker] ?? 1;
    this.trades = {
      dir: 'trades',
      stage: 'stage_trades',
      columns: tradeColumns(dateOf, pointValue),
      select: TRADE_SELECT,
    };
    this.quotes = {
      dir: 'quotes',
      stage: 'stage_quotes',
      columns: quoteColumns(dateOf),
      select: QUOTE_SELECT,
    };
  }

  static async open(opts: MarketStoreOptions): Promise<MarketStore> {
    const home = path.resolve(opts.home);
    const parquetDir = path.join(home, 'parquet');
    const spillDir = path.join(home, 'tmp', 'market-store');
    // An unusable (full, read-only) disk must not stop capture: writeSegment fails and is retried.
    for (const dir of [spillDir, path.join(parquetDir, 'trades'), path.join(parquetDir, 'quotes')]) {
      await mkdir(dir, { recursive: true }).catch(() => {});
    }
    const found = await scanParquet(parquetDir);
    // A crash mid-conversion leaves only `.tmp` files; the segment is converted again later.
    await Promise.all(found.tmp.map((file) => rm(file, { force: true }).catch(() => {})));
    const instance = await DuckDBInstance.create(':memory:', {
      memory_limit: opts.memoryLimit ?? '1GB',
      temp_directory: spillDir,
      ...DUCKDB_SETTINGS,
    });
    const conn = await instance.connect();
    const store = new MarketStore(
      parquetDir,
      instance,
      conn,
      opts.pointValues,
      found.tradeFiles,
      opts.timeZone,
      opts.onDamaged ?? (() => {}),
    );
    await createTable(conn, 'tail_trades', store.trades.columns);
    await conn.run(`CREATE VIEW tail_v AS SELECT ${TRADE_SELECT}, "date"::DATE AS "date" FROM tail_trades`);
    return store;
  }

  /**
   * Write one sealed journal segment's events to Parquet; converting it again overwrites, never
   * duplicates. The events may come as slices (the journal's `segmentSlices`): each is staged in
   * DuckDB and let go before the next is read, so a segment (~470k events a minute at 2,000
   * trades/s per instrument, ~90 MB as JS objects) is never in the JS heap whole.
   */
  async writeSegment(
    segmentId: string,
    events: CapturedEvent[] | AsyncIterable<CapturedEvent[]>,
  ): Promise<SegmentWriteResult> {
    if (!SEGMENT_ID.test(segmentId)) throw new Error(`market-store: bad segment id '${segmentId}'`);
    const slices = Array.isArray(events) ? [events] : events;
    return this.serial(async () => {
      const staged = await this.convert(segmentId, slices);
      if (staged.trades > 0) this.hasTradeFiles = true;
      // Same job as the renames, so no query sees these trades twice or not at all.
      if (staged.trades + staged.quotes > 0) await this.forgetTail(staged.range);
      return { trades: staged.trades, quotes: staged.quotes, files: staged.files };
    });
  }

  /** Buffer the newest trades (journaled, not yet in Parquet); loaded into DuckDB before the next query. */
  appendTail(events: CapturedEvent[]): void {
    for (const e of events) {
      if (e.kind === 'trade' && e.seq > this.tailDropRequested) this.pendingTail.push(e);
    }
  }

  /** Trades in the query tail, in the heap or loaded into DuckDB: what the tail costs in memory. */
  get tailTrades(): number {
    return this.pendingTail.length + Math.max(0, this.tailRows);
  }

  /** Forget tail trades through `seq`: their segment is in Parquet now. */
  dropTailThrough(seq: number): void {
    if (seq <= this.tailDropRequested) return;
    this.tailDropRequested = seq;
    this.pendingTail = this.pendingTail.filter((e) => e.seq > seq);
  }

  /** Trades of one ticker in [from, to], ordered by (ts, seq) ascending or descending. */
  async queryTrades(q: TradeQuery): Promise<TradeRow[]> {
    const limit = clampLimit(q.limit);
    if (limit === 0) return [];
    const dir = q.order === 'desc' ? 'DESC' : 'ASC';
    const rows = await this.serial(() =>
      this.readTrades(q, (src) => ({
        sql: `SELECT epoch_ms(ts)::DOUBLE AS ts_ms, epoch_ms(recv_ts)::DOUBLE AS recv_ms, ticker, exchange,
            trade_id::DOUBLE AS trade_id, price, qty, volume, aggressor, buy_agent, sell_agent,
            seq::DOUBLE AS seq, backfilled
          FROM (${src}) AS s ORDER BY s.ts ${dir}, s.seq ${dir} LIMIT $limit`,
        params: { limit },
      })),
    );
    return rows.map(toTradeRow);
  }

  /** OHLCV bars of one ticker, oldest first. */
  async queryBars(q: BarQuery): Promise<Bar[]> {
    const limit = clampLimit(q.limit ?? MAX_QUERY_ROWS);
    if (limit === 0) return [];
    // 1d buckets are the partition date (a São Paulo trading day); intraday ones are epoch-aligned.
    const step = q.interval === '1d' ? null : INTRADAY_STEP_MS[q.interval];
    const key = step === null ? 's."date"' : '(epoch_ms(s.ts) // $step::BIGINT) * $step::BIGINT';
    const params: Params = step === null ? { limit } : { limit, step };
    const rows = await this.serial(() =>
      this.readTrades(q, (src) => ({
        sql: `SELECT k::VARCHAR AS k, * EXCLUDE (k) FROM (
            SELECT ${key} AS k, first(s.price ORDER BY s.ts, s.seq) AS open, max(s.price) AS high,
              min(s.price) AS low, last(s.price ORDER BY s.ts, s.seq) AS close, sum(s.qty) AS volume,
              sum(s.volume) AS financial_volume, sum(s.price * s.qty) / nullif(sum(s.qty), 0) AS vwap,
              count(*)::DOUBLE AS trades
            FROM (${src}) AS s GROUP BY k ORDER BY k DESC LIMIT $limit)`,
        params,
      })),
    );
    const bars = rows.map((r) => toBar(r, step === null ? (k) => dayStart(this.timeZone, k) : Number));
    return bars.reverse();
  }

  /**
   * The trades and quotes one journal segment put in Parquet with `fromSeq <= seq <= toSeq`, in
   * seq order and as they were journaled: what puts a damaged journal segment back together.
   */
  async eventsOfSegment(segmentId: string, fromSeq: number, toSeq: number): Promise<CapturedEvent[]> {
    if (!SEGMENT_ID.test(segmentId)) throw new Error(`market-store: bad segment id '${segmentId}'`);
    const range = { lo: fromSeq, hi: toSeq };
    const glob = (dir: string) =>
      quotedString(path.join(this.parquetDir, dir, '*', '*', `seg-${segmentId}.parquet`));
    const read = async (sql: string): Promise<Row[]> => {
      try {
        return (await this.conn.runAndReadAll(sql, range)).getRowObjectsJS();
      } catch (err) {
        if (messageOf(err).includes('No files found')) return [];
        throw err;
      }
    };
    return this.serial(async () => {
      const trades = await read(
        `SELECT epoch_ms(ts)::DOUBLE AS ts_ms, epoch_ms(recv_ts)::DOUBLE AS recv_ms, ticker, exchange,
          trade_id::DOUBLE AS trade_id, price, qty, aggressor, buy_agent, sell_agent, seq::DOUBLE AS seq, backfilled
        FROM read_parquet(${glob('trades')}, union_by_name = true) WHERE seq BETWEEN $lo AND $hi`,
      );
      const quotes = await read(
        `SELECT epoch_ms(ts)::DOUBLE AS ts_ms, epoch_ms(recv_ts)::DOUBLE AS recv_ms, ticker, exchange,
          bid_price, bid_qty, ask_price, ask_qty, seq::DOUBLE AS seq
        FROM read_parquet(${glob('quotes')}, union_by_name = true) WHERE seq BETWEEN $lo AND $hi`,
      );
      const events: CapturedEvent[] = [
        ...trades.map(
          (r): CapturedTrade => ({
            kind: 'trade',
            seq: num(r.seq),
            recvTs: num(r.recv_ms),
            backfilled: r.backfilled === true,
            ticker: str(r.ticker),
            exchange: str(r.exchange),
            ts: num(r.ts_ms),
            tradeId: num(r.trade_id),
            price: num(r.price),
            qty: num(r.qty),
            aggressor: aggressorOf(r.aggressor),
            buyAgent: num(r.buy_agent),
            sellAgent: num(r.sell_agent),
          }),
        ),
        ...quotes.map(
          (r): CapturedQuote => ({
            kind: 'quote',
            seq: num(r.seq),
            recvTs: num(r.recv_ms),
            ticker: str(r.ticker),
            exchange: str(r.exchange),
            ts: num(r.ts_ms),
            bidPrice: num(r.bid_price),
            bidQty: num(r.bid_qty),
            askPrice: num(r.ask_price),
            askQty: num(r.ask_qty),
          }),
        ),
      ];
      return events.sort((a, b) => a.seq - b.seq);
    });
  }

  /**
   * Per ticker, the highest trade number Parquet holds for a session date and its time: where the
   * trades after a point in the journal continue from.
   */
  async lastTradesOn(date: string): Promise<Map<string, { exchange: string; tradeId: number; ts: number }>> {
    const out = new Map<string, { exchange: string; tradeId: number; ts: number }>();
    if (!this.hasTradeFiles) return out;
    const rows = await this.serial(async () => {
      try {
        const reader = await this.conn.runAndReadAll(
          `SELECT ticker, any_value(exchange) AS exchange, max(trade_id)::DOUBLE AS trade_id,
            epoch_ms(arg_max(ts, trade_id))::DOUBLE AS ts_ms
          FROM ${this.tradeScan()} WHERE "date" = $date::DATE GROUP BY ticker`,
          { date },
        );
        return reader.getRowObjectsJS();
      } catch (err) {
        if (messageOf(err).includes('No files found')) return [];
        throw err;
      }
    });
    for (const r of rows) {
      out.set(str(r.ticker), { exchange: str(r.exchange), tradeId: num(r.trade_id), ts: num(r.ts_ms) });
    }
    return out;
  }

  /** Delete `date=` partitions (trades and quotes) older than `days` before today in `timeZone`. */
  async applyRetention(days: number, nowMs: number, timeZone: string): Promise<{ removed: string[] }> {
    return this.serial(async () => {
      const removed = await removeOldPartitions(this.parquetDir, days, nowMs, timeZone);
      this.hasTradeFiles = (await scanParquet(this.parquetDir)).tradeFiles;
      return { removed };
    });
  }

  /** Waits for queued work, then releases DuckDB. Later calls reject. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue;
    this.conn.closeSync();
    this.instance.closeSync();
  }

  private serial<T>(job: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new Error('market-store: closed'));
    const run = this.queue.then(job);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Stages every slice (trades and quotes in their tables), then writes each partition to `.tmp`
   * and renames them all, so a failure leaves no new final file.
   */
  private async convert(
    segmentId: string,
    slices: Iterable<CapturedEvent[]> | AsyncIterable<CapturedEvent[]>,
  ) {
    const files: PendingFile[] = [];
    const range = { lo: Number.POSITIVE_INFINITY, hi: Number.NEGATIVE_INFINITY };
    let trades = 0;
    let quotes = 0;
    const tradeParts = new Map<string, [string, string]>();
    const quoteParts = new Map<string, [string, string]>();
    try {
      await createTable(this.conn, this.trades.stage, this.trades.columns);
      await createTable(this.conn, this.quotes.stage, this.quotes.columns);
      for await (const slice of slices) {
        const t = slice.filter((e): e is CapturedTrade => e.kind === 'trade');
        const q = slice.filter((e): e is CapturedQuote => e.kind === 'quote');
        await appendRows(this.conn, this.trades.stage, this.trades.columns, t);
        await appendRows(this.conn, this.quotes.stage, this.quotes.columns, q);
        this.partitions(t, tradeParts);
        this.partitions(q, quoteParts);
        const r = seqRange(slice);
        range.lo = Math.min(range.lo, r.lo);
        range.hi = Math.max(range.hi, r.hi);
        trades += t.length;
        quotes += q.length;
      }
      await this.stageFiles(this.trades, tradeParts, segmentId, files);
      await this.stageFiles(this.quotes, quoteParts, segmentId, files);
      for (const f of files) await rename(f.tmp, f.final);
      return { trades, quotes, range, files: files.map((f) => f.final) };
    } catch (err) {
      await Promise.all(files.map((f) => rm(f.tmp, { force: true }).catch(() => undefined)));
      throw new Error(`market-store: converting segment ${segmentId} failed: ${messageOf(err)}`, {
        cause: err,
      });
    } finally {
      await this.conn
        .run('DROP TABLE IF EXISTS stage_trades; DROP TABLE IF EXISTS stage_quotes')
        .catch(() => {});
    }
  }

  private async stageFiles<T extends CapturedEvent>(
    kind: Kind<T>,
    partitions: Map<string, [string, string]>,
    segmentId: string,
    out: PendingFile[],
  ) {
    for (const [date, ticker] of partitions.values()) {
      const dir = path.join(this.parquetDir, kind.dir, `date=${date}`, `ticker=${ticker}`);
      await mkdir(dir, { recursive: true });
      const final = path.join(dir, `seg-${segmentId}.parquet`);
      const file = { tmp: `${final}.tmp`, final };
      out.push(file);
      await this.conn.run(
        `COPY (SELECT ${kind.select} FROM ${kind.stage} WHERE "date" = $date AND ticker = $ticker ORDER BY seq)
          TO ${quotedString(file.tmp)} (FORMAT PARQUET, COMPRESSION ZSTD)`,
        { date, ticker },
      );
    }
  }

  /** Adds the (date, ticker) partitions of `rows` to `seen`. */
  private partitions(rows: CapturedEvent[], seen: Map<string, [string, string]>): void {
    for (const e of rows) {
      const date = localDate(this.timeZone, e.ts);
      const key = `${date}/${e.ticker}`;
      if (seen.has(key)) continue;
      if (!SAFE_TICKER.test(e.ticker)) throw new Error(`unsafe ticker '${e.ticker}' (seq ${e.seq})`);
      seen.set(key, [date, e.ticker]);
    }
  }

  /** Loads buffered tail trades into DuckDB and applies requested drops; runs inside a job. */
  private async syncTail(): Promise<void> {
    if (this.pendingTail.length > 0) {
      const batch = this.pendingTail;
      this.pendingTail = [];
      try {
        await appendRows(this.conn, 'tail_trades', this.trades.columns, batch);
        if (this.tailRows >= 0) this.tailRows += batch.length;
      } catch (err) {
        this.pendingTail = batch.concat(this.pendingTail);
        this.tailRows = -1; // some chunks may be in: counted again at the next rebuild
        throw err;
      }
    }
    const through = this.tailDropRequested;
    if (through > this.tailDropApplied) {
      await this.keepTail('seq > $through', { through });
      this.tailDropApplied = through;
    }
  }

  private async forgetTail(range: { lo: number; hi: number }): Promise<void> {
    this.pendingTail = this.pendingTail.filter((e) => e.seq < range.lo || e.seq > range.hi);
    await this.keepTail('(seq < $lo OR seq > $hi)', range);
  }

  /**
   * Keeps the tail rows matching `where` in a table built anew, never by DELETE: DuckDB keeps the
   * storage and per-row delete markers of rows deleted from an in-memory table for as long as the
   * database lives, so deleting each converted segment's rows grew data-capture by every trade a
   * query ever loaded into the tail. The rebuild copies what is left (the unconverted minute or so)
   * and frees the old table.
   */
  private async keepTail(where: string, params: Params): Promise<void> {
    if (this.tailRows === 0) return;
    await this.conn.run(
      `CREATE OR REPLACE TABLE tail_trades AS SELECT * FROM tail_trades WHERE ${where}`,
      params,
    );
    const reader = await this.conn.runAndReadAll('SELECT count(*)::DOUBLE AS n FROM tail_trades');
    this.tailRows = num(reader.getRowObjectsJS()[0]?.n);
  }

  /** DuckDB's own account of its memory by tag (tables, caches), in bytes. */
  async duckdbMemory(): Promise<Record<string, number>> {
    return this.serial(async () => {
      const reader = await this.conn.runAndReadAll(
        'SELECT tag, memory_usage_bytes::DOUBLE AS bytes FROM duckdb_memory() WHERE memory_usage_bytes > 0',
      );
      return Object.fromEntries(reader.getRowObjectsJS().map((r) => [str(r.tag), num(r.bytes)]));
    });
  }

  /**
   * Runs `shape(source)` over Parquet ∪ tail; rescans once if files vanished under us (e.g. manual
   * cleanup), and moves a damaged file out of the way (then asks again) rather than failing every
   * query that touches it.
   */
  private async readTrades(
    q: { ticker: string; from?: number; to?: number },
    shape: (source: string) => { sql: string; params: Params },
  ): Promise<Row[]> {
    await this.syncTail();
    for (let attempt = 0, rescanned = false; ; attempt++) {
      const source = await this.tradeSource(q);
      if (source === null) return [];
      const outer = shape(source.sql);
      try {
        const reader = await this.conn.runAndReadAll(outer.sql, { ...source.params, ...outer.params });
        return reader.getRowObjectsJS();
      } catch (err) {
        if (!rescanned && messageOf(err).includes('No files found')) {
          rescanned = true;
          this.hasTradeFiles = (await scanParquet(this.parquetDir)).tradeFiles;
          continue;
        }
        if (attempt < MAX_DAMAGED_PER_QUERY && (await this.setAsideDamaged(err, q))) continue;
        throw err;
      }
    }
  }

  /**
   * A query failed, perhaps on a damaged file: the one DuckDB names, or else (its error does not
   * always say) the first of the ticker's files in the queried dates, newest first, that does not
   * read on its own. That file moves to `parquet-damaged/` (kept, out of every query) and
   * `onDamaged` hears of it, so its segment can be converted again. True if a file was set aside.
   */
  private async setAsideDamaged(
    err: unknown,
    q: { ticker: string; from?: number; to?: number },
  ): Promise<boolean> {
    const named = /["'](\/[^"']+\.parquet)["']/.exec(messageOf(err))?.[1];
    const candidates = named ? [named] : await this.filesOf(q);
    for (const file of candidates.slice(0, MAX_FILES_CHECKED)) {
      if (!file.startsWith(`${this.parquetDir}${path.sep}`)) continue;
      // Every value of every column decoded: a count alone is answered from the footer.
      const problem = await this.conn
        .runAndReadAll(`SELECT sum(length(columns(*)::VARCHAR)) FROM read_parquet(${quotedString(file)})`)
        .then(
          () => null,
          (readErr: unknown) => messageOf(readErr),
        );
      if (problem === null) continue;
      await this.setAside(file, problem);
      return true;
    }
    return false;
  }

  /** A ticker's trade files in a query's dates, newest first. */
  private async filesOf(q: { ticker: string; from?: number; to?: number }): Promise<string[]> {
    const root = path.join(this.parquetDir, 'trades');
    const from = q.from === undefined ? '' : localDate(this.timeZone, q.from);
    const to = q.to === undefined ? '~' : localDate(this.timeZone, q.to);
    const dates = (await readdir(root).catch(() => [] as string[]))
      .filter((d) => d.startsWith('date=') && d.slice(5) >= from && d.slice(5) <= to)
      .sort()
      .reverse();
    const files: string[] = [];
    for (const d of dates) {
      const dir = path.join(root, d, `ticker=${q.ticker}`);
      const names = await readdir(dir).catch(() => [] as string[]);
      for (const n of names
        .filter((x) => x.endsWith('.parquet'))
        .sort()
        .reverse())
        files.push(path.join(dir, n));
      if (files.length >= MAX_FILES_CHECKED) break;
    }
    return files;
  }

  private async setAside(file: string, reason: string): Promise<void> {
    const relative = path.relative(this.parquetDir, file);
    const keptAs = path.join(path.dirname(this.parquetDir), 'parquet-damaged', `${relative}.${Date.now()}`);
    await mkdir(path.dirname(keptAs), { recursive: true });
    await rename(file, keptAs);
    const [kind, date, ticker, name] = relative.split(path.sep);
    this.hasTradeFiles = (await scanParquet(this.parquetDir)).tradeFiles;
    this.onDamaged({
      file,
      keptAs,
      reason,
      kind: kind === 'quotes' ? 'quotes' : 'trades',
      date: date?.replace('date=', '') ?? '',
      ticker: ticker?.replace('ticker=', '') ?? '',
      segmentId: name?.replace(/^seg-/, '').replace(/\.parquet$/, '') ?? '',
    });
  }

  /**
   * Parquet rows plus tail rows of one ticker and range. Tail rows whose seq is already in Parquet
   * are left out (a re-sent or half-converted segment), checked only over the tail's seq span.
   */
  private async tradeSource(q: { ticker: string; from?: number; to?: number }) {
    const filter = this.rangeFilter(q);
    const params: Params = { ...filter.params };
    const branches: string[] = [];
    const scan = this.tradeScan();
    if (this.hasTradeFiles) branches.push(`SELECT ${SOURCE_COLUMNS} FROM ${scan} WHERE ${filter.sql}`);
    const tail = await this.tailSpan(q.ticker);
    if (tail !== null) {
      let guard = '';
      if (this.hasTradeFiles) {
        guard = ` AND seq NOT IN (SELECT seq FROM ${scan} WHERE ticker = $ticker
          AND "date" >= $tailDate::DATE AND seq BETWEEN $tailLo::BIGINT AND $tailHi::BIGINT)`;
        Object.assign(params, { tailDate: tail.date, tailLo: tail.lo, tailHi: tail.hi });
      }
      branches.push(`SELECT ${SOURCE_COLUMNS} FROM tail_v WHERE ${filter.sql}${guard}`);
    }
    return branches.length === 0 ? null : { sql: branches.join(' UNION ALL '), params };
  }

  /** Ticker and time bounds, with the matching `date` bounds so DuckDB prunes partitions by path. */
  private rangeFilter(q: { ticker: string; from?: number; to?: number }) {
    const parts = ['ticker = $ticker'];
    const params: Params = { ticker: q.ticker };
    if (q.from !== undefined) {
      parts.push('ts >= epoch_ms($from::BIGINT)', '"date" >= $fromDate::DATE');
      Object.assign(params, { from: q.from, fromDate: localDate(this.timeZone, q.from) });
    }
    if (q.to !== undefined) {
      parts.push('ts <= epoch_ms($to::BIGINT)', '"date" <= $toDate::DATE');
      Object.assign(params, { to: q.to, toDate: localDate(this.timeZone, q.to) });
    }
    return { sql: parts.join(' AND '), params };
  }

  private tradeScan(): string {
    const glob = quotedString(path.join(this.parquetDir, 'trades', '*', '*', '*.parquet'));
    return `read_parquet(${glob}, hive_partitioning = true, union_by_name = true,
      hive_types = {'date': 'DATE', 'ticker': 'VARCHAR'})`;
  }

  private async tailSpan(ticker: string): Promise<{ lo: number; hi: number; date: string } | null> {
    const reader = await this.conn.runAndReadAll(
      `SELECT min(seq) AS lo, max(seq) AS hi, min("date") AS date FROM tail_trades WHERE ticker = $ticker`,
      { ticker },
    );
    const row = reader.getRowObjectsJS()[0];
    if (row === undefined || row.lo === null || row.lo === undefined) return null;
    return { lo: num(row.lo), hi: num(row.hi), date: str(row.date) };
  }
}

async function createTable<T>(conn: DuckDBConnection, table: string, columns: Column<T>[]): Promise<void> {
  const defs = columns.map((c) => `${c.name} ${c.type.toString()}`).join(', ');
  await conn.run(`CREATE OR REPLACE TABLE ${table} (${defs})`);
}

/** Column-wise data chunks through an appender: about 2x a row appender, 4x read_json of NDJSON. */
async function appendRows<T>(conn: DuckDBConnection, table: string, columns: Column<T>[], rows: T[]) {
  if (rows.length === 0) return;
  const appender = await conn.createAppender(table);
  try {
    const types = columns.map((c) => c.type);
    for (let offset = 0; offset < rows.length; offset += CHUNK_ROWS) {
      const part = rows.slice(offset, offset + CHUNK_ROWS);
      const chunk = DuckDBDataChunk.create(types, part.length);
      chunk.setColumns(columns.map((c) => part.map(c.value)));
      appender.appendDataChunk(chunk);
      // Loading runs on the JS thread, flushes included: let the tick path have its turns between
      // chunks, each one small enough to be a short pause.
      appender.flushSync();
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  } finally {
    appender.closeSync();
  }
}

/** Stale `.tmp` files and whether any trade file exists, in one walk. */
async function scanParquet(parquetDir: string): Promise<{ tmp: string[]; tradeFiles: boolean }> {
  const names = await readdir(parquetDir, { recursive: true });
  const tradesPrefix = `trades${path.sep}`;
  return {
    tmp: names.filter((n) => n.endsWith('.tmp')).map((n) => path.join(parquetDir, n)),
    tradeFiles: names.some((n) => n.startsWith(tradesPrefix) && n.endsWith('.parquet')),
  };
}

function seqRange(events: CapturedEvent[]): { lo: number; hi: number } {
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const e of events) {
    if (e.seq < lo) lo = e.seq;
    if (e.seq > hi) hi = e.seq;
  }
  return { lo, hi };
}

function clampLimit(limit: number): number {
  return Number.isFinite(limit) ? Math.max(0, Math.min(Math.floor(limit), MAX_QUERY_ROWS)) : 0;
}

function num(v: JS | undefined): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  throw new TypeError(`market-store: expected a number, got ${typeof v}`);
}

function str(v: JS | undefined): string {
  if (typeof v === 'string') return v;
  throw new TypeError(`market-store: expected a string, got ${typeof v}`);
}

function iso(v: JS | undefined): string {
  return new Date(num(v)).toISOString();
}

function aggressorOf(v: JS | undefined): Aggressor {
  return v === 'BUY' || v === 'SELL' ? v : 'NONE';
}

function toTradeRow(r: Row): TradeRow {
  return {
    seq: num(r.seq),
    ts: iso(r.ts_ms),
    recvTs: iso(r.recv_ms),
    ticker: str(r.ticker),
    exchange: str(r.exchange),
    tradeId: num(r.trade_id),
    price: num(r.price),
    qty: num(r.qty),
    volume: num(r.volume),
    aggressor: aggressorOf(r.aggressor),
    buyAgent: num(r.buy_agent),
    sellAgent: num(r.sell_agent),
    backfilled: r.backfilled === true,
  };
}

function toBar(r: Row, timeOf: (key: string) => number): Bar {
  const close = num(r.close);
  return {
    time: timeOf(str(r.k)),
    open: num(r.open),
    high: num(r.high),
    low: num(r.low),
    close,
    volume: num(r.volume),
    financialVolume: num(r.financial_volume),
    vwap: r.vwap === null ? close : num(r.vwap),
    trades: num(r.trades),
  };
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
