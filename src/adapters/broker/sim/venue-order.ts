import type { BrokerFill, BrokerOrderReport, BrokerOrderRequest } from '../../../domain/execution.js';

/** A point on the tape: the trades at or before it (same ms: lower trade numbers) are behind it. */
export interface TapePoint {
  ts: number;
  tradeId: number;
}

/** WORKING: accepted and resting (reported as ACCEPTED or PARTIALLY_FILLED). */
export type VenueStatus = 'PENDING' | 'WORKING' | 'FILLED' | 'CANCELED' | 'REJECTED' | 'EXPIRED';

/** Everything the venue knows about one order: enough to resume matching it after a restart. */
export interface VenueOrder {
  /** Receive order at the venue; also the number in the broker order id. */
  seq: number;
  brokerOrderId: string;
  request: BrokerOrderRequest;
  status: VenueStatus;
  filledQty: number;
  /** A stop order whose stop printed: it now behaves as market (STOP) or limit (STOP_LIMIT). */
  triggered: boolean;
  /** Set on acceptance, trigger and replace, so an order never trades against prints before it. */
  activeAfter: TapePoint;
  /** Every print up to this point has been matched against the order. */
  matchedTo: TapePoint;
  expiresAt: number;
  fills: BrokerFill[];
  receivedAt: number;
  updatedAt: number;
  reason?: string;
}

export function remaining(order: VenueOrder): number {
  return order.request.quantity - order.filledQty;
}

export function toReport(order: VenueOrder): BrokerOrderReport {
  const { status, filledQty, fills } = order;
  const live = status === 'PENDING' || status === 'WORKING';
  const notional = fills.reduce((sum, f) => sum + f.price * f.qty, 0);
  return {
    clientOrderId: order.request.clientOrderId,
    brokerOrderId: order.brokerOrderId,
    request: { ...order.request },
    status: status === 'WORKING' ? (filledQty > 0 ? 'PARTIALLY_FILLED' : 'ACCEPTED') : status,
    filledQty,
    leavesQty: live ? remaining(order) : 0,
    avgPrice: filledQty > 0 ? notional / filledQty : 0,
    fills: fills.map((f) => ({ ...f })),
    updatedAt: order.updatedAt,
    ...(order.reason !== undefined ? { reason: order.reason } : {}),
  };
}

/** JSON has no Infinity: an open-ended point or expiry is written as null, and read back as Infinity. */
const fromJsonNumber = (n: number | null): number => n ?? Number.POSITIVE_INFINITY;

type StoredPoint = { ts: number; tradeId: number | null };
type StoredOrder = Omit<VenueOrder, 'fills' | 'activeAfter' | 'matchedTo' | 'expiresAt'> & {
  activeAfter: StoredPoint;
  matchedTo: StoredPoint;
  expiresAt: number | null;
};

/** The order without its fills (they have their own table); JSON.stringify writes Infinity as null. */
export function encodeOrder(order: VenueOrder): string {
  const { fills: _fills, ...stored } = order;
  return JSON.stringify(stored);
}

/** Throws on a row that is not an order this code wrote. */
export function decodeOrder(json: string): VenueOrder {
  const s = JSON.parse(json) as StoredOrder;
  if (typeof s?.brokerOrderId !== 'string' || typeof s.request?.clientOrderId !== 'string') {
    throw new Error('order row is not a venue order');
  }
  return {
    ...s,
    activeAfter: { ts: s.activeAfter.ts, tradeId: fromJsonNumber(s.activeAfter.tradeId) },
    matchedTo: { ts: s.matchedTo.ts, tradeId: fromJsonNumber(s.matchedTo.tradeId) },
    expiresAt: fromJsonNumber(s.expiresAt),
    fills: [],
  };
}
