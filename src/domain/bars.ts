/** OHLCV bars, and the fold that builds one live from trades in order. Pure: no I/O. */

/**
 * Intraday bucket widths. UTC epoch alignment equals local alignment for these because config
 * accepts only a zone a whole number of hours from UTC (`isWholeHourZone`, kernel/time.ts).
 */
export const INTRADAY_STEP_MS = {
  '1m': 60_000,
  '5m': 300_000,
  '15m': 900_000,
  '1h': 3_600_000,
} as const;

/**
 * A trade's value in BRL (price × qty × point value), without binary floating-point residue
 * (38.2 × 100 = 3820.0000000000005) below a micro-real: stored per trade by data-capture and
 * summed the same way by live bars, so both give the same financial volume.
 */
export function tradeFinancialVolume(price: number, qty: number, pointValue: number): number {
  return Math.round(price * qty * pointValue * 1e6) / 1e6;
}

/** OHLCV of one bucket. `volume` is quantity; `financialVolume` is BRL (price × qty × point value). */
export interface Bar {
  /** Bucket start, epoch ms: UTC-aligned for intraday intervals, local midnight for `1d`. */
  time: number;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
  financialVolume: number;
  vwap: number;
  trades: number;
}

export interface BarTrade {
  /** Exchange time, epoch ms. */
  ts: number;
  price: number;
  qty: number;
}

/**
 * One instrument's current intraday bar, folded trade by trade with the same definitions as the
 * history queries: open and close are the first and last trades by (exchange time, arrival), so a
 * backfilled trade of the bucket lands where it belongs, and vwap = Σ price × qty / Σ qty. A trade
 * of a later bucket starts a new bar; one of an earlier bucket than the current bar is late and is
 * not folded in.
 */
export class LiveBar {
  private current: Bar | undefined;
  private notional = 0;
  private openTs = 0;
  private closeTs = 0;

  constructor(
    readonly stepMs: number,
    private readonly pointValue: number,
  ) {}

  get bar(): Readonly<Bar> | undefined {
    return this.current;
  }

  /** Folds a trade in; 'late' when it belongs to a bucket before the current bar's. */
  add(trade: BarTrade): 'updated' | 'started' | 'late' {
    const time = Math.floor(trade.ts / this.stepMs) * this.stepMs;
    const bar = this.current;
    if (bar && time < bar.time) return 'late';
    const financial = tradeFinancialVolume(trade.price, trade.qty, this.pointValue);
    if (!bar || time > bar.time) {
      this.current = {
        time,
        open: trade.price,
        high: trade.price,
        low: trade.price,
        close: trade.price,
        volume: trade.qty,
        financialVolume: financial,
        vwap: trade.price,
        trades: 1,
      };
      this.notional = trade.price * trade.qty;
      this.openTs = trade.ts;
      this.closeTs = trade.ts;
      return 'started';
    }
    bar.high = Math.max(bar.high, trade.price);
    bar.low = Math.min(bar.low, trade.price);
    if (trade.ts < this.openTs) {
      bar.open = trade.price;
      this.openTs = trade.ts;
    }
    if (trade.ts >= this.closeTs) {
      bar.close = trade.price;
      this.closeTs = trade.ts;
    }
    bar.volume += trade.qty;
    bar.financialVolume += financial;
    this.notional += trade.price * trade.qty;
    bar.vwap = bar.volume > 0 ? this.notional / bar.volume : trade.price;
    bar.trades += 1;
    return 'updated';
  }
}
