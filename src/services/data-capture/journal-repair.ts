import path from 'node:path';
import type { LostRange, SegmentJournal } from '../../adapters/storage/segment-journal.js';
import { type Gap, GapTracker, type SessionInfo, type TickerCursor } from '../../domain/gaps.js';
import type { CapturedEvent } from '../../domain/market-data.js';
import type { Logger } from '../../kernel/logger.js';
import type { MarketStore } from './market-store.js';

/** What damage cut out of the journal, and what of it could be put back. */
export interface JournalDamage extends LostRange {
  /** Records put back from Parquet. */
  restored: number;
  /** Seqs neither the journal nor Parquet hold, as inclusive ranges. */
  lost: [number, number][];
}

const REPLAY_CHUNK = 10_000;

/**
 * Puts back from Parquet what damage cut out of the journal (a segment is converted whole, so
 * anything converted before the damage is there, seqs and all), so the feed's history is whole
 * again; returns, per damaged range, what stays lost.
 */
export async function repairFromParquet(
  journal: SegmentJournal,
  store: MarketStore,
  logger: Logger,
): Promise<JournalDamage[]> {
  const out: JournalDamage[] = [];
  for (const range of journal.recovery.lost) {
    const segmentId = path.basename(range.file).slice(0, 16);
    const events = await store.eventsOfSegment(segmentId, range.fromSeq, range.toSeq);
    const back = new Set<number>();
    for (const run of contiguousRuns(events)) {
      if (journal.restore(run)) for (const e of run) back.add(e.seq);
    }
    const lost: [number, number][] = [];
    for (let seq = range.fromSeq; seq <= range.toSeq; seq++) {
      if (back.has(seq)) continue;
      const last = lost[lost.length - 1];
      if (last && last[1] === seq - 1) last[1] = seq;
      else lost.push([seq, seq]);
    }
    const damage = { ...range, restored: back.size, lost };
    logger.error(
      { event: 'capture.journal_damaged', ...damage },
      lost.length
        ? 'journal records lost to damage: the feed cannot replay them; their trades are backfilled'
        : 'damaged journal records put back from Parquet',
    );
    out.push(damage);
  }
  return out;
}

/** How many seqs of a damaged range are in no file. */
export const lostCount = (d: JournalDamage): number => d.lost.reduce((n, [a, b]) => n + b - a + 1, 0);

/** Opens a gap in the live tracker for each trade lost with records in no file (`tradesLostWith`). */
export async function reopenLostTrades(opts: {
  damage: JournalDamage[];
  journal: SegmentJournal;
  store: MarketStore;
  tracker: GapTracker;
  sessionOf: (ts: number) => SessionInfo;
  logger: Logger;
  now: number;
}): Promise<void> {
  for (const d of opts.damage.filter((x) => x.lost.length > 0)) {
    for (const found of await tradesLostWith(d, opts.journal, opts.store, opts.sessionOf)) {
      const gap = opts.tracker.reopen(found, opts.now);
      if (gap)
        opts.logger.warn(
          { event: 'capture.damage_gap', gap: gap.id, ticker: gap.ticker, missing: gap.missing },
          'trades lost with damaged journal records; backfilling them',
        );
    }
  }
}

/**
 * The trades that went with records lost for good: they were seen (the gap tracker's cursors are
 * past them) and are in no file. The journal from the damaged segment on is replayed through a
 * tracker of its own, started where Parquet (everything converted before that segment) ends; a
 * jump it finds, that no later backfill in the journal filled, is a trade to fetch again.
 */
async function tradesLostWith(
  damage: JournalDamage,
  journal: SegmentJournal,
  store: MarketStore,
  sessionOf: (ts: number) => SessionInfo,
): Promise<Gap[]> {
  const startSeq = Number(path.basename(damage.file).slice(0, 16));
  const first = journal.read(startSeq - 1, 1)[0];
  if (!first) return [];
  const cursors = await cursorsFromParquet(store, sessionOf(first.ts).key);
  const scratch = new GapTracker(sessionOf, { cursors, gaps: [] });
  for (let after = startSeq - 1; ; ) {
    const chunk = journal.read(after, REPLAY_CHUNK);
    if (chunk.length === 0) break;
    for (const e of chunk) if (e.kind === 'trade') scratch.observe(e, e.recvTs);
    after = chunk[chunk.length - 1]?.seq ?? after;
  }
  // A ticker with no trade in Parquet that day has no known start: only its jumps count.
  return scratch.openGaps().filter((g) => g.reason === 'jump');
}

/** Per ticker, where Parquet's trades of a session end: a gap tracker's cursors. */
export async function cursorsFromParquet(
  store: MarketStore,
  session: string,
): Promise<Record<string, TickerCursor>> {
  const cursors: Record<string, TickerCursor> = {};
  for (const [ticker, last] of await store.lastTradesOn(session)) {
    cursors[ticker] = { exchange: last.exchange, session, lastTradeId: last.tradeId, lastTs: last.ts };
  }
  return cursors;
}

function contiguousRuns(events: CapturedEvent[]): CapturedEvent[][] {
  const runs: CapturedEvent[][] = [];
  for (const e of events) {
    const run = runs[runs.length - 1];
    const last = run?.[run.length - 1];
    if (run && last && e.seq === last.seq + 1) run.push(e);
    else runs.push([e]);
  }
  return runs;
}
