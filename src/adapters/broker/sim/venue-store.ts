import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { BrokerFill, BrokerOrderUpdate, BrokerPosition } from '../../../domain/execution.js';
import { UnusableFileError } from '../../../kernel/durable-file.js';
import { fsyncFile } from '../../../kernel/fs.js';
import { syncFolder } from '../../../kernel/platform.js';
import { SQLITE_CACHE_SIZE } from '../../storage/sqlite-cache.js';
import { decodeOrder, encodeOrder, type VenueOrder } from './venue-order.js';

/** The venue file exists but cannot be used: it is left untouched for a restore, never replaced. */
export class VenueUnavailableError extends UnusableFileError {
  constructor(file: string, reason: string) {
    super(
      file,
      reason,
      `simulated venue ${file} is unusable (${reason}); restore it or remove it to start a new venue`,
    );
    this.name = 'VenueUnavailableError';
  }
}

const SCHEMA_VERSION = '1';

const SCHEMA = `
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE orders (broker_order_id TEXT PRIMARY KEY, seq INTEGER NOT NULL UNIQUE, data TEXT NOT NULL);
CREATE TABLE fills (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  trade_id TEXT NOT NULL UNIQUE,
  broker_order_id TEXT NOT NULL,
  price REAL NOT NULL,
  qty INTEGER NOT NULL,
  ts INTEGER NOT NULL
);
CREATE TABLE positions (
  account TEXT NOT NULL,
  symbol TEXT NOT NULL,
  quantity INTEGER NOT NULL,
  average_price REAL NOT NULL,
  PRIMARY KEY (account, symbol)
);
CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, data TEXT NOT NULL);
`;

/** One batch of changes, stored in one transaction. */
export interface VenueCommit {
  orders: VenueOrder[];
  fills: Array<{ order: VenueOrder; fill: BrokerFill }>;
  positions: BrokerPosition[];
  updates: BrokerOrderUpdate[];
  /** Outbox entries up to here have been delivered and may go. */
  deliveredThrough: number;
}

export interface VenueSnapshot {
  /** With their fills attached. */
  orders: VenueOrder[];
  /** Every fill in the order it happened. */
  fills: Array<{ brokerOrderId: string; fill: BrokerFill }>;
  positions: BrokerPosition[];
  /** Updates stored but perhaps never delivered (the process died first). */
  outbox: Array<{ seq: number; update: BrokerOrderUpdate }>;
}

interface FillRow {
  trade_id: string;
  broker_order_id: string;
  price: number;
  qty: number;
  ts: number;
}

/**
 * The simulated venue's state in one SQLite file (WAL, synchronous=OFF): orders, fills, positions
 * and an outbox of updates. Every change is committed before its update leaves the venue; `stage`
 * lets several batches share one transaction, committed by `commitStaged`.
 */
export class VenueStore {
  private readonly upsertOrder: Database.Statement<[string, number, string]>;
  private readonly insertFill: Database.Statement<[string, string, number, number, number]>;
  private readonly upsertPosition: Database.Statement<[string, string, number, number]>;
  private readonly pruneOutbox: Database.Statement<[number]>;
  private readonly insertUpdate: Database.Statement<[number, string]>;
  private readonly selectUpdatedSince: Database.Statement<[string, number], string>;
  private readonly selectFillsOf: Database.Statement<[string], FillRow>;
  /** Batches waiting for `commitStaged`, kept in memory: the turn's work is written in one go. */
  private staged: VenueCommit[] = [];
  /** Outbox seqs are handed out at staging, so a staged update already has its place. */
  private nextOutboxSeq: number;

  private constructor(
    readonly file: string,
    private readonly db: Database.Database,
  ) {
    this.upsertOrder = db.prepare(
      'INSERT INTO orders (broker_order_id, seq, data) VALUES (?, ?, ?) ' +
        'ON CONFLICT (broker_order_id) DO UPDATE SET data = excluded.data',
    );
    this.insertFill = db.prepare(
      'INSERT INTO fills (trade_id, broker_order_id, price, qty, ts) VALUES (?, ?, ?, ?, ?)',
    );
    this.upsertPosition = db.prepare(
      'INSERT OR REPLACE INTO positions (account, symbol, quantity, average_price) VALUES (?, ?, ?, ?)',
    );
    this.pruneOutbox = db.prepare('DELETE FROM outbox WHERE seq <= ?');
    this.insertUpdate = db.prepare('INSERT INTO outbox (seq, data) VALUES (?, ?)');
    this.selectUpdatedSince = db
      .prepare<[string, number], string>(
        "SELECT data FROM orders WHERE json_extract(data, '$.request.account') = ? AND json_extract(data, '$.updatedAt') >= ?",
      )
      .pluck();
    this.selectFillsOf = db.prepare('SELECT * FROM fills WHERE broker_order_id = ? ORDER BY seq');
    this.nextOutboxSeq = this.lastOutboxSeq() + 1;
  }

  /** A missing file becomes a new venue; an existing one must be a whole, valid venue or this throws. */
  static open(file: string): VenueStore {
    mkdirSync(path.dirname(file), { recursive: true });
    if (!existsSync(file)) {
      if (existsSync(`${file}-wal`))
        throw new VenueUnavailableError(file, 'the file is missing but its WAL exists');
      createVenueFile(file);
    }
    let db: Database.Database | undefined;
    try {
      db = new Database(file, { fileMustExist: true });
      db.pragma(`cache_size = ${SQLITE_CACHE_SIZE}`);
      // Checked before anything writes to it, so a damaged file stays exactly as found.
      const check = db.pragma('quick_check', { simple: true });
      if (check !== 'ok') throw new Error(`integrity check failed: ${String(check)}`);
      const version = db.prepare("SELECT value FROM meta WHERE key = 'schema'").pluck().get();
      if (version !== SCHEMA_VERSION)
        throw new Error(`schema version ${String(version)}, expected ${SCHEMA_VERSION}`);
      db.pragma('journal_mode = WAL');
      // A committed transaction is in the OS's hands and survives the order manager's death
      // (kill -9), which is what a simulated exchange must outlive. A power cut could lose or
      // damage it (a damaged file is refused at the next start); the fsyncs that guard against
      // that, at each checkpoint, were a third of the venue's cost on the order manager's loop.
      db.pragma('synchronous = OFF');
      // Added after schema 1, for the orders no longer in memory (`ordersUpdatedSince`): found by
      // when they changed, their fills by order, neither by a scan.
      db.exec(`
        CREATE INDEX IF NOT EXISTS orders_updated ON orders(json_extract(data, '$.updatedAt'));
        CREATE INDEX IF NOT EXISTS fills_order ON fills(broker_order_id);`);
      return new VenueStore(file, db);
    } catch (err) {
      db?.close();
      throw new VenueUnavailableError(file, (err as Error).message);
    }
  }

  load(): VenueSnapshot {
    try {
      const orders = this.db
        .prepare('SELECT data FROM orders ORDER BY seq')
        .pluck()
        .all()
        .map((data) => decodeOrder(String(data)));
      const byId = new Map(orders.map((o) => [o.brokerOrderId, o]));
      const fills = (this.db.prepare('SELECT * FROM fills ORDER BY seq').all() as FillRow[]).map((r) => {
        const fill = { tradeId: r.trade_id, price: r.price, qty: r.qty, ts: r.ts };
        byId.get(r.broker_order_id)?.fills.push(fill);
        return { brokerOrderId: r.broker_order_id, fill };
      });
      const positions = this.db
        .prepare('SELECT account, symbol, quantity, average_price AS averagePrice FROM positions')
        .all() as BrokerPosition[];
      const outbox = (
        this.db.prepare('SELECT seq, data FROM outbox ORDER BY seq').all() as Array<{
          seq: number;
          data: string;
        }>
      ).map((r) => ({ seq: r.seq, update: JSON.parse(r.data) as BrokerOrderUpdate }));
      return { orders, fills, positions, outbox };
    } catch (err) {
      throw new VenueUnavailableError(this.file, (err as Error).message);
    }
  }

  /** The stored orders of an account changed at or after `sinceTs`, fills attached, in no order. */
  ordersUpdatedSince(account: string, sinceTs: number): VenueOrder[] {
    return this.selectUpdatedSince.all(account, sinceTs).map((data) => {
      const order = decodeOrder(data);
      for (const r of this.selectFillsOf.all(order.brokerOrderId)) {
        order.fills.push({ tradeId: r.trade_id, price: r.price, qty: r.qty, ts: r.ts });
      }
      return order;
    });
  }

  /** Adds a batch to the open group: durable at `commitStaged`. */
  stage(batch: VenueCommit): number[] {
    this.staged.push(batch);
    return batch.updates.map(() => this.nextOutboxSeq++);
  }

  /** Writes everything staged in one transaction; on failure none of it is stored and the error thrown. */
  commitStaged(): void {
    if (this.staged.length === 0) return;
    const staged = this.staged;
    this.staged = [];
    const firstSeq = this.nextOutboxSeq - staged.reduce((n, b) => n + b.updates.length, 0);
    try {
      this.writeAll(staged, firstSeq);
    } catch (err) {
      this.nextOutboxSeq = this.lastOutboxSeq() + 1;
      throw err;
    }
  }

  /**
   * An order or position changed several times in the group is written once, as it is now (the
   * objects are the venue's live ones); fills and updates are each written once anyway.
   */
  private writeAll(batches: VenueCommit[], firstSeq: number): void {
    const orders = new Map<string, VenueOrder>();
    const positions = new Map<string, BrokerPosition>();
    for (const b of batches) {
      for (const o of b.orders) orders.set(o.brokerOrderId, o);
      for (const p of b.positions) positions.set(`${p.account}\u0000${p.symbol}`, p);
    }
    let seq = firstSeq;
    this.db.transaction(() => {
      for (const o of orders.values()) this.upsertOrder.run(o.brokerOrderId, o.seq, encodeOrder(o));
      for (const b of batches) {
        for (const { order, fill } of b.fills) {
          this.insertFill.run(fill.tradeId, order.brokerOrderId, fill.price, fill.qty, fill.ts);
        }
        for (const u of b.updates) this.insertUpdate.run(seq++, JSON.stringify(u));
      }
      for (const p of positions.values())
        this.upsertPosition.run(p.account, p.symbol, p.quantity, p.averagePrice);
      this.pruneOutbox.run(batches[batches.length - 1]?.deliveredThrough ?? 0);
    })();
  }

  /** The highest outbox seq ever used, pruned rows included (AUTOINCREMENT never reuses one). */
  private lastOutboxSeq(): number {
    const used = this.db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").pluck().get();
    return Number(used ?? 0);
  }

  /** The highest order number ever handed out (0 for a new venue). */
  lastOrderSeq(): number {
    return Number(this.db.prepare('SELECT COALESCE(MAX(seq), 0) FROM orders').pluck().get());
  }

  get isOpen(): boolean {
    return this.db.open;
  }

  /** Whatever was staged is committed first: a clean close loses nothing (a full disk: it is lost). */
  close(): void {
    if (!this.db.open) return;
    try {
      this.commitStaged();
    } finally {
      this.db.close();
    }
  }
}

/** Builds the empty schema beside the target and renames it in: a crash never leaves a half-made venue. */
function createVenueFile(file: string): void {
  const tmp = `${file}.${process.pid}.new`;
  rmSync(tmp, { force: true });
  const db = new Database(tmp);
  try {
    db.exec(SCHEMA);
    db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)').run('schema', SCHEMA_VERSION);
  } finally {
    db.close();
  }
  fsyncFile(tmp);
  renameSync(tmp, file);
  syncFolder(path.dirname(file));
}
