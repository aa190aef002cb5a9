/**
 * Gap detection on exchange trade numbers. B3 numbers trades 1, 2, 3… per instrument per session,
 * so a jump means trades we did not receive. Pure: the caller supplies sessions and time.
 */

export interface SessionInfo {
  /** The session's key, e.g. its local date `2026-03-16`. */
  key: string;
  /** Epoch ms at which the session's trade numbering started (for history requests). */
  startTs: number;
  /** Epoch ms at which the session is over (exclusive): nothing of it prints later. */
  endTs: number;
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
  /**
   * How the gap was found: a later trade jumped past it (`jump`), capture started mid-session
   * (`capture-start`), the broker's history went further than our last trade (`tail`: an outage
   * that lasted until the close or the end of the feed), or the trades arrived but could not be
   * journaled (`unpersisted`: the disk failed).
   */
  reason: 'jump' | 'capture-start' | 'tail' | 'unpersisted';
}

/** Where a ticker's trade numbers stood at the end of what we hold of one session. */
export interface TailCursor extends TickerCursor {
  ticker: string;
}

export interface GapSnapshot {
  cursors: Record<string, TickerCursor>;
  gaps: Gap[];
  /**
   * Cursors of sessions left behind (the first trade of a newer session arrived) whose end has not
   * been compared with the broker's history yet.
   */
  retired?: TailCursor[];
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
  private retired: TailCursor[] = [];
  private gaps: Gap[] = [];
  private nextId = 1;

  constructor(
    private readonly sessionOf: (ts: number) => SessionInfo,
    snapshot?: GapSnapshot,
  ) {
    if (snapshot) {
      for (const [t, c] of Object.entries(snapshot.cursors)) this.cursors.set(t, { ...c });
      this.retired = (snapshot.retired ?? []).map((c) => ({ ...c }));
      this.gaps = snapshot.gaps.map(copyGap);
      this.nextId = Math.max(0, ...this.gaps.map((g) => Number(g.id.split('-').pop()) || 0)) + 1;
    }
  }

  /**
   * Classifies a trade and updates the state: `new` (the next number), `gap` (new, past a jump,
   * which opens a gap), `backfill` (fills part of an open gap), `duplicate` (seen already) or
   * `stale` (an older session that misses nothing). Only `new`, `gap` and `backfill` trades are to
   * be kept.
   */
  observe(trade: TradeRef, now: number): Verdict {
    const session = this.sessionOf(trade.ts);
    const cursor = this.cursors.get(trade.ticker);
    // An older session's trade is kept only if a gap of that session still misses it.
    if (cursor && session.key < cursor.session)
      return this.fill(trade, session.key, now) ? 'backfill' : 'stale';
    if (!cursor || session.key > cursor.session) {
      // The session we left still has to be checked for trades after the last one we got.
      if (cursor) this.retired.push({ ticker: trade.ticker, ...cursor });
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

  /**
   * A trade that was observed but could not be kept (the journal could not be written): its number
   * goes back to missing, in the ticker's open `unpersisted` gap of that session, so it is
   * backfilled once writing works again.
   */
  markUnpersisted(trade: TradeRef, now: number): void {
    const session = this.sessionOf(trade.ts).key;
    const gap = this.gaps.find(
      (g) =>
        g.state === 'open' &&
        g.reason === 'unpersisted' &&
        g.ticker === trade.ticker &&
        g.session === session,
    );
    if (!gap) {
      this.open(trade, session, trade.tradeId, trade.tradeId, trade.ts, trade.ts, now, 'unpersisted');
      return;
    }
    const last = gap.missing.at(-1);
    if (last && last[1] + 1 === trade.tradeId) last[1] = trade.tradeId;
    else gap.missing.push([trade.tradeId, trade.tradeId]);
    gap.missing.sort((a, b) => a[0] - b[0]);
    gap.fromTradeId = Math.min(gap.fromTradeId, trade.tradeId);
    gap.toTradeId = Math.max(gap.toTradeId, trade.tradeId);
    gap.fromTs = Math.min(gap.fromTs, trade.ts);
    gap.toTs = Math.max(gap.toTs, trade.ts);
  }

  /**
   * Where each session we hold ends, to be compared with the broker's: every session left behind
   * whose end was not checked yet, each subscription's current cursor, and, for a subscription
   * with nothing yet of the session running at `now`, that session from its start (trade 0), so a
   * start after a day's trading began (or after its close) still finds what printed.
   */
  tails(subscriptions: readonly { ticker: string; exchange: string }[], now: number): TailCursor[] {
    const session = this.sessionOf(now);
    const out = this.retired.map((c) => ({ ...c }));
    for (const { ticker, exchange } of subscriptions) {
      const c = this.cursors.get(ticker);
      if (c) out.push({ ticker, ...c });
      if (!c || c.session < session.key) {
        out.push({ ticker, exchange, session: session.key, lastTradeId: 0, lastTs: session.startTs });
      }
    }
    return out;
  }

  /**
   * The broker's history of `tail`'s session goes up to `last`: whatever lies between our last
   * trade of that session and it is missing, opened as a `tail` gap (`capture-start` when we have
   * nothing of that session), and the cursor moves past it, so those trades come in as backfill.
   * Returns the gap, or null when nothing is missing. Either way the session's end is checked.
   */
  closeTail(tail: TailCursor, last: { tradeId: number; ts: number } | null, now: number): Gap | null {
    this.retired = this.retired.filter((c) => !(c.ticker === tail.ticker && c.session === tail.session));
    let cursor = this.cursors.get(tail.ticker);
    if (last && last.tradeId > tail.lastTradeId && (!cursor || cursor.session < tail.session)) {
      // The first we hold of a newer session: it becomes the cursor, as a first trade would.
      if (cursor) this.retired.push({ ticker: tail.ticker, ...cursor });
      cursor = { exchange: tail.exchange, session: tail.session, lastTradeId: 0, lastTs: tail.lastTs };
      this.cursors.set(tail.ticker, cursor);
    }
    const ours = cursor?.session === tail.session ? cursor : tail;
    if (!last || last.tradeId <= ours.lastTradeId) return null;
    const from = ours.lastTradeId + 1;
    const fromTs = ours.lastTs;
    if (ours === cursor) {
      cursor.lastTradeId = last.tradeId;
      cursor.lastTs = last.ts;
    }
    this.open(
      { ticker: tail.ticker, exchange: tail.exchange, tradeId: last.tradeId, ts: last.ts },
      tail.session,
      from,
      last.tradeId,
      fromTs,
      last.ts,
      now,
      from === 1 ? 'capture-start' : 'tail',
    );
    return this.gaps.at(-1) ?? null;
  }

  /**
   * Trades known to be missing although the cursor is past them (found again after damage): the
   * numbers of `found` not already missing in an open gap are opened as a gap of their own.
   */
  reopen(found: Gap, now: number): Gap | null {
    const already = this.gaps.filter(
      (g) => g.state === 'open' && g.ticker === found.ticker && g.session === found.session,
    );
    let missing = found.missing.map(([a, b]) => [a, b] as [number, number]);
    for (const g of already) for (const range of g.missing) missing = subtract(missing, range);
    if (missing.length === 0) return null;
    const gap: Gap = {
      ...copyGap(found),
      id: `${found.ticker}-${this.nextId++}`,
      fromTradeId: missing[0]?.[0] ?? found.fromTradeId,
      toTradeId: missing[missing.length - 1]?.[1] ?? found.toTradeId,
      state: 'open',
      detectedAt: now,
      closedAt: null,
      filled: 0,
      missing,
    };
    this.gaps.push(gap);
    this.trimClosed();
    return copyGap(gap);
  }

  /** Open gaps, oldest first. */ /** Open gaps, oldest first. */
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
      retired: this.retired.map((c) => ({ ...c })),
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

/** Inclusive ranges minus one inclusive range. */
function subtract(ranges: [number, number][], [from, to]: [number, number]): [number, number][] {
  return ranges.flatMap(([a, b]): [number, number][] => {
    if (b < from || a > to) return [[a, b]];
    const left: [number, number][] = a < from ? [[a, from - 1]] : [];
    const right: [number, number][] = b > to ? [[to + 1, b]] : [];
    return [...left, ...right];
  });
}
