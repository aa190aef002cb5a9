import type { Quote, Trade } from '../../../domain/market-data.js';
import type {
  BrokerOpenOrder,
  BrokerOrderRequest,
  BrokerOrderStatus,
  BrokerOrderUpdate,
  BrokerPosition,
} from '../types.js';
import { changeProblem, hasStopPrice, type OrderChange } from './order-rules.js';
import { PositionBook } from './positions.js';
import type { Tape } from './tape.js';

/** A point on the tape: only trades strictly after it may fill an order. */
interface TapePoint {
  ts: number;
  tradeId: number;
}

interface RestingOrder {
  brokerOrderId: string;
  request: BrokerOrderRequest;
  filledQty: number;
  /** A stop order whose stop printed: it now behaves as market (STOP) or limit (STOP_LIMIT). */
  triggered: boolean;
  /** Set on acceptance, trigger and replace, so an order never trades against prints before it. */
  activeAfter: TapePoint;
  expiresAt: number;
  fills: number;
}

function isAfter(trade: Trade, point: TapePoint): boolean {
  return trade.ts > point.ts || (trade.ts === point.ts && trade.tradeId > point.tradeId);
}

function leaves(order: RestingOrder): number {
  return order.request.quantity - order.filledQty;
}

/** Whether a print reaches a stop: at or above it for a buy stop, at or below for a sell stop. */
function stopReached(order: RestingOrder, price: number): boolean {
  const stop = order.request.stopPrice ?? Number.NaN;
  return order.request.side === 'BUY' ? price >= stop : price <= stop;
}

/**
 * The simulator's matching model against the tape: MARKET takes the touch in full; a LIMIT fills on
 * arrival when it crosses the touch (up to the touch size), then at its limit whenever a print
 * trades at or through it (up to that print's size); stops trigger on a print at or through the
 * stop. Orders never move the tape: the simulated market is bigger than us.
 */
export class MatchingEngine {
  private readonly positions = new PositionBook();
  private readonly open = new Map<string, RestingOrder>();
  private readonly finalStatus = new Map<string, BrokerOrderStatus>();
  /** Per symbol with open orders: the instant up to which the tape has been matched. */
  private readonly matchedUpTo = new Map<string, number>();

  constructor(
    private readonly tape: Tape,
    private readonly publish: (update: BrokerOrderUpdate) => void,
  ) {}

  /** The broker acknowledges a validated order: ACCEPTED, then its first matching attempt. */
  accept(brokerOrderId: string, request: BrokerOrderRequest, now: number): void {
    const { symbol, timeInForce } = request;
    const order: RestingOrder = {
      brokerOrderId,
      request: { ...request },
      filledQty: 0,
      triggered: false,
      activeAfter: { ts: now, tradeId: Number.POSITIVE_INFINITY },
      expiresAt:
        timeInForce === 'GTC' ? Number.POSITIVE_INFINITY : this.tape.sessionWindow(symbol, now).endTs,
      fills: 0,
    };
    this.open.set(brokerOrderId, order);
    if (!this.matchedUpTo.has(symbol)) this.matchedUpTo.set(symbol, now);
    this.emit(order, 'ACCEPTED', now);
    if (!hasStopPrice(request.type)) this.matchOnArrival(order, this.tape.quoteAt(symbol, now), now);
  }

  /** Throws (for the caller's promise) when the order is unknown or closed, or the change invalid. */
  replace(brokerOrderId: string, change: OrderChange, now: number): void {
    const order = this.requireOpen(brokerOrderId);
    const instrument = this.tape.findInstrument(order.request.symbol);
    const problem = instrument
      ? changeProblem(order.request, order.filledQty, change, instrument)
      : 'unknown symbol';
    if (problem) throw new Error(`cannot modify order ${brokerOrderId}: ${problem}`);
    if (change.stopPrice !== undefined && order.triggered) {
      throw new Error(`cannot modify order ${brokerOrderId}: its stop already triggered`);
    }
    if (change.price !== undefined) order.request.price = change.price;
    if (change.quantity !== undefined) order.request.quantity = change.quantity;
    if (change.stopPrice !== undefined) order.request.stopPrice = change.stopPrice;
    // A replaced order loses its place: it only meets prints from now on.
    order.activeAfter = { ts: now, tradeId: Number.POSITIVE_INFINITY };
    this.emit(order, 'REPLACED', now);
    if (this.behavesAsLimit(order))
      this.matchOnArrival(order, this.tape.quoteAt(order.request.symbol, now), now);
  }

  cancel(brokerOrderId: string, now: number): void {
    this.close(this.requireOpen(brokerOrderId), 'CANCELED', now);
  }

  /** Throws unless the order is open (known and not final). */
  private requireOpen(brokerOrderId: string): RestingOrder {
    const order = this.open.get(brokerOrderId);
    if (order) return order;
    const status = this.finalStatus.get(brokerOrderId);
    throw new Error(
      status ? `order ${brokerOrderId} is closed (${status})` : `unknown order ${brokerOrderId}`,
    );
  }

  /** Matches every accepted order against the tape up to now, then expires DAY orders past their session. */
  matchUpTo(now: number): void {
    for (const [symbol, from] of this.matchedUpTo) {
      if (now <= from) continue;
      const resting = [...this.open.values()].filter((o) => o.request.symbol === symbol);
      if (resting.length > 0) {
        this.tape.forEachTradeBetween(symbol, from, now, (trade) => {
          for (const order of resting) this.meetPrint(order, trade);
        });
      }
      this.matchedUpTo.set(symbol, now);
    }
    for (const order of this.open.values()) {
      if (order.expiresAt <= now) this.close(order, 'EXPIRED', order.expiresAt);
    }
    for (const symbol of this.matchedUpTo.keys()) {
      if (![...this.open.values()].some((o) => o.request.symbol === symbol)) this.matchedUpTo.delete(symbol);
    }
  }

  openOrders(account: string): BrokerOpenOrder[] {
    return [...this.open.values()]
      .filter((o) => o.request.account === account)
      .map((o) => ({
        clientOrderId: o.request.clientOrderId,
        brokerOrderId: o.brokerOrderId,
        request: { ...o.request },
        filledQty: o.filledQty,
        leavesQty: leaves(o),
      }));
  }

  positionsOf(account: string): BrokerPosition[] {
    return this.positions.list(account);
  }

  private behavesAsLimit(order: RestingOrder): boolean {
    return order.request.type === 'LIMIT' || (order.request.type === 'STOP_LIMIT' && order.triggered);
  }

  private meetPrint(order: RestingOrder, trade: Trade): void {
    if (!this.open.has(order.brokerOrderId) || !isAfter(trade, order.activeAfter)) return;
    if (trade.ts >= order.expiresAt) return;
    if (hasStopPrice(order.request.type) && !order.triggered) {
      if (!stopReached(order, trade.price)) return;
      order.triggered = true;
      order.activeAfter = { ts: trade.ts, tradeId: trade.tradeId };
      this.matchOnArrival(order, this.tape.quoteAfter(trade), trade.ts);
      return;
    }
    const limit = order.request.price ?? Number.NaN;
    const through = order.request.side === 'BUY' ? trade.price <= limit : trade.price >= limit;
    if (through) this.fill(order, limit, Math.min(leaves(order), trade.qty), trade.ts);
  }

  /** The first matching attempt, against the touch: where IOC and FOK are decided. */
  private matchOnArrival(order: RestingOrder, quote: Quote, ts: number): void {
    const buying = order.request.side === 'BUY';
    const touch = buying ? quote.askPrice : quote.bidPrice;
    if (!this.behavesAsLimit(order)) {
      this.fill(order, touch, leaves(order), ts); // market, or a triggered stop
      return;
    }
    const limit = order.request.price ?? Number.NaN;
    const marketOpen = this.tape.isOpen(order.request.symbol, ts);
    const crosses = marketOpen && (buying ? touch <= limit : touch >= limit);
    const available = crosses ? (buying ? quote.askQty : quote.bidQty) : 0;
    const { timeInForce } = order.request;
    if (timeInForce === 'FOK' && available < leaves(order)) {
      this.close(order, 'CANCELED', ts, 'FOK: not enough quantity at the touch');
      return;
    }
    if (available > 0) this.fill(order, touch, Math.min(leaves(order), available), ts);
    if (timeInForce === 'IOC' && this.open.has(order.brokerOrderId)) {
      this.close(order, 'CANCELED', ts, 'IOC: unfilled rest canceled');
    }
  }

  private fill(order: RestingOrder, price: number, qty: number, ts: number): void {
    const { account, symbol, side } = order.request;
    order.filledQty += qty;
    order.fills += 1;
    this.positions.applyFill(account, symbol, side, qty, price);
    const done = leaves(order) === 0;
    const fill = { tradeId: `SIM-${order.brokerOrderId}-${order.fills}`, price, qty };
    this.emit(order, done ? 'FILLED' : 'PARTIALLY_FILLED', ts, { fill });
    if (done) this.forget(order, 'FILLED');
  }

  private close(order: RestingOrder, status: 'CANCELED' | 'EXPIRED', ts: number, reason?: string): void {
    this.forget(order, status);
    this.emit(order, status, ts, { leavesQty: 0, ...(reason ? { reason } : {}) });
  }

  private forget(order: RestingOrder, status: BrokerOrderStatus): void {
    this.open.delete(order.brokerOrderId);
    this.finalStatus.set(order.brokerOrderId, status);
  }

  private emit(
    order: RestingOrder,
    status: BrokerOrderStatus,
    ts: number,
    extra: Partial<BrokerOrderUpdate> = {},
  ): void {
    const { clientOrderId, price, quantity } = order.request;
    this.publish({
      clientOrderId,
      brokerOrderId: order.brokerOrderId,
      status,
      ts,
      filledQty: order.filledQty,
      leavesQty: leaves(order),
      quantity,
      ...(price !== undefined ? { price } : {}),
      ...extra,
    });
  }
}
