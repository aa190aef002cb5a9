import type {
  BrokerFill,
  BrokerOpenOrder,
  BrokerOrderRequest,
  BrokerOrderStatus,
  BrokerOrderUpdate,
  BrokerPosition,
} from '../../../domain/execution.js';
import type { Quote, Trade } from '../../../domain/market-data.js';
import { changeProblem, hasStopPrice, type OrderChange } from './order-rules.js';
import { PositionBook } from './positions.js';
import type { Tape } from './tape.js';
import { remaining, type TapePoint, type VenueOrder, type VenueStatus } from './venue-order.js';

/** What operations changed since the last take: stored before the updates go out. */
export interface VenueChanges {
  orders: VenueOrder[];
  fills: Array<{ order: VenueOrder; fill: BrokerFill }>;
  updates: BrokerOrderUpdate[];
}

/** A resting order's matching progress is handed out for saving at least this often (tape ms). */
const CURSOR_SAVE_MS = 60_000;
const OPEN_END = Number.POSITIVE_INFINITY;

/** Everything printed at or before `ts`. */
const through = (ts: number): TapePoint => ({ ts, tradeId: OPEN_END });

/** The later of two points on the tape. */
const later = (a: TapePoint, b: TapePoint | null): TapePoint =>
  b === null || a.ts > b.ts || (a.ts === b.ts && a.tradeId >= b.tradeId) ? a : b;

/** The working orders of one instrument, matched together every tick. */
interface Book {
  orders: Set<VenueOrder>;
  /**
   * Every order of the book has met every print up to here, whatever its own `matchedTo` says: a
   * scan leaves alone the orders none of its prints could reach (there may be thousands resting).
   */
  scannedThrough: TapePoint | null;
  /** Tape time the book's cursors were last handed out for saving. */
  cursorsSavedAt: number;
}

function isAfter(trade: Trade, point: TapePoint): boolean {
  return trade.ts > point.ts || (trade.ts === point.ts && trade.tradeId > point.tradeId);
}

/**
 * The resting orders any of these prints could fill or trigger: a LIMIT buy below every print (or a
 * sell above every print) cannot, and there may be thousands of them on the book.
 */
function mayMeet(resting: Iterable<VenueOrder>, prints: Trade[]): VenueOrder[] {
  if (prints.length === 0) return [];
  let low = Number.POSITIVE_INFINITY;
  let high = Number.NEGATIVE_INFINITY;
  for (const { price } of prints) {
    low = Math.min(low, price);
    high = Math.max(high, price);
  }
  const meeting: VenueOrder[] = [];
  for (const order of resting) {
    const { type, side, price = Number.NaN } = order.request;
    if (type !== 'LIMIT' || (side === 'BUY' ? price >= low : price <= high)) meeting.push(order);
  }
  return meeting;
}

/** Whether a print reaches a stop: at or above it for a buy stop, at or below for a sell stop. */
function stopReached(order: VenueOrder, price: number): boolean {
  const stop = order.request.stopPrice ?? Number.NaN;
  return order.request.side === 'BUY' ? price >= stop : price <= stop;
}

/**
 * The simulator's matching model against the tape: MARKET takes the touch in full; a LIMIT fills on
 * arrival when it crosses the touch (up to the touch size), then at its limit whenever a print
 * trades at or through it (up to that print's size); stops trigger on a print at or through the
 * stop. Orders never move the tape: the simulated market is bigger than us. Matching is a pure
 * function of (order state, tape), so a restored order re-matched from its saved point agrees.
 */
export class MatchingEngine {
  private readonly positions = new PositionBook();
  /** The orders received, open and closed, for reports; closed ones until `forgetClosed`. */
  private readonly orders = new Map<string, VenueOrder>();
  /** Closed orders still in `orders`, in the order they closed. */
  private readonly closed = new Set<VenueOrder>();
  private readonly working = new Map<string, VenueOrder>();
  private readonly books = new Map<string, Book>();
  /** The earliest expiry among working orders: expiries are looked for only once it is due. */
  private nextExpiry = OPEN_END;
  private dirty = new Set<VenueOrder>();
  private newFills: VenueChanges['fills'] = [];
  private updates: BrokerOrderUpdate[] = [];

  constructor(private readonly tape: Tape) {}

  /** Reloads stored orders (fills attached) and replays all fills, in their order, into positions. */
  restore(orders: VenueOrder[], fills: Array<{ brokerOrderId: string; fill: BrokerFill }>): void {
    for (const order of orders) {
      const filled = order.fills.reduce((sum, f) => sum + f.qty, 0);
      if (filled !== order.filledQty) {
        throw new Error(
          `order ${order.brokerOrderId}: fills sum to ${filled}, order says ${order.filledQty}`,
        );
      }
      this.orders.set(order.brokerOrderId, order);
      if (order.status === 'WORKING') this.startWorking(order);
      else if (order.status !== 'PENDING') this.closed.add(order);
    }
    for (const { brokerOrderId, fill } of fills) {
      const order = this.orders.get(brokerOrderId);
      if (!order) throw new Error(`fill ${fill.tradeId} belongs to no stored order`);
      const { account, symbol, side } = order.request;
      this.positions.applyFill(account, symbol, side, fill.qty, fill.price);
    }
  }

  /** The broker has the order; it is validated and accepted (or rejected) on the broker's turn. */
  receive(seq: number, brokerOrderId: string, request: BrokerOrderRequest, now: number): void {
    const order: VenueOrder = {
      seq,
      brokerOrderId,
      request: { ...request },
      status: 'PENDING',
      filledQty: 0,
      triggered: false,
      activeAfter: through(now),
      matchedTo: through(now),
      expiresAt: OPEN_END,
      fills: [],
      receivedAt: now,
      updatedAt: now,
    };
    this.orders.set(brokerOrderId, order);
    this.dirty.add(order);
  }

  /** Received orders not yet decided, in arrival order. */
  pending(): VenueOrder[] {
    return [...this.orders.values()].filter((o) => o.status === 'PENDING').sort((a, b) => a.seq - b.seq);
  }

  /** The broker acknowledges a validated order: ACCEPTED, then its first matching attempt. */
  accept(brokerOrderId: string, now: number): void {
    const order = this.requirePending(brokerOrderId);
    const { symbol, timeInForce } = order.request;
    order.status = 'WORKING';
    order.activeAfter = through(now);
    order.matchedTo = through(now);
    order.expiresAt = timeInForce === 'GTC' ? OPEN_END : this.tape.sessionWindow(symbol, now).endTs;
    this.startWorking(order);
    this.emit(order, 'ACCEPTED', now);
    if (!hasStopPrice(order.request.type)) this.matchOnArrival(order, this.tape.quoteAt(symbol, now), now);
  }

  reject(brokerOrderId: string, reason: string, now: number): void {
    const order = this.requirePending(brokerOrderId);
    this.finish(order, 'REJECTED', reason);
    order.updatedAt = now;
    this.dirty.add(order);
    this.updates.push({
      clientOrderId: order.request.clientOrderId,
      brokerOrderId,
      status: 'REJECTED',
      ts: now,
      filledQty: 0,
      leavesQty: 0,
      reason,
    });
  }

  /** Throws (for the caller's promise) when the order is unknown or closed, or the change invalid. */
  replace(brokerOrderId: string, change: OrderChange, now: number): void {
    const order = this.requireWorking(brokerOrderId);
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
    order.activeAfter = through(now);
    this.emit(order, 'REPLACED', now);
    if (this.behavesAsLimit(order))
      this.matchOnArrival(order, this.tape.quoteAt(order.request.symbol, now), now);
  }

  cancel(brokerOrderId: string, now: number): void {
    this.close(this.requireWorking(brokerOrderId), 'CANCELED', now);
  }

  /**
   * Matches every working order against the tape from its own point up to now, then expires DAY
   * orders. Runs every few ms: per book one scan of the new prints, touching only the orders a
   * print could reach.
   */
  matchUpTo(now: number): void {
    const cursor = through(now);
    for (const [symbol, book] of this.books) {
      if (book.orders.size === 0 || !this.tape.findInstrument(symbol)) continue; // unconfigured: rests
      let from = book.scannedThrough?.ts ?? now;
      // Restored orders (no scan yet) may each have been matched to a different point.
      if (book.scannedThrough === null) for (const o of book.orders) from = Math.min(from, o.matchedTo.ts);
      const prints = from <= now ? this.tape.tradesBetween(symbol, from - 1, now) : [];
      const meeting = mayMeet(book.orders, prints);
      // Where each order stands: matching a print never moves it, so it is worked out once per scan.
      const startsAfter = meeting.map((order) => later(order.matchedTo, book.scannedThrough));
      for (const trade of prints) {
        for (let i = 0; i < meeting.length; i++) {
          if (isAfter(trade, startsAfter[i] as TapePoint)) this.meetPrint(meeting[i] as VenueOrder, trade);
        }
      }
      for (const order of meeting) order.matchedTo = later(cursor, order.matchedTo);
      book.scannedThrough = later(cursor, book.scannedThrough);
      if (Number.isNaN(book.cursorsSavedAt)) book.cursorsSavedAt = now;
      if (now - book.cursorsSavedAt >= CURSOR_SAVE_MS) {
        book.cursorsSavedAt = now;
        for (const order of book.orders) this.dirty.add(order); // takeChanges brings their cursors
      }
    }
    if (now >= this.nextExpiry) this.expire(now);
  }

  /** Closes every DAY order past its session's end, and finds the next expiry. */
  private expire(now: number): void {
    this.nextExpiry = OPEN_END;
    for (const order of [...this.working.values()]) {
      if (order.expiresAt <= now) this.close(order, 'EXPIRED', order.expiresAt);
      else this.nextExpiry = Math.min(this.nextExpiry, order.expiresAt);
    }
  }

  private startWorking(order: VenueOrder): void {
    this.working.set(order.brokerOrderId, order);
    const symbol = order.request.symbol;
    let book = this.books.get(symbol);
    if (!book) {
      book = { orders: new Set(), scannedThrough: null, cursorsSavedAt: Number.NaN };
      this.books.set(symbol, book);
    }
    book.orders.add(order);
    this.nextExpiry = Math.min(this.nextExpiry, order.expiresAt);
  }

  openOrders(account: string): BrokerOpenOrder[] {
    return [...this.working.values()]
      .filter((o) => o.request.account === account)
      .map((o) => ({
        clientOrderId: o.request.clientOrderId,
        brokerOrderId: o.brokerOrderId,
        request: { ...o.request },
        filledQty: o.filledQty,
        leavesQty: remaining(o),
      }));
  }

  /** Holds the order in memory (closed or not): a forgotten one is only in the venue's store. */
  has(brokerOrderId: string): boolean {
    return this.orders.has(brokerOrderId);
  }

  /**
   * Drops the oldest closed orders from memory until `keep` remain, leaving those with changes not
   * yet handed out (`takeChanges`): the caller keeps them in its store, and asks it for them.
   */
  forgetClosed(keep: number): void {
    for (const order of this.closed) {
      if (this.closed.size <= keep || this.dirty.has(order)) return;
      this.closed.delete(order);
      this.orders.delete(order.brokerOrderId);
    }
  }

  /** The account's orders in memory changed at or after `sinceTs`, in seq order. */
  updatedSince(account: string, sinceTs: number): VenueOrder[] {
    return [...this.orders.values()]
      .filter((o) => o.request.account === account && o.updatedAt >= sinceTs)
      .sort((a, b) => a.seq - b.seq);
  }

  positionsOf(account: string): BrokerPosition[] {
    return this.positions.list(account);
  }

  position(account: string, symbol: string): BrokerPosition | undefined {
    return this.positions.get(account, symbol);
  }

  /** Hands out (and forgets) what changed since the last call. */
  takeChanges(): VenueChanges {
    const changes = { orders: [...this.dirty], fills: this.newFills, updates: this.updates };
    // A working order is stored with how far its book has matched it.
    for (const order of this.dirty) {
      const book = this.books.get(order.request.symbol);
      if (order.status === 'WORKING' && book) order.matchedTo = later(order.matchedTo, book.scannedThrough);
    }
    this.dirty = new Set();
    this.newFills = [];
    this.updates = [];
    return changes;
  }

  private requirePending(brokerOrderId: string): VenueOrder {
    const order = this.orders.get(brokerOrderId);
    if (order?.status === 'PENDING') return order;
    throw new Error(`order ${brokerOrderId} is not awaiting a decision`);
  }

  /** Throws unless the order is working (accepted and not final). */
  private requireWorking(brokerOrderId: string): VenueOrder {
    const order = this.orders.get(brokerOrderId);
    if (order?.status === 'WORKING') return order;
    if (!order || order.status === 'PENDING') {
      throw new Error(`unknown order ${brokerOrderId} (or closed long ago)`);
    }
    throw new Error(`order ${brokerOrderId} is closed (${order.status})`);
  }

  private behavesAsLimit(order: VenueOrder): boolean {
    return order.request.type === 'LIMIT' || (order.request.type === 'STOP_LIMIT' && order.triggered);
  }

  private meetPrint(order: VenueOrder, trade: Trade): void {
    if (order.status !== 'WORKING' || !isAfter(trade, order.activeAfter)) return;
    if (trade.ts >= order.expiresAt) return;
    if (hasStopPrice(order.request.type) && !order.triggered) {
      if (!stopReached(order, trade.price)) return;
      order.triggered = true;
      order.activeAfter = { ts: trade.ts, tradeId: trade.tradeId };
      this.dirty.add(order);
      this.matchOnArrival(order, this.tape.quoteAfter(trade), trade.ts);
      return;
    }
    const limit = order.request.price ?? Number.NaN;
    const crossed = order.request.side === 'BUY' ? trade.price <= limit : trade.price >= limit;
    if (crossed) this.fill(order, limit, Math.min(remaining(order), trade.qty), trade.ts);
  }

  /** The first matching attempt, against the touch: where IOC and FOK are decided. */
  private matchOnArrival(order: VenueOrder, quote: Quote, ts: number): void {
    const buying = order.request.side === 'BUY';
    const touch = buying ? quote.askPrice : quote.bidPrice;
    if (!this.behavesAsLimit(order)) {
      this.fill(order, touch, remaining(order), ts); // market, or a triggered stop
      return;
    }
    const limit = order.request.price ?? Number.NaN;
    const marketOpen = this.tape.isOpen(order.request.symbol, ts);
    const crosses = marketOpen && (buying ? touch <= limit : touch >= limit);
    const available = crosses ? (buying ? quote.askQty : quote.bidQty) : 0;
    const { timeInForce } = order.request;
    if (timeInForce === 'FOK' && available < remaining(order)) {
      this.close(order, 'CANCELED', ts, 'FOK: not enough quantity at the touch');
      return;
    }
    if (available > 0) this.fill(order, touch, Math.min(remaining(order), available), ts);
    if (timeInForce === 'IOC' && order.status === 'WORKING') {
      this.close(order, 'CANCELED', ts, 'IOC: unfilled rest canceled');
    }
  }

  private fill(order: VenueOrder, price: number, qty: number, ts: number): void {
    const { account, symbol, side } = order.request;
    order.filledQty += qty;
    // Numbered per order, so the same fill carries the same id in every report, before or after a restart.
    const fill = { tradeId: `SIM-${order.brokerOrderId}-${order.fills.length + 1}`, price, qty, ts };
    order.fills.push(fill);
    this.newFills.push({ order, fill });
    this.positions.applyFill(account, symbol, side, qty, price);
    const done = remaining(order) === 0;
    if (done) this.finish(order, 'FILLED');
    this.emit(order, done ? 'FILLED' : 'PARTIALLY_FILLED', ts, {
      fill: { tradeId: fill.tradeId, price, qty },
    });
  }

  private close(order: VenueOrder, status: 'CANCELED' | 'EXPIRED', ts: number, reason?: string): void {
    this.finish(order, status, reason);
    this.emit(order, status, ts, { leavesQty: 0, ...(reason ? { reason } : {}) });
  }

  private finish(order: VenueOrder, status: VenueStatus, reason?: string): void {
    order.status = status;
    if (reason !== undefined) order.reason = reason;
    this.closed.add(order);
    this.working.delete(order.brokerOrderId);
    this.books.get(order.request.symbol)?.orders.delete(order);
  }

  private emit(
    order: VenueOrder,
    status: BrokerOrderStatus,
    ts: number,
    extra: Partial<BrokerOrderUpdate> = {},
  ): void {
    const { clientOrderId, price, quantity } = order.request;
    order.updatedAt = ts;
    this.dirty.add(order);
    this.updates.push({
      clientOrderId,
      brokerOrderId: order.brokerOrderId,
      status,
      ts,
      filledQty: order.filledQty,
      leavesQty: remaining(order),
      quantity,
      ...(price !== undefined ? { price } : {}),
      ...extra,
    });
  }
}
