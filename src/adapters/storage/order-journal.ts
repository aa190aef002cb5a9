import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { FeedHistory, FeedRecord } from '../../kernel/feed/index.js';
import { UnusableFileError } from './unusable-file.js';

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

interface Batch {
  events: JournalEvent[];
  promise: Promise<void>;
  resolve: () => void;
  reject: (err: Error) => void;
}

/**
 * The order manager's durable journal, `synchronous=FULL`, with group commit: everything appended
 * during one event-loop turn goes into one transaction, committed (one fsync) in a `setImmediate`.
 * Nothing may be acknowledged or sent out before `committed()` resolves for it; readers (the feed,
 * the audit trail) only ever see committed rows. The in-memory state is its replay.
 * It doubles as the FeedHistory of the order feed (seq = feed seq).
 */
export class OrderJournal implements FeedHistory<JournalEvent> {
  /** Called inside the commit, with the batch's events in seq order: they may now leave the process. */
  onCommit?: (events: readonly JournalEvent[]) => void;
  /** Called right after a failed commit was rolled back, before its waiters are rejected. */
  onRollback?: (err: Error) => void;
  private readonly insertEvent: Database.Statement<[number, string, string | null, string]>;
  private readonly selectAfter: Database.Statement<[number, number, number], EventRow>;
  private readonly insertAudit: Database.Statement<
    [number, string, string, string | null, string | null, string, string | null]
  >;
  private readonly selectAudit: Database.Statement<[number, string | null, string | null, number], AuditRow>;
  /** Highest committed seq / audit id: the connection sees its own uncommitted rows, readers must not. */
  private committedSeq: number;
  private committedAudit: number;
  private lastAudit: number;
  private batch: Batch | null = null;

  private constructor(
    readonly file: string,
    private readonly db: Database.Database,
  ) {
    this.insertEvent = db.prepare('INSERT INTO events (ts, type, order_id, data) VALUES (?, ?, ?, ?)');
    this.selectAfter = db.prepare('SELECT * FROM events WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?');
    this.insertAudit = db.prepare(
      'INSERT INTO audit (ts, actor, action, target, reason, result, details) VALUES (?, ?, ?, ?, ?, ?, ?)',
    );
    this.selectAudit = db.prepare(
      'SELECT * FROM audit WHERE id <= ? AND (? IS NULL OR action = ?) ORDER BY id DESC LIMIT ?',
    );
    const row = db.prepare('SELECT MAX(seq) AS last FROM events').get() as { last: number | null };
    this.committedSeq = row.last ?? 0;
    const audit = db.prepare('SELECT MAX(id) AS last FROM audit').get() as { last: number | null };
    this.committedAudit = audit.last ?? 0;
    this.lastAudit = this.committedAudit;
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
      throw new UnusableFileError(file, (err as Error).message);
    }
  }

  get journalMode(): string {
    return String(this.db.pragma('journal_mode', { simple: true }));
  }

  /** Joins this turn's transaction; durable only once `committed()` resolves. */
  append<T>(type: string, orderId: string | null, data: T, ts: number): JournalEvent<T> {
    const batch = this.open();
    const info = this.insertEvent.run(ts, type, orderId, JSON.stringify(data));
    const event = { seq: Number(info.lastInsertRowid), ts, type, orderId, data };
    batch.events.push(event);
    return event;
  }

  /** Runs `fn` as one unit inside this turn's transaction (a savepoint): all of it or none of it. */
  transaction<R>(fn: () => R): R {
    const batch = this.open();
    const kept = batch.events.length;
    const audit = this.lastAudit;
    try {
      return this.db.transaction(fn)();
    } catch (err) {
      // The savepoint is rolled back: forget what it appended.
      batch.events.length = kept;
      this.lastAudit = audit;
      throw err;
    }
  }

  /**
   * Resolves once everything appended so far is committed; rejects if that commit failed (the
   * batch is then rolled back and none of it is visible).
   */
  committed(): Promise<void> {
    return this.batch?.promise ?? Promise.resolve();
  }

  /** Commits the open batch now (shutdown, tests); a no-op when nothing is pending. */
  flush(): void {
    const batch = this.batch;
    if (!batch) return;
    this.batch = null;
    try {
      this.db.exec('COMMIT');
    } catch (err) {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
      this.lastAudit = this.committedAudit;
      const error = err as Error;
      this.onRollback?.(error);
      batch.reject(error);
      return;
    }
    this.committedSeq = batch.events[batch.events.length - 1]?.seq ?? this.committedSeq;
    this.committedAudit = this.lastAudit;
    this.onCommit?.(batch.events);
    batch.resolve();
  }

  audit(entry: NewAuditEntry): AuditEntry {
    this.open();
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
    this.lastAudit = Number(info.lastInsertRowid);
    return { id: this.lastAudit, ...entry };
  }

  /** Newest first. */
  auditTrail(limit: number, action?: string): AuditEntry[] {
    const a = action ?? null;
    return this.selectAudit.all(this.committedAudit, a, a, limit).map((r) => ({
      ...r,
      details: r.details === null ? null : (JSON.parse(r.details) as Record<string, unknown>),
    }));
  }

  read(afterSeq: number, max: number): FeedRecord<JournalEvent>[] {
    return this.selectAfter.all(afterSeq, this.committedSeq, max).map((r) => {
      const data = toEvent(r);
      return { seq: data.seq, data };
    });
  }

  lastSeq(): number {
    return this.committedSeq;
  }

  /** Every event in seq order, read in chunks so a long journal never sits in memory at once. */
  *replay(): Generator<JournalEvent> {
    for (let after = 0; ; ) {
      const rows = this.selectAfter.all(after, this.committedSeq, REPLAY_CHUNK);
      if (rows.length === 0) return;
      for (const r of rows) yield toEvent(r);
      after = rows[rows.length - 1]?.seq ?? after;
    }
  }

  close(): void {
    if (!this.db.open) return;
    this.flush();
    this.db.close();
  }

  /** The open batch, or a new one: BEGIN now, COMMIT at the end of the turn. */
  private open(): Batch {
    if (this.batch) return this.batch;
    this.db.exec('BEGIN');
    let resolve!: () => void;
    let reject!: (err: Error) => void;
    const promise = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // A batch nobody waits on must not crash the process when it fails (onRollback reports it).
    promise.catch(() => {});
    const batch: Batch = { events: [], promise, resolve, reject };
    this.batch = batch;
    setImmediate(() => {
      if (this.batch === batch) this.flush();
    });
    return batch;
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
