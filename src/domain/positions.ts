/**
 * Net positions and P&L per account and symbol, from fills. Pure: `applyFill` returns a new
 * position. Average-cost accounting: a fill that reduces or flips the position realises
 * (exit − average) × quantity × pointValue in BRL; the rest opens at the fill price.
 *
 * Prices are accumulated in integer tick units (price × 10^tickDecimals) so tick-aligned prices
 * add up exactly; BRL figures are rounded to cents only where they leave this module.
 */
import { localDate } from '../kernel/time.js';
import { type Instrument, tickDecimals } from './instruments.js';
import type { OrderSide } from './orders.js';

export interface PositionFill {
  readonly tradeId: string;
  readonly side: OrderSide;
  readonly qty: number;
  readonly price: number;
  readonly ts: number;
}

export interface Position {
  readonly account: string;
  readonly symbol: string;
  /** BRL per point per contract (WIN 0.2, WDO 10, equities 1). */
  readonly pointValue: number;
  /** 10^tickDecimals: price × priceScale is a whole number for prices on the tick grid. */
  readonly priceScale: number;
  /** The session the daily figures belong to (`sessionKeyAt`). */
  readonly sessionKey: string;
  /** Signed: long positive, short negative. */
  readonly quantity: number;
  /** Average entry of the open quantity; 0 when flat. */
  readonly avgPrice: number;
  /** Cost of the open quantity in price units × contracts (always positive). */
  readonly costUnits: number;
  /** Realised this session in price units × contracts, unrounded. */
  readonly realisedUnits: number;
  /** Realised this session, BRL, rounded to cents. */
  readonly realisedPnl: number;
  /** `${side}:${tradeId}` of the fills applied this session, for idempotency. */
  readonly tradeKeys: ReadonlySet<string>;
  readonly updatedAt: number;
}

/** What the API and the feed show: BRL rounded to cents, unrealised marked to `lastPrice`. */
export interface PositionSnapshot {
  account: string;
  symbol: string;
  quantity: number;
  avgPrice: number;
  lastPrice: number | null;
  realisedPnl: number;
  unrealisedPnl: number;
  totalPnl: number;
  sessionKey: string;
  updatedAt: number;
}

export interface FillOutcome {
  readonly position: Position;
  /** The fill was applied before; `position` is the input, unchanged. */
  readonly duplicate: boolean;
  /** BRL this fill realised, rounded to cents; 0 when it only opened or added. */
  readonly realised: number;
}

export const roundBrl = (brl: number): number => Math.round(brl * 100) / 100;

/** The session a moment belongs to: its local date (B3 sessions never cross midnight). */
export const sessionKeyAt = (epochMs: number, timeZone: string): string => localDate(timeZone, epochMs);

export const positionKey = (account: string, symbol: string): string => `${account}:${symbol}`;

export function flatPosition(account: string, instrument: Instrument, sessionKey: string): Position {
  return {
    account,
    symbol: instrument.symbol,
    pointValue: instrument.pointValue,
    priceScale: 10 ** tickDecimals(instrument.tickSize),
    sessionKey,
    quantity: 0,
    avgPrice: 0,
    costUnits: 0,
    realisedUnits: 0,
    realisedPnl: 0,
    tradeKeys: new Set(),
    updatedAt: 0,
  };
}

/**
 * A new session: realised P&L and the trade-id memory start over; the open quantity and its
 * average carry. Unchanged when the key is the current one, so calling it on every tick is fine.
 */
export function startSession(position: Position, sessionKey: string): Position {
  if (position.sessionKey === sessionKey) return position;
  return { ...position, sessionKey, realisedUnits: 0, realisedPnl: 0, tradeKeys: new Set() };
}

/** The position after a fill: adds, reduces, closes or flips. Idempotent by trade id. */
export function applyFill(position: Position, fill: PositionFill): FillOutcome {
  const key = `${fill.side}:${fill.tradeId}`;
  if (position.tradeKeys.has(key)) return { position, duplicate: true, realised: 0 };
  const delta = fill.side === 'BUY' ? fill.qty : -fill.qty;
  const priceUnits = toUnits(fill.price, position.priceScale);
  const { quantity } = position;
  const closing =
    quantity === 0 || Math.sign(delta) === Math.sign(quantity)
      ? 0
      : Math.min(Math.abs(delta), Math.abs(quantity));
  const opening = Math.abs(delta) - closing;

  // The closed part realises against the average; the part left keeps its share of the cost.
  const avgUnits = quantity === 0 ? 0 : position.costUnits / Math.abs(quantity);
  const realisedUnits = closing * (priceUnits - avgUnits) * Math.sign(quantity);
  const remaining = Math.abs(quantity) - closing;
  const costUnits = (remaining === 0 ? 0 : avgUnits * remaining) + opening * priceUnits;
  const nextQuantity = quantity + delta;

  const tradeKeys = new Set(position.tradeKeys);
  tradeKeys.add(key);
  const totalRealisedUnits = position.realisedUnits + realisedUnits;
  const next: Position = {
    ...position,
    quantity: nextQuantity,
    costUnits: nextQuantity === 0 ? 0 : costUnits,
    avgPrice: nextQuantity === 0 ? 0 : costUnits / (Math.abs(nextQuantity) * position.priceScale),
    realisedUnits: totalRealisedUnits,
    realisedPnl: unitsToBrl(totalRealisedUnits, position),
    tradeKeys,
    updatedAt: Math.max(position.updatedAt, fill.ts),
  };
  return { position: next, duplicate: false, realised: unitsToBrl(realisedUnits, position) };
}

/** A price in tick units; snapped to the whole number when on the grid (38.51 × 100 is 3851.0000000000005). */
function toUnits(price: number, priceScale: number): number {
  const units = price * priceScale;
  const whole = Math.round(units);
  return Math.abs(whole - units) < 1e-6 ? whole : units;
}

const unitsToBrl = (units: number, position: Pick<Position, 'priceScale' | 'pointValue'>): number =>
  roundBrl((units / position.priceScale) * position.pointValue);

/** BRL the open quantity would realise at `lastPrice`, rounded to cents; 0 when flat. */
export function unrealisedPnl(position: Position, lastPrice: number): number {
  if (position.quantity === 0) return 0;
  const markUnits = toUnits(lastPrice, position.priceScale) * Math.abs(position.quantity);
  return unitsToBrl((markUnits - position.costUnits) * Math.sign(position.quantity), position);
}

/** The position as shown: without a last price the unrealised P&L is 0 and `lastPrice` null. */
export function positionSnapshot(position: Position, lastPrice?: number): PositionSnapshot {
  const unrealised = lastPrice === undefined ? 0 : unrealisedPnl(position, lastPrice);
  return {
    account: position.account,
    symbol: position.symbol,
    quantity: position.quantity,
    avgPrice: position.avgPrice,
    lastPrice: lastPrice ?? null,
    realisedPnl: position.realisedPnl,
    unrealisedPnl: unrealised,
    totalPnl: roundBrl(position.realisedPnl + unrealised),
    sessionKey: position.sessionKey,
    updatedAt: position.updatedAt,
  };
}

/**
 * Today's P&L over a set of positions (one account's, for the daily-loss limit), summed in whole
 * cents. Positions without a last price count no unrealised P&L.
 */
export function dailyPnl(
  positions: Iterable<Position>,
  lastPriceOf: (symbol: string) => number | undefined,
): { realised: number; unrealised: number } {
  let realisedCents = 0;
  let unrealisedCents = 0;
  for (const p of positions) {
    realisedCents += Math.round(p.realisedPnl * 100);
    const last = lastPriceOf(p.symbol);
    if (last !== undefined) unrealisedCents += Math.round(unrealisedPnl(p, last) * 100);
  }
  return { realised: realisedCents / 100, unrealised: unrealisedCents / 100 };
}
