import type { Aggressor, CapturedEvent } from '../../domain/market-data.js';

/**
 * The binary layout of market-data journal records, built for the tick path: every number sits at
 * an 8-byte-aligned offset and is written through typed-array views (no per-field bounds-checked
 * calls), strings are copied from a small cache. Records are little-endian, as the hosts we run on.
 *
 *   +0 u16 record bytes | +2 u8 kind (1 trade, 2 quote) | +3 u8 flags (bit0 backfilled, bits1-2 aggressor)
 *   +4 u32 buyAgent (trade)
 *   +8 f64 seq | +16 f64 recvTs | +24 f64 ts
 *   +32 f64 tradeId / bidPrice | +40 f64 price / bidQty | +48 f64 qty / askPrice
 *   +56 u32 sellAgent (trade) / f64 askQty (quote)
 *   +64 u8 ticker length | +65 u8 exchange length | +66 ticker, exchange bytes | padding to 8
 */
const KIND_TRADE = 1;
const KIND_QUOTE = 2;
const FIXED = 66;
const AGGRESSORS: Aggressor[] = ['NONE', 'BUY', 'SELL'];
const AGGRESSOR_CODE: Record<Aggressor, number> = { NONE: 0, BUY: 1, SELL: 2 };

export const MAX_RECORD_BYTES = align8(FIXED + 255 * 2);

export function align8(n: number): number {
  return (n + 7) & ~7;
}

/** Typed views over one 8-aligned buffer. */
export class Views {
  readonly u8: Uint8Array;
  readonly u16: Uint16Array;
  readonly u32: Uint32Array;
  readonly f64: Float64Array;
  constructor(readonly buffer: ArrayBuffer) {
    this.u8 = new Uint8Array(buffer);
    this.u16 = new Uint16Array(buffer, 0, buffer.byteLength >> 1);
    this.u32 = new Uint32Array(buffer, 0, buffer.byteLength >> 2);
    this.f64 = new Float64Array(buffer, 0, buffer.byteLength >> 3);
  }
}

/** Per ticker: its exchange and the record's string tail (two lengths, then the bytes). */
const tails = new Map<string, { exchange: string; bytes: Uint8Array }>();

function tailBytes(ticker: string, exchange: string): Uint8Array {
  const cached = tails.get(ticker);
  if (cached && cached.exchange === exchange) return cached.bytes;
  const t = Buffer.from(ticker.slice(0, 255), 'latin1');
  const x = Buffer.from(exchange.slice(0, 255), 'latin1');
  const bytes = new Uint8Array(2 + t.length + x.length);
  bytes[0] = t.length;
  bytes[1] = x.length;
  bytes.set(t, 2);
  bytes.set(x, 2 + t.length);
  if (tails.size < 10_000) tails.set(ticker, { exchange, bytes });
  return bytes;
}

/** Writes a record at `off` (8-aligned) and returns the offset after it (8-aligned). */
export function encodeRecord(e: CapturedEvent, v: Views, off: number): number {
  const { u8, u32, f64 } = v;
  const w = off >> 3;
  f64[w + 1] = e.seq;
  f64[w + 2] = e.recvTs;
  f64[w + 3] = e.ts;
  if (e.kind === 'trade') {
    u8[off + 2] = KIND_TRADE;
    u8[off + 3] = (e.backfilled ? 1 : 0) | (AGGRESSOR_CODE[e.aggressor] << 1);
    u32[(off >> 2) + 1] = e.buyAgent >>> 0;
    f64[w + 4] = e.tradeId;
    f64[w + 5] = e.price;
    f64[w + 6] = e.qty;
    u32[(off >> 2) + 14] = e.sellAgent >>> 0;
    u32[(off >> 2) + 15] = 0;
  } else {
    u8[off + 2] = KIND_QUOTE;
    u8[off + 3] = 0;
    u32[(off >> 2) + 1] = 0;
    f64[w + 4] = e.bidPrice;
    f64[w + 5] = e.bidQty;
    f64[w + 6] = e.askPrice;
    f64[w + 7] = e.askQty;
  }
  const tail = tailBytes(e.ticker, e.exchange);
  let p = off + 64;
  for (let i = 0; i < tail.length; i++) u8[p++] = tail[i] as number;
  const end = align8(p);
  while (p < end) u8[p++] = 0;
  v.u16[off >> 1] = end - off;
  return end;
}

/**
 * The offset after the well-formed record at `off`, or -1 when it is not one: the checks of
 * `decodeRecord` without building the event (a journal's records are verified at open this way).
 */
export function recordEnd(v: Views, off: number, limit: number): number {
  const len = v.u16[off >> 1] ?? 0;
  if (len < FIXED || off + len > limit || (len & 7) !== 0) return -1;
  if (FIXED + (v.u8[off + 64] ?? 0) + (v.u8[off + 65] ?? 0) > len) return -1;
  const kind = v.u8[off + 2];
  return kind === KIND_TRADE || kind === KIND_QUOTE ? off + len : -1;
}

/** The seq of the record at `off` (checked by `recordEnd`). */
export function recordSeq(v: Views, off: number): number {
  return v.f64[(off >> 3) + 1] as number;
}

/** Reads the record at `off`; throws when it is not a well-formed record inside `limit`. */
export function decodeRecord(v: Views, off: number, limit: number): { event: CapturedEvent; next: number } {
  const { u8, u32, f64 } = v;
  const next = recordEnd(v, off, limit);
  if (next < 0) throw new Error('malformed journal record');
  const w = off >> 3;
  const tickerLen = u8[off + 64] ?? 0;
  const exchangeLen = u8[off + 65] ?? 0;
  const text = Buffer.from(v.buffer, off + FIXED, tickerLen + exchangeLen).toString('latin1');
  const ticker = text.slice(0, tickerLen);
  const exchange = text.slice(tickerLen);
  const seq = f64[w + 1] as number;
  const recvTs = f64[w + 2] as number;
  const ts = f64[w + 3] as number;
  const kind = u8[off + 2];
  if (kind === KIND_TRADE) {
    const flags = u8[off + 3] ?? 0;
    return {
      next,
      event: {
        kind: 'trade',
        seq,
        recvTs,
        backfilled: (flags & 1) === 1,
        ticker,
        exchange,
        ts,
        tradeId: f64[w + 4] as number,
        price: f64[w + 5] as number,
        qty: f64[w + 6] as number,
        aggressor: AGGRESSORS[(flags >> 1) & 3] ?? 'NONE',
        buyAgent: u32[(off >> 2) + 1] as number,
        sellAgent: u32[(off >> 2) + 14] as number,
      },
    };
  }
  // recordEnd let only trades and quotes through.
  return {
    next,
    event: {
      kind: 'quote',
      seq,
      recvTs,
      ticker,
      exchange,
      ts,
      bidPrice: f64[w + 4] as number,
      bidQty: f64[w + 5] as number,
      askPrice: f64[w + 6] as number,
      askQty: f64[w + 7] as number,
    },
  };
}
