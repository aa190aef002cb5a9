/** Instruments traded on B3 and their contract facts. Pure: no I/O. */

export type InstrumentKind = 'future' | 'equity';

export interface Instrument {
  symbol: string;
  /** B3 segment code as the broker names it: `F` (BMF, derivatives) or `B` (Bovespa, equities). */
  exchange: string;
  kind: InstrumentKind;
  /** Smallest price increment. */
  tickSize: number;
  /** BRL per point per contract (futures) or 1 (equities). */
  pointValue: number;
  /** Smallest tradable quantity. */
  lotSize: number;
  /** Regular session in America/Sao_Paulo, `HH:MM`. */
  sessionOpen: string;
  sessionClose: string;
  /** A reference price for the simulator and for price-band checks before the first trade. */
  referencePrice: number;
}

/** Number of decimals of a tick size (5 → 0, 0.5 → 1, 0.01 → 2), for exact rounding. */
export function tickDecimals(tickSize: number): number {
  const text = String(tickSize);
  const dot = text.indexOf('.');
  return dot < 0 ? 0 : text.length - dot - 1;
}

/** The nearest price on the tick grid, free of binary floating-point residue. */
export function roundToTick(price: number, tickSize: number): number {
  return Number((Math.round(price / tickSize) * tickSize).toFixed(tickDecimals(tickSize)));
}

export function isOnTick(price: number, tickSize: number): boolean {
  return Math.abs(roundToTick(price, tickSize) - price) < tickSize * 1e-6;
}

/** Minutes since local midnight for `HH:MM`. */
export function minutesOf(hhmm: string): number {
  const [h, m] = hhmm.split(':').map(Number);
  return (h ?? 0) * 60 + (m ?? 0);
}
