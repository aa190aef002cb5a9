import type {
  BrokerEvent,
  BrokerOpenOrder,
  BrokerOrderReport,
  BrokerOrderRequest,
  BrokerOrderUpdate,
  BrokerPosition,
} from '../domain/execution.js';
import type { Quote, Trade } from '../domain/market-data.js';

/**
 * A broker session: the simulator, Parquet replay or ProfitDLL. One session may serve both sides
 * below (ProfitDLL logs in once for market data and routing); each process uses the side it needs.
 */
export interface BrokerConnection {
  readonly name: string;
  /** Starts connecting; progress arrives as events. Resolves once the attempt has begun. */
  connect(): Promise<void>;
  disconnect(): Promise<void>;
}

/** Where market data arrives, called synchronously on the adapter's own turn. */
export interface MarketDataHandlers {
  onEvent(event: BrokerEvent): void;
  onTrade(trade: Trade): void;
  onQuote(quote: Quote): void;
}

/** What data-capture needs of a broker: live trades and quotes, and history for backfill. */
export interface MarketDataClient extends BrokerConnection {
  /** Replaces the previous handlers. */
  listenMarketData(handlers: MarketDataHandlers): void;
  subscribeTrades(symbol: string, exchange: string): Promise<void>;
  unsubscribeTrades(symbol: string, exchange: string): Promise<void>;
  subscribeQuotes(symbol: string, exchange: string): Promise<void>;
  unsubscribeQuotes(symbol: string, exchange: string): Promise<void>;
  /** Every trade of an instrument with `fromTs <= ts <= toTs` (epoch ms), in trade-number order. */
  requestTradeHistory(symbol: string, exchange: string, fromTs: number, toTs: number): Promise<Trade[]>;
}

/** Where order news arrives, called synchronously on the adapter's own turn. */
export interface ExecutionHandlers {
  onEvent(event: BrokerEvent): void;
  onOrderUpdate(update: BrokerOrderUpdate): void;
}

/** What the order manager needs of a broker: routing, and the broker's own view for reconciliation. */
export interface ExecutionClient extends BrokerConnection {
  /** Replaces the previous handlers. */
  listenExecution(handlers: ExecutionHandlers): void;
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
