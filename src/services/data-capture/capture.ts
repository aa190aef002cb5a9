import type { SegmentJournal } from '../../adapters/storage/segment-journal.js';
import type { GapTracker } from '../../domain/gaps.js';
import type { CapturedEvent, CapturedQuote, CapturedTrade, Quote, Trade } from '../../domain/market-data.js';
import type { Clock } from '../../kernel/clock.js';
import { TurnBatcher } from '../../kernel/turn.js';
import type { CaptureMetrics } from './metrics.js';

export interface CaptureSinks {
  /** The live feed: sees a record only after it is in the journal file. */
  publish(events: CapturedEvent[]): void;
  /** Everything that keeps the newest data queryable until it is in Parquet. */
  tail(events: CapturedEvent[]): void;
}

/**
 * The tick path: every trade or quote from the adapter is classified against the trade-number
 * sequence, given a capture seq and appended to the journal; once per event-loop turn the batch is
 * written to the journal file and only then published. Duplicates and trades of a past session are
 * counted and dropped. What the journal could not write (a full or read-only disk) is never
 * published: its trades go back among the missing, to be backfilled once it writes again, and its
 * quotes are dropped (counted).
 */
export class Capture {
  private batch: CapturedEvent[] = [];
  private readonly turn = new TurnBatcher(() => this.write());
  private gapsChanged = false;

  constructor(
    private readonly journal: SegmentJournal,
    private readonly tracker: GapTracker,
    private readonly sinks: CaptureSinks,
    private readonly clock: Clock,
    private readonly metrics: CaptureMetrics,
    private readonly onFlushed: (gapsChanged: boolean) => void,
  ) {}

  trade(trade: Trade, source: 'live' | 'history'): boolean {
    const now = this.clock.now();
    const verdict = this.tracker.observe(trade, now);
    this.metrics.received.inc({ ticker: trade.ticker, source });
    if (verdict === 'duplicate' || verdict === 'stale') {
      this.metrics.dropped.inc({ ticker: trade.ticker, reason: verdict });
      return false;
    }
    if (verdict === 'gap' || verdict === 'backfill') this.gapsChanged = true;
    const event: CapturedTrade = {
      kind: 'trade',
      seq: 0,
      recvTs: now,
      backfilled: source === 'history',
      ...trade,
    };
    this.append(event);
    return true;
  }

  quote(quote: Quote): void {
    const event: CapturedQuote = { kind: 'quote', seq: 0, recvTs: this.clock.now(), ...quote };
    this.append(event);
  }

  /** The gap list changed outside the tick path (a gap given up): save it with the next flush. */
  gapsTouched(): void {
    this.gapsChanged = true;
    this.turn.schedule();
  }

  /** Writes the batch to the journal file, then publishes what it holds. Safe to call at any time. */
  flush(): void {
    this.turn.flushNow();
  }

  private write(): void {
    if (this.batch.length === 0) {
      if (this.gapsChanged) {
        this.gapsChanged = false;
        this.onFlushed(true);
      }
      return;
    }
    let batch = this.batch;
    this.batch = [];
    this.journal.flush();
    // The journal takes nothing after a failure until `retryJournal`, so a batch whose last record
    // was written was written whole.
    const written = this.journal.writtenSeq;
    const last = batch[batch.length - 1]?.seq ?? 0;
    if (last === 0 || last > written) batch = this.keepWritten(batch, written);
    this.sinks.publish(batch);
    this.sinks.tail(batch);
    for (const e of batch) if (e.kind === 'trade') this.metrics.persisted.inc({ ticker: e.ticker });
    const changed = this.gapsChanged;
    this.gapsChanged = false;
    this.onFlushed(changed);
  }

  /**
   * After the journal failed: settles the batch that met the failure (its unwritten part is not
   * kept), then asks the journal to write again; true once it does.
   */
  retryJournal(): boolean {
    this.flush();
    return this.journal.retry();
  }

  /** The part of a batch the journal wrote; the rest is not kept (its trades missing again). */
  private keepWritten(batch: CapturedEvent[], written: number): CapturedEvent[] {
    const kept: CapturedEvent[] = [];
    const now = this.clock.now();
    for (const e of batch) {
      if (e.seq > 0 && e.seq <= written) kept.push(e);
      else if (e.kind === 'trade') {
        this.tracker.markUnpersisted(e, now);
        this.metrics.dropped.inc({ ticker: e.ticker, reason: 'unwritable' });
        this.gapsChanged = true;
      } else this.metrics.droppedQuotes.inc();
    }
    return kept;
  }

  private append(event: CapturedEvent): void {
    this.journal.append(event);
    this.batch.push(event);
    this.turn.schedule();
  }
}
