import type { Quote, Trade } from '../../../domain/market-data.js';
import type { MarketDataHandlers } from '../../../ports/broker.js';
import type { FaultSwitchboard } from './faults.js';
import type { Tape } from './tape.js';

/** How late data arrives, in bursts, under the `slow-callbacks` fault. */
export const SLOW_CALLBACK_DELAY_MS = 50;

type Delivery = { kind: 'trade'; trade: Trade } | { kind: 'quote'; quote: Quote };

function sameBook(a: Quote, b: Quote): boolean {
  return (
    a.bidPrice === b.bidPrice && a.askPrice === b.askPrice && a.bidQty === b.bidQty && a.askQty === b.askQty
  );
}

/**
 * Live market data for the subscribed symbols: each call to emit(now) delivers every tape trade
 * printed since the previous call and each book that changed, in one synchronous loop, honouring
 * the `stall` and `slow-callbacks` faults.
 */
export class LiveFeed {
  /** Per symbol, the instant after which trades are still to be delivered. */
  private readonly tradeSubscriptions = new Map<string, { since: number }>();
  /** Per symbol, the last book delivered (null: deliver the next one). */
  private readonly quoteSubscriptions = new Map<string, Quote | null>();
  private readonly slowQueue: Delivery[] = [];
  private slowFlushTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly tape: Tape,
    private readonly faults: FaultSwitchboard,
    private readonly handlers: () => MarketDataHandlers,
  ) {}

  /** Live from now on: what printed before is only available as history. */
  subscribeTrades(symbol: string, now: number): void {
    if (!this.tradeSubscriptions.has(symbol)) this.tradeSubscriptions.set(symbol, { since: now });
  }

  unsubscribeTrades(symbol: string): void {
    this.tradeSubscriptions.delete(symbol);
  }

  subscribeQuotes(symbol: string): void {
    if (!this.quoteSubscriptions.has(symbol)) this.quoteSubscriptions.set(symbol, null);
  }

  unsubscribeQuotes(symbol: string): void {
    this.quoteSubscriptions.delete(symbol);
  }

  /** After a (re)connect: whatever printed while down is history, not live; books are sent afresh. */
  resumeFrom(now: number): void {
    for (const subscription of this.tradeSubscriptions.values()) subscription.since = now;
    for (const symbol of this.quoteSubscriptions.keys()) this.quoteSubscriptions.set(symbol, null);
  }

  emit(now: number): void {
    // During a stall the market goes on without us: what prints before it ends is missed live.
    const stallEnd = this.faults.endOf('stall');
    if (now < stallEnd) return;
    const missedUpTo = Math.ceil(stallEnd) - 1;
    const slow = this.faults.isActive('slow-callbacks');
    if (!slow) this.flush();
    const handlers = this.handlers();
    const deliverTrade = slow
      ? (trade: Trade) => this.deliverLate({ kind: 'trade', trade })
      : (trade: Trade) => handlers.onTrade(trade);
    for (const [symbol, subscription] of this.tradeSubscriptions) {
      const from = Math.max(subscription.since, missedUpTo);
      if (now > from) this.tape.forEachTradeBetween(symbol, from, now, deliverTrade);
      subscription.since = Math.max(subscription.since, now);
    }
    for (const [symbol, delivered] of this.quoteSubscriptions) {
      const quote = this.tape.quoteAt(symbol, now);
      if (delivered && sameBook(delivered, quote)) continue;
      this.quoteSubscriptions.set(symbol, quote);
      if (slow) this.deliverLate({ kind: 'quote', quote });
      else handlers.onQuote(quote);
    }
  }

  /** Delivers what the slow-callbacks fault held back. */
  flush(): void {
    if (this.slowFlushTimer) clearTimeout(this.slowFlushTimer);
    this.slowFlushTimer = null;
    const handlers = this.handlers();
    for (const delivery of this.slowQueue.splice(0)) {
      if (delivery.kind === 'trade') handlers.onTrade(delivery.trade);
      else handlers.onQuote(delivery.quote);
    }
  }

  private deliverLate(delivery: Delivery): void {
    this.slowQueue.push(delivery);
    this.slowFlushTimer ??= setTimeout(() => this.flush(), SLOW_CALLBACK_DELAY_MS);
  }
}
