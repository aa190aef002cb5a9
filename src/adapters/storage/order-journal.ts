import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { FeedHistory, FeedRecord } from '../../kernel/feed/index.js';

/** One journaled command or event; `seq` is also its seq on the order-manager feed. */
export interface JournalEvent<T = unknown> {
  seq: number;
  /** Epoch ms. */
  ts: number;
  type: string;
  orderId: string | null;
  data: T;
}

export interface AuditEntry {
  id: number;
  ts: number;
  actor: string;
  action: string;
  target: string | null;
  reason: string | null;
  result: string;
  details: Record<string, unknown> | null;
}

export type NewAuditEntry = Omit<AuditEntry, 'id'>;

/** The database exists but cannot be used: it is left untouched for a restore. */
export class JournalUnavailableError extends Error {
  constructor(
    readonly file: string,
    reason: string,
  ) {
    super(`${file}: ${reason}`);
    this.name = 'JournalUnavailableError';
  }
}

interface EventRow {
  seq: number;
  ts: number;
  type: string;
  order_id: string | null;
  data: string;
}

interface AuditRow {
  id: number;
  ts: number;
  actor: string;
  action: string;
  target: string | null;
  reason: string | null;
  result: string;
  details: string | null;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  ts INTEGER NOT NULL,
  type TEXT NOT NULL,
  order_id TEXT,
  data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_order ON events(order_id);
CREATE TABLE IF NOT EXISTS audit (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  ts INTEGER NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  target TEXT,
  reason TEXT,
  result TEXT NOT NULL,
  details TEXT
);
CREATE INDEX IF NOT EXISTS audit_action ON audit(action, id);
`;

const REPLAY_CHUNK = 1_000;

/**
 * The order manager's durable journal: every command and broker event appended, synchronously and
 * with `synchronous=FULL`, before anything is acknowledged; the in-memory state is its replay.
 * It doubles as the FeedHistory of the order feed (seq = feed seq).
 */
export class OrderJournal implements FeedHistory<JournalEvent> {
  private readonly insertEvent: Database.Statement<[number, string, string | null, string]>;
  private readonly selectAfter: Database.Statement<[number, number], EventRow>;
  private readonly insertAudit: Database.Statement<
    [number, string, string, string | null, string | null, string, string | null]
  >;
  private readonly selectAudit: Database.Statement<[string | null, string | null, number], AuditRow>;
  private last: number;

  private constructor(
    readonly file: string,
    private readonly db: Database.Database,
  ) {
    this.insertEvent = db.prepare('INSERT INTO events (ts, type, order_id, data) VALUES (?, ?, ?, ?)');
    this.selectAfter = db.prepare('SELECT * FROM events WHERE seq > ? ORDER BY seq LIMIT ?');
    this.insertAudit = db.prepare(
      'INSERT INTO audit (ts, actor, action, target, reason, result, details) VALUES (?, ?, ?, ?, ?, ?, ?)',
    );
    this.selectAudit = db.prepare(
      'SELECT * FROM audit WHERE (? IS NULL OR action = ?) ORDER BY id DESC LIMIT ?',
    );
    const row = db.prepare('SELECT MAX(seq) AS last FROM events').get() as { last: number | null };
    this.last = row.last ?? 0;
  }

  /** `{home}/db/orders.sqlite`; a missing file starts empty, an unusable one throws and is kept. */
  static open(home: string): OrderJournal {
    const file = path.join(home, 'db', 'orders.sqlite');
    mkdirSync(path.dirname(file), { recursive: true });
    const existed = existsSync(file);
    let db: Database.Database | undefined;
    try {
      db = new Database(file);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      if (existed) checkIntegrity(db);
      db.exec(SCHEMA);
      return new OrderJournal(file, db);
    } catch (err) {
      db?.close();
      throw new JournalUnavailableError(file, (err as Error).message);
    }
  }

  get journalMode(): string {
    return String(this.db.pragma('journal_mode', { simple: true }));
  }

  append<T>(type: string, orderId: string | null, data: T, ts: number): JournalEvent<T> {
    const info = this.insertEvent.run(ts, type, orderId, JSON.stringify(data));
    this.last = Number(info.lastInsertRowid);
    return { seq: this.last, ts, type, orderId, data };
  }

  /** Runs `fn` in one transaction: its appends are durable together or not at all. */
  transaction<R>(fn: () => R): R {
    return this.db.transaction(fn)();
  }

  audit(entry: NewAuditEntry): AuditEntry {
    const { ts, actor, action, target, reason, result, details } = entry;
    const info = this.insertAudit.run(
      ts,
      actor,
      action,
      target,
      reason,
      result,
      details ? JSON.stringify(details) : null,
    );
    return { id: Number(info.lastInsertRowid), ...entry };
  }

  /** Newest first. */
  auditTrail(limit: number, action?: string): AuditEntry[] {
    const a = action ?? null;
    return this.selectAudit.all(a, a, limit).map((r) => ({
      ...r,
      details: r.details === null ? null : (JSON.parse(r.details) as Record<string, unknown>),
    }));
  }

  read(afterSeq: number, max: number): FeedRecord<JournalEvent>[] {
    return this.selectAfter.all(afterSeq, max).map((r) => {
      const data = toEvent(r);
      return { seq: data.seq, data };
    });
  }

  lastSeq(): number {
    return this.last;
  }

  /** Every event in seq order, read in chunks so a long journal never sits in memory at once. */
  *replay(): Generator<JournalEvent> {
    for (let after = 0; ; ) {
      const rows = this.selectAfter.all(after, REPLAY_CHUNK);
      if (rows.length === 0) return;
      for (const r of rows) yield toEvent(r);
      after = rows[rows.length - 1]?.seq ?? after;
    }
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

function toEvent(r: EventRow): JournalEvent {
  return { seq: r.seq, ts: r.ts, type: r.type, orderId: r.order_id, data: JSON.parse(r.data) as unknown };
}

/** quick_check reads every page: a damaged database is refused at start, not found mid-session. */
function checkIntegrity(db: Database.Database): void {
  const result = db.pragma('quick_check', { simple: true });
  if (result !== 'ok') throw new Error(`integrity check failed: ${String(result)}`);
}
