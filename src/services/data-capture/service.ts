import path from 'node:path';
import { createBroker } from '../../adapters/broker/factory.js';
import { SegmentJournal } from '../../adapters/storage/segment-journal.js';
import { GapTracker } from '../../domain/gaps.js';
import type { CapturedEvent } from '../../domain/market-data.js';
import { Bus } from '../../kernel/bus.js';
import { diskState } from '../../kernel/disk.js';
import { keepAside, UnusableFileError } from '../../kernel/durable-file.js';
import { CODE, fail } from '../../kernel/errors.js';
import { FeedServer } from '../../kernel/feed/index.js';
import { FEED_PATHS } from '../../kernel/feed/paths.js';
import type { App, ServiceContext, ServiceDefinition } from '../../kernel/service.js';
import { localDayOf } from '../../kernel/time.js';
import { DATA_FILE_RUNBOOK, reportUnusable } from '../../kernel/unusable.js';
import { Backfiller, SessionEndWatch } from './backfill.js';
import { BrokerSession } from './broker-session.js';
import { Capture } from './capture.js';
import { type Checkpoint, CheckpointFile } from './checkpoint.js';
import { ParquetConverter } from './converter.js';
import { cursorsFromParquet, lostCount, reopenLostTrades, repairFromParquet } from './journal-repair.js';
import { JournalRetry } from './journal-retry.js';
import { MarketStore } from './market-store.js';
import { createCaptureMetrics, registerDuckdbMemory, registerQueryTail } from './metrics.js';
import { type DataCaptureApi, registerRoutes } from './routes.js';
import { SubscriptionList } from './subscriptions.js';
import type { DataCaptureTopics } from './topics.js';

const REPLAY_CHUNK = 10_000;
const PRUNE_EVERY_MS = 10 * 60_000;
/**
 * The checkpoint is saved at least this often while trades flow (besides at each gap change and
 * conversion): a restart decodes the journal from the checkpoint on, and with conversion paused
 * (a full disk) and no gap nothing else would save it.
 */
const CHECKPOINT_EVERY_MS = 10_000;

/**
 * Data capture (port 5050): one broker session, every trade journaled before it is published,
 * gaps in trade numbers backfilled from history, sealed journal segments turned into Parquet,
 * history queries over Parquet plus the journal tail, and the resumable live feed.
 */
export const dataCaptureService: ServiceDefinition = {
  name: 'data-capture',
  async setup(ctx) {
    const { config, clock, logger } = ctx;
    const settings = config.services['data-capture'];
    const instruments = new Map(config.instruments.map((i) => [i.symbol, i]));
    const metrics = createCaptureMetrics(ctx.metrics.registry);
    const home = path.join(config.home, 'journal', 'marketdata');
    // How long each start-up step took: a slow start is seen in the log, not guessed at.
    const setupMs: Record<string, number> = {};
    let stepStarted = performance.now();
    const step = (name: string) => {
      const now = performance.now();
      setupMs[name] = Math.round(now - stepStarted);
      stepStarted = now;
    };

    const checkpoints = new CheckpointFile(path.join(home, 'checkpoint.json'), clock, (err) =>
      logger.error(
        { event: 'capture.checkpoint_write_failed', err: err.message },
        'cannot save the checkpoint; retrying (the journal holds everything)',
      ),
    );
    const { checkpoint, unreadable: checkpointLost } = await loadCheckpoint(checkpoints, ctx);
    step('checkpoint');

    const bus = new Bus<DataCaptureTopics>((topic, err) =>
      logger.error(
        { event: 'capture.handler_failed', topic, err: (err as Error).message },
        'a handler of the data-capture bus failed; the others ran',
      ),
    );
    const journal = new SegmentJournal({
      dir: home,
      ...settings.journal,
      clock,
      // Never a seq twice: not even one a damaged journal lost after the checkpoint saw it.
      minNextSeq: Math.max(checkpoint.seq, checkpoint.convertedThrough) + 1,
      onSeal: (segment) => bus.publish('segment.sealed', segment),
      onFsync: (s) => metrics.fsyncSeconds.observe(s),
      onError: (err) => bus.publish('journal.failed', err),
    });
    if (journal.recovery.truncatedBytes > 0) {
      logger.error(
        { event: 'capture.journal_torn_tail', ...journal.recovery },
        'cut a torn record off the journal',
      );
    }

    step('journal');

    const store = await MarketStore.open({
      home: config.home,
      timeZone: config.timezone,
      onDamaged: (damage) => bus.publish('parquet.damaged', damage),
      pointValues: Object.fromEntries(config.instruments.map((i) => [i.symbol, i.pointValue])),
    });
    registerDuckdbMemory(ctx.metrics.registry, store);
    registerQueryTail(ctx.metrics.registry, store);
    step('store');

    const sessionOf = (ts: number) => {
      const day = localDayOf(config.timezone, ts);
      return { key: day.date, startTs: day.startTs, endTs: day.endTs };
    };
    // A damaged journal is put back together from Parquet where it can be; what stays lost is
    // reported, and the trades that went with it are fetched again from the broker.
    const damage = await repairFromParquet(journal, store, logger);
    metrics.journalLostSeqs.set(damage.reduce((n, d) => n + lostCount(d), 0));
    // Without a checkpoint the cursors start where Parquet ends today, so a journal whose older
    // segments were pruned does not make trades Parquet already holds look missing (and fetched twice).
    if (checkpointLost)
      checkpoint.tracker.cursors = await cursorsFromParquet(store, sessionOf(clock.now()).key);
    step('repair');
    const tracker = new GapTracker(sessionOf, checkpoint.tracker);
    const replayed = replayJournal(journal, checkpoint, tracker, store, settings.queryTailMaxTrades);
    step('replay');
    await reopenLostTrades({ damage, journal, store, tracker, sessionOf, logger, now: clock.now() });

    let checkpointSavedAt = clock.now();
    const saveCheckpoint = () => {
      checkpointSavedAt = clock.now();
      checkpoints.save({
        seq: journal.writtenSeq,
        convertedThrough: converter.convertedThrough,
        tracker: tracker.snapshot(),
      });
    };
    const converter = new ParquetConverter(
      journal,
      store,
      checkpoint.convertedThrough,
      logger,
      metrics,
      saveCheckpoint,
      clock,
    );
    // Converting reads the whole segment: done after the tick path has finished its turn.
    bus.on('segment.sealed', () => setImmediate(() => void converter.kick()));
    bus.on('parquet.damaged', (damage) => converter.damaged(damage));

    const feed = new FeedServer<CapturedEvent>({
      name: 'market',
      logger,
      registry: ctx.metrics.registry,
      history: {
        read: (after, max) => journal.read(after, max).map((data) => ({ seq: data.seq, data })),
        lastSeq: () => journal.writtenSeq,
      },
    });
    feed.attach(ctx.app, FEED_PATHS.market);

    const broker = createBroker(config, clock, { logger, registry: ctx.metrics.registry });
    const subscriptions = new SubscriptionList(config.home);
    const configured = settings.subscriptions.filter((t) => instruments.has(t));
    /** Set while the subscriptions file cannot be used: every change is refused with it. */
    let subscriptionsRefusal: (() => Error) | null = null;
    try {
      await subscriptions.load(configured);
    } catch (err) {
      if (!(err instanceof UnusableFileError)) throw err;
      // Capture goes on with the configured tickers; the file is left as found and not rewritten.
      subscriptions.useOnly(configured);
      subscriptionsRefusal = reportUnusable(
        ctx,
        'subscriptions',
        { file: err.file, reason: err.message },
        {
          code: CODE.SUBSCRIPTIONS_UNAVAILABLE,
          runbook: DATA_FILE_RUNBOOK,
          event: 'capture.subscriptions_unusable',
        },
      );
    }
    // A subscription change that cannot be saved (a full disk) is refused, not half done.
    const saving = async (change: () => Promise<void>) => {
      if (subscriptionsRefusal) throw subscriptionsRefusal();
      try {
        await change();
      } catch (err) {
        throw fail.STORAGE_WRITE_FAILED(`cannot save the subscriptions: ${(err as Error).message}`);
      }
    };

    // The newest seq that is neither in the query tail nor in Parquet yet (the tail was full):
    // queries miss trades until conversion passes it.
    let unqueryableThrough = replayed.skippedThrough;
    const capture = new Capture(
      journal,
      tracker,
      {
        publish: (events) => {
          for (const e of events) feed.publish({ seq: e.seq, data: e });
        },
        tail: (events) => {
          // While Parquet lags far behind, stop growing the in-memory tail: the journal keeps
          // everything, /health shows the backlog, and conversion catches the queries up later.
          let room = settings.queryTailMaxTrades - store.tailTrades;
          if (room >= events.length) return store.appendTail(events); // the usual case: no count
          let fits = events.length;
          let lastLeftOut = 0;
          for (const [i, e] of events.entries()) {
            if (e.kind !== 'trade') continue;
            if (room-- > 0) continue;
            fits = Math.min(fits, i);
            lastLeftOut = e.seq;
          }
          if (lastLeftOut === 0) return store.appendTail(events);
          if (unqueryableThrough <= converter.convertedThrough)
            logger.warn(
              {
                event: 'capture.tail_full',
                tailTrades: store.tailTrades,
                backlog: converter.pending().length,
              },
              'Parquet lags too far behind: new trades are queryable once converted (the journal has them)',
            );
          store.appendTail(events.slice(0, fits));
          unqueryableThrough = lastLeftOut;
        },
      },
      clock,
      metrics,
      (gapsChanged) => {
        metrics.journalSeq.set({ kind: 'written' }, journal.writtenSeq);
        metrics.journalSeq.set({ kind: 'durable' }, journal.durableSeq);
        if (gapsChanged) {
          metrics.setGaps(tracker.all());
          saveCheckpoint();
          bus.publish('gaps.changed', null);
        } else if (clock.now() - checkpointSavedAt >= CHECKPOINT_EVERY_MS) {
          saveCheckpoint(); // right after a flush: the tracker has seen exactly what the journal holds
        }
      },
    );

    const session = new BrokerSession({
      adapter: broker.marketData,
      policy: settings.recovery,
      clock,
      logger,
      subscriptions: () =>
        subscriptions.list().flatMap((t) => {
          const i = instruments.get(t);
          return i ? [{ symbol: i.symbol, exchange: i.exchange }] : [];
        }),
      marketOpen: (now) => subscriptions.list().some((t) => broker.marketOpen(t, now)),
      onStateChange: (state) => {
        metrics.setConnectionState(state);
        if (state === 'Active') bus.publish('broker.active', null);
      },
      onReconnect: () => metrics.reconnects.inc(),
      onEscalation: (on) => metrics.escalated.set(on ? 1 : 0),
    });
    metrics.setConnectionState(session.state);
    metrics.setGaps(tracker.all());

    const backfiller = new Backfiller({
      tracker,
      adapter: broker.marketData,
      capture,
      logger,
      // What history sends must be journaled, so a failed journal waits too.
      ready: () => session.state === 'Active' && journal.failure === null,
      subscriptions: () =>
        subscriptions.list().flatMap((ticker) => {
          const i = instruments.get(ticker);
          return i ? [{ ticker, exchange: i.exchange }] : [];
        }),
      sessionOf,
      initialBackfillMs: settings.initialBackfillMinutes * 60_000,
      clock,
    });
    // Whatever printed while we were away ends the sessions we hold: check them against history.
    bus.on('broker.active', () => backfiller.checkTails());
    bus.on('gaps.changed', () => backfiller.kick());
    bus.on('journal.writable', () => backfiller.kick());
    const journalRetry = new JournalRetry({ journal, capture, bus, clock, logger, metrics });
    const sessionEnds = new SessionEndWatch({
      tickers: () => subscriptions.list(),
      marketOpen: (ticker, now) => broker.marketOpen(ticker, now),
      sessionOf,
      clock,
      onSessionEnd: () => backfiller.checkTails(),
    });

    // Counts each callback by result; a throw still reaches the adapter as before. Children bound
    // once: this is the tick path.
    const outcome = (kind: 'trade' | 'quote') => ({
      ok: metrics.callbacks.labels({ kind, result: 'ok' }),
      error: metrics.callbacks.labels({ kind, result: 'error' }),
    });
    const results = { trade: outcome('trade'), quote: outcome('quote') };
    const counted = (kind: 'trade' | 'quote', handle: () => void) => {
      try {
        handle();
        results[kind].ok.inc();
      } catch (err) {
        results[kind].error.inc();
        throw err;
      }
    };
    broker.marketData.listenMarketData({
      onEvent: (e) => session.handleEvent(e),
      onTrade: (t) =>
        counted('trade', () => {
          const started = performance.now();
          capture.trade(t, 'live');
          session.noteData();
          metrics.callbackSeconds.observe((performance.now() - started) / 1000);
        }),
      onQuote: (q) =>
        counted('quote', () => {
          capture.quote(q);
          session.noteData();
        }),
    });

    ctx.addHealthCheck('broker', () => session.health());
    ctx.addHealthCheck('parquet', () => {
      const health = converter.health();
      if (unqueryableThrough <= converter.convertedThrough) return health;
      return {
        ...health,
        status: health.status === 'ok' ? 'degraded' : health.status,
        detail: `${health.detail ? `${health.detail}; ` : ''}trades through seq ${unqueryableThrough} are not all queryable until Parquet catches up (the journal has them)`,
        unqueryableThrough,
      };
    });
    const lostToDamage = damage.filter((d) => d.lost.length > 0);
    ctx.addHealthCheck('journal', () => ({
      status: journal.failure ? 'down' : lostToDamage.length ? 'degraded' : 'ok',
      ...(journal.failure
        ? {
            detail: `cannot write the journal (${journal.failure.message}); trades missed meanwhile are backfilled once it can`,
          }
        : lostToDamage.length && {
            detail: `journal seqs ${lostToDamage.map((d) => d.lost.map(([a, b]) => `${a}-${b}`).join(',')).join(',')} lost to damage (a copy is kept); the feed cannot replay them, their trades are backfilled`,
          }),
      ...(damage.length > 0 && { damage }),
      writtenSeq: journal.writtenSeq,
      durableSeq: journal.durableSeq,
      sealedSegments: journal.sealedSegments().length,
    }));
    ctx.addHealthCheck('gaps', () => {
      const open = tracker.openGaps();
      if (open.length)
        return {
          status: 'degraded',
          detail: `${open.length} open gap(s) being backfilled`,
          open: open.length,
        };
      if (backfiller.checkingTails)
        return { status: 'degraded', detail: 'checking the sessions’ last trades against history', open: 0 };
      return { status: 'ok', open: 0 };
    });

    const api: DataCaptureApi = {
      instruments,
      subscriptions: () => subscriptions.list(),
      subscribe: async (ticker) => {
        await saving(() => subscriptions.add(ticker));
        const i = instruments.get(ticker);
        if (i) await session.subscribe({ symbol: i.symbol, exchange: i.exchange });
      },
      unsubscribe: async (ticker) => {
        await saving(() => subscriptions.remove(ticker));
        const i = instruments.get(ticker);
        if (i) await session.unsubscribe({ symbol: i.symbol, exchange: i.exchange });
      },
      trades: (q) => store.queryTrades(q),
      bars: (q) => store.queryBars(q),
      gaps: () => tracker.all(),
      status: () => ({
        broker: { ...session.status(), ...(broker.library && { library: broker.library() }) },
        journal: {
          writtenSeq: journal.writtenSeq,
          durableSeq: journal.durableSeq,
          sealedSegments: journal.sealedSegments().length,
        },
        parquet: converter.health(),
        feed: feed.stats(),
        subscriptions: subscriptions.list(),
        cursors: Object.fromEntries(subscriptions.list().map((t) => [t, tracker.cursor(t) ?? null])),
      }),
      sim: broker.sim && {
        truth: () => broker.sim?.truth(subscriptions.list(), clock.now()) ?? {},
        faults: () => ({ active: broker.sim?.activeFaults() ?? [] }),
        inject: (kind, durationMs) => {
          logger.warn({ event: 'sim.fault', kind, durationMs }, 'fault injected');
          broker.sim?.injectFault(kind, durationMs);
        },
        clear: () => broker.sim?.clearFaults(),
      },
    };
    await ctx.app.register(async (scope: App) => registerRoutes(scope, api), { prefix: '/api' });

    // A critically full disk pauses Parquet conversion (DuckDB's files need room, the journal
    // already holds every trade); it goes on once there is room again.
    const watchDisk = async () => {
      const disk = await diskState(config.home, config);
      if (disk.level === 'critical')
        converter.pause(`disk critical: ${disk.freePercent}% free, below ${disk.criticalPercent}%`);
      else if (disk.level !== 'unknown') converter.resume();
    };
    await watchDisk();
    const diskWatch = clock.every(Math.max(1_000, config.disk.cacheMs), () => void watchDisk()).unref();

    void converter.kick();
    const pruner = clock.every(PRUNE_EVERY_MS, () => {
      const removed = converter.prune(clock.now(), settings.journal.keepConvertedHours * 3_600_000);
      if (removed)
        logger.info(
          { event: 'capture.journal_pruned', segments: removed },
          'removed journal segments already in Parquet',
        );
    });
    pruner.unref();

    // Started top down once the server is ready, stopped bottom up: no new data, the last batch
    // written and sealed, everything in Parquet, the checkpoint saved; only then the journal, the
    // feed and the store close. This order is what makes a graceful stop lose nothing.
    const { lifecycle } = ctx;
    lifecycle.add({ name: 'parquet-store', stop: () => store.close() });
    lifecycle.add({ name: 'disk-watch', stop: () => clock.cancel(diskWatch) });
    lifecycle.add({
      name: 'feed',
      stop: async () => {
        clock.cancel(pruner);
        await feed.close();
      },
    });
    lifecycle.add({ name: 'journal', stop: () => journal.close() });
    lifecycle.add({
      name: 'checkpoint',
      stop: async () => {
        saveCheckpoint();
        await checkpoints.settled();
        checkpoints.stop();
      },
    });
    lifecycle.add({
      name: 'parquet',
      stop: async () => {
        const complete = await converter.drain();
        converter.stop();
        if (!complete)
          logger.error(
            { event: 'capture.parquet_incomplete_at_stop' },
            'some segments are not in Parquet yet; converted at next start',
          );
      },
    });
    lifecycle.add({
      name: 'capture',
      stop: () => {
        capture.flush();
        journal.seal();
      },
    });
    lifecycle.add({ name: 'broker-session', start: () => session.start(), stop: () => session.stop() });
    lifecycle.add({ name: 'backfill', stop: () => backfiller.stop() });
    lifecycle.add({ name: 'journal-retry', stop: () => journalRetry.stop() });
    lifecycle.add({ name: 'session-ends', stop: () => sessionEnds.stop() });

    step('rest');
    logger.info(
      { event: 'capture.set_up', ms: setupMs, replayed, sealedSegments: journal.sealedSegments().length },
      'data capture set up',
    );
  },
};

/**
 * The saved checkpoint, or a rebuild from the whole journal when it is unusable: the damaged file
 * is kept aside first (the next save would replace it).
 */
async function loadCheckpoint(
  file: CheckpointFile,
  ctx: ServiceContext,
): Promise<{ checkpoint: Checkpoint; unreadable: boolean }> {
  try {
    return { checkpoint: await file.load(), unreadable: false };
  } catch (err) {
    const keptAs = keepAside(file.path);
    ctx.logger.error(
      { event: 'capture.checkpoint_unreadable', err: (err as Error).message, keptAs },
      'rebuilding state from the journal',
    );
    return {
      checkpoint: { seq: 0, convertedThrough: 0, tracker: { cursors: {}, gaps: [] } },
      unreadable: true,
    };
  }
}

/**
 * Brings the gap tracker from the checkpoint to the journal's end, and the query tail to what
 * Parquet lacks: its newest `tailMax` records at most, trades and quotes alike, so a restart never
 * holds more trades than the live bound (a restart over a long Parquet backlog once
 * loaded all of it, GBs of objects whose collections stalled the service); records are decoded
 * only from the older of the checkpoint's seq and where that tail starts.
 */
function replayJournal(
  journal: SegmentJournal,
  cp: Checkpoint,
  tracker: GapTracker,
  store: MarketStore,
  tailMax: number,
): { records: number; toTail: number; skippedThrough: number } {
  const counts = { records: 0, toTail: 0, skippedThrough: 0 };
  const tailFrom = Math.max(cp.convertedThrough + 1, journal.writtenSeq - tailMax + 1);
  const from = Math.min(cp.seq, tailFrom - 1);
  if (tailFrom > cp.convertedThrough + 1) counts.skippedThrough = tailFrom - 1;
  for (let after = from; ; ) {
    const chunk = journal.read(after, REPLAY_CHUNK);
    if (chunk.length === 0) break;
    for (const e of chunk) {
      if (e.kind === 'trade' && e.seq > cp.seq) tracker.observe(e, e.recvTs);
    }
    const toTail = chunk.filter((e) => e.seq >= tailFrom);
    store.appendTail(toTail);
    counts.records += chunk.length;
    counts.toTail += toTail.length;
    after = chunk[chunk.length - 1]?.seq ?? after;
  }
  return counts;
}
