import type { Aggressor, CapturedEvent } from '../../domain/market-data.js';

/**
 * The binary layout of one market-data journal record's payload. Fixed-width numbers first, the
 * two short ASCII strings last; about 70 bytes for a trade, so a journal append costs little more
 * than copying bytes.
 *
 *   u8 kind (1 trade, 2 quote) | u8 flags (bit0 backfilled, bits1-2 aggressor) |
 *   f64 seq | f64 recvTs | f64 ts | trade: f64 tradeId, f64 price, f64 qty, u32 buyAgent, u32 sellAgent
 *                                  | quote: f64 bidPrice, f64 bidQty, f64 askPrice, f64 askQty |
 *   u8 len + ticker | u8 len + exchange
 */
const KIND_TRADE = 1;
const KIND_QUOTE = 2;
const AGGRESSORS: Aggressor[] = ['NONE', 'BUY', 'SELL'];
const AGGRESSOR_CODE: Record<Aggressor, number> = { NONE: 0, BUY: 1, SELL: 2 };

export const MAX_PAYLOAD_BYTES = 2 + 8 * 7 + 8 + 2 + 255 * 2;

/** Writes the payload at `off` and returns the offset after it. */
export function encodeEvent(e: CapturedEvent, buf: Buffer, off: number): number {
  const isTrade = e.kind === 'trade';
  buf[off] = isTrade ? KIND_TRADE : KIND_QUOTE;
  buf[off + 1] = isTrade ? (e.backfilled ? 1 : 0) | (AGGRESSOR_CODE[e.aggressor] << 1) : 0;
  buf.writeDoubleLE(e.seq, off + 2);
  buf.writeDoubleLE(e.recvTs, off + 10);
  buf.writeDoubleLE(e.ts, off + 18);
  let p = off + 26;
  if (isTrade) {
    buf.writeDoubleLE(e.tradeId, p);
    buf.writeDoubleLE(e.price, p + 8);
    buf.writeDoubleLE(e.qty, p + 16);
    buf.writeUInt32LE(e.buyAgent >>> 0, p + 24);
    buf.writeUInt32LE(e.sellAgent >>> 0, p + 28);
    p += 32;
  } else {
    buf.writeDoubleLE(e.bidPrice, p);
    buf.writeDoubleLE(e.bidQty, p + 8);
    buf.writeDoubleLE(e.askPrice, p + 16);
    buf.writeDoubleLE(e.askQty, p + 24);
    p += 32;
  }
  p = writeShortAscii(buf, p, e.ticker);
  return writeShortAscii(buf, p, e.exchange);
}

export function decodeEvent(buf: Buffer, off: number, end: number): CapturedEvent {
  const kind = buf[off];
  const flags = buf[off + 1] ?? 0;
  const seq = buf.readDoubleLE(off + 2);
  const recvTs = buf.readDoubleLE(off + 10);
  const ts = buf.readDoubleLE(off + 18);
  const p = off + 26;
  const a = buf.readDoubleLE(p);
  const b = buf.readDoubleLE(p + 8);
  const c = buf.readDoubleLE(p + 16);
  const [ticker, afterTicker] = readShortAscii(buf, p + 32, end);
  const [exchange] = readShortAscii(buf, afterTicker, end);
  if (kind === KIND_TRADE) {
    return {
      kind: 'trade',
      seq,
      recvTs,
      backfilled: (flags & 1) === 1,
      ticker,
      exchange,
      ts,
      tradeId: a,
      price: b,
      qty: c,
      aggressor: AGGRESSORS[(flags >> 1) & 3] ?? 'NONE',
      buyAgent: buf.readUInt32LE(p + 24),
      sellAgent: buf.readUInt32LE(p + 28),
    };
  }
  if (kind === KIND_QUOTE) {
    return {
      kind: 'quote',
      seq,
      recvTs,
      ticker,
      exchange,
      ts,
      bidPrice: a,
      bidQty: b,
      askPrice: c,
      askQty: buf.readDoubleLE(p + 24),
    };
  }
  throw new Error(`unknown journal record kind ${kind}`);
}

function writeShortAscii(buf: Buffer, off: number, text: string): number {
  const n = buf.write(text, off + 1, 255, 'latin1');
  buf[off] = n;
  return off + 1 + n;
}

function readShortAscii(buf: Buffer, off: number, end: number): [string, number] {
  const n = buf[off] ?? 0;
  if (off + 1 + n > end) throw new Error('journal record string runs past its end');
  return [buf.toString('latin1', off + 1, off + 1 + n), off + 1 + n];
}
