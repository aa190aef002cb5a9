import type { BrokerOrderUpdate } from '../../domain/execution.js';
import type { CapturedTrade } from '../../domain/market-data.js';
import type { Order } from '../../domain/orders.js';

/**
 * What happens inside the order manager, on its bus (`kernel/bus.ts`). Order topics are published
 * when the event is journaled and projected, before its commit: a handler that journals (the risk
 * controls after a fill) joins the same batch, so the fill and the state it causes commit together.
 */
export interface OrderManagerTopics {
  /** An order changed by a journaled event. */
  'order.changed': Order;
  /** An order received fills (after it changed). */
  'order.filled': Order;
  /** A failed commit was rolled back and the state rebuilt from what is committed. */
  'state.rebuilt': null;
  /** Broker news for an order the journal does not hold. */
  'broker.unmatched': BrokerOrderUpdate;
  /** A live trade from data-capture's feed, its price already recorded; `deliveredAt` is the batch's hrtime. */
  'market.trade': { trade: CapturedTrade; deliveredAt: bigint };
}
