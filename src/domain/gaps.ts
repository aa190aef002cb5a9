/**
 * Gap detection on exchange trade numbers. B3 numbers trades 1, 2, 3… per instrument per session,
 * so a jump means trades we did not receive. Pure: the caller supplies sessions and time.
 */

export interface SessionInfo {
  /** The session's key, e.g. its local date `2026-03-16`. */
  key: string;
  /** Epoch ms at which the session's trade numbering started (for history requests). */
  startTs: number;
}

export interface TickerCursor {
  exchange: string;
  session: string;
  lastTradeId: number;
  lastTs: number;
}

export type GapState = 'open' | 'filled' | 'skipped';

export interface Gap {
  id: string;
  ticker: string;
  exchange: string;
  session: string;
  /** Missing trade numbers, inclusive. */
  fromTradeId: number;
  toTradeId: number;
  /** Exchange-time window that holds them, inclusive (for the history request). */
  fromTs: number;
  toTs: number;
  state: GapState;
  detectedAt: number;
  closedAt: number | null;
  /** How many of the missing trades were backfilled so far. */
  filled: number;
  /** Trade numbers still missing, as inclusive ranges in order. */
  missing: [number, number][];
  reason: 'jump' | 'capture-start';
}

export interface GapSnapshot {
  cursors: Record<string, TickerCursor>;
  gaps: Gap[];
}

interface TradeRef {
  ticker: string;
  exchange: string;
  tradeId: number;
  ts: number;
}

export type Verdict = 'new' | 'gap' | 'backfill' | 'duplicate' | 'stale';

/** Closed gaps kept for `GET /api/gaps`; open ones are always kept. */
const CLOSED_GAPS_KEPT = 500;

export class GapTracker {
  private readonly cursors = new Map<string, TickerCursor>();
  private gaps: Gap[] = [];
  private nextId = 1;

  constructor(
    private readonly sessionOf: (ts: number) => SessionInfo,
    snapshot?: GapSnapshot,
  ) {
    if (snapshot) {
      for (const [t, c] of Object.entries(snapshot.cursors)) this.cursors.set(t, { ...c });
      this.gaps = snapshot.gaps.map(copyGap);
      this.nextId = Math.max(0, ...this.gaps.map((g) => Number(g.id.split('-').pop()) || 0)) + 1;
    }
  }

  /**
   * Classifies a trade and updates the state: `new` (the next number), `gap` (new, past a jump,
   * which opens a gap), `backfill` (fills part of an open gap), `duplicate` (seen already) or
   * `stale` (an older session). Only `new`, `gap` and `backfill` trades are to be kept.
   */
  observe(trade: TradeRef, now: number): Verdict {
    const session = this.sessionOf(trade.ts);
    const cursor = this.cursors.get(trade.ticker);
    if (cursor && session.key < cursor.session) return 'stale';
    if (!cursor || session.key > cursor.session) {
      // First trade we see of this session: everything before it is missing.
      this.cursors.set(trade.ticker, {
        exchange: trade.exchange,
        session: session.key,
        lastTradeId: trade.tradeId,
        lastTs: trade.ts,
      });
      if (trade.tradeId === 1) return 'new';
      this.open(trade, session.key, 1, trade.tradeId - 1, session.startTs, trade.ts, now, 'capture-start');
      return 'gap';
    }
    if (trade.tradeId === cursor.lastTradeId + 1) {
      cursor.lastTradeId = trade.tradeId;
      cursor.lastTs = trade.ts;
      return 'new';
    }
    if (trade.tradeId > cursor.lastTradeId + 1) {
      this.open(
        trade,
        session.key,
        cursor.lastTradeId + 1,
        trade.tradeId - 1,
        cursor.lastTs,
        trade.ts,
        now,
        'jump',
      );
      cursor.lastTradeId = trade.tradeId;
      cursor.lastTs = trade.ts;
      return 'gap';
    }
    return this.fill(trade, session.key, now) ? 'backfill' : 'duplicate';
  }

  /** Open gaps, oldest first. */
  openGaps(): Gap[] {
    return this.gaps.filter((g) => g.state === 'open');
  }

  all(): Gap[] {
    return this.gaps.map(copyGap);
  }

  /**
   * After a history request covered `gap` in full: whatever of it is still missing will not come
   * (the broker has no such trades), so it is closed as `skipped` rather than retried forever.
   */
  giveUp(gapId: string, now: number): void {
    for (const g of this.gaps) {
      if (g.id === gapId && g.state === 'open') {
        g.state = 'skipped';
        g.closedAt = now;
        g.missing = [];
      }
    }
  }

  /** Narrows an open gap to what the broker can still deliver (history before `fromTs` is gone). */
  limitWindow(gapId: string, fromTs: number): void {
    const g = this.gaps.find((x) => x.id === gapId);
    if (g && g.fromTs < fromTs) g.fromTs = fromTs;
  }

  cursor(ticker: string): TickerCursor | undefined {
    const c = this.cursors.get(ticker);
    return c && { ...c };
  }

  snapshot(): GapSnapshot {
    return {
      cursors: Object.fromEntries([...this.cursors].map(([t, c]) => [t, { ...c }])),
      gaps: this.all(),
    };
  }

  private open(
    trade: TradeRef,
    session: string,
    fromTradeId: number,
    toTradeId: number,
    fromTs: number,
    toTs: number,
    now: number,
    reason: Gap['reason'],
  ): void {
    this.gaps.push({
      id: `${trade.ticker}-${this.nextId++}`,
      ticker: trade.ticker,
      exchange: trade.exchange,
      session,
      fromTradeId,
      toTradeId,
      fromTs,
      toTs,
      state: 'open',
      detectedAt: now,
      closedAt: null,
      filled: 0,
      missing: [[fromTradeId, toTradeId]],
      reason,
    });
    this.trimClosed();
  }

  /** Takes a trade number out of the open gap still missing it; a gap missing nothing is filled. */
  private fill(trade: TradeRef, session: string, now: number): boolean {
    for (const gap of this.gaps) {
      if (gap.state !== 'open' || gap.ticker !== trade.ticker || gap.session !== session) continue;
      const i = gap.missing.findIndex(([from, to]) => trade.tradeId >= from && trade.tradeId <= to);
      if (i < 0) continue;
      const [from, to] = gap.missing[i] as [number, number];
      const rest: [number, number][] = [];
      if (from < trade.tradeId) rest.push([from, trade.tradeId - 1]);
      if (trade.tradeId < to) rest.push([trade.tradeId + 1, to]);
      gap.missing.splice(i, 1, ...rest);
      gap.filled += 1;
      if (gap.missing.length === 0) {
        gap.state = 'filled';
        gap.closedAt = now;
      }
      return true;
    }
    return false;
  }

  private trimClosed(): void {
    const closed = this.gaps.filter((g) => g.state !== 'open');
    if (closed.length <= CLOSED_GAPS_KEPT) return;
    const drop = new Set(closed.slice(0, closed.length - CLOSED_GAPS_KEPT));
    this.gaps = this.gaps.filter((g) => !drop.has(g));
  }
}

const copyGap = (g: Gap): Gap => ({ ...g, missing: g.missing.map(([a, b]) => [a, b]) });
