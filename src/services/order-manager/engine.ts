import { randomUUID } from 'node:crypto';
import type { BrokerOrderReport, BrokerOrderUpdate } from '../../domain/execution.js';
import type { Instrument } from '../../domain/instruments.js';
import type { EventData, EventType, JournalEvent, NewAuditEntry } from '../../domain/order-events.js';
import {
  applyOrderEvent,
  createOrder,
  isTerminal,
  type Order,
  type OrderChange,
  type OrderError,
  type OrderEvent,
  orderShapeError,
} from '../../domain/orders.js';
import { sessionKeyAt } from '../../domain/positions.js';
import {
  evaluateRisk,
  type RiskOrder,
  type TradingState,
  type TradingStateCause,
  tradingStateAtSession,
} from '../../domain/risk.js';
import type { Bus } from '../../kernel/bus.js';
import type { Clock, Timer } from '../../kernel/clock.js';
import { CODE } from '../../kernel/errors.js';
import { timeOrderedUuid } from '../../kernel/ids.js';
import type { Logger } from '../../kernel/logger.js';
import { msUntilNextLocalDay } from '../../kernel/time.js';
import type { ExecutionClient } from '../../ports/broker.js';
import type { OrderStore } from '../../ports/order-store.js';
import { toOrderEvent } from './broker-events.js';
import { ApiOrderClock, type OrderTrigger, observeTrigger } from './latency.js';
import type { OrderManagerMetrics } from './metrics.js';
import { forgetClosed, type OrderState, type Projected, project, recallClosed } from './projection.js';
import type { CancelResult, ModifyResult, SettleResult, SubmitResult } from './results.js';
import { type RiskInputs, riskContext } from './risk-context.js';
import type { NewOrderBody } from './schemas.js';
import type { OrderManagerTopics } from './topics.js';

export interface EngineDeps {
  journal: OrderStore;
  broker: ExecutionClient;
  instruments: ReadonlyMap<string, Instrument>;
  state: OrderState;
  account: string;
  ackTimeoutMs: number;
  /** Closed orders kept in memory beyond the open ones; older ones are read from the journal. */
  closedOrdersInMemory: number;
  timeZone: string;
  clock: Clock;
  logger: Logger;
  metrics: OrderManagerMetrics;
  lastPrice(symbol: string): number | undefined;
  /** Called with every event once its batch is committed. */
  publish(e: JournalEvent, json: string): void;
  /** A fresh state, for a rebuild after a failed commit. */
  emptyState(): OrderState;
  /** Where the engine says what happened: order changes and fills, rebuilds, unmatched broker news. */
  bus: Bus<OrderManagerTopics>;
}

export type Audit = Pick<NewAuditEntry, 'actor' | 'action'> & Partial<NewAuditEntry>;

/** What a signal or strategy order carries besides its body. */
export interface SubmitOptions {
  /** Checked by RISK_SIGNAL_CONFIDENCE. */
  signalConfidence?: number;
  /** The trade it reacts to, for the tick-to-order metrics. */
  trigger?: OrderTrigger;
  /** A REST order: `performance.now()` when its request arrived, for the API order-ack latency. */
  receivedAt?: number;
}

/**
 * The order manager's core: every command is checked, journaled (with its audit entry) and folded
 * into the projection at once, so later commands of the same turn see it. The journal commits in
 * groups: replies wait for `journal.committed()` (the routes' onSend hook) and feed publishes
 * follow the commit; a new order goes to the broker before its commit, which waits for the
 * broker to take it (cancels and replaces go after their commit), and a failed commit rebuilds the
 * state from what is committed.
 */
export class OrderEngine {
  /** Order routing is connected (the broker's own report). */
  routingUp = false;
  /** A full reconciliation runs: the broker's truth is being applied, so no new order may pass. */
  reconciling = false;
  private readonly ackTimers = new Map<string, Timer>();
  private readonly apiOrders: ApiOrderClock;
  private sessionTimer: Timer | undefined;

  constructor(private readonly d: EngineDeps) {
    this.apiOrders = new ApiOrderClock(d.metrics);
    d.journal.onCommit = (events, json) => {
      for (const [i, e] of events.entries()) d.publish(e, json[i] as string);
      forgetClosed(d.state, d.closedOrdersInMemory, d.journal.lastSeq());
    };
    d.journal.onRollback = (err) => this.rolledBack(err);
    // The first check runs once the owner's synchronous start (the rebuild) is done.
    this.watchSessions(0);
  }

  get state(): OrderState {
    return this.d.state;
  }

  /** What RISK_BROKER_NOT_READY checks: connected and not reconciling. */
  get brokerReady(): boolean {
    return this.routingUp && !this.reconciling;
  }

  /** Rebuilds the state from the whole journal, through the live projection. */
  rebuild(): number {
    Object.assign(this.d.state, this.d.emptyState());
    let n = 0;
    for (const e of this.d.journal.replay()) {
      project(this.d.state, e, this.d.instruments, this.d.timeZone);
      // As it goes, so a long journal never has every order in memory at once.
      forgetClosed(this.d.state, this.d.closedOrdersInMemory, e.seq);
      n++;
    }
    return n;
  }

  /** The order by id: from memory, or a closed one forgotten since (`forgetClosed`) from the journal. */
  find(id: string): Order | undefined {
    return this.d.state.orders.get(id) ?? this.readBack(id);
  }

  /** Folds the order's committed events, through the same projection, into a scratch state. */
  private readBack(id: string): Order | undefined {
    const events = this.d.journal.orderEvents(id);
    if (events.length === 0) return undefined;
    const scratch = this.d.emptyState();
    for (const e of events) project(scratch, e, this.d.instruments, this.d.timeZone);
    return scratch.orders.get(id);
  }

  /** The id of our order with this clientOrderId, in memory or only in the journal. */
  orderIdOf(clientOrderId: string): string | undefined {
    return this.d.state.byClientId.get(clientOrderId) ?? this.d.journal.orderIdOf(clientOrderId);
  }

  /** Appends (with its audit entry, in one transaction), projects, publishes. */
  record<T extends EventType>(type: T, orderId: string | null, data: EventData[T], audit?: Audit) {
    const ts = this.d.clock.now();
    const { journal } = this.d;
    const event = journal.transaction(() => {
      const e = journal.append(type, orderId, data, ts);
      if (audit) journal.audit(auditEntry(ts, audit));
      return e;
    });
    // Projected now, published by onCommit; a failed commit rebuilds the state without it.
    const projected = project(this.d.state, event, this.d.instruments, this.d.timeZone);
    if (projected.order && !projected.error) this.d.bus.publish('order.changed', projected.order);
    return projected;
  }

  audit(audit: Audit): void {
    this.d.journal.audit(auditEntry(this.d.clock.now(), audit));
  }

  riskInputs(): RiskInputs {
    const { state, instruments, timeZone, lastPrice } = this.d;
    return {
      state,
      instruments,
      brokerReady: this.brokerReady,
      now: this.d.clock.now(),
      timeZone,
      lastPrice,
    };
  }

  /**
   * A change of trading state, journaled with its audit entry. `cause` decides what may lift it
   * later: only a state the daily-loss limit set is lifted by a new session (`rollSession`).
   */
  setTradingState(state: TradingState, reason: string, actor: string, cause: TradingStateCause): void {
    const from = this.d.state.tradingState;
    this.record(
      'risk.state',
      null,
      { state, reason, cause },
      { actor, action: 'risk.state', target: state, reason, result: 'ok', details: { from, cause } },
    );
    this.d.logger.warn(
      { event: 'risk.trading_state', from, to: state, reason, actor, cause },
      'trading state changed',
    );
  }

  /**
   * A new session (local midnight in the configured zone, where the daily P&L starts over) lifts
   * a REDUCING or HALTED the daily-loss limit set in an earlier one, back to the state a person
   * last chose: journaled, audited as 'system'. Runs at start, at every local midnight and before
   * every risk decision. A state a person set, and the kill switch, stay until a person lifts them.
   * A change that cannot be journaled leaves trading as it is (the safe side) until the next try.
   */
  rollSession(): void {
    const { state } = this.d;
    if (state.lossLimitSession === null) return;
    const session = sessionKeyAt(this.d.clock.now(), this.d.timeZone);
    const next = tradingStateAtSession(state, session);
    if (next === null) return;
    const reason = `new session ${session}: the daily-loss ${state.tradingState} of ${state.lossLimitSession} is lifted`;
    try {
      this.setTradingState(next, reason, 'system', 'new-session');
    } catch (err) {
      this.d.logger.error(
        { event: 'risk.session_reset_failed', err: (err as Error).message },
        'the new session could not lift the daily-loss trading state; trading stays as it is',
      );
    }
  }

  /** Checks for a new session now (`delayMs` 0), then at every local midnight (at least hourly). */
  private watchSessions(delayMs: number): void {
    this.sessionTimer = this.d.clock
      .after(delayMs, () => {
        this.rollSession();
        // Never sooner than a second: a timer that fires just before midnight tries again just after.
        this.watchSessions(Math.max(1_000, msUntilNextLocalDay(this.d.timeZone, this.d.clock.now())));
      })
      .unref();
  }

  /** A new order: idempotent by clientOrderId; a risk refusal is journaled and answered `denied`. */
  submit(body: NewOrderBody, actor: string, opts: SubmitOptions = {}): SubmitResult {
    const shape = orderShapeError(body);
    if (shape) return { kind: 'invalid', error: shape };
    const known = body.clientOrderId && this.orderIdOf(body.clientOrderId);
    if (known) return { kind: 'duplicate', order: this.get(known) };
    this.rollSession();
    const clientOrderId = body.clientOrderId ?? randomUUID();
    const order = createOrder(
      {
        id: timeOrderedUuid(this.d.clock.now()),
        clientOrderId,
        account: body.account ?? this.d.account,
        symbol: body.symbol,
        side: body.side,
        type: body.type,
        quantity: body.quantity,
        timeInForce: body.timeInForce ?? 'DAY',
        price: body.price,
        stopPrice: body.stopPrice,
        strategyId: body.strategyId,
      },
      this.d.clock.now(),
    );
    const { signalConfidence } = opts;
    const riskOrder: RiskOrder = signalConfidence === undefined ? order : { ...order, signalConfidence };
    const started = performance.now();
    const rejection = evaluateRisk(riskContext(riskOrder, this.riskInputs()));
    this.d.metrics.riskCheckSeconds.observe((performance.now() - started) / 1000);
    const details = { symbol: body.symbol, side: body.side, type: body.type, quantity: body.quantity };
    if (rejection) {
      const { code, message } = rejection;
      this.record(
        'risk.rejected',
        null,
        { clientOrderId, symbol: body.symbol, code, message },
        {
          actor,
          action: 'order.submit',
          target: clientOrderId,
          result: code,
          details: { ...details, message },
        },
      );
      this.d.metrics.rejected.inc({ code });
      return { kind: 'denied', rejection };
    }
    this.record(
      'order.submitted',
      order.id,
      { order },
      { actor, action: 'order.submit', target: order.id, result: 'accepted', details },
    );
    this.d.metrics.submitted.inc();
    if (opts.receivedAt !== undefined) this.apiOrders.start(order.id, opts.receivedAt);
    this.send(order, opts.trigger);
    return { kind: 'accepted', order };
  }

  /** An order known to exist (the engine's own ids); `find` is for ids from outside. */
  get(id: string): Order {
    const order = this.find(id);
    if (!order) throw new Error(`order ${id} is neither in memory nor in the journal`);
    return order;
  }

  /** Idempotent: an order already cancelled, or being cancelled, is answered as it is. */
  cancel(id: string, actor: string, reason?: string): CancelResult {
    const order = this.find(id);
    if (!order) return { kind: 'not_found', id };
    if (order.status === 'CANCELED' || order.status === 'PENDING_CANCEL')
      return { kind: 'cancelling', order };
    if (isTerminal(order.status)) return { kind: 'closed', order };
    const audit = { actor, action: 'order.cancel', target: id, reason: reason ?? null, result: 'requested' };
    const next = this.apply(order.id, { type: 'cancel_requested', ts: this.d.clock.now() }, audit);
    this.cancelAtBroker(next);
    return { kind: 'cancelling', order: next };
  }

  /** Cancels every open order, or those of one symbol and/or some accounts. */
  cancelAll(
    scope: { symbol?: string | undefined; accounts?: readonly string[] | undefined },
    actor: string,
    reason?: string,
  ): Order[] {
    const { symbol, accounts } = scope;
    const targets = [...this.d.state.open.values()].filter(
      (o) =>
        o.status !== 'PENDING_CANCEL' &&
        (!symbol || o.symbol === symbol) &&
        (!accounts || accounts.includes(o.account)),
    );
    // Open orders, so each is cancelling now.
    return targets.flatMap((o) => {
      const r = this.cancel(o.id, actor, reason);
      return r.kind === 'cancelling' ? [r.order] : [];
    });
  }

  /** A price/quantity change of a working order, checked by the risk engine as the order it becomes. */
  modify(id: string, change: OrderChange, actor: string): ModifyResult {
    const order = this.find(id);
    if (!order) return { kind: 'not_found', id };
    const event: OrderEvent = { type: 'replace_requested', ts: this.d.clock.now(), change };
    const dryRun = applyOrderEvent(order, event);
    if (!dryRun.ok) return { kind: 'illegal', order, error: dryRun };
    const changed: RiskOrder = { ...order, quantity: change.quantity ?? order.quantity };
    if (change.price !== undefined) changed.price = change.price;
    this.rollSession();
    const rejection = evaluateRisk(riskContext(changed, this.riskInputs(), order));
    if (rejection) {
      this.audit({
        actor,
        action: 'order.modify',
        target: id,
        result: rejection.code,
        details: { ...change },
      });
      this.d.metrics.rejected.inc({ code: rejection.code });
      return { kind: 'denied', rejection };
    }
    const audit = { actor, action: 'order.modify', target: id, result: 'requested', details: { ...change } };
    const next = this.apply(id, event, audit);
    const brokerOrderId = next.brokerOrderId;
    if (brokerOrderId) {
      this.awaitAnswer(id, 'PENDING_REPLACE');
      // The request leaves only once replace_requested is durable.
      this.afterCommit(() => {
        this.d.broker
          .modifyOrder(brokerOrderId, change)
          .catch((err: Error) => this.settle(id, 'PENDING_REPLACE', 'replace_rejected', err.message));
      });
    }
    return { kind: 'replacing', order: next };
  }

  onBrokerUpdate(u: BrokerOrderUpdate): void {
    const id = this.orderIdOf(u.clientOrderId);
    const event = toOrderEvent(u);
    if (!id || !event) {
      this.d.logger.warn({ event: 'order.unmatched_update', update: u }, 'broker update for no known order');
      // An order the journal lacks (sent just before a failed commit, or placed elsewhere): the
      // reconciliation adopts it, so its fills count.
      this.d.bus.publish('broker.unmatched', u);
      return;
    }
    if (u.status === 'REJECTED') {
      this.d.metrics.rejected.inc({ code: CODE.BROKER_REJECTED });
      this.apiOrders.forget(id);
    } else this.apiOrders.acked(id);
    this.apply(id, event);
  }

  /**
   * Reconciliation's way in: the event goes through the journaled path only if the state machine
   * accepts it now, so a verdict that no longer fits is reported instead of journaled.
   */
  applyIfLegal(orderId: string, event: OrderEvent): OrderError | null {
    const order = this.find(orderId);
    if (!order) return null;
    const dryRun = applyOrderEvent(order, event);
    if (!dryRun.ok) return dryRun;
    if (!dryRun.duplicate) this.apply(orderId, event);
    return null;
  }

  /**
   * An operator's verdict on an UNKNOWN order, after checking with the broker by other means
   * (phone, its terminal): it is not working there. Fills can only come from the broker's reports.
   */
  settleUnknown(
    id: string,
    status: 'CANCELED' | 'REJECTED' | 'EXPIRED',
    reason: string,
    actor: string,
  ): SettleResult {
    const order = this.find(id);
    if (!order) return { kind: 'not_found', id };
    if (order.status !== 'UNKNOWN') return { kind: 'not_unknown', order };
    const audit = { actor, action: 'order.settle', target: id, reason, result: status };
    return {
      kind: 'settled',
      order: this.apply(id, { type: 'resolved', ts: this.d.clock.now(), status }, audit),
    };
  }

  /** Runs `fn` once everything journaled so far is committed; never if that commit fails. */
  afterCommit(fn: () => void): void {
    this.d.journal.committed().then(fn, () => {});
  }

  stop(): void {
    this.d.clock.cancel(this.sessionTimer);
    for (const t of this.ackTimers.values()) this.d.clock.cancel(t);
    this.ackTimers.clear();
  }

  /** Journals a state-machine event for an order and returns the order after it. */
  private apply(orderId: string, event: OrderEvent, audit?: Audit): Order {
    // A forgotten order is closed, so the event changes nothing; in memory again, it is refused
    // and logged as it always was.
    if (!this.d.state.orders.has(orderId)) {
      const order = this.readBack(orderId);
      if (order) recallClosed(this.d.state, order, this.d.journal.lastSeq());
    }
    const p = this.record('order.event', orderId, { event }, audit);
    this.react(p, event);
    return p.order ?? this.get(orderId);
  }

  private react(p: Projected, event: OrderEvent): void {
    if (p.error) {
      this.d.logger.warn(
        {
          event: 'order.illegal_event',
          orderId: p.previous?.id,
          code: p.error.code,
          detail: p.error.message,
        },
        'order event not applied',
      );
      return;
    }
    const order = p.order;
    if (!order || order.status === 'PENDING_NEW') return;
    this.sendDeferredCancel(p);
    // Still waiting on the broker's answer to a cancel or a replace: its timer keeps running.
    if (order.status !== 'PENDING_CANCEL' && order.status !== 'PENDING_REPLACE') this.stopWaiting(order.id);
    if (order.status === 'FILLED' && p.previous?.status !== 'FILLED') this.d.metrics.filled.inc();
    if (p.previous?.status === 'UNKNOWN') this.cancelIfKilled(order, 'found working after UNKNOWN');
    if (p.newFills.length > 0) this.d.bus.publish('order.filled', order);
    if (event.type === 'timed_out') {
      this.d.logger.warn(
        { event: 'order.ack_timeout', orderId: order.id },
        'no broker answer; order UNKNOWN',
      );
    }
  }

  /**
   * A kill switch that cancelled everything keeps doing so for an order found working later: its
   * cancel was lost, or reconciliation adopted it from the broker.
   */
  cancelIfKilled(order: Order, why: string): void {
    const { killSwitch } = this.d.state;
    if (!killSwitch.active || !killSwitch.cancelAll || !WORKING.has(order.status)) return;
    this.cancel(order.id, 'risk-engine', `kill switch: ${killSwitch.reason ?? ''}; ${why}`);
  }

  /**
   * The order leaves before its commit, and the commit waits (ackTimeoutMs at most) until the
   * broker has answered and the answer is journaled beside it: the caller's answer (after the
   * commit) then means both hold the order, and a crash in between leaves an order the broker has
   * and our journal does not, which the next reconciliation adopts from the broker's report. A
   * commit that fails rebuilds the state and reconciles at once (`rolledBack`).
   */
  private send(order: Order, trigger?: OrderTrigger): void {
    this.awaitAnswer(order.id, 'PENDING_NEW');
    if (trigger) observeTrigger(this.d.metrics, this.d.clock.now(), trigger);
    const answered = this.sendToBroker(order).catch((err: Error) =>
      this.d.logger.error(
        { event: 'order.send_failed', orderId: order.id, err: err.message },
        'the broker answer could not be journaled',
      ),
    );
    this.d.journal.holdUntil(answered, this.d.ackTimeoutMs);
  }

  /** Sends, then journals the broker's answer: its id (unless its ack brought it) or its refusal. */
  private async sendToBroker(order: Order): Promise<void> {
    let brokerOrderId: string;
    try {
      ({ brokerOrderId } = await this.d.broker.sendOrder({
        clientOrderId: order.clientOrderId,
        account: order.account,
        symbol: order.symbol,
        exchange: this.d.instruments.get(order.symbol)?.exchange ?? '',
        side: order.side,
        type: order.type,
        quantity: order.quantity,
        price: order.price,
        stopPrice: order.stopPrice,
        timeInForce: order.timeInForce,
      }));
    } catch (err) {
      this.d.metrics.rejected.inc({ code: CODE.BROKER_REJECTED });
      this.apiOrders.forget(order.id);
      this.settle(order.id, 'PENDING_NEW', 'rejected', (err as Error).message);
      return;
    }
    this.apiOrders.acked(order.id);
    // Usually the broker's acknowledgement came first and carried the id: nothing more to journal.
    if (this.find(order.id)?.brokerOrderId !== undefined) return;
    this.sendDeferredCancel(this.record('order.sent', order.id, { brokerOrderId }));
  }

  /**
   * The broker must answer a new order or a cancel within ackTimeoutMs; an order still waiting then
   * goes UNKNOWN, and the reconciler's poll settles it from the broker's reports (a lost cancel
   * comes back as the broker's truth: CANCELED, or working again for the trader to cancel anew).
   */
  private awaitAnswer(orderId: string, waiting: Order['status']): void {
    this.stopWaiting(orderId);
    const timer = this.d.clock.after(this.d.ackTimeoutMs, () => {
      this.ackTimers.delete(orderId);
      if (waiting === 'PENDING_NEW') this.apiOrders.forget(orderId);
      const order = this.d.state.orders.get(orderId);
      // A cancel asked for before the broker's ack is still waiting on that ack.
      const stillWaiting =
        order?.status === waiting ||
        (waiting === 'PENDING_NEW' && order?.status === 'PENDING_CANCEL' && !order.brokerOrderId);
      if (stillWaiting) this.apply(orderId, { type: 'timed_out', ts: this.d.clock.now() });
    });
    timer.unref();
    this.ackTimers.set(orderId, timer);
  }

  private stopWaiting(orderId: string): void {
    this.d.clock.cancel(this.ackTimers.get(orderId));
    this.ackTimers.delete(orderId);
  }

  /** A cancel asked for before the broker's id was known goes out once the id arrives. */
  private sendDeferredCancel(p: Projected): void {
    const { order, previous } = p;
    if (order?.status === 'PENDING_CANCEL' && order.brokerOrderId && !previous?.brokerOrderId) {
      this.cancelAtBroker(order);
    }
  }

  /** After the commit holding the cancel request (or the broker's id): only then does it leave. */
  private cancelAtBroker(order: Order): void {
    const brokerOrderId = order.brokerOrderId;
    if (!brokerOrderId) return;
    this.awaitAnswer(order.id, 'PENDING_CANCEL');
    this.afterCommit(() => {
      this.d.broker
        .cancelOrder(brokerOrderId)
        .catch((err: Error) => this.settle(order.id, 'PENDING_CANCEL', 'cancel_rejected', err.message));
    });
  }

  /**
   * A failed commit was rolled back: the projection still holds its events, so it is rebuilt from
   * the committed journal (rare, and the one way that is certainly right). Orders of the lost
   * batch may already be at the broker: the reconciler (on `state.rebuilt`) adopts them.
   */
  private rolledBack(err: Error): void {
    this.d.logger.error(
      { event: 'order_manager.commit_failed', err: err.message },
      'journal commit failed; its events are dropped and the state rebuilt',
    );
    this.rebuild();
    this.d.bus.publish('state.rebuilt', null);
  }

  /**
   * A broker order on our account that our journal does not hold: sent by us just before a crash
   * (or a failed commit), or placed from another terminal. It is journaled as ours, as the broker
   * reports it, so its fills count in positions and risk (NautilusTrader's "external order").
   */
  adopt(report: BrokerOrderReport): Order {
    const { request } = report;
    const order = createOrder(
      {
        id: timeOrderedUuid(this.d.clock.now()),
        clientOrderId: report.clientOrderId,
        account: request.account,
        symbol: request.symbol,
        side: request.side,
        type: request.type,
        quantity: request.quantity,
        ...(request.price !== undefined && { price: request.price }),
        ...(request.stopPrice !== undefined && { stopPrice: request.stopPrice }),
        timeInForce: request.timeInForce,
      },
      this.d.clock.now(),
    );
    const audit = {
      actor: 'reconciliation',
      action: 'order.adopt',
      target: order.id,
      result: report.status,
      details: { clientOrderId: report.clientOrderId, brokerOrderId: report.brokerOrderId },
    };
    this.record('order.submitted', order.id, { order }, audit);
    this.record('order.sent', order.id, { brokerOrderId: report.brokerOrderId });
    return this.get(order.id);
  }

  /** A refusal of our own request, applied only if the order still waits on that request. */
  private settle(
    orderId: string,
    waiting: Order['status'],
    type: 'rejected' | 'cancel_rejected' | 'replace_rejected',
    reason: string,
  ): void {
    if (this.d.state.orders.get(orderId)?.status !== waiting) return;
    this.apply(orderId, { type, ts: this.d.clock.now(), reason });
  }
}

/** At the broker and able to trade. */
const WORKING: ReadonlySet<Order['status']> = new Set(['ACCEPTED', 'PARTIALLY_FILLED']);

function auditEntry(ts: number, a: Audit): NewAuditEntry {
  return {
    ts,
    actor: a.actor,
    action: a.action,
    target: a.target ?? null,
    reason: a.reason ?? null,
    result: a.result ?? 'ok',
    details: a.details ?? null,
  };
}
