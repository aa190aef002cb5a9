/** Market data as it flows through the system. Pure types and helpers: no I/O. */

export type Aggressor = 'BUY' | 'SELL' | 'NONE';

/** A trade printed on the exchange, as a broker adapter reports it. */
export interface Trade {
  ticker: string;
  exchange: string;
  /** Exchange time, epoch milliseconds (UTC). */
  ts: number;
  /** Exchange trade number: sequential per instrument per session, from 1. */
  tradeId: number;
  price: number;
  qty: number;
  aggressor: Aggressor;
  buyAgent: number;
  sellAgent: number;
}

/** Top of book. */
export interface Quote {
  ticker: string;
  exchange: string;
  ts: number;
  bidPrice: number;
  bidQty: number;
  askPrice: number;
  askQty: number;
}

/** What data-capture journals: the market event plus our capture facts. */
export type CapturedEvent =
  | ({ kind: 'trade'; seq: number; recvTs: number; backfilled: boolean } & Trade)
  | ({ kind: 'quote'; seq: number; recvTs: number } & Quote);

export type CapturedTrade = Extract<CapturedEvent, { kind: 'trade' }>;
export type CapturedQuote = Extract<CapturedEvent, { kind: 'quote' }>;
