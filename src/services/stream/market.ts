import { LiveBar } from '../../domain/bars.js';
import type { Instrument } from '../../domain/instruments.js';
import type { CapturedEvent } from '../../domain/market-data.js';
import type { FeedRecord } from '../../kernel/feed/index.js';
import { barsChannel, LIVE_BAR_INTERVALS, quotesChannel, tradesChannel } from './channels.js';

type Publish = (channel: string, data: unknown) => void;

interface SymbolState {
  trades: string;
  quotes: string;
  bars: string;
  bar: LiveBar;
  /** Seq of the first trade in the current bar: where a restart must resume to rebuild it. */
  barFirstSeq: number;
  /** The bar may lack trades from before the stream joined the feed. */
  partial: boolean;
}

/** Bars this many steps older than the newest trade are done for resume purposes (an idle symbol). */
const STALE_BAR_STEPS = 2;

/**
 * data-capture's feed → `trades:SYM`, `quotes:SYM` and live `bars:1m:SYM`. Trades of instruments
 * not configured here have no channel and are skipped.
 */
export class MarketChannels {
  private readonly symbols = new Map<string, SymbolState>();
  private lastSeq = 0;
  private newestTs = 0;
  lateTrades = 0;

  constructor(
    instruments: readonly Instrument[],
    private readonly publish: Publish,
    /** The input started at the feed's tail (no saved cursor): each symbol's first bar is partial. */
    private readonly joinedAtTail: boolean,
  ) {
    const step = LIVE_BAR_INTERVALS['1m'];
    for (const i of instruments) {
      this.symbols.set(i.symbol, {
        trades: tradesChannel(i.symbol),
        quotes: quotesChannel(i.symbol),
        bars: barsChannel('1m', i.symbol),
        bar: new LiveBar(step, i.pointValue),
        barFirstSeq: 0,
        partial: false,
      });
    }
  }

  onRecords(records: FeedRecord<CapturedEvent>[]): void {
    for (const { seq, data } of records) {
      this.lastSeq = seq;
      const s = this.symbols.get(data.ticker);
      if (!s) continue;
      if (data.kind === 'quote') {
        this.publish(s.quotes, data);
        continue;
      }
      this.publish(s.trades, data);
      if (data.ts > this.newestTs) this.newestTs = data.ts;
      const first = s.bar.bar === undefined;
      const result = s.bar.add(data);
      if (result === 'late') {
        this.lateTrades++;
        continue;
      }
      if (result === 'started') {
        s.barFirstSeq = seq;
        s.partial = first && this.joinedAtTail;
      }
      this.publish(s.bars, { symbol: data.ticker, interval: '1m', partial: s.partial, ...s.bar.bar });
    }
  }

  /**
   * The seq to resume after so a restart rebuilds every open bar: just before the oldest open
   * bar's first trade, else the last seq seen; undefined before the first record.
   */
  resumePoint(): number | undefined {
    if (this.lastSeq === 0) return undefined;
    let point = this.lastSeq;
    for (const s of this.symbols.values()) {
      const bar = s.bar.bar;
      if (!bar || bar.time < this.newestTs - STALE_BAR_STEPS * s.bar.stepMs) continue;
      point = Math.min(point, s.barFirstSeq - 1);
    }
    return Math.max(0, point);
  }
}
