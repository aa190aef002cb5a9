import type { AuditEntry, JournalEvent, NewAuditEntry, OrderOutcomeRow } from '../domain/order-events.js';

/**
 * Where the order manager keeps what it decided: an append-only journal whose commits come in
 * groups. Appends join the open batch at once (seq assigned, visible to the projection) and are
 * durable only once `committed()` resolves; readers see committed events only. The SQLite journal
 * (`adapters/storage/order-journal.ts`) is the production one, `ports/testing` has one in memory.
 */
export interface OrderStore {
  append<T>(type: string, orderId: string | null, data: T, ts: number): JournalEvent<T>;
  audit(entry: NewAuditEntry): AuditEntry;
  /** Runs `fn` as one unit inside the open batch: all of what it appends or none of it. */
  transaction<R>(fn: () => R): R;
  /** Keeps the open batch from committing until `p` settles, `maxMs` at most. */
  holdUntil(p: Promise<unknown>, maxMs: number): void;
  /** Resolves once everything appended so far is committed; rejects if that commit failed. */
  committed(): Promise<void>;
  /** The last committed seq. */
  lastSeq(): number;
  /** Every committed event in seq order. */
  replay(): Iterable<JournalEvent>;
  /** One order's committed events in seq order. */
  orderEvents(orderId: string): JournalEvent[];
  /** The id of the committed order with this clientOrderId, if any. */
  orderIdOf(clientOrderId: string): string | undefined;
  /** Called once a batch is committed, with its events in seq order and each one's JSON. */
  onCommit?: (events: readonly JournalEvent[], json: readonly string[]) => void;
  /** Called right after a failed commit was rolled back (its events are gone). */
  onRollback?: (err: Error) => void;
}

/** What the order manager's reports read from its journal: the audit trail and the SLO figures. */
export interface OrderQueries {
  /** Newest first. */
  auditTrail(limit: number, action?: string): AuditEntry[];
  /** The first committed seq whose event is at or after `ts`, or lastSeq + 1. */
  firstSeqAt(ts: number): number;
  /** Orders submitted and risk rejections in seq range [fromSeq, toSeq), up to `limit`. */
  orderOutcomes(fromSeq: number, toSeq: number, limit: number): OrderOutcomeRow[];
}
