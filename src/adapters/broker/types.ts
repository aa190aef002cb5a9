import type { Quote, Trade } from '../../domain/market-data.js';

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

export type OrderSide = 'BUY' | 'SELL';
export type OrderType = 'MARKET' | 'LIMIT' | 'STOP' | 'STOP_LIMIT';
export type TimeInForce = 'DAY' | 'IOC' | 'FOK' | 'GTC';

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

/** Where an adapter delivers what happens, called synchronously on the adapter's own turn. */
export interface BrokerHandlers {
  onEvent(event: BrokerEvent): void;
  onTrade(trade: Trade): void;
  onQuote(quote: Quote): void;
  onOrderUpdate(update: BrokerOrderUpdate): void;
}

/**
 * One interface for every broker: the simulator, Parquet replay and ProfitDLL.
 * Market data: connect, subscribe, history for backfill. Routing: send, modify, cancel, and the
 * broker's own view of orders and positions for reconciliation.
 */
export interface BrokerAdapter {
  readonly name: string;
  setHandlers(handlers: BrokerHandlers): void;
  /** Starts connecting; progress arrives as events. Resolves once the attempt has begun. */
  connect(): Promise<void>;
  disconnect(): Promise<void>;

  subscribeTrades(symbol: string, exchange: string): Promise<void>;
  unsubscribeTrades(symbol: string, exchange: string): Promise<void>;
  subscribeQuotes(symbol: string, exchange: string): Promise<void>;
  unsubscribeQuotes(symbol: string, exchange: string): Promise<void>;
  /** Every trade of an instrument with `fromTs <= ts <= toTs` (epoch ms), in trade-number order. */
  requestTradeHistory(symbol: string, exchange: string, fromTs: number, toTs: number): Promise<Trade[]>;

  sendOrder(order: BrokerOrderRequest): Promise<{ brokerOrderId: string }>;
  modifyOrder(
    brokerOrderId: string,
    change: { price?: number; quantity?: number; stopPrice?: number },
  ): Promise<void>;
  cancelOrder(brokerOrderId: string): Promise<void>;
  /**
   * The broker's view for reconciliation. Its silence is not proof: an order missing from these
   * answers may still exist (a partial or lagging report), so callers must never assume flat or gone.
   */
  openOrders(account: string): Promise<BrokerOpenOrder[]>;
  positions(account: string): Promise<BrokerPosition[]>;
  /** Every order of the account created or updated at or after `sinceTs` (epoch ms), open and closed. */
  orderReports(account: string, sinceTs: number): Promise<BrokerOrderReport[]>;
}
