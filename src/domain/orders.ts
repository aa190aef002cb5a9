/**
 * The order state machine, NautilusTrader-style: one table of legal (status, trigger) moves.
 * Pure: `applyOrderEvent` returns the next order or a typed error; it never throws and never
 * mutates its input. Adapters map broker news onto these events; the order manager journals them.
 */
import type { ErrorCode } from '../kernel/errors.js';

export const ORDER_STATUSES = [
  'PENDING_NEW',
  'ACCEPTED',
  'REJECTED',
  'PARTIALLY_FILLED',
  'FILLED',
  'PENDING_CANCEL',
  'CANCELED',
  'PENDING_REPLACE',
  'EXPIRED',
  'UNKNOWN',
] as const;
export type OrderStatus = (typeof ORDER_STATUSES)[number];

export const ORDER_EVENT_TYPES = [
  'accepted',
  'rejected',
  'partially_filled',
  'filled',
  'cancel_requested',
  'canceled',
  'cancel_rejected',
  'replace_requested',
  'replaced',
  'replace_rejected',
  'expired',
  'timed_out',
  'resolved',
] as const;
export type OrderEventType = (typeof ORDER_EVENT_TYPES)[number];

export type OrderSide = 'BUY' | 'SELL';
export type OrderType = 'MARKET' | 'LIMIT' | 'STOP' | 'STOP_LIMIT';
export type TimeInForce = 'DAY' | 'IOC' | 'FOK' | 'GTC';

/** One execution, as the broker reports it; `tradeId` is unique per fill. */
export interface Fill {
  readonly tradeId: string;
  readonly qty: number;
  readonly price: number;
  readonly ts: number;
}

/** What a replace asks to change; absent fields stay as they are. */
export interface OrderChange {
  readonly quantity?: number;
  readonly price?: number;
  readonly stopPrice?: number;
}

/** The statuses a reconciliation can report for an order whose fate was UNKNOWN. */
export type ResolvedStatus = 'ACCEPTED' | 'PARTIALLY_FILLED' | 'FILLED' | 'CANCELED' | 'REJECTED' | 'EXPIRED';

export type FillEvent = { readonly type: 'partially_filled' | 'filled' } & Fill;

export type OrderEvent =
  | { readonly type: 'accepted'; readonly ts: number; readonly brokerOrderId?: string }
  | { readonly type: 'rejected'; readonly ts: number; readonly reason: string }
  | FillEvent
  | { readonly type: 'cancel_requested'; readonly ts: number }
  | { readonly type: 'canceled'; readonly ts: number }
  | { readonly type: 'cancel_rejected'; readonly ts: number; readonly reason?: string }
  | { readonly type: 'replace_requested'; readonly ts: number; readonly change: OrderChange }
  | { readonly type: 'replaced'; readonly ts: number; readonly change?: OrderChange }
  | { readonly type: 'replace_rejected'; readonly ts: number; readonly reason?: string }
  | { readonly type: 'expired'; readonly ts: number }
  | { readonly type: 'timed_out'; readonly ts: number }
  | {
      readonly type: 'resolved';
      readonly ts: number;
      readonly status: ResolvedStatus;
      /** Fills the reconciliation found; ones already applied are skipped by trade id. */
      readonly fills?: readonly Fill[];
      readonly brokerOrderId?: string;
      readonly reason?: string;
    };

export interface Order {
  readonly id: string;
  readonly clientOrderId: string;
  readonly account: string;
  readonly symbol: string;
  readonly side: OrderSide;
  readonly type: OrderType;
  readonly quantity: number;
  readonly price?: number;
  readonly stopPrice?: number;
  readonly timeInForce: TimeInForce;
  readonly status: OrderStatus;
  readonly filledQty: number;
  /** Quantity-weighted average of the fills; 0 before the first one. */
  readonly avgFillPrice: number;
  readonly leavesQty: number;
  readonly fills: readonly Fill[];
  readonly strategyId?: string;
  /** Epoch ms. */
  readonly createdAt: number;
  /** Epoch ms; never moves backwards, even when a broker's clock lags ours. */
  readonly updatedAt: number;
  readonly brokerOrderId?: string;
  readonly rejectReason?: string;
  /** In PENDING_CANCEL/PENDING_REPLACE: where a refused request returns the order. */
  readonly resumeStatus?: OrderStatus;
  /** The change a replace in flight asked for, applied when the broker confirms it. */
  readonly pendingChange?: OrderChange;
}

export type NewOrder = Pick<
  Order,
  'id' | 'clientOrderId' | 'account' | 'symbol' | 'side' | 'type' | 'quantity' | 'timeInForce'
> &
  Partial<Pick<Order, 'price' | 'stopPrice' | 'strategyId'>>;

export interface OrderError {
  readonly ok: false;
  /** ILLEGAL_TRANSITION, INVALID_REPLACE, or for a broker report INVALID_FILL, OVERFILL, FILL_MISMATCH. */
  readonly code: ErrorCode;
  readonly from: OrderStatus;
  readonly event: OrderEventType;
  readonly message: string;
}

/** `duplicate`: the event was a fill already applied; `order` is the input, unchanged. */
export type OrderResult =
  | { readonly ok: true; readonly order: Order; readonly duplicate: boolean }
  | OrderError;

const TERMINAL_STATUSES: ReadonlySet<OrderStatus> = new Set(['REJECTED', 'FILLED', 'CANCELED', 'EXPIRED']);

export const isTerminal = (status: OrderStatus): boolean => TERMINAL_STATUSES.has(status);

/** Not terminal. UNKNOWN counts as open: the order may still be working at the exchange. */
export const isOpen = (status: OrderStatus): boolean => !TERMINAL_STATUSES.has(status);

/**
 * Where a transition goes. Besides a fixed status:
 * - `LIVE`: ACCEPTED, or PARTIALLY_FILLED once anything has filled;
 * - `RESUME`: the `resumeStatus` remembered on entering PENDING_CANCEL/PENDING_REPLACE;
 * - `REPORTED`: the status a `resolved` event carries (ACCEPTED and PARTIALLY_FILLED become `LIVE`).
 */
export type TransitionTarget = OrderStatus | 'LIVE' | 'RESUME' | 'REPORTED';

type TransitionRow = Readonly<Partial<Record<OrderEventType, TransitionTarget>>>;

/**
 * Every legal move; a missing (status, trigger) pair is an illegal transition. Fill events are
 * looked up by what they do to the quantities, not by the name the broker gave them: the fill that
 * completes the order is `filled`, any other is `partially_filled` (as NautilusTrader does).
 *
 * Races real brokers produce, and how they land:
 * - fills and acks overtake each other: PENDING_NEW takes fills, PARTIALLY_FILLED takes a late ack;
 * - fills while a cancel or replace is in flight keep the pending status (the request is still
 *   out) and move `resumeStatus` to PARTIALLY_FILLED; a fill that completes the order ends it FILLED;
 * - news while UNKNOWN settles it: an ack or a replace confirmation makes it LIVE, a fill makes it
 *   PARTIALLY_FILLED or FILLED, a cancel/reject/expiry ends it; `resolved` is reconciliation's verdict;
 * - a cancel may be requested from PENDING_NEW, PENDING_REPLACE and UNKNOWN too (the kill switch
 *   must reach every order that might be working); a replace only from a working order.
 */
export const ORDER_TRANSITIONS: Readonly<Record<OrderStatus, TransitionRow>> = {
  PENDING_NEW: {
    accepted: 'ACCEPTED',
    rejected: 'REJECTED',
    partially_filled: 'PARTIALLY_FILLED',
    filled: 'FILLED',
    cancel_requested: 'PENDING_CANCEL',
    canceled: 'CANCELED',
    expired: 'EXPIRED',
    timed_out: 'UNKNOWN',
  },
  ACCEPTED: {
    accepted: 'ACCEPTED',
    // A stop order can be refused when it triggers, after its acceptance.
    rejected: 'REJECTED',
    partially_filled: 'PARTIALLY_FILLED',
    filled: 'FILLED',
    cancel_requested: 'PENDING_CANCEL',
    canceled: 'CANCELED',
    replace_requested: 'PENDING_REPLACE',
    // Unsolicited: modified from another terminal.
    replaced: 'ACCEPTED',
    expired: 'EXPIRED',
    timed_out: 'UNKNOWN',
  },
  PARTIALLY_FILLED: {
    accepted: 'PARTIALLY_FILLED',
    partially_filled: 'PARTIALLY_FILLED',
    filled: 'FILLED',
    cancel_requested: 'PENDING_CANCEL',
    canceled: 'CANCELED',
    replace_requested: 'PENDING_REPLACE',
    replaced: 'PARTIALLY_FILLED',
    expired: 'EXPIRED',
    timed_out: 'UNKNOWN',
  },
  PENDING_CANCEL: {
    accepted: 'PENDING_CANCEL',
    rejected: 'REJECTED',
    partially_filled: 'PENDING_CANCEL',
    filled: 'FILLED',
    cancel_requested: 'PENDING_CANCEL',
    canceled: 'CANCELED',
    cancel_rejected: 'RESUME',
    // The outcome of a replace that was in flight when the cancel was asked for.
    replaced: 'PENDING_CANCEL',
    replace_rejected: 'PENDING_CANCEL',
    expired: 'EXPIRED',
    timed_out: 'UNKNOWN',
  },
  PENDING_REPLACE: {
    accepted: 'PENDING_REPLACE',
    partially_filled: 'PENDING_REPLACE',
    filled: 'FILLED',
    cancel_requested: 'PENDING_CANCEL',
    canceled: 'CANCELED',
    replaced: 'RESUME',
    replace_rejected: 'RESUME',
    expired: 'EXPIRED',
    timed_out: 'UNKNOWN',
  },
  UNKNOWN: {
    accepted: 'LIVE',
    rejected: 'REJECTED',
    partially_filled: 'PARTIALLY_FILLED',
    filled: 'FILLED',
    cancel_requested: 'PENDING_CANCEL',
    canceled: 'CANCELED',
    replaced: 'LIVE',
    expired: 'EXPIRED',
    timed_out: 'UNKNOWN',
    resolved: 'REPORTED',
  },
  REJECTED: {},
  FILLED: {},
  CANCELED: {},
  EXPIRED: {},
};

/** A fresh order, PENDING_NEW, nothing filled. Check it with `orderShapeError` first. */
/**
 * A new order, PENDING_NEW. Copied field by field (absent optional fields stay absent): spreading
 * a request body parsed from JSON costs several times more, on every order.
 */
export function createOrder(spec: NewOrder, ts: number): Order {
  const order: { -readonly [K in keyof Order]: Order[K] } = {
    id: spec.id,
    clientOrderId: spec.clientOrderId,
    account: spec.account,
    symbol: spec.symbol,
    side: spec.side,
    type: spec.type,
    quantity: spec.quantity,
    timeInForce: spec.timeInForce,
    status: 'PENDING_NEW',
    filledQty: 0,
    avgFillPrice: 0,
    leavesQty: spec.quantity,
    fills: [],
    createdAt: ts,
    updatedAt: ts,
  };
  if (spec.price !== undefined) order.price = spec.price;
  if (spec.stopPrice !== undefined) order.stopPrice = spec.stopPrice;
  if (spec.strategyId !== undefined) order.strategyId = spec.strategyId;
  return order;
}

export interface OrderShapeError {
  /** INVALID_ORDER. */
  readonly code: ErrorCode;
  readonly message: string;
  readonly details: { readonly field: string };
}

const PRICE_RULES: Readonly<Record<OrderType, { price: boolean; stopPrice: boolean }>> = {
  MARKET: { price: false, stopPrice: false },
  LIMIT: { price: true, stopPrice: false },
  STOP: { price: false, stopPrice: true },
  STOP_LIMIT: { price: true, stopPrice: true },
};

/**
 * What a JSON schema cannot say about an order: a positive whole quantity and exactly the prices
 * its type needs (LIMIT: price; STOP: stopPrice; STOP_LIMIT: both; MARKET: neither). Tick and lot
 * grids are the risk engine's business.
 */
export function orderShapeError(
  spec: Pick<NewOrder, 'type' | 'quantity' | 'price' | 'stopPrice'>,
): OrderShapeError | null {
  if (!Number.isSafeInteger(spec.quantity) || spec.quantity <= 0) {
    return shapeError('quantity', 'quantity must be a positive whole number');
  }
  const rules = PRICE_RULES[spec.type];
  return (
    priceFieldError('price', spec.price, rules.price, spec.type) ??
    priceFieldError('stopPrice', spec.stopPrice, rules.stopPrice, spec.type)
  );
}

function priceFieldError(
  field: 'price' | 'stopPrice',
  value: number | undefined,
  required: boolean,
  type: OrderType,
): OrderShapeError | null {
  if (value === undefined)
    return required ? shapeError(field, `${field} is required for ${type} orders`) : null;
  if (!required) return shapeError(field, `${field} is not allowed for ${type} orders`);
  if (!Number.isFinite(value) || value <= 0) return shapeError(field, `${field} must be a positive number`);
  return null;
}

const shapeError = (field: string, message: string): OrderShapeError => ({
  code: 'INVALID_ORDER',
  message,
  details: { field },
});

/** ACCEPTED, or PARTIALLY_FILLED once anything has filled: the status of a working order. */
export const liveStatus = (order: Pick<Order, 'filledQty'>): OrderStatus =>
  order.filledQty > 0 ? 'PARTIALLY_FILLED' : 'ACCEPTED';

/** The table key an event is looked up by: fills by their effect on the quantities. */
export function triggerOf(order: Order, event: OrderEvent): OrderEventType {
  if (!isFillEvent(event)) return event.type;
  return order.filledQty + event.qty >= order.quantity ? 'filled' : 'partially_filled';
}

const isFillEvent = (event: OrderEvent): event is FillEvent =>
  event.type === 'filled' || event.type === 'partially_filled';

/**
 * The order after an event, or why the event cannot apply. A fill whose trade id was applied
 * before is a no-op in every status, terminal ones included, so replays and broker resends are safe.
 */
export function applyOrderEvent(order: Order, event: OrderEvent): OrderResult {
  if (isFillEvent(event) && hasTrade(order, event.tradeId)) return { ok: true, order, duplicate: true };
  const target = ORDER_TRANSITIONS[order.status][triggerOf(order, event)];
  if (target === undefined) {
    return orderError(order, event, 'ILLEGAL_TRANSITION', `${event.type} is not allowed in ${order.status}`);
  }
  const changed = applyEffects(order, event);
  if ('ok' in changed) return changed;
  const status = statusFor(target, changed, event);
  const resumeStatus = resumeFor(status, order, changed, event);
  // UNKNOWN keeps a replace's change too, for a late confirmation that does not echo the values.
  const replaceInFlight =
    status === 'PENDING_REPLACE' || resumeStatus === 'PENDING_REPLACE' || status === 'UNKNOWN';
  const next: Order = {
    ...changed,
    status,
    resumeStatus,
    pendingChange: replaceInFlight ? changed.pendingChange : undefined,
    updatedAt: Math.max(order.updatedAt, event.ts),
  };
  return { ok: true, order: next, duplicate: false };
}

const hasTrade = (order: Order, tradeId: string): boolean => order.fills.some((f) => f.tradeId === tradeId);

/** The fields an event changes, before its status is decided. */
function applyEffects(order: Order, event: OrderEvent): Order | OrderError {
  switch (event.type) {
    case 'partially_filled':
    case 'filled':
      return withFill(
        order,
        { tradeId: event.tradeId, qty: event.qty, price: event.price, ts: event.ts },
        event,
      );
    case 'accepted':
      return event.brokerOrderId === undefined ? order : { ...order, brokerOrderId: event.brokerOrderId };
    case 'rejected':
      return { ...order, rejectReason: event.reason };
    case 'replace_requested':
      return withReplaceRequest(order, event);
    case 'replaced':
      return withChange(order, event, event.change ?? order.pendingChange ?? {});
    case 'resolved':
      return withResolution(order, event);
    default:
      return order;
  }
}

function withFill(order: Order, fill: Fill, event: OrderEvent): Order | OrderError {
  if (!isValidFill(fill)) {
    return orderError(
      order,
      event,
      'INVALID_FILL',
      `fill ${fill.tradeId}: qty must be a positive whole number, price positive`,
    );
  }
  const filledQty = order.filledQty + fill.qty;
  if (filledQty > order.quantity) {
    return orderError(
      order,
      event,
      'OVERFILL',
      `fill ${fill.tradeId} of ${fill.qty} would fill ${filledQty} of ${order.quantity}`,
    );
  }
  const fills = [...order.fills, fill];
  return {
    ...order,
    fills,
    filledQty,
    leavesQty: order.quantity - filledQty,
    avgFillPrice: averagePrice(fills),
  };
}

const isValidFill = (fill: Fill): boolean =>
  fill.tradeId !== '' &&
  Number.isSafeInteger(fill.qty) &&
  fill.qty > 0 &&
  Number.isFinite(fill.price) &&
  fill.price > 0;

/** Recomputed from all fills rather than updated incrementally, so no rounding accumulates. */
function averagePrice(fills: readonly Fill[]): number {
  let notional = 0;
  let qty = 0;
  for (const f of fills) {
    notional += f.qty * f.price;
    qty += f.qty;
  }
  return qty === 0 ? 0 : notional / qty;
}

function withReplaceRequest(
  order: Order,
  event: Extract<OrderEvent, { type: 'replace_requested' }>,
): Order | OrderError {
  const { change } = event;
  const problem =
    change.quantity === undefined && change.price === undefined && change.stopPrice === undefined
      ? 'a replace must change quantity, price or stopPrice'
      : changeProblem(order, change);
  if (problem) return invalidReplace(order, event, problem);
  return { ...order, pendingChange: change };
}

function withChange(order: Order, event: OrderEvent, change: OrderChange): Order | OrderError {
  const problem = changeProblem(order, change);
  if (problem) return invalidReplace(order, event, problem);
  const quantity = change.quantity ?? order.quantity;
  return {
    ...order,
    quantity,
    leavesQty: quantity - order.filledQty,
    price: change.price ?? order.price,
    stopPrice: change.stopPrice ?? order.stopPrice,
    pendingChange: undefined,
  };
}

const invalidReplace = (order: Order, event: OrderEvent, problem: string): OrderError =>
  orderError(order, event, 'INVALID_REPLACE', problem);

/** A new quantity must leave something to fill; prices must be positive. */
function changeProblem(order: Order, change: OrderChange): string | null {
  const { quantity, price, stopPrice } = change;
  if (quantity !== undefined && (!Number.isSafeInteger(quantity) || quantity <= order.filledQty)) {
    return `quantity ${quantity} must be a whole number above the filled ${order.filledQty}`;
  }
  if (price !== undefined && !(Number.isFinite(price) && price > 0)) return 'price must be positive';
  if (stopPrice !== undefined && !(Number.isFinite(stopPrice) && stopPrice > 0))
    return 'stopPrice must be positive';
  return null;
}

function withResolution(order: Order, event: Extract<OrderEvent, { type: 'resolved' }>): Order | OrderError {
  let next = order;
  for (const fill of event.fills ?? []) {
    if (hasTrade(next, fill.tradeId)) continue;
    const filled = withFill(next, fill, event);
    if ('ok' in filled) return filled;
    next = filled;
  }
  const problem = resolutionProblem(next, event.status);
  if (problem) return orderError(order, event, 'FILL_MISMATCH', problem);
  return {
    ...next,
    brokerOrderId: event.brokerOrderId ?? next.brokerOrderId,
    rejectReason: event.status === 'REJECTED' ? (event.reason ?? next.rejectReason) : next.rejectReason,
  };
}

/**
 * A reported status must agree with the fills we hold: FILLED needs nothing left, anything else
 * needs something left. The service supplies missing fills (inferred ones if need be) and retries.
 */
function resolutionProblem(order: Order, status: ResolvedStatus): string | null {
  if (status === 'FILLED' && order.leavesQty > 0) {
    return `reported FILLED but only ${order.filledQty} of ${order.quantity} filled`;
  }
  if (status !== 'FILLED' && order.leavesQty === 0) {
    return `reported ${status} but all ${order.quantity} filled`;
  }
  return null;
}

function statusFor(target: TransitionTarget, order: Order, event: OrderEvent): OrderStatus {
  switch (target) {
    case 'LIVE':
      return liveStatus(order);
    case 'RESUME':
      return order.resumeStatus ?? liveStatus(order);
    case 'REPORTED': {
      const reported = event.type === 'resolved' ? event.status : order.status;
      return reported === 'ACCEPTED' || reported === 'PARTIALLY_FILLED' ? liveStatus(order) : reported;
    }
    default:
      return target;
  }
}

/**
 * The status a pending order returns to. Entering PENDING_CANCEL remembers where it came from;
 * while it waits, news that proves the order works (an ack, a fill) updates it, and the outcome
 * of a replace in flight ends the PENDING_REPLACE it would have returned to. PENDING_REPLACE is
 * only entered from a working order, so it returns to the live status its fills say.
 */
function resumeFor(
  status: OrderStatus,
  before: Order,
  after: Order,
  event: OrderEvent,
): OrderStatus | undefined {
  if (status === 'PENDING_REPLACE') return liveStatus(after);
  if (status !== 'PENDING_CANCEL') return undefined;
  if (before.status !== 'PENDING_CANCEL') return before.status;
  const resume = before.resumeStatus ?? liveStatus(after);
  if (resume === 'PENDING_REPLACE') {
    return event.type === 'replaced' || event.type === 'replace_rejected' ? liveStatus(after) : resume;
  }
  return event.type === 'accepted' || isFillEvent(event) ? liveStatus(after) : resume;
}

function orderError(order: Order, event: OrderEvent, code: ErrorCode, message: string): OrderError {
  return { ok: false, code, from: order.status, event: event.type, message };
}
