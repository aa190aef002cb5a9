import type { CapturedTrade } from '../../../domain/market-data.js';
import type { Order, OrderSide, OrderType } from '../../../domain/orders.js';

/** What a strategy may ask for; it goes through the engine's submit and the risk engine. */
export interface StrategyOrder {
  symbol: string;
  side: OrderSide;
  type: OrderType;
  quantity: number;
  price?: number;
}

export interface StrategyContext {
  /**
   * Submits at once; a risk refusal is logged and counted, never thrown. `triggerRecvTs` is the
   * `recvTs` of the trade the order reacts to (for the tick-to-order metric).
   */
  submit(order: StrategyOrder, meta: { triggerRecvTs: number }): void;
  /** Net filled position of the account (contracts or shares, signed). */
  position(symbol: string): number;
  lastPrice(symbol: string): number | undefined;
  /** The instrument's lot (1 for futures, 100 for most equities). */
  lotSize(symbol: string): number;
  /** Epoch ms. */
  now(): number;
}

/**
 * An in-process strategy, fed every live trade from data-capture (never backfilled or stale ones).
 * Callbacks run on the event loop's hot path: keep them short and synchronous.
 */
export interface Strategy {
  readonly id: string;
  onTrade(trade: CapturedTrade, ctx: StrategyContext): void;
  /** Every journaled change of an order this strategy submitted. */
  onOrderUpdate?(order: Order, ctx: StrategyContext): void;
}
