import type { BrokerOrderUpdate } from '../../domain/execution.js';
import type { OrderEvent } from '../../domain/orders.js';

/**
 * A broker's order news as a state-machine event. Fill events are named by the broker's status;
 * the domain decides by quantities whether a fill completes the order.
 */
export function toOrderEvent(u: BrokerOrderUpdate): OrderEvent | null {
  const ts = u.ts;
  switch (u.status) {
    case 'ACCEPTED':
      return { type: 'accepted', ts, brokerOrderId: u.brokerOrderId };
    case 'REJECTED':
      return { type: 'rejected', ts, reason: u.reason ?? 'rejected by the broker' };
    case 'PARTIALLY_FILLED':
    case 'FILLED':
      if (!u.fill) return null;
      return {
        type: u.status === 'FILLED' ? 'filled' : 'partially_filled',
        ts,
        tradeId: u.fill.tradeId,
        qty: u.fill.qty,
        price: u.fill.price,
      };
    case 'CANCELED':
      return { type: 'canceled', ts };
    case 'REPLACED':
      return {
        type: 'replaced',
        ts,
        change: {
          ...(u.quantity !== undefined && { quantity: u.quantity }),
          ...(u.price !== undefined && { price: u.price }),
        },
      };
    case 'EXPIRED':
      return { type: 'expired', ts };
  }
}
