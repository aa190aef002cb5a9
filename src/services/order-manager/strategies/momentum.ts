import type { CapturedTrade } from '../../../domain/market-data.js';
import type { Strategy, StrategyContext } from './strategy.js';

export interface MomentumSettings {
  /** Same-direction price moves in a row that trigger an order. */
  consecutiveTrades: number;
  /** Per symbol, after an order. */
  cooldownMs: number;
  /** Largest net position built per symbol, in lots. */
  maxPositionLots: number;
  /** Symbols traded; empty = all. */
  symbols: readonly string[];
}

interface SymbolState {
  last: number;
  /** Signed length of the current run of moves: +3 = three upticks in a row. */
  run: number;
  lastOrderAt: number;
}

/**
 * The example strategy: `consecutiveTrades` upticks (downticks) in a row on a symbol buy (sell) one
 * lot at MARKET. Unchanged prices neither extend nor break a run; a run that triggers starts over.
 * After an order the symbol rests `cooldownMs`, which also covers the fill's round trip, since the
 * position it respects (`maxPositionLots`) is the filled one. Deterministic in (trades, clock).
 */
export class MomentumStrategy implements Strategy {
  readonly id = 'momentum';
  private readonly bySymbol = new Map<string, SymbolState>();
  private readonly symbols: ReadonlySet<string> | undefined;

  constructor(private readonly s: MomentumSettings) {
    this.symbols = s.symbols.length > 0 ? new Set(s.symbols) : undefined;
  }

  onTrade(trade: CapturedTrade, ctx: StrategyContext): void {
    if (this.symbols && !this.symbols.has(trade.ticker)) return;
    const st = this.bySymbol.get(trade.ticker);
    if (!st) {
      this.bySymbol.set(trade.ticker, { last: trade.price, run: 0, lastOrderAt: -Infinity });
      return;
    }
    const move = Math.sign(trade.price - st.last);
    st.last = trade.price;
    if (move === 0) return;
    st.run = Math.sign(st.run) === move ? st.run + move : move;
    if (Math.abs(st.run) < this.s.consecutiveTrades) return;
    st.run = 0;
    const now = ctx.now();
    if (now - st.lastOrderAt < this.s.cooldownMs) return;
    const lot = ctx.lotSize(trade.ticker);
    if (Math.abs(ctx.position(trade.ticker) + move * lot) > this.s.maxPositionLots * lot) return;
    st.lastOrderAt = now;
    ctx.submit(
      { symbol: trade.ticker, side: move > 0 ? 'BUY' : 'SELL', type: 'MARKET', quantity: lot },
      { triggerRecvTs: trade.recvTs },
    );
  }
}
