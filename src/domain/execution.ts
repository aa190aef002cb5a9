// What brokers and the order manager say to each other (requests, updates, reports, positions),
// and what a broker connection says about itself. The ports in `src/ports/broker.ts` carry these.
import type { OrderSide, OrderType, TimeInForce } from './orders.js';

/**
 * What a broker connection reports about itself, normalised from ProfitDLL's state callback
 * (login, routing, market data, activation) so every adapter speaks the same way.
 */
export type BrokerEvent =
  | { type: 'login'; ok: true }
  | { type: 'login'; ok: false; reason: string }
  /** `reason`: why routing went down, when the adapter knows (a venue that cannot store). */
  | { type: 'routing'; connected: boolean; reason?: string }
  | { type: 'market'; state: 'connecting' | 'connected' | 'not-logged' | 'disconnected' };

export interface BrokerOrderRequest {
  /** Our id, echoed on every update so the order manager can match it. */
  clientOrderId: string;
  account: string;
  symbol: string;
  exchange: string;
  side: OrderSide;
  type: OrderType;
  quantity: number;
  price?: number;
  stopPrice?: number;
  timeInForce: TimeInForce;
}

export type BrokerOrderStatus =
  | 'ACCEPTED'
  | 'REJECTED'
  | 'PARTIALLY_FILLED'
  | 'FILLED'
  | 'CANCELED'
  | 'REPLACED'
  | 'EXPIRED';

/** An order's news from the broker; a fill carries the broker's trade id, unique per fill. */
export interface BrokerOrderUpdate {
  clientOrderId: string;
  brokerOrderId: string;
  status: BrokerOrderStatus;
  ts: number;
  filledQty: number;
  leavesQty: number;
  fill?: { tradeId: string; price: number; qty: number };
  price?: number;
  quantity?: number;
  reason?: string;
}

export interface BrokerOpenOrder {
  clientOrderId: string;
  brokerOrderId: string;
  request: BrokerOrderRequest;
  filledQty: number;
  leavesQty: number;
}

/** One execution of an order; `tradeId` is stable, so a fill reported twice is recognisably the same. */
export interface BrokerFill {
  tradeId: string;
  price: number;
  qty: number;
  ts: number;
}

/**
 * An order as the broker knows it, open or closed, with its fills (ProfitDLL: its order history
 * enumeration). PENDING: received by the broker, not yet accepted or rejected.
 */
export interface BrokerOrderReport {
  clientOrderId: string;
  brokerOrderId: string;
  /** The order as it stands now (after any replace). */
  request: BrokerOrderRequest;
  status: BrokerOrderStatus | 'PENDING';
  filledQty: number;
  leavesQty: number;
  /** Quantity-weighted average of the fills; 0 without fills. */
  avgPrice: number;
  fills: BrokerFill[];
  /** Epoch ms of the order's latest change (creation, fill, replace, close). */
  updatedAt: number;
  reason?: string;
}

export interface BrokerPosition {
  account: string;
  symbol: string;
  /** Signed: long positive, short negative. */
  quantity: number;
  averagePrice: number;
}
