import type { BrokerAdapter } from '../../adapters/broker/types.js';
import type { Gap, GapTracker } from '../../domain/gaps.js';
import type { Logger } from '../../kernel/logger.js';
import type { Capture } from './capture.js';

/** History is asked for in windows this long, so a long outage never loads one huge answer. */
const WINDOW_MS = 10_000;
const MAX_ATTEMPTS = 5;
const RETRY_MS = 2_000;

export interface BackfillOptions {
  tracker: GapTracker;
  adapter: BrokerAdapter;
  capture: Capture;
  logger: Logger;
  /** Whether the broker can answer now (the session is Active). */
  ready: () => boolean;
  /** How far back a gap at capture start is filled; older trades of the session are skipped. */
  initialBackfillMs: number;
  now: () => number;
}

/**
 * Fills open gaps from the broker's history: the missing trades go through the same capture path
 * (journal first, then feed) marked `backfilled`. A gap still open after the history answered is
 * retried a few times, then closed as `skipped` with an error log: the broker does not have them.
 */
export class Backfiller {
  private running: Promise<void> | null = null;
  private readonly attempts = new Map<string, number>();
  private retryTimer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(private readonly opts: BackfillOptions) {}

  kick(): void {
    if (this.stopped || this.running || !this.opts.ready()) return;
    this.running = this.run().finally(() => {
      this.running = null;
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    await this.running;
  }

  private async run(): Promise<void> {
    const { tracker, logger } = this.opts;
    for (
      let gap = tracker.openGaps()[0];
      gap && !this.stopped && this.opts.ready();
      gap = tracker.openGaps()[0]
    ) {
      if (gap.reason === 'capture-start') tracker.limitWindow(gap.id, gap.toTs - this.opts.initialBackfillMs);
      const window = tracker.openGaps().find((g) => g.id === gap?.id) ?? gap;
      try {
        const got = await this.fetch(window);
        logger.info(
          {
            event: 'capture.backfill',
            gap: gap.id,
            ticker: gap.ticker,
            from: gap.fromTradeId,
            to: gap.toTradeId,
            received: got,
          },
          'backfilled from history',
        );
      } catch (err) {
        logger.warn(
          { event: 'capture.backfill_failed', gap: gap.id, err: (err as Error).message },
          'history request failed',
        );
        this.retryLater();
        return;
      }
      const still = tracker.openGaps().find((g) => g.id === gap?.id);
      if (!still) continue;
      const tries = (this.attempts.get(gap.id) ?? 0) + 1;
      this.attempts.set(gap.id, tries);
      if (gap.reason === 'capture-start' || tries >= MAX_ATTEMPTS) {
        if (gap.reason === 'jump') {
          logger.error(
            { event: 'capture.gap_unfillable', gap: still },
            'broker history lacks trades of a gap; closing it as skipped',
          );
        }
        tracker.giveUp(gap.id, this.opts.now());
        this.opts.capture.gapsTouched();
        continue;
      }
      this.retryLater();
      return;
    }
  }

  /** Requests the gap's time window piece by piece and feeds what it misses into capture. */
  private async fetch(gap: Gap): Promise<number> {
    let received = 0;
    for (let from = gap.fromTs; from <= gap.toTs; from += WINDOW_MS) {
      const to = Math.min(gap.toTs, from + WINDOW_MS - 1);
      const trades = await this.opts.adapter.requestTradeHistory(gap.ticker, gap.exchange, from, to);
      for (const t of trades) {
        if (
          t.tradeId >= gap.fromTradeId &&
          t.tradeId <= gap.toTradeId &&
          this.opts.capture.trade(t, 'history')
        )
          received += 1;
      }
      this.opts.capture.flush();
    }
    return received;
  }

  private retryLater(): void {
    if (this.stopped || this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.kick();
    }, RETRY_MS);
    this.retryTimer.unref();
  }
}
