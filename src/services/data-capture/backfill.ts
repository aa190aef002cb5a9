import type { Gap, GapTracker, SessionInfo, TailCursor } from '../../domain/gaps.js';
import type { Trade } from '../../domain/market-data.js';
import type { Clock, Timer } from '../../kernel/clock.js';
import type { Logger } from '../../kernel/logger.js';
import type { MarketDataClient } from '../../ports/broker.js';
import type { Capture } from './capture.js';

/** History is asked for in windows this long, so a long outage never loads one huge answer. */
const WINDOW_MS = 10_000;
const MAX_ATTEMPTS = 5;
const RETRY_MS = 2_000;

export interface BackfillOptions {
  tracker: GapTracker;
  adapter: MarketDataClient;
  capture: Capture;
  logger: Logger;
  /** Whether the broker can answer and the journal can keep what it sends (Active, writable). */
  ready: () => boolean;
  /** What is captured now: these sessions' ends are checked against the broker's history. */
  subscriptions: () => readonly { ticker: string; exchange: string }[];
  /** The session holding an instant (the same one the tracker uses). */
  sessionOf: (ts: number) => SessionInfo;
  /** How far back a gap at capture start is filled; older trades of the session are skipped. */
  initialBackfillMs: number;
  clock: Clock;
}

/**
 * Fills what is missing from the broker's history. First the tail check: a gap is only seen when a
 * later trade arrives, so an outage lasting until the close (or a feed that stopped) would leave
 * the session's last trades missing without a word; after every (re)connect, at each close and at
 * each new session, the last trade of each session we hold is compared with the broker's, and
 * what lies between opens a `tail` gap. Then every open gap is filled: the missing trades go
 * through the same capture path (journal first, then feed) marked `backfilled`. A gap still open
 * after the history answered is retried a few times, then closed as `skipped` with an error log:
 * the broker does not have them.
 */
export class Backfiller {
  private running: Promise<void> | null = null;
  private readonly attempts = new Map<string, number>();
  private retryTimer: Timer | null = null;
  private stopped = false;
  /** A tail check was asked for and has not started yet. */
  private tailCheckDue = false;
  /** A tail check is asking the broker now. */
  private tailCheckRunning = false;

  constructor(private readonly opts: BackfillOptions) {}

  /** Whether a tail check is due or under way: until it answers, nobody knows what is missing. */
  get checkingTails(): boolean {
    return this.tailCheckDue || this.tailCheckRunning;
  }

  /** Compares each session's end with the broker's history, then fills what is missing. */
  checkTails(): void {
    this.tailCheckDue = true;
    this.kick();
  }

  kick(): void {
    if (this.stopped || this.running || !this.opts.ready()) return;
    this.running = this.run().finally(() => {
      this.running = null;
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.opts.clock.cancel(this.retryTimer);
    await this.running;
  }

  private async run(): Promise<void> {
    const { tracker, logger } = this.opts;
    if (this.tailCheckDue) {
      this.tailCheckDue = false;
      this.tailCheckRunning = true;
      try {
        await this.checkAllTails();
      } catch (err) {
        this.tailCheckDue = true;
        logger.warn(
          { event: 'capture.tail_check_failed', err: (err as Error).message },
          'history request for the tail check failed',
        );
        this.retryLater();
        return;
      } finally {
        this.tailCheckRunning = false;
      }
    }
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
        if (gap.reason !== 'capture-start') {
          logger.error(
            { event: 'capture.gap_unfillable', gap: still },
            'broker history lacks trades of a gap; closing it as skipped',
          );
        }
        tracker.giveUp(gap.id, this.opts.clock.now());
        this.opts.capture.gapsTouched();
        continue;
      }
      this.retryLater();
      return;
    }
  }

  private async checkAllTails(): Promise<void> {
    const { tracker, logger } = this.opts;
    for (const tail of tracker.tails(this.opts.subscriptions(), this.opts.clock.now())) {
      if (this.stopped || !this.opts.ready()) {
        this.tailCheckDue = true;
        return;
      }
      const last = await this.lastTradeOf(tail);
      const gap = tracker.closeTail(tail, last, this.opts.clock.now());
      if (gap) {
        logger.warn(
          {
            event: 'capture.tail_gap',
            gap: gap.id,
            ticker: gap.ticker,
            session: gap.session,
            from: gap.fromTradeId,
            to: gap.toTradeId,
          },
          'the broker has trades after our last one of the session; backfilling them',
        );
      }
      this.opts.capture.gapsTouched();
    }
  }

  /**
   * The broker's last trade of the tail's session, from its history: windows stepping back from
   * the session's end (or now) to our last trade, each twice as long as the one before, so a busy
   * market answers with the first request and a quiet one with a few.
   */
  private async lastTradeOf(tail: TailCursor): Promise<Trade | null> {
    const end = Math.min(this.opts.clock.now(), this.opts.sessionOf(tail.lastTs).endTs - 1);
    let span = WINDOW_MS;
    for (let to = end; to >= tail.lastTs; span *= 2) {
      const from = Math.max(tail.lastTs, to - span + 1);
      const trades = await this.opts.adapter.requestTradeHistory(tail.ticker, tail.exchange, from, to);
      let last: Trade | null = null;
      for (const t of trades) if (!last || t.tradeId > last.tradeId) last = t;
      if (last) return last;
      to = from - 1;
    }
    return null;
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
    this.retryTimer = this.opts.clock
      .after(RETRY_MS, () => {
        this.retryTimer = null;
        this.kick();
      })
      .unref();
  }
}

/** After a session's last trade printed, this long before its end is checked (the feed delivers the rest). */
const CLOSE_GRACE_MS = 2_000;
const WATCH_EVERY_MS = 1_000;

export interface SessionEndWatchOptions {
  tickers: () => readonly string[];
  marketOpen: (ticker: string, now: number) => boolean;
  sessionOf: (ts: number) => SessionInfo;
  clock: Clock;
  /** A market closed or a new session began. */
  onSessionEnd: () => void;
}

/**
 * Notices a session ending: a ticker's market closing, or the local day changing (the simulator's
 * default session is the whole day). Either way the ended session's last trades are checked a
 * moment later, once the feed has delivered what printed before the end.
 */
export class SessionEndWatch {
  private readonly wasOpen = new Map<string, boolean>();
  private session: string;
  private readonly timer: Timer;
  private graceTimer: Timer | null = null;

  constructor(private readonly opts: SessionEndWatchOptions) {
    this.session = opts.sessionOf(opts.clock.now()).key;
    this.timer = opts.clock.every(WATCH_EVERY_MS, () => this.check()).unref();
  }

  stop(): void {
    this.opts.clock.cancel(this.timer);
    this.opts.clock.cancel(this.graceTimer);
  }

  private check(): void {
    const now = this.opts.clock.now();
    const session = this.opts.sessionOf(now).key;
    let ended = session !== this.session;
    this.session = session;
    for (const ticker of this.opts.tickers()) {
      const open = this.opts.marketOpen(ticker, now);
      if (this.wasOpen.get(ticker) && !open) ended = true;
      this.wasOpen.set(ticker, open);
    }
    if (!ended || this.graceTimer) return;
    this.graceTimer = this.opts.clock
      .after(CLOSE_GRACE_MS, () => {
        this.graceTimer = null;
        this.opts.onSessionEnd();
      })
      .unref();
  }
}
