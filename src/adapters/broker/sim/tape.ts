import type { Instrument } from '../../../domain/instruments.js';
import type { Quote, Trade } from '../../../domain/market-data.js';
import { localDayOf } from '../../../kernel/time.js';
import { bookAfter, printTrade } from './prints.js';
import { type FlowSettings, TapeSession } from './tape-session.js';

export interface TapeOptions {
  seed: number;
  /** Average trades per second per instrument. */
  tradesPerSecond: number;
  /** Peak-to-average ratio of the bursts. */
  burstFactor: number;
  /** Trade only inside each instrument's session hours; otherwise the whole local day. */
  realHours: boolean;
  /** Epoch ms before which nothing prints: the session's trade numbers start there (tests). */
  openAt?: number;
  /** Epoch ms from which nothing prints any more, so tests have a tape with a known end. */
  closeAt?: number;
  instruments: readonly Instrument[];
  /** Zone of the session calendar (config `timezone`). */
  timeZone: string;
}

/** An instrument's session window on one local day. */
export interface SessionWindow {
  date: string;
  openTs: number;
  /** Exclusive: nothing prints at or after it. */
  endTs: number;
}

/** Sessions kept per symbol: today and the day before cover live emission and recent backfills. */
const CACHED_SESSIONS = 2;

/**
 * The simulated B3 tape: a pure function of (seed, instrument, time). Any process, at any moment,
 * recomputes the same trades, so the market outlives restarts of whoever watches it.
 */
export class Tape {
  private readonly bySymbol = new Map<string, Instrument>();
  private readonly sessions = new Map<string, TapeSession[]>();
  private readonly flow: FlowSettings;

  constructor(options: TapeOptions) {
    for (const instrument of options.instruments) this.bySymbol.set(instrument.symbol, instrument);
    this.flow = {
      seed: options.seed,
      tradesPerSecond: options.tradesPerSecond,
      burstFactor: Math.max(1, options.burstFactor),
      realHours: options.realHours,
      openAt: options.openAt,
      closeAt: options.closeAt,
      timeZone: options.timeZone,
    };
  }

  /** The instrument of a symbol, or undefined when the tape does not trade it. */
  findInstrument(symbol: string): Instrument | undefined {
    return this.bySymbol.get(symbol);
  }

  isOpen(symbol: string, ts: number): boolean {
    const session = this.sessionAt(symbol, ts);
    return ts >= session.openTs && ts < session.endTs;
  }

  sessionWindow(symbol: string, ts: number): SessionWindow {
    const { day, openTs, endTs } = this.sessionAt(symbol, ts);
    return { date: day.date, openTs, endTs };
  }

  /** Trades printed in ts's session at or before ts (= the last trade number so far). */
  tradeCount(symbol: string, ts: number): number {
    return this.sessionAt(symbol, ts).countAtOrBefore(ts);
  }

  /** The last trade printed at or before ts in ts's session: the ground truth of "how far is the market". */
  lastTradeAt(symbol: string, ts: number): { tradeId: number; ts: number } | null {
    const session = this.sessionAt(symbol, ts);
    const tradeId = session.countAtOrBefore(ts);
    return tradeId === 0 ? null : { tradeId, ts: session.tsOf(tradeId) };
  }

  /** Every trade with fromTsExclusive < ts <= toTsInclusive, in trade-number order (across sessions). */
  tradesBetween(symbol: string, fromTsExclusive: number, toTsInclusive: number): Trade[] {
    const trades: Trade[] = [];
    this.forEachTradeBetween(symbol, fromTsExclusive, toTsInclusive, (trade) => trades.push(trade));
    return trades;
  }

  /** As tradesBetween, without building the array: the live emitter's hot path. */
  forEachTradeBetween(
    symbol: string,
    fromTsExclusive: number,
    toTsInclusive: number,
    visit: (trade: Trade) => void,
  ): void {
    let cursor = Math.floor(fromTsExclusive);
    const end = Math.min(toTsInclusive, (this.flow.closeAt ?? Number.POSITIVE_INFINITY) - 1);
    while (cursor < end) {
      const session = this.sessionAt(symbol, cursor + 1);
      const first = session.countAtOrBefore(cursor) + 1;
      const last = session.countAtOrBefore(end);
      session.forEachPrint(first, last, (n, ts) => visit(printTrade(session, n, ts)));
      cursor = session.day.endTs - 1;
    }
  }

  /** Top of book at ts: around the last trade of ts's session. */
  quoteAt(symbol: string, ts: number): Quote {
    const session = this.sessionAt(symbol, ts);
    const n = session.countAtOrBefore(ts);
    const last = n === 0 ? null : printTrade(session, n, session.tsOf(n));
    return bookAfter(session, last, ts);
  }

  /** Top of book right after a given tape trade (what a market order meets when a stop triggers). */
  quoteAfter(trade: Trade): Quote {
    return bookAfter(this.sessionAt(trade.ticker, trade.ts), trade, trade.ts);
  }

  private sessionAt(symbol: string, ts: number): TapeSession {
    const cached = this.sessions.get(symbol) ?? [];
    for (const session of cached) {
      if (ts >= session.day.startTs && ts < session.day.endTs) return session;
    }
    const instrument = this.bySymbol.get(symbol);
    if (!instrument) throw new Error(`unknown symbol ${symbol}: the simulator does not trade it`);
    const session = new TapeSession(instrument, localDayOf(this.flow.timeZone, ts), this.flow);
    cached.push(session);
    if (cached.length > CACHED_SESSIONS) cached.shift();
    this.sessions.set(symbol, cached);
    return session;
  }
}
