import { roundToTick } from '../../../domain/instruments.js';
import type { Aggressor, Quote, Trade } from '../../../domain/market-data.js';
import { combine, mix32, unit } from './hash.js';
import type { TapeSession } from './tape-session.js';

/** Broker codes seen on the simulated tape. */
const AGENTS = [3, 8, 15, 27, 40, 72, 85, 107, 120, 308] as const;
const SALT_PHASE = 11;
const SALT_PRINT = 12;
const SALT_BOOK = 13;

function agent(hash: number): number {
  return AGENTS[hash % AGENTS.length] ?? AGENTS[0];
}

/** One slow sinusoid with a phase hashed per session, as a share of the reference price. */
function wave(session: TapeSession, t: number, amplitude: number, periodSeconds: number, k: number): number {
  const phase = 2 * Math.PI * unit(combine(session.key, SALT_PHASE + k));
  return amplitude * Math.sin((2 * Math.PI * t) / periodSeconds + phase);
}

/**
 * Price of trade n: a pure O(1) function of n (sum of slow waves with hashed phases plus a tick of
 * noise), so any trade can be priced without replaying the ones before it.
 */
function priceOf(session: TapeSession, n: number, printHash: number): number {
  const { referencePrice, tickSize } = session.instrument;
  const t = n / session.tradesPerSecond;
  // Periods in seconds of average flow, so the chart looks alike at any trade rate.
  const drift =
    wave(session, t, 0.01, 3 * 3600, 0) + wave(session, t, 0.003, 900, 1) + wave(session, t, 0.0008, 45, 2);
  const noiseTicks = (printHash % 3) - 1;
  const price = roundToTick(referencePrice * (1 + drift) + noiseTicks * tickSize, tickSize);
  return Math.max(price, tickSize);
}

/** Quantity in lots, skewed to small: futures 1-20 contracts, equities 1-20 lots of lotSize. */
function quantityOf(session: TapeSession, sizeHash: number): number {
  const { kind, lotSize } = session.instrument;
  const u = unit(sizeHash);
  const lots = 1 + Math.floor(19 * u ** (kind === 'future' ? 3 : 2));
  return lots * lotSize;
}

function aggressorOf(printHash: number): Aggressor {
  if ((printHash >>> 8) % 128 === 0) return 'NONE'; // rare auction-like print
  return (printHash >>> 15) & 1 ? 'BUY' : 'SELL';
}

/** Trade number n of a session, printed at ts. */
export function printTrade(session: TapeSession, n: number, ts: number): Trade {
  const printHash = combine(combine(session.key, SALT_PRINT), n);
  const sizeHash = mix32(printHash ^ 0x5bd1e995);
  return {
    ticker: session.instrument.symbol,
    exchange: session.instrument.exchange,
    ts,
    tradeId: n,
    price: priceOf(session, n, printHash),
    qty: quantityOf(session, sizeHash),
    aggressor: aggressorOf(printHash),
    buyAgent: agent(printHash >>> 16),
    sellAgent: agent(sizeHash >>> 16),
  };
}

/**
 * Top of book right after a trade: the aggressor took the touch, so a buy printed at the ask and a
 * sell at the bid; the spread is one tick, sometimes two. Before the first trade of a session the
 * book sits around the reference price.
 */
export function bookAfter(session: TapeSession, last: Trade | null, ts: number): Quote {
  const { symbol, exchange, tickSize, referencePrice, kind, lotSize } = session.instrument;
  const bookHash = combine(combine(session.key, SALT_BOOK), last?.tradeId ?? 0);
  const spread = (bookHash % 4 === 0 ? 2 : 1) * tickSize;
  const price = last?.price ?? roundToTick(referencePrice, tickSize);
  const sellerHit = last?.aggressor === 'SELL';
  let bidPrice = roundToTick(sellerHit ? price : price - spread, tickSize);
  let askPrice = roundToTick(sellerHit ? price + spread : price, tickSize);
  if (bidPrice < tickSize) {
    bidPrice = price;
    askPrice = roundToTick(price + spread, tickSize);
  }
  const sizeOf = (h: number) => (kind === 'future' ? 5 + (h % 96) : lotSize * (1 + (h % 50)));
  return {
    ticker: symbol,
    exchange,
    ts: last?.ts ?? ts,
    bidPrice,
    bidQty: sizeOf(bookHash >>> 8),
    askPrice,
    askQty: sizeOf(mix32(bookHash) >>> 8),
  };
}
