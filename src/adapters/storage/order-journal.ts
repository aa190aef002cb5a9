import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { AuditEntry, JournalEvent, NewAuditEntry, OrderOutcomeRow } from '../../domain/order-events.js';
import { type Deferred, deferred } from '../../kernel/deferred.js';
import { DiskRefusedError, isDiskRefusal, UnusableFileError } from '../../kernel/durable-file.js';
import type { FeedHistory, FeedRecord } from '../../kernel/feed/index.js';
import { writeFileDurably } from '../../kernel/fs.js';
import type { HealthCheckResult } from '../../kernel/service.js';
import { TurnBatcher } from '../../kernel/turn.js';
import type { OrderQueries, OrderStore } from '../../ports/order-store.js';
import { SQLITE_CACHE_SIZE } from './sqlite-cache.js';
import { SqliteWriter, type WriteRow } from './sqlite-writer.js';

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
CREATE INDEX IF NOT EXISTS events_client_order ON events(json_extract(data, '$.order.clientOrderId'))
  WHERE type = 'order.submitted';
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
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
`;

const REPLAY_CHUNK = 1_000;

// Uses the events_order index per order: a window of orders reads only their own events.
const OUTCOMES_SQL = `
SELECT s.seq, s.ts, s.type,
  EXISTS (SELECT 1 FROM events e WHERE e.order_id = s.order_id AND (e.type = 'order.sent' OR (e.type = 'order.event' AND (
    json_extract(e.data, '$.event.type') IN ('accepted', 'partially_filled', 'filled', 'canceled', 'replaced', 'replace_rejected', 'cancel_rejected', 'expired')
    OR (json_extract(e.data, '$.event.type') = 'resolved' AND json_extract(e.data, '$.event.status') <> 'REJECTED'))))) AS accepted,
  EXISTS (SELECT 1 FROM events e WHERE e.order_id = s.order_id AND e.type = 'order.event' AND (
    json_extract(e.data, '$.event.type') = 'rejected'
    OR (json_extract(e.data, '$.event.type') = 'resolved' AND json_extract(e.data, '$.event.status') = 'REJECTED'))) AS rejected,
  EXISTS (SELECT 1 FROM events e WHERE e.order_id = s.order_id AND e.type = 'order.event'
    AND json_extract(e.data, '$.event.type') = 'timed_out') AS timedOut
FROM events s
WHERE s.seq >= ? AND s.seq < ? AND s.type IN ('order.submitted', 'risk.rejected')
ORDER BY s.seq LIMIT ?`;
/** Shutdown commits until nothing is pending, this many times at most. */
const CLOSE_ROUNDS = 10;

type EventParams = [seq: number, ts: number, type: string, orderId: string | null, data: string];
type AuditParams = [
  id: number,
  ts: number,
  actor: string,
  action: string,
  target: string | null,
  reason: string | null,
  result: string,
  details: string | null,
];

/** The writer thread's statements, by index: the rows of a commit name them. */
const INSERT_EVENT = 0;
const INSERT_AUDIT = 1;
const WRITER_STATEMENTS = [
  'INSERT INTO events (seq, ts, type, order_id, data) VALUES (?, ?, ?, ?, ?)',
  'INSERT INTO audit (id, ts, actor, action, target, reason, result, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
];

interface Batch extends Deferred {
  events: JournalEvent[];
  eventRows: EventParams[];
  auditRows: AuditParams[];
  /** Things the commit must wait for (`holdUntil`) still unsettled. */
  holds: number;
}

/**
 * The order manager's durable journal, `synchronous=FULL`, with group commit: a turn's appends make
 * one batch, and the batches ready while the previous commit is on its way go into one transaction,
 * written and fsynced by a writer thread. Seqs and audit ids are assigned here, at append.
 * Nothing may be acknowledged before `committed()` resolves for it; readers (the feed, the audit
 * trail) only ever see committed rows. The in-memory state is its replay.
 * It doubles as the FeedHistory of the order feed (seq = feed seq).
 */
export class OrderJournal implements OrderStore, OrderQueries, FeedHistory<JournalEvent> {
  /** The last commit's failure, until a commit succeeds again. */
  private commitFailure: Error | null = null;
  /**
   * Called once a batch is committed, with its events in seq order and each one's JSON (made from
   * the row already written, not stringified again): they may now leave the process.
   */
  onCommit?: (events: readonly JournalEvent[], json: readonly string[]) => void;
  /** Called right after a failed commit was rolled back, before its waiters are rejected. */
  onRollback?: (err: Error) => void;
  private readonly selectAfter: Database.Statement<[number, number, number], EventRow>;
  private readonly selectAudit: Database.Statement<[number, string | null, string | null, number], AuditRow>;
  private readonly selectOrderEvents: Database.Statement<[string, number], EventRow>;
  private readonly selectOrderOfClientId: Database.Statement<[string, number], string>;
  private readonly writer: SqliteWriter;
  private selectOutcomes: Database.Statement | undefined;
  /** Highest committed seq / audit id: readers see only these. */
  private committedSeq: number;
  private committedAudit: number;
  /** Highest assigned, committed or not. */
  private lastAssignedSeq: number;
  private lastAssignedAudit: number;
  /** Collecting the appends of this turn; sealed when the turn ends. */
  private batch: Batch | null = null;
  /** The open batch is sealed at the end of the turn that opened it (or before, by a commit call). */
  private readonly sealer = new TurnBatcher(() => {
    if (this.batch) this.seal(this.batch);
  });
  /** Sealed, in order, waiting for their holds (or for one ahead of them) before the writer. */
  private sealed: Batch[] = [];
  /** Handed to the writer, in order, not yet committed. */
  private writing: Batch[] = [];
  private closingNow = false;
  /** Set when the writer thread died: nothing can be committed any more. */
  private broken: Error | null = null;
  private closing: Promise<void> | null = null;

  private constructor(
    readonly file: string,
    /** Read connection: integrity check, schema, feed history, audit trail, replay. */
    private readonly db: Database.Database,
  ) {
    this.selectAfter = db.prepare('SELECT * FROM events WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?');
    this.selectAudit = db.prepare(
      'SELECT * FROM audit WHERE id <= ? AND (? IS NULL OR action = ?) ORDER BY id DESC LIMIT ?',
    );
    this.selectOrderEvents = db.prepare('SELECT * FROM events WHERE order_id = ? AND seq <= ? ORDER BY seq');
    // Same expression and condition as the index events_client_order, so the index serves it.
    this.selectOrderOfClientId = db
      .prepare<[string, number], string>(
        "SELECT order_id FROM events WHERE type = 'order.submitted' AND json_extract(data, '$.order.clientOrderId') = ? AND seq <= ? LIMIT 1",
      )
      .pluck();
    const row = db.prepare('SELECT MAX(seq) AS last FROM events').get() as { last: number | null };
    this.committedSeq = row.last ?? 0;
    const audit = db.prepare('SELECT MAX(id) AS last FROM audit').get() as { last: number | null };
    this.committedAudit = audit.last ?? 0;
    this.lastAssignedSeq = this.committedSeq;
    this.lastAssignedAudit = this.committedAudit;
    this.writer = new SqliteWriter({ file, statements: WRITER_STATEMENTS });
    this.writer.onDied = (err) => this.writerDied(err);
  }

  /** `{home}/db/orders.sqlite`; a missing file starts empty, an unusable one throws and is kept. */
  /**
   * Opens `{home}/db/orders.sqlite`, or creates it. Each journal has an id, kept inside it and in
   * the marker `orders.sqlite.id` beside it: a journal the marker names that is missing, empty or
   * replaced by another is refused (an empty new one would lose the audit trail and the limits and
   * make every broker order look foreign), never silently started afresh.
   */
  static open(home: string): OrderJournal {
    const file = path.join(home, 'db', 'orders.sqlite');
    const marker = `${file}.id`;
    mkdirSync(path.dirname(file), { recursive: true });
    const existed = existsSync(file) && statSync(file).size > 0;
    const expected = readMarker(marker);
    if (expected && !existed) {
      throw new UnusableFileError(
        file,
        `the journal is ${existsSync(file) ? 'empty' : 'missing'}, but ${marker} says journal ${expected} was here: restore it from a backup, or remove the marker to start a new, empty journal`,
      );
    }
    let db: Database.Database | undefined;
    try {
      db = new Database(file);
      db.pragma(`cache_size = ${SQLITE_CACHE_SIZE}`);
      db.pragma('journal_mode = WAL');
      // SQLite opens a file it cannot write read-only without a word, and reading needs no write:
      // a journal on a read-only disk would open, then fail every commit (and the connections of
      // this process would share its read-only WAL index for good). A write rolled back shows it.
      probeWrite(db);
      if (existed) checkIntegrity(db);
      db.exec(SCHEMA);
      const id = journalId(db, expected);
      if (expected && id !== expected) {
        throw new Error(
          `this is journal ${id}, not ${expected} that ${marker} names: another journal was put in its place`,
        );
      }
      if (!expected) writeFileDurably(marker, `${id}\n`);
      return new OrderJournal(file, db);
    } catch (err) {
      db?.close();
      if (isDiskRefusal(err)) throw new DiskRefusedError(file, (err as Error).message);
      throw new UnusableFileError(file, (err as Error).message);
    }
  }

  get journalMode(): string {
    return String(this.db.pragma('journal_mode', { simple: true }));
  }

  /** Joins the open batch; durable only once `committed()` resolves. */
  append<T>(type: string, orderId: string | null, data: T, ts: number): JournalEvent<T> {
    const batch = this.open();
    const event = { seq: ++this.lastAssignedSeq, ts, type, orderId, data };
    batch.eventRows.push([event.seq, ts, type, orderId, JSON.stringify(data)]);
    batch.events.push(event);
    return event;
  }

  /** Runs `fn` as one unit inside the open batch: all of what it appends or none of it. */
  transaction<R>(fn: () => R): R {
    const batch = this.open();
    const kept = { events: batch.events.length, audits: batch.auditRows.length };
    const assigned = { seq: this.lastAssignedSeq, audit: this.lastAssignedAudit };
    try {
      return fn();
    } catch (err) {
      batch.events.length = batch.eventRows.length = kept.events;
      batch.auditRows.length = kept.audits;
      this.lastAssignedSeq = assigned.seq;
      this.lastAssignedAudit = assigned.audit;
      throw err;
    }
  }

  /**
   * Keeps the open batch from being written until `p` settles, `maxMs` at most. The order manager
   * holds a new order's batch until the broker has taken (or refused) the order and that answer
   * is journaled: the two commit together, and our journal never holds an order the broker never
   * received (a crash in between leaves the broker with one we lack, which reconciliation adopts).
   * A broker that does not answer within `maxMs` holds nothing up: the order goes UNKNOWN instead.
   */
  holdUntil(p: Promise<unknown>, maxMs: number): void {
    const batch = this.open();
    batch.holds++;
    let holding = true;
    const release = () => {
      if (!holding) return;
      holding = false;
      clearTimeout(timer);
      batch.holds--;
      // What was appended while it held (the broker's answer) is written in the same commit.
      if (this.batch) this.seal(this.batch);
      else this.dispatch();
    };
    const timer = setTimeout(release, maxMs);
    timer.unref();
    p.then(release, release);
  }

  /**
   * Resolves once everything appended so far is committed; rejects if that commit failed (the
   * batch is then rolled back and none of it is visible).
   */
  committed(): Promise<void> {
    return (this.batch ?? this.sealed.at(-1) ?? this.writing.at(-1))?.promise ?? Promise.resolve();
  }

  audit(entry: NewAuditEntry): AuditEntry {
    const batch = this.open();
    const { ts, actor, action, target, reason, result, details } = entry;
    const id = ++this.lastAssignedAudit;
    batch.auditRows.push([
      id,
      ts,
      actor,
      action,
      target,
      reason,
      result,
      details ? JSON.stringify(details) : null,
    ]);
    return { id, ...entry };
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

  /** One order's committed events in seq order: how an order no longer in memory is read back. */
  orderEvents(orderId: string): JournalEvent[] {
    return this.selectOrderEvents.all(orderId, this.committedSeq).map(toEvent);
  }

  /** The id of the committed order with this clientOrderId, if any. */
  orderIdOf(clientOrderId: string): string | undefined {
    return this.selectOrderOfClientId.get(clientOrderId, this.committedSeq) ?? undefined;
  }

  /** The first committed seq whose event is at or after `ts` (events are appended in time order), or lastSeq + 1. */
  firstSeqAt(ts: number): number {
    const at = this.db
      .prepare<[number], number>('SELECT ts FROM events WHERE seq >= ? ORDER BY seq LIMIT 1')
      .pluck();
    let lo = 1;
    let hi = this.committedSeq + 1;
    // Binary search over the primary key: O(log n) lookups however long the journal.
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      const t = at.get(mid);
      if (t === undefined || t >= ts) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  /**
   * Orders submitted and risk rejections in seq range [fromSeq, toSeq), up to `limit` of them,
   * each submitted order with what its own events say of the broker's answer.
   */
  orderOutcomes(fromSeq: number, toSeq: number, limit: number): OrderOutcomeRow[] {
    this.selectOutcomes ??= this.db.prepare(OUTCOMES_SQL);
    return this.selectOutcomes.all(
      fromSeq,
      Math.min(toSeq, this.committedSeq + 1),
      limit,
    ) as OrderOutcomeRow[];
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

  /** Is the writer alive: a dead one commits nothing, so the service must report down. */
  health(): HealthCheckResult {
    if (this.broken) return { status: 'down', detail: this.broken.message, file: this.file };
    // The last commit failed (a full disk) and none has succeeded since: writes are refused.
    if (this.commitFailure)
      return {
        status: 'down',
        detail: `commits failing: ${this.commitFailure.message}`,
        file: this.file,
        lastSeq: this.committedSeq,
      };
    return { status: 'ok', file: this.file, lastSeq: this.committedSeq };
  }

  /**
   * Commits what is pending (and what shutdown work appends meanwhile), then stops the writer and
   * closes the file; anything appended after that is refused, never silently dropped.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      // Holds no longer delay a commit: what shutdown found is written as it stands.
      this.closingNow = true;
      for (let round = 0; round < CLOSE_ROUNDS && this.outstanding().length > 0; round++) {
        if (this.batch) this.seal(this.batch);
        this.dispatch();
        await Promise.allSettled(this.outstanding().map((b) => b.promise));
      }
      this.broken ??= new Error('the order journal is closed');
      this.failed(this.broken);
      try {
        await this.writer.close();
      } finally {
        this.db.close();
      }
    })();
    return this.closing;
  }

  /** The open batch, or a new one, sealed at the end of this turn: a turn's appends commit together. */
  private open(): Batch {
    if (this.broken) throw this.broken;
    if (this.batch) return this.batch;
    // A batch nobody waits on must not crash the process when it fails (onRollback reports it).
    const batch: Batch = { events: [], eventRows: [], auditRows: [], holds: 0, ...deferred() };
    this.batch = batch;
    this.sealer.schedule();
    return batch;
  }

  private seal(batch: Batch): void {
    if (this.batch !== batch) return;
    this.batch = null;
    this.sealed.push(batch);
    this.dispatch();
  }

  /**
   * Sealed batches go to the writer in order, once nothing holds them: those ready together are
   * one commit (and the writer makes one transaction of commits queued behind one on its way).
   */
  private dispatch(): void {
    if (this.broken) return;
    const ready: Batch[] = [];
    for (
      let batch = this.sealed[0];
      batch && (batch.holds === 0 || this.closingNow);
      batch = this.sealed[0]
    ) {
      ready.push(batch);
      this.sealed.shift();
    }
    if (ready.length === 0) return;
    this.writing.push(...ready);
    const rows: WriteRow[] = [];
    for (const batch of ready) {
      for (const r of batch.eventRows) rows.push([INSERT_EVENT, r]);
      for (const r of batch.auditRows) rows.push([INSERT_AUDIT, r]);
    }
    this.writer.commit(rows).then(
      () => {
        for (const batch of ready) this.committedBatch(batch);
      },
      (err: Error) => this.writing.includes(ready[0] as Batch) && this.failed(err),
    );
  }

  private committedBatch(batch: Batch): void {
    if (this.writing[0] !== batch) return;
    this.writing.shift();
    this.commitFailure = null;
    this.committedSeq = batch.events[batch.events.length - 1]?.seq ?? this.committedSeq;
    this.committedAudit = batch.auditRows[batch.auditRows.length - 1]?.[0] ?? this.committedAudit;
    this.onCommit?.(batch.events, batch.eventRows.map(eventJson));
    batch.resolve();
  }

  private outstanding(): Batch[] {
    return [...this.writing, ...this.sealed, ...(this.batch ? [this.batch] : [])];
  }

  /**
   * The writer rolled a batch back. What was appended after it was built on it (its seqs follow
   * the lost ones), so it is refused too; the owner rebuilds from what is committed.
   */
  private failed(err: Error): void {
    const lost = this.outstanding();
    if (lost.length === 0) return;
    this.commitFailure = err;
    this.writing = [];
    this.sealed = [];
    this.batch = null;
    this.lastAssignedSeq = this.committedSeq;
    this.lastAssignedAudit = this.committedAudit;
    this.onRollback?.(err);
    for (const b of lost) b.reject(err);
  }

  private writerDied(err: Error): void {
    if (this.broken) return;
    this.broken = err;
    this.failed(err);
  }
}

/** A journal event as JSON, from its row (the data column is JSON already). */
function eventJson([seq, ts, type, orderId, data]: EventParams): string {
  return `{"seq":${seq},"ts":${ts},"type":${JSON.stringify(type)},"orderId":${JSON.stringify(orderId)},"data":${data}}`;
}

function toEvent(r: EventRow): JournalEvent {
  return { seq: r.seq, ts: r.ts, type: r.type, orderId: r.order_id, data: JSON.parse(r.data) as unknown };
}

/** The journal's id; a journal from before ids gets one (the marker's, when it has one). */
function journalId(db: Database.Database, marker: string | null): string {
  const stored = db.prepare("SELECT value FROM meta WHERE key = 'journal_id'").pluck().get();
  if (typeof stored === 'string') return stored;
  const id = marker ?? randomUUID();
  db.prepare("INSERT INTO meta (key, value) VALUES ('journal_id', ?)").run(id);
  return id;
}

function readMarker(marker: string): string | null {
  try {
    return readFileSync(marker, 'utf8').trim() || null;
  } catch {
    return null;
  }
}

/** quick_check reads every page: a damaged database is refused at start, not found mid-session. */
function checkIntegrity(db: Database.Database): void {
  const result = db.pragma('quick_check', { simple: true });
  if (result !== 'ok') throw new Error(`integrity check failed: ${String(result)}`);
}

/**
 * A write that changes nothing, rolled back. `BEGIN IMMEDIATE` alone is not enough: over a WAL
 * left by a killed process it succeeds on a read-only disk.
 */
function probeWrite(db: Database.Database): void {
  const version = Number(db.pragma('user_version', { simple: true }));
  db.exec('BEGIN IMMEDIATE');
  try {
    db.pragma(`user_version = ${version}`);
  } finally {
    if (db.inTransaction) db.exec('ROLLBACK');
  }
}
