import type { BrokerOrderReport } from '../../domain/execution.js';
import type { Order } from '../../domain/orders.js';
import { type Mismatch, planOrder } from '../../domain/reconciliation.js';
import type { Clock, Timer } from '../../kernel/clock.js';
import type { Logger } from '../../kernel/logger.js';
import type { HealthCheckResult } from '../../kernel/service.js';
import { localDayOf } from '../../kernel/time.js';
import type { ExecutionClient } from '../../ports/broker.js';
import type { OrderEngine } from './engine.js';
import type { OrderManagerMetrics } from './metrics.js';

/** Broker clocks may lag ours: reports are asked for from a little before our oldest order. */
const SINCE_MARGIN_MS = 60_000;
/** A position difference is read again after fills in flight have had time to land. */
const POSITION_READS = 3;
const POSITION_REREAD_MS = 200;
/**
 * A full run whose only mismatches were adoptions is confirmed by another this long after: the
 * adopted orders are ours now, so that run finds nothing and /health is ok again without a
 * person (a kill between an order's send and its commit leaves exactly this). Mismatches that
 * need a person (UNKNOWN orders, positions) are found again by it and stay.
 */
const CONFIRM_ADOPTION_MS = 5_000;
/** Runs after failed commits (or failed runs) back off from this, doubling, while none succeeds. */
const COMMIT_RETRY_FIRST_MS = 1_000;
const COMMIT_RETRY_MAX_MS = 30_000;

export type ReconcileReason =
  | 'start'
  | 'reconnect'
  | 'operator'
  | 'unknown-poll'
  | 'commit-failed'
  | 'unmatched-update'
  | 'confirm-adoption';

export interface ReconcileRun {
  reason: ReconcileReason;
  startedAt: number;
  finishedAt: number;
  /** Our open orders compared with the broker's reports. */
  checked: number;
  /** Events applied from the broker's truth. */
  applied: number;
  mismatches: Mismatch[];
  error?: string;
}

export interface ReconcilerDeps {
  engine: OrderEngine;
  broker: ExecutionClient;
  account: string;
  timeZone: string;
  clock: Clock;
  logger: Logger;
  metrics: OrderManagerMetrics;
  /** The journal's last committed seq: it moves only when a commit succeeds. */
  committedSeq: () => number;
}

/**
 * Brings the journal to the broker's truth through the engine's journaled event path. A missing
 * report never means gone or flat (NautilusTrader's rule): such an order becomes UNKNOWN and every
 * disagreement is a `reconcile.mismatch`, for an operator to settle.
 */
export class Reconciler {
  /** The last full run: what /health shows. */
  lastFull: ReconcileRun | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private fullRequests = 0;
  private polling = false;
  /** When to confirm the last run's adoptions with another full run (null: nothing to confirm). */
  private confirmAt: number | null = null;
  /** Failed commits in a row (no commit succeeded between them), and the run waiting for the next. */
  private commitFailures = 0;
  private committedSeqAtFailure = -1;
  private commitRetry: Timer | null = null;
  /** Full runs failed in a row, and the one waiting to run again. */
  private failedRuns = 0;
  private failedRetry: Timer | null = null;

  constructor(private readonly d: ReconcilerDeps) {}

  /** Every open order, unknown broker orders and positions; new orders are refused until it ends. */
  full(reason: ReconcileReason): Promise<ReconcileRun> {
    // Set now, not when the run starts: no order may slip in before the broker's truth is applied.
    this.d.engine.reconciling = true;
    this.fullRequests++;
    const run = this.queue.then(() => this.run(reason, true));
    this.queue = run.finally(() => {
      if (--this.fullRequests === 0) this.d.engine.reconciling = false;
    });
    return run;
  }

  /**
   * After a failed commit: orders of the lost batch may be at the broker, so a full run adopts them,
   * at once. While commits keep failing (a full or read-only disk) the run's own events fail too:
   * the next runs wait 1 s, doubling to 30 s, instead of following each other as fast as they fail
   * (a storm of runs and mismatch lines); a commit that succeeds in between starts over.
   */
  afterFailedCommit(): void {
    if (this.d.committedSeq() !== this.committedSeqAtFailure) this.commitFailures = 0;
    this.committedSeqAtFailure = this.d.committedSeq();
    if (this.commitRetry) return; // a run is already waiting
    const delay =
      this.commitFailures === 0
        ? 0
        : Math.min(COMMIT_RETRY_MAX_MS, COMMIT_RETRY_FIRST_MS * 2 ** (this.commitFailures - 1));
    this.commitFailures++;
    if (delay === 0) {
      this.requestFull('commit-failed');
      return;
    }
    this.commitRetry = this.d.clock
      .after(delay, () => {
        this.commitRetry = null;
        this.requestFull('commit-failed');
      })
      .unref();
  }

  stop(): void {
    this.d.clock.cancel(this.commitRetry);
    this.commitRetry = null;
    this.d.clock.cancel(this.failedRetry);
    this.failedRetry = null;
  }

  /**
   * A full run that failed (the broker did not answer) is run again, 1 s after, doubling to 30 s,
   * until one succeeds: orders a restart left PENDING_NEW wait on it, with no timer of their own.
   */
  private retryFailed(reason: ReconcileReason): void {
    if (this.failedRetry) return;
    const delay = Math.min(COMMIT_RETRY_MAX_MS, COMMIT_RETRY_FIRST_MS * 2 ** this.failedRuns);
    this.failedRuns++;
    this.failedRetry = this.d.clock
      .after(delay, () => {
        this.failedRetry = null;
        this.requestFull(reason);
      })
      .unref();
  }

  /** A full run unless one is already queued: a burst of triggers (unmatched updates) asks once. */
  requestFull(reason: ReconcileReason): void {
    if (this.fullRequests === 0) void this.full(reason);
  }

  /**
   * The periodic check (every second): the run confirming adoptions once it is due, else the
   * re-check of UNKNOWN orders, the same function without blocking orders.
   */
  async pollUnknown(): Promise<void> {
    const { engine } = this.d;
    if (this.polling || this.fullRequests > 0 || !engine.routingUp) return;
    if (this.confirmAt !== null && this.d.clock.now() >= this.confirmAt) {
      this.confirmAt = null;
      await this.full('confirm-adoption');
      return;
    }
    if (![...engine.state.open.values()].some((o) => o.status === 'UNKNOWN')) return;
    this.polling = true;
    try {
      const run = this.queue.then(() => this.run('unknown-poll', false));
      this.queue = run;
      await run;
    } finally {
      this.polling = false;
    }
  }

  health(): HealthCheckResult {
    const last = this.lastFull;
    const running = this.fullRequests > 0;
    if (!last) return { status: 'ok', detail: 'no reconciliation yet', running };
    const base = { running, lastRunAt: new Date(last.finishedAt).toISOString(), reason: last.reason };
    if (last.error) return { status: 'degraded', detail: `last run failed: ${last.error}`, ...base };
    if (last.mismatches.length === 0) return { status: 'ok', ...base };
    const detail = `${last.mismatches.length} mismatch(es) with the broker`;
    return { status: 'degraded', detail, ...base, mismatches: last.mismatches.slice(0, 20) };
  }

  private async run(reason: ReconcileReason, full: boolean): Promise<ReconcileRun> {
    const { logger } = this.d;
    const startedAt = this.d.clock.now();
    const run: ReconcileRun = { reason, startedAt, finishedAt: 0, checked: 0, applied: 0, mismatches: [] };
    try {
      await this.compareOrders(run, full);
      if (full) await this.comparePositions(run);
    } catch (err) {
      run.error = (err as Error).message;
      logger.warn({ event: 'order_manager.reconcile_failed', reason, err: run.error }, 'reconcile failed');
    }
    run.finishedAt = this.d.clock.now();
    if (full) {
      this.lastFull = run;
      if (run.error) this.retryFailed(reason);
      else this.failedRuns = 0;
      const onlyAdoptions =
        run.mismatches.length > 0 && run.mismatches.every((m) => m.kind === 'unknown_order');
      this.confirmAt = !run.error && onlyAdoptions ? run.finishedAt + CONFIRM_ADOPTION_MS : null;
      logger.info(
        {
          event: 'reconcile.done',
          reason,
          checked: run.checked,
          applied: run.applied,
          mismatches: run.mismatches.length,
        },
        'reconciled with the broker',
      );
    }
    return run;
  }

  private async compareOrders(run: ReconcileRun, full: boolean): Promise<void> {
    const { engine, account } = this.d;
    const mine = (o: Order) => o.account === account && (full || o.status === 'UNKNOWN');
    const targets = [...engine.state.open.values()].filter(mine);
    if (!full && targets.length === 0) return;
    const sessionStart = localDayOf(this.d.timeZone, this.d.clock.now()).startTs;
    const since = targets.reduce((m, o) => Math.min(m, o.createdAt), sessionStart) - SINCE_MARGIN_MS;
    const reports = await this.d.broker.orderReports(account, since);
    const byClientId = new Map(reports.map((r) => [r.clientOrderId, r]));
    for (const target of targets) {
      // Read again: broker news may have moved the order while we waited for the reports.
      const order = engine.state.orders.get(target.id);
      if (!order || !engine.state.open.has(order.id)) continue;
      run.checked++;
      const report = byClientId.get(order.clientOrderId);
      if (!report) {
        this.missing(run, order, full);
        continue;
      }
      this.applyPlan(run, order, report);
    }
    if (!full) return;
    for (const r of reports) {
      if (r.request.account !== account || engine.orderIdOf(r.clientOrderId) !== undefined) continue;
      // Adopted, then brought to the broker's status and fills like any order of ours.
      const adopted = engine.adopt(r);
      this.applyPlan(run, adopted, r);
      engine.cancelIfKilled(engine.get(adopted.id), 'adopted from the broker');
      const detail = `broker order ${r.brokerOrderId} (${r.request.side} ${r.request.quantity} ${r.request.symbol}, ${r.status}) was not in our journal; adopted as ${adopted.id}`;
      this.mismatch(run, {
        kind: 'unknown_order',
        detail,
        orderId: adopted.id,
        clientOrderId: r.clientOrderId,
        symbol: r.request.symbol,
      });
    }
  }

  /** Brings an order to the broker's report; an event the state machine refuses is a mismatch. */
  private applyPlan(run: ReconcileRun, order: Order, report: BrokerOrderReport): void {
    const plan = planOrder(order, report);
    for (const event of plan.events) {
      const error = this.d.engine.applyIfLegal(order.id, event);
      if (error) {
        this.mismatch(run, {
          kind: 'status',
          detail: error.message,
          orderId: order.id,
          symbol: order.symbol,
        });
        break;
      }
      run.applied++;
    }
    if (plan.mismatch) this.mismatch(run, plan.mismatch);
  }

  /**
   * Not reported: not proof it is gone. UNKNOWN until the broker says otherwise, never sent again:
   * an order leaves before its commit, so even one without a broker id may be out there.
   */
  private missing(run: ReconcileRun, order: Order, full: boolean): void {
    const wasUnknown = order.status === 'UNKNOWN';
    if (!wasUnknown) {
      this.d.engine.applyIfLegal(order.id, { type: 'timed_out', ts: this.d.clock.now() });
      run.applied++;
    }
    if (!full && wasUnknown) return; // already counted when it went missing
    const detail = `the broker does not report order ${order.clientOrderId} (was ${order.status}); now UNKNOWN`;
    this.mismatch(run, {
      kind: 'missing_at_broker',
      detail,
      orderId: order.id,
      clientOrderId: order.clientOrderId,
      symbol: order.symbol,
    });
  }

  /** The sum of our fills per symbol against the broker's positions, read again while they differ. */
  private async comparePositions(run: ReconcileRun): Promise<void> {
    let diffs: Mismatch[] = [];
    for (let read = 0; read < POSITION_READS; read++) {
      if (read > 0) await this.d.clock.sleep(POSITION_REREAD_MS);
      const theirs = await this.d.broker.positions(this.d.account);
      const ours = this.fillSums();
      const symbols = new Set([...ours.keys(), ...theirs.map((p) => p.symbol)]);
      const broker = new Map(theirs.map((p) => [p.symbol, p.quantity]));
      diffs = [...symbols].flatMap((symbol) => {
        const a = ours.get(symbol) ?? 0;
        const b = broker.get(symbol) ?? 0;
        return a === b
          ? []
          : [
              {
                kind: 'position' as const,
                symbol,
                detail: `${symbol}: our fills sum to ${a}, the broker holds ${b}`,
              },
            ];
      });
      if (diffs.length === 0) return;
    }
    for (const m of diffs) this.mismatch(run, m);
  }

  private fillSums(): Map<string, number> {
    const net = this.d.engine.state.filledNet.get(this.d.account) ?? new Map<string, number>();
    return new Map([...net].filter(([, qty]) => qty !== 0));
  }

  private mismatch(run: ReconcileRun, m: Mismatch): void {
    run.mismatches.push(m);
    this.d.metrics.reconcileMismatches.inc({ kind: m.kind });
    this.d.logger.warn(
      { event: 'reconcile.mismatch', reason: run.reason, ...m },
      'broker and journal disagree',
    );
  }
}
