import type { AuditEntry, JournalEvent, NewAuditEntry } from '../../domain/order-events.js';
import type { Clock } from '../../kernel/clock.js';
import { type Deferred, deferred } from '../../kernel/deferred.js';
import type { OrderStore } from '../order-store.js';

interface Batch {
  events: JournalEvent[];
  audits: AuditEntry[];
  holds: Promise<unknown>[];
  done: Deferred;
}

/**
 * The order journal's contract in memory, for unit tests of the engine and the reconciler: appends
 * join an open batch at once and become visible to readers only when the test calls `commit()`
 * (the SQLite journal commits on the next turn by itself). `failNextCommit` makes the next commit
 * roll back, as a full disk does.
 */
export class MemoryOrderStore implements OrderStore {
  /** Committed events in seq order. */
  readonly events: JournalEvent[] = [];
  /** Committed audit entries, oldest first. */
  readonly audits: AuditEntry[] = [];
  onCommit?: (events: readonly JournalEvent[], json: readonly string[]) => void;
  onRollback?: (err: Error) => void;
  private batch: Batch | null = null;
  private lastAssignedSeq = 0;
  private lastAssignedAudit = 0;
  private nextFailure: Error | null = null;

  /** `clock` times the holds: a hold ends when its promise settles or `maxMs` passes on it. */
  constructor(private readonly clock: Clock) {}

  append<T>(type: string, orderId: string | null, data: T, ts: number): JournalEvent<T> {
    const event = { seq: ++this.lastAssignedSeq, ts, type, orderId, data };
    this.open().events.push(event);
    return event;
  }

  audit(entry: NewAuditEntry): AuditEntry {
    const audit = { id: ++this.lastAssignedAudit, ...entry };
    this.open().audits.push(audit);
    return audit;
  }

  transaction<R>(fn: () => R): R {
    const batch = this.open();
    const kept = { events: batch.events.length, audits: batch.audits.length };
    const assigned = { seq: this.lastAssignedSeq, audit: this.lastAssignedAudit };
    try {
      return fn();
    } catch (err) {
      batch.events.length = kept.events;
      batch.audits.length = kept.audits;
      this.lastAssignedSeq = assigned.seq;
      this.lastAssignedAudit = assigned.audit;
      throw err;
    }
  }

  /** The batch commits (`commit()` waits) once `p` settled, or `maxMs` passed on the clock. */
  holdUntil(p: Promise<unknown>, maxMs: number): void {
    this.open().holds.push(Promise.race([p, this.clock.sleep(maxMs)]));
  }

  committed(): Promise<void> {
    return this.batch?.done.promise ?? Promise.resolve();
  }

  lastSeq(): number {
    return this.events.at(-1)?.seq ?? 0;
  }

  replay(): Iterable<JournalEvent> {
    return [...this.events];
  }

  orderEvents(orderId: string): JournalEvent[] {
    return this.events.filter((e) => e.orderId === orderId);
  }

  orderIdOf(clientOrderId: string): string | undefined {
    for (const e of this.events) {
      const data = e.data as { order?: { id: string; clientOrderId: string } };
      if (e.type === 'order.submitted' && data.order?.clientOrderId === clientOrderId) return data.order.id;
    }
    return undefined;
  }

  /** The next commit fails and rolls back its batch. */
  failNextCommit(err = new Error('disk full')): void {
    this.nextFailure = err;
  }

  /**
   * Commits the open batch, once what holds it has settled (what the holder journals meanwhile
   * joins it, as in the SQLite journal); then `onCommit` and the waiters, or on a failure the
   * rollback, `onRollback` and the waiters' rejection.
   */
  async commit(): Promise<void> {
    const batch = this.batch;
    if (!batch) return;
    while (batch.holds.length > 0) await Promise.allSettled(batch.holds.splice(0));
    this.batch = null;
    const failure = this.nextFailure;
    this.nextFailure = null;
    if (failure) {
      this.lastAssignedSeq = this.lastSeq();
      this.lastAssignedAudit = this.audits.at(-1)?.id ?? 0;
      this.onRollback?.(failure);
      batch.done.reject(failure);
      return;
    }
    this.events.push(...batch.events);
    this.audits.push(...batch.audits);
    this.onCommit?.(
      batch.events,
      batch.events.map((e) => JSON.stringify(e)),
    );
    batch.done.resolve();
  }

  private open(): Batch {
    this.batch ??= { events: [], audits: [], holds: [], done: deferred() };
    return this.batch;
  }
}
