import type { BrokerOrderReport, BrokerOrderUpdate, BrokerPosition } from '../../../domain/execution.js';
import { type Deferred, deferred } from '../../../kernel/deferred.js';
import { TurnBatcher } from '../../../kernel/turn.js';
import { MatchingEngine } from './matching.js';
import type { Tape } from './tape.js';
import { toReport } from './venue-order.js';
import { type VenueStore, VenueUnavailableError } from './venue-store.js';

/** About 0.7 KB each. */
const CLOSED_ORDERS_IN_MEMORY = 1_000;

const positionKey = (p: { account: string; symbol: string }) => `${p.account}\u0000${p.symbol}`;

/**
 * The venue's state and its way out: every piece of venue work runs through `run`, which stores
 * what changed (when there is a store) before any resulting update is delivered. With a store,
 * delivery is held until `release` (routing connected), so what happened while we were down,
 * or was stored but perhaps not delivered before a crash, is reported on the first connect.
 *
 * Group commit: the work of one turn is staged and committed once, at the end of the turn; its
 * updates are delivered only after that commit. `committed()` lets the broker hand out a new
 * order's id only once the venue has stored the order, as a real broker answers after it has it.
 */
export class Venue {
  readonly engine: MatchingEngine;
  private readonly outbox: Array<{ seq: number; update: BrokerOrderUpdate }> = [];
  private deliveredThrough = 0;
  private memorySeq = 0;
  private holding: boolean;
  /** Updates written in the open transaction, delivered once it commits. */
  private staged: Array<{ seq: number; update: BrokerOrderUpdate }> = [];
  private readonly committer = new TurnBatcher(() => this.commitStaged());
  /** Settled by the next commit: every `committed()` until then shares it. */
  private nextCommit: Deferred | null = null;
  private failure: Error | null = null;

  constructor(
    tape: Tape,
    private readonly store: VenueStore | null,
    private readonly deliver: (update: BrokerOrderUpdate) => void,
    /** A commit failed (a full disk): from then on the venue takes no work; reopen it to go on. */
    private readonly onFailure: (err: VenueUnavailableError) => void = () => {},
    /** With a store: closed orders kept in memory; older ones are read from the store for reports. */
    private readonly closedOrdersInMemory = CLOSED_ORDERS_IN_MEMORY,
  ) {
    this.engine = new MatchingEngine(tape);
    this.holding = store !== null;
    if (store) {
      this.restore(store);
      this.engine.forgetClosed(closedOrdersInMemory);
    }
  }

  /** The account's orders changed since `sinceTs`, as a broker reports them: memory and store together. */
  reports(account: string, sinceTs: number): BrokerOrderReport[] {
    const orders = this.engine.updatedSince(account, sinceTs);
    const forgotten = (this.store?.ordersUpdatedSince(account, sinceTs) ?? []).filter(
      (o) => !this.engine.has(o.brokerOrderId),
    );
    if (forgotten.length > 0) {
      orders.push(...forgotten);
      orders.sort((a, b) => a.seq - b.seq);
    }
    return orders.map(toReport);
  }

  /** The highest order number the venue has handed out. */
  lastOrderSeq(): number {
    return this.store?.lastOrderSeq() ?? 0;
  }

  /** Why the venue stopped taking work (a failed commit), or null. */
  get failed(): Error | null {
    return this.failure;
  }

  /** Runs venue work, stages what it changed; the updates are delivered after the commit. */
  run<T>(work: () => T): T {
    // A failed commit lost stored work the engine still holds: the venue takes no more.
    if (this.failure && this.store) throw new VenueUnavailableError(this.store.file, this.failure.message);
    try {
      return work();
    } finally {
      this.stage();
    }
  }

  /** Delivery may start (routing is up): first everything held back. */
  release(): void {
    this.holding = false;
    this.flush();
  }

  /** Records what was delivered, so a clean restart does not report it again. */
  checkpoint(): void {
    if (!this.store?.isOpen || this.failure) return;
    this.committer.flushNow();
    if (this.failure) return;
    this.store.stage({ ...nothing(), deliveredThrough: this.deliveredThrough });
    try {
      this.store.commitStaged();
    } catch (err) {
      this.fail(err as Error);
    }
  }

  close(): void {
    this.checkpoint();
    this.store?.close();
  }

  private fail(err: Error): void {
    this.failure = err;
    if (this.store) this.onFailure(new VenueUnavailableError(this.store.file, err.message));
  }

  private stage(): void {
    const { orders, fills, updates } = this.engine.takeChanges();
    if (orders.length === 0 && updates.length === 0) return;
    if (!this.store) {
      // Nothing to store: delivered at once.
      this.outbox.push(...updates.map((update) => ({ seq: ++this.memorySeq, update })));
      this.flush();
      return;
    }
    const seqs = this.store.stage({
      orders,
      fills,
      positions: this.touchedPositions(fills.map((f) => f.order.request)),
      updates,
      deliveredThrough: this.deliveredThrough,
    });
    this.staged.push(...updates.map((update, i) => ({ seq: seqs[i] ?? 0, update })));
    this.schedule();
  }

  /** Resolves once everything staged so far is stored; rejects if that commit fails. */
  committed(): Promise<void> {
    this.schedule();
    this.nextCommit ??= deferred();
    return this.nextCommit.promise;
  }

  private schedule(): void {
    this.committer.schedule();
  }

  /** Commits the staged work, then delivers its updates; on failure none of it is delivered. */
  private commitStaged(): void {
    const done = this.nextCommit;
    this.nextCommit = null;
    const staged = this.staged;
    this.staged = [];
    if (staged.length > 0 || this.store?.isOpen) {
      try {
        this.store?.commitStaged();
      } catch (err) {
        this.fail(err as Error);
        done?.reject(err as Error);
        return;
      }
      this.outbox.push(...staged);
      this.flush();
      // What is stored now may leave memory (the store answers for it).
      if (this.store) this.engine.forgetClosed(this.closedOrdersInMemory);
    }
    done?.resolve();
  }

  private flush(): void {
    if (this.holding) return;
    for (let next = this.outbox.shift(); next; next = this.outbox.shift()) {
      this.deliveredThrough = next.seq;
      this.deliver(next.update);
    }
  }

  private touchedPositions(requests: Array<{ account: string; symbol: string }>): BrokerPosition[] {
    const keys = new Map(requests.map((r) => [positionKey(r), r]));
    return [...keys.values()].flatMap((r) => this.engine.position(r.account, r.symbol) ?? []);
  }

  /** Loads the stored venue; stored positions must equal the sum of the stored fills. */
  private restore(store: VenueStore): void {
    const snapshot = store.load();
    try {
      this.engine.restore(snapshot.orders, snapshot.fills);
    } catch (err) {
      throw new VenueUnavailableError(store.file, (err as Error).message);
    }
    const requests = new Map(snapshot.orders.map((o) => [o.brokerOrderId, o.request]));
    const replayed = this.touchedPositions(
      snapshot.fills.flatMap((f) => requests.get(f.brokerOrderId) ?? []),
    );
    const stored = new Map(snapshot.positions.map((p) => [positionKey(p), p]));
    const agree =
      replayed.length === stored.size &&
      replayed.every((p) => {
        const s = stored.get(positionKey(p));
        return s?.quantity === p.quantity && s.averagePrice === p.averagePrice;
      });
    if (!agree)
      throw new VenueUnavailableError(store.file, 'stored positions disagree with the stored fills');
    this.outbox.push(...snapshot.outbox);
  }
}

function nothing() {
  return { orders: [], fills: [], positions: [], updates: [] };
}
