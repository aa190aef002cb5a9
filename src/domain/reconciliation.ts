import type { BrokerOrderReport } from './execution.js';
import {
  applyOrderEvent,
  type Order,
  type OrderChange,
  type OrderEvent,
  type ResolvedStatus,
} from './orders.js';

export const MISMATCH_KINDS = ['missing_at_broker', 'unknown_order', 'fills', 'status', 'position'] as const;
export type MismatchKind = (typeof MISMATCH_KINDS)[number];

/** One disagreement between our journal and the broker; never fixed by guessing. */
export interface Mismatch {
  kind: MismatchKind;
  detail: string;
  orderId?: string;
  clientOrderId?: string;
  symbol?: string;
}

/** The events that bring one order to the broker's report, and what could not be brought. */
export interface OrderPlan {
  events: OrderEvent[];
  mismatch?: Mismatch;
}

/** The broker's status in the state machine's terms; null while the broker has not decided. */
function reportedStatus(r: BrokerOrderReport): ResolvedStatus | null {
  if (r.status === 'PENDING') return null;
  if (r.status === 'REPLACED') return r.filledQty > 0 ? 'PARTIALLY_FILLED' : 'ACCEPTED';
  return r.status;
}

/** What the broker's order differs in from ours (a replace we never heard of). */
function changeOf(order: Order, r: BrokerOrderReport): OrderChange | null {
  const change: { quantity?: number; price?: number; stopPrice?: number } = {};
  if (r.request.quantity !== order.quantity) change.quantity = r.request.quantity;
  if (r.request.price !== undefined && r.request.price !== order.price) change.price = r.request.price;
  if (r.request.stopPrice !== undefined && r.request.stopPrice !== order.stopPrice) {
    change.stopPrice = r.request.stopPrice;
  }
  return Object.keys(change).length > 0 ? change : null;
}

/**
 * Plans the broker's truth for one open order as ordinary state-machine events, folded through the
 * domain so only legal ones are planned: a replace we missed, missing fills by trade id, then the
 * status (`resolved` for UNKNOWN). Fills we hold that the broker does not are a mismatch, not undone.
 */
export function planOrder(order: Order, report: BrokerOrderReport): OrderPlan {
  const status = reportedStatus(report);
  if (status === null) return { events: [] };
  const events: OrderEvent[] = [];
  const mismatch = (kind: MismatchKind, detail: string): OrderPlan => ({
    events,
    mismatch: { kind, detail, orderId: order.id, clientOrderId: order.clientOrderId, symbol: order.symbol },
  });
  const theirs = new Set(report.fills.map((f) => f.tradeId));
  const extra = order.fills.filter((f) => !theirs.has(f.tradeId)).map((f) => f.tradeId);
  if (extra.length > 0) return mismatch('fills', `fills the broker does not report: ${extra.join(', ')}`);

  let current = order;
  const push = (event: OrderEvent): string | null => {
    const r = applyOrderEvent(current, event);
    if (!r.ok) return r.message;
    current = r.order;
    events.push(event);
    return null;
  };
  const ts = report.updatedAt;
  const change = changeOf(current, report);
  if (change) {
    const err = push({ type: 'replaced', ts, change });
    if (err) return mismatch('status', `broker shows a changed order: ${err}`);
  }
  const held = new Set(current.fills.map((f) => f.tradeId));
  const missing = report.fills.filter((f) => !held.has(f.tradeId));
  if (current.status === 'UNKNOWN') {
    const { brokerOrderId, reason } = report;
    const err = push({
      type: 'resolved',
      ts,
      status,
      fills: missing,
      brokerOrderId,
      ...(reason && { reason }),
    });
    return err ? mismatch('status', err) : { events };
  }
  // Fills of an order whose acknowledgement never reached us (a kill in between): it is
  // acknowledged first, so it carries the broker's id like any other.
  if (missing.length > 0 && current.status === 'PENDING_NEW') {
    const err = push({ type: 'accepted', ts, brokerOrderId: report.brokerOrderId });
    if (err) return mismatch('status', `broker reports fills of an order we hold unacknowledged: ${err}`);
  }
  for (const f of missing) {
    const type = current.filledQty + f.qty >= current.quantity ? 'filled' : 'partially_filled';
    const err = push({ type, ...f });
    if (err) return mismatch('fills', err);
  }
  const statusEvent = statusEventFor(current, report, status);
  if (statusEvent) {
    const err = push(statusEvent);
    if (err) return mismatch('status', `broker reports ${status}: ${err}`);
  }
  if (current.filledQty !== report.filledQty || (status === 'FILLED') !== (current.status === 'FILLED')) {
    return mismatch(
      'fills',
      `broker reports ${status} with ${report.filledQty} filled; we hold ${current.filledQty} (${current.status})`,
    );
  }
  return { events };
}

/** The event that moves an order (its fills already applied) to the broker's status, if any. */
function statusEventFor(order: Order, r: BrokerOrderReport, status: ResolvedStatus): OrderEvent | null {
  const ts = r.updatedAt;
  switch (status) {
    case 'ACCEPTED':
    case 'PARTIALLY_FILLED':
      // A pending cancel or replace is still out; only a missing ack is news.
      return order.status === 'PENDING_NEW' || order.brokerOrderId === undefined
        ? { type: 'accepted', ts, brokerOrderId: r.brokerOrderId }
        : null;
    case 'CANCELED':
      return { type: 'canceled', ts };
    case 'EXPIRED':
      return { type: 'expired', ts };
    case 'REJECTED':
      return { type: 'rejected', ts, reason: r.reason ?? 'rejected by the broker' };
    case 'FILLED':
      return null;
  }
}
